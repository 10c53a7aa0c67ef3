//! Figures for BENCHMARKS.md's IPFS section, against the js-ipfs test node: the mirror's
//! blocks per second put one by one and through CAR import, the cost of pinning every
//! head against pinning per round, and the restore rate. Reports numbers, and asserts only
//! that the work was done:
//!
//! `cargo bench -p tests --bench ipfs`

use std::time::{Duration, Instant};

use cim_events::ipfs::{Backfill, IpfsMirror, backfill, restore_chain};
use cim_events::projection::{MemoryCheckpointStore, ProjectionRunner};
use cim_events::{EventStore, MemoryEventStore};
use tests::domain::Noted;
use tests::ipfs::IpfsNode;

const AGGREGATES: u64 = 4;
const EVENTS: u64 = 500;

async fn filled() -> MemoryEventStore {
    let store = MemoryEventStore::new();
    for n in 0..EVENTS {
        for a in 0..AGGREGATES {
            let id = format!("fig-{a}");
            let mut note = Noted::new(&id, n);
            note.text = "x".repeat(100);
            store.append_event(&id, note, None).await.expect("append");
        }
    }
    store
}

/// Mirrors `store` to a fresh node with a pin round every `pin_every` events; the time
/// from start to caught up and pinned.
async fn mirror(store: &MemoryEventStore, node: &IpfsNode, pin_every: u64) -> Duration {
    let client = node.client();
    let started = Instant::now();
    let mirror = IpfsMirror::new(client.clone()).pin_every(pin_every);
    let mut running =
        ProjectionRunner::new(store.clone(), mirror, MemoryCheckpointStore::new()).spawn();
    running
        .wait_until_sequence(store.last_sequence().await.expect("last"))
        .await
        .expect("the mirror catches up");
    running.shutdown_handle().shutdown();
    let (stopped, runner) = running.join_runner().await;
    stopped.expect("stops cleanly");
    let mut mirror = runner.expect("the runner").into_projection();
    mirror.flush_pins().await.expect("pin the heads");
    let took = started.elapsed();
    assert_eq!(client.counts().blocks_put, AGGREGATES * EVENTS);
    took
}

fn rate(blocks: u64, took: Duration) -> f64 {
    blocks as f64 / took.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let store = filled().await;
    let blocks = AGGREGATES * EVENTS;
    println!(
        "{AGGREGATES} aggregates x {EVENTS} events ({blocks} blocks of ~{} bytes)",
        store.load("fig-0").await.expect("load")[1].bytes.len()
    );

    // Per block: the mirror (dag/put per event, a pin round every 256 events).
    let node = IpfsNode::start().await;
    let per_block = mirror(&store, &node, 256).await;
    println!(
        "mirror, per block (dag/put), pin every 256: {:.0} blocks/s ({per_block:?})",
        rate(blocks, per_block)
    );

    // Through CAR import: the backfill (CARs of 1000 blocks, one pin per aggregate).
    let node = IpfsNode::start().await;
    let client = node.client();
    let started = Instant::now();
    let report = backfill(&store, &client, Backfill::default(), |_| {})
        .await
        .expect("backfill");
    let car = started.elapsed();
    assert_eq!(report.progress.blocks, blocks);
    println!(
        "backfill, CAR import (1000 blocks/CAR): {:.0} blocks/s ({car:?})",
        rate(blocks, car)
    );
    println!(
        "ratio CAR import / per block: {:.1}x",
        per_block.as_secs_f64() / car.as_secs_f64()
    );

    // Per block, as a CAR of one block (dag/import): the path for non-canonical blocks.
    let node = IpfsNode::start().await;
    let one = node.client();
    let events = store.load("fig-0").await.expect("load");
    let started = Instant::now();
    for event in &events {
        one.import_blocks(&[(event.cid, event.bytes.as_ref())])
            .await
            .expect("import");
    }
    let single = started.elapsed();
    assert_eq!(one.counts().blocks_put, EVENTS);
    println!(
        "per block as a one-block CAR (dag/import), no pins: {:.0} blocks/s ({single:?})",
        rate(EVENTS, single)
    );

    // Restore: one block/get per event, verified, walking prev.
    let started = Instant::now();
    for (_, head) in &report.heads {
        let restored = restore_chain(&client, head.cid).await.expect("restore");
        assert!(restored.report.is_valid());
        assert_eq!(restored.blocks.len() as u64, EVENTS);
    }
    let restore = started.elapsed();
    println!(
        "restore (block/get + verify per block): {:.0} blocks/s ({restore:?})",
        rate(blocks, restore)
    );

    // Pinning: every head (a recursive pin walks the whole chain each time) against per
    // round, on one aggregate's first 200 events.
    let small = MemoryEventStore::new();
    for n in 0..200 {
        small
            .append_event("pin-0", Noted::new("pin-0", n), None)
            .await
            .expect("append");
    }
    let node = IpfsNode::start().await;
    let every = mirror_one(&small, &node, 1).await;
    let node = IpfsNode::start().await;
    let round = mirror_one(&small, &node, 100).await;
    println!(
        "200 events, pin every event: {every:?}; pin every 100: {round:?}; ratio {:.1}x",
        every.as_secs_f64() / round.as_secs_f64()
    );
}

async fn mirror_one(store: &MemoryEventStore, node: &IpfsNode, pin_every: u64) -> Duration {
    let started = Instant::now();
    let mirror = IpfsMirror::new(node.client()).pin_every(pin_every);
    let mut running =
        ProjectionRunner::new(store.clone(), mirror, MemoryCheckpointStore::new()).spawn();
    running
        .wait_until_sequence(store.last_sequence().await.expect("last"))
        .await
        .expect("the mirror catches up");
    running.shutdown_handle().shutdown();
    let (stopped, runner) = running.join_runner().await;
    stopped.expect("stops cleanly");
    runner
        .expect("the runner")
        .into_projection()
        .flush_pins()
        .await
        .expect("pin");
    started.elapsed()
}
