//! The measurement window of one run: a warm-up whose samples are discarded, a measured
//! span, counters of what completed inside it, and the live progress line.

use crate::latency::LatencyRecorder;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Meter {
    pub started: Instant,
    pub measure_from: Instant,
    pub measure_until: Instant,
    stop: AtomicBool,
    bytes: AtomicU64,
    records: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Meter {
    pub fn new(warmup: Duration, duration: Duration) -> Arc<Self> {
        let started = Instant::now();
        Arc::new(Self {
            started,
            measure_from: started + warmup,
            measure_until: started + warmup + duration,
            stop: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            records: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: std::sync::Mutex::new(None),
        })
    }

    /// Whether something that started at `at` belongs to the measured span.
    pub fn measures(&self, at: Instant) -> bool {
        at >= self.measure_from && at < self.measure_until
    }

    /// Counts completed work if it completed inside the measured span.
    pub fn count(&self, at: Instant, bytes: u64, records: u64) {
        if self.measures(at) {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.records.fetch_add(records, Ordering::Relaxed);
        }
    }

    pub fn error(&self, what: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().expect("error lock");
        if first.is_none() {
            *first = Some(what.to_string());
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= self.measure_until
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    pub fn errors(&self) -> (u64, Option<String>) {
        (
            self.errors.load(Ordering::Relaxed),
            self.first_error.lock().expect("error lock").clone(),
        )
    }

    /// Seconds of the measured span that have passed (for rates while running).
    pub fn measured_secs(&self) -> f64 {
        let now = Instant::now().min(self.measure_until);
        now.saturating_duration_since(self.measure_from)
            .as_secs_f64()
    }
}

/// Prints a progress line every second until the meter stops: rewritten in place on a
/// terminal, one line per two seconds otherwise (logs stay readable).
pub fn spawn_progress(
    label: String,
    meter: Arc<Meter>,
    latency: Option<Arc<LatencyRecorder>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval(Duration::from_secs(if tty { 1 } else { 2 }));
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = Instant::now();
            let phase = if now < meter.measure_from {
                "warm-up"
            } else if now < meter.measure_until {
                "measuring"
            } else {
                "draining"
            };
            let secs = meter.measured_secs().max(1e-9);
            let mut line = format!(
                "[{label}] {phase} {:>5.1}s  {:>8.1} MiB/s  {:>9.0} rec/s",
                now.duration_since(meter.started).as_secs_f64(),
                meter.bytes() as f64 / secs / 1048576.0,
                meter.records() as f64 / secs,
            );
            if let Some(l) = &latency {
                let h = l.snapshot();
                if !h.is_empty() {
                    line.push_str(&format!(
                        "  p50 {:.2} ms  p99 {:.2} ms",
                        h.value_at_quantile(0.5) as f64 / 1000.0,
                        h.value_at_quantile(0.99) as f64 / 1000.0
                    ));
                }
            }
            let (errors, _) = meter.errors();
            if errors > 0 {
                line.push_str(&format!("  errors {errors}"));
            }
            let mut err = std::io::stderr().lock();
            if tty {
                let _ = write!(err, "\r\x1b[2K{line}");
            } else {
                let _ = writeln!(err, "{line}");
            }
            let _ = err.flush();
            if meter.stop.load(Ordering::Relaxed) {
                if tty {
                    let _ = writeln!(err);
                }
                return;
            }
        }
    })
}
