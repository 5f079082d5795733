//! HTTP/1.1 with httparse: keep-alive, `content-length` and chunked bodies, `Expect:
//! 100-continue`, bounded heads and bodies. A malformed request gets a bare 400 (431 for an
//! oversized head) and the connection closes; the server keeps serving others.

use super::limits::CONNECTION_BYTES;
use super::Conn;
use crate::held_bytes::{Held, Lease, Room};
use crate::http::{Request, Response};
use crate::router::Session;
use bytes::Bytes;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::StreamExt;
use http::{HeaderMap, Method, StatusCode};
use protocol::error::{ApiError, ErrorCode};
use protocol::http1::{parse_head, Head, HeadError};
use protocol::http1_body::{framing, BodyError, ChunkedDecoder, Framing};
use protocol::limits::REQUEST_BODY_BYTES_MAX;
use shards::runtime::timeout;
use std::time::Instant;

/// Why a connection stops.
enum Stop {
    /// Peer closed, timed out, or an I/O error: nothing more to say.
    Quiet,
    /// Say this, then close.
    Respond(Box<Response>),
}

fn respond(r: Response) -> Stop {
    Stop::Respond(Box::new(r))
}

/// Serves one connection. `lease` is its share of the client budget: it grows with the
/// read buffer (a head, a body arriving), so a connection holds only what the budget gave.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    mut buf: Vec<u8>,
    conn: Conn,
    mut lease: Lease,
) {
    loop {
        let outcome = one_request(&mut io, &mut buf, &conn, &mut lease).await;
        let (resp, keep_alive, head_only, refused) = match outcome {
            Ok(Some((r, k, h))) => (r, k, h, false),
            Ok(None) | Err(Stop::Quiet) => return,
            Err(Stop::Respond(r)) => (*r, false, false, true),
        };
        let keep_alive = keep_alive && !conn.is_draining();
        // The body, and its copy behind the head in the write.
        let _response = conn.held.charge(2 * resp.body.len());
        // A client that stops reading its response must not hold the connection.
        let written = timeout(
            conn.timeouts.write,
            write_response(&mut io, resp, keep_alive, head_only),
        )
        .await;
        if !matches!(written, Some(Ok(()))) || !keep_alive {
            let _ = io.close().await;
            if refused && matches!(written, Some(Ok(()))) {
                linger(&mut io, conn.timeouts.write).await;
            }
            return;
        }
    }
}

/// After refusing a request whose body was not read: the write side is shut, so the client
/// has our answer; reading (and dropping) what it still sends, briefly, keeps the kernel
/// from answering that with a reset that would destroy the answer before it is read.
async fn linger<S: AsyncRead + Unpin>(io: &mut S, limit: std::time::Duration) {
    const LINGER_BYTES_MAX: usize = 1 << 20;
    let deadline = Instant::now() + limit.min(std::time::Duration::from_secs(2));
    let mut sink = vec![0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES_MAX {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, io.read(&mut sink)).await {
            Some(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Reads, routes and answers one request. `Ok(None)`: the peer closed between requests.
async fn one_request<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    conn: &Conn,
    lease: &mut Lease,
) -> Result<Option<(Response, bool, bool)>, Stop> {
    let Some(head) = read_head(io, buf, conn, lease).await? else {
        return Ok(None);
    };
    let head_only = head.method == Method::HEAD;
    let keep_alive = head.keep_alive;
    let bad = || respond(Response::empty(StatusCode::BAD_REQUEST));
    let body_framing = framing(&head.headers).map_err(|_| bad())?;
    let mut req = Request {
        method: head.method.clone(),
        path: head.path.clone(),
        query: head.query.clone(),
        headers: head.headers.clone(),
        body: Bytes::new(),
        caller: crate::auth::Caller::Anyone,
        conn: conn.id,
    };
    // Sessions are told apart by their head: an append session's body is its input,
    // streamed, never buffered.
    match conn.session(&req).await {
        None => {}
        Some(Err(resp)) if body_framing == Framing::None => {
            return Ok(Some((resp, keep_alive, head_only)))
        }
        // Its body is not read: answer, then close.
        Some(Err(resp)) => return Err(respond(resp)),
        Some(Ok(session)) => {
            // Every session holds its connection: each takes a session slot.
            let Some(_slot) = conn.session_slot() else {
                return Err(respond(Conn::no_session_slot()));
            };
            run_session(io, buf, conn, lease, &req, body_framing, session).await;
            // The response ended with the session; this connection is done.
            return Err(Stop::Quiet);
        }
    }
    let (body, _body_lease) = read_body(io, buf, &head, conn, lease).await?;
    req.body = body;
    let resp = conn.route(req).await;
    Ok(Some((resp, keep_alive, head_only)))
}

/// A session over HTTP/1.1: a chunked response of S2S frames or SSE events until the
/// session ends, the client goes away, or (reads) the server drains; an append session's
/// input is the request body (chunked or sized), decoded as it arrives.
async fn run_session<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    conn: &Conn,
    lease: &mut Lease,
    req: &Request,
    body: Framing,
    session: Session,
) {
    use crate::handlers::sessions::{self, SessionIo, SessionOutput};
    use std::fmt::Write;
    let content_type = match session {
        Session::Sse(..) => "text/event-stream",
        _ => "s2s/proto",
    };
    let expects_continue = req
        .header_str("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let mut out = String::new();
    if expects_continue && body != Framing::None && buf.is_empty() {
        out.push_str("HTTP/1.1 100 Continue\r\n\r\n");
    }
    out.push_str("HTTP/1.1 200 OK\r\n");
    let head = conn.session_head(req, content_type);
    for (name, value) in head.headers.iter() {
        let _ = write!(out, "{}: {}\r\n", name, value.to_str().unwrap_or(""));
    }
    let _ = write!(
        out,
        "transfer-encoding: chunked\r\nconnection: close\r\ndate: {}\r\n\r\n",
        httpdate::fmt_http_date(std::time::SystemTime::now())
    );
    if io.write_all(out.as_bytes()).await.is_err() || io.flush().await.is_err() {
        return;
    }
    let (tx, mut rx) = futures::channel::mpsc::channel::<Held>(8);
    let output = SessionOutput {
        output: tx,
        held: conn.held.clone(),
    };
    let (mut reader, mut writer) = AsyncReadExt::split(&mut *io);
    let write_events = async {
        while let Some(event) = rx.next().await {
            let event = &event.bytes;
            let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
            chunk.extend_from_slice(event);
            chunk.extend_from_slice(b"\r\n");
            let write = async { writer.write_all(&chunk).await.and(writer.flush().await) };
            // A client that stopped reading ends its session.
            if !matches!(timeout(conn.timeouts.write, write).await, Some(Ok(()))) {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
        let _ = writer.flush().await;
    };
    let cluster = conn.cluster().clone();
    match session {
        Session::Append(target) => {
            let (in_tx, in_rx) = futures::channel::mpsc::channel::<Held>(8);
            let input = SessionIo {
                input: in_rx,
                out: output,
            };
            let both =
                futures::future::join(sessions::run_append(cluster, target, input), write_events);
            // The input ends with the body (or the client); the session then finishes its
            // acks and ends the response.
            let read_input = async {
                stream_body(&mut reader, buf, body, in_tx, conn, lease).await;
                futures::future::pending::<()>().await
            };
            let _ = futures::future::select(std::pin::pin!(both), std::pin::pin!(read_input)).await;
        }
        Session::Read(read, mut encoder) => {
            let run = sessions::run_read(cluster, read, &mut encoder, output);
            let both = futures::future::join(run, write_events);
            // A follower never ends by itself: on shutdown, end it (clients resume).
            let _ = futures::future::select(std::pin::pin!(both), conn.draining()).await;
        }
        Session::Sse(read, mut encoder) => {
            let run = sessions::run_read(cluster, read, &mut encoder, output);
            let both = futures::future::join(run, write_events);
            let _ = futures::future::select(std::pin::pin!(both), conn.draining()).await;
        }
    }
    drop((reader, writer));
    // Whatever the client still sends is read briefly, so our last frames are not lost
    // to a reset.
    let _ = io.close().await;
    if body != Framing::None {
        linger(io, conn.timeouts.write).await;
    }
}

/// An append session's request body, as it arrives, into the session's input: each piece
/// is charged to the client budget, so a client outrunning the session waits in TCP.
/// Returns when the body ends, the client goes away or idles past the idle deadline, or
/// the framing is broken (the input then ends, and the session with it).
async fn stream_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    body: Framing,
    mut tx: futures::channel::mpsc::Sender<Held>,
    conn: &Conn,
    lease: &mut Lease,
) {
    let idle = conn.timeouts.idle;
    match body {
        Framing::None => {}
        Framing::Length(n) => {
            let mut left = n as usize;
            while left > 0 {
                if buf.is_empty() && read_more(reader, buf, idle, lease).await.unwrap_or(0) == 0 {
                    return;
                }
                let take = left.min(buf.len());
                left -= take;
                let piece: Vec<u8> = buf.drain(..take).collect();
                if !send_piece(&mut tx, conn, piece).await {
                    return;
                }
            }
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::new(usize::MAX);
            loop {
                let done = match decoder.feed(buf) {
                    Ok(done) => done,
                    Err(_) => return,
                };
                if !send_piece(&mut tx, conn, decoder.take_body()).await || done {
                    return;
                }
                if read_more(reader, buf, idle, lease).await.unwrap_or(0) == 0 {
                    return;
                }
            }
        }
    }
}

/// One piece of session input, once the budget has room for it. `false`: the session
/// is gone, or the budget stayed spent.
async fn send_piece(
    tx: &mut futures::channel::mpsc::Sender<Held>,
    conn: &Conn,
    piece: Vec<u8>,
) -> bool {
    use futures::SinkExt;
    if piece.is_empty() {
        return true;
    }
    match conn.held.hold(Bytes::from(piece)).await {
        Ok(held) => tx.send(held).await.is_ok(),
        Err(_) => false,
    }
}

async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    conn: &Conn,
    lease: &mut Lease,
) -> Result<Option<Head>, Stop> {
    // Set by the head's first byte: the whole head must be in by then.
    let mut deadline: Option<Instant> = None;
    loop {
        if !buf.is_empty() {
            deadline.get_or_insert_with(|| Instant::now() + conn.timeouts.request);
            match parse_head(buf) {
                Ok(Some((head, n))) => {
                    buf.drain(..n);
                    return Ok(Some(head));
                }
                Ok(None) => {}
                Err(HeadError::TooLarge) => {
                    return Err(respond(Response::empty(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    )))
                }
                Err(HeadError::Bad) => {
                    return Err(respond(Response::empty(StatusCode::BAD_REQUEST)))
                }
            }
        }
        // Between requests wait long (or until draining); mid-head, a stall is an error.
        let n = if buf.is_empty() {
            // An idle connection keeps no buffer of its last request.
            *buf = Vec::new();
            lease.shrink_to(CONNECTION_BYTES);
            let draining = conn.draining();
            let read = read_more(io, buf, conn.timeouts.idle, lease);
            match futures::future::select(std::pin::pin!(read), draining).await {
                futures::future::Either::Left((n, _)) => n?,
                futures::future::Either::Right(_) => return Ok(None),
            }
        } else {
            let left = deadline
                .expect("set above")
                .saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Stop::Quiet);
            }
            read_more(io, buf, left, lease).await?
        };
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Stop::Quiet)
            };
        }
    }
}

async fn read_more<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    limit: std::time::Duration,
    lease: &mut Lease,
) -> Result<usize, Stop> {
    // Read straight into `buf`'s spare room: no buffer in the (long-lived) future.
    const READ_BYTES: usize = 16 * 1024;
    let len = buf.len();
    // The buffer is the budget's before it grows; waiting here holds the client back.
    buf.reserve(READ_BYTES);
    let deadline = Instant::now() + limit;
    if lease
        .grow_to(CONNECTION_BYTES + buf.capacity(), deadline)
        .await
        .is_err()
    {
        return Err(respond(Conn::budget_spent()));
    }
    buf.resize(len + READ_BYTES, 0);
    let read = timeout(limit, io.read(&mut buf[len..])).await;
    let n = match read {
        Some(Ok(n)) => n,
        Some(Err(_)) | None => 0,
    };
    buf.truncate(len + n);
    match read {
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) | None => Err(Stop::Quiet),
    }
}

/// Reads more of a body: a stall ends the connection quietly; a body still incomplete at
/// `deadline` is answered 408 `request_timeout`.
async fn read_more_until<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    deadline: Instant,
    stall: std::time::Duration,
    lease: &mut Lease,
) -> Result<usize, Stop> {
    let late = || {
        let e = ApiError::new(
            ErrorCode::RequestTimeout,
            "request body not received in time",
        );
        Err(respond(Response::error(&e)))
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return late();
    }
    match read_more(io, buf, left.min(stall), lease).await {
        Err(Stop::Quiet) if left < stall && Instant::now() >= deadline => late(),
        other => other,
    }
}

fn too_large(headers: &HeaderMap) -> Stop {
    respond(super::body_too_large(headers))
}

/// Reads a whole body; the lease it comes with counts the body's own copy (the read
/// buffer is counted by the connection's `lease`).
async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    head: &Head,
    conn: &Conn,
    lease: &mut Lease,
) -> Result<(Bytes, Lease), Stop> {
    let h = &head.headers;
    let bad = || respond(Response::empty(StatusCode::BAD_REQUEST));
    let framing = framing(h).map_err(|_| bad())?;
    let body_lease = conn.held.empty();
    let length = match framing {
        Framing::None => return Ok((Bytes::new(), body_lease)),
        Framing::Length(n) if n > REQUEST_BODY_BYTES_MAX as u64 => return Err(too_large(h)),
        Framing::Length(n) => Some(n as usize),
        Framing::Chunked => None,
    };
    let expects_continue = h
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue && buf.is_empty() {
        io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| Stop::Quiet)?;
    }
    let (deadline, stall) = (Instant::now() + conn.timeouts.body(), conn.timeouts.request);
    // The read buffer grows for the body within the budget proper, not the head room.
    lease.set_room(Room::Bodies);
    let read = read_body_bytes(io, buf, h, length, deadline, stall, lease, body_lease).await;
    lease.set_room(Room::Heads);
    read
}

#[allow(clippy::too_many_arguments)]
async fn read_body_bytes<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    h: &HeaderMap,
    length: Option<usize>,
    deadline: Instant,
    stall: std::time::Duration,
    lease: &mut Lease,
    mut body_lease: Lease,
) -> Result<(Bytes, Lease), Stop> {
    let bad = || respond(Response::empty(StatusCode::BAD_REQUEST));
    let spent = || respond(Conn::budget_spent());
    let Some(n) = length else {
        let mut decoder = ChunkedDecoder::new(REQUEST_BODY_BYTES_MAX);
        loop {
            match decoder.feed(buf) {
                Ok(true) => return Ok((Bytes::from(decoder.into_body()), body_lease)),
                Ok(false) => {}
                Err(BodyError::TooLarge) => return Err(too_large(h)),
                Err(BodyError::Bad) => return Err(bad()),
            }
            body_lease
                .grow_to(decoder.body_len(), deadline)
                .await
                .map_err(|_| spent())?;
            if read_more_until(io, buf, deadline, stall, lease).await? == 0 {
                return Err(Stop::Quiet);
            }
        }
    };
    // The copy is taken whole before the body is read: never half a body waiting.
    body_lease.grow_to(n, deadline).await.map_err(|_| spent())?;
    while buf.len() < n {
        if read_more_until(io, buf, deadline, stall, lease).await? == 0 {
            return Err(Stop::Quiet);
        }
    }
    Ok((Bytes::from(buf.drain(..n).collect::<Vec<u8>>()), body_lease))
}

async fn write_response<S: AsyncWrite + Unpin>(
    io: &mut S,
    resp: Response,
    keep_alive: bool,
    head_only: bool,
) -> std::io::Result<()> {
    use std::fmt::Write;
    let mut out = String::with_capacity(256);
    let reason = resp.status.canonical_reason().unwrap_or("");
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status.as_u16(), reason);
    for (name, value) in resp.headers.iter() {
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(value.to_str().unwrap_or(""));
        out.push_str("\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n", resp.body.len());
    let _ = write!(
        out,
        "date: {}\r\n",
        httpdate::fmt_http_date(std::time::SystemTime::now())
    );
    if !keep_alive {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    if head_only || resp.body.is_empty() {
        io.write_all(out.as_bytes()).await?;
    } else {
        let mut all = out.into_bytes();
        all.extend_from_slice(&resp.body);
        io.write_all(&all).await?;
    }
    io.flush().await
}
