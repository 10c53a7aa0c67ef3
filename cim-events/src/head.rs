//! The head of an aggregate's chain.

use cid::Cid;

/// Where an aggregate's chain ends: its newest event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Head {
    /// Aggregate version of the newest event (1 for the first event).
    pub version: u64,
    /// CID of the newest event.
    pub cid: Cid,
    /// Stream sequence at which the newest event is stored.
    pub sequence: u64,
}
