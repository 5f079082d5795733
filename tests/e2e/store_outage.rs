//! An object-store outage against the real binary on a bucket (moto, frozen with SIGSTOP so
//! every request hangs): appends answer 503 `unavailable` within the storage deadline, reads
//! of durable data keep working, the server recovers by itself when the store does, nothing
//! acknowledged is lost, and SIGTERM during an outage ends the process within its bound.

use crate::support::{try_http, unique_basin, Moto, Server};
use s2_sdk::types::*;
use std::time::{Duration, Instant};

const DEADLINE_MS: u64 = 1500;

/// One JSON append over HTTP/1.1: (status, body, elapsed).
fn raw_append(server: &Server, basin: &str, body: &str) -> (u16, String, Duration) {
    let t = Instant::now();
    let payload = format!(r#"{{"records":[{{"body":"{body}"}}]}}"#);
    let (status, resp) = try_http(
        server.port,
        "POST",
        "/v1/streams/s/records",
        &[("s2-basin", basin), ("content-type", "application/json")],
        &payload,
    )
    .unwrap_or((0, "no answer".into()));
    (status, resp, t.elapsed())
}

fn acked_seq(resp: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(resp).expect("ack json");
    v["start"]["seq_num"].as_u64().expect("start.seq_num")
}

/// Every record's body, through the SDK's unary reads.
async fn bodies(server: &Server, basin: &str) -> Vec<(u64, String)> {
    let stream = server
        .client()
        .basin(basin.parse().unwrap())
        .stream("s".parse().unwrap());
    let tail = stream.check_tail().await.unwrap().seq_num;
    let mut out = Vec::new();
    while (out.len() as u64) < tail {
        let input = ReadInput::new()
            .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(out.len() as u64)));
        let batch = stream.read(input).await.unwrap();
        assert!(!batch.records.is_empty(), "no progress at {}", out.len());
        for r in batch.records {
            out.push((r.seq_num, String::from_utf8(r.body.to_vec()).unwrap()));
        }
    }
    out
}

fn assert_acked(got: &[(u64, String)], acked: &[(u64, String)]) {
    for (seq, body) in acked {
        assert_eq!(
            got.get(*seq as usize).map(|(_, b)| b),
            Some(body),
            "acked record {seq} lost"
        );
    }
    let mut seen: Vec<_> = got.iter().map(|(_, b)| b).collect();
    seen.sort();
    let n = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), n, "a record appears twice");
}

#[tokio::test]
async fn bucket_outage_answers_503_then_recovers_and_sigterm_is_bounded() {
    let moto = Moto::start();
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let deadline = DEADLINE_MS.to_string();
    let mut server = Server::start_with_env(
        &[
            "--bucket",
            &moto.bucket,
            "--path",
            "outage",
            "--storage-deadline-ms",
            &deadline,
        ],
        &env,
    );
    let basin = unique_basin("outage");
    let s2 = server.client();
    s2.create_basin(CreateBasinInput::new(basin.parse().unwrap()))
        .await
        .unwrap();
    s2.basin(basin.parse().unwrap())
        .create_stream(CreateStreamInput::new("s".parse().unwrap()))
        .await
        .unwrap();

    let mut acked = Vec::new();
    for i in 0..5 {
        let body = format!("before-{i}");
        let (status, resp, _) = raw_append(&server, &basin, &body);
        assert_eq!(status, 200, "{resp}");
        acked.push((acked_seq(&resp), body));
    }

    moto.pause();
    for i in 0..3 {
        let (status, resp, took) = raw_append(&server, &basin, &format!("during-{i}"));
        assert_eq!(status, 503, "append during an outage: {resp}");
        assert!(resp.contains(r#""code":"unavailable""#), "{resp}");
        assert!(
            took < Duration::from_millis(DEADLINE_MS * 3),
            "503 took {took:?}"
        );
    }
    // Durable records are still served from memory while the store hangs.
    assert_acked(&bodies(&server, &basin).await, &acked);

    moto.resume();
    let resumed = Instant::now();
    let recovered = loop {
        let (status, resp, _) = raw_append(&server, &basin, "after");
        if status == 200 {
            acked.push((acked_seq(&resp), "after".to_string()));
            break resumed.elapsed();
        }
        assert_eq!(status, 503, "{resp}");
        assert!(
            resumed.elapsed() < Duration::from_secs(60),
            "no recovery within 60 s: {resp}"
        );
    };
    eprintln!("store outage: appends succeed again {recovered:?} after the store resumed");
    assert_acked(&bodies(&server, &basin).await, &acked);

    // SIGTERM while the store hangs: shutdown is bounded (drain, one storage deadline to
    // close, the storage runtime's grace), not forever.
    moto.pause();
    let (status, _, _) = raw_append(&server, &basin, "unacked");
    assert_eq!(status, 503);
    let t = Instant::now();
    let exit = server.terminate();
    let took = t.elapsed();
    eprintln!("SIGTERM during an outage: exited in {took:?} ({exit})");
    assert!(took < Duration::from_secs(25), "shutdown took {took:?}");
    moto.resume();

    // What was acknowledged is in the bucket.
    server.restart(&[]);
    assert_acked(&bodies(&server, &basin).await, &acked);
}
