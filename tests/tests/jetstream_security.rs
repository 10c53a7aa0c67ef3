//! The permissions documented in `docs/security.md`, enforced by a real server: it runs
//! with the configuration printed there, and each role does what the document says it
//! can — and the reader cannot append.

mod bank;
// Only the counting projection and its runner handle are used here.
#[allow(unused)]
mod projection_suite;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bank::{Account, Deposit, OpenAccount};
use cim_events::jetstream::{
    JetStreamCheckpointStore, JetStreamEventStore, JetStreamProjectionRunner,
    JetStreamSnapshotStore, async_nats,
};
use cim_events::{
    Error, EventStore, Repository, SnapshotPolicy, SnapshotStore, SnapshotUse, StartFrom,
};
use futures::StreamExt;
use projection_suite::{Counter, Model, Running};
use tests::nats::{NatsServer, connect};

/// The configuration block of `docs/security.md`, so the test checks what the document
/// says.
fn documented_config() -> String {
    let doc = include_str!("../../docs/security.md");
    let start = doc
        .find("```conf\n")
        .expect("docs/security.md has a ```conf block")
        + 8;
    let end = start + doc[start..].find("```").expect("the block ends");
    // The test's own connections (server readiness, provisioning) come in as `admin`.
    format!("no_auth_user: admin\n{}", &doc[start..end])
}

async fn connect_as(server: &NatsServer, user: &str) -> async_nats::jetstream::Context {
    let client =
        async_nats::ConnectOptions::with_user_and_password(user.into(), format!("{user}-secret"))
            .connect(server.url())
            .await
            .expect("connect");
    async_nats::jetstream::new(client)
}

async fn store_as(server: &NatsServer, user: &str) -> JetStreamEventStore {
    JetStreamEventStore::builder(connect_as(server, user).await, "ORDERS")
        .prefix("orders")
        .request_timeout(Duration::from_millis(500))
        .transient_retries(1)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{user} opens the store: {e}"))
}

/// The permission violations the server logged.
fn violations(server: &NatsServer) -> Vec<String> {
    server
        .log()
        .lines()
        .filter(|l| l.contains("Violation"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn each_role_has_exactly_what_it_needs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("server.conf");
    std::fs::write(&config, documented_config()).expect("write the config");
    let server = NatsServer::start_with(&["-c", config.to_str().expect("utf-8 path")]).await;

    // The administrator provisions the stream and the buckets.
    let admin = connect(vec![server.addr()]).await;
    JetStreamEventStore::builder(admin.clone(), "ORDERS")
        .prefix("orders")
        .build()
        .await
        .expect("admin creates the stream")
        .register::<bank::AccountEvent>()
        .await
        .expect("admin registers the event shapes (and creates the schema bucket)");
    JetStreamSnapshotStore::new(admin.clone(), "order_snapshots")
        .await
        .expect("snapshot bucket");
    JetStreamCheckpointStore::new(admin, "projections")
        .await
        .expect("checkpoint bucket");

    // The writer runs commands, which load, append and snapshot.
    let writer = store_as(&server, "writer").await;
    let snapshots =
        JetStreamSnapshotStore::new(connect_as(&server, "writer").await, "order_snapshots")
            .await
            .expect("writer opens the snapshot bucket");
    let accounts = Repository::<Account, _>::new(writer.clone())
        .with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(2));
    accounts
        .execute(
            "acc-1",
            OpenAccount {
                owner: "Ada".into(),
            },
        )
        .await
        .expect("open");
    for amount in [5, 7, 9] {
        accounts
            .execute("acc-1", Deposit { amount })
            .await
            .expect("deposit");
    }
    let snapshot = snapshots
        .load_snapshot("Account", "acc-1")
        .await
        .expect("load snapshot");
    assert_eq!(snapshot.map(|s| s.version), Some(4));

    // The reader loads, verifies, subscribes and reads snapshots, but cannot append.
    let reader = store_as(&server, "reader").await;
    assert_eq!(reader.load("acc-1").await.expect("reader loads").len(), 4);
    assert!(
        reader
            .validate_cid_chain("acc-1")
            .await
            .expect("reader verifies")
    );
    let read_snapshots =
        JetStreamSnapshotStore::new(connect_as(&server, "reader").await, "order_snapshots")
            .await
            .expect("reader opens the snapshot bucket");
    let loaded = Repository::<Account, _>::new(reader.clone())
        .with_snapshots(read_snapshots, SnapshotPolicy::Never)
        .load("acc-1")
        .await
        .expect("reader loads the aggregate");
    assert_eq!(
        (loaded.snapshot, loaded.state.balance),
        (SnapshotUse::Used { version: 4 }, 21)
    );
    // Long loads and subscriptions go through ordered consumers.
    let long_reader = JetStreamEventStore::builder(connect_as(&server, "reader").await, "ORDERS")
        .prefix("orders")
        .direct_read_limit(1)
        .build()
        .await
        .expect("reader opens the store");
    let long = long_reader.load("acc-1").await;
    assert_eq!(
        long.map(|e| e.len())
            .unwrap_or_else(|e| panic!("{e}: {:#?}", violations(&server))),
        4
    );
    let mut all = reader
        .subscribe("orders.>", StartFrom::Beginning)
        .await
        .expect("subscribe");
    for _ in 0..4 {
        all.next().await.expect("an event").expect("readable");
    }
    assert_eq!(reader.aggregate_ids().await.expect("list"), ["acc-1"]);
    let denied = reader
        .append_event("acc-1", bank::deposited("acc-1", 1_000), None)
        .await;
    assert!(
        matches!(
            denied,
            Err(Error::Backend {
                operation: "append",
                ..
            })
        ),
        "{denied:?}"
    );
    assert_eq!(
        writer.load("acc-1").await.expect("load").len(),
        4,
        "nothing was stored"
    );

    // The projection runs on its durable consumer, with no stream-level rights.
    let projection = connect_as(&server, "projection").await;
    let checkpoints = JetStreamCheckpointStore::new(projection.clone(), "projections")
        .await
        .expect("projection opens the checkpoint bucket");
    let model = Arc::new(Mutex::new(Model::default()));
    let mut runner = JetStreamProjectionRunner::on_stream(
        projection,
        "ORDERS",
        "orders.>",
        Counter::new(&model).named("order-totals"),
        checkpoints,
    );
    let (shutdown, progress) = (runner.shutdown_handle(), runner.progress());
    let mut running = Running {
        task: tokio::spawn(async move {
            let result = runner.run().await;
            (result, runner.into_projection())
        }),
        shutdown,
        progress,
    };
    let head = writer.head("acc-1").await.expect("head").expect("events");
    running.wait_for(head.sequence).await;
    let (result, _) = running.stop().await;
    assert_eq!(result.expect("graceful stop").applied, 4);

    let log = server.log();
    let violations: Vec<&str> = log.lines().filter(|l| l.contains("Violation")).collect();
    // Only the reader's refused append.
    assert!(
        violations
            .iter()
            .all(|l| l.contains("\"orders.acc-1.Deposited\"")),
        "unexpected permission violations:\n{}",
        violations.join("\n")
    );
}
