//! The anchor rule: what a record of an aggregate's head, kept outside its chain, proves
//! about the chain read today. Pure functions, no I/O.
//!
//! A hash chain proves that every event links to the one before it; it cannot see that
//! events are missing at its end. A store that can lose its tail (a JetStream server that
//! drops a damaged message on restart, or truncates a stream at a damaged record after a
//! crash) therefore records each aggregate's newest head elsewhere: its *anchor*. An anchor
//! is written only after its event was acknowledged, and never moves backwards, so the
//! chain read after it must reach the anchored version, with the anchored CID there.
//! Otherwise the chain was truncated (or rewritten from that version on), and loads,
//! appends and verification say so rather than go on from the older head.
//!
//! An anchor may lag behind the chain (it is written in the background): a chain that
//! goes beyond its anchor is never blamed.

use cid::Cid;

use crate::head::Head;
use crate::verify::{ChainFault, FaultKind};

/// An aggregate's chain ends before the head recorded as its anchor, or holds another event
/// at the anchored version: events that were acknowledged are missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the history of aggregate `{aggregate_id}` is truncated: its anchor records version {} \
     ({}) at stream sequence {}, but the chain found {}",
    anchored.version,
    anchored.cid,
    anchored.sequence,
    describe(found)
)]
#[non_exhaustive]
pub struct Truncated {
    /// The aggregate read.
    pub aggregate_id: String,
    /// The head the anchor records: acknowledged, so the chain must reach it.
    pub anchored: Head,
    /// The head of the chain as found (`None`: no events).
    pub found: Option<Head>,
}

fn describe(found: &Option<Head>) -> String {
    match found {
        None => "no events".to_owned(),
        Some(h) => format!(
            "version {} ({}) at stream sequence {}",
            h.version, h.cid, h.sequence
        ),
    }
}

/// Checks a chain's head against its anchor. A head below the anchored version, or at it
/// with another CID, is a truncation; a head beyond it (the anchor lags) is not: whether
/// that chain holds the anchored event is for [`ChainAnchor`] to find, with every event.
pub(crate) fn check_head(
    aggregate_id: &str,
    anchor: Option<Head>,
    found: Option<Head>,
) -> Result<(), Box<Truncated>> {
    let Some(anchored) = anchor else {
        return Ok(());
    };
    let fits = found.is_some_and(|head| {
        head.version > anchored.version
            || (head.version == anchored.version && head.cid == anchored.cid)
    });
    if fits {
        Ok(())
    } else {
        Err(Box::new(Truncated {
            aggregate_id: aggregate_id.to_owned(),
            anchored,
            found,
        }))
    }
}

/// Checks a whole chain against its anchor as its events go by: the chain must hold the
/// anchored CID at the anchored version.
#[derive(Debug, Clone)]
pub(crate) struct ChainAnchor {
    anchored: Option<Head>,
    /// The CID of the chain's event at the anchored version, once seen.
    at_anchor: Option<Cid>,
    head: Option<Head>,
}

impl ChainAnchor {
    /// A check against `anchor` (`None`: nothing to check).
    pub(crate) fn new(anchor: Option<Head>) -> ChainAnchor {
        ChainAnchor {
            anchored: anchor,
            at_anchor: None,
            head: None,
        }
    }

    /// Notes the next event of the chain (in chain order).
    pub(crate) fn extend(&mut self, head: Head) {
        if self.anchored.is_some_and(|a| a.version == head.version) {
            self.at_anchor = Some(head.cid);
        }
        self.head = Some(head);
    }

    /// The truncation the chain shows, if any.
    pub(crate) fn finish(&self, aggregate_id: &str) -> Result<(), Box<Truncated>> {
        check_head(aggregate_id, self.anchored, self.head)?;
        match (self.anchored, self.at_anchor) {
            (Some(anchored), Some(cid)) if cid != anchored.cid => Err(Box::new(Truncated {
                aggregate_id: aggregate_id.to_owned(),
                anchored,
                found: self.head,
            })),
            _ => Ok(()),
        }
    }

    /// The truncation as a located fault of a chain report: at the anchored stream
    /// sequence and version.
    pub(crate) fn fault(&self, aggregate_id: &str) -> Option<ChainFault> {
        let truncated = self.finish(aggregate_id).err()?;
        Some(ChainFault {
            sequence: truncated.anchored.sequence,
            version: Some(truncated.anchored.version),
            kind: FaultKind::Truncated {
                anchored_version: truncated.anchored.version,
                anchored_cid: truncated.anchored.cid,
                found_version: truncated.found.map_or(0, |h| h.version),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::cid_of;

    fn head(version: u64, name: &[u8]) -> Head {
        Head {
            version,
            cid: cid_of(name),
            sequence: version * 10,
        }
    }

    #[test]
    fn a_head_behind_the_anchor_is_truncated() {
        let anchor = Some(head(3, b"3"));
        assert!(check_head("a", anchor, Some(head(2, b"2"))).is_err());
        assert!(check_head("a", anchor, None).is_err());
        assert!(check_head("a", anchor, Some(head(3, b"other 3"))).is_err());
    }

    #[test]
    fn a_head_at_or_beyond_the_anchor_is_not_blamed() {
        let anchor = Some(head(3, b"3"));
        assert!(check_head("a", anchor, Some(head(3, b"3"))).is_ok());
        assert!(check_head("a", anchor, Some(head(4, b"4"))).is_ok());
        assert!(check_head("a", None, None).is_ok());
    }

    #[test]
    fn a_chain_with_another_event_at_the_anchored_version_is_truncated() {
        let mut chain = ChainAnchor::new(Some(head(2, b"2")));
        for h in [head(1, b"1"), head(2, b"other 2"), head(3, b"3")] {
            chain.extend(h);
        }
        let truncated = chain.finish("a").expect_err("rewritten");
        assert_eq!(truncated.found, Some(head(3, b"3")));
        let fault = chain.fault("a").expect("a fault");
        assert_eq!((fault.sequence, fault.version), (20, Some(2)));
    }
}
