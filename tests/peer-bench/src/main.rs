//! Peer comparison: `cim-events` on NATS JetStream against `cqrs-es` with `postgres-es`
//! on PostgreSQL, on the same bank-account domain, in the same process.
//!
//! Run it with `bash scripts/bench-peer`: the script installs what is missing, starts a
//! throwaway PostgreSQL cluster, builds this crate in release into `target/peer-bench`
//! and runs it with the cluster's URL. This binary starts its own nats-server (the
//! workspace's `tests::nats::NatsServer`, R1, file storage, loopback).
//!
//! # The domain
//!
//! An account with two commands, open and deposit; the events `Opened` and `Deposited`,
//! each deposit carrying a 240-character memo. Both sides handle a command the same way:
//! load the account (replaying its events, or from a snapshot plus the events after it),
//! decide, append the new event under optimistic concurrency.
//!
//! # The sides
//!
//! | side | what |
//! | --- | --- |
//! | `ours` | `cim_events::Repository` over `JetStreamEventStore` (R1, file storage), with its state cache (`with_cache`), as an application runs it |
//! | `ours cold` | the same without the cache: every command loads the account |
//! | `ours+snap` | without the cache, with `JetStreamSnapshotStore`, `SnapshotPolicy::EveryNEvents(100)` |
//! | `peer sc=on` | `postgres_es::postgres_cqrs`, sessions with `synchronous_commit = on` |
//! | `peer sc=off` | the same, `synchronous_commit = off` |
//! | `peer+snap sc=…` | `postgres_es::postgres_snapshot_cqrs` with a snapshot every 100 events |
//!
//! Each peer pool holds one connection per concurrent task, opened up front.
//!
//! # The shapes
//!
//! - **(a)** one task runs [`SINGLE_COMMANDS`] deposits in a row on one new account:
//!   commands/s (the history grows as it runs, on both sides alike; the sides take turns
//!   every [`SINGLE_TURN`] commands);
//! - **(b)** [`TASKS`] tasks each run [`COMMANDS_PER_TASK`] deposits on an account of
//!   their own, all at once: commands/s over all of them;
//! - **(c)** one deposit on an account that already holds [`HISTORY`] events (written
//!   straight into the store, the last one by a command so that the snapshot sides have a
//!   snapshot at event 1000): latency, p50 of [`LATENCY_SAMPLES`] accounts per round.
//!
//! # How figures are taken
//!
//! The machine is shared, so every figure is taken in interleaved rounds
//! (`BENCH_ROUNDS`, default 7): each round runs every shape on every side, in one order
//! in even rounds and in the reverse order in odd ones; in (a) the sides take turns
//! every few commands and in (c) sample by sample. A ratio ours/peer is computed within
//! each round; the report gives, per shape, each side's median over the rounds and the
//! median (min–max) of the per-round ratios.
//!
//! ```text
//! bash scripts/bench-peer                    # 7 rounds
//! BENCH_ROUNDS=3 bash scripts/bench-peer     # quicker
//! ```
//!
//! Or by hand, against a database that has the postgres-es schema (`events` and
//! `snapshots` tables, see `scripts/bench-peer`):
//!
//! ```text
//! cargo run --release --manifest-path tests/peer-bench/Cargo.toml --target-dir target/peer-bench \
//!     -- postgres://user@127.0.0.1:5432/bench
//! ```

mod ours;
mod peer;
mod quickstart;

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres_es::PostgresCqrs;
use sqlx::PgPool;
use tokio::task::JoinSet;

/// Any error; the bench stops at the first.
type BoxError = Box<dyn Error + Send + Sync>;

/// Both sides snapshot every this many events.
pub const SNAPSHOT_EVERY: u64 = 100;
/// Length of each deposit's memo, in characters (ASCII).
pub const MEMO_LEN: usize = 240;
/// Shape (a): deposits in a row on one account.
pub const SINGLE_COMMANDS: usize = 200;
/// Shape (a): commands a side runs before the next side takes its turn.
pub const SINGLE_TURN: usize = 10;
/// Shape (b): concurrent tasks, each on an account of its own.
pub const TASKS: usize = 32;
/// Shape (b): deposits per task.
pub const COMMANDS_PER_TASK: usize = 50;
/// Shape (c): events the account holds before the measured command.
pub const HISTORY: usize = 1000;
/// Shape (c): measured commands per side and round, each on its own account.
pub const LATENCY_SAMPLES: usize = 25;
/// Rounds unless `BENCH_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: usize = 7;

/// The memo of the `n`th deposit: [`MEMO_LEN`] ASCII characters.
pub fn memo(n: usize) -> String {
    const FILLER: &str = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do \
                          eiusmod tempor incididunt ut labore et dolore magna aliqua; ";
    let mut memo = format!("deposit {n}: ");
    while memo.len() < MEMO_LEN {
        memo.push_str(FILLER);
    }
    memo.truncate(MEMO_LEN);
    memo
}

/// One contender: a configured framework on its store.
#[derive(Clone)]
struct Side {
    name: &'static str,
    /// Whether the framework loads from snapshots and takes them.
    snapshots: bool,
    backend: Backend,
}

/// The framework behind a [`Side`].
#[derive(Clone)]
enum Backend {
    Ours(Arc<ours::Accounts>),
    Peer {
        cqrs: Arc<PostgresCqrs<peer::Account>>,
        pool: PgPool,
    },
}

impl Side {
    fn ours(name: &'static str, stores: &ours::Stores, snapshots: bool, cache: bool) -> Side {
        let accounts = Arc::new(ours::repository(stores, snapshots, cache));
        Side {
            name,
            snapshots,
            backend: Backend::Ours(accounts),
        }
    }

    fn peer(name: &'static str, pool: &PgPool, snapshots: bool) -> Side {
        let cqrs = Arc::new(peer::framework(pool.clone(), snapshots));
        Side {
            name,
            snapshots,
            backend: Backend::Peer {
                cqrs,
                pool: pool.clone(),
            },
        }
    }

    fn is_ours(&self) -> bool {
        matches!(self.backend, Backend::Ours(_))
    }

    async fn open(&self, id: &str) -> Result<(), BoxError> {
        let owner = "bench".to_owned();
        match &self.backend {
            Backend::Ours(accounts) => {
                accounts.execute(id, ours::Open { owner }).await?;
            }
            Backend::Peer { cqrs, .. } => {
                cqrs.execute(id, peer::AccountCommand::Open { owner })
                    .await?;
            }
        }
        Ok(())
    }

    /// The `n`th deposit on the account.
    async fn deposit(&self, id: &str, n: usize) -> Result<(), BoxError> {
        let (amount, memo) = (n as u64 + 1, memo(n));
        match &self.backend {
            Backend::Ours(accounts) => {
                accounts.execute(id, ours::Deposit { amount, memo }).await?;
            }
            Backend::Peer { cqrs, .. } => {
                cqrs.execute(id, peer::AccountCommand::Deposit { amount, memo })
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes a history of `events` events (opened, then deposits) straight into the
    /// store.
    async fn prefill(&self, id: &str, events: usize) -> Result<(), BoxError> {
        match &self.backend {
            Backend::Ours(accounts) => ours::prefill(accounts, id, events).await?,
            Backend::Peer { pool, .. } => peer::prefill(pool, id, events).await?,
        }
        Ok(())
    }

    /// The version of the account's snapshot that a load starts from, if any.
    async fn snapshot_version(&self, id: &str) -> Result<Option<u64>, BoxError> {
        match &self.backend {
            Backend::Ours(accounts) => ours::snapshot_version(accounts, id).await,
            Backend::Peer { pool, .. } => Ok(peer::snapshot_version(pool, id).await?),
        }
    }
}

/// A side's figures, one per round.
type Series = Vec<f64>;

/// What one shape measures and how to read it.
struct Shape {
    title: String,
    unit: &'static str,
    /// Commands/s: higher is better; latency: lower is better.
    higher_is_better: bool,
    /// Per side, in the order of `sides`.
    figures: Vec<Series>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or("usage: peer-bench POSTGRES_URL (or set DATABASE_URL)")?;
    let rounds = match std::env::var("BENCH_ROUNDS") {
        Ok(value) => value
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or("BENCH_ROUNDS must be a positive integer")?,
        Err(_) => DEFAULT_ROUNDS,
    };
    let started = Instant::now();

    let server = tests::nats::NatsServer::start().await;
    let jetstream = tests::nats::connect(vec![server.addr()]).await;
    let stores = ours::Stores::provision(jetstream.clone()).await?;
    let pool_on = peer::pool(&url, true, TASKS as u32).await?;
    let pool_off = peer::pool(&url, false, TASKS as u32).await?;

    println!(
        "nats-server {} (R1, file storage, loopback) | {}",
        jetstream.client().server_info().version,
        peer::server_version(&pool_on).await?
    );
    println!(
        "{rounds} rounds; memo {MEMO_LEN} chars; snapshots every {SNAPSHOT_EVERY} events; \
         peer pools of {TASKS} connections; sc = synchronous_commit"
    );

    let sides = [
        Side::ours("ours", &stores, false, true),
        Side::ours("ours cold", &stores, false, false),
        Side::ours("ours+snap", &stores, true, false),
        Side::peer("peer sc=on", &pool_on, false),
        Side::peer("peer sc=off", &pool_off, false),
        Side::peer("peer+snap sc=on", &pool_on, true),
        Side::peer("peer+snap sc=off", &pool_off, true),
    ];

    // Ids unique to this run, so that a rerun against the same database cannot collide.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        % 100_000_000;

    // Warm-up, not measured: connections, server caches, code paths.
    for (s, side) in sides.iter().enumerate() {
        let id = format!("warm-{run}-{s}");
        side.open(&id).await?;
        for n in 0..20 {
            side.deposit(&id, n).await?;
        }
    }

    let mut single = Shape {
        title: format!(
            "(a) 1 task, 1 account, {SINGLE_COMMANDS} deposits in a row (history 1 → {} events)",
            SINGLE_COMMANDS + 1
        ),
        unit: "commands/s",
        higher_is_better: true,
        figures: vec![Vec::new(); sides.len()],
    };
    let mut concurrent = Shape {
        title: format!(
            "(b) {TASKS} tasks on {TASKS} accounts, {COMMANDS_PER_TASK} deposits each \
             ({} commands)",
            TASKS * COMMANDS_PER_TASK
        ),
        unit: "commands/s",
        higher_is_better: true,
        figures: vec![Vec::new(); sides.len()],
    };
    let mut latency = Shape {
        title: format!(
            "(c) 1 deposit on an account holding {HISTORY} events, p50 of {LATENCY_SAMPLES} \
             accounts per round"
        ),
        unit: "ms",
        higher_is_better: false,
        figures: vec![Vec::new(); sides.len()],
    };

    for round in 0..rounds {
        let round_started = Instant::now();
        let mut order: Vec<usize> = (0..sides.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let tag = |shape: &str, s: usize| format!("{shape}-{run}-r{round}-s{s}");

        let rates = run_single(&sides, &order, &|s| tag("a", s)).await?;
        for (s, rate) in rates.into_iter().enumerate() {
            single.figures[s].push(rate);
        }
        for &s in &order {
            let rate = run_concurrent(&sides[s], &tag("b", s)).await?;
            concurrent.figures[s].push(rate);
        }
        let p50s = run_latency(&sides, &order, &|s| tag("c", s)).await?;
        for (s, p50) in p50s.into_iter().enumerate() {
            latency.figures[s].push(p50);
        }
        eprintln!(
            "round {}/{rounds} ({} first) in {:.0?}",
            round + 1,
            sides[order[0]].name,
            round_started.elapsed()
        );
    }

    for shape in [&single, &concurrent, &latency] {
        report(shape, &sides);
    }
    println!("\nwhole run: {:.0?}", started.elapsed());
    drop(server);
    Ok(())
}

/// Shape (a): opens an account per side (not timed), then times [`SINGLE_COMMANDS`]
/// deposits in a row on each, the sides taking turns every [`SINGLE_TURN`] commands (so
/// that their histories grow in step and a burst of load elsewhere falls on all of
/// them). Returns each side's commands per second over its own time.
async fn run_single(
    sides: &[Side],
    order: &[usize],
    id: &dyn Fn(usize) -> String,
) -> Result<Vec<f64>, BoxError> {
    for &s in order {
        sides[s].open(&id(s)).await?;
    }
    let mut spent = vec![Duration::ZERO; sides.len()];
    for turn in (0..SINGLE_COMMANDS).step_by(SINGLE_TURN) {
        for &s in order {
            let (side, id) = (&sides[s], id(s));
            let start = Instant::now();
            for n in turn..(turn + SINGLE_TURN).min(SINGLE_COMMANDS) {
                side.deposit(&id, n).await?;
            }
            spent[s] += start.elapsed();
        }
    }
    Ok(spent
        .into_iter()
        .map(|time| SINGLE_COMMANDS as f64 / time.as_secs_f64())
        .collect())
}

/// Shape (b): opens [`TASKS`] accounts (not timed), then times [`TASKS`] tasks running
/// [`COMMANDS_PER_TASK`] deposits each, one account per task. Commands per second.
async fn run_concurrent(side: &Side, prefix: &str) -> Result<f64, BoxError> {
    let ids: Vec<String> = (0..TASKS).map(|t| format!("{prefix}-{t}")).collect();
    let mut opening = JoinSet::new();
    for id in &ids {
        let (side, id) = (side.clone(), id.clone());
        opening.spawn(async move { side.open(&id).await });
    }
    while let Some(opened) = opening.join_next().await {
        opened??;
    }

    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for id in ids {
        let side = side.clone();
        tasks.spawn(async move {
            for n in 0..COMMANDS_PER_TASK {
                side.deposit(&id, n).await?;
            }
            Ok::<_, BoxError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok((TASKS * COMMANDS_PER_TASK) as f64 / start.elapsed().as_secs_f64())
}

/// Shape (c): for each side, [`LATENCY_SAMPLES`] accounts of [`HISTORY`] events (the
/// last written by a command, which takes the snapshot where there are snapshots), then
/// one timed deposit on each, the sides taking turns. Returns each side's p50 in ms.
async fn run_latency(
    sides: &[Side],
    order: &[usize],
    tag: &dyn Fn(usize) -> String,
) -> Result<Vec<f64>, BoxError> {
    let id = |s: usize, k: usize| format!("{}-{k}", tag(s));
    for &s in order {
        for k in 0..LATENCY_SAMPLES {
            sides[s].prefill(&id(s, k), HISTORY - 1).await?;
            sides[s].deposit(&id(s, k), HISTORY).await?;
        }
    }
    let mut samples = vec![Vec::with_capacity(LATENCY_SAMPLES); sides.len()];
    for k in 0..LATENCY_SAMPLES {
        for &s in order {
            let start = Instant::now();
            sides[s].deposit(&id(s, k), HISTORY + 1).await?;
            samples[s].push(start.elapsed());
        }
    }
    // The snapshot sides must have loaded from the snapshot taken at event HISTORY.
    for &s in order {
        let expected = sides[s].snapshots.then_some(HISTORY as u64);
        let found = sides[s].snapshot_version(&id(s, 0)).await?;
        if found != expected {
            return Err(format!(
                "{}: snapshot at version {found:?}, expected {expected:?}",
                sides[s].name
            )
            .into());
        }
    }
    Ok(samples
        .into_iter()
        .map(|mut durations| {
            durations.sort();
            let p50 = durations[(durations.len() - 1) / 2];
            p50.as_secs_f64() * 1e3
        })
        .collect())
}

/// The median of `values` (the lower middle one for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

/// Prints a shape: each side's median over the rounds, then the per-round ratios
/// ours/peer for each of our sides against each peer side.
fn report(shape: &Shape, sides: &[Side]) {
    let better = if shape.higher_is_better {
        "higher is better; ratio > 1: ours faster"
    } else {
        "lower is better; ratio < 1: ours faster"
    };
    println!("\n{}", shape.title);
    println!("  {} ({better})", shape.unit);
    for (side, figures) in sides.iter().zip(&shape.figures) {
        let digits = if shape.higher_is_better { 0 } else { 2 };
        println!(
            "  {:<18} median {:>9.digits$}   (rounds: {})",
            side.name,
            median(figures),
            figures
                .iter()
                .map(|f| format!("{f:.digits$}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let peers: Vec<usize> = (0..sides.len()).filter(|&p| !sides[p].is_ours()).collect();
    print!("  ratio ours/peer    ");
    for &p in &peers {
        print!(" {:>22}", sides[p].name);
    }
    println!();
    for (o, side) in sides.iter().enumerate().filter(|(_, s)| s.is_ours()) {
        print!("  {:<18} ", side.name);
        for &p in &peers {
            let ratios: Vec<f64> = shape.figures[o]
                .iter()
                .zip(&shape.figures[p])
                .map(|(ours, peer)| ours / peer)
                .collect();
            let (min, max) = ratios
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                    (lo.min(*r), hi.max(*r))
                });
            print!(
                " {:>22}",
                format!("{:.2} ({min:.2}–{max:.2})", median(&ratios))
            );
        }
        println!();
    }
}

#[cfg(test)]
mod memo_tests {
    #[test]
    fn memo_is_240_ascii_characters() {
        for n in [0, 7, 999, 123_456] {
            let memo = super::memo(n);
            assert_eq!(memo.chars().count(), super::MEMO_LEN);
            assert!(memo.is_ascii());
        }
    }
}
