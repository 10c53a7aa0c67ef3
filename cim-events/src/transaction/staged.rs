//! One aggregate's part of a transaction: its state, the head it was loaded at, and the
//! events decided for it so far, behind a type-erased face so that one transaction holds
//! aggregates of several types.

use std::any::Any;

use crate::aggregate::Aggregate;
use crate::error::Result;
use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::header::EventHeader;
use crate::prepared::PreparedAppend;

/// An aggregate loaded into a transaction.
pub(crate) struct Staged {
    pub aggregate_id: String,
    pub aggregate_type: &'static str,
    /// The head the aggregate was loaded at: what the commit expects.
    pub head: Option<Head>,
    /// Its version after the events staged so far.
    pub version: u64,
    pub part: Box<dyn Part>,
}

/// The typed half of a [`Staged`]: the state of an `A` and the events staged for it.
pub(crate) trait Part: Send + Sync {
    fn staged(&self) -> usize;
    fn prepare(&self, aggregate_id: &str, header: &EventHeader) -> Result<PreparedAppend>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_state(self: Box<Self>) -> Box<dyn Any + Send + Sync>;
}

/// The state of an `A` and its staged events.
pub(crate) struct Typed<A: Aggregate> {
    pub state: A,
    pub events: Vec<A::Event>,
}

impl<A: Aggregate> Part for Typed<A> {
    fn staged(&self) -> usize {
        self.events.len()
    }

    fn prepare(&self, aggregate_id: &str, header: &EventHeader) -> Result<PreparedAppend> {
        // The state was replayed from a chain of `A`'s events only.
        Ok(PreparedAppend::new(aggregate_id, &self.events, header)?.chain_type_known())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_state(self: Box<Self>) -> Box<dyn Any + Send + Sync> {
        Box::new(self.state)
    }
}

impl Staged {
    /// What the commit expects of the aggregate's head: the one it was loaded at.
    pub(crate) fn expected(&self) -> ExpectedVersion {
        self.head
            .map_or(ExpectedVersion::NoStream, ExpectedVersion::After)
    }
}
