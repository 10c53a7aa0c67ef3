//! CAR export: one aggregate and a whole store, read back by our reader and by the
//! standard JavaScript IPLD tools (`@ipld/car` + `@ipld/dag-cbor` + `multiformats` through
//! scripts/verify-car.mjs, and the `ipfs-car` CLI), which must accept the files unchanged.
//! Exports stream: the roots (heads) first, then each chain from genesis to head, stopping
//! at the root's stream sequence, and without the messages that are not part of the chain.
//!
//! The npm tools come from `bash scripts/install-tools`; when they (or node) are missing
//! the test fails with that command — it never skips.

use bytes::Bytes;
use cim_events::car::{CarSummary, export_aggregate, export_store, read_car};
use cim_events::test_util::{headers_of, seal_after};
use cim_events::{
    Cid, Error, EventHeader, EventStore, EventStream, ExpectedVersion, MemoryEventStore, Published,
    RawStream, SealedEvent, StartFrom, Tail, block::cid_of,
};
use tests::domain::Noted;
use tests::ipld_tools::{assert_tools_accept, ipfs_car, verify_with_ipld_car};

/// Aggregates of the test store and their lengths. Appended interleaved, so stream order
/// differs from the per-aggregate order the CAR must have.
const AGGREGATES: [(&str, u64); 3] = [("acc-1", 3), ("acc-2", 1), ("acc-3", 5)];

async fn populated_store() -> MemoryEventStore {
    let store = MemoryEventStore::new();
    for n in 1..=5 {
        for (id, len) in AGGREGATES {
            if n <= len {
                store
                    .append_events(id, vec![Noted::new(id, n)], ExpectedVersion::Exact(n - 1))
                    .await
                    .expect("append");
            }
        }
    }
    store
}

/// The CIDs of an aggregate's events, genesis first: the order a streaming CAR export
/// writes.
async fn cids_genesis_first<S: EventStore>(store: &S, id: &str) -> Vec<Cid> {
    store
        .load(id)
        .await
        .expect("load")
        .iter()
        .map(|e| e.cid)
        .collect()
}

async fn export_one(store: &MemoryEventStore, id: &str) -> (CarSummary, Vec<u8>) {
    let mut car = Vec::new();
    let summary = export_aggregate(store, id, &mut car).await.expect("export");
    (summary, car)
}

#[tokio::test]
async fn one_aggregate_exports_genesis_to_head_and_reads_back_verified() {
    let store = populated_store().await;
    let (summary, car) = export_one(&store, "acc-3").await;
    let expected = cids_genesis_first(&store, "acc-3").await;
    let head = store.head("acc-3").await.expect("head").expect("some head");

    assert_eq!(summary.roots, [head.cid]);
    assert_eq!(summary.blocks, 5);
    assert_eq!(summary.bytes, car.len() as u64);

    let contents = read_car(car.as_slice()).expect("read back");
    assert_eq!(contents.roots, [head.cid]);
    let cids: Vec<Cid> = contents.blocks.iter().map(|(c, _)| *c).collect();
    assert_eq!(cids, expected);
    let stored = store.load("acc-3").await.expect("load");
    for ((cid, bytes), event) in contents.blocks.iter().zip(stored.iter()) {
        assert_eq!(cid_of(bytes), *cid);
        assert_eq!(bytes.as_slice(), event.bytes.as_ref());
    }
}

#[tokio::test]
async fn a_whole_store_exports_every_head_as_a_root() {
    let store = populated_store().await;
    let mut car = Vec::new();
    let mut progress = Vec::new();
    let summary = export_store(&store, &mut car, |done, total| progress.push((done, total)))
        .await
        .expect("export");
    assert_eq!(progress, [(1, 3), (2, 3), (3, 3)]);

    let mut heads = Vec::new();
    let mut expected = Vec::new();
    for (id, _) in AGGREGATES {
        heads.push(store.head(id).await.expect("head").expect("some head").cid);
        expected.extend(cids_genesis_first(&store, id).await);
    }
    assert_eq!(summary.roots, heads);
    assert_eq!(summary.blocks, 9);

    let contents = read_car(car.as_slice()).expect("read back");
    assert_eq!(contents.roots, heads);
    let cids: Vec<Cid> = contents.blocks.iter().map(|(c, _)| *c).collect();
    assert_eq!(cids, expected);
    assert!(contents.blocks.iter().all(|(c, b)| cid_of(b) == *c));
}

#[tokio::test]
async fn a_corrupted_block_or_a_truncated_file_is_detected() {
    let store = populated_store().await;
    let (_, car) = export_one(&store, "acc-1").await;
    let contents = read_car(car.as_slice()).expect("intact");
    let (_, last_block) = contents.blocks.last().expect("a block");
    // Flip one byte inside the last block's data (the final bytes of the file).
    let mut corrupted = car.clone();
    let at = corrupted.len() - last_block.len() / 2;
    corrupted[at] ^= 0x01;
    match read_car(corrupted.as_slice()) {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            assert!(e.to_string().contains("block 2 claims"), "{e}");
        }
        other => panic!("expected the corruption to be detected, got {other:?}"),
    }
    let truncated = &car[..car.len() - 3];
    assert!(read_car(truncated).is_err());
    assert!(read_car(&[][..]).is_err());
}

#[tokio::test]
async fn an_empty_selection_is_a_valid_car_without_roots() {
    let store = MemoryEventStore::new();
    let mut car = Vec::new();
    let summary = export_store(&store, &mut car, |_, _| {})
        .await
        .expect("export");
    assert_eq!((summary.roots.len(), summary.blocks), (0, 0));
    // varint(17) ‖ {"roots": [], "version": 1}
    assert_eq!(car, b"\x11\xa2\x65roots\x80\x67version\x01");
    let contents = read_car(car.as_slice()).expect("read back");
    assert!(contents.roots.is_empty() && contents.blocks.is_empty());
    let (summary, car) = export_one(&populated_store().await, "acc-404").await;
    assert_eq!((summary.roots.len(), summary.blocks), (0, 0));
    assert_eq!(read_car(car.as_slice()).expect("read back").blocks, []);
}

// ---- what a streaming export leaves out ----

/// Messages on the aggregate's subjects that are not part of its chain (garbage, a second
/// genesis) are not exported; the chain around them is, whole.
#[tokio::test]
async fn messages_outside_the_chain_are_not_exported() {
    let store = MemoryEventStore::new();
    store
        .append_events("nb-1", vec![Noted::new("nb-1", 1)], ExpectedVersion::Any)
        .await
        .expect("append");
    store.insert_raw("events.nb-1.Noted", vec![], Bytes::from_static(b"not cbor"));
    let second_genesis = seal_after(
        "events",
        "nb-1",
        None,
        &[Noted::new("nb-1", 9)],
        &EventHeader::default(),
    )
    .expect("seal");
    store.insert_raw(
        "events.nb-1.Noted",
        headers_of(&second_genesis[0]),
        second_genesis[0].bytes.clone(),
    );
    store
        .append_events(
            "nb-1",
            vec![Noted::new("nb-1", 2), Noted::new("nb-1", 3)],
            ExpectedVersion::Any,
        )
        .await
        .expect("append");
    let (summary, car) = export_one(&store, "nb-1").await;
    let contents = read_car(car.as_slice()).expect("read back");
    let cids: Vec<Cid> = contents.blocks.iter().map(|(c, _)| *c).collect();
    assert_eq!(cids, cids_genesis_first(&store, "nb-1").await);
    assert_eq!(summary.blocks, 3);
    assert!(!cids.contains(&second_genesis[0].cid));
}

/// A memory store that misbehaves around an export, to test what the export does.
#[derive(Clone)]
struct Meddling {
    inner: MemoryEventStore,
    mode: Meddle,
}

#[derive(Clone, Copy)]
enum Meddle {
    /// Another writer appends to the aggregate just before each read of its messages:
    /// between the export's head read and its chain read.
    WriteBeforeRead,
    /// The head names the sequence of the newest event but another CID.
    ForgedHead,
}

#[async_trait::async_trait]
impl EventStore for Meddling {
    fn subject_prefix(&self) -> &str {
        self.inner.subject_prefix()
    }

    fn max_event_size(&self) -> usize {
        self.inner.max_event_size()
    }

    async fn tail(&self, aggregate_id: &str, fresh: bool) -> cim_events::Result<Tail> {
        let mut tail = self.inner.tail(aggregate_id, fresh).await?;
        if let (Meddle::ForgedHead, Some(head)) = (self.mode, tail.head.as_mut()) {
            head.cid = cid_of(b"not the head");
        }
        Ok(tail)
    }

    async fn publish(
        &self,
        aggregate_id: &str,
        events: &[SealedEvent],
        after: &Tail,
    ) -> cim_events::Result<Published> {
        self.inner.publish(aggregate_id, events, after).await
    }

    async fn read_messages(&self, aggregate_id: &str, after: u64) -> cim_events::Result<RawStream> {
        if let Meddle::WriteBeforeRead = self.mode {
            self.inner
                .append_events(
                    aggregate_id,
                    vec![Noted::new(aggregate_id, 100)],
                    ExpectedVersion::Any,
                )
                .await?;
        }
        self.inner.read_messages(aggregate_id, after).await
    }

    async fn subscribe_filters(
        &self,
        filters: &[String],
        start: StartFrom,
    ) -> cim_events::Result<EventStream> {
        self.inner.subscribe_filters(filters, start).await
    }

    async fn aggregate_ids(&self) -> cim_events::Result<Vec<String>> {
        self.inner.aggregate_ids().await
    }
}

/// Events appended while an export runs are left out: the file holds the chain up to the
/// root it names, and the standard tools accept it.
#[tokio::test]
async fn an_export_stops_at_the_root_it_read_first() {
    let inner = populated_store().await;
    let before = cids_genesis_first(&inner, "acc-1").await;
    let store = Meddling {
        inner: inner.clone(),
        mode: Meddle::WriteBeforeRead,
    };
    let mut car = Vec::new();
    let summary = export_aggregate(&store, "acc-1", &mut car)
        .await
        .expect("export");
    let after = cids_genesis_first(&inner, "acc-1").await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "a write landed during the export"
    );
    assert_eq!(summary.roots, [*before.last().expect("a head")]);
    let contents = read_car(car.as_slice()).expect("read back");
    let cids: Vec<Cid> = contents.blocks.iter().map(|(c, _)| *c).collect();
    assert_eq!(cids, before);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("raced.car");
    std::fs::write(&path, &car).expect("write");
    let (ok, report) = verify_with_ipld_car(&path);
    assert!(ok, "verify-car.mjs rejected the export: {report}");
}

/// A root the chain does not reach at the root's sequence is a typed error, not a file
/// whose header disagrees with its blocks.
#[tokio::test]
async fn a_root_the_chain_does_not_reach_is_a_typed_error() {
    let inner = populated_store().await;
    let head = inner.head("acc-3").await.expect("head").expect("some head");
    let store = Meddling {
        inner,
        mode: Meddle::ForgedHead,
    };
    match export_aggregate(&store, "acc-3", Vec::new()).await {
        Err(Error::ExportRootMismatch(mismatch)) => {
            assert_eq!(mismatch.aggregate_id, "acc-3");
            assert_eq!(mismatch.root.sequence, head.sequence);
            assert_ne!(mismatch.root.cid, head.cid);
            assert_eq!(mismatch.reached, Some(head));
        }
        other => panic!("expected ExportRootMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn standard_ipld_tools_accept_the_exports_unchanged() {
    let store = populated_store().await;
    let dir = tempfile::tempdir().expect("temp dir");

    let (one, one_bytes) = export_one(&store, "acc-1").await;
    let one_path = dir.path().join("acc-1.car");
    std::fs::write(&one_path, &one_bytes).expect("write");
    let mut all_bytes = Vec::new();
    let all = export_store(&store, &mut all_bytes, |_, _| {})
        .await
        .expect("export");
    let all_path = dir.path().join("store.car");
    std::fs::write(&all_path, &all_bytes).expect("write");

    for (path, summary, chains) in [
        (&one_path, &one, vec![("acc-1", 3)]),
        (&all_path, &all, AGGREGATES.to_vec()),
    ] {
        assert_tools_accept(path, summary, &chains);
    }
}

#[tokio::test]
async fn standard_ipld_tools_reject_a_corrupted_export() {
    let store = populated_store().await;
    let (_, mut car) = export_one(&store, "acc-3").await;
    let at = car.len() - 10;
    car[at] ^= 0x01;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("corrupted.car");
    std::fs::write(&path, &car).expect("write");

    let (ok, report) = verify_with_ipld_car(&path);
    assert!(!ok, "verify-car.mjs accepted a corrupted CAR: {report}");
    assert_eq!(report["blocks"], 5);
    assert_eq!(report["rehashed"], 4);
    let errors = report["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with("block 4 ("))),
        "{report}"
    );
    let (ok, _) = ipfs_car("blocks", &path);
    assert!(!ok, "ipfs-car blocks accepted a corrupted CAR");
}
