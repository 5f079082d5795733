//! `strand-bench`: S2 throughput and latency against any endpoint (`run`), and Strand
//! side by side with `s2 lite` on this machine (`suite`, what `make bench` runs).

mod latency;
mod meter;
mod payload;
mod plot;
mod report;
mod server;
mod suite;
mod target;
mod workloads;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "strand-bench",
    about = "S2 benchmarks: any endpoint, or Strand beside s2 lite"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one workload against an S2 endpoint (`--endpoint` or the `S2_*` variables).
    Run {
        #[arg(value_enum)]
        workload: workloads::Workload,
        /// e.g. http://127.0.0.1:8080; defaults to S2_ACCOUNT_ENDPOINT/S2_BASIN_ENDPOINT.
        #[arg(long)]
        endpoint: Option<String>,
        /// Write the result as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write a latency-by-percentile plot (SVG) here.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Print the full HdrHistogram percentile distribution of each latency.
        #[arg(long)]
        distribution: bool,
        #[command(flatten)]
        params: workloads::Params,
    },
    /// Start Strand and `s2 lite` on loopback (in memory and on a local directory), run
    /// the same workloads against both and report each figure with the ratio.
    Suite(suite::SuiteArgs),
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Run {
                workload,
                endpoint,
                json,
                svg,
                distribution,
                params,
            } => {
                let target = target::Target::new(endpoint.as_deref())?;
                let result = workloads::run(&target, workload, &params).await?;
                result.print();
                if distribution {
                    for l in &result.latencies {
                        println!("-- {} distribution --\n{}", l.name, l.distribution_text());
                    }
                }
                if let Some(path) = json {
                    let text = serde_json::to_string_pretty(&result).expect("serializable");
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                if let Some(path) = svg {
                    let series: Vec<_> = result
                        .latencies
                        .iter()
                        .map(|l| plot::Series::new(l.name.clone(), l))
                        .collect();
                    let title = format!("{} latency by percentile", result.workload);
                    std::fs::write(&path, plot::svg(&title, &series))
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                Ok(if result.errors > 0 { 1 } else { 0 })
            }
            Command::Suite(args) => suite::run(args).await,
        }
    });
    match outcome {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("strand-bench: {e}");
            std::process::exit(2);
        }
    }
}
