//! A server under test, started by `suite`: Strand or `s2 lite` on a free loopback port,
//! in memory or on a fresh local directory, with its CPU time and peak RSS read from
//! /proc, and (for Strand) its object-store request counters from `/metrics`.

use crate::report::{ObjectStoreRates, ServerCost};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Strand,
    Lite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    Memory,
    Local,
}

pub struct Server {
    pub kind: Kind,
    child: Child,
    pub port: u16,
    dir: Option<PathBuf>,
    cpu0: f64,
    objects0: Option<(u64, u64)>,
    started: Instant,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    pub fn start(kind: Kind, store: Store, bin: &Path) -> Result<Server, String> {
        let port = free_port();
        let dir = (store == Store::Local).then(|| {
            let d =
                std::env::temp_dir().join(format!("strand-bench-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("a temp dir");
            d
        });
        let mut cmd = Command::new(bin);
        match kind {
            Kind::Strand => {
                cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()]);
            }
            Kind::Lite => {
                cmd.args(["lite", "--port", &port.to_string()]);
            }
        }
        if let Some(d) = &dir {
            cmd.arg("--local-root").arg(d);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let mut server = Server {
            kind,
            child,
            port,
            dir,
            cpu0: 0.0,
            objects0: None,
            started: Instant::now(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(port, "/health").map(|(s, _)| s) != Some(200) {
            if Instant::now() > deadline {
                return Err(format!("{kind:?} did not become healthy on port {port}"));
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("{kind:?} exited at start: {status}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server.mark();
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts a measurement: CPU and object-store counters from here, peak RSS reset.
    pub fn mark(&mut self) {
        self.cpu0 = cpu_secs(self.child.id()).unwrap_or(0.0);
        // Writing 5 to clear_refs resets VmHWM (peak RSS) to the current RSS.
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
        self.objects0 = self.object_store_counts();
        self.started = Instant::now();
    }

    /// What the server spent since [`mark`](Self::mark).
    pub fn cost(&self) -> ServerCost {
        let pid = self.child.id();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let object_store = match (self.objects0, self.object_store_counts()) {
            (Some((p0, g0)), Some((p1, g1))) => Some(ObjectStoreRates::new(
                (p1 - p0) as f64 / secs,
                (g1 - g0) as f64 / secs,
            )),
            _ => None,
        };
        ServerCost {
            cpu_secs: cpu_secs(pid).unwrap_or(0.0) - self.cpu0,
            peak_rss_mib: peak_rss_kib(pid).unwrap_or(0) as f64 / 1024.0,
            object_store,
        }
    }

    /// (PUTs, GETs) so far, from Strand's `/metrics`; s2 lite does not report them.
    fn object_store_counts(&self) -> Option<(u64, u64)> {
        if self.kind != Kind::Strand {
            return None;
        }
        let (status, body) = http_get(self.port, "/metrics")?;
        if status != 200 {
            return None;
        }
        let find = |op: &str| -> Option<u64> {
            let key = format!("strand_object_store_requests_total{{op=\"{op}\"}}");
            body.lines()
                .find_map(|l| l.strip_prefix(&key))
                .and_then(|v| v.trim().parse().ok())
        };
        Some((find("put")?, find("get")?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so both servers shut down as they would in production.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after the closing paren are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz.max(1.0))
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A minimal HTTP/1.1 GET on loopback: (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}
