//! TLS through a `nats` CLI context file: the context names the CA, the client
//! certificate and its key, and the CLI verifies a stream over mutual TLS. Certificates
//! are made by the `openssl` command for this test.

use std::path::Path;
use std::process::Command;

use cim_events::{EventStore, JetStreamEventStore};
use predicates::prelude::*;
use tests::cli::binary;
use tests::domain::Noted;
use tests::nats::{NatsServer, connect};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl (needed by this test)");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, signed by the CA.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=cim-events test CA",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("write");
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        let key = format!("{name}-key.pem");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "1",
                "-extfile",
                ext,
            ],
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_comes_from_a_context_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    certificates(d);
    let path = |name: &str| d.join(name).to_str().expect("utf-8 path").to_owned();
    let config = d.join("server.conf");
    // TLS with client certificates verified; the harness's own readiness probe and the
    // test's provisioning connect without TLS (`allow_non_tls`).
    std::fs::write(
        &config,
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: true }}\nallow_non_tls: true\n",
            path("server.pem"),
            path("server-key.pem"),
            path("ca.pem")
        ),
    )
    .expect("write the config");
    let server = NatsServer::start_with(&["-c", config.to_str().expect("utf-8 path")]).await;
    let store = JetStreamEventStore::builder(connect(vec![server.addr()]).await, "TLS_EVENTS")
        .prefix("tls")
        .build()
        .await
        .expect("provision");
    store
        .append_event("t-1", Noted::new("t-1", 1), None)
        .await
        .expect("append");

    let home = d.join("config");
    let contexts = home.join("nats/context");
    std::fs::create_dir_all(&contexts).expect("context folder");
    let url = format!("tls://127.0.0.1:{}", server.port());
    let context = |cert: bool| {
        let mut value = serde_json::json!({"url": url, "ca": path("ca.pem")});
        if cert {
            value["cert"] = path("client.pem").into();
            value["key"] = path("client-key.pem").into();
        }
        value.to_string()
    };
    std::fs::write(contexts.join("mtls.json"), context(true)).expect("write");
    std::fs::write(contexts.join("no-cert.json"), context(false)).expect("write");
    let cli = |name: &str| {
        let mut command = assert_cmd::Command::new(binary());
        command
            .env_remove("NATS_URL")
            .env("XDG_CONFIG_HOME", &home)
            .args([
                "--context",
                name,
                "--stream",
                "TLS_EVENTS",
                "--prefix",
                "tls",
            ])
            .args(["--timeout", "3s", "verify"]);
        command
    };
    cli("mtls")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact: 1 aggregates, 1 events"));
    // The server verifies client certificates: without one, the handshake fails.
    cli("no-cert")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot connect"));
}
