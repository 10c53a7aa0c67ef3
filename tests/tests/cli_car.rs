//! `cim-events export` → `import` → `verify`: a round trip through CAR files keeps every
//! CID, a second import stores nothing, a CAR file verifies offline, and a damaged one
//! is located.

use cim_events::{EventStore, JetStreamEventStore};
use predicates::prelude::*;
use tests::cli::command;
use tests::domain::Noted;
use tests::nats::{NatsServer, connect, unique_names};

#[tokio::test(flavor = "multi_thread")]
async fn export_import_verify_round_trip_keeps_the_cids() {
    let server = NatsServer::shared().await;
    let (stream, prefix) = unique_names();
    let source = JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix.clone())
        .build()
        .await
        .expect("provision");
    for n in 1..=4 {
        for id in ["a-1", "a-2", "a-3"] {
            source
                .append_event(id, Noted::new(id, n), None)
                .await
                .expect("append");
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let car = dir.path().join("all.car");
    let car_arg = car.to_str().expect("utf-8 path");
    command(&server.url(), &stream, &prefix)
        .args(["export", "--all", "-o", car_arg])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("3 roots, 12 blocks"))
        .stderr(predicate::str::is_empty());
    command(&server.url(), &stream, &prefix)
        .args(["export", "--all", "--dir"])
        .arg(dir.path().join("each"))
        .assert()
        .code(0);
    assert!(
        dir.path().join("each/a-2.car").exists(),
        "one file per aggregate"
    );
    command(&server.url(), &stream, &prefix)
        .args(["verify", "--car", car_arg])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact: 3 aggregates, 12 events"));

    // Into a new stream (under another prefix: subjects are not in the blocks): same
    // blocks, same CIDs, verified.
    let (target, target_prefix) = unique_names();
    command(&server.url(), &target, &target_prefix)
        .args(["import", car_arg])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("a-1: stored 4, already present 0"))
        .stdout(predicate::str::contains("imported 3 chains"));
    command(&server.url(), &target, &target_prefix)
        .arg("verify")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact: 3 aggregates, 12 events"));
    let imported = JetStreamEventStore::builder(connect(vec![server.addr()]).await, &target)
        .prefix(target_prefix.clone())
        .build()
        .await
        .expect("open the target");
    for id in ["a-1", "a-2", "a-3"] {
        let cids = |events: Vec<cim_events::RecordedEvent>| {
            events.into_iter().map(|e| e.cid).collect::<Vec<_>>()
        };
        assert_eq!(
            cids(imported.load(id).await.expect("load")),
            cids(source.load(id).await.expect("load")),
            "{id} has the same CIDs after the round trip"
        );
    }
    // Again: everything is there already, nothing is stored twice.
    command(&server.url(), &target, &target_prefix)
        .args(["import", car_arg])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("a-3: stored 0, already present 4"));
    assert_eq!(imported.last_sequence().await.expect("last"), 12);

    // A damaged CAR file: the last byte of the last block flipped.
    let mut bytes = std::fs::read(&car).expect("read the CAR");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let damaged = dir.path().join("damaged.car");
    std::fs::write(&damaged, bytes).expect("write");
    command(&server.url(), &stream, &prefix)
        .args(["verify", "--json", "--car"])
        .arg(&damaged)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"kind\": \"hash_mismatch\""))
        .stdout(predicate::str::contains("\"block\": 11"));
    // Import refuses it before storing anything.
    let (untouched, untouched_prefix) = unique_names();
    command(&server.url(), &untouched, &untouched_prefix)
        .arg("import")
        .arg(&damaged)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hashes to"));
}
