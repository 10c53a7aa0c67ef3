//! The `EventStore` trait: what every store offers, whatever engine is under it.

use std::pin::Pin;

use async_trait::async_trait;
use cid::Cid;
use futures::{Stream, StreamExt, TryStreamExt};

use crate::anchor::ChainAnchor;
use crate::atomic::{AtomicAppend, AtomicPart};
use crate::block::EventBlock;
use crate::chain::{Follower, Step};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::expected::ExpectedVersion;
use crate::extension::{ExtensionCheck, ExtensionReport};
use crate::head::Head;
use crate::header::EventHeader;
use crate::metadata::EventMetadata;
use crate::prepared::PreparedAppend;
use crate::record::{RawRecord, RecordedEvent};
use crate::schema::{EventShape, RegisteredShape, SchemaCache};
use crate::seal::SealedEvent;
use crate::selector::EventSelector;
use crate::subject::{TokenKind, aggregate_filter, validate_token};
use crate::tail::Tail;
use crate::verify::{ChainReport, Verifier};

/// A stream of stored events, in stream order. Errors (a malformed message, a lost
/// connection) are items too; the stream goes on after a decode error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RecordedEvent>> + Send>>;

/// A stream of stored messages exactly as stored, in stream order: what a read of one
/// aggregate yields before decoding, one message at a time, so that memory stays flat on
/// long aggregates.
pub type RawStream = Pin<Box<dyn Stream<Item = Result<RawRecord>> + Send>>;

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartFrom {
    /// From the first stored event, then live.
    Beginning,
    /// From this stream sequence (inclusive), then live.
    Sequence(u64),
    /// From the first event whose aggregate version is at least this, then live. Meant
    /// for filters on one aggregate.
    Version(u64),
    /// From the first message stored at or after this time (the store's clock, not the
    /// event's `time`), then live: `tail --since` of the operator CLI.
    Time(std::time::SystemTime),
    /// Only events stored after the subscription starts.
    #[default]
    Now,
}

/// What became of a [`publish`](EventStore::publish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Published {
    /// Every event is stored, consecutively, the last at this stream sequence.
    Stored {
        /// Stream sequence of the last event.
        last_sequence: u64,
    },
    /// Something was stored on the aggregate's subjects after the tail the events were
    /// sealed on: nothing of this publish is stored.
    Refused,
}

/// How the shared append pipeline retries on a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times an append re-reads the tail and seals again after a refusal
    /// ([`ExpectedVersion::Any`], or a tail that was stale only in its last message).
    pub conflicts: u32,
    /// How many times an unknown outcome (a transient error) is looked into and retried
    /// before the error is returned.
    pub transient: u32,
    /// Jittered exponential backoff between refusals: from the first duration, doubling,
    /// up to the second. Zero: yield to other tasks once instead of sleeping.
    pub conflict_backoff: (std::time::Duration, std::time::Duration),
    /// The same between transient failures.
    pub transient_backoff: (std::time::Duration, std::time::Duration),
}

impl Default for RetryPolicy {
    /// 100 refusals with no sleep; no transient retries (a store that has none).
    fn default() -> Self {
        RetryPolicy {
            conflicts: 100,
            transient: 0,
            conflict_backoff: (std::time::Duration::ZERO, std::time::Duration::ZERO),
            transient_backoff: (std::time::Duration::ZERO, std::time::Duration::ZERO),
        }
    }
}

/// An event store: appends chained events, loads and verifies them, and streams them.
///
/// Stores implement the required methods; the seed API (`append_event`,
/// `validate_cid_chain`, `subscribe_to_events`, …) is provided on top of them, the same
/// for every store.
///
/// ```
/// use cim_events::{Event, EventStore, MemoryEventStore};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct AccountCreated { account_id: String, owner: String }
/// impl Event for AccountCreated {
///     fn event_type(&self) -> &str { "AccountCreated" }
///     fn aggregate_id(&self) -> &str { &self.account_id }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryEventStore::new();
/// let event = AccountCreated { account_id: "acc-123".into(), owner: "Alice".into() };
/// let meta = store.append_event("acc-123", event, None).await?;
/// assert_eq!((meta.sequence, meta.version), (1, 1));
/// assert!(store.validate_cid_chain("acc-123").await?);
/// # Ok::<(), cim_events::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait EventStore: Send + Sync {
    /// The subject prefix events are stored under (default `events`).
    fn subject_prefix(&self) -> &str;

    /// The largest encoded event this store accepts; larger ones are
    /// [`Error::EventTooLarge`](crate::Error::EventTooLarge) before anything is stored.
    fn max_event_size(&self) -> usize;

    /// The end of the aggregate's history: its chain's head and the sequence of its last
    /// message. With `fresh`, as the authority holds it now (on a replicated stream, the
    /// leader). Without, it may come from what this handle last wrote or read, and be
    /// stale: [`publish`](EventStore::publish) refuses to build on a stale tail. A store
    /// with anchors checks a tail it reads from the authority against the aggregate's
    /// [`anchor`](EventStore::anchor), and fails with
    /// [`Error::Truncated`](crate::Error::Truncated) rather than hand out an older head.
    async fn tail(&self, aggregate_id: &str, fresh: bool) -> Result<Tail>;

    /// Stores `events` (sealed after `after.head`, for `aggregate_id`) atomically — all or
    /// none — if nothing was stored on the aggregate's subjects after
    /// `after.last_sequence`; otherwise stores nothing and answers
    /// [`Published::Refused`]. A transient error means the outcome is unknown.
    ///
    /// This is all a store implements to append: checks, sealing, size limits, retries
    /// and the resolution of unknown outcomes are the shared pipeline of
    /// [`append_prepared`](EventStore::append_prepared).
    async fn publish(
        &self,
        aggregate_id: &str,
        events: &[SealedEvent],
        after: &Tail,
    ) -> Result<Published>;

    /// Stores the events of several aggregates atomically — all or none — if nothing was
    /// stored on any part's aggregate subjects after its `after.last_sequence`; otherwise
    /// stores nothing and answers [`Published::Refused`]. The events are stored
    /// consecutively in part order; `last_sequence` is the last event's. A transient error
    /// means the outcome is unknown.
    ///
    /// This is all a store implements for [`append_atomic`](EventStore::append_atomic).
    /// The provided implementation publishes a single part with
    /// [`publish`](EventStore::publish) and refuses more with
    /// [`Error::AtomicUnsupported`].
    async fn publish_atomic(&self, parts: &[AtomicPart<'_>]) -> Result<Published> {
        match parts {
            [part] => {
                self.publish(part.aggregate_id, part.events, part.after)
                    .await
            }
            _ => Err(Error::AtomicUnsupported {
                store: self.store_kind(),
            }),
        }
    }

    /// Every message stored on the aggregate's subjects after stream sequence
    /// `after_sequence` (0: all of them), exactly as stored — events or not — in stream
    /// order, streamed. A read after a known head (`head.sequence`) costs only the newer
    /// messages.
    async fn read_messages(&self, aggregate_id: &str, after_sequence: u64) -> Result<RawStream>;

    /// Streams the events whose subjects match any of `filters` (each as
    /// [`subscribe`](EventStore::subscribe) takes it), from `start`, then live: each event
    /// once, however many filters match it, in stream order, with no gap or duplicate
    /// between history and live events.
    ///
    /// The set is checked and normalised by
    /// [`validate_subscriptions`](crate::subject::validate_subscriptions): repeats, and
    /// filters that another filter of the set covers, are dropped (nats-server would
    /// refuse them); an empty set or more than [`MAX_FILTERS`](crate::subject::MAX_FILTERS)
    /// filters is [`Error::FilterSet`], a filter outside the prefix
    /// [`Error::FilterOutsidePrefix`], a malformed one [`Error::InvalidToken`]. On
    /// JetStream one consumer serves the whole set (`filter_subjects`, nats-server 2.10 or
    /// later); the server, not the client, picks the events.
    ///
    /// ```
    /// use cim_events::{Event, EventStore, MemoryEventStore, StartFrom};
    /// use futures::StreamExt;
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Event, Serialize, Deserialize)]
    /// #[event(aggregate = "Account")]
    /// enum AccountEvent { Opened { owner: String }, Deposited { amount: u64 }, Closed { why: String } }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = MemoryEventStore::new();
    /// store.append_event("acc-1", AccountEvent::Opened { owner: "Ann".into() }, None).await?;
    /// store.append_event("acc-1", AccountEvent::Deposited { amount: 5 }, None).await?;
    /// store.append_event("acc-1", AccountEvent::Closed { why: "moved".into() }, None).await?;
    ///
    /// let filters = ["events.*.Opened".to_owned(), "events.*.Closed".to_owned()];
    /// let mut events = store.subscribe_filters(&filters, StartFrom::Beginning).await?;
    /// let first = events.next().await.expect("an event")?;
    /// let second = events.next().await.expect("an event")?;
    /// assert_eq!((first.event_type(), second.event_type()), ("Opened", "Closed"));
    /// assert_eq!((first.sequence, second.sequence), (1, 3));
    /// # Ok::<(), cim_events::Error>(()) }).unwrap();
    /// ```
    async fn subscribe_filters(&self, filters: &[String], start: StartFrom) -> Result<EventStream>;

    /// Streams the events whose subjects match `filter` (e.g. `events.>`,
    /// `events.order-1.>`, `events.*.OrderCreated`), from `start`, then live, each once and
    /// in stream order: [`subscribe_filters`](EventStore::subscribe_filters) with one
    /// filter.
    async fn subscribe(&self, filter: &str, start: StartFrom) -> Result<EventStream> {
        self.subscribe_filters(&[filter.to_owned()], start).await
    }

    /// The ids of every aggregate with at least one event.
    async fn aggregate_ids(&self) -> Result<Vec<String>>;

    /// What kind of store this is, as the `store` label of the metrics says it
    /// ([`observe`](crate::observe)): `memory`, `jetstream`, or, unless a store says
    /// otherwise, `custom`. A constant per store type: metric labels stay few.
    fn store_kind(&self) -> &'static str {
        "custom"
    }

    /// How [`append_prepared`](EventStore::append_prepared) retries on this store.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }

    /// The aggregate's anchor: its newest head as recorded outside its chain, which the
    /// chain must reach (see [`Error::Truncated`](crate::Error::Truncated)). `None` when
    /// none is recorded, and always for stores that cannot lose the end of a chain — the
    /// provided implementation, which the memory store keeps. Anchors may lag behind the
    /// chain; they never run ahead of it.
    async fn anchor(&self, aggregate_id: &str) -> Result<Option<Head>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        Ok(None)
    }

    /// The aggregate's head, `None` if it has no events: its newest event as the
    /// authority holds it now.
    async fn head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        Ok(self.tail(aggregate_id, true).await?.head)
    }

    /// Appends prepared events to their aggregate atomically: all are stored, chained
    /// after the head, or none is. Fails with a conflict if the head does not match
    /// `expected`. A [`PreparedAppend`] is stored at most once: appended again (after a
    /// transient error, or after a success), it answers the metadata of its stored events.
    async fn append_prepared(
        &self,
        prepared: &PreparedAppend,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        crate::observe::append::append(self, prepared, expected).await
    }

    /// Appends the events of several aggregates atomically (see [`AtomicAppend`]): all are
    /// stored, each aggregate's chained after its head, or none is. Fails with a conflict
    /// naming the first aggregate whose head does not match its expectation; nothing is
    /// stored then. Returns each aggregate's stored events, in commit order.
    async fn append_atomic(&self, commit: &AtomicAppend) -> Result<Vec<Vec<EventMetadata>>> {
        crate::atomic::append_atomic(self, commit).await
    }

    /// Registers `shape` for its `(aggregate type, event type, schema)` unless a shape is
    /// registered for that triple already, and returns the shape registered: `shape`'s own
    /// when this call registered it (or found it registered). Create-only and race-safe:
    /// of two callers registering different shapes at once, exactly one registers; the
    /// other gets the winner's. A registration is never replaced.
    ///
    /// This is the store's half of the drift check; comparing, caching and the error are
    /// [`register_schema`](EventStore::register_schema)'s. The provided implementation, a
    /// store with no registry, registers nothing and answers `shape` itself. A store with a
    /// registry also returns a [`SchemaCache`] from
    /// [`schema_cache`](EventStore::schema_cache).
    async fn register_shape(&self, shape: &EventShape) -> Result<RegisteredShape> {
        Ok(RegisteredShape::of(shape))
    }

    /// What this handle knows to be registered, so that each event type is registered once
    /// per handle and the append path pays one set lookup afterwards. `None` (the provided
    /// implementation): the store has no registry, and appends register nothing.
    fn schema_cache(&self) -> Option<&SchemaCache> {
        None
    }

    /// The encryption this store applies to events it appends and reads (see
    /// [`crypto`](crate::crypto)): `Pii` values, or whole payloads, are encrypted when an
    /// append first prepares its blocks, and decrypted when stored events are read.
    /// `None` (the provided implementation): events holding `Pii` are refused with
    /// [`CryptoError::MissingKeyStore`](crate::crypto::CryptoError::MissingKeyStore), and
    /// encrypted values read as that same error.
    fn encryption(&self) -> Option<&crate::crypto::Crypto> {
        None
    }

    /// Registers the shapes of events this code stores — one per `(aggregate type, event
    /// type, schema)` — in the store's schema registry, and fails with
    /// [`Error::SchemaDrift`] if a different shape is registered for one of them (another
    /// service, or an older build of this one, stores that schema version with other
    /// fields). A shape registered equal is fine; a new triple (a new event, a new schema
    /// version) is registered. Shapes are checked as subject tokens first, then registered
    /// all at once: a drift in one does not stop the others, and the first failure, in
    /// the order given, is returned.
    ///
    /// Appends do this by themselves on a handle's first append of an event type (see
    /// [`schema`](crate::schema#drift-caught-at-start-up)); call it, or
    /// [`register`](EventStore::register), at start-up to fail before serving. Shapes
    /// already registered through this handle cost nothing.
    ///
    /// ```
    /// use cim_events::schema::{EventShape, FieldShape};
    /// use cim_events::{Error, EventStore, MemoryEventStore};
    ///
    /// let v1 = EventShape {
    ///     aggregate_type: "Account",
    ///     event_type: "Deposited",
    ///     aliases: &[],
    ///     schema: 1,
    ///     fields: &[FieldShape { name: "amount", ty: "u64" }],
    /// };
    /// let retyped = EventShape { fields: &[FieldShape { name: "amount", ty: "i64" }], ..v1 };
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryEventStore::new();
    /// store.register_schema(&[v1]).await?;
    /// store.register_schema(&[v1]).await?; // the same shape again: fine
    /// match store.register_schema(&[retyped]).await {
    ///     Err(Error::SchemaDrift(drift)) => assert_eq!(drift.registered, v1.fingerprint()),
    ///     other => panic!("expected drift, got {other:?}"),
    /// }
    /// store.register_schema(&[EventShape { schema: 2, ..retyped }]).await?; // a new version
    /// # Ok::<(), cim_events::Error>(()) }).unwrap();
    /// ```
    async fn register_schema(&self, shapes: &[EventShape]) -> Result<()> {
        crate::schema::registry::register(self, shapes).await
    }

    /// Registers the shapes of the event type `E` ([`Event::event_shapes`]), as
    /// [`register_schema`](EventStore::register_schema) does, and remembers on this handle
    /// that they are registered: appends of `E` then check nothing more. An `E` with no
    /// shapes (a hand-written [`Event`] impl) registers nothing.
    async fn register<E: Event>(&self) -> Result<()> {
        crate::schema::registry::register_type(
            self,
            crate::schema::registry::ShapeSource::of::<E>(),
        )
        .await
    }

    /// The stream sequence of the newest stored message, 0 when the store is empty: with a
    /// projection's checkpoint, its lag (`last_sequence - checkpoint.sequence` messages at
    /// most). One request on JetStream (stream info), the log length in memory. The
    /// provided implementation, for stores that do not override it, takes the last
    /// message of every aggregate, which costs one read per aggregate.
    async fn last_sequence(&self) -> Result<u64> {
        let mut last = 0;
        for id in self.aggregate_ids().await? {
            last = last.max(self.tail(&id, true).await?.last_sequence);
        }
        Ok(last)
    }

    /// Appends one event after the current head (`previous_cid: None`) or only if the head
    /// is `previous_cid`.
    async fn append_event<E: Event>(
        &self,
        aggregate_id: &str,
        event: E,
        previous_cid: Option<Cid>,
    ) -> Result<EventMetadata> {
        self.append_event_with_header(aggregate_id, event, EventHeader::default(), previous_cid)
            .await
    }

    /// [`append_event`](EventStore::append_event) with correlation, causation and metadata.
    async fn append_event_with_header<E: Event>(
        &self,
        aggregate_id: &str,
        event: E,
        header: EventHeader,
        previous_cid: Option<Cid>,
    ) -> Result<EventMetadata> {
        let mut stored = self
            .append_events_with_header(aggregate_id, vec![event], header, previous_cid.into())
            .await?;
        Ok(stored.remove(0))
    }

    /// Appends several events of one aggregate atomically.
    ///
    /// # Retrying
    ///
    /// A failed append stores nothing, with one exception: a transient error
    /// ([`Error::is_transient`]) after the request went out — a timeout, a lost connection —
    /// leaves the outcome unknown, and the events may be stored. The store already looks
    /// into that and retries within its budget; when it gives up, calling `append_events`
    /// again prepares the events anew (new ids and times, so new CIDs) and may store them
    /// a second time. To retry safely, prepare once with [`PreparedAppend::new`] and call
    /// [`append_prepared`](EventStore::append_prepared) again with the same value: it finds
    /// the earlier attempt if it landed.
    async fn append_events<E: Event>(
        &self,
        aggregate_id: &str,
        events: Vec<E>,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        self.append_events_with_header(aggregate_id, events, EventHeader::default(), expected)
            .await
    }

    /// [`append_events`](EventStore::append_events) with correlation, causation and
    /// metadata, shared by every event of the append.
    async fn append_events_with_header<E: Event>(
        &self,
        aggregate_id: &str,
        events: Vec<E>,
        header: EventHeader,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        let prepared = PreparedAppend::new(aggregate_id, &events, &header)?;
        self.append_prepared(&prepared, expected).await
    }

    /// The stored messages of one aggregate, exactly as stored, in stream order, less the
    /// events whose block holds a version below `from_version` (messages that are not
    /// events are kept). Collected in memory: prefer [`load`](EventStore::load),
    /// [`verify_chain`](EventStore::verify_chain) or
    /// [`read_messages`](EventStore::read_messages) on long aggregates.
    async fn read_raw(&self, aggregate_id: &str, from_version: u64) -> Result<Vec<RawRecord>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        let records: Vec<RawRecord> = self
            .read_messages(aggregate_id, 0)
            .await?
            .try_collect()
            .await?;
        if from_version <= 1 {
            return Ok(records);
        }
        Ok(records
            .into_iter()
            .filter(|r| EventBlock::decode(&r.data).map_or(true, |b| b.seq >= from_version))
            .collect())
    }

    /// The stored messages of one aggregate after `after` (a head this store returned:
    /// from an append, a load, or a snapshot), exactly as stored, in stream order. It
    /// reads from the head's stream sequence on, so it costs only the newer messages.
    async fn read_raw_after(&self, aggregate_id: &str, after: &Head) -> Result<Vec<RawRecord>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.read_messages(aggregate_id, after.sequence)
            .await?
            .try_collect()
            .await
    }

    /// Every event of the aggregate's chain, decoded, in order. Messages on its subjects
    /// that are not part of the chain (see [`chain`](crate::ChainReport#which-events-count))
    /// are stepped over and logged; [`verify_chain`](EventStore::verify_chain) locates
    /// them.
    async fn load(&self, aggregate_id: &str) -> Result<Vec<RecordedEvent>> {
        self.load_from(aggregate_id, 1).await
    }

    /// The events of the aggregate's chain from version `from_version` on.
    ///
    /// Fails with [`Error::Truncated`](crate::Error::Truncated) when the chain ends before
    /// the aggregate's [`anchor`](EventStore::anchor) (read first, so that it never runs
    /// ahead of the chain read after it).
    #[tracing::instrument(level = "debug", name = "cim_events.load", skip_all, fields(
        store = tracing::field::Empty, aggregate_id = aggregate_id, from_version = from_version, events = tracing::field::Empty,
        stepped = tracing::field::Empty, version = tracing::field::Empty, cid = tracing::field::Empty,
    ))]
    async fn load_from(&self, aggregate_id: &str, from_version: u64) -> Result<Vec<RecordedEvent>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        let mut watch = crate::observe::read::ReadWatch::start(self.store_kind());
        let mut anchor = ChainAnchor::new(self.anchor(aggregate_id).await?);
        let mut messages = self.read_messages(aggregate_id, 0).await?;
        let mut chain = Follower::new(aggregate_id, None);
        let mut events = Vec::new();
        while let Some(message) = messages.next().await {
            match chain.step(message?) {
                Step::Extends(mut event) => {
                    anchor.extend(event.head());
                    if event.version() >= from_version {
                        crate::crypto::open(self.encryption(), &mut event).await?;
                        events.push(event);
                    }
                }
                Step::Stepped(fault) => {
                    watch.stepped();
                    tracing::warn!(aggregate_id, %fault, "message stepped over: not part of the chain");
                }
            }
        }
        let tail = chain.tail().map_err(Error::BrokenChain)?;
        anchor.finish(aggregate_id).map_err(Error::Truncated)?;
        watch.loaded(events.len(), tail.head.as_ref());
        Ok(events)
    }

    /// Verifies the aggregate's whole chain and reports every fault — a chain that ends
    /// before its [`anchor`](EventStore::anchor) as [`FaultKind::Truncated`](crate::FaultKind::Truncated).
    /// Reads the messages once, as a stream: memory stays flat however long the chain.
    #[tracing::instrument(level = "debug", name = "cim_events.verify_chain", skip_all, fields(
        store = tracing::field::Empty, aggregate_id = aggregate_id, events = tracing::field::Empty,
        faults = tracing::field::Empty, cid = tracing::field::Empty,
    ))]
    async fn verify_chain(&self, aggregate_id: &str) -> Result<ChainReport> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        let watch = crate::observe::read::ReadWatch::start(self.store_kind());
        let anchor = self.anchor(aggregate_id).await?;
        let mut messages = self.read_messages(aggregate_id, 0).await?;
        let mut verifier = Verifier::new(self.subject_prefix(), aggregate_id).with_anchor(anchor);
        while let Some(message) = messages.next().await {
            verifier.check(&message?);
        }
        let report = verifier.finish();
        watch.verified(&report);
        Ok(report)
    }

    /// Whether today's chain extends `trusted`, a head CID trusted earlier (published,
    /// signed, kept in an audit log): the chain must hold that event and continue from it
    /// without a fault. The report says where it is, where the chain ends, and where the
    /// two part if they do ([`Divergence`](crate::Divergence)); it carries the whole
    /// chain's verification too. Reads the messages once, as a stream.
    ///
    /// ```
    /// # use cim_events::{Event, EventStore, MemoryEventStore};
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Ping { id: String }
    /// # impl Event for Ping {
    /// #     fn event_type(&self) -> &str { "Ping" }
    /// #     fn aggregate_id(&self) -> &str { &self.id }
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryEventStore::new();
    /// let trusted = store.append_event("p-1", Ping { id: "p-1".into() }, None).await?.cid;
    /// store.append_event("p-1", Ping { id: "p-1".into() }, None).await?;
    /// let report = store.verify_from("p-1", trusted).await?;
    /// assert!(report.extends());
    /// assert_eq!(report.found.map(|h| h.version), Some(1));
    /// # Ok::<(), cim_events::Error>(()) }).unwrap();
    /// ```
    async fn verify_from(&self, aggregate_id: &str, trusted: Cid) -> Result<ExtensionReport> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        let anchor = self.anchor(aggregate_id).await?;
        let mut messages = self.read_messages(aggregate_id, 0).await?;
        let mut check = ExtensionCheck::new(self.subject_prefix(), aggregate_id, trusted, anchor);
        while let Some(message) = messages.next().await {
            check.check(message?);
        }
        Ok(check.finish())
    }

    /// Whether the aggregate's chain is intact: the seed API's short form of
    /// [`verify_chain`](EventStore::verify_chain).
    async fn validate_cid_chain(&self, aggregate_id: &str) -> Result<bool> {
        Ok(self.verify_chain(aggregate_id).await?.is_valid())
    }

    /// Streams the events `selector` selects (see [`EventSelector`]), from `start`, then
    /// live, in stream order: [`subscribe_filters`](EventStore::subscribe_filters) on its
    /// [`subject_filters`](EventSelector::subject_filters), keeping the events of its
    /// aggregate types (the server filters by event type name, the client by the block's
    /// `aggregate_type`).
    async fn subscribe_selected(
        &self,
        selector: &EventSelector,
        start: StartFrom,
    ) -> Result<EventStream> {
        let filters = selector.subject_filters(self.subject_prefix());
        let stream = self.subscribe_filters(&filters, start).await?;
        let selector = selector.clone();
        Ok(Box::pin(stream.filter(move |item| {
            let keep = item.as_ref().map_or(true, |event| selector.matches(event));
            std::future::ready(keep)
        })))
    }

    /// Live events of one aggregate, from now on.
    async fn subscribe_to_events(&self, aggregate_id: &str) -> Result<EventStream> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        let filter = aggregate_filter(self.subject_prefix(), aggregate_id);
        self.subscribe(&filter, StartFrom::Now).await
    }
}
