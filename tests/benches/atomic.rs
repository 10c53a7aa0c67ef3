//! An atomic commit across two aggregates against the same two events appended one
//! aggregate at a time, on JetStream, in interleaved rounds.
//!
//! ```text
//! cargo bench -p tests --bench atomic                 # under a minute
//! BENCH_ROUNDS=5 BENCH_COMMITS=200 cargo bench -p tests --bench atomic
//! ```
//!
//! It starts its own nats-server on loopback. Each round runs, in alternating order, N
//! commits of one event to each of two aggregates (`append_atomic`: one ADR-50 batch of two
//! messages, each carrying its aggregate's expected sequence) and N pairs of single
//! appends to two other aggregates (two publishes, each with its own ack), both after
//! known heads. The ratio is atomic / pairs per round. It reports numbers and asserts
//! only counts.

use std::time::{Duration, Instant};

use cim_events::{
    AtomicAppend, EventHeader, EventStore, ExpectedVersion, Head, JetStreamEventStore,
    PreparedAppend,
};
use tests::domain::Noted;
use tests::nats::{NatsServer, connect};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn prepared(id: &str, n: u64) -> PreparedAppend {
    PreparedAppend::new(id, &[Noted::new(id, n)], &EventHeader::default()).expect("prepare")
}

fn after(head: Option<Head>) -> ExpectedVersion {
    head.map_or(ExpectedVersion::NoStream, ExpectedVersion::After)
}

/// `n` atomic commits to `a` and `b`; the heads after.
async fn atomic(
    store: &JetStreamEventStore,
    heads: &mut [Option<Head>; 2],
    ids: [&str; 2],
    n: usize,
) -> Duration {
    let started = Instant::now();
    for i in 0..n as u64 {
        let commit = AtomicAppend::new([
            (prepared(ids[0], i), after(heads[0])),
            (prepared(ids[1], i), after(heads[1])),
        ])
        .expect("commit");
        let stored = store.append_atomic(&commit).await.expect("committed");
        heads[0] = Some(stored[0][0].head());
        heads[1] = Some(stored[1][0].head());
    }
    started.elapsed()
}

/// `n` pairs of single appends to `a` and `b`.
async fn pairs(
    store: &JetStreamEventStore,
    heads: &mut [Option<Head>; 2],
    ids: [&str; 2],
    n: usize,
) -> Duration {
    let started = Instant::now();
    for i in 0..n as u64 {
        for side in 0..2 {
            let stored = store
                .append_prepared(&prepared(ids[side], i), after(heads[side]))
                .await
                .expect("appended");
            heads[side] = Some(stored[0].head());
        }
    }
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env("BENCH_ROUNDS", 7);
    let commits = env("BENCH_COMMITS", 500);
    let server = NatsServer::start().await;
    let store = JetStreamEventStore::builder(connect(vec![server.addr()]).await, "ATOMIC")
        .prefix("atomic")
        .build()
        .await
        .expect("provision");
    let (mut atomic_heads, mut pair_heads) = ([None, None], [None, None]);
    let mut rows = Vec::new();
    for round in 0..rounds {
        let (a, p) = if round % 2 == 0 {
            let a = atomic(&store, &mut atomic_heads, ["x-1", "x-2"], commits).await;
            (
                a,
                pairs(&store, &mut pair_heads, ["y-1", "y-2"], commits).await,
            )
        } else {
            let p = pairs(&store, &mut pair_heads, ["y-1", "y-2"], commits).await;
            (
                atomic(&store, &mut atomic_heads, ["x-1", "x-2"], commits).await,
                p,
            )
        };
        rows.push((a, p));
    }
    let total = (rounds * commits) as u64;
    for id in ["x-1", "x-2", "y-1", "y-2"] {
        assert_eq!(
            store.head(id).await.expect("head").map(|h| h.version),
            Some(total)
        );
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / commits as f64;
    let mut ratios: Vec<f64> = rows
        .iter()
        .map(|(a, p)| a.as_secs_f64() / p.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let mut atomic_us: Vec<f64> = rows.iter().map(|(a, _)| per(*a)).collect();
    let mut pair_us: Vec<f64> = rows.iter().map(|(_, p)| per(*p)).collect();
    atomic_us.sort_by(f64::total_cmp);
    pair_us.sort_by(f64::total_cmp);
    let mid = rounds / 2;
    println!("{rounds} rounds x {commits} commits of one event to each of two aggregates");
    println!("| | median µs per commit | range |");
    println!("|---|---:|---|");
    println!(
        "| atomic commit (one batch) | {:.0} | {:.0}–{:.0} |",
        atomic_us[mid],
        atomic_us[0],
        atomic_us[rounds - 1]
    );
    println!(
        "| two single appends | {:.0} | {:.0}–{:.0} |",
        pair_us[mid],
        pair_us[0],
        pair_us[rounds - 1]
    );
    println!(
        "ratio atomic / two appends, per round: median {:.2} (range {:.2}–{:.2})",
        ratios[mid],
        ratios[0],
        ratios[rounds - 1]
    );
}
