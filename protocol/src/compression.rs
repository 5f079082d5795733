//! Compression both ways. In: request bodies (`content-encoding: gzip` or `zstd` on `/v1`
//! routes) and S2S frames (flags 01 zstd, 10 gzip), with bounded output, so a small
//! compressed input cannot make the server allocate without limit. Out: `/v1` responses
//! and S2S frames, negotiated from `accept-encoding` exactly as s2-lite does (tower-http's
//! rules for responses, s2-api's for frames).

use bytes::Bytes;
use std::io::{Read, Write};

/// Responses and S2S payloads smaller than this are sent as they are (s2-lite's threshold).
pub const COMPRESS_MIN_BYTES: usize = 1024;

/// Compresses with each codec's default level (gzip 6, zstd 3), as s2-lite does.
pub fn compress(codec: Codec, data: &[u8]) -> Bytes {
    let out = match codec {
        Codec::Gzip => {
            let mut g = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::default(),
            );
            g.write_all(data).expect("writes to a Vec cannot fail");
            g.finish().expect("writes to a Vec cannot fail")
        }
        Codec::Zstd => zstd::stream::encode_all(data, 0).expect("reads from a slice cannot fail"),
    };
    Bytes::from(out)
}

/// The outcome of response negotiation (tower-http 0.7's `CompressionLayer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseEncoding {
    Identity,
    Compressed(Codec),
    /// Nothing the client accepts (e.g. `identity;q=0` alone): s2-lite answers 406.
    NotAcceptable,
}

/// Chooses a response encoding from the request's `accept-encoding` values: the acceptable
/// coding (q > 0) with the highest weight, ties going to zstd, then gzip, then identity; a
/// `*` gives its weight to every coding not listed; codings we do not know are ignored, and
/// so is an entry with a malformed weight.
pub fn negotiate_response<'a>(values: impl Iterator<Item = &'a str> + Clone) -> ResponseEncoding {
    // Ranked from least to most preferred, as tower-http's `Encoding` enum.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Coding {
        Identity,
        Gzip,
        Zstd,
    }
    fn entries<'a>(
        values: impl Iterator<Item = &'a str>,
    ) -> impl Iterator<Item = (&'a str, Option<u16>)> {
        values.flat_map(|v| v.split(',')).map(|entry| {
            let mut parts = entry.splitn(2, ';');
            let name = parts.next().unwrap_or("").trim();
            let q = match parts.next() {
                Some(q) => qvalue(q.trim()),
                None => Some(1000),
            };
            (name, q)
        })
    }
    let parse = |name: &str| -> Option<Coding> {
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            Some(Coding::Gzip)
        } else if name.eq_ignore_ascii_case("zstd") {
            Some(Coding::Zstd)
        } else if name.eq_ignore_ascii_case("identity") {
            Some(Coding::Identity)
        } else {
            None
        }
    };
    let explicit: Vec<(Coding, u16)> = entries(values.clone())
        .filter_map(|(name, q)| Some((parse(name)?, q?)))
        .collect();
    // The first `*` (with a valid weight) counts, as in tower-http.
    let wildcard = entries(values).find_map(|(name, q)| (name == "*").then_some(q).flatten());
    let best = |candidates: &mut dyn Iterator<Item = (Coding, u16)>| {
        candidates
            .filter(|&(_, q)| q > 0)
            .max_by_key(|&(c, q)| (q, c))
            .map(|(c, _)| c)
    };
    let chosen = match wildcard {
        None => match best(&mut explicit.iter().copied()) {
            Some(c) => Some(c),
            None if explicit
                .iter()
                .any(|&(c, q)| c == Coding::Identity && q == 0) =>
            {
                None
            }
            None => Some(Coding::Identity),
        },
        Some(wq) => {
            let mut all = [Coding::Identity, Coding::Gzip, Coding::Zstd]
                .into_iter()
                .map(|c| {
                    let q = explicit
                        .iter()
                        .find(|(e, _)| *e == c)
                        .map_or(wq, |&(_, q)| q);
                    (c, q)
                });
            best(&mut all)
        }
    };
    match chosen {
        None => ResponseEncoding::NotAcceptable,
        Some(Coding::Identity) => ResponseEncoding::Identity,
        Some(Coding::Gzip) => ResponseEncoding::Compressed(Codec::Gzip),
        Some(Coding::Zstd) => ResponseEncoding::Compressed(Codec::Zstd),
    }
}

/// An RFC 9110 weight as thousandths: `q=0`, `q=1`, `q=0.5`, at most three decimals.
fn qvalue(s: &str) -> Option<u16> {
    let rest = s.strip_prefix(['q', 'Q'])?.strip_prefix('=')?;
    let mut chars = rest.chars();
    let mut value: u16 = match chars.next()? {
        '0' => 0,
        '1' => 1000,
        _ => return None,
    };
    match chars.next() {
        None => return Some(value),
        Some('.') => {}
        Some(_) => return None,
    }
    let mut factor = 100;
    for c in chars {
        let d = c.to_digit(10)? as u16;
        if factor == 0 {
            return None;
        }
        value += factor * d;
        factor /= 10;
    }
    (value <= 1000).then_some(value)
}

/// The codec for server→client S2S frames (s2-api's rule): zstd if listed without `q=0`,
/// else gzip if listed without `q=0`, else none. Weights are otherwise ignored.
pub fn negotiate_frames<'a>(values: impl Iterator<Item = &'a str>) -> Option<Codec> {
    let mut gzip = false;
    for entry in values.flat_map(|v| v.split(',')) {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
            })
        });
        if refused {
            continue;
        }
        if name.eq_ignore_ascii_case("zstd") {
            return Some(Codec::Zstd);
        } else if name.eq_ignore_ascii_case("gzip") {
            gzip = true;
        }
    }
    gzip.then_some(Codec::Gzip)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Zstd,
}

impl Codec {
    /// From a `content-encoding` value; `None` for identity or anything unknown.
    pub fn from_content_encoding(v: &str) -> Option<Codec> {
        match v.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Codec::Gzip),
            "zstd" => Some(Codec::Zstd),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecompressError {
    /// The output would exceed the limit.
    TooLarge,
    /// Not valid data for the codec.
    Corrupt(String),
}

/// Decompresses `data`, refusing output larger than `limit` bytes.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Bytes, DecompressError> {
    let mut out = Vec::new();
    let read = match codec {
        Codec::Gzip => flate2::read::GzDecoder::new(data)
            .take(limit as u64 + 1)
            .read_to_end(&mut out),
        Codec::Zstd => match zstd::stream::read::Decoder::new(data) {
            Ok(d) => d.take(limit as u64 + 1).read_to_end(&mut out),
            Err(e) => Err(e),
        },
    };
    read.map_err(|e| DecompressError::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_negotiation_follows_tower_http() {
        use ResponseEncoding::*;
        let n = |v: &[&str]| negotiate_response(v.iter().copied());
        assert_eq!(n(&[]), Identity);
        assert_eq!(n(&["gzip"]), Compressed(Codec::Gzip));
        assert_eq!(n(&["x-gzip"]), Compressed(Codec::Gzip));
        assert_eq!(n(&["gzip, zstd"]), Compressed(Codec::Zstd));
        assert_eq!(n(&["zstd;q=0.5, gzip"]), Compressed(Codec::Gzip));
        assert_eq!(n(&["gzip;q=0, zstd;q=0"]), Identity);
        assert_eq!(n(&["br, deflate"]), Identity);
        assert_eq!(n(&["identity;q=0"]), NotAcceptable);
        assert_eq!(n(&["identity;q=0, br"]), NotAcceptable);
        assert_eq!(n(&["identity;q=0, gzip"]), Compressed(Codec::Gzip));
        assert_eq!(n(&["*"]), Compressed(Codec::Zstd));
        assert_eq!(n(&["*;q=0"]), NotAcceptable);
        assert_eq!(n(&["*;q=0, identity"]), Identity);
        assert_eq!(n(&["*, zstd;q=0"]), Compressed(Codec::Gzip));
        assert_eq!(
            n(&["gzip;q=0.9999"]),
            Identity,
            "bad weights drop the entry"
        );
        assert_eq!(n(&["gzip;q=1.5"]), Identity);
        assert_eq!(n(&["GZIP;Q=0.8", "zstd;q=0.7"]), Compressed(Codec::Gzip));
    }

    #[test]
    fn frame_negotiation_follows_s2_api() {
        let n = |v: &[&str]| negotiate_frames(v.iter().copied());
        assert_eq!(n(&["gzip, zstd"]), Some(Codec::Zstd));
        assert_eq!(n(&["gzip"]), Some(Codec::Gzip));
        assert_eq!(n(&["zstd;q=0, gzip"]), Some(Codec::Gzip));
        assert_eq!(n(&["zstd;q=0.0, gzip;q=0"]), None);
        assert_eq!(n(&["x-gzip, br"]), None);
        assert_eq!(n(&[]), None);
    }

    #[test]
    fn compress_round_trips() {
        let data = vec![b'y'; 5000];
        for codec in [Codec::Gzip, Codec::Zstd] {
            let c = compress(codec, &data);
            assert!(c.len() < data.len());
            assert_eq!(&decompress(codec, &c, 5000).unwrap()[..], &data[..]);
        }
    }

    #[test]
    fn round_trips_and_bounds() {
        let data = vec![b'x'; 10_000];
        let z = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(&decompress(Codec::Zstd, &z, 10_000).unwrap()[..], &data[..]);
        assert_eq!(
            decompress(Codec::Zstd, &z, 9_999),
            Err(DecompressError::TooLarge)
        );
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        g.write_all(&data).unwrap();
        let g = g.finish().unwrap();
        assert_eq!(&decompress(Codec::Gzip, &g, 20_000).unwrap()[..], &data[..]);
        assert!(matches!(
            decompress(Codec::Gzip, b"nope", 100),
            Err(DecompressError::Corrupt(_))
        ));
        assert_eq!(Codec::from_content_encoding(" ZSTD "), Some(Codec::Zstd));
        assert_eq!(Codec::from_content_encoding("identity"), None);
    }
}
