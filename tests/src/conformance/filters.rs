//! Subscriptions on several subject filters (`EventStore::subscribe_filters`): the union,
//! each event once, in stream order; overlapping sets normalised; bad sets refused.

use cim_events::subject::{FilterSetError, MAX_FILTERS, TokenKind};
use cim_events::{Error, EventStore, StartFrom};

use super::{assert_quiet, expect_invalid_token, take};
use crate::domain::{Named, Noted};

/// Appends `n` `Noted` to `id`, or a `Named` event called `name` when `name` is given;
/// returns its stream sequence.
async fn append<S: EventStore>(store: &S, id: &str, n: u64, name: Option<&str>) -> u64 {
    let stored = match name {
        None => store.append_event(id, Noted::new(id, n), None).await,
        Some(name) => {
            let event = Named {
                id: id.to_owned(),
                name: name.to_owned(),
            };
            store.append_event(id, event, None).await
        }
    };
    stored
        .unwrap_or_else(|e| panic!("append {n} to {id}: {e}"))
        .sequence
}

/// Appends round `n` of a history over three aggregates and two event types, and returns
/// the sequences that filters `{prefix}.nb-1.*` and `{prefix}.*.Renamed` select.
async fn round<S: EventStore>(store: &S, n: u64) -> Vec<u64> {
    let mut selected = Vec::new();
    // nb-1 Noted: the first filter.
    selected.push(append(store, "nb-1", n, None).await);
    // nb-2 Noted: neither.
    append(store, "nb-2", n, None).await;
    // nb-2 Renamed: the second filter.
    selected.push(append(store, "nb-2", n, Some("Renamed")).await);
    // nb-1 Renamed: both filters, delivered once.
    selected.push(append(store, "nb-1", n, Some("Renamed")).await);
    // nb-3 Tagged: neither.
    append(store, "nb-3", n, Some("Tagged")).await;
    selected
}

/// Two filters deliver exactly the union of what each delivers, in stream order, each
/// event once (one that both match included), from history into live events written
/// while the subscription catches up, with no gap or duplicate; then nothing more.
pub async fn two_filters_deliver_their_union_in_order<S: EventStore + Clone + 'static>(store: &S) {
    let mut wanted = Vec::new();
    for n in 1..=10 {
        wanted.extend(round(store, n).await);
    }
    let prefix = store.subject_prefix();
    let filters = [format!("{prefix}.nb-1.*"), format!("{prefix}.*.Renamed")];
    let mut sub = store
        .subscribe_filters(&filters, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut live = Vec::new();
            for n in 11..=20 {
                live.extend(round(&store, n).await);
            }
            live
        })
    };
    let got = take(&mut sub, 60).await;
    wanted.extend(writer.await.expect("writer"));
    assert_eq!(wanted.len(), 60);
    let sequences: Vec<u64> = got.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, wanted, "the union, in stream order, each once");
    for event in &got {
        assert!(
            event.aggregate_id() == "nb-1" || event.event_type() == "Renamed",
            "{}:{} matches neither filter",
            event.aggregate_id(),
            event.event_type()
        );
    }
    assert_eq!(got.iter().filter(|e| e.event_type() == "Noted").count(), 20);
    assert_eq!(
        got.iter().filter(|e| e.event_type() == "Renamed").count(),
        40
    );
    assert_quiet(&mut sub).await;

    // From a stream sequence: the union from there on.
    let from = wanted[30];
    let mut later = store
        .subscribe_filters(&filters, StartFrom::Sequence(from))
        .await
        .expect("subscribe");
    let got: Vec<u64> = take(&mut later, 30)
        .await
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(got, wanted[30..]);
    assert_quiet(&mut later).await;
}

/// Repeated filters and filters another one covers are dropped, not refused (nats-server
/// would refuse them): the set delivers what its widest filters deliver, each event once.
pub async fn overlapping_filters_are_normalised<S: EventStore>(store: &S) {
    let mut all = Vec::new();
    let mut renamed = Vec::new();
    for n in 1..=3 {
        all.push(append(store, "nb-1", n, None).await);
        let sequence = append(store, "nb-2", n, Some("Renamed")).await;
        all.push(sequence);
        renamed.push(sequence);
    }
    let prefix = store.subject_prefix();
    let cases = [
        (
            vec![
                format!("{prefix}.*.Renamed"),
                format!("{prefix}.>"),
                format!("{prefix}.nb-1.Noted"),
            ],
            all.clone(),
        ),
        (
            vec![
                format!("{prefix}.*.Renamed"),
                format!("{prefix}.*.Renamed"),
                format!("{prefix}.nb-2.Renamed"),
            ],
            renamed.clone(),
        ),
    ];
    for (filters, wanted) in cases {
        let mut sub = store
            .subscribe_filters(&filters, StartFrom::Beginning)
            .await
            .unwrap_or_else(|e| panic!("{filters:?}: {e}"));
        let got: Vec<u64> = take(&mut sub, wanted.len())
            .await
            .iter()
            .map(|e| e.sequence)
            .collect();
        assert_eq!(got, wanted, "{filters:?}");
        assert_quiet(&mut sub).await;
    }
}

/// An empty set, too many filters, or one bad filter among good ones is a typed error
/// before anything is subscribed.
pub async fn invalid_filter_sets_are_refused<S: EventStore>(store: &S) {
    let prefix = store.subject_prefix().to_owned();
    match store.subscribe_filters(&[], StartFrom::Beginning).await {
        Err(Error::FilterSet(FilterSetError::Empty)) => {}
        other => panic!("expected FilterSet(Empty), got {:?}", other.map(|_| ())),
    }
    let many: Vec<String> = (0..=MAX_FILTERS)
        .map(|n| format!("{prefix}.*.T{n}"))
        .collect();
    match store.subscribe_filters(&many, StartFrom::Beginning).await {
        Err(Error::FilterSet(FilterSetError::TooMany { count, max })) => {
            assert_eq!((count, max), (MAX_FILTERS + 1, MAX_FILTERS));
        }
        other => panic!("expected FilterSet(TooMany), got {:?}", other.map(|_| ())),
    }
    let outside = [format!("{prefix}.>"), "other.>".to_owned()];
    match store
        .subscribe_filters(&outside, StartFrom::Beginning)
        .await
    {
        Err(Error::FilterOutsidePrefix { filter, .. }) => assert_eq!(filter, "other.>"),
        other => panic!("expected FilterOutsidePrefix, got {:?}", other.map(|_| ())),
    }
    let malformed = [format!("{prefix}.*.Noted"), format!("{prefix}..Noted")];
    expect_invalid_token(
        store
            .subscribe_filters(&malformed, StartFrom::Beginning)
            .await
            .map(|_| ()),
        TokenKind::Filter,
    );
    // The most filters a subscription takes is accepted.
    let mut sub = store
        .subscribe_filters(&many[..MAX_FILTERS], StartFrom::Beginning)
        .await
        .expect("MAX_FILTERS filters");
    append(store, "nb-1", 1, Some("T7")).await;
    assert_eq!(take(&mut sub, 1).await[0].event_type(), "T7");
    assert_quiet(&mut sub).await;
}
