//! Slows a partition's writes before SlateDB has to stop them.
//!
//! SlateDB stops turning memtables into L0 SSTs while a partition's L0 is full, and then
//! every write to the partition waits until compaction makes room: a freeze of a second or
//! more when writers offer more than compaction keeps up with. Instead, once the L0 holds
//! more than a soft mark, the partition's rounds are paced: a round may start only once the
//! bytes before it have been paid for at the partition's *paced rate*. That rate starts a
//! little below what the partition was writing, falls (x0.8) each time the L0 grows and
//! rises (x1.25) each time it shrinks, until the L0 is back under the mark. Writers see acks
//! slow down smoothly (waiting rounds grow, so each flush carries more) rather than stop;
//! appends that find no room in the in-flight budget meanwhile get the usual 429.
//!
//! The L0 count comes from the partition's storage runtime (`l0_watch`), which keeps it
//! fresh while it is over the mark.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The paced rate never falls below this, so a partition always makes progress.
const RATE_MIN: f64 = 1024.0 * 1024.0;
/// How long the recent write rate is measured over.
const WINDOW: Duration = Duration::from_millis(500);

pub struct WritePacer {
    /// The partition's L0 SST count, as its database last saw it.
    l0: Arc<AtomicUsize>,
    /// Pacing starts above this many L0 SSTs.
    soft: usize,
    state: RefCell<PaceState>,
}

struct PaceState {
    /// Bytes per second while pacing; `None` while the L0 is under the mark.
    rate: Option<f64>,
    /// The L0 count when the rate was last adjusted.
    seen_l0: usize,
    /// When the next round may start.
    next_free: Instant,
    /// The write rate over the last complete window, and the window being measured.
    recent: f64,
    window_start: Instant,
    window_bytes: usize,
}

impl WritePacer {
    pub fn new(l0: Arc<AtomicUsize>, soft: usize) -> WritePacer {
        let now = Instant::now();
        WritePacer {
            l0,
            soft,
            state: RefCell::new(PaceState {
                rate: None,
                seen_l0: 0,
                next_free: now,
                recent: 0.0,
                window_start: now,
                window_bytes: 0,
            }),
        }
    }

    /// How long a round writing to this partition must wait before it starts.
    pub fn delay(&self, now: Instant) -> Duration {
        let mut s = self.state.borrow_mut();
        let l0 = self.l0.load(Ordering::Relaxed);
        let rate = (l0 > self.soft).then(|| {
            let rate = match s.rate {
                None => s.recent * 0.9,
                Some(r) if l0 > s.seen_l0 => r * 0.8,
                Some(r) if l0 < s.seen_l0 => r * 1.25,
                Some(r) => r,
            };
            rate.max(RATE_MIN)
        });
        // The wait already owed was priced at the old rate: reprice it at the new one (and
        // forgive it when pacing ends), so a rising rate or an emptied L0 frees rounds now.
        s.next_free = match (s.rate, rate) {
            (Some(old), Some(new)) => {
                let owed = s.next_free.saturating_duration_since(now);
                now + owed.mul_f64(old / new)
            }
            _ => s.next_free.min(now),
        };
        s.rate = rate;
        s.seen_l0 = l0;
        match s.rate {
            Some(_) => s.next_free.saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }

    /// Records that a round wrote `bytes` to this partition at `now`.
    pub fn dispatched(&self, bytes: usize, now: Instant) {
        let mut s = self.state.borrow_mut();
        let elapsed = now.saturating_duration_since(s.window_start);
        if elapsed >= WINDOW {
            s.recent = s.window_bytes as f64 / elapsed.as_secs_f64();
            s.window_start = now;
            s.window_bytes = 0;
        }
        s.window_bytes += bytes;
        s.next_free = match s.rate {
            Some(rate) => s.next_free.max(now) + Duration::from_secs_f64(bytes as f64 / rate),
            None => now,
        };
    }

    /// The paced rate in bytes per second, if pacing.
    #[cfg(test)]
    fn rate(&self) -> Option<f64> {
        self.state.borrow().rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn no_delay_under_the_mark() {
        let l0 = Arc::new(AtomicUsize::new(3));
        let p = WritePacer::new(l0, 8);
        let t = Instant::now();
        for i in 0..100 {
            let now = t + Duration::from_millis(i);
            assert_eq!(p.delay(now), Duration::ZERO);
            p.dispatched(MIB, now);
        }
        assert_eq!(p.rate(), None);
    }

    #[test]
    fn over_the_mark_rounds_are_spaced_and_the_rate_follows_the_l0() {
        let l0 = Arc::new(AtomicUsize::new(0));
        let p = WritePacer::new(l0.clone(), 8);
        let t = Instant::now();
        // 100 MiB/s for a second: 1 MiB every 10 ms.
        for i in 0..100 {
            let now = t + Duration::from_millis(10 * i);
            p.delay(now);
            p.dispatched(MIB, now);
        }
        let now = t + Duration::from_secs(1);
        l0.store(9, Ordering::Relaxed);
        assert_eq!(
            p.delay(now),
            Duration::ZERO,
            "the first paced round goes at once"
        );
        let start = p.rate().unwrap();
        assert!((80e6..100e6).contains(&start), "{start}");
        p.dispatched(10 * MIB, now);
        // 10 MiB at ~90 MiB/s: the next round waits ~110 ms.
        let wait = p.delay(now);
        assert!(wait > Duration::from_millis(100) && wait < Duration::from_millis(130));
        // The L0 grows: slower; it shrinks: faster; under the mark: free.
        l0.store(10, Ordering::Relaxed);
        let slower = p.delay(now);
        assert!((p.rate().unwrap() - start * 0.8).abs() < 1.0);
        // What was owed is repriced at each new rate.
        assert!(slower.abs_diff(wait.mul_f64(1.25)) < Duration::from_millis(1));
        l0.store(9, Ordering::Relaxed);
        let again = p.delay(now);
        assert!((p.rate().unwrap() - start).abs() < 1.0);
        assert!(again.abs_diff(wait) < Duration::from_millis(1));
        l0.store(8, Ordering::Relaxed);
        assert_eq!(p.delay(now), Duration::ZERO);
        assert_eq!(p.rate(), None);
        // Pacing again later owes nothing from before.
        l0.store(9, Ordering::Relaxed);
        assert_eq!(p.delay(now), Duration::ZERO);
    }

    #[test]
    fn the_rate_has_a_floor() {
        let l0 = Arc::new(AtomicUsize::new(9));
        let p = WritePacer::new(l0.clone(), 8);
        let now = Instant::now();
        for n in 10..60 {
            l0.store(n, Ordering::Relaxed);
            p.delay(now);
        }
        assert_eq!(p.rate(), Some(RATE_MIN));
    }
}
