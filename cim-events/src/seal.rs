//! Turning domain events into sealed blocks: validated, chained to the head, encoded and
//! hashed. Pure functions, shared by every store so that all write the same bytes.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::block::{DecodeError, EventBlock, cid_of};
use crate::command_id::COMMAND_META_KEY;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::head::Head;
use crate::header::EventHeader;
use crate::metadata::EventMetadata;
use crate::subject::{TokenKind, event_subject, validate_token};
use crate::wire_headers as h;

/// The most events one atomic append may hold: JetStream's limit for one atomic batch,
/// which every store applies so that code moves between stores unchanged.
pub const MAX_BATCH: usize = 1000;

/// An event ready to be chained: everything but its version and `prev` link, which depend
/// on the head at the moment of the write. Public only through
/// [`test_util`](crate::test_util), for tests that build blocks with fixed ids and times.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Aggregate type.
    pub aggregate_type: String,
    /// Event type.
    pub event_type: String,
    /// Payload schema version.
    pub schema: u32,
    /// Event id (UUIDv7).
    pub id: String,
    /// Nanoseconds since the Unix epoch, UTC.
    pub time: u64,
    /// Correlation id.
    pub correlation_id: String,
    /// Causation id.
    pub causation_id: Option<String>,
    /// User metadata.
    pub meta: BTreeMap<String, String>,
    /// Normalized IPLD payload.
    pub payload: Ipld,
}

/// Prepares the events of one append: checks that each belongs to `aggregate_id`, that
/// every token is safe and that the correlation and causation ids can travel in a message
/// header, converts the payloads, and assigns ids, times and correlation. Nothing is
/// stored if this fails.
pub fn prepare<E: Event>(
    aggregate_id: &str,
    events: &[E],
    header: &EventHeader,
) -> Result<Vec<NewEvent>> {
    validate_token(TokenKind::AggregateId, aggregate_id)?;
    check_header_value("correlation_id", &header.correlation_id)?;
    if let Some(causation) = &header.causation_id {
        check_header_value("causation_id", causation)?;
    }
    let mut meta = header.metadata.clone();
    if let Some(command) = &header.command_id {
        meta.insert(COMMAND_META_KEY.to_owned(), command.as_str().to_owned());
    }
    let mut out: Vec<NewEvent> = Vec::with_capacity(events.len());
    for event in events {
        if event.is_retired() {
            return Err(Error::RetiredEvent {
                event_type: event.event_type().to_owned(),
            });
        }
        if let Some(found) = event.carried_id().filter(|found| *found != aggregate_id) {
            return Err(Error::AggregateMismatch {
                expected: aggregate_id.to_owned(),
                found: found.to_owned(),
            });
        }
        validate_token(TokenKind::EventType, event.event_type())?;
        validate_token(TokenKind::AggregateType, event.aggregate_type())?;
        if let Some(first) = out
            .first()
            .filter(|f| f.aggregate_type != event.aggregate_type())
        {
            return Err(Error::AggregateTypeMismatch {
                aggregate_id: aggregate_id.to_owned(),
                chain: first.aggregate_type.clone(),
                event: event.aggregate_type().to_owned(),
            });
        }
        // A command with an id seals the same blocks every time it is sent.
        let (id, time) = match &header.command_id {
            Some(command) => (
                command.event_id(aggregate_id, out.len()),
                command.issued_nanos(),
            ),
            None => (uuid::Uuid::now_v7().to_string(), now_nanos()),
        };
        let correlation_id = match (header.correlation_id.as_str(), out.first()) {
            ("", None) => id.clone(),
            ("", Some(first)) => first.correlation_id.clone(),
            (given, _) => given.to_owned(),
        };
        out.push(NewEvent {
            aggregate_type: event.aggregate_type().to_owned(),
            event_type: event.event_type().to_owned(),
            schema: event.schema_version(),
            id,
            time,
            correlation_id,
            causation_id: header.causation_id.clone(),
            meta: meta.clone(),
            payload: event.to_payload()?,
        });
    }
    Ok(out)
}

/// A correlation or causation id travels in a message header as well as in the block, so
/// it must be a valid header value: no line breaks or other control characters.
fn check_header_value(field: &'static str, value: &str) -> Result<()> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(Error::InvalidHeaderValue {
            field,
            value: value.to_owned(),
            problem: format!("holds the control character {c:?}"),
        }),
        None => Ok(()),
    }
}

/// An event chained to its predecessor and encoded: the exact bytes to store. A store
/// implementing [`EventStore::publish`](crate::EventStore::publish) receives these and
/// stores each one's [`bytes`](SealedEvent::bytes) under its
/// [`subject`](SealedEvent::subject) with its [`headers`](SealedEvent::headers).
#[derive(Debug, Clone, PartialEq)]
pub struct SealedEvent {
    /// The block.
    pub block: EventBlock,
    /// Its DAG-CBOR bytes.
    pub bytes: bytes::Bytes,
    /// Its CID.
    pub cid: Cid,
    /// The subject to store it under.
    pub subject: String,
    /// The W3C trace context to send as the `traceparent` header (not in the block).
    pub traceparent: Option<crate::traceparent::Traceparent>,
}

/// Chains `events` after `head` (`None`: a new aggregate) and encodes them. A head whose
/// version leaves no room for the events (a forged version near `u64::MAX`) is
/// [`Error::Decode`] naming the head's stream sequence.
pub fn seal(
    prefix: &str,
    aggregate_id: &str,
    head: Option<&Head>,
    events: &[NewEvent],
) -> Result<Vec<SealedEvent>> {
    let mut prev = head.map(|h| h.cid);
    // No version comes after u64::MAX. No real chain gets there (it takes 2^64 events), so
    // a head that leaves no room for the events is a foreign writer's, and its version is
    // what is wrong with it.
    let first = head.map_or(Some(1), |h| h.version.checked_add(1));
    let last = first.and_then(|first| first.checked_add(events.len().saturating_sub(1) as u64));
    let (Some(first), Some(last)) = (first, last) else {
        return Err(Error::Decode {
            sequence: head.map_or(0, |h| h.sequence),
            source: DecodeError::Header(h::CIM_SEQ),
        });
    };
    let mut out = Vec::with_capacity(events.len());
    for (seq, event) in (first..=last).zip(events) {
        let block = EventBlock {
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: aggregate_id.to_owned(),
            seq,
            event_type: event.event_type.clone(),
            schema: event.schema,
            id: event.id.clone(),
            time: event.time,
            correlation_id: event.correlation_id.clone(),
            causation_id: event.causation_id.clone(),
            prev,
            payload: event.payload.clone(),
            meta: event.meta.clone(),
        };
        let bytes = block.encode()?;
        let cid = cid_of(&bytes);
        prev = Some(cid);
        out.push(SealedEvent {
            subject: event_subject(prefix, aggregate_id, &block.event_type),
            block,
            bytes: bytes.into(),
            cid,
            traceparent: None,
        });
    }
    Ok(out)
}

/// Checks what every store checks before an append: a safe aggregate id, and between one
/// and [`MAX_BATCH`] events.
pub(crate) fn check_append(aggregate_id: &str, count: usize) -> Result<()> {
    validate_token(TokenKind::AggregateId, aggregate_id)?;
    match count {
        0 => Err(Error::EmptyAppend),
        count if count > MAX_BATCH => Err(Error::BatchTooLarge {
            count,
            max: MAX_BATCH,
        }),
        _ => Ok(()),
    }
}

/// Rejects events whose encoding exceeds `max` bytes, before anything is stored.
pub(crate) fn check_sizes(sealed: &[SealedEvent], max: usize) -> Result<()> {
    match sealed.iter().find(|s| s.bytes.len() > max) {
        Some(s) => Err(Error::EventTooLarge {
            event_type: s.block.event_type.clone(),
            size: s.bytes.len(),
            max,
        }),
        None => Ok(()),
    }
}

impl SealedEvent {
    /// The message headers that accompany the block.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let cid = self.cid.to_string();
        let mut headers = vec![
            (h::NATS_MSG_ID, cid.clone()),
            (h::CIM_CID, cid),
            (h::CIM_SEQ, self.block.seq.to_string()),
            (h::CIM_AGGREGATE_TYPE, self.block.aggregate_type.clone()),
            (h::CIM_EVENT_TYPE, self.block.event_type.clone()),
            (h::CIM_CORRELATION_ID, self.block.correlation_id.clone()),
        ];
        if let Some(prev) = self.block.prev {
            headers.push((h::CIM_PREV, prev.to_string()));
        }
        if let Some(causation) = &self.block.causation_id {
            headers.push((h::CIM_CAUSATION_ID, causation.clone()));
        }
        if let Some(traceparent) = &self.traceparent {
            headers.push((h::TRACEPARENT, traceparent.to_string()));
        }
        headers
    }

    /// What the append returns once the event is stored at stream `sequence`.
    pub fn metadata(&self, sequence: u64) -> EventMetadata {
        EventMetadata::of_block(&self.block, self.cid, &self.subject, sequence)
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
