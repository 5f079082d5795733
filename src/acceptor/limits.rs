//! What one connection may hold. Request bodies are bounded by `protocol::limits`.

use std::time::Duration;

// HTTP/1.1 head bounds (bytes, header count) live with the parser: `protocol::http1`.
/// HTTP/2 header list size (decoded), the same bound as HTTP/1.1's head
/// (`protocol::http1::HEAD_BYTES_MAX`).
pub const H2_HEADER_LIST_BYTES_MAX: u32 = 64 * 1024;
/// Concurrent HTTP/2 streams per connection: bounds per-connection request memory
/// (each may buffer a 2 MiB body: 200 MiB worst case per connection, shared by the
/// shard's connection bound below).
pub const H2_STREAMS_MAX: u32 = 100;
/// HTTP/2 receive windows: what a client may send before we take it. A stream's window is
/// a little over one full batch; the connection's covers several sessions at once.
pub const H2_STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;
pub const H2_CONNECTION_WINDOW_BYTES: u32 = 16 * 1024 * 1024;
/// What each holder charges to the shard's client budget (`held_bytes`) at worst, beyond
/// the bytes it buffers (which are charged as they come).
/// An accepted socket: its task, state and kernel-facing buffers in user space.
pub const CONNECTION_BYTES: usize = 8 * 1024;
/// An HTTP/2 connection on top: the 64 KiB a peer may send before any window update
/// (RFC 9113 fixes it), HPACK tables and frame buffers.
pub const H2_CONNECTION_BYTES: usize = 96 * 1024;
/// What a TLS session holds beyond that: rustls's buffers for a full incoming record (16 KiB
/// plus overhead), its plaintext and its outgoing records.
pub const TLS_CONNECTION_BYTES: usize = 48 * 1024;
/// The window every HTTP/2 connection has, whatever we advertise (RFC 9113).
pub const H2_DEFAULT_WINDOW_BYTES: u32 = 65_535;
/// Bytes h2 queues per stream on the way out before the stream waits for the socket.
pub const H2_SEND_BUFFER_BYTES: usize = 64 * 1024;
/// An open HTTP/2 stream: its send queue (its head is charged by size).
pub const H2_STREAM_BYTES: usize = H2_SEND_BUFFER_BYTES;
/// Connections one shard serves at once; past it new connections are closed at accept,
/// so file descriptors stay bounded.
pub const CONNECTIONS_PER_SHARD_MAX: usize = 10_000;
/// Sessions (S2S) open at once per shard, over all its connections. Each holds a few
/// frames of buffer (≤ 8 × 2 MiB worst case) and one task; past this, new sessions get 503.
pub const SESSIONS_PER_SHARD_MAX: usize = 5_000;
/// Every deadline a connection lives by. Defaults below; operators (and tests) set them
/// with `--idle-timeout-ms`, `--request-timeout-ms` and `--write-timeout-ms`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// An idle keep-alive connection (HTTP/1.1 between requests, HTTP/2 with no open
    /// stream) is closed after this.
    pub idle: Duration,
    /// A whole request head must arrive within this of its first byte, however it trickles
    /// (a byte every few seconds resets no clock); a read that stalls this long ends the
    /// connection; the HTTP/2 handshake must finish within it too.
    pub request: Duration,
    /// A response write, or one session frame, that makes no progress this long (the client
    /// stopped reading) ends the connection or session.
    pub write: Duration,
}

impl Timeouts {
    /// A whole request body (at most 2 MiB) must arrive within this of its head.
    pub fn body(&self) -> Duration {
        self.request * 2
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(300),
            request: Duration::from_secs(30),
            write: Duration::from_secs(30),
        }
    }
}
