//! Write coalescing for HTTP/2 connections. h2 flushes at the end of every poll of its
//! connection; with many sessions on one connection, each woken separately as its records
//! arrive, that is one `send` syscall per few frames. This adapter buffers writes and, on
//! a flush of a busy connection (one that flushed within the last 200 µs), first yields
//! once to the executor so every task already runnable (other sessions producing frames)
//! gets to add its frames, then sends them all at once. The delay is one scheduler pass,
//! not a timer; a connection that is not busy sends at once (yielding on every flush cost a
//! single append session 60% of its throughput); the buffer is bounded.

use futures::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes buffered before writes wait for the socket.
const BUFFER_BYTES_MAX: usize = 256 * 1024;

pub struct Coalesce<S> {
    inner: S,
    buf: Vec<u8>,
    /// Bytes of `buf` already sent.
    sent: usize,
    /// Whether this flush already yielded once.
    yielded: bool,
    /// When the last send finished: only a connection sending this often coalesces.
    last_send: Option<std::time::Instant>,
}

/// Flushes closer together than this yield first. A connection carrying one busy append
/// session flushes about once a millisecond and never waits; one carrying hundreds of
/// followers flushes every few microseconds and batches.
const BUSY_GAP: std::time::Duration = std::time::Duration::from_micros(200);

impl<S> Coalesce<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            sent: 0,
            yielded: false,
            last_send: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> Coalesce<S> {
    /// Sends buffered bytes until done or the socket would block.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.buf.clear();
        // After a burst, give back what an idle connection does not need.
        if self.buf.capacity() > 64 * 1024 {
            self.buf.shrink_to(64 * 1024);
        }
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalesce<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesce<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() >= BUFFER_BYTES_MAX {
            match this.drain(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|_| 0)),
            }
        }
        let n = data.len().min(BUFFER_BYTES_MAX - this.buf.len());
        this.buf.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buf.is_empty() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        let busy = this.last_send.is_some_and(|t| t.elapsed() < BUSY_GAP);
        if busy && !this.yielded {
            // Let the tasks that are already runnable add their frames first.
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.drain(cx) {
            Poll::Ready(Ok(())) => {
                this.yielded = false;
                this.last_send = Some(std::time::Instant::now());
                Pin::new(&mut this.inner).poll_flush(cx)
            }
            other => other,
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_close(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::AsyncWriteExt;

    /// A sink that records each write call.
    #[derive(Default)]
    struct Sink {
        writes: Vec<Vec<u8>>,
    }

    impl AsyncWrite for Sink {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(data.to_vec());
            Poll::Ready(Ok(data.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn small_writes_leave_in_one_send_after_a_flush() {
        futures::executor::block_on(async {
            let mut c = Coalesce::new(Sink::default());
            for i in 0..100u8 {
                c.write_all(&[i; 10]).await.unwrap();
            }
            assert!(c.inner.writes.is_empty(), "nothing is sent before a flush");
            c.flush().await.unwrap();
            assert_eq!(c.inner.writes.len(), 1);
            assert_eq!(c.inner.writes[0].len(), 1000);
            c.write_all(&[7; 3]).await.unwrap();
            c.close().await.unwrap();
            assert_eq!(c.inner.writes.len(), 2);
        });
    }

    #[test]
    fn the_buffer_is_bounded() {
        futures::executor::block_on(async {
            let mut c = Coalesce::new(Sink::default());
            c.write_all(&vec![1u8; 3 * BUFFER_BYTES_MAX]).await.unwrap();
            assert!(c.buf.len() <= BUFFER_BYTES_MAX);
            c.flush().await.unwrap();
            let total: usize = c.inner.writes.iter().map(|w| w.len()).sum();
            assert_eq!(total, 3 * BUFFER_BYTES_MAX);
        });
    }
}
