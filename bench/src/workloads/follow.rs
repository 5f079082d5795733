//! `follow`: end-to-end latency from the intended send of a record to a live follower
//! receiving it. Followers attach at the tail before writing starts; writers run open loop
//! at `--rate-mibps`. With `--followers 1000` this is the fan-out workload.

use super::writer::{self, Pace, Recorders, WriterSpec};
use super::{cleanup, secs, Params};
use crate::latency::LatencyRecorder;
use crate::meter::{spawn_progress, Meter};
use crate::payload::{self, BatchMaker};
use crate::report::{GeneratorClock, WorkloadResult};
use crate::target::{create_basin, create_streams, stream_handle, Target};
use futures::StreamExt;
use s2_sdk::types::{ReadFrom, ReadInput, ReadSessionConfig, ReadStart};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(target: &Target, p: &Params) -> Result<WorkloadResult, String> {
    let clients = target.clients(p.clients);
    let basin = create_basin(&clients[0], "follow", &p.storage_class, false).await?;
    create_streams(&clients[0].basin(basin.clone()), p.streams).await?;
    let maker = BatchMaker::new(p.record_size, p.batch_records);
    let e2e = Arc::new(LatencyRecorder::new());
    let delivered = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let clock = GeneratorClock::start();

    // Attach every follower first; a follower that cannot attach fails the run.
    let attach = futures::stream::iter(0..p.followers)
        .map(|f| {
            let stream = stream_handle(&clients, &basin, f % p.streams);
            async move {
                let input = ReadInput::new()
                    .with_start(ReadStart::new().with_from(ReadFrom::TailOffset(0)));
                stream
                    .read_session(input, ReadSessionConfig::new())
                    .await
                    .map_err(|e| format!("read session {f}: {e}"))
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let attach_secs = clock.finish().wall_secs;
    let meter = Meter::new(p.warmup(), p.duration());
    let mut followers = Vec::with_capacity(p.followers);
    for session in attach {
        let mut session = session?;
        let (e2e, delivered, done, meter) =
            (e2e.clone(), delivered.clone(), done.clone(), meter.clone());
        followers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let next = tokio::time::timeout(Duration::from_millis(200), session.next()).await;
                let batch = match next {
                    Err(_) => continue,
                    Ok(None) => {
                        meter.error("read session ended");
                        return;
                    }
                    Ok(Some(Err(e))) => {
                        meter.error(format!("read session: {e}"));
                        return;
                    }
                    Ok(Some(Ok(batch))) => batch,
                };
                let now = Instant::now();
                let mut bytes = 0;
                for record in &batch.records {
                    bytes += payload::metered(record) as u64;
                    if let Some(sent) = payload::sent_at(record) {
                        if meter.measures(sent) {
                            e2e.record(now.saturating_duration_since(sent));
                        }
                    }
                }
                if meter.measures(now) {
                    delivered.fetch_add(bytes, Ordering::Relaxed);
                }
            }
        }));
    }

    let pace = Pace::Every(writer::interval_for(
        p.rate_mibps * 1048576.0,
        p.streams,
        maker.batch_bytes(),
    ));
    let recorders = Recorders::new();
    let progress = spawn_progress("follow".into(), meter.clone(), Some(e2e.clone()));
    let spec = WriterSpec {
        maker: maker.clone(),
        pace,
        pipeline: p.pipeline,
        recorders: recorders.clone(),
    };
    let writers = writer::spawn_all(&clients, &basin, p.streams, &spec, &meter);
    writer::join_all(writers).await;
    // Let the last measured records reach every follower.
    tokio::time::sleep(Duration::from_millis(500)).await;
    done.store(true, Ordering::Relaxed);
    for f in followers {
        let _ = f.await;
    }
    meter.stop();
    let _ = progress.await;
    let generator = clock.finish();
    cleanup(&clients[0], basin, p).await;

    let measured = secs(p.duration());
    let mut figures = BTreeMap::new();
    figures.insert("offered_mib_per_sec".into(), p.rate_mibps);
    figures.insert("followers".into(), p.followers as f64);
    figures.insert("attach_secs".into(), attach_secs);
    figures.insert(
        "delivered_mib_per_sec".into(),
        delivered.load(Ordering::Relaxed) as f64 / measured / 1048576.0,
    );
    let expected = meter.records() * p.followers as u64 / p.streams as u64;
    let e2e_summary = e2e.summary(
        "e2e",
        "intended send to a follower receiving the record, open loop",
    );
    if e2e_summary.count + e2e_summary.count / 100 < expected {
        figures.insert(
            "deliveries_missing".into(),
            (expected - e2e_summary.count) as f64,
        );
    }
    let (errors, first_error) = meter.errors();
    Ok(WorkloadResult {
        workload: "follow".into(),
        params: serde_json::to_value(p).expect("params serialize"),
        measured_secs: measured,
        mib_per_sec: meter.bytes() as f64 / measured / 1048576.0,
        records_per_sec: meter.records() as f64 / measured,
        figures,
        latencies: vec![
            e2e_summary,
            recorders.ack.summary(
                "ack",
                "intended send to ack, open loop (corrected for coordinated omission)",
            ),
        ],
        errors,
        first_error,
        generator,
        server: None,
    })
}
