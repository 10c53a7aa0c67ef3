//! [`DynEventStore`]: any event store behind one type, for code that must not be generic
//! over the store (the commands a process manager sends are built before it is known
//! which store will run them).

use std::sync::Arc;

use async_trait::async_trait;

use crate::atomic::{AtomicAppend, AtomicPart};
use crate::crypto::Crypto;
use crate::error::Result;
use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::metadata::EventMetadata;
use crate::prepared::PreparedAppend;
use crate::schema::{EventShape, RegisteredShape, SchemaCache};
use crate::seal::SealedEvent;
use crate::store::{EventStore, EventStream, Published, RawStream, RetryPolicy, StartFrom};
use crate::tail::Tail;

/// Any [`EventStore`], type-erased: a cheap clone of one shared handle. Every method goes
/// to the store inside, overridden ones included, so it behaves exactly as that store.
///
/// ```
/// use cim_events::{DynEventStore, EventStore, MemoryEventStore};
/// let store = DynEventStore::new(MemoryEventStore::new());
/// assert_eq!(store.store_kind(), "memory");
/// ```
#[derive(Clone)]
pub struct DynEventStore {
    inner: Arc<dyn Erased>,
}

impl DynEventStore {
    /// Erases `store`'s type.
    pub fn new<S: EventStore + 'static>(store: S) -> Self {
        DynEventStore {
            inner: Arc::new(store),
        }
    }
}

impl std::fmt::Debug for DynEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynEventStore")
            .field("store", &self.inner.store_kind())
            .field("prefix", &self.inner.subject_prefix())
            .finish()
    }
}

/// The object-safe part of [`EventStore`]: its required methods and the provided ones a
/// store may override.
#[async_trait]
trait Erased: Send + Sync {
    fn subject_prefix(&self) -> &str;
    fn max_event_size(&self) -> usize;
    fn store_kind(&self) -> &'static str;
    fn retry_policy(&self) -> RetryPolicy;
    fn schema_cache(&self) -> Option<&SchemaCache>;
    fn encryption(&self) -> Option<&Crypto>;
    async fn tail(&self, aggregate_id: &str, fresh: bool) -> Result<Tail>;
    async fn publish(&self, id: &str, events: &[SealedEvent], after: &Tail) -> Result<Published>;
    async fn publish_atomic(&self, parts: &[AtomicPart<'_>]) -> Result<Published>;
    async fn read_messages(&self, aggregate_id: &str, after_sequence: u64) -> Result<RawStream>;
    async fn subscribe_filters(&self, filters: &[String], start: StartFrom) -> Result<EventStream>;
    async fn aggregate_ids(&self) -> Result<Vec<String>>;
    async fn anchor(&self, aggregate_id: &str) -> Result<Option<Head>>;
    async fn head(&self, aggregate_id: &str) -> Result<Option<Head>>;
    async fn append_prepared(
        &self,
        prepared: &PreparedAppend,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>>;
    async fn append_atomic(&self, commit: &AtomicAppend) -> Result<Vec<Vec<EventMetadata>>>;
    async fn register_shape(&self, shape: &EventShape) -> Result<RegisteredShape>;
    async fn last_sequence(&self) -> Result<u64>;
}

#[async_trait]
impl<S: EventStore> Erased for S {
    fn subject_prefix(&self) -> &str {
        EventStore::subject_prefix(self)
    }
    fn max_event_size(&self) -> usize {
        EventStore::max_event_size(self)
    }
    fn store_kind(&self) -> &'static str {
        EventStore::store_kind(self)
    }
    fn retry_policy(&self) -> RetryPolicy {
        EventStore::retry_policy(self)
    }
    fn schema_cache(&self) -> Option<&SchemaCache> {
        EventStore::schema_cache(self)
    }
    fn encryption(&self) -> Option<&Crypto> {
        EventStore::encryption(self)
    }
    async fn tail(&self, aggregate_id: &str, fresh: bool) -> Result<Tail> {
        EventStore::tail(self, aggregate_id, fresh).await
    }
    async fn publish(&self, id: &str, events: &[SealedEvent], after: &Tail) -> Result<Published> {
        EventStore::publish(self, id, events, after).await
    }
    async fn publish_atomic(&self, parts: &[AtomicPart<'_>]) -> Result<Published> {
        EventStore::publish_atomic(self, parts).await
    }
    async fn read_messages(&self, aggregate_id: &str, after_sequence: u64) -> Result<RawStream> {
        EventStore::read_messages(self, aggregate_id, after_sequence).await
    }
    async fn subscribe_filters(&self, filters: &[String], start: StartFrom) -> Result<EventStream> {
        EventStore::subscribe_filters(self, filters, start).await
    }
    async fn aggregate_ids(&self) -> Result<Vec<String>> {
        EventStore::aggregate_ids(self).await
    }
    async fn anchor(&self, aggregate_id: &str) -> Result<Option<Head>> {
        EventStore::anchor(self, aggregate_id).await
    }
    async fn head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        EventStore::head(self, aggregate_id).await
    }
    async fn append_prepared(
        &self,
        prepared: &PreparedAppend,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        EventStore::append_prepared(self, prepared, expected).await
    }
    async fn append_atomic(&self, commit: &AtomicAppend) -> Result<Vec<Vec<EventMetadata>>> {
        EventStore::append_atomic(self, commit).await
    }
    async fn register_shape(&self, shape: &EventShape) -> Result<RegisteredShape> {
        EventStore::register_shape(self, shape).await
    }
    async fn last_sequence(&self) -> Result<u64> {
        EventStore::last_sequence(self).await
    }
}

#[async_trait]
impl EventStore for DynEventStore {
    fn subject_prefix(&self) -> &str {
        self.inner.subject_prefix()
    }
    fn max_event_size(&self) -> usize {
        self.inner.max_event_size()
    }
    fn store_kind(&self) -> &'static str {
        self.inner.store_kind()
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry_policy()
    }
    fn schema_cache(&self) -> Option<&SchemaCache> {
        self.inner.schema_cache()
    }
    fn encryption(&self) -> Option<&Crypto> {
        self.inner.encryption()
    }
    async fn tail(&self, aggregate_id: &str, fresh: bool) -> Result<Tail> {
        self.inner.tail(aggregate_id, fresh).await
    }
    async fn publish(
        &self,
        aggregate_id: &str,
        events: &[SealedEvent],
        after: &Tail,
    ) -> Result<Published> {
        self.inner.publish(aggregate_id, events, after).await
    }
    async fn publish_atomic(&self, parts: &[AtomicPart<'_>]) -> Result<Published> {
        self.inner.publish_atomic(parts).await
    }
    async fn read_messages(&self, aggregate_id: &str, after_sequence: u64) -> Result<RawStream> {
        self.inner.read_messages(aggregate_id, after_sequence).await
    }
    async fn subscribe_filters(&self, filters: &[String], start: StartFrom) -> Result<EventStream> {
        self.inner.subscribe_filters(filters, start).await
    }
    async fn aggregate_ids(&self) -> Result<Vec<String>> {
        self.inner.aggregate_ids().await
    }
    async fn anchor(&self, aggregate_id: &str) -> Result<Option<Head>> {
        self.inner.anchor(aggregate_id).await
    }
    async fn head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        self.inner.head(aggregate_id).await
    }
    async fn append_prepared(
        &self,
        prepared: &PreparedAppend,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        self.inner.append_prepared(prepared, expected).await
    }
    async fn append_atomic(&self, commit: &AtomicAppend) -> Result<Vec<Vec<EventMetadata>>> {
        self.inner.append_atomic(commit).await
    }
    async fn register_shape(&self, shape: &EventShape) -> Result<RegisteredShape> {
        self.inner.register_shape(shape).await
    }
    async fn last_sequence(&self) -> Result<u64> {
        self.inner.last_sequence().await
    }
}
