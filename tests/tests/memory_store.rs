//! `MemoryEventStore` beyond the conformance suite: messages that are not events, as a
//! foreign writer could leave them, in loads and live subscriptions.

use std::time::Duration;

use bytes::Bytes;
use cim_events::{Error, EventStore, MemoryEventStore, StartFrom};
use futures::StreamExt;
use tests::domain::Noted;

/// A foreign message arriving in a live subscription is one error item naming its
/// sequence; the subscription goes on with the events after it.
#[tokio::test]
async fn a_foreign_message_in_a_live_subscription_is_one_error_item() {
    let store = MemoryEventStore::new();
    let mut sub = store
        .subscribe("events.>", StartFrom::Now)
        .await
        .expect("subscribe");
    store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    let foreign = store.insert_raw("events.nb-1.Noted", vec![], Bytes::from_static(b"not cbor"));
    store
        .append_event("nb-2", Noted::new("nb-2", 1), None)
        .await
        .expect("other aggregate");
    let mut items = Vec::new();
    for _ in 0..3 {
        let item = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("delivered in time")
            .expect("stream open");
        items.push(item);
    }
    assert_eq!(items[0].as_ref().expect("event").aggregate_id(), "nb-1");
    assert!(
        matches!(&items[1], Err(Error::Decode { sequence, .. }) if *sequence == foreign),
        "{:?}",
        items[1]
    );
    assert_eq!(items[2].as_ref().expect("event").aggregate_id(), "nb-2");
    // Loads step over the foreign message; verification names it.
    assert_eq!(store.load("nb-1").await.expect("load").len(), 1);
    let report = store.verify_chain("nb-1").await.expect("verify");
    assert_eq!(
        report.faults.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [foreign]
    );
}

/// A subscription from a stream sequence the store has not reached yet starts there: the
/// events stored before it are not delivered.
#[tokio::test]
async fn a_subscription_from_a_future_sequence_skips_the_events_before_it() {
    let store = MemoryEventStore::new();
    store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    let mut sub = store
        .subscribe("events.>", StartFrom::Sequence(3))
        .await
        .expect("subscribe");
    // Polled once while the log ends before sequence 3.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), sub.next())
            .await
            .is_err()
    );
    for n in 2..=3 {
        store
            .append_event("nb-1", Noted::new("nb-1", n), None)
            .await
            .expect("append");
    }
    let first = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("delivered in time")
        .expect("stream open")
        .expect("event");
    assert_eq!(first.sequence, 3);
}

/// A foreign message that claims the last possible version in its headers is not the
/// aggregate's head: headers are hints, the block is the truth. The next append follows
/// the real head, with no panic or wrapped-around version, and verification names the
/// foreign message.
#[tokio::test]
async fn a_forged_head_at_the_last_version_is_never_the_base_of_an_append() {
    let store = MemoryEventStore::new();
    let first = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    let forged = store.insert_raw(
        "events.nb-1.Noted",
        vec![
            ("Cim-Cid".to_owned(), first.cid.to_string()),
            ("Cim-Seq".to_owned(), u64::MAX.to_string()),
        ],
        Bytes::from_static(b"forged"),
    );
    let second = store
        .append_event("nb-1", Noted::new("nb-1", 2), None)
        .await
        .expect("2");
    assert_eq!((second.version, second.previous_cid), (2, Some(first.cid)));
    assert_eq!(second.sequence, forged + 1);
    assert_eq!(store.load("nb-1").await.expect("load").len(), 2);
    let report = store.verify_chain("nb-1").await.expect("verify");
    assert_eq!(
        report.faults.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [forged]
    );
}

/// Defect: one raw message with a forged `Cim-Seq: 0` header on an aggregate's subject
/// made `load` return nothing and `verify_chain` report "valid, 0 events", and the next
/// append started a second chain at version 1. The block is the truth: the aggregate
/// still loads, the next append continues its chain, and the intruder is a located fault.
#[tokio::test]
async fn a_forged_version_header_neither_hides_an_aggregate_nor_forks_it() {
    let store = MemoryEventStore::new();
    let mut stored = Vec::new();
    for n in 1..=3 {
        stored.push(
            store
                .append_event("nb-1", Noted::new("nb-1", n), None)
                .await
                .expect("append"),
        );
    }
    // The intruder: a copy of the first event's bytes with a `Cim-Seq: 0` header, and a
    // headerless garbage message.
    let raw = store.read_raw("nb-1", 1).await.expect("read").remove(0);
    let mut headers = raw.headers.clone();
    headers.retain(|(k, _)| k != "Cim-Seq");
    headers.push(("Cim-Seq".to_owned(), "0".to_owned()));
    let copy = store.insert_raw("events.nb-1.Noted", headers, raw.data.clone());
    let garbage = store.insert_raw("events.nb-1.Noted", vec![], Bytes::from_static(b"\xff"));

    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(loaded.len(), 3);
    let head = store.head("nb-1").await.expect("head").expect("a head");
    assert_eq!((head.version, head.cid), (3, stored[2].cid));
    let next = store
        .append_event("nb-1", Noted::new("nb-1", 4), None)
        .await
        .expect("append");
    assert_eq!((next.version, next.previous_cid), (4, Some(stored[2].cid)));
    let report = store.verify_chain("nb-1").await.expect("verify");
    let faulty: Vec<u64> = report.faults.iter().map(|f| f.sequence).collect();
    assert!(
        faulty.contains(&copy) && faulty.contains(&garbage),
        "{report:?}"
    );
    assert!(!faulty.contains(&next.sequence), "{report:?}");
    assert_eq!(store.load("nb-1").await.expect("load").len(), 4);
}

/// `verify_from` proves that today's chain extends a head trusted earlier, and says where
/// it parts from one it does not: a CID it never held, a stored block the chain stepped
/// over, a fault after the trusted event.
#[tokio::test]
async fn verify_from_says_whether_the_chain_extends_a_trusted_head() {
    use cim_events::test_util::{headers_of, seal_after};
    use cim_events::{Divergence, EventHeader, FaultKind};

    let store = MemoryEventStore::new();
    let mut metas = Vec::new();
    for n in 1..=3 {
        metas.push(
            store
                .append_event("vf-1", Noted::new("vf-1", n), None)
                .await
                .expect("append"),
        );
    }
    let report = store
        .verify_from("vf-1", metas[1].cid)
        .await
        .expect("verify");
    assert!(report.extends(), "{report:?}");
    assert_eq!(report.found.map(|h| (h.version, h.sequence)), Some((2, 2)));
    assert_eq!(report.head.map(|h| h.cid), Some(metas[2].cid));

    let unknown = cim_events::block::cid_of(b"never stored");
    let report = store.verify_from("vf-1", unknown).await.expect("verify");
    assert_eq!(report.divergence, Some(Divergence::Missing));

    // Another version 2, linked to version 1 but stored after the chain took the honest one.
    let head_1 = store.load("vf-1").await.expect("load")[0].head();
    let forged = seal_after(
        "events",
        "vf-1",
        Some(&head_1),
        &[Noted::new("vf-1", 99)],
        &EventHeader::default(),
    )
    .expect("seal")
    .remove(0);
    let forged_at = store.insert_raw(&forged.subject, headers_of(&forged), forged.bytes.clone());
    let report = store.verify_from("vf-1", forged.cid).await.expect("verify");
    assert_eq!(
        report.divergence,
        Some(Divergence::NotInChain {
            sequence: forged_at,
            version: Some(2)
        })
    );
    assert!(!report.extends());

    // Trusted before the forged message: the chain holds it, but a fault follows it.
    let report = store
        .verify_from("vf-1", metas[2].cid)
        .await
        .expect("verify");
    match report.divergence {
        Some(Divergence::FaultAfter(fault)) => {
            assert_eq!(fault.sequence, forged_at);
            assert!(matches!(fault.kind, FaultKind::DuplicateSequence { .. }));
        }
        other => panic!("expected a fault after the trusted head, got {other:?}"),
    }
    // The memory store keeps no anchor: it cannot lose the end of a chain.
    assert_eq!(store.anchor("vf-1").await.expect("anchor"), None);
}
