//! Per-client shares of a shard's connection and session pools, so one client (one IP)
//! cannot take them all and lock others out. Each client may hold at most half of each
//! pool; the map holds only clients with something open, so it is bounded by the
//! connection pool itself.

use super::limits::{CONNECTIONS_PER_SHARD_MAX, SESSIONS_PER_SHARD_MAX};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

/// One client's share of each pool.
pub const CONNECTIONS_PER_CLIENT_MAX: usize = CONNECTIONS_PER_SHARD_MAX / 2;
pub const SESSIONS_PER_CLIENT_MAX: usize = SESSIONS_PER_SHARD_MAX / 2;

#[derive(Default, Clone, Copy)]
struct Held {
    connections: usize,
    sessions: usize,
}

#[derive(Clone, Copy)]
pub enum Pool {
    Connections,
    Sessions,
}

/// A shard's per-client counts (shard-local: no locks).
#[derive(Clone, Default)]
pub struct ClientLimits(Rc<RefCell<HashMap<IpAddr, Held>>>);

/// One unit of a client's share, given back on drop (also when its task panics).
pub struct ClientSlot {
    limits: ClientLimits,
    client: IpAddr,
    pool: Pool,
}

impl ClientLimits {
    /// A unit of `pool` for `client`, unless it already holds its share.
    pub fn take(&self, client: IpAddr, pool: Pool) -> Option<ClientSlot> {
        let mut map = self.0.borrow_mut();
        let held = map.entry(client).or_default();
        let (count, max) = match pool {
            Pool::Connections => (&mut held.connections, CONNECTIONS_PER_CLIENT_MAX),
            Pool::Sessions => (&mut held.sessions, SESSIONS_PER_CLIENT_MAX),
        };
        if *count >= max {
            if held.connections == 0 && held.sessions == 0 {
                map.remove(&client);
            }
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            limits: self.clone(),
            client,
            pool,
        })
    }

    #[cfg(test)]
    pub fn clients(&self) -> usize {
        self.0.borrow().len()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.limits.0.borrow_mut();
        if let Some(held) = map.get_mut(&self.client) {
            match self.pool {
                Pool::Connections => held.connections -= 1,
                Pool::Sessions => held.sessions -= 1,
            }
            if held.connections == 0 && held.sessions == 0 {
                map.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_gets_half_and_gives_it_back() {
        let limits = ClientLimits::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<_> = (0..SESSIONS_PER_CLIENT_MAX)
            .map(|_| limits.take(a, Pool::Sessions).unwrap())
            .collect();
        assert!(limits.take(a, Pool::Sessions).is_none());
        assert!(limits.take(b, Pool::Sessions).is_some());
        assert!(limits.take(a, Pool::Connections).is_some());
        drop(held);
        assert!(limits.take(a, Pool::Sessions).is_some());
        assert_eq!(limits.clients(), 0, "empty entries are removed");
    }
}
