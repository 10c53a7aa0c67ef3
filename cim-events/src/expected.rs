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
}

impl ExpectedVersion {
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
        }
    }
}
