//! The one map from what shards report to S2 error codes and messages. No wildcard arm: a
//! new `ShardError` variant does not compile until it is mapped here.

use protocol::error::{ApiError, ErrorCode};
use shards::ShardError;

pub fn from_shard(e: ShardError) -> ApiError {
    let code = match &e {
        ShardError::BasinNotFound(_) => ErrorCode::BasinNotFound,
        ShardError::StreamNotFound { .. } => ErrorCode::StreamNotFound,
        ShardError::BasinAlreadyExists(_) | ShardError::StreamAlreadyExists { .. } => {
            ErrorCode::ResourceAlreadyExists
        }
        ShardError::BasinDeletionPending(_) => ErrorCode::BasinDeletionPending,
        ShardError::StreamDeletionPending { .. } => ErrorCode::StreamDeletionPending,
        ShardError::CapacityExceeded { .. } => ErrorCode::QuotaExhausted,
        ShardError::Overloaded { .. } => ErrorCode::Unavailable,
        ShardError::Unavailable(_) => ErrorCode::Unavailable,
        ShardError::Storage(_) => ErrorCode::Storage,
    };
    // Messages are the variants' Display, written to match s2-lite's text.
    ApiError::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::names::{BasinName, StreamName};

    #[test]
    fn messages_match_s2_lite() {
        let b = BasinName::parse("my-basin-1").unwrap();
        let s = StreamName::parse("s").unwrap();
        let e = from_shard(ShardError::BasinNotFound(b.clone()));
        assert_eq!(
            (e.status(), e.message.as_str()),
            (404, "basin `my-basin-1` not found")
        );
        let e = from_shard(ShardError::StreamAlreadyExists {
            basin: b.clone(),
            stream: s.clone(),
        });
        assert_eq!(e.message, "stream `s` in basin `my-basin-1` already exists");
        assert_eq!(e.code, ErrorCode::ResourceAlreadyExists);
        let e = from_shard(ShardError::StreamDeletionPending {
            basin: b,
            stream: s,
        });
        assert_eq!(
            (e.status(), e.message.as_str()),
            (409, "stream deletion pending")
        );
    }
}
