//! `/v1/access-tokens` (OpenAPI): issue, list, revoke. Tokens live on partition 0 (only
//! their secrets' digests are stored); with `--auth` they are what requests carry
//! (`src/auth.rs`). A caller sees and manages only the tokens its scope covers, and can
//! issue none wider than its own (no escalation), expiring no later than itself.

use super::{json_body, HandlerResult};
use crate::error::from_shard;
use crate::http::{Request, Response};
use bytes::Bytes;
use http::StatusCode;
use protocol::access::{validate_id, AccessTokenInfo, IssueAccessTokenRequest, TOKEN_ID_LEN_MAX};
use protocol::error::ApiError;
use protocol::query::ListParams;
use shards::{Cluster, NameRange};

pub async fn list(cluster: &Cluster, req: &Request) -> HandlerResult {
    let p = ListParams::parse(&req.query).map_err(ApiError::bad_query)?;
    for (field, v) in [("prefix", &p.prefix), ("start_after", &p.start_after)] {
        if v.len() > TOKEN_ID_LEN_MAX || v.contains('\0') {
            return Err(ApiError::bad_query(format!(
                "{field}: access token {field} must be at most {TOKEN_ID_LEN_MAX} bytes, without NUL"
            ))
            .into());
        }
    }
    let mut range = NameRange {
        prefix: p.prefix,
        start_after: p.start_after,
        limit: p.limit,
    };
    if !crate::auth::narrow(req.caller.tokens_set(), &mut range) {
        return Ok(Response::json(
            StatusCode::OK,
            &serde_json::json!({ "access_tokens": [], "has_more": false }),
        ));
    }
    let page = cluster
        .list_access_tokens(range)
        .await
        .map_err(from_shard)?;
    let tokens: Vec<&AccessTokenInfo> = page
        .items
        .iter()
        .filter(|t| req.caller.token_visible(&t.id))
        .collect();
    Ok(Response::json(
        StatusCode::OK,
        &serde_json::json!({ "access_tokens": tokens, "has_more": page.has_more }),
    ))
}

pub async fn issue(cluster: &Cluster, req: &Request) -> HandlerResult {
    let body: IssueAccessTokenRequest = json_body(req)?;
    body.validate()?;
    let caller = &req.caller;
    if !caller.token_visible(&body.id) {
        return Err(
            crate::auth::denied(format!("access token `{}` is not permitted", body.id)).into(),
        );
    }
    if let Some(own) = caller.scope() {
        if !body.scope.within(own) {
            return Err(crate::auth::denied("the new token's scope exceeds the issuer's").into());
        }
    }
    // Unset: it expires with its issuer. Never later than its issuer.
    let expires_at = match (&body.expires_at, caller.expires_at_ms()) {
        (None, Some(own)) => Some(protocol::time::rfc3339_nanos(own as u128 * 1_000_000)),
        (Some(t), Some(own)) => {
            let at = protocol::time::parse_rfc3339_ms(t).expect("validated");
            if at > own {
                return Err(crate::auth::denied("the new token would outlive its issuer").into());
            }
            Some(t.clone())
        }
        (t, None) => t.clone(),
    };
    let info = AccessTokenInfo {
        id: body.id,
        expires_at,
        auto_prefix_streams: body.auto_prefix_streams,
        scope: body.scope,
    };
    let with_auth = matches!(caller, crate::auth::Caller::Token(_));
    let secret = cluster
        .issue_access_token(info, with_auth)
        .await
        .map_err(from_shard)?;
    Ok(Response::json(
        StatusCode::CREATED,
        &serde_json::json!({ "access_token": secret }),
    ))
}

pub async fn revoke(cluster: &Cluster, id: &str) -> HandlerResult {
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .map_err(|_| ApiError::bad_path("access token id is not UTF-8"))?
        .into_owned();
    validate_id(&id).map_err(ApiError::bad_path)?;
    cluster.revoke_access_token(id).await.map_err(from_shard)?;
    crate::auth::note_revocation();
    Ok(Response::with_body(
        StatusCode::NO_CONTENT,
        "application/json",
        Bytes::new(),
    ))
}
