//! Rebuilding a state from stored records, checking that they form one chain.

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
        let expected_version = head.map_or(1, |h| h.version.saturating_add(1));
        let recorded = RecordedEvent::from_raw(raw).map_err(|source| LoadError::Decode {
            aggregate_id: aggregate_id.to_owned(),
            version: expected_version,
            source: Box::new(source),
        })?;
        BrokenChain::check_follows(aggregate_id, head.as_ref(), &recorded)
            .map_err(LoadError::BrokenChain)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::cid_of;
    use crate::header::EventHeader;
    use crate::seal::{prepare, seal};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Ping {
        id: String,
    }

    impl crate::Event for Ping {
        fn event_type(&self) -> &str {
            "Ping"
        }
        fn aggregate_id(&self) -> &str {
            &self.id
        }
    }

    #[derive(Default)]
    struct Pings(u64);

    impl Aggregate for Pings {
        type Event = Ping;
        type Error = std::convert::Infallible;
        const AGGREGATE_TYPE: &'static str = "Ping";
        fn apply(&mut self, _: &Ping) {
            self.0 += 1;
        }
    }

    #[test]
    fn nothing_follows_the_last_possible_version() {
        // A forged head at version u64::MAX (a snapshot can start a replay there), then a
        // block that claims that version again and links to it.
        let head = Head {
            version: u64::MAX,
            cid: cid_of(b"forged head"),
            sequence: 1,
        };
        let prepared =
            prepare("a", &[Ping { id: "a".into() }], &EventHeader::default()).expect("prepare");
        let mut block = seal("events", "a", None, &prepared).expect("seal")[0]
            .block
            .clone();
        block.seq = u64::MAX;
        block.prev = Some(head.cid);
        let record = RawRecord {
            sequence: 2,
            subject: "events.a.Ping".into(),
            headers: Vec::new(),
            data: block.encode().expect("encode").into(),
        };
        let mut state = Pings::default();
        match replay(&mut state, "a", [record], Some(head)) {
            Err(LoadError::BrokenChain(broken)) => {
                assert_eq!(
                    (broken.expected_version, broken.found_version),
                    (u64::MAX, u64::MAX)
                );
            }
            other => panic!("expected a broken chain, got {:?}", other.map(|r| r.count)),
        }
        assert_eq!(state.0, 0);
    }
}
