//! The events of one append, prepared once so that a retry re-sends the same events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::crypto::Crypto;
use crate::error::Result;
use crate::event::Event;
use crate::head::Head;
use crate::header::EventHeader;
use crate::schema::registry::ShapeSource;
use crate::seal::{NewEvent, SealedEvent, check_append, prepare, seal};
use crate::tail::Tail;
use crate::traceparent::Traceparent;

/// The events of one append, prepared once: validated, converted to IPLD, with their ids,
/// times and correlation fixed.
///
/// Every append prepares its events, and a failed append stores nothing — except when
/// its outcome is unknown: a timeout or a lost connection after the request went out
/// ([`Error::is_transient`](crate::Error::is_transient)). The events may then be stored
/// although the call failed. Preparing them again would give them new ids and times, hence
/// new CIDs, so a retry with [`append_events`](crate::EventStore::append_events) could
/// store them twice.
///
/// A `PreparedAppend` is stored at most once. Appending the *same* `PreparedAppend` again
/// through [`append_prepared`](crate::EventStore::append_prepared) — after a transient
/// error, or after a success whose answer was lost to the caller — first looks whether an
/// earlier attempt landed on that store and, if it did, returns the metadata of the stored
/// events (same CIDs, same stream sequences) without storing anything, whatever the
/// expectation. Only events of which no attempt is known to have been stored are
/// appended. A clone carries what its original knows; to store the same events twice on
/// purpose, prepare them twice.
///
/// ```
/// use cim_events::{Event, EventHeader, EventStore, ExpectedVersion, MemoryEventStore, PreparedAppend};
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Noted { id: String }
/// # impl Event for Noted {
/// #     fn event_type(&self) -> &str { "Noted" }
/// #     fn aggregate_id(&self) -> &str { &self.id }
/// # }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryEventStore::new();
/// let prepared = PreparedAppend::new("nb-1", &[Noted { id: "nb-1".into() }], &EventHeader::default())?;
/// let stored = loop {
///     match store.append_prepared(&prepared, ExpectedVersion::Any).await {
///         Err(e) if e.is_transient() => continue, // same events, same ids: never stored twice
///         other => break other?,
///     }
/// };
/// assert_eq!(stored[0].event_id, prepared.event_ids().next().unwrap());
/// // Stored once: appending it again answers where it is.
/// assert_eq!(store.append_prepared(&prepared, ExpectedVersion::Any).await?, stored);
/// assert_eq!(store.load("nb-1").await?.len(), 1);
/// # Ok::<(), cim_events::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct PreparedAppend {
    aggregate_id: String,
    events: Vec<NewEvent>,
    /// The header's trace context: a message header of every event, not in the blocks.
    traceparent: Option<Traceparent>,
    /// The tail the latest attempt that stored the events, or may have (an unknown
    /// outcome), sealed them on: where to look for them on the next append.
    sealed_on: Mutex<Option<Tail>>,
    /// Whether an append found the very blocks it sealed stored already, by another
    /// sender of the same command: stored, but not by this call.
    found_stored: AtomicBool,
    /// Whether the caller knows that the aggregate's chain is of the events' aggregate
    /// type: the repository, which replayed it checking every event's type.
    chain_type_known: bool,
    /// The shapes of the events' type, which the store registers on its first append of it.
    shapes: ShapeSource,
    /// Each event's data subject: whose key encrypts its `Pii` values.
    subjects: Vec<String>,
    /// Whether any event holds a `Pii` value.
    pii: bool,
    /// The events with their payloads encrypted, set by the first append that needed it:
    /// nonces and ciphertexts are chosen once, so a re-seal gives the same blocks.
    encrypted: OnceLock<Vec<NewEvent>>,
}

impl PreparedAppend {
    /// Prepares `events` for aggregate `aggregate_id` with `header`'s correlation,
    /// causation and metadata. Fails, storing nothing, on an invalid id or event type, an
    /// event of another aggregate, a payload IPLD cannot hold, an id that cannot travel in
    /// a header, or an empty or oversized batch.
    pub fn new<E: Event>(aggregate_id: &str, events: &[E], header: &EventHeader) -> Result<Self> {
        check_append(aggregate_id, events.len())?;
        let prepared = prepare(aggregate_id, events, header)?;
        let pii = prepared
            .iter()
            .any(|event| crate::crypto::marks(&event.payload).pii > 0);
        Ok(PreparedAppend {
            subjects: events
                .iter()
                .map(|event| event.data_subject().unwrap_or(aggregate_id).to_owned())
                .collect(),
            pii,
            encrypted: OnceLock::new(),
            aggregate_id: aggregate_id.to_owned(),
            events: prepared,
            traceparent: header.traceparent.clone(),
            sealed_on: Mutex::new(None),
            found_stored: AtomicBool::new(false),
            chain_type_known: false,
            shapes: ShapeSource::of::<E>(),
        })
    }

    /// The aggregate the events belong to.
    pub fn aggregate_id(&self) -> &str {
        &self.aggregate_id
    }

    /// How many events the append holds (at least one).
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Always `false`: an append holds at least one event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events' ids (UUIDv7), in order: what the stored events' metadata will carry.
    pub fn event_ids(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| e.id.as_str())
    }

    /// Marks the aggregate's chain as known to be of the events' aggregate type, so that an
    /// append after a known head need not read it to check.
    pub(crate) fn chain_type_known(mut self) -> Self {
        self.chain_type_known = true;
        self
    }

    /// Records `value` under `key` in every event's `meta` (a commit id, a command id):
    /// part of the blocks, so of their CIDs. Only before the first append.
    pub(crate) fn with_meta(mut self, key: &str, value: &str) -> Self {
        for event in &mut self.events {
            event.meta.insert(key.to_owned(), value.to_owned());
        }
        self
    }

    pub(crate) fn is_chain_type_known(&self) -> bool {
        self.chain_type_known
    }

    /// Where the shapes of the events' type come from.
    pub(crate) fn shapes(&self) -> ShapeSource {
        self.shapes
    }

    /// The aggregate type of the events.
    pub(crate) fn aggregate_type(&self) -> &str {
        self.events
            .first()
            .map_or("", |event| event.aggregate_type.as_str())
    }

    /// Encrypts the events' payloads with `crypto` the first time an append needs it; a
    /// later call (a retry, a re-seal) keeps the same ciphertexts. Without `crypto`, events
    /// holding `Pii` values are refused with
    /// [`CryptoError::MissingKeyStore`](crate::crypto::CryptoError::MissingKeyStore).
    pub(crate) async fn encrypt(&self, crypto: Option<&Crypto>) -> Result<()> {
        let whole = crypto.is_some_and(Crypto::encrypts_whole_payloads);
        if self.encrypted.get().is_some() || !(self.pii || whole) {
            return Ok(());
        }
        let encrypted =
            crate::crypto::encrypt_events(crypto, &self.aggregate_id, &self.events, &self.subjects)
                .await?;
        if let Some(events) = encrypted {
            // Two appends of one `PreparedAppend` at once: the first to finish wins, and
            // both seal what it set.
            let _ = self.encrypted.set(events);
        }
        Ok(())
    }

    /// The data keys (`{kid}:{version}`) the encrypted events are under: empty before
    /// [`encrypt`](Self::encrypt), or without encrypted values.
    pub(crate) fn data_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.encrypted
            .get()
            .into_iter()
            .flatten()
            .flat_map(|event| crate::crypto::key_versions_of(&event.payload))
    }

    /// Seals the events after `head` under `prefix`, with the trace context.
    pub(crate) fn seal(&self, prefix: &str, head: Option<&Head>) -> Result<Vec<SealedEvent>> {
        let events = self.encrypted.get().unwrap_or(&self.events);
        let mut sealed = seal(prefix, &self.aggregate_id, head, events)?;
        for event in &mut sealed {
            event.traceparent.clone_from(&self.traceparent);
        }
        Ok(sealed)
    }

    /// Whether the last append found these very blocks stored already (a command with an
    /// id, sent twice at once): the events are stored, but not by that append.
    pub(crate) fn was_found_stored(&self) -> bool {
        self.found_stored.load(Ordering::Relaxed)
    }

    /// Records that an append found the blocks stored already.
    pub(crate) fn set_found_stored(&self) {
        self.found_stored.store(true, Ordering::Relaxed);
    }

    /// The tail an attempt that stored the events, or may have, sealed them on.
    pub(crate) fn sealed_on(&self) -> Option<Tail> {
        self.sealed_on
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Records that an attempt sealed on `tail` stored the events, or may have.
    pub(crate) fn set_sealed_on(&self, tail: Tail) {
        *self
            .sealed_on
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(tail);
    }
}

impl Clone for PreparedAppend {
    fn clone(&self) -> Self {
        PreparedAppend {
            aggregate_id: self.aggregate_id.clone(),
            events: self.events.clone(),
            traceparent: self.traceparent.clone(),
            sealed_on: Mutex::new(self.sealed_on()),
            found_stored: AtomicBool::new(self.was_found_stored()),
            chain_type_known: self.chain_type_known,
            shapes: self.shapes,
            subjects: self.subjects.clone(),
            pii: self.pii,
            encrypted: self.encrypted.clone(),
        }
    }
}
