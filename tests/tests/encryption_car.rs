//! CAR exports after a shred: the blocks are the stored bytes, ciphertext and all, so the
//! file still verifies with the standard JavaScript IPLD tools (`@ipld/car` +
//! `@ipld/dag-cbor` + `multiformats` through scripts/verify-car.mjs, and the `ipfs-car`
//! CLI), its CIDs are the stored ones (the ones the appends returned, before the shred),
//! and it holds no plaintext. On the memory store (field and whole-payload encryption)
//! and on JetStream.
//!
//! The npm tools come from `bash scripts/install-tools`; when they (or node) are missing
//! the test fails with that command — it never skips.

use cim_events::block::cid_of;
use cim_events::car::{CarSummary, export_aggregate, export_store, read_car};
use cim_events::crypto::{Crypto, Kek, KeyIdHash, MemoryKeyStore};
use cim_events::{
    Cid, Event, EventStore, ExpectedVersion, JetStreamEventStore, MemoryEventStore, Pii,
};
use serde::{Deserialize, Serialize};
use tests::ipld_tools::assert_tools_accept;
use tests::nats::{NatsServer, connect, unique_names};

#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(aggregate = "Customer")]
enum CustomerEvent {
    Registered {
        #[event(id)]
        customer_id: String,
        email: Pii<String>,
        plan: String,
    },
    PlanChanged {
        #[event(id)]
        customer_id: String,
        plan: String,
    },
}

const ANN: &str = "ann.car@example.com";
const BOB: &str = "bob.car@example.com";

fn registered(id: &str, email: &str) -> CustomerEvent {
    CustomerEvent::Registered {
        customer_id: id.into(),
        email: Pii::Clear(email.into()),
        plan: "basic".into(),
    }
}

fn plan_changed(id: &str) -> CustomerEvent {
    CustomerEvent::PlanChanged {
        customer_id: id.into(),
        plan: "gold".into(),
    }
}

fn kek(id: &str, byte: u8) -> Kek {
    Kek::from_bytes(id, [byte; 32]).expect("a valid KEK id")
}

fn crypto(whole: bool) -> Crypto {
    let crypto = Crypto::new(MemoryKeyStore::new(), kek("kek-1", 1));
    if whole {
        crypto.whole_payloads()
    } else {
        crypto
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes c-1 (three events, `Pii` in two) and c-2 (one), shreds c-1, exports c-1 and
/// the whole store, and checks both files with our reader and the npm tools.
async fn export_after_a_shred<S: EventStore>(store: &S, crypto: &Crypto) {
    let mut appended: Vec<Cid> = store
        .append_events(
            "c-1",
            vec![
                registered("c-1", ANN),
                plan_changed("c-1"),
                registered("c-1", ANN),
            ],
            ExpectedVersion::NoStream,
        )
        .await
        .expect("append")
        .iter()
        .map(|m| m.cid)
        .collect();
    let c2 = store
        .append_event("c-2", registered("c-2", BOB), None)
        .await
        .expect("append")
        .cid;
    crypto.shred("c-1", &kek("kek-2", 2)).await.expect("shred");

    // The stored blocks: what the appends returned, and the chain verifies.
    let stored: Vec<(Cid, Vec<u8>)> = store
        .read_raw("c-1", 0)
        .await
        .expect("raw")
        .iter()
        .map(|r| (cid_of(&r.data), r.data.to_vec()))
        .collect();
    let stored_cids: Vec<Cid> = stored.iter().map(|(c, _)| *c).collect();
    assert_eq!(stored_cids, appended);
    let loaded: Vec<Cid> = store
        .load("c-1")
        .await
        .expect("load")
        .iter()
        .map(|e| e.cid)
        .collect();
    assert_eq!(loaded, appended);
    let report = store.verify_chain("c-1").await.expect("verify");
    assert_eq!((report.events, report.faults.len()), (3, 0), "{report:?}");

    // One aggregate.
    let mut car = Vec::new();
    let summary = export_aggregate(store, "c-1", &mut car)
        .await
        .expect("export");
    assert_eq!(summary.roots, [appended[2]]);
    assert_eq!(summary.blocks, 3);
    let contents = read_car(car.as_slice()).expect("read back");
    assert_eq!(contents.roots, [appended[2]]);
    assert_eq!(contents.blocks, stored, "the stored blocks, byte for byte");
    assert!(!contains(&car, ANN.as_bytes()), "no plaintext in the file");
    assert!(
        contains(&car, KeyIdHash::of("c-1").as_str().as_bytes()),
        "the encrypted values name their key"
    );
    check_with_npm_tools(&car, &summary, &[("c-1", 3)]);

    // The whole store.
    let mut all = Vec::new();
    let summary = export_store(store, &mut all, |_, _| {})
        .await
        .expect("export");
    assert_eq!(summary.roots, [appended[2], c2]);
    appended.push(c2);
    let contents = read_car(all.as_slice()).expect("read back");
    let cids: Vec<Cid> = contents.blocks.iter().map(|(c, _)| *c).collect();
    assert_eq!(cids, appended);
    assert!(!contains(&all, ANN.as_bytes()) && !contains(&all, BOB.as_bytes()));
    check_with_npm_tools(&all, &summary, &[("c-1", 3), ("c-2", 1)]);
}

#[tokio::test]
async fn field_encryption_memory() {
    let crypto = crypto(false);
    let store = MemoryEventStore::builder()
        .encryption(crypto.clone())
        .build()
        .expect("store");
    export_after_a_shred(&store, &crypto).await;
}

#[tokio::test]
async fn whole_payload_encryption_memory() {
    let crypto = crypto(true);
    let store = MemoryEventStore::builder()
        .encryption(crypto.clone())
        .build()
        .expect("store");
    export_after_a_shred(&store, &crypto).await;
}

#[tokio::test]
async fn field_encryption_jetstream() {
    let crypto = crypto(false);
    let (stream, prefix) = unique_names();
    let store = JetStreamEventStore::builder(
        connect(vec![NatsServer::shared().await.addr()]).await,
        &stream,
    )
    .prefix(prefix)
    .encryption(crypto.clone())
    .build()
    .await
    .expect("provision the event stream");
    export_after_a_shred(&store, &crypto).await;
}

/// Writes `car` to a file and checks it with verify-car.mjs and `ipfs-car`: every block
/// re-hashed, decoded, re-encoded to the same bytes, and each chain walked from its root.
fn check_with_npm_tools(car: &[u8], summary: &CarSummary, chains: &[(&str, u64)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shredded.car");
    std::fs::write(&path, car).expect("write");

    assert_tools_accept(&path, summary, chains);
}
