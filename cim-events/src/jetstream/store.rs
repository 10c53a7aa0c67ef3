//! `JetStreamEventStore`: the handle users hold, its settings, and the `EventStore`
//! implementation, which delegates to one file per concern.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream::Stream};
use async_trait::async_trait;

use crate::atomic::AtomicPart;
use crate::cache::Lru;
use crate::error::Result;
use crate::schema::{EventShape, RegisteredShape, SchemaCache};
use crate::seal::SealedEvent;
use crate::store::{EventStore, EventStream, Published, RawStream, RetryPolicy, StartFrom};
use crate::subject::{TokenKind, validate_token};
use crate::tail::Tail;

use super::builder::JetStreamEventStoreBuilder;

/// An event store on a NATS JetStream stream. Cloning it gives another handle to the same
/// stream and connection.
///
/// Create it with [`JetStreamEventStore::new`] (the seed API) or
/// [`JetStreamEventStore::builder`]; see the [module docs](super) for how it works.
#[derive(Clone)]
pub struct JetStreamEventStore {
    pub(crate) inner: Arc<Inner>,
}

/// What every operation needs: the connection, the stream and the settings.
pub(crate) struct Inner {
    pub(crate) context: jetstream::Context,
    pub(crate) stream: Stream,
    pub(crate) stream_name: String,
    pub(crate) prefix: String,
    pub(crate) settings: Settings,
    /// The tails this handle last wrote or read, per aggregate: where an append starts
    /// without reading (the server's check catches a stale one).
    pub(crate) tails: Mutex<Lru<String, Tail>>,
    /// Whether the stream's settings were safe when last checked (see `config_watch`).
    pub(crate) health: super::config_watch::ConfigHealth,
    /// Where each aggregate's newest head is recorded outside the stream (`None`: off).
    pub(crate) anchors: Option<super::anchor_writer::Anchors>,
    /// The schema registry's bucket and what this handle knows registered (`None`: off).
    pub(crate) schemas: Option<super::kv_schema::Schemas>,
    /// What `Pii` values are encrypted with (`None`: refused).
    pub(crate) encryption: Option<crate::crypto::Crypto>,
}

/// Settings resolved at build time.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Replicas of the stream as it exists on the server.
    pub(crate) replicas: usize,
    /// The largest encoded event accepted.
    pub(crate) max_event_size: usize,
    /// How many times `ExpectedVersion::Any` re-reads the head and re-seals after losing
    /// a race.
    pub(crate) any_retries: u32,
    /// How many times a transient failure (timeout, no responders, leader election) is
    /// retried before it is returned.
    pub(crate) transient_retries: u32,
    /// Aggregates with at most this many events to read are loaded with batch Direct Get;
    /// longer ones with an ordered consumer.
    pub(crate) direct_read_limit: u64,
    /// How long one server request may take.
    pub(crate) request_timeout: Duration,
    /// How many aggregates' tails are cached.
    pub(crate) tail_cache: usize,
}

/// Backoff between attempts of `Any` after a lost race.
const CONFLICT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(50));
/// Backoff between attempts after a transient failure (covers a leader election).
const TRANSIENT_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

impl Inner {
    /// The cached tail of `aggregate_id`, if any.
    pub(crate) fn cached_tail(&self, aggregate_id: &str) -> Option<Tail> {
        self.lock_tails().get(aggregate_id).cloned()
    }

    /// Caches `tail` unless a newer one is cached already (concurrent appends of one
    /// handle may finish out of order).
    pub(crate) fn remember(&self, aggregate_id: &str, tail: &Tail) {
        let mut tails = self.lock_tails();
        match tails.get(aggregate_id) {
            Some(cached) if cached.last_sequence > tail.last_sequence => {}
            _ => tails.insert(aggregate_id.to_owned(), tail.clone()),
        }
    }

    /// Drops the cached tail of `aggregate_id`.
    pub(crate) fn forget(&self, aggregate_id: &str) {
        self.lock_tails().remove(aggregate_id);
    }

    fn lock_tails(&self) -> std::sync::MutexGuard<'_, Lru<String, Tail>> {
        // Every update is a single insert or remove: a poisoned lock holds a whole map.
        self.tails
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl JetStreamEventStore {
    /// Opens the event store on stream `stream_name` with subject prefix `events`,
    /// creating the stream if it does not exist (R1, file storage) and checking it if it
    /// does. See [`builder`](Self::builder) for the other settings.
    pub async fn new(context: jetstream::Context, stream_name: &str) -> Result<Self> {
        Self::builder(context, stream_name).build().await
    }

    /// A builder for prefix, replicas, duplicate window, size limit and retry bounds.
    pub fn builder(context: jetstream::Context, stream_name: &str) -> JetStreamEventStoreBuilder {
        JetStreamEventStoreBuilder::new(context, stream_name)
    }

    /// The JetStream context the store uses, for building on the same connection (KV
    /// snapshots, durable consumers).
    pub fn context(&self) -> &jetstream::Context {
        &self.inner.context
    }

    /// The name of the stream holding the events.
    pub fn stream_name(&self) -> &str {
        &self.inner.stream_name
    }

    /// A handle to the stream holding the events (for consumers).
    pub fn stream(&self) -> &Stream {
        &self.inner.stream
    }

    /// The stream's replica count as the server reports it.
    pub fn replicas(&self) -> usize {
        self.inner.settings.replicas
    }

    /// The largest encoded event this store accepts.
    pub fn max_event_size(&self) -> usize {
        self.inner.settings.max_event_size
    }

    /// The key-value bucket holding the aggregates' anchors, `None` with anchors off (see
    /// [`anchors`](JetStreamEventStoreBuilder::anchors)).
    pub fn anchor_bucket(&self) -> Option<&str> {
        self.inner.anchors.as_ref().map(|a| a.kv().name.as_str())
    }

    /// The key-value bucket of the schema registry, `None` with the registry off (see
    /// [`schema_registry`](JetStreamEventStoreBuilder::schema_registry)). It is opened, and
    /// created if missing, on this handle's first registration.
    pub fn schema_bucket(&self) -> Option<&str> {
        self.inner.schemas.as_ref().map(|s| s.bucket())
    }
}

#[async_trait]
impl EventStore for JetStreamEventStore {
    fn subject_prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn max_event_size(&self) -> usize {
        self.inner.settings.max_event_size
    }

    fn store_kind(&self) -> &'static str {
        "jetstream"
    }

    async fn tail(&self, aggregate_id: &str, fresh: bool) -> Result<Tail> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.inner.anchored_tail(aggregate_id, fresh).await
    }

    async fn anchor(&self, aggregate_id: &str) -> Result<Option<crate::head::Head>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.inner.anchor(aggregate_id).await
    }

    async fn publish(
        &self,
        aggregate_id: &str,
        events: &[SealedEvent],
        after: &Tail,
    ) -> Result<Published> {
        // The stream's settings are re-checked in the background: while they would let the
        // server delete events, nothing is written.
        self.inner.health.check()?;
        self.inner
            .publish(&[AtomicPart {
                aggregate_id,
                events,
                after,
            }])
            .await
    }

    async fn publish_atomic(&self, parts: &[AtomicPart<'_>]) -> Result<Published> {
        self.inner.health.check()?;
        self.inner.publish(parts).await
    }

    async fn read_messages(&self, aggregate_id: &str, after_sequence: u64) -> Result<RawStream> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.inner.read_messages(aggregate_id, after_sequence).await
    }

    async fn subscribe_filters(&self, filters: &[String], start: StartFrom) -> Result<EventStream> {
        let events = self.inner.subscribe(filters, start).await?;
        Ok(crate::crypto::open_stream(self.encryption(), events))
    }

    async fn aggregate_ids(&self) -> Result<Vec<String>> {
        self.inner.aggregate_ids().await
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            conflicts: self.inner.settings.any_retries,
            transient: self.inner.settings.transient_retries,
            conflict_backoff: CONFLICT_BACKOFF,
            transient_backoff: TRANSIENT_BACKOFF,
        }
    }

    async fn last_sequence(&self) -> Result<u64> {
        self.inner.last_sequence().await
    }

    async fn register_shape(&self, shape: &EventShape) -> Result<RegisteredShape> {
        match &self.inner.schemas {
            Some(schemas) => schemas.register(&self.inner.context, shape).await,
            None => Ok(RegisteredShape::of(shape)),
        }
    }

    fn encryption(&self) -> Option<&crate::crypto::Crypto> {
        self.inner.encryption.as_ref()
    }

    fn schema_cache(&self) -> Option<&SchemaCache> {
        self.inner.schemas.as_ref().map(|s| s.cache())
    }
}

impl std::fmt::Debug for JetStreamEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamEventStore")
            .field("stream", &self.inner.stream_name)
            .field("prefix", &self.inner.prefix)
            .field("settings", &self.inner.settings)
            .finish()
    }
}
