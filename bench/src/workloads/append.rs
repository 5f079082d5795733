//! `append` (saturated) and `latency` (open loop at a fixed offered rate): one append
//! session per stream, streams spread over the clients.

use super::writer::{self, Pace, Recorders, WriterSpec};
use super::{cleanup, secs, Params};
use crate::meter::{spawn_progress, Meter};
use crate::payload::BatchMaker;
use crate::report::{GeneratorClock, WorkloadResult};
use crate::target::{create_basin, create_streams, Target};
use std::collections::BTreeMap;

pub async fn run(
    target: &Target,
    p: &Params,
    rate_mibps: Option<f64>,
) -> Result<WorkloadResult, String> {
    let name = if rate_mibps.is_some() {
        "latency"
    } else {
        "append"
    };
    let clients = target.clients(p.clients);
    let basin = create_basin(&clients[0], name, &p.storage_class, false).await?;
    create_streams(&clients[0].basin(basin.clone()), p.streams).await?;
    let maker = BatchMaker::new(p.record_size, p.batch_records);
    let pace = match rate_mibps {
        None => Pace::Saturated,
        Some(rate) => Pace::Every(writer::interval_for(
            rate * 1048576.0,
            p.streams,
            maker.batch_bytes(),
        )),
    };
    let recorders = Recorders::new();
    let clock = GeneratorClock::start();
    let meter = Meter::new(p.warmup(), p.duration());
    let progress = spawn_progress(name.into(), meter.clone(), Some(recorders.ack.clone()));
    let spec = WriterSpec {
        maker: maker.clone(),
        pace,
        pipeline: p.pipeline,
        recorders: recorders.clone(),
    };
    let writers = writer::spawn_all(&clients, &basin, p.streams, &spec, &meter);
    writer::join_all(writers).await;
    meter.stop();
    let _ = progress.await;
    let generator = clock.finish();
    cleanup(&clients[0], basin, p).await;

    let measured = secs(p.duration());
    let mut latencies = Vec::new();
    let mut figures = BTreeMap::new();
    match pace {
        Pace::Saturated => {
            latencies.push(recorders.ack.summary(
                "ack",
                "submit to ack, closed loop (pipelined sessions at saturation)",
            ));
        }
        Pace::Every(interval) => {
            figures.insert("offered_mib_per_sec".into(), rate_mibps.unwrap_or(0.0));
            figures.insert("batch_interval_ms".into(), secs(interval) * 1000.0);
            latencies.push(recorders.ack.summary(
                "ack",
                "intended send to ack, open loop (corrected for coordinated omission)",
            ));
            latencies.push(recorders.service.summary(
                "service",
                "actual send to ack (uncorrected, for comparison)",
            ));
        }
    }
    let (errors, first_error) = meter.errors();
    Ok(WorkloadResult {
        workload: name.into(),
        params: serde_json::to_value(p).expect("params serialize"),
        measured_secs: measured,
        mib_per_sec: meter.bytes() as f64 / measured / 1048576.0,
        records_per_sec: meter.records() as f64 / measured,
        figures,
        latencies,
        errors,
        first_error,
        generator,
        server: None,
    })
}
