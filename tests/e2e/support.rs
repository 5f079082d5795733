//! Test support: start the real binary (and `s2 lite`, and moto) on free loopback ports,
//! wait until they answer, and stop them when the test ends.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A basin name unique to this test run.
pub fn unique_basin(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A raw HTTP/1.1 exchange (one request per connection). Returns (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    try_http(port, method, path, headers, body).expect("request")
}

/// [`http`] that reports I/O errors instead of panicking.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    Ok(parse_response(&out))
}

pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn wait_healthy(port: u16, child: &mut Child, what: &str) {
    // A connection reset while the server starts counts as "not yet" (seen once in CI
    // right after a SIGKILL restart; unexplained).
    wait_until(child, what, || {
        try_http(port, "GET", "/health", &[], "").is_ok_and(|(status, _)| status == 200)
    });
}

/// Polls `healthy` until it holds (60 s at most), failing at once if `child` exits.
fn wait_until(child: &mut Child, what: &str, healthy: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up: {status}");
        }
        if healthy() {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not become healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `strand` binary, running.
pub struct Server {
    child: Child,
    pub port: u16,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn_strand(port, &args, &env);
        let mut s = Server {
            child,
            port,
            args,
            env,
        };
        wait_healthy(port, &mut s.child, "strand");
        s
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts with TLS flags (`--tls-self`, or `--tls-cert`/`--tls-key`) and waits until
    /// `/health` answers over TLS.
    pub fn start_tls(args: &[&str]) -> Server {
        let port = free_port();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut child = spawn_strand(port, &args, &[]);
        wait_until(&mut child, "strand (TLS)", || {
            Command::new("curl")
                .args(["-sfk", "--max-time", "2"])
                .arg(format!("https://127.0.0.1:{port}/health"))
                .output()
                .is_ok_and(|o| o.status.success())
        });
        Server {
            child,
            port,
            args,
            env: Vec::new(),
        }
    }

    /// Peak resident memory so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("server is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status")
    }

    /// Resident memory now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("server is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// Resets the peak (`VmHWM`) to the current RSS, so a later peak measures one phase.
    pub fn reset_peak_rss(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .expect("clear_refs of our own child");
    }

    /// SIGKILL: no shutdown, no flush beyond what was already durable.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().expect("wait")
    }

    /// Starts again on the same port with the same flags plus `extra`.
    pub fn restart(&mut self, extra: &[&str]) {
        let mut args = self.args.clone();
        args.extend(extra.iter().map(|s| s.to_string()));
        self.child = spawn_strand(self.port, &args, &self.env);
        wait_healthy(self.port, &mut self.child, "strand (restarted)");
    }

    pub fn client(&self) -> s2_sdk::S2 {
        sdk_client(&self.endpoint())
    }
}

fn spawn_strand(port: u16, args: &[String], env: &[(String, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strand"));
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(
            "RUST_LOG",
            std::env::var("STRAND_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd.spawn().expect("spawn strand")
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn sdk_client(endpoint: &str) -> s2_sdk::S2 {
    let endpoints = s2_sdk::types::S2Endpoints::for_endpoint(endpoint).expect("endpoints");
    s2_sdk::S2::new(s2_sdk::types::S2Config::new("ignored").with_endpoints(endpoints))
        .expect("sdk client")
}

/// The `s2` CLI (crate s2-cli 0.43.4), installed by `make test` into the tool cache.
pub fn s2_cli() -> PathBuf {
    let path = std::env::var("S2_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/strand/s2-cli-0.43.4/bin/s2")
        });
    assert!(
        path.exists(),
        "the s2 CLI is missing at {}: run `make test` (it installs it) or set S2_CLI",
        path.display()
    );
    path
}

/// Runs the CLI against `endpoint`; returns (success, stdout, stderr).
pub fn run_cli(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    run_cli_with_input(endpoint, args, None)
}

/// Runs the CLI with `input` on its standard input (for `s2 append`).
pub fn run_cli_with_input(
    endpoint: &str,
    args: &[&str],
    input: Option<&str>,
) -> (bool, String, String) {
    let mut child = Command::new(s2_cli())
        .args(args)
        .env("S2_ACCOUNT_ENDPOINT", endpoint)
        .env("S2_BASIN_ENDPOINT", endpoint)
        .env("S2_ACCESS_TOKEN", "ignored")
        .env("NO_COLOR", "1")
        // A TLS test server presents a self-signed certificate.
        .env(
            "S2_SSL_NO_VERIFY",
            endpoint.starts_with("https").to_string(),
        )
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run s2");
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("s2 finishes");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `s2 lite`, the reference server, in memory.
pub struct Lite {
    child: Child,
    pub port: u16,
}

impl Lite {
    pub fn start() -> Lite {
        let port = free_port();
        let mut child = Command::new(s2_cli())
            .args(["lite", "--port", &port.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn s2 lite");
        wait_healthy(port, &mut child, "s2 lite");
        Lite { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Lite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto, a local S3-compatible server that enforces the preconditions SlateDB relies on.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub bucket: String,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = std::env::var("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap())
                    .join(".cache/strand/moto-5.2.5/bin/moto_server")
            });
        assert!(
            bin.exists(),
            "moto_server is missing at {}: run `make test` (it installs it) or set MOTO_SERVER",
            bin.display()
        );
        let port = free_port();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(s)) = child.try_wait() {
                panic!("moto exited: {s}");
            }
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let bucket = "strand-test".to_string();
        let (status, body) = http(port, "PUT", &format!("/{bucket}"), &[], "");
        assert_eq!(status, 200, "create bucket: {body}");
        Moto {
            child,
            port,
            bucket,
        }
    }

    /// SIGSTOP: the store black-holes every request (connections are still accepted by
    /// the kernel, nothing answers): an outage as a hung region looks to a client.
    pub fn pause(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGSTOP) };
    }

    /// SIGCONT: the store answers again, with everything it held.
    pub fn resume(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
    }

    /// The environment a `--bucket` server needs to reach this moto.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AWS_ENDPOINT".into(),
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system's temp dir, removed when dropped: also when the test
/// panics, so a failing run of a test that writes gigabytes does not leave them behind.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(unique_basin(&format!("strand-{name}")));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A new basin (named from `prefix`) holding one stream, `stream`, made through `s2`.
pub async fn basin_with_stream(
    s2: &s2_sdk::S2,
    prefix: &str,
    stream: &str,
) -> (String, s2_sdk::S2Stream) {
    use s2_sdk::types::{CreateBasinInput, CreateStreamInput};
    let b = unique_basin(prefix);
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    basin
        .create_stream(CreateStreamInput::new(stream.parse().unwrap()))
        .await
        .unwrap();
    (b, basin.stream(stream.parse().unwrap()))
}
