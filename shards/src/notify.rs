//! A one-shot broadcast inside a shard: tasks wait for "something changed" (a stream's
//! durable tail moved, in-flight bytes were released) and all are woken at once. Single
//! threaded (`Rc`), so no locks; waiters that went away are simply dropped.

use futures::channel::oneshot;
use std::cell::RefCell;

#[derive(Default)]
pub struct Notify {
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// Waiters left after the last sweep of abandoned ones.
    swept_len: std::cell::Cell<usize>,
}

/// Below this many waiters, abandoned ones are not worth sweeping.
const SWEEP_MIN: usize = 64;

impl Notify {
    /// A future that resolves at the next `notify_all` (or when the notifier is dropped).
    pub fn listen(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut w = self.waiters.borrow_mut();
        // Drop waiters whose listeners gave up, so a stream nobody notifies stays small.
        // Sweep only when the list has doubled since the last sweep: amortised O(1) per
        // listen (1000 followers re-listening after every notify would otherwise cost
        // O(n²) per notification).
        if w.len() >= (2 * self.swept_len.get()).max(SWEEP_MIN) {
            w.retain(|t| !t.is_canceled());
            self.swept_len.set(w.len());
        }
        w.push(tx);
        rx
    }

    pub fn notify_all(&self) {
        for tx in self.waiters.borrow_mut().drain(..) {
            let _ = tx.send(());
        }
        self.swept_len.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_listeners_are_swept_and_live_ones_woken() {
        let n = Notify::default();
        for _ in 0..10_000 {
            drop(n.listen());
        }
        // Sweeps keep the list within twice the live count (or the minimum).
        assert!(n.waiters.borrow().len() <= 2 * SWEEP_MIN);
        let mut live: Vec<_> = (0..100).map(|_| n.listen()).collect();
        n.notify_all();
        assert!(n.waiters.borrow().is_empty());
        for rx in live.iter_mut() {
            assert_eq!(rx.try_recv(), Ok(Some(())));
        }
    }
}
