//! `MemoryEventStore` beyond the conformance suite: messages that are not events, as a
//! foreign writer could leave them, in loads and live subscriptions.

use std::time::Duration;

use bytes::Bytes;
use cim_events::block::DecodeError;
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
    // Loads of the damaged aggregate name the foreign message; they never panic.
    assert!(matches!(
        store.load("nb-1").await,
        Err(Error::Decode { sequence, .. }) if sequence == foreign
    ));
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

/// A foreign head that claims the last possible version leaves no version for the next
/// event: the append is refused with a decode error naming that message, never a panic
/// or a wrapped-around version.
#[tokio::test]
async fn an_append_after_a_forged_head_at_the_last_version_is_refused() {
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
    let refused = store
        .append_event("nb-1", Noted::new("nb-1", 2), None)
        .await;
    assert!(
        matches!(
            &refused,
            Err(Error::Decode { sequence, source: DecodeError::Header("Cim-Seq") }) if *sequence == forged
        ),
        "{refused:?}"
    );
    // Nothing was stored: the aggregate still holds its event and the forged message.
    assert_eq!(store.read_raw("nb-1", 1).await.expect("read").len(), 2);
}
