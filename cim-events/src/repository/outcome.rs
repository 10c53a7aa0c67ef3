//! What the repository hands back: a loaded aggregate, and the outcome of a command.

use std::fmt;

use cid::Cid;

use crate::aggregate::Aggregate;
use crate::head::Head;
use crate::metadata::EventMetadata;

use super::snapshots::SnapshotUse;

/// An aggregate rebuilt from its events (and possibly a snapshot).
#[non_exhaustive]
pub struct Loaded<A: Aggregate> {
    /// The state after every stored event.
    pub state: A,
    /// The aggregate's version: the number of its events (0: none yet).
    pub version: u64,
    /// The newest event, `None` if the aggregate has no events.
    pub head: Option<Head>,
    /// How many events were decoded and applied to build the state: all of them, or only
    /// those after the snapshot.
    pub replayed: u64,
    /// Whether a snapshot was used, and if one was ignored, why.
    pub snapshot: SnapshotUse,
    /// The data keys (`{kid}:{version}`) of the encrypted values the state was built from: what a
    /// snapshot of it records, so that it is not served once one of them is shredded.
    pub(crate) data_keys: std::collections::BTreeSet<String>,
}

/// One event a command stored, with what the store recorded about it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommittedEvent<E> {
    /// The domain event, as the handler returned it.
    pub event: E,
    /// Its stream sequence, version, CID, correlation, causation, …
    pub metadata: EventMetadata,
}

/// What a command did when it succeeded.
#[non_exhaustive]
pub struct CommandOutcome<A: Aggregate> {
    /// The events the command stored, in order; empty if the handler decided that
    /// nothing happens (then nothing was appended).
    pub events: Vec<CommittedEvent<A::Event>>,
    /// The aggregate's version after the command.
    pub version: u64,
    /// The aggregate's newest event after the command (`None`: it still has no events).
    pub head: Option<Head>,
    /// The state after the command's events.
    pub state: A,
    /// How many times the command was handled: 1, plus one per conflict retried; 0 when
    /// it was not handled because it had been applied before.
    pub attempts: u32,
    /// Whether the command carried a [`CommandId`](crate::CommandId) that had taken effect
    /// already: found in the chain (then nothing was handled), or sent twice at once and
    /// its very blocks found stored by the other copy. `events` are the ones it stored
    /// then; nothing was stored now.
    pub deduplicated: bool,
}

impl<A: Aggregate> CommandOutcome<A> {
    /// The CID of the aggregate's newest event after the command.
    pub fn head_cid(&self) -> Option<Cid> {
        self.head.map(|h| h.cid)
    }

    /// The metadata of the stored events, in order.
    pub fn metadata(&self) -> impl Iterator<Item = &EventMetadata> {
        self.events.iter().map(|e| &e.metadata)
    }
}

impl<E> CommittedEvent<E> {
    pub(crate) fn new(event: E, metadata: EventMetadata) -> Self {
        CommittedEvent { event, metadata }
    }
}

impl<A> fmt::Debug for Loaded<A>
where
    A: Aggregate + fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("state", &self.state)
            .field("version", &self.version)
            .field("head", &self.head)
            .field("replayed", &self.replayed)
            .field("snapshot", &self.snapshot)
            .finish()
    }
}

impl<A> fmt::Debug for CommandOutcome<A>
where
    A: Aggregate + fmt::Debug,
    A::Event: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandOutcome")
            .field("events", &self.events)
            .field("version", &self.version)
            .field("head", &self.head)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .finish()
    }
}
