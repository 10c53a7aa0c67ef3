//! Peak memory of the reads that walk a whole aggregate, on JetStream: `verify_chain` and a
//! CAR export of one long aggregate, and a `load` of a shorter one for comparison (a load
//! returns every event, so its memory grows with the aggregate by design).
//!
//! ```text
//! cargo bench -p tests --bench memory                          # 1,000,000 events; a few minutes
//! BENCH_MEMORY_EVENTS=200000 cargo bench -p tests --bench memory   # quicker
//! ```
//!
//! It starts its own R1 file-storage nats-server (`.tools/bin/nats-server`, or
//! `$NATS_SERVER_BIN`) on loopback and writes one aggregate of `BENCH_MEMORY_EVENTS` small
//! events (default 1,000,000) in atomic `append_events` batches of 1000, and one of
//! `BENCH_MEMORY_LOAD_EVENTS` (default 100,000). Each measurement then runs in a child
//! process of its own — this bench binary again, with `--child` — so that each has its own
//! peak: the child opens the store, runs the operation once, and reports its time and its
//! peak resident set size (`VmHWM` from `/proc/self/status`) at the end. A `baseline` child
//! only opens the store: the peak of the runtime, the connection and the binary, which
//! every other figure includes.
//!
//! It reports numbers and asserts nothing about them; it asserts counts (the chain is
//! intact, the export holds every block, the load returns every event).

use std::io::BufWriter;
use std::process::Command;
use std::time::{Duration, Instant};

use cim_events::car::export_aggregate;
use cim_events::{EventStore, ExpectedVersion, JetStreamEventStore};
use tests::domain::Noted;
use tests::nats::{NatsServer, connect};

/// The stream and subject prefix the bench creates.
const STREAM: &str = "MEMORY";
const PREFIX: &str = "memory";
/// The long aggregate (verify, export) and the one loaded.
const LONG: &str = "long";
const LOADED: &str = "loaded";
/// Events per atomic `append_events`: the most one batch may hold.
const BATCH: u64 = 1000;

/// What a child process measures.
#[derive(Debug, Clone, Copy)]
enum Operation {
    /// Only connect and open the store.
    Baseline,
    /// `verify_chain` of the long aggregate.
    Verify,
    /// `export_aggregate` of the long aggregate to a file.
    Export,
    /// `load` of the loaded aggregate.
    Load,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Baseline => "baseline",
            Operation::Verify => "verify",
            Operation::Export => "export",
            Operation::Load => "load",
        }
    }

    fn parse(name: &str) -> Option<Operation> {
        [
            Operation::Baseline,
            Operation::Verify,
            Operation::Export,
            Operation::Load,
        ]
        .into_iter()
        .find(|op| op.name() == name)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` runs the binary with `--bench`; a child gets `--child OP URL FILE EVENTS`.
    match args.iter().position(|a| a == "--child") {
        Some(at) => child(&args[at + 1..]),
        None => parent(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn env_size(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

// ---- parent: write the aggregates, run the children, print the table ----

fn parent() {
    let events = env_size("BENCH_MEMORY_EVENTS", 1_000_000);
    let load_events = env_size("BENCH_MEMORY_LOAD_EVENTS", 100_000);
    let runtime = runtime();
    let server = runtime.block_on(NatsServer::start());
    let url = server.url();
    runtime.block_on(async {
        let context = connect(vec![server.addr()]).await;
        let store = JetStreamEventStore::builder(context.clone(), STREAM)
            .prefix(PREFIX)
            .build()
            .await
            .expect("provision");
        println!(
            "nats-server {} (R1, file storage, loopback); children run on 2 worker threads",
            context.client().server_info().version
        );
        for (id, count) in [(LONG, events), (LOADED, load_events)] {
            let started = Instant::now();
            write(&store, id, count).await;
            let took = started.elapsed();
            println!(
                "wrote `{id}`: {count} events in batches of {BATCH} in {:.1} s ({:.0} events/s)",
                took.as_secs_f64(),
                count as f64 / took.as_secs_f64()
            );
        }
    });

    let dir = tempfile::tempdir().expect("a temporary directory");
    let car = dir.path().join("long.car");
    println!();
    println!(
        "{:<9} {:>10} {:>10} {:>14} {:>10}",
        "operation", "events", "time (s)", "peak RSS (MB)", "output"
    );
    for (operation, count) in [
        (Operation::Baseline, 0),
        (Operation::Verify, events),
        (Operation::Export, events),
        (Operation::Load, load_events),
    ] {
        let report = run_child(operation, &url, &car, count);
        let output = match operation {
            Operation::Export => format!(
                "{:.1} MB",
                std::fs::metadata(&car).map_or(0, |m| m.len()) as f64 / 1e6
            ),
            _ => String::new(),
        };
        println!(
            "{:<9} {:>10} {:>10.2} {:>14.1} {:>10}",
            operation.name(),
            count,
            report.elapsed.as_secs_f64(),
            report.peak_kb as f64 / 1024.0,
            output
        );
    }
    drop(server);
}

/// Writes `count` events to `id` in atomic batches of [`BATCH`].
async fn write(store: &JetStreamEventStore, id: &str, count: u64) {
    let mut written = 0;
    while written < count {
        let size = BATCH.min(count - written);
        let batch = (written..written + size)
            .map(|n| Noted::new(id, n))
            .collect();
        store
            .append_events(id, batch, ExpectedVersion::Exact(written))
            .await
            .expect("append a batch");
        written += size;
    }
}

/// What a child reports.
struct ChildReport {
    elapsed: Duration,
    peak_kb: u64,
}

fn run_child(operation: Operation, url: &str, car: &std::path::Path, events: u64) -> ChildReport {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let output = Command::new(exe)
        .arg("--child")
        .arg(operation.name())
        .arg(url)
        .arg(car)
        .arg(events.to_string())
        .output()
        .expect("run a child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child `{}` failed: {stdout}{}",
        operation.name(),
        String::from_utf8_lossy(&output.stderr)
    );
    // The child's one line: `elapsed_ns peak_kb`.
    let numbers: Vec<u64> = stdout
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers[..] {
        [elapsed, peak_kb] => ChildReport {
            elapsed: Duration::from_nanos(elapsed),
            peak_kb,
        },
        _ => panic!("child `{}` printed no figures: {stdout}", operation.name()),
    }
}

// ---- child: one operation, then its time and peak ----

fn child(args: &[String]) {
    let (Some(operation), Some(url), Some(car), Some(expected)) = (
        args.first().and_then(|a| Operation::parse(a)),
        args.get(1),
        args.get(2),
        args.get(3).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        panic!("usage: memory --child baseline|verify|export|load NATS_URL CAR_FILE EVENTS");
    };
    let runtime = runtime();
    let elapsed = runtime.block_on(async {
        let context = connect(vec![url.parse().expect("a server URL")]).await;
        let store = JetStreamEventStore::builder(context, STREAM)
            .prefix(PREFIX)
            .build()
            .await
            .expect("open the store");
        let started = Instant::now();
        match operation {
            Operation::Baseline => {}
            Operation::Verify => {
                let report = store.verify_chain(LONG).await.expect("verify");
                assert!(report.is_valid(), "{:?}", report.faults);
                assert_eq!(report.events, expected, "every event verified");
            }
            Operation::Export => {
                let file = std::fs::File::create(car).expect("create the CAR file");
                let summary = export_aggregate(&store, LONG, BufWriter::new(file))
                    .await
                    .expect("export");
                assert_eq!(summary.blocks, expected, "every block exported");
            }
            Operation::Load => {
                let events = store.load(LOADED).await.expect("load");
                assert_eq!(events.len() as u64, expected, "every event loaded");
            }
        }
        started.elapsed()
    });
    println!("{} {}", elapsed.as_nanos(), peak_rss_kb());
}

/// The process's peak resident set size so far, in kB (`VmHWM`).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}
