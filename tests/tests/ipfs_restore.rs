//! Restoring from an IPFS node alone finds and locates what is wrong on the node: a block
//! altered in the node's repo, a block the node lost, a link to the wrong block. A faulty
//! chain is never imported. And the client keeps our CIDs: a node that would store a block
//! under another CID is a typed error.

use std::collections::BTreeMap;

use cim_events::block::{EventBlock, cid_of};
use cim_events::ipfs::{IpfsError, IpfsFaultKind, KuboClient, restore_chain, restore_into};
use cim_events::{Cid, EventStore, Ipld, MemoryEventStore, RecordedEvent};
use tests::domain::Noted;
use tests::ipfs::IpfsNode;

/// A node holding one aggregate's chain of `events` events, and the events.
async fn node_with_chain(events: u64) -> (IpfsNode, KuboClient, Vec<RecordedEvent>) {
    let node = IpfsNode::start().await;
    let client = node.client();
    let store = MemoryEventStore::new();
    for n in 0..events {
        store
            .append_event("note-1", Noted::new("note-1", n), None)
            .await
            .expect("append");
    }
    let chain = store.load("note-1").await.expect("load");
    for event in &chain {
        client
            .put_block(&event.cid, &event.bytes)
            .await
            .expect("put");
    }
    (node, client, chain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_altered_in_the_nodes_repo_is_located() {
    let (node, client, chain) = node_with_chain(10).await;
    let victim = &chain[4]; // version 5
    let file = node
        .block_file(&victim.bytes)
        .expect("the block's file in the repo");
    let mut bytes = std::fs::read(&file).expect("read the block file");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01; // the last byte of the payload's text
    std::fs::write(&file, &bytes).expect("alter the block file");

    let head = chain.last().expect("a head").cid;
    let restored = restore_chain(&client, head)
        .await
        .expect("the node answers");
    assert!(!restored.report.is_valid());
    let [fault] = restored.report.faults.as_slice() else {
        panic!("one located fault: {:?}", restored.report.faults);
    };
    assert_eq!(fault.cid, victim.cid);
    assert_eq!(fault.version, Some(5));
    assert_eq!(fault.linked_from, Some(chain[5].cid));
    assert_eq!(
        fault.kind,
        IpfsFaultKind::HashMismatch {
            actual: cid_of(&bytes)
        }
    );
    // Versions 10 down to 6 were verified, and nothing below the fault is trusted.
    assert_eq!(restored.report.verified, 5);
    assert_eq!(restored.blocks.len(), 5);
    assert_eq!(restored.blocks[0].0, chain[5].cid);

    // Nothing is imported from a faulty chain.
    let store = MemoryEventStore::new();
    let restore = restore_into(&client, head, &store)
        .await
        .expect("the node answers");
    assert!(restore.import.is_none());
    assert_eq!(store.last_sequence().await.expect("last sequence"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_the_node_lost_is_located() {
    let (node, client, chain) = node_with_chain(6).await;
    let victim = &chain[1]; // version 2
    let file = node
        .block_file(&victim.bytes)
        .expect("the block's file in the repo");
    std::fs::remove_file(file).expect("remove the block file");

    let restored = restore_chain(&client, chain[5].cid)
        .await
        .expect("the node answers");
    let [fault] = restored.report.faults.as_slice() else {
        panic!("one located fault: {:?}", restored.report.faults);
    };
    assert_eq!(
        (fault.cid, fault.version, fault.linked_from),
        (victim.cid, Some(2), Some(chain[2].cid))
    );
    assert!(
        matches!(
            &fault.kind,
            IpfsFaultKind::Missing(IpfsError::Refused {
                operation: "block/get",
                ..
            })
        ),
        "{:?}",
        fault.kind
    );
    assert_eq!(restored.report.verified, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_the_wrong_block_is_located() {
    let (_node, client, chain) = node_with_chain(3).await;
    // Version 3 forged to link to version 1: a chain with version 2 cut out.
    let mut forged = EventBlock::decode(&chain[2].bytes).expect("decode");
    forged.prev = Some(chain[0].cid);
    let bytes = forged.encode().expect("encode");
    let forged_cid = cid_of(&bytes);
    client
        .put_block(&forged_cid, &bytes)
        .await
        .expect("put the forged block");

    let restored = restore_chain(&client, forged_cid)
        .await
        .expect("the node answers");
    let [fault] = restored.report.faults.as_slice() else {
        panic!("one located fault: {:?}", restored.report.faults);
    };
    assert_eq!(
        (fault.cid, fault.version, fault.linked_from),
        (chain[0].cid, Some(2), Some(forged_cid))
    );
    assert_eq!(
        fault.kind,
        IpfsFaultKind::BrokenLink {
            found: 1,
            prev: None
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_of_another_kind_is_reported_not_trusted() {
    let (_node, client, chain) = node_with_chain(2).await;
    // A valid DAG-CBOR block that is not an event.
    let other = serde_ipld_dagcbor::to_vec(&Ipld::Map(BTreeMap::from([(
        "hello".to_owned(),
        Ipld::Link(chain[1].cid),
    )])))
    .expect("encode");
    let other_cid = cid_of(&other);
    client.put_block(&other_cid, &other).await.expect("put");
    let restored = restore_chain(&client, other_cid)
        .await
        .expect("the node answers");
    let [fault] = restored.report.faults.as_slice() else {
        panic!("one located fault: {:?}", restored.report.faults);
    };
    assert_eq!(
        (fault.cid, fault.version, fault.linked_from),
        (other_cid, None, None)
    );
    assert!(
        matches!(fault.kind, IpfsFaultKind::Undecodable(_)),
        "{:?}",
        fault.kind
    );
    assert!(restored.blocks.is_empty());
}

/// Bytes that are DAG-CBOR but not canonical (map keys out of order), and their CID.
fn non_canonical() -> (Cid, Vec<u8>) {
    // {"b": 1, "a": 2}: canonical order is "a" first.
    let bytes = vec![0xa2, 0x61, b'b', 0x01, 0x61, b'a', 0x02];
    (cid_of(&bytes), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_would_store_another_cid_is_a_typed_error_and_put_block_keeps_ours() {
    let node = IpfsNode::start().await;
    let client = node.client();
    let (cid, bytes) = non_canonical();
    // dag/put re-encodes: the node answers the canonical block's CID, not ours.
    match client.dag_put(&cid, &bytes).await {
        Err(IpfsError::CidMismatch {
            operation: "dag/put",
            expected,
            returned,
        }) => {
            assert_eq!(*expected, cid);
            assert_ne!(*returned, cid);
        }
        other => panic!("expected a CID mismatch, got {other:?}"),
    }
    // put_block sends it as a CAR: the node keeps our bytes under our CID.
    client.put_block(&cid, &bytes).await.expect("put as a CAR");
    assert_eq!(client.block_get(&cid).await.expect("block/get"), bytes);
    let stat = client.block_stat(&cid).await.expect("block/stat");
    assert_eq!((stat.cid, stat.size), (cid, bytes.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_node_is_a_typed_error_not_a_fault() {
    let mut node = IpfsNode::start().await;
    let client = node.client();
    node.stop();
    let (cid, _) = non_canonical();
    let error = restore_chain(&client, cid)
        .await
        .expect_err("the node is down");
    assert!(
        matches!(
            error,
            IpfsError::Unreachable {
                operation: "block/get",
                ..
            }
        ),
        "{error:?}"
    );
    let store = MemoryEventStore::new();
    let error = restore_into(&client, cid, &store)
        .await
        .expect_err("the node is down");
    assert!(
        matches!(&error, cim_events::Error::Ipfs(e) if matches!(**e, IpfsError::Unreachable { .. })),
        "{error:?}"
    );
    assert!(error.is_transient());
}
