//! The `s2-encryption-key` header (API.md §10): key material a client sends with appends
//! and reads of a stream that has a cipher. Checked in two steps, as s2-lite does: its
//! length when the request is extracted (for any stream), then its base64 and length once
//! the stream's cipher is known (resource resolution).

use crate::config::Cipher;
use crate::error::ApiError;
use base64::Engine;

pub const HEADER: &str = "s2-encryption-key";

/// Base64 of 32 bytes.
const HEADER_VALUE_MAX: usize = 44;

/// Every cipher takes a 256-bit key.
pub const KEY_LEN: usize = 32;

/// Key material as the client sent it (trimmed, 1..=44 characters), not yet decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(String);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches a log.
        f.write_str("EncryptionKey(..)")
    }
}

impl EncryptionKey {
    /// The header's value, checked as s2-lite checks it at extraction.
    pub fn parse_header(value: &str) -> Result<Self, ApiError> {
        let trimmed = value.trim();
        if (1..=HEADER_VALUE_MAX).contains(&trimmed.len()) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(ApiError::bad_header(
                HEADER,
                format!(
                    "invalid encryption key: key material length {} is out of range",
                    trimmed.len()
                ),
            ))
        }
    }
}

/// Why a stream's cipher and the request's key do not make a usable key (400 `bad_header`,
/// with s2-lite's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("missing encryption key for stream cipher '{0}'")]
    Missing(CipherName),
    #[error("invalid encryption key for stream cipher '{0}': invalid base64")]
    InvalidBase64(CipherName),
    #[error("invalid encryption key length for stream cipher '{0}': {1}")]
    InvalidLength(CipherName, usize),
}

/// A cipher as s2-lite names it in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherName(pub Cipher);

impl std::fmt::Display for CipherName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Cipher::Aegis256 => "aegis-256",
            Cipher::Aes256Gcm => "aes-256-gcm",
        })
    }
}

/// The key for `cipher` from the request's material: `Ok(None)` for a plaintext stream
/// (whose key header is ignored).
pub fn resolve(
    cipher: Option<Cipher>,
    key: Option<&EncryptionKey>,
) -> Result<Option<(Cipher, [u8; KEY_LEN])>, KeyError> {
    let Some(cipher) = cipher else {
        return Ok(None);
    };
    let name = CipherName(cipher);
    let key = key.ok_or(KeyError::Missing(name))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key.0.as_bytes())
        .map_err(|_| KeyError::InvalidBase64(name))?;
    let bytes: [u8; KEY_LEN] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::InvalidLength(name, decoded.len()))?;
    Ok(Some((cipher, bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    #[test]
    fn header_length_is_checked_first() {
        assert!(EncryptionKey::parse_header(&format!("  {KEY_B64} ")).is_ok());
        let e = EncryptionKey::parse_header("  ").unwrap_err();
        assert_eq!(e.message, "Invalid header `s2-encryption-key`: invalid encryption key: key material length 0 is out of range");
        let e = EncryptionKey::parse_header(&"A".repeat(45)).unwrap_err();
        assert!(
            e.message.ends_with("length 45 is out of range"),
            "{}",
            e.message
        );
    }

    #[test]
    fn resolution_follows_the_cipher() {
        let key = EncryptionKey::parse_header(KEY_B64).unwrap();
        assert_eq!(resolve(None, None), Ok(None));
        assert_eq!(resolve(None, Some(&key)), Ok(None));
        let (c, k) = resolve(Some(Cipher::Aegis256), Some(&key))
            .unwrap()
            .unwrap();
        assert_eq!((c, k[0], k[31]), (Cipher::Aegis256, 1, 32));
        assert_eq!(
            resolve(Some(Cipher::Aegis256), None)
                .unwrap_err()
                .to_string(),
            "missing encryption key for stream cipher 'aegis-256'"
        );
        let bad = EncryptionKey::parse_header("not base64!").unwrap();
        assert_eq!(
            resolve(Some(Cipher::Aes256Gcm), Some(&bad))
                .unwrap_err()
                .to_string(),
            "invalid encryption key for stream cipher 'aes-256-gcm': invalid base64"
        );
        let short = EncryptionKey::parse_header("AAAAAAAAAAAAAAAAAAAAAA==").unwrap();
        assert_eq!(
            resolve(Some(Cipher::Aegis256), Some(&short)).unwrap_err(),
            KeyError::InvalidLength(CipherName(Cipher::Aegis256), 16)
        );
    }
}
