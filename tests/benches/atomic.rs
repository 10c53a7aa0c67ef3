//! An atomic commit across two aggregates against the same two events appended one
//! aggregate at a time, on JetStream, in interleaved rounds.
//!
//! ```text
//! cargo bench -p tests --bench atomic                 # under a minute
//! BENCH_ROUNDS=5 BENCH_COMMITS=200 cargo bench -p tests --bench atomic
//! ```
//!
//! It starts its own nats-server on loopback. Each round runs three sides, in alternating
//! order, N times each:
//!
//! - `append_atomic` of one event to each of two aggregates: one ADR-50 batch of two
//!   messages, each carrying its aggregate's expected sequence;
//! - raw: the same batch by hand with async-nats (pre-encoded bodies, the batch and
//!   expected-sequence headers, one ack), what the engine itself costs;
//! - two single appends to two other aggregates (two publishes, each with its own ack).
//!
//! All after known heads. Ratios are per round. It reports numbers and asserts only
//! counts.

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

/// `n` batches of two messages by hand, to `atomic.raw-1` and `atomic.raw-2`; the last
/// sequences after.
async fn raw(context: &async_nats::jetstream::Context, last: &mut [u64; 2], n: usize) -> Duration {
    let client = context.client();
    let body = bytes::Bytes::from(vec![0xa5_u8; 120]);
    let started = Instant::now();
    for i in 0..n {
        let batch = format!("raw{i}x{}", last[0]);
        for side in 0..2 {
            let id = ["raw-1", "raw-2"][side];
            let subject = format!("atomic.{id}.Noted");
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Batch-Id", batch.as_str());
            headers.insert("Nats-Batch-Sequence", (side + 1).to_string().as_str());
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                last[side].to_string().as_str(),
            );
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence-Subject",
                format!("atomic.{id}.*").as_str(),
            );
            if side == 0 {
                client
                    .publish_with_headers(subject, headers, body.clone())
                    .await
                    .expect("staged");
                continue;
            }
            headers.insert("Nats-Batch-Commit", "1");
            let ack = context
                .publish_with_headers(subject, headers, body.clone())
                .await
                .expect("sent")
                .await
                .expect("committed");
            last[1] = ack.sequence;
            last[0] = ack.sequence - 1;
        }
    }
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env("BENCH_ROUNDS", 7);
    let commits = env("BENCH_COMMITS", 500);
    let server = NatsServer::start().await;
    let context = connect(vec![server.addr()]).await;
    let store = JetStreamEventStore::builder(context.clone(), "ATOMIC")
        .prefix("atomic")
        .build()
        .await
        .expect("provision");
    let (mut atomic_heads, mut pair_heads, mut raw_last) = ([None, None], [None, None], [0, 0]);
    let mut rows = Vec::new();
    for round in 0..rounds {
        let mut row = [Duration::ZERO; 3];
        let order: [usize; 3] = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for side in order {
            row[side] = match side {
                0 => atomic(&store, &mut atomic_heads, ["x-1", "x-2"], commits).await,
                1 => raw(&context, &mut raw_last, commits).await,
                _ => pairs(&store, &mut pair_heads, ["y-1", "y-2"], commits).await,
            };
        }
        rows.push(row);
    }
    let total = (rounds * commits) as u64;
    for id in ["x-1", "x-2", "y-1", "y-2"] {
        assert_eq!(
            store.head(id).await.expect("head").map(|h| h.version),
            Some(total)
        );
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / commits as f64;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    println!("{rounds} rounds x {commits} commits of one event to each of two aggregates");
    println!("| | median µs per commit | range |");
    println!("|---|---:|---|");
    for (side, name) in [
        "atomic commit, `append_atomic` (one batch)",
        "raw async-nats, the same batch by hand",
        "two single appends",
    ]
    .into_iter()
    .enumerate()
    {
        let (m, lo, hi) = median(rows.iter().map(|r| per(r[side])).collect());
        println!("| {name} | {m:.0} | {lo:.0}–{hi:.0} |");
    }
    for (name, a, b) in [
        ("atomic / raw batch", 0, 1),
        ("atomic / two single appends", 0, 2),
    ] {
        let (m, lo, hi) = median(
            rows.iter()
                .map(|r| r[a].as_secs_f64() / r[b].as_secs_f64())
                .collect(),
        );
        println!("ratio {name}, per round: median {m:.2} (range {lo:.2}–{hi:.2})");
    }
}
