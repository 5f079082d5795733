//! Decompression of what clients may compress: request bodies (`content-encoding: gzip` or
//! `zstd` on `/v1` routes) and S2S frames (flags 01 zstd, 10 gzip). Output is bounded, so a
//! small compressed input cannot make the server allocate without limit.

use bytes::Bytes;
use std::io::Read;

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
    use std::io::Write;

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
