//! Rebuilding a state from stored records, checking that they form one chain.

use cid::Cid;

use crate::aggregate::Aggregate;
use crate::head::Head;
use crate::record::{RawRecord, RecordedEvent};

use super::error::{BrokenChain, LoadError};

/// Where a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// The newest event applied, or the starting head if there was none.
    pub head: Option<Head>,
    /// How many events were applied.
    pub count: u64,
}

impl Replayed {
    /// The aggregate version reached.
    pub(crate) fn version(&self) -> u64 {
        self.head.map_or(0, |h| h.version)
    }
}

/// Applies `records` to `state`, in order, after `start` (`None`: from the first event).
///
/// Each record must be the next version and link to the CID of the one before it (the
/// CID computed from the stored bytes, not one read from a header), so a replay never
/// builds a state from a history with a gap, a duplicate or a foreign event in it.
pub(crate) fn replay<A: Aggregate>(
    state: &mut A,
    aggregate_id: &str,
    records: impl IntoIterator<Item = RawRecord>,
    start: Option<Head>,
) -> Result<Replayed, LoadError> {
    let mut head = start;
    let mut count = 0;
    for raw in records {
        let expected_version = head.map_or(0, |h| h.version) + 1;
        let expected_prev: Option<Cid> = head.map(|h| h.cid);
        let recorded = RecordedEvent::from_raw(raw).map_err(|source| LoadError::Decode {
            aggregate_id: aggregate_id.to_owned(),
            version: expected_version,
            source: Box::new(source),
        })?;
        if recorded.version() != expected_version || recorded.block.prev != expected_prev {
            return Err(LoadError::BrokenChain(Box::new(BrokenChain {
                aggregate_id: aggregate_id.to_owned(),
                sequence: recorded.sequence,
                expected_version,
                expected_prev,
                found_version: recorded.version(),
                found_prev: recorded.block.prev,
            })));
        }
        let recorded_head = recorded.head();
        let event = recorded
            .into_event::<A::Event>()
            .map_err(|source| LoadError::Decode {
                aggregate_id: aggregate_id.to_owned(),
                version: expected_version,
                source: Box::new(source),
            })?;
        state.apply(&event);
        head = Some(recorded_head);
        count += 1;
    }
    Ok(Replayed { head, count })
}
