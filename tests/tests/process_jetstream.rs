//! Process managers on JetStream: two workers share one durable consumer, and a worker
//! killed with SIGKILL mid-step and started again leaves every command applied exactly
//! once, with the timers set before the kill firing after the restart.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cim_events::jetstream::{JetStreamTimers, ProcessWorker};
use cim_events::process::ProcessManager;
use cim_events::{EventStore, JetStreamEventStore, Repository};
use tests::nats::{NatsServer, connect, unique_names};
use tests::shop::{Fulfilment, FulfilmentEvent, Order, OrderEvent, fulfilment_of, order};

/// Opens the store and the fulfilment's timers on a new connection.
async fn open(
    server: &NatsServer,
    stream: &str,
    prefix: &str,
) -> (JetStreamEventStore, JetStreamTimers) {
    let context = connect(vec![server.addr()]).await;
    let store = JetStreamEventStore::builder(context.clone(), stream)
        .prefix(prefix)
        .build()
        .await
        .expect("open the store");
    let timers = tests::shop::timers(context, stream, prefix)
        .await
        .expect("open the timers");
    (store, timers)
}

/// The order's events by type, and the fulfilment's.
async fn effects(store: &JetStreamEventStore, id: &str) -> (Vec<OrderEvent>, Vec<FulfilmentEvent>) {
    let order = store.load(id).await.expect("load order");
    let fulfilment = store
        .load(&fulfilment_of(id))
        .await
        .expect("load fulfilment");
    (
        order
            .iter()
            .map(|e| e.decode().expect("an order event"))
            .collect(),
        fulfilment
            .iter()
            .map(|e| e.decode().expect("a fulfilment event"))
            .collect(),
    )
}

/// Waits until every order is reserved, confirmed and expired (or 60 s pass), then checks
/// each effect happened exactly once.
async fn assert_fulfilled_once(store: &JetStreamEventStore, orders: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut done = 0;
        for id in orders {
            let (events, _) = effects(store, id).await;
            done += usize::from(events.contains(&OrderEvent::Expired));
        }
        if done == orders.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Late duplicates, if any, would land now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in orders {
        let (events, steps) = effects(store, id).await;
        let count = |wanted: &OrderEvent| events.iter().filter(|e| *e == wanted).count();
        assert_eq!(
            (
                count(&OrderEvent::Reserved),
                count(&OrderEvent::Confirmed),
                count(&OrderEvent::Expired)
            ),
            (1, 1, 1),
            "order {id}: {events:?}"
        );
        assert_eq!(
            steps,
            [
                FulfilmentEvent::Started { order: id.clone() },
                FulfilmentEvent::Expired
            ],
            "fulfilment of {id}"
        );
        assert!(store.verify_chain(id).await.expect("verify").is_valid());
    }
}

async fn place(store: &JetStreamEventStore, orders: &[String]) {
    let repository = Repository::<Order, _>::new(store.clone());
    for id in orders {
        repository
            .execute(id, order::Place { items: 2 })
            .await
            .expect("place");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_consumer_make_each_step_once() {
    let server = NatsServer::shared().await;
    let (stream, prefix) = unique_names();
    let (store, _) = open(server, &stream, &prefix).await;
    let mut workers = Vec::new();
    let mut counters = Vec::new();
    for _ in 0..2 {
        let (store, timers) = open(server, &stream, &prefix).await;
        let manager = ProcessManager::<Fulfilment, _>::new(store).timers(Arc::new(timers));
        let worker = ProcessWorker::new(manager);
        counters.push(worker.steps());
        workers.push(tokio::spawn(async move { worker.run(|_| {}).await }));
    }
    let orders: Vec<String> = (0..12).map(|i| format!("o-{i}")).collect();
    place(&store, &orders).await;
    assert_fulfilled_once(&store, &orders).await;
    let steps: Vec<u64> = counters.iter().map(|c| *c.borrow()).collect();
    // One step per placed order and one per expiry timer, shared between the workers.
    assert_eq!(
        steps.iter().sum::<u64>(),
        2 * orders.len() as u64,
        "{steps:?}"
    );
    for worker in workers {
        assert!(!worker.is_finished(), "a worker stopped");
        worker.abort();
    }
}

/// Starts the worker binary on the store.
fn worker(server: &NatsServer, stream: &str, prefix: &str, slow_confirm: bool) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shop_worker"));
    command
        .args([server.url().as_str(), stream, prefix])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if slow_confirm {
        command.env("SHOP_SLOW_CONFIRM_MS", "400");
    }
    command.spawn().expect("start the worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_step_resumes_with_every_effect_once() {
    let server = NatsServer::shared().await;
    let (stream, prefix) = unique_names();
    let (store, _) = open(server, &stream, &prefix).await;
    let orders: Vec<String> = (0..6).map(|i| format!("o-{i}")).collect();
    let mut child = worker(server, &stream, &prefix, true);
    place(&store, &orders).await;

    // Kill it between the reservation and the (slow) confirmation of an order, once an
    // earlier order's step is complete (its expiry timer set, not yet due): the cut step
    // is recorded, one command applied, the other not yet.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (done, caught) = loop {
        let (mut done, mut caught) = (None, None);
        for id in &orders {
            let (events, _) = effects(&store, id).await;
            match (
                events.contains(&OrderEvent::Reserved),
                events.contains(&OrderEvent::Confirmed),
            ) {
                (true, true) => done = done.or(Some(id.clone())),
                (true, false) => caught = Some(id.clone()),
                _ => {}
            }
        }
        if (done.is_some() && caught.is_some()) || Instant::now() > deadline {
            break (done, caught);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().expect("SIGKILL the worker");
    child.wait().expect("reap the worker");
    let caught = caught.expect("an order caught between its two commands");
    let done = done.expect("an order fulfilled before the kill");
    let (events, steps) = effects(&store, &caught).await;
    assert_eq!(
        (events.len(), steps.len()),
        (2, 1),
        "killed mid-step: placed and reserved, the step recorded"
    );
    let (events, _) = effects(&store, &done).await;
    assert!(
        !events.contains(&OrderEvent::Expired),
        "the expiry timer of {done} was set before the kill and is not due yet"
    );

    // Started again (after the expiry timers of the first orders were set), it carries
    // the cut step out again, the rest of the orders, and the timers.
    let mut child = worker(server, &stream, &prefix, false);
    assert_fulfilled_once(&store, &orders).await;
    child.kill().expect("stop the worker");
    child.wait().expect("reap the worker");
}
