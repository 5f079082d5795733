//! `fan-in`: many streams (`--streams`, e.g. 10,000) written through unary appends,
//! `--concurrency` in flight, each append going to the next stream in turn. Streams are
//! created first; their creation rate is reported too.

use super::{cleanup, secs, Params};
use crate::latency::LatencyRecorder;
use crate::meter::{spawn_progress, Meter};
use crate::payload::BatchMaker;
use crate::report::{GeneratorClock, WorkloadResult};
use crate::target::{create_basin, create_streams, stream_handle, Target};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub async fn run(target: &Target, p: &Params) -> Result<WorkloadResult, String> {
    let clients = target.clients(p.clients);
    let basin = create_basin(&clients[0], "fan-in", &p.storage_class, false).await?;
    let created = Instant::now();
    create_streams(&clients[0].basin(basin.clone()), p.streams).await?;
    let create_secs = created.elapsed().as_secs_f64();

    let maker = BatchMaker::new(p.record_size, p.batch_records);
    let ack = Arc::new(LatencyRecorder::new());
    let next_stream = Arc::new(AtomicUsize::new(0));
    let handles: Arc<Vec<_>> = Arc::new(
        (0..p.streams)
            .map(|i| stream_handle(&clients, &basin, i))
            .collect(),
    );
    let clock = GeneratorClock::start();
    let meter = Meter::new(p.warmup(), p.duration());
    let progress = spawn_progress("fan-in".into(), meter.clone(), Some(ack.clone()));
    let workers: Vec<_> = (0..p.concurrency.max(1))
        .map(|_| {
            let (handles, next_stream, maker, meter, ack) = (
                handles.clone(),
                next_stream.clone(),
                maker.clone(),
                meter.clone(),
                ack.clone(),
            );
            tokio::spawn(async move {
                while !meter.stopping() {
                    let i = next_stream.fetch_add(1, Ordering::Relaxed) % handles.len();
                    let sent = Instant::now();
                    match handles[i].append(maker.batch(sent)).await {
                        Ok(_) => {
                            let now = Instant::now();
                            meter.count(
                                now,
                                maker.batch_bytes() as u64,
                                maker.records_per_batch() as u64,
                            );
                            if meter.measures(sent) {
                                ack.record(now - sent);
                            }
                        }
                        Err(e) => {
                            meter.error(format!("append to stream {i}: {e}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    meter.stop();
    let _ = progress.await;
    let generator = clock.finish();
    cleanup(&clients[0], basin, p).await;

    let measured = secs(p.duration());
    let mut figures = BTreeMap::new();
    figures.insert(
        "streams_created_per_sec".into(),
        p.streams as f64 / create_secs.max(1e-9),
    );
    let (errors, first_error) = meter.errors();
    Ok(WorkloadResult {
        workload: "fan-in".into(),
        params: serde_json::to_value(p).expect("params serialize"),
        measured_secs: measured,
        mib_per_sec: meter.bytes() as f64 / measured / 1048576.0,
        records_per_sec: meter.records() as f64 / measured,
        figures,
        latencies: vec![ack.summary("ack", "unary append request to response, closed loop")],
        errors,
        first_error,
        generator,
        server: None,
    })
}
