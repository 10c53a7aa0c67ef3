//! `JetStreamEventStore` beyond the conformance suite, on one shared R1 server (each test
//! its own stream and prefix): stream provisioning and its refusals, foreign messages,
//! deduplication, long reads, atomic batches under races, slow subscribers.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType, SubjectTransform};
use cim_events::{Error, EventStore, ExpectedVersion, FaultKind, JetStreamEventStore, StartFrom};
use futures::StreamExt;
use tests::domain::Noted;
use tests::nats::{JetStreamFixture, NatsServer, connect, unique_names};

mod load_consumers;
mod stream_settings;
mod subscription_consumers;

async fn fresh() -> JetStreamFixture {
    JetStreamFixture::new(vec![NatsServer::shared().await.addr()], 1).await
}

async fn shared_context() -> async_nats::jetstream::Context {
    connect(vec![NatsServer::shared().await.addr()]).await
}

/// The created stream has exactly the settings DESIGN §4 asks for.
#[tokio::test]
async fn provisions_a_safe_stream() {
    let fixture = fresh().await;
    let info = fixture.store.stream().get_info().await.expect("info");
    let c = info.config;
    assert_eq!(
        c.subjects,
        vec![format!("{}.>", fixture.store.subject_prefix())]
    );
    assert_eq!(c.storage, StorageType::File);
    assert!(c.deny_delete && c.deny_purge && !c.allow_rollup);
    assert!(c.allow_direct && c.allow_atomic_publish);
    assert_eq!(c.duplicate_window, Duration::from_secs(120));
    assert_eq!(
        (c.max_messages, c.max_bytes, c.max_age),
        (-1, -1, Duration::ZERO)
    );
    assert_eq!(
        fixture.store.max_event_size(),
        1024 * 1024 - cim_events::jetstream::HEADER_ROOM
    );
    // Opening it again checks and reuses it.
    let again = JetStreamEventStore::builder(shared_context().await, fixture.store.stream_name())
        .prefix(fixture.store.subject_prefix())
        .build()
        .await
        .expect("reopen");
    assert_eq!(again.stream_name(), fixture.store.stream_name());
}

async fn refused(config: Config, prefix: &str) -> Error {
    let context = shared_context().await;
    context
        .create_stream(config.clone())
        .await
        .expect("create the unsafe stream");
    JetStreamEventStore::builder(context, &config.name)
        .prefix(prefix)
        .build()
        .await
        .expect_err("an unsafe stream is refused")
}

fn safe(name: &str, prefix: &str) -> Config {
    Config {
        name: name.to_owned(),
        subjects: vec![format!("{prefix}.>")],
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        allow_atomic_publish: true,
        duplicate_window: Duration::from_secs(60),
        ..Config::default()
    }
}

/// Turns a safe stream configuration into an unsafe one.
type Unsafe = fn(Config) -> Config;

/// Each unsafe setting of an existing stream is named in a config error.
#[tokio::test]
async fn unsafe_existing_streams_are_refused_naming_the_setting() {
    let cases: Vec<(&str, Unsafe)> = vec![
        ("allow_rollup", |c| Config {
            allow_rollup: true,
            deny_purge: false,
            ..c
        }),
        ("deny_delete", |c| Config {
            deny_delete: false,
            ..c
        }),
        ("deny_purge", |c| Config {
            deny_purge: false,
            ..c
        }),
        ("allow_direct", |c| Config {
            allow_direct: false,
            ..c
        }),
        ("allow_atomic", |c| Config {
            allow_atomic_publish: false,
            ..c
        }),
        ("storage", |c| Config {
            storage: StorageType::Memory,
            ..c
        }),
        ("discard", |c| Config {
            max_messages: 1000,
            discard: DiscardPolicy::Old,
            ..c
        }),
        ("max_age", |c| Config {
            max_age: Duration::from_secs(3600),
            ..c
        }),
        ("max_msgs_per_subject", |c| Config {
            max_messages_per_subject: 10,
            discard: DiscardPolicy::Old,
            ..c
        }),
        ("max_msgs_per_subject", |c| Config {
            max_messages_per_subject: 10,
            discard: DiscardPolicy::New,
            discard_new_per_subject: false,
            ..c
        }),
        ("discard", |c| Config {
            max_bytes: 1 << 20,
            discard: DiscardPolicy::Old,
            ..c
        }),
        ("subject_transform", |c| Config {
            subject_transform: Some(SubjectTransform {
                source: c.subjects[0].clone(),
                destination: format!("{}.moved.>", c.subjects[0].trim_end_matches(".>")),
            }),
            ..c
        }),
        ("subjects", |c| Config {
            subjects: vec![format!("{}.only.*", c.subjects[0].trim_end_matches(".>"))],
            ..c
        }),
    ];
    for (setting, unsafe_config) in cases {
        let (name, prefix) = unique_names();
        let err = refused(unsafe_config(safe(&name, &prefix)), &prefix).await;
        match err {
            Error::Config { setting: named, .. } => assert_eq!(named, setting),
            other => panic!("{setting}: expected a config error, got {other:?}"),
        }
    }
}

/// A prefix already bound by another stream is a config error about subjects.
#[tokio::test]
async fn overlapping_subjects_are_refused() {
    let fixture = fresh().await;
    let (other, _) = unique_names();
    let err = JetStreamEventStore::builder(shared_context().await, &other)
        .prefix(fixture.store.subject_prefix())
        .build()
        .await
        .expect_err("overlap");
    assert!(
        matches!(&err, Error::Config { setting, .. } if setting == "subjects"),
        "{err:?}"
    );
}

/// Bad builder settings are refused before anything is created.
#[tokio::test]
async fn bad_settings_are_refused() {
    let context = shared_context().await;
    let err = JetStreamEventStore::builder(context.clone(), "bad.name")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config { setting, .. } if setting == "stream name"),
        "{err:?}"
    );
    let err = JetStreamEventStore::builder(context.clone(), "OK")
        .replicas(2)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config { setting, .. } if setting == "replicas"),
        "{err:?}"
    );
    let err = JetStreamEventStore::builder(context, "OK")
        .prefix("a.*")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidToken(_)), "{err:?}");
}

/// A message that is not an event, published straight onto an aggregate subject, is
/// stepped over by loads, never the base of an append, and a located fault for
/// verification — no panic. The next append's concurrency check names the foreign
/// message's sequence (the server checks the subject's last message), and its `prev` the
/// real head.
#[tokio::test]
async fn foreign_messages_are_stepped_over_and_reported() {
    let fixture = fresh().await;
    let store = &fixture.store;
    let first = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    let foreign = publish_foreign(store, "nb-1").await;
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(
        loaded.iter().map(|e| e.cid).collect::<Vec<_>>(),
        [first.cid]
    );
    let report = store
        .verify_chain("nb-1")
        .await
        .expect("verify reports, not fails");
    assert_eq!(report.events, 2);
    assert_eq!(report.faults.len(), 1);
    assert_eq!(report.faults[0].sequence, foreign);
    assert!(matches!(report.faults[0].kind, FaultKind::Undecodable(_)));
    assert_eq!(store.head("nb-1").await.expect("head"), Some(first.head()));
    let tail = store.tail("nb-1", true).await.expect("tail");
    assert_eq!(
        (tail.head, tail.last_sequence),
        (Some(first.head()), foreign)
    );
    // Appended by a fresh handle (nothing cached) and by this one (its cache is stale:
    // the server refuses, the store reads the tail and tries again).
    for (n, handle) in [(2, reopen(store).await), (3, store.clone())] {
        let next = handle
            .append_event("nb-1", Noted::new("nb-1", n), None)
            .await
            .expect("append after the foreign message");
        assert_eq!(next.version, n);
    }
    let events = store.load("nb-1").await.expect("load");
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].block.prev, Some(first.cid));
}

/// Another handle on the same stream, with nothing cached.
async fn reopen(store: &JetStreamEventStore) -> JetStreamEventStore {
    JetStreamEventStore::builder(store.context().clone(), store.stream_name())
        .prefix(store.subject_prefix())
        .build()
        .await
        .expect("reopen")
}

/// Publishes a message that is not an event straight onto an aggregate's subject, as a
/// foreign writer could; returns its stream sequence.
async fn publish_foreign(store: &JetStreamEventStore, aggregate_id: &str) -> u64 {
    store
        .context()
        .publish(
            format!("{}.{aggregate_id}.Noted", store.subject_prefix()),
            "not cbor".into(),
        )
        .await
        .expect("publish")
        .await
        .expect("stored")
        .sequence
}

/// The same sealed event published twice within the duplicate window is stored once.
#[tokio::test]
async fn a_resent_event_is_stored_once() {
    let fixture = fresh().await;
    let store = &fixture.store;
    let sealed = cim_events::test_util::seal_after(
        store.subject_prefix(),
        "nb-1",
        None,
        &[Noted::new("nb-1", 1)],
        &Default::default(),
    )
    .expect("seal");
    let mut acks = Vec::new();
    for _ in 0..2 {
        let mut headers = async_nats::HeaderMap::new();
        for (k, v) in sealed[0].headers() {
            headers.insert(k, v.as_str());
        }
        let ack = store
            .context()
            .publish_with_headers(sealed[0].subject.clone(), headers, sealed[0].bytes.clone())
            .await
            .expect("publish")
            .await
            .expect("ack");
        acks.push(ack);
    }
    assert!(!acks[0].duplicate && acks[1].duplicate);
    assert_eq!(acks[0].sequence, acks[1].sequence);
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].cid, sealed[0].cid);
}

/// Long aggregates load through the ordered consumer, equal to the Direct Get result,
/// and `read_raw_after` resumes after a known head.
#[tokio::test]
async fn long_aggregates_load_through_an_ordered_consumer() {
    let fixture = fresh().await;
    let direct = &fixture.store;
    for chunk in 0..3u64 {
        let events = (1..=10)
            .map(|n| Noted::new("long", chunk * 10 + n))
            .collect();
        direct
            .append_events("long", events, ExpectedVersion::Any)
            .await
            .expect("batch");
        direct
            .append_event("other", Noted::new("other", chunk), None)
            .await
            .expect("other");
    }
    let ordered = JetStreamEventStore::builder(direct.context().clone(), direct.stream_name())
        .prefix(direct.subject_prefix())
        .direct_read_limit(5)
        .build()
        .await
        .expect("open");
    let a = direct.load("long").await.expect("direct");
    let b = ordered.load("long").await.expect("ordered");
    assert_eq!(a.len(), 30);
    assert_eq!(a, b);
    assert_eq!(ordered.load_from("long", 28).await.expect("from").len(), 3);
    let head = a[24].head();
    for store in [direct, &ordered] {
        let after = store.read_raw_after("long", &head).await.expect("after");
        assert_eq!(
            after.iter().map(|r| r.sequence).collect::<Vec<_>>(),
            a[25..].iter().map(|e| e.sequence).collect::<Vec<_>>()
        );
    }
}

/// Writers racing with multi-event batches and `Exact` expectations: every batch is
/// stored whole and contiguous, or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_batches_are_all_or_nothing() {
    let fixture = fresh().await;
    let mut tasks = Vec::new();
    for w in 0..6u64 {
        let store = fixture.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut stored = 0;
            let mut conflicts = 0;
            for b in 0..4u64 {
                let head = store.head("race").await.expect("head");
                let version = head.map_or(0, |h| h.version);
                let events = (0..5)
                    .map(|i| Noted::new("race", w * 1000 + b * 10 + i))
                    .collect();
                match store
                    .append_events("race", events, ExpectedVersion::Exact(version))
                    .await
                {
                    Ok(metas) => stored += metas.len(),
                    Err(Error::Conflict(_)) => conflicts += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            (stored, conflicts)
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await.expect("task").0;
    }
    let loaded = fixture.store.load("race").await.expect("load");
    assert_eq!(loaded.len(), stored);
    for batch in loaded.chunks(5) {
        let n: Vec<u64> = batch
            .iter()
            .map(|e| e.decode::<Noted>().expect("noted").n)
            .collect();
        assert_eq!(
            n,
            (n[0]..n[0] + 5).collect::<Vec<_>>(),
            "a batch is whole and in order"
        );
        assert_eq!(n[0] % 10, 0);
    }
    assert!(
        fixture
            .store
            .verify_chain("race")
            .await
            .expect("verify")
            .is_valid()
    );
}

/// A subscriber that reads slowly still gets every event, once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_subscriber_loses_nothing() {
    let fixture = fresh().await;
    let store = fixture.store.clone();
    let filter = format!("{}.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let writer = tokio::spawn(async move {
        for b in 0..4u64 {
            let events = (0..50).map(|i| Noted::new("slow", b * 50 + i)).collect();
            store
                .append_events("slow", events, ExpectedVersion::Any)
                .await
                .expect("append");
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 200 {
        let event = tokio::time::timeout(Duration::from_secs(20), sub.next())
            .await
            .expect("delivered in time")
            .expect("stream open")
            .expect("decodes");
        seen.push(event.decode::<Noted>().expect("noted").n);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    writer.await.expect("writer");
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 200);
}

/// A deleted stream gives permanent backend errors, not retries or panics.
#[tokio::test]
async fn a_deleted_stream_is_a_permanent_backend_error() {
    let fixture = fresh().await;
    let store = &fixture.store;
    store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    store
        .context()
        .delete_stream(store.stream_name())
        .await
        .expect("delete");
    for result in [
        store
            .append_event("nb-1", Noted::new("nb-1", 2), None)
            .await
            .map(|_| ()),
        store.load("nb-1").await.map(|_| ()),
        store.head("nb-1").await.map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(Error::Backend {
                    transient: false,
                    ..
                })
            ),
            "{result:?}"
        );
    }
}

/// A foreign message arriving in a live subscription is one error item naming its
/// sequence; the subscription goes on with the events after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_message_in_a_live_subscription_is_one_error_item() {
    let fixture = fresh().await;
    let store = &fixture.store;
    let filter = format!("{}.>", store.subject_prefix());
    let mut sub = store
        .subscribe(&filter, StartFrom::Now)
        .await
        .expect("subscribe");
    store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    let foreign = publish_foreign(store, "nb-1").await;
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(20), sub.next())
            .await
            .expect("delivered in time")
            .expect("stream open")
    };
    assert_eq!(
        next()
            .await
            .expect("event 1")
            .decode::<Noted>()
            .expect("noted")
            .n,
        1
    );
    match next().await {
        Err(Error::Decode { sequence, .. }) => assert_eq!(sequence, foreign),
        other => panic!("expected a decode error item, got {other:?}"),
    }
    // The subscription goes on: the next event arrives after the error item.
    store
        .append_event("nb-2", Noted::new("nb-2", 1), None)
        .await
        .expect("other aggregate");
    assert_eq!(next().await.expect("event of nb-2").aggregate_id(), "nb-2");
    // The foreign message is not part of nb-1's chain: the next append follows its head.
    let second = store
        .append_event("nb-1", Noted::new("nb-1", 2), None)
        .await
        .expect("2");
    assert_eq!(second.version, 2);
    assert!(second.sequence > foreign);
}

/// Two handles on one R1 stream, each with a tail cache the other makes stale: every
/// stale append is refused by the server and recovered, with no fork.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_cached_tails_are_refused_and_recovered() {
    let fixture = fresh().await;
    let addrs = vec![NatsServer::shared().await.addr()];
    let other = tests::tails::second_handle(&fixture.store, addrs).await;
    tests::tails::stale_cached_tails_are_refused_and_recovered(&fixture.store, &other).await;
}
