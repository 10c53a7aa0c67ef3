//! Conformance cases for atomic commits across aggregates ([`AtomicAppend`]).

use std::collections::BTreeMap;

use cim_events::{
    AtomicAppend, COMMIT_META_KEY, Error, EventHeader, EventStore, ExpectedVersion, MAX_BATCH,
    PreparedAppend, RecordedEvent,
};

use crate::domain::Noted;

fn part(id: &str, ns: &[u64], expected: ExpectedVersion) -> (PreparedAppend, ExpectedVersion) {
    let events: Vec<Noted> = ns.iter().map(|&n| Noted::new(id, n)).collect();
    let prepared = PreparedAppend::new(id, &events, &EventHeader::default()).expect("prepare");
    (prepared, expected)
}

fn commit_of(event: &RecordedEvent) -> &str {
    event
        .block
        .meta
        .get(COMMIT_META_KEY)
        .map(String::as_str)
        .expect("every event of a commit records its id")
}

/// Two aggregates, one new and one with history: both parts are stored, consecutively,
/// each chained on its own head, every event recording the one commit id.
pub async fn an_atomic_commit_stores_every_aggregate_together<S: EventStore>(store: &S) {
    let before = store
        .append_events(
            "pair-a",
            vec![Noted::new("pair-a", 0)],
            ExpectedVersion::NoStream,
        )
        .await
        .expect("history of a");
    let commit = AtomicAppend::new([
        part("pair-a", &[1, 2], ExpectedVersion::After(before[0].head())),
        part("pair-b", &[10], ExpectedVersion::NoStream),
    ])
    .expect("commit");
    let stored = store.append_atomic(&commit).await.expect("committed");
    assert_eq!(stored.len(), 2);
    let sequences: Vec<u64> = stored.iter().flatten().map(|m| m.sequence).collect();
    let first = before[0].sequence + 1;
    assert_eq!(
        sequences,
        [first, first + 1, first + 2],
        "stored together, in order"
    );
    assert_eq!(stored[0][0].previous_cid, Some(before[0].cid));
    assert_eq!(stored[1][0].previous_cid, None);
    let a = store.load("pair-a").await.expect("load a");
    let b = store.load("pair-b").await.expect("load b");
    assert_eq!((a.len(), b.len()), (3, 1));
    for event in a.iter().skip(1).chain(&b) {
        assert_eq!(commit_of(event), commit.commit_id());
    }
    assert!(!a[0].block.meta.contains_key(COMMIT_META_KEY));
    for id in ["pair-a", "pair-b"] {
        assert!(store.verify_chain(id).await.expect("verify").is_valid());
    }
}

/// Either expectation stale: the commit is a conflict naming that aggregate, and nothing
/// of it is stored on either.
pub async fn an_atomic_commit_with_one_stale_expectation_stores_nothing<S: EventStore>(store: &S) {
    for id in ["stale-a", "stale-b"] {
        store
            .append_events(id, vec![Noted::new(id, 0)], ExpectedVersion::NoStream)
            .await
            .expect("history");
    }
    let last = store.last_sequence().await.expect("last sequence");
    for stale in ["stale-a", "stale-b"] {
        let expect = |id: &str| {
            if id == stale {
                ExpectedVersion::Exact(0)
            } else {
                ExpectedVersion::Exact(1)
            }
        };
        let commit = AtomicAppend::new([
            part("stale-a", &[1], expect("stale-a")),
            part("stale-b", &[1, 2], expect("stale-b")),
        ])
        .expect("commit");
        match store.append_atomic(&commit).await {
            Err(Error::Conflict(conflict)) => {
                assert_eq!(conflict.aggregate_id, stale);
                assert_eq!(conflict.actual.map(|h| h.version), Some(1));
            }
            other => panic!("expected a conflict on {stale}, got {other:?}"),
        }
        assert_eq!(
            store.last_sequence().await.expect("last"),
            last,
            "nothing stored"
        );
        for id in ["stale-a", "stale-b"] {
            assert_eq!(store.load(id).await.expect("load").len(), 1);
        }
    }
}

/// Malformed commits are typed errors before anything is stored.
pub async fn invalid_atomic_commits_are_refused<S: EventStore>(store: &S) {
    let twice = AtomicAppend::new([
        part("dup", &[1], ExpectedVersion::Any),
        part("dup", &[2], ExpectedVersion::Any),
    ]);
    assert!(
        matches!(twice, Err(Error::DuplicateAggregate { aggregate_id }) if aggregate_id == "dup")
    );
    let many: Vec<u64> = (0..MAX_BATCH as u64).collect();
    let too_large = AtomicAppend::new([
        part("big-a", &many, ExpectedVersion::Any),
        part("big-b", &[1], ExpectedVersion::Any),
    ]);
    assert!(matches!(
        too_large,
        Err(Error::BatchTooLarge { count, max: MAX_BATCH }) if count == MAX_BATCH + 1
    ));
    assert!(matches!(AtomicAppend::new([]), Err(Error::EmptyAppend)));
    assert_eq!(store.last_sequence().await.expect("last"), 0);
}

/// An `AtomicAppend` appended again answers where it is stored, storing nothing more.
pub async fn an_atomic_commit_is_stored_once<S: EventStore>(store: &S) {
    let commit = AtomicAppend::new([
        part("once-a", &[1], ExpectedVersion::NoStream),
        part("once-b", &[1], ExpectedVersion::NoStream),
    ])
    .expect("commit");
    let first = store.append_atomic(&commit).await.expect("first");
    let again = store.append_atomic(&commit).await.expect("again");
    assert_eq!(first, again);
    assert_eq!(store.last_sequence().await.expect("last"), 2);
}

const PAIR_WRITERS: u64 = 16;
const RING: u64 = 4;

/// 16 writers race to commit one event to each of two neighbouring aggregates of a ring
/// of 4 (every pair overlaps two others), each expecting the heads it read and retrying on
/// conflicts. Every chain stays linear, and every commit is stored whole: its id on exactly
/// two events, on the two aggregates of its pair.
pub async fn racing_atomic_commits_over_overlapping_pairs_stay_whole<
    S: EventStore + Clone + 'static,
>(
    store: &S,
) {
    let ring = |k: u64| format!("ring-{}", k % RING);
    let mut tasks = Vec::new();
    for w in 0..PAIR_WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let pair = [ring(w), ring(w + 1)];
            loop {
                let mut parts = Vec::new();
                for id in &pair {
                    let expected = match store.head(id).await.expect("head") {
                        Some(head) => ExpectedVersion::After(head),
                        None => ExpectedVersion::NoStream,
                    };
                    parts.push(part(id, &[w], expected));
                }
                let commit = AtomicAppend::new(parts).expect("commit");
                match store.append_atomic(&commit).await {
                    Ok(stored) => break (commit.commit_id().to_owned(), stored),
                    Err(Error::Conflict(c)) => assert!(pair.contains(&c.aggregate_id)),
                    Err(e) => panic!("writer {w}: unexpected error {e}"),
                }
            }
        }));
    }
    let mut committed = BTreeMap::new();
    for (w, task) in tasks.into_iter().enumerate() {
        let (commit_id, stored) = task.await.expect("writer task");
        assert_eq!(stored.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
        committed.insert(commit_id, w as u64);
    }
    assert_eq!(committed.len() as u64, PAIR_WRITERS);
    let mut seen: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for k in 0..RING {
        let id = ring(k);
        let events = store.load(&id).await.expect("load");
        let versions: Vec<u64> = events.iter().map(RecordedEvent::version).collect();
        assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>());
        assert!(store.verify_chain(&id).await.expect("verify").is_valid());
        for event in &events {
            let n = event.decode::<Noted>().expect("decode").n;
            seen.entry(commit_of(event).to_owned())
                .or_default()
                .push((id.clone(), n));
        }
    }
    assert_eq!(seen.len() as u64, PAIR_WRITERS, "every commit stored");
    for (commit_id, events) in &seen {
        let w = committed[commit_id];
        let mut ids: Vec<&str> = events.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort_unstable();
        let mut pair = [ring(w), ring(w + 1)];
        pair.sort_unstable();
        assert_eq!(ids, pair, "commit of writer {w} stored whole, on its pair");
        assert!(events.iter().all(|&(_, n)| n == w));
    }
}
