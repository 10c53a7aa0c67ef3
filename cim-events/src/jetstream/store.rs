//! `JetStreamEventStore`: the handle users hold, its settings, and the `EventStore`
//! implementation, which delegates to one file per concern.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream::Stream};
use async_trait::async_trait;

use crate::error::Result;
use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::metadata::EventMetadata;
use crate::record::RawRecord;
use crate::seal::NewEvent;
use crate::store::{EventStore, EventStream, StartFrom};
use crate::subject::{TokenKind, validate_token};

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
    /// Whether the stream's settings were safe when last checked (see `config_watch`).
    pub(crate) health: super::config_watch::ConfigHealth,
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

    /// The events of one aggregate stored after `after` (a head this store returned
    /// earlier, e.g. the one a snapshot covers), read from its stream sequence on. Cheaper
    /// than [`load_from`](EventStore::load_from) on long aggregates because the read starts
    /// at the right place instead of at the aggregate's first event.
    pub async fn read_raw_after(&self, aggregate_id: &str, after: &Head) -> Result<Vec<RawRecord>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.inner.read_after(aggregate_id, after).await
    }
}

#[async_trait]
impl EventStore for JetStreamEventStore {
    fn subject_prefix(&self) -> &str {
        &self.inner.prefix
    }

    async fn append_prepared(
        &self,
        aggregate_id: &str,
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        self.inner.health.check()?;
        self.inner.append(aggregate_id, events, expected).await
    }

    async fn read_raw(&self, aggregate_id: &str, from_version: u64) -> Result<Vec<RawRecord>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.inner.read(aggregate_id, from_version).await
    }

    async fn head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.inner.fresh_head(aggregate_id).await
    }

    async fn subscribe(&self, filter: &str, start: StartFrom) -> Result<EventStream> {
        self.inner.subscribe(filter, start).await
    }

    async fn aggregate_ids(&self) -> Result<Vec<String>> {
        self.inner.aggregate_ids().await
    }

    async fn last_sequence(&self) -> Result<u64> {
        self.inner.last_sequence().await
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
