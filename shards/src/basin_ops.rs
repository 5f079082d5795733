//! Basin control-plane operations on the partition that holds the basin (API.md §5).

use crate::error::ShardError;
use crate::kv::{self, BasinMeta, CreationKey};
use crate::limits::BASINS_PER_PARTITION_MAX;
use crate::partition::Partition;
use protocol::config::{BasinConfig, BasinReconfiguration};
use protocol::names::BasinName;
use slatedb::WriteBatch;

/// What a create or ensure did: the `s2-provision-result` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    Created,
    Updated,
    Noop,
}

/// One page of a listing, in name order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

/// Which names a listing wants: those starting with `prefix`, strictly after `start_after`.
#[derive(Debug, Clone)]
pub struct NameRange {
    pub prefix: String,
    pub start_after: String,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct BasinEntry {
    pub name: BasinName,
    pub meta: BasinMeta,
}

impl NameRange {
    /// Walks `map` in order from the right place, taking up to `limit` matches and noting
    /// whether one more exists.
    pub(crate) fn page<K, V, T>(
        &self,
        map: &std::collections::BTreeMap<K, V>,
        mut f: impl FnMut(&K, &V) -> T,
    ) -> Page<T>
    where
        K: Ord + std::borrow::Borrow<str>,
    {
        use std::ops::Bound;
        let start = if self.start_after.as_str() >= self.prefix.as_str() {
            Bound::Excluded(self.start_after.as_str())
        } else {
            Bound::Included(self.prefix.as_str())
        };
        let mut items = Vec::new();
        let mut has_more = false;
        let matches = map
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.borrow().starts_with(self.prefix.as_str()));
        for (k, v) in matches {
            if items.len() == self.limit {
                has_more = true;
                break;
            }
            items.push(f(k, v));
        }
        Page { items, has_more }
    }
}

impl Partition {
    pub fn list_basins(&self, range: &NameRange) -> Page<BasinEntry> {
        range.page(&self.basins.borrow(), |name, meta| BasinEntry {
            name: name.clone(),
            meta: meta.clone(),
        })
    }

    pub fn get_basin(&self, name: &BasinName) -> Result<BasinEntry, ShardError> {
        self.basins
            .borrow()
            .get(name)
            .map(|meta| BasinEntry {
                name: name.clone(),
                meta: meta.clone(),
            })
            .ok_or_else(|| ShardError::BasinNotFound(name.clone()))
    }

    pub async fn create_basin(
        &self,
        name: BasinName,
        config: BasinConfig,
        request_token: Option<String>,
    ) -> Result<(BasinEntry, Provision), ShardError> {
        let _guard = self.meta_lock.lock().await;
        let creation = request_token.map(|t| CreationKey {
            request_token: t,
            config_json: serde_json::to_string(&config).expect("config serializes"),
        });
        if let Some(existing) = self.basins.borrow().get(&name) {
            if existing.deleted_at_nanos.is_some() {
                return Err(ShardError::BasinDeletionPending(name));
            }
            if creation.is_some() && existing.creation == creation {
                let entry = BasinEntry {
                    name,
                    meta: existing.clone(),
                };
                return Ok((entry, Provision::Noop));
            }
            return Err(ShardError::BasinAlreadyExists(name));
        }
        let meta = BasinMeta {
            config,
            created_at_nanos: self.now_nanos(),
            deleted_at_nanos: None,
            creation,
        };
        self.put_basin(&name, meta)
            .await
            .map(|e| (e, Provision::Created))
    }

    /// PUT: create, or replace the config wholesale, keeping `created_at` and the
    /// idempotency key.
    pub async fn ensure_basin(
        &self,
        name: BasinName,
        config: BasinConfig,
    ) -> Result<(BasinEntry, Provision), ShardError> {
        let _guard = self.meta_lock.lock().await;
        let existing = self.basins.borrow().get(&name).cloned();
        match existing {
            Some(m) if m.deleted_at_nanos.is_some() => Err(ShardError::BasinDeletionPending(name)),
            Some(m) if m.config == config => Ok((BasinEntry { name, meta: m }, Provision::Noop)),
            Some(m) => {
                let meta = BasinMeta { config, ..m };
                self.put_basin(&name, meta)
                    .await
                    .map(|e| (e, Provision::Updated))
            }
            None => {
                let meta = BasinMeta {
                    config,
                    created_at_nanos: self.now_nanos(),
                    deleted_at_nanos: None,
                    creation: None,
                };
                self.put_basin(&name, meta)
                    .await
                    .map(|e| (e, Provision::Created))
            }
        }
    }

    pub async fn reconfigure_basin(
        &self,
        name: BasinName,
        patch: BasinReconfiguration,
    ) -> Result<BasinConfig, ShardError> {
        let _guard = self.meta_lock.lock().await;
        let current = self.get_basin(&name)?.meta;
        if current.deleted_at_nanos.is_some() {
            return Err(ShardError::BasinDeletionPending(name));
        }
        let config = current.config.clone().reconfigure(patch);
        if config == current.config {
            return Ok(config);
        }
        let meta = BasinMeta { config, ..current };
        self.put_basin(&name, meta).await.map(|e| e.meta.config)
    }

    /// Marks the basin deleted; returns whether this call did (so it starts the cleanup).
    pub async fn delete_basin(&self, name: BasinName) -> Result<bool, ShardError> {
        let _guard = self.meta_lock.lock().await;
        let current = self.get_basin(&name)?.meta;
        if current.deleted_at_nanos.is_some() {
            return Ok(false);
        }
        let meta = BasinMeta {
            deleted_at_nanos: Some(self.now_nanos()),
            ..current
        };
        self.put_basin(&name, meta).await.map(|_| true)
    }

    /// Final step of a basin's deletion, once none of its streams remain.
    pub async fn remove_basin(&self, name: BasinName) -> Result<(), ShardError> {
        let _guard = self.meta_lock.lock().await;
        let marked =
            matches!(self.basins.borrow().get(&name), Some(m) if m.deleted_at_nanos.is_some());
        if !marked {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        batch.delete(kv::basin_meta::key(&name));
        self.write_durable(batch).await?;
        self.basins.borrow_mut().remove(&name);
        Ok(())
    }

    /// Basins marked deleted whose cleanup must (re)start, e.g. after a restart.
    pub fn basins_pending_deletion(&self) -> Vec<BasinName> {
        self.basins
            .borrow()
            .iter()
            .filter(|(_, m)| m.deleted_at_nanos.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    async fn put_basin(&self, name: &BasinName, meta: BasinMeta) -> Result<BasinEntry, ShardError> {
        let is_new = !self.basins.borrow().contains_key(name);
        if is_new && self.basins.borrow().len() >= BASINS_PER_PARTITION_MAX {
            return Err(ShardError::CapacityExceeded {
                what: "basins per partition",
                limit: BASINS_PER_PARTITION_MAX,
            });
        }
        let mut batch = WriteBatch::new();
        batch.put(
            kv::basin_meta::key(name),
            kv::basin_meta::encode_value(&meta),
        );
        self.write_durable(batch).await?;
        self.basins.borrow_mut().insert(name.clone(), meta.clone());
        Ok(BasinEntry {
            name: name.clone(),
            meta,
        })
    }
}
