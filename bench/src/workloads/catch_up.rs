//! `catch-up`: read throughput from the start of streams that already hold
//! `--prefill-mib` in total, `--readers` read sessions per stream, each reading to the
//! tail it saw before starting.

use super::writer::{self, Pace, Recorders, WriterSpec};
use super::{cleanup, Params};
use crate::latency::LatencyRecorder;
use crate::meter::{spawn_progress, Meter};
use crate::payload::{self, BatchMaker};
use crate::report::{GeneratorClock, WorkloadResult};
use crate::target::{create_basin, create_streams, stream_handle, Target};
use futures::StreamExt;
use s2_sdk::types::{ReadFrom, ReadInput, ReadLimits, ReadSessionConfig, ReadStart, ReadStop};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(target: &Target, p: &Params) -> Result<WorkloadResult, String> {
    let clients = target.clients(p.clients);
    let basin = create_basin(&clients[0], "catch-up", &p.storage_class, false).await?;
    create_streams(&clients[0].basin(basin.clone()), p.streams).await?;

    // Prefill at saturation until the target size is acknowledged.
    let maker = BatchMaker::new(p.record_size, p.batch_records);
    let prefill_bytes = p.prefill_mib * 1048576;
    let fill = Meter::new(Duration::ZERO, Duration::from_secs(3600));
    let recorders = Recorders::new();
    let fill_started = Instant::now();
    let progress = spawn_progress("catch-up prefill".into(), fill.clone(), None);
    let spec = WriterSpec {
        maker: maker.clone(),
        pace: Pace::Saturated,
        pipeline: p.pipeline,
        recorders: recorders.clone(),
    };
    let writers = writer::spawn_all(&clients, &basin, p.streams, &spec, &fill);
    while fill.bytes() < prefill_bytes && fill.errors().0 == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fill.stop();
    writer::join_all(writers).await;
    let _ = progress.await;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    if let (n, Some(e)) = fill.errors() {
        return Err(format!("prefill failed ({n} errors): {e}"));
    }

    let mut tails = Vec::with_capacity(p.streams);
    for i in 0..p.streams {
        let tail = stream_handle(&clients, &basin, i)
            .check_tail()
            .await
            .map_err(|e| format!("check tail: {e}"))?;
        tails.push(tail.seq_num);
    }
    let total_records: u64 = tails.iter().sum::<u64>() * p.readers as u64;

    let clock = GeneratorClock::start();
    let meter = Meter::new(Duration::ZERO, Duration::from_secs(3600));
    let first_batch = Arc::new(LatencyRecorder::new());
    let bytes = Arc::new(AtomicU64::new(0));
    let progress = spawn_progress("catch-up read".into(), meter.clone(), None);
    let started = Instant::now();
    let mut readers = Vec::new();
    for (i, &tail) in tails.iter().enumerate() {
        for _ in 0..p.readers {
            let stream = stream_handle(&clients, &basin, i);
            let (meter, bytes, first_batch) = (meter.clone(), bytes.clone(), first_batch.clone());
            readers.push(tokio::spawn(async move {
                let input = ReadInput::new()
                    .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)))
                    .with_stop(
                        ReadStop::new().with_limits(ReadLimits::new().with_count(tail as usize)),
                    );
                let asked = Instant::now();
                let mut session = match stream.read_session(input, ReadSessionConfig::new()).await {
                    Ok(s) => s,
                    Err(e) => return meter.error(format!("read session: {e}")),
                };
                let mut seen = 0u64;
                while seen < tail {
                    match session.next().await {
                        Some(Ok(batch)) => {
                            if seen == 0 {
                                first_batch.record(asked.elapsed());
                            }
                            let n = batch.records.len() as u64;
                            let b: u64 = batch
                                .records
                                .iter()
                                .map(|r| payload::metered(r) as u64)
                                .sum();
                            seen += n;
                            bytes.fetch_add(b, Ordering::Relaxed);
                            meter.count(Instant::now(), b, n);
                        }
                        Some(Err(e)) => return meter.error(format!("read: {e}")),
                        None => return meter.error(format!("session ended at {seen} of {tail}")),
                    }
                }
            }));
        }
    }
    for r in readers {
        let _ = r.await;
    }
    let read_secs = started.elapsed().as_secs_f64();
    meter.stop();
    let _ = progress.await;
    let generator = clock.finish();
    cleanup(&clients[0], basin, p).await;

    let mut figures = BTreeMap::new();
    figures.insert("prefill_mib".into(), p.prefill_mib as f64);
    figures.insert(
        "prefill_mib_per_sec".into(),
        fill.bytes() as f64 / fill_secs / 1048576.0,
    );
    let (errors, first_error) = meter.errors();
    Ok(WorkloadResult {
        workload: "catch-up".into(),
        params: serde_json::to_value(p).expect("params serialize"),
        measured_secs: read_secs,
        mib_per_sec: bytes.load(Ordering::Relaxed) as f64 / read_secs / 1048576.0,
        records_per_sec: meter.records() as f64 / read_secs,
        figures: {
            figures.insert("records_read".into(), meter.records() as f64);
            figures.insert("records_expected".into(), total_records as f64);
            figures
        },
        latencies: vec![first_batch.summary("first", "read session request to its first batch")],
        errors,
        first_error,
        generator,
        server: None,
    })
}
