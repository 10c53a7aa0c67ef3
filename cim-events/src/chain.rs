//! The chain rule: which stored messages make up an aggregate's chain. One pure module,
//! used to find the head an append builds on, and by loads, replays and verification.
//!
//! Reading an aggregate's messages in stream order, a message **extends the chain** when
//! its block decodes, belongs to the aggregate, hashes to the CID its headers claim (if
//! they claim one), holds the next version, and links (`prev`) to the chain's head — no
//! link for version 1. Every other message is a located fault ([`ChainFault`]): it is
//! reported and stepped over, never applied, and never the base of an append. Headers are
//! hints and the block is the truth: a header that disagrees with a block that extends the
//! chain is reported, and the block still counts.
//!
//! Stepping over is for intruders, not for lost history: a message that decodes as a block
//! of the aggregate with a version *beyond* the chain's head (the successor of a damaged
//! or missing event) means events in between cannot be read. The chain is then broken:
//! loads, replays and appends fail with [`BrokenChain`] naming that message, rather than
//! quietly continuing from an older head.
//!
//! The first valid continuation wins. Honest writers go through the server's check on the
//! aggregate's last message, so an honest chain is always that one; a message a writer
//! stored around the store (garbage, a forged `Cim-Seq`, a block of another aggregate) is
//! stepped over. Without signatures, though, a well-formed block that links correctly
//! cannot be told from an honest one: whoever may publish on the aggregate's subjects can
//! extend its chain.

use std::fmt;

use cid::Cid;

use crate::block::{EventBlock, cid_of};
use crate::head::Head;
use crate::record::{RawRecord, RecordedEvent};
use crate::subject::event_subject;
use crate::tail::Tail;
use crate::verify::{ChainFault, FaultKind};
use crate::wire_headers as h;

/// Whether `block` may come right after `head` (`None`: it must be the first event): the
/// next version, linked to the head's CID.
pub(crate) fn follows(head: Option<&Head>, block: &EventBlock) -> bool {
    // `None` after u64::MAX (a forged head): no event can follow it.
    let next = head.map_or(Some(1), |h| h.version.checked_add(1));
    next == Some(block.seq) && block.prev == head.map(|h| h.cid)
}

/// The CID a message's headers claim for it, if any (`Cim-Cid`, else `Nats-Msg-Id`),
/// as written.
pub(crate) fn claimed_cid(record: &RawRecord) -> Option<&str> {
    record.header(h::CIM_CID).or(record.header(h::NATS_MSG_ID))
}

/// What each header (and the subject) must say, given the block, for every header that
/// says something else. The CID headers are checked only for agreeing with each other: a
/// claimed CID that differs from the bytes is a hash mismatch, reported as such. Run on
/// every event a verification reads, so agreement is checked without formatting anything;
/// only a disagreement builds its strings.
pub(crate) fn header_faults(
    prefix: &str,
    record: &RawRecord,
    block: &EventBlock,
    actual: Cid,
) -> Vec<FaultKind> {
    let mut faults = Vec::new();
    let mut check = |header: &'static str,
                     found: Option<&str>,
                     agrees: bool,
                     expected: &dyn Fn() -> Option<String>| {
        if !agrees {
            faults.push(FaultKind::HeaderMismatch {
                header,
                header_value: found.map(str::to_owned),
                block_value: expected().unwrap_or_else(|| "<absent>".to_owned()),
            });
        }
    };
    let subject_agrees = record
        .subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_prefix(block.aggregate_id.as_str()))
        .and_then(|rest| rest.strip_prefix('.'))
        == Some(block.event_type.as_str());
    check("subject", Some(&record.subject), subject_agrees, &|| {
        Some(event_subject(
            prefix,
            &block.aggregate_id,
            &block.event_type,
        ))
    });
    let cim_cid = record.header(h::CIM_CID);
    let cid_string = || Some(cim_cid.map_or_else(|| actual.to_string(), str::to_owned));
    check(h::CIM_CID, cim_cid, cim_cid.is_some(), &cid_string);
    let msg_id = record.header(h::NATS_MSG_ID);
    let msg_id_agrees = match (msg_id, cim_cid) {
        (Some(id), Some(cid)) => id == cid,
        (Some(id), None) => id.parse::<Cid>().ok() == Some(actual),
        (None, _) => false,
    };
    check(h::NATS_MSG_ID, msg_id, msg_id_agrees, &cid_string);
    let seq = record.header(h::CIM_SEQ);
    check(
        h::CIM_SEQ,
        seq,
        seq.is_some_and(|v| is_decimal(v, block.seq)),
        &|| Some(block.seq.to_string()),
    );
    let prev = record.header(h::CIM_PREV);
    let prev_agrees = match (prev, block.prev) {
        (None, None) => true,
        (Some(v), Some(cid)) => v.parse::<Cid>().ok() == Some(cid),
        _ => false,
    };
    check(h::CIM_PREV, prev, prev_agrees, &|| {
        block.prev.map(|c| c.to_string())
    });
    for (header, value) in [
        (h::CIM_AGGREGATE_TYPE, block.aggregate_type.as_str()),
        (h::CIM_EVENT_TYPE, block.event_type.as_str()),
        (h::CIM_CORRELATION_ID, block.correlation_id.as_str()),
    ] {
        let found = record.header(header);
        check(header, found, found == Some(value), &|| {
            Some(value.to_owned())
        });
    }
    let causation = record.header(h::CIM_CAUSATION_ID);
    check(
        h::CIM_CAUSATION_ID,
        causation,
        causation == block.causation_id.as_deref(),
        &|| block.causation_id.clone(),
    );
    faults
}

/// Whether `text` is `value` written in decimal, exactly as `u64::to_string` writes it.
fn is_decimal(text: &str, value: u64) -> bool {
    let canonical = text == "0" || !text.starts_with('0');
    canonical && text.bytes().all(|b| b.is_ascii_digit()) && text.parse() == Ok(value)
}

/// Follows one aggregate's chain through its messages in stream order.
#[derive(Debug, Clone)]
pub(crate) struct Follower {
    aggregate_id: String,
    tail: Tail,
    /// The first stepped-over block of the aggregate whose version lay beyond the head
    /// when it was seen: evidence of events that cannot be read, unless the chain later
    /// reaches that version.
    beyond: Option<Box<BrokenChain>>,
}

/// What one message is to the chain.
// Returned by value and matched at once; `Extends` is the common case, so boxing it would
// cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Step {
    /// It extends the chain (and becomes its head).
    Extends(RecordedEvent),
    /// It is not part of the chain: stepped over.
    Stepped(ChainFault),
}

impl Follower {
    /// A follower of `aggregate_id`'s chain from `start` (`None`: from its first event).
    pub(crate) fn new(aggregate_id: &str, start: Option<Head>) -> Follower {
        Follower {
            aggregate_id: aggregate_id.to_owned(),
            tail: Tail {
                head: start,
                last_sequence: start.map_or(0, |h| h.sequence),
                aggregate_type: None,
            },
            beyond: None,
        }
    }

    /// Where the chain stands after the messages seen so far, or why it is broken: a block
    /// of the aggregate lies beyond its head.
    pub(crate) fn tail(&self) -> Result<&Tail, Box<BrokenChain>> {
        match &self.beyond {
            Some(broken) if broken.found_version > self.tail.version() => Err(broken.clone()),
            _ => Ok(&self.tail),
        }
    }

    /// Records events this store has just written after the head: they extend the chain
    /// by construction (sealed on its head, accepted by the server's check).
    pub(crate) fn extended(&mut self, head: Head, aggregate_type: &str) {
        self.tail.head = Some(head);
        self.tail.last_sequence = self.tail.last_sequence.max(head.sequence);
        if self.tail.aggregate_type.is_none() {
            self.tail.aggregate_type = Some(aggregate_type.to_owned());
        }
    }

    /// Decides what the next message (in stream order) is to the chain.
    pub(crate) fn step(&mut self, raw: RawRecord) -> Step {
        self.tail.last_sequence = self.tail.last_sequence.max(raw.sequence);
        let sequence = raw.sequence;
        let stepped = |version, kind| {
            Step::Stepped(ChainFault {
                sequence,
                version,
                kind,
            })
        };
        let actual = cid_of(&raw.data);
        if let Some(claimed) = claimed_cid(&raw) {
            if claimed.parse::<Cid>().ok() != Some(actual) {
                let block = EventBlock::decode(&raw.data).ok();
                if let Some(block) = block.as_ref().filter(|b| {
                    b.aggregate_id == self.aggregate_id
                        && b.seq > self.tail.version()
                        && self.beyond.is_none()
                }) {
                    // An altered event of this aggregate: what follows it cannot be trusted.
                    self.beyond = Some(self.broken(sequence, block));
                }
                let claimed = claimed.to_owned();
                let version = block.map(|b| b.seq);
                return stepped(version, FaultKind::HashMismatch { claimed, actual });
            }
        }
        let block = match EventBlock::decode(&raw.data) {
            Ok(block) => block,
            Err(e) => return stepped(None, FaultKind::Undecodable(e)),
        };
        let version = Some(block.seq);
        if block.aggregate_id != self.aggregate_id {
            let found = block.aggregate_id;
            return stepped(version, FaultKind::WrongAggregate { found });
        }
        if !follows(self.tail.head.as_ref(), &block) {
            if block.seq > self.tail.version() && self.beyond.is_none() {
                self.beyond = Some(self.broken(sequence, &block));
            }
            return stepped(version, self.misfit(&block));
        }
        let event = RecordedEvent {
            traceparent: raw.traceparent(),
            sequence,
            subject: raw.subject,
            cid: actual,
            block,
            bytes: raw.data,
            opened: None,
        };
        self.tail.head = Some(event.head());
        if self.tail.aggregate_type.is_none() {
            self.tail.aggregate_type = Some(event.block.aggregate_type.clone());
        }
        Step::Extends(event)
    }

    /// The break a block of this aggregate beyond the head shows.
    fn broken(&self, sequence: u64, block: &EventBlock) -> Box<BrokenChain> {
        let head = self.tail.head.as_ref();
        Box::new(BrokenChain {
            aggregate_id: self.aggregate_id.clone(),
            sequence,
            expected_version: head.map_or(1, |h| h.version.saturating_add(1)),
            expected_prev: head.map(|h| h.cid),
            found_version: block.seq,
            found_prev: block.prev,
        })
    }

    /// Why a block of this aggregate does not follow the head.
    fn misfit(&self, block: &EventBlock) -> FaultKind {
        let head = self.tail.head.as_ref();
        let expected = head.map_or(1, |h| h.version.saturating_add(1));
        if block.seq > expected {
            FaultKind::SequenceGap {
                expected,
                found: block.seq,
            }
        } else if block.seq < expected || head.is_some_and(|h| h.version == u64::MAX) {
            FaultKind::DuplicateSequence {
                expected,
                found: block.seq,
            }
        } else {
            FaultKind::BrokenLink {
                expected: head.map(|h| h.cid),
                found: block.prev,
            }
        }
    }
}

/// Where an aggregate's stored events stop forming one chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the history of aggregate `{aggregate_id}` is broken at stream sequence {sequence}: \
     expected version {expected_version} linked to {}, found version {found_version} linked to {}",
    describe_link(expected_prev),
    describe_link(found_prev)
)]
#[non_exhaustive]
pub struct BrokenChain {
    /// The aggregate being loaded.
    pub aggregate_id: String,
    /// Stream sequence of the first event that does not fit.
    pub sequence: u64,
    /// The version the next event should have.
    pub expected_version: u64,
    /// The CID the next event should link to (`None`: none, it should be the first).
    pub expected_prev: Option<Cid>,
    /// The version the event has.
    pub found_version: u64,
    /// The CID it links to.
    pub found_prev: Option<Cid>,
}

impl BrokenChain {
    /// Checks that `event` comes right after `head` (`None`: it must be the first event)
    /// of `aggregate_id`: the next version, linked to the head's CID. The one rule both
    /// replays and projection runners apply.
    pub(crate) fn check_follows(
        aggregate_id: &str,
        head: Option<&Head>,
        event: &RecordedEvent,
    ) -> Result<(), Box<BrokenChain>> {
        if follows(head, &event.block) {
            return Ok(());
        }
        let next_version = head.map_or(Some(1), |h| h.version.checked_add(1));
        let expected_prev = head.map(|h| h.cid);
        Err(Box::new(BrokenChain {
            aggregate_id: aggregate_id.to_owned(),
            sequence: event.sequence,
            expected_version: next_version.unwrap_or(u64::MAX),
            expected_prev,
            found_version: event.version(),
            found_prev: event.block.prev,
        }))
    }
}

fn describe_link(link: &Option<Cid>) -> impl fmt::Display + '_ {
    struct Link<'a>(&'a Option<Cid>);
    impl fmt::Display for Link<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(cid) => write!(f, "{cid}"),
                None => f.write_str("nothing"),
            }
        }
    }
    Link(link)
}
