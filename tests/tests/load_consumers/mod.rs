//! Loads of long aggregates read through a consumer, a server resource (1000 per stream by
//! default): the store deletes it as soon as the read ends.

use std::time::{Duration, Instant};

use cim_events::{EventStore, ExpectedVersion, JetStreamEventStore, StartFrom};
use futures::StreamExt;
use tests::domain::Noted;

use super::fresh;

/// Loads in a row, each through its own consumer: five times the server's default limit
/// of consumers per stream.
const LOADS: usize = 5000;
/// How often the consumer count is sampled during the loads.
const SAMPLE_EVERY: usize = 250;
/// The most consumers a sample may find: the current load's, and deletes of the previous
/// loads still in flight (they run on spawned tasks). Consumers left behind would pile up
/// into the hundreds between samples.
const MOST_ALIVE: usize = 10;

async fn consumer_count(store: &JetStreamEventStore) -> usize {
    store
        .stream()
        .get_info()
        .await
        .expect("stream info")
        .state
        .consumer_count
}

/// Defect 1: every load of an aggregate longer than `direct_read_limit` created an ordered
/// consumer that nothing deleted; about 1000 loads in 30 s made every further load,
/// subscription and command fail with error 10026. Now 5000 loads in a row, each through
/// a consumer (`direct_read_limit(1)`, 5 events), leave at most a handful alive at any
/// time and none a moment after; a subscription and an append still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_through_a_consumer_leave_no_consumers_behind() {
    let fixture = fresh().await;
    let direct = &fixture.store;
    let store = JetStreamEventStore::builder(direct.context().clone(), direct.stream_name())
        .prefix(direct.subject_prefix())
        .direct_read_limit(1)
        .build()
        .await
        .expect("open with a direct read limit of 1");
    store
        .append_events(
            "nb-1",
            (1..=5).map(|n| Noted::new("nb-1", n)).collect(),
            ExpectedVersion::NoStream,
        )
        .await
        .expect("append");

    let requests_before = store
        .context()
        .query_account()
        .await
        .expect("account info")
        .requests
        .total;
    let started = Instant::now();
    let mut most_alive = 0;
    for i in 0..LOADS {
        let events = store
            .load("nb-1")
            .await
            .unwrap_or_else(|e| panic!("load {i}: {e}"));
        assert_eq!(events.len(), 5, "load {i}");
        if i % SAMPLE_EVERY == SAMPLE_EVERY - 1 {
            most_alive = most_alive.max(consumer_count(&store).await);
        }
    }
    let elapsed = started.elapsed();
    let requests = store
        .context()
        .query_account()
        .await
        .expect("account info")
        .requests
        .total
        - requests_before;
    eprintln!(
        "{LOADS} loads through a consumer in {elapsed:?}; at most {most_alive} consumers alive; \
         {requests} JetStream API requests"
    );
    // Each load created its consumer and deleted it: two API requests at least (other
    // tests on the shared server only add to the count).
    assert!(
        requests >= 2 * LOADS as u64,
        "{requests} API requests for {LOADS} loads: the loads did not use consumers"
    );
    assert!(
        most_alive <= MOST_ALIVE,
        "{most_alive} consumers alive during the loads"
    );

    // A moment after, none is left (well before the 5 s inactive threshold would remove
    // a forgotten one).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let count = consumer_count(&store).await;
        if count == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{count} consumers left after the loads"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Subscriptions and appends still work.
    let filter = format!("{}.nb-1.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    store
        .append_event("nb-1", Noted::new("nb-1", 6), None)
        .await
        .expect("append after the loads");
    for n in 1..=6 {
        let event = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("delivered in time")
            .expect("stream open")
            .expect("event");
        assert_eq!(event.decode::<Noted>().expect("noted").n, n);
    }
    assert_eq!(store.load("nb-1").await.expect("load").len(), 6);
}
