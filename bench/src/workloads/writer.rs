//! One append session driven either as fast as the server acknowledges (saturated, closed
//! loop) or on a fixed schedule (open loop). In the open loop every batch has an intended
//! send time and its latency is measured from that instant, not from when it was actually
//! sent, so a server that stalls is charged for every batch it delayed (no coordinated
//! omission).

use crate::latency::LatencyRecorder;
use crate::meter::Meter;
use crate::payload::BatchMaker;
use crate::target::stream_handle;
use s2_sdk::append_session::{AppendSessionConfig, BatchSubmitTicket};
use s2_sdk::types::BasinName;
use s2_sdk::{S2Stream, S2};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Submit whenever the session has room (bounded by the pipeline depth).
    Saturated,
    /// One batch every interval, starting now.
    Every(Duration),
}

#[derive(Clone)]
pub struct Recorders {
    /// Ack latency: from the intended send (open loop) or the submit (saturated).
    pub ack: Arc<LatencyRecorder>,
    /// Service time: from the actual submit, for comparison with the corrected figure.
    pub service: Arc<LatencyRecorder>,
}

impl Recorders {
    pub fn new() -> Self {
        Self {
            ack: Arc::new(LatencyRecorder::new()),
            service: Arc::new(LatencyRecorder::new()),
        }
    }
}

/// What every writer of a workload does alike.
#[derive(Clone)]
pub struct WriterSpec {
    pub maker: BatchMaker,
    pub pace: Pace,
    pub pipeline: u32,
    pub recorders: Recorders,
}

/// One writer per stream `0..streams`, the streams spread over the clients.
pub fn spawn_all(
    clients: &[S2],
    basin: &BasinName,
    streams: usize,
    spec: &WriterSpec,
    meter: &Arc<Meter>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..streams)
        .map(|i| {
            tokio::spawn(drive(
                stream_handle(clients, basin, i),
                spec.maker.clone(),
                spec.pace,
                spec.pipeline,
                meter.clone(),
                spec.recorders.clone(),
            ))
        })
        .collect()
}

pub async fn join_all(writers: Vec<tokio::task::JoinHandle<()>>) {
    for w in writers {
        let _ = w.await;
    }
}

pub async fn drive(
    stream: S2Stream,
    maker: BatchMaker,
    pace: Pace,
    pipeline: u32,
    meter: Arc<Meter>,
    recorders: Recorders,
) {
    let batch_bytes = maker.batch_bytes();
    let config = AppendSessionConfig::new()
        .with_max_unacked_batches(NonZeroU32::new(pipeline.max(1)).expect("non-zero"))
        .with_max_unacked_bytes(((pipeline.max(1) as usize * batch_bytes).max(1 << 20)) as u32)
        .expect("at least 1 MiB");
    let session = stream.append_session(config);
    let (tx, mut rx) =
        mpsc::channel::<(BatchSubmitTicket, Instant, Instant)>(pipeline.max(1) as usize + 1);
    let records = maker.records_per_batch() as u64;
    let collector = {
        let meter = meter.clone();
        tokio::spawn(async move {
            // Acks of one session arrive in order, so awaiting them in order is exact.
            while let Some((ticket, intended, sent)) = rx.recv().await {
                match ticket.await {
                    Ok(_) => {
                        let now = Instant::now();
                        meter.count(now, batch_bytes as u64, records);
                        if meter.measures(intended) {
                            recorders.ack.record(now - intended);
                            recorders.service.record(now - sent);
                        }
                    }
                    Err(e) => {
                        meter.error(format!("append: {e}"));
                        return;
                    }
                }
            }
        })
    };
    let mut next = Instant::now();
    while !meter.stopping() {
        let intended = match pace {
            Pace::Saturated => None,
            Pace::Every(interval) => {
                tokio::time::sleep_until(next.into()).await;
                let intended = next;
                next += interval;
                Some(intended)
            }
        };
        let until = meter.measure_until;
        let permit = tokio::select! {
            permit = session.reserve(batch_bytes as u32) => permit,
            _ = tokio::time::sleep_until(until.into()) => break,
        };
        let Ok(permit) = permit else {
            meter.error("append session closed");
            break;
        };
        let sent = Instant::now();
        let intended = intended.unwrap_or(sent);
        let ticket = permit.submit(maker.batch(intended));
        if tx.send((ticket, intended, sent)).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = collector.await;
    if tokio::time::timeout(Duration::from_secs(10), session.close())
        .await
        .is_err()
    {
        meter.error("append session did not close within 10 s");
    }
}

/// The interval between batches for one writer so that `writers` together offer
/// `rate_bytes_per_sec`.
pub fn interval_for(rate_bytes_per_sec: f64, writers: usize, batch_bytes: usize) -> Duration {
    let per_writer = rate_bytes_per_sec / writers.max(1) as f64;
    Duration::from_secs_f64(batch_bytes as f64 / per_writer.max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_share_the_offered_rate() {
        // 1 MiB/s over 4 writers with 8 KiB batches: each sends 32 batches/s.
        let iv = interval_for(1048576.0, 4, 8192);
        assert_eq!(iv, Duration::from_secs_f64(1.0 / 32.0));
    }
}
