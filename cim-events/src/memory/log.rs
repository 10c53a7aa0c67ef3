//! The memory store's log: every message in stream order, and per aggregate the positions
//! of its messages and where its chain stands.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::chain::Follower;
use crate::error::{Error, Result};
use crate::head::Head;
use crate::record::RawRecord;
use crate::tail::Tail;

/// Every message, and an index per aggregate.
#[derive(Default)]
pub(super) struct Log {
    /// Every message, stream sequence `n` at index `n - 1`.
    pub(super) messages: Vec<RawRecord>,
    /// When each message was stored, by the system clock, at the same index: what a
    /// subscription from a time starts by, as JetStream's stored timestamps are.
    stored_at: Vec<SystemTime>,
    /// Per aggregate, its messages and its chain.
    aggregates: BTreeMap<String, Aggregate>,
}

/// One aggregate's messages and the chain they make.
struct Aggregate {
    /// Indexes of its messages in the log.
    indexes: Vec<usize>,
    /// Where its chain stands, by the chain rule ([`crate::chain`]).
    chain: Follower,
}

impl Log {
    /// The next stream sequence.
    pub(super) fn next_sequence(&self) -> u64 {
        self.messages.len() as u64 + 1
    }

    /// The newest stream sequence (0: empty).
    pub(super) fn last_sequence(&self) -> u64 {
        self.messages.len() as u64
    }

    /// The stream sequence of the first message stored at or after `time` (the next
    /// sequence if there is none). The clock may step back; a message stored before a
    /// later one never counts as newer than it.
    pub(super) fn first_stored_since(&self, time: SystemTime) -> u64 {
        let mut newest = SystemTime::UNIX_EPOCH;
        let index = self
            .stored_at
            .iter()
            .position(|&at| {
                newest = newest.max(at);
                newest >= time
            })
            .unwrap_or(self.stored_at.len());
        index as u64 + 1
    }

    /// The aggregate's tail, or why its chain is broken.
    pub(super) fn tail(&self, aggregate_id: &str) -> Result<Tail> {
        match self.aggregates.get(aggregate_id) {
            Some(aggregate) => Ok(aggregate.chain.tail().map_err(Error::BrokenChain)?.clone()),
            None => Ok(Tail::default()),
        }
    }

    /// The sequence of the aggregate's last message (0: none), whatever the chain says.
    pub(super) fn last_sequence_of(&self, aggregate_id: &str) -> u64 {
        self.aggregates
            .get(aggregate_id)
            .and_then(|a| a.indexes.last())
            .map_or(0, |&i| self.messages[i].sequence)
    }

    /// Appends a message written by the store itself, which extends `aggregate_id`'s
    /// chain to `head`.
    pub(super) fn push_event(
        &mut self,
        aggregate_id: &str,
        record: RawRecord,
        head: Head,
        aggregate_type: &str,
    ) {
        let aggregate = self.aggregate(aggregate_id);
        aggregate.chain.extended(head, aggregate_type);
        self.push(aggregate_id, record);
    }

    /// Appends a message from anywhere (it may be anything): the chain rule decides what
    /// it is to its aggregate's chain.
    #[cfg(any(test, feature = "test-util"))]
    pub(super) fn push_foreign(&mut self, aggregate_id: Option<&str>, record: RawRecord) {
        if let Some(aggregate_id) = aggregate_id {
            let aggregate = self.aggregate(aggregate_id);
            if let crate::chain::Step::Stepped(fault) = aggregate.chain.step(record.clone()) {
                tracing::debug!(aggregate_id, %fault, "foreign message stepped over");
            }
            self.push(aggregate_id, record);
        } else {
            self.messages.push(record);
            self.stored_at.push(SystemTime::now());
        }
    }

    fn aggregate(&mut self, aggregate_id: &str) -> &mut Aggregate {
        self.aggregates
            .entry(aggregate_id.to_owned())
            .or_insert_with(|| Aggregate {
                indexes: Vec::new(),
                chain: Follower::new(aggregate_id, None),
            })
    }

    fn push(&mut self, aggregate_id: &str, record: RawRecord) {
        let index = self.messages.len();
        self.messages.push(record);
        self.stored_at.push(SystemTime::now());
        if let Some(aggregate) = self.aggregates.get_mut(aggregate_id) {
            aggregate.indexes.push(index);
        }
    }

    /// The aggregate's messages stored after stream sequence `after`.
    pub(super) fn messages_after(&self, aggregate_id: &str, after: u64) -> Vec<RawRecord> {
        let Some(aggregate) = self.aggregates.get(aggregate_id) else {
            return Vec::new();
        };
        let start = aggregate
            .indexes
            .partition_point(|&i| self.messages[i].sequence <= after);
        aggregate.indexes[start..]
            .iter()
            .map(|&i| self.messages[i].clone())
            .collect()
    }

    /// The ids of aggregates with at least one message.
    pub(super) fn aggregate_ids(&self) -> Vec<String> {
        self.aggregates.keys().cloned().collect()
    }

    /// How many aggregates have messages.
    pub(super) fn aggregate_count(&self) -> usize {
        self.aggregates.len()
    }
}
