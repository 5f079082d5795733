//! Records on the wire (API.md §7-8): the append batch in JSON (`s2-format` raw or base64) and
//! protobuf, its validation (limits, command records), and sequenced records, acks and tails
//! going back out. Storage knows none of this: shards see [`AppendRecord`] and friends.

use crate::error::ApiError;
use crate::limits::{
    BATCH_METERED_BYTES_MAX, BATCH_RECORDS_MAX, FENCING_TOKEN_LEN_MAX, RECORD_METERED_BYTES_MAX,
};
use crate::proto;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// How JSON strings carry bytes (`s2-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The string is the data (UTF-8); non-UTF-8 is rendered lossily on read.
    #[default]
    Raw,
    Base64,
}

impl Format {
    /// Parses the `s2-format` header value (trimmed). Errors carry the bad value.
    pub fn parse(value: &str) -> Result<Format, String> {
        match value.trim() {
            "raw" | "json" => Ok(Format::Raw),
            "base64" | "json-binsafe" => Ok(Format::Base64),
            other => Err(other.to_owned()),
        }
    }

    fn decode(self, s: String) -> Result<Bytes, ApiError> {
        match self {
            Format::Raw => Ok(Bytes::from(s.into_bytes())),
            Format::Base64 => B64
                .decode(s.as_bytes())
                .map(Bytes::from)
                .map_err(|_| ApiError::invalid("invalid Base64 encoding")),
        }
    }

    fn encode(self, b: &[u8]) -> String {
        match self {
            Format::Raw => String::from_utf8_lossy(b).into_owned(),
            Format::Base64 => B64.encode(b),
        }
    }
}

/// A record to append, as every encoding decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRecord {
    pub timestamp: Option<u64>,
    pub headers: Vec<(Bytes, Bytes)>,
    pub body: Bytes,
}

/// One append request's batch and conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInput {
    pub records: Vec<AppendRecord>,
    pub match_seq_num: Option<u64>,
    pub fencing_token: Option<String>,
}

/// A command record's meaning, recognised at validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// New fencing token (may be empty: clears it).
    Fence(String),
    /// Trim point: records below it go (bounded by the command's own position).
    Trim(u64),
}

/// Metered size: `8 + 2·headers + Σ(name + value) + body` (API.md §7.1).
pub fn metered_size(headers: &[(Bytes, Bytes)], body_len: usize) -> usize {
    8 + 2 * headers.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
        + body_len
}

impl AppendRecord {
    pub fn metered_size(&self) -> usize {
        metered_size(&self.headers, self.body.len())
    }

    /// A command iff exactly one header and its name is empty.
    pub fn command(&self) -> Result<Option<Command>, ApiError> {
        let empty_names = self.headers.iter().filter(|(n, _)| n.is_empty()).count();
        if empty_names == 0 {
            return Ok(None);
        }
        if self.headers.len() != 1 {
            return Err(ApiError::invalid("invalid header: empty name"));
        }
        match &self.headers[0].1[..] {
            b"fence" => {
                let token = std::str::from_utf8(&self.body)
                    .map_err(|_| ApiError::invalid("invalid `fence` command: invalid UTF-8"))?;
                if token.len() > FENCING_TOKEN_LEN_MAX {
                    return Err(ApiError::invalid(format!(
                        "invalid `fence` command: fencing token must not exceed {FENCING_TOKEN_LEN_MAX} bytes in length"
                    )));
                }
                Ok(Some(Command::Fence(token.to_owned())))
            }
            b"trim" => {
                let b: [u8; 8] = self.body[..].try_into().map_err(|_| {
                    ApiError::invalid(format!(
                        "invalid `trim` command: earliest sequence number to trim to was {} bytes, must be 8",
                        self.body.len()
                    ))
                })?;
                Ok(Some(Command::Trim(u64::from_be_bytes(b))))
            }
            _ => Err(ApiError::invalid("unknown command")),
        }
    }
}

impl AppendInput {
    /// The checks s2-lite makes after decoding (422 `invalid`); returns each record's
    /// command, if it is one.
    pub fn validate(&self) -> Result<Vec<Option<Command>>, ApiError> {
        if self.records.is_empty() {
            return Err(ApiError::invalid("record batch must not be empty"));
        }
        if self.records.len() > BATCH_RECORDS_MAX {
            return Err(ApiError::invalid(format!(
                "record batch must not exceed {BATCH_RECORDS_MAX} records"
            )));
        }
        if let Some(t) = &self.fencing_token {
            if t.len() > FENCING_TOKEN_LEN_MAX {
                return Err(ApiError::invalid(format!(
                    "fencing token must not exceed {FENCING_TOKEN_LEN_MAX} bytes in length"
                )));
            }
        }
        let mut total = 0;
        let mut commands = Vec::with_capacity(self.records.len());
        for r in &self.records {
            let size = r.metered_size();
            if size > RECORD_METERED_BYTES_MAX {
                return Err(ApiError::invalid(
                    "record must have metered size less than 1 MiB",
                ));
            }
            total += size;
            commands.push(r.command()?);
        }
        if total > BATCH_METERED_BYTES_MAX {
            return Err(ApiError::invalid(
                "record batch must not exceed a metered size of 1 MiB",
            ));
        }
        Ok(commands)
    }

    pub fn metered_size(&self) -> usize {
        self.records.iter().map(AppendRecord::metered_size).sum()
    }

    /// Decodes the JSON body with the given `s2-format`. Syntax and type errors are
    /// `bad_json`; base64 errors are `invalid`, as in s2-lite.
    pub fn from_json(body: &[u8], format: Format) -> Result<AppendInput, ApiError> {
        let raw: JsonAppendInput = serde_json::from_slice(body).map_err(ApiError::bad_json)?;
        let mut records = Vec::with_capacity(raw.records.len());
        for r in raw.records {
            let mut headers = Vec::with_capacity(r.headers.len());
            for Header(n, v) in r.headers {
                headers.push((format.decode(n)?, format.decode(v)?));
            }
            records.push(AppendRecord {
                timestamp: r.timestamp,
                headers,
                body: format.decode(r.body)?,
            });
        }
        Ok(AppendInput {
            records,
            match_seq_num: raw.match_seq_num,
            fencing_token: raw.fencing_token.map(|t| t.0),
        })
    }

    /// Decodes a protobuf `AppendInput`.
    pub fn from_proto(body: &[u8]) -> Result<AppendInput, ApiError> {
        use prost::Message;
        let m = proto::AppendInput::decode(body).map_err(|e| {
            ApiError::new(
                crate::error::ErrorCode::BadProto,
                // prost's message already starts "failed to decode Protobuf message: ".
                e.to_string(),
            )
        })?;
        Ok(Self::from_proto_message(m))
    }

    pub fn from_proto_message(m: proto::AppendInput) -> AppendInput {
        AppendInput {
            records: m
                .records
                .into_iter()
                .map(|r| AppendRecord {
                    timestamp: r.timestamp,
                    headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                    body: r.body,
                })
                .collect(),
            match_seq_num: m.match_seq_num,
            fencing_token: m.fencing_token,
        }
    }
}

#[derive(Deserialize)]
struct JsonAppendInput {
    records: Vec<JsonAppendRecord>,
    #[serde(default)]
    match_seq_num: Option<u64>,
    #[serde(default)]
    fencing_token: Option<JsonFencingToken>,
}

#[derive(Deserialize)]
struct JsonAppendRecord {
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    body: String,
}

/// Named so a wrong-length header reads "expected tuple struct Header with 2 elements".
#[derive(Deserialize)]
struct Header(String, String);

/// A fencing token checked while parsing, so its error is `bad_json` with a position.
struct JsonFencingToken(String);

impl<'de> Deserialize<'de> for JsonFencingToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() > FENCING_TOKEN_LEN_MAX {
            return Err(serde::de::Error::custom(format!(
                "fencing token must not exceed {FENCING_TOKEN_LEN_MAX} bytes in length"
            )));
        }
        Ok(JsonFencingToken(s))
    }
}

/// A durable record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedRecord {
    pub seq_num: u64,
    pub timestamp: u64,
    pub headers: Vec<(Bytes, Bytes)>,
    pub body: Bytes,
}

impl SequencedRecord {
    pub fn metered_size(&self) -> usize {
        metered_size(&self.headers, self.body.len())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    pub seq_num: u64,
    pub timestamp: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AppendAck {
    pub start: StreamPosition,
    pub end: StreamPosition,
    pub tail: StreamPosition,
}

#[derive(Serialize)]
pub struct TailResponse {
    pub tail: StreamPosition,
}

impl From<StreamPosition> for proto::StreamPosition {
    fn from(p: StreamPosition) -> Self {
        proto::StreamPosition {
            seq_num: p.seq_num,
            timestamp: p.timestamp,
        }
    }
}

impl AppendAck {
    pub fn to_proto(self) -> proto::AppendAck {
        proto::AppendAck {
            start: Some(self.start.into()),
            end: Some(self.end.into()),
            tail: Some(self.tail.into()),
        }
    }
}

/// JSON `ReadBatch`: `headers` and `body` omitted when empty; `tail` omitted when absent.
pub fn read_batch_json(
    records: &[SequencedRecord],
    tail: Option<StreamPosition>,
    format: Format,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Rec {
        seq_num: u64,
        timestamp: u64,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
        #[serde(skip_serializing_if = "String::is_empty")]
        body: String,
    }
    #[derive(Serialize)]
    struct Batch {
        records: Vec<Rec>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tail: Option<StreamPosition>,
    }
    let batch = Batch {
        records: records
            .iter()
            .map(|r| Rec {
                seq_num: r.seq_num,
                timestamp: r.timestamp,
                headers: r
                    .headers
                    .iter()
                    .map(|(n, v)| (format.encode(n), format.encode(v)))
                    .collect(),
                body: format.encode(&r.body),
            })
            .collect(),
        tail,
    };
    serde_json::to_vec(&batch).expect("read batch serializes")
}

pub fn read_batch_proto(
    records: &[SequencedRecord],
    tail: Option<StreamPosition>,
) -> proto::ReadBatch {
    proto::ReadBatch {
        records: records
            .iter()
            .map(|r| proto::SequencedRecord {
                seq_num: r.seq_num,
                timestamp: r.timestamp,
                headers: r
                    .headers
                    .iter()
                    .map(|(n, v)| proto::Header {
                        name: n.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                body: r.body.clone(),
            })
            .collect(),
        tail: tail.map(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(headers: &[(&str, &str)], body: &str) -> AppendRecord {
        AppendRecord {
            timestamp: None,
            headers: headers
                .iter()
                .map(|(n, v)| (Bytes::from(n.to_string()), Bytes::from(v.to_string())))
                .collect(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn metered_sizes_match_the_spec() {
        assert_eq!(rec(&[], "hello").metered_size(), 13);
        assert_eq!(rec(&[("k", "v")], "world").metered_size(), 17);
        assert_eq!(rec(&[], "").metered_size(), 8);
    }

    #[test]
    fn commands() {
        let trim = AppendRecord {
            body: Bytes::copy_from_slice(&5u64.to_be_bytes()),
            ..rec(&[("", "trim")], "")
        };
        assert_eq!(trim.command().unwrap(), Some(Command::Trim(5)));
        assert_eq!(
            rec(&[("", "fence")], "tok").command().unwrap(),
            Some(Command::Fence("tok".into()))
        );
        assert_eq!(
            rec(&[("", "bogus")], "").command().unwrap_err().message,
            "unknown command"
        );
        assert_eq!(
            rec(&[("", "fence"), ("a", "b")], "")
                .command()
                .unwrap_err()
                .message,
            "invalid header: empty name"
        );
        assert!(rec(&[("", "trim")], "abc")
            .command()
            .unwrap_err()
            .message
            .contains("was 3 bytes, must be 8"));
    }

    #[test]
    fn json_formats() {
        let raw = AppendInput::from_json(
            br#"{"records":[{"headers":[["k","v"]],"body":"hi"}],"match_seq_num":3}"#,
            Format::Raw,
        )
        .unwrap();
        assert_eq!(raw.records[0].body, "hi");
        assert_eq!(raw.match_seq_num, Some(3));
        let b64 =
            AppendInput::from_json(br#"{"records":[{"body":"aGk="}]}"#, Format::Base64).unwrap();
        assert_eq!(b64.records[0].body, "hi");
        let e =
            AppendInput::from_json(br#"{"records":[{"body":"!!"}]}"#, Format::Base64).unwrap_err();
        assert_eq!(
            (e.status(), e.message.as_str()),
            (422, "invalid Base64 encoding")
        );
        let e = AppendInput::from_json(
            br#"{"records":[],"fencing_token":"0123456789012345678901234567890123456"}"#,
            Format::Raw,
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e
            .message
            .starts_with("fencing token must not exceed 36 bytes in length"));
        assert_eq!(Format::parse(" json-binsafe "), Ok(Format::Base64));
        assert!(Format::parse("xml").is_err());
    }

    #[test]
    fn batch_limits() {
        let empty = AppendInput {
            records: vec![],
            match_seq_num: None,
            fencing_token: None,
        };
        assert_eq!(
            empty.validate().unwrap_err().message,
            "record batch must not be empty"
        );
        let big = AppendInput {
            records: vec![rec(&[], &"x".repeat(RECORD_METERED_BYTES_MAX - 8))],
            match_seq_num: None,
            fencing_token: None,
        };
        assert!(big.validate().is_ok(), "exactly 1 MiB is accepted");
        let two = AppendInput {
            records: vec![big.records[0].clone(), rec(&[], "")],
            ..big
        };
        assert_eq!(
            two.validate().unwrap_err().message,
            "record batch must not exceed a metered size of 1 MiB"
        );
    }

    #[test]
    fn read_json_omits_empty_fields() {
        let r = SequencedRecord {
            seq_num: 1,
            timestamp: 2,
            headers: vec![],
            body: Bytes::new(),
        };
        assert_eq!(
            String::from_utf8(read_batch_json(&[r], None, Format::Raw)).unwrap(),
            r#"{"records":[{"seq_num":1,"timestamp":2}]}"#
        );
    }
}
