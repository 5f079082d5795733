//! Bad input at the HTTP layer: each gets a clean error response or a closed connection, and
//! the server keeps serving.

use crate::support::{http, parse_response, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn exchange(port: u16, bytes: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_response(&out)
}

fn assert_still_serving(port: u16) {
    assert_eq!(
        http(port, "GET", "/health", &[], "").0,
        200,
        "server stopped serving"
    );
}

#[test]
fn garbage_and_truncated_requests_are_refused_cleanly() {
    let server = Server::start(&[]);
    let p = server.port;
    assert_eq!(exchange(p, b"\x00\x01\x02garbage\r\n\r\n").0, 400);
    assert_eq!(
        exchange(p, b"GET /health HTTP/1.1\r\nbad header line\r\n\r\n").0,
        400
    );
    // Truncated head, then the client goes away: no response, no harm.
    assert_eq!(exchange(p, b"GET /health HTTP/1.1\r\nhost: x").0, 0);
    // Truncated body.
    assert_eq!(
        exchange(p, b"POST /v1/basins HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{\"ba").0,
        0
    );
    // Bad chunked encoding.
    assert_eq!(
        exchange(
            p,
            b"POST /v1/basins HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"
        )
        .0,
        400
    );
    // A garbled HTTP/2 connection after a valid preface.
    let _ = exchange(
        p,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    );
    assert_still_serving(p);
}

#[test]
fn oversized_heads_and_bodies_are_refused() {
    let server = Server::start(&[]);
    let p = server.port;
    let big_header = format!(
        "GET /health HTTP/1.1\r\nx-big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    assert_eq!(exchange(p, big_header.as_bytes()).0, 431);
    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    assert_eq!(
        exchange(p, format!("GET /health HTTP/1.1\r\n{many}\r\n").as_bytes()).0,
        431
    );
    let head = "POST /v1/basins HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 3000000\r\n\r\n";
    let (status, body) = exchange(p, head.as_bytes());
    assert_eq!(status, 400);
    assert!(body.contains("\"code\":\"bad_json\""), "{body}");
    assert!(body.contains("length limit exceeded"), "{body}");
    // The same limit for a chunked body.
    let mut chunked = b"POST /v1/basins HTTP/1.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..3 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = exchange(p, &chunked);
    assert_eq!(status, 400, "{body}");
    assert_still_serving(p);
}

#[test]
fn bad_json_gets_s2_errors() {
    let server = Server::start(&[]);
    let p = server.port;
    let json = [("content-type", "application/json")];
    let (status, body) = http(p, "POST", "/v1/basins", &json, "{\"basin\":");
    assert_eq!(status, 400);
    assert!(
        body.starts_with("{\"code\":\"bad_json\",\"message\":\"EOF while parsing"),
        "{body}"
    );
    let (status, body) = http(p, "POST", "/v1/basins", &json, "[1,2]");
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(p, "POST", "/v1/basins", &[], "{}");
    assert_eq!((status, body.as_str()), (400, "{\"code\":\"bad_json\",\"message\":\"Expected request with `Content-Type: application/json`\"}"));
    // Chunked and keep-alive requests still work after all that.
    let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /v1/basins HTTP/1.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"ba\r\n15\r\nsin\":\"chunked-basin\"}\r\n0\r\n\r\nGET /v1/basins?prefix=chunked HTTP/1.1\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 201 Created"), "{out}");
    assert!(out.matches("HTTP/1.1 ").count() == 2, "{out}");
    assert!(
        out.contains("{\"basins\":[{\"name\":\"chunked-basin\""),
        "{out}"
    );
    assert_still_serving(p);
}

/// Lying or conflicting body framing: each gets 400 (or the body limit), never a panic
/// that would take the shard down; the server answers afterwards on every shard.
#[test]
fn lying_chunk_sizes_and_conflicting_lengths_are_refused() {
    let server = Server::start(&[]);
    let p = server.port;
    let post = "POST /v1/basins HTTP/1.1\r\ncontent-type: application/json\r\n";
    // Each is sent many times so every shard's acceptor sees it.
    for _ in 0..8 {
        let huge = format!("{post}transfer-encoding: chunked\r\n\r\nffffffffffffffff\r\nxx\r\n");
        let (status, body) = exchange(p, huge.as_bytes());
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("length limit exceeded"), "{body}");
        let overflow = format!("{post}transfer-encoding: chunked\r\n\r\n10000000000000000\r\n");
        assert_eq!(exchange(p, overflow.as_bytes()).0, 400);
        let both = format!(
            "{post}transfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
        );
        assert_eq!(exchange(p, both.as_bytes()).0, 400);
        let two_lengths = format!("{post}content-length: 2\r\ncontent-length: 3\r\n\r\n{{}}x");
        assert_eq!(exchange(p, two_lengths.as_bytes()).0, 400);
        let negative = format!("{post}content-length: -1\r\n\r\n");
        assert_eq!(exchange(p, negative.as_bytes()).0, 400);
    }
    for _ in 0..16 {
        assert_still_serving(p);
    }
}
