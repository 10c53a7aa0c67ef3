//! Backfill: a whole store to an IPFS node in CARs of bounded size, with progress, on the
//! memory store and on JetStream; then the mirror takes over from the backfill's
//! checkpoint and sends only what came after.

use cim_events::ipfs::{
    Backfill, BackfillProgress, IpfsMirror, KuboClient, backfill, restore_into,
};
use cim_events::projection::{CheckpointStore, MemoryCheckpointStore, ProjectionRunner};
use cim_events::{EventStore, MemoryEventStore};
use tests::domain::Noted;
use tests::ipfs::IpfsNode;
use tests::nats::{JetStreamFixture, NatsServer};

const AGGREGATES: [&str; 3] = ["bulk-a", "bulk-b", "bulk-c"];

async fn fill<S: EventStore>(store: &S, from: u64, to: u64) {
    for n in from..to {
        for id in AGGREGATES {
            store
                .append_event(id, Noted::new(id, n), None)
                .await
                .expect("append");
        }
    }
}

/// Backfills 3 × 50 events in CARs of at most 16 blocks, checks the progress it reported
/// and that every chain is on the node, pinned, and restores from there.
async fn backfill_a_store<S: EventStore>(store: &S, fresh: &S, client: &KuboClient) {
    fill(store, 0, 50).await;
    let options = Backfill {
        chunk_blocks: 16,
        ..Backfill::default()
    };
    let mut seen: Vec<BackfillProgress> = Vec::new();
    let report = backfill(store, client, options, |p| seen.push(*p))
        .await
        .expect("backfill");

    // 50 blocks per aggregate in CARs of at most 16: 4 CARs each.
    assert_eq!(
        (
            report.progress.blocks,
            report.progress.cars,
            report.progress.aggregates_done
        ),
        (150, 12, 3)
    );
    assert_eq!(client.counts().blocks_put, 150);
    assert_eq!(client.counts().imports, 12);
    assert_eq!(client.counts().pins, 3, "one recursive pin per aggregate");
    assert!(
        seen.windows(2).all(|w| w[0].blocks <= w[1].blocks),
        "progress only grows"
    );
    assert_eq!(seen.last(), Some(&report.progress));
    assert_eq!(seen.iter().filter(|p| p.aggregates_done == 3).count(), 1);
    let last = store.last_sequence().await.expect("last sequence");
    assert_eq!(report.checkpoint.map(|c| c.sequence), Some(last));

    for (id, head) in &report.heads {
        assert_eq!(store.head(id).await.expect("head"), Some(*head));
        let restored = restore_into(client, head.cid, fresh)
            .await
            .expect("restore");
        assert!(
            restored.report.is_valid(),
            "{id}: {:?}",
            restored.report.faults
        );
        assert_eq!(restored.import.expect("imported").stored, 50);
        let cids = |events: Vec<cim_events::RecordedEvent>| {
            events.iter().map(|e| e.cid).collect::<Vec<_>>()
        };
        assert_eq!(
            cids(fresh.load(id).await.expect("load")),
            cids(store.load(id).await.expect("load"))
        );
        assert!(fresh.verify_chain(id).await.expect("verify").is_valid());
    }
    let pins = client.pin_ls().await.expect("pin/ls");
    for (_, head) in &report.heads {
        assert!(pins.contains(&head.cid));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backfill_in_bounded_cars_with_progress() {
    let node = IpfsNode::start().await;
    backfill_a_store(
        &MemoryEventStore::new(),
        &MemoryEventStore::new(),
        &node.client(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_backfill_in_bounded_cars_with_progress() {
    let node = IpfsNode::start().await;
    let server = NatsServer::shared().await;
    let store = JetStreamFixture::new(vec![server.addr()], 1).await;
    let fresh = JetStreamFixture::new(vec![server.addr()], 1).await;
    backfill_a_store(&store.store, &fresh.store, &node.client()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_takes_over_from_the_backfill_checkpoint() {
    let node = IpfsNode::start().await;
    let client = node.client();
    let store = MemoryEventStore::new();
    fill(&store, 0, 20).await;
    let report = backfill(&store, &client, Backfill::default(), |_| {})
        .await
        .expect("backfill");
    let checkpoints = MemoryCheckpointStore::new();
    checkpoints
        .save_checkpoint("ipfs-mirror", report.checkpoint.expect("a checkpoint"))
        .await
        .expect("save the checkpoint");

    fill(&store, 20, 30).await;
    let mirror = IpfsMirror::new(client.clone()).pin_every(1000);
    let mut running = ProjectionRunner::new(store.clone(), mirror, checkpoints).spawn();
    running
        .wait_until_sequence(store.last_sequence().await.expect("last sequence"))
        .await
        .expect("the mirror catches up");
    running.shutdown_handle().shutdown();
    let (stopped, runner) = running.join_runner().await;
    stopped.expect("the mirror stops cleanly");
    let mut mirror = runner.expect("the runner").into_projection();
    mirror.flush_pins().await.expect("pin the heads");

    assert_eq!(mirror.stats().put, 30, "only what came after the backfill");
    assert_eq!(client.counts().blocks_put, 90, "no block sent twice");
    // The mirror learned the backfill's pins and moved them to the new heads.
    let pins = client.pin_ls().await.expect("pin/ls");
    for id in AGGREGATES {
        let head = store.head(id).await.expect("head").expect("a head").cid;
        assert_eq!(mirror.pinned_heads().get(id), Some(&head));
        assert!(pins.contains(&head));
        assert!(
            !pins
                .iter()
                .any(|p| report.heads.iter().any(|(_, h)| h.cid == *p)),
            "old heads unpinned"
        );
    }
}
