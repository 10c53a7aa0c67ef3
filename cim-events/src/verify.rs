//! Chain verification: pure functions over stored records that locate every fault.

use std::fmt;

use cid::Cid;

use crate::anchor::ChainAnchor;
use crate::block::{DecodeError, EventBlock, cid_of};
use crate::chain::{claimed_cid, header_faults};
use crate::head::Head;
use crate::record::RawRecord;

/// The outcome of verifying one aggregate's chain.
///
/// # Which events count
///
/// An aggregate's chain is read from its messages in stream order: a message extends it
/// when its block decodes, belongs to the aggregate, hashes to the CID its headers claim,
/// holds the next version and links to the chain's head. Every other message is a located
/// [`ChainFault`] — stepped over by loads and replays, never the base of an append, and
/// reported here. A header that disagrees with its block is a fault too, but the block is
/// the truth. Without signatures a well-formed block that links correctly cannot be told
/// from an honest one: anyone allowed to publish on an aggregate's subjects can extend it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainReport {
    /// The aggregate verified.
    pub aggregate_id: String,
    /// How many stored messages were examined.
    pub events: u64,
    /// CID of the last event examined (computed from its bytes).
    pub head: Option<Cid>,
    /// Every fault found, in stream order — but a [`FaultKind::Truncated`], known only once
    /// the chain has ended, comes last. Empty means the chain is intact.
    pub faults: Vec<ChainFault>,
}

impl ChainReport {
    /// Whether the chain is intact.
    pub fn is_valid(&self) -> bool {
        self.faults.is_empty()
    }
}

/// One fault, located at the stored message where it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainFault {
    /// Stream sequence of the faulty message.
    pub sequence: u64,
    /// Aggregate version the block claims, when it could be decoded.
    pub version: Option<u64>,
    /// What is wrong.
    pub kind: FaultKind,
}

/// What is wrong at one place in a chain.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FaultKind {
    /// The message body is not an event block.
    Undecodable(DecodeError),
    /// The bytes do not hash to the CID the message claims (`Cim-Cid` / `Nats-Msg-Id`):
    /// the block was altered after it was written.
    HashMismatch {
        /// The CID the headers claim.
        claimed: String,
        /// The CID of the stored bytes.
        actual: Cid,
    },
    /// `prev` does not point at the previous event (or is missing, or present on the
    /// first event).
    BrokenLink {
        /// CID of the previous stored event (`None` for the first event).
        expected: Option<Cid>,
        /// What the block's `prev` holds.
        found: Option<Cid>,
    },
    /// One or more versions are missing before this event.
    SequenceGap {
        /// The version that should come next.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// The version repeats or goes backwards.
    DuplicateSequence {
        /// The version that should come next.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// A header or the subject disagrees with the block.
    HeaderMismatch {
        /// The header (or `subject`).
        header: &'static str,
        /// What the header holds (`None`: absent).
        header_value: Option<String>,
        /// What the block says.
        block_value: String,
    },
    /// The block belongs to another aggregate.
    WrongAggregate {
        /// The aggregate the block names.
        found: String,
    },
    /// The chain ends before the head recorded as the aggregate's anchor (or holds another
    /// event at that version): acknowledged events are missing. Located at the anchored
    /// stream sequence and version.
    Truncated {
        /// The version the anchor records.
        anchored_version: u64,
        /// The CID the anchor records at that version.
        anchored_cid: Cid,
        /// The version the chain reaches (0: no events).
        found_version: u64,
    },
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Undecodable(e) => write!(f, "undecodable block: {e}"),
            FaultKind::HashMismatch { claimed, actual } => {
                write!(f, "bytes hash to {actual}, headers claim {claimed}")
            }
            FaultKind::BrokenLink { expected, found } => write!(
                f,
                "prev is {}, expected {}",
                found.map_or("null".to_owned(), |c| c.to_string()),
                expected.map_or("null".to_owned(), |c| c.to_string())
            ),
            FaultKind::SequenceGap { expected, found } => {
                write!(f, "version {found} follows a gap (expected {expected})")
            }
            FaultKind::DuplicateSequence { expected, found } => {
                write!(
                    f,
                    "version {found} repeats or goes back (expected {expected})"
                )
            }
            FaultKind::HeaderMismatch {
                header,
                header_value,
                block_value,
            } => write!(
                f,
                "{header} is {:?}, block says {block_value:?}",
                header_value.as_deref().unwrap_or("<absent>")
            ),
            FaultKind::WrongAggregate { found } => {
                write!(f, "block belongs to aggregate `{found}`")
            }
            FaultKind::Truncated {
                anchored_version,
                anchored_cid,
                found_version,
            } => write!(
                f,
                "truncated: the anchor records version {anchored_version} ({anchored_cid}), \
                 the chain reaches version {found_version} without it"
            ),
        }
    }
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream sequence {}", self.sequence)?;
        if let Some(v) = self.version {
            write!(f, " (version {v})")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// Verifies the records of one aggregate, in stream order, stored under subject `prefix`:
/// [`Verifier`] over a slice.
pub fn verify_records(prefix: &str, aggregate_id: &str, records: &[RawRecord]) -> ChainReport {
    let mut verifier = Verifier::new(prefix, aggregate_id);
    for record in records {
        verifier.check(record);
    }
    verifier.finish()
}

/// Verifies one aggregate's records as they stream by, in stream order, holding only the
/// faults and a few positions: memory stays flat however long the chain.
///
/// Each record is hashed as stored and checked against its headers, its predecessor and
/// the aggregate. A fault is reported once, where it shows, and the events after it are
/// not blamed for it:
///
/// - an altered block is a [`FaultKind::HashMismatch`] there; the next block, which still
///   links to the CID the altered one claims, is fine;
/// - a damaged (undecodable) event is [`FaultKind::Undecodable`]; the next block may link
///   to the CID its headers claim, and otherwise is checked against the last good event
///   (the undecodable message was an intruder);
/// - a block of another aggregate is [`FaultKind::WrongAggregate`] and nothing else: it is
///   not part of this chain;
/// - a version that repeats is [`FaultKind::DuplicateSequence`] and does not become the
///   chain's tip, so the event that follows the original is fine;
/// - after a [`FaultKind::SequenceGap`] the missing events explain a `prev` that points
///   elsewhere, so no [`FaultKind::BrokenLink`] is added there.
#[derive(Debug, Clone)]
pub struct Verifier {
    prefix: String,
    aggregate_id: String,
    faults: Vec<ChainFault>,
    /// The last event accepted into the chain.
    tip: Option<Position>,
    /// An undecodable record after the tip, which may be a damaged event the next links to.
    damaged: Option<Position>,
    head: Option<Cid>,
    events: u64,
    /// The aggregate's anchor, which the chain must reach.
    anchor: ChainAnchor,
}

impl Verifier {
    /// A verifier of `aggregate_id`'s chain stored under `prefix`.
    pub fn new(prefix: &str, aggregate_id: &str) -> Verifier {
        Verifier {
            prefix: prefix.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            faults: Vec::new(),
            tip: None,
            damaged: None,
            head: None,
            events: 0,
            anchor: ChainAnchor::new(None),
        }
    }

    /// Also checks the chain against `anchor`, the aggregate's head as recorded outside
    /// the chain: a chain that ends before it, or holds another event at its version, is
    /// reported as [`FaultKind::Truncated`]. A chain beyond the anchor is not blamed.
    pub fn with_anchor(mut self, anchor: Option<Head>) -> Verifier {
        self.anchor = ChainAnchor::new(anchor);
        self
    }

    /// Checks the next record in stream order.
    pub fn check(&mut self, record: &RawRecord) {
        self.events += 1;
        let actual = cid_of(&record.data);
        self.head = Some(actual);
        let faults = &mut self.faults;
        let mut fault = |version, kind| {
            faults.push(ChainFault {
                sequence: record.sequence,
                version,
                kind,
            })
        };
        let claimed = claimed_cid(record);
        let claimed_cid = claimed.and_then(|c| c.parse::<Cid>().ok());
        let block = match EventBlock::decode(&record.data) {
            Ok(block) => block,
            Err(e) => {
                fault(None, FaultKind::Undecodable(e));
                let version = record
                    .version_from_headers()
                    .unwrap_or_else(|| self.tip.map_or(1, |t| t.version.saturating_add(1)));
                self.damaged = Some(Position {
                    actual,
                    claimed: claimed_cid,
                    version,
                });
                return;
            }
        };
        let version = Some(block.seq);
        if block.aggregate_id != self.aggregate_id {
            fault(
                version,
                FaultKind::WrongAggregate {
                    found: block.aggregate_id.clone(),
                },
            );
            return;
        }
        if let Some(claimed) = claimed {
            if claimed_cid != Some(actual) {
                fault(
                    version,
                    FaultKind::HashMismatch {
                        claimed: claimed.to_owned(),
                        actual,
                    },
                );
            }
        }
        // A damaged (undecodable) message the block links to is its predecessor — unless
        // the block links to the tip itself: then the undecodable message only claimed an
        // event already in the chain.
        let predecessor = match self.damaged.take() {
            Some(d) if d.is(block.prev) && !self.tip.is_some_and(|t| t.is(block.prev)) => Some(d),
            _ => self.tip,
        };
        let expected_seq = predecessor.map_or(1, |p| p.version.saturating_add(1));
        // No version follows u64::MAX: after a (forged) event there, anything repeats.
        let past_the_end = predecessor.is_some_and(|p| p.version == u64::MAX);
        let mut extends_chain = true;
        if block.seq > expected_seq {
            fault(
                version,
                FaultKind::SequenceGap {
                    expected: expected_seq,
                    found: block.seq,
                },
            );
        } else if block.seq < expected_seq || past_the_end {
            fault(
                version,
                FaultKind::DuplicateSequence {
                    expected: expected_seq,
                    found: block.seq,
                },
            );
            extends_chain = false;
        } else if !predecessor.map_or(block.prev.is_none(), |p| p.is(block.prev)) {
            fault(
                version,
                FaultKind::BrokenLink {
                    expected: predecessor.map(|p| p.actual),
                    found: block.prev,
                },
            );
        }
        for kind in header_faults(&self.prefix, record, &block, actual) {
            fault(version, kind);
        }
        if extends_chain {
            self.anchor.extend(Head {
                version: block.seq,
                cid: actual,
                sequence: record.sequence,
            });
            self.tip = Some(Position {
                actual,
                claimed: claimed_cid,
                version: block.seq,
            });
        }
    }

    /// The report on every record checked.
    pub fn finish(mut self) -> ChainReport {
        if let Some(fault) = self.anchor.fault(&self.aggregate_id) {
            self.faults.push(fault);
        }
        ChainReport {
            aggregate_id: self.aggregate_id,
            events: self.events,
            head: self.head,
            faults: self.faults,
        }
    }
}

/// A place in the chain a later event may link to.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// CID of the stored bytes.
    actual: Cid,
    /// CID the headers claim, which differs from `actual` when the bytes were altered.
    claimed: Option<Cid>,
    /// Aggregate version.
    version: u64,
}

impl Position {
    /// Whether `prev` points here, at the stored bytes or at what they claim to be.
    fn is(&self, prev: Option<Cid>) -> bool {
        prev.is_some() && (prev == Some(self.actual) || prev == self.claimed)
    }
}
