//! Latency recording: one HdrHistogram per measured quantity, shared by the workload's
//! tasks, and the summary a report prints (p50 … max plus the full percentile
//! distribution for plots).

use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// Values are microseconds from 1 µs to 10 minutes, three significant digits.
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// A histogram many tasks record into. Recording takes a short uncontended lock; at the
/// rates a two-core generator reaches that costs far less than the request itself.
pub struct LatencyRecorder {
    hist: Mutex<Histogram<u64>>,
}

impl LatencyRecorder {
    pub fn new() -> Self {
        Self {
            hist: Mutex::new(new_histogram()),
        }
    }

    pub fn record(&self, latency: Duration) {
        self.record_n(latency, 1);
    }

    /// `n` samples of the same latency (records of one batch seen at one instant).
    pub fn record_n(&self, latency: Duration, n: u64) {
        let us = (latency.as_micros() as u64).clamp(LOWEST_US, HIGHEST_US);
        self.hist
            .lock()
            .expect("latency lock")
            .saturating_record_n(us, n)
    }

    pub fn snapshot(&self) -> Histogram<u64> {
        self.hist.lock().expect("latency lock").clone()
    }

    pub fn summary(&self, name: &str, what: &str) -> LatencySummary {
        LatencySummary::of(name, what, &self.snapshot())
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS).expect("valid bounds")
}

/// Percentiles in milliseconds, and the distribution (percentile, ms) for plotting.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LatencySummary {
    pub name: String,
    /// What was measured, from when to when.
    pub what: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub distribution: Vec<(f64, f64)>,
}

impl LatencySummary {
    pub fn of(name: &str, what: &str, h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let distribution = if h.is_empty() {
            Vec::new()
        } else {
            h.iter_quantiles(4)
                .map(|v| (v.quantile_iterated_to() * 100.0, ms(v.value_iterated_to())))
                .collect()
        };
        Self {
            name: name.to_string(),
            what: what.to_string(),
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
            distribution,
        }
    }

    /// The HdrHistogram-style percentile distribution as text.
    pub fn distribution_text(&self) -> String {
        let mut out = format!("{:>12} {:>12}\n", "percentile", "latency_ms");
        for (p, v) in &self.distribution {
            out.push_str(&format!("{p:>12.5} {v:>12.3}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_samples() {
        let r = LatencyRecorder::new();
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms));
        }
        let s = r.summary("ack", "test");
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{}", s.p50_ms);
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{}", s.p99_ms);
        assert!((s.max_ms - 100.0).abs() < 0.1, "{}", s.max_ms);
        assert!(s.distribution.len() > 5);
        assert!(s.distribution.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let r = LatencyRecorder::new();
        r.record(Duration::ZERO);
        r.record(Duration::from_secs(100_000));
        assert_eq!(r.snapshot().len(), 2);
    }
}
