//! Access tokens (`/v1/access-tokens`, OpenAPI `AccessTokenInfo`): ids, scopes, and what a
//! scope permits. A scope names the resources a token may touch (basins, streams, other
//! tokens: each an exact name or a prefix, absent meaning none) and the operations it may
//! do (listed one by one, or granted by group: account, basin or stream, read or write).

use crate::error::ApiError;
use serde::{Deserialize, Serialize};

pub const TOKEN_ID_LEN_MAX: usize = 96;

/// An access token id: 1..=96 bytes, no NUL, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("access token id must not be empty".into());
    }
    if id == "." || id == ".." {
        return Err("access token id must not be \".\" or \"..\"".into());
    }
    if id.contains('\0') {
        return Err("access token id must not contain NUL bytes".into());
    }
    if id.len() > TOKEN_ID_LEN_MAX {
        return Err(format!(
            "access token id must not exceed {TOKEN_ID_LEN_MAX} bytes in length"
        ));
    }
    Ok(())
}

/// Every operation a scope can grant (OpenAPI `Operation`, plus s2's location operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    ListBasins,
    CreateBasin,
    DeleteBasin,
    ReconfigureBasin,
    GetBasinConfig,
    IssueAccessToken,
    RevokeAccessToken,
    ListAccessTokens,
    ListStreams,
    CreateStream,
    DeleteStream,
    GetStreamConfig,
    ReconfigureStream,
    CheckTail,
    Append,
    Read,
    Trim,
    Fence,
    AccountMetrics,
    BasinMetrics,
    StreamMetrics,
    ListLocations,
    GetDefaultLocation,
    SetDefaultLocation,
}

/// Which group grants an operation, and whether it reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Account,
    Basin,
    Stream,
}

impl Operation {
    pub const ALL: [Operation; 24] = [
        Operation::ListBasins,
        Operation::CreateBasin,
        Operation::DeleteBasin,
        Operation::ReconfigureBasin,
        Operation::GetBasinConfig,
        Operation::IssueAccessToken,
        Operation::RevokeAccessToken,
        Operation::ListAccessTokens,
        Operation::ListStreams,
        Operation::CreateStream,
        Operation::DeleteStream,
        Operation::GetStreamConfig,
        Operation::ReconfigureStream,
        Operation::CheckTail,
        Operation::Append,
        Operation::Read,
        Operation::Trim,
        Operation::Fence,
        Operation::AccountMetrics,
        Operation::BasinMetrics,
        Operation::StreamMetrics,
        Operation::ListLocations,
        Operation::GetDefaultLocation,
        Operation::SetDefaultLocation,
    ];

    /// The operation's name on the wire (`list-basins`, ...).
    pub fn name(self) -> &'static str {
        use Operation::*;
        match self {
            ListBasins => "list-basins",
            CreateBasin => "create-basin",
            DeleteBasin => "delete-basin",
            ReconfigureBasin => "reconfigure-basin",
            GetBasinConfig => "get-basin-config",
            IssueAccessToken => "issue-access-token",
            RevokeAccessToken => "revoke-access-token",
            ListAccessTokens => "list-access-tokens",
            ListStreams => "list-streams",
            CreateStream => "create-stream",
            DeleteStream => "delete-stream",
            GetStreamConfig => "get-stream-config",
            ReconfigureStream => "reconfigure-stream",
            CheckTail => "check-tail",
            Append => "append",
            Read => "read",
            Trim => "trim",
            Fence => "fence",
            AccountMetrics => "account-metrics",
            BasinMetrics => "basin-metrics",
            StreamMetrics => "stream-metrics",
            ListLocations => "list-locations",
            GetDefaultLocation => "get-default-location",
            SetDefaultLocation => "set-default-location",
        }
    }

    /// The group that grants this operation, and whether it is a write: account-level
    /// operations manage basins, tokens and locations; basin-level ones a basin's config
    /// and its streams; stream-level ones a stream's config and records.
    pub fn group(self) -> (Level, bool) {
        use Operation::*;
        match self {
            ListBasins | ListAccessTokens | AccountMetrics | ListLocations | GetDefaultLocation => {
                (Level::Account, false)
            }
            CreateBasin | DeleteBasin | IssueAccessToken | RevokeAccessToken
            | SetDefaultLocation => (Level::Account, true),
            GetBasinConfig | ListStreams | BasinMetrics => (Level::Basin, false),
            ReconfigureBasin | CreateStream | DeleteStream => (Level::Basin, true),
            GetStreamConfig | CheckTail | Read | StreamMetrics => (Level::Stream, false),
            ReconfigureStream | Append | Trim | Fence => (Level::Stream, true),
        }
    }
}

/// A set of resources by name: one exact name (`""` matches none) or a prefix (`""`
/// matches all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceSet {
    Exact(String),
    Prefix(String),
}

impl ResourceSet {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            ResourceSet::Exact(e) => !e.is_empty() && e == name,
            ResourceSet::Prefix(p) => name.starts_with(p.as_str()),
        }
    }

    /// Whether everything `self` matches is also matched by `outer`.
    pub fn within(&self, outer: &ResourceSet) -> bool {
        match (self, outer) {
            (ResourceSet::Exact(e), _) if e.is_empty() => true,
            (ResourceSet::Exact(e), o) => o.matches(e),
            (ResourceSet::Prefix(p), ResourceSet::Prefix(q)) => p.starts_with(q.as_str()),
            (ResourceSet::Prefix(_), ResourceSet::Exact(_)) => false,
        }
    }
}

/// An absent set matches nothing.
fn set_matches(set: &Option<ResourceSet>, name: &str) -> bool {
    set.as_ref().is_some_and(|s| s.matches(name))
}

fn set_within(inner: &Option<ResourceSet>, outer: &Option<ResourceSet>) -> bool {
    match (inner, outer) {
        (None, _) => true,
        (Some(i), Some(o)) => i.within(o),
        (Some(ResourceSet::Exact(e)), None) => e.is_empty(),
        (Some(_), None) => false,
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadWrite {
    #[serde(default, deserialize_with = "null_as_default")]
    pub read: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub write: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpGroups {
    #[serde(default)]
    pub account: Option<ReadWrite>,
    #[serde(default)]
    pub basin: Option<ReadWrite>,
    #[serde(default)]
    pub stream: Option<ReadWrite>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default)]
    pub basins: Option<ResourceSet>,
    #[serde(default)]
    pub streams: Option<ResourceSet>,
    #[serde(default)]
    pub access_tokens: Option<ResourceSet>,
    #[serde(default)]
    pub op_groups: Option<OpGroups>,
    #[serde(default)]
    pub ops: Option<Vec<Operation>>,
}

impl Scope {
    /// Everything: the bootstrap token's scope.
    pub fn all() -> Scope {
        let rw = Some(ReadWrite {
            read: true,
            write: true,
        });
        Scope {
            basins: Some(ResourceSet::Prefix(String::new())),
            streams: Some(ResourceSet::Prefix(String::new())),
            access_tokens: Some(ResourceSet::Prefix(String::new())),
            op_groups: Some(OpGroups {
                account: rw,
                basin: rw,
                stream: rw,
            }),
            ops: None,
        }
    }

    /// Whether the scope grants `op` (listed, or through its group).
    pub fn grants(&self, op: Operation) -> bool {
        if self.ops.as_ref().is_some_and(|ops| ops.contains(&op)) {
            return true;
        }
        let Some(groups) = &self.op_groups else {
            return false;
        };
        let (level, write) = op.group();
        let rw = match level {
            Level::Account => groups.account,
            Level::Basin => groups.basin,
            Level::Stream => groups.stream,
        };
        rw.is_some_and(|rw| if write { rw.write } else { rw.read })
    }

    pub fn basin_allowed(&self, basin: &str) -> bool {
        set_matches(&self.basins, basin)
    }

    pub fn stream_allowed(&self, stream: &str) -> bool {
        set_matches(&self.streams, stream)
    }

    pub fn token_allowed(&self, id: &str) -> bool {
        set_matches(&self.access_tokens, id)
    }

    /// Whether a token with scope `self` grants nothing `outer` does not (no escalation
    /// through issuing).
    pub fn within(&self, outer: &Scope) -> bool {
        Operation::ALL
            .iter()
            .all(|&op| !self.grants(op) || outer.grants(op))
            && set_within(&self.basins, &outer.basins)
            && set_within(&self.streams, &outer.streams)
            && set_within(&self.access_tokens, &outer.access_tokens)
    }
}

/// A token as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenInfo {
    pub id: String,
    /// RFC 3339; `None`: never expires.
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub auto_prefix_streams: bool,
    pub scope: Scope,
}

/// `POST /v1/access-tokens`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueAccessTokenRequest {
    pub id: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub auto_prefix_streams: bool,
    pub scope: Scope,
}

/// Clients send `null` for a field left unset: read it as the default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl IssueAccessTokenRequest {
    /// Semantic checks (422): the id, the expiry's format, and auto-prefixing's need of a
    /// stream prefix.
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_id(&self.id).map_err(ApiError::invalid)?;
        if let Some(t) = &self.expires_at {
            crate::time::parse_rfc3339_ms(t)
                .ok_or_else(|| ApiError::invalid(format!("invalid expires_at: {t}")))?;
        }
        if self.auto_prefix_streams && !matches!(self.scope.streams, Some(ResourceSet::Prefix(_))) {
            return Err(ApiError::invalid(
                "auto_prefix_streams requires the stream scope to be a prefix",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for op in Operation::ALL {
            assert_eq!(serde_json::to_value(op).unwrap(), op.name());
        }
    }

    fn scope(json: &str) -> Scope {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ops_are_granted_by_list_or_group() {
        let s = scope(r#"{"ops":["append"],"op_groups":{"basin":{"read":true}}}"#);
        assert!(s.grants(Operation::Append));
        assert!(s.grants(Operation::ListStreams));
        assert!(!s.grants(Operation::Read));
        assert!(!s.grants(Operation::CreateStream));
        assert!(Scope::all().grants(Operation::IssueAccessToken));
    }

    #[test]
    fn resource_sets() {
        let s = scope(r#"{"basins":{"prefix":"team-a"},"streams":{"exact":""}}"#);
        assert!(s.basin_allowed("team-a-basin"));
        assert!(!s.basin_allowed("team-b-basin"));
        assert!(!s.stream_allowed(""), "empty exact matches nothing");
        assert!(!s.token_allowed("x"), "absent matches nothing");
        assert!(scope(r#"{"basins":{"prefix":""}}"#).basin_allowed("anything-at-all"));
        assert!(serde_json::from_str::<Scope>(r#"{"basins":{"glob":"*"}}"#).is_err());
    }

    #[test]
    fn issuing_cannot_escalate() {
        let outer = scope(
            r#"{"basins":{"prefix":"team-a"},"streams":{"prefix":""},"op_groups":{"stream":{"read":true,"write":true}}}"#,
        );
        let ok = scope(r#"{"basins":{"exact":"team-a-x"},"ops":["read"]}"#);
        assert!(ok.within(&outer));
        let wider_basins = scope(r#"{"basins":{"prefix":"team"},"ops":["read"]}"#);
        assert!(!wider_basins.within(&outer));
        let more_ops = scope(r#"{"basins":{"exact":"team-a-x"},"ops":["create-stream"]}"#);
        assert!(!more_ops.within(&outer));
    }

    #[test]
    fn issue_requests_are_validated() {
        let r: IssueAccessTokenRequest = serde_json::from_str(
            r#"{"id":"t1","auto_prefix_streams":true,"scope":{"streams":{"exact":"x"}}}"#,
        )
        .unwrap();
        assert!(r.validate().is_err());
        let r: IssueAccessTokenRequest =
            serde_json::from_str(r#"{"id":"t1","expires_at":"2030-01-01T00:00:00Z","scope":{}}"#)
                .unwrap();
        assert!(r.validate().is_ok());
        assert!(validate_id(&"a".repeat(97)).is_err());
        assert!(validate_id("..").is_err());
    }
}
