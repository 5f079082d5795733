//! Hostile clients against a live server with short deadlines: slow-loris heads and bodies,
//! a stalled HTTP/2 handshake, idle HTTP/2 and HTTP/1.1 connections, HTTP/2 rapid reset and
//! SETTINGS floods, and thousands of idle sockets. After each the server still appends and
//! reads, and its memory stays bounded.

use crate::support::{try_http, unique_basin, Server};
use s2_sdk::types::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const REQUEST_MS: u64 = 1000;
const IDLE_MS: u64 = 2000;

fn start() -> Server {
    Server::start(&[
        "--request-timeout-ms",
        &REQUEST_MS.to_string(),
        "--idle-timeout-ms",
        &IDLE_MS.to_string(),
        "--write-timeout-ms",
        "1000",
    ])
}

/// A basin with stream `s`, for the liveness checks.
async fn prepare(server: &Server) -> String {
    let basin = unique_basin("hostile");
    let s2 = server.client();
    s2.create_basin(CreateBasinInput::new(basin.parse().unwrap()))
        .await
        .unwrap();
    s2.basin(basin.parse().unwrap())
        .create_stream(CreateStreamInput::new("s".parse().unwrap()))
        .await
        .unwrap();
    basin
}

/// The server still takes an append and reads it back.
fn assert_serving(server: &Server, basin: &str, what: &str) {
    let body = format!(r#"{{"records":[{{"body":"after {what}"}}]}}"#);
    let headers = [("s2-basin", basin), ("content-type", "application/json")];
    let (status, resp) = try_http(
        server.port,
        "POST",
        "/v1/streams/s/records",
        &headers,
        &body,
    )
    .unwrap();
    assert_eq!(status, 200, "append after {what}: {resp}");
    let (status, resp) = try_http(
        server.port,
        "GET",
        "/v1/streams/s/records?tail_offset=1",
        &headers,
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "read after {what}: {resp}");
    assert!(resp.contains(&format!("after {what}")), "{resp}");
}

/// Writes `bytes` one at a time, `gap` apart, until the server closes; returns how long
/// the connection lived and what the server said.
fn trickle(port: u16, head: &[u8], bytes: &[u8], gap: Duration) -> (Duration, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let t = Instant::now();
    s.write_all(head).unwrap();
    let mut said = Vec::new();
    for b in bytes.iter().cycle() {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        assert!(t.elapsed() < Duration::from_secs(20), "never cut off");
        std::thread::sleep(gap);
    }
    (t.elapsed(), String::from_utf8_lossy(&said).into_owned())
}

#[tokio::test]
async fn slow_loris_heads_and_bodies_are_cut_off_at_the_request_deadline() {
    let server = start();
    let basin = prepare(&server).await;
    // A head that trickles a byte every 200 ms never trips a per-read stall of 1 s; the
    // deadline on the whole head ends it.
    let (lived, _) = trickle(
        server.port,
        b"GET /health HTTP/1.1\r\n",
        b"x-slow: aaaaaaaa\r\n",
        Duration::from_millis(200),
    );
    assert!(
        lived < Duration::from_millis(REQUEST_MS * 3),
        "slow head lived {lived:?}"
    );
    assert_serving(&server, &basin, "a slow head");

    // A body that trickles: answered 408 `request_timeout` at the body deadline.
    let head = format!(
        "POST /v1/streams/s/records HTTP/1.1\r\nhost: x\r\ns2-basin: {basin}\r\n\
         content-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    );
    let (lived, said) = trickle(
        server.port,
        head.as_bytes(),
        b"{",
        Duration::from_millis(200),
    );
    assert!(said.starts_with("HTTP/1.1 408"), "slow body: {said}");
    assert!(said.contains("request_timeout"), "{said}");
    assert!(
        lived < Duration::from_millis(REQUEST_MS * 5),
        "slow body lived {lived:?}"
    );
    assert_serving(&server, &basin, "a slow body");
}

/// Reads until the server closes (EOF or reset); how long that took. Panics if it is still
/// open after `within`.
fn time_to_close(mut s: TcpStream, within: Duration) -> Duration {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(t.elapsed());
        assert!(!left.is_zero(), "connection still open after {within:?}");
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return t.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return t.elapsed(),
        }
    }
}

#[tokio::test]
async fn idle_and_stalled_connections_are_closed() {
    let server = start();
    let basin = prepare(&server).await;
    let limit = Duration::from_millis(IDLE_MS * 3);

    // HTTP/2 preface, then nothing: the handshake deadline.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let took = time_to_close(s, limit);
    assert!(
        took < Duration::from_millis(REQUEST_MS * 3),
        "stalled h2 handshake: {took:?}"
    );

    // An idle HTTP/1.1 keep-alive connection.
    let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let took = time_to_close(s, limit);
    assert!(took < limit, "idle http/1.1: {took:?}");

    // An idle HTTP/2 connection, after one request: GOAWAY, then closed.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let req = http::Request::get("/health").body(()).unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    assert_eq!(resp.await.unwrap().status(), 200);
    let t = Instant::now();
    let ended = tokio::time::timeout(limit * 2, driver).await;
    assert!(
        ended.is_ok(),
        "idle h2 connection still open after {:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < limit * 2);
    assert_serving(&server, &basin, "idle connections");
}

#[tokio::test]
async fn http2_rapid_reset_and_settings_floods_leave_the_server_serving() {
    let server = start();
    let basin = prepare(&server).await;
    let rss_before = server.rss_kib();

    // Rapid reset (CVE-2023-44487): open streams and cancel them at once, many times.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let mut client = client;
    for _ in 0..5000 {
        let Ok(ready) = client.clone().ready().await else {
            break;
        };
        client = ready;
        let req = http::Request::post("/v1/basins").body(()).unwrap();
        match client.send_request(req, false) {
            Ok((resp, mut stream)) => {
                stream.send_reset(h2::Reason::CANCEL);
                drop(resp);
            }
            Err(_) => break,
        }
    }
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(10), driver).await;
    assert_serving(&server, &basin, "rapid reset");

    // A SETTINGS flood on a raw socket: the server may close it, but nothing else.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS frames: length 6, type 4, flags 0, stream 0, one setting (INITIAL_WINDOW).
    let frame = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0];
    for _ in 0..100_000 {
        flood.extend_from_slice(&frame);
    }
    let _ = s.write_all(&flood);
    drop(s);
    // CONTINUATION flood: HEADERS without END_HEADERS, then endless CONTINUATIONs.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    flood.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    flood.extend_from_slice(&[0, 0, 1, 1, 0, 0, 0, 0, 1, 0x82]);
    for _ in 0..100_000 {
        flood.extend_from_slice(&[0, 0, 1, 9, 0, 0, 0, 0, 1, 0x40]);
    }
    let _ = s.write_all(&flood);
    drop(s);
    assert_serving(&server, &basin, "SETTINGS and CONTINUATION floods");
    let grown = server.rss_kib().saturating_sub(rss_before);
    eprintln!("RSS grew {grown} KiB over the HTTP/2 floods");
    assert!(grown < 256 * 1024, "RSS grew {grown} KiB");
}

#[tokio::test]
async fn thousands_of_idle_connections_neither_starve_others_nor_grow_memory() {
    let server = start();
    let basin = prepare(&server).await;
    let rss_before = server.rss_kib();
    let idle: Vec<TcpStream> = (0..3000)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    assert_serving(&server, &basin, "3000 idle connections");
    let grown = server.rss_kib().saturating_sub(rss_before);
    eprintln!("RSS grew {grown} KiB with 3000 idle connections");
    assert!(grown < 128 * 1024, "RSS grew {grown} KiB");
    // They are all closed by the idle deadline (each sniff read stalls first).
    let t = Instant::now();
    let within = Duration::from_millis(IDLE_MS * 5);
    for s in idle {
        time_to_close(
            s,
            within
                .saturating_sub(t.elapsed())
                .max(Duration::from_millis(1)),
        );
    }
    eprintln!("3000 idle connections closed within {:?}", t.elapsed());
    assert_serving(&server, &basin, "idle connections closed");
}

#[tokio::test]
async fn bombs_and_garbage_bodies_get_s2_errors_and_cost_no_memory() {
    use std::io::Write as _;
    let server = start();
    let basin = prepare(&server).await;
    let rss_before = server.rss_kib();
    let append = |headers: &[(&str, &str)], body: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!(
            "POST /v1/streams/s/records HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
             s2-basin: {basin}\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut all = req.into_bytes();
        all.extend_from_slice(body);
        let _ = s.write_all(&all);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        crate::support::parse_response(&out)
    };

    // A gzip bomb: 256 MiB of zeros in ~256 KiB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    let (status, body) = append(
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        &bomb,
    );
    assert_eq!(status, 400, "gzip bomb: {body}");
    assert!(body.contains("bad_json"), "{body}");

    // A JSON nesting bomb.
    let nested = "[".repeat(1 << 20);
    let (status, body) = append(&[("content-type", "application/json")], nested.as_bytes());
    assert_eq!(status, 400, "nesting bomb: {body}");
    assert!(body.contains("bad_json"), "{body}");

    // Protobuf garbage.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let (status, body) = append(&[("content-type", "application/protobuf")], &garbage);
    assert_eq!(status, 400, "protobuf garbage: {body}");
    assert!(body.contains("bad_proto"), "{body}");

    // HTTP/2 garbage frames after a valid preface: the connection ends, nothing else.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut junk = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    junk.extend_from_slice(&garbage);
    let _ = s.write_all(&junk);
    time_to_close(s, Duration::from_secs(10));

    assert_serving(&server, &basin, "bombs and garbage");
    let grown = server.rss_kib().saturating_sub(rss_before);
    eprintln!("RSS grew {grown} KiB over the bombs");
    assert!(grown < 64 * 1024, "RSS grew {grown} KiB");
}

/// What the server holds for clients over all shards, now and at most (`/metrics`).
fn client_bytes_held(server: &Server) -> (u64, u64) {
    let (_, metrics) = try_http(server.port, "GET", "/metrics", &[], "").unwrap();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    (
        value("strand_client_bytes_held"),
        value("strand_client_bytes_held_peak"),
    )
}

/// Thousands of uploads that never finish, over HTTP/2 (many streams per connection) and
/// HTTP/1.1: before the client budget each buffered its body (GiBs); now the server holds
/// at most its budget, slows the rest by flow control, answers them 503 or 408, and then
/// serves as before.
#[tokio::test]
async fn uploads_that_never_finish_are_held_to_the_client_budget() {
    // 512 MiB: an eighth, 64 MiB, for clients (32 MiB per shard on two shards).
    let server = Server::start(&[
        "--memory-bytes",
        "536870912",
        "--request-timeout-ms",
        "2000",
        "--write-timeout-ms",
        "1000",
    ]);
    let basin = prepare(&server).await;
    let budget: u64 = 64 << 20;
    let rss_before = server.rss_kib();
    server.reset_peak_rss();
    const BODY: usize = 1 << 20;

    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (port, basin) = (server.port, basin.clone());
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (client, connection) = h2::client::handshake(tcp).await.unwrap();
            let driver = tokio::spawn(connection);
            let mut streams = Vec::new();
            let mut client = client;
            for _ in 0..100 {
                let Ok(ready) = client.clone().ready().await else {
                    break;
                };
                client = ready;
                let req = http::Request::post("/v1/streams/s/records")
                    .header("s2-basin", basin.as_str())
                    .header("content-type", "application/json")
                    .body(())
                    .unwrap();
                let Ok((resp, mut stream)) = client.send_request(req, false) else {
                    break;
                };
                // All but the end: the body never completes.
                let _ = stream.send_data(bytes::Bytes::from(vec![b' '; BODY - 1]), false);
                streams.push((resp, stream));
            }
            // Hold them until the server gives up on them.
            let mut statuses = Vec::new();
            for (resp, _stream) in streams {
                match tokio::time::timeout(Duration::from_secs(30), resp).await {
                    Ok(Ok(r)) => statuses.push(r.status().as_u16()),
                    Ok(Err(e)) => {
                        eprintln!("h2 stream: {e}");
                        statuses.push(0)
                    }
                    Err(_) => statuses.push(1),
                }
            }
            driver.abort();
            statuses
        }));
    }
    // Once HTTP/2 has spent the budget (or all its bodies are in), HTTP/1.1 joins in: 300
    // connections each declaring 2 MiB and sending all but one byte. Past the budget
    // their connections are refused or answered 503.
    let t = Instant::now();
    while client_bytes_held(&server).0 < budget * 9 / 10 && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut h1 = Vec::new();
    for _ in 0..300 {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", server.port)) else {
            continue;
        };
        s.set_nonblocking(true).unwrap();
        let head = format!(
            "POST /v1/streams/s/records HTTP/1.1\r\nhost: x\r\ns2-basin: {basin}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            2 * BODY
        );
        let _ = s.write_all(head.as_bytes());
        let mut body = vec![b' '; 2 * BODY - 1];
        // Nonblocking: as much as the server takes now; the rest keeps pushing below.
        let sent = s.write(&body).unwrap_or(0);
        body.drain(..sent);
        h1.push((s, body));
    }
    let pusher = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until {
            for (s, body) in h1.iter_mut() {
                if !body.is_empty() {
                    if let Ok(n) = s.write(body) {
                        body.drain(..n);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        h1
    });

    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        for s in t.await.unwrap() {
            *statuses.entry(s).or_default() += 1;
        }
    }
    drop(pusher.join().unwrap());
    let peak_rss = server.peak_rss_kib();
    let (_, held_peak) = client_bytes_held(&server);
    eprintln!(
        "h2 answers {statuses:?}; peak held {} KiB of a {} KiB budget; peak RSS +{} KiB",
        held_peak >> 10,
        budget >> 10,
        peak_rss.saturating_sub(rss_before)
    );
    // Every stream was answered (nothing hung): refused for time or budget, never taken,
    // or its connection was refused (0) once the budget was spent.
    assert!(
        statuses.keys().all(|s| [0, 408, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains_key(&503),
        "the budget was reached: {statuses:?}"
    );
    // Heads have an eighth more room; charges for responses may overdraw a little.
    assert!(
        held_peak <= budget + budget / 8 + (4 << 20),
        "held {held_peak} of {budget}"
    );
    // 2400 bodies of 1 MiB and 300 of 2 MiB were offered: ~3 GiB without the budget.
    let grown = peak_rss.saturating_sub(rss_before);
    assert!(grown < 256 * 1024, "peak RSS grew {grown} KiB");
    assert_serving(&server, &basin, "uploads that never finish");
    // Nothing leaked: with the attackers gone the budget empties (our own /metrics request
    // holds a little while it asks).
    let t = Instant::now();
    let held = loop {
        let (held, _) = client_bytes_held(&server);
        if held < 256 << 10 || t.elapsed() > Duration::from_secs(10) {
            break held;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(held < 256 << 10, "{held} bytes still held");
}
