//! `cim-events ipfs push` → `ipfs restore`: a stream's chains go onto a real IPFS node
//! (js-ipfs, Kubo RPC API) and come back into a new stream with every CID the same; a
//! head the node does not have is a located fault (exit 1), not an import.

use cim_events::{EventStore, JetStreamEventStore};
use predicates::prelude::*;
use tests::cli::command;
use tests::domain::Noted;
use tests::ipfs::IpfsNode;
use tests::nats::{NatsServer, connect, unique_names};

async fn store(server: &NatsServer, stream: &str, prefix: &str) -> JetStreamEventStore {
    JetStreamEventStore::builder(connect(vec![server.addr()]).await, stream)
        .prefix(prefix.to_owned())
        .build()
        .await
        .expect("provision")
}

#[tokio::test(flavor = "multi_thread")]
async fn push_then_restore_into_a_new_stream_keeps_every_cid() {
    let server = NatsServer::shared().await;
    let node = IpfsNode::start().await;
    let (stream, prefix) = unique_names();
    let source = store(server, &stream, &prefix).await;
    for n in 1..=5 {
        for id in ["p-1", "p-2"] {
            source
                .append_event(id, Noted::new(id, n), None)
                .await
                .expect("append");
        }
    }
    let heads: Vec<String> = futures::future::join_all(["p-1", "p-2"].map(|id| source.head(id)))
        .await
        .into_iter()
        .map(|head| head.expect("head").expect("a head").cid.to_string())
        .collect();

    command(&server.url(), &stream, &prefix)
        .args(["ipfs", "--api", &node.api(), "push"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("pushed 2 aggregates: 10 blocks"))
        .stdout(predicate::str::contains(format!(
            "p-1: v5 {} pinned",
            heads[0]
        )));

    command(&server.url(), &stream, &prefix)
        .args(["ipfs", "--api", &node.api(), "restore", "--check"])
        .args(&heads)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("p-2: 5 blocks from"));

    let (target, target_prefix) = unique_names();
    command(&server.url(), &target, &target_prefix)
        .args(["ipfs", "--api", &node.api(), "restore"])
        .args(&heads)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("p-1: stored 5, already present 0"))
        .stdout(predicate::str::contains("p-2: stored 5, already present 0"));
    let restored = store(server, &target, &target_prefix).await;
    for (id, head) in ["p-1", "p-2"].iter().zip(&heads) {
        let got = restored.head(id).await.expect("head").expect("restored");
        assert_eq!(got.cid.to_string(), *head);
        assert!(restored.verify_chain(id).await.expect("verify").is_valid());
    }

    // A head the node does not have: located, exit 1, nothing imported.
    let absent = "bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje";
    let (empty, empty_prefix) = unique_names();
    command(&server.url(), &empty, &empty_prefix)
        .args(["ipfs", "--api", &node.api(), "restore", absent])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!("FAULT at {absent}")));
    let untouched = store(server, &empty, &empty_prefix).await;
    assert!(untouched.aggregate_ids().await.expect("ids").is_empty());
}

#[test]
fn a_bad_api_address_is_exit_2() {
    command("nats://127.0.0.1:1", "S", "p")
        .args(["ipfs", "--api", "not a url", "restore", "--check"])
        .arg("bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje")
        .assert()
        .code(2);
}
