//! Conformance cases for [`cim_events::import`]: blocks from another store go in as they
//! are (same CIDs), verified on the way in, resumed after a stored prefix, and never
//! forking a chain. The source is always a memory store; the store under test receives.

use cim_events::car::{export_store, read_car};
use cim_events::import::{ImportError, import_car, import_chain};
use cim_events::{Cid, Error, EventStore, ExpectedVersion, MemoryEventStore};

use crate::domain::Noted;

/// `(aggregate, length)` of the source store. The long one needs two atomic batches.
const SOURCE: [(&str, u64); 3] = [("im-1", 1200), ("im-2", 1), ("im-3", 7)];

async fn source() -> MemoryEventStore {
    let store = MemoryEventStore::new();
    for (id, len) in SOURCE {
        let events: Vec<Noted> = (1..=len).map(|n| Noted::new(id, n)).collect();
        for chunk in events.chunks(cim_events::MAX_BATCH) {
            store
                .append_events(id, chunk.to_vec(), ExpectedVersion::Any)
                .await
                .expect("append to the source");
        }
    }
    store
}

/// One aggregate's chain in the source, genesis first, as `(cid, bytes)`.
async fn chain_of(store: &MemoryEventStore, id: &str) -> Vec<(Cid, Vec<u8>)> {
    store
        .load(id)
        .await
        .expect("load the source")
        .into_iter()
        .map(|e| (e.cid, e.bytes.to_vec()))
        .collect()
}

async fn cids<S: EventStore>(store: &S, id: &str) -> Vec<Cid> {
    store
        .load(id)
        .await
        .expect("load")
        .iter()
        .map(|e| e.cid)
        .collect()
}

fn import_error(result: cim_events::Result<impl std::fmt::Debug>) -> ImportError {
    match result {
        Err(Error::Import(e)) => *e,
        other => panic!("expected an import error, got {other:?}"),
    }
}

/// A whole store through a CAR file: every chain arrives with the same CIDs, in two
/// batches where it is longer than one atomic append, and verifies.
pub async fn an_import_keeps_every_cid<S: EventStore>(store: &S) {
    let source = source().await;
    let mut file = Vec::new();
    export_store(&source, &mut file, |_, _| {})
        .await
        .expect("export");
    let car = read_car(file.as_slice()).expect("read the CAR");

    let mut progress = Vec::new();
    let reports = import_car(store, &car, |done, total| progress.push((done, total)))
        .await
        .expect("import");

    let total: u64 = SOURCE.iter().map(|(_, len)| len).sum();
    assert_eq!(progress.last(), Some(&(total, total)));
    assert_eq!(reports.len(), SOURCE.len());
    for (id, len) in SOURCE {
        let report = reports
            .iter()
            .find(|r| r.aggregate_id == id)
            .expect("a report per root");
        assert_eq!((report.stored, report.already_present), (len, 0));
        let head = report.head.expect("a head");
        assert_eq!(head.version, len);
        assert_eq!(cids(store, id).await, cids(&source, id).await);
        assert!(store.verify_chain(id).await.expect("verify").is_valid());
    }
}

/// An import that stopped midway resumes: the stored prefix is not stored again, and a
/// second import of the whole chain stores nothing.
pub async fn an_import_resumes_after_a_stored_prefix<S: EventStore>(store: &S) {
    let source = source().await;
    let chain = chain_of(&source, "im-3").await;

    let first = import_chain(store, &chain[..3]).await.expect("the prefix");
    assert_eq!((first.stored, first.already_present), (3, 0));
    let rest = import_chain(store, &chain).await.expect("the whole chain");
    assert_eq!((rest.stored, rest.already_present), (4, 3));
    let again = import_chain(store, &chain).await.expect("again");
    assert_eq!((again.stored, again.already_present), (0, 7));
    let shorter = import_chain(store, &chain[..5]).await.expect("a prefix");
    assert_eq!((shorter.stored, shorter.already_present), (0, 5));

    assert_eq!(cids(store, "im-3").await, cids(&source, "im-3").await);
    assert_eq!(store.load("im-3").await.expect("load").len(), 7);
}

/// A store that holds another history for the aggregate refuses the import and keeps
/// its own.
pub async fn an_import_never_forks_a_chain<S: EventStore>(store: &S) {
    let source = source().await;
    let chain = chain_of(&source, "im-3").await;
    let mut own = Noted::new("im-3", 1);
    own.text = "written here".into();
    store
        .append_event("im-3", own, None)
        .await
        .expect("the store's own event");
    let before = cids(store, "im-3").await;

    match import_error(import_chain(store, &chain).await) {
        ImportError::Diverges {
            aggregate_id,
            version,
            stored,
            imported,
        } => {
            assert_eq!(aggregate_id, "im-3");
            assert_eq!(version, 1);
            assert_eq!(stored, Some(before[0]));
            assert_eq!(imported, Some(chain[0].0));
        }
        other => panic!("expected Diverges, got {other:?}"),
    }
    assert_eq!(cids(store, "im-3").await, before);
}

/// Every fault in the blocks is located, and nothing of the chain is stored.
pub async fn a_faulty_import_is_located_and_stores_nothing<S: EventStore>(store: &S) {
    let source = source().await;
    let chain = chain_of(&source, "im-3").await;

    let mut tampered = chain.clone();
    let last = tampered[4].1.len() - 1;
    tampered[4].1[last] ^= 1;
    assert!(matches!(
        import_error(import_chain(store, &tampered).await),
        ImportError::HashMismatch { index: 4, claimed, .. } if claimed == chain[4].0
    ));

    let mut gap = chain.clone();
    gap.remove(2);
    assert!(matches!(
        import_error(import_chain(store, &gap).await),
        ImportError::BrokenLink {
            index: 2,
            expected_version: 3,
            found_version: 4,
            ..
        }
    ));

    let mut mixed = chain.clone();
    mixed.push(chain_of(&source, "im-2").await.remove(0));
    assert!(matches!(
        import_error(import_chain(store, &mixed).await),
        ImportError::OtherAggregate { index: 7, ref found, .. } if found == "im-2"
    ));

    // DAG-CBOR `[1, 2, 3]`: a block, but not an event.
    let not_an_event = vec![0x83, 1, 2, 3];
    let cid = cim_events::block::cid_of(&not_an_event);
    assert!(matches!(
        import_error(import_chain(store, &[(cid, not_an_event)]).await),
        ImportError::NotAnEvent { index: 0, cid: c, .. } if c == cid
    ));

    let mut file = Vec::new();
    export_store(&source, &mut file, |_, _| {})
        .await
        .expect("export");
    let mut car = read_car(file.as_slice()).expect("read the CAR");
    let missing = chain[3].0;
    car.blocks.retain(|(cid, _)| *cid != missing);
    assert!(matches!(
        import_error(import_car(store, &car, |_, _| {}).await),
        ImportError::MissingBlock { cid, linked_from } if cid == missing && linked_from == chain[4].0
    ));

    for (id, _) in SOURCE {
        assert_eq!(store.head(id).await.expect("head"), None, "{id}");
    }
}
