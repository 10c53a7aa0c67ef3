//! Stored messages: raw as a store holds them, and decoded.

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::block::{DecodeError, EventBlock, cid_of};
use crate::crypto::CryptoError;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::head::Head;
use crate::metadata::EventMetadata;
use crate::payload::PayloadProblem;
use crate::traceparent::Traceparent;
use crate::wire_headers::{CIM_CID, CIM_SEQ, TRACEPARENT};

/// A message exactly as a store holds it: subject, headers and body bytes. It may be
/// anything a writer put there, valid or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Stream sequence.
    pub sequence: u64,
    /// Subject the message was stored under.
    pub subject: String,
    /// Message headers, in order.
    pub headers: Vec<(String, String)>,
    /// Message body: for a valid event, the DAG-CBOR block.
    pub data: Bytes,
}

impl RawRecord {
    /// The first value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The head this record represents, read from its headers alone (no decoding), as a
    /// store does to find an aggregate's head cheaply.
    pub fn head_from_headers(&self) -> Result<Head> {
        let bad = |h| Error::Decode {
            sequence: self.sequence,
            source: DecodeError::Header(h),
        };
        let cid = self
            .header(CIM_CID)
            .and_then(|v| v.parse::<Cid>().ok())
            .ok_or_else(|| bad(CIM_CID))?;
        let version = self.version_from_headers().ok_or_else(|| bad(CIM_SEQ))?;
        Ok(Head {
            version,
            cid,
            sequence: self.sequence,
        })
    }

    /// The aggregate version its `Cim-Seq` header claims, if that is a number: all a
    /// version filter needs, without parsing the CID.
    pub(crate) fn version_from_headers(&self) -> Option<u64> {
        self.header(CIM_SEQ).and_then(|v| v.parse().ok())
    }

    /// The W3C trace context its `traceparent` header carries, if that is valid. Headers
    /// are hints: an invalid one is ignored, never an error.
    pub fn traceparent(&self) -> Option<Traceparent> {
        self.header(TRACEPARENT)
            .and_then(|v| Traceparent::parse(v).ok())
    }
}

/// A stored event, decoded: its block, CID (the hash of the stored bytes) and position.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Stream sequence.
    pub sequence: u64,
    /// Subject the event was stored under.
    pub subject: String,
    /// CID computed from the stored bytes.
    pub cid: Cid,
    /// The decoded block.
    pub block: EventBlock,
    /// The stored bytes, exactly.
    pub bytes: Bytes,
    /// The `traceparent` message header, if valid (not part of the block).
    pub(crate) traceparent: Option<Traceparent>,
    /// The payload with its encrypted values decrypted (or marked shredded), when the
    /// store that read it has [encryption](crate::EventStore::encryption) and the payload
    /// holds encrypted values. `block` and `bytes` stay exactly as stored.
    pub(crate) opened: Option<Opened>,
}

/// A stored payload with its encrypted values decrypted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Opened {
    /// The payload, decrypted (shredded values as the shredded marker).
    pub payload: Ipld,
    /// The data keys (`{kid}:{version}`) of the values that decrypted: whose plaintext a
    /// state built from this event holds.
    pub keys: std::collections::BTreeSet<String>,
}

impl RecordedEvent {
    /// Decodes a raw record. A message that is not an event in wire format v1 is
    /// [`Error::Decode`] naming its stream sequence.
    pub fn from_raw(raw: RawRecord) -> Result<RecordedEvent> {
        let block = EventBlock::decode(&raw.data).map_err(|source| Error::Decode {
            sequence: raw.sequence,
            source,
        })?;
        Ok(RecordedEvent {
            traceparent: raw.traceparent(),
            sequence: raw.sequence,
            subject: raw.subject,
            cid: cid_of(&raw.data),
            block,
            bytes: raw.data,
            opened: None,
        })
    }

    /// The W3C trace context of the command that caused the event (its `traceparent`
    /// message header), if it had one: set with
    /// [`EventHeader::with_traceparent`](crate::EventHeader::with_traceparent).
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_ref().map(Traceparent::as_str)
    }

    /// [`traceparent`](RecordedEvent::traceparent), parsed.
    pub fn trace_context(&self) -> Option<&Traceparent> {
        self.traceparent.as_ref()
    }

    /// Aggregate version of the event.
    pub fn version(&self) -> u64 {
        self.block.seq
    }

    /// Event type.
    pub fn event_type(&self) -> &str {
        &self.block.event_type
    }

    /// When the event happened (its block's `time`).
    pub fn time(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(self.block.time)
    }

    /// The correlation the event belongs to.
    pub fn correlation_id(&self) -> &str {
        &self.block.correlation_id
    }

    /// Aggregate id.
    pub fn aggregate_id(&self) -> &str {
        &self.block.aggregate_id
    }

    /// The payload decoded into the domain event type `E`: with its encrypted values
    /// decrypted if the store that read it has [encryption](crate::EventStore::encryption)
    /// (a shredded value reads as [`Pii::Shredded`](crate::Pii::Shredded)).
    pub fn decode<E: Event>(&self) -> Result<E> {
        let payload = self
            .opened
            .as_ref()
            .map_or(&self.block.payload, |opened| &opened.payload);
        self.decode_payload(payload.clone())
    }

    /// Like [`decode`](RecordedEvent::decode), but consumes the record so the payload is
    /// moved rather than copied: for replays, which decode every event once.
    pub fn into_event<E: Event>(mut self) -> Result<E> {
        let payload = match self.opened.take() {
            Some(opened) => opened.payload,
            None => std::mem::replace(&mut self.block.payload, Ipld::Null),
        };
        self.decode_payload(payload)
    }

    /// The data keys this event's encrypted values are under (see
    /// [`crypto`](crate::crypto)), as stored: empty for an event without any.
    pub fn data_keys(&self) -> Vec<crate::crypto::KeyIdHash> {
        crate::crypto::kids_of(&self.block.payload)
    }

    fn decode_payload<E: Event>(&self, payload: Ipld) -> Result<E> {
        if let Some(error) = crate::crypto::unreadable_whole(&payload, &self.block.payload) {
            return Err(Error::Crypto(Box::new(error)));
        }
        E::from_payload(&self.block.event_type, self.block.schema, payload).map_err(|source| {
            if let PayloadProblem::StillEncrypted = source.problem {
                return Error::Crypto(Box::new(CryptoError::MissingKeyStore { path: source.path }));
            }
            Error::PayloadDecode {
                sequence: self.sequence,
                event_type: self.block.event_type.clone(),
                schema: self.block.schema,
                aggregate_id: self.block.aggregate_id.clone(),
                version: self.block.seq,
                source: Box::new(source),
            }
        })
    }

    /// The same facts an append returned for this event.
    pub fn metadata(&self) -> EventMetadata {
        EventMetadata::of_block(&self.block, self.cid, &self.subject, self.sequence)
    }

    /// The head this event makes when it is the newest of its aggregate.
    pub fn head(&self) -> Head {
        Head {
            version: self.block.seq,
            cid: self.cid,
            sequence: self.sequence,
        }
    }
}
