//! What shard operations can fail with: small facts carrying the names involved. The server
//! maps each variant to an S2 error code in exactly one place (`src/error.rs`).

use protocol::names::{BasinName, StreamName};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ShardError {
    #[error("basin `{0}` not found")]
    BasinNotFound(BasinName),
    #[error("stream `{stream}` in basin `{basin}` not found")]
    StreamNotFound {
        basin: BasinName,
        stream: StreamName,
    },
    #[error("basin `{0}` already exists")]
    BasinAlreadyExists(BasinName),
    #[error("stream `{stream}` in basin `{basin}` already exists")]
    StreamAlreadyExists {
        basin: BasinName,
        stream: StreamName,
    },
    #[error("basin `{0}` is being deleted")]
    BasinDeletionPending(BasinName),
    #[error("stream deletion pending")]
    StreamDeletionPending {
        basin: BasinName,
        stream: StreamName,
    },
    #[error("access token `{0}` already exists")]
    AccessTokenAlreadyExists(String),
    #[error("access token `{0}` not found")]
    AccessTokenNotFound(String),
    /// A bounded in-memory table is full.
    #[error("{what} limit reached: {limit}")]
    CapacityExceeded { what: &'static str, limit: usize },
    /// The owning shard's inbox is full: shed load.
    #[error("shard {shard} is overloaded")]
    Overloaded { shard: usize },
    /// The shard or its storage runtime is gone (shutdown or a crash).
    #[error("shard unavailable: {0}")]
    Unavailable(&'static str),
    /// The batch broke a rule that depends on the stream (422 `invalid`).
    #[error("{0}")]
    Invalid(String),
    /// `match_seq_num` did not match the next seq_num (412).
    #[error("sequence number mismatch: next is {0}")]
    SeqNumMismatch(u64),
    /// `fencing_token` did not match the stream's token (412).
    #[error("fencing token mismatch: current is {0:?}")]
    FencingTokenMismatch(String),
    /// A read starts past the tail, or at it without leave to wait (416).
    #[error("read position beyond the tail")]
    RangeNotSatisfiable(protocol::records::StreamPosition),
    /// Too many append bytes in flight on the shard for too long.
    #[error("append backpressure: more than {limit} bytes in flight")]
    Backpressure { limit: usize },
    /// A feature this server does not have yet (answered 501, never faked).
    #[error("{0} is not supported by this server yet")]
    Unsupported(&'static str),
    /// A storage call passed its deadline (the object store hangs or keeps failing). Its
    /// outcome is unknown: a write may still become durable (503, retryable).
    #[error("storage did not answer within {after:?} ({what}); the outcome is unknown")]
    StorageTimeout {
        what: &'static str,
        after: std::time::Duration,
    },
    /// The stream has a cipher and the request's `s2-encryption-key` does not give a key
    /// for it (400 `bad_header`).
    #[error("{0}")]
    EncryptionKey(protocol::encryption::KeyError),
    /// A sealed record did not open with the reader's key (400 `decryption_failed`).
    #[error("record decryption failed")]
    DecryptionFailed,
    /// SlateDB or the object store failed; nothing was acknowledged.
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<slatedb::Error> for ShardError {
    fn from(e: slatedb::Error) -> Self {
        match e.kind() {
            slatedb::ErrorKind::Closed(reason) => ShardError::Unavailable(closed_reason(reason)),
            _ => ShardError::Storage(e.to_string()),
        }
    }
}

/// Why a partition's database stopped serving, as a client and an operator should read it.
pub fn closed_reason(reason: slatedb::CloseReason) -> &'static str {
    match reason {
        slatedb::CloseReason::Fenced => {
            "partition storage fenced: another writer opened this partition"
        }
        slatedb::CloseReason::Panic => "partition storage closed: a background task panicked",
        _ => "partition storage closed",
    }
}
