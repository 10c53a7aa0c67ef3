//! Whether today's chain extends a head trusted earlier: the check behind
//! [`EventStore::verify_from`](crate::EventStore::verify_from). Pure, over stored records.
//!
//! A head someone trusted (a CID published, signed, pinned or kept in an audit log) commits
//! to the whole history before it. Today's chain extends it when that CID is one of its
//! events and the chain goes on from it without a fault; otherwise the report says where
//! the two part.

use cid::Cid;

use crate::block::{EventBlock, cid_of};
use crate::chain::{Follower, Step};
use crate::head::Head;
use crate::record::RawRecord;
use crate::verify::{ChainFault, ChainReport, FaultKind, Verifier};

/// How today's chain of one aggregate stands towards a head trusted earlier.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExtensionReport {
    /// The aggregate verified.
    pub aggregate_id: String,
    /// The CID trusted earlier.
    pub trusted: Cid,
    /// Where the trusted event is in today's chain (its version and stream sequence);
    /// `None` when it is not part of it.
    pub found: Option<Head>,
    /// Today's head: the newest event of the chain (`None`: no events).
    pub head: Option<Head>,
    /// Where today's chain stops extending the trusted head; `None` when it extends it.
    pub divergence: Option<Divergence>,
    /// The verification of today's whole chain, every fault located.
    pub chain: ChainReport,
}

impl ExtensionReport {
    /// Whether today's chain holds the trusted event and continues from it without a fault.
    pub fn extends(&self) -> bool {
        self.divergence.is_none()
    }
}

/// Where today's chain parts from a head trusted earlier.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Divergence {
    /// No stored message of the aggregate is the trusted event: the chain was truncated
    /// before it, or rewritten. [`ExtensionReport::head`] says where today's chain ends.
    Missing,
    /// The trusted event is stored, but it is not part of today's chain: the chain holds
    /// another event at its version (or broke before it).
    NotInChain {
        /// Stream sequence of the stored trusted event.
        sequence: u64,
        /// Its aggregate version, when its block decodes.
        version: Option<u64>,
    },
    /// The chain holds the trusted event, but is faulty after it (a truncation included):
    /// the first such fault.
    FaultAfter(ChainFault),
}

/// Follows one aggregate's messages in stream order, looking for a trusted head.
#[derive(Debug)]
pub(crate) struct ExtensionCheck {
    trusted: Cid,
    follower: Follower,
    verifier: Verifier,
    found: Option<Head>,
    head: Option<Head>,
    /// Where the trusted event is stored, when it is stored but not (yet) in the chain.
    stored: Option<(u64, Option<u64>)>,
}

impl ExtensionCheck {
    /// A check of `aggregate_id`'s chain (stored under `prefix`) against `trusted`, and
    /// against the aggregate's `anchor` if it has one.
    pub(crate) fn new(
        prefix: &str,
        aggregate_id: &str,
        trusted: Cid,
        anchor: Option<Head>,
    ) -> ExtensionCheck {
        ExtensionCheck {
            trusted,
            follower: Follower::new(aggregate_id, None),
            verifier: Verifier::new(prefix, aggregate_id).with_anchor(anchor),
            found: None,
            head: None,
            stored: None,
        }
    }

    /// Checks the next message in stream order.
    pub(crate) fn check(&mut self, record: RawRecord) {
        self.verifier.check(&record);
        if self.stored.is_none() && cid_of(&record.data) == self.trusted {
            let version = EventBlock::decode(&record.data).ok().map(|b| b.seq);
            self.stored = Some((record.sequence, version));
        }
        if let Step::Extends(event) = self.follower.step(record) {
            let head = event.head();
            if event.cid == self.trusted && self.found.is_none() {
                self.found = Some(head);
            }
            self.head = Some(head);
        }
    }

    /// The report on every message checked.
    pub(crate) fn finish(self) -> ExtensionReport {
        let chain = self.verifier.finish();
        let divergence = match (self.found, self.stored) {
            (None, None) => Some(Divergence::Missing),
            (None, Some((sequence, version))) => Some(Divergence::NotInChain { sequence, version }),
            (Some(found), _) => chain
                .faults
                .iter()
                .find(|f| {
                    f.sequence > found.sequence || matches!(f.kind, FaultKind::Truncated { .. })
                })
                .cloned()
                .map(Divergence::FaultAfter),
        };
        ExtensionReport {
            aggregate_id: chain.aggregate_id.clone(),
            trusted: self.trusted,
            found: self.found,
            head: self.head,
            divergence,
            chain,
        }
    }
}
