//! HTTP/1.1 request heads: bytes to method, target, headers and keep-alive, with the bounds
//! a connection enforces. Pure (no I/O) so the acceptor's reader and the fuzz target share
//! exactly one parser.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// Bytes of a request head (request line and headers): larger gets 431.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;
/// Headers per request: more gets 431.
pub const HEADERS_MAX: usize = 100;

#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed request line or header: 400.
    Bad,
    /// Head too long or too many headers: 431.
    TooLarge,
}

/// Parses the head at the start of `buf`: `Ok(Some((head, consumed)))` when complete,
/// `Ok(None)` when more bytes are needed (and allowed).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > HEAD_BYTES_MAX => Err(HeadError::TooLarge),
        Ok(httparse::Status::Complete(n)) => Ok(Some((to_head(&req)?, n))),
        Ok(httparse::Status::Partial) if buf.len() > HEAD_BYTES_MAX => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Bad),
    }
}

fn to_head(req: &httparse::Request) -> Result<Head, HeadError> {
    let bad = |_| HeadError::Bad;
    let method = Method::from_bytes(req.method.ok_or(HeadError::Bad)?.as_bytes()).map_err(bad)?;
    let target = req.path.ok_or(HeadError::Bad)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HeadError::Bad)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| HeadError::Bad)?;
        headers.append(name, value);
    }
    let connection = headers
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let keep_alive = match req.version {
        Some(1) => !connection.contains("close"),
        _ => connection.contains("keep-alive"),
    };
    Ok(Head {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_head_is_parsed_and_its_length_reported() {
        let raw = b"GET /v1/basins?limit=1 HTTP/1.1\r\nhost: x\r\n\r\nBODY";
        let (head, n) = parse_head(raw).unwrap().unwrap();
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.path, "/v1/basins");
        assert_eq!(head.query, "limit=1");
        assert!(head.keep_alive);
        assert_eq!(&raw[n..], b"BODY");
    }

    #[test]
    fn partial_heads_wait_until_the_bound() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nhost").unwrap().is_none());
        let mut long = b"GET / HTTP/1.1\r\nx: ".to_vec();
        long.resize(HEAD_BYTES_MAX + 1, b'a');
        assert_eq!(parse_head(&long).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn bad_heads_are_rejected() {
        assert_eq!(
            parse_head(b"\x00\x01 / HTTP/1.1\r\n\r\n").unwrap_err(),
            HeadError::Bad
        );
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=HEADERS_MAX {
            many.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn http_1_0_closes_unless_asked() {
        let (h, _) = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let (h, _) = parse_head(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
    }
}
