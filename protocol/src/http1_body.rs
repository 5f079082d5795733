//! HTTP/1.1 request body framing (RFC 9112 §6): which framing a head declares, and an
//! incremental chunked decoder. Pure (no I/O), so the acceptor and the fuzz target share
//! one decoder. Every size is checked: a chunk size of `ffffffffffffffff` is an error, not
//! an overflow.

use http::HeaderMap;

/// Bytes of one chunk-size line (with extensions) or of the trailer section.
pub const CHUNK_LINE_BYTES_MAX: usize = 1024;
pub const TRAILER_BYTES_MAX: usize = 16 * 1024;

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Malformed framing: 400 and close (the stream cannot be resynchronised).
    Bad,
    /// The body exceeds the limit: the API's body-limit error.
    TooLarge,
}

/// The framing a head declares. Refused as request-smuggling vectors (RFC 9112 §6.1, §6.3):
/// both `transfer-encoding` and `content-length`; several differing `content-length`
/// values; a `transfer-encoding` whose last coding is not `chunked`.
pub fn framing(headers: &HeaderMap) -> Result<Framing, BodyError> {
    let mut te = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .peekable();
    let mut cl = headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .peekable();
    match (te.peek().is_some(), cl.peek().is_some()) {
        (true, true) => Err(BodyError::Bad),
        (true, false) => {
            let mut last = String::new();
            for v in te {
                let v = v.to_str().map_err(|_| BodyError::Bad)?;
                for coding in v.split(',') {
                    last = coding.trim().to_ascii_lowercase();
                }
            }
            if last == "chunked" {
                Ok(Framing::Chunked)
            } else {
                Err(BodyError::Bad)
            }
        }
        (false, true) => {
            let mut length = None;
            for v in cl {
                let v = v.to_str().map_err(|_| BodyError::Bad)?;
                for part in v.split(',') {
                    let part = part.trim();
                    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(BodyError::Bad);
                    }
                    let n: u64 = part.parse().map_err(|_| BodyError::Bad)?;
                    if length.is_some_and(|l| l != n) {
                        return Err(BodyError::Bad);
                    }
                    length = Some(n);
                }
            }
            Ok(match length {
                Some(0) | None => Framing::None,
                Some(n) => Framing::Length(n),
            })
        }
        (false, false) => Ok(Framing::None),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// This many data bytes of the current chunk are still to come.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers(usize),
    Done,
}

/// Decodes a chunked body fed in pieces, holding at most `limit` body bytes.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    body: Vec<u8>,
    limit: usize,
}

impl ChunkedDecoder {
    pub fn new(limit: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            body: Vec::new(),
            limit,
        }
    }

    /// Consumes what it can from the front of `buf`. `Ok(true)` once the body is complete
    /// (bytes after it stay in `buf`: the next request); `Ok(false)` when it needs more.
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> Result<bool, BodyError> {
        let mut at = 0;
        let result = self.step(buf, &mut at);
        buf.drain(..at);
        result
    }

    fn step(&mut self, buf: &[u8], at: &mut usize) -> Result<bool, BodyError> {
        loop {
            let rest = &buf[*at..];
            match self.state {
                State::Done => return Ok(true),
                State::Size => {
                    let (n, size) = match httparse::parse_chunk_size(rest) {
                        Ok(httparse::Status::Complete(x)) => x,
                        Ok(httparse::Status::Partial) if rest.len() > CHUNK_LINE_BYTES_MAX => {
                            return Err(BodyError::Bad)
                        }
                        Ok(httparse::Status::Partial) => return Ok(false),
                        Err(_) => return Err(BodyError::Bad),
                    };
                    if n > CHUNK_LINE_BYTES_MAX {
                        return Err(BodyError::Bad);
                    }
                    *at += n;
                    let room = (self.limit - self.body.len()) as u64;
                    if size > room {
                        return Err(BodyError::TooLarge);
                    }
                    self.state = if size == 0 {
                        State::Trailers(0)
                    } else {
                        State::Data(size as usize)
                    };
                }
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(false);
                    }
                    let take = left.min(rest.len());
                    self.body.extend_from_slice(&rest[..take]);
                    *at += take;
                    self.state = if take == left {
                        State::DataEnd
                    } else {
                        State::Data(left - take)
                    };
                }
                State::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        *at += 2;
                        self.state = State::Size;
                    }
                    [] | [b'\r'] => return Ok(false),
                    _ => return Err(BodyError::Bad),
                },
                State::Trailers(seen) => {
                    let Some(i) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if seen + rest.len() > TRAILER_BYTES_MAX {
                            return Err(BodyError::Bad);
                        }
                        return Ok(false);
                    };
                    if seen + i + 2 > TRAILER_BYTES_MAX {
                        return Err(BodyError::Bad);
                    }
                    *at += i + 2;
                    self.state = if i == 0 {
                        State::Done
                    } else {
                        State::Trailers(seen + i + 2)
                    };
                }
            }
        }
    }

    /// The decoded body, once `feed` said it is complete.
    /// Body bytes decoded so far.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Takes the body bytes decoded so far (for a body streamed as it arrives; `limit`
    /// then bounds what is held between takes).
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn decode_whole(input: &[u8], limit: usize) -> Result<(Vec<u8>, Vec<u8>), BodyError> {
        let mut d = ChunkedDecoder::new(limit);
        let mut buf = input.to_vec();
        if d.feed(&mut buf)? {
            Ok((d.into_body(), buf))
        } else {
            Err(BodyError::Bad)
        }
    }

    #[test]
    fn framing_refuses_smuggling_shapes() {
        use Framing::*;
        assert_eq!(framing(&headers(&[])), Ok(None));
        assert_eq!(framing(&headers(&[("content-length", "0")])), Ok(None));
        assert_eq!(
            framing(&headers(&[("content-length", "12")])),
            Ok(Length(12))
        );
        assert_eq!(
            framing(&headers(&[
                ("content-length", "12"),
                ("content-length", "12")
            ])),
            Ok(Length(12))
        );
        assert_eq!(
            framing(&headers(&[
                ("content-length", "12"),
                ("content-length", "13")
            ])),
            Err(BodyError::Bad)
        );
        assert_eq!(
            framing(&headers(&[("content-length", "1,2")])),
            Err(BodyError::Bad)
        );
        assert_eq!(
            framing(&headers(&[("content-length", "+5")])),
            Err(BodyError::Bad)
        );
        assert_eq!(
            framing(&headers(&[("content-length", "99999999999999999999999")])),
            Err(BodyError::Bad)
        );
        assert_eq!(
            framing(&headers(&[("transfer-encoding", "chunked")])),
            Ok(Chunked)
        );
        assert_eq!(
            framing(&headers(&[("transfer-encoding", "gzip, chunked")])),
            Ok(Chunked)
        );
        assert_eq!(
            framing(&headers(&[("transfer-encoding", "chunked, gzip")])),
            Err(BodyError::Bad)
        );
        assert_eq!(
            framing(&headers(&[
                ("transfer-encoding", "chunked"),
                ("content-length", "5")
            ])),
            Err(BodyError::Bad)
        );
    }

    #[test]
    fn chunked_bodies_decode_in_any_pieces() {
        let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        assert_eq!(
            decode_whole(wire, 100).unwrap(),
            (b"hello world".to_vec(), b"NEXT".to_vec())
        );
        for piece in 1..wire.len() {
            let mut d = ChunkedDecoder::new(100);
            let mut buf = Vec::new();
            let mut done = false;
            for p in wire.chunks(piece) {
                buf.extend_from_slice(p);
                done = d.feed(&mut buf).unwrap();
                if done {
                    break;
                }
            }
            assert!(done, "piece {piece}");
            assert_eq!(d.into_body(), b"hello world");
        }
    }

    #[test]
    fn huge_and_malformed_chunk_sizes_are_errors_not_overflows() {
        assert_eq!(
            decode_whole(b"ffffffffffffffff\r\nx\r\n0\r\n\r\n", 100),
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            decode_whole(b"fffffffffffffffffffff\r\n", 100),
            Err(BodyError::Bad)
        );
        assert_eq!(decode_whole(b"zz\r\n", 100), Err(BodyError::Bad));
        assert_eq!(decode_whole(b"65\r\n", 100), Err(BodyError::TooLarge));
        assert_eq!(decode_whole(b"3\r\nabcX\r\n", 100), Err(BodyError::Bad));
        // The limit counts across chunks.
        assert_eq!(
            decode_whole(b"40\r\n", 100).unwrap_err(),
            BodyError::Bad,
            "incomplete, not too large"
        );
        let mut two = b"40\r\n".to_vec();
        two.extend_from_slice(&[b'a'; 0x40]);
        two.extend_from_slice(b"\r\n40\r\n");
        assert_eq!(decode_whole(&two, 100), Err(BodyError::TooLarge));
        // A chunk-size line or trailer that never ends is bounded.
        let mut d = ChunkedDecoder::new(100);
        let mut buf = vec![b'1'; CHUNK_LINE_BYTES_MAX + 1];
        assert_eq!(d.feed(&mut buf), Err(BodyError::Bad));
        let mut d = ChunkedDecoder::new(100);
        let mut buf = b"0\r\n".to_vec();
        buf.extend_from_slice(&vec![b'x'; TRAILER_BYTES_MAX + 1]);
        assert_eq!(d.feed(&mut buf), Err(BodyError::Bad));
    }
}
