//! Delete-on-empty through the Rust SDK: a stream with `delete_on_empty.min_age_secs` goes
//! once it has no live record (never written, trimmed to its tail, or past its retention)
//! and nothing was written for that long; a stream with live records, or one still being
//! written, stays, and no acknowledged record is lost to it.

use crate::support::{unique_basin, Server};
use s2_sdk::types::*;
use std::time::{Duration, Instant};

fn doe(min_age_secs: u64) -> StreamConfig {
    StreamConfig::new().with_delete_on_empty(
        DeleteOnEmptyConfig::new().with_min_age(Duration::from_secs(min_age_secs)),
    )
}

async fn exists(basin: &s2_sdk::S2Basin, name: &str) -> bool {
    let page = basin
        .list_streams(ListStreamsInput::new().with_prefix(name.parse().unwrap()))
        .await
        .unwrap();
    page.values
        .iter()
        .any(|s| s.name.to_string() == name && s.deleted_at.is_none())
}

async fn wait_gone(basin: &s2_sdk::S2Basin, name: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !exists(basin, name).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn empty_streams_are_deleted_after_their_min_age_and_others_stay() {
    let server = Server::start(&["--lifecycle-tick-ms", "200"]);
    let s2 = crate::data_plane::no_retry_client(&server);
    let b = unique_basin("rs-doe");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    let create = |name: &str, config: StreamConfig| {
        CreateStreamInput::new(name.parse().unwrap()).with_config(config)
    };
    // Never written.
    basin.create_stream(create("never", doe(1))).await.unwrap();
    // Written, then trimmed to its tail (the trim record included).
    basin
        .create_stream(create("trimmed", doe(1)))
        .await
        .unwrap();
    let trimmed = basin.stream("trimmed".parse().unwrap());
    trimmed
        .append(crate::data_plane::batch(&["a".into(), "b".into()]))
        .await
        .unwrap();
    trimmed
        .append(AppendInput::new(
            AppendRecordBatch::try_from_iter([CommandRecord::trim(3).into()]).unwrap(),
        ))
        .await
        .unwrap();
    // Written with a 1 s retention: empty once its records expire.
    let expiring = doe(1).with_retention_policy(RetentionPolicy::Age(1));
    basin
        .create_stream(create("expiring", expiring))
        .await
        .unwrap();
    basin
        .stream("expiring".parse().unwrap())
        .append(crate::data_plane::batch(&["x".into()]))
        .await
        .unwrap();
    // Live records: stays.
    basin.create_stream(create("live", doe(1))).await.unwrap();
    basin
        .stream("live".parse().unwrap())
        .append(crate::data_plane::batch(&["keep".into()]))
        .await
        .unwrap();
    // Delete-on-empty off: stays though empty.
    basin
        .create_stream(create("plain", StreamConfig::new()))
        .await
        .unwrap();

    for name in ["never", "trimmed", "expiring"] {
        assert!(
            wait_gone(&basin, name, Duration::from_secs(15)).await,
            "{name} was not deleted"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(exists(&basin, "live").await);
    assert!(exists(&basin, "plain").await);
    // The name is free again.
    basin.create_stream(create("never", doe(60))).await.unwrap();
}

/// A stream written to now and then, each write within its min_age of the last, is never
/// deleted, and every acknowledged record is still there.
#[tokio::test]
async fn a_stream_still_being_written_is_not_deleted() {
    let server = Server::start(&["--lifecycle-tick-ms", "100"]);
    let s2 = crate::data_plane::no_retry_client(&server);
    let b = unique_basin("rs-doe-busy");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    let config = doe(1).with_retention_policy(RetentionPolicy::Infinite);
    basin
        .create_stream(CreateStreamInput::new("busy".parse().unwrap()).with_config(config))
        .await
        .unwrap();
    let stream = basin.stream("busy".parse().unwrap());
    let mut acked = 0u64;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        // Each batch trims itself away: the stream is empty between writes.
        let tail = stream.check_tail().await.unwrap().seq_num;
        let input = AppendInput::new(
            AppendRecordBatch::try_from_iter([
                AppendRecord::new(format!("r{acked}")).unwrap(),
                CommandRecord::trim(tail + 2).into(),
            ])
            .unwrap(),
        );
        stream.append(input).await.unwrap();
        acked += 1;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(exists(&basin, "busy").await);
    assert_eq!(stream.check_tail().await.unwrap().seq_num, acked * 2);
}

/// Reconfiguration takes effect on a live stream: turning delete-on-empty on for an empty
/// stream gets it deleted, with no restart and no new write.
#[tokio::test]
async fn delete_on_empty_turned_on_later_applies() {
    let server = Server::start(&["--lifecycle-tick-ms", "200"]);
    let s2 = crate::data_plane::no_retry_client(&server);
    let b = unique_basin("rs-doe-later");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    basin
        .create_stream(CreateStreamInput::new("later".parse().unwrap()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(exists(&basin, "later").await);
    let patch = StreamReconfiguration::new().with_delete_on_empty(
        DeleteOnEmptyReconfiguration::new().with_min_age(Duration::from_secs(1)),
    );
    basin
        .reconfigure_stream(ReconfigureStreamInput::new("later".parse().unwrap(), patch))
        .await
        .unwrap();
    assert!(wait_gone(&basin, "later", Duration::from_secs(15)).await);
}
