//! Test doubles for the repository tests: an event store that stages races and counts
//! reads, and a snapshot store that records saves and can fail. The tests crate has no
//! `async-trait` dependency, so the impls spell out the signatures `#[async_trait]`
//! generates.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cim_events::seal::NewEvent;
use cim_events::{
    Error, EventMetadata, EventStore, EventStream, ExpectedVersion, Head, MemoryEventStore,
    MemorySnapshotStore, RawRecord, Snapshot, SnapshotStore, StartFrom,
};

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

impl EventStore for ProbeStore {
    fn subject_prefix(&self) -> &str {
        self.inner.subject_prefix()
    }

    fn append_prepared<'life0, 'life1, 'async_trait>(
        &'life0 self,
        aggregate_id: &'life1 str,
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> BoxFuture<'async_trait, cim_events::Result<Vec<EventMetadata>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
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
            self.inner
                .append_prepared(aggregate_id, events, expected)
                .await
        })
    }

    fn read_raw<'life0, 'life1, 'async_trait>(
        &'life0 self,
        aggregate_id: &'life1 str,
        from_version: u64,
    ) -> BoxFuture<'async_trait, cim_events::Result<Vec<RawRecord>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let records = self.inner.read_raw(aggregate_id, from_version).await?;
            self.records_read
                .fetch_add(records.len() as u64, Ordering::SeqCst);
            Ok(records)
        })
    }

    fn head<'life0, 'life1, 'async_trait>(
        &'life0 self,
        aggregate_id: &'life1 str,
    ) -> BoxFuture<'async_trait, cim_events::Result<Option<Head>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.head(aggregate_id)
    }

    fn subscribe<'life0, 'life1, 'async_trait>(
        &'life0 self,
        filter: &'life1 str,
        start: StartFrom,
    ) -> BoxFuture<'async_trait, cim_events::Result<EventStream>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.subscribe(filter, start)
    }

    fn aggregate_ids<'life0, 'async_trait>(
        &'life0 self,
    ) -> BoxFuture<'async_trait, cim_events::Result<Vec<String>>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.aggregate_ids()
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
