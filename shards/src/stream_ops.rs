//! Stream control-plane operations on the partition that holds the stream (API.md §6).
//! The basin checks (exists, not being deleted) happen before, on the basin's partition; the
//! basin's defaults and cipher arrive here as a [`BasinView`].

use crate::basin_ops::{NameRange, Page, Provision};
use crate::error::ShardError;
use crate::kv::{self, CreationKey, StreamMeta};
use crate::limits::STREAMS_PER_PARTITION_MAX;
use crate::partition::Partition;
use protocol::config::{Cipher, StreamConfig, StreamReconfiguration};
use protocol::names::{BasinName, StreamName};
use slatedb::WriteBatch;

/// What a stream operation needs to know of its basin.
#[derive(Debug, Clone, Default)]
pub struct BasinView {
    pub default_stream_config: Option<StreamConfig>,
    pub stream_cipher: Option<Cipher>,
}

#[derive(Debug, Clone)]
pub struct StreamEntry {
    pub name: StreamName,
    pub meta: StreamMeta,
}

impl Partition {
    pub fn list_streams(&self, basin: &BasinName, range: &NameRange) -> Page<StreamEntry> {
        match self.streams.borrow().get(basin) {
            Some(streams) => range.page(streams, |name, meta| StreamEntry {
                name: name.clone(),
                meta: meta.clone(),
            }),
            None => Page {
                items: Vec::new(),
                has_more: false,
            },
        }
    }

    pub(crate) fn stream_meta(&self, basin: &BasinName, stream: &StreamName) -> Option<StreamMeta> {
        self.streams.borrow().get(basin)?.get(stream).cloned()
    }

    /// The stream's metadata if it exists and is not being deleted.
    pub fn get_stream(
        &self,
        basin: &BasinName,
        stream: &StreamName,
    ) -> Result<StreamEntry, ShardError> {
        match self.stream_meta(basin, stream) {
            None => Err(not_found(basin, stream)),
            Some(m) if m.deleted_at_nanos.is_some() => Err(deletion_pending(basin, stream)),
            Some(meta) => Ok(StreamEntry {
                name: stream.clone(),
                meta,
            }),
        }
    }

    pub async fn create_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
        requested: StreamConfig,
        view: BasinView,
        request_token: Option<String>,
    ) -> Result<(StreamEntry, Provision), ShardError> {
        let _guard = self.meta_lock.lock().await;
        let creation = request_token.map(|t| CreationKey {
            request_token: t,
            config_json: serde_json::to_string(&requested).expect("config serializes"),
        });
        if let Some(existing) = self.stream_meta(&basin, &stream) {
            if existing.deleted_at_nanos.is_some() {
                return Err(deletion_pending(&basin, &stream));
            }
            if creation.is_some() && existing.creation == creation {
                let entry = StreamEntry {
                    name: stream,
                    meta: existing,
                };
                return Ok((entry, Provision::Noop));
            }
            return Err(ShardError::StreamAlreadyExists { basin, stream });
        }
        let meta = self.new_stream_meta(&requested, &view, creation);
        self.put_stream(&basin, &stream, meta)
            .await
            .map(|e| (e, Provision::Created))
    }

    /// PUT: create, or replace the resolved config wholesale.
    pub async fn ensure_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
        requested: StreamConfig,
        view: BasinView,
    ) -> Result<(StreamEntry, Provision), ShardError> {
        let _guard = self.meta_lock.lock().await;
        match self.stream_meta(&basin, &stream) {
            Some(m) if m.deleted_at_nanos.is_some() => Err(deletion_pending(&basin, &stream)),
            Some(m) => {
                let config = requested.resolve(view.default_stream_config.as_ref());
                if config == m.config {
                    return Ok((
                        StreamEntry {
                            name: stream,
                            meta: m,
                        },
                        Provision::Noop,
                    ));
                }
                let meta = StreamMeta { config, ..m };
                self.put_stream(&basin, &stream, meta)
                    .await
                    .map(|e| (e, Provision::Updated))
            }
            None => {
                let meta = self.new_stream_meta(&requested, &view, None);
                self.put_stream(&basin, &stream, meta)
                    .await
                    .map(|e| (e, Provision::Created))
            }
        }
    }

    /// PATCH: applied to the stored config, then resolved against the basin's *current*
    /// defaults, so a cleared field falls back to them.
    pub async fn reconfigure_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
        patch: StreamReconfiguration,
        view: BasinView,
    ) -> Result<StreamEntry, ShardError> {
        let _guard = self.meta_lock.lock().await;
        let current = self.get_stream(&basin, &stream)?.meta;
        let config = current
            .config
            .to_config()
            .reconfigure(patch)
            .resolve(view.default_stream_config.as_ref());
        if config == current.config {
            return Ok(StreamEntry {
                name: stream,
                meta: current,
            });
        }
        let meta = StreamMeta { config, ..current };
        self.put_stream(&basin, &stream, meta).await
    }

    /// Marks the stream deleted; returns whether this call did (so it starts the cleanup).
    pub async fn delete_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
    ) -> Result<bool, ShardError> {
        let _guard = self.meta_lock.lock().await;
        let current = self
            .stream_meta(&basin, &stream)
            .ok_or_else(|| not_found(&basin, &stream))?;
        if current.deleted_at_nanos.is_some() {
            return Ok(false);
        }
        let id = current.id;
        let meta = StreamMeta {
            deleted_at_nanos: Some(self.now_nanos()),
            ..current
        };
        self.put_stream(&basin, &stream, meta).await?;
        // Readers waiting at the tail learn of the deletion now, not at their deadline.
        if let Some(state) = self.states.borrow().get(&id) {
            state.borrow().changed.notify_all();
        }
        Ok(true)
    }

    /// Final step of a stream's deletion: its metadata goes and the name is free again.
    /// (Once records exist, they are removed before this.)
    pub async fn remove_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
    ) -> Result<(), ShardError> {
        let id = match self.stream_meta(&basin, &stream) {
            Some(m) if m.deleted_at_nanos.is_some() => m.id,
            _ => return Ok(()),
        };
        // The mark stops new appends at sequencing (see `append`); wait for those already
        // sequenced, so none can write a record or the position after the scan below.
        let state = self.states.borrow().get(&id).cloned();
        if let Some(state) = state {
            loop {
                let changed = {
                    let st = state.borrow();
                    if st.inflight == 0 {
                        break;
                    }
                    st.changed.listen()
                };
                let _ = changed.await;
            }
        }
        // Records and position first, without `meta_lock` (a bulk delete must not stall
        // the partition's control plane; the mark keeps everyone else off this stream). If
        // we crash here, the mark is still there and the cleanup runs again on start-up.
        self.delete_stream_data(id).await?;
        self.states.borrow_mut().remove(&id);
        let _guard = self.meta_lock.lock().await;
        if self.stream_meta(&basin, &stream).map(|m| m.id) != Some(id) {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        batch.delete(kv::stream_meta::key(&basin, &stream));
        self.write_durable(batch).await?;
        let mut streams = self.streams.borrow_mut();
        if let Some(of_basin) = streams.get_mut(&basin) {
            if of_basin.remove(&stream).is_some() {
                self.stream_count.set(self.stream_count.get() - 1);
            }
            if of_basin.is_empty() {
                streams.remove(&basin);
            }
        }
        Ok(())
    }

    /// Streams whose metadata passes `keep`, in name order.
    pub(crate) fn streams_with(
        &self,
        keep: impl Fn(&StreamMeta) -> bool,
    ) -> Vec<(BasinName, StreamName, StreamMeta)> {
        let streams = self.streams.borrow();
        streams
            .iter()
            .flat_map(|(b, of_basin)| {
                of_basin
                    .iter()
                    .filter(|(_, m)| keep(m))
                    .map(move |(s, m)| (b.clone(), s.clone(), m.clone()))
            })
            .collect()
    }

    /// Streams marked deleted whose cleanup must (re)start, e.g. after a restart.
    pub fn streams_pending_deletion(&self) -> Vec<(BasinName, StreamName)> {
        self.streams_with(|m| m.deleted_at_nanos.is_some())
            .into_iter()
            .map(|(b, s, _)| (b, s))
            .collect()
    }

    fn new_stream_meta(
        &self,
        requested: &StreamConfig,
        view: &BasinView,
        creation: Option<CreationKey>,
    ) -> StreamMeta {
        let id = self.next_stream_id.get();
        self.next_stream_id.set(id + 1);
        StreamMeta {
            id,
            config: requested.resolve(view.default_stream_config.as_ref()),
            cipher: view.stream_cipher,
            created_at_nanos: self.now_nanos(),
            deleted_at_nanos: None,
            creation,
        }
    }

    async fn put_stream(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        meta: StreamMeta,
    ) -> Result<StreamEntry, ShardError> {
        let is_new = self.stream_meta(basin, stream).is_none();
        if is_new && self.stream_count.get() >= STREAMS_PER_PARTITION_MAX {
            return Err(ShardError::CapacityExceeded {
                what: "streams per partition",
                limit: STREAMS_PER_PARTITION_MAX,
            });
        }
        let mut batch = WriteBatch::new();
        batch.put(
            kv::stream_meta::key(basin, stream),
            kv::stream_meta::encode_value(&meta),
        );
        if is_new {
            // Durable with the stream: its id is never handed out again.
            let next = self.next_stream_id.get().max(meta.id + 1);
            batch.put(
                kv::stream_id_counter::key(),
                kv::stream_id_counter::encode_value(next),
            );
        }
        self.write_durable(batch).await?;
        let previous = self
            .streams
            .borrow_mut()
            .entry(basin.clone())
            .or_default()
            .insert(stream.clone(), meta.clone());
        if previous.is_none() {
            self.stream_count.set(self.stream_count.get() + 1);
        }
        Ok(StreamEntry {
            name: stream.clone(),
            meta,
        })
    }
}

fn not_found(basin: &BasinName, stream: &StreamName) -> ShardError {
    ShardError::StreamNotFound {
        basin: basin.clone(),
        stream: stream.clone(),
    }
}

fn deletion_pending(basin: &BasinName, stream: &StreamName) -> ShardError {
    ShardError::StreamDeletionPending {
        basin: basin.clone(),
        stream: stream.clone(),
    }
}
