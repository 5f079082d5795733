//! Read sessions at scale: many followers of one stream through the Rust SDK.

use crate::support::{unique_basin, Server};
use futures::StreamExt;
use s2_sdk::types::*;
use std::time::Duration;

/// 1000 followers of one stream (10 clients × 100 sessions) while a writer appends: each
/// sees every record once, in order, and the server's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_followers_each_see_every_record_once_in_order() {
    const CLIENTS: usize = 10;
    const PER_CLIENT: usize = 100;
    const RECORDS: usize = 200;
    let server = Server::start(&[]);
    let s2 = server.client();
    let b = unique_basin("fanout");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    basin
        .create_stream(CreateStreamInput::new("s".parse().unwrap()))
        .await
        .unwrap();
    let mut followers = Vec::new();
    for _ in 0..CLIENTS {
        let stream = server
            .client()
            .basin(b.parse().unwrap())
            .stream("s".parse().unwrap());
        for _ in 0..PER_CLIENT {
            let stream = stream.clone();
            followers.push(tokio::spawn(async move {
                let input =
                    ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
                let mut session = stream
                    .read_session(input, ReadSessionConfig::new())
                    .await
                    .unwrap();
                let mut seen: Vec<u64> = Vec::with_capacity(RECORDS);
                while seen.len() < RECORDS {
                    let batch = tokio::time::timeout(Duration::from_secs(60), session.next())
                        .await
                        .expect("records keep coming")
                        .expect("session open")
                        .expect("no session error");
                    seen.extend(batch.records.iter().map(|r| r.seq_num));
                }
                seen
            }));
        }
    }
    // Give the followers a moment to attach, then write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writer = basin.stream("s".parse().unwrap());
    for i in 0..RECORDS / 10 {
        let records = AppendRecordBatch::try_from_iter(
            (0..10).map(|j| AppendRecord::new(format!("record-{i}-{j}")).unwrap()),
        )
        .unwrap();
        writer.append(AppendInput::new(records)).await.unwrap();
    }
    let expected: Vec<u64> = (0..RECORDS as u64).collect();
    for f in followers {
        assert_eq!(f.await.unwrap(), expected);
    }
    let peak_mib = server.peak_rss_kib() / 1024;
    eprintln!(
        "peak server RSS with {} followers: {peak_mib} MiB",
        CLIENTS * PER_CLIENT
    );
    assert!(
        peak_mib < 512,
        "server peak RSS {peak_mib} MiB with 1000 followers"
    );
}
