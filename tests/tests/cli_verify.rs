//! `cim-events verify`, run as a binary against a real nats-server: exit codes (0 intact,
//! 1 faults, 2 errors), faults located (aggregate, version, stream sequence, CID, kind)
//! after the test plants foreign messages, `--from-head`, `--json`, quiet progress when
//! stderr is not a terminal, and bad arguments.

use cim_events::block::cid_of;
use cim_events::{EventStore, JetStreamEventStore};
use predicates::prelude::*;
use tests::cli::command;
use tests::domain::Noted;
use tests::nats::{NatsServer, connect, unique_names};

/// A store with two aggregates of three events each: `acc-1` (stream sequences 1, 3, 5)
/// and `acc-2` (2, 4, 6).
async fn seeded(server: &NatsServer) -> (JetStreamEventStore, String, String) {
    let (stream, prefix) = unique_names();
    let store = JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix.clone())
        .build()
        .await
        .expect("provision the stream");
    for n in 1..=3 {
        for id in ["acc-1", "acc-2"] {
            store
                .append_event(id, Noted::new(id, n), None)
                .await
                .expect("append");
        }
    }
    (store, stream, prefix)
}

fn json_of(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output).expect("stdout is a JSON report")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intact_stream_exits_0_and_progress_stays_off_a_pipe() {
    let server = NatsServer::shared().await;
    let (_store, stream, prefix) = seeded(server).await;
    // stderr is a pipe here, not a terminal: no progress bar, nothing at all.
    command(&server.url(), &stream, &prefix)
        .arg("verify")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact: 2 aggregates, 6 events"))
        .stderr(predicate::str::is_empty());
    command(&server.url(), &stream, &prefix)
        .args(["verify", "acc-1"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact: 1 aggregates, 3 events"));
    let output = command(&server.url(), &stream, &prefix)
        .args(["verify", "--all", "--json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty(), "no progress on a pipe");
    let report = json_of(&output.stdout);
    assert_eq!(report["intact"], true);
    assert_eq!(report["aggregates"], 2);
    assert_eq!(report["events"], 6);
    assert_eq!(report["faults"].as_array().map(Vec::len), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn planted_foreign_messages_are_located_and_exit_1() {
    let server = NatsServer::shared().await;
    let (store, stream, prefix) = seeded(server).await;
    let js = store.context().clone();
    // A foreign writer: bytes that are no event block on acc-1's subjects (sequence 7),
    // and a copy of acc-2's second event, without headers (sequence 8).
    let garbage = bytes::Bytes::from_static(b"not a block");
    js.publish(format!("{prefix}.acc-1.Noted"), garbage.clone())
        .await
        .expect("publish")
        .await
        .expect("stored");
    let second = store
        .read_raw("acc-2", 2)
        .await
        .expect("read acc-2")
        .into_iter()
        .next()
        .expect("acc-2 has a second event");
    js.publish(format!("{prefix}.acc-2.Noted"), second.data.clone())
        .await
        .expect("publish")
        .await
        .expect("stored");

    let output = command(&server.url(), &stream, &prefix)
        .args(["verify", "--json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "faults found: exit 1");
    let report = json_of(&output.stdout);
    assert_eq!(report["intact"], false);
    let faults = report["faults"].as_array().expect("faults");
    let undecodable = faults
        .iter()
        .find(|f| f["kind"] == "undecodable")
        .expect("the garbage is located");
    assert_eq!(undecodable["aggregate"], "acc-1");
    assert_eq!(undecodable["sequence"], 7);
    assert_eq!(undecodable["cid"], cid_of(&garbage).to_string());
    let duplicate = faults
        .iter()
        .find(|f| f["kind"] == "duplicate_sequence")
        .expect("the copy is located");
    assert_eq!(duplicate["aggregate"], "acc-2");
    assert_eq!(duplicate["sequence"], 8);
    assert_eq!(duplicate["version"], 2);
    assert_eq!(duplicate["cid"], cid_of(&second.data).to_string());
    assert!(
        faults.iter().all(|f| f["sequence"].as_u64() >= Some(7)),
        "the events before the plants are not blamed: {faults:?}"
    );

    command(&server.url(), &stream, &prefix)
        .args(["verify", "acc-1"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAULT aggregate acc-1"))
        .stdout(predicate::str::contains("seq 7"))
        .stdout(predicate::str::contains("undecodable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn from_head_proves_the_chain_extends_a_trusted_head() {
    let server = NatsServer::shared().await;
    let (store, stream, prefix) = seeded(server).await;
    let events = store.load("acc-1").await.expect("load");
    let trusted = events[0].cid.to_string();
    command(&server.url(), &stream, &prefix)
        .args(["verify", "acc-1", "--from-head", &trusted])
        .assert()
        .code(0);
    // acc-2's head is no event of acc-1: acc-1 does not extend it.
    let foreign = store.load("acc-2").await.expect("load")[2].cid.to_string();
    let output = command(&server.url(), &stream, &prefix)
        .args(["verify", "acc-1", "--from-head", &foreign, "--json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let report = json_of(&output.stdout);
    assert_eq!(report["faults"][0]["kind"], "does_not_extend");
    assert_eq!(report["from_head"]["extends"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_exit_2() {
    let server = NatsServer::shared().await;
    command(&server.url(), "NO_SUCH_STREAM", "nowhere")
        .arg("verify")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot open stream `NO_SUCH_STREAM`",
        ));
    // Nothing listens on port 1.
    command("nats://127.0.0.1:1", "S", "p")
        .args(["verify", "--timeout", "1s"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot connect"));
}

#[test]
fn bad_arguments_exit_2_with_a_clear_error_and_no_panic() {
    let cases: &[&[&str]] = &[
        &["verify", "--from-head", "not-a-cid", "acc-1"],
        &[
            "verify",
            "--from-head",
            "bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yse",
        ],
        &["verify", "acc-1", "--all"],
        &["tail", "--since", "yesterday-ish"],
        &["tail", "--from-seq", "x"],
        &["projections", "reset", "p", "--to", "zero"],
        &["export"],
        &["no-such-command"],
    ];
    for args in cases {
        command("nats://127.0.0.1:1", "S", "p")
            .args(*args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error"))
            .stderr(predicate::str::contains("panicked").not());
    }
    command("nats://127.0.0.1:1", "S", "p")
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("verify"));
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_is_drawn_on_a_terminal() {
    let server = NatsServer::shared().await;
    let (_store, stream, prefix) = seeded(server).await;
    // `script` (util-linux) runs the command on a pseudo-terminal and copies what it
    // writes, stderr included, to its own stdout.
    let line = format!(
        "{} --server {} --stream {stream} --prefix {prefix} verify",
        tests::cli::binary().display(),
        server.url()
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("cim-events-cli-tests-none"),
        )
        .env_remove("NATS_URL")
        .output()
        .expect("run `script` (util-linux), which gives the command a terminal");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("intact: 2 aggregates, 6 events"), "{text}");
    assert!(
        text.contains("/6 events"),
        "a progress bar on the terminal: {text:?}"
    );
}
