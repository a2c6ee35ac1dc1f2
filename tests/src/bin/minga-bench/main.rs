//! `minga-bench`: the benchmarks that need whole nodes — propagation across a mesh, catch-up
//! against automerge's own sync, start-up and memory at scale, and the automerge version
//! comparison. Each prints one JSON line per figure (to stdout; progress goes to stderr), with
//! its baseline measured in the same run. `cargo bench` holds the single-core benches (ingest,
//! matching). BENCHMARKS.md has the commands, the machine and the results.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod automerge_versions;
mod board;
mod catchup;
mod data;
mod plain;
mod processes;
mod propagation;
mod startup;

use clap::{Parser, Subcommand};
use serde_json::{Map, Value};

#[derive(Parser)]
#[command(name = "minga-bench", about = "benchmarks that spawn minga nodes")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Publish-to-last-node latency in a random mesh on loopback, and a burst.
    Propagation {
        /// Mesh sizes.
        #[arg(long, value_delimiter = ',', default_value = "10,30,50")]
        nodes: Vec<usize>,
        /// Records timed one by one, after warm-up.
        #[arg(long, default_value_t = 500)]
        records: usize,
        /// Records written back to back.
        #[arg(long, default_value_t = 1000)]
        burst: usize,
        /// Let nodes dial the loopback addresses Kademlia tells them of, as they dial global
        /// addresses on the internet (by default only the mesh's links are dialled).
        #[arg(long)]
        discover: bool,
        /// The links each node keeps on its own initiative (`[network] peers`).
        #[arg(long, default_value_t = minga_node::NodeConfig::new(".").peer_target)]
        peer_target: usize,
        /// Seconds between the catch-up timer's turns (the tests' 2 s by default; a node's
        /// own default is 30 s).
        #[arg(long, default_value_t = 2)]
        sync_interval_secs: u64,
        /// Skip the plain-gossipsub baseline (for a profile of minga's nodes alone).
        #[arg(long, hide = true)]
        no_baseline: bool,
        /// Also run minga with each node in its own process.
        #[arg(long)]
        processes: bool,
    },
    /// One node of `propagation --processes`, driven through stdin and stdout.
    #[command(hide = true)]
    PropagationNode {
        /// Its key seed.
        #[arg(long)]
        seed: u8,
        /// As for `propagation`.
        #[arg(long)]
        discover: bool,
        /// As for `propagation`.
        #[arg(long)]
        peer_target: usize,
        /// As for `propagation`.
        #[arg(long)]
        sync_interval_secs: u64,
    },
    /// A node missing part of a co-op's records catches up from a peer; automerge's sync
    /// protocol on the same data in the same run.
    Catchup {
        /// Records in the co-op.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Percentages missing.
        #[arg(long, value_delimiter = ',', default_value = "1,10")]
        missing: Vec<usize>,
    },
    /// Time to the first answered query and resident memory, for data directories of these
    /// many records (and an empty one, the baseline).
    Startup {
        /// Record counts.
        #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
        records: Vec<usize>,
    },
    /// Opens DIR's store, ledgers and views step by step, with time and memory after each.
    #[command(hide = true)]
    StartupSteps {
        /// The data directory.
        dir: std::path::PathBuf,
    },
    /// Writes a data directory of N records into DIR and keeps it, to profile start-up.
    #[command(hide = true)]
    StartupBuild {
        /// Where.
        dir: std::path::PathBuf,
        /// How many records.
        records: usize,
        /// sled's page cache, in MiB, instead of the node's.
        #[arg(long)]
        cache_mb: Option<u64>,
    },
    /// Starts a node on DIR, answers one query, reports (run by `startup`).
    #[command(hide = true)]
    StartupChild {
        /// The data directory.
        dir: std::path::PathBuf,
    },
    /// The web page's board queries through the HTTP API, for a node holding this many
    /// needs; `/v1/status` in the same run is the baseline.
    Board {
        /// Needs held.
        #[arg(long, default_value_t = 10_000)]
        listings: usize,
        /// Times each query is asked.
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// The record-document workload on the pinned automerge and on the newest (needs
    /// `--features automerge-next`).
    Automerge {
        /// Records per figure.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
    },
}

/// Prints one figure as a JSON line.
pub fn figure(name: &str, fields: &[(&str, Value)]) {
    let mut m = Map::new();
    m.insert("figure".into(), Value::String(name.into()));
    for (k, v) in fields {
        m.insert((*k).into(), v.clone());
    }
    println!("{}", Value::Object(m));
}

/// The value at quantile `q` (0–1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Rounds to 3 decimals for printing.
pub fn ms(x: f64) -> Value {
    serde_json::json!((x * 1000.0).round() / 1000.0)
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match cli.command {
        Bench::Propagation {
            nodes,
            records,
            burst,
            discover,
            peer_target,
            sync_interval_secs,
            no_baseline,
            processes,
        } => runtime.block_on(async {
            let setup = propagation::Setup {
                discover,
                peer_target,
                sync_interval: std::time::Duration::from_secs(sync_interval_secs.max(1)),
                baseline: !no_baseline,
                processes,
            };
            for n in nodes {
                propagation::run(n, records, burst, &setup).await;
            }
        }),
        Bench::PropagationNode {
            seed,
            discover,
            peer_target,
            sync_interval_secs,
        } => {
            let setup = propagation::Setup {
                discover,
                peer_target,
                sync_interval: std::time::Duration::from_secs(sync_interval_secs.max(1)),
                baseline: false,
                processes: false,
            };
            runtime.block_on(processes::child(seed, &setup));
        }
        Bench::Catchup { records, missing } => runtime.block_on(catchup::run(records, &missing)),
        Bench::Startup { records } => startup::run(&records),
        Bench::StartupChild { dir } => runtime.block_on(startup::child(&dir)),
        Bench::StartupBuild {
            dir,
            records,
            cache_mb,
        } => startup::build_into(&dir, records, cache_mb),
        Bench::StartupSteps { dir } => startup::steps(&dir),
        Bench::Automerge { records } => automerge_versions::run(records),
        Bench::Board { listings, queries } => runtime.block_on(board::run(listings, queries)),
    }
}
