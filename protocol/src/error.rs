//! S2 error codes: each code's wire name, HTTP status and retryability (API.md §12), and the
//! standard error body `{"code": .., "message": ..}`. Which condition maps to which code is
//! decided in one place, the server's `error.rs`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadHeader,
    BadPath,
    BadQuery,
    BadJson,
    BadProto,
    BadFrame,
    DecryptionFailed,
    Invalid,
    BasinNotFound,
    StreamNotFound,
    AccessTokenNotFound,
    ResourceAlreadyExists,
    BasinDeletionPending,
    StreamDeletionPending,
    TransactionConflict,
    NotImplemented,
    Unavailable,
    Storage,
    Other,
    Authn,
    PermissionDenied,
    QuotaExhausted,
    RequestTimeout,
    RateLimited,
    ClientHangup,
    HotServer,
    ServerDraining,
    UpstreamTimeout,
}

impl ErrorCode {
    /// The snake_case name clients match on.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadHeader => "bad_header",
            BadPath => "bad_path",
            BadQuery => "bad_query",
            BadJson => "bad_json",
            BadProto => "bad_proto",
            BadFrame => "bad_frame",
            DecryptionFailed => "decryption_failed",
            Invalid => "invalid",
            BasinNotFound => "basin_not_found",
            StreamNotFound => "stream_not_found",
            AccessTokenNotFound => "access_token_not_found",
            ResourceAlreadyExists => "resource_already_exists",
            BasinDeletionPending => "basin_deletion_pending",
            StreamDeletionPending => "stream_deletion_pending",
            TransactionConflict => "transaction_conflict",
            NotImplemented => "not_implemented",
            Unavailable => "unavailable",
            Storage => "storage",
            Other => "other",
            Authn => "authn",
            PermissionDenied => "permission_denied",
            QuotaExhausted => "quota_exhausted",
            RequestTimeout => "request_timeout",
            RateLimited => "rate_limited",
            ClientHangup => "client_hangup",
            HotServer => "hot_server",
            ServerDraining => "server_draining",
            UpstreamTimeout => "upstream_timeout",
        }
    }

    /// The HTTP status each code always carries.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadHeader | BadPath | BadQuery | BadJson | BadProto | BadFrame | DecryptionFailed => {
                400
            }
            Authn => 401,
            PermissionDenied | QuotaExhausted => 403,
            BasinNotFound | StreamNotFound | AccessTokenNotFound => 404,
            RequestTimeout => 408,
            ResourceAlreadyExists
            | BasinDeletionPending
            | StreamDeletionPending
            | TransactionConflict => 409,
            Invalid => 422,
            RateLimited => 429,
            ClientHangup => 499,
            Storage | Other => 500,
            NotImplemented => 501,
            HotServer => 502,
            Unavailable | ServerDraining => 503,
            UpstreamTimeout => 504,
        }
    }

    /// Whether a client may retry: the SDKs' retry policies read this from the code.
    pub fn retryable(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            TransactionConflict
                | Unavailable
                | Storage
                | Other
                | RequestTimeout
                | RateLimited
                | HotServer
                | ServerDraining
                | UpstreamTimeout
        )
    }
}

/// An error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The standard JSON error body.
    pub fn body_json(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody {
            code: self.code.as_str(),
            message: &self.message,
        })
        .expect("error body serializes")
    }

    pub fn bad_header(header: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::BadHeader,
            format!("Invalid header `{header}`: {detail}"),
        )
    }

    pub fn missing_header(header: &str) -> Self {
        Self::new(ErrorCode::BadHeader, format!("Missing header `{header}`"))
    }

    pub fn bad_path(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::BadPath, format!("Invalid URL: {detail}"))
    }

    pub fn bad_query(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::BadQuery,
            format!("Failed to deserialize query string: {detail}"),
        )
    }

    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::BadJson, detail.to_string())
    }

    pub fn invalid(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Invalid, detail.to_string())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_their_status() {
        assert_eq!(ErrorCode::Invalid.status(), 422);
        assert_eq!(ErrorCode::BasinDeletionPending.status(), 409);
        assert_eq!(ErrorCode::NotImplemented.status(), 501);
        assert!(ErrorCode::Unavailable.retryable());
        assert!(!ErrorCode::BadJson.retryable());
    }

    #[test]
    fn body_is_code_and_message() {
        let e = ApiError::new(ErrorCode::BasinNotFound, "basin `x` not found");
        assert_eq!(
            String::from_utf8(e.body_json()).unwrap(),
            r#"{"code":"basin_not_found","message":"basin `x` not found"}"#
        );
    }
}
