//! What a committed transaction hands back.

use std::any::Any;
use std::fmt;

use crate::aggregate::Aggregate;
use crate::metadata::EventMetadata;

/// One aggregate's events in a committed transaction.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommittedAggregate {
    /// The aggregate.
    pub aggregate_id: String,
    /// Its aggregate type.
    pub aggregate_type: &'static str,
    /// The events stored for it, in order.
    pub events: Vec<EventMetadata>,
}

/// What a [`Transaction`](crate::Transaction) stored: every aggregate's events, stored
/// together, and the states after them.
#[non_exhaustive]
pub struct Committed {
    /// The commit id every stored event records under
    /// [`COMMIT_META_KEY`](crate::COMMIT_META_KEY); `None` when the decision stored
    /// nothing.
    pub commit_id: Option<String>,
    /// How many times the decision was made: 1, plus one per conflict retried.
    pub attempts: u32,
    /// Whether the transaction's [`CommandId`](crate::CommandId) was committed before: the
    /// decision stopped at the first aggregate found holding it, nothing was stored, and
    /// `aggregates` holds that aggregate's events of the original commit.
    pub deduplicated: bool,
    /// The aggregates with stored events, in the order the decision first touched them.
    pub aggregates: Vec<CommittedAggregate>,
    /// Every aggregate the decision loaded, with its state after the commit.
    pub(crate) states: Vec<(String, Box<dyn Any + Send + Sync>)>,
}

impl Committed {
    /// The state of aggregate `aggregate_id` after the commit, if the decision loaded it as
    /// an `A`.
    pub fn state<A: Aggregate>(&self, aggregate_id: &str) -> Option<&A> {
        self.states
            .iter()
            .find(|(id, _)| id == aggregate_id)
            .and_then(|(_, state)| state.downcast_ref())
    }

    /// The events stored for `aggregate_id` (empty if none).
    pub fn events_of(&self, aggregate_id: &str) -> &[EventMetadata] {
        self.aggregates
            .iter()
            .find(|a| a.aggregate_id == aggregate_id)
            .map_or(&[], |a| a.events.as_slice())
    }

    /// How many events were stored in all.
    pub fn event_count(&self) -> usize {
        self.aggregates.iter().map(|a| a.events.len()).sum()
    }
}

impl fmt::Debug for Committed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Committed")
            .field("commit_id", &self.commit_id)
            .field("attempts", &self.attempts)
            .field("aggregates", &self.aggregates)
            .finish_non_exhaustive()
    }
}
