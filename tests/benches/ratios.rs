//! How close the JetStream store comes to raw async-nats doing the same work, as ratios.
//!
//! ```text
//! cargo bench -p tests --bench ratios                  # about 3-5 minutes on 2 busy cores
//! BENCH_ROUNDS=3 cargo bench -p tests --bench ratios   # quicker, rougher
//! ```
//!
//! It starts its own R1 file-storage nats-server (`.tools/bin/nats-server`, or
//! `$NATS_SERVER_BIN`) on loopback, and one connection that the store and the raw client
//! share. Every shape runs in interleaved rounds: in each round every side runs once, in
//! order in even rounds and in reverse order in odd ones, so that machine load drifting
//! during the run (other builds on the same cores) hits both sides alike. Each ratio
//! (store / raw) is computed within a round, and the median and range over the rounds are
//! printed. It reports numbers and asserts nothing about them; it asserts counts (a load
//! returns every event, a verified chain is intact).
//!
//! The raw side is the ideal the store is measured against: blocks sealed before the clock
//! starts, published with the same headers an append sends (`Nats-Msg-Id`, `Cim-*`, and
//! `Nats-Expected-Last-Subject-Sequence` from the previous ack with its `-Subject` scope
//! and `Nats-Expected-Stream`), one publish + ack per event; reads that only count the
//! messages. The shapes:
//!
//! 1. sequential appends, one writer on one aggregate: raw, `append_event(id, e, None)`,
//!    and an append after the head the caller knows ([`known_head`]);
//! 2. 32 concurrent writers on 32 aggregates;
//! 3. loading a 1000-event aggregate: `store.load` vs an ordered consumer and a batch
//!    Direct Get;
//! 4. `verify_chain` of a 10,000-event aggregate vs reading it;
//! 5. commands through the [`Repository`] (an `Account` with a 240-character memo per
//!    deposit): one task, 32 tasks on 32 accounts, and one command on a 1000-event
//!    account with and without snapshots, each against one raw publish + ack per command
//!    (what a command on a warm aggregate ideally costs: one request).
//!
//! Every table also shows messages sent per operation (publishes, requests, pull
//! requests, from the client's own counters): the requests an operation costs.
//!
//! Sizes, from the environment (defaults in brackets):
//!
//! | variable | meaning |
//! |---|---|
//! | `BENCH_ROUNDS` [7] | interleaved rounds of every shape |
//! | `BENCH_APPENDS` [4000] | shape 1: appends per side per round |
//! | `BENCH_WRITERS` [32] | shapes 2 and 5b: concurrent writers, tasks and aggregates |
//! | `BENCH_WRITER_APPENDS` [300] | shape 2: appends per writer per round |
//! | `BENCH_LOAD_EVENTS` [1000], `BENCH_LOADS` [40] | shape 3: its size; loads per side per round |
//! | `BENCH_VERIFY_EVENTS` [10000], `BENCH_VERIFY_BATCH` [1000], `BENCH_VERIFIES` [8] | shape 4: its size; events per `append_events` writing it; runs per side per round |
//! | `BENCH_COMMANDS` [1000] | shape 5a: commands per round |
//! | `BENCH_TASK_COMMANDS` [50] | shape 5b: commands per task per round |
//! | `BENCH_LARGE_EVENTS` [1000], `BENCH_LARGE_COMMANDS` [30] | shape 5c: the account's size; commands per side per round |

// Every file directly in `benches/` is a bench target of its own: this one's modules live in
// `ratios/`.
#[path = "ratios/account.rs"]
mod account;
#[path = "ratios/raw.rs"]
mod raw;
#[path = "ratios/report.rs"]
mod report;

use std::time::Instant;

use cim_events::jetstream::JetStreamSnapshotStore;
use cim_events::{
    EventStore, ExpectedVersion, Head, JetStreamEventStore, Repository, SnapshotPolicy, SnapshotUse,
};
use tests::domain::Noted;
use tests::nats::{NatsServer, connect};
use tokio::task::JoinSet;

use account::{Account, Open, deposit, deposited, opened};
use report::{Ratio, concurrent, interleave, ratios, sequential, sides};

/// The stream, subject prefix and snapshot bucket the bench creates.
const STREAM: &str = "RATIOS";
const PREFIX: &str = "ratios";
const SNAPSHOT_BUCKET: &str = "ratios_snapshots";

/// How many events each account of the one-task command shape gets: the store loads
/// aggregates of up to 100 events with batch Direct Get, longer ones with a consumer.
const ACCOUNT_EVENTS: usize = 100;
/// Aggregates the repositories with a state cache keep.
const CACHE: usize = 10_000;

/// The text of every `Noted` event: it makes the block 280-290 bytes.
const NOTE: &str = "a short note about nothing in particular";

/// Sizes of the run; see the module docs for the variables.
struct Sizes {
    rounds: usize,
    appends: usize,
    writers: usize,
    writer_appends: usize,
    load_events: usize,
    loads: usize,
    verify_events: usize,
    verify_batch: usize,
    verifies: usize,
    commands: usize,
    task_commands: usize,
    large_events: usize,
    large_commands: usize,
}

impl Sizes {
    fn from_env() -> Self {
        let get = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{name}={v}: not a count"))
                })
                .filter(|&v: &usize| v > 0)
                .unwrap_or(default)
        };
        Sizes {
            rounds: get("BENCH_ROUNDS", 7),
            appends: get("BENCH_APPENDS", 4000),
            writers: get("BENCH_WRITERS", 32),
            writer_appends: get("BENCH_WRITER_APPENDS", 300),
            load_events: get("BENCH_LOAD_EVENTS", 1000),
            loads: get("BENCH_LOADS", 40),
            verify_events: get("BENCH_VERIFY_EVENTS", 10_000),
            verify_batch: get("BENCH_VERIFY_BATCH", 1000).min(cim_events::MAX_BATCH),
            verifies: get("BENCH_VERIFIES", 8),
            commands: get("BENCH_COMMANDS", 1000),
            task_commands: get("BENCH_TASK_COMMANDS", 50),
            // An Open, at least one deposit written directly, and the one through the repository.
            large_events: get("BENCH_LARGE_EVENTS", 1000).max(3),
            large_commands: get("BENCH_LARGE_COMMANDS", 30),
        }
    }
}

/// What every shape runs on: one server, one connection, one store.
struct Bench {
    context: async_nats::jetstream::Context,
    client: async_nats::Client,
    store: JetStreamEventStore,
    sizes: Sizes,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let started = Instant::now();
    let sizes = Sizes::from_env();
    let server = NatsServer::start().await;
    let context = connect(vec![server.addr()]).await;
    let store = JetStreamEventStore::builder(context.clone(), STREAM)
        .prefix(PREFIX)
        .build()
        .await
        .expect("provision");
    let bench = Bench {
        client: context.client(),
        context,
        store,
        sizes,
    };
    let noted = raw::sealed(PREFIX, "size", &[note("size", 1)]);
    let account = raw::sealed(PREFIX, "size", &[deposited("size", 1)]);
    println!(
        "cim-events store vs raw async-nats: nats-server {} (R1, file storage, loopback), \
         one shared connection, {} interleaved rounds",
        bench.client.server_info().version,
        bench.sizes.rounds
    );
    println!(
        "event bodies: Noted {} B, Account Deposited (240-char memo) {} B; raw blocks are sealed \
         before the clock starts",
        noted[0].body_len(),
        account[0].body_len()
    );
    println!(
        "ops/s: median over the rounds; p50/p99: over every operation of every round \
         ('-' for fewer than 100); sent/op: messages the client sent per operation"
    );

    bench.sequential_appends().await;
    bench.concurrent_appends().await;
    bench.load().await;
    bench.verify().await;
    bench.commands().await;

    println!("\ntotal {:.0} s", started.elapsed().as_secs_f64());
}

impl Bench {
    /// Shape 1: one writer appending to one aggregate, one event at a time.
    async fn sequential_appends(&self) {
        let n = self.sizes.appends;
        println!(
            "\n1. sequential append: 1 writer, 1 aggregate, {n} appends per side per round \
             (each side's aggregate gets its first event before the clock starts)"
        );
        let samples = interleave(self.sizes.rounds, 3, async |side, round| {
            let id = format!("seq{side}-r{round}");
            match side {
                0 => {
                    let notes: Vec<Noted> = (0..=n as u64).map(|i| note(&id, i)).collect();
                    let mut messages = raw::sealed(PREFIX, &id, &notes).into_iter();
                    let mut writer = raw::Writer::new(&self.context, STREAM, PREFIX, &id);
                    writer.append(messages.next().expect("first")).await;
                    sequential(&self.client, n, async |_| {
                        writer.append(messages.next().expect("message")).await;
                    })
                    .await
                }
                1 => {
                    self.store
                        .append_event(&id, note(&id, 0), None)
                        .await
                        .expect("first append");
                    sequential(&self.client, n, async |i| {
                        self.store
                            .append_event(&id, note(&id, i as u64 + 1), None)
                            .await
                            .expect("append");
                    })
                    .await
                }
                _ => {
                    let first = self
                        .store
                        .append_event(&id, note(&id, 0), None)
                        .await
                        .expect("first append");
                    let mut head = first.head();
                    sequential(&self.client, n, async |i| {
                        let stored = self
                            .store
                            .append_events(&id, vec![note(&id, i as u64 + 1)], known_head(&head))
                            .await
                            .expect("append");
                        head = stored[0].head();
                    })
                    .await
                }
            }
        })
        .await;
        sides(
            &[
                "raw publish + ack",
                "store append_event(id, e, None)",
                "store known head: append_events([e], After(head))",
            ],
            &samples,
        );
        ratios(
            Ratio::Throughput,
            &[
                ("append_event(None)", &samples[1], "raw", &samples[0]),
                ("known head", &samples[2], "raw", &samples[0]),
            ],
        );
        // The raw side wrote what the store writes: its chain verifies like the store's.
        let report = self.store.verify_chain("seq0-r0").await.expect("verify");
        assert!(
            report.is_valid() && report.events == n as u64 + 1,
            "the raw chain: {report:?}"
        );
    }

    /// Shape 2: `writers` tasks, each appending to its own aggregate.
    async fn concurrent_appends(&self) {
        let (writers, k) = (self.sizes.writers, self.sizes.writer_appends);
        println!(
            "\n2. concurrent append: {writers} writers on {writers} aggregates, {k} appends each \
             per side per round (first events before the clock)"
        );
        let samples = interleave(self.sizes.rounds, 2, async |side, round| {
            let ids: Vec<String> = (0..writers)
                .map(|w| format!("conc{side}-r{round}-w{w}"))
                .collect();
            let mut tasks = JoinSet::new();
            if side == 0 {
                let mut chains = Vec::with_capacity(writers);
                for id in &ids {
                    let notes: Vec<Noted> = (0..=k as u64).map(|i| note(id, i)).collect();
                    let mut messages = raw::sealed(PREFIX, id, &notes).into_iter();
                    let mut writer = raw::Writer::new(&self.context, STREAM, PREFIX, id);
                    writer.append(messages.next().expect("first")).await;
                    chains.push((writer, messages));
                }
                concurrent(&self.client, writers * k, async {
                    for (mut writer, messages) in chains {
                        tasks.spawn(async move {
                            for message in messages {
                                writer.append(message).await;
                            }
                        });
                    }
                    join_all(tasks).await;
                })
                .await
            } else {
                for id in &ids {
                    self.store
                        .append_event(id, note(id, 0), None)
                        .await
                        .expect("first append");
                }
                concurrent(&self.client, writers * k, async {
                    for id in ids {
                        let store = self.store.clone();
                        tasks.spawn(async move {
                            for i in 1..=k as u64 {
                                store
                                    .append_event(&id, note(&id, i), None)
                                    .await
                                    .expect("append");
                            }
                        });
                    }
                    join_all(tasks).await;
                })
                .await
            }
        })
        .await;
        sides(
            &["raw publish + ack", "store append_event(id, e, None)"],
            &samples,
        );
        ratios(
            Ratio::Throughput,
            &[("append_event(None)", &samples[1], "raw", &samples[0])],
        );
    }

    /// Shape 3: reading one aggregate of `load_events` events, written as one atomic batch
    /// per 1000.
    async fn load(&self) {
        let (n, loads) = (self.sizes.load_events, self.sizes.loads);
        let id = "load";
        self.fill(id, n, cim_events::MAX_BATCH).await;
        println!("\n3. load of one {n}-event aggregate, {loads} loads per side per round");
        self.read_against_raw(
            id,
            n,
            loads,
            "store.load",
            "store.load(id) (decodes every event)",
            async || self.store.load(id).await.expect("load").len(),
        )
        .await;
    }

    /// Shape 4: verifying one aggregate of `verify_events` events.
    async fn verify(&self) {
        let (n, runs) = (self.sizes.verify_events, self.sizes.verifies);
        let id = "verify";
        self.fill(id, n, self.sizes.verify_batch).await;
        println!(
            "\n4. verify_chain of one {n}-event aggregate (written {} per append_events), \
             runs per side per round: {runs}",
            self.sizes.verify_batch
        );
        self.read_against_raw(
            id,
            n,
            runs,
            "verify_chain",
            "store.verify_chain(id)",
            async || {
                let report = self.store.verify_chain(id).await.expect("verify");
                assert!(report.is_valid(), "{:?}", report.faults.first());
                report.events as usize
            },
        )
        .await;
    }

    /// Times `store_read` (which returns how many events it read) against a raw ordered
    /// consumer and raw batch Direct Gets of the same `n` messages of aggregate `id`, `runs`
    /// times per side per round, and prints the sides and the latency ratios.
    async fn read_against_raw(
        &self,
        id: &str,
        n: usize,
        runs: usize,
        label: &str,
        side_name: &str,
        store_read: impl AsyncFn() -> usize,
    ) {
        let filter = format!("{PREFIX}.{id}.*");
        let samples = interleave(self.sizes.rounds, 3, async |side, _| {
            sequential(&self.client, runs, async |_| {
                let got = match side {
                    0 => raw::ordered(self.store.stream(), &filter, n).await,
                    1 => raw::direct(&self.context, STREAM, &filter, n).await,
                    _ => store_read().await,
                };
                assert_eq!(got, n, "side {side} read every event");
            })
            .await
        })
        .await;
        sides(
            &[
                "raw ordered consumer (create, read, delete)",
                "raw batch Direct Get (pages of 1000)",
                side_name,
            ],
            &samples,
        );
        ratios(
            Ratio::Latency,
            &[
                (label, &samples[2], "raw ordered", &samples[0]),
                (label, &samples[2], "raw Direct Get", &samples[1]),
            ],
        );
        self.consumers_left().await;
    }

    /// Shape 5: commands through the repository, against one raw publish + ack each.
    async fn commands(&self) {
        let snapshots = JetStreamSnapshotStore::new(self.context.clone(), SNAPSHOT_BUCKET)
            .await
            .expect("snapshot bucket");
        // The commands of 5a and 5b run as an application would: with the state cache.
        let cached = repository(&self.store, None, Some(CACHE));
        let plain = repository(&self.store, None, None);
        let snapshotted = repository(&self.store, Some(snapshots), None);

        let n = self.sizes.commands;
        println!(
            "\n5a. commands, 1 task: {n} per round, on new accounts of {ACCOUNT_EVENTS} events \
             each (Open, then deposits: versions 1-{ACCOUNT_EVENTS}), vs {n} raw publish + ack \
             of the same events"
        );
        let samples = interleave(self.sizes.rounds, 2, async |side, round| {
            let ids: Vec<String> = (0..n.div_ceil(ACCOUNT_EVENTS))
                .map(|a| format!("cmd{side}-r{round}-a{a}"))
                .collect();
            if side == 0 {
                let mut chains: Vec<_> = ids
                    .iter()
                    .enumerate()
                    .map(|(a, id)| {
                        let events = (n - a * ACCOUNT_EVENTS).min(ACCOUNT_EVENTS);
                        let messages = self.account_messages(id, events - 1).into_iter();
                        let writer = raw::Writer::new(&self.context, STREAM, PREFIX, id);
                        (writer, messages)
                    })
                    .collect();
                sequential(&self.client, n, async |i| {
                    let (writer, messages) = &mut chains[i / ACCOUNT_EVENTS];
                    writer.append(messages.next().expect("message")).await;
                })
                .await
            } else {
                sequential(&self.client, n, async |i| {
                    let id = &ids[i / ACCOUNT_EVENTS];
                    let outcome = match i % ACCOUNT_EVENTS {
                        0 => cached.execute(id, Open).await.expect("open"),
                        v => cached
                            .execute(id, deposit(v as u64))
                            .await
                            .expect("deposit"),
                    };
                    assert_eq!(outcome.version as usize, i % ACCOUNT_EVENTS + 1);
                })
                .await
            }
        })
        .await;
        sides(
            &[
                "raw publish + ack",
                "repository.execute(id, Open | Deposit), cached",
            ],
            &samples,
        );
        ratios(
            Ratio::Throughput,
            &[("execute", &samples[1], "raw", &samples[0])],
        );

        let (tasks, k) = (self.sizes.writers, self.sizes.task_commands);
        println!(
            "\n5b. commands, {tasks} tasks on {tasks} new accounts, {k} deposits each per round"
        );
        let samples = interleave(self.sizes.rounds, 2, async |side, round| {
            let ids: Vec<String> = (0..tasks)
                .map(|t| format!("cmdc{side}-r{round}-t{t}"))
                .collect();
            let mut set = JoinSet::new();
            if side == 0 {
                let mut chains = Vec::with_capacity(tasks);
                for id in &ids {
                    let mut messages = self.account_messages(id, k).into_iter();
                    let mut writer = raw::Writer::new(&self.context, STREAM, PREFIX, id);
                    writer.append(messages.next().expect("first")).await;
                    chains.push((writer, messages));
                }
                concurrent(&self.client, tasks * k, async {
                    for (mut writer, messages) in chains {
                        set.spawn(async move {
                            for message in messages {
                                writer.append(message).await;
                            }
                        });
                    }
                    join_all(set).await;
                })
                .await
            } else {
                for id in &ids {
                    cached.execute(id, Open).await.expect("open");
                }
                concurrent(&self.client, tasks * k, async {
                    for id in ids {
                        let accounts = cached.clone();
                        set.spawn(async move {
                            for amount in 1..=k as u64 {
                                accounts
                                    .execute(&id, deposit(amount))
                                    .await
                                    .expect("deposit");
                            }
                        });
                    }
                    join_all(set).await;
                })
                .await
            }
        })
        .await;
        sides(
            &[
                "raw publish + ack",
                "repository.execute(id, Deposit), cached",
            ],
            &samples,
        );
        ratios(
            Ratio::Throughput,
            &[("execute", &samples[1], "raw", &samples[0])],
        );

        let (size, m) = (self.sizes.large_events, self.sizes.large_commands);
        println!(
            "\n5c. one command on an account holding {size} events, {m} per side per round \
             (a new account each round; with snapshots every 100 events, one at {size}; with \
             the state cache, warmed by the command that made the account)"
        );
        let samples = interleave(self.sizes.rounds, 4, async |side, round| {
            let id = format!("big{side}-r{round}");
            match side {
                0 => {
                    let mut messages = self.account_messages(&id, m).into_iter();
                    let mut writer = raw::Writer::new(&self.context, STREAM, PREFIX, &id);
                    writer.append(messages.next().expect("first")).await;
                    sequential(&self.client, m, async |_| {
                        writer.append(messages.next().expect("message")).await;
                    })
                    .await
                }
                _ => {
                    let accounts = match side {
                        1 => &plain,
                        2 => &snapshotted,
                        _ => &cached,
                    };
                    self.large_account(accounts, &id, size).await;
                    if side == 2 {
                        let loaded = accounts.load(&id).await.expect("load");
                        assert_eq!(
                            loaded.snapshot,
                            SnapshotUse::Used {
                                version: size as u64
                            }
                        );
                    }
                    sequential(&self.client, m, async |i| {
                        let outcome = accounts
                            .execute(&id, deposit(i as u64 + 1))
                            .await
                            .expect("deposit");
                        assert_eq!(outcome.version, (size + i + 1) as u64);
                    })
                    .await
                }
            }
        })
        .await;
        sides(
            &[
                "raw publish + ack",
                "repository.execute, no snapshots, no cache",
                "repository.execute, snapshots every 100",
                "repository.execute, warm cache",
            ],
            &samples,
        );
        ratios(
            Ratio::Latency,
            &[
                ("execute, no snapshots", &samples[1], "raw", &samples[0]),
                ("execute, snapshots", &samples[2], "raw", &samples[0]),
                ("execute, warm cache", &samples[3], "raw", &samples[0]),
            ],
        );
        self.consumers_left().await;
    }

    /// Writes `count` `Noted` events to the new aggregate `id`, `batch` per atomic append.
    async fn fill(&self, id: &str, count: usize, batch: usize) {
        let notes: Vec<Noted> = (0..count as u64).map(|i| note(id, i)).collect();
        for chunk in notes.chunks(batch) {
            self.store
                .append_events(id, chunk.to_vec(), ExpectedVersion::Any)
                .await
                .expect("fill");
        }
    }

    /// Sealed `Opened` and `count` deposits of account `id`, for the raw side.
    fn account_messages(&self, id: &str, count: usize) -> Vec<raw::Message> {
        let events: Vec<_> = std::iter::once(opened(id))
            .chain((1..=count as u64).map(|amount| deposited(id, amount)))
            .collect();
        raw::sealed(PREFIX, id, &events)
    }

    /// Makes account `id` hold `size` events: all but the last appended directly, the
    /// last through `accounts`, so that a repository with snapshots takes one at `size`.
    async fn large_account(
        &self,
        accounts: &Repository<Account, JetStreamEventStore>,
        id: &str,
        size: usize,
    ) {
        let events: Vec<_> = std::iter::once(opened(id))
            .chain((1..size as u64 - 1).map(|amount| deposited(id, amount)))
            .collect();
        for chunk in events.chunks(cim_events::MAX_BATCH) {
            self.store
                .append_events(id, chunk.to_vec(), ExpectedVersion::Any)
                .await
                .expect("fill account");
        }
        let outcome = accounts
            .execute(id, deposit(size as u64))
            .await
            .expect("deposit");
        assert_eq!(outcome.version, size as u64);
    }

    /// Prints how many consumers the stream still has, a moment after the shape: both the
    /// raw readers and the store delete theirs, so anything left is a leak.
    async fn consumers_left(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let info = self.store.stream().get_info().await.expect("stream info");
        println!(
            "   consumers left on the stream afterwards: {} (every reader deletes its own)",
            info.state.consumer_count
        );
    }
}

/// Every repository of the bench, built in one place: with snapshots every 100 events or
/// none, with a state cache of `cache` aggregates or none.
fn repository(
    store: &JetStreamEventStore,
    snapshots: Option<JetStreamSnapshotStore>,
    cache: Option<usize>,
) -> Repository<Account, JetStreamEventStore> {
    let accounts = Repository::new(store.clone());
    let accounts = match cache {
        Some(capacity) => accounts.with_cache(capacity),
        None => accounts,
    };
    match snapshots {
        Some(snapshots) => accounts.with_snapshots(snapshots, SnapshotPolicy::EveryNEvents(100)),
        None => accounts,
    }
}

/// The expectation of an append by a caller that knows the aggregate's head (it appended
/// the last event itself): the store publishes at once, without reading.
fn known_head(known: &Head) -> ExpectedVersion {
    ExpectedVersion::After(*known)
}

/// Event `n` of notebook `id`.
fn note(id: &str, n: u64) -> Noted {
    Noted {
        text: NOTE.to_owned(),
        ..Noted::new(id, n)
    }
}

/// Waits for every task, failing if one panicked.
async fn join_all(mut tasks: JoinSet<()>) {
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
}
