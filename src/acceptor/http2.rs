//! HTTP/2 with prior knowledge (h2c), as the official Rust SDK, CLI and Python SDK speak it.
//! h2 wants tokio's I/O traits; `tokio_util::compat` adapts glommio's stream. Each request
//! becomes a task on this shard; draining sends GOAWAY and lets open streams finish.

use super::limits::{
    H2_CONNECTION_BYTES, H2_CONNECTION_WINDOW_BYTES, H2_DEFAULT_WINDOW_BYTES,
    H2_HEADER_LIST_BYTES_MAX, H2_SEND_BUFFER_BYTES, H2_STREAMS_MAX, H2_STREAM_BYTES,
    H2_STREAM_WINDOW_BYTES,
};
use super::Conn;
use crate::handlers::sessions::{self, SessionIo, SessionOutput};
use crate::held_bytes::{Held, HeldBytes, Lease};
use crate::http::{Request, Response};
use crate::router::Session;
use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::io::{AsyncRead, AsyncWrite};
use futures::{SinkExt, StreamExt};
use h2::server::SendResponse;
use h2::RecvStream;
use http::HeaderValue;
use protocol::limits::REQUEST_BODY_BYTES_MAX;
use shards::runtime::{spawn_isolated, spawn_local, timeout};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio_util::compat::FuturesAsyncReadCompatExt;

pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + 'static>(
    io: S,
    conn: Conn,
    mut lease: Lease,
) {
    // What any HTTP/2 peer may send unasked, then as much of a full window as the budget
    // has now: the window bounds what h2 buffers for this connection, and it is ours
    // until the connection ends. Late connections of a busy shard get smaller windows
    // (slower uploads), never more memory.
    if !lease.try_grow_to(lease.bytes() + H2_CONNECTION_BYTES) {
        return;
    }
    let extra = (H2_CONNECTION_WINDOW_BYTES - H2_DEFAULT_WINDOW_BYTES) as usize;
    let window = conn.held.take_window(extra);
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(H2_STREAMS_MAX)
        .max_header_list_size(H2_HEADER_LIST_BYTES_MAX)
        .max_send_buffer_size(H2_SEND_BUFFER_BYTES)
        // The 64 KiB default windows cap an upload at one window per round trip.
        .initial_window_size(H2_STREAM_WINDOW_BYTES)
        .initial_connection_window_size(H2_DEFAULT_WINDOW_BYTES + window.bytes() as u32)
        .handshake::<_, Bytes>(super::coalesce::Coalesce::new(io).compat());
    let _held = (lease, window);
    let mut h2 = match timeout(conn.timeouts.request, handshake).await {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "h2 handshake failed");
            return;
        }
        None => {
            tracing::debug!("h2 handshake timed out");
            return;
        }
    };
    let active = Rc::new(Cell::new(0usize));
    let mut draining_since: Option<Instant> = None;
    loop {
        let next = match draining_since {
            // Draining: GOAWAY was sent; keep driving the connection while our streams
            // finish, then give the peer a moment to see the final GOAWAY and drop it. A
            // client that keeps an idle connection open must not hold up shutdown.
            Some(since) => {
                if active.get() == 0 && since.elapsed() > DRAIN_GRACE {
                    return;
                }
                match timeout(Duration::from_millis(50), h2.accept()).await {
                    Some(next) => next,
                    None => continue,
                }
            }
            None => {
                // Wakes at least every idle timeout: a connection with no open stream
                // for that long is closed (GOAWAY), as an idle HTTP/1.1 one is.
                let raced = {
                    let next = std::pin::pin!(h2.accept());
                    let accept = select(next, conn.draining());
                    match timeout(conn.timeouts.idle, accept).await {
                        Some(Either::Left((next, _))) => Some(next),
                        Some(Either::Right(_)) => None,
                        None if active.get() == 0 => None,
                        None => continue,
                    }
                };
                match raced {
                    Some(next) => next,
                    None => {
                        draining_since = Some(Instant::now());
                        h2.graceful_shutdown();
                        continue;
                    }
                }
            }
        };
        match next {
            Some(Ok((req, respond))) => {
                let (conn, slot) = (conn.clone(), super::Counted::new(&active));
                spawn_isolated("h2 stream", async move {
                    let _slot = slot;
                    handle_stream(req, respond, conn).await;
                });
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "h2 connection error");
                return;
            }
            None => return,
        }
    }
}

/// How long a draining connection with no open streams waits before it is dropped.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

async fn handle_stream(
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    conn: Conn,
) {
    let (parts, body) = req.into_parts();
    let head_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 32)
        .sum::<usize>()
        + parts.uri.path().len()
        + parts.uri.query().map_or(0, str::len);
    // Its head is here already; its send queue may fill. Past the budget: 503 at once
    // (HTTP/1.1 heads keep the head room, so `/health` and `/metrics` still answer).
    let Some(_stream_lease) = conn.held.try_take(H2_STREAM_BYTES + head_bytes) else {
        return send(&mut respond, Conn::budget_spent(), &conn).await;
    };
    let head = Request {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body: Bytes::new(),
        caller: crate::auth::Caller::Anyone,
        conn: conn.id,
    };
    match conn.session(&head).await {
        Some(Ok(session)) => {
            let Some(slot) = conn.session_slot() else {
                return send(&mut respond, Conn::no_session_slot(), &conn).await;
            };
            run_session(session, &head, body, respond, conn).await;
            drop(slot);
            return;
        }
        Some(Err(resp)) => return send(&mut respond, resp, &conn).await,
        None => {}
    }
    let resp = match read_body(body, &head.headers, &conn).await {
        Ok((body, _body_lease)) => {
            let head_only = head.method == http::Method::HEAD;
            let resp = conn.route(Request { body, ..head }).await;
            if head_only {
                let len = resp.body.len();
                let mut r = resp;
                r.body = Bytes::new();
                r.headers
                    .insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
                r
            } else {
                resp
            }
        }
        Err(Some(resp)) => resp,
        Err(None) => return,
    };
    send(&mut respond, resp, &conn).await;
}

/// Frames in flight between a session and the connection, each way. With h2 flow control
/// this bounds a session's memory to a few frames (≤ 2 MiB each).
const SESSION_CHANNEL_FRAMES: usize = 8;

async fn run_session(
    session: Session,
    request: &Request,
    body: RecvStream,
    mut respond: SendResponse<Bytes>,
    conn: Conn,
) {
    let content_type = match session {
        Session::Sse(..) => "text/event-stream",
        _ => "s2s/proto",
    };
    let head = conn.session_head(request, content_type);
    let mut builder = http::Response::builder().status(200);
    if let Some(h) = builder.headers_mut() {
        *h = head.headers;
    }
    let head = builder.body(()).expect("session head builds");
    let Ok(send_stream) = respond.send_response(head, false) else {
        return;
    };
    let (out_tx, out_rx) = mpsc::channel::<Held>(SESSION_CHANNEL_FRAMES);
    // Resolves when the writer ends, e.g. because the client reset the stream: an idle
    // follower then ends at once instead of at its next heartbeat.
    let (writer_alive, writer_gone) = futures::channel::oneshot::channel::<()>();
    let writer = spawn_local(pump_out(
        out_rx,
        send_stream,
        conn.timeouts.write,
        writer_alive,
    ));
    let cluster = conn.cluster().clone();
    let out = SessionOutput {
        output: out_tx,
        held: conn.held.clone(),
    };
    match session {
        Session::Append(target) => {
            let (in_tx, in_rx) = mpsc::channel::<Held>(SESSION_CHANNEL_FRAMES);
            let reader = spawn_local(pump_in(body, in_tx, conn.held.clone()));
            let io = SessionIo { input: in_rx, out };
            sessions::run_append(cluster, target, io).await;
            drop(reader);
        }
        Session::Read(read, mut encoder) => {
            drop(body);
            // A follower never ends by itself: on shutdown, end it (clients resume).
            let run = std::pin::pin!(sessions::run_read(cluster, read, &mut encoder, out));
            let _ = select(run, select(conn.draining(), writer_gone)).await;
        }
        Session::Sse(read, mut encoder) => {
            drop(body);
            let run = std::pin::pin!(sessions::run_read(cluster, read, &mut encoder, out));
            let _ = select(run, select(conn.draining(), writer_gone)).await;
        }
    }
    writer.await;
}

/// Request body → session, releasing flow control only as the session takes chunks and
/// the budget has room for them: a client outrunning either is held back by its window.
async fn pump_in(mut body: RecvStream, mut tx: mpsc::Sender<Held>, held: HeldBytes) {
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let n = chunk.len();
        let Ok(chunk) = held.hold(chunk).await else {
            return;
        };
        if tx.send(chunk).await.is_err() {
            return;
        }
        let _ = body.flow_control().release_capacity(n);
    }
}

/// Session → response body, sending only as the peer's window allows.
async fn pump_out(
    mut rx: mpsc::Receiver<Held>,
    mut stream: h2::SendStream<Bytes>,
    stall: Duration,
    _alive: futures::channel::oneshot::Sender<()>,
) {
    loop {
        // The next frame, unless the client resets the stream first.
        let next = futures::future::poll_fn(|cx| {
            if stream.poll_reset(cx).is_ready() {
                return std::task::Poll::Ready(None);
            }
            rx.poll_next_unpin(cx).map(Some)
        })
        .await;
        let held = match next {
            None => return,
            Some(None) => break,
            Some(Some(held)) => held,
        };
        if !send_data(&mut stream, held.bytes.clone(), stall).await {
            return;
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// Hands `data` to h2 as the peer's window (and h2's bounded send queue) allows, so h2
/// never queues more than `H2_SEND_BUFFER_BYTES` of it. `false`: the stream is gone, or
/// the peer opened no window for `stall` (it was reset).
async fn send_data(stream: &mut h2::SendStream<Bytes>, mut data: Bytes, stall: Duration) -> bool {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let capacity = futures::future::poll_fn(|cx| stream.poll_capacity(cx));
        // A peer that opens no window for this long has stopped reading: end it.
        let cap = match timeout(stall, capacity).await {
            Some(Some(Ok(n))) if n > 0 => n,
            Some(Some(Ok(_))) => continue,
            None => {
                stream.send_reset(h2::Reason::CANCEL);
                return false;
            }
            _ => return false,
        };
        let chunk = data.split_to(cap.min(data.len()));
        if stream.send_data(chunk, false).is_err() {
            return false;
        }
    }
    true
}

/// Buffers a unary body, releasing flow-control capacity as the budget takes it (the
/// lease comes back with the body). `Err(None)`: the client reset the stream.
async fn read_body(
    mut body: RecvStream,
    headers: &http::HeaderMap,
    conn: &Conn,
) -> Result<(Bytes, Lease), Option<Response>> {
    let timeouts = conn.timeouts;
    let mut out = BytesMut::new();
    let deadline = Instant::now() + timeouts.body();
    let mut lease = conn.held.empty();
    // A declared length is taken whole before any byte is held: a request never holds
    // part of the budget while it waits for the rest.
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .filter(|&n| n <= REQUEST_BODY_BYTES_MAX);
    if let Some(n) = declared {
        lease
            .grow_to(n, deadline)
            .await
            .map_err(|_| Some(Conn::budget_spent()))?;
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = match timeout(left.min(timeouts.request), body.data()).await {
            Some(Some(chunk)) => chunk,
            Some(None) => break,
            // Stalled or too slow: the same answer as HTTP/1.1's.
            None => {
                let e = protocol::error::ApiError::new(
                    protocol::error::ErrorCode::RequestTimeout,
                    "request body not received in time",
                );
                return Err(Some(Response::error(&e)));
            }
        };
        let chunk = chunk.map_err(|_| None)?;
        if out.len() + chunk.len() > REQUEST_BODY_BYTES_MAX {
            let _ = body.flow_control().release_capacity(chunk.len());
            return Err(Some(super::body_too_large(headers)));
        }
        lease
            .grow_to(out.len() + chunk.len(), deadline)
            .await
            .map_err(|_| Some(Conn::budget_spent()))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Ok((out.freeze(), lease))
}

/// Answers a unary request; the body is charged to the budget until h2 has taken it.
async fn send(respond: &mut SendResponse<Bytes>, resp: Response, conn: &Conn) {
    let _lease = conn.held.charge(resp.body.len());
    let mut builder = http::Response::builder().status(resp.status);
    if let Some(h) = builder.headers_mut() {
        *h = resp.headers;
        h.insert(
            http::header::DATE,
            HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
                .expect("http date is a valid header value"),
        );
        if !h.contains_key(http::header::CONTENT_LENGTH) {
            h.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(resp.body.len()),
            );
        }
    }
    let head = builder.body(()).expect("response head builds");
    let end = resp.body.is_empty();
    if let Ok(mut stream) = respond.send_response(head, end) {
        if !end && send_data(&mut stream, resp.body, conn.timeouts.write).await {
            let _ = stream.send_data(Bytes::new(), true);
        }
    }
}
