//! `strand`: flags, then shards (storage opened), then the port check, then the acceptors,
//! then wait for SIGTERM/SIGINT and shut down in order (stop accepting, drain, close the
//! databases).

mod acceptor;
mod auth;
mod auto_prefix;
mod config;
mod error;
mod handlers;
mod held_bytes;
mod http;
mod init_file;
mod router;
mod tls;

use clap::Parser;
use shards::store::{StoreConfig, StoreKind};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = config::Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: config::Args) -> Result<(), String> {
    args.validate()?;
    let started = std::time::Instant::now();
    let addr = SocketAddr::new(args.bind, args.port);
    refuse_port_in_use(addr)?;

    let kind = match (&args.local_root, &args.bucket) {
        (Some(dir), _) => StoreKind::Local(dir.clone()),
        (None, Some(b)) => StoreKind::Bucket(b.clone()),
        (None, None) => StoreKind::Memory,
    };
    tracing::info!(store = ?kind, path = %args.path, "opening storage");
    let shard_count = args
        .shards
        .unwrap_or_else(|| shards::runtime::allowed_cpus().len().max(1));
    let running = shards::start(shards::ShardsConfig {
        shard_count,
        pipeline: shards::append_pipeline::PipelineConfig {
            storage_deadline: std::time::Duration::from_millis(args.storage_deadline_ms),
            inflight_bytes_max: args.append_inflight_per_shard(shard_count),
            admission_timeout: std::time::Duration::from_secs(10),
            standard_delay: std::time::Duration::from_millis(args.standard_flush_delay_ms),
            flush_gap_min: if args.bucket.is_some() {
                std::time::Duration::from_millis(args.bucket_flush_gap_ms)
            } else {
                std::time::Duration::ZERO
            },
            window_bytes_max: args.window_per_shard(shard_count),
            window_records_max: (args.window_per_shard(shard_count) / 64).max(1000),
            state_idle: std::time::Duration::from_secs(shards::limits::STATE_IDLE_SECS),
            lifecycle_tick: std::time::Duration::from_millis(args.lifecycle_tick_ms),
            usage_flush: std::time::Duration::from_millis(args.usage_flush_ms.clamp(100, 600_000)),
            data_object_min: match args.data_object_min_bytes {
                0 => usize::MAX,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            },
        },
        store: StoreConfig {
            kind,
            path: args.path.clone(),
            partitions_on_init: args.partitions,
            memory_store_bytes: args.memory_store_capacity(),
        },
        storage_memory: shards::store::StorageMemory {
            unflushed_bytes: args.memory_bytes / 4,
            // An eighth, not a quarter: at a quarter the caches' real footprint took the
            // bounded-RSS test (tests/e2e/memory.rs) to 430-524 MiB of 512; at an eighth
            // it peaked at 360-389 MiB (docs/PERFORMANCE.md).
            cache_bytes: args.memory_bytes / 8,
        },
        clock: Arc::new(shards::clock::SystemClock),
    })?;

    // As s2-lite: after storage opens, before the listener binds; an error stops start-up.
    if let Some(path) = &args.init_file {
        let applied = init_file::load(path).and_then(|planned| {
            futures::executor::block_on(init_file::apply(&running.cluster(), planned))
        });
        if let Err(e) = applied {
            running.shutdown();
            return Err(e);
        }
    }

    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::Certificate::Files { cert, key }),
        _ if args.tls_self => Some(tls::Certificate::SelfSigned),
        _ => None,
    };
    let tls = match tls.map(tls::server_config).transpose() {
        Ok(t) => t,
        Err(e) => {
            running.shutdown();
            return Err(e);
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Kept for the life of the process, like the rest of the router's settings.
    let auth: Option<&'static str> = match (&args.auth, &args.auth_token) {
        (false, _) => None,
        (true, Some(t)) if t.trim().len() >= 16 && t.trim() == t => {
            Some(Box::leak(t.clone().into_boxed_str()))
        }
        (true, Some(_)) => {
            running.shutdown();
            return Err(
                "--auth-token must be at least 16 characters, without surrounding spaces".into(),
            );
        }
        (true, None) => {
            running.shutdown();
            return Err("--auth needs a bootstrap token: --auth-token or STRAND_AUTH_TOKEN".into());
        }
    };
    let dashboard = (!args.no_dashboard).then(|| server_info(&args, shard_count, &running));
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let cfg = acceptor::AcceptorConfig {
        addr,
        tls,
        router: router::RouterConfig {
            cors: !args.no_cors,
            dashboard,
            auth,
        },
        timeouts: acceptor::limits::Timeouts {
            idle: std::time::Duration::from_millis(args.idle_timeout_ms),
            request: std::time::Duration::from_millis(args.request_timeout_ms),
            write: std::time::Duration::from_millis(args.write_timeout_ms),
        },
        held_bytes_per_shard: args.client_buffers_per_shard(shard_count),
    };
    running.start_serving(|_| acceptor::serve_fn(cfg.clone(), bound_tx.clone()));
    for _ in 0..shard_count {
        match bound_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                running.shutdown();
                return Err(e);
            }
            Err(_) => {
                running.shutdown();
                return Err("a shard stopped before listening".into());
            }
        }
    }
    tracing::info!(
        shards = shard_count,
        partitions = running.partition_count,
        %addr,
        startup_ms = started.elapsed().as_millis() as u64,
        "serving"
    );
    println!(
        "export S2_ACCOUNT_ENDPOINT={scheme}://localhost:{}",
        args.port
    );
    println!(
        "export S2_BASIN_ENDPOINT={scheme}://localhost:{}",
        args.port
    );
    println!("export S2_ACCESS_TOKEN=ignored");
    if args.tls_self {
        println!("export S2_SSL_NO_VERIFY=1");
    }
    if !args.no_dashboard {
        println!("# dashboard: {scheme}://localhost:{}/dashboard", args.port);
    }

    wait_for_signal()?;
    tracing::info!("shutting down: draining requests, then closing storage");
    running.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// The dashboard's `config.json`: s2-lite's fields (API.md §14), then Strand's own. Made
/// once at start-up and kept for the life of the process.
fn server_info(args: &config::Args, shards: usize, running: &shards::Running) -> &'static str {
    let store = match (&args.local_root, &args.bucket) {
        (Some(dir), _) => serde_json::json!({"kind": "local", "root": dir.display().to_string()}),
        (None, Some(b)) => serde_json::json!({"kind": "s3", "bucket": b}),
        (None, None) => serde_json::json!({"kind": "memory"}),
    };
    let tls = match (&args.tls_cert, args.tls_self) {
        (Some(_), _) => "certificate",
        (None, true) => "self_signed",
        (None, false) => "none",
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let info = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": protocol::time::rfc3339_nanos(started),
        "store": store,
        "wal": null,
        "path": args.path,
        // The writer flushes each round itself; there is no flush interval.
        "flush_interval_ms": null,
        "tls": tls,
        "port": args.port,
        "cors": !args.no_cors,
        "init_file": args.init_file.as_ref().map(|p| p.display().to_string()),
        "append_inflight_bytes": args.append_inflight_per_shard(shards) * shards,
        "server": "strand",
        "shards": shards,
        "partitions": running.partition_count,
        "memory_bytes": args.memory_bytes,
    });
    Box::leak(info.to_string().into_boxed_str())
}

/// glommio listeners set SO_REUSEPORT, so a stale server on our port would silently share
/// it: refuse to start if anything already accepts connections there. (A plain bind test
/// would also trip on the previous run's closing connections after a crash.)
fn refuse_port_in_use(addr: SocketAddr) -> Result<(), String> {
    let probe = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    match std::net::TcpStream::connect_timeout(&probe, std::time::Duration::from_millis(500)) {
        Ok(_) => Err(format!("port {} is already in use", addr.port())),
        Err(_) => Ok(()),
    }
}

fn wait_for_signal() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("installing signal handlers: {e}"))?;
    signals.forever().next();
    Ok(())
}
