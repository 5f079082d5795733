//! What a run produces: one result per workload (throughput, latency summaries, generator
//! and server costs), printed as a table and written as JSON.

use crate::latency::LatencySummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadResult {
    pub workload: String,
    /// The settings the workload ran with.
    pub params: serde_json::Value,
    pub measured_secs: f64,
    pub mib_per_sec: f64,
    pub records_per_sec: f64,
    /// Workload-specific figures (delivered MiB/s, streams created per second, …).
    pub figures: BTreeMap<String, f64>,
    pub latencies: Vec<LatencySummary>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub generator: GeneratorCost,
    /// Filled in by `suite`, which owns the server process.
    pub server: Option<ServerCost>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorCost {
    pub cpu_secs: f64,
    pub wall_secs: f64,
    /// CPU seconds per wall second.
    pub cores_used: f64,
    pub machine_cores: usize,
    /// Set when the generator used enough CPU to limit what it measured.
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerCost {
    pub cpu_secs: f64,
    pub peak_rss_mib: f64,
    /// Object-store requests per second, when the server reports them.
    pub object_store: Option<ObjectStoreRates>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreRates {
    pub puts_per_sec: f64,
    pub gets_per_sec: f64,
    /// At S3 Standard request prices ($0.005 per 1,000 PUTs, $0.0004 per 1,000 GETs),
    /// running at these rates for a 30-day month.
    pub usd_per_month: f64,
}

impl ObjectStoreRates {
    pub fn new(puts_per_sec: f64, gets_per_sec: f64) -> Self {
        let month = 30.0 * 24.0 * 3600.0;
        let usd = (puts_per_sec * 0.005 + gets_per_sec * 0.0004) / 1000.0 * month;
        Self {
            puts_per_sec,
            gets_per_sec,
            usd_per_month: usd,
        }
    }
}

impl WorkloadResult {
    pub fn latency(&self, name: &str) -> Option<&LatencySummary> {
        self.latencies.iter().find(|l| l.name == name)
    }

    /// A human-readable block: the headline figures, then each latency's percentiles.
    pub fn print(&self) {
        println!("== {} ==", self.workload);
        println!("  params      {}", self.params);
        println!(
            "  throughput  {:.1} MiB/s  {:.0} records/s  over {:.1} s",
            self.mib_per_sec, self.records_per_sec, self.measured_secs
        );
        for (k, v) in &self.figures {
            println!("  {k:<11} {v:.2}");
        }
        if !self.latencies.is_empty() {
            println!(
                "  {:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}   (ms)",
                "latency", "n", "p50", "p90", "p99", "p99.9", "max"
            );
        }
        for l in &self.latencies {
            println!(
                "  {:<10} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}   {}",
                l.name, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.what
            );
        }
        let g = &self.generator;
        println!(
            "  generator   {:.1} CPU s over {:.1} s = {:.2} of {} cores",
            g.cpu_secs, g.wall_secs, g.cores_used, g.machine_cores
        );
        if let Some(w) = &g.warning {
            println!("  WARNING     {w}");
        }
        if let Some(s) = &self.server {
            println!(
                "  server      {:.1} CPU s, peak RSS {:.0} MiB",
                s.cpu_secs, s.peak_rss_mib
            );
            if let Some(o) = &s.object_store {
                println!(
                    "  objects     {:.1} PUT/s, {:.1} GET/s (S3 Standard: ${:.0}/month)",
                    o.puts_per_sec, o.gets_per_sec, o.usd_per_month
                );
            }
        }
        if self.errors > 0 {
            println!(
                "  ERRORS      {} (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            );
        }
    }
}

/// CPU seconds this process has used (user + system).
pub fn process_cpu_secs() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Measures the generator's own CPU over a workload.
pub struct GeneratorClock {
    cpu0: f64,
    wall0: std::time::Instant,
}

impl GeneratorClock {
    pub fn start() -> Self {
        Self {
            cpu0: process_cpu_secs(),
            wall0: std::time::Instant::now(),
        }
    }

    pub fn finish(&self) -> GeneratorCost {
        let cpu_secs = process_cpu_secs() - self.cpu0;
        let wall_secs = self.wall0.elapsed().as_secs_f64();
        let cores_used = cpu_secs / wall_secs.max(1e-9);
        let machine_cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        // The generator shares the machine with the server: past half of it, the server
        // may have been starved by the load it was being measured under.
        let warning = (cores_used > machine_cores as f64 * 0.5).then(|| {
            format!(
                "the generator used {cores_used:.2} of {machine_cores} cores; \
                 the server may have been CPU-starved, so this result is a lower bound"
            )
        });
        GeneratorCost {
            cpu_secs,
            wall_secs,
            cores_used,
            machine_cores,
            warning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_cost_follows_the_price_list() {
        // 10 PUT/s for a month: 25.92M PUTs at $0.005 per 1,000 = $129.6.
        let r = ObjectStoreRates::new(10.0, 0.0);
        assert!(
            (r.usd_per_month - 129.6).abs() < 0.01,
            "{}",
            r.usd_per_month
        );
    }

    #[test]
    fn process_cpu_time_is_measured() {
        let before = process_cpu_secs();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_secs() > before);
    }
}
