//! S2S sessions (API.md §9): an append session turns a stream of `AppendInput` frames into
//! in-order `AppendAck` frames, pipelined (durability of several inputs overlaps, but each is
//! sequenced before the next is sent); a read session sends catch-up batches, then follows
//! the tail with heartbeats. Transport-free: frames come in and go out over bounded channels
//! that the HTTP/2 layer pumps, so a slow client slows the session instead of growing a
//! buffer.

use super::records::{auto_create, read_params};
use super::{basin_header, path_stream};
use crate::error::{from_shard, Failure};
use crate::held_bytes::{budget_spent, Held, HeldBytes, SESSION_WAIT};
use crate::http::Request;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::SinkExt;
use prost::Message;
use protocol::config::Cipher;
use protocol::encryption::EncryptionKey;
use protocol::error::{ApiError, ErrorCode};
use protocol::limits::{BATCH_METERED_BYTES_MAX, BATCH_RECORDS_MAX};
use protocol::names::{BasinName, StreamName};
use protocol::records::{self, AppendInput, SequencedRecord, StreamPosition};
use protocol::s2s;
use shards::record_cipher::RecordCipher;
use shards::{Cluster, ReadKey, ReadRequest, ReadStart, ShardError};
use std::time::{Duration, Instant};

/// Appends of one session awaiting durability at once.
const APPEND_SESSION_INFLIGHT_MAX: usize = 256;
/// A following read session sends a heartbeat after this long without records (clients
/// time out after 20 s).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);

/// The two directions of a session, as the transport sees them. Every byte on the way in
/// or out holds a lease on the shard's client budget, and so does what the session
/// buffers itself (a partly received frame).
pub struct SessionIo {
    pub input: mpsc::Receiver<Held>,
    pub out: SessionOutput,
}

/// Sends `bytes` once the budget has room for them (or fails the session with 503).
async fn send_held(out: &mut SessionOutput, bytes: Bytes) -> Result<(), Stop> {
    let held = out
        .held
        .hold(bytes)
        .await
        .map_err(|_| Stop::Failed(budget_spent().into()))?;
    out.output.send(held).await.map_err(|_| Stop::Closed)
}

/// What a session needs, checked before the response starts (errors are plain HTTP).
pub struct SessionTarget {
    basin: BasinName,
    stream: StreamName,
    /// `s2-encryption-key`, for a stream with a cipher.
    key: Option<EncryptionKey>,
    /// Who runs the session (its trim and fence commands need those operations).
    caller: crate::auth::Caller,
    /// The connection it runs on (usage metering; 0: none).
    conn: u64,
}

fn terminal(f: Failure) -> Bytes {
    let r = f.into_response();
    s2s::encode_terminal(r.status.as_u16(), &r.body)
}

fn bad_frame(e: impl std::fmt::Display) -> Failure {
    ApiError::new(ErrorCode::BadFrame, e.to_string()).into()
}

/// Checks an append session's headers and that its stream exists (or is auto-created).
pub async fn prepare_append(
    cluster: &Cluster,
    req: &Request,
    stream: &str,
    caller: crate::auth::Caller,
) -> Result<SessionTarget, Failure> {
    let basin = basin_header(req)?;
    let stream = path_stream(stream)?;
    let key = super::records::encryption_key_header(req)?;
    let config = super::records::stream_config_header(req)?;
    let cipher = ensure_stream(cluster, &basin, &stream, true, config).await?;
    // A missing or malformed key is a plain HTTP error, before the session starts.
    RecordCipher::resolve(cipher, key.as_ref()).map_err(from_shard)?;
    Ok(SessionTarget {
        basin,
        stream,
        key,
        caller,
        conn: req.conn,
    })
}

/// The stream exists (or was auto-created): its cipher, if it has one.
async fn ensure_stream(
    cluster: &Cluster,
    basin: &BasinName,
    stream: &StreamName,
    on_append: bool,
    config: protocol::config::StreamConfig,
) -> Result<Option<Cipher>, Failure> {
    match cluster.get_stream(basin.clone(), stream.clone()).await {
        Ok(entry) => Ok(entry.meta.cipher),
        Err(ShardError::StreamNotFound { .. }) => {
            auto_create(cluster, basin, stream, on_append, config).await?;
            let entry = cluster
                .get_stream(basin.clone(), stream.clone())
                .await
                .map_err(from_shard)?;
            Ok(entry.meta.cipher)
        }
        Err(e) => Err(from_shard(e)),
    }
}

/// Re-checks a session's token now and then (revoked or expired: the session ends, 401).
struct Recheck(Instant);

impl Recheck {
    fn new() -> Recheck {
        Recheck(Instant::now())
    }

    async fn check(
        &mut self,
        cluster: &Cluster,
        caller: &crate::auth::Caller,
    ) -> Result<(), ApiError> {
        if self.0.elapsed() < crate::auth::CACHE_TTL {
            return Ok(());
        }
        self.0 = Instant::now();
        crate::auth::still_valid(cluster, caller).await
    }
}

pub async fn run_append(cluster: Cluster, target: SessionTarget, mut io: SessionIo) {
    let mut recheck = Recheck::new();
    let mut decoder = s2s::Decoder::default();
    // What the decoder holds of frames not yet whole.
    let mut partial = io.out.held.empty();
    let mut acks = FuturesOrdered::new();
    let mut input_open = true;
    // The first failure: sent as a terminal frame once earlier acks are out.
    let mut failure: Option<Failure> = None;
    loop {
        let take_input =
            input_open && failure.is_none() && acks.len() < APPEND_SESSION_INFLIGHT_MAX;
        if !take_input && acks.is_empty() {
            break;
        }
        let event = if take_input && !acks.is_empty() {
            futures::select_biased! {
                ack = acks.next() => Event::Ack(ack),
                chunk = io.input.next() => Event::Chunk(chunk),
            }
        } else if take_input {
            Event::Chunk(io.input.next().await)
        } else {
            Event::Ack(acks.next().await)
        };
        match event {
            Event::Chunk(None) => {
                input_open = false;
                if let Err(e) = decoder.finish() {
                    failure = Some(bad_frame(e));
                }
            }
            Event::Chunk(Some(chunk)) => {
                // The chunk's own lease moves to the decoder's copy.
                let deadline = Instant::now() + SESSION_WAIT;
                if partial
                    .grow_to(decoder.buffered() + chunk.bytes.len(), deadline)
                    .await
                    .is_err()
                {
                    failure = Some(budget_spent().into());
                    continue;
                }
                decoder.push(&chunk.bytes);
                drop(chunk);
                loop {
                    let input = match next_input(&mut decoder) {
                        Ok(Some(input)) => input,
                        Ok(None) => break,
                        Err(f) => {
                            failure = Some(f);
                            break;
                        }
                    };
                    let commands = match input.validate().and_then(|c| {
                        super::records::require_command_ops(&target.caller, &c)?;
                        Ok(c)
                    }) {
                        Ok(c) => c,
                        Err(e) => {
                            failure = Some(e.into());
                            break;
                        }
                    };
                    if let Err(e) = recheck.check(&cluster, &target.caller).await {
                        failure = Some(e.into());
                        break;
                    }
                    let staged = match cluster.append_staged(
                        Some(target.conn).filter(|&c| c != 0),
                        target.basin.clone(),
                        target.stream.clone(),
                        input,
                        commands,
                        target.key.clone(),
                    ) {
                        Ok(s) => s,
                        Err(e) => {
                            failure = Some(from_shard(e));
                            break;
                        }
                    };
                    let refused = staged.sequenced.await.is_err();
                    acks.push_back(staged.ack);
                    if refused {
                        // Its ack carries the error; send nothing more.
                        input_open = false;
                        break;
                    }
                }
                // Taken frames are the shard's now (counted as appends in flight).
                partial.shrink_to(decoder.buffered());
            }
            Event::Ack(Some(Ok(ack))) => {
                let frame = s2s::encode(&ack.to_proto().encode_to_vec());
                match send_held(&mut io.out, frame).await {
                    Ok(()) => {}
                    Err(Stop::Closed) => return,
                    Err(Stop::Failed(f)) => {
                        failure = Some(f);
                        acks = FuturesOrdered::new();
                        input_open = false;
                    }
                }
            }
            Event::Ack(Some(Err(e))) => {
                failure = Some(from_shard(e));
                // Later acks belong to inputs after the failed one: drop them.
                acks = FuturesOrdered::new();
                input_open = false;
            }
            Event::Ack(None) => {}
        }
    }
    if let Some(f) = failure {
        // The last frame is small and always sent: charged, not waited for.
        let frame = terminal(f);
        let lease = io.out.held.charge(frame.len());
        let _ = io.out.output.send(Held::new(frame, lease)).await;
    }
}

enum Event {
    Chunk(Option<Held>),
    Ack(Option<Result<records::AppendAck, ShardError>>),
}

fn next_input(decoder: &mut s2s::Decoder) -> Result<Option<AppendInput>, Failure> {
    let Some(frame) = decoder.next_frame().map_err(bad_frame)? else {
        return Ok(None);
    };
    if frame.terminal {
        return Err(bad_frame(s2s::FrameError::UnexpectedTerminal));
    }
    let m = protocol::proto::AppendInput::decode(frame.payload).map_err(bad_frame)?;
    Ok(Some(AppendInput::from_proto_message(m)))
}

/// A read session's plan, resolved before the response starts.
pub struct ReadSession {
    target: SessionTarget,
    params: ReadRequest,
    /// The first page, or the failure the session opens with (records that do not open
    /// with the reader's key: an in-stream error, as from s2-lite, not an HTTP one).
    first: Result<shards::ReadOutput, Failure>,
}

/// Checks a read session's inputs and makes its first read, so a bad start is a plain
/// HTTP 416 (API.md §8.3).
pub async fn prepare_read(
    cluster: &Cluster,
    req: &Request,
    stream: &str,
    resume: Option<(u64, u64, u64)>,
) -> Result<ReadSession, Failure> {
    let basin = basin_header(req)?;
    let stream = path_stream(stream)?;
    let (mut params, _) = read_params(&req.query)?;
    // SSE resume overrides the start and spends what was already delivered.
    if let Some((seq, count, bytes)) = resume {
        params.start = ReadStart::SeqNum(seq.saturating_add(1));
        params.count = params.count.map(|c| c.saturating_sub(count as usize));
        params.bytes = params.bytes.map(|b| b.saturating_sub(bytes as usize));
    }
    let key = super::records::encryption_key_header(req)?;
    params.key = ReadKey::Request(key.clone());
    let config = super::records::stream_config_header(req)?;
    ensure_stream(cluster, &basin, &stream, false, config).await?;
    // May the read reach the tail without a 416 (API.md §8.3)?
    let may_follow = params.wait.is_some_and(|w| !w.is_zero())
        || (params.count.is_none() && params.bytes.is_none() && params.until.is_none());
    let first_req = ReadRequest {
        count: Some(
            params
                .count
                .unwrap_or(BATCH_RECORDS_MAX)
                .min(BATCH_RECORDS_MAX),
        ),
        bytes: Some(
            params
                .bytes
                .unwrap_or(BATCH_METERED_BYTES_MAX)
                .min(BATCH_METERED_BYTES_MAX),
        ),
        wait: Some(Duration::ZERO),
        may_follow: Some(may_follow),
        ..params.clone()
    };
    let first = match cluster.read(basin.clone(), stream.clone(), first_req).await {
        Ok(out) => Ok(out),
        Err(e @ ShardError::DecryptionFailed) => Err(from_shard(e)),
        Err(e) => return Err(from_shard(e)),
    };
    Ok(ReadSession {
        target: SessionTarget {
            basin,
            stream,
            key,
            caller: req.caller.clone(),
            conn: req.conn,
        },
        params: ReadRequest {
            may_follow: Some(may_follow),
            ..params
        },
        first,
    })
}

/// A session's stream went away under it (deleted, or deleted and re-created): s2-lite's
/// live readers see its streamer end, so they get this, not `stream_not_found`.
fn gone_mid_session(e: ShardError) -> Failure {
    match e {
        ShardError::StreamNotFound { .. } => {
            ApiError::new(ErrorCode::Unavailable, "streamer missing in action").into()
        }
        e => from_shard(e),
    }
}

/// What a read session says, whatever its encoding (S2S frames or SSE events).
pub enum ReadEvent<'a> {
    /// Records; `tail` only on live batches.
    Batch(&'a [SequencedRecord], Option<StreamPosition>),
    Heartbeat(StreamPosition),
    Error(Failure),
    /// The session ended normally (limit, until, or wait reached).
    Done,
}

pub trait ReadEncoder {
    /// The bytes for one event, or `None` if this encoding says nothing for it.
    fn encode(&mut self, event: ReadEvent<'_>) -> Option<Bytes>;
}

/// S2S: `ReadBatch` frames; a heartbeat is an empty batch with the tail; errors are
/// terminal frames; a normal end is just the end of the body.
pub struct S2sReadEncoder {
    /// Server→client frame compression, from the request's `accept-encoding`.
    codec: Option<protocol::compression::Codec>,
}

impl S2sReadEncoder {
    pub fn new(req: &Request) -> Self {
        let values = req
            .headers
            .get_all(http::header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok());
        Self {
            codec: protocol::compression::negotiate_frames(values),
        }
    }
}

impl ReadEncoder for S2sReadEncoder {
    fn encode(&mut self, event: ReadEvent<'_>) -> Option<Bytes> {
        match event {
            ReadEvent::Batch(recs, tail) => Some(s2s::encode_compressed(
                &records::read_batch_proto(recs, tail).encode_to_vec(),
                self.codec,
            )),
            ReadEvent::Heartbeat(tail) => Some(s2s::encode(
                &records::read_batch_proto(&[], Some(tail)).encode_to_vec(),
            )),
            ReadEvent::Error(f) => Some(terminal(f)),
            ReadEvent::Done => None,
        }
    }
}

/// SSE: `batch` events with cumulative ids, `ping`s, an `error` event, `[DONE]`.
pub struct SseReadEncoder {
    format: records::Format,
    count: u64,
    bytes: u64,
}

impl SseReadEncoder {
    pub fn new(format: records::Format, resume: Option<(u64, u64, u64)>) -> Self {
        let (_, count, bytes) = resume.unwrap_or_default();
        Self {
            format,
            count,
            bytes,
        }
    }
}

impl ReadEncoder for SseReadEncoder {
    fn encode(&mut self, event: ReadEvent<'_>) -> Option<Bytes> {
        match event {
            ReadEvent::Batch(recs, tail) => {
                self.count += recs.len() as u64;
                self.bytes += recs.iter().map(|r| r.metered_size() as u64).sum::<u64>();
                let last = recs.last().map_or(0, |r| r.seq_num);
                let json = records::read_batch_json(recs, tail, self.format);
                Some(protocol::sse::batch(&json, last, self.count, self.bytes))
            }
            ReadEvent::Heartbeat(tail) => {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                Some(protocol::sse::ping(now_ms, tail.seq_num, tail.timestamp))
            }
            ReadEvent::Error(f) => Some(protocol::sse::error(&f.into_response().body)),
            ReadEvent::Done => Some(protocol::sse::done()),
        }
    }
}

/// Why the read loop stopped early.
enum Stop {
    /// The client went away.
    Closed,
    Failed(Failure),
}

/// Where a read session's frames go, and the budget they are counted in.
pub struct SessionOutput {
    pub output: mpsc::Sender<Held>,
    pub held: HeldBytes,
}

pub async fn run_read(
    cluster: Cluster,
    session: ReadSession,
    encoder: &mut dyn ReadEncoder,
    mut out: SessionOutput,
) {
    let last = match read_loop(&cluster, session, encoder, &mut out).await {
        Ok(()) => ReadEvent::Done,
        Err(Stop::Failed(f)) => ReadEvent::Error(f),
        Err(Stop::Closed) => return,
    };
    if let Some(bytes) = encoder.encode(last) {
        let lease = out.held.charge(bytes.len());
        let _ = out.output.send(Held::new(bytes, lease)).await;
    }
}

async fn emit(
    out: &mut SessionOutput,
    encoder: &mut dyn ReadEncoder,
    event: ReadEvent<'_>,
) -> Result<(), Stop> {
    match encoder.encode(event) {
        Some(bytes) => send_held(out, bytes).await,
        None => Ok(()),
    }
}

/// A read session's usage: one streaming read op per started minute, and its bytes.
struct StreamingOps<'a> {
    basin: &'a str,
    started: Instant,
    counted_minutes: u64,
}

impl<'a> StreamingOps<'a> {
    fn new(basin: &'a str) -> Self {
        shards::usage_meter::record_read(basin, Some(shards::usage_meter::ReadOp::Streaming), 0);
        StreamingOps {
            basin,
            started: Instant::now(),
            counted_minutes: 1,
        }
    }

    /// Counts another op once the session enters another minute of its life.
    fn tick(&mut self) {
        let minutes = self.started.elapsed().as_secs() / 60 + 1;
        if minutes > self.counted_minutes {
            self.counted_minutes = minutes;
            shards::usage_meter::record_read(
                self.basin,
                Some(shards::usage_meter::ReadOp::Streaming),
                0,
            );
        }
    }

    fn sent(&self, bytes: usize) {
        shards::usage_meter::record_read(self.basin, None, bytes as u64);
    }
}

async fn read_loop(
    cluster: &Cluster,
    session: ReadSession,
    encoder: &mut dyn ReadEncoder,
    output: &mut SessionOutput,
) -> Result<(), Stop> {
    let ReadSession {
        target,
        params,
        first,
    } = session;
    let may_follow = params.may_follow.unwrap_or(false);
    let mut count_left = params.count.unwrap_or(usize::MAX);
    let mut bytes_left = params.bytes.unwrap_or(usize::MAX);
    // `wait=N`: end N seconds after the last batch; `wait=0`: end at the tail.
    let session_wait = params.wait;
    let mut out = first.map_err(Stop::Failed)?;
    // The incarnation this session reads: a stream deleted and re-created under the same
    // name is another stream, and the session ends as for a deleted one.
    let stream_id = out.stream_id;
    let mut following = false;
    let mut last_activity = Instant::now();
    let mut recheck = Recheck::new();
    let mut metered = StreamingOps::new(target.basin.as_str());
    loop {
        recheck
            .check(cluster, &target.caller)
            .await
            .map_err(|e| Stop::Failed(e.into()))?;
        metered.tick();
        if !out.records.is_empty() {
            let sent: usize = out.records.iter().map(|r| r.metered_size()).sum();
            metered.sent(sent);
            count_left = count_left.saturating_sub(out.records.len());
            bytes_left = bytes_left.saturating_sub(sent);
            let tail = following.then_some(out.durable_tail);
            emit(output, encoder, ReadEvent::Batch(&out.records, tail)).await?;
            last_activity = Instant::now();
        } else if out.next_seq < out.durable_tail.seq_num {
            // Stopped before the tail without a record: `until` (or `bytes`) reached.
            return Ok(());
        } else {
            if !may_follow || session_wait == Some(Duration::ZERO) {
                return Ok(());
            }
            if !following {
                following = true;
                last_activity = Instant::now();
                emit(output, encoder, ReadEvent::Heartbeat(out.durable_tail)).await?;
            } else if let Some(w) = session_wait {
                if last_activity.elapsed() >= w {
                    return Ok(());
                }
            }
        }
        if count_left == 0 || bytes_left == 0 {
            return Ok(());
        }
        let mut wait = if following {
            HEARTBEAT_INTERVAL
        } else {
            Duration::ZERO
        };
        if let Some(w) = session_wait {
            wait = wait.min(w.saturating_sub(last_activity.elapsed()));
        }
        let next = out.next_seq;
        let count = count_left.min(BATCH_RECORDS_MAX);
        let bytes = bytes_left.min(BATCH_METERED_BYTES_MAX);
        out = if following && params.until.is_none() {
            // Live: through this shard's follow hub for the stream.
            let (basin, stream) = (target.basin.clone(), target.stream.clone());
            let read = shards::FollowRead {
                from: next,
                tail: out.durable_tail,
                count,
                bytes,
                wait,
                stream_id,
                key: target.key.clone(),
            };
            cluster.follow(basin, stream, read).await
        } else {
            let req = ReadRequest {
                start: ReadStart::SeqNum(next),
                clamp: false,
                count: Some(count),
                bytes: Some(bytes),
                until: params.until,
                wait: Some(wait),
                may_follow: Some(true),
                incarnation: Some(stream_id),
                key: ReadKey::Request(target.key.clone()),
            };
            cluster
                .read(target.basin.clone(), target.stream.clone(), req)
                .await
        }
        .map_err(|e| Stop::Failed(gone_mid_session(e)))?;
        if out.stream_id != stream_id {
            return Err(Stop::Failed(gone_mid_session(
                shards::ShardError::StreamNotFound {
                    basin: target.basin.clone(),
                    stream: target.stream.clone(),
                },
            )));
        }
        if following && out.records.is_empty() && out.next_seq == next {
            // The session's `wait` ran out with nothing new: it ends without another
            // heartbeat (s2-lite sends one only when following starts and while idle).
            if session_wait.is_some_and(|w| last_activity.elapsed() >= w) {
                return Ok(());
            }
            // A quiet interval: heartbeat.
            emit(output, encoder, ReadEvent::Heartbeat(out.durable_tail)).await?;
        }
    }
}
