//! Latency from an event to the command a process manager sends in reaction, on
//! JetStream, against one append on the same server in the same rounds.
//!
//! ```text
//! cargo bench -p tests --bench process                  # about a minute
//! BENCH_TRIGGERS=50 cargo bench -p tests --bench process
//! ```
//!
//! It starts its own nats-server on loopback. A `ProcessWorker` runs a process that, for
//! each placed order, records one event and sends `Reserve` to the order. Each round
//! places one order (one command through the `Repository`) and measures until the
//! order's `Reserved` event arrives on a subscription: the command's append, the worker's
//! delivery, its step (load, record, send) and the subscription's delivery. The baseline
//! in the same round is one append of one event, the cost of the first hop alone. It
//! reports numbers and asserts only counts.

use std::time::{Duration, Instant};

use cim_events::jetstream::ProcessWorker;
use cim_events::process::{Process, ProcessManager, Reaction};
use cim_events::{
    EventSelector, EventStore, ExpectedVersion, JetStreamEventStore, RecordedEvent, Repository,
    StartFrom, aggregate,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tests::domain::Noted;
use tests::nats::{NatsServer, connect};
use tests::shop::{Order, OrderEvent, order};

/// Reserves every placed order.
#[derive(Default)]
struct Relay;

#[derive(cim_events::Event, Serialize, Deserialize, Clone, Debug)]
#[event(aggregate = "Relay")]
enum RelayEvent {
    Relayed,
}

#[aggregate(events = RelayEvent, error = std::convert::Infallible)]
impl Relay {
    #[apply(Relayed)]
    fn relayed(&mut self) {}
}

impl Process for Relay {
    fn selector() -> EventSelector {
        OrderEvent::selector_placed()
    }
    fn instance(trigger: &RecordedEvent) -> Option<String> {
        Some(format!("relay-{}", trigger.aggregate_id()))
    }
    fn react(&self, placed: &RecordedEvent, out: &mut Reaction<Self>) -> Result<(), Self::Error> {
        out.record(RelayEvent::Relayed);
        out.send::<Order, _>(placed.aggregate_id(), order::Reserve);
        Ok(())
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let triggers = env("BENCH_TRIGGERS", 200);
    let server = NatsServer::start().await;
    let store = JetStreamEventStore::builder(connect(vec![server.addr()]).await, "PROCESS")
        .prefix("process")
        .build()
        .await
        .expect("provision");
    let worker = ProcessWorker::new(ProcessManager::<Relay, _>::new(store.clone()));
    let steps = worker.steps();
    let running = tokio::spawn(async move { worker.run(|_| {}).await });
    let mut reserved = store
        .subscribe_selected(&OrderEvent::selector_reserved(), StartFrom::Now)
        .await
        .expect("subscribe");
    let orders = Repository::<Order, _>::new(store.clone());
    // Warm up: the worker's consumer exists and the first step ran.
    orders
        .execute("warm", order::Place { items: 1 })
        .await
        .expect("place");
    reserved.next().await.expect("warm-up").expect("event");

    let (mut reaction, mut append, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..triggers {
        let id = format!("o-{i}");
        let started = Instant::now();
        orders
            .execute(&id, order::Place { items: 1 })
            .await
            .expect("place");
        let event = tokio::time::timeout(Duration::from_secs(30), reserved.next())
            .await
            .expect("the command within 30 s")
            .expect("an event")
            .expect("readable");
        assert_eq!(event.aggregate_id(), id);
        let to_command = started.elapsed();

        let started = Instant::now();
        let noted = format!("n-{i}");
        store
            .append_events(
                &noted,
                vec![Noted::new(&noted, 0)],
                ExpectedVersion::NoStream,
            )
            .await
            .expect("append");
        let one_append = started.elapsed();
        ratios.push(to_command.as_secs_f64() / one_append.as_secs_f64());
        reaction.push(to_command);
        append.push(one_append);
    }
    assert_eq!(*steps.borrow(), triggers as u64 + 1, "one step per trigger");
    running.abort();

    reaction.sort();
    append.sort();
    ratios.sort_by(f64::total_cmp);
    println!("event -> command through a ProcessWorker, {triggers} triggers, one at a time");
    println!("| | median ms | p95 ms | max ms |");
    println!("|---|---:|---:|---:|");
    for (name, sorted) in [("event -> command", &reaction), ("one append", &append)] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            ms(percentile(sorted, 0.5)),
            ms(percentile(sorted, 0.95)),
            ms(percentile(sorted, 1.0)),
        );
    }
    println!(
        "ratio (event -> command / one append, per round): median {:.1}, p95 {:.1}",
        ratios[ratios.len() / 2],
        ratios[((ratios.len() as f64 - 1.0) * 0.95).round() as usize],
    );
}
