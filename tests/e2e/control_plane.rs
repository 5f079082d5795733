//! The control plane through the official Rust SDK (`s2-sdk`, HTTP/2 cleartext).

use crate::support::{unique_basin, Server};
use s2_sdk::error::RequestError;
use s2_sdk::types::*;
use s2_sdk::S2;

fn basin_name(s: &str) -> BasinName {
    s.parse().expect("valid basin name")
}

fn stream_name(s: &str) -> StreamName {
    s.parse().expect("valid stream name")
}

/// The server's (status, code) for a failed request.
fn server_error<T: std::fmt::Debug>(r: Result<T, s2_sdk::error::RequestError>) -> (u16, String) {
    match r {
        Err(RequestError::Server(e)) => (e.status.as_u16(), e.code),
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn create_basin(s2: &S2, name: &str) -> BasinInfo {
    s2.create_basin(CreateBasinInput::new(basin_name(name)))
        .await
        .expect("create basin")
}

#[tokio::test]
async fn basin_lifecycle_create_get_reconfigure_delete() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let name = unique_basin("rs-life");
    let info = create_basin(&s2, &name).await;
    assert_eq!(info.name.to_string(), name);
    assert!(info.deleted_at.is_none());

    let config = s2.get_basin_config(basin_name(&name)).await.unwrap();
    assert!(config.default_stream_config.is_none());
    assert!(!config.create_stream_on_append);

    let patch = BasinReconfiguration::new()
        .with_create_stream_on_append(true)
        .with_default_stream_config(
            StreamReconfiguration::new().with_retention_policy(RetentionPolicy::Age(3600)),
        );
    let config = s2
        .reconfigure_basin(ReconfigureBasinInput::new(basin_name(&name), patch))
        .await
        .unwrap();
    assert!(config.create_stream_on_append);
    let defaults = config.default_stream_config.expect("defaults set");
    assert!(matches!(
        defaults.retention_policy,
        Some(RetentionPolicy::Age(3600))
    ));
    assert!(defaults.storage_class.is_none());

    s2.delete_basin(DeleteBasinInput::new(basin_name(&name)))
        .await
        .unwrap();
    // Deletion is asynchronous: the name is soon gone.
    let mut gone = false;
    for _ in 0..100 {
        if s2.get_basin_config(basin_name(&name)).await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "deleted basin still there");
    let err = server_error(s2.get_basin_config(basin_name(&name)).await);
    assert_eq!(err, (404, "basin_not_found".into()));
}

#[tokio::test]
async fn duplicate_basin_is_409_and_missing_basin_is_404() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let name = unique_basin("rs-dup");
    create_basin(&s2, &name).await;
    let err = server_error(
        s2.create_basin(CreateBasinInput::new(basin_name(&name)))
            .await,
    );
    assert_eq!(err, (409, "resource_already_exists".into()));
    let missing = unique_basin("rs-none");
    let err = server_error(s2.get_basin_config(basin_name(&missing)).await);
    assert_eq!(err, (404, "basin_not_found".into()));
    let err = server_error(
        s2.basin(basin_name(&missing))
            .list_streams(ListStreamsInput::new())
            .await,
    );
    assert_eq!(err, (404, "basin_not_found".into()));
}

#[tokio::test]
async fn ensure_basin_creates_then_updates_then_is_unchanged() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let name = unique_basin("rs-ens");
    let out = s2
        .ensure_basin(EnsureBasinInput::new(basin_name(&name)))
        .await
        .unwrap();
    assert!(matches!(out, EnsureOutput::Created(_)));
    let cfg = BasinConfig::new().with_create_stream_on_read(true);
    let input = EnsureBasinInput::new(basin_name(&name)).with_config(cfg.clone());
    assert!(matches!(
        s2.ensure_basin(input).await.unwrap(),
        EnsureOutput::ConfigUpdated(_)
    ));
    let input = EnsureBasinInput::new(basin_name(&name)).with_config(cfg);
    assert!(matches!(
        s2.ensure_basin(input).await.unwrap(),
        EnsureOutput::ConfigUnchanged(_)
    ));
    assert!(
        s2.get_basin_config(basin_name(&name))
            .await
            .unwrap()
            .create_stream_on_read
    );
}

#[tokio::test]
async fn stream_config_resolves_against_basin_defaults() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let name = unique_basin("rs-res");
    let defaults = StreamConfig::new()
        .with_storage_class("standard")
        .with_timestamping(TimestampingConfig::new().with_uncapped(true));
    s2.create_basin(
        CreateBasinInput::new(basin_name(&name))
            .with_config(BasinConfig::new().with_default_stream_config(defaults)),
    )
    .await
    .unwrap();
    let basin = s2.basin(basin_name(&name));
    basin
        .create_stream(
            CreateStreamInput::new(stream_name("s")).with_config(
                StreamConfig::new().with_timestamping(
                    TimestampingConfig::new().with_mode(TimestampingMode::Arrival),
                ),
            ),
        )
        .await
        .unwrap();
    let cfg = basin.get_stream_config(stream_name("s")).await.unwrap();
    assert_eq!(cfg.storage_class.as_deref(), Some("standard"));
    assert!(matches!(
        cfg.retention_policy,
        Some(RetentionPolicy::Age(604_800))
    ));
    let ts = cfg.timestamping.expect("timestamping resolved");
    assert!(matches!(ts.mode, Some(TimestampingMode::Arrival)));
    assert_eq!(ts.uncapped, Some(true));

    // Clearing a field falls back to the basin default, then the system default.
    let cfg = basin
        .reconfigure_stream(ReconfigureStreamInput::new(
            stream_name("s"),
            StreamReconfiguration::new()
                .with_retention_policy(RetentionPolicy::Infinite)
                .with_delete_on_empty(
                    DeleteOnEmptyReconfiguration::new()
                        .with_min_age(std::time::Duration::from_secs(30)),
                ),
        ))
        .await
        .unwrap();
    assert!(matches!(
        cfg.retention_policy,
        Some(RetentionPolicy::Infinite)
    ));
    assert_eq!(cfg.delete_on_empty.map(|d| d.min_age_secs), Some(30));
}

#[tokio::test]
async fn streams_page_in_order_across_partitions() {
    let server = Server::start(&["--partitions", "8"]);
    let s2 = server.client();
    let name = unique_basin("rs-page");
    create_basin(&s2, &name).await;
    let basin = s2.basin(basin_name(&name));
    let mut names: Vec<String> = (0..25).map(|i| format!("stream-{i:02}")).collect();
    names.push("a/b c?d".into());
    for n in &names {
        basin
            .create_stream(CreateStreamInput::new(stream_name(n)))
            .await
            .unwrap();
    }
    names.sort();
    let mut seen = Vec::new();
    let mut start_after = String::new();
    loop {
        let page = basin
            .list_streams(
                ListStreamsInput::new()
                    .with_limit(10)
                    .with_start_after(start_after.parse().unwrap()),
            )
            .await
            .unwrap();
        seen.extend(page.values.iter().map(|s| s.name.to_string()));
        if !page.has_more {
            break;
        }
        start_after = seen.last().unwrap().clone();
    }
    assert_eq!(seen, names);
    let page = basin
        .list_streams(ListStreamsInput::new().with_prefix("stream-1".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(page.values.len(), 10);
    assert!(!page.has_more);
}

#[tokio::test]
async fn stream_errors_match_s2_lite() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let name = unique_basin("rs-serr");
    create_basin(&s2, &name).await;
    let basin = s2.basin(basin_name(&name));
    basin
        .create_stream(CreateStreamInput::new(stream_name("x")))
        .await
        .unwrap();
    let err = server_error(
        basin
            .create_stream(CreateStreamInput::new(stream_name("x")))
            .await,
    );
    assert_eq!(err, (409, "resource_already_exists".into()));
    let err = server_error(basin.get_stream_config(stream_name("nope")).await);
    assert_eq!(err, (404, "stream_not_found".into()));
    let err =
        server_error(
            basin
                .create_stream(CreateStreamInput::new(stream_name("zero")).with_config(
                    StreamConfig::new().with_retention_policy(RetentionPolicy::Age(0)),
                ))
                .await,
        );
    assert_eq!(err, (422, "invalid".into()));
    // Deleting, then the name frees up again.
    basin
        .delete_stream(DeleteStreamInput::new(stream_name("x")))
        .await
        .unwrap();
    let mut recreated = false;
    for _ in 0..100 {
        if basin
            .create_stream(CreateStreamInput::new(stream_name("x")))
            .await
            .is_ok()
        {
            recreated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(recreated, "stream name not reusable after deletion");
}

#[tokio::test]
async fn deleting_a_basin_deletes_its_streams_then_frees_the_name() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let name = unique_basin("rs-bdel");
    create_basin(&s2, &name).await;
    let basin = s2.basin(basin_name(&name));
    for i in 0..5 {
        basin
            .create_stream(CreateStreamInput::new(stream_name(&format!("s{i}"))))
            .await
            .unwrap();
    }
    s2.delete_basin(DeleteBasinInput::new(basin_name(&name)))
        .await
        .unwrap();
    // While pending: creates are refused with basin_deletion_pending.
    if let Err(RequestError::Server(e)) = basin
        .create_stream(CreateStreamInput::new(stream_name("late")))
        .await
    {
        assert!(
            e.code == "basin_deletion_pending" || e.code == "basin_not_found",
            "unexpected {e:?}"
        );
    }
    let mut recreated = false;
    for _ in 0..200 {
        if s2
            .create_basin(CreateBasinInput::new(basin_name(&name)))
            .await
            .is_ok()
        {
            recreated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(recreated, "basin name not reusable after deletion");
    let page = basin.list_streams(ListStreamsInput::new()).await.unwrap();
    assert!(
        page.values.is_empty(),
        "old streams survived: {:?}",
        page.values
    );
}

/// `--init-file`: basins and streams ensured before serving, idempotent across restarts
/// (and an edited file reconfigures them); a bad file stops start-up with s2-lite's message.
#[tokio::test]
async fn init_file_provisions_basins_and_streams_before_serving() {
    let dir = crate::support::temp_dir("init-file");
    let path = dir.join("init.json");
    let basin = unique_basin("init");
    let write = |create_on_append: bool| {
        let spec = format!(
            r#"{{"basins":[{{"name":"{basin}",
                "config":{{"default_stream_config":{{"retention_policy":"2h 30m"}},
                          "create_stream_on_append":{create_on_append}}},
                "streams":[{{"name":"events","config":{{"storage_class":"standard",
                              "retention_policy":"infinite",
                              "timestamping":{{"mode":"arrival"}},
                              "delete_on_empty":{{"min_age":"1h"}}}}}},
                           {{"name":"plain"}}]}}]}}"#
        );
        std::fs::write(&path, spec).unwrap();
    };
    write(true);
    let file = path.to_str().unwrap().to_owned();
    let mut server = Server::start(&[
        "--local-root",
        dir.join("data").to_str().unwrap(),
        "--init-file",
        &file,
    ]);
    let s2 = server.client();
    let config = s2.get_basin_config(basin_name(&basin)).await.unwrap();
    assert!(config.create_stream_on_append);
    let defaults = config.default_stream_config.expect("defaults");
    assert!(matches!(
        defaults.retention_policy,
        Some(RetentionPolicy::Age(9000))
    ));
    let b = s2.basin(basin_name(&basin));
    let events = b.get_stream_config(stream_name("events")).await.unwrap();
    assert_eq!(events.storage_class.as_deref(), Some("standard"));
    assert!(matches!(
        events.retention_policy,
        Some(RetentionPolicy::Infinite)
    ));
    let plain = b.get_stream_config(stream_name("plain")).await.unwrap();
    assert!(matches!(
        plain.retention_policy,
        Some(RetentionPolicy::Age(9000))
    ));

    // A restart with an edited file: the same resources, reconfigured, nothing duplicated.
    server.kill();
    write(false);
    server.restart(&[]);
    let s2 = server.client();
    let config = s2.get_basin_config(basin_name(&basin)).await.unwrap();
    assert!(
        !config.create_stream_on_append,
        "the file's config replaces the old one"
    );
    let listed = s2
        .basin(basin_name(&basin))
        .list_streams(ListStreamsInput::new())
        .await
        .unwrap();
    assert_eq!(listed.values.len(), 2);
    drop(server);

    // Bad files: start-up fails with the reason.
    for (spec, why) in [
        (
            r#"{"basins":[{"name":"init-basin-1"},{"name":"init-basin-1"}]}"#,
            "duplicate basin name init-basin-1",
        ),
        (
            r#"{"basins":[{"name":"init-basin-1","bogus":true}]}"#,
            "unknown field `bogus`, expected one of `name`, `config`, `streams`",
        ),
        (
            r#"{"basins":[{"name":"init-basin-1","streams":[{"name":"s","config":{"retention_policy":"0s"}}]}]}"#,
            "stream \"s\" in basin \"init-basin-1\"",
        ),
    ] {
        std::fs::write(&path, spec).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strand"))
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &crate::support::free_port().to_string(),
            ])
            .env("S2LITE_INIT_FILE", &path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{spec} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{spec}: {err}");
    }
}
