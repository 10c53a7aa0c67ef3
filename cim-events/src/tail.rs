//! Where an aggregate's subject ends, as an append needs to know it.

use crate::head::Head;

/// The end of an aggregate's history as a store sees it: the head of its chain, and the
/// stream sequence of the last message stored on the aggregate's subjects.
///
/// The two differ only when messages that are not part of the chain (a foreign writer's,
/// undecodable, or of another aggregate) were stored after the head. An append chains its
/// events to [`head`](Tail::head), and the server checks that nothing was stored on the
/// subject since [`last_sequence`](Tail::last_sequence) — JetStream checks exactly the last
/// message, so the two must be kept apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tail {
    /// The newest event of the chain, `None` for an aggregate without events.
    pub head: Option<Head>,
    /// Stream sequence of the last message on the aggregate's subjects, event or not
    /// (0: none).
    pub last_sequence: u64,
    /// The aggregate type of the chain (from its head's block), `None` without events.
    pub aggregate_type: Option<String>,
}

impl Tail {
    /// The tail of a chain whose newest event `head` is also the last message stored.
    pub fn at(head: Head, aggregate_type: impl Into<String>) -> Tail {
        Tail {
            head: Some(head),
            last_sequence: head.sequence,
            aggregate_type: Some(aggregate_type.into()),
        }
    }

    /// The aggregate's version: the head's, 0 without events.
    pub fn version(&self) -> u64 {
        self.head.map_or(0, |h| h.version)
    }
}
