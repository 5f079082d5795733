//! Crash durability under load: writers on streams in every partition, several rounds in
//! flight, and writers racing on one stream with `match_seq_num`, while the server is
//! SIGKILLed at random moments. After every restart: each acknowledged record is there at
//! its position, seq_nums are gap-free, nothing appears twice, nothing appears that was
//! never sent, and no position was acknowledged to two racing writers.
//!
//! 10 cycles in `make test` (on a local root and on moto); `make soak` runs 100
//! (`STRAND_CRASH_CYCLES`).

use crate::data_plane::{batch, no_retry_client, read_all};
use crate::support::{temp_dir, unique_basin, Moto, Server};
use s2_sdk::types::*;
use s2_sdk::S2Stream;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The server's default partition count: one stream per partition.
const PARTITIONS: u32 = 8;
const RACERS: usize = 3;

fn cycles() -> usize {
    std::env::var("STRAND_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// Stream names covering every partition of `basin`.
fn streams_for(basin: &str) -> Vec<String> {
    let mut by_partition = BTreeMap::new();
    for i in 0.. {
        let name = format!("w{i}");
        let p = shards::placement::partition_for_stream(basin, &name, PARTITIONS);
        by_partition.entry(p).or_insert(name);
        if by_partition.len() == PARTITIONS as usize {
            return by_partition.into_values().collect();
        }
    }
    unreachable!()
}

fn stream_of(server: &Server, basin: &str, name: &str) -> S2Stream {
    no_retry_client(server)
        .basin(basin.parse().unwrap())
        .stream(name.parse().unwrap())
}

#[derive(Default)]
struct Outcome {
    /// Stream → (seq_num → body) acknowledged.
    acked: HashMap<String, BTreeMap<u64, String>>,
    /// Bodies sent whose outcome is unknown (the server died under them).
    unknown: HashSet<String>,
}

/// Appends batches of 5 until the server dies; several writers per stream keep several
/// rounds in flight.
async fn plain_writer(stream: S2Stream, name: String, tag: String) -> Outcome {
    let mut out = Outcome::default();
    for i in 0.. {
        let bodies: Vec<String> = (0..5).map(|j| format!("{tag}-{name}-b{i}-r{j}")).collect();
        match stream.append(batch(&bodies)).await {
            Ok(ack) => {
                let acked = out.acked.entry(name.clone()).or_default();
                for (k, body) in bodies.into_iter().enumerate() {
                    acked.insert(ack.start.seq_num + k as u64, body);
                }
            }
            Err(_) => {
                out.unknown.extend(bodies);
                return out;
            }
        }
    }
    out
}

/// Appends one record at a time with `match_seq_num` at the tail it believes, racing the
/// other racers; a condition failure means another won that position: learn the tail, retry.
async fn racer(stream: S2Stream, tag: String) -> Outcome {
    let mut out = Outcome::default();
    let Ok(tail) = stream.check_tail().await else {
        return out;
    };
    let mut next = tail.seq_num;
    for i in 0.. {
        let body = format!("{tag}-b{i}");
        let input = batch(std::slice::from_ref(&body)).with_match_seq_num(next);
        match stream.append(input).await {
            Ok(ack) => {
                assert_eq!(ack.start.seq_num, next, "acked at another position");
                out.acked
                    .entry("race".into())
                    .or_default()
                    .insert(next, body);
                next += 1;
            }
            Err(s2_sdk::error::AppendError::ConditionFailed(_)) => {
                match stream.check_tail().await {
                    Ok(t) => next = t.seq_num,
                    Err(_) => return out,
                }
            }
            Err(_) => {
                out.unknown.insert(body);
                return out;
            }
        }
    }
    out
}

async fn crash_cycles(mut server: Server, cycles: usize) {
    let basin = unique_basin("crash");
    let s2 = no_retry_client(&server);
    s2.create_basin(CreateBasinInput::new(basin.parse().unwrap()))
        .await
        .unwrap();
    let mut names = streams_for(&basin);
    names.push("race".into());
    for name in &names {
        s2.basin(basin.parse().unwrap())
            .create_stream(CreateStreamInput::new(name.parse().unwrap()))
            .await
            .unwrap();
    }
    let mut total = Outcome::default();
    // (stream, seq) → every body acknowledged there: must stay one.
    let mut acked_at: HashMap<(String, u64), Vec<String>> = HashMap::new();
    for cycle in 0..cycles {
        let mut writers = Vec::new();
        for name in &names[..names.len() - 1] {
            for w in 0..2 {
                let stream = stream_of(&server, &basin, name);
                let tag = format!("c{cycle}w{w}");
                writers.push(tokio::spawn(plain_writer(stream, name.clone(), tag)));
            }
        }
        for r in 0..RACERS {
            let stream = stream_of(&server, &basin, "race");
            writers.push(tokio::spawn(racer(stream, format!("c{cycle}race{r}"))));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        tokio::time::sleep(Duration::from_millis(200 + (nanos % 400) as u64)).await;
        server.kill();
        for w in writers {
            let out = w.await.unwrap();
            for (name, acked) in out.acked {
                for (seq, body) in acked {
                    acked_at
                        .entry((name.clone(), seq))
                        .or_default()
                        .push(body.clone());
                    total
                        .acked
                        .entry(name.clone())
                        .or_default()
                        .insert(seq, body);
                }
            }
            total.unknown.extend(out.unknown);
        }
        for ((name, seq), bodies) in &acked_at {
            assert_eq!(
                bodies.len(),
                1,
                "{name}@{seq} acknowledged {} times",
                bodies.len()
            );
        }
        server.restart(&[]);
        for name in &names {
            let records = read_all(&stream_of(&server, &basin, name)).await;
            let acked = total.acked.get(name).cloned().unwrap_or_default();
            let mut seen = HashSet::new();
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.seq_num, i as u64, "{name}: gap-free seq_nums");
                let body = String::from_utf8(r.body.to_vec()).unwrap();
                assert!(
                    acked.values().any(|b| *b == body) || total.unknown.contains(&body),
                    "{name}: {body} was never sent"
                );
                assert!(seen.insert(body.clone()), "{name}: {body} appears twice");
            }
            for (seq, body) in &acked {
                let got = records.get(*seq as usize).map(|r| r.body.to_vec());
                assert_eq!(
                    got.as_deref(),
                    Some(body.as_bytes()),
                    "{name}: acked record {seq} lost (cycle {cycle})"
                );
            }
        }
    }
    let acked: usize = total.acked.values().map(|m| m.len()).sum();
    let raced = total.acked.get("race").map_or(0, |m| m.len());
    eprintln!(
        "{cycles} SIGKILL cycles: {acked} records acked ({raced} by racing writers), \
         0 lost, {} of unknown outcome",
        total.unknown.len()
    );
    assert!(
        acked > 100 * cycles.min(10),
        "only {acked} records acknowledged"
    );
    assert!(raced > 0, "the racing writers never won a position");
}

#[tokio::test]
async fn sigkill_under_load_loses_nothing_acked_local_root() {
    let dir = temp_dir("crash");
    let server = Server::start(&["--local-root", dir.to_str().unwrap()]);
    crash_cycles(server, cycles()).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sigkill_under_load_loses_nothing_acked_bucket() {
    let moto = Moto::start();
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(&["--bucket", &moto.bucket, "--path", "crash"], &env);
    crash_cycles(server, cycles()).await;
}
