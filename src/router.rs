//! Routing: path and method to handler, s2-lite's 404 (empty body) and 405 (with `allow`),
//! `HEAD` wherever `GET` is, and the permissive CORS layer (API.md §1.1, §1.7, §2).

use crate::handlers::{
    access_tokens, basins, metrics, records, sessions, streams, stubs, HandlerResult,
};
use crate::http::{Request, Response};
use http::{HeaderValue, Method, StatusCode};
use shards::Cluster;

#[derive(Clone, Copy)]
pub struct RouterConfig {
    pub cors: bool,
    /// The dashboard's `config.json` (the server's settings), or `None` with
    /// `--no-dashboard`.
    pub dashboard: Option<&'static str>,
    /// With `--auth`: the bootstrap token; `None`: no access control.
    pub auth: Option<&'static str>,
}

/// With `--auth`, who asks (401 without a valid token); without, anyone.
async fn authenticate(
    cluster: &Cluster,
    cfg: RouterConfig,
    req: &Request,
) -> Result<crate::auth::Caller, protocol::error::ApiError> {
    if cfg.auth.is_none() || !req.path.starts_with("/v1/") {
        return Ok(crate::auth::Caller::Anyone);
    }
    crate::auth::authenticate(cluster, cfg.auth, req).await
}

/// Puts the request into its caller's stream namespace (`auto_prefix_streams`), then checks
/// that the caller may do what it asks (403).
fn authorize(req: &mut Request) -> Result<(), protocol::error::ApiError> {
    // Without --auth there is nothing to check (and nothing to parse per request).
    if matches!(req.caller, crate::auth::Caller::Anyone) {
        return Ok(());
    }
    if let Some(prefix) = req.caller.stream_namespace() {
        crate::auto_prefix::rewrite_request(req, &prefix);
    }
    if let Some(access) = crate::auth::access_of(req) {
        crate::auth::authorize(&req.caller, &access)?;
    }
    Ok(())
}

/// The account- or basin-level operation a request is, for usage metering: (`""` or its
/// basin, operation name). Records (appends, reads, check-tail) are metered by their own
/// rules and skipped here without parsing.
fn metered_op(req: &Request) -> Option<(String, &'static str)> {
    use protocol::access::{Level, Operation::*};
    if req.path.ends_with("/records") || req.path.ends_with("/records/tail") {
        return None;
    }
    let access = crate::auth::access_of(req)?;
    let level = match access.op {
        // s2 counts metrics requests as account operations, stream configs as basin ones.
        BasinMetrics | StreamMetrics => Level::Account,
        GetStreamConfig | ReconfigureStream => Level::Basin,
        op => op.group().0,
    };
    match level {
        Level::Account => Some((String::new(), access.op.name())),
        // Only a valid name becomes a usage key (a bad one is the request's 400).
        Level::Basin => {
            let basin = protocol::names::BasinName::parse(access.basin?.as_ref()).ok()?;
            Some((basin.as_str().to_owned(), access.op.name()))
        }
        Level::Stream => None,
    }
}

pub async fn handle(cluster: &Cluster, cfg: RouterConfig, mut req: Request) -> Response {
    let origin = req.headers.get(http::header::ORIGIN).cloned();
    let is_head = req.method == Method::HEAD;
    let mut resp = if cfg.cors && is_preflight(&req) {
        let mut r = preflight(&req);
        // s2-lite's preflight also carries the route's `allow` (its router runs first).
        if let Ok(routed) = dispatch(cluster, cfg, req).await {
            if let Some(allow) = routed.headers.get(http::header::ALLOW) {
                r.headers.insert(http::header::ALLOW, allow.clone());
            }
        }
        r
    } else {
        if is_head {
            req.method = Method::GET;
        }
        match authenticate(cluster, cfg, &req).await {
            Ok(caller) => req.caller = caller,
            Err(e) => return with_cors(cfg, &req, Response::error(&e)),
        }
        if let Err(e) = decompress_body(&mut req) {
            return with_cors(cfg, &req, e.into_response());
        }
        if let Err(e) = authorize(&mut req) {
            return with_cors(cfg, &req, Response::error(&e));
        }
        let v1 = req.path.starts_with("/v1/");
        let metered = v1.then(|| metered_op(&req)).flatten();
        let accept = req.headers.clone();
        let namespace = req.caller.stream_namespace().map(|p| (p, req.path.clone()));
        let mut r = match dispatch(cluster, cfg, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        if let Some((prefix, path)) = namespace {
            crate::auto_prefix::rewrite_response(&path, &mut r, &prefix);
        }
        // An unknown path (an empty 404) is outside s2-lite's `/v1` routes and their layer.
        let routed = !(r.status == StatusCode::NOT_FOUND && r.body.is_empty());
        // Operations that did something (a 404 for a basin that does not exist would only
        // fill the meter with names).
        if let (true, Some((basin, op))) = (r.status.is_success(), metered) {
            shards::usage_meter::record_op(&basin, op);
        }
        if v1 && routed {
            compress_response(&accept, &mut r);
        }
        r
    };
    apply_cors(cfg, origin.as_ref(), &mut resp);
    resp
}

/// s2-lite's response compression on `/v1` routes (tower-http's layer): negotiated from
/// `accept-encoding`; bodies of at least 1 KiB, not SSE or S2S, not already encoded, are
/// compressed, and `vary: accept-encoding` marks every response that could have been. When
/// the client accepts nothing we can send, the answer becomes 406 (body unchanged).
fn compress_response(req: &http::HeaderMap, resp: &mut Response) {
    use protocol::compression::{
        compress, negotiate_response, ResponseEncoding, COMPRESS_MIN_BYTES,
    };
    let values: Vec<&str> = req
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let encoding = negotiate_response(values.iter().copied());
    let add_vary = |resp: &mut Response| {
        let listed = resp.headers.get_all(http::header::VARY).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("accept-encoding"))
        });
        if !listed {
            resp.headers.append(
                http::header::VARY,
                HeaderValue::from_static("accept-encoding"),
            );
        }
    };
    if encoding == ResponseEncoding::NotAcceptable {
        resp.status = StatusCode::NOT_ACCEPTABLE;
        add_vary(resp);
        return;
    }
    let content_type = resp
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let compressible = !resp.headers.contains_key(http::header::CONTENT_ENCODING)
        && !resp.headers.contains_key(http::header::CONTENT_RANGE)
        && resp.body.len() >= COMPRESS_MIN_BYTES
        && !content_type.starts_with("text/event-stream")
        && !content_type.starts_with("s2s/proto");
    if !compressible {
        return;
    }
    add_vary(resp);
    if let ResponseEncoding::Compressed(codec) = encoding {
        resp.body = compress(codec, &resp.body);
        resp.headers.remove(http::header::CONTENT_LENGTH);
        let name = match codec {
            protocol::compression::Codec::Gzip => "gzip",
            protocol::compression::Codec::Zstd => "zstd",
        };
        resp.headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static(name),
        );
    }
}

/// A session the transport must run, once its response has started.
pub enum Session {
    /// S2S append session.
    Append(sessions::SessionTarget),
    /// S2S read session.
    Read(sessions::ReadSession, sessions::S2sReadEncoder),
    /// Server-sent events read session (either protocol).
    Sse(sessions::ReadSession, sessions::SseReadEncoder),
}

/// Sessions on `/v1/streams/{s}/records`: `content-type: s2s/proto` (S2S), or a GET whose
/// first `accept` is `text/event-stream` (SSE). `None`: not a session; `Some(Err)`: refused
/// with a plain HTTP response (CORS applied).
pub async fn session(
    cluster: &Cluster,
    cfg: RouterConfig,
    req: &Request,
) -> Option<Result<Session, Response>> {
    let is_s2s = req
        .header_str("content-type")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("s2s/proto"));
    let is_sse = !is_s2s
        && req.method == Method::GET
        && records::media_type(req, "accept") == "text/event-stream";
    if !is_s2s && !is_sse {
        return None;
    }
    req.path
        .strip_prefix("/v1/streams/")?
        .strip_suffix("/records")
        .filter(|s| !s.is_empty() && !s.contains('/'))?;
    // Checked (and put into the caller's namespace) on a copy of the head: the session
    // reads its names from it.
    let mut head = Request {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        body: bytes::Bytes::new(),
        caller: crate::auth::Caller::Anyone,
        conn: req.conn,
    };
    match authenticate(cluster, cfg, &head).await {
        Ok(c) => head.caller = c,
        Err(e) => return Some(Err(with_cors(cfg, req, Response::error(&e)))),
    }
    if let Err(e) = authorize(&mut head) {
        return Some(Err(with_cors(cfg, req, Response::error(&e))));
    }
    let req = &head;
    let stream = req
        .path
        .strip_prefix("/v1/streams/")?
        .strip_suffix("/records")?;
    let caller = req.caller.clone();
    let started = match (&req.method, is_sse) {
        (&Method::GET, true) => sse_session(cluster, req, stream).await,
        (&Method::POST, false) => sessions::prepare_append(cluster, req, stream, caller)
            .await
            .map(Session::Append),
        (&Method::GET, false) => sessions::prepare_read(cluster, req, stream, None)
            .await
            .map(|read| Session::Read(read, sessions::S2sReadEncoder::new(req))),
        _ => return None,
    };
    Some(started.map_err(|f| with_cors(cfg, req, f.into_response())))
}

async fn sse_session(
    cluster: &Cluster,
    req: &Request,
    stream: &str,
) -> Result<Session, crate::error::Failure> {
    let resume = match req.header_str("last-event-id") {
        None => None,
        Some(v) => Some(
            protocol::sse::parse_last_event_id(v)
                .map_err(|m| protocol::error::ApiError::bad_header("last-event-id", m))?,
        ),
    };
    let format = records::format_header(req)?;
    let read = sessions::prepare_read(cluster, req, stream, resume).await?;
    Ok(Session::Sse(
        read,
        sessions::SseReadEncoder::new(format, resume),
    ))
}

/// The head of a streaming session response.
pub fn session_head(cfg: RouterConfig, req: &Request, content_type: &'static str) -> Response {
    let r = Response::with_body(StatusCode::OK, content_type, bytes::Bytes::new())
        .header("cache-control", "no-cache, no-transform")
        .header("x-accel-buffering", "no");
    with_cors(cfg, req, r)
}

fn with_cors(cfg: RouterConfig, req: &Request, mut resp: Response) -> Response {
    apply_cors(cfg, req.headers.get(http::header::ORIGIN), &mut resp);
    resp
}

/// The permissive CORS headers s2-lite sends on every response (unless `--no-cors`).
fn apply_cors(cfg: RouterConfig, origin: Option<&HeaderValue>, resp: &mut Response) {
    if cfg.cors {
        let h = &mut resp.headers;
        // Appended: compression may have said `vary: accept-encoding` first.
        h.append(
            http::header::VARY,
            HeaderValue::from_static(
                "origin, access-control-request-method, access-control-request-headers",
            ),
        );
        h.insert(
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if let Some(o) = origin {
            h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
        }
    }
}

/// `/v1` request bodies may arrive compressed (`content-encoding: gzip` or `zstd`); they are
/// decompressed here, within the buffered-body limit.
fn decompress_body(req: &mut Request) -> Result<(), crate::error::Failure> {
    use protocol::compression::{decompress, Codec, DecompressError};
    let Some(codec) = req
        .header_str("content-encoding")
        .and_then(Codec::from_content_encoding)
    else {
        return Ok(());
    };
    if !req.path.starts_with("/v1/") || req.body.is_empty() {
        return Ok(());
    }
    let code = if req
        .header_str("content-type")
        .is_some_and(|v| v.contains("protobuf"))
    {
        protocol::error::ErrorCode::BadProto
    } else {
        protocol::error::ErrorCode::BadJson
    };
    let limit = protocol::limits::REQUEST_BODY_BYTES_MAX;
    req.body = decompress(codec, &req.body, limit).map_err(|e| {
        let why = match e {
            DecompressError::TooLarge => "length limit exceeded".to_owned(),
            DecompressError::Corrupt(m) => m,
        };
        protocol::error::ApiError::new(code, format!("Failed to buffer the request body: {why}"))
    })?;
    Ok(())
}

fn is_preflight(req: &Request) -> bool {
    req.method == Method::OPTIONS
        && req
            .headers
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Mirrors what the browser asks for.
fn preflight(req: &Request) -> Response {
    let mut r = Response::empty(StatusCode::OK);
    for (ask, allow) in [
        (
            http::header::ACCESS_CONTROL_REQUEST_METHOD,
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
        ),
        (
            http::header::ACCESS_CONTROL_REQUEST_HEADERS,
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        ),
    ] {
        if let Some(v) = req.headers.get(&ask) {
            r.headers.insert(allow, v.clone());
        }
    }
    r
}

fn not_found() -> HandlerResult {
    Ok(Response::empty(StatusCode::NOT_FOUND))
}

/// OK only while every shard and storage thread runs: a load balancer must stop sending
/// traffic to a node whose partitions cannot answer.
fn health(cluster: &Cluster) -> Response {
    let dead = cluster.dead_threads();
    if dead.is_empty() {
        Response::text(StatusCode::OK, "OK")
    } else {
        Response::with_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            bytes::Bytes::from(format!("not running: {}", dead.join(", "))),
        )
    }
}

fn not_allowed(allow: &'static str) -> HandlerResult {
    let mut r = Response::empty(StatusCode::METHOD_NOT_ALLOWED);
    r.headers
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    Ok(r)
}

async fn dispatch(cluster: &Cluster, cfg: RouterConfig, req: Request) -> HandlerResult {
    if let Some(config) = cfg.dashboard {
        if req.path == "/dashboard" || req.path.starts_with("/dashboard/") {
            return match req.method {
                Method::GET => Ok(crate::handlers::dashboard::serve(&req.path, config)
                    .unwrap_or_else(|| Response::empty(StatusCode::NOT_FOUND))),
                _ => not_allowed("GET,HEAD"),
            };
        }
    }
    let path = req.path.clone();
    let segs: Vec<&str> = match path.strip_prefix('/') {
        Some(p) => p.split('/').collect(),
        None => return not_found(),
    };
    if segs.iter().any(|s| s.is_empty()) {
        return not_found();
    }
    let m = req.method.clone();
    match segs.as_slice() {
        ["health"] | ["ping"] => match m {
            Method::GET => Ok(health(cluster)),
            _ => not_allowed("GET,HEAD"),
        },
        ["metrics"] => match m {
            Method::GET => Ok(metrics::render(cluster)),
            _ => not_allowed("GET,HEAD"),
        },
        ["v1", "basins"] => match m {
            Method::GET => basins::list(cluster, req).await,
            Method::POST => basins::create(cluster, req).await,
            _ => not_allowed("GET,HEAD,POST"),
        },
        ["v1", "basins", b] => match m {
            Method::GET => basins::get(cluster, b).await,
            Method::PUT => basins::ensure(cluster, req, b).await,
            Method::PATCH => basins::reconfigure(cluster, req, b).await,
            Method::DELETE => basins::delete(cluster, b).await,
            _ => not_allowed("GET,HEAD,PUT,PATCH,DELETE"),
        },
        ["v1", "streams"] => match m {
            Method::GET => streams::list(cluster, req).await,
            Method::POST => streams::create(cluster, req).await,
            _ => not_allowed("GET,HEAD,POST"),
        },
        ["v1", "streams", s] => match m {
            Method::GET => streams::get(cluster, req, s).await,
            Method::PUT => streams::ensure(cluster, req, s).await,
            Method::PATCH => streams::reconfigure(cluster, req, s).await,
            Method::DELETE => streams::delete(cluster, req, s).await,
            _ => not_allowed("GET,HEAD,PUT,PATCH,DELETE"),
        },
        ["v1", "streams", s, "records"] => match m {
            Method::GET => records::read(cluster, req, s).await,
            Method::POST => records::append(cluster, req, s).await,
            _ => not_allowed("GET,HEAD,POST"),
        },
        ["v1", "streams", s, "records", "tail"] => match m {
            Method::GET => records::check_tail(cluster, req, s).await,
            _ => not_allowed("GET,HEAD"),
        },
        ["v1", "access-tokens"] => match m {
            Method::GET => access_tokens::list(cluster, &req).await,
            Method::POST => access_tokens::issue(cluster, &req).await,
            _ => not_allowed("GET,HEAD,POST"),
        },
        ["v1", "access-tokens", id] => match m {
            Method::DELETE => access_tokens::revoke(cluster, id).await,
            _ => not_allowed("DELETE"),
        },
        ["v1", "metrics"] => usage(cluster, &req, &m, None, None).await,
        ["v1", "metrics", b] => usage(cluster, &req, &m, Some(b), None).await,
        ["v1", "metrics", b, s] => usage(cluster, &req, &m, Some(b), Some(s)).await,
        ["v1", "locations"] => get_only(&m, stubs::locations),
        ["v1", "locations", "default"] => match m {
            Method::GET => stubs::locations(),
            Method::PUT => {
                crate::handlers::json_body::<String>(&req)?;
                stubs::locations()
            }
            _ => not_allowed("GET,HEAD,PUT"),
        },
        _ => not_found(),
    }
}

/// `/v1/metrics...`: GET only; the path's names are checked first.
async fn usage(
    cluster: &Cluster,
    req: &Request,
    m: &Method,
    basin: Option<&str>,
    stream: Option<&str>,
) -> HandlerResult {
    if *m != Method::GET {
        return not_allowed("GET,HEAD");
    }
    let target = crate::handlers::usage_metrics::target(basin, stream)?;
    crate::handlers::usage_metrics::metrics(cluster, req, target).await
}

fn get_only(m: &Method, f: impl FnOnce() -> HandlerResult) -> HandlerResult {
    match *m {
        Method::GET => f(),
        _ => not_allowed("GET,HEAD"),
    }
}
