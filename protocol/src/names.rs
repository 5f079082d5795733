//! Basin and stream names, and the prefixes and cursors used to list them (API.md §3).
//! Messages are s2-lite's, word for word: clients and people match on them.

use crate::limits::{BASIN_NAME_LEN_MAX, BASIN_NAME_LEN_MIN, STREAM_NAME_LEN_MAX};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A validated basin name: 8..=48 bytes of `[a-z0-9-]`, alphanumeric at both ends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct BasinName(String);

/// A validated stream name: 1..=512 bytes of UTF-8, no NUL, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct StreamName(String);

impl BasinName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        if b.len() > BASIN_NAME_LEN_MAX {
            return Err(format!(
                "basin name must not exceed {BASIN_NAME_LEN_MAX} bytes in length"
            ));
        }
        if b.len() < BASIN_NAME_LEN_MIN {
            return Err(format!(
                "basin name should be at least {BASIN_NAME_LEN_MIN} bytes in length"
            ));
        }
        if !is_lower_alnum(b[0]) {
            return Err("basin name must begin with a lowercase letter or number".into());
        }
        if !is_lower_alnum(b[b.len() - 1]) {
            return Err("basin name must end with a lowercase letter or number".into());
        }
        if !b.iter().all(|&c| is_lower_alnum(c) || c == b'-') {
            return Err("basin name must comprise lowercase letters, numbers, and hyphens".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl StreamName {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("stream name must not be empty".into());
        }
        if s.len() > STREAM_NAME_LEN_MAX {
            return Err(format!(
                "stream name must not exceed {STREAM_NAME_LEN_MAX} bytes in length"
            ));
        }
        if s == "." || s == ".." {
            return Err(r#"stream name must not be "." or "..""#.into());
        }
        if s.contains('\0') {
            return Err("stream name must not contain NUL bytes".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Which list field a prefix rule is checked for; it names the field in messages.
#[derive(Debug, Clone, Copy)]
pub enum ListField {
    Prefix,
    StartAfter,
}

impl ListField {
    fn word(self) -> &'static str {
        match self {
            ListField::Prefix => "prefix",
            ListField::StartAfter => "start-after",
        }
    }
}

/// A basin prefix or start-after cursor: like a name but may be empty or short, and need not
/// end with an alphanumeric.
pub fn validate_basin_list_field(s: &str, field: ListField) -> Result<(), String> {
    let w = field.word();
    let b = s.as_bytes();
    if b.len() > BASIN_NAME_LEN_MAX {
        return Err(format!(
            "basin {w} must not exceed {BASIN_NAME_LEN_MAX} bytes in length"
        ));
    }
    if let Some(&first) = b.first() {
        if !is_lower_alnum(first) {
            return Err(format!(
                "basin {w} must begin with a lowercase letter or number"
            ));
        }
    }
    if !b.iter().all(|&c| is_lower_alnum(c) || c == b'-') {
        return Err(format!(
            "basin {w} must comprise lowercase letters, numbers, and hyphens"
        ));
    }
    Ok(())
}

/// A stream prefix or start-after cursor: at most 512 bytes, no NUL.
pub fn validate_stream_list_field(s: &str, field: ListField) -> Result<(), String> {
    let w = field.word();
    if s.len() > STREAM_NAME_LEN_MAX {
        return Err(format!(
            "stream {w} must not exceed {STREAM_NAME_LEN_MAX} bytes in length"
        ));
    }
    if s.contains('\0') {
        return Err(format!("stream {w} must not contain NUL bytes"));
    }
    Ok(())
}

impl fmt::Display for BasinName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Maps keyed by names can be ranged by plain `&str` cursors (prefix, start_after).
impl std::borrow::Borrow<str> for BasinName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for StreamName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for BasinName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BasinName::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for StreamName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StreamName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A location name (`[A-Za-z0-9:.-]`, 1..=64 chars): accepted in basin bodies and ignored.
#[derive(Debug, Clone)]
pub struct LocationName;

impl<'de> Deserialize<'de> for LocationName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // s2-common's checks and wording, in its order.
        if s.is_empty() {
            return Err(serde::de::Error::custom(
                "location name must be at least 1 character in length",
            ));
        }
        if s.chars().count() > 64 {
            return Err(serde::de::Error::custom(
                "location name must be at most 64 characters in length",
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-'))
        {
            return Err(serde::de::Error::custom(
                "location name must comprise ASCII letters, numbers, colons, hyphens, and periods",
            ));
        }
        Ok(LocationName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basin_name_rules_in_order() {
        assert!(BasinName::parse("my-basin-1").is_ok());
        assert_eq!(
            BasinName::parse("short").unwrap_err(),
            "basin name should be at least 8 bytes in length"
        );
        assert_eq!(
            BasinName::parse(&"a".repeat(49)).unwrap_err(),
            "basin name must not exceed 48 bytes in length"
        );
        assert_eq!(
            BasinName::parse("-abcdefgh").unwrap_err(),
            "basin name must begin with a lowercase letter or number"
        );
        assert_eq!(
            BasinName::parse("abcdefgh-").unwrap_err(),
            "basin name must end with a lowercase letter or number"
        );
        assert_eq!(
            BasinName::parse("abcD_efgh").unwrap_err(),
            "basin name must comprise lowercase letters, numbers, and hyphens"
        );
    }

    #[test]
    fn stream_name_rules() {
        assert!(StreamName::parse("a/b c?d").is_ok());
        assert!(StreamName::parse("").is_err());
        assert!(StreamName::parse("..").is_err());
        assert!(StreamName::parse("a\0b").is_err());
        assert!(StreamName::parse(&"x".repeat(512)).is_ok());
        assert!(StreamName::parse(&"x".repeat(513)).is_err());
    }

    #[test]
    fn list_fields() {
        assert!(validate_basin_list_field("", ListField::Prefix).is_ok());
        assert!(validate_basin_list_field("ab-", ListField::Prefix).is_ok());
        assert_eq!(
            validate_basin_list_field("-a", ListField::StartAfter).unwrap_err(),
            "basin start-after must begin with a lowercase letter or number"
        );
        assert!(validate_stream_list_field("..", ListField::Prefix).is_ok());
        assert!(validate_stream_list_field("a\0", ListField::Prefix).is_err());
    }
}
