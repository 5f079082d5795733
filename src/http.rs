//! The request and response the handlers see, whichever protocol carried them. HTTP/1.1 and
//! HTTP/2 both turn bytes into a [`Request`] and write a [`Response`] back.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use protocol::error::ApiError;

pub struct Request {
    pub method: Method,
    /// The raw (still percent-encoded) path, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Who asks (set by the router once `--auth` checked the token; anyone without it).
    pub caller: crate::auth::Caller,
    /// The connection it came over (unique in this process; 0: none), for usage metering.
    pub conn: u64,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Response {
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("response serializes");
        Self::with_body(status, "application/json", body.into())
    }

    pub fn text(status: StatusCode, text: &'static str) -> Self {
        Self::with_body(
            status,
            "text/plain; charset=utf-8",
            Bytes::from_static(text.as_bytes()),
        )
    }

    pub fn with_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Self {
        let mut r = Self::empty(status);
        r.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        r.body = body;
        r
    }

    pub fn error(e: &ApiError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::with_body(status, "application/json", e.body_json().into())
    }

    pub fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
        self
    }
}
