//! The workloads. Each creates its own basin, runs for a warm-up plus a measured span, and
//! returns a [`WorkloadResult`]. Settings are shared ([`Params`]); each workload says which
//! it uses.

mod append;
mod catch_up;
mod fan_in;
mod follow;
pub mod writer;

use crate::report::WorkloadResult;
use crate::target::Target;
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Saturated append throughput: append sessions submitting as fast as acks return.
    Append,
    /// Ack latency at a fixed offered rate (open loop, corrected for coordinated omission).
    Latency,
    /// End-to-end latency from append to live followers (`--followers` per run).
    Follow,
    /// Catch-up read throughput over a prefilled stream set.
    CatchUp,
    /// Many streams (`--streams`, e.g. 10000) fanning in through unary appends.
    FanIn,
}

#[derive(Clone, Debug, clap::Args, Serialize)]
pub struct Params {
    /// Streams written (and followed).
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Metered size of each record in bytes (headers and overhead included, as S2 counts).
    #[arg(long, default_value_t = 8192)]
    pub record_size: usize,
    /// Records per append batch.
    #[arg(long, default_value_t = 1)]
    pub batch_records: usize,
    /// Unacknowledged batches allowed per append session.
    #[arg(long, default_value_t = 16)]
    pub pipeline: u32,
    /// Independent clients (connection pools) the streams are spread over.
    #[arg(long, default_value_t = 2)]
    pub clients: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Storage class of the streams: express or standard.
    #[arg(long, default_value = "express")]
    pub storage_class: String,
    /// Offered rate in MiB/s for `latency` and `follow`.
    #[arg(long, default_value_t = 1.0)]
    pub rate_mibps: f64,
    /// Live followers for `follow`, spread over the streams.
    #[arg(long, default_value_t = 1)]
    pub followers: usize,
    /// Readers per stream for `catch-up`.
    #[arg(long, default_value_t = 1)]
    pub readers: usize,
    /// MiB written before `catch-up` reads it back.
    #[arg(long, default_value_t = 256)]
    pub prefill_mib: u64,
    /// Unary appends in flight for `fan-in`.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// Keep the workload's basin afterwards (by default it is deleted).
    #[arg(long)]
    #[serde(skip)]
    pub keep_basin: bool,
}

impl Params {
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup.max(0.0))
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.max(0.1))
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.streams == 0 {
            return Err("--streams must be at least 1".into());
        }
        if !(1..=1000).contains(&self.batch_records) {
            return Err("--batch-records must be 1..=1000 (S2's batch limit)".into());
        }
        if self.record_size < crate::payload::RECORD_OVERHEAD
            || self.record_size * self.batch_records > 1 << 20
        {
            return Err(format!(
                "--record-size must be at least {} and a batch at most 1 MiB",
                crate::payload::RECORD_OVERHEAD
            ));
        }
        if !matches!(self.storage_class.as_str(), "express" | "standard") {
            return Err("--storage-class must be express or standard".into());
        }
        if self.rate_mibps <= 0.0 {
            return Err("--rate-mibps must be positive".into());
        }
        Ok(())
    }
}

pub async fn run(
    target: &Target,
    workload: Workload,
    params: &Params,
) -> Result<WorkloadResult, String> {
    params.validate()?;
    match workload {
        Workload::Append => append::run(target, params, None).await,
        Workload::Latency => append::run(target, params, Some(params.rate_mibps)).await,
        Workload::Follow => follow::run(target, params).await,
        Workload::CatchUp => catch_up::run(target, params).await,
        Workload::FanIn => fan_in::run(target, params).await,
    }
}

/// Deletes the workload's basin unless asked to keep it.
async fn cleanup(s2: &s2_sdk::S2, basin: s2_sdk::types::BasinName, p: &Params) {
    if !p.keep_basin {
        let _ = s2
            .delete_basin(s2_sdk::types::DeleteBasinInput::new(basin))
            .await;
    }
}

/// Seconds as f64 for results.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
