//! Sessions through the Rust SDK: append sessions and the producer, followers at scale, a
//! follower that stalls and resumes.

use crate::support::{unique_basin, Server};
use futures::StreamExt;
use s2_sdk::append_session::AppendSessionConfig;
use s2_sdk::types::*;
use std::time::Duration;

/// 1000 followers of one stream (10 clients × 100 sessions) while a writer appends: each
/// sees every record once, in order, and the server's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_followers_each_see_every_record_once_in_order() {
    const CLIENTS: usize = 10;
    const PER_CLIENT: usize = 100;
    const RECORDS: usize = 200;
    let server = Server::start(&[]);
    let (b, _basin, writer) = fresh_named(&server, "fanout").await;
    let mut followers = Vec::new();
    for _ in 0..CLIENTS {
        let stream = server
            .client()
            .basin(b.parse().unwrap())
            .stream("s".parse().unwrap());
        for _ in 0..PER_CLIENT {
            let stream = stream.clone();
            followers.push(tokio::spawn(async move {
                let input =
                    ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
                let mut session = stream
                    .read_session(input, ReadSessionConfig::new())
                    .await
                    .unwrap();
                let mut seen: Vec<u64> = Vec::with_capacity(RECORDS);
                while seen.len() < RECORDS {
                    let batch = tokio::time::timeout(Duration::from_secs(60), session.next())
                        .await
                        .expect("records keep coming")
                        .expect("session open")
                        .expect("no session error");
                    seen.extend(batch.records.iter().map(|r| r.seq_num));
                }
                seen
            }));
        }
    }
    // Give the followers a moment to attach, then write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..RECORDS / 10 {
        let records = AppendRecordBatch::try_from_iter(
            (0..10).map(|j| AppendRecord::new(format!("record-{i}-{j}")).unwrap()),
        )
        .unwrap();
        writer.append(AppendInput::new(records)).await.unwrap();
    }
    let expected: Vec<u64> = (0..RECORDS as u64).collect();
    for f in followers {
        assert_eq!(f.await.unwrap(), expected);
    }
    let peak_mib = server.peak_rss_kib() / 1024;
    eprintln!(
        "peak server RSS with {} followers: {peak_mib} MiB",
        CLIENTS * PER_CLIENT
    );
    assert!(
        peak_mib < 512,
        "server peak RSS {peak_mib} MiB with 1000 followers"
    );
}

/// A new basin with stream "s": (basin name, basin, stream).
async fn fresh_named(server: &Server, prefix: &str) -> (String, s2_sdk::S2Basin, s2_sdk::S2Stream) {
    let s2 = server.client();
    let b = unique_basin(prefix);
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    basin
        .create_stream(CreateStreamInput::new("s".parse().unwrap()))
        .await
        .unwrap();
    let stream = basin.stream("s".parse().unwrap());
    (b, basin, stream)
}

async fn fresh_stream(server: &Server, prefix: &str) -> (s2_sdk::S2Basin, s2_sdk::S2Stream) {
    let (_, basin, stream) = fresh_named(server, prefix).await;
    (basin, stream)
}

fn batch(i: usize, n: usize, size: usize) -> AppendRecordBatch {
    AppendRecordBatch::try_from_iter((0..n).map(|j| {
        let mut body = format!("{i}-{j}-").into_bytes();
        body.resize(size.max(body.len()), b'.');
        AppendRecord::new(body).unwrap()
    }))
    .unwrap()
}

/// Reads `count` records from seq 0 through a read session, returning their seq nums and
/// bodies.
async fn read_all(stream: &s2_sdk::S2Stream, count: usize) -> Vec<(u64, bytes::Bytes)> {
    let input = ReadInput::new()
        .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)))
        .with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(count)));
    let mut session = stream
        .read_session(input, ReadSessionConfig::new())
        .await
        .unwrap();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let batch = tokio::time::timeout(Duration::from_secs(30), session.next())
            .await
            .expect("records keep coming")
            .expect("session open")
            .expect("no session error");
        out.extend(batch.records.into_iter().map(|r| (r.seq_num, r.body)));
    }
    out
}

/// The SDK's append session: 50 batches submitted without waiting, acknowledged in order
/// with contiguous ranges, and all of it readable in order afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_append_session_pipelines_batches_and_acks_them_in_order() {
    let server = Server::start(&[]);
    let (_basin, stream) = fresh_stream(&server, "appsess").await;
    let session = stream.append_session(AppendSessionConfig::new());
    let mut tickets = Vec::new();
    for i in 0..50 {
        tickets.push(
            session
                .submit(AppendInput::new(batch(i, 10, 100)))
                .await
                .unwrap(),
        );
    }
    for (i, t) in tickets.into_iter().enumerate() {
        let ack = t.await.unwrap();
        assert_eq!(ack.start.seq_num, i as u64 * 10);
        assert_eq!(ack.end.seq_num, i as u64 * 10 + 10);
    }
    session.close().await.unwrap();
    let read = read_all(&stream, 500).await;
    for (k, (seq, body)) in read.iter().enumerate() {
        assert_eq!(*seq, k as u64);
        assert!(body.starts_with(format!("{}-{}-", k / 10, k % 10).as_bytes()));
    }
}

/// The SDK's producer (per-record acks over a batching append session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_producer_acks_every_record_with_its_seq_num() {
    let server = Server::start(&[]);
    let (_basin, stream) = fresh_stream(&server, "producer").await;
    let producer = stream.producer(s2_sdk::producer::ProducerConfig::default());
    let mut tickets = Vec::new();
    for i in 0..300 {
        tickets.push(
            producer
                .submit(AppendRecord::new(format!("r{i}")).unwrap())
                .await
                .unwrap(),
        );
    }
    for (i, t) in tickets.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().seq_num, i as u64);
    }
    producer.close().await.unwrap();
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 300);
}

/// A session whose second batch fails its match_seq_num: the first is acknowledged, the
/// second gets the mismatch, nothing after it is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_append_session_stops_at_the_first_failed_condition() {
    let server = Server::start(&[]);
    let (_basin, stream) = fresh_stream(&server, "appfail").await;
    let session = stream.append_session(AppendSessionConfig::new());
    let first = session
        .submit(AppendInput::new(batch(0, 5, 10)).with_match_seq_num(0))
        .await
        .unwrap();
    let second = session
        .submit(AppendInput::new(batch(1, 5, 10)).with_match_seq_num(999))
        .await
        .unwrap();
    assert_eq!(first.await.unwrap().end.seq_num, 5);
    let err = second.await.expect_err("the mismatch fails the batch");
    assert!(
        format!("{err:?}").to_lowercase().contains("seq"),
        "unexpected error {err:?}"
    );
    let third = session.submit(AppendInput::new(batch(2, 5, 10))).await;
    if let Ok(t) = third {
        assert!(t.await.is_err(), "a failed session takes no more batches");
    }
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 5);
}

/// Appends `batches` batches of 16 × 8 KiB records through one append session.
async fn write_mib(stream: &s2_sdk::S2Stream, from: usize, batches: usize) {
    let session = stream.append_session(AppendSessionConfig::new());
    let mut tickets = Vec::new();
    for i in from..from + batches {
        tickets.push(
            session
                .submit(AppendInput::new(batch(i, 16, 8192)))
                .await
                .unwrap(),
        );
    }
    for t in tickets {
        t.await.unwrap();
    }
    session.close().await.unwrap();
}

/// A follower that stops reading while 96 MiB are appended, then resumes: it sees every
/// record once, in order, and it costs the server no memory in proportion to what it
/// missed. The same write with no follower is measured first; the stalled follower may add
/// its bounded session buffers, not the 96 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_stops_reading_then_resumes_loses_nothing() {
    const BATCHES: usize = 768; // × 16 records × 8 KiB = 96 MiB
    const PER_BATCH: usize = 16;
    let dir = crate::support::temp_dir("slow-follower");
    let server = Server::start(&["--local-root", dir.to_str().unwrap()]);

    // Phase A: the same write with nobody following.
    let (basin, quiet) = fresh_stream(&server, "slowfollow").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_a = server.rss_kib();
    server.reset_peak_rss();
    write_mib(&quiet, 0, BATCHES).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let growth_a = server.peak_rss_kib().saturating_sub(before_a) / 1024;

    // Phase B: a follower reads one batch, then stalls while everything else is written.
    basin
        .create_stream(CreateStreamInput::new("followed".parse().unwrap()))
        .await
        .unwrap();
    let stream = basin.stream("followed".parse().unwrap());
    let input = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
    let mut follower = stream
        .read_session(input, ReadSessionConfig::new())
        .await
        .unwrap();
    stream
        .append(AppendInput::new(batch(0, PER_BATCH, 8192)))
        .await
        .unwrap();
    let first = follower.next().await.unwrap().unwrap();
    let mut seen: Vec<u64> = first.records.iter().map(|r| r.seq_num).collect();
    let before_b = server.rss_kib();
    server.reset_peak_rss();
    write_mib(&stream, 1, BATCHES - 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let growth_b = server.peak_rss_kib().saturating_sub(before_b) / 1024;

    // Resume: everything arrives, once, in order.
    while seen.len() < BATCHES * PER_BATCH {
        let batch = tokio::time::timeout(Duration::from_secs(60), follower.next())
            .await
            .expect("records keep coming")
            .expect("session open")
            .expect("no session error");
        seen.extend(batch.records.iter().map(|r| r.seq_num));
    }
    let expected: Vec<u64> = (0..(BATCHES * PER_BATCH) as u64).collect();
    assert!(seen == expected, "records lost, repeated or out of order");
    eprintln!(
        "slow follower: writing 96 MiB grew the server by {growth_a} MiB with no follower, \
         {growth_b} MiB with a stalled follower"
    );
    assert!(
        growth_b <= growth_a + 48,
        "a stalled follower cost {growth_b} MiB against {growth_a} MiB without it"
    );
}

/// Followers of a stream that is deleted do not hang: their sessions end with an error
/// (through the follow hub, which hands them to the ordinary read path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_a_deleted_stream_are_told() {
    let server = Server::start(&[]);
    let (basin, stream) = fresh_stream(&server, "followdel").await;
    stream
        .append(AppendInput::new(batch(0, 3, 10)))
        .await
        .unwrap();
    let mut followers = Vec::new();
    for _ in 0..4 {
        let input = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
        let mut s = stream
            .read_session(input, ReadSessionConfig::new())
            .await
            .unwrap();
        let first = s.next().await.unwrap().unwrap();
        assert_eq!(first.records.len(), 3);
        followers.push(s);
    }
    // Everyone is live at the tail; one more record reaches all of them.
    stream
        .append(AppendInput::new(batch(1, 1, 10)))
        .await
        .unwrap();
    for s in followers.iter_mut() {
        let b = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(b.records[0].seq_num, 3);
    }
    basin
        .delete_stream(DeleteStreamInput::new("s".parse().unwrap()))
        .await
        .unwrap();
    // As from s2 lite: the terminal trim record deletion appends, then the session ends
    // (at once: well inside one heartbeat interval).
    let t = std::time::Instant::now();
    for mut s in followers {
        let mut trims = 0;
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match s.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(b)) => {
                        for r in &b.records {
                            let header = r.headers.first().map(|h| (&h.name[..], &h.value[..]));
                            assert_eq!(header, Some((&b""[..], &b"trim"[..])), "{r:?}");
                            assert_eq!(&r.body[..], &[0xff; 8], "a trim past everything");
                            trims += 1;
                        }
                    }
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "a follower of a deleted stream kept waiting");
        assert_eq!(trims, 1, "one terminal trim record");
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "told after {:?}",
        t.elapsed()
    );
}

/// A follower of a stream that is deleted and re-created under the same name is a follower
/// of the old stream: its session ends, and it never sees the new stream's records.
#[tokio::test]
async fn a_follower_never_crosses_into_a_recreated_stream_of_the_same_name() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let b = unique_basin("incarnation");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    let name: StreamName = "again".parse().unwrap();
    basin
        .create_stream(CreateStreamInput::new(name.clone()))
        .await
        .unwrap();
    let stream = basin.stream(name.clone());
    let old = AppendRecordBatch::try_from_iter(
        (0..3).map(|i| AppendRecord::new(format!("old-{i}")).unwrap()),
    )
    .unwrap();
    stream.append(AppendInput::new(old)).await.unwrap();
    // The old session is watched on the wire (SSE): the SDK would resume a session that
    // ends with 503 by name, into the new stream, as it does against s2 lite.
    let mut sse = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    std::io::Write::write_all(
        &mut sse,
        format!(
            "GET /v1/streams/again/records?seq_num=0 HTTP/1.1\r\nhost: x\r\ns2-basin: {b}\r\n\
             accept: text/event-stream\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("event: ping") {
        let mut chunk = [0u8; 4096];
        let n = std::io::Read::read(&mut sse, &mut chunk).unwrap();
        assert!(n > 0, "session ended early");
        seen.extend_from_slice(&chunk[..n]);
    }

    basin
        .delete_stream(DeleteStreamInput::new(name.clone()))
        .await
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        let created = basin
            .create_stream(CreateStreamInput::new(name.clone()))
            .await;
        if created.is_ok() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "name never freed: {created:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the follower's position, so that reading on by seq_num would find records.
    let new = AppendRecordBatch::try_from_iter(
        (0..6).map(|i| AppendRecord::new(format!("new-{i}")).unwrap()),
    )
    .unwrap();
    stream.append(AppendInput::new(new)).await.unwrap();

    // The old session ends with none of the new records.
    let reader = std::thread::spawn(move || {
        let _ = std::io::Read::read_to_end(&mut sse, &mut seen);
        String::from_utf8_lossy(&seen).into_owned()
    });
    let events = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert!(
        !events.contains("new-"),
        "crossed into the new stream: {events}"
    );
    assert!(
        events.contains("event: error"),
        "the old session ended with an error: {events}"
    );
}
