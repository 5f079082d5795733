//! `/dashboard`: served as s2-lite serves its own (page, `config.json`, assets, client-side
//! routes, `--no-dashboard`), and working in headless Chromium against the live API: the
//! page lists what the Rust SDK created and shows the stream's records, and a screenshot of
//! it is a real, non-blank picture.

use crate::support::{http, temp_dir, Server};
use std::path::PathBuf;
use std::process::Command;

/// Debian's Chromium, installed by `make test` (scripts/tools.sh).
fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("STRAND_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    assert!(
        path.exists(),
        "Chromium is missing at {}: run `make test` (it installs Debian's chromium) or set STRAND_CHROMIUM",
        path.display()
    );
    path
}

fn headless(args: &[&str]) -> std::process::Output {
    let profile = temp_dir("chromium-profile");
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .output()
        .expect("chromium runs")
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The raw response (head and body) of a GET.
fn get_raw(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn dashboard_routes_and_no_dashboard() {
    let server = Server::start(&["--shards", "2"]);
    let page = get_raw(server.port, "/dashboard");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert_eq!(
        header(&page, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&page, "cache-control"), Some("no-cache"));
    assert!(page.contains("/dashboard/assets/app.js"));
    for spa in ["/dashboard/", "/dashboard/basins/x/streams/y"] {
        assert!(
            get_raw(server.port, spa).contains("<title>Strand dashboard</title>"),
            "{spa}"
        );
    }
    let asset = get_raw(server.port, "/dashboard/assets/app.js");
    assert_eq!(
        header(&asset, "cache-control"),
        Some("public, max-age=3600")
    );
    assert!(get_raw(server.port, "/dashboard/assets/nope.js").starts_with("HTTP/1.1 404"));
    let (status, body) = http(server.port, "GET", "/dashboard/config.json", &[], "");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["store"]["kind"], "memory");
    assert_eq!(info["tls"], "none");
    assert_eq!(info["port"], server.port);
    assert_eq!(info["shards"], 2);
    assert_eq!(info["cors"], true);
    let (status, _) = http(server.port, "POST", "/dashboard", &[], "");
    assert_eq!(status, 405);

    let off = Server::start(&["--no-dashboard"]);
    let (status, _) = http(off.port, "GET", "/dashboard", &[], "");
    assert_eq!(status, 404);
    let (status, _) = http(off.port, "GET", "/dashboard/config.json", &[], "");
    assert_eq!(status, 404);
}

#[tokio::test]
async fn dashboard_renders_live_data_in_chromium() {
    let server = Server::start(&[]);
    let s2 = server.client();
    let (b, stream) = crate::support::basin_with_stream(&s2, "dash", "events").await;
    let bodies = [
        "first-record-body".to_string(),
        "second-record-body".to_string(),
    ];
    stream
        .append(crate::data_plane::batch(&bodies))
        .await
        .unwrap();

    let base = format!("http://127.0.0.1:{}/dashboard", server.port);
    // The basins page lists the basin, from the live API.
    let out = headless(&["--dump-dom", &format!("{base}/")]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains(r#"data-ready="true""#),
        "the app did not finish: {dom}"
    );
    assert!(dom.contains(&format!(r#"data-basin="{b}""#)), "{dom}");
    assert!(!dom.contains(r#"class="error""#), "{dom}");
    // The basin page shows its usage: the two records' metered bytes (25 + 26), one op.
    let out = headless(&["--dump-dom", &format!("{base}/basins/{b}")]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains(r#"data-stream="events""#), "{dom}");
    assert!(dom.contains(r#"<dd id="usage-appended">51</dd>"#), "{dom}");
    assert!(dom.contains(r#"<dd id="usage-append-ops">1</dd>"#), "{dom}");
    assert!(!dom.contains(r#"class="error""#), "{dom}");
    // The stream page shows its tail and records.
    let stream_url = format!("{base}/basins/{b}/streams/events");
    let out = headless(&["--dump-dom", &stream_url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("first-record-body") && dom.contains("second-record-body"),
        "{dom}"
    );
    assert!(dom.contains(r#"<dd id="tail-seq">2</dd>"#), "{dom}");
    assert!(!dom.contains(r#"class="error""#), "{dom}");

    // A screenshot of it: a PNG of the asked size with real content (a blank page of this
    // size compresses to a few KiB).
    let shot_dir = temp_dir("dashboard-shot");
    let shot = shot_dir.join("stream.png");
    let out = headless(&[
        "--window-size=1100,600",
        &format!("--screenshot={}", shot.display()),
        &stream_url,
    ]);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1100, 600));
    assert!(
        png.len() > 15_000,
        "screenshot looks blank: {} bytes",
        png.len()
    );
}
