//! Anchors on real servers: damage at the end of a chain — the server drops a message it
//! finds damaged on restart — is caught by loads, verification and appends; an anchor that
//! lags is never blamed; an anchor never moves backwards under concurrent writers; and
//! `verify_from` says whether today's chain extends a trusted head. Appends-per-second with
//! and without anchors are printed by `anchors_cost_an_append_no_request`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cim_events::{
    Divergence, Error, EventStore, ExpectedVersion, FaultKind, Head, JetStreamEventStore,
};
use futures::StreamExt;
use tests::domain::Noted;
use tests::nats::{NatsServer, connect, unique_names};

/// A store on `server` with anchors flushed every `flush`, and its stream name.
async fn store_on(server: &NatsServer, flush: Duration) -> (JetStreamEventStore, String) {
    let (stream, prefix) = unique_names();
    let store = JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix)
        .anchor_flush_interval(flush)
        .transient_retries(2)
        .request_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("provision");
    (store, stream)
}

/// Another handle on the same stream, on its own connection: nothing cached.
async fn reopen(server: &NatsServer, store: &JetStreamEventStore) -> JetStreamEventStore {
    JetStreamEventStore::builder(connect(vec![server.addr()]).await, store.stream_name())
        .prefix(store.subject_prefix())
        .request_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("reopen")
}

/// Waits until the aggregate's anchor is `head`.
async fn anchored(store: &JetStreamEventStore, id: &str, head: Head) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let anchor = store.anchor(id).await.expect("read anchor");
        if anchor == Some(head) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "anchor {anchor:?}, want {head:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn block_files(dir: &Path, stream: &str) -> Vec<PathBuf> {
    let msgs = dir
        .join("jetstream")
        .join("$G")
        .join("streams")
        .join(stream)
        .join("msgs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&msgs)
        .unwrap_or_else(|e| panic!("read {}: {e}", msgs.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "blk"))
        .collect();
    files.sort();
    files
}

/// Flips one byte in the middle of the stored copy of `bytes` (the body of one message) in
/// the stream's block files, the server stopped.
fn flip_stored_byte(server: &NatsServer, stream: &str, bytes: &[u8]) {
    for file in block_files(&server.store_dir(), stream) {
        let mut data = std::fs::read(&file).expect("read block file");
        let found = data.windows(bytes.len()).rposition(|w| w == bytes);
        if let Some(at) = found {
            data[at + bytes.len() / 2] ^= 0x55;
            std::fs::write(&file, data).expect("write block file");
            return;
        }
    }
    panic!("the message body was not found in any block file of {stream}");
}

async fn append(store: &JetStreamEventStore, id: &str, n: u64) -> cim_events::EventMetadata {
    store
        .append_event(id, Noted::new(id, n), None)
        .await
        .expect("append")
}

/// (a) The last of three events is damaged on disk while the server is down; the restarted
/// server drops it. `load`, `verify_chain`, `verify_from` and an append — on the handle
/// that wrote the events and on a new one — report the truncation, and nothing is appended
/// on the older head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_last_event_is_reported_as_a_truncation() {
    let mut server = NatsServer::start().await;
    let (store, stream) = store_on(&server, Duration::from_millis(10)).await;
    let id = "tr-1";
    let mut metas = Vec::new();
    for n in 1..=3 {
        metas.push(append(&store, id, n).await);
    }
    let last = Head {
        version: 3,
        cid: metas[2].cid,
        sequence: metas[2].sequence,
    };
    anchored(&store, id, last).await;
    let last_bytes = store.load(id).await.expect("load")[2].bytes.clone();

    server.kill();
    flip_stored_byte(&server, &stream, &last_bytes);
    server.restart().await;

    // What the server kept: the damaged event is gone.
    let stored = store.read_raw(id, 0).await.expect("read");
    assert_eq!(stored.len(), 2, "the server dropped the damaged event");

    let fresh = reopen(&server, &store).await;
    for handle in [&fresh, &store] {
        match handle.load(id).await {
            Err(Error::Truncated(t)) => {
                assert_eq!(t.anchored, last);
                assert_eq!(t.found.map(|h| h.cid), Some(metas[1].cid));
            }
            other => panic!("load: expected a truncation, got {other:?}"),
        }
        let report = handle.verify_chain(id).await.expect("verify");
        assert!(!report.is_valid());
        assert!(
            report.faults.iter().any(|f| f.sequence == last.sequence
                && f.kind
                    == FaultKind::Truncated {
                        anchored_version: 3,
                        anchored_cid: last.cid,
                        found_version: 2,
                    }),
            "{report:?}"
        );
        assert!(matches!(handle.head(id).await, Err(Error::Truncated(_))));
        let again = handle
            .append_event(id, Noted::new(id, 4), None)
            .await
            .map(|m| m.version);
        assert!(matches!(again, Err(Error::Truncated(_))), "{again:?}");
        // A caller that still knows version 2 as the head is refused too.
        let after_two = handle
            .append_events(
                id,
                vec![Noted::new(id, 4)],
                ExpectedVersion::Head(metas[1].cid),
            )
            .await
            .map(|m| m[0].version);
        assert!(
            matches!(after_two, Err(Error::Truncated(_))),
            "{after_two:?}"
        );
    }
    assert_eq!(
        store.read_raw(id, 0).await.expect("read").len(),
        2,
        "nothing was appended on the older head"
    );

    // Trusted heads: version 3 is gone; version 2 is there, but the chain stops short of
    // the anchor after it.
    let report = fresh.verify_from(id, last.cid).await.expect("verify_from");
    assert_eq!(report.divergence, Some(Divergence::Missing));
    let report = fresh
        .verify_from(id, metas[1].cid)
        .await
        .expect("verify_from");
    assert!(
        matches!(
            &report.divergence,
            Some(Divergence::FaultAfter(f)) if matches!(f.kind, FaultKind::Truncated { .. })
        ),
        "{report:?}"
    );
}

/// (a) The only event of an aggregate is damaged: the aggregate reads as empty, and an
/// append would have started a new version 1. Both are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_only_event_does_not_make_a_new_aggregate() {
    let mut server = NatsServer::start().await;
    let (store, stream) = store_on(&server, Duration::from_millis(10)).await;
    let id = "tr-only";
    let meta = append(&store, id, 1).await;
    let head = Head {
        version: 1,
        cid: meta.cid,
        sequence: meta.sequence,
    };
    anchored(&store, id, head).await;
    let bytes = store.load(id).await.expect("load")[0].bytes.clone();
    server.kill();
    flip_stored_byte(&server, &stream, &bytes);
    server.restart().await;
    let fresh = reopen(&server, &store).await;
    assert!(fresh.read_raw(id, 0).await.expect("read").is_empty());
    match fresh.load(id).await {
        Err(Error::Truncated(t)) => assert_eq!((t.anchored, t.found), (head, None)),
        other => panic!("expected a truncation, got {other:?}"),
    }
    for expected in [ExpectedVersion::Any, ExpectedVersion::NoStream] {
        let appended = fresh
            .append_events(id, vec![Noted::new(id, 1)], expected)
            .await
            .map(|m| m[0].version);
        assert!(matches!(appended, Err(Error::Truncated(_))), "{appended:?}");
    }
    assert!(fresh.read_raw(id, 0).await.expect("read").is_empty());
}

/// (b) An anchor behind the chain — its flush not done yet — is not blamed: loads,
/// verification, head reads and appends on a new handle all go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchor_behind_the_chain_is_not_blamed() {
    let server = NatsServer::start().await;
    // The first head is written at once; the next flush waits an hour.
    let (store, _) = store_on(&server, Duration::from_secs(3600)).await;
    let id = "behind-1";
    let first = append(&store, id, 1).await;
    anchored(
        &store,
        id,
        Head {
            version: 1,
            cid: first.cid,
            sequence: first.sequence,
        },
    )
    .await;
    append(&store, id, 2).await;
    let third = append(&store, id, 3).await;
    assert_eq!(
        store.anchor(id).await.expect("anchor").map(|h| h.version),
        Some(1),
        "the anchor lags"
    );
    let fresh = reopen(&server, &store).await;
    assert_eq!(fresh.load(id).await.expect("load").len(), 3);
    assert!(fresh.verify_chain(id).await.expect("verify").is_valid());
    assert_eq!(
        fresh.head(id).await.expect("head").map(|h| h.cid),
        Some(third.cid)
    );
    let fourth = fresh
        .append_event(id, Noted::new(id, 4), None)
        .await
        .expect("append on a lagging anchor");
    assert_eq!(fourth.version, 4);
    assert!(
        fresh
            .verify_from(id, first.cid)
            .await
            .expect("verify")
            .extends()
    );
}

/// (c) Several handles, on their own connections, append to one aggregate at once; every
/// value the anchor takes, as a watcher of its key sees them, is newer than the one
/// before, and it ends at the chain's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anchor_never_moves_backwards_under_concurrent_writers() {
    let server = NatsServer::start().await;
    let (store, _) = store_on(&server, Duration::from_millis(1)).await;
    let id = "race-1";
    let bucket = store.anchor_bucket().expect("anchors are on").to_owned();
    let kv = store
        .context()
        .get_key_value(&bucket)
        .await
        .expect("open the anchor bucket");
    let mut watch = kv.watch(id).await.expect("watch the anchor");
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let handle = reopen(&server, &store).await;
        writers.push(tokio::spawn(async move {
            for n in 0..15 {
                handle
                    .append_events(id, vec![Noted::new(id, w * 100 + n)], ExpectedVersion::Any)
                    .await
                    .expect("append");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let head = store.head(id).await.expect("head").expect("events");
    assert_eq!(head.version, 60);
    let mut seen: Vec<u64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.last() != Some(&head.version) {
        let entry = tokio::time::timeout_at(deadline.into(), watch.next())
            .await
            .unwrap_or_else(|_| panic!("the anchor did not reach the head; saw {seen:?}"))
            .expect("watch open")
            .expect("watch entry");
        let stored = store.anchor(id).await.expect("anchor").expect("anchored");
        assert!(stored.version >= seen.last().copied().unwrap_or(0));
        seen.push(decode_version(&entry.value));
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the anchor moved backwards: {seen:?}"
    );
    assert_eq!(store.anchor(id).await.expect("anchor"), Some(head));
}

/// The `version` of an anchor value, read with the generic DAG-CBOR decoder.
fn decode_version(bytes: &[u8]) -> u64 {
    let value: cim_events::Ipld = serde_ipld_dagcbor::from_slice(bytes).expect("DAG-CBOR");
    match value {
        cim_events::Ipld::Map(map) => match map.get("version") {
            Some(cim_events::Ipld::Integer(v)) => u64::try_from(*v).expect("a version"),
            other => panic!("version is {other:?}"),
        },
        other => panic!("an anchor is a map, got {other:?}"),
    }
}

/// `verify_from` on JetStream: a trusted head the chain went on from, and one it never held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_from_on_jetstream() {
    let server = NatsServer::start().await;
    let (store, _) = store_on(&server, Duration::from_millis(10)).await;
    let id = "vf-js";
    let first = append(&store, id, 1).await;
    append(&store, id, 2).await;
    let report = store.verify_from(id, first.cid).await.expect("verify");
    assert!(report.extends(), "{report:?}");
    assert_eq!(report.head.map(|h| h.version), Some(2));
    let other = cim_events::block::cid_of(b"not an event here");
    let report = store.verify_from(id, other).await.expect("verify");
    assert_eq!(report.divergence, Some(Divergence::Missing));
}

/// Appends per second with and without anchors, in interleaved rounds on one server, each
/// append to a warm aggregate (one request). Prints the figures; fails only if anchors
/// cost an append a request (more than half its rate), which debug builds on a loaded
/// machine keep well clear of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_cost_an_append_no_request() {
    const ROUNDS: usize = 9;
    const APPENDS: u64 = 300;
    const AGGREGATES: u64 = 10;
    let server = NatsServer::start().await;
    let (with, _) = store_on(
        &server,
        cim_events::jetstream::DEFAULT_ANCHOR_FLUSH_INTERVAL,
    )
    .await;
    let (stream, prefix) = unique_names();
    let without = JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix)
        .anchors(false)
        .build()
        .await
        .expect("provision");
    assert!(without.anchor_bucket().is_none());
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for (i, store) in [&with, &without].into_iter().enumerate() {
            let started = Instant::now();
            for n in 0..APPENDS {
                let id = format!("bench-{}", n % AGGREGATES);
                store
                    .append_event(&id, Noted::new(&id, n), None)
                    .await
                    .expect("append");
            }
            let rate = APPENDS as f64 / started.elapsed().as_secs_f64();
            if round > 0 {
                rates[i].push(rate);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on, off) = (median(&mut rates[0]), median(&mut rates[1]));
    println!(
        "appends/s (median of {} interleaved rounds of {APPENDS}): anchors on {on:.0}, off {off:.0}; \
         per append {:.1} µs on, {:.1} µs off",
        ROUNDS - 1,
        1e6 / on,
        1e6 / off
    );
    assert!(
        on > off / 2.0,
        "anchors cost an append a request: {on:.0} vs {off:.0}"
    );
    // The window a truncation could go unseen: from an acknowledgement to its anchor.
    let mut lags = Vec::new();
    for n in 0..10 {
        // Right after a flush, the next one waits out the interval: the worst case.
        let meta = with
            .append_event("lag", Noted::new("lag", n), None)
            .await
            .expect("append");
        let acked = Instant::now();
        while with.anchor("lag").await.expect("anchor").map(|h| h.cid) != Some(meta.cid) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lags.push(acked.elapsed().as_secs_f64() * 1e3);
    }
    lags.sort_by(f64::total_cmp);
    println!(
        "ack-to-anchor (flush interval {:?}): median {:.1} ms, max {:.1} ms",
        cim_events::jetstream::DEFAULT_ANCHOR_FLUSH_INTERVAL,
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
}
