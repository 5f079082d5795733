//! TLS as s2-lite serves it: `--tls-self` and `--tls-cert`/`--tls-key`, with ALPN h2 (the Rust
//! SDK and the s2 CLI, sessions included) and HTTP/1.1 (curl), and a cleartext client refused.

use crate::support::{run_cli, run_cli_with_input, temp_dir, unique_basin, Server};
use s2_sdk::types::*;
use std::process::Command;
use std::time::Duration;

fn tls_client(server: &Server) -> s2_sdk::S2 {
    let endpoint = format!("https://127.0.0.1:{}", server.port);
    let endpoints = S2Endpoints::for_endpoint(&endpoint).unwrap();
    let config = S2Config::new("ignored")
        .with_endpoints(endpoints)
        .with_insecure_skip_cert_verification(true);
    s2_sdk::S2::new(config).unwrap()
}

async fn sdk_round_trip(server: &Server) {
    let s2 = tls_client(server);
    let (_, stream) = crate::support::basin_with_stream(&s2, "rs-tls", "s").await;
    let ack = stream
        .append(crate::data_plane::batch(&["over-tls".into()]))
        .await
        .unwrap();
    assert_eq!(ack.end.seq_num, 1);
    // A read session (S2S over h2, negotiated by ALPN) sees a later append live.
    let mut session = stream
        .read_session(
            ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))),
            ReadSessionConfig::new(),
        )
        .await
        .unwrap();
    let writer = stream.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer
            .append(crate::data_plane::batch(&["live".into()]))
            .await
            .unwrap();
    });
    let mut got = Vec::new();
    while got.len() < 2 {
        use futures::StreamExt;
        let batch = tokio::time::timeout(Duration::from_secs(10), session.next())
            .await
            .expect("a batch in time")
            .unwrap()
            .unwrap();
        got.extend(batch.records);
    }
    assert_eq!(got[1].body, &b"live"[..]);
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl").args(args).output().expect("curl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn self_signed_tls_serves_the_sdk_cli_and_http1() {
    let server = Server::start_tls(&["--tls-self"]);
    sdk_round_trip(&server).await;

    let endpoint = format!("https://127.0.0.1:{}", server.port);
    let b = unique_basin("cli-tls");
    let (ok, _, err) = run_cli(&endpoint, &["create-basin", &b]);
    assert!(ok, "{err}");
    let uri = format!("s2://{b}/events");
    let (ok, _, err) = run_cli(&endpoint, &["create-stream", &uri]);
    assert!(ok, "{err}");
    let (ok, _, err) = run_cli_with_input(&endpoint, &["append", &uri], Some("one\ntwo\n"));
    assert!(ok, "{err}");
    let (ok, out, err) = run_cli(&endpoint, &["read", &uri, "--seq-num", "0", "--count", "2"]);
    assert!(ok, "{err}");
    assert!(out.contains("one") && out.contains("two"), "{out}");

    // HTTP/1.1 over TLS (ALPN http/1.1), and HTTP/2 by ALPN.
    let url = format!("{endpoint}/v1/basins?prefix={b}");
    let (ok, body) = curl(&["-sfk", "--http1.1", &url]);
    assert!(ok && body.contains(&b), "{body}");
    let (ok, version) = curl(&[
        "-sk",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &url,
    ]);
    assert!(ok && version == "2", "{version}");
    // A cleartext client gets no answer from a TLS port.
    let (ok, _) = curl(&[
        "-sf",
        "--max-time",
        "5",
        &format!("http://127.0.0.1:{}/health", server.port),
    ]);
    assert!(!ok);
}

#[tokio::test]
async fn tls_with_certificate_files() {
    let dir = temp_dir("tls-files");
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let server = Server::start_tls(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    sdk_round_trip(&server).await;
    // The certificate presented is the one given: curl trusts it as its CA.
    let url = format!("https://127.0.0.1:{}/health", server.port);
    let (ok, body) = curl(&["-sf", "--cacert", cert.to_str().unwrap(), &url]);
    assert!(ok && body.trim() == "OK", "{body}");
}

#[test]
fn bad_tls_flags_stop_start_up() {
    let dir = temp_dir("tls-bad");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not pem").unwrap();
    for args in [
        vec!["--tls-cert", junk.to_str().unwrap()],
        vec![
            "--tls-self",
            "--tls-cert",
            junk.to_str().unwrap(),
            "--tls-key",
            junk.to_str().unwrap(),
        ],
        vec![
            "--tls-cert",
            junk.to_str().unwrap(),
            "--tls-key",
            junk.to_str().unwrap(),
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_strand"))
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &crate::support::free_port().to_string(),
            ])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
    }
}

/// A client that connects and never finishes its handshake is cut off at the request
/// deadline, and the shard goes on serving others.
#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_at_the_deadline() {
    use std::io::{Read, Write};
    let server = Server::start_tls(&["--tls-self", "--request-timeout-ms", "500"]);
    let started = std::time::Instant::now();
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(b"\x16\x03\x01").unwrap(); // the start of a ClientHello, then nothing
    let mut buf = [0u8; 64];
    let n = sock.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server answered a half handshake");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    sdk_round_trip(&server).await;
}
