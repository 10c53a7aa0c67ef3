//! What an append expects to find at the aggregate's head (optimistic concurrency).

use std::fmt;

use cid::Cid;

use crate::head::Head;

/// The state an append expects the aggregate to be in. If the store finds anything else,
/// the append fails with [`Error::Conflict`](crate::Error::Conflict) and nothing is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpectedVersion {
    /// Append after whatever the head is. The chain stays linear: the store resolves races
    /// itself (on JetStream with a bounded number of retries).
    #[default]
    Any,
    /// The aggregate must have no events yet.
    NoStream,
    /// The aggregate's newest event must have exactly this version.
    Exact(u64),
    /// The aggregate's newest event must have exactly this CID.
    Head(Cid),
    /// The aggregate's newest event must be exactly this head, which the caller knows
    /// (from an append's [`EventMetadata::head`](crate::EventMetadata::head) or a load):
    /// the store then publishes at once, with the head's stream sequence in the server's
    /// concurrency check, and reads the aggregate only if the server refuses.
    After(Head),
}

impl ExpectedVersion {
    /// The head to publish after without reading the aggregate first, if this
    /// expectation names one.
    pub(crate) fn known_head(&self) -> Option<Head> {
        match self {
            ExpectedVersion::After(head) => Some(*head),
            _ => None,
        }
    }

    /// Whether `head` satisfies this expectation.
    pub fn matches(&self, head: Option<&Head>) -> bool {
        match (self, head) {
            (ExpectedVersion::Any, _) => true,
            (ExpectedVersion::NoStream, None) => true,
            (ExpectedVersion::NoStream, Some(_)) => false,
            (ExpectedVersion::Exact(0), None) => true,
            (ExpectedVersion::Exact(v), Some(h)) => h.version == *v,
            (ExpectedVersion::Exact(_), None) => false,
            (ExpectedVersion::Head(c), Some(h)) => h.cid == *c,
            (ExpectedVersion::Head(_), None) => false,
            (ExpectedVersion::After(a), Some(h)) => a.cid == h.cid && a.version == h.version,
            (ExpectedVersion::After(_), None) => false,
        }
    }
}

impl From<Option<Cid>> for ExpectedVersion {
    /// The seed API's `Option<Cid>`: `None` appends after the current head, `Some(cid)`
    /// requires the head to be `cid`.
    fn from(previous: Option<Cid>) -> Self {
        previous.map_or(ExpectedVersion::Any, ExpectedVersion::Head)
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
            ExpectedVersion::Head(c) => write!(f, "head {c}"),
            ExpectedVersion::After(h) => write!(f, "head {} (version {})", h.cid, h.version),
        }
    }
}
