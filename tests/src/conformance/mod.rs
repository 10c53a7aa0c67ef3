//! The conformance suite: written once against [`EventStore`], run against every store.
//!
//! A store's test file instantiates it with [`conformance_suite!`](crate::conformance_suite),
//! naming an async function that returns a fresh, empty [`Fixture`]. Each case becomes
//! one `#[tokio::test]`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cim_events::payload::MAX_DEPTH;
use cim_events::payload::PayloadProblem;
use cim_events::subject::TokenKind;
use cim_events::{
    Cause, Cid, Error, EventHeader, EventStore, ExpectedVersion, PreparedAppend, StartFrom,
};
use futures::StreamExt;

use crate::domain::{Entered, Measured, Named, Nested, Noted};

mod atomic;
mod filters;
mod import;
pub use atomic::*;
pub use filters::*;
pub use import::*;

/// Generous bound for anything a subscription must deliver; a hang fails the test.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// A fresh, empty store under test, and whatever must live as long as it (a server).
pub trait Fixture: Send + Sync {
    /// The store type.
    type Store: EventStore + Clone + 'static;
    /// The store.
    fn store(&self) -> &Self::Store;
}

impl Fixture for cim_events::MemoryEventStore {
    type Store = Self;
    fn store(&self) -> &Self {
        self
    }
}

/// Instantiates every conformance case as a `#[tokio::test]` against the fixtures that
/// `$make` (an async fn returning a [`Fixture`]) creates.
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@cases $make;
            append_and_load_round_trip,
            append_returns_chained_metadata,
            load_from_version,
            head_tracks_the_newest_event,
            unknown_aggregate_is_empty_and_valid,
            no_stream_conflicts_when_events_exist,
            exact_conflicts_on_wrong_version,
            head_conflicts_on_stale_cid,
            seed_previous_cid_is_an_expectation,
            any_appends_after_the_head,
            multi_event_append_is_atomic,
            failed_multi_event_append_stores_nothing,
            conflicting_multi_event_append_stores_nothing,
            oversized_batch_is_rejected,
            empty_append_is_rejected,
            concurrent_exact_writers_stay_linear,
            concurrent_any_writers_stay_linear,
            catch_up_then_live_has_no_gap_or_duplicate,
            subscription_by_event_type_filter,
            subscription_from_sequence,
            subscription_from_version,
            subscription_from_time,
            seed_subscription_is_live_only,
            invalid_aggregate_ids_are_rejected,
            invalid_event_types_are_rejected,
            invalid_subscription_filters_are_rejected,
            subscriptions_outside_the_prefix_are_refused,
            last_sequence_is_the_newest_stored_message,
            aggregate_mismatch_is_rejected,
            non_ipld_payloads_are_rejected,
            oversized_event_is_rejected,
            correlation_and_causation_are_recorded,
            verify_chain_reports_intact_chain,
            header_values_with_line_breaks_are_refused,
            payload_nesting_is_bounded,
            events_of_another_aggregate_type_are_refused,
            a_prepared_append_is_stored_once,
            an_import_keeps_every_cid,
            an_import_resumes_after_a_stored_prefix,
            an_import_never_forks_a_chain,
            a_faulty_import_is_located_and_stores_nothing,
            an_atomic_commit_stores_every_aggregate_together,
            an_atomic_commit_with_one_stale_expectation_stores_nothing,
            invalid_atomic_commits_are_refused,
            an_atomic_commit_is_stored_once,
            racing_atomic_commits_over_overlapping_pairs_stay_whole,
            two_filters_deliver_their_union_in_order,
            overlapping_filters_are_normalised,
            invalid_filter_sets_are_refused,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture = $make().await;
                $crate::conformance::$case($crate::conformance::Fixture::store(&fixture)).await;
            }
        )*
    };
}

async fn append_n<S: EventStore>(store: &S, id: &str, from: u64, to: u64) {
    for n in from..=to {
        store
            .append_event(id, Noted::new(id, n), None)
            .await
            .unwrap_or_else(|e| panic!("append {n} to {id}: {e}"));
    }
}

fn counters(events: &[cim_events::RecordedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.decode::<Noted>().expect("decodes as Noted").n)
        .collect()
}

/// Appends three events and reads them back: payloads, versions, CIDs and links agree.
pub async fn append_and_load_round_trip<S: EventStore>(store: &S) {
    let mut metas = Vec::new();
    for n in 1..=3 {
        let event = Noted {
            text: format!("note {n}"),
            ..Noted::new("nb-1", n)
        };
        metas.push(
            store
                .append_event("nb-1", event, None)
                .await
                .expect("append"),
        );
    }
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(loaded.len(), 3);
    for (i, (event, meta)) in loaded.iter().zip(&metas).enumerate() {
        let decoded: Noted = event.decode().expect("decode");
        assert_eq!(decoded.n, i as u64 + 1);
        assert_eq!(decoded.text, format!("note {}", i + 1));
        assert_eq!(event.version(), i as u64 + 1);
        assert_eq!(event.cid, meta.cid);
        assert_eq!(event.sequence, meta.sequence);
        assert_eq!(event.metadata(), *meta);
        assert_eq!(event.block.aggregate_type, "Notebook");
        assert_eq!(event.event_type(), "Noted");
        assert_eq!(
            event.subject,
            format!("{}.nb-1.Noted", store.subject_prefix())
        );
    }
    assert_eq!(loaded[0].block.prev, None);
    assert_eq!(loaded[1].block.prev, Some(loaded[0].cid));
    assert_eq!(loaded[2].block.prev, Some(loaded[1].cid));
}

/// Each append's metadata names its predecessor and a growing stream sequence.
pub async fn append_returns_chained_metadata<S: EventStore>(store: &S) {
    let a = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("a");
    let other = store
        .append_event("nb-2", Noted::new("nb-2", 1), None)
        .await
        .expect("o");
    let b = store
        .append_event("nb-1", Noted::new("nb-1", 2), None)
        .await
        .expect("b");
    assert_eq!((a.version, other.version, b.version), (1, 1, 2));
    assert!(a.sequence < other.sequence && other.sequence < b.sequence);
    assert_eq!(a.previous_cid, None);
    assert_eq!(b.previous_cid, Some(a.cid));
    assert_ne!(a.event_id, b.event_id);
    assert!(a.time <= b.time);
    // Without a header, each event starts its own correlation.
    assert_eq!(a.correlation_id, a.event_id);
}

/// `load_from` skips the earlier versions.
pub async fn load_from_version<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 6).await;
    let tail = store.load_from("nb-1", 4).await.expect("load_from");
    assert_eq!(counters(&tail), vec![4, 5, 6]);
    assert!(
        store
            .load_from("nb-1", 7)
            .await
            .expect("past head")
            .is_empty()
    );
}

/// `head` is the newest event's version, CID and sequence.
pub async fn head_tracks_the_newest_event<S: EventStore>(store: &S) {
    assert_eq!(store.head("nb-1").await.expect("head"), None);
    append_n(store, "nb-1", 1, 2).await;
    let last = store
        .append_event("nb-1", Noted::new("nb-1", 3), None)
        .await
        .expect("3");
    let head = store.head("nb-1").await.expect("head").expect("some head");
    assert_eq!(
        (head.version, head.cid, head.sequence),
        (3, last.cid, last.sequence)
    );
}

/// An aggregate with no events loads empty, has no head, and verifies.
pub async fn unknown_aggregate_is_empty_and_valid<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 1).await;
    assert!(store.load("nb-9").await.expect("load").is_empty());
    assert_eq!(store.head("nb-9").await.expect("head"), None);
    let report = store.verify_chain("nb-9").await.expect("verify");
    assert!(report.is_valid());
    assert_eq!(report.events, 0);
}

fn expect_conflict<T: std::fmt::Debug>(
    result: cim_events::Result<T>,
    expected: ExpectedVersion,
    actual_version: Option<u64>,
) {
    match result {
        Err(Error::Conflict(c)) => {
            assert_eq!(c.expected, expected);
            assert_eq!(c.actual.map(|h| h.version), actual_version);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// `NoStream` fails once the aggregate has events.
pub async fn no_stream_conflicts_when_events_exist<S: EventStore>(store: &S) {
    store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 1)],
            ExpectedVersion::NoStream,
        )
        .await
        .expect("first write with NoStream");
    let second = store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 2)],
            ExpectedVersion::NoStream,
        )
        .await;
    expect_conflict(second, ExpectedVersion::NoStream, Some(1));
    assert_eq!(store.load("nb-1").await.expect("load").len(), 1);
}

/// `Exact(v)` succeeds only at version `v`.
pub async fn exact_conflicts_on_wrong_version<S: EventStore>(store: &S) {
    store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 1)],
            ExpectedVersion::Exact(0),
        )
        .await
        .expect("Exact(0) on a new aggregate");
    for wrong in [0, 2, 5] {
        let r = store
            .append_events(
                "nb-1",
                vec![Noted::new("nb-1", 9)],
                ExpectedVersion::Exact(wrong),
            )
            .await;
        expect_conflict(r, ExpectedVersion::Exact(wrong), Some(1));
    }
    store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 2)],
            ExpectedVersion::Exact(1),
        )
        .await
        .expect("Exact(1)");
    assert_eq!(
        counters(&store.load("nb-1").await.expect("load")),
        vec![1, 2]
    );
}

/// `Head(cid)` fails when the head moved on, and on a new aggregate.
pub async fn head_conflicts_on_stale_cid<S: EventStore>(store: &S) {
    let first = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    let new_aggregate = store
        .append_events(
            "nb-2",
            vec![Noted::new("nb-2", 1)],
            ExpectedVersion::Head(first.cid),
        )
        .await;
    expect_conflict(new_aggregate, ExpectedVersion::Head(first.cid), None);
    store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 2)],
            ExpectedVersion::Head(first.cid),
        )
        .await
        .expect("Head(first)");
    let stale = store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 3)],
            ExpectedVersion::Head(first.cid),
        )
        .await;
    expect_conflict(stale, ExpectedVersion::Head(first.cid), Some(2));
}

/// The seed API's `Some(previous_cid)` is the same expectation as `Head`.
pub async fn seed_previous_cid_is_an_expectation<S: EventStore>(store: &S) {
    let first = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    let second = store
        .append_event_with_header(
            "nb-1",
            Noted::new("nb-1", 2),
            EventHeader::new("corr"),
            Some(first.cid),
        )
        .await
        .expect("2 after first");
    assert_eq!(second.previous_cid, Some(first.cid));
    let stale = store
        .append_event("nb-1", Noted::new("nb-1", 3), Some(first.cid))
        .await;
    expect_conflict(stale, ExpectedVersion::Head(first.cid), Some(2));
}

/// `Any` appends after whatever the head is.
pub async fn any_appends_after_the_head<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 2).await;
    let metas = store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 3), Noted::new("nb-1", 4)],
            ExpectedVersion::Any,
        )
        .await
        .expect("Any");
    assert_eq!(
        metas.iter().map(|m| m.version).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(metas[1].previous_cid, Some(metas[0].cid));
}

/// Several events in one append get consecutive versions and link to each other.
pub async fn multi_event_append_is_atomic<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 1).await;
    let events: Vec<_> = (2..=11).map(|n| Noted::new("nb-1", n)).collect();
    let metas = store
        .append_events("nb-1", events, ExpectedVersion::Exact(1))
        .await
        .expect("batch");
    assert_eq!(metas.len(), 10);
    for pair in metas.windows(2) {
        assert_eq!(pair[1].version, pair[0].version + 1);
        assert_eq!(pair[1].previous_cid, Some(pair[0].cid));
    }
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(counters(&loaded), (1..=11).collect::<Vec<_>>());
    assert!(store.verify_chain("nb-1").await.expect("verify").is_valid());
}

/// A batch with one bad event stores none of them.
pub async fn failed_multi_event_append_stores_nothing<S: EventStore>(store: &S) {
    let good = Measured {
        id: "nb-1".into(),
        value: 1.0,
        table: BTreeMap::new(),
    };
    let bad = Measured {
        value: f64::NAN,
        ..good.clone()
    };
    let r = store
        .append_events(
            "nb-1",
            vec![good.clone(), good.clone(), bad],
            ExpectedVersion::Any,
        )
        .await;
    assert!(matches!(r, Err(Error::Payload(_))), "{r:?}");
    let too_big = Noted {
        text: "x".repeat(2 * 1024 * 1024),
        ..Noted::new("nb-1", 2)
    };
    let r = store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 1), too_big],
            ExpectedVersion::Any,
        )
        .await;
    assert!(matches!(r, Err(Error::EventTooLarge { .. })), "{r:?}");
    assert!(store.load("nb-1").await.expect("load").is_empty());
    assert_eq!(store.head("nb-1").await.expect("head"), None);
}

/// A batch whose expectation fails stores none of its events.
pub async fn conflicting_multi_event_append_stores_nothing<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 2).await;
    let r = store
        .append_events(
            "nb-1",
            (3..=7).map(|n| Noted::new("nb-1", n)).collect(),
            ExpectedVersion::Exact(1),
        )
        .await;
    expect_conflict(r, ExpectedVersion::Exact(1), Some(2));
    assert_eq!(
        counters(&store.load("nb-1").await.expect("load")),
        vec![1, 2]
    );
}

/// More than 1000 events in one append is an error, never a silent split.
pub async fn oversized_batch_is_rejected<S: EventStore>(store: &S) {
    let events: Vec<_> = (1..=1001).map(|n| Noted::new("nb-1", n)).collect();
    let r = store
        .append_events("nb-1", events, ExpectedVersion::Any)
        .await;
    assert!(
        matches!(
            r,
            Err(Error::BatchTooLarge {
                count: 1001,
                max: 1000
            })
        ),
        "{r:?}"
    );
    assert!(store.load("nb-1").await.expect("load").is_empty());
}

/// An append of no events is an error.
pub async fn empty_append_is_rejected<S: EventStore>(store: &S) {
    let r = store
        .append_events::<Noted>("nb-1", vec![], ExpectedVersion::Any)
        .await;
    assert!(matches!(r, Err(Error::EmptyAppend)), "{r:?}");
}

const WRITERS: u64 = 16;
const PER_WRITER: u64 = 5;

/// 16 writers race with `Exact` expectations: losers see typed conflicts and retry; the
/// result is one linear chain holding every event exactly once.
pub async fn concurrent_exact_writers_stay_linear<S: EventStore + Clone + 'static>(store: &S) {
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let event = Noted::new("race", w * 100 + i);
                loop {
                    let head = store.head("race").await.expect("head");
                    let expected = ExpectedVersion::Exact(head.map_or(0, |h| h.version));
                    match store
                        .append_events("race", vec![event.clone()], expected)
                        .await
                    {
                        Ok(_) => break,
                        Err(Error::Conflict(c)) => assert_eq!(c.aggregate_id, "race"),
                        Err(e) => panic!("writer {w}: unexpected error {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    assert_linear_and_complete(store, "race").await;
}

/// 16 writers append with `Any`: the store resolves every race itself.
pub async fn concurrent_any_writers_stay_linear<S: EventStore + Clone + 'static>(store: &S) {
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                store
                    .append_events(
                        "race",
                        vec![Noted::new("race", w * 100 + i)],
                        ExpectedVersion::Any,
                    )
                    .await
                    .unwrap_or_else(|e| panic!("writer {w}: {e}"));
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    assert_linear_and_complete(store, "race").await;
}

async fn assert_linear_and_complete<S: EventStore>(store: &S, id: &str) {
    let loaded = store.load(id).await.expect("load");
    assert_eq!(loaded.len() as u64, WRITERS * PER_WRITER);
    let versions: Vec<u64> = loaded.iter().map(|e| e.version()).collect();
    assert_eq!(versions, (1..=WRITERS * PER_WRITER).collect::<Vec<_>>());
    let seen: BTreeSet<u64> = counters(&loaded).into_iter().collect();
    let wanted: BTreeSet<u64> = (0..WRITERS)
        .flat_map(|w| (0..PER_WRITER).map(move |i| w * 100 + i))
        .collect();
    assert_eq!(seen, wanted, "every event stored exactly once");
    let report = store.verify_chain(id).await.expect("verify");
    assert!(report.is_valid(), "{:?}", report.faults);
}

async fn take(stream: &mut cim_events::EventStream, n: usize) -> Vec<cim_events::RecordedEvent> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(DELIVERY_TIMEOUT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events delivered in time", out.len()))
            .expect("stream ended early");
        out.push(next.expect("event decodes"));
    }
    out
}

/// Assert that nothing more arrives for a short while.
async fn assert_quiet(stream: &mut cim_events::EventStream) {
    let extra = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(extra.is_err(), "unexpected extra item: {extra:?}");
}

/// A subscription from the beginning delivers history, then live events written while it
/// catches up, each once and in order.
pub async fn catch_up_then_live_has_no_gap_or_duplicate<S: EventStore + Clone + 'static>(
    store: &S,
) {
    append_n(store, "nb-1", 1, 50).await;
    append_n(store, "nb-2", 1, 5).await;
    let filter = format!("{}.nb-1.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { append_n(&store, "nb-1", 51, 100).await })
    };
    let got = take(&mut sub, 100).await;
    writer.await.expect("writer");
    assert_eq!(counters(&got), (1..=100).collect::<Vec<_>>());
    assert!(got.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_quiet(&mut sub).await;
}

/// `{prefix}.*.{EventType}` sees only that event type, across aggregates.
pub async fn subscription_by_event_type_filter<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 2).await;
    store
        .append_event(
            "nb-2",
            Named {
                id: "nb-2".into(),
                name: "Renamed".into(),
            },
            None,
        )
        .await
        .expect("renamed");
    append_n(store, "nb-3", 1, 1).await;
    let filter = format!("{}.*.Renamed", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let got = take(&mut sub, 1).await;
    assert_eq!(got[0].aggregate_id(), "nb-2");
    assert_eq!(got[0].event_type(), "Renamed");
    assert_quiet(&mut sub).await;
}

/// A subscription can start at a stream sequence.
pub async fn subscription_from_sequence<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 3).await;
    let third = store
        .head("nb-1")
        .await
        .expect("head")
        .expect("head")
        .sequence;
    append_n(store, "nb-1", 4, 5).await;
    let filter = format!("{}.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Sequence(third))
        .await
        .expect("subscribe");
    assert_eq!(counters(&take(&mut sub, 3).await), vec![3, 4, 5]);
    assert_quiet(&mut sub).await;
}

/// A subscription on one aggregate can start at an aggregate version.
pub async fn subscription_from_version<S: EventStore>(store: &S) {
    append_n(store, "nb-2", 1, 4).await;
    append_n(store, "nb-1", 1, 6).await;
    let filter = format!("{}.nb-1.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Version(5))
        .await
        .expect("subscribe");
    assert_eq!(counters(&take(&mut sub, 2).await), vec![5, 6]);
    append_n(store, "nb-1", 7, 7).await;
    assert_eq!(counters(&take(&mut sub, 1).await), vec![7]);
}

/// A subscription can start at a time: the first message stored at or after it, then
/// live (the operator CLI's `tail --since`).
pub async fn subscription_from_time<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 3).await;
    // Margins on both sides, so that the store's clock and this one may differ a little.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let since = std::time::SystemTime::now();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    append_n(store, "nb-1", 4, 5).await;
    let filter = format!("{}.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Time(since))
        .await
        .expect("subscribe");
    assert_eq!(counters(&take(&mut sub, 2).await), vec![4, 5]);
    assert_quiet(&mut sub).await;
    append_n(store, "nb-1", 6, 6).await;
    assert_eq!(counters(&take(&mut sub, 1).await), vec![6]);
}

/// The seed's `subscribe_to_events` sees only new events of its aggregate.
pub async fn seed_subscription_is_live_only<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 3).await;
    let mut sub = store.subscribe_to_events("nb-1").await.expect("subscribe");
    append_n(store, "nb-2", 1, 2).await;
    append_n(store, "nb-1", 4, 5).await;
    assert_eq!(counters(&take(&mut sub, 2).await), vec![4, 5]);
    assert_quiet(&mut sub).await;
}

fn expect_invalid_token<T: std::fmt::Debug>(r: cim_events::Result<T>, kind: TokenKind) {
    match r {
        Err(Error::InvalidToken(e)) => assert_eq!(e.kind, kind),
        other => panic!("expected an invalid {kind} error, got {other:?}"),
    }
}

/// Ids that are not one safe subject token are rejected and nothing is stored.
pub async fn invalid_aggregate_ids_are_rejected<S: EventStore>(store: &S) {
    let long = "x".repeat(200);
    for bad in [
        "a.b",
        "a*",
        "a>",
        ">",
        "",
        "a b",
        "tab\t",
        "nul\0",
        long.as_str(),
    ] {
        let r = store.append_event(bad, Noted::new(bad, 1), None).await;
        expect_invalid_token(r, TokenKind::AggregateId);
        expect_invalid_token(store.load(bad).await, TokenKind::AggregateId);
        expect_invalid_token(store.head(bad).await, TokenKind::AggregateId);
        expect_invalid_token(store.verify_chain(bad).await, TokenKind::AggregateId);
        expect_invalid_token(
            store.subscribe_to_events(bad).await.map(|_| ()),
            TokenKind::AggregateId,
        );
    }
    assert!(store.aggregate_ids().await.expect("ids").is_empty());
}

/// Event types that are not one safe subject token are rejected and nothing is stored.
pub async fn invalid_event_types_are_rejected<S: EventStore>(store: &S) {
    for bad in ["Order.Created", "Order*", "Order>", "", "Order Created"] {
        let event = Named {
            id: "nb-1".into(),
            name: bad.into(),
        };
        let r = store.append_event("nb-1", event, None).await;
        expect_invalid_token(r, TokenKind::EventType);
    }
    assert!(store.aggregate_ids().await.expect("ids").is_empty());
}

/// Malformed subscription filters are rejected before anything is subscribed.
pub async fn invalid_subscription_filters_are_rejected<S: EventStore>(store: &S) {
    let prefix = store.subject_prefix();
    for bad in [
        format!("{prefix}.>.Noted"),
        format!("{prefix}..Noted"),
        format!("{prefix}.a b.>"),
        String::new(),
    ] {
        let r = store
            .subscribe(&bad, StartFrom::Beginning)
            .await
            .map(|_| ());
        expect_invalid_token(r, TokenKind::Filter);
    }
}

/// A filter that cannot match this store's events (another prefix, a longer prefix, a
/// wildcard in the prefix's place, the wrong number of tokens) is refused with a typed
/// error instead of a subscription that never delivers.
pub async fn subscriptions_outside_the_prefix_are_refused<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 1).await;
    let prefix = store.subject_prefix().to_owned();
    for outside in [
        "other.>".to_owned(),
        format!("{prefix}2.>"),
        ">".to_owned(),
        "*.>".to_owned(),
        prefix.clone(),
        format!("{prefix}.nb-1"),
        format!("{prefix}.nb-1.Noted.x"),
    ] {
        match store.subscribe(&outside, StartFrom::Beginning).await {
            Err(Error::FilterOutsidePrefix {
                filter, prefix: p, ..
            }) => {
                assert_eq!(
                    (filter.as_str(), p.as_str()),
                    (outside.as_str(), prefix.as_str())
                );
            }
            other => panic!(
                "{outside}: expected FilterOutsidePrefix, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    // Filters inside the prefix still deliver.
    for inside in [
        format!("{prefix}.>"),
        format!("{prefix}.nb-1.>"),
        format!("{prefix}.*.Noted"),
    ] {
        let mut sub = store
            .subscribe(&inside, StartFrom::Beginning)
            .await
            .unwrap_or_else(|e| panic!("{inside}: {e}"));
        assert_eq!(counters(&take(&mut sub, 1).await), vec![1], "{inside}");
    }
}

/// `last_sequence` is 0 on an empty store and the newest message's stream sequence after
/// appends to several aggregates, so that a projection's lag needs one call.
pub async fn last_sequence_is_the_newest_stored_message<S: EventStore>(store: &S) {
    assert_eq!(store.last_sequence().await.expect("empty"), 0);
    append_n(store, "nb-1", 1, 3).await;
    append_n(store, "nb-2", 1, 2).await;
    let newest = store
        .head("nb-2")
        .await
        .expect("head")
        .expect("head")
        .sequence;
    assert_eq!(store.last_sequence().await.expect("last"), newest);
    append_n(store, "nb-1", 4, 4).await;
    assert_eq!(store.last_sequence().await.expect("last"), newest + 1);
}

/// An event appended to another aggregate's id is rejected.
pub async fn aggregate_mismatch_is_rejected<S: EventStore>(store: &S) {
    let r = store
        .append_event("nb-1", Noted::new("nb-2", 1), None)
        .await;
    assert!(
        matches!(&r, Err(Error::AggregateMismatch { expected, found }) if expected == "nb-1" && found == "nb-2"),
        "{r:?}"
    );
    assert!(store.aggregate_ids().await.expect("ids").is_empty());
}

/// NaN, infinity and non-string map keys are rejected before anything is stored.
pub async fn non_ipld_payloads_are_rejected<S: EventStore>(store: &S) {
    let base = Measured {
        id: "nb-1".into(),
        value: 0.5,
        table: BTreeMap::new(),
    };
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let r = store
            .append_event(
                "nb-1",
                Measured {
                    value,
                    ..base.clone()
                },
                None,
            )
            .await;
        match r {
            Err(Error::Payload(e)) => {
                assert_eq!(e.path, "$.value");
                assert!(matches!(e.problem, PayloadProblem::NonFiniteFloat(_)));
            }
            other => panic!("expected a payload error, got {other:?}"),
        }
    }
    let keyed = Measured {
        table: [(1, 2)].into(),
        ..base.clone()
    };
    let r = store.append_event("nb-1", keyed, None).await;
    assert!(
        matches!(&r, Err(Error::Payload(e)) if e.problem == PayloadProblem::NonStringKey),
        "{r:?}"
    );
    assert!(store.aggregate_ids().await.expect("ids").is_empty());
    store
        .append_event("nb-1", base, None)
        .await
        .expect("a finite float is fine");
}

/// An event over the size limit is rejected before it is published.
pub async fn oversized_event_is_rejected<S: EventStore>(store: &S) {
    let event = Noted {
        text: "x".repeat(2 * 1024 * 1024),
        ..Noted::new("nb-1", 1)
    };
    let r = store.append_event("nb-1", event, None).await;
    assert!(
        matches!(&r, Err(Error::EventTooLarge { size, max, .. }) if size > max),
        "{r:?}"
    );
    assert!(store.aggregate_ids().await.expect("ids").is_empty());
}

/// Correlation, causation and metadata are stored in the block and returned.
pub async fn correlation_and_causation_are_recorded<S: EventStore>(store: &S) {
    let cause = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("cause");
    let header = EventHeader::caused_by(&cause).with_meta("user", "alice");
    let effect = store
        .append_event_with_header("nb-2", Noted::new("nb-2", 1), header, None)
        .await
        .expect("effect");
    assert_eq!(effect.correlation_id, cause.correlation_id);
    assert_eq!(effect.causation_id, Some(cause.cid.to_string()));
    let loaded = store.load("nb-2").await.expect("load");
    let stored_cause = store.load("nb-1").await.expect("load cause");
    assert_eq!(
        EventHeader::caused_by(&stored_cause[0]),
        EventHeader::caused_by(&cause),
        "a loaded event causes exactly what its append metadata does"
    );
    assert_eq!(loaded[0].block.causation_id, Some(cause.cid.to_string()));
    assert_eq!(
        loaded[0].block.meta.get("user").map(String::as_str),
        Some("alice")
    );
    let batch = store
        .append_events_with_header(
            "nb-3",
            vec![Noted::new("nb-3", 1), Noted::new("nb-3", 2)],
            EventHeader::default(),
            ExpectedVersion::Any,
        )
        .await
        .expect("batch");
    assert_eq!(
        batch[1].correlation_id, batch[0].event_id,
        "a batch shares one correlation"
    );
}

/// An intact chain verifies, with the head and count reported.
pub async fn verify_chain_reports_intact_chain<S: EventStore>(store: &S) {
    append_n(store, "nb-1", 1, 5).await;
    append_n(store, "nb-2", 1, 2).await;
    let report = store.verify_chain("nb-1").await.expect("verify");
    assert!(report.is_valid(), "{:?}", report.faults);
    assert_eq!(report.events, 5);
    assert_eq!(
        report.head,
        Some(store.head("nb-1").await.expect("h").expect("h").cid)
    );
    assert!(store.validate_cid_chain("nb-1").await.expect("validate"));
}

/// A stored event as a foreign writer could have left it: its correlation id holds a line
/// break, which its block can carry but a message header cannot.
struct ForgedCause {
    correlation_id: String,
    cid: Cid,
}

impl Cause for ForgedCause {
    fn correlation_id(&self) -> &str {
        &self.correlation_id
    }
    fn cid(&self) -> Cid {
        self.cid
    }
}

/// Defect 5: a correlation or causation id holding a line break (which would end the
/// message header and start another) is refused with `InvalidHeaderValue` naming the
/// field, also when it comes from `EventHeader::caused_by`, and nothing is stored.
pub async fn header_values_with_line_breaks_are_refused<S: EventStore>(store: &S) {
    let cause = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("cause");
    let forged = ForgedCause {
        correlation_id: "corr\nCim-Seq: 1".to_owned(),
        cid: cause.cid,
    };
    let cases = [
        (EventHeader::new("corr\nInjected: yes"), "correlation_id"),
        (EventHeader::new("corr\r"), "correlation_id"),
        (
            EventHeader::with_causation("corr", "evt\n9"),
            "causation_id",
        ),
        (EventHeader::caused_by(&forged), "correlation_id"),
        (
            EventHeader::with_causation(cause.correlation_id.clone(), "a\nb"),
            "causation_id",
        ),
    ];
    for (header, field) in cases {
        let value = match field {
            "correlation_id" => header.correlation_id.clone(),
            _ => header.causation_id.clone().unwrap_or_default(),
        };
        for id in ["nb-1", "nb-2"] {
            let r = store
                .append_event_with_header(id, Noted::new(id, 2), header.clone(), None)
                .await;
            match r {
                Err(Error::InvalidHeaderValue {
                    field: f, value: v, ..
                }) => assert_eq!((f, v.as_str()), (field, value.as_str())),
                other => panic!("{field} {value:?}: expected InvalidHeaderValue, got {other:?}"),
            }
        }
    }
    assert_eq!(
        store.head("nb-1").await.expect("head").map(|h| h.cid),
        Some(cause.cid)
    );
    assert!(store.load("nb-2").await.expect("load").is_empty());
    assert_eq!(store.aggregate_ids().await.expect("ids"), ["nb-1"]);
}

/// Defects 6/7: a payload nested exactly `MAX_DEPTH` levels is stored and loads back
/// equal; one level more is refused with `TooDeep` and nothing is stored.
pub async fn payload_nesting_is_bounded<S: EventStore>(store: &S) {
    let deepest = Nested::with_depth("nb-1", MAX_DEPTH);
    store
        .append_event("nb-1", deepest.clone(), None)
        .await
        .expect("MAX_DEPTH levels are stored");
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].decode::<Nested>().expect("decodes"), deepest);
    assert!(store.verify_chain("nb-1").await.expect("verify").is_valid());

    for id in ["nb-1", "nb-2"] {
        let r = store
            .append_event(id, Nested::with_depth(id, MAX_DEPTH + 1), None)
            .await;
        match r {
            Err(Error::Payload(e)) => {
                assert_eq!(e.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
            }
            other => panic!("expected a TooDeep payload error, got {other:?}"),
        }
    }
    assert_eq!(store.load("nb-1").await.expect("load").len(), 1);
    assert!(store.load("nb-2").await.expect("load").is_empty());
}

/// Defect 11: events of another aggregate type appended to an existing aggregate id are
/// refused, naming both types, whatever the expectation, and nothing is stored.
pub async fn events_of_another_aggregate_type_are_refused<S: EventStore>(store: &S) {
    let first = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("a Notebook");
    for expected in [
        ExpectedVersion::Any,
        ExpectedVersion::Exact(1),
        ExpectedVersion::Head(first.cid),
        ExpectedVersion::After(first.head()),
    ] {
        let r = store
            .append_events("nb-1", entered_for("nb-1"), expected)
            .await;
        match r {
            Err(Error::AggregateTypeMismatch {
                aggregate_id,
                chain,
                event,
            }) => assert_eq!(
                (aggregate_id.as_str(), chain.as_str(), event.as_str()),
                ("nb-1", "Notebook", "Ledger"),
                "{expected}"
            ),
            other => panic!("{expected}: expected AggregateTypeMismatch, got {other:?}"),
        }
    }
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].cid, first.cid);
    // Another id takes the other type.
    store
        .append_events("nb-2", entered_for("nb-2"), ExpectedVersion::NoStream)
        .await
        .expect("a Ledger");
}

fn entered_for(id: &str) -> Vec<Entered> {
    vec![Entered { id: id.into() }]
}

/// Defect 9: a `PreparedAppend` is stored at most once. Appended again after it was
/// stored — whatever the expectation, after other appends, or through a clone — it
/// answers the same metadata (CIDs, sequences) and stores nothing.
pub async fn a_prepared_append_is_stored_once<S: EventStore>(store: &S) {
    let events = [Noted::new("nb-1", 1), Noted::new("nb-1", 2)];
    let prepared = PreparedAppend::new("nb-1", &events, &EventHeader::default()).expect("prepare");
    let stored = store
        .append_prepared(&prepared, ExpectedVersion::Any)
        .await
        .expect("first append");
    for expected in [
        ExpectedVersion::Any,
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(2),
    ] {
        let again = store
            .append_prepared(&prepared, expected)
            .await
            .unwrap_or_else(|e| panic!("{expected}: {e}"));
        assert_eq!(again, stored, "{expected}");
    }
    append_n(store, "nb-1", 3, 4).await;
    let later = store
        .append_prepared(&prepared.clone(), ExpectedVersion::Any)
        .await
        .expect("a clone, after other appends");
    assert_eq!(later, stored);
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(counters(&loaded), [1, 2, 3, 4]);
    let cids: Vec<Cid> = loaded[..2].iter().map(|e| e.cid).collect();
    assert_eq!(cids, stored.iter().map(|m| m.cid).collect::<Vec<_>>());
    let sequences: Vec<u64> = loaded[..2].iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        stored.iter().map(|m| m.sequence).collect::<Vec<_>>()
    );
    // Prepared anew, the same domain events are new events.
    let fresh = PreparedAppend::new("nb-1", &events, &EventHeader::default()).expect("prepare");
    let new = store
        .append_prepared(&fresh, ExpectedVersion::Any)
        .await
        .expect("new events");
    assert_eq!(new[0].version, 5);
}
