//! Test doubles for the repository tests: an event store that stages races and counts
//! reads, and a snapshot store that records saves and can fail. The tests crate has no
//! `async-trait` dependency of its own: the store uses the crate's re-export, and the
//! snapshot store spells out the signatures `#[async_trait]` generates.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cim_events::projection::async_trait;
use cim_events::{
    Error, EventStore, EventStream, ExpectedVersion, MemoryEventStore, MemorySnapshotStore,
    Published, RawStream, SealedEvent, Snapshot, SnapshotStore, StartFrom, Tail,
};
use futures::StreamExt;

use crate::bank::{AccountEvent, deposited};

/// Makes the event a competing writer appends to an aggregate.
pub type Competitor = fn(&str) -> AccountEvent;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A `MemoryEventStore` that lets a competing writer append an event right before each of
/// the next `races` append attempts, and counts what passes through it.
#[derive(Clone, Default)]
pub struct ProbeStore {
    pub inner: MemoryEventStore,
    pub races: Arc<AtomicU32>,
    pub competitor: Arc<Mutex<Option<Competitor>>>,
    pub appends: Arc<AtomicU32>,
    pub records_read: Arc<AtomicU64>,
}

impl ProbeStore {
    /// Competing deposits of 1000 before the next `races` append attempts.
    pub fn race(&self, races: u32) {
        self.race_with(races, |id| deposited(id, 1000));
    }

    /// Competing `competitor(aggregate_id)` events before the next `races` append attempts.
    pub fn race_with(&self, races: u32, competitor: Competitor) {
        *self.competitor.lock().expect("no panic while racing") = Some(competitor);
        self.races.store(races, Ordering::SeqCst);
    }
}

pub fn closed(id: &str) -> AccountEvent {
    AccountEvent::Closed {
        account_id: id.to_owned(),
    }
}

#[async_trait]
impl EventStore for ProbeStore {
    fn subject_prefix(&self) -> &str {
        self.inner.subject_prefix()
    }

    fn max_event_size(&self) -> usize {
        self.inner.max_event_size()
    }

    async fn tail(&self, aggregate_id: &str, fresh: bool) -> cim_events::Result<Tail> {
        self.inner.tail(aggregate_id, fresh).await
    }

    /// Counts the attempt, and lets the competitor append first if a race is staged: the
    /// inner store then refuses this publish, as a server refuses a lost race.
    async fn publish(
        &self,
        aggregate_id: &str,
        events: &[SealedEvent],
        after: &Tail,
    ) -> cim_events::Result<Published> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        let race = self
            .races
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let competitor = *self.competitor.lock().expect("no panic while racing");
        if let (true, Some(competitor)) = (race, competitor) {
            self.inner
                .append_events(
                    aggregate_id,
                    vec![competitor(aggregate_id)],
                    ExpectedVersion::Any,
                )
                .await?;
        }
        self.inner.publish(aggregate_id, events, after).await
    }

    /// Counts every message read.
    async fn read_messages(
        &self,
        aggregate_id: &str,
        after_sequence: u64,
    ) -> cim_events::Result<RawStream> {
        let counter = Arc::clone(&self.records_read);
        let messages = self
            .inner
            .read_messages(aggregate_id, after_sequence)
            .await?;
        Ok(Box::pin(messages.inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })))
    }

    async fn subscribe_filters(
        &self,
        filters: &[String],
        start: StartFrom,
    ) -> cim_events::Result<EventStream> {
        self.inner.subscribe_filters(filters, start).await
    }

    async fn aggregate_ids(&self) -> cim_events::Result<Vec<String>> {
        self.inner.aggregate_ids().await
    }
}

/// A `MemorySnapshotStore` that records the versions saved, and can be made to fail.
#[derive(Clone, Default)]
pub struct ProbeSnapshots {
    pub inner: MemorySnapshotStore,
    pub saved: Arc<Mutex<Vec<u64>>>,
    pub fail_saves: bool,
    pub fail_loads: bool,
}

impl ProbeSnapshots {
    pub fn saved(&self) -> Vec<u64> {
        self.saved.lock().expect("no panic while recording").clone()
    }
}

fn backend_down(operation: &'static str) -> Error {
    Error::Backend {
        operation,
        message: "snapshot bucket unavailable".to_owned(),
        transient: true,
    }
}

impl SnapshotStore for ProbeSnapshots {
    fn load_snapshot<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        aggregate_type: &'life1 str,
        aggregate_id: &'life2 str,
    ) -> BoxFuture<'async_trait, cim_events::Result<Option<Snapshot>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if self.fail_loads {
                return Err(backend_down("load snapshot"));
            }
            self.inner.load_snapshot(aggregate_type, aggregate_id).await
        })
    }

    fn save_snapshot<'life0, 'life1, 'async_trait>(
        &'life0 self,
        snapshot: &'life1 Snapshot,
    ) -> BoxFuture<'async_trait, cim_events::Result<()>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.saved
                .lock()
                .expect("no panic while recording")
                .push(snapshot.version);
            if self.fail_saves {
                return Err(backend_down("save snapshot"));
            }
            self.inner.save_snapshot(snapshot).await
        })
    }
}
