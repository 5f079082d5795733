//! `--init-file` (or `S2LITE_INIT_FILE`): basins and streams declared in a JSON file, applied
//! with ensure semantics after storage opens and before the listener binds, as s2-lite
//! does (its `s2-resource-spec` 0.3 format, API.md §15.1). Any error stops start-up.
//!
//! The file's shapes (humantime durations, `"infinite"`) are turned into the API's JSON
//! config and parsed and validated by the same code as `PUT /v1/basins/{b}` and
//! `PUT /v1/streams/{s}`, so a config means the same thing from either place.

use protocol::config::{BasinConfig, StreamConfig};
use protocol::names::{BasinName, StreamName};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::path::Path;

/// The whole file. Unknown top-level fields are ignored; everywhere else they are errors.
#[derive(Debug, Deserialize, Default)]
pub struct Resources {
    #[serde(default)]
    basins: Vec<BasinSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BasinSpec {
    name: BasinName,
    #[serde(default)]
    config: Option<BasinConfigSpec>,
    #[serde(default)]
    streams: Vec<StreamSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamSpec {
    name: StreamName,
    #[serde(default)]
    config: Option<StreamConfigSpec>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BasinConfigSpec {
    #[serde(default)]
    default_stream_config: Option<StreamConfigSpec>,
    #[serde(default)]
    stream_cipher: Option<Cipher>,
    #[serde(default)]
    create_stream_on_append: Option<bool>,
    #[serde(default)]
    create_stream_on_read: Option<bool>,
}

#[derive(Debug, Deserialize)]
enum Cipher {
    #[serde(rename = "aegis-256")]
    Aegis256,
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StreamConfigSpec {
    #[serde(default)]
    storage_class: Option<String>,
    #[serde(default)]
    retention_policy: Option<Retention>,
    #[serde(default)]
    timestamping: Option<TimestampingSpec>,
    #[serde(default)]
    delete_on_empty: Option<DeleteOnEmptySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampingSpec {
    #[serde(default)]
    mode: Option<TimestampingModeSpec>,
    #[serde(default)]
    uncapped: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum TimestampingModeSpec {
    ClientPrefer,
    ClientRequire,
    Arrival,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteOnEmptySpec {
    #[serde(default)]
    min_age: Option<HumanDuration>,
}

/// `"infinite"` (any case) or a humantime age such as `"7d"`.
#[derive(Debug, Clone, Copy)]
enum Retention {
    Infinite,
    AgeSecs(u64),
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.eq_ignore_ascii_case("infinite") {
            return Ok(Retention::Infinite);
        }
        humantime::parse_duration(&s)
            .map(|d| Retention::AgeSecs(d.as_secs()))
            .map_err(|e| serde::de::Error::custom(format!("invalid retention_policy {s:?}: {e}")))
    }
}

#[derive(Debug, Clone, Copy)]
struct HumanDuration(u64);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(|d| HumanDuration(d.as_secs()))
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {s:?}: {e}")))
    }
}

/// One basin and its streams, as the API's configs, ready to ensure.
#[derive(Debug)]
pub struct Planned {
    pub basin: BasinName,
    pub config: BasinConfig,
    pub streams: Vec<(StreamName, StreamConfig)>,
}

/// Reads, parses and validates the file (all of it before anything is applied).
pub fn load(path: &Path) -> Result<Vec<Planned>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read init file {path:?}: {e}"))?;
    let spec: Resources = serde_json::from_str(&text)
        .map_err(|e| format!("failed to parse init file {path:?}: {e}"))?;
    plan(spec)
}

fn plan(spec: Resources) -> Result<Vec<Planned>, String> {
    let mut errors = Vec::new();
    let mut seen_basins = HashSet::new();
    let mut planned = Vec::new();
    for b in spec.basins {
        let name = b.name.as_str().to_owned();
        if !seen_basins.insert(name.clone()) {
            errors.push(format!("duplicate basin name {name}"));
        }
        let config = b.config.unwrap_or_default();
        let mut basin_json = Map::new();
        if let Some(d) = config.default_stream_config {
            basin_json.insert("default_stream_config".into(), stream_json(d));
        }
        if let Some(c) = config.stream_cipher {
            let c = match c {
                Cipher::Aegis256 => "aegis-256",
                Cipher::Aes256Gcm => "aes-256-gcm",
            };
            basin_json.insert("stream_cipher".into(), json!(c));
        }
        // Omitted flags are false: the file states the whole config.
        basin_json.insert(
            "create_stream_on_append".into(),
            json!(config.create_stream_on_append.unwrap_or(false)),
        );
        basin_json.insert(
            "create_stream_on_read".into(),
            json!(config.create_stream_on_read.unwrap_or(false)),
        );
        let basin_config = serde_json::from_value::<BasinConfig>(Value::Object(basin_json))
            .map_err(|e| e.to_string())
            .and_then(|c| {
                c.validate()?;
                Ok(c.normalized())
            });
        let basin_config = match basin_config {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("basin {name:?} default_stream_config: {e}"));
                continue;
            }
        };
        let mut seen_streams = HashSet::new();
        let mut streams = Vec::new();
        for s in b.streams {
            let sname = s.name.as_str().to_owned();
            if !seen_streams.insert(sname.clone()) {
                errors.push(format!("duplicate stream name {sname} in basin {name}"));
            }
            let json = stream_json(s.config.unwrap_or_default());
            let parsed = serde_json::from_value::<StreamConfig>(json)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    c.validate()?;
                    Ok(c.normalized())
                });
            match parsed {
                Ok(c) => streams.push((s.name, c)),
                Err(e) => errors.push(format!("stream {sname:?} in basin {name:?}: {e}")),
            }
        }
        planned.push(Planned {
            basin: b.name,
            config: basin_config,
            streams,
        });
    }
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(errors.join("\n"))
    }
}

/// A stream config as the API's JSON.
fn stream_json(s: StreamConfigSpec) -> Value {
    let mut m = Map::new();
    if let Some(c) = s.storage_class {
        m.insert("storage_class".into(), json!(c));
    }
    match s.retention_policy {
        Some(Retention::Infinite) => {
            m.insert("retention_policy".into(), json!({"infinite": {}}));
        }
        Some(Retention::AgeSecs(secs)) => {
            m.insert("retention_policy".into(), json!({ "age": secs }));
        }
        None => {}
    }
    if let Some(t) = s.timestamping {
        let mut tm = Map::new();
        if let Some(mode) = t.mode {
            let mode = match mode {
                TimestampingModeSpec::ClientPrefer => "client-prefer",
                TimestampingModeSpec::ClientRequire => "client-require",
                TimestampingModeSpec::Arrival => "arrival",
            };
            tm.insert("mode".into(), json!(mode));
        }
        if let Some(u) = t.uncapped {
            tm.insert("uncapped".into(), json!(u));
        }
        m.insert("timestamping".into(), Value::Object(tm));
    }
    if let Some(d) = s.delete_on_empty {
        let mut dm = Map::new();
        if let Some(a) = d.min_age {
            dm.insert("min_age_secs".into(), json!(a.0));
        }
        m.insert("delete_on_empty".into(), Value::Object(dm));
    }
    Value::Object(m)
}

/// Ensures every basin, then its streams, in file order.
pub async fn apply(cluster: &shards::Cluster, planned: Vec<Planned>) -> Result<(), String> {
    for p in planned {
        cluster
            .ensure_basin(p.basin.clone(), p.config)
            .await
            .map_err(|e| format!("failed to apply basin {:?}: {e}", p.basin.as_str()))?;
        tracing::info!(basin = p.basin.as_str(), "basin applied");
        for (stream, config) in p.streams {
            cluster
                .ensure_stream(p.basin.clone(), stream.clone(), config)
                .await
                .map_err(|e| {
                    format!(
                        "failed to apply stream {:?}/{:?}: {e}",
                        p.basin.as_str(),
                        stream.as_str()
                    )
                })?;
            tracing::info!(
                basin = p.basin.as_str(),
                stream = stream.as_str(),
                "stream applied"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_str(s: &str) -> Result<Vec<Planned>, String> {
        plan(serde_json::from_str(s).map_err(|e| e.to_string())?)
    }

    #[test]
    fn the_documented_example_plans() {
        let p = plan_str(
            r#"{"basins":[{"name":"my-basin",
              "config":{"default_stream_config":{"storage_class":"standard","retention_policy":"7d",
                "timestamping":{"mode":"client-require","uncapped":false},"delete_on_empty":{"min_age":"1h"}},
                "create_stream_on_append":true},
              "streams":[{"name":"events","config":{"retention_policy":"infinite"}},{"name":"plain"}]}],
              "ignored_at_top": 1}"#,
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].streams.len(), 2);
        let c = serde_json::to_value(&p[0].config).unwrap();
        assert_eq!(c["create_stream_on_append"], json!(true));
        assert_eq!(c["create_stream_on_read"], json!(false));
        assert_eq!(
            c["default_stream_config"]["retention_policy"],
            json!({"age": 604800})
        );
        assert_eq!(
            c["default_stream_config"]["delete_on_empty"],
            json!({"min_age_secs": 3600})
        );
    }

    #[test]
    fn bad_files_are_refused_with_s2_lite_messages() {
        let e = plan_str(r#"{"basins":[{"name":"init-basin-1"},{"name":"init-basin-1"}]}"#)
            .unwrap_err();
        assert_eq!(e, "duplicate basin name init-basin-1");
        let e = plan_str(r#"{"basins":[{"name":"init-basin-1","bogus":1}]}"#).unwrap_err();
        assert!(
            e.contains("unknown field `bogus`, expected one of `name`, `config`, `streams`"),
            "{e}"
        );
        let e = plan_str(
            r#"{"basins":[{"name":"init-basin-1","streams":[{"name":"s","config":{"retention_policy":"0s"}}]}]}"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("stream \"s\" in basin \"init-basin-1\": "),
            "{e}"
        );
        assert!(plan_str(r#"{"basins":[{"name":"init-basin-1","config":{"default_stream_config":{"retention_policy":"soon"}}}]}"#).is_err());
        assert!(plan_str(r#"{"basins":[{"name":"BAD"}]}"#).is_err());
    }
}
