//! What the acceptor holds for its clients, counted against one per-shard budget (a share
//! of `--memory-bytes`): each connection's fixed cost, HTTP/1.1 read buffers (heads and
//! bodies), HTTP/2 receive windows (what a peer may send before we read it), buffered
//! request bodies, responses being written, and session frames between socket and shard.
//!
//! A holder takes a [`Lease`] before it holds the bytes and gives them back by dropping it,
//! so a task that ends early (a reset stream, a panic) cannot leak budget. When the budget
//! is spent, readers wait (the client is slowed by TCP or HTTP/2 flow control, not buffered)
//! and give up at their request deadline with 503; new connections are refused.

use shards::notify::Notify;
use shards::runtime::timeout;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held for clients on all shards together, for `/metrics`.
static HELD_TOTAL: AtomicUsize = AtomicUsize::new(0);
/// The most ever held at once since start, for `/metrics` and tests.
static HELD_PEAK: AtomicUsize = AtomicUsize::new(0);

/// (now, peak) bytes held for clients, over all shards.
pub fn held_totals() -> (usize, usize) {
    (
        HELD_TOTAL.load(Ordering::Relaxed),
        HELD_PEAK.load(Ordering::Relaxed),
    )
}
use std::time::{Duration, Instant};

/// One shard's budget. Cheap to clone; single-threaded like the shard.
#[derive(Clone)]
pub struct HeldBytes(Rc<Budget>);

struct Budget {
    capacity: usize,
    /// Heads (connections, request heads) may go this far past `capacity`: a flood of
    /// bodies or sessions must not lock out `/health`, `/metrics` or a small read.
    head_room: usize,
    used: Cell<usize>,
    /// Woken whenever bytes are given back.
    freed: Notify,
}

impl HeldBytes {
    pub fn new(capacity: usize) -> HeldBytes {
        HeldBytes(Rc::new(Budget {
            capacity,
            head_room: capacity / 8,
            used: Cell::new(0),
            freed: Notify::default(),
        }))
    }

    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.0.used.get()
    }

    /// An empty lease for bodies, frames or windows, to grow later.
    pub fn empty(&self) -> Lease {
        Lease {
            budget: self.0.clone(),
            bytes: 0,
            room: Room::Bodies,
        }
    }

    /// `n` bytes now, or nothing if the budget lacks them.
    pub fn try_take(&self, n: usize) -> Option<Lease> {
        let mut lease = self.empty();
        lease.try_grow_to(n).then_some(lease)
    }

    /// `n` bytes now for a connection or a request head, or nothing if even the head
    /// room is spent.
    pub fn try_take_for_head(&self, n: usize) -> Option<Lease> {
        let mut lease = self.empty();
        lease.set_room(Room::Heads);
        lease.try_grow_to(n).then_some(lease)
    }

    /// Up to `n` bytes for a receive window, from what is free beyond half the budget:
    /// windows are credit a peer may or may not use, and must not starve bodies and
    /// frames (possibly none).
    pub fn take_window(&self, n: usize) -> Lease {
        let free = (self.0.capacity / 2).saturating_sub(self.0.used.get());
        let mut lease = self.empty();
        lease.force_grow_to(n.min(free));
        lease
    }

    /// Counts bytes already held (a response that exists), even past the budget: the
    /// excess only makes the next takers wait.
    pub fn charge(&self, n: usize) -> Lease {
        let mut lease = self.empty();
        lease.force_grow_to(n);
        lease
    }
}

/// Bytes taken from a [`HeldBytes`]; given back on drop.
pub struct Lease {
    budget: Rc<Budget>,
    bytes: usize,
    room: Room,
}

/// How far a lease may grow: to the budget, or (heads) into the head room past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    Bodies,
    Heads,
}

/// The budget stayed spent until the deadline.
#[derive(Debug, PartialEq, Eq)]
pub struct Exhausted;

impl Lease {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What later growth is for (an HTTP/1.1 read buffer holds heads, then bodies).
    pub fn set_room(&mut self, room: Room) {
        self.room = room;
    }

    /// Grows to `n` bytes if the budget has them now.
    pub fn try_grow_to(&mut self, n: usize) -> bool {
        if n <= self.bytes {
            return true;
        }
        let more = n - self.bytes;
        let used = self.budget.used.get();
        let limit = match self.room {
            Room::Bodies => self.budget.capacity,
            Room::Heads => self.budget.capacity + self.budget.head_room,
        };
        // A request larger than the whole budget could never be met: it waits for an
        // empty budget instead.
        let fits = used + more <= limit || (used == 0 && self.bytes == 0);
        if fits {
            self.force_grow_to(n);
        }
        fits
    }

    fn force_grow_to(&mut self, n: usize) {
        if n > self.bytes {
            let more = n - self.bytes;
            self.budget.used.set(self.budget.used.get() + more);
            self.bytes = n;
            let total = HELD_TOTAL.fetch_add(more, Ordering::Relaxed) + more;
            HELD_PEAK.fetch_max(total, Ordering::Relaxed);
        }
    }

    /// Grows to `n` bytes, waiting (until `deadline`) for others to give bytes back.
    pub async fn grow_to(&mut self, n: usize, deadline: Instant) -> Result<(), Exhausted> {
        loop {
            if self.try_grow_to(n) {
                return Ok(());
            }
            let freed = self.budget.freed.listen();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || timeout(left, freed).await.is_none() {
                return if self.try_grow_to(n) {
                    Ok(())
                } else {
                    Err(Exhausted)
                };
            }
        }
    }

    /// Gives back all but `n` bytes.
    pub fn shrink_to(&mut self, n: usize) {
        if n < self.bytes {
            let less = self.bytes - n;
            self.budget.used.set(self.budget.used.get() - less);
            self.bytes = n;
            HELD_TOTAL.fetch_sub(less, Ordering::Relaxed);
            self.budget.freed.notify_all();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
}

/// Bytes on their way to a client with their lease: the budget gets them back once the
/// transport has handed them on.
pub struct Held {
    pub bytes: bytes::Bytes,
    _lease: Lease,
}

impl Held {
    pub fn new(bytes: bytes::Bytes, lease: Lease) -> Held {
        Held {
            bytes,
            _lease: lease,
        }
    }
}

/// How long a session frame may wait for budget before its session ends (503).
pub const SESSION_WAIT: Duration = Duration::from_secs(30);

impl HeldBytes {
    /// `bytes` with a lease on them, once the budget has room (waiting at most
    /// [`SESSION_WAIT`]): how every session chunk and frame is held on its way.
    pub async fn hold(&self, bytes: bytes::Bytes) -> Result<Held, Exhausted> {
        let mut lease = self.empty();
        lease
            .grow_to(bytes.len(), Instant::now() + SESSION_WAIT)
            .await?;
        Ok(Held::new(bytes, lease))
    }
}

/// The S2 error when the budget stayed spent: 503 `unavailable`, retryable.
pub fn budget_spent() -> protocol::error::ApiError {
    protocol::error::ApiError::new(
        protocol::error::ErrorCode::Unavailable,
        "the server is holding too much client data; retry later",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on(f: impl std::future::Future<Output = ()> + 'static) {
        shards::runtime::block_on_local(f)
    }

    #[test]
    fn leases_are_bounded_and_given_back_on_drop() {
        let budget = HeldBytes::new(100);
        let a = budget.try_take(60).expect("fits");
        assert!(budget.try_take(50).is_none());
        let b = budget.try_take(40).expect("fits exactly");
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        // Windows only from the free half.
        let c = budget.take_window(100);
        assert_eq!(c.bytes(), 10);
        assert_eq!(budget.take_window(100).bytes(), 0);
        drop((b, c));
        assert_eq!(budget.take_window(100).bytes(), 50);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_charge_may_overdraw_and_then_makes_takers_wait() {
        let budget = HeldBytes::new(10);
        let over = budget.charge(25);
        assert_eq!(budget.used(), 25);
        assert!(budget.try_take(1).is_none());
        drop(over);
        assert!(budget.try_take(10).is_some());
    }

    #[test]
    fn a_waiter_grows_when_bytes_are_given_back_and_gives_up_at_its_deadline() {
        block_on(async {
            let budget = HeldBytes::new(100);
            let mut held = budget.try_take(100).expect("fits");
            let mut waiter = budget.empty();
            let soon = Instant::now() + Duration::from_millis(30);
            assert_eq!(waiter.grow_to(10, soon).await, Err(Exhausted));
            assert_eq!(waiter.bytes(), 0);
            let b = budget.clone();
            let freer = shards::runtime::spawn_local(async move {
                shards::runtime::sleep(Duration::from_millis(10)).await;
                held.shrink_to(50);
                drop(b);
                held
            });
            let later = Instant::now() + Duration::from_secs(5);
            assert_eq!(waiter.grow_to(50, later).await, Ok(()));
            let held = freer.await;
            assert_eq!(budget.used(), 100);
            drop((held, waiter));
            assert_eq!(budget.used(), 0);
        });
    }

    #[test]
    fn heads_have_room_past_a_budget_spent_on_bodies() {
        let budget = HeldBytes::new(80);
        let bodies = budget.try_take(80).expect("fits");
        assert!(budget.try_take(1).is_none());
        let head = budget.try_take_for_head(10).expect("head room");
        assert!(budget.try_take_for_head(1).is_none());
        drop((bodies, head));
    }

    #[test]
    fn a_lease_larger_than_the_budget_waits_for_an_empty_one() {
        let budget = HeldBytes::new(10);
        let small = budget.try_take(1).expect("fits");
        assert!(budget.try_take(20).is_none());
        drop(small);
        assert_eq!(budget.try_take(20).map(|l| l.bytes()), Some(20));
    }
}
