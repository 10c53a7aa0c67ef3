//! `JetStreamEventStore` when its server goes away: typed transient errors while it is
//! gone, recovery when it returns, and appends caught by the crash stored exactly once.
//! Each test kills its own server.

use std::time::Duration;

use cim_events::{
    Error, EventHeader, EventStore, ExpectedVersion, JetStreamEventStore, PreparedAppend,
};
use tests::domain::Noted;
use tests::nats::{NatsServer, connect, unique_names};

async fn store_on(server: &NatsServer, transient_retries: u32) -> JetStreamEventStore {
    let (stream, prefix) = unique_names();
    JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix)
        .transient_retries(transient_retries)
        .request_timeout(Duration::from_secs(1))
        .build()
        .await
        .expect("provision")
}

/// While the server is down, calls fail with transient backend errors; once it is back,
/// the same store works again and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_server_gives_transient_errors_and_the_store_recovers() {
    let mut server = NatsServer::start().await;
    let store = store_on(&server, 1).await;
    let first = store
        .append_event("nb-1", Noted::new("nb-1", 1), None)
        .await
        .expect("1");
    server.kill();
    // Prepared once, so that a retry re-sends the very same event: while the server is
    // gone the client may buffer the publish and deliver it once the server is back, so
    // a failed append can still land (its outcome is unknown, not "not stored").
    let prepared = PreparedAppend::new("nb-1", &[Noted::new("nb-1", 2)], &EventHeader::default())
        .expect("prepare");
    let append = store.append_prepared(&prepared, ExpectedVersion::Any).await;
    assert!(
        matches!(
            append,
            Err(Error::Backend {
                transient: true,
                ..
            })
        ),
        "{append:?}"
    );
    let load = store.load("nb-1").await;
    assert!(
        matches!(
            load,
            Err(Error::Backend {
                transient: true,
                ..
            })
        ),
        "{load:?}"
    );
    server.restart().await;
    let mut second = None;
    for _ in 0..50 {
        match store.append_prepared(&prepared, ExpectedVersion::Any).await {
            Ok(mut meta) => {
                second = meta.pop();
                break;
            }
            Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("after restart: {e}"),
        }
    }
    let second = second.expect("appends work again after the restart");
    assert_eq!(second.previous_cid, Some(first.cid));
    assert_eq!(Some(second.event_id.as_str()), prepared.event_ids().next());
    let loaded = store.load("nb-1").await.expect("load");
    assert_eq!(
        loaded.iter().map(|e| e.cid).collect::<Vec<_>>(),
        vec![first.cid, second.cid]
    );
}

/// An append in flight when the server is killed, and retried until it comes back, is
/// stored exactly once and reported as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_caught_by_a_crash_is_stored_exactly_once() {
    let mut server = NatsServer::start().await;
    let store = store_on(&server, 20).await;
    for round in 0..3u64 {
        let id = format!("crash-{round}");
        store
            .append_event(&id, Noted::new(&id, 0), None)
            .await
            .expect("warm up");
        let append = {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let events = (1..=3).map(|n| Noted::new(&id, n)).collect();
                store
                    .append_events(&id, events, cim_events::ExpectedVersion::Exact(1))
                    .await
            })
        };
        // Vary where the crash hits: before, during or after the publish.
        tokio::time::sleep(Duration::from_millis(round * 2)).await;
        server.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart().await;
        let metas = append
            .await
            .expect("task")
            .expect("the append succeeds once the server is back");
        let loaded = store.load(&id).await.expect("load");
        assert_eq!(loaded.len(), 4, "round {round}: one copy of each event");
        assert_eq!(
            loaded[1..].iter().map(|e| e.cid).collect::<Vec<_>>(),
            metas.iter().map(|m| m.cid).collect::<Vec<_>>()
        );
        assert!(store.verify_chain(&id).await.expect("verify").is_valid());
    }
}
