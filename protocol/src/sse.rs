//! Server-sent events for read sessions (API.md §8.5): `batch`, `ping`, `error` events and
//! the final `data: [DONE]`, and the `Last-Event-ID` a client resumes with.

use bytes::Bytes;

/// `event: batch` with `id: <last seq_num>,<records so far>,<bytes so far>`.
pub fn batch(json: &[u8], last_seq: u64, count: u64, bytes: u64) -> Bytes {
    let mut out = format!("event: batch\nid: {last_seq},{count},{bytes}\ndata: ").into_bytes();
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// `event: ping` with the server time (ms) and the tail.
pub fn ping(now_ms: u64, tail_seq: u64, tail_ts: u64) -> Bytes {
    Bytes::from(format!(
        "event: ping\ndata: {{\"timestamp\":{now_ms},\"tail\":{{\"seq_num\":{tail_seq},\"timestamp\":{tail_ts}}}}}\n\n"
    ))
}

pub fn error(json: &[u8]) -> Bytes {
    let mut out = b"event: error\ndata: ".to_vec();
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// Parses `Last-Event-ID: <seq_num>,<count>,<bytes>`; the error is the header's message.
pub fn parse_last_event_id(v: &str) -> Result<(u64, u64, u64), String> {
    let mut parts = v.trim().splitn(3, ',');
    let mut field = |name: &str| -> Result<u64, String> {
        let p = parts
            .next()
            .ok_or_else(|| format!("missing {name} in Last-Event-Id"))?;
        p.trim()
            .parse::<u64>()
            .map_err(|e| format!("invalid {name} in Last-Event-ID: {e}"))
    };
    Ok((field("seq_num")?, field("count")?, field("bytes")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events() {
        assert_eq!(
            &batch(b"{}", 4, 5, 60)[..],
            b"event: batch\nid: 4,5,60\ndata: {}\n\n"
        );
        assert_eq!(
            &ping(9, 3, 2)[..],
            &b"event: ping\ndata: {\"timestamp\":9,\"tail\":{\"seq_num\":3,\"timestamp\":2}}\n\n"[..]
        );
        assert_eq!(parse_last_event_id("4,5,60"), Ok((4, 5, 60)));
        assert!(parse_last_event_id("x,1,2")
            .unwrap_err()
            .starts_with("invalid seq_num"));
        assert_eq!(
            parse_last_event_id("4").unwrap_err(),
            "missing count in Last-Event-Id"
        );
    }
}
