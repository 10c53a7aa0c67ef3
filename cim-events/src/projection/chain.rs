//! Chain verification for the events a runner consumes: each event must follow the last
//! event of its aggregate that the runner applied.

use std::collections::HashMap;

use crate::head::Head;
use crate::record::RecordedEvent;
use crate::repository::BrokenChain;

/// The last applied event of every aggregate seen since the runner was created.
///
/// An aggregate's first event *seen* is checked only on its own (version 1 must not link
/// anywhere): after a restart the runner starts mid-stream and does not know what came
/// before. From then on every event must be the next version and link to the CID of the
/// one before it. The CIDs compared are computed from the stored bytes, never read from
/// headers. Memory grows with the number of aggregates seen.
#[derive(Debug, Default)]
pub(crate) struct ChainWatch {
    heads: HashMap<String, Head>,
}

impl ChainWatch {
    /// Checks that `event` may be applied next.
    pub(crate) fn check(&self, event: &RecordedEvent) -> Result<(), Box<BrokenChain>> {
        let aggregate_id = event.aggregate_id();
        let (expected_version, expected_prev) = match self.heads.get(aggregate_id) {
            Some(head) => (head.version + 1, Some(head.cid)),
            // First sight: only a first event can be checked without history.
            None if event.version() == 1 => (1, None),
            None => return Ok(()),
        };
        if event.version() == expected_version && event.block.prev == expected_prev {
            return Ok(());
        }
        Err(Box::new(BrokenChain {
            aggregate_id: aggregate_id.to_owned(),
            sequence: event.sequence,
            expected_version,
            expected_prev,
            found_version: event.version(),
            found_prev: event.block.prev,
        }))
    }

    /// Records `event` as its aggregate's last applied event.
    pub(crate) fn record(&mut self, event: &RecordedEvent) {
        self.heads
            .insert(event.aggregate_id().to_owned(), event.head());
    }
}
