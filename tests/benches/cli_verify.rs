//! `cim-events verify` over a whole stream against a raw async-nats read of the same
//! stream, as a ratio.
//!
//! ```text
//! cargo build --release -p cim-events --features cli --bin cim-events
//! cargo bench -p tests --bench cli_verify
//! ```
//!
//! It starts its own nats-server (file storage, loopback), writes `BENCH_EVENTS` events
//! [100000] over `BENCH_AGGREGATES` aggregates [1000] in appends of 10 events, aggregates
//! interleaved, then runs `BENCH_ROUNDS` rounds [5], each with both sides, alternating
//! which goes first:
//!
//! - **raw**: an ephemeral pull consumer without acks on `{prefix}.>` (batches of 2000),
//!   drained until nothing is pending, counting messages and bytes: the read alone;
//! - **verify**: the release binary `cim-events verify --all --json`, wall clock of the
//!   process (start-up, connection, anchors and the one pass included), and the time of
//!   the one pass alone, as the binary reports it (`pass_seconds`).
//!
//! Reports numbers; asserts only counts (every event read, the stream intact).

use std::time::{Duration, Instant};

use cim_events::jetstream::async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use cim_events::{EventStore, ExpectedVersion, JetStreamEventStore};
use futures::StreamExt;
use tests::domain::Noted;
use tests::nats::{NatsServer, connect};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let binary = tests::cli::binary_in("release");
    let events = env("BENCH_EVENTS", 100_000);
    let aggregates = env("BENCH_AGGREGATES", 1_000);
    let rounds = env("BENCH_ROUNDS", 5);
    let server = NatsServer::start().await;
    let store = JetStreamEventStore::builder(connect(vec![server.addr()]).await, "BENCH")
        .prefix("bench")
        .build()
        .await
        .expect("provision");
    let started = Instant::now();
    let per = events / aggregates;
    let mut written = 0;
    for round in 0..per.div_ceil(10) {
        for a in 0..aggregates {
            let id = format!("agg-{a}");
            let batch: Vec<Noted> = (0..10.min(per - round * 10))
                .map(|i| {
                    let mut e = Noted::new(&id, round * 10 + i);
                    e.text = "x".repeat(100);
                    e
                })
                .collect();
            written += batch.len() as u64;
            store
                .append_events(&id, batch, ExpectedVersion::Any)
                .await
                .expect("append");
        }
    }
    println!(
        "wrote {written} events over {aggregates} aggregates in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut raw_rates = Vec::new();
    let mut verify_rates = Vec::new();
    let mut inside_rates = Vec::new();
    let mut ratios = Vec::new();
    let mut pass_ratios = Vec::new();
    for round in 0..rounds {
        let (raw, verify) = if round % 2 == 0 {
            let raw = raw_read(&store, written).await;
            (raw, run_verify(&binary, &server.url(), written))
        } else {
            let verify = run_verify(&binary, &server.url(), written);
            (raw_read(&store, written).await, verify)
        };
        let (wall, inside) = verify;
        let raw_rate = written as f64 / raw.as_secs_f64();
        let verify_rate = written as f64 / wall.as_secs_f64();
        println!(
            "round {round}: raw {:.0} ev/s, verify {:.0} ev/s (the pass alone {:.0} ev/s), ratio {:.2}",
            raw_rate,
            verify_rate,
            written as f64 / inside,
            raw_rate / verify_rate
        );
        raw_rates.push(raw_rate);
        verify_rates.push(verify_rate);
        inside_rates.push(written as f64 / inside);
        ratios.push(raw_rate / verify_rate);
        pass_ratios.push(inside / raw.as_secs_f64());
    }
    println!();
    println!("| {written} events, {aggregates} aggregates, {rounds} rounds | median | range |");
    println!("|---|---:|---:|");
    for (name, values) in [
        ("raw read (events/s)", &mut raw_rates),
        (
            "`verify --all`, whole process (events/s)",
            &mut verify_rates,
        ),
        (
            "`verify --all`, the one pass alone (events/s)",
            &mut inside_rates,
        ),
        ("time ratio verify (whole process) / raw", &mut ratios),
        ("time ratio verify (the pass alone) / raw", &mut pass_ratios),
    ] {
        values.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.2} | {:.2}–{:.2} |",
            values[values.len() / 2],
            values[0],
            values[values.len() - 1]
        );
    }
}

/// Reads every message of the stream once, as the CLI's pass does, without verifying.
async fn raw_read(store: &JetStreamEventStore, expected: u64) -> Duration {
    let started = Instant::now();
    let mut consumer = store
        .stream()
        .create_consumer(pull::Config {
            filter_subject: "bench.>".to_owned(),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            num_replicas: 1,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let pending = consumer.info().await.expect("info").num_pending;
    assert_eq!(pending, expected);
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(2_000)
        .messages()
        .await
        .expect("messages");
    let (mut count, mut bytes) = (0u64, 0usize);
    while let Some(message) = messages.next().await {
        let message = message.expect("message");
        count += 1;
        bytes += message.payload.len();
        if message.info().expect("info").pending == 0 {
            break;
        }
    }
    assert_eq!(count, expected);
    assert!(bytes > 0);
    started.elapsed()
}

/// Runs `verify --all --json`: the wall time, and the seconds of the one pass the binary
/// reports (without start-up, connecting and reading the anchors).
fn run_verify(binary: &std::path::Path, url: &str, expected: u64) -> (Duration, f64) {
    let started = Instant::now();
    let output = std::process::Command::new(binary)
        .args(["--server", url, "--stream", "BENCH", "--prefix", "bench"])
        .args(["verify", "--all", "--json"])
        .output()
        .expect("run cim-events");
    let wall = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["events"], expected);
    assert_eq!(report["intact"], true);
    (wall, report["pass_seconds"].as_f64().expect("pass seconds"))
}
