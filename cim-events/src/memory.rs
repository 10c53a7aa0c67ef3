//! `MemoryEventStore`: the embedded store. Same chain, same bytes, same guarantees as the
//! JetStream store, kept in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::error::{ConflictError, Result};
use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::metadata::EventMetadata;
use crate::record::{RawRecord, RecordedEvent};
use crate::seal::{NewEvent, check_append, check_sizes, seal};
use crate::store::{EventStore, EventStream, StartFrom};
use crate::subject::{
    DEFAULT_PREFIX, TokenKind, subject_matches, validate_prefix, validate_subscription,
    validate_token,
};

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
    state: Mutex<State>,
    /// The newest stream sequence, for live subscriptions.
    last: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Every message, stream sequence `n` at index `n - 1`.
    log: Vec<RawRecord>,
    /// Per aggregate, the indexes of its messages in `log`.
    aggregates: BTreeMap<String, Vec<usize>>,
}

/// Configures a [`MemoryEventStore`].
#[derive(Debug, Clone)]
pub struct MemoryEventStoreBuilder {
    prefix: String,
    max_event_size: usize,
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
    /// stream could. Meant for tests of verification and decoding. Returns its sequence.
    pub fn insert_raw(&self, subject: &str, headers: Vec<(String, String)>, data: Bytes) -> u64 {
        let mut state = self.lock();
        let aggregate = subject
            .strip_prefix(self.shared.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.split('.').next())
            .map(str::to_owned);
        let sequence = state.log.len() as u64 + 1;
        state.log.push(RawRecord {
            sequence,
            subject: subject.to_owned(),
            headers,
            data,
        });
        if let Some(aggregate) = aggregate {
            state
                .aggregates
                .entry(aggregate)
                .or_default()
                .push(sequence as usize - 1);
        }
        drop(state);
        self.shared.last.send_replace(sequence);
        sequence
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the log half-written (every write
        // is one push after all checks), so a poisoned lock is safe to use.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        match self.aggregates.get(aggregate_id).and_then(|ix| ix.last()) {
            Some(&i) => self.log[i].head_from_headers().map(Some),
            None => Ok(None),
        }
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
                state: Mutex::new(State::default()),
                last: watch::channel(0).0,
            }),
        }
    }
}

impl Default for MemoryEventStoreBuilder {
    fn default() -> Self {
        MemoryEventStoreBuilder {
            prefix: DEFAULT_PREFIX.to_owned(),
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
        }
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    fn subject_prefix(&self) -> &str {
        &self.shared.prefix
    }

    async fn append_prepared(
        &self,
        aggregate_id: &str,
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        check_append(aggregate_id, &events)?;
        let mut state = self.lock();
        let head = state.head(aggregate_id)?;
        if !expected.matches(head.as_ref()) {
            return Err(ConflictError {
                aggregate_id: aggregate_id.to_owned(),
                expected,
                actual: head,
            }
            .into());
        }
        let sealed = seal(&self.shared.prefix, aggregate_id, head.as_ref(), &events)?;
        check_sizes(&sealed, self.shared.max_event_size)?;
        let mut stored = Vec::with_capacity(sealed.len());
        for event in sealed {
            let sequence = state.log.len() as u64 + 1;
            let headers = event
                .headers()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            stored.push(event.metadata(sequence));
            state.log.push(RawRecord {
                sequence,
                subject: event.subject,
                headers,
                data: Bytes::from(event.bytes),
            });
            state
                .aggregates
                .entry(aggregate_id.to_owned())
                .or_default()
                .push(sequence as usize - 1);
        }
        let last = state.log.len() as u64;
        drop(state);
        self.shared.last.send_replace(last);
        Ok(stored)
    }

    async fn read_raw(&self, aggregate_id: &str, from_version: u64) -> Result<Vec<RawRecord>> {
        let state = self.lock();
        let Some(indexes) = state.aggregates.get(aggregate_id) else {
            return Ok(Vec::new());
        };
        Ok(indexes
            .iter()
            .map(|&i| &state.log[i])
            // A record without a readable version is kept: decoding it reports the fault.
            .filter(|r| r.version_from_headers().is_none_or(|v| v >= from_version))
            .cloned()
            .collect())
    }

    async fn head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        self.lock().head(aggregate_id)
    }

    async fn subscribe(&self, filter: &str, start: StartFrom) -> Result<EventStream> {
        validate_subscription(&self.shared.prefix, filter)?;
        let first = match start {
            StartFrom::Beginning | StartFrom::Version(_) => 1,
            StartFrom::Sequence(s) => s.max(1),
            StartFrom::Now => self.lock().log.len() as u64 + 1,
        };
        let min_version = match start {
            StartFrom::Version(v) => v,
            _ => 0,
        };
        let cursor = Cursor {
            store: self.clone(),
            filter: filter.to_owned(),
            next: first,
            min_version,
            last: self.shared.last.subscribe(),
        };
        Ok(Box::pin(futures::stream::unfold(cursor, Cursor::next)))
    }

    async fn aggregate_ids(&self) -> Result<Vec<String>> {
        Ok(self.lock().aggregates.keys().cloned().collect())
    }

    async fn last_sequence(&self) -> Result<u64> {
        Ok(self.lock().log.len() as u64)
    }
}

/// A subscription's position in the log. It reads the log itself, so a slow consumer
/// never loses events and the switch from catch-up to live has no gap.
struct Cursor {
    store: MemoryEventStore,
    filter: String,
    next: u64,
    min_version: u64,
    last: watch::Receiver<u64>,
}

impl Cursor {
    async fn next(mut self) -> Option<(Result<RecordedEvent>, Cursor)> {
        loop {
            let found = {
                let state = self.store.lock();
                // `next` may lie beyond the log (a subscription from a future sequence);
                // then nothing is found, and nothing before `next` may be delivered later.
                let from = usize::try_from(self.next - 1).unwrap_or(usize::MAX);
                let found = state.log.get(from..).and_then(|rest| {
                    rest.iter()
                        .find(|r| subject_matches(&self.filter, &r.subject))
                        .cloned()
                });
                if found.is_none() {
                    self.next = self.next.max(state.log.len() as u64 + 1);
                }
                found
            };
            match found {
                Some(record) => {
                    self.next = record.sequence + 1;
                    let event = RecordedEvent::from_raw(record);
                    if matches!(&event, Ok(e) if e.version() < self.min_version) {
                        continue;
                    }
                    return Some((event, self));
                }
                // The sender lives as long as the store; if it is gone, so are the events.
                None => self.last.changed().await.ok()?,
            }
        }
    }
}

impl std::fmt::Debug for MemoryEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryEventStore")
            .field("prefix", &self.shared.prefix)
            .field("events", &state.log.len())
            .field("aggregates", &state.aggregates.len())
            .finish()
    }
}
