//! Records of a stream with a cipher (API.md §10), sealed with the client's key before they
//! are stored and opened again for the reader who brings the same key. The server keeps no
//! key: a record is sealed on its stream's owning shard during the append that carries the
//! key, and opened on the reader's shard, so sealed bytes are all that the window, the
//! follow hubs and storage ever hold.
//!
//! Only envelope records are sealed; command records (fence, trim) stay readable, as in
//! s2-lite. A sealed record is stored as an ordinary record with no headers whose body is
//!
//! ```text
//! format (1B: 1 = AEGIS-256, 2 = AES-256-GCM) ‖ metered size (4B BE) ‖ nonce ‖ ciphertext ‖ tag (16B)
//! ```
//!
//! where the plaintext is the envelope (headers and body, [`kv::record::encode_envelope`])
//! and the associated data binds it to its stream and its metered size:
//! `basin ‖ 00 ‖ stream ‖ metered size`. The metered size is kept in the clear because read
//! limits count plaintext bytes (a 1 MiB record must still fit a 1 MiB page). Nonces are
//! random: 32 bytes for AEGIS-256, 12 for AES-256-GCM (whose streams, as in s2-lite, take
//! at most 2^32 sealed records).

use crate::error::ShardError;
use crate::kv;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use bytes::{BufMut, Bytes, BytesMut};
use protocol::config::Cipher;
use protocol::encryption::{EncryptionKey, KEY_LEN};
use protocol::names::{BasinName, StreamName};
use protocol::records::SequencedRecord;

const FORMAT_AEGIS256: u8 = 1;
const FORMAT_AES256GCM: u8 = 2;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4;

/// The highest seq_num an AES-256-GCM stream may assign to a sealed record (random 96-bit
/// nonces stay safe for 2^32 messages under one key).
pub const AES_GCM_MAX_SEQ_NUM: u64 = (1 << 32) - 1;

/// Random nonces for one batch's envelope records ([`RecordCipher::nonces`]).
pub struct Nonces(Vec<u8>);

/// A stream's cipher with the key a request brought.
#[derive(Clone)]
pub struct RecordCipher {
    cipher: Cipher,
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordCipher({:?}, ..)", self.cipher)
    }
}

impl RecordCipher {
    /// The cipher for a stream's records: `None` for a plaintext stream (the key, if any,
    /// is ignored); a missing or malformed key for a stream with a cipher is an error.
    pub fn resolve(
        cipher: Option<Cipher>,
        key: Option<&EncryptionKey>,
    ) -> Result<Option<Self>, ShardError> {
        Ok(protocol::encryption::resolve(cipher, key)
            .map_err(ShardError::EncryptionKey)?
            .map(|(cipher, key)| Self { cipher, key }))
    }

    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    fn nonce_len(&self) -> usize {
        match self.cipher {
            Cipher::Aegis256 => 32,
            Cipher::Aes256Gcm => 12,
        }
    }

    /// The largest seq_num this cipher may seal.
    pub fn max_seq_num(&self) -> u64 {
        match self.cipher {
            Cipher::Aegis256 => u64::MAX,
            Cipher::Aes256Gcm => AES_GCM_MAX_SEQ_NUM,
        }
    }

    /// Fresh nonces for every envelope record of a batch: one call to the system's random
    /// source per batch, not per record. Drawn before the batch is sequenced, so the one
    /// step that can fail does so while nothing has changed yet.
    pub fn nonces(
        &self,
        records: &[protocol::records::AppendRecord],
    ) -> Result<Nonces, ShardError> {
        let envelopes = records
            .iter()
            .filter(|r| !(r.headers.len() == 1 && r.headers[0].0.is_empty()))
            .count();
        let mut bytes = vec![0u8; self.nonce_len() * envelopes];
        getrandom::fill(&mut bytes)
            .map_err(|e| ShardError::Storage(format!("no randomness for nonces: {e}")))?;
        Ok(Nonces(bytes))
    }

    /// Seals every envelope record of a batch in place (commands are left as they are),
    /// with the batch's [`Nonces`].
    pub fn seal_all(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        records: &mut [SequencedRecord],
        nonces: Nonces,
    ) {
        let n = self.nonce_len();
        let mut nonces = nonces.0.chunks_exact(n);
        for r in records.iter_mut().filter(|r| !is_command(r)) {
            let nonce = nonces.next().expect("one nonce per sealed record");
            r.body = self.seal(basin, stream, &r.headers, &r.body, nonce);
            r.headers = Vec::new();
        }
    }

    fn seal(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        headers: &[(Bytes, Bytes)],
        body: &[u8],
        nonce: &[u8],
    ) -> Bytes {
        let metered = protocol::records::metered_size(headers, body.len()) as u32;
        let start = HEADER_LEN + nonce.len();
        let len = kv::record::envelope_len(headers, body);
        let mut out = BytesMut::with_capacity(start + len + TAG_LEN);
        out.put_u8(match self.cipher {
            Cipher::Aegis256 => FORMAT_AEGIS256,
            Cipher::Aes256Gcm => FORMAT_AES256GCM,
        });
        out.put_u32(metered);
        out.put_slice(nonce);
        kv::record::encode_envelope(&mut out, headers, body);
        let aad = associated_data(basin, stream, metered);
        let payload = &mut out[start..];
        let tag: [u8; TAG_LEN] = match self.cipher {
            Cipher::Aegis256 => {
                let nonce: &[u8; 32] = nonce.try_into().expect("32-byte nonce");
                aegis::aegis256::Aegis256::<TAG_LEN>::new(&self.key, nonce)
                    .encrypt_in_place(payload, &aad)
            }
            Cipher::Aes256Gcm => {
                let gcm = Aes256Gcm::new_from_slice(&self.key).expect("32-byte key");
                let nonce = nonce.try_into().expect("12-byte nonce");
                gcm.encrypt_inout_detached(nonce, &aad, payload.into())
                    .expect("a record is far below AES-GCM's size limit")
                    .into()
            }
        };
        out.put_slice(&tag);
        out.freeze()
    }

    /// Opens every sealed record of a read in place. Any record that does not open with
    /// this key (a wrong key, or tampered bytes) fails the whole read, as in s2-lite.
    pub fn open_all(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        records: &mut [SequencedRecord],
    ) -> Result<(), ShardError> {
        for r in records.iter_mut().filter(|r| !is_command(r)) {
            let (headers, body) = self
                .open(basin, stream, &r.body)
                .ok_or(ShardError::DecryptionFailed)?;
            r.headers = headers;
            r.body = body;
        }
        Ok(())
    }

    fn open(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        sealed: &Bytes,
    ) -> Option<(Vec<(Bytes, Bytes)>, Bytes)> {
        let format = match self.cipher {
            Cipher::Aegis256 => FORMAT_AEGIS256,
            Cipher::Aes256Gcm => FORMAT_AES256GCM,
        };
        let n = self.nonce_len();
        if sealed.len() < HEADER_LEN + n + TAG_LEN || sealed[0] != format {
            return None;
        }
        let metered = u32::from_be_bytes(sealed[1..5].try_into().expect("4 bytes"));
        let nonce = &sealed[HEADER_LEN..HEADER_LEN + n];
        let (payload, tag) =
            sealed[HEADER_LEN + n..].split_at(sealed.len() - HEADER_LEN - n - TAG_LEN);
        let tag: [u8; TAG_LEN] = tag.try_into().expect("16-byte tag");
        let aad = associated_data(basin, stream, metered);
        let mut plain = BytesMut::from(payload);
        match self.cipher {
            Cipher::Aegis256 => {
                let nonce: &[u8; 32] = nonce.try_into().expect("32-byte nonce");
                aegis::aegis256::Aegis256::<TAG_LEN>::new(&self.key, nonce)
                    .decrypt_in_place(&mut plain, &tag, &aad)
                    .ok()?;
            }
            Cipher::Aes256Gcm => {
                let gcm = Aes256Gcm::new_from_slice(&self.key).expect("32-byte key");
                let nonce = nonce.try_into().expect("12-byte nonce");
                gcm.decrypt_inout_detached(nonce, &aad, (&mut plain[..]).into(), &tag.into())
                    .ok()?;
            }
        }
        let (headers, body) = kv::record::decode_envelope(&plain.freeze()).ok()?;
        (protocol::records::metered_size(&headers, body.len()) == metered as usize)
            .then_some((headers, body))
    }
}

/// A command record: exactly one header, with an empty name (validated at append).
fn is_command(r: &SequencedRecord) -> bool {
    r.headers.len() == 1 && r.headers[0].0.is_empty()
}

/// A stored record's metered size as the client counts it: the plaintext's for a sealed
/// record of a stream with a cipher (read limits count those bytes).
pub fn metered_size(r: &SequencedRecord, sealed: bool) -> usize {
    if sealed && r.headers.is_empty() && r.body.len() >= HEADER_LEN {
        u32::from_be_bytes(r.body[1..5].try_into().expect("4 bytes")) as usize
    } else {
        r.metered_size()
    }
}

fn associated_data(basin: &BasinName, stream: &StreamName, metered: u32) -> Vec<u8> {
    let (basin, stream) = (basin.as_str().as_bytes(), stream.as_str().as_bytes());
    let mut aad = Vec::with_capacity(basin.len() + 1 + stream.len() + 4);
    aad.extend_from_slice(basin);
    aad.push(0);
    aad.extend_from_slice(stream);
    aad.extend_from_slice(&metered.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> EncryptionKey {
        use base64::Engine;
        let material = base64::engine::general_purpose::STANDARD.encode([b; 32]);
        EncryptionKey::parse_header(&material).unwrap()
    }

    fn rec(headers: &[(&str, &str)], body: &str) -> SequencedRecord {
        SequencedRecord {
            seq_num: 0,
            timestamp: 0,
            headers: headers
                .iter()
                .map(|(n, v)| (Bytes::from(n.to_string()), Bytes::from(v.to_string())))
                .collect(),
            body: Bytes::from(body.to_string()),
        }
    }

    fn names() -> (BasinName, StreamName) {
        (
            BasinName::parse("cipher-basin").unwrap(),
            StreamName::parse("s").unwrap(),
        )
    }

    #[test]
    fn sealed_records_open_with_the_same_key_only() {
        let (b, s) = names();
        for cipher in [Cipher::Aegis256, Cipher::Aes256Gcm] {
            let c = RecordCipher::resolve(Some(cipher), Some(&key(7)))
                .unwrap()
                .unwrap();
            let plain = vec![
                rec(&[("k", "v"), ("", "x")], "secret body"),
                rec(&[("", "trim")], "\0\0\0\0\0\0\0\x05"),
                rec(&[], ""),
            ];
            let mut records = plain.clone();
            let appended: Vec<protocol::records::AppendRecord> = plain
                .iter()
                .map(|r| protocol::records::AppendRecord {
                    timestamp: None,
                    headers: r.headers.clone(),
                    body: r.body.clone(),
                })
                .collect();
            c.seal_all(&b, &s, &mut records, c.nonces(&appended).unwrap());
            assert!(records[0].headers.is_empty());
            assert!(!records[0].body.windows(6).any(|w| w == b"secret"));
            assert_eq!(records[1], plain[1], "commands stay readable");
            for (r, p) in records.iter().zip(&plain) {
                assert_eq!(metered_size(r, true), p.metered_size());
            }
            let mut opened = records.clone();
            c.open_all(&b, &s, &mut opened).unwrap();
            assert_eq!(opened, plain);

            let wrong = RecordCipher::resolve(Some(cipher), Some(&key(8)))
                .unwrap()
                .unwrap();
            let mut r = records.clone();
            assert!(matches!(
                wrong.open_all(&b, &s, &mut r),
                Err(ShardError::DecryptionFailed)
            ));
            // Bound to its stream: the same bytes under another stream name do not open.
            let other = StreamName::parse("t").unwrap();
            let mut r = records.clone();
            assert!(c.open_all(&b, &other, &mut r).is_err());
            // Tampering with the clear metered size is caught.
            let mut r = records.clone();
            let mut body = r[0].body.to_vec();
            body[4] ^= 1;
            r[0].body = Bytes::from(body);
            assert!(c.open_all(&b, &s, &mut r).is_err());
        }
    }

    #[test]
    fn a_cipher_needs_a_key_and_plaintext_streams_ignore_it() {
        assert!(RecordCipher::resolve(None, Some(&key(1)))
            .unwrap()
            .is_none());
        assert!(matches!(
            RecordCipher::resolve(Some(Cipher::Aegis256), None),
            Err(ShardError::EncryptionKey(_))
        ));
    }
}
