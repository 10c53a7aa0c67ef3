//! `MemoryEventStore`: the embedded store. Same chain, same bytes, same guarantees as the
//! JetStream store, kept in memory.
//!
//! - [`log`]: the messages and, per aggregate, where its chain stands;
//! - [`cursor`]: subscriptions, which read the log themselves.

mod cursor;
mod log;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::watch;

use crate::atomic::AtomicPart;
use crate::crypto::Crypto;
use crate::error::Result;
use crate::head::Head;
use crate::record::RawRecord;
use crate::schema::registry::{ShapeKey, shape_key};
use crate::schema::{EventShape, RegisteredShape, SchemaCache};
use crate::seal::SealedEvent;
use crate::store::{EventStore, EventStream, Published, RawStream, StartFrom};
use crate::subject::{DEFAULT_PREFIX, validate_prefix, validate_subscriptions};
use crate::tail::Tail;
use cursor::Cursor;
use log::Log;

/// The default largest encoded event, matching nats-server's default `max_payload`.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1024 * 1024;

/// An in-memory event store. Cloning it gives another handle to the same events.
///
/// ```
/// use cim_events::MemoryEventStore;
/// let store = MemoryEventStore::builder().prefix("bank").max_event_size(64 * 1024).build()?;
/// # Ok::<(), cim_events::Error>(())
/// ```
#[derive(Clone)]
pub struct MemoryEventStore {
    shared: Arc<Shared>,
}

struct Shared {
    prefix: String,
    max_event_size: usize,
    encryption: Option<Crypto>,
    state: Mutex<Log>,
    /// The newest stream sequence, for live subscriptions.
    last: watch::Sender<u64>,
    /// The schema registry: the shape registered first for each `(aggregate type, event
    /// type, schema)`.
    schemas: Mutex<HashMap<ShapeKey, RegisteredShape>>,
    /// What the clones of this store know to be registered (all of it: they share the
    /// registry), so that appends skip the registry after an event type's first.
    schema_cache: SchemaCache,
}

/// Configures a [`MemoryEventStore`].
#[derive(Debug, Clone)]
pub struct MemoryEventStoreBuilder {
    prefix: String,
    max_event_size: usize,
    encryption: Option<Crypto>,
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryEventStore {
    /// An empty store with the default prefix `events`.
    pub fn new() -> Self {
        MemoryEventStoreBuilder::default().build_unchecked()
    }

    /// A builder for prefix and size limit.
    pub fn builder() -> MemoryEventStoreBuilder {
        MemoryEventStoreBuilder::default()
    }

    /// Stores a message as-is, bypassing every check, as a foreign writer to a JetStream
    /// stream could. For tests of verification and decoding (feature `test-util`).
    /// Returns its sequence.
    #[cfg(any(test, feature = "test-util"))]
    pub fn insert_raw(
        &self,
        subject: &str,
        headers: Vec<(String, String)>,
        data: bytes::Bytes,
    ) -> u64 {
        let mut state = self.lock();
        let aggregate = subject
            .strip_prefix(self.shared.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.split('.').next());
        let sequence = state.next_sequence();
        let record = RawRecord {
            sequence,
            subject: subject.to_owned(),
            headers,
            data,
        };
        state.push_foreign(aggregate, record);
        drop(state);
        self.shared.last.send_replace(sequence);
        sequence
    }

    /// Stores every part, consecutively, if no part's aggregate has a message after the
    /// tail it was sealed on; otherwise nothing. One lock: all or none.
    fn store_parts(&self, parts: &[AtomicPart<'_>]) -> Published {
        let mut state = self.lock();
        if parts
            .iter()
            .any(|part| state.last_sequence_of(part.aggregate_id) != part.after.last_sequence)
        {
            return Published::Refused;
        }
        for part in parts {
            for event in part.events {
                let sequence = state.next_sequence();
                let record = RawRecord {
                    sequence,
                    subject: event.subject.clone(),
                    headers: event
                        .headers()
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                    data: event.bytes.clone(),
                };
                let head = Head {
                    version: event.block.seq,
                    cid: event.cid,
                    sequence,
                };
                state.push_event(part.aggregate_id, record, head, &event.block.aggregate_type);
            }
        }
        let last_sequence = state.last_sequence();
        drop(state);
        self.shared.last.send_replace(last_sequence);
        Published::Stored { last_sequence }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the log half-written (every write
        // is one push after all checks), so a poisoned lock is safe to use.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MemoryEventStoreBuilder {
    /// The subject prefix (default `events`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The largest encoded event accepted (default 1 MiB).
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// Encrypts `Pii` values (or whole payloads) with `crypto` before they are stored, and
    /// decrypts them on reads (see [`crypto`](crate::crypto)).
    pub fn encryption(mut self, crypto: Crypto) -> Self {
        self.encryption = Some(crypto);
        self
    }

    /// Builds the store; fails if the prefix is not a valid subject prefix.
    pub fn build(self) -> Result<MemoryEventStore> {
        validate_prefix(&self.prefix)?;
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> MemoryEventStore {
        MemoryEventStore {
            shared: Arc::new(Shared {
                prefix: self.prefix,
                max_event_size: self.max_event_size,
                encryption: self.encryption,
                state: Mutex::new(Log::default()),
                last: watch::channel(0).0,
                schemas: Mutex::new(HashMap::new()),
                schema_cache: SchemaCache::new(),
            }),
        }
    }
}

impl Default for MemoryEventStoreBuilder {
    fn default() -> Self {
        MemoryEventStoreBuilder {
            prefix: DEFAULT_PREFIX.to_owned(),
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            encryption: None,
        }
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    fn subject_prefix(&self) -> &str {
        &self.shared.prefix
    }

    fn max_event_size(&self) -> usize {
        self.shared.max_event_size
    }

    fn store_kind(&self) -> &'static str {
        "memory"
    }

    async fn tail(&self, aggregate_id: &str, _fresh: bool) -> Result<Tail> {
        self.lock().tail(aggregate_id)
    }

    async fn publish(
        &self,
        aggregate_id: &str,
        events: &[SealedEvent],
        after: &Tail,
    ) -> Result<Published> {
        Ok(self.store_parts(&[AtomicPart {
            aggregate_id,
            events,
            after,
        }]))
    }

    async fn publish_atomic(&self, parts: &[AtomicPart<'_>]) -> Result<Published> {
        Ok(self.store_parts(parts))
    }

    async fn read_messages(&self, aggregate_id: &str, after_sequence: u64) -> Result<RawStream> {
        let records = self.lock().messages_after(aggregate_id, after_sequence);
        Ok(Box::pin(futures::stream::iter(records.into_iter().map(Ok))))
    }

    #[tracing::instrument(level = "debug", name = "cim_events.subscribe", skip_all, fields(store = "memory", filter = %filters.join(" "), start = ?start))]
    async fn subscribe_filters(&self, filters: &[String], start: StartFrom) -> Result<EventStream> {
        let filters = validate_subscriptions(&self.shared.prefix, filters)?;
        let first = match start {
            StartFrom::Beginning | StartFrom::Version(_) => 1,
            StartFrom::Sequence(s) => s.max(1),
            StartFrom::Time(t) => self.lock().first_stored_since(t),
            StartFrom::Now => self.lock().next_sequence(),
        };
        let min_version = match start {
            StartFrom::Version(v) => v,
            _ => 0,
        };
        let cursor = Cursor {
            store: self.clone(),
            filters,
            next: first,
            min_version,
            last: self.shared.last.subscribe(),
        };
        let events: EventStream = Box::pin(futures::stream::unfold(cursor, Cursor::next));
        Ok(crate::crypto::open_stream(self.encryption(), events))
    }

    async fn aggregate_ids(&self) -> Result<Vec<String>> {
        Ok(self.lock().aggregate_ids())
    }

    async fn last_sequence(&self) -> Result<u64> {
        Ok(self.lock().last_sequence())
    }

    async fn register_shape(&self, shape: &EventShape) -> Result<RegisteredShape> {
        // One insert per lock: a poisoned lock still holds a whole map.
        let mut schemas = self
            .shared
            .schemas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(schemas
            .entry(shape_key(shape))
            .or_insert_with(|| RegisteredShape::of(shape))
            .clone())
    }

    fn encryption(&self) -> Option<&Crypto> {
        self.shared.encryption.as_ref()
    }

    fn schema_cache(&self) -> Option<&SchemaCache> {
        Some(&self.shared.schema_cache)
    }
}

impl std::fmt::Debug for MemoryEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryEventStore")
            .field("prefix", &self.shared.prefix)
            .field("events", &state.last_sequence())
            .field("aggregates", &state.aggregate_count())
            .finish()
    }
}
