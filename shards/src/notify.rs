//! A one-shot broadcast inside a shard: tasks wait for "something changed" (a stream's
//! durable tail moved, in-flight bytes were released) and all are woken at once. Single
//! threaded (`Rc`), so no locks; waiters that went away are simply dropped.

use futures::channel::oneshot;
use std::cell::RefCell;

#[derive(Default)]
pub struct Notify {
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Notify {
    /// A future that resolves at the next `notify_all` (or when the notifier is dropped).
    pub fn listen(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut w = self.waiters.borrow_mut();
        // Drop waiters whose listeners gave up, so a busy stream's list stays small.
        w.retain(|t| !t.is_canceled());
        w.push(tx);
        rx
    }

    pub fn notify_all(&self) {
        for tx in self.waiters.borrow_mut().drain(..) {
            let _ = tx.send(());
        }
    }
}
