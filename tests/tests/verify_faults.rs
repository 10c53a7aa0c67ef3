//! Chain verification against every fault it must locate. Each case stores a chain of
//! `acc-1` interleaved with events of another aggregate, so stream sequences (2, 4, 6, …)
//! differ from versions (1, 2, 3, …), breaks it in one way, and asserts the exact report:
//! which fault, at which stream sequence and version — and that nothing else is blamed.

mod common;

use bytes::Bytes;
use cim_events::SealedEvent;
use cim_events::block::{CanonicalProblem, DecodeError, EventBlock, cid_of};
use cim_events::test_util as h;
use cim_events::test_util::seal;
use cim_events::{
    ChainFault, ChainReport, Cid, Error, EventStore, FaultKind, Head, MemoryEventStore, RawRecord,
    verify_records,
};

use common::{PREFIX, headers_of, new_event, simple_chain};

const ID: &str = "acc-1";
const NOISE: &str = "noise";

/// One message to store: subject, headers and body, as a writer put them.
#[derive(Clone)]
struct Message {
    subject: String,
    headers: Vec<(String, String)>,
    data: Vec<u8>,
}

impl From<&SealedEvent> for Message {
    fn from(event: &SealedEvent) -> Self {
        Message {
            subject: event.subject.clone(),
            headers: headers_of(event),
            data: event.bytes.to_vec(),
        }
    }
}

impl Message {
    fn set_header(mut self, name: &str, value: Option<&str>) -> Self {
        self.headers.retain(|(k, _)| k != name);
        if let Some(value) = value {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

fn messages(events: &[SealedEvent]) -> Vec<Message> {
    events.iter().map(Message::from).collect()
}

/// Stores `messages` under `acc-1`'s subjects, each after one event of another aggregate;
/// returns the store and each message's stream sequence (2, 4, 6, …).
fn store(messages: &[Message]) -> (MemoryEventStore, Vec<u64>) {
    let store = MemoryEventStore::new();
    let noise = simple_chain(NOISE, messages.len() as u64);
    let sequences = messages
        .iter()
        .zip(&noise)
        .map(|(m, n)| {
            common::insert_sealed(&store, std::slice::from_ref(n));
            store.insert_raw(&m.subject, m.headers.clone(), Bytes::from(m.data.clone()))
        })
        .collect();
    (store, sequences)
}

async fn verify(messages: &[Message]) -> (ChainReport, Vec<u64>) {
    let (store, sequences) = store(messages);
    let report = store.verify_chain(ID).await.expect("verify");
    let noise = store.verify_chain(NOISE).await.expect("verify noise");
    assert!(noise.is_valid(), "the other aggregate is intact: {noise:?}");
    assert_eq!(
        store.validate_cid_chain(ID).await.expect("validate"),
        report.is_valid()
    );
    (report, sequences)
}

fn fault(sequence: u64, version: u64, kind: FaultKind) -> ChainFault {
    ChainFault {
        sequence,
        version: Some(version),
        kind,
    }
}

/// A block with one field changed, re-encoded, with headers that agree with it.
fn forged(event: &SealedEvent, change: impl FnOnce(&mut EventBlock)) -> SealedEvent {
    let mut block = event.block.clone();
    change(&mut block);
    let bytes = block.encode().expect("encode");
    SealedEvent {
        cid: cid_of(&bytes),
        bytes: bytes.into(),
        subject: event.subject.clone(),
        block,
        traceparent: event.traceparent.clone(),
    }
}

/// Replaces the payload `{"n": from}` by `{"n": to}` in place: still a valid block, but no
/// longer the bytes its CID was computed from.
fn alter_payload(data: &mut [u8], from: u8, to: u8) {
    let pattern = [0xa1, 0x61, b'n', from];
    let at = data
        .windows(4)
        .position(|w| w == pattern)
        .expect("payload {n: from} present");
    data[at + 3] = to;
}

#[tokio::test]
async fn an_intact_chain_has_no_faults() {
    let chain = simple_chain(ID, 4);
    let (report, sequences) = verify(&messages(&chain)).await;
    assert_eq!(sequences, [2, 4, 6, 8]);
    assert_eq!(report.faults, []);
    assert!(report.is_valid());
    assert_eq!(report.events, 4);
    assert_eq!(report.head, Some(chain[3].cid));
    assert_eq!(report.aggregate_id, ID);
}

#[tokio::test]
async fn altered_bytes_are_a_hash_mismatch_and_the_next_event_is_not_blamed() {
    let chain = simple_chain(ID, 3);
    let mut msgs = messages(&chain);
    alter_payload(&mut msgs[1].data, 2, 7);
    let (report, _) = verify(&msgs).await;
    assert_eq!(
        report.faults,
        [fault(
            4,
            2,
            FaultKind::HashMismatch {
                claimed: chain[1].cid.to_string(),
                actual: cid_of(&msgs[1].data),
            }
        )]
    );
    assert_ne!(cid_of(&msgs[1].data), chain[1].cid);
}

#[tokio::test]
async fn a_prev_that_points_elsewhere_is_a_broken_link() {
    let chain = simple_chain(ID, 3);
    let bad = forged(&chain[2], |b| b.prev = Some(chain[0].cid));
    let msgs = vec![(&chain[0]).into(), (&chain[1]).into(), (&bad).into()];
    let (report, _) = verify(&msgs).await;
    assert_eq!(
        report.faults,
        [fault(
            6,
            3,
            FaultKind::BrokenLink {
                expected: Some(chain[1].cid),
                found: Some(chain[0].cid),
            }
        )]
    );
}

#[tokio::test]
async fn a_null_prev_after_the_first_event_is_a_missing_link() {
    let chain = simple_chain(ID, 2);
    let bad = forged(&chain[1], |b| b.prev = None);
    let (report, _) = verify(&[(&chain[0]).into(), (&bad).into()]).await;
    assert_eq!(
        report.faults,
        [fault(
            4,
            2,
            FaultKind::BrokenLink {
                expected: Some(chain[0].cid),
                found: None,
            }
        )]
    );
}

#[tokio::test]
async fn a_missing_link_is_found_even_when_the_previous_event_claims_no_cid() {
    let chain = simple_chain(ID, 2);
    let first = Message::from(&chain[0])
        .set_header(h::CIM_CID, None)
        .set_header(h::NATS_MSG_ID, None);
    let bad = forged(&chain[1], |b| b.prev = None);
    let (report, _) = verify(&[first, (&bad).into()]).await;
    let cid1 = chain[0].cid.to_string();
    let absent = |header| {
        fault(
            2,
            1,
            FaultKind::HeaderMismatch {
                header,
                header_value: None,
                block_value: cid1.clone(),
            },
        )
    };
    assert_eq!(
        report.faults,
        [
            absent(h::CIM_CID),
            absent(h::NATS_MSG_ID),
            fault(
                4,
                2,
                FaultKind::BrokenLink {
                    expected: Some(chain[0].cid),
                    found: None,
                }
            ),
        ]
    );
}

#[tokio::test]
async fn a_prev_on_the_first_event_is_reported() {
    let elsewhere = simple_chain("elsewhere", 1)[0].cid;
    let first = seal(
        PREFIX,
        ID,
        Some(&Head {
            version: 0,
            cid: elsewhere,
            sequence: 0,
        }),
        &[new_event("Noted", 1, cim_events::Ipld::Null)],
    )
    .expect("seal")
    .remove(0);
    assert_eq!((first.block.seq, first.block.prev), (1, Some(elsewhere)));
    // The rest of the chain follows the odd first event, so only it is at fault.
    let rest = seal(
        PREFIX,
        ID,
        Some(&Head {
            version: 1,
            cid: first.cid,
            sequence: 0,
        }),
        &[new_event("Noted", 2, cim_events::Ipld::Null)],
    )
    .expect("seal");
    let (report, _) = verify(&[(&first).into(), (&rest[0]).into()]).await;
    assert_eq!(
        report.faults,
        [fault(
            2,
            1,
            FaultKind::BrokenLink {
                expected: None,
                found: Some(elsewhere),
            }
        )]
    );
}

#[tokio::test]
async fn a_missing_version_is_a_gap() {
    let chain = simple_chain(ID, 4);
    let msgs = vec![(&chain[0]).into(), (&chain[1]).into(), (&chain[3]).into()];
    let (report, _) = verify(&msgs).await;
    assert_eq!(
        report.faults,
        [fault(
            6,
            4,
            FaultKind::SequenceGap {
                expected: 3,
                found: 4,
            }
        )]
    );
}

#[tokio::test]
async fn a_forked_duplicate_version_is_reported_and_does_not_blame_the_successor() {
    let chain = simple_chain(ID, 3);
    // Another version 2, also linked to version 1, stored between 2 and 3.
    let fork = forged(&chain[1], |b| {
        b.id = "0190b6a0-0000-7000-8000-0000000f0f0f".into()
    });
    let msgs = vec![
        (&chain[0]).into(),
        (&chain[1]).into(),
        (&fork).into(),
        (&chain[2]).into(),
    ];
    let (report, _) = verify(&msgs).await;
    assert_eq!(
        report.faults,
        [fault(
            6,
            2,
            FaultKind::DuplicateSequence {
                expected: 3,
                found: 2,
            }
        )]
    );
}

#[tokio::test]
async fn the_same_event_stored_twice_is_a_duplicate() {
    let chain = simple_chain(ID, 2);
    let msgs = vec![(&chain[0]).into(), (&chain[0]).into(), (&chain[1]).into()];
    let (report, _) = verify(&msgs).await;
    assert_eq!(
        report.faults,
        [fault(
            4,
            1,
            FaultKind::DuplicateSequence {
                expected: 2,
                found: 1,
            }
        )]
    );
}

#[tokio::test]
async fn every_header_that_disagrees_with_the_block_is_reported() {
    let chain = simple_chain(ID, 3);
    let third = &chain[2];
    let cid2 = chain[1].cid.to_string();
    let cid3 = third.cid.to_string();
    let other_cid = chain[0].cid.to_string();
    // (header, value written (None: removed), what the block says)
    let cases: Vec<(&str, Option<&str>, String)> = vec![
        (h::CIM_SEQ, Some("7"), "3".into()),
        (h::CIM_EVENT_TYPE, Some("Closed"), "Noted".into()),
        (h::CIM_AGGREGATE_TYPE, Some("Order"), "Account".into()),
        (h::CIM_PREV, Some(other_cid.as_str()), cid2.clone()),
        (h::CIM_PREV, None, cid2.clone()),
        (
            h::CIM_CORRELATION_ID,
            Some("corr-x"),
            third.block.correlation_id.clone(),
        ),
        (h::CIM_CAUSATION_ID, Some("evt-x"), "<absent>".into()),
        (h::CIM_CID, None, cid3.clone()),
        (h::NATS_MSG_ID, Some(other_cid.as_str()), cid3.clone()),
        (h::NATS_MSG_ID, None, cid3.clone()),
    ];
    for (header, value, block_value) in cases {
        let bad = Message::from(third).set_header(header, value);
        let (report, _) = verify(&[(&chain[0]).into(), (&chain[1]).into(), bad]).await;
        assert_eq!(
            report.faults,
            [fault(
                6,
                3,
                FaultKind::HeaderMismatch {
                    header,
                    header_value: value.map(str::to_owned),
                    block_value,
                }
            )],
            "header {header} = {value:?}"
        );
    }
}

#[tokio::test]
async fn a_subject_that_disagrees_with_the_block_is_reported() {
    let chain = simple_chain(ID, 2);
    let mut moved = Message::from(&chain[1]);
    moved.subject = format!("{PREFIX}.{ID}.Closed");
    let (report, _) = verify(&[(&chain[0]).into(), moved]).await;
    assert_eq!(
        report.faults,
        [fault(
            4,
            2,
            FaultKind::HeaderMismatch {
                header: "subject",
                header_value: Some("events.acc-1.Closed".into()),
                block_value: "events.acc-1.Noted".into(),
            }
        )]
    );
}

#[tokio::test]
async fn an_event_of_another_aggregate_under_this_subject_is_reported_alone() {
    let chain = simple_chain(ID, 3);
    let mut foreign = Message::from(&simple_chain("acc-2", 1)[0]);
    foreign.subject = format!("{PREFIX}.{ID}.Noted");
    let msgs = vec![
        (&chain[0]).into(),
        (&chain[1]).into(),
        foreign,
        (&chain[2]).into(),
    ];
    let (report, _) = verify(&msgs).await;
    assert_eq!(
        report.faults,
        [fault(
            6,
            1,
            FaultKind::WrongAggregate {
                found: "acc-2".into(),
            }
        )]
    );
}

#[tokio::test]
async fn a_foreign_non_cbor_message_fails_load_with_its_sequence_and_is_undecodable() {
    let chain = simple_chain(ID, 3);
    let garbage = Message {
        subject: format!("{PREFIX}.{ID}.Noted"),
        headers: vec![],
        data: b"hello, not CBOR".to_vec(),
    };
    let msgs = vec![
        (&chain[0]).into(),
        (&chain[1]).into(),
        garbage,
        (&chain[2]).into(),
    ];
    let (store, sequences) = store(&msgs);
    // The load steps over the intruder: it is not part of the chain.
    let loaded = store.load(ID).await.expect("load");
    assert_eq!(
        loaded.iter().map(|e| e.version()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(!loaded.iter().any(|e| e.sequence == sequences[2]));
    // 'h' (0x68) reads as a text string of 8 bytes; what follows it is not part of any item.
    let trailing = DecodeError::NotCanonical {
        offset: 9,
        problem: CanonicalProblem::TrailingBytes,
    };
    let report = store.verify_chain(ID).await.expect("verify");
    // Only the intruder is at fault: version 3 still follows version 2.
    assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
    let only = &report.faults[0];
    assert_eq!((only.sequence, only.version), (6, None));
    assert_eq!(only.kind, FaultKind::Undecodable(trailing));
    assert!(!store.validate_cid_chain(ID).await.expect("validate"));
}

#[tokio::test]
async fn a_damaged_event_is_undecodable_and_its_successor_is_not_blamed() {
    let chain = simple_chain(ID, 3);
    let mut msgs = messages(&chain);
    let len = msgs[1].data.len();
    msgs[1].data.truncate(len - 5);
    let (store, sequences) = store(&msgs);
    // Version 3 lies beyond what can be read (version 1): the chain is broken there, and
    // neither a load nor an append quietly goes on from version 1.
    let broken = |result| match result {
        Err(Error::BrokenChain(broken)) => broken,
        other => panic!("expected a broken chain, got {other:?}"),
    };
    let at = broken(store.load(ID).await.map(|_| ()));
    assert_eq!(at.sequence, sequences[2]);
    assert_eq!((at.expected_version, at.found_version), (2, 3));
    assert_eq!(at.expected_prev, Some(chain[0].cid));
    let append = store
        .append_event(ID, tests::domain::Noted::new(ID, 9), None)
        .await
        .map(|_| ());
    assert_eq!(broken(append).sequence, sequences[2]);
    let report = store.verify_chain(ID).await.expect("verify");
    assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
    assert_eq!(
        (report.faults[0].sequence, report.faults[0].version),
        (4, None)
    );
    assert!(matches!(report.faults[0].kind, FaultKind::Undecodable(_)));
}

#[tokio::test]
async fn cbor_that_is_not_an_event_block_is_a_typed_decode_error() {
    let not_a_map = vec![0x18, 0x2a]; // 42
    let no_keys = vec![0xa1, 0x61, b'x', 0x01]; // {"x": 1}
    for (data, expected) in [
        (not_a_map, DecodeError::NotAMap),
        (no_keys, DecodeError::MissingKey("v")),
    ] {
        let store = MemoryEventStore::new();
        store.insert_raw("events.acc-1.Noted", vec![], Bytes::from(data));
        // Not part of any chain: a load steps over it, verification says what it is.
        assert!(store.load(ID).await.expect("load").is_empty());
        let report = store.verify_chain(ID).await.expect("verify");
        assert_eq!(
            report.faults,
            [ChainFault {
                sequence: 1,
                version: None,
                kind: FaultKind::Undecodable(expected),
            }]
        );
    }
}

#[test]
fn hostile_bodies_are_undecodable_never_a_panic() {
    let bodies: [&[u8]; 8] = [
        &[],
        &[0xff],
        &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // bytes of length 2^64-1
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // array of 2^64-1 items
        &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // map of 2^64-1 entries
        &[0x9f, 0x01, 0xff],                                     // indefinite array
        &[0xa0, 0xa0],                                           // trailing data
        &[0xd8, 0x2a, 0x41, 0x00],                               // tag 42 on a bad CID
    ];
    let records: Vec<RawRecord> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| RawRecord {
            sequence: i as u64 + 1,
            subject: "events.acc-1.Noted".into(),
            headers: vec![],
            data: Bytes::copy_from_slice(body),
        })
        .collect();
    let report = verify_records(PREFIX, ID, &records);
    let kinds: Vec<(u64, bool)> = report
        .faults
        .iter()
        .map(|f| (f.sequence, matches!(f.kind, FaultKind::Undecodable(_))))
        .collect();
    assert_eq!(kinds, (1..=8).map(|s| (s, true)).collect::<Vec<_>>());
}

#[test]
fn verify_records_reports_several_faults_in_stream_order() {
    let chain = simple_chain(ID, 4);
    let mut records: Vec<RawRecord> = chain
        .iter()
        .zip(1..)
        .map(|(e, sequence)| RawRecord {
            sequence,
            subject: e.subject.clone(),
            headers: headers_of(e),
            data: e.bytes.clone(),
        })
        .collect();
    let mut altered = records[0].data.to_vec();
    alter_payload(&mut altered, 1, 9);
    records[0].data = Bytes::from(altered);
    records[3].headers.retain(|(k, _)| k != h::CIM_EVENT_TYPE);
    let report = verify_records(PREFIX, ID, &records);
    let located: Vec<(u64, Option<u64>, &str)> = report
        .faults
        .iter()
        .map(|f| {
            let kind = match &f.kind {
                FaultKind::HashMismatch { .. } => "hash",
                FaultKind::HeaderMismatch { header, .. } => header,
                _ => "other",
            };
            (f.sequence, f.version, kind)
        })
        .collect();
    assert_eq!(
        located,
        [(1, Some(1), "hash"), (4, Some(4), h::CIM_EVENT_TYPE)]
    );
    let head: Cid = chain[3].cid;
    assert_eq!(report.head, Some(head));
    assert_eq!(report.events, 4);
}

/// A forged chain that reaches the last possible version: verification reports what
/// follows it as a repeat (no version comes after `u64::MAX`), never panics on it.
#[tokio::test]
async fn an_event_after_the_last_possible_version_is_a_duplicate_not_a_panic() {
    let chain = simple_chain(ID, 2);
    let last = forged(&chain[0], |b| b.seq = u64::MAX);
    let after = forged(&chain[1], |b| {
        b.seq = u64::MAX;
        b.prev = Some(last.cid);
    });
    let (report, sequences) = verify(&messages(&[last, after])).await;
    assert_eq!(
        report.faults,
        [
            fault(
                sequences[0],
                u64::MAX,
                FaultKind::SequenceGap {
                    expected: 1,
                    found: u64::MAX
                }
            ),
            fault(
                sequences[1],
                u64::MAX,
                FaultKind::DuplicateSequence {
                    expected: u64::MAX,
                    found: u64::MAX
                }
            ),
        ]
    );
}
