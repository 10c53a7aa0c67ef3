//! The events of one append, prepared once so that a retry re-sends the same events.

use std::sync::Mutex;

use crate::error::Result;
use crate::event::Event;
use crate::head::Head;
use crate::header::EventHeader;
use crate::seal::{NewEvent, SealedEvent, check_append, prepare, seal};
use crate::tail::Tail;
use crate::traceparent::Traceparent;

/// The events of one append, prepared once: validated, converted to IPLD, with their ids,
/// times and correlation fixed.
///
/// Every append prepares its events, and a failed append stores nothing — except when
/// its outcome is unknown: a timeout or a lost connection after the request went out
/// ([`Error::is_transient`](crate::Error::is_transient)). The events may then be stored although the call failed.
/// Preparing them again would give them new ids and times, hence new CIDs, so a retry
/// with [`append_events`](crate::EventStore::append_events) could store them twice.
/// Retrying with the *same* `PreparedAppend` through
/// [`append_prepared`](crate::EventStore::append_prepared) is safe: the store first looks
/// whether the earlier attempt landed and, if it did, returns its metadata without
/// storing anything.
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
/// # Ok::<(), cim_events::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct PreparedAppend {
    aggregate_id: String,
    events: Vec<NewEvent>,
    /// The header's trace context: a message header of every event, not in the blocks.
    traceparent: Option<Traceparent>,
    /// The tail the last attempt sealed the events on, once an attempt has failed with an
    /// unknown outcome: where to look for them on the next attempt.
    uncertain: Mutex<Option<Tail>>,
}

impl PreparedAppend {
    /// Prepares `events` for aggregate `aggregate_id` with `header`'s correlation,
    /// causation and metadata. Fails, storing nothing, on an invalid id or event type, an
    /// event of another aggregate, a payload IPLD cannot hold, an id that cannot travel in
    /// a header, or an empty or oversized batch.
    pub fn new<E: Event>(aggregate_id: &str, events: &[E], header: &EventHeader) -> Result<Self> {
        check_append(aggregate_id, events.len())?;
        Ok(PreparedAppend {
            aggregate_id: aggregate_id.to_owned(),
            events: prepare(aggregate_id, events, header)?,
            traceparent: header.traceparent.clone(),
            uncertain: Mutex::new(None),
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

    /// The aggregate type of the events.
    pub(crate) fn aggregate_type(&self) -> &str {
        self.events
            .first()
            .map_or("", |event| event.aggregate_type.as_str())
    }

    /// Seals the events after `head` under `prefix`, with the trace context.
    pub(crate) fn seal(&self, prefix: &str, head: Option<&Head>) -> Result<Vec<SealedEvent>> {
        let mut sealed = seal(prefix, &self.aggregate_id, head, &self.events)?;
        for event in &mut sealed {
            event.traceparent.clone_from(&self.traceparent);
        }
        Ok(sealed)
    }

    pub(crate) fn uncertain(&self) -> Option<Tail> {
        self.uncertain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set_uncertain(&self, tail: Option<Tail>) {
        *self
            .uncertain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tail;
    }
}

impl Clone for PreparedAppend {
    fn clone(&self) -> Self {
        PreparedAppend {
            aggregate_id: self.aggregate_id.clone(),
            events: self.events.clone(),
            traceparent: self.traceparent.clone(),
            uncertain: Mutex::new(self.uncertain()),
        }
    }
}
