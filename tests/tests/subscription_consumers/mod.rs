//! Subscriptions' consumers are a server resource (1000 per stream by default): the store
//! deletes each one when its subscription is dropped, and a subscription whose consumer
//! disappears recreates it where it stood.

use std::time::{Duration, Instant};

use cim_events::{EventStore, JetStreamEventStore, StartFrom};
use futures::{StreamExt, TryStreamExt};
use tests::domain::Noted;

use super::fresh;

async fn consumer_count(store: &JetStreamEventStore) -> usize {
    store
        .stream()
        .get_info()
        .await
        .expect("stream info")
        .state
        .consumer_count
}

/// Waits until the stream has `wanted` consumers; fails after `patience`.
async fn expect_consumers(store: &JetStreamEventStore, wanted: usize, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        let count = consumer_count(store).await;
        if count == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} consumers after {patience:?}, wanted {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn next_n(sub: &mut cim_events::EventStream) -> u64 {
    tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("delivered in time")
        .expect("stream open")
        .expect("event")
        .decode::<Noted>()
        .expect("noted")
        .n
}

/// Defect 1: 1200 subscriptions created and dropped in a row — more than the server's
/// 1000 consumers per stream — all work, and the consumers are gone within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_subscriptions_leave_no_consumers_behind() {
    let fixture = fresh().await;
    let store = &fixture.store;
    store
        .append_event("sub-1", Noted::new("sub-1", 1), None)
        .await
        .expect("append");
    let filter = format!("{}.>", store.subject_prefix());
    let started = Instant::now();
    for i in 0..1200 {
        let mut sub = store
            .subscribe(&filter, StartFrom::Beginning)
            .await
            .unwrap_or_else(|e| panic!("subscription {i}: {e}"));
        if i % 100 == 0 {
            assert_eq!(next_n(&mut sub).await, 1, "subscription {i} delivers");
        }
    }
    let elapsed = started.elapsed();
    expect_consumers(store, 0, Duration::from_secs(3)).await;
    eprintln!("1200 subscriptions created and dropped in {elapsed:?}");
    // A new subscription works, holds one consumer, and releases it when dropped.
    let mut sub = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("a new subscription");
    assert_eq!(next_n(&mut sub).await, 1);
    assert_eq!(consumer_count(store).await, 1);
    drop(sub);
    expect_consumers(store, 0, Duration::from_secs(3)).await;
}

/// A subscription whose consumer is deleted from outside recreates it after the last
/// event it delivered: no gap, no duplicate, and still one consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_survives_the_loss_of_its_consumer() {
    let fixture = fresh().await;
    let store = &fixture.store;
    for n in 1..=3 {
        store
            .append_event("sub-1", Noted::new("sub-1", n), None)
            .await
            .expect("append");
    }
    let filter = format!("{}.sub-1.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    assert_eq!(next_n(&mut sub).await, 1);
    let names: Vec<String> = store
        .stream()
        .consumer_names()
        .try_collect()
        .await
        .expect("names");
    assert_eq!(names.len(), 1, "{names:?}");
    store
        .context()
        .delete_consumer_from_stream(&names[0], store.stream_name())
        .await
        .expect("delete from outside");
    for n in 4..=5 {
        store
            .append_event("sub-1", Noted::new("sub-1", n), None)
            .await
            .expect("append");
    }
    let mut seen = Vec::new();
    for _ in 2..=5 {
        seen.push(next_n(&mut sub).await);
    }
    assert_eq!(seen, vec![2, 3, 4, 5]);
    assert_eq!(consumer_count(store).await, 1);
    drop(sub);
    expect_consumers(store, 0, Duration::from_secs(3)).await;
}
