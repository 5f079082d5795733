//! Access tokens on partition 0 ([`TOKENS_PARTITION`]), which holds the whole table: issue
//! (a random secret, of which only the SHA-256 is stored), list, revoke, and look up by
//! secret. The table is kept in memory as metadata is (loaded at open, written through
//! durably, one writer under `meta_lock`), so authenticating a request costs no storage call.

use crate::basin_ops::{NameRange, Page};
use crate::error::ShardError;
use crate::kv;
use crate::kv::access_token::StoredToken;
use crate::partition::Partition;
use base64::Engine;
use protocol::access::AccessTokenInfo;
use slatedb::WriteBatch;

/// The partition that holds every access token.
pub const TOKENS_PARTITION: u32 = 0;

/// Tokens the table holds at most (each is a few hundred bytes in memory).
pub const TOKENS_MAX: usize = 100_000;

/// A secret's SHA-256, as stored and as looked up.
pub fn secret_digest(secret: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl Partition {
    /// Stores a new token and returns its secret (shown once, never stored).
    pub async fn issue_token(
        &self,
        info: AccessTokenInfo,
        issued_with_auth: bool,
    ) -> Result<String, ShardError> {
        let _guard = self.meta_lock.lock().await;
        if self.tokens.borrow().contains_key(&info.id) {
            return Err(ShardError::AccessTokenAlreadyExists(info.id));
        }
        if self.tokens.borrow().len() >= TOKENS_MAX {
            return Err(ShardError::CapacityExceeded {
                what: "access tokens",
                limit: TOKENS_MAX,
            });
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| ShardError::Storage(format!("no randomness for a token: {e}")))?;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let stored = StoredToken {
            secret_sha256: secret_digest(&secret),
            info,
            created_at_nanos: self.now_nanos(),
            issued_with_auth,
        };
        let mut batch = WriteBatch::new();
        batch.put(
            kv::access_token::key(&stored.info.id),
            kv::access_token::encode_value(&stored),
        );
        self.write_durable(batch).await?;
        self.token_digests
            .borrow_mut()
            .insert(stored.secret_sha256.clone(), stored.info.id.clone());
        self.tokens
            .borrow_mut()
            .insert(stored.info.id.clone(), stored);
        Ok(secret)
    }

    pub fn list_tokens(&self, range: &NameRange) -> Page<AccessTokenInfo> {
        use std::ops::Bound;
        let tokens = self.tokens.borrow();
        let from = if range.start_after.as_str() >= range.prefix.as_str() {
            Bound::Excluded(range.start_after.clone())
        } else {
            Bound::Included(range.prefix.clone())
        };
        let mut items = Vec::new();
        let mut has_more = false;
        for (id, t) in tokens.range((from, Bound::Unbounded)) {
            // Sorted: past the prefix's block, nothing more can match.
            if !id.starts_with(&range.prefix) {
                break;
            }
            if items.len() == range.limit {
                has_more = true;
                break;
            }
            items.push(t.info.clone());
        }
        Page { items, has_more }
    }

    pub async fn revoke_token(&self, id: String) -> Result<AccessTokenInfo, ShardError> {
        let _guard = self.meta_lock.lock().await;
        let Some(stored) = self.tokens.borrow().get(&id).cloned() else {
            return Err(ShardError::AccessTokenNotFound(id));
        };
        let mut batch = WriteBatch::new();
        batch.delete(kv::access_token::key(&id));
        self.write_durable(batch).await?;
        self.tokens.borrow_mut().remove(&id);
        self.token_digests
            .borrow_mut()
            .remove(&stored.secret_sha256);
        Ok(stored.info)
    }

    /// The token whose secret has this digest, if any may authenticate with it (one issued
    /// while access control was off may not).
    pub fn token_by_digest(&self, digest: &str) -> Option<AccessTokenInfo> {
        let id = self.token_digests.borrow().get(digest).cloned()?;
        self.tokens
            .borrow()
            .get(&id)
            .filter(|t| t.issued_with_auth)
            .map(|t| t.info.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(
            secret_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
