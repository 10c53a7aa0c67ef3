//! What an append returns about each stored event.

use cid::Cid;

use crate::block::EventBlock;
use crate::head::Head;

/// Where and how an event was stored. Every append returns one per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    /// Stream sequence: the event's position in the whole store.
    pub sequence: u64,
    /// Aggregate version: 1 for the aggregate's first event.
    pub version: u64,
    /// The event's content address.
    pub cid: Cid,
    /// The aggregate's previous event, `None` for the first one.
    pub previous_cid: Option<Cid>,
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Nanoseconds since the Unix epoch, UTC.
    pub time: u64,
    /// The aggregate the event belongs to.
    pub aggregate_id: String,
    /// The event type.
    pub event_type: String,
    /// The subject the event was stored under.
    pub subject: String,
    /// Correlation id.
    pub correlation_id: String,
    /// Causation id.
    pub causation_id: Option<String>,
}

impl EventMetadata {
    /// The head this event made: what to pass as [`ExpectedVersion::After`](crate::ExpectedVersion::After)
    /// to append right after it without reading the aggregate first.
    pub fn head(&self) -> Head {
        Head {
            version: self.version,
            cid: self.cid,
            sequence: self.sequence,
        }
    }

    /// The metadata of `block`, stored with `cid` under `subject` at stream `sequence`.
    pub fn of_block(block: &EventBlock, cid: Cid, subject: &str, sequence: u64) -> Self {
        EventMetadata {
            sequence,
            version: block.seq,
            cid,
            previous_cid: block.prev,
            event_id: block.id.clone(),
            time: block.time,
            aggregate_id: block.aggregate_id.clone(),
            event_type: block.event_type.clone(),
            subject: subject.to_owned(),
            correlation_id: block.correlation_id.clone(),
            causation_id: block.causation_id.clone(),
        }
    }
}
