//! HTTP/1.1 with httparse: keep-alive, `content-length` and chunked bodies, `Expect:
//! 100-continue`, bounded heads and bodies. A malformed request gets a bare 400 (431 for an
//! oversized head) and the connection closes; the server keeps serving others.

use super::Conn;
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

pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, mut buf: Vec<u8>, conn: Conn) {
    loop {
        let outcome = one_request(&mut io, &mut buf, &conn).await;
        let (resp, keep_alive, head_only, refused) = match outcome {
            Ok(Some((r, k, h))) => (r, k, h, false),
            Ok(None) | Err(Stop::Quiet) => return,
            Err(Stop::Respond(r)) => (*r, false, false, true),
        };
        let keep_alive = keep_alive && !conn.is_draining();
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
) -> Result<Option<(Response, bool, bool)>, Stop> {
    let Some(head) = read_head(io, buf, conn).await? else {
        return Ok(None);
    };
    let body = read_body(io, buf, &head, conn).await?;
    let head_only = head.method == Method::HEAD;
    let keep_alive = head.keep_alive;
    let req = Request {
        method: head.method,
        path: head.path,
        query: head.query,
        headers: head.headers,
        body,
    };
    match conn.session(&req).await {
        None => {}
        Some(Err(resp)) => return Ok(Some((resp, keep_alive, head_only))),
        Some(Ok(Session::Sse(read, mut encoder))) => {
            // An SSE session holds its connection as long as an S2S one: it counts the same.
            let Some(_slot) = conn.session_slot() else {
                return Ok(Some((Conn::no_session_slot(), false, head_only)));
            };
            stream_sse(io, conn, &req, read, &mut encoder).await;
            // The body ended with the session; this connection is done.
            return Err(Stop::Quiet);
        }
        Some(Ok(_)) => {
            let e = ApiError::new(
                ErrorCode::BadHeader,
                "S2S sessions (`content-type: s2s/proto`) need HTTP/2",
            );
            return Ok(Some((Response::error(&e), keep_alive, head_only)));
        }
    }
    let resp = conn.route(req).await;
    Ok(Some((resp, keep_alive, head_only)))
}

/// An SSE read session over HTTP/1.1: a chunked body of events, until the session ends,
/// the client goes away, or the server drains.
async fn stream_sse<S: AsyncWrite + Unpin>(
    io: &mut S,
    conn: &Conn,
    req: &Request,
    read: crate::handlers::sessions::ReadSession,
    encoder: &mut crate::handlers::sessions::SseReadEncoder,
) {
    use std::fmt::Write;
    let head = conn.session_head(req, "text/event-stream");
    let mut out = String::from("HTTP/1.1 200 OK\r\n");
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
    let (tx, mut rx) = futures::channel::mpsc::channel::<Bytes>(8);
    let session = crate::handlers::sessions::run_read(conn.cluster().clone(), read, encoder, tx);
    let writer = async {
        while let Some(event) = rx.next().await {
            let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
            chunk.extend_from_slice(&event);
            chunk.extend_from_slice(b"\r\n");
            let write = async { io.write_all(&chunk).await.and(io.flush().await) };
            // A reader that stopped reading ends its session.
            if !matches!(timeout(conn.timeouts.write, write).await, Some(Ok(()))) {
                return;
            }
        }
        let _ = io.write_all(b"0\r\n\r\n").await;
        let _ = io.flush().await;
    };
    let both = futures::future::join(session, writer);
    let _ = futures::future::select(std::pin::pin!(both), conn.draining()).await;
}

async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    conn: &Conn,
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
            let draining = conn.draining();
            let read = read_more(io, buf, conn.timeouts.idle);
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
            read_more(io, buf, left).await?
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
) -> Result<usize, Stop> {
    // Read straight into `buf`'s spare room: no buffer in the (long-lived) future.
    const READ_BYTES: usize = 16 * 1024;
    let len = buf.len();
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
    match read_more(io, buf, left.min(stall)).await {
        Err(Stop::Quiet) if left < stall && Instant::now() >= deadline => late(),
        other => other,
    }
}

fn too_large(headers: &HeaderMap) -> Stop {
    respond(super::body_too_large(headers))
}

async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    head: &Head,
    conn: &Conn,
) -> Result<Bytes, Stop> {
    let h = &head.headers;
    let bad = || respond(Response::empty(StatusCode::BAD_REQUEST));
    let framing = framing(h).map_err(|_| bad())?;
    let length = match framing {
        Framing::None => return Ok(Bytes::new()),
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
    let Some(n) = length else {
        return read_chunked(io, buf, h, deadline, stall).await;
    };
    while buf.len() < n {
        if read_more_until(io, buf, deadline, stall).await? == 0 {
            return Err(Stop::Quiet);
        }
    }
    Ok(Bytes::from(buf.drain(..n).collect::<Vec<u8>>()))
}

async fn read_chunked<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    h: &HeaderMap,
    deadline: Instant,
    stall: std::time::Duration,
) -> Result<Bytes, Stop> {
    let mut decoder = ChunkedDecoder::new(REQUEST_BODY_BYTES_MAX);
    loop {
        match decoder.feed(buf) {
            Ok(true) => return Ok(Bytes::from(decoder.into_body())),
            Ok(false) => {}
            Err(BodyError::TooLarge) => return Err(too_large(h)),
            Err(BodyError::Bad) => return Err(respond(Response::empty(StatusCode::BAD_REQUEST))),
        }
        if read_more_until(io, buf, deadline, stall).await? == 0 {
            return Err(Stop::Quiet);
        }
    }
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
