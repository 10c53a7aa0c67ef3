//! The operator subcommands besides `verify`, run as a binary against a real
//! nats-server: `show`, `tail`, `stats`, `projections` (list and reset) and
//! `schema check`.

use cim_events::jetstream::{JetStreamCheckpointStore, async_nats};
use cim_events::projection::{Checkpoint, CheckpointStore};
use cim_events::schema::{EventShape, FieldShape};
use cim_events::{EventStore, JetStreamEventStore};
use predicates::prelude::*;
use tests::cli::command;
use tests::domain::Noted;
use tests::nats::{NatsServer, connect, unique_names};

async fn seeded(server: &NatsServer) -> (JetStreamEventStore, String, String) {
    let (stream, prefix) = unique_names();
    let store = JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix.clone())
        .build()
        .await
        .expect("provision");
    for n in 1..=3 {
        store
            .append_event("s-1", Noted::new("s-1", n), None)
            .await
            .expect("append");
    }
    store
        .append_event("s-2", Noted::new("s-2", 1), None)
        .await
        .expect("append");
    (store, stream, prefix)
}

fn lines(output: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(output)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn show_lists_one_line_per_event_with_payload_as_dag_json() {
    let server = NatsServer::shared().await;
    let (store, stream, prefix) = seeded(server).await;
    let events = store.load("s-1").await.expect("load");
    let output = command(&server.url(), &stream, &prefix)
        .args(["show", "s-1", "--payload"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let shown = lines(&output.stdout);
    assert_eq!(shown.len(), 3);
    assert!(shown[0].starts_with("s-1 v1 "), "{}", shown[0]);
    assert!(shown[0].contains("prev=-"));
    assert!(shown[1].contains(&format!("prev={}", events[0].cid)));
    assert!(shown[2].contains(&events[2].cid.to_string()));
    assert!(
        shown[2].contains("\"n\":3"),
        "payload as DAG-JSON: {}",
        shown[2]
    );
    let output = command(&server.url(), &stream, &prefix)
        .args(["show", "s-1", "--json"])
        .output()
        .expect("run");
    let first: serde_json::Value =
        serde_json::from_str(&lines(&output.stdout)[0]).expect("JSON lines");
    assert_eq!(first["version"], 1);
    assert_eq!(first["cid"], events[0].cid.to_string());
    assert_eq!(first["type"], "Noted");
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_reads_a_filter_from_a_start_and_stops_at_the_end() {
    let server = NatsServer::shared().await;
    let (store, stream, prefix) = seeded(server).await;
    let count = |args: &[&str]| {
        let output = command(&server.url(), &stream, &prefix)
            .arg("tail")
            .args(args)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        lines(&output.stdout).len()
    };
    assert_eq!(count(&[]), 4);
    assert_eq!(count(&[&format!("{prefix}.s-1.>")]), 3);
    assert_eq!(count(&[&format!("{prefix}.*.Noted"), "--from-seq", "3"]), 2);
    assert_eq!(count(&["--since", "1h"]), 4);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let since = humantime_now();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    store
        .append_event("s-3", Noted::new("s-3", 1), None)
        .await
        .expect("append");
    assert_eq!(count(&["--since", &since]), 1);
    let output = command(&server.url(), &stream, &prefix)
        .args(["tail", "--json", &format!("{prefix}.s-3.>")])
        .output()
        .expect("run");
    let event: serde_json::Value =
        serde_json::from_str(&lines(&output.stdout)[0]).expect("JSON lines");
    assert_eq!(event["aggregate"], "s-3");
    // A filter outside the prefix is refused.
    command(&server.url(), &stream, &prefix)
        .args(["tail", "elsewhere.>"])
        .assert()
        .code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_follow_prints_new_events_as_they_come() {
    let server = NatsServer::shared().await;
    let (store, stream, prefix) = seeded(server).await;
    let mut child = std::process::Command::new(tests::cli::binary())
        .args([
            "--server",
            &server.url(),
            "--stream",
            &stream,
            "--prefix",
            &prefix,
        ])
        .args(["tail", "--new", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .next()
            .and_then(Result::ok)
    });
    // Appends until the follower has one line (its consumer may start after the first).
    let mut n = 10;
    while !reader.is_finished() && n < 60 {
        store
            .append_event("s-9", Noted::new("s-9", n - 9), None)
            .await
            .expect("append");
        n += 1;
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    child.kill().expect("kill the follower");
    let _ = child.wait();
    let line = reader.join().expect("reader").expect("a followed event");
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["aggregate"], "s-9");
}

fn humantime_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    // RFC 3339 by hand: the tests crate does not depend on a time crate.
    let secs = now.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_counts_events_aggregates_and_types() {
    let server = NatsServer::shared().await;
    let (_store, stream, prefix) = seeded(server).await;
    let output = command(&server.url(), &stream, &prefix)
        .args(["stats", "--json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(stats["events"], 4);
    assert_eq!(stats["aggregates"], 2);
    assert_eq!(stats["event_types"]["Noted"], 4);
    assert_eq!(
        stats["warnings"].as_array().map(Vec::len),
        Some(0),
        "{stats}"
    );
    assert!(stats["first_time"].is_string());

    // A stream the store did not provision, with settings it refuses.
    let js = connect(vec![server.addr()]).await;
    let (loose, loose_prefix) = unique_names();
    js.create_stream(async_nats::jetstream::stream::Config {
        name: loose.clone(),
        subjects: vec![format!("{loose_prefix}.>")],
        max_age: std::time::Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .expect("create a loose stream");
    command(&server.url(), &loose, &loose_prefix)
        .arg("stats")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("NOT as the store requires"))
        .stderr(predicate::str::contains("max_age is set"))
        .stderr(predicate::str::contains("deny_delete is off"));
}

#[tokio::test(flavor = "multi_thread")]
async fn projections_list_and_reset() {
    let server = NatsServer::shared().await;
    let (store, stream, prefix) = seeded(server).await;
    let bucket = format!("{stream}_CHECKPOINTS");
    let checkpoints = JetStreamCheckpointStore::new(store.context().clone(), &bucket)
        .await
        .expect("bucket");
    let events = store.load("s-1").await.expect("load");
    checkpoints
        .save_checkpoint("balances", Checkpoint::of(&events[1]))
        .await
        .expect("save");
    let output = command(&server.url(), &stream, &prefix)
        .args(["projections", "--bucket", &bucket, "list", "--json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(rows[0]["name"], "balances");
    assert_eq!(rows[0]["sequence"], events[1].sequence);
    assert_eq!(rows[0]["cid"], events[1].cid.to_string());
    assert_eq!(rows[0]["on_chain"], true);
    assert_eq!(rows[0]["pending"], 4 - events[1].sequence);

    // Without --yes and without a terminal: not confirmed, nothing changes.
    command(&server.url(), &stream, &prefix)
        .args([
            "projections",
            "--bucket",
            &bucket,
            "reset",
            "balances",
            "--to",
            "start",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not confirmed"));
    assert!(
        checkpoints
            .load_checkpoint("balances")
            .await
            .expect("load")
            .is_some()
    );

    // A runner holding the consumer (a pull waiting): refused.
    let js_stream = store.stream().clone();
    let consumer = js_stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("balances".into()),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut pulls = consumer.messages().await.expect("pull");
    let holder = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(Ok(message)) = pulls.next().await {
            let _ = message.ack().await;
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    command(&server.url(), &stream, &prefix)
        .args([
            "projections",
            "--bucket",
            &bucket,
            "reset",
            "balances",
            "--to",
            "1",
            "--yes",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a runner holds consumer `balances`",
        ));
    holder.abort();
    let _ = holder.await;
    // Pull requests expire with the client's; wait until none is left.
    for _ in 0..100 {
        let info = js_stream.consumer_info("balances").await.expect("info");
        if info.num_waiting == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    command(&server.url(), &stream, &prefix)
        .args([
            "projections",
            "--bucket",
            &bucket,
            "reset",
            "balances",
            "--to",
            "1",
            "--yes",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("reset to stream sequence 1"))
        .stderr(predicate::str::contains("its owner must clear it"));
    let fresh = JetStreamCheckpointStore::new(store.context().clone(), &bucket)
        .await
        .expect("bucket");
    assert_eq!(
        fresh.load_checkpoint("balances").await.expect("load"),
        Some(Checkpoint::of(&events[0]))
    );
    command(&server.url(), &stream, &prefix)
        .args([
            "projections",
            "--bucket",
            &bucket,
            "reset",
            "balances",
            "--to",
            "start",
            "--yes",
        ])
        .assert()
        .code(0);
    let fresh = JetStreamCheckpointStore::new(store.context().clone(), &bucket)
        .await
        .expect("bucket");
    assert_eq!(fresh.load_checkpoint("balances").await.expect("load"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_check_compares_the_registry_with_a_lock_file() {
    let server = NatsServer::shared().await;
    let (store, stream, prefix) = seeded(server).await;
    let shape = EventShape {
        aggregate_type: "Account",
        event_type: "Deposited",
        aliases: &[],
        schema: 1,
        fields: &[FieldShape {
            name: "amount",
            ty: "u64",
        }],
    };
    store.register_schema(&[shape]).await.expect("register");
    let dir = tempfile::tempdir().expect("temp dir");
    let lock = dir.path().join("schema.lock");
    let entry = |fingerprint: String| {
        format!("event Account/Deposited schema 1 fingerprint {fingerprint}\n  amount: u64\n")
    };
    std::fs::write(&lock, entry(shape.fingerprint().to_hex())).expect("write");
    command(&server.url(), &stream, &prefix)
        .args(["schema", "check", "--lock"])
        .arg(&lock)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "ok event Account/Deposited schema 1",
        ));
    std::fs::write(&lock, entry("ab".repeat(32))).expect("write");
    command(&server.url(), &stream, &prefix)
        .args(["schema", "check", "--lock"])
        .arg(&lock)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "DRIFT event Account/Deposited schema 1",
        ));
}

#[tokio::test(flavor = "multi_thread")]
async fn shred_destroys_a_subjects_key_and_rewraps_the_others() {
    use cim_events::crypto::{Crypto, Kek, KeyState};
    use cim_events::jetstream::JetStreamKeyStore;
    let server = NatsServer::shared().await;
    let (stream, prefix) = unique_names();
    let js = connect(vec![server.addr()]).await;
    let bucket = format!("{stream}_KEYS");
    let first = Kek::generate("kek-1").expect("kek");
    let next = Kek::generate("kek-2").expect("kek");
    let crypto = Crypto::new(
        JetStreamKeyStore::new(js.clone(), &bucket)
            .await
            .expect("bucket"),
        Kek::from_bytes("kek-1", *first.secret_bytes()).expect("kek"),
    );
    crypto.create_key("ann").await.expect("key");
    crypto.create_key("bob").await.expect("key");
    let dir = tempfile::tempdir().expect("temp dir");
    let hex = |kek: &Kek| -> String {
        kek.secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    std::fs::write(dir.path().join("kek-1.hex"), hex(&first)).expect("write");
    std::fs::write(dir.path().join("kek-2.hex"), hex(&next)).expect("write");
    let shred = |yes: bool| {
        let mut command = command(&server.url(), &stream, &prefix);
        command
            .args(["shred", "ann", "--key-bucket", &bucket])
            .args(["--kek-id", "kek-1", "--kek-file"])
            .arg(dir.path().join("kek-1.hex"))
            .args(["--next-kek-id", "kek-2", "--next-kek-file"])
            .arg(dir.path().join("kek-2.hex"));
        if yes {
            command.arg("--yes");
        }
        command.assert()
    };
    shred(false)
        .code(2)
        .stderr(predicate::str::contains("not confirmed"));
    shred(true)
        .code(0)
        .stdout(predicate::str::contains("shredded ann"))
        .stdout(predicate::str::contains(
            "re-wrapped 1 other data keys under KEK `kek-2`",
        ))
        .stdout(predicate::str::contains(hex(&first)).not())
        .stdout(predicate::str::contains(hex(&next)).not());
    let after = Crypto::new(
        JetStreamKeyStore::new(js, &bucket).await.expect("bucket"),
        next,
    );
    assert_eq!(
        after.key_state("ann").await.expect("state"),
        KeyState::Shredded
    );
    assert_eq!(after.key_state("bob").await.expect("state"), KeyState::Live);
    // bob's key is readable under the next KEK: it was re-wrapped.
    after
        .encryptor("bob")
        .await
        .expect("bob's key opens under kek-2");
}
