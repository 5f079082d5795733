//! Unary append, read and check-tail through the Rust SDK (protobuf over HTTP/2), and crash
//! durability: acknowledged records survive SIGKILL, in order, gap-free, never duplicated.

use crate::support::{unique_basin, Server};
use s2_sdk::types::*;
use s2_sdk::S2Stream;
use std::num::NonZeroU32;
use std::time::Duration;

pub(crate) fn no_retry_client(server: &Server) -> s2_sdk::S2 {
    let endpoints = S2Endpoints::for_endpoint(&server.endpoint()).unwrap();
    let config = S2Config::new("ignored")
        .with_endpoints(endpoints)
        .with_retry(RetryConfig::new().with_max_attempts(NonZeroU32::new(1).unwrap()));
    s2_sdk::S2::new(config).unwrap()
}

async fn new_stream(s2: &s2_sdk::S2, config: Option<StreamConfig>) -> S2Stream {
    let b = unique_basin("rs-data");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    let mut input = CreateStreamInput::new("s".parse().unwrap());
    if let Some(c) = config {
        input = input.with_config(c);
    }
    basin.create_stream(input).await.unwrap();
    basin.stream("s".parse().unwrap())
}

pub(crate) fn batch(bodies: &[String]) -> AppendInput {
    AppendInput::new(
        AppendRecordBatch::try_from_iter(
            bodies.iter().map(|b| AppendRecord::new(b.clone()).unwrap()),
        )
        .unwrap(),
    )
}

/// Every record from seq 0 to the tail, through unary reads.
pub(crate) async fn read_all(stream: &S2Stream) -> Vec<SequencedRecord> {
    let tail = stream.check_tail().await.unwrap().seq_num;
    let mut out: Vec<SequencedRecord> = Vec::new();
    while (out.len() as u64) < tail {
        let input = ReadInput::new()
            .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(out.len() as u64)));
        let b = stream.read(input).await.unwrap();
        assert!(
            !b.records.is_empty(),
            "read made no progress at {}",
            out.len()
        );
        out.extend(b.records);
    }
    out
}

#[tokio::test]
async fn append_read_check_tail_round_trip() {
    for storage_class in ["express", "standard"] {
        let server = Server::start(&[]);
        let s2 = server.client();
        let stream = new_stream(
            &s2,
            Some(StreamConfig::new().with_storage_class(storage_class)),
        )
        .await;
        assert_eq!(stream.check_tail().await.unwrap().seq_num, 0);
        let bodies: Vec<String> = (0..10).map(|i| format!("record-{i}")).collect();
        let ack = stream.append(batch(&bodies[..4])).await.unwrap();
        assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 4));
        let ack = stream
            .append(batch(&bodies[4..]).with_match_seq_num(4))
            .await
            .unwrap();
        assert_eq!((ack.start.seq_num, ack.end.seq_num), (4, 10));
        assert_eq!(stream.check_tail().await.unwrap().seq_num, 10);
        let records = read_all(&stream).await;
        let got: Vec<String> = records
            .iter()
            .map(|r| String::from_utf8(r.body.to_vec()).unwrap())
            .collect();
        assert_eq!(got, bodies, "{storage_class}");
        let ts: Vec<u64> = records.iter().map(|r| r.timestamp).collect();
        assert!(
            ts.windows(2).all(|w| w[0] <= w[1]),
            "timestamps never decrease"
        );
        // A stale match_seq_num is refused with the current tail.
        match stream
            .append(batch(&bodies[..1]).with_match_seq_num(3))
            .await
        {
            Err(s2_sdk::error::AppendError::ConditionFailed(_)) => {}
            other => panic!("expected a condition failure, got {other:?}"),
        }
        // Reading past the tail is 416 with the tail.
        let past = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(11)));
        match stream.read(past).await {
            Err(s2_sdk::error::ReadError::ReadUnwritten(tail)) => assert_eq!(tail.seq_num, 10),
            other => panic!("expected 416, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn long_poll_read_returns_new_records_with_tail() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let stream = new_stream(&s2, None).await;
    stream.append(batch(&["a".into()])).await.unwrap();
    let reader = {
        let stream = stream.clone();
        tokio::spawn(async move {
            let input = ReadInput::new()
                .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(1)))
                .with_stop(ReadStop::new().with_wait(10));
            stream.read(input).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.append(batch(&["b".into()])).await.unwrap();
    let got = reader.await.unwrap().unwrap();
    assert_eq!(got.records.len(), 1);
    assert_eq!(&got.records[0].body[..], b"b");
}

#[tokio::test]
async fn concurrent_match_seq_num_writers_win_each_position_once() {
    let server = Server::start(&[]);
    let s2 = no_retry_client(&server);
    let stream = new_stream(&s2, None).await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let stream = stream.clone();
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            for _ in 0..40 {
                let tail = stream.check_tail().await.unwrap().seq_num;
                let body = format!("w{w}-{tail}");
                if let Ok(ack) = stream.append(batch(&[body]).with_match_seq_num(tail)).await {
                    wins.push(ack.start.seq_num);
                }
            }
            wins
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let expected: Vec<u64> = (0..all.len() as u64).collect();
    assert_eq!(all, expected, "each position won exactly once");
    let records = read_all(&stream).await;
    assert_eq!(records.len(), all.len());
    for r in &records {
        let body = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(
            body.ends_with(&format!("-{}", r.seq_num)),
            "{body} at {}",
            r.seq_num
        );
    }
}

#[tokio::test]
async fn trim_hides_records_below_the_trim_point_and_keeps_the_tail() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let stream = new_stream(&s2, None).await;
    let bodies: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    stream.append(batch(&bodies)).await.unwrap();
    // A trim command record (base64 JSON): header ["", "trim"], body = 5 as 8 bytes BE.
    let basin = stream_basin(&s2, &stream).await;
    let (status, body) = crate::support::http(
        server.port,
        "POST",
        "/v1/streams/s/records",
        &[
            ("s2-basin", &basin),
            ("content-type", "application/json"),
            ("s2-format", "base64"),
        ],
        r#"{"records":[{"headers":[["","dHJpbQ=="]],"body":"AAAAAAAAAAU="}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        stream.check_tail().await.unwrap().seq_num,
        11,
        "trim does not move the tail"
    );
    let from0 = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
    let got = stream.read(from0).await.unwrap();
    let seqs: Vec<u64> = got.records.iter().map(|r| r.seq_num).collect();
    assert_eq!(seqs, (5..11).collect::<Vec<u64>>());
}

/// The basin name of a stream made by `new_stream` (the only basin with this prefix).
async fn stream_basin(s2: &s2_sdk::S2, _stream: &S2Stream) -> String {
    let page = s2
        .list_basins(ListBasinsInput::new().with_prefix("rs-data".parse().unwrap()))
        .await
        .unwrap();
    page.values.last().unwrap().name.to_string()
}

/// A basin whose streams get `cipher`, and one such stream.
async fn cipher_stream(s2: &s2_sdk::S2, cipher: EncryptionAlgorithm) -> (String, S2Stream) {
    let b = unique_basin("rs-cipher");
    let config = BasinConfig::new().with_stream_cipher(cipher);
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()).with_config(config))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    basin
        .create_stream(CreateStreamInput::new("s".parse().unwrap()))
        .await
        .unwrap();
    (b.clone(), basin.stream("s".parse().unwrap()))
}

fn key(byte: u8) -> EncryptionKey {
    EncryptionKey::new([byte; 32])
}

/// Records of a stream with a cipher are sealed with the client's key: the SDK reads them
/// back with it (unary and in a session), a wrong key reads `decryption_failed`, a missing
/// one is refused, commands stay readable, and no plaintext reaches the store.
#[tokio::test]
async fn encrypted_streams_round_trip_with_the_right_key_only() {
    let root = crate::support::temp_dir("cipher-root");
    let server = Server::start(&["--local-root", root.to_str().unwrap()]);
    let s2 = no_retry_client(&server);
    for cipher in [
        EncryptionAlgorithm::Aegis256,
        EncryptionAlgorithm::Aes256Gcm,
    ] {
        let (b, plain_handle) = cipher_stream(&s2, cipher).await;
        let stream = plain_handle.clone().with_encryption_key(key(7));
        let secret = format!("top-secret-{b}");
        let record = AppendRecord::new(secret.clone())
            .unwrap()
            .with_headers([Header::new("hdr-name", "hdr-value")])
            .unwrap();
        let input = AppendInput::new(AppendRecordBatch::try_from_iter([record]).unwrap());
        let ack = stream.append(input).await.unwrap();
        assert_eq!(ack.start.seq_num, 0);
        stream
            .append(AppendInput::new(
                AppendRecordBatch::try_from_iter([
                    CommandRecord::fence("f1".parse().unwrap()).into()
                ])
                .unwrap(),
            ))
            .await
            .unwrap();

        let records = read_all(&stream).await;
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].body, secret.as_bytes());
        assert_eq!(records[0].headers.len(), 1);
        assert_eq!(records[0].headers[0].name, "hdr-name");

        // A session reads the same, catching up then following.
        let mut session = stream
            .read_session(
                ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))),
                ReadSessionConfig::new(),
            )
            .await
            .unwrap();
        let later = stream.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            later.append(batch(&["live".to_string()])).await.unwrap();
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            use futures::StreamExt;
            let b = session.next().await.unwrap().unwrap();
            got.extend(b.records);
        }
        assert_eq!(got[0].body, secret.as_bytes());
        assert_eq!(got[2].body, &b"live"[..]);

        // The wrong key: 400 decryption_failed; none: 400 bad_header.
        let wrong = plain_handle.clone().with_encryption_key(key(8));
        let err = wrong
            .read(ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))))
            .await
            .unwrap_err();
        assert!(format!("{err:?}").contains("decryption_failed"), "{err:?}");
        let err = plain_handle
            .read(ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))))
            .await
            .unwrap_err();
        assert!(
            format!("{err:?}").contains("missing encryption key for stream cipher"),
            "{err:?}"
        );
        let err = plain_handle.append(batch(&["x".into()])).await.unwrap_err();
        assert!(format!("{err:?}").contains("bad_header"), "{err:?}");
        // The command record reads with any key.
        let b = wrong
            .read(
                ReadInput::new()
                    .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(1)))
                    .with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(1))),
            )
            .await
            .unwrap();
        assert_eq!(b.records.len(), 1);
        // Nothing the store holds contains the plaintext, though a plaintext stream's body
        // written beside it is found there (the search itself works).
        let canary = new_stream(&s2, None).await;
        let canary_body = secret.replace("top-secret", "plain-canary");
        canary
            .append(batch(std::slice::from_ref(&canary_body)))
            .await
            .unwrap();
        let mut hits = Vec::new();
        find_bytes(&root, canary_body.as_bytes(), &mut hits);
        assert!(!hits.is_empty(), "the store is searchable");
        hits.clear();
        find_bytes(&root, secret.as_bytes(), &mut hits);
        assert!(hits.is_empty(), "plaintext found in {hits:?}");
    }
}

fn find_bytes(dir: &std::path::Path, needle: &[u8], hits: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_bytes(&path, needle, hits);
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path);
            }
        }
    }
}

/// Retention is exact for readers: once a record's age passes the stream's retention it is
/// never returned (from the window, or from storage after a restart), while the tail stays.
#[tokio::test]
async fn records_past_their_retention_are_never_read() {
    let root = crate::support::temp_dir("retention-root");
    let mut server = Server::start(&["--local-root", root.to_str().unwrap()]);
    let s2 = no_retry_client(&server);
    let config = StreamConfig::new().with_retention_policy(RetentionPolicy::Age(1));
    let stream = new_stream(&s2, Some(config)).await;
    let bodies: Vec<String> = (0..3).map(|i| format!("old-{i}")).collect();
    stream.append(batch(&bodies)).await.unwrap();
    assert_eq!(read_all(&stream).await.len(), 3);
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let from_zero = || ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
    // From the window: nothing, though the tail is unchanged.
    assert!(stream.read(from_zero()).await.unwrap().records.is_empty());
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 3);
    stream.append(batch(&["fresh".into()])).await.unwrap();
    let got = stream.read(from_zero()).await.unwrap().records;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].seq_num, &got[0].body[..]), (3, &b"fresh"[..]));

    // A session from 0 starts at the first live record.
    let mut session = stream
        .read_session(from_zero(), ReadSessionConfig::new())
        .await
        .unwrap();
    {
        use futures::StreamExt;
        let b = session.next().await.unwrap().unwrap();
        assert_eq!(b.records[0].seq_num, 3);
    }
    drop(session);

    // From storage after a restart (no window), once "fresh" has expired too.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    server.restart(&[]);
    let s2 = no_retry_client(&server);
    let basin = stream_basin(&s2, &stream).await;
    let stream = s2
        .basin(basin.parse().unwrap())
        .stream("s".parse().unwrap());
    assert!(stream.read(from_zero()).await.unwrap().records.is_empty());
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 4);
}

/// The s2 CLI on an encrypted stream: `--stream-cipher` on the basin, `--encryption-key`
/// on append and read; the wrong key fails, the right one reads back.
#[test]
fn cli_encrypted_stream_round_trip() {
    use crate::support::{run_cli, run_cli_with_input};
    let server = Server::start(&[]);
    let endpoint = server.endpoint();
    let b = unique_basin("cli-cipher");
    let (ok, _, err) = run_cli(&endpoint, &["create-basin", &b]);
    assert!(ok, "{err}");
    let basin_uri = format!("s2://{b}");
    let (ok, _, err) = run_cli(
        &endpoint,
        &[
            "reconfigure-basin",
            &basin_uri,
            "--stream-cipher",
            "aes-256-gcm",
        ],
    );
    assert!(ok, "{err}");
    let uri = format!("s2://{b}/secret");
    let (ok, _, err) = run_cli(&endpoint, &["create-stream", &uri]);
    assert!(ok, "{err}");
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let wrong = "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=";
    let (ok, _, err) = run_cli_with_input(
        &endpoint,
        &["append", &uri, "--encryption-key", key],
        Some("cli-sealed-one\ncli-sealed-two\n"),
    );
    assert!(ok, "{err}");
    let read = |k: &str| {
        run_cli(
            &endpoint,
            &[
                "read",
                &uri,
                "--seq-num",
                "0",
                "--count",
                "2",
                "--encryption-key",
                k,
            ],
        )
    };
    let (ok, out, err) = read(key);
    assert!(ok, "{err}");
    assert!(
        out.contains("cli-sealed-one") && out.contains("cli-sealed-two"),
        "{out}"
    );
    let (ok, out, err) = read(wrong);
    assert!(!ok && !out.contains("cli-sealed"), "{out} {err}");
    assert!(err.contains("decryption"), "{err}");
}
