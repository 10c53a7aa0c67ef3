//! `JetStreamEventStore` on a three-node cluster with R3 streams: the conformance suite's
//! concurrency and atomicity cases, read-your-writes through any server, and a leader
//! failover that loses nothing acknowledged.

use std::collections::BTreeSet;

use cim_events::{EventStore, ExpectedVersion};
use tests::domain::Noted;
use tests::nats::{JetStreamFixture, NatsCluster};

async fn fresh() -> JetStreamFixture {
    let cluster = NatsCluster::shared().await;
    JetStreamFixture::new(cluster.addrs(), 3).await
}

/// Runs conformance cases, by name, against a fresh R3 store on the shared cluster.
macro_rules! r3_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture = fresh().await;
                assert_eq!(fixture.store.replicas(), 3);
                tests::conformance::$case(&fixture.store).await;
            }
        )*
    };
}

r3_cases!(
    concurrent_exact_writers_stay_linear,
    concurrent_any_writers_stay_linear,
    multi_event_append_is_atomic,
    failed_multi_event_append_stores_nothing,
    conflicting_multi_event_append_stores_nothing,
    oversized_batch_is_rejected,
    no_stream_conflicts_when_events_exist,
    exact_conflicts_on_wrong_version,
    head_conflicts_on_stale_cid,
    catch_up_then_live_has_no_gap_or_duplicate,
    an_atomic_commit_with_one_stale_expectation_stores_nothing,
    racing_atomic_commits_over_overlapping_pairs_stay_whole,
);

/// Through a connection to each server in turn (followers included), a load right after
/// an append sees it, and the head is the event just written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_see_the_writes_before_them_through_every_server() {
    let cluster = NatsCluster::shared().await;
    let fixture = JetStreamFixture::new(cluster.addrs(), 3).await;
    let (stream, prefix) = (fixture.store.stream_name(), fixture.store.subject_prefix());
    for (i, server) in cluster.servers.iter().enumerate() {
        let context = tests::nats::connect(vec![server.addr()]).await;
        let store = cim_events::JetStreamEventStore::builder(context, stream)
            .prefix(prefix)
            .build()
            .await
            .expect("open the existing R3 stream");
        let id = format!("ryw-{i}");
        for n in 1..=25u64 {
            let meta = store
                .append_event(&id, Noted::new(&id, n), None)
                .await
                .expect("append");
            let loaded = store.load(&id).await.expect("load");
            assert_eq!(loaded.len() as u64, n, "server {i}: load after append {n}");
            assert_eq!(loaded.last().map(|e| e.cid), Some(meta.cid));
            let head = store.head(&id).await.expect("head").expect("a head");
            assert_eq!((head.version, head.cid), (n, meta.cid));
        }
    }
}

/// The stream leader is killed while 8 writers append: every acknowledged event is
/// stored exactly once, the chain stays linear and valid, and writes go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_failover_loses_nothing_acknowledged() {
    let mut cluster = NatsCluster::start().await;
    let fixture = JetStreamFixture::new(cluster.addrs(), 3).await;
    let store = fixture.store.clone();
    let info = store.stream().get_info().await.expect("stream info");
    let leader = info
        .cluster
        .and_then(|c| c.leader)
        .expect("the R3 stream has a leader");
    let leader_index = cluster
        .servers
        .iter()
        .position(|s| s.name() == leader)
        .expect("leader is one of ours");

    let mut writers = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..10u64 {
                let r = store
                    .append_events(
                        "acct",
                        vec![Noted::new("acct", w * 100 + i)],
                        ExpectedVersion::Any,
                    )
                    .await;
                match r {
                    Ok(metas) => acked.push(metas[0].cid),
                    Err(e) => assert!(e.is_transient(), "writer {w}: {e}"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            acked
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    cluster.servers[leader_index].kill();
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    cluster.servers[leader_index].restart().await;

    let loaded = store.load("acct").await.expect("load after failover");
    let stored: Vec<_> = loaded.iter().map(|e| e.cid).collect();
    let unique: BTreeSet<_> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no event stored twice");
    for cid in &acked {
        assert!(stored.contains(cid), "acknowledged event {cid} lost");
    }
    assert!(
        acked.len() >= 40,
        "most writes succeed across the failover: {}",
        acked.len()
    );
    let versions: Vec<u64> = loaded.iter().map(|e| e.version()).collect();
    assert_eq!(versions, (1..=loaded.len() as u64).collect::<Vec<_>>());
    assert!(store.verify_chain("acct").await.expect("verify").is_valid());
}

/// Two handles on one R3 stream, each with a tail cache the other makes stale: every
/// stale append is refused by the leader and recovered, with no fork.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_cached_tails_are_refused_and_recovered() {
    let cluster = NatsCluster::shared().await;
    let fixture = JetStreamFixture::new(cluster.addrs(), 3).await;
    let other = tests::tails::second_handle(&fixture.store, cluster.addrs()).await;
    tests::tails::stale_cached_tails_are_refused_and_recovered(&fixture.store, &other).await;
}

/// Timers on an R3 timer stream: scheduled through one server and read through another,
/// each fires once and not before its due time; a cancelled one does not fire.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timers_on_r3_fire_once_through_any_server() {
    use cim_events::jetstream::JetStreamTimers;
    use cim_events::timer::{Timer, Timers};
    use futures::StreamExt;
    use std::time::{Duration, SystemTime};

    let cluster = NatsCluster::shared().await;
    let (stream, prefix) = tests::nats::unique_names();
    let open = |server: usize| {
        let (stream, prefix) = (stream.clone(), prefix.clone());
        async move {
            let context = tests::nats::connect(vec![cluster.servers[server].addr()]).await;
            JetStreamTimers::builder(context, &stream)
                .prefix(prefix)
                .replicas(3)
                .build()
                .await
                .expect("the R3 timer stream")
        }
    };
    let writer = open(0).await;
    let due = SystemTime::now() + Duration::from_millis(1500);
    for name in ["first", "second", "cancelled"] {
        let timer = Timer::new("saga-r3", name, due, name).expect("timer");
        writer.schedule(&timer).await.expect("schedule");
    }
    assert!(writer.cancel("saga-r3", "cancelled").await.expect("cancel"));

    let reader = open(1).await;
    let mut fired = reader.fired("sagas").await.expect("consumer");
    let mut got = Vec::new();
    while let Ok(Some(timer)) = tokio::time::timeout(Duration::from_secs(8), fired.next()).await {
        let timer = timer.expect("a fired timer");
        assert!(timer.fired_at >= timer.due, "{} fired early", timer.name);
        got.push(timer.name.clone());
        timer.ack().await.expect("ack");
    }
    got.sort();
    assert_eq!(got, ["first", "second"]);
}
