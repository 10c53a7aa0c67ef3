//! Stream settings beyond `build`: limits that only refuse writes are allowed and surface
//! as `Error::LimitReached`; a stream made unsafe after the store opened it (by an
//! operator, with raw async-nats) makes appends fail with `Error::Config` until fixed.

use std::time::{Duration, Instant};

use async_nats::jetstream::stream::{Config, DiscardPolicy};
use cim_events::{Error, EventStore, JetStreamEventStore};
use tests::domain::Noted;
use tests::nats::unique_names;

use super::{safe, shared_context};

/// Opens a store on a stream created beforehand with `config`.
async fn open_on(config: Config, prefix: &str) -> JetStreamEventStore {
    let context = shared_context().await;
    context
        .create_stream(config.clone())
        .await
        .expect("create the stream");
    JetStreamEventStore::builder(context, &config.name)
        .prefix(prefix)
        .config_check_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("a stream whose limits only refuse writes is accepted")
}

fn expect_limit(result: cim_events::Result<cim_events::EventMetadata>, wanted: &str) {
    match result {
        Err(Error::LimitReached { limit, .. }) => assert_eq!(limit, wanted),
        other => panic!("expected the {wanted} limit to refuse the append, got {other:?}"),
    }
}

/// `discard: new` with `max_msgs`: the append beyond the limit is refused with a typed,
/// non-transient error, and nothing already stored is lost.
#[tokio::test]
async fn a_full_stream_refuses_appends_with_limit_reached() {
    let (name, prefix) = unique_names();
    let store = open_on(
        Config {
            max_messages: 3,
            discard: DiscardPolicy::New,
            ..safe(&name, &prefix)
        },
        &prefix,
    )
    .await;
    for n in 1..=3 {
        store
            .append_event("lim-1", Noted::new("lim-1", n), None)
            .await
            .expect("within the limit");
    }
    let refused = store
        .append_event("lim-2", Noted::new("lim-2", 1), None)
        .await;
    assert!(refused.as_ref().is_err_and(|e| !e.is_transient()));
    expect_limit(refused, "max_msgs");
    assert_eq!(store.load("lim-1").await.expect("load").len(), 3);
    assert_eq!(store.last_sequence().await.expect("last"), 3);
}

/// `discard: new` with `max_bytes`.
#[tokio::test]
async fn a_stream_out_of_bytes_refuses_appends_with_limit_reached() {
    let (name, prefix) = unique_names();
    let store = open_on(
        Config {
            max_bytes: 4096,
            discard: DiscardPolicy::New,
            ..safe(&name, &prefix)
        },
        &prefix,
    )
    .await;
    let mut stored = 0;
    let refused = loop {
        match store
            .append_event("lim-1", Noted::new("lim-1", stored + 1), None)
            .await
        {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 100, "4096 bytes never filled");
    };
    expect_limit(Err(refused), "max_bytes");
    assert_eq!(
        store.load("lim-1").await.expect("load").len() as u64,
        stored
    );
}

/// A per-subject limit with `discard_new_per_subject` refuses the append on the full
/// subject only.
#[tokio::test]
async fn a_full_subject_refuses_appends_with_limit_reached() {
    let (name, prefix) = unique_names();
    let store = open_on(
        Config {
            max_messages_per_subject: 2,
            discard: DiscardPolicy::New,
            discard_new_per_subject: true,
            ..safe(&name, &prefix)
        },
        &prefix,
    )
    .await;
    for n in 1..=2 {
        store
            .append_event("lim-1", Noted::new("lim-1", n), None)
            .await
            .expect("within the limit");
    }
    expect_limit(
        store
            .append_event("lim-1", Noted::new("lim-1", 3), None)
            .await,
        "max_msgs_per_subject",
    );
    store
        .append_event("lim-2", Noted::new("lim-2", 1), None)
        .await
        .expect("another subject has room");
    assert_eq!(store.load("lim-1").await.expect("load").len(), 2);
}

/// Waits until an append is refused with a config error and returns the setting named.
async fn refused_setting(store: &JetStreamEventStore) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        let id = format!("probe-{n}");
        match store.append_event(&id, Noted::new(&id, 1), None).await {
            Err(Error::Config { setting, .. }) => return setting,
            Ok(_) => {}
            Err(other) => panic!("expected appends to succeed or be refused, got {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "appends still accepted 10 s after the stream became unsafe"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Defect 4: a per-subject limit set on the stream after the store opened it (under
/// `discard: old`, or `discard: new` without `discard_new_per_subject`) would make the
/// server delete old events on every append. The store notices and refuses appends with
/// `Error::Config` naming the setting; once the stream is fixed, appends resume.
#[tokio::test]
async fn a_stream_made_unsafe_after_build_refuses_appends_until_fixed() {
    let (name, prefix) = unique_names();
    let store = open_on(safe(&name, &prefix), &prefix).await;
    store
        .append_event("ok-1", Noted::new("ok-1", 1), None)
        .await
        .expect("safe stream");
    let operator = shared_context().await;
    let unsafe_configs = [
        Config {
            max_messages_per_subject: 1,
            discard: DiscardPolicy::Old,
            ..safe(&name, &prefix)
        },
        Config {
            max_messages_per_subject: 1,
            discard: DiscardPolicy::New,
            ..safe(&name, &prefix)
        },
        Config {
            max_age: Duration::from_secs(3600),
            ..safe(&name, &prefix)
        },
    ];
    let wanted = ["max_msgs_per_subject", "max_msgs_per_subject", "max_age"];
    for (config, wanted) in unsafe_configs.into_iter().zip(wanted) {
        operator
            .update_stream(config)
            .await
            .expect("update the stream");
        assert_eq!(refused_setting(&store).await, wanted);
        operator
            .update_stream(safe(&name, &prefix))
            .await
            .expect("fix the stream");
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Err(e) = store
            .append_event("ok-1", Noted::new("ok-1", 2), None)
            .await
        {
            assert!(matches!(e, Error::Config { .. }), "{e:?}");
            assert!(Instant::now() < deadline, "appends not resumed: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let head = store.head("ok-1").await.expect("head").expect("events");
        assert!(head.version >= 2);
        store
            .append_event("ok-1", Noted::new("ok-1", head.version + 1), None)
            .await
            .expect("appends resumed");
    }
}
