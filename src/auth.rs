//! Access control with `--auth` (off by default, so `make run` stays a zero-setup emulator).
//! Every `/v1` request then carries `authorization: Bearer <token>`: the bootstrap token
//! given at start-up (`--auth-token`, full scope), or one issued through
//! `/v1/access-tokens`. A missing, unknown or expired token is 401 `authn`; an operation or
//! resource outside the token's scope is 403 `permission_denied`. Listings show only what
//! the scope covers. Tokens are looked up on partition 0 and cached per shard for at most
//! [`CACHE_TTL`]; a revocation through this process drops every shard's cached tokens at
//! once ([`note_revocation`]).

use crate::http::Request;
use protocol::access::{AccessTokenInfo, Operation, Scope};
use protocol::error::{ApiError, ErrorCode};
use shards::Cluster;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a shard trusts what it learned about a token.
pub const CACHE_TTL: Duration = Duration::from_secs(1);
const CACHE_ENTRIES_MAX: usize = 4096;

/// Who is asking: with `--auth` off, anyone may do anything.
#[derive(Debug, Clone)]
pub enum Caller {
    Anyone,
    Token(Arc<Authenticated>),
}

/// A token a request authenticated with.
#[derive(Debug)]
pub struct Authenticated {
    pub info: AccessTokenInfo,
    /// Its secret's digest, to look it up again (`None`: the bootstrap token).
    digest: Option<String>,
}

impl Caller {
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Caller::Anyone => None,
            Caller::Token(t) => Some(&t.info.scope),
        }
    }

    /// 403 unless the caller's scope grants `op`.
    pub fn require(&self, op: Operation) -> Result<(), ApiError> {
        match self.scope() {
            Some(s) if !s.grants(op) => Err(denied(format!(
                "operation `{}` is not permitted",
                serde_json::to_value(op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ))),
            _ => Ok(()),
        }
    }

    /// The scope's set for basins, streams or tokens (`None`: no scope, anyone).
    pub fn basins_set(&self) -> Option<Option<&protocol::access::ResourceSet>> {
        self.scope().map(|s| s.basins.as_ref())
    }

    pub fn streams_set(&self) -> Option<Option<&protocol::access::ResourceSet>> {
        self.scope().map(|s| s.streams.as_ref())
    }

    pub fn tokens_set(&self) -> Option<Option<&protocol::access::ResourceSet>> {
        self.scope().map(|s| s.access_tokens.as_ref())
    }

    pub fn basin_visible(&self, basin: &str) -> bool {
        self.scope().is_none_or(|s| s.basin_allowed(basin))
    }

    pub fn stream_visible(&self, stream: &str) -> bool {
        self.scope().is_none_or(|s| s.stream_allowed(stream))
    }

    pub fn token_visible(&self, id: &str) -> bool {
        self.scope().is_none_or(|s| s.token_allowed(id))
    }

    /// The stream namespace of a token issued with `auto_prefix_streams`.
    pub fn stream_namespace(&self) -> Option<String> {
        match self {
            Caller::Token(t) if t.info.auto_prefix_streams => match &t.info.scope.streams {
                Some(protocol::access::ResourceSet::Prefix(p)) => Some(p.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// When the caller's own token expires (ms since the epoch), if ever.
    pub fn expires_at_ms(&self) -> Option<i64> {
        match self {
            Caller::Anyone => None,
            Caller::Token(t) => t
                .info
                .expires_at
                .as_deref()
                .and_then(protocol::time::parse_rfc3339_ms),
        }
    }
}

/// Narrows a listing to the names a scope's set can match, so pages are filled (and
/// paginate) within the scope rather than filtered after the limit. `false`: nothing can
/// match (the listing is empty). Absent scope (anyone): unchanged.
pub fn narrow(
    set: Option<Option<&protocol::access::ResourceSet>>,
    range: &mut shards::NameRange,
) -> bool {
    use protocol::access::ResourceSet;
    let Some(set) = set else {
        return true;
    };
    let p = match set {
        None => return false,
        Some(ResourceSet::Exact(e)) if e.is_empty() => return false,
        Some(ResourceSet::Exact(e)) | Some(ResourceSet::Prefix(e)) => e,
    };
    if range.prefix.starts_with(p.as_str()) {
        return !matches!(set, Some(ResourceSet::Exact(e)) if range.prefix != *e);
    }
    if !p.starts_with(range.prefix.as_str()) {
        return false;
    }
    range.prefix = p.clone();
    true
}

pub fn denied(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::PermissionDenied, message)
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Authn, message)
}

/// What a shard learned of a token, when, and at which revocation count.
type Learned = (Option<Arc<AccessTokenInfo>>, Instant, u64);

/// Revocations made through this process so far: a cached token learned before the latest
/// one is looked up again, so a revoked token stops working at once on every shard.
static REVOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Called once a revocation is durable.
pub fn note_revocation() {
    REVOCATIONS.fetch_add(1, Ordering::AcqRel);
}

fn revocations() -> u64 {
    REVOCATIONS.load(Ordering::Acquire)
}

/// Whether what was learned at `at`, at revocation count `seen`, still holds.
fn fresh(at: Instant, seen: u64) -> bool {
    at.elapsed() < CACHE_TTL && seen == revocations()
}

thread_local! {
    /// This shard's recent lookups of real tokens, by secret digest.
    static CACHE: RefCell<HashMap<String, Learned>> = RefCell::new(HashMap::new());
    /// Secrets recently found to be no token: kept apart, so a flood of made-up secrets
    /// can only evict each other, never the real tokens above.
    static UNKNOWN: RefCell<HashMap<String, Instant>> = RefCell::new(HashMap::new());
}

/// The caller of `req` (401 when `--auth` is on and its token does not hold).
pub async fn authenticate(
    cluster: &Cluster,
    bootstrap: Option<&'static str>,
    req: &Request,
) -> Result<Caller, ApiError> {
    let Some(bootstrap) = bootstrap else {
        return Ok(Caller::Anyone);
    };
    let header = req
        .header_str("authorization")
        .ok_or_else(|| unauthenticated("missing access token"))?;
    let secret = match header.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(unauthenticated("authorization must be `Bearer <token>`")),
    };
    if secret.is_empty() {
        return Err(unauthenticated("missing access token"));
    }
    if constant_time_eq(secret.as_bytes(), bootstrap.as_bytes()) {
        return Ok(Caller::Token(Arc::new(Authenticated {
            info: AccessTokenInfo {
                id: "bootstrap".into(),
                expires_at: None,
                auto_prefix_streams: false,
                scope: Scope::all(),
            },
            digest: None,
        })));
    }
    let digest = shards::token_ops::secret_digest(secret);
    let known_unknown = UNKNOWN.with(|u| {
        u.borrow()
            .get(&digest)
            .is_some_and(|at| at.elapsed() < CACHE_TTL)
    });
    if known_unknown {
        return Err(unauthenticated("invalid access token"));
    }
    let cached = CACHE.with(|c| {
        c.borrow()
            .get(&digest)
            .filter(|(_, at, seen)| fresh(*at, *seen))
            .map(|(t, _, _)| t.clone())
    });
    let token = match cached {
        Some(t) => t,
        None => {
            // Read before the lookup: a revocation racing it leaves the entry stale.
            let seen = revocations();
            let t = cluster
                .token_for_secret(secret)
                .await
                .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?
                .map(Arc::new);
            match &t {
                Some(_) => CACHE.with(|c| {
                    let mut c = c.borrow_mut();
                    if c.len() >= CACHE_ENTRIES_MAX {
                        c.retain(|_, (_, at, seen)| fresh(*at, *seen));
                        if c.len() >= CACHE_ENTRIES_MAX {
                            c.clear();
                        }
                    }
                    c.insert(digest.clone(), (t.clone(), Instant::now(), seen));
                }),
                None => UNKNOWN.with(|u| {
                    let mut u = u.borrow_mut();
                    if u.len() >= CACHE_ENTRIES_MAX {
                        u.clear();
                    }
                    u.insert(digest.clone(), Instant::now());
                }),
            }
            t
        }
    };
    let token = token.ok_or_else(|| unauthenticated("invalid access token"))?;
    let expires = token
        .expires_at
        .as_deref()
        .and_then(protocol::time::parse_rfc3339_ms);
    if expires.is_some_and(|e| e <= now_ms()) {
        return Err(unauthenticated("access token expired"));
    }
    Ok(Caller::Token(Arc::new(Authenticated {
        info: (*token).clone(),
        digest: Some(digest),
    })))
}

/// For long-running sessions: whether the caller's token still holds (not revoked, not
/// expired), checked at most once per [`CACHE_TTL`] against partition 0. 401 if not.
pub async fn still_valid(cluster: &Cluster, caller: &Caller) -> Result<(), ApiError> {
    let Caller::Token(t) = caller else {
        return Ok(());
    };
    if caller.expires_at_ms().is_some_and(|e| e <= now_ms()) {
        return Err(unauthenticated("access token expired"));
    }
    let Some(digest) = &t.digest else {
        return Ok(());
    };
    let known = CACHE.with(|c| {
        c.borrow()
            .get(digest)
            .is_some_and(|(_, at, seen)| fresh(*at, *seen))
    });
    if known {
        return Ok(());
    }
    let seen = revocations();
    let found = cluster
        .token_for_digest(digest.clone())
        .await
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
    match found {
        Some(info) => {
            CACHE.with(|c| {
                c.borrow_mut()
                    .insert(digest.clone(), (Some(Arc::new(info)), Instant::now(), seen))
            });
            Ok(())
        }
        None => Err(unauthenticated("access token revoked")),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a request asks to do, for the scope check: the operation and the resources named.
pub struct Access<'a> {
    pub op: Operation,
    /// A second operation the request needs (an ensure (PUT) may also replace a config).
    pub also: Option<Operation>,
    pub basin: Option<std::borrow::Cow<'a, str>>,
    pub stream: Option<String>,
    pub token: Option<String>,
}

/// 403 unless `caller` may do `access`.
pub fn authorize(caller: &Caller, access: &Access<'_>) -> Result<(), ApiError> {
    let Some(scope) = caller.scope() else {
        return Ok(());
    };
    caller.require(access.op)?;
    if let Some(op) = access.also {
        caller.require(op)?;
    }
    if let Some(b) = &access.basin {
        if !scope.basin_allowed(b) {
            return Err(denied(format!("basin `{b}` is not permitted")));
        }
    }
    if let Some(s) = &access.stream {
        if !scope.stream_allowed(s) {
            return Err(denied(format!("stream `{s}` is not permitted")));
        }
    }
    if let Some(t) = &access.token {
        if !scope.token_allowed(t) {
            return Err(denied(format!("access token `{t}` is not permitted")));
        }
    }
    Ok(())
}

/// The operation and resources of a `/v1` request, from its method and path (`None` for
/// paths no operation covers: they 404 or 405 as usual).
pub fn access_of(req: &Request) -> Option<Access<'_>> {
    use http::Method;
    use Operation::*;
    let segs: Vec<&str> = req.path.strip_prefix("/v1/")?.split('/').collect();
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let basin_header = || req.header_str("s2-basin").map(std::borrow::Cow::Borrowed);
    let basin_seg = |b: &str| Some(std::borrow::Cow::Owned(decode(b)));
    let m = &req.method;
    let get = *m == Method::GET;
    let put = *m == Method::PUT;
    let (op, basin, stream, token) = match segs.as_slice() {
        ["basins"] if get => (ListBasins, None, None, None),
        ["basins"] => (CreateBasin, None, None, None),
        ["basins", b] => {
            let op = match *m {
                Method::GET => GetBasinConfig,
                Method::PUT => CreateBasin,
                Method::PATCH => ReconfigureBasin,
                _ => DeleteBasin,
            };
            (op, basin_seg(b), None, None)
        }
        ["streams"] if get => (ListStreams, basin_header(), None, None),
        ["streams"] => (CreateStream, basin_header(), None, None),
        ["streams", s] => {
            let op = match *m {
                Method::GET => GetStreamConfig,
                Method::PUT => CreateStream,
                Method::PATCH => ReconfigureStream,
                _ => DeleteStream,
            };
            (op, basin_header(), Some(decode(s)), None)
        }
        ["streams", s, "records"] => {
            let op = if get { Read } else { Append };
            (op, basin_header(), Some(decode(s)), None)
        }
        ["streams", s, "records", "tail"] => (CheckTail, basin_header(), Some(decode(s)), None),
        ["access-tokens"] if get => (ListAccessTokens, None, None, None),
        ["access-tokens"] => (IssueAccessToken, None, None, None),
        ["access-tokens", id] => (RevokeAccessToken, None, None, Some(decode(id))),
        ["metrics"] => (AccountMetrics, None, None, None),
        ["metrics", b] => (BasinMetrics, basin_seg(b), None, None),
        ["metrics", b, s] => (StreamMetrics, basin_seg(b), Some(decode(s)), None),
        ["locations"] => (ListLocations, None, None, None),
        ["locations", "default"] if get => (GetDefaultLocation, None, None, None),
        ["locations", "default"] => (SetDefaultLocation, None, None, None),
        _ => return None,
    };
    // An ensure creates the resource or replaces its config: it needs both.
    let also = match op {
        CreateBasin if put => Some(ReconfigureBasin),
        CreateStream if put => Some(ReconfigureStream),
        _ => None,
    };
    Some(Access {
        op,
        also,
        basin,
        stream,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> Request {
        let mut headers = http::HeaderMap::new();
        headers.insert("s2-basin", "team-a-one".parse().unwrap());
        Request {
            method: method.parse().unwrap(),
            path: path.into(),
            query: String::new(),
            headers,
            body: bytes::Bytes::new(),
            caller: Caller::Anyone,
            conn: 0,
        }
    }

    fn caller(scope: &str) -> Caller {
        Caller::Token(Arc::new(Authenticated {
            info: AccessTokenInfo {
                id: "t".into(),
                expires_at: None,
                auto_prefix_streams: false,
                scope: serde_json::from_str(scope).unwrap(),
            },
            digest: None,
        }))
    }

    #[test]
    fn routes_map_to_operations_and_resources() {
        let r = req("POST", "/v1/streams/a%2Fb/records");
        let a = access_of(&r).unwrap();
        assert_eq!(
            (a.op, a.basin.as_deref(), a.stream.as_deref()),
            (Operation::Append, Some("team-a-one"), Some("a/b"))
        );
        let r = req("PUT", "/v1/streams/s");
        let a = access_of(&r).unwrap();
        assert_eq!(
            (a.op, a.also),
            (Operation::CreateStream, Some(Operation::ReconfigureStream))
        );
        let r = req("GET", "/v1/basins/a%62cdefgh");
        assert_eq!(access_of(&r).unwrap().basin.as_deref(), Some("abcdefgh"));
        let r = req("DELETE", "/v1/access-tokens/t1");
        assert_eq!(access_of(&r).unwrap().op, Operation::RevokeAccessToken);
        assert!(access_of(&req("GET", "/health")).is_none());
    }

    #[test]
    fn scopes_are_enforced() {
        let c = caller(
            r#"{"basins":{"prefix":"team-a"},"streams":{"prefix":""},"ops":["append","read"]}"#,
        );
        let r = req("POST", "/v1/streams/s/records");
        assert!(authorize(&c, &access_of(&r).unwrap()).is_ok());
        let r = req("DELETE", "/v1/streams/s");
        let e = authorize(&c, &access_of(&r).unwrap()).unwrap_err();
        assert_eq!((e.status(), e.code), (403, ErrorCode::PermissionDenied));
        let r = req("GET", "/v1/basins/team-b-two");
        assert!(authorize(
            &caller(r#"{"basins":{"prefix":"team-a"},"ops":["get-basin-config"]}"#),
            &access_of(&r).unwrap()
        )
        .is_err());
        assert!(authorize(&Caller::Anyone, &access_of(&r).unwrap()).is_ok());
    }

    #[test]
    fn listings_are_narrowed_to_the_scope() {
        use protocol::access::ResourceSet;
        let range = |prefix: &str| shards::NameRange {
            prefix: prefix.into(),
            start_after: String::new(),
            limit: 10,
        };
        let team = ResourceSet::Prefix("team-a".into());
        let mut r = range("");
        assert!(narrow(Some(Some(&team)), &mut r));
        assert_eq!(r.prefix, "team-a");
        let mut r = range("team-a-x");
        assert!(narrow(Some(Some(&team)), &mut r));
        assert_eq!(r.prefix, "team-a-x");
        assert!(!narrow(Some(Some(&team)), &mut range("team-b")));
        assert!(!narrow(Some(None), &mut range("")));
        assert!(narrow(None, &mut range("any")));
        let exact = ResourceSet::Exact("team-a-1".into());
        let mut r = range("team");
        assert!(narrow(Some(Some(&exact)), &mut r));
        assert_eq!(r.prefix, "team-a-1");
        assert!(!narrow(Some(Some(&exact)), &mut range("team-a-10")));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
