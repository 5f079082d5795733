//! The one map from what shards report to what the API answers. No wildcard arm: a new
//! `ShardError` variant does not compile until it is mapped here.

use crate::http::Response;
use http::StatusCode;
use protocol::error::{ApiError, ErrorCode};
use protocol::records::{StreamPosition, TailResponse};
use shards::ShardError;

/// A failed request: a standard error body, or one of the two special bodies (API.md §1.8).
#[derive(Debug)]
pub enum Failure {
    Api(ApiError),
    /// 412 `{"seq_num_mismatch": n}`.
    SeqNumMismatch(u64),
    /// 412 `{"fencing_token_mismatch": "..."}`.
    FencingTokenMismatch(String),
    /// 416 `{"tail": {...}}`.
    Unsatisfiable(StreamPosition),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl Failure {
    pub fn into_response(self) -> Response {
        match self {
            Failure::Api(e) => Response::error(&e),
            Failure::SeqNumMismatch(n) => Response::json(
                StatusCode::PRECONDITION_FAILED,
                &serde_json::json!({ "seq_num_mismatch": n }),
            ),
            Failure::FencingTokenMismatch(t) => Response::json(
                StatusCode::PRECONDITION_FAILED,
                &serde_json::json!({ "fencing_token_mismatch": t }),
            ),
            Failure::Unsatisfiable(tail) => {
                Response::json(StatusCode::RANGE_NOT_SATISFIABLE, &TailResponse { tail })
            }
        }
    }
}

pub fn from_shard(e: ShardError) -> Failure {
    let code = match &e {
        ShardError::BasinNotFound(_) => ErrorCode::BasinNotFound,
        ShardError::StreamNotFound { .. } => ErrorCode::StreamNotFound,
        ShardError::BasinAlreadyExists(_)
        | ShardError::StreamAlreadyExists { .. }
        | ShardError::AccessTokenAlreadyExists(_) => ErrorCode::ResourceAlreadyExists,
        ShardError::AccessTokenNotFound(_) => ErrorCode::AccessTokenNotFound,
        ShardError::BasinDeletionPending(_) => ErrorCode::BasinDeletionPending,
        ShardError::StreamDeletionPending { .. } => ErrorCode::StreamDeletionPending,
        ShardError::CapacityExceeded { .. } => ErrorCode::QuotaExhausted,
        ShardError::Overloaded { .. } => ErrorCode::Unavailable,
        ShardError::Unavailable(_) | ShardError::StorageTimeout { .. } => ErrorCode::Unavailable,
        ShardError::Storage(_) => ErrorCode::Storage,
        ShardError::Invalid(_) => ErrorCode::Invalid,
        ShardError::Unsupported(_) => ErrorCode::NotImplemented,
        ShardError::EncryptionKey(_) => ErrorCode::BadHeader,
        ShardError::DecryptionFailed => ErrorCode::DecryptionFailed,
        ShardError::Backpressure { .. } => ErrorCode::RateLimited,
        ShardError::SeqNumMismatch(n) => return Failure::SeqNumMismatch(*n),
        ShardError::FencingTokenMismatch(t) => return Failure::FencingTokenMismatch(t.clone()),
        ShardError::RangeNotSatisfiable(tail) => return Failure::Unsatisfiable(*tail),
    };
    // Messages are the variants' Display, written to match s2-lite's text.
    Failure::Api(ApiError::new(code, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::names::{BasinName, StreamName};

    fn api(f: Failure) -> ApiError {
        match f {
            Failure::Api(e) => e,
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[test]
    fn messages_match_s2_lite() {
        let b = BasinName::parse("my-basin-1").unwrap();
        let s = StreamName::parse("s").unwrap();
        let e = api(from_shard(ShardError::BasinNotFound(b.clone())));
        assert_eq!(
            (e.status(), e.message.as_str()),
            (404, "basin `my-basin-1` not found")
        );
        let e = api(from_shard(ShardError::StreamAlreadyExists {
            basin: b.clone(),
            stream: s.clone(),
        }));
        assert_eq!(e.message, "stream `s` in basin `my-basin-1` already exists");
        assert_eq!(e.code, ErrorCode::ResourceAlreadyExists);
        let e = api(from_shard(ShardError::StreamDeletionPending {
            basin: b,
            stream: s,
        }));
        assert_eq!(
            (e.status(), e.message.as_str()),
            (409, "stream deletion pending")
        );
    }

    #[test]
    fn special_bodies() {
        let r = from_shard(ShardError::SeqNumMismatch(4)).into_response();
        assert_eq!(
            (r.status.as_u16(), &r.body[..]),
            (412, &br#"{"seq_num_mismatch":4}"#[..])
        );
        let tail = StreamPosition {
            seq_num: 3,
            timestamp: 9,
        };
        let r = from_shard(ShardError::RangeNotSatisfiable(tail)).into_response();
        assert_eq!(
            (r.status.as_u16(), &r.body[..]),
            (416, &br#"{"tail":{"seq_num":3,"timestamp":9}}"#[..])
        );
    }
}
