//! Two handles on one JetStream stream, as two processes would hold them: each caches the
//! tails it last wrote, so each is stale once the other writes. The server's check must
//! refuse every append built on a stale tail, and the store must recover from the refusal
//! without a fork. Run on R1 and on R3.

use cim_events::{Error, EventStore, ExpectedVersion, JetStreamEventStore};

use crate::domain::Noted;

/// Another handle on `store`'s stream, over a new connection to `addrs`, with nothing
/// cached.
pub async fn second_handle(
    store: &JetStreamEventStore,
    addrs: Vec<async_nats::ServerAddr>,
) -> JetStreamEventStore {
    JetStreamEventStore::builder(crate::nats::connect(addrs).await, store.stream_name())
        .prefix(store.subject_prefix())
        .build()
        .await
        .expect("open the stream again")
}

/// Stale cached tails are refused by the server and recovered, with no fork: every
/// version is stored once, each linked to the one before, whichever handle wrote it.
pub async fn stale_cached_tails_are_refused_and_recovered(
    a: &JetStreamEventStore,
    b: &JetStreamEventStore,
) {
    let id = "stale-1";
    let first = a
        .append_event(id, Noted::new(id, 1), None)
        .await
        .expect("a: 1");
    let second = b
        .append_event(id, Noted::new(id, 2), None)
        .await
        .expect("b: 2");
    // `a` still caches version 1: its append is refused, re-read and stored after 2.
    let third = a
        .append_event(id, Noted::new(id, 3), None)
        .await
        .expect("a: 3");
    assert_eq!((third.version, third.previous_cid), (3, Some(second.cid)));

    // A caller that names a stale head gets the conflict, with the actual head.
    let stale = a
        .append_events(
            id,
            vec![Noted::new(id, 99)],
            ExpectedVersion::After(first.head()),
        )
        .await;
    match stale {
        Err(Error::Conflict(conflict)) => {
            assert_eq!(conflict.actual.map(|h| h.cid), Some(third.cid));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // `b` caches version 2: an exact expectation of 2 is checked against the authority.
    let exact = b
        .append_events(id, vec![Noted::new(id, 99)], ExpectedVersion::Exact(2))
        .await;
    assert!(matches!(exact, Err(Error::Conflict(_))), "{exact:?}");
    // And an expectation that holds although the cache is stale is met.
    let fourth = b
        .append_events(
            id,
            vec![Noted::new(id, 4)],
            ExpectedVersion::Head(third.cid),
        )
        .await
        .expect("b: 4")
        .remove(0);
    assert_eq!((fourth.version, fourth.previous_cid), (4, Some(third.cid)));

    // Both handles racing, each with a cache the other keeps making stale.
    let mut tasks = tokio::task::JoinSet::new();
    for (w, store) in [a, b, a, b].into_iter().enumerate() {
        let store = store.clone();
        tasks.spawn(async move {
            for n in 0..25u64 {
                store
                    .append_event(id, Noted::new(id, 1000 * w as u64 + n), None)
                    .await
                    .expect("racing append");
            }
        });
    }
    while let Some(task) = tasks.join_next().await {
        task.expect("writer");
    }

    let events = a.load(id).await.expect("load");
    assert_eq!(events.len(), 4 + 100);
    for (i, pair) in events.windows(2).enumerate() {
        assert_eq!(pair[1].version(), i as u64 + 2);
        assert_eq!(pair[1].block.prev, Some(pair[0].cid));
    }
    assert!(a.verify_chain(id).await.expect("verify").is_valid());
    assert_eq!(
        b.head(id).await.expect("head"),
        a.head(id).await.expect("head")
    );
}
