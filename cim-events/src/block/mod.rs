//! Wire format v1: one event is one DAG-CBOR block addressed by a CIDv1 (sha2-256).
//!
//! Encoding and decoding are pure functions. The bytes a store keeps are exactly the bytes
//! hashed into the CID, so verifying an event is hashing what is stored, never re-encoding.
//! For that to mean anything, a block has exactly one encoding: [`EventBlock::encode`]
//! writes canonical DAG-CBOR, and [`EventBlock::decode`] refuses bytes that are not
//! canonical ([`check_canonical`]) before it reads them.
//!
//! The `payload` is the event's own fields, except that a [`Pii`](crate::Pii) value
//! written through a store with encryption is an encrypted node: a one-entry map
//! `{"/cim-enc": {alg, kid, key, at, nonce, ct}}`, ordinary DAG-CBOR that any IPLD tool
//! reads and that the CID covers like any other value (see
//! [`crypto`](crate::crypto#wire-format) for each key and the associated data). Map keys
//! beginning with `/cim-` are reserved for these shapes.

mod canonical;
mod encode;

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;
use sha2::{Digest, Sha256};

pub use canonical::{CanonicalProblem, check_canonical};
pub use encode::encode_ipld;

use crate::payload::MAX_DEPTH;

/// The wire format version this crate writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// Multicodec code of DAG-CBOR.
pub const DAG_CBOR: u64 = 0x71;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;
/// The deepest nesting of lists and maps in a block: its own map around a payload of
/// [`MAX_DEPTH`] levels (`meta` is one level inside the block too, and so never the
/// deepest).
pub const BLOCK_MAX_DEPTH: usize = MAX_DEPTH + 1;

/// The decoded content of one event block (wire format v1).
#[derive(Debug, Clone, PartialEq)]
pub struct EventBlock {
    /// Aggregate type, e.g. `Account`.
    pub aggregate_type: String,
    /// Aggregate id: one NATS subject token.
    pub aggregate_id: String,
    /// Aggregate version: 1 for the first event.
    pub seq: u64,
    /// Event type, e.g. `Deposited`.
    pub event_type: String,
    /// Payload schema version (for upcasting).
    pub schema: u32,
    /// Event id (UUIDv7).
    pub id: String,
    /// Nanoseconds since the Unix epoch, UTC.
    pub time: u64,
    /// Correlation id.
    pub correlation_id: String,
    /// Causation id, if the event was caused by another event or command.
    pub causation_id: Option<String>,
    /// The previous event of this aggregate; `None` exactly when `seq` is 1.
    pub prev: Option<Cid>,
    /// The user's event data.
    pub payload: Ipld,
    /// User metadata.
    pub meta: BTreeMap<String, String>,
}

/// Why bytes are not an event block of wire format v1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The DAG-CBOR reader refused bytes that passed the canonical check. Malformed and
    /// non-canonical bytes are [`DecodeError::NotCanonical`], which locates the fault; this
    /// remains for whatever else the reader refuses.
    #[error("not DAG-CBOR: {0}")]
    Cbor(String),
    /// The bytes are not canonical DAG-CBOR (which includes not being CBOR at all): a strict
    /// IPLD reader would refuse them, or they would not re-encode to the same bytes and so
    /// not to the same CID.
    #[error("not canonical DAG-CBOR at byte {offset}: {problem}")]
    NotCanonical {
        /// Where the fault starts, from the first byte of the block.
        offset: usize,
        /// What it is.
        problem: CanonicalProblem,
    },
    /// The block is not a map.
    #[error("the block is not a map")]
    NotAMap,
    /// A required key is missing.
    #[error("key `{0}` is missing")]
    MissingKey(&'static str),
    /// A key that wire format v1 does not have.
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A key holds a value of the wrong type.
    #[error("key `{key}` should be {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What it should hold.
        expected: &'static str,
    },
    /// A format version this crate does not read.
    #[error("format version {0} is not supported (this crate reads version {FORMAT_VERSION})")]
    UnsupportedVersion(i128),
    /// A message header required by the format is missing or malformed.
    #[error("header `{0}` is missing or malformed")]
    Header(&'static str),
}

/// Computes the CIDv1 (dag-cbor, sha2-256) of block bytes.
pub fn cid_of(bytes: &[u8]) -> Cid {
    let digest = Sha256::digest(bytes);
    let hash = cid::multihash::Multihash::<64>::wrap(SHA2_256, &digest)
        .expect("a sha2-256 digest always fits in 64 bytes");
    Cid::new_v1(DAG_CBOR, hash)
}

impl EventBlock {
    /// The block as an IPLD map with exactly the keys of wire format v1.
    pub fn to_ipld(&self) -> Ipld {
        let s = |v: &str| Ipld::String(v.to_owned());
        let map = BTreeMap::from([
            ("v".to_owned(), Ipld::Integer(FORMAT_VERSION.into())),
            ("aggregate_type".to_owned(), s(&self.aggregate_type)),
            ("aggregate_id".to_owned(), s(&self.aggregate_id)),
            ("seq".to_owned(), Ipld::Integer(self.seq.into())),
            ("event_type".to_owned(), s(&self.event_type)),
            ("schema".to_owned(), Ipld::Integer(self.schema.into())),
            ("id".to_owned(), s(&self.id)),
            ("time".to_owned(), Ipld::Integer(self.time.into())),
            ("correlation_id".to_owned(), s(&self.correlation_id)),
            (
                "causation_id".to_owned(),
                self.causation_id.as_deref().map_or(Ipld::Null, s),
            ),
            ("prev".to_owned(), self.prev.map_or(Ipld::Null, Ipld::Link)),
            ("payload".to_owned(), self.payload.clone()),
            (
                "meta".to_owned(),
                Ipld::Map(self.meta.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
            ),
        ]);
        Ipld::Map(map)
    }

    /// Encodes the block as canonical DAG-CBOR. The payload must already be normalized
    /// (see [`crate::payload`]); a payload that still cannot be encoded (an integer out of
    /// range, a non-finite float, nesting deeper than [`MAX_DEPTH`]) is an error naming its
    /// path in the payload.
    ///
    /// The envelope is written directly in canonical key order, with no intermediate IPLD
    /// map; the bytes are the same as `serde_ipld_dagcbor::to_vec(&self.to_ipld())`.
    pub fn encode(&self) -> Result<Vec<u8>, crate::payload::PayloadError> {
        encode::write_block(self)
    }

    /// Decodes block bytes, strictly: canonical DAG-CBOR ([`check_canonical`], at most
    /// [`BLOCK_MAX_DEPTH`] levels deep), exactly the keys of wire format v1, each with its
    /// type.
    ///
    /// The canonical check runs first, in one pass over the bytes; then valid blocks take a
    /// typed serde path that accepts a subset of what the strict path
    /// does (every key required, no unknown key, version 1) and is about three times faster;
    /// anything it refuses is decoded again by the strict path, which names the fault.
    pub fn decode(bytes: &[u8]) -> Result<EventBlock, DecodeError> {
        check_canonical(bytes, BLOCK_MAX_DEPTH)
            .map_err(|(offset, problem)| DecodeError::NotCanonical { offset, problem })?;
        match serde_ipld_dagcbor::from_slice::<WireBlock>(bytes) {
            Ok(wire) if wire.v == FORMAT_VERSION => Ok(wire.into()),
            _ => Self::decode_strict(bytes),
        }
    }

    /// The strict decoder: through an IPLD map, checking each key, so that a fault is
    /// reported precisely.
    fn decode_strict(bytes: &[u8]) -> Result<EventBlock, DecodeError> {
        let ipld: Ipld =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| DecodeError::Cbor(e.to_string()))?;
        let Ipld::Map(mut map) = ipld else {
            return Err(DecodeError::NotAMap);
        };
        let mut take = |key: &'static str| map.remove(key).ok_or(DecodeError::MissingKey(key));
        let version = integer(take("v")?, "v")?;
        if version != i128::from(FORMAT_VERSION) {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let block = EventBlock {
            aggregate_type: string(take("aggregate_type")?, "aggregate_type")?,
            aggregate_id: string(take("aggregate_id")?, "aggregate_id")?,
            seq: unsigned(take("seq")?, "seq")?,
            event_type: string(take("event_type")?, "event_type")?,
            schema: u32::try_from(unsigned(take("schema")?, "schema")?).map_err(|_| {
                DecodeError::WrongType {
                    key: "schema",
                    expected: "a 32-bit unsigned integer",
                }
            })?,
            id: string(take("id")?, "id")?,
            time: unsigned(take("time")?, "time")?,
            correlation_id: string(take("correlation_id")?, "correlation_id")?,
            causation_id: match take("causation_id")? {
                Ipld::Null => None,
                other => Some(string(other, "causation_id")?),
            },
            prev: match take("prev")? {
                Ipld::Null => None,
                Ipld::Link(cid) => Some(cid),
                _ => {
                    return Err(DecodeError::WrongType {
                        key: "prev",
                        expected: "a CID link or null",
                    });
                }
            },
            payload: take("payload")?,
            meta: match take("meta")? {
                Ipld::Map(meta) => meta
                    .into_iter()
                    .map(|(k, v)| Ok((k, string(v, "meta")?)))
                    .collect::<Result<_, DecodeError>>()?,
                _ => {
                    return Err(DecodeError::WrongType {
                        key: "meta",
                        expected: "a map of strings",
                    });
                }
            },
        };
        if let Some(key) = map.into_keys().next() {
            return Err(DecodeError::UnknownKey(key));
        }
        Ok(block)
    }
}

/// The typed shape of a v1 block, for the fast decoding path. Nullable keys use
/// `deserialize_with`, so that a missing key is an error rather than `None`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBlock {
    v: u64,
    aggregate_type: String,
    aggregate_id: String,
    seq: u64,
    event_type: String,
    schema: u32,
    id: String,
    time: u64,
    correlation_id: String,
    #[serde(deserialize_with = "nullable")]
    causation_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    prev: Option<Cid>,
    payload: Ipld,
    meta: BTreeMap<String, String>,
}

fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer)
}

impl From<WireBlock> for EventBlock {
    fn from(w: WireBlock) -> Self {
        EventBlock {
            aggregate_type: w.aggregate_type,
            aggregate_id: w.aggregate_id,
            seq: w.seq,
            event_type: w.event_type,
            schema: w.schema,
            id: w.id,
            time: w.time,
            correlation_id: w.correlation_id,
            causation_id: w.causation_id,
            prev: w.prev,
            payload: w.payload,
            meta: w.meta,
        }
    }
}

fn integer(value: Ipld, key: &'static str) -> Result<i128, DecodeError> {
    match value {
        Ipld::Integer(i) => Ok(i),
        _ => Err(DecodeError::WrongType {
            key,
            expected: "an integer",
        }),
    }
}

fn unsigned(value: Ipld, key: &'static str) -> Result<u64, DecodeError> {
    u64::try_from(integer(value, key)?).map_err(|_| DecodeError::WrongType {
        key,
        expected: "an unsigned 64-bit integer",
    })
}

fn string(value: Ipld, key: &'static str) -> Result<String, DecodeError> {
    match value {
        Ipld::String(s) => Ok(s),
        _ => Err(DecodeError::WrongType {
            key,
            expected: "a string",
        }),
    }
}

#[cfg(test)]
mod canonical_tests;
#[cfg(test)]
mod encode_tests;
#[cfg(test)]
mod tests;
