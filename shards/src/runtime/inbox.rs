//! A bounded crossbeam-channel with an async wake-up: the way every message reaches a shard.
//! Senders may live on any thread; the one receiver is polled by its shard's pump task and
//! parks without blocking the thread. When the last sender drops, the receiver is woken so
//! it sees the disconnect (otherwise shutdown could hang).

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use futures::task::AtomicWaker;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

struct Shared<T> {
    tx: Sender<T>,
    waker: Arc<AtomicWaker>,
    /// Set when the receiver goes: sends fail at once instead of queueing for no one.
    closed: Arc<AtomicBool>,
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        self.waker.wake();
    }
}

pub struct InboxSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for InboxSender<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

pub struct InboxReceiver<T> {
    rx: Receiver<T>,
    waker: Arc<AtomicWaker>,
    closed: Arc<AtomicBool>,
}

/// A bounded channel keeps its buffered messages while any sender lives, even with no
/// receiver; a message carrying a reply channel would then leave its caller waiting for
/// good. So the receiver drops what is left: callers see their reply channel close.
impl<T> Drop for InboxReceiver<T> {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        while self.rx.try_recv().is_ok() {}
    }
}

/// The inbox is full: the caller must shed load rather than queue without bound.
#[derive(Debug)]
pub struct InboxFull<T>(pub T);

pub fn inbox<T>(capacity: usize) -> (InboxSender<T>, InboxReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let waker = Arc::new(AtomicWaker::new());
    let closed = Arc::new(AtomicBool::new(false));
    (
        InboxSender {
            shared: Arc::new(Shared {
                tx,
                waker: waker.clone(),
                closed: closed.clone(),
            }),
        },
        InboxReceiver { rx, waker, closed },
    )
}

impl<T> InboxSender<T> {
    /// Messages waiting now (for `/metrics`).
    pub fn len(&self) -> usize {
        self.shared.tx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.tx.is_empty()
    }

    /// Never blocks: a full inbox hands the message back.
    pub fn try_send(&self, msg: T) -> Result<(), InboxFull<T>> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(InboxFull(msg));
        }
        match self.shared.tx.try_send(msg) {
            Ok(()) => {
                self.shared.waker.wake();
                Ok(())
            }
            Err(TrySendError::Full(m)) | Err(TrySendError::Disconnected(m)) => Err(InboxFull(m)),
        }
    }
}

impl<T> InboxReceiver<T> {
    /// The next message, or `None` once every sender is gone.
    pub async fn recv(&self) -> Option<T> {
        poll_fn(|cx| match self.rx.try_recv() {
            Ok(m) => Poll::Ready(Some(m)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                self.waker.register(cx.waker());
                // Re-check after registering so a send racing the registration is not lost.
                match self.rx.try_recv() {
                    Ok(m) => Poll::Ready(Some(m)),
                    Err(TryRecvError::Disconnected) => Poll::Ready(None),
                    Err(TryRecvError::Empty) => Poll::Pending,
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_inbox_hands_back_and_disconnect_ends() {
        let (tx, rx) = inbox::<u32>(1);
        tx.try_send(1).unwrap();
        assert!(matches!(tx.try_send(2), Err(InboxFull(2))));
        drop(tx);
        futures::executor::block_on(async {
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(rx.recv().await, None);
        });
    }

    #[test]
    fn messages_left_behind_are_dropped_with_the_receiver() {
        let (tx, rx) = inbox::<futures::channel::oneshot::Sender<()>>(4);
        let (reply, answer) = futures::channel::oneshot::channel();
        tx.try_send(reply).unwrap();
        drop(rx);
        // The sender lives on, yet the caller learns nobody will answer.
        assert!(futures::executor::block_on(answer).is_err());
        let (late, _answer) = futures::channel::oneshot::channel();
        assert!(tx.try_send(late).is_err(), "a closed inbox refuses sends");
    }

    #[test]
    fn wakes_across_threads() {
        let (tx, rx) = inbox::<u32>(4);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.try_send(7).unwrap();
        });
        assert_eq!(futures::executor::block_on(rx.recv()), Some(7));
        t.join().unwrap();
    }
}
