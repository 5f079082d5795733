//! Command-line flags. `--help` is generated from these doc comments, so each says what the
//! flag does, its default, and what it trades.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "strand",
    version,
    about = "A thread-per-core server for the S2 durable streams API, on SlateDB.",
    long_about = "A thread-per-core server for the S2 durable streams API, on SlateDB.\n\n\
        Storage is in memory unless --local-root or --bucket is given. Every acknowledged \
        write is durable in the object store first.\n\n\
        Environment: RUST_LOG (log filter, default info); AWS_* (bucket endpoint, keys, \
        region, AWS_ALLOW_HTTP) with --bucket; SL8_* (SlateDB settings, e.g. \
        SL8_MANIFEST_POLL_INTERVAL=5s)."
)]
pub struct Args {
    /// Port to listen on, for HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) alike.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Address to bind. Tests use 127.0.0.1.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Shards: one pinned core each, with its own executor and SlateDB writer thread.
    /// Default: the cores this process may use. More shards add write capacity; each costs
    /// two threads.
    #[arg(long)]
    pub shards: Option<usize>,

    /// Partitions (SlateDB databases) when the store is first initialised; recorded in the
    /// store and fixed afterwards, so a restart with another --shards reads the same data.
    /// More partitions spread load over more shards but each adds its own WAL PUTs when
    /// busy and a manifest poll when idle.
    #[arg(long, default_value_t = 8)]
    pub partitions: u32,

    /// How often each shard looks for streams to delete on empty (`delete_on_empty`), in
    /// milliseconds. Each look judges at most 256 streams per partition, so a deletion
    /// may come up to this much (or a few ticks) after its stream qualifies.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub lifecycle_tick_ms: u64,

    /// How often each shard persists its usage counters (the `/v1/metrics` API) and samples
    /// stored bytes, in milliseconds (100 to 600,000). A crash loses at most this much usage.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    pub usage_flush_ms: u64,

    /// Serve TLS with a self-signed certificate for localhost, 127.0.0.1 and ::1, made at
    /// start-up (clients must skip verification: `S2_SSL_NO_VERIFY=1` for the s2 CLI).
    /// ALPN offers h2 and http/1.1.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self: bool,

    /// Serve TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Keep data in this local directory (created if missing) instead of memory.
    #[arg(long, value_name = "DIR", conflicts_with = "bucket")]
    pub local_root: Option<PathBuf>,

    /// Keep data in this S3-compatible bucket, configured from AWS_ENDPOINT (or
    /// AWS_ENDPOINT_URL_S3), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
    /// AWS_ALLOW_HTTP.
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,

    /// Prefix inside the store for all of Strand's objects.
    #[arg(long, default_value = "")]
    pub path: String,

    /// The server's memory budget in bytes, split so every large holder has its share: a
    /// quarter for SlateDB memtables (over partitions), an eighth for SlateDB block and
    /// metadata caches (over shards), a sixteenth each for appends in flight and the
    /// window of recent records (over shards), an eighth for what connections and sessions
    /// hold for clients (over shards), the rest for working memory. The flags below
    /// override their shares. At least 512 MiB.
    #[arg(long, default_value_t = 2 << 30)]
    pub memory_bytes: u64,

    /// With the in-memory store (no --local-root or --bucket), the bytes it may hold: at
    /// that point appends of records are refused with 503 until trims, deletions, retention
    /// and garbage collection free room (command records still go through). The store holds
    /// every record plus SlateDB's garbage, so a long load test would otherwise end with the
    /// machine out of memory. Default: half of the machine's physical memory.
    #[arg(long, conflicts_with_all = ["local_root", "bucket"])]
    pub memory_store_bytes: Option<u64>,

    /// Metered bytes of appends in flight per shard (admitted, not yet durable). Past it,
    /// appends wait up to 10 s, then fail with 429 `rate_limited`. Bounds memory under any
    /// offered load; larger lets more appends share a flush. Default: a sixteenth of
    /// --memory-bytes over the shards.
    #[arg(long)]
    pub append_inflight_bytes: Option<usize>,

    /// How long a round of only `standard` storage-class appends may wait to share a flush
    /// (express rounds flush at once). Longer saves object-store PUTs (each flush of a busy
    /// partition is one PUT: 20 PUT/s is ~$259/month on S3 Standard) at the cost of latency.
    #[arg(long, default_value_t = 50)]
    pub standard_flush_delay_ms: u64,

    /// Deadline in milliseconds for each storage call (an append round's write, flush and
    /// durability; reads, metadata writes, close). Past it the appends fail with 503 (outcome unknown, as any failed write)
    /// and later rounds go on; an object-store outage cannot hang appends.
    #[arg(long, default_value_t = 20_000)]
    pub storage_deadline_ms: u64,

    /// A partition's share of an append round with at least this many bytes is written as
    /// one object of its own, SlateDB keeping pointers to it: much less CPU per byte, one
    /// more object-store round trip for that round. Smaller shares stay in SlateDB. 0 keeps
    /// every record in SlateDB.
    #[arg(long, default_value_t = 65_536, value_name = "BYTES")]
    pub data_object_min_bytes: u64,

    /// Milliseconds an idle connection is kept (HTTP/1.1 between requests, HTTP/2 with no
    /// open stream).
    #[arg(long, default_value_t = 300_000)]
    pub idle_timeout_ms: u64,

    /// Milliseconds within which a request head must arrive whole (from its first byte),
    /// a read may stall, and an HTTP/2 handshake must finish; a body gets twice this.
    /// Slow-loris clients are cut off by it.
    #[arg(long, default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Milliseconds a response or session write may make no progress (the client stopped
    /// reading) before the connection or session ends.
    #[arg(long, default_value_t = 30_000)]
    pub write_timeout_ms: u64,

    /// With --bucket: minimum milliseconds between a shard's flush rounds. Each round is one
    /// PUT per busy partition, so this caps PUTs at 1000/N per second per busy partition
    /// (10 ms: ≤ 100/s, ~$1,300/month on S3 Standard at full load; 50 ms: ≤ 20/s, ~$259).
    /// Ignored in memory and on local disk, where flushes are cheap.
    #[arg(long, default_value_t = 10)]
    pub bucket_flush_gap_ms: u64,

    /// Bytes of recent durable records each shard keeps in memory to serve reads near the
    /// tail without storage I/O. Default: a sixteenth of --memory-bytes over the shards.
    #[arg(long)]
    pub window_bytes: Option<usize>,

    /// Bytes each shard may hold for its clients: connections, read buffers, HTTP/2
    /// windows, request bodies, responses being written, session frames. Past it, clients
    /// wait (flow control), then get 503; new connections are refused. Default: an eighth
    /// of --memory-bytes over the shards.
    #[arg(long)]
    pub client_buffer_bytes: Option<usize>,

    /// Basins and streams to ensure at start-up, before serving (s2-lite's JSON resource
    /// spec: `{"basins":[{"name","config","streams":[{"name","config"}]}]}`, durations as
    /// `"7d"`). Any error stops start-up.
    #[arg(long, env = "S2LITE_INIT_FILE")]
    pub init_file: Option<std::path::PathBuf>,

    /// Disable the permissive CORS headers (on by default, as in s2-lite).
    #[arg(long)]
    pub no_cors: bool,

    /// Require an access token on every /v1 request (401 without a valid one, 403 outside
    /// its scope). Off by default: then anyone may do anything, as with s2-lite.
    #[arg(long, requires = "auth_token")]
    pub auth: bool,

    /// The bootstrap token of --auth: full scope, never stored; issue narrower tokens with
    /// it through /v1/access-tokens.
    #[arg(
        long,
        env = "STRAND_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<String>,

    /// Do not serve the web dashboard at /dashboard (on by default, as in s2-lite).
    #[arg(long, env = "S2LITE_NO_DASHBOARD")]
    pub no_dashboard: bool,
}

impl Args {
    /// A share of --memory-bytes per shard: `1/divisor` of the budget over `shards`.
    pub fn share_per_shard(&self, divisor: u64, shards: usize) -> usize {
        (self.memory_bytes / divisor / shards.max(1) as u64) as usize
    }

    /// The in-memory store's capacity: the flag, or half of physical memory.
    pub fn memory_store_capacity(&self) -> u64 {
        self.memory_store_bytes.unwrap_or_else(|| {
            // SAFETY: sysconf has no preconditions; a failure returns -1, caught below.
            let (pages, size) = unsafe {
                (
                    libc::sysconf(libc::_SC_PHYS_PAGES),
                    libc::sysconf(libc::_SC_PAGESIZE),
                )
            };
            if pages > 0 && size > 0 {
                (pages as u64).saturating_mul(size as u64) / 2
            } else {
                8 << 30
            }
        })
    }

    /// Appends in flight per shard: the flag, or its share (at least one full batch).
    pub fn append_inflight_per_shard(&self, shards: usize) -> usize {
        self.append_inflight_bytes
            .unwrap_or_else(|| self.share_per_shard(16, shards).max(1 << 20))
    }

    /// The recent-records window per shard: the flag, or its share.
    pub fn window_per_shard(&self, shards: usize) -> usize {
        self.window_bytes
            .unwrap_or_else(|| self.share_per_shard(16, shards))
    }

    /// What each shard may hold for clients: the flag, or its share (at least a few
    /// full requests).
    pub fn client_buffers_per_shard(&self, shards: usize) -> usize {
        self.client_buffer_bytes
            .unwrap_or_else(|| self.share_per_shard(8, shards))
    }

    /// Checks values clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.shards == Some(0) {
            return Err("--shards must be at least 1".into());
        }
        if self.partitions == 0 || self.partitions > shards::store::PARTITIONS_MAX {
            return Err(format!(
                "--partitions must be between 1 and {}",
                shards::store::PARTITIONS_MAX
            ));
        }
        // Below this the fixed costs (threads, runtimes, per-partition floors) outgrow the
        // shares and the bound cannot hold (tests/e2e/memory.rs).
        if self.memory_bytes < 512 << 20 {
            return Err("--memory-bytes must be at least 512 MiB".into());
        }
        if self.memory_store_bytes.is_some_and(|b| b < 64 << 20) {
            return Err("--memory-store-bytes must be at least 64 MiB".into());
        }
        if self.append_inflight_bytes.is_some_and(|b| b < 1024 * 1024) {
            return Err("--append-inflight-bytes must be at least 1 MiB (one full batch)".into());
        }
        if self.client_buffer_bytes.is_some_and(|b| b < 8 << 20) {
            return Err(
                "--client-buffer-bytes must be at least 8 MiB (a few full requests)".into(),
            );
        }
        for (flag, ms) in [
            ("--storage-deadline-ms", self.storage_deadline_ms),
            ("--idle-timeout-ms", self.idle_timeout_ms),
            ("--request-timeout-ms", self.request_timeout_ms),
            ("--write-timeout-ms", self.write_timeout_ms),
        ] {
            // Zero would fail every call at once; a day is past any sane deadline.
            if ms == 0 || ms > 86_400_000 {
                return Err(format!("{flag} must be between 1 and 86400000"));
            }
        }
        if let Some(b) = &self.bucket {
            if b.is_empty() {
                return Err("--bucket must not be empty".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_capacity_is_for_the_in_memory_store_only() {
        let parse = |args: &[&str]| Args::try_parse_from([&["strand"], args].concat());
        let args = parse(&[]).unwrap();
        assert!(
            args.memory_store_capacity() >= 64 << 20,
            "half of physical memory"
        );
        let args = parse(&["--memory-store-bytes", "1073741824"]).unwrap();
        assert_eq!(args.memory_store_capacity(), 1 << 30);
        assert!(args.validate().is_ok());
        let tiny = parse(&["--memory-store-bytes", "1000"]).unwrap();
        assert!(tiny
            .validate()
            .unwrap_err()
            .contains("--memory-store-bytes"));
        assert!(parse(&["--memory-store-bytes", "1073741824", "--local-root", "/x"]).is_err());
        assert!(parse(&["--memory-store-bytes", "1073741824", "--bucket", "b"]).is_err());
    }
}
