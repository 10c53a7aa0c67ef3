//! The `EventStore` trait: what every store offers, whatever engine is under it.

use std::pin::Pin;

use async_trait::async_trait;
use cid::Cid;
use futures::Stream;

use crate::error::Result;
use crate::event::Event;
use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::header::EventHeader;
use crate::metadata::EventMetadata;
use crate::record::{RawRecord, RecordedEvent};
use crate::seal::{NewEvent, prepare};
use crate::subject::{TokenKind, aggregate_filter, validate_token};
use crate::verify::{ChainReport, verify_records};

/// A stream of stored events, in stream order. Errors (a malformed message, a lost
/// connection) are items too; the stream goes on after a decode error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RecordedEvent>> + Send>>;

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
    /// Only events stored after the subscription starts.
    #[default]
    Now,
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

    /// Appends prepared events to one aggregate atomically: all are stored, chained after
    /// the head, or none is. Fails with a conflict if the head does not match `expected`.
    async fn append_prepared(
        &self,
        aggregate_id: &str,
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>>;

    /// The stored messages of one aggregate whose version is at least `from_version`,
    /// exactly as stored, in stream order.
    async fn read_raw(&self, aggregate_id: &str, from_version: u64) -> Result<Vec<RawRecord>>;

    /// The aggregate's head, `None` if it has no events.
    async fn head(&self, aggregate_id: &str) -> Result<Option<Head>>;

    /// Streams the events whose subjects match `filter` (e.g. `events.>`,
    /// `events.order-1.>`, `events.*.OrderCreated`), from `start`, then live, each once and
    /// in stream order.
    async fn subscribe(&self, filter: &str, start: StartFrom) -> Result<EventStream>;

    /// The ids of every aggregate with at least one event.
    async fn aggregate_ids(&self) -> Result<Vec<String>>;

    /// The stream sequence of the newest stored message, 0 when the store is empty: with a
    /// projection's checkpoint, its lag (`last_sequence - checkpoint.sequence` messages at
    /// most). One request on JetStream (stream info), the log length in memory. The
    /// provided implementation, for stores that do not override it, takes the newest
    /// head of every aggregate, which costs one read per aggregate.
    async fn last_sequence(&self) -> Result<u64> {
        let mut last = 0;
        for id in self.aggregate_ids().await? {
            if let Some(head) = self.head(&id).await? {
                last = last.max(head.sequence);
            }
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
        if events.is_empty() {
            return Err(crate::Error::EmptyAppend);
        }
        let prepared = prepare(aggregate_id, &events, &header)?;
        self.append_prepared(aggregate_id, prepared, expected).await
    }

    /// Every event of the aggregate, decoded, in order.
    async fn load(&self, aggregate_id: &str) -> Result<Vec<RecordedEvent>> {
        self.load_from(aggregate_id, 1).await
    }

    /// The aggregate's events from version `from_version` on.
    async fn load_from(&self, aggregate_id: &str, from_version: u64) -> Result<Vec<RecordedEvent>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.read_raw(aggregate_id, from_version)
            .await?
            .into_iter()
            .map(RecordedEvent::from_raw)
            .collect()
    }

    /// Verifies the aggregate's whole chain and reports every fault.
    async fn verify_chain(&self, aggregate_id: &str) -> Result<ChainReport> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        let records = self.read_raw(aggregate_id, 1).await?;
        Ok(verify_records(
            self.subject_prefix(),
            aggregate_id,
            &records,
        ))
    }

    /// Whether the aggregate's chain is intact: the seed API's short form of
    /// [`verify_chain`](EventStore::verify_chain).
    async fn validate_cid_chain(&self, aggregate_id: &str) -> Result<bool> {
        Ok(self.verify_chain(aggregate_id).await?.is_valid())
    }

    /// Live events of one aggregate, from now on.
    async fn subscribe_to_events(&self, aggregate_id: &str) -> Result<EventStream> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        let filter = aggregate_filter(self.subject_prefix(), aggregate_id);
        self.subscribe(&filter, StartFrom::Now).await
    }
}
