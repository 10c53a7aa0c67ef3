//! Append and load figures for the JetStream store (BENCHMARKS.md). It starts its own R1
//! file-storage server, reports numbers and asserts nothing about them:
//!
//! ```text
//! cargo bench -p tests --bench jetstream            # full run, stream grown to 200k events
//! BENCH_MAX_STREAM=50000 cargo bench -p tests --bench jetstream   # quicker
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use cim_events::{EventStore, ExpectedVersion, JetStreamEventStore};
use futures::StreamExt;
use tests::domain::Noted;
use tests::nats::{NatsServer, connect};

/// Stream sizes (events of other aggregates) at which loads are measured.
const CHECKPOINTS: [u64; 5] = [1_000, 25_000, 50_000, 100_000, 200_000];
/// Repetitions of each load measurement; the median is reported.
const LOAD_RUNS: usize = 15;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let max_stream: u64 = std::env::var("BENCH_MAX_STREAM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let server = NatsServer::start().await;
    let context = connect(vec![server.addr()]).await;
    let store = JetStreamEventStore::builder(context.clone(), "BENCH")
        .prefix("bench")
        .build()
        .await
        .expect("provision");
    println!(
        "nats-server {} (R1, file storage, loopback)",
        context.client().server_info().version
    );

    appends(&store).await;

    println!(
        "\nload of one aggregate, median of {LOAD_RUNS} runs, by size of the rest of the stream"
    );
    println!(
        "{:>9} | {:>10} {:>13} {:>11} | {:>11} {:>11} | {:>12}",
        "stream",
        "10 (store)",
        "10 seq=first",
        "10 ordered",
        "1000 store",
        "1000 ordrd",
        "10 spread"
    );
    let mut filled = 0u64;
    let mut spread_next = Vec::new();
    for (i, &checkpoint) in CHECKPOINTS.iter().enumerate() {
        if checkpoint > max_stream {
            break;
        }
        // One aggregate per checkpoint whose 10 events are spread evenly over the stream
        // written so far: its events sit among everybody else's.
        let spread_id = format!("spread-{i}");
        spread_next.push((spread_id, 0u64));
        while filled < checkpoint {
            fill(&store, filled, 100).await;
            filled += 100;
            for (id, written) in spread_next.iter_mut() {
                if *written < 10 && filled * 10 >= (*written + 1) * checkpoint {
                    store
                        .append_event(id, Noted::new(id, *written), None)
                        .await
                        .expect("spread");
                    *written += 1;
                }
            }
        }
        let small = format!("small-{i}");
        let events = (0..10).map(|n| Noted::new(&small, n)).collect();
        store
            .append_events(&small, events, ExpectedVersion::Any)
            .await
            .expect("small");
        let large = format!("large-{i}");
        for b in 0..10u64 {
            let events = (0..100).map(|n| Noted::new(&large, b * 100 + n)).collect();
            store
                .append_events(&large, events, ExpectedVersion::Any)
                .await
                .expect("large");
        }
        let first_small = store.load(&small).await.expect("load")[0].sequence;
        let small_store =
            median(|| async { assert_eq!(store.load(&small).await.expect("load").len(), 10) })
                .await;
        let small_at_first = median(|| async {
            assert_eq!(direct_batch(&context, &small, first_small, 10).await, 10)
        })
        .await;
        let small_ordered =
            median(|| async { assert_eq!(ordered(&store, &small).await, 10) }).await;
        let large_store =
            median(|| async { assert_eq!(store.load(&large).await.expect("load").len(), 1000) })
                .await;
        let large_ordered =
            median(|| async { assert_eq!(ordered(&store, &large).await, 1000) }).await;
        let spread_id = &spread_next[i].0;
        let spread =
            median(|| async { assert_eq!(store.load(spread_id).await.expect("load").len(), 10) })
                .await;
        println!(
            "{:>9} | {:>10} {:>13} {:>11} | {:>11} {:>11} | {:>12}",
            filled,
            ms(small_store),
            ms(small_at_first),
            ms(small_ordered),
            ms(large_store),
            ms(large_ordered),
            ms(spread)
        );
    }
}

/// Single appends and batches of 100, sequential, on a fresh aggregate each.
async fn appends(store: &JetStreamEventStore) {
    let n = 500;
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n as u64 {
        let t = Instant::now();
        store
            .append_event("single", Noted::new("single", i), None)
            .await
            .expect("append");
        latencies.push(t.elapsed());
    }
    let total = start.elapsed();
    latencies.sort();
    println!(
        "single append: {n} sequential, p50 {} ms, p99 {} ms, {:.0} events/s",
        ms(latencies[n / 2]),
        ms(latencies[n * 99 / 100]),
        n as f64 / total.as_secs_f64()
    );
    let batches = 50;
    let mut latencies = Vec::with_capacity(batches);
    let start = Instant::now();
    for b in 0..batches as u64 {
        let events = (0..100)
            .map(|i| Noted::new("batched", b * 100 + i))
            .collect();
        let t = Instant::now();
        store
            .append_events("batched", events, ExpectedVersion::Any)
            .await
            .expect("batch");
        latencies.push(t.elapsed());
    }
    let total = start.elapsed();
    latencies.sort();
    println!(
        "batch of 100 (atomic): {batches} sequential, p50 {} ms, p99 {} ms, {:.0} events/s",
        ms(latencies[batches / 2]),
        ms(latencies[batches * 99 / 100]),
        (batches * 100) as f64 / total.as_secs_f64()
    );
}

/// Appends `count` events to other aggregates, 100 per batch, 100 events per aggregate.
async fn fill(store: &JetStreamEventStore, from: u64, count: u64) {
    let id = format!("fill-{}", from / 100);
    let events = (from..from + count).map(|n| Noted::new(&id, n)).collect();
    store
        .append_events(&id, events, ExpectedVersion::Any)
        .await
        .expect("fill");
}

/// A batch Direct Get for `bench.{id}.*` that starts at stream sequence `from` (as a
/// paged read does), returning how many messages came back.
async fn direct_batch(
    context: &async_nats::jetstream::Context,
    id: &str,
    from: u64,
    batch: u64,
) -> usize {
    let client = context.client();
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.expect("subscribe");
    let request = format!(r#"{{"seq":{from},"next_by_subj":"bench.{id}.*","batch":{batch}}}"#);
    client
        .publish_with_reply("$JS.API.DIRECT.GET.BENCH", inbox, Bytes::from(request))
        .await
        .expect("request");
    let mut got = 0;
    while let Some(message) = sub.next().await {
        if message
            .status
            .is_some_and(|s| s.as_u16() == 204 || s.as_u16() == 404)
        {
            break;
        }
        got += 1;
    }
    got
}

/// Reads an aggregate with an ordered consumer until none is pending.
async fn ordered(store: &JetStreamEventStore, id: &str) -> usize {
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let consumer = store
        .stream()
        .create_consumer(OrderedConfig {
            filter_subject: format!("bench.{id}.*"),
            ..OrderedConfig::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut got = 0;
    while let Some(message) = messages.next().await {
        let message = message.expect("message");
        got += 1;
        if message.info().expect("info").pending == 0 {
            break;
        }
    }
    got
}

async fn median<F, Fut>(mut run: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run().await; // warm up
    let mut times: Vec<Duration> = Vec::with_capacity(LOAD_RUNS);
    for _ in 0..LOAD_RUNS {
        let t = Instant::now();
        run().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[LOAD_RUNS / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}
