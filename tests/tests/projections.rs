//! Projections on the embedded store: the projection suite against `ProjectionRunner` on
//! `MemoryEventStore` with `MemoryCheckpointStore`.

mod projection_suite;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cim_events::projection::{
    Checkpoint, CheckpointStore, MemoryCheckpointStore, Projection, ProjectionError,
    ProjectionRunner, async_trait,
};
use cim_events::{
    Error, EventStore, EventStream, MemoryEventStore, Published, RawStream, SealedEvent, StartFrom,
    Tail,
};
use futures::StreamExt;
use projection_suite::{Counter, Harness, Model, Options, Running, append, projection_suite};

/// A fresh memory store; its checkpoints survive "restarts" the way a database would.
struct Memory {
    store: MemoryEventStore,
    checkpoints: MemoryCheckpointStore,
}

async fn fresh() -> Memory {
    Memory {
        store: MemoryEventStore::new(),
        checkpoints: MemoryCheckpointStore::new(),
    }
}

impl Harness for Memory {
    type Store = MemoryEventStore;

    fn store(&self) -> &MemoryEventStore {
        &self.store
    }

    async fn checkpoints(&self) -> Arc<dyn CheckpointStore> {
        Arc::new(self.checkpoints.clone())
    }

    fn start<P, C>(&self, projection: P, checkpoints: C, options: &Options) -> Running<P>
    where
        P: Projection + 'static,
        C: CheckpointStore + 'static,
    {
        let mut runner = ProjectionRunner::new(self.store.clone(), projection, checkpoints)
            .verify_chain(options.verify_chain);
        if let Some(filter) = &options.filter {
            runner = runner.filter(filter.clone());
        }
        let (shutdown, progress) = (runner.shutdown_handle(), runner.progress());
        let task = tokio::spawn(async move {
            let result = runner.run().await;
            (result, runner.into_projection())
        });
        Running {
            task,
            shutdown,
            progress,
        }
    }

    async fn forge(&self, subject: String, headers: Vec<(String, String)>, data: Vec<u8>) -> u64 {
        self.store.insert_raw(&subject, headers, data.into())
    }
}

projection_suite!(fresh);

/// A memory store whose every subscription starts with a transient error, as a JetStream
/// subscription does when it recovers from a leader election.
struct Hiccup(MemoryEventStore);

#[async_trait]
impl EventStore for Hiccup {
    fn subject_prefix(&self) -> &str {
        self.0.subject_prefix()
    }

    fn max_event_size(&self) -> usize {
        self.0.max_event_size()
    }

    async fn tail(&self, aggregate_id: &str, fresh: bool) -> cim_events::Result<Tail> {
        self.0.tail(aggregate_id, fresh).await
    }

    async fn publish(
        &self,
        aggregate_id: &str,
        events: &[SealedEvent],
        after: &Tail,
    ) -> cim_events::Result<Published> {
        self.0.publish(aggregate_id, events, after).await
    }

    async fn read_messages(
        &self,
        aggregate_id: &str,
        after_sequence: u64,
    ) -> cim_events::Result<RawStream> {
        self.0.read_messages(aggregate_id, after_sequence).await
    }

    async fn subscribe_filters(
        &self,
        filters: &[String],
        start: StartFrom,
    ) -> cim_events::Result<EventStream> {
        let events = self.0.subscribe_filters(filters, start).await?;
        let hiccup = Error::Backend {
            operation: "subscribe",
            message: "leader election in progress".to_owned(),
            transient: true,
        };
        Ok(Box::pin(futures::stream::iter([Err(hiccup)]).chain(events)))
    }

    async fn aggregate_ids(&self) -> cim_events::Result<Vec<String>> {
        self.0.aggregate_ids().await
    }
}

/// The first event delivered from the checkpoint's sequence proves the checkpoint, even
/// when a transient error comes before it: a checkpoint at a sequence the filter does not
/// deliver is refused, not skipped past.
#[tokio::test]
async fn a_transient_error_before_the_first_event_does_not_skip_the_checkpoint_proof() {
    let store = MemoryEventStore::new();
    // a-0 at sequences 1 and 3, a-1 at sequence 2.
    let events = append(&store, 0, 3, 2).await;
    let checkpoints = MemoryCheckpointStore::new();
    let checkpoint = Checkpoint {
        sequence: events[1].0,
        cid: events[1].1,
    };
    checkpoints
        .save_checkpoint("counter", checkpoint)
        .await
        .expect("save");
    let model = Arc::new(Mutex::new(Model::default()));
    let mut runner = ProjectionRunner::new(Hiccup(store), Counter::new(&model), checkpoints)
        .filter("events.a-0.>");
    let result = tokio::time::timeout(Duration::from_secs(10), runner.run())
        .await
        .expect("the runner stops on its own");
    match result {
        Err(ProjectionError::CheckpointMismatch {
            checkpoint: refused,
            found,
            ..
        }) => {
            assert_eq!(refused, checkpoint);
            assert_eq!(
                found,
                Some(Checkpoint {
                    sequence: events[2].0,
                    cid: events[2].1,
                })
            );
        }
        other => panic!("expected a checkpoint mismatch, got {other:?}"),
    }
    assert!(model.lock().expect("model lock").applied.is_empty());
}

/// Defect 12 on the memory store: the waiter gets the runner's own error.
#[tokio::test]
async fn a_dead_runner_tells_its_waiter_why() {
    let store = MemoryEventStore::new();
    append(&store, 0, 5, 2).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let running = ProjectionRunner::new(
        store.clone(),
        Counter::new(&model).fail_at(3),
        MemoryCheckpointStore::new(),
    )
    .spawn();
    projection_suite::a_dead_runner_tells_its_waiter_why(running, 3, 5).await;
    assert_eq!(model.lock().expect("model").applied.len(), 2);
}

/// A spawned runner catches up with `last_sequence` and stops cleanly.
#[tokio::test]
async fn a_spawned_runner_catches_up_with_the_last_sequence() {
    let store = MemoryEventStore::new();
    append(&store, 0, 7, 3).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let running = ProjectionRunner::new(
        store.clone(),
        Counter::new(&model),
        MemoryCheckpointStore::new(),
    )
    .spawn();
    projection_suite::a_spawned_runner_catches_up_with_the_last_sequence(&store, running).await;
}

/// A projection that panics.
struct Panicky;

#[async_trait]
impl Projection for Panicky {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "panicky"
    }
    async fn apply(
        &mut self,
        _: &cim_events::RecordedEvent,
        _: Checkpoint,
    ) -> Result<(), Self::Error> {
        panic!("the read model is corrupt");
    }
}

/// A runner whose task panics reports the panic's message as a typed error.
#[tokio::test]
async fn a_panicking_runner_reports_the_panic() {
    let store = MemoryEventStore::new();
    append(&store, 0, 1, 1).await;
    let mut running = ProjectionRunner::new(store, Panicky, MemoryCheckpointStore::new()).spawn();
    let waited = tokio::time::timeout(Duration::from_secs(10), running.wait_until_sequence(1))
        .await
        .expect("no hang");
    match waited {
        Err(ProjectionError::Panicked {
            projection,
            message,
        }) => assert_eq!(
            (projection.as_str(), message.as_str()),
            ("panicky", "the read model is corrupt")
        ),
        other => panic!("expected Panicked, got {other:?}"),
    }
}
