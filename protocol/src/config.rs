//! Basin and stream configuration (API.md §4): what clients send, how a stream's config is
//! resolved against its basin's defaults and the system defaults, and PATCH semantics.

use crate::limits::RETENTION_AGE_SECS_DEFAULT;
use crate::maybe::{present, Maybe};
use serde::{Deserialize, Serialize};

/// Storage class when nobody says: s2-lite 0.43 fills in `express`.
pub const STORAGE_CLASS_DEFAULT: &str = "express";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionPolicy {
    /// Seconds; must be > 0.
    Age(u64),
    Infinite(Infinite),
}

/// `{"infinite": {}}`: unknown fields inside are ignored, as everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Infinite {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimestampingMode {
    ClientPrefer,
    ClientRequire,
    Arrival,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamping {
    #[serde(default)]
    pub mode: Option<TimestampingMode>,
    #[serde(default)]
    pub uncapped: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOnEmpty {
    #[serde(default)]
    pub min_age_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cipher {
    #[serde(rename = "aegis-256")]
    Aegis256,
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

/// A stream config as sent by a client or kept as a basin's defaults: every field optional.
/// Serializes with explicit `null`s, as s2-lite shows a basin's `default_stream_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConfig {
    #[serde(default)]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub retention_policy: Option<RetentionPolicy>,
    #[serde(default)]
    pub timestamping: Option<Timestamping>,
    #[serde(default)]
    pub delete_on_empty: Option<DeleteOnEmpty>,
}

/// A stream's effective config: every field resolved at creation (or reconfiguration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStreamConfig {
    pub storage_class: String,
    pub retention_policy: RetentionPolicy,
    pub timestamping: ResolvedTimestamping,
    pub delete_on_empty: DeleteOnEmpty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedTimestamping {
    pub mode: TimestampingMode,
    pub uncapped: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasinConfig {
    #[serde(default)]
    pub default_stream_config: Option<StreamConfig>,
    #[serde(default)]
    pub stream_cipher: Option<Cipher>,
    #[serde(default)]
    pub create_stream_on_append: bool,
    #[serde(default)]
    pub create_stream_on_read: bool,
}

/// PATCH body for a stream, or for a basin's default stream config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamReconfiguration {
    #[serde(default)]
    pub storage_class: Maybe<String>,
    #[serde(default)]
    pub retention_policy: Maybe<RetentionPolicy>,
    #[serde(default)]
    pub timestamping: Maybe<TimestampingReconfiguration>,
    #[serde(default)]
    pub delete_on_empty: Maybe<DeleteOnEmptyReconfiguration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TimestampingReconfiguration {
    #[serde(default)]
    pub mode: Maybe<TimestampingMode>,
    #[serde(default)]
    pub uncapped: Maybe<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeleteOnEmptyReconfiguration {
    #[serde(default)]
    pub min_age_secs: Maybe<u64>,
}

/// PATCH body for a basin. The two booleans reject `null`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BasinReconfiguration {
    #[serde(default)]
    pub default_stream_config: Maybe<StreamReconfiguration>,
    #[serde(default)]
    pub stream_cipher: Maybe<Cipher>,
    #[serde(default, deserialize_with = "present")]
    pub create_stream_on_append: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub create_stream_on_read: Option<bool>,
}

const ZERO_AGE: &str = "age must be greater than 0 seconds";

impl StreamConfig {
    /// Semantic checks after deserialization (422 `invalid`).
    pub fn validate(&self) -> Result<(), String> {
        match self.retention_policy {
            Some(RetentionPolicy::Age(0)) => Err(ZERO_AGE.into()),
            _ => Ok(()),
        }
    }

    /// Drops empty sub-objects so an empty config reads back as `null` fields.
    pub fn normalized(mut self) -> Self {
        if self.timestamping == Some(Timestamping::default()) {
            self.timestamping = None;
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        *self == StreamConfig::default()
    }

    /// Resolves each field: this config, else `defaults`, else the system default.
    /// Timestamping's two sub-fields resolve independently.
    pub fn resolve(&self, defaults: Option<&StreamConfig>) -> ResolvedStreamConfig {
        let empty = StreamConfig::default();
        let d = defaults.unwrap_or(&empty);
        let ts = self.timestamping.clone().unwrap_or_default();
        let dts = d.timestamping.clone().unwrap_or_default();
        ResolvedStreamConfig {
            storage_class: self
                .storage_class
                .clone()
                .or_else(|| d.storage_class.clone())
                .unwrap_or_else(|| STORAGE_CLASS_DEFAULT.to_owned()),
            retention_policy: self
                .retention_policy
                .clone()
                .or_else(|| d.retention_policy.clone())
                .unwrap_or(RetentionPolicy::Age(RETENTION_AGE_SECS_DEFAULT)),
            timestamping: ResolvedTimestamping {
                mode: ts
                    .mode
                    .or(dts.mode)
                    .unwrap_or(TimestampingMode::ClientPrefer),
                uncapped: ts.uncapped.or(dts.uncapped).unwrap_or(false),
            },
            delete_on_empty: self
                .delete_on_empty
                .clone()
                .or_else(|| d.delete_on_empty.clone())
                .unwrap_or_default(),
        }
    }

    /// Applies a PATCH: absent fields stay, `null` clears, values set.
    pub fn reconfigure(mut self, patch: StreamReconfiguration) -> Self {
        patch.storage_class.apply_to(&mut self.storage_class);
        patch.retention_policy.apply_to(&mut self.retention_policy);
        match patch.timestamping {
            Maybe::Absent => {}
            Maybe::Null => self.timestamping = None,
            Maybe::Value(t) => {
                let mut cur = self.timestamping.take().unwrap_or_default();
                t.mode.apply_to(&mut cur.mode);
                t.uncapped.apply_to(&mut cur.uncapped);
                self.timestamping = Some(cur);
            }
        }
        match patch.delete_on_empty {
            Maybe::Absent => {}
            Maybe::Null => self.delete_on_empty = None,
            Maybe::Value(d) => match d.min_age_secs {
                Maybe::Absent => {}
                Maybe::Null => self.delete_on_empty = None,
                Maybe::Value(secs) => {
                    self.delete_on_empty = Some(DeleteOnEmpty { min_age_secs: secs })
                }
            },
        }
        self.normalized()
    }
}

impl StreamReconfiguration {
    pub fn validate(&self) -> Result<(), String> {
        match self.retention_policy {
            Maybe::Value(RetentionPolicy::Age(0)) => Err(ZERO_AGE.into()),
            _ => Ok(()),
        }
    }
}

impl ResolvedStreamConfig {
    /// Back to the optional form, every field set: the base a stream PATCH applies to.
    pub fn to_config(&self) -> StreamConfig {
        StreamConfig {
            storage_class: Some(self.storage_class.clone()),
            retention_policy: Some(self.retention_policy.clone()),
            timestamping: Some(Timestamping {
                mode: Some(self.timestamping.mode),
                uncapped: Some(self.timestamping.uncapped),
            }),
            delete_on_empty: Some(self.delete_on_empty.clone()),
        }
    }
}

impl BasinConfig {
    pub fn validate(&self) -> Result<(), String> {
        match &self.default_stream_config {
            Some(c) => c.validate(),
            None => Ok(()),
        }
    }

    /// An all-empty default stream config reads back as `null`.
    pub fn normalized(mut self) -> Self {
        self.default_stream_config = self
            .default_stream_config
            .map(StreamConfig::normalized)
            .filter(|c| !c.is_empty());
        self
    }

    pub fn reconfigure(mut self, patch: BasinReconfiguration) -> Self {
        match patch.default_stream_config {
            Maybe::Absent => {}
            Maybe::Null => self.default_stream_config = None,
            Maybe::Value(p) => {
                let cur = self.default_stream_config.take().unwrap_or_default();
                self.default_stream_config = Some(cur.reconfigure(p));
            }
        }
        patch.stream_cipher.apply_to(&mut self.stream_cipher);
        if let Some(v) = patch.create_stream_on_append {
            self.create_stream_on_append = v;
        }
        if let Some(v) = patch.create_stream_on_read {
            self.create_stream_on_read = v;
        }
        self.normalized()
    }
}

impl BasinReconfiguration {
    pub fn validate(&self) -> Result<(), String> {
        match &self.default_stream_config {
            Maybe::Value(p) => p.validate(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn default_stream_resolves_like_lite() {
        let r = StreamConfig::default().resolve(None);
        assert_eq!(
            json(&r),
            r#"{"storage_class":"express","retention_policy":{"age":604800},"timestamping":{"mode":"client-prefer","uncapped":false},"delete_on_empty":{"min_age_secs":0}}"#
        );
    }

    #[test]
    fn basin_defaults_show_nulls() {
        let c: BasinConfig = serde_json::from_str(
            r#"{"default_stream_config":{"retention_policy":{"age":10},"timestamping":{"uncapped":true},"delete_on_empty":{}}}"#,
        )
        .unwrap();
        assert_eq!(
            json(&c.normalized()),
            r#"{"default_stream_config":{"storage_class":null,"retention_policy":{"age":10},"timestamping":{"mode":null,"uncapped":true},"delete_on_empty":{"min_age_secs":0}},"stream_cipher":null,"create_stream_on_append":false,"create_stream_on_read":false}"#
        );
        let empty: BasinConfig =
            serde_json::from_str(r#"{"default_stream_config":{"timestamping":{}}}"#).unwrap();
        assert_eq!(empty.normalized().default_stream_config, None);
    }

    #[test]
    fn timestamping_resolves_per_field() {
        let d: StreamConfig =
            serde_json::from_str(r#"{"timestamping":{"uncapped":true}}"#).unwrap();
        let s: StreamConfig =
            serde_json::from_str(r#"{"timestamping":{"mode":"arrival"}}"#).unwrap();
        let r = s.resolve(Some(&d));
        assert_eq!(r.timestamping.mode, TimestampingMode::Arrival);
        assert!(r.timestamping.uncapped);
    }

    #[test]
    fn patch_tri_state() {
        let base = StreamConfig::default().resolve(None).to_config();
        let p: StreamReconfiguration = serde_json::from_str(
            r#"{"retention_policy":null,"timestamping":{"mode":"arrival"},"delete_on_empty":{"min_age_secs":5}}"#,
        )
        .unwrap();
        let out = base.reconfigure(p);
        assert_eq!(out.retention_policy, None);
        assert_eq!(
            out.timestamping,
            Some(Timestamping {
                mode: Some(TimestampingMode::Arrival),
                uncapped: Some(false)
            })
        );
        assert_eq!(out.delete_on_empty, Some(DeleteOnEmpty { min_age_secs: 5 }));
        let p: StreamReconfiguration =
            serde_json::from_str(r#"{"delete_on_empty":{"min_age_secs":null}}"#).unwrap();
        assert_eq!(out.clone().reconfigure(p).delete_on_empty, None);
        let p: StreamReconfiguration = serde_json::from_str(r#"{"delete_on_empty":{}}"#).unwrap();
        assert_eq!(
            out.reconfigure(p).delete_on_empty,
            Some(DeleteOnEmpty { min_age_secs: 5 })
        );
    }

    #[test]
    fn zero_age_is_invalid() {
        let c: StreamConfig = serde_json::from_str(r#"{"retention_policy":{"age":0}}"#).unwrap();
        assert_eq!(
            c.validate().unwrap_err(),
            "age must be greater than 0 seconds"
        );
        let e = serde_json::from_str::<StreamConfig>(r#"{"timestamping":{"mode":"bogus"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(
            "unknown variant `bogus`, expected one of `client-prefer`, `client-require`, `arrival`"
        ));
    }

    #[test]
    fn basin_patch_rejects_null_bool() {
        let e = serde_json::from_str::<BasinReconfiguration>(r#"{"create_stream_on_read":null}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid type: null, expected a boolean"));
    }
}
