//! The acceptor: on every shard, a listener on the shared port (SO_REUSEPORT lets the kernel
//! spread connections over shards), a sniff of the first bytes to tell HTTP/2 prior knowledge
//! from HTTP/1.1, and a task per connection. It owns no stream state: every request goes to
//! the owning shard through the `Cluster`.

mod client_limits;
mod coalesce;
mod http1;
mod http2;
pub mod limits;
mod rewind;

use crate::held_bytes::{HeldBytes, Lease};
use crate::http::{Request, Response};
use crate::router::{self, RouterConfig};
use futures::future::{select, Either, FutureExt};
use futures::io::AsyncReadExt;
use shards::runtime::{spawn_isolated, timeout, TcpListener, TcpStream};
use shards::{Cluster, ServeFn, ShardContext};
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Clone)]
pub struct AcceptorConfig {
    pub addr: SocketAddr,
    /// Serve TLS (every connection) when set.
    pub tls: Option<crate::tls::TlsConfig>,
    pub router: RouterConfig,
    pub timeouts: limits::Timeouts,
    /// Each shard's budget for what it holds for clients (see `held_bytes`).
    pub held_bytes_per_shard: usize,
}

/// What a connection task carries: how to route, and whether to wind down.
#[derive(Clone)]
pub struct Conn {
    cluster: Cluster,
    router: RouterConfig,
    ctx: ShardContext,
    /// Sessions open on this shard's connections.
    sessions: Rc<Cell<usize>>,
    /// Each client's share of this shard's connections and sessions.
    clients: client_limits::ClientLimits,
    /// The peer of this connection (unspecified until accepted).
    peer: std::net::IpAddr,
    pub(crate) timeouts: limits::Timeouts,
    /// This shard's budget for bytes held for clients.
    pub(crate) held: HeldBytes,
    /// This connection's id (unique in the process), for usage metering.
    pub(crate) id: u64,
}

/// Connection ids; 0 means none.
static NEXT_CONN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Counts one open session, on the shard and for its client; dropping it gives both back.
pub struct SessionSlot {
    _shard: Counted,
    _client: client_limits::ClientSlot,
    sessions: Rc<Cell<usize>>,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        // Runs before the count is given back (fields drop after this).
        let open = self.sessions.get().saturating_sub(1) as u64;
        shards::shard_metrics::with(|m| m.sessions.set(open));
    }
}

impl Conn {
    pub async fn route(&self, req: Request) -> Response {
        router::handle(&self.cluster, self.router, req).await
    }

    /// A slot for a new session, unless the shard, or this client's share of it, is full.
    pub fn session_slot(&self) -> Option<SessionSlot> {
        if self.sessions.get() >= limits::SESSIONS_PER_SHARD_MAX {
            return None;
        }
        let client = self
            .clients
            .take(self.peer, client_limits::Pool::Sessions)?;
        let slot = SessionSlot {
            _shard: Counted::new(&self.sessions),
            _client: client,
            sessions: self.sessions.clone(),
        };
        let open = self.sessions.get() as u64;
        shards::shard_metrics::with(|m| m.sessions.set(open));
        Some(slot)
    }

    /// The answer when [`Conn::session_slot`] has none: 503, retryable.
    pub fn no_session_slot() -> Response {
        Response::error(&protocol::error::ApiError::new(
            protocol::error::ErrorCode::Unavailable,
            "too many sessions on this server; retry later",
        ))
    }

    /// The answer when the client budget stayed spent: 503, retryable.
    pub fn budget_spent() -> Response {
        Response::error(&crate::held_bytes::budget_spent())
    }

    /// Starts a session if this request is one (see `router::session`).
    pub async fn session(&self, req: &Request) -> Option<Result<router::Session, Response>> {
        router::session(&self.cluster, self.router, req).await
    }

    pub fn session_head(&self, req: &Request, content_type: &'static str) -> Response {
        router::session_head(self.router, req, content_type)
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn draining(&self) -> impl std::future::Future<Output = ()> + Unpin {
        self.ctx.draining.clone().map(|_| ())
    }

    pub fn is_draining(&self) -> bool {
        self.ctx.draining.peek().is_some()
    }
}

/// One unit of a count (open connections, active HTTP/2 streams), taken on creation and
/// given back on drop, so a task that panics still gives it back.
pub(crate) struct Counted(Rc<Cell<usize>>);

impl Counted {
    pub(crate) fn new(count: &Rc<Cell<usize>>) -> Counted {
        count.set(count.get() + 1);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The buffered-body limit answers as s2-lite's extractors do: `bad_json`, or `bad_proto`
/// for protobuf bodies.
pub fn body_too_large(headers: &http::HeaderMap) -> Response {
    let is_proto = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("protobuf"));
    let code = if is_proto {
        protocol::error::ErrorCode::BadProto
    } else {
        protocol::error::ErrorCode::BadJson
    };
    Response::error(&protocol::error::ApiError::new(
        code,
        "Failed to buffer the request body: length limit exceeded",
    ))
}

/// Builds the front end for one shard. `bound` hears whether its listener came up.
pub fn serve_fn(
    cfg: AcceptorConfig,
    bound: std::sync::mpsc::Sender<Result<(), String>>,
) -> ServeFn {
    Box::new(move |ctx: ShardContext| Box::pin(serve(ctx, cfg, bound)))
}

async fn serve(
    ctx: ShardContext,
    cfg: AcceptorConfig,
    bound: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let listener = match TcpListener::bind(cfg.addr) {
        Ok(l) => {
            let _ = bound.send(Ok(()));
            l
        }
        Err(e) => {
            let _ = bound.send(Err(format!(
                "shard {}: bind {}: {e}",
                ctx.shard_id, cfg.addr
            )));
            return;
        }
    };
    let tls = cfg.tls.clone().map(futures_rustls::TlsAcceptor::from);
    let conn = Conn {
        cluster: ctx.cluster.clone(),
        router: cfg.router,
        ctx: ctx.clone(),
        sessions: Rc::new(Cell::new(0)),
        clients: client_limits::ClientLimits::default(),
        peer: std::net::Ipv4Addr::UNSPECIFIED.into(),
        timeouts: cfg.timeouts,
        held: HeldBytes::new(cfg.held_bytes_per_shard),
        id: 0,
    };
    let open = Rc::new(Cell::new(0usize));
    loop {
        let accepted = match select(std::pin::pin!(listener.accept()), conn.draining()).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(_) => break,
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                shards::runtime::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if open.get() >= limits::CONNECTIONS_PER_SHARD_MAX {
            drop(stream);
            continue;
        }
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        // Past the client budget, new connections are refused like past the count.
        let Some(lease) = conn.held.try_take_for_head(limits::CONNECTION_BYTES) else {
            drop(stream);
            continue;
        };
        // One client may not hold more than its share of the pool.
        let Some(client_slot) = conn
            .clients
            .take(peer.ip(), client_limits::Pool::Connections)
        else {
            drop(stream);
            continue;
        };
        let mut conn = conn.clone();
        conn.peer = peer.ip();
        conn.id = NEXT_CONN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = Counted::new(&open);
        let tls = tls.clone();
        spawn_isolated("connection", async move {
            let _slots = (slot, client_slot);
            let _ = stream.set_nodelay(true);
            match tls {
                None => connection(stream, conn, lease).await,
                Some(tls) => Box::pin(tls_connection(tls, stream, conn, lease)).await,
            }
        });
    }
    drop(listener);
    // Connections close after their in-flight requests once draining; wait for them.
    while open.get() > 0 {
        shards::runtime::sleep(Duration::from_millis(10)).await;
    }
}

/// The TLS handshake, within the request deadline, then the connection as in cleartext.
async fn tls_connection(
    tls: futures_rustls::TlsAcceptor,
    stream: TcpStream,
    conn: Conn,
    lease: Lease,
) {
    // rustls's buffers count against the client budget like the connection's own.
    let Some(tls_lease) = conn.held.try_take_for_head(limits::TLS_CONNECTION_BYTES) else {
        return;
    };
    let stream = match timeout(conn.timeouts.request, tls.accept(stream)).await {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        None => return,
    };
    connection(stream, conn, lease).await;
    drop(tls_lease);
}

async fn connection<S>(mut stream: S, conn: Conn, lease: Lease)
where
    S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin + 'static,
{
    // Nothing is allocated for a socket that has sent nothing yet.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64];
    // Read until the bytes either are, or cannot be, the HTTP/2 preface (24 bytes); what
    // follows is read by the protocol.
    loop {
        let read = timeout(conn.timeouts.request, stream.read(&mut chunk)).await;
        match read {
            Some(Ok(0)) | Some(Err(_)) | None => return,
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        let k = buf.len().min(H2_PREFACE.len());
        if buf[..k] != H2_PREFACE[..k] || buf.len() >= H2_PREFACE.len() {
            break;
        }
    }
    // Boxed: an idle connection waiting above is then only this small future, not one
    // sized for the largest state of either protocol (tens of KiB per socket).
    if buf.starts_with(H2_PREFACE) {
        Box::pin(http2::serve(rewind::Rewind::new(buf, stream), conn, lease)).await;
    } else {
        Box::pin(http1::serve(stream, buf, conn, lease)).await;
    }
}
