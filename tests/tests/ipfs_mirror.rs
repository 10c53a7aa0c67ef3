//! The IPFS mirror against a real node (js-ipfs, started by the test): on the memory store
//! with `ProjectionRunner`, and on JetStream with the durable `JetStreamProjectionRunner`.
//! Mirror 3 aggregates × 50 events and restore each from the node alone into a fresh
//! store; stop midway and resume with no block sent twice; wait out a node that is down.

use std::collections::HashSet;
use std::time::Duration;

use cim_events::ipfs::{IpfsError, IpfsMirror, KuboClient, pin_heads, restore_chain, restore_into};
use cim_events::jetstream::{JetStreamCheckpointStore, JetStreamProjectionRunner};
use cim_events::projection::{
    CheckpointStore, MemoryCheckpointStore, Progress, ProjectionError, ProjectionRunner,
    RunningProjection,
};
use cim_events::{Cid, Error, EventStore, MemoryEventStore};
use tests::domain::Noted;
use tests::ipfs::IpfsNode;
use tests::nats::{JetStreamFixture, NatsServer};

const AGGREGATES: [&str; 3] = ["note-a", "note-b", "note-c"];
const EVENTS: u64 = 50;

/// A mirror running on either store's runner.
enum Run {
    Memory(
        RunningProjection<
            ProjectionRunner<MemoryEventStore, IpfsMirror, MemoryCheckpointStore>,
            Error,
        >,
    ),
    JetStream(
        RunningProjection<JetStreamProjectionRunner<IpfsMirror, JetStreamCheckpointStore>, Error>,
    ),
}

impl Run {
    async fn wait_until_sequence(&mut self, sequence: u64) -> Progress {
        match self {
            Run::Memory(r) => r.wait_until_sequence(sequence).await,
            Run::JetStream(r) => r.wait_until_sequence(sequence).await,
        }
        .expect("the mirror catches up with the store")
    }

    async fn wait_applied(&mut self, applied: u64) -> Progress {
        match self {
            Run::Memory(r) => r.wait_for(|p| p.applied >= applied).await,
            Run::JetStream(r) => r.wait_for(|p| p.applied >= applied).await,
        }
        .expect("the mirror applies events")
    }

    /// Stops the runner and hands back the mirror (to read its stats, flush its pins).
    async fn stop(self) -> (Result<Progress, ProjectionError<Error>>, IpfsMirror) {
        match self {
            Run::Memory(r) => {
                r.shutdown_handle().shutdown();
                let (result, runner) = r.join_runner().await;
                (
                    result,
                    runner.expect("the runner did not panic").into_projection(),
                )
            }
            Run::JetStream(r) => {
                r.shutdown_handle().shutdown();
                let (result, runner) = r.join_runner().await;
                (
                    result,
                    runner.expect("the runner did not panic").into_projection(),
                )
            }
        }
    }
}

/// One store under test, how to run a mirror on it, and how to make an empty one.
enum Rig {
    Memory {
        store: MemoryEventStore,
        checkpoints: MemoryCheckpointStore,
    },
    JetStream {
        fixture: JetStreamFixture,
        bucket: String,
    },
}

impl Rig {
    fn memory() -> Rig {
        Rig::Memory {
            store: MemoryEventStore::new(),
            checkpoints: MemoryCheckpointStore::new(),
        }
    }

    async fn jetstream() -> Rig {
        let fixture = JetStreamFixture::new(vec![NatsServer::shared().await.addr()], 1).await;
        let bucket = format!("CHECKPOINTS_{}", fixture.store.stream_name());
        Rig::JetStream { fixture, bucket }
    }

    fn store(&self) -> &dyn EventStoreDyn {
        match self {
            Rig::Memory { store, .. } => store,
            Rig::JetStream { fixture, .. } => &fixture.store,
        }
    }

    async fn spawn(&self, mirror: IpfsMirror) -> Run {
        match self {
            Rig::Memory { store, checkpoints } => Run::Memory(
                ProjectionRunner::new(store.clone(), mirror, checkpoints.clone()).spawn(),
            ),
            Rig::JetStream { fixture, bucket } => {
                let checkpoints =
                    JetStreamCheckpointStore::new(fixture.store.context().clone(), bucket)
                        .await
                        .expect("open the checkpoint bucket");
                Run::JetStream(
                    JetStreamProjectionRunner::new(&fixture.store, mirror, checkpoints).spawn(),
                )
            }
        }
    }

    /// Moves the mirror's checkpoint back to the event before it, as a crash between a put
    /// and its checkpoint leaves it (memory only: a durable consumer keeps its own acks).
    async fn rewind_one(&self) {
        let Rig::Memory { store, checkpoints } = self else {
            panic!("rewinding is for the memory rig");
        };
        let at = checkpoints
            .load_checkpoint("ipfs-mirror")
            .await
            .expect("load the checkpoint")
            .expect("the mirror checkpointed");
        let mut all = store
            .subscribe("events.>", cim_events::StartFrom::Beginning)
            .await
            .expect("read the store");
        let mut before = None;
        use futures::StreamExt;
        while let Some(event) = all.next().await {
            let event = event.expect("a stored event");
            if event.sequence == at.sequence {
                break;
            }
            before = Some(cim_events::projection::Checkpoint::of(&event));
        }
        checkpoints
            .save_checkpoint(
                "ipfs-mirror",
                before.expect("the checkpoint is past the first event"),
            )
            .await
            .expect("rewind the checkpoint");
    }
}

/// The store methods the tests use, on either store, as a trait object.
#[async_trait::async_trait]
trait EventStoreDyn: Send + Sync {
    async fn append_note(&self, id: &str, n: u64);
    async fn last(&self) -> u64;
    async fn cids(&self, id: &str) -> Vec<Cid>;
    async fn valid(&self, id: &str) -> bool;
}

#[async_trait::async_trait]
impl<S: EventStore> EventStoreDyn for S {
    async fn append_note(&self, id: &str, n: u64) {
        self.append_event(id, Noted::new(id, n), None)
            .await
            .expect("append");
    }
    async fn last(&self) -> u64 {
        self.last_sequence().await.expect("last sequence")
    }
    async fn cids(&self, id: &str) -> Vec<Cid> {
        self.load(id)
            .await
            .expect("load")
            .iter()
            .map(|e| e.cid)
            .collect()
    }
    async fn valid(&self, id: &str) -> bool {
        self.verify_chain(id).await.expect("verify").is_valid()
    }
}

/// Appends events `from..to` of every aggregate, interleaved.
async fn fill(store: &dyn EventStoreDyn, from: u64, to: u64) {
    for n in from..to {
        for id in AGGREGATES {
            store.append_note(id, n).await;
        }
    }
}

/// Each aggregate's chain fetched from the node alone is the store's, CID for CID, and
/// verifies; the node holds each head pinned (recursively, so the whole chain).
async fn assert_on_node(store: &dyn EventStoreDyn, node: &KuboClient, events: u64) {
    let pins: HashSet<Cid> = node.pin_ls().await.expect("pin/ls").into_iter().collect();
    for id in AGGREGATES {
        let cids = store.cids(id).await;
        assert_eq!(cids.len() as u64, events, "{id} holds every event");
        let head = *cids.last().expect("a head");
        let restored = restore_chain(node, head).await.expect("the node answers");
        assert!(
            restored.report.is_valid(),
            "{id}: {:?}",
            restored.report.faults
        );
        assert_eq!(restored.report.aggregate_id.as_deref(), Some(id));
        let restored_cids: Vec<Cid> = restored.blocks.iter().map(|(cid, _)| *cid).collect();
        assert_eq!(restored_cids, cids, "{id}: the node's chain is the store's");
        assert!(pins.contains(&head), "{id}: its head is pinned");
    }
}

/// How many recursive pins of the node are DAG-CBOR blocks (js-ipfs pins its own
/// `init-docs` and empty directory, both dag-pb).
async fn event_pins(client: &KuboClient) -> usize {
    let pins = client.pin_ls().await.expect("pin/ls");
    pins.iter().filter(|cid| cid.codec() == 0x71).count()
}

/// Restores each aggregate from the node alone into `fresh`, an empty store: the same
/// CIDs as `store`, and the chain verifies there.
async fn restore_each<S: EventStore>(store: &dyn EventStoreDyn, node: &KuboClient, fresh: &S) {
    for id in AGGREGATES {
        let cids = store.cids(id).await;
        let head = *cids.last().expect("a head");
        let restored = restore_into(node, head, fresh)
            .await
            .expect("restore from the node");
        assert!(
            restored.report.is_valid(),
            "{id}: {:?}",
            restored.report.faults
        );
        let import = restored.import.expect("an intact chain is imported");
        assert_eq!(
            (
                import.aggregate_id.as_str(),
                import.stored,
                import.already_present
            ),
            (id, EVENTS, 0)
        );
        assert_eq!(import.head.map(|h| h.cid), Some(head));
        assert_eq!(fresh.cids(id).await, cids, "{id}: identical CIDs");
        assert!(fresh.verify_chain(id).await.expect("verify").is_valid());
    }
}

async fn mirror_and_restore(rig: Rig) {
    let node = IpfsNode::start().await;
    let client = node.client();
    fill(rig.store(), 0, EVENTS).await;
    let mut run = rig
        .spawn(IpfsMirror::new(client.clone()).pin_every(40))
        .await;
    run.wait_until_sequence(rig.store().last().await).await;
    let (stopped, mut mirror) = run.stop().await;
    stopped.expect("the mirror stops cleanly");
    mirror.flush_pins().await.expect("pin the last heads");

    let total = EVENTS * AGGREGATES.len() as u64;
    assert_eq!(mirror.stats().put, total, "every block put");
    assert_eq!(client.counts().blocks_put, total, "no block sent twice");
    assert_on_node(rig.store(), &client, EVENTS).await;
    // One head pinned per aggregate: each round moved the pins, it did not add to them.
    assert_eq!(mirror.pinned_heads().len(), AGGREGATES.len());
    assert_eq!(event_pins(&client).await, AGGREGATES.len());

    // From the node alone into an empty store of the same kind.
    match &rig {
        Rig::Memory { .. } => restore_each(rig.store(), &client, &MemoryEventStore::new()).await,
        Rig::JetStream { .. } => {
            let fresh = JetStreamFixture::new(vec![NatsServer::shared().await.addr()], 1).await;
            restore_each(rig.store(), &client, &fresh.store).await;
        }
    }
}

async fn stop_midway_and_resume(rig: Rig, rewind: bool) {
    let node = IpfsNode::start().await;
    let client = node.client();
    fill(rig.store(), 0, EVENTS).await;
    let mut run = rig
        .spawn(IpfsMirror::new(client.clone()).pin_every(25))
        .await;
    run.wait_applied(70).await;
    let (stopped, first) = run.stop().await;
    let first_applied = stopped.expect("the mirror stops cleanly").applied;
    assert!(
        (70..EVENTS * 3).contains(&first_applied),
        "stopped midway: {first_applied}"
    );
    if rewind {
        // As if the mirror died after putting its last block, before the checkpoint.
        rig.rewind_one().await;
    }

    // Meanwhile the store goes on.
    fill(rig.store(), EVENTS, EVENTS + 10).await;
    let mut run = rig
        .spawn(IpfsMirror::new(client.clone()).pin_every(25))
        .await;
    run.wait_until_sequence(rig.store().last().await).await;
    let (stopped, mut second) = run.stop().await;
    stopped.expect("the mirror stops cleanly");
    second.flush_pins().await.expect("pin the last heads");

    let total = (EVENTS + 10) * AGGREGATES.len() as u64;
    assert_eq!(
        client.counts().blocks_put,
        total,
        "no block sent twice, none lost"
    );
    assert_eq!(first.stats().put + second.stats().put, total);
    assert_eq!(
        second.stats().already_there,
        u64::from(rewind),
        "the redelivered block is found, not sent"
    );
    assert_on_node(rig.store(), &client, EVENTS + 10).await;
    // The second run learned the first run's pins from the node and moved them.
    assert_eq!(event_pins(&client).await, AGGREGATES.len());
}

async fn node_down_then_back(rig: Rig) {
    let mut node = IpfsNode::start().await;
    let client = node.client();
    fill(rig.store(), 0, 10).await;
    let mirror = IpfsMirror::new(client.clone()).pin_every(1000);
    let mut waiting = mirror.waiting();
    let mut run = rig.spawn(mirror).await;
    run.wait_until_sequence(rig.store().last().await).await;

    node.stop();
    // The node is gone: a typed, transient error.
    let down = client.version().await.expect_err("the node is down");
    assert!(
        matches!(
            down,
            IpfsError::Unreachable {
                operation: "version",
                ..
            }
        ),
        "{down:?}"
    );
    assert!(down.is_transient());
    // The store is unaffected: appends go on and the chains verify.
    fill(rig.store(), 10, 20).await;
    for id in AGGREGATES {
        assert!(rig.store().valid(id).await);
        assert_eq!(rig.store().cids(id).await.len(), 20);
    }
    // The mirror waits out the node, with the typed error.
    let seen = waiting
        .wait_for(|w| w.is_some())
        .await
        .expect("the mirror reports what it waits for")
        .clone()
        .expect("a node error");
    assert!(matches!(seen, IpfsError::Unreachable { .. }), "{seen:?}");

    node.restart().await;
    run.wait_until_sequence(rig.store().last().await).await;
    assert!(waiting.borrow().is_none(), "no longer waiting");
    let (stopped, mut mirror) = run.stop().await;
    stopped.expect("the mirror stops cleanly");
    mirror.flush_pins().await.expect("pin the heads");
    assert!(mirror.stats().retries > 0);
    // Sent while the node was down, those puts never arrived; each block was stored once.
    assert_eq!(client.counts().blocks_put, 60, "every block stored once");
    assert!(client.counts().blocks_sent > 60);
    assert_on_node(rig.store(), &client, 20).await;
}

/// A mirror that gives up waiting stops its runner with the typed error; run again, it
/// resumes from its checkpoint.
async fn gives_up_then_resumes(rig: Rig) {
    let mut node = IpfsNode::start().await;
    let client = node.client().with_timeout(Duration::from_secs(5));
    fill(rig.store(), 0, 5).await;
    node.stop();
    let run = rig
        .spawn(IpfsMirror::new(client.clone()).retry_for(Duration::ZERO))
        .await;
    let (stopped, _) = run.stop_when_failed().await;
    match stopped {
        Err(ProjectionError::Apply {
            source: Error::Ipfs(e),
            sequence: 1,
            ..
        }) => {
            assert!(matches!(*e, IpfsError::Unreachable { .. }), "{e:?}");
        }
        other => panic!("expected the mirror to stop on the unreachable node, got {other:?}"),
    }
    node.restart().await;
    let mut run = rig.spawn(IpfsMirror::new(client.clone())).await;
    run.wait_until_sequence(rig.store().last().await).await;
    let (stopped, mut mirror) = run.stop().await;
    stopped.expect("the mirror stops cleanly");
    mirror.flush_pins().await.expect("pin the heads");
    assert_on_node(rig.store(), &client, 5).await;
}

impl Run {
    /// Waits for the runner to stop on its own (it failed), and hands back its result.
    async fn stop_when_failed(self) -> (Result<Progress, ProjectionError<Error>>, ()) {
        match self {
            Run::Memory(r) => (r.join().await, ()),
            Run::JetStream(r) => (r.join().await, ()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mirror_then_restore_from_the_node_alone() {
    mirror_and_restore(Rig::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_mirror_then_restore_from_the_node_alone() {
    mirror_and_restore(Rig::jetstream().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mirror_stopped_midway_resumes_without_sending_a_block_twice() {
    stop_midway_and_resume(Rig::memory(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mirror_dead_between_put_and_checkpoint_does_not_send_the_block_again() {
    stop_midway_and_resume(Rig::memory(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_mirror_stopped_midway_resumes_without_sending_a_block_twice() {
    stop_midway_and_resume(Rig::jetstream().await, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mirror_waits_out_a_node_that_is_down() {
    node_down_then_back(Rig::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_mirror_waits_out_a_node_that_is_down() {
    node_down_then_back(Rig::jetstream().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mirror_that_gives_up_stops_with_a_typed_error_and_resumes() {
    gives_up_then_resumes(Rig::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_mirror_that_gives_up_stops_with_a_typed_error_and_resumes() {
    gives_up_then_resumes(Rig::jetstream().await).await;
}

/// A run that stopped between pinning a new head and unpinning the old one left two pins
/// for one aggregate: the next run keeps one pin per aggregate, its newest head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mirror_clears_a_pin_left_between_a_pin_and_an_unpin() {
    let node = IpfsNode::start().await;
    let client = node.client();
    let rig = Rig::memory();
    fill(rig.store(), 0, 10).await;
    let Rig::Memory { store, .. } = &rig else {
        unreachable!("a memory rig")
    };
    let events = store.load("note-a").await.expect("load");
    for event in &events {
        client
            .put_block(&event.cid, &event.bytes)
            .await
            .expect("put");
    }
    let cids: Vec<Cid> = events.iter().map(|e| e.cid).collect();
    client.pin_add(&cids[4]).await.expect("pin version 5");
    client.pin_add(&cids[7]).await.expect("pin version 8");

    let mut run = rig
        .spawn(IpfsMirror::new(client.clone()).pin_every(1000))
        .await;
    run.wait_until_sequence(rig.store().last().await).await;
    let (stopped, mut mirror) = run.stop().await;
    stopped.expect("the mirror stops cleanly");
    mirror.flush_pins().await.expect("pin the heads");

    let pins: HashSet<Cid> = client.pin_ls().await.expect("pin/ls").into_iter().collect();
    assert_eq!(event_pins(&client).await, AGGREGATES.len());
    for id in AGGREGATES {
        let head = *rig.store().cids(id).await.last().expect("a head");
        assert!(pins.contains(&head), "{id}: its head is pinned");
        assert_eq!(mirror.pinned_heads().get(id), Some(&head));
    }
    assert!(!pins.contains(&cids[4]) && !pins.contains(&cids[7]));
}

/// A mirror that died between pin rounds leaves its newest heads unpinned; `pin_heads`
/// pins every head the node holds, and names the ones it does not hold yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pin_heads_after_a_mirror_died_between_rounds() {
    let node = IpfsNode::start().await;
    let client = node.client();
    let rig = Rig::memory();
    fill(rig.store(), 0, 10).await;
    let mut run = rig
        .spawn(IpfsMirror::new(client.clone()).pin_every(1000))
        .await;
    run.wait_until_sequence(rig.store().last().await).await;
    // Stopped without its last round, as if it died.
    let (stopped, _) = run.stop().await;
    stopped.expect("the mirror stops cleanly");
    assert_eq!(event_pins(&client).await, 0);

    rig.store().append_note("note-a", 10).await; // not mirrored yet
    let Rig::Memory { store, .. } = &rig else {
        unreachable!("a memory rig")
    };
    let done = pin_heads(store, &client).await.expect("pin the heads");
    assert_eq!(done.not_on_node, vec!["note-a".to_owned()]);
    let mut pinned: Vec<&str> = done.pinned.iter().map(|(id, _)| id.as_str()).collect();
    pinned.sort_unstable();
    assert_eq!(pinned, vec!["note-b", "note-c"]);
    let pins: HashSet<Cid> = client.pin_ls().await.expect("pin/ls").into_iter().collect();
    for (id, head) in &done.pinned {
        assert!(pins.contains(&head.cid), "{id}");
        assert_eq!(rig.store().cids(id).await.last(), Some(&head.cid));
    }
    assert_eq!(event_pins(&client).await, 2);
}
