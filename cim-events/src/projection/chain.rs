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
        match self.heads.get(aggregate_id) {
            Some(head) => BrokenChain::check_follows(aggregate_id, Some(head), event),
            // First sight: only a first event can be checked without history.
            None if event.version() == 1 => BrokenChain::check_follows(aggregate_id, None, event),
            None => Ok(()),
        }
    }

    /// Records `event` as its aggregate's last applied event.
    pub(crate) fn record(&mut self, event: &RecordedEvent) {
        self.heads
            .insert(event.aggregate_id().to_owned(), event.head());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::EventHeader;
    use crate::record::RawRecord;
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

    /// Events 1..=n of aggregate `id`, at stream sequences 1..=n.
    fn chain(id: &str, n: usize) -> Vec<RecordedEvent> {
        let pings: Vec<Ping> = (0..n).map(|_| Ping { id: id.into() }).collect();
        let prepared = prepare(id, &pings, &EventHeader::default()).unwrap();
        seal("events", id, None, &prepared)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(i, sealed)| {
                RecordedEvent::from_raw(RawRecord {
                    sequence: i as u64 + 1,
                    subject: sealed.subject,
                    headers: Vec::new(),
                    data: sealed.bytes,
                })
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn accepts_a_chain_and_rejects_a_skip_or_a_repeat() {
        let events = chain("a", 3);
        let mut watch = ChainWatch::default();
        watch.check(&events[0]).unwrap();
        watch.record(&events[0]);
        let skipped = watch.check(&events[2]).unwrap_err();
        assert_eq!(
            (
                skipped.sequence,
                skipped.expected_version,
                skipped.found_version
            ),
            (3, 2, 3)
        );
        assert_eq!(skipped.expected_prev, Some(events[0].cid));
        watch.check(&events[1]).unwrap();
        watch.record(&events[1]);
        assert!(watch.check(&events[1]).is_err(), "a repeat is refused");
        watch.check(&events[2]).unwrap();
    }

    #[test]
    fn nothing_follows_the_last_possible_version() {
        // A forged history: version u64::MAX, then an event claiming it again.
        let events = chain("a", 2);
        let mut last = events[0].clone();
        last.block.seq = u64::MAX;
        let mut after = events[1].clone();
        after.block.seq = u64::MAX;
        after.block.prev = Some(last.cid);
        let mut watch = ChainWatch::default();
        watch.record(&last);
        let refused = watch.check(&after).unwrap_err();
        assert_eq!(
            (refused.expected_version, refused.found_version),
            (u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn first_sight_is_trusted_only_as_far_as_it_can_be_checked() {
        let events = chain("a", 3);
        // Mid-stream after a restart: nothing to compare with.
        assert!(ChainWatch::default().check(&events[1]).is_ok());
        // Another aggregate's history does not interfere.
        let mut watch = ChainWatch::default();
        watch.record(&chain("b", 1)[0]);
        assert!(watch.check(&events[0]).is_ok());
    }
}
