//! The in-memory object store (`make run`'s default, and the benchmarks'): objects kept as
//! the pieces they were written in, never copied into one buffer.
//!
//! object_store's `InMemory` concatenates a multipart upload's parts (and a payload's pieces)
//! into a fresh buffer. SlateDB uploads every L0 flush and every compaction output that way,
//! so each byte appended was copied once more into memory the kernel had to fault in and
//! zero: about 45% of the server's page faults under saturated appends (docs/PERFORMANCE.md).
//! Here an object is a list of `Bytes` (the parts SlateDB filled, shared, not copied) with
//! their end offsets, and a read of a range inside one piece is a slice of it. Semantics
//! follow object_store's: create-only and e-tag-conditional puts (SlateDB's manifest fencing
//! relies on them), ranges, preconditions, listing with and without a delimiter.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    Attributes, CopyMode, CopyOptions, Error, GetOptions, GetRange, GetResult, GetResultPayload,
    ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions,
    PutPayload, PutResult, Result, UploadPart,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

const STORE: &str = "Memory";

/// One stored object: its pieces in order, and where each ends.
#[derive(Debug)]
struct Object {
    pieces: Vec<Bytes>,
    ends: Vec<u64>,
    e_tag: u64,
    last_modified: DateTime<Utc>,
    attributes: Attributes,
}

impl Object {
    fn new(pieces: impl IntoIterator<Item = Bytes>, e_tag: u64, attributes: Attributes) -> Self {
        let mut kept = Vec::new();
        let mut ends = Vec::new();
        let mut end = 0u64;
        for p in pieces.into_iter().filter(|p| !p.is_empty()) {
            end += p.len() as u64;
            ends.push(end);
            kept.push(p);
        }
        Object {
            pieces: kept,
            ends,
            e_tag,
            last_modified: Utc::now(),
            attributes,
        }
    }

    fn len(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    fn e_tag(&self) -> String {
        format!("\"{}\"", self.e_tag)
    }

    fn meta(&self, location: &Path) -> ObjectMeta {
        ObjectMeta {
            location: location.clone(),
            last_modified: self.last_modified,
            size: self.len(),
            e_tag: Some(self.e_tag()),
            version: None,
        }
    }

    /// The pieces covering `range` (within the object), sliced, without copying.
    fn slices(&self, range: Range<u64>) -> Vec<Bytes> {
        let mut out = Vec::new();
        if range.start >= range.end {
            return out;
        }
        // The first piece ending after `range.start`.
        let mut i = self.ends.partition_point(|&end| end <= range.start);
        while i < self.pieces.len() {
            let piece_start = self.ends[i] - self.pieces[i].len() as u64;
            if piece_start >= range.end {
                break;
            }
            let from = range.start.saturating_sub(piece_start) as usize;
            let to = (range.end.min(self.ends[i]) - piece_start) as usize;
            out.push(self.pieces[i].slice(from..to));
            i += 1;
        }
        out
    }

    /// `range` as one buffer: a slice when it lies in one piece, else a copy of the pieces.
    fn read(&self, range: Range<u64>) -> Bytes {
        let mut slices = self.slices(range.clone());
        match slices.len() {
            0 => Bytes::new(),
            1 => slices.pop().unwrap_or_default(),
            _ => {
                let mut buf = BytesMut::with_capacity((range.end - range.start) as usize);
                for s in &slices {
                    buf.extend_from_slice(s);
                }
                buf.freeze()
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_e_tag: u64,
    objects: BTreeMap<Path, Arc<Object>>,
    /// The bytes of every object, mirrored where appends can read it without the lock.
    held: Arc<AtomicU64>,
}

impl State {
    /// Every change to `objects` goes through here, so `held` stays their sum.
    fn insert(&mut self, location: &Path, object: Object) {
        self.held.fetch_add(object.len(), Ordering::Relaxed);
        if let Some(old) = self.objects.insert(location.clone(), Arc::new(object)) {
            self.held.fetch_sub(old.len(), Ordering::Relaxed);
        }
    }

    fn remove(&mut self, location: &Path) {
        if let Some(old) = self.objects.remove(location) {
            self.held.fetch_sub(old.len(), Ordering::Relaxed);
        }
    }

    fn take_e_tag(&mut self) -> u64 {
        let t = self.next_e_tag;
        self.next_e_tag += 1;
        t
    }
}

/// See the module comment. Cloning shares the contents.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A view of how full the store is against `capacity` bytes, for admission.
    pub fn room(&self, capacity: u64) -> StoreRoom {
        StoreRoom {
            held: self.read_state().held.clone(),
            capacity,
        }
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while the lock was held cannot leave the map half-changed (every change is
        // one insert or remove), so a poisoned lock is still sound to use.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn object(&self, location: &Path) -> Result<Arc<Object>> {
        self.read_state()
            .objects
            .get(location)
            .cloned()
            .ok_or_else(|| not_found(location))
    }

    fn resolve(range: &GetRange, len: u64) -> Result<Range<u64>> {
        range.as_range(len).map_err(|e| Error::Generic {
            store: STORE,
            source: Box::new(e),
        })
    }
}

fn not_found(location: &Path) -> Error {
    Error::NotFound {
        path: location.to_string(),
        source: format!("no object at {location}").into(),
    }
}

fn already_exists(location: &Path) -> Error {
    Error::AlreadyExists {
        path: location.to_string(),
        source: format!("an object exists at {location}").into(),
    }
}

fn put_result(e_tag: u64) -> PutResult {
    PutResult {
        e_tag: Some(format!("\"{e_tag}\"")),
        version: None,
        extensions: Default::default(),
    }
}

impl fmt::Display for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemoryStore")
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let mut state = self.write_state();
        let e_tag = state.next_e_tag;
        let object = Object::new(payload, e_tag, opts.attributes);
        match opts.mode {
            PutMode::Overwrite => state.insert(location, object),
            PutMode::Create => {
                if state.objects.contains_key(location) {
                    return Err(already_exists(location));
                }
                state.insert(location, object);
            }
            PutMode::Update(v) => {
                let expected = v.e_tag.ok_or_else(|| Error::Generic {
                    store: STORE,
                    source: "a conditional update needs an e-tag".into(),
                })?;
                let existing = state.objects.get(location).map(|o| o.e_tag());
                if existing.as_deref() != Some(expected.as_str()) {
                    return Err(Error::Precondition {
                        path: location.to_string(),
                        source: format!("{existing:?} does not match {expected}").into(),
                    });
                }
                state.insert(location, object);
            }
        }
        state.take_e_tag();
        Ok(put_result(e_tag))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(Upload {
            store: self.clone(),
            location: location.clone(),
            attributes: opts.attributes,
            pieces: Vec::new(),
            completed: false,
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let object = self.object(location)?;
        let meta = object.meta(location);
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(r) => Self::resolve(r, object.len())?,
            None => 0..object.len(),
        };
        let slices = if options.head {
            Vec::new()
        } else {
            object.slices(range.clone())
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::iter(slices.into_iter().map(Ok)).boxed()),
            meta,
            range,
            attributes: object.attributes.clone(),
            extensions: Default::default(),
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let object = self.object(location)?;
        ranges
            .iter()
            .map(|r| {
                let r = Self::resolve(&GetRange::Bounded(r.clone()), object.len())?;
                Ok(object.read(r))
            })
            .collect()
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let store = self.clone();
        locations
            .map(move |location| {
                let location = location?;
                store.write_state().remove(&location);
                Ok(location)
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let root = Path::default();
        let prefix = prefix.unwrap_or(&root);
        let state = self.read_state();
        let found: Vec<Result<ObjectMeta>> = state
            .objects
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.as_ref().starts_with(prefix.as_ref()))
            // Children only: `a/b` is under `a`, `ab` and `a` itself are not.
            .filter(|(k, _)| {
                k.prefix_match(prefix)
                    .is_some_and(|mut p| p.next().is_some())
            })
            .map(|(k, o)| Ok(o.meta(k)))
            .collect();
        stream::iter(found).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let root = Path::default();
        let prefix = prefix.unwrap_or(&root);
        let mut common_prefixes = BTreeSet::new();
        let mut objects = Vec::new();
        let state = self.read_state();
        for (k, o) in state.objects.range(prefix.clone()..) {
            if !k.as_ref().starts_with(prefix.as_ref()) {
                break;
            }
            let Some(mut parts) = k.prefix_match(prefix) else {
                continue;
            };
            let Some(first) = parts.next() else {
                continue;
            };
            if parts.next().is_some() {
                common_prefixes.insert(prefix.clone().join(first));
            } else {
                objects.push(o.meta(k));
            }
        }
        Ok(ListResult {
            objects,
            common_prefixes: common_prefixes.into_iter().collect(),
            extensions: Default::default(),
        })
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        // Looked up under the write lock, so a copy cannot revive an object deleted meanwhile.
        let mut state = self.write_state();
        let source = state
            .objects
            .get(from)
            .cloned()
            .ok_or_else(|| not_found(from))?;
        if matches!(options.mode, CopyMode::Create) && state.objects.contains_key(to) {
            return Err(already_exists(to));
        }
        let e_tag = state.take_e_tag();
        let copy = Object::new(source.pieces.clone(), e_tag, source.attributes.clone());
        state.insert(to, copy);
        Ok(())
    }
}

/// How full the in-memory store is. Appends are refused while it is full (`append`): the
/// store itself never refuses a write, because SlateDB retries a failed put or closes the
/// database, and its garbage collector and our trims need writes to go on. A soft bound:
/// uploads still in progress count once complete.
#[derive(Debug, Clone)]
pub struct StoreRoom {
    held: Arc<AtomicU64>,
    capacity: u64,
}

impl StoreRoom {
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn is_full(&self) -> bool {
        self.held() >= self.capacity
    }
}

/// A multipart upload: its parts' pieces, kept as they are, become the object on completion.
#[derive(Debug)]
struct Upload {
    store: MemoryStore,
    location: Path,
    attributes: Attributes,
    pieces: Vec<Bytes>,
    completed: bool,
}

#[async_trait]
impl MultipartUpload for Upload {
    fn put_part(&mut self, payload: PutPayload) -> UploadPart {
        self.pieces.extend(payload);
        Box::pin(futures::future::ready(Ok(())))
    }

    async fn complete(&mut self) -> Result<PutResult> {
        // A second completion would otherwise write an empty object over the first.
        if std::mem::replace(&mut self.completed, true) {
            return Err(Error::Generic {
                store: STORE,
                source: "upload already completed".into(),
            });
        }
        let mut state = self.store.write_state();
        let e_tag = state.take_e_tag();
        let object = Object::new(
            std::mem::take(&mut self.pieces),
            e_tag,
            std::mem::take(&mut self.attributes),
        );
        state.insert(&self.location, object);
        Ok(put_result(e_tag))
    }

    async fn abort(&mut self) -> Result<()> {
        self.pieces.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::integration::*;
    use object_store::ObjectStoreExt;

    /// object_store's own conformance suite, as its `InMemory` runs it.
    #[tokio::test]
    async fn passes_object_stores_conformance_suite() {
        let store = MemoryStore::new();
        put_get_delete_list(&store).await;
        list_with_offset_exclusivity(&store).await;
        get_opts(&store).await;
        list_uses_directories_correctly(&store).await;
        list_with_delimiter(&store).await;
        rename_and_copy(&store).await;
        copy_if_not_exists(&store).await;
        stream_get(&store).await;
        put_opts(&store, true).await;
        put_get_attributes(&store).await;
    }

    #[tokio::test]
    async fn parts_are_kept_as_pieces_and_read_back_across_them() {
        let store = MemoryStore::new();
        let path = Path::from("a/sst");
        let mut upload = store.put_multipart(&path).await.unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let part_a = Bytes::copy_from_slice(&data[..3000]);
        let part_b = Bytes::copy_from_slice(&data[3000..7000]);
        let part_c = Bytes::copy_from_slice(&data[7000..]);
        let a_ptr = part_a.as_ptr();
        upload.put_part(part_a.into()).await.unwrap();
        upload
            .put_part(PutPayload::from(Bytes::new()))
            .await
            .unwrap();
        upload.put_part(part_b.into()).await.unwrap();
        upload.put_part(part_c.into()).await.unwrap();
        upload.complete().await.unwrap();
        assert!(upload.complete().await.is_err(), "completed twice");

        // Inside one piece: the stored part itself, not a copy.
        let inside = store.get_range(&path, 100..2000).await.unwrap();
        assert_eq!(inside.as_ptr(), unsafe { a_ptr.add(100) });
        assert_eq!(&inside[..], &data[100..2000]);
        // Across pieces, at their edges, and every way a range can be asked for.
        for r in [
            0..10_000,
            2999..3001,
            3000..7000,
            6999..10_000,
            0..1,
            9999..10_000,
        ] {
            let got = store.get_range(&path, r.clone()).await.unwrap();
            assert_eq!(&got[..], &data[r.start as usize..r.end as usize], "{r:?}");
        }
        let ranges = store
            .get_ranges(&path, &[0..3000, 2500..7500, 9000..20_000])
            .await
            .unwrap();
        assert_eq!(&ranges[1][..], &data[2500..7500]);
        assert_eq!(&ranges[2][..], &data[9000..]);
        let whole = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&whole[..], &data[..]);
        let meta = store.head(&path).await.unwrap();
        assert_eq!(meta.size, 10_000);
        assert!(store.get_range(&path, 10_000..10_001).await.is_err());
    }

    #[tokio::test]
    async fn room_counts_what_objects_hold() {
        let store = MemoryStore::new();
        let room = store.room(10);
        let (a, b) = (Path::from("a"), Path::from("b"));
        store
            .put(&a, Bytes::from_static(b"12345678").into())
            .await
            .unwrap();
        assert_eq!((room.held(), room.is_full()), (8, false));
        store
            .put(&a, Bytes::from_static(b"1234").into())
            .await
            .unwrap();
        assert_eq!(room.held(), 4);
        let mut upload = store.put_multipart(&b).await.unwrap();
        upload
            .put_part(Bytes::from_static(b"123456").into())
            .await
            .unwrap();
        assert_eq!(room.held(), 4, "parts count once completed");
        upload.complete().await.unwrap();
        assert_eq!((room.held(), room.is_full()), (10, true));
        store.copy(&b, &a).await.unwrap();
        assert_eq!(room.held(), 12);
        store.delete(&a).await.unwrap();
        store.delete(&b).await.unwrap();
        assert_eq!((room.held(), room.is_full()), (0, false));
    }

    #[tokio::test]
    async fn create_only_and_conditional_puts_fence_writers() {
        let store = MemoryStore::new();
        let path = Path::from("m/manifest/1");
        let opts = |mode| PutOptions {
            mode,
            ..Default::default()
        };
        let first = store
            .put_opts(
                &path,
                Bytes::from_static(b"one").into(),
                opts(PutMode::Create),
            )
            .await
            .unwrap();
        let again = store
            .put_opts(
                &path,
                Bytes::from_static(b"two").into(),
                opts(PutMode::Create),
            )
            .await;
        assert!(matches!(again, Err(Error::AlreadyExists { .. })));
        let update = |e_tag: Option<String>| {
            opts(PutMode::Update(object_store::UpdateVersion {
                e_tag,
                version: None,
            }))
        };
        let stale = store
            .put_opts(
                &path,
                Bytes::from_static(b"x").into(),
                update(Some("\"99\"".into())),
            )
            .await;
        assert!(matches!(stale, Err(Error::Precondition { .. })));
        store
            .put_opts(
                &path,
                Bytes::from_static(b"three").into(),
                update(first.e_tag),
            )
            .await
            .unwrap();
        let got = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"three");
    }
}
