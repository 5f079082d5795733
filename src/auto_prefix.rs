//! `auto_prefix_streams`: a token whose stream scope is a prefix `p` may be issued with this
//! flag, and then its caller lives in a namespace: every stream name it sends is taken as
//! `p` + name, and every stream name it gets back has `p` taken off. Requests are rewritten
//! before they are authorized and routed (so the scope check sees the real names), and
//! responses that carry stream names are rewritten back.

use crate::http::{Request, Response};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Puts the caller's names into its namespace `prefix`.
pub fn rewrite_request(req: &mut Request, prefix: &str) {
    let Some(rest) = req.path.strip_prefix("/v1/") else {
        return;
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let prefixed = |seg: &str| {
        encode(&format!(
            "{prefix}{}",
            percent_decode_str(seg).decode_utf8_lossy()
        ))
    };
    let path = match segs.as_slice() {
        // An empty name stays empty (and 404s), never the bare namespace.
        ["streams", "", ..] | ["metrics", _, ""] => None,
        ["streams", s, tail @ ..] => {
            let mut p = format!("/v1/streams/{}", prefixed(s));
            for t in tail {
                p.push('/');
                p.push_str(t);
            }
            Some(p)
        }
        ["metrics", b, s] => Some(format!("/v1/metrics/{b}/{}", prefixed(s))),
        _ => None,
    };
    if let Some(p) = path {
        req.path = p;
        return;
    }
    if segs.as_slice() == ["streams"] {
        if req.method == http::Method::GET {
            // The listing's prefix and start_after are namespace-relative.
            let mut pairs = protocol::query::parse_pairs(&req.query);
            if !pairs.iter().any(|(k, _)| k == "prefix") {
                pairs.push(("prefix".into(), String::new()));
            }
            for (k, v) in pairs.iter_mut() {
                if k == "prefix" || (k == "start_after" && !v.is_empty()) {
                    *v = format!("{prefix}{v}");
                }
            }
            req.query = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&");
        } else if let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&req.body) {
            if let Some(name) = body.get_mut("stream") {
                if let Some(n) = name.as_str() {
                    *name = serde_json::Value::String(format!("{prefix}{n}"));
                    req.body = serde_json::to_vec(&body)
                        .expect("JSON re-serializes")
                        .into();
                }
            }
        }
    }
}

/// Takes the namespace off the stream names a response carries (listings and stream infos).
pub fn rewrite_response(path: &str, resp: &mut Response, prefix: &str) {
    if !path.starts_with("/v1/streams") || !resp.status.is_success() || resp.body.is_empty() {
        return;
    }
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
        return;
    };
    let strip = |v: &mut serde_json::Value| {
        if let Some(name) = v.get_mut("name") {
            if let Some(n) = name.as_str().and_then(|n| n.strip_prefix(prefix)) {
                *name = serde_json::Value::String(n.to_owned());
            }
        }
    };
    match body.get_mut("streams").and_then(|s| s.as_array_mut()) {
        Some(streams) => streams.iter_mut().for_each(strip),
        None => strip(&mut body),
    }
    resp.body = serde_json::to_vec(&body)
        .expect("JSON re-serializes")
        .into();
    resp.headers.remove(http::header::CONTENT_LENGTH);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &str, body: &str) -> Request {
        Request {
            method: method.parse().unwrap(),
            path: path.into(),
            query: query.into(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(body.to_owned()),
            caller: crate::auth::Caller::Anyone,
            conn: 0,
        }
    }

    #[test]
    fn names_go_into_the_namespace_and_come_back_out() {
        let mut r = req("POST", "/v1/streams/a%2Fb/records", "", "");
        rewrite_request(&mut r, "ns/");
        assert_eq!(r.path, "/v1/streams/ns%2Fa%2Fb/records");
        let mut r = req("POST", "/v1/streams", "", r#"{"stream":"x","config":{}}"#);
        rewrite_request(&mut r, "ns/");
        assert!(std::str::from_utf8(&r.body)
            .unwrap()
            .contains(r#""stream":"ns/x""#));
        let mut r = req("GET", "/v1/streams", "start_after=b&limit=2", "");
        rewrite_request(&mut r, "ns/");
        let pairs = protocol::query::parse_pairs(&r.query);
        assert!(pairs.contains(&("prefix".into(), "ns/".into())));
        assert!(pairs.contains(&("start_after".into(), "ns/b".into())));

        let mut resp = Response::json(
            http::StatusCode::OK,
            &serde_json::json!({"streams":[{"name":"ns/x"}],"has_more":false}),
        );
        rewrite_response("/v1/streams", &mut resp, "ns/");
        assert!(std::str::from_utf8(&resp.body)
            .unwrap()
            .contains(r#""name":"x""#));
    }
}
