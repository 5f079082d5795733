//! Access tokens through the Rust SDK: issue, list, revoke with `--auth` off and on; with
//! it on, 401 for a missing, bad, revoked or expired token, 403 outside a token's scope
//! (operations and resources), listings limited to the scope, no escalation by issuing, and
//! tokens surviving a restart.

use crate::support::{temp_dir, unique_basin, Server};
use s2_sdk::types::*;
use std::num::NonZeroU32;
use std::time::Duration;

const ADMIN: &str = "admin-bootstrap-secret";

pub(crate) fn client(server: &Server, token: &str) -> s2_sdk::S2 {
    let endpoints = S2Endpoints::for_endpoint(&server.endpoint()).unwrap();
    let config = S2Config::new(token)
        .with_endpoints(endpoints)
        .with_retry(RetryConfig::new().with_max_attempts(NonZeroU32::new(1).unwrap()));
    s2_sdk::S2::new(config).unwrap()
}

fn code_of(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

#[tokio::test]
async fn tokens_can_be_issued_listed_and_revoked_without_auth() {
    let server = Server::start(&[]);
    let s2 = client(&server, "ignored");
    let scope = AccessTokenScopeInput::from_ops([Operation::Read]);
    let secret = s2
        .issue_access_token(IssueAccessTokenInput::new(
            "tok-1".parse().unwrap(),
            scope.clone(),
        ))
        .await
        .unwrap();
    assert!(secret.len() >= 40, "{secret}");
    let dup = s2
        .issue_access_token(IssueAccessTokenInput::new("tok-1".parse().unwrap(), scope))
        .await
        .unwrap_err();
    assert!(code_of(&dup).contains("resource_already_exists"), "{dup:?}");
    let page = s2
        .list_access_tokens(ListAccessTokensInput::new())
        .await
        .unwrap();
    assert_eq!(page.values.len(), 1);
    assert_eq!(page.values[0].id.to_string(), "tok-1");
    s2.revoke_access_token("tok-1".parse().unwrap())
        .await
        .unwrap();
    let page = s2
        .list_access_tokens(ListAccessTokensInput::new())
        .await
        .unwrap();
    assert!(page.values.is_empty());
    let gone = s2
        .revoke_access_token("tok-1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        code_of(&gone).contains("access_token_not_found"),
        "{gone:?}"
    );
}

#[tokio::test]
async fn auth_enforces_tokens_and_their_scopes() {
    let root = temp_dir("auth-root");
    let mut server = Server::start(&[
        "--local-root",
        root.to_str().unwrap(),
        "--auth",
        "--auth-token",
        ADMIN,
    ]);
    let admin = client(&server, ADMIN);
    let team_a = unique_basin("team-a");
    let team_b = unique_basin("team-b");
    for b in [&team_a, &team_b] {
        admin
            .create_basin(CreateBasinInput::new(b.parse().unwrap()))
            .await
            .unwrap();
        admin
            .basin(b.parse().unwrap())
            .create_stream(CreateStreamInput::new("s".parse().unwrap()))
            .await
            .unwrap();
    }
    // No token, or a wrong one: 401.
    let err = client(&server, "not-a-token")
        .list_basins(ListBasinsInput::new())
        .await
        .unwrap_err();
    assert!(code_of(&err).contains("authn"), "{err:?}");

    // A reader of team-a basins: reads, lists, checks tails; nothing else.
    let reader_scope = AccessTokenScopeInput::from_ops([
        Operation::ListBasins,
        Operation::ListStreams,
        Operation::Read,
        Operation::CheckTail,
    ])
    .with_basins(BasinMatcher::Prefix(team_a.parse().unwrap()))
    .with_streams(StreamMatcher::Prefix("".parse().unwrap()));
    let reader_secret = admin
        .issue_access_token(IssueAccessTokenInput::new(
            "reader".parse().unwrap(),
            reader_scope,
        ))
        .await
        .unwrap();
    let reader = client(&server, &reader_secret);
    let visible = reader.list_basins(ListBasinsInput::new()).await.unwrap();
    let names: Vec<String> = visible.values.iter().map(|b| b.name.to_string()).collect();
    assert_eq!(names, vec![team_a.clone()]);
    let a = reader
        .basin(team_a.parse().unwrap())
        .stream("s".parse().unwrap());
    assert_eq!(a.check_tail().await.unwrap().seq_num, 0);
    let denied = a
        .append(crate::data_plane::batch(&["x".into()]))
        .await
        .unwrap_err();
    assert!(code_of(&denied).contains("permission_denied"), "{denied:?}");
    let b = reader
        .basin(team_b.parse().unwrap())
        .stream("s".parse().unwrap());
    let denied = b.check_tail().await.unwrap_err();
    assert!(code_of(&denied).contains("permission_denied"), "{denied:?}");
    let denied = reader
        .create_basin(CreateBasinInput::new(
            unique_basin("team-a").parse().unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(code_of(&denied).contains("permission_denied"), "{denied:?}");

    // A token manager for "app-" tokens cannot issue wider than itself.
    let manager_scope = AccessTokenScopeInput::from_ops([
        Operation::IssueAccessToken,
        Operation::ListAccessTokens,
        Operation::RevokeAccessToken,
        Operation::Append,
        Operation::Read,
    ])
    .with_basins(BasinMatcher::Prefix(team_a.parse().unwrap()))
    .with_streams(StreamMatcher::Prefix("".parse().unwrap()))
    .with_access_tokens(AccessTokenMatcher::Prefix("app-".parse().unwrap()));
    let manager = client(
        &server,
        &admin
            .issue_access_token(IssueAccessTokenInput::new(
                "manager".parse().unwrap(),
                manager_scope,
            ))
            .await
            .unwrap(),
    );
    let writer_scope = AccessTokenScopeInput::from_ops([Operation::Append])
        .with_basins(BasinMatcher::Exact(team_a.parse().unwrap()))
        .with_streams(StreamMatcher::Exact("s".parse().unwrap()));
    let writer_secret = manager
        .issue_access_token(IssueAccessTokenInput::new(
            "app-writer".parse().unwrap(),
            writer_scope.clone(),
        ))
        .await
        .unwrap();
    let ack = client(&server, &writer_secret)
        .basin(team_a.parse().unwrap())
        .stream("s".parse().unwrap())
        .append(crate::data_plane::batch(&["by-writer".into()]))
        .await
        .unwrap();
    assert_eq!(ack.end.seq_num, 1);
    for (id, scope) in [
        ("other-name", writer_scope.clone()),
        (
            "app-escalate",
            AccessTokenScopeInput::from_ops([Operation::DeleteBasin])
                .with_basins(BasinMatcher::Exact(team_a.parse().unwrap())),
        ),
        (
            "app-wider",
            AccessTokenScopeInput::from_ops([Operation::Append])
                .with_basins(BasinMatcher::Prefix("".parse().unwrap())),
        ),
    ] {
        let e = manager
            .issue_access_token(IssueAccessTokenInput::new(id.parse().unwrap(), scope))
            .await
            .unwrap_err();
        assert!(code_of(&e).contains("permission_denied"), "{id}: {e:?}");
    }
    let listed = manager
        .list_access_tokens(ListAccessTokensInput::new())
        .await
        .unwrap();
    let ids: Vec<String> = listed.values.iter().map(|t| t.id.to_string()).collect();
    assert_eq!(ids, vec!["app-writer".to_string()]);

    // Expiry: a token past its expires_at is refused.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let short = admin
        .issue_access_token(
            IssueAccessTokenInput::new(
                "short-lived".parse().unwrap(),
                AccessTokenScopeInput::from_ops([Operation::ListBasins])
                    .with_basins(BasinMatcher::Prefix("".parse().unwrap())),
            )
            .with_expires_at(soon.try_into().unwrap()),
        )
        .await
        .unwrap();
    client(&server, &short)
        .list_basins(ListBasinsInput::new())
        .await
        .unwrap();

    // Revocation takes effect at once, though the writer's token was just cached.
    let writer = client(&server, &writer_secret)
        .basin(team_a.parse().unwrap())
        .stream("s".parse().unwrap());
    // Authenticated (and cached), though check-tail is outside its scope.
    let e = writer.check_tail().await.unwrap_err();
    assert!(code_of(&e).contains("permission_denied"), "{e:?}");
    manager
        .revoke_access_token("app-writer".parse().unwrap())
        .await
        .unwrap();
    let e = writer.check_tail().await.unwrap_err();
    assert!(code_of(&e).contains("authn"), "{e:?}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let e = client(&server, &short)
        .list_basins(ListBasinsInput::new())
        .await
        .unwrap_err();
    assert!(code_of(&e).contains("expired"), "{e:?}");

    // Tokens are durable: the reader still reads after a restart.
    server.restart(&[]);
    let reader = client(&server, &reader_secret);
    let a = reader
        .basin(team_a.parse().unwrap())
        .stream("s".parse().unwrap());
    assert_eq!(a.check_tail().await.unwrap().seq_num, 1);
}

/// The s2 CLI's token commands against a server with `--auth`: issue (printing the
/// secret), use the secret, list, revoke.
#[test]
fn cli_issues_lists_and_revokes_tokens() {
    let server = Server::start(&["--auth", "--auth-token", ADMIN]);
    let cli = |token: &str, args: &[&str]| {
        let out = std::process::Command::new(crate::support::s2_cli())
            .args(args)
            .env("S2_ACCOUNT_ENDPOINT", server.endpoint())
            .env("S2_BASIN_ENDPOINT", server.endpoint())
            .env("S2_ACCESS_TOKEN", token)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let b = unique_basin("cli-auth");
    let (ok, _, err) = cli(ADMIN, &["create-basin", &b]);
    assert!(ok, "{err}");
    let (ok, out, err) = cli(
        ADMIN,
        &[
            "issue-access-token",
            "cli-reader",
            "--basins-exact",
            &b,
            "--ops",
            "list_basins,get_basin_config",
        ],
    );
    assert!(ok, "{err}");
    let secret = out
        .split_whitespace()
        .find(|w| w.len() >= 40)
        .unwrap_or_else(|| panic!("no token in {out:?}"))
        .to_string();
    let (ok, out, err) = cli(&secret, &["list-basins"]);
    assert!(ok && out.contains(&b), "{out} {err}");
    let (ok, _, err) = cli(&secret, &["create-basin", &unique_basin("cli-auth")]);
    assert!(!ok && err.contains("permission"), "{err}");
    let (ok, out, err) = cli(ADMIN, &["list-access-tokens"]);
    assert!(ok && out.contains("cli-reader"), "{out} {err}");
    let (ok, _, err) = cli(ADMIN, &["revoke-access-token", "cli-reader"]);
    assert!(ok, "{err}");
    std::thread::sleep(Duration::from_millis(1200));
    let (ok, _, err) = cli(&secret, &["list-basins"]);
    assert!(!ok, "a revoked token still works: {err}");
}

/// `auto_prefix_streams`: the token's caller names streams inside its namespace (the
/// stream scope's prefix) without knowing it; the server adds and strips the prefix.
#[tokio::test]
async fn auto_prefixed_streams_live_in_their_namespace() {
    let server = Server::start(&["--auth", "--auth-token", ADMIN]);
    let admin = client(&server, ADMIN);
    let b = unique_basin("ns");
    admin
        .create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let scope = AccessTokenScopeInput::from_ops([
        Operation::CreateStream,
        Operation::ListStreams,
        Operation::Append,
        Operation::Read,
        Operation::CheckTail,
    ])
    .with_basins(BasinMatcher::Exact(b.parse().unwrap()))
    .with_streams(StreamMatcher::Prefix("tenant-1/".parse().unwrap()));
    let secret = admin
        .issue_access_token(
            IssueAccessTokenInput::new("tenant-1".parse().unwrap(), scope)
                .with_auto_prefix_streams(true),
        )
        .await
        .unwrap();
    let tenant = client(&server, &secret);
    let basin = tenant.basin(b.parse().unwrap());
    let info = basin
        .create_stream(CreateStreamInput::new("events".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(info.name.to_string(), "events");
    let stream = basin.stream("events".parse().unwrap());
    stream
        .append(crate::data_plane::batch(&["in-namespace".into()]))
        .await
        .unwrap();
    let names: Vec<String> = basin
        .list_streams(ListStreamsInput::new())
        .await
        .unwrap()
        .values
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, vec!["events".to_string()]);
    // What the server really holds: the prefixed name, with the record.
    let admin_view = admin.basin(b.parse().unwrap());
    let real: Vec<String> = admin_view
        .list_streams(ListStreamsInput::new())
        .await
        .unwrap()
        .values
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(real, vec!["tenant-1/events".to_string()]);
    let records =
        crate::data_plane::read_all(&admin_view.stream("tenant-1/events".parse().unwrap())).await;
    assert_eq!(records[0].body, &b"in-namespace"[..]);
    // A read session inside the namespace.
    let mut session = stream
        .read_session(
            ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))),
            ReadSessionConfig::new(),
        )
        .await
        .unwrap();
    use futures::StreamExt;
    let batch = session.next().await.unwrap().unwrap();
    assert_eq!(batch.records[0].body, &b"in-namespace"[..]);
}

/// A session outlives neither its token's revocation nor its expiry: a live follower whose
/// token is revoked gets 401 instead of the next batch.
#[tokio::test]
async fn revoking_a_token_ends_its_sessions() {
    use futures::StreamExt;
    let server = Server::start(&["--auth", "--auth-token", ADMIN]);
    let admin = client(&server, ADMIN);
    let (b, writer) = crate::support::basin_with_stream(&admin, "revoke-live", "s").await;
    let scope = AccessTokenScopeInput::from_ops([Operation::Read])
        .with_basins(BasinMatcher::Exact(b.parse().unwrap()))
        .with_streams(StreamMatcher::Prefix("".parse().unwrap()));
    let secret = admin
        .issue_access_token(IssueAccessTokenInput::new(
            "follower".parse().unwrap(),
            scope,
        ))
        .await
        .unwrap();
    let follower = client(&server, &secret);
    let mut session = follower
        .basin(b.parse().unwrap())
        .stream("s".parse().unwrap())
        .read_session(
            ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))),
            ReadSessionConfig::new(),
        )
        .await
        .unwrap();
    writer
        .append(crate::data_plane::batch(&["before".into()]))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), session.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.records[0].body, &b"before"[..]);
    admin
        .revoke_access_token("follower".parse().unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    writer
        .append(crate::data_plane::batch(&["after".into()]))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(15), session.next())
        .await
        .expect("the session answers");
    match next {
        Some(Ok(batch)) => panic!("a revoked token still reads: {batch:?}"),
        Some(Err(e)) => assert!(
            code_of(&e).contains("authn") || code_of(&e).contains("401"),
            "{e:?}"
        ),
        None => {}
    }
}
