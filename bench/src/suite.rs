//! `make bench`: the same workloads against Strand and `s2 lite`, each on a freshly
//! started server on loopback, in memory and on a local directory; every figure printed
//! with the ratio Strand/s2 lite, and the results, plots and machine details written to
//! `bench/results/`.

use crate::plot;
use crate::report::WorkloadResult;
use crate::server::{Kind, Server, Store};
use crate::target::Target;
use crate::workloads::{self, Params, Workload};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Clone, Debug, clap::Args)]
pub struct SuiteArgs {
    /// The Strand binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/strand")]
    strand: PathBuf,
    /// The s2 CLI, whose `s2 lite` is the reference.
    #[arg(long, env = "S2_CLI")]
    lite: PathBuf,
    /// Where results go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Shorter runs (2 s measured) to check the suite itself.
    #[arg(long)]
    quick: bool,
    /// Only scenarios whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

/// One row group of the report: a workload with its settings, on some stores.
struct Scenario {
    name: &'static str,
    workload: Workload,
    stores: &'static [Store],
    tweak: fn(&mut Params),
}

const BOTH: &[Store] = &[Store::Memory, Store::Local];
const MEMORY: &[Store] = &[Store::Memory];

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "append, 1 stream, 8 KiB records",
            workload: Workload::Append,
            stores: BOTH,
            tweak: |p| {
                p.streams = 1;
                p.batch_records = 16;
            },
        },
        Scenario {
            name: "append, 8 streams, 8 KiB records",
            workload: Workload::Append,
            stores: BOTH,
            tweak: |p| {
                p.streams = 8;
                p.batch_records = 16;
            },
        },
        Scenario {
            name: "latency, 1 MiB/s offered",
            workload: Workload::Latency,
            stores: BOTH,
            tweak: |p| {
                p.rate_mibps = 1.0;
            },
        },
        Scenario {
            name: "latency, 50 MiB/s offered, 4 streams",
            workload: Workload::Latency,
            stores: MEMORY,
            tweak: |p| {
                p.streams = 4;
                p.batch_records = 8;
                p.rate_mibps = 50.0;
            },
        },
        Scenario {
            name: "follow, 1 follower, 1 MiB/s",
            workload: Workload::Follow,
            stores: BOTH,
            tweak: |p| {
                p.record_size = 1024;
                p.batch_records = 8;
                p.rate_mibps = 1.0;
            },
        },
        Scenario {
            name: "follow, 1000 followers, 100 records/s",
            workload: Workload::Follow,
            stores: MEMORY,
            tweak: |p| {
                p.record_size = 1024;
                p.rate_mibps = 0.1;
                p.followers = 1000;
                p.clients = 10;
                p.warmup = 3.0;
            },
        },
        Scenario {
            name: "catch-up read, 4 streams, 256 MiB",
            workload: Workload::CatchUp,
            stores: MEMORY,
            tweak: |p| {
                p.streams = 4;
                p.batch_records = 16;
                p.prefill_mib = 256;
            },
        },
        Scenario {
            name: "fan-in, 10,000 streams, 1 KiB unary appends",
            workload: Workload::FanIn,
            stores: MEMORY,
            tweak: |p| {
                p.streams = 10_000;
                p.record_size = 1024;
                p.concurrency = 128;
            },
        },
    ]
}

fn base_params(quick: bool) -> Params {
    Params {
        streams: 1,
        record_size: 8192,
        batch_records: 1,
        pipeline: 16,
        clients: 2,
        duration: if quick { 2.0 } else { 6.0 },
        warmup: if quick { 1.0 } else { 2.0 },
        storage_class: "express".into(),
        rate_mibps: 1.0,
        followers: 1,
        readers: 1,
        prefill_mib: 256,
        concurrency: 128,
        // Every scenario gets a fresh server, so deleting is wasted server time.
        keep_basin: true,
    }
}

#[derive(Serialize)]
struct Entry {
    scenario: String,
    store: Store,
    server: Kind,
    result: Option<WorkloadResult>,
    failure: Option<String>,
}

pub async fn run(args: SuiteArgs) -> Result<i32, String> {
    for (what, bin) in [("strand", &args.strand), ("s2 cli", &args.lite)] {
        if !bin.exists() {
            return Err(format!("{what} binary not found at {}", bin.display()));
        }
    }
    let mut entries = Vec::new();
    let started = std::time::Instant::now();
    for store in [Store::Memory, Store::Local] {
        for scenario in scenarios() {
            if !scenario.stores.contains(&store)
                || args
                    .only
                    .as_deref()
                    .is_some_and(|o| !scenario.name.contains(o))
            {
                continue;
            }
            let mut params = base_params(args.quick);
            (scenario.tweak)(&mut params);
            if args.quick {
                params.prefill_mib = params.prefill_mib.min(32);
            }
            for kind in [Kind::Strand, Kind::Lite] {
                eprintln!(
                    "\n### {} | {:?} | {:?} ({:.0} s into the suite)",
                    scenario.name,
                    store,
                    kind,
                    started.elapsed().as_secs_f64()
                );
                let bin = if kind == Kind::Strand {
                    &args.strand
                } else {
                    &args.lite
                };
                let (result, failure) =
                    match run_one(kind, store, bin, scenario.workload, &params).await {
                        Ok(r) => {
                            r.print();
                            (Some(r), None)
                        }
                        Err(e) => {
                            eprintln!("FAILED: {e}");
                            (None, Some(e))
                        }
                    };
                entries.push(Entry {
                    scenario: scenario.name.into(),
                    store,
                    server: kind,
                    result,
                    failure,
                });
            }
        }
    }
    let table = table(&entries);
    println!("\n{table}");
    write_results(&args, &entries, &table, started.elapsed().as_secs_f64())?;
    let failed = entries.iter().filter(|e| e.failure.is_some()).count();
    Ok(if failed > 0 { 1 } else { 0 })
}

async fn run_one(
    kind: Kind,
    store: Store,
    bin: &std::path::Path,
    workload: Workload,
    params: &Params,
) -> Result<WorkloadResult, String> {
    let mut server = Server::start(kind, store, bin)?;
    let target = Target::new(Some(&server.endpoint()))?;
    server.mark();
    let mut result = workloads::run(&target, workload, params).await?;
    result.server = Some(server.cost());
    Ok(result)
}

/// The headline figures of a result, as (figure, value, higher_is_better).
fn figures(r: &WorkloadResult) -> Vec<(String, f64, bool)> {
    let mut out = Vec::new();
    match r.workload.as_str() {
        "append" | "catch-up" | "fan-in" => {
            out.push(("MiB/s".into(), r.mib_per_sec, true));
        }
        _ => {}
    }
    let main = match r.workload.as_str() {
        "follow" => "e2e",
        "catch-up" => "first",
        _ => "ack",
    };
    if let Some(l) = r.latency(main) {
        out.push((format!("{main} p50 ms"), l.p50_ms, false));
        out.push((format!("{main} p99 ms"), l.p99_ms, false));
        out.push((format!("{main} p99.9 ms"), l.p999_ms, false));
    }
    if let Some(s) = &r.server {
        out.push(("server CPU s".into(), s.cpu_secs, false));
        if let Some(ms) = cpu_ms_per_mib(r, s) {
            out.push(("server CPU ms/MiB".into(), ms, false));
        }
        out.push(("server peak RSS MiB".into(), s.peak_rss_mib, false));
        if let Some(o) = &s.object_store {
            out.push(("object PUT/s".into(), o.puts_per_sec, false));
        }
    }
    out.push(("generator cores".into(), r.generator.cores_used, false));
    if r.errors > 0 {
        out.push(("errors".into(), r.errors as f64, false));
    }
    out
}

/// Server CPU per MiB appended (issue 11's measure): the server's CPU over the whole run
/// (warm-up included) over the MiB appended in that time, estimated at the measured rate.
/// Only for `append`: the other workloads' setup (a prefill, 10,000 stream creations) is
/// inside the server's CPU figure and would swamp it.
fn cpu_ms_per_mib(r: &WorkloadResult, s: &crate::report::ServerCost) -> Option<f64> {
    if r.workload != "append" {
        return None;
    }
    let mib = r.mib_per_sec * r.generator.wall_secs;
    (mib > 0.0).then(|| s.cpu_secs * 1000.0 / mib)
}

fn table(entries: &[Entry]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| store | scenario | figure | Strand | s2 lite | Strand/lite |\n|---|---|---|---:|---:|---:|"
    );
    let mut i = 0;
    while i < entries.len() {
        let strand = &entries[i];
        let lite = entries
            .get(i + 1)
            .filter(|e| e.scenario == strand.scenario && e.store == strand.store);
        let sf = strand.result.as_ref().map(figures).unwrap_or_default();
        let lf = lite
            .and_then(|l| l.result.as_ref())
            .map(figures)
            .unwrap_or_default();
        let names: Vec<String> = if sf.is_empty() {
            lf.iter().map(|f| f.0.clone()).collect()
        } else {
            sf.iter().map(|f| f.0.clone()).collect()
        };
        for (row, name) in names.iter().enumerate() {
            let s = sf.iter().find(|f| &f.0 == name).map(|f| f.1);
            let l = lf.iter().find(|f| &f.0 == name).map(|f| f.1);
            // A figure one server does not report (s2 lite has no object-store counters)
            // is "n/a"; a run that failed is "failed".
            let fmt = |v: Option<f64>, ran: bool| match v {
                Some(v) => format!("{v:.2}"),
                None if ran => "n/a".into(),
                None => "failed".into(),
            };
            let ratio = match (s, l) {
                (Some(s), Some(l)) if l > 0.0 => format!("{:.2}x", s / l),
                _ => "-".into(),
            };
            let (store, scen) = if row == 0 {
                (
                    format!("{:?}", strand.store).to_lowercase(),
                    strand.scenario.clone(),
                )
            } else {
                (String::new(), String::new())
            };
            let _ = writeln!(
                t,
                "| {store} | {scen} | {name} | {} | {} | {ratio} |",
                fmt(s, strand.result.is_some()),
                fmt(l, lite.is_some_and(|l| l.result.is_some()))
            );
        }
        if names.is_empty() {
            let _ = writeln!(
                t,
                "| {:?} | {} | failed | {} | {} | - |",
                strand.store,
                strand.scenario,
                strand.failure.as_deref().unwrap_or("ok"),
                lite.and_then(|l| l.failure.as_deref()).unwrap_or("ok")
            );
        }
        i += if lite.is_some() { 2 } else { 1 };
    }
    t
}

fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Transparent huge pages change Strand's CPU per MiB by ~20-50% (docs/PERFORMANCE.md):
    // the bracketed word of the kernel's setting.
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|t| Some(t.split_once('[')?.1.split_once(']')?.0.to_string()))
        .unwrap_or_else(|| "?".into());
    serde_json::json!({
        "thp": thp,
        "cpu": model,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": mem_kib as f64 / 1048576.0,
        "kernel": kernel.trim(),
        "reference": "s2 lite from s2-cli 0.43.4",
        "note": "generator and server share the machine; see generator cores per row",
    })
}

fn write_results(
    args: &SuiteArgs,
    entries: &[Entry],
    table: &str,
    secs: f64,
) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let day = today();
    let stem = if args.quick {
        format!("{day}-quick")
    } else {
        day
    };
    let machine = machine();
    let json = serde_json::json!({
        "date": stem,
        "machine": machine,
        "suite_secs": secs,
        "entries": entries,
    });
    let write = |name: String, text: String| -> Result<(), String> {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(
        format!("{stem}.json"),
        serde_json::to_string_pretty(&json).expect("json"),
    )?;
    let mut md = format!(
        "# strand-bench suite, {stem}\n\nMachine: {}, {} cores, {:.0} GiB, Linux {}, transparent huge pages {}. Reference: {}.\n\
         Each row: a fresh server on loopback, {} s warm-up + {} s measured (catch-up: until read).\n\
         Latencies are open-loop and corrected for coordinated omission where the scenario is\n\
         `latency` or `follow`. Suite time {:.0} s.\n\n{table}\n",
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["memory_gib"].as_f64().unwrap_or(0.0),
        machine["kernel"].as_str().unwrap_or("?"),
        machine["thp"].as_str().unwrap_or("?"),
        machine["reference"].as_str().unwrap_or("?"),
        base_params(args.quick).warmup,
        base_params(args.quick).duration,
        secs,
    );
    for store in [Store::Memory, Store::Local] {
        let mut series = Vec::new();
        for e in entries.iter().filter(|e| e.store == store) {
            let Some(r) = &e.result else { continue };
            let main = if r.workload == "follow" { "e2e" } else { "ack" };
            if !matches!(r.workload.as_str(), "latency" | "follow") {
                continue;
            }
            if let Some(l) = r.latency(main) {
                let who = if e.server == Kind::Strand {
                    "Strand"
                } else {
                    "lite"
                };
                series.push(plot::Series::new(
                    format!("{who}: {}", short(&e.scenario)),
                    l,
                ));
            }
        }
        if series.is_empty() {
            continue;
        }
        let store_name = format!("{store:?}").to_lowercase();
        let title = format!("Latency by percentile, {store_name} store");
        let svg = plot::svg(&title, &series);
        write(format!("{stem}-latency-{store_name}.svg"), svg.clone())?;
        write(format!("latest-latency-{store_name}.svg"), svg)?;
        let _ = writeln!(md, "![{title}](latest-latency-{store_name}.svg)\n");
    }
    write(format!("{stem}.md"), md.clone())?;
    write("latest.md".into(), md)?;
    eprintln!(
        "results written to {}/{stem}.{{json,md}}",
        args.out.display()
    );
    Ok(())
}

/// "latency, 1 MiB/s offered" → "latency 1 MiB/s" for plot legends.
fn short(scenario: &str) -> String {
    let mut parts = scenario.split(", ");
    let head = parts.next().unwrap_or("");
    let second = parts.next().unwrap_or("").replace(" offered", "");
    format!("{head} {second}")
}

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = (secs / 86400) as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert!(today().starts_with("20"));
        assert_eq!(today().len(), 10);
    }

    #[test]
    fn cpu_per_mib_is_for_saturated_appends_only() {
        let result = |workload: &str| WorkloadResult {
            workload: workload.into(),
            params: serde_json::Value::Null,
            measured_secs: 6.0,
            mib_per_sec: 100.0,
            records_per_sec: 0.0,
            figures: Default::default(),
            latencies: Vec::new(),
            errors: 0,
            first_error: None,
            generator: crate::report::GeneratorCost {
                cpu_secs: 1.0,
                wall_secs: 10.0,
                cores_used: 0.1,
                machine_cores: 2,
                warning: None,
            },
            server: None,
        };
        let cost = crate::report::ServerCost {
            cpu_secs: 5.0,
            ..Default::default()
        };
        // 5 s of CPU over 100 MiB/s for 10 s: 5 ms per MiB.
        assert_eq!(cpu_ms_per_mib(&result("append"), &cost), Some(5.0));
        assert_eq!(cpu_ms_per_mib(&result("latency"), &cost), None);
        assert_eq!(cpu_ms_per_mib(&result("catch-up"), &cost), None);
    }

    #[test]
    fn legends_are_short() {
        assert_eq!(short("latency, 1 MiB/s offered"), "latency 1 MiB/s");
        assert_eq!(
            short("follow, 1000 followers, 100 records/s"),
            "follow 1000 followers"
        );
    }
}
