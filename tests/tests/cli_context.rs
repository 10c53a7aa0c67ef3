//! Connection settings through a `nats` CLI context file: user and password from
//! `$XDG_CONFIG_HOME/nats/context/NAME.json` against a server that requires them, the
//! selected context used by default, flags winning over it, and secrets never printed.

use cim_events::{EventStore, JetStreamEventStore};
use predicates::prelude::*;
use tests::cli::binary;
use tests::domain::Noted;
use tests::nats::NatsServer;

const PASSWORD: &str = "op-s3cret-pw-4711";

/// Account `OPS` (user `operator`) holds the events; unauthenticated clients land in
/// account `OTHER`, where the stream does not exist.
fn server_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("server.conf");
    std::fs::write(
        &config,
        format!(
            r#"
accounts {{
  OTHER: {{ jetstream: enabled, users: [ {{ user: anon, password: anon-secret }} ] }}
  OPS: {{ jetstream: enabled, users: [ {{ user: operator, password: "{PASSWORD}" }} ] }}
}}
no_auth_user: anon
"#
        ),
    )
    .expect("write the server config");
    config
}

fn cli(config_home: &std::path::Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(binary());
    command
        .env_remove("NATS_URL")
        .env_remove("NATS_CONTEXT")
        .env_remove("NATS_USER")
        .env_remove("NATS_PASSWORD")
        .env("XDG_CONFIG_HOME", config_home)
        .args(["--stream", "OPS_EVENTS", "--prefix", "ops"]);
    command
}

fn write_context(config_home: &std::path::Path, name: &str, url: &str, password: &str) {
    let dir = config_home.join("nats/context");
    std::fs::create_dir_all(&dir).expect("context folder");
    let context = serde_json::json!({
        "description": "test",
        "url": url,
        "user": "operator",
        "password": password,
    });
    std::fs::write(dir.join(format!("{name}.json")), context.to_string()).expect("write");
}

#[tokio::test(flavor = "multi_thread")]
async fn user_and_password_come_from_a_context_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = server_config(dir.path());
    let server = NatsServer::start_with(&["-c", config.to_str().expect("utf-8 path")]).await;
    let client = cim_events::jetstream::async_nats::ConnectOptions::with_user_and_password(
        "operator".into(),
        PASSWORD.into(),
    )
    .connect(server.url())
    .await
    .expect("connect as operator");
    let store = JetStreamEventStore::builder(
        cim_events::jetstream::async_nats::jetstream::new(client),
        "OPS_EVENTS",
    )
    .prefix("ops")
    .build()
    .await
    .expect("provision");
    store
        .append_event("o-1", Noted::new("o-1", 1), None)
        .await
        .expect("append");

    let home = dir.path().join("config");
    write_context(&home, "ops", &server.url(), PASSWORD);
    write_context(&home, "wrong", &server.url(), "not-the-password-123");

    cli(&home)
        .args(["--context", "ops", "verify"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact: 1 aggregates, 1 events"));
    // Without credentials the client lands in the other account: no such stream.
    cli(&home)
        .args(["--server", &server.url(), "verify"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot open stream"));
    // The context the nats CLI selected is the default.
    std::fs::write(home.join("nats/context.txt"), "ops").expect("select");
    cli(&home).arg("verify").assert().code(0);
    // A context given by path works too, and flags win over it.
    cli(&home)
        .arg("--context")
        .arg(home.join("nats/context/wrong.json"))
        .args(["--password", PASSWORD, "verify"])
        .assert()
        .code(0);
    // A refused password: exit 2, and neither password is printed.
    cli(&home)
        .args(["--context", "wrong", "verify"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot connect"))
        .stderr(predicate::str::contains("not-the-password-123").not())
        .stdout(predicate::str::contains("not-the-password-123").not());
    cli(&home)
        .args(["--context", "no-such-context", "verify"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read nats context"));
    cli(&home)
        .args(["--context", "ops", "--tlscert", "cert.pem", "verify"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--tlscert and --tlskey go together",
        ));
}
