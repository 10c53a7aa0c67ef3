//! Snapshots in a JetStream key-value bucket, end to end through the `Repository`, on one
//! shared R1 server (each case its own stream, prefix and bucket): a good snapshot cuts
//! the replay, a tampered or malformed one is ignored and the state is still right, and
//! snapshots never move backwards.

mod bank;

use std::sync::Arc;

use async_nats::jetstream::stream::StorageType;
use bank::{Account, Deposit, OpenAccount};
use bytes::Bytes;
use cim_events::jetstream::{JetStreamEventStore, JetStreamSnapshotStore};
use cim_events::{
    Error, EventStore, Head, Repository, Snapshot, SnapshotPolicy, SnapshotRejection,
    SnapshotStore, SnapshotUse,
};
use tests::nats::{JetStreamFixture, NatsServer};

/// A fresh store and a snapshot bucket of its own.
struct Case {
    fixture: JetStreamFixture,
    bucket: String,
}

async fn fresh() -> Case {
    let fixture = JetStreamFixture::new(vec![NatsServer::shared().await.addr()], 1).await;
    let bucket = format!("SNAPSHOTS_{}", fixture.store.stream_name());
    Case { fixture, bucket }
}

impl Case {
    fn store(&self) -> &JetStreamEventStore {
        &self.fixture.store
    }

    /// A new handle on the case's bucket, as another process would open it.
    async fn snapshots(&self) -> JetStreamSnapshotStore {
        JetStreamSnapshotStore::new(self.store().context().clone(), &self.bucket)
            .await
            .expect("open the snapshot bucket")
    }

    async fn accounts(&self) -> Repository<Account, JetStreamEventStore> {
        Repository::new(self.store().clone())
            .with_snapshots(self.snapshots().await, SnapshotPolicy::EveryNEvents(5))
    }

    /// Opens `id` and deposits 1, 2, …, `deposits`: `deposits + 1` events, snapshotting
    /// as the policy says.
    async fn history(&self, id: &str, deposits: u64) {
        self.history_with(self.accounts().await, id, deposits).await;
    }

    async fn history_with(
        &self,
        accounts: Repository<Account, JetStreamEventStore>,
        id: &str,
        deposits: u64,
    ) {
        accounts
            .execute(
                id,
                OpenAccount {
                    owner: "Ada".into(),
                },
            )
            .await
            .expect("open");
        for amount in 1..=deposits {
            accounts
                .execute(id, Deposit { amount })
                .await
                .expect("deposit");
        }
    }

    /// The CID of the stored event at `version`.
    async fn cid_at(&self, id: &str, version: u64) -> cim_events::Cid {
        self.store().load(id).await.expect("load")[version as usize - 1].cid
    }
}

/// A snapshot is written at every 5th version with the head CID it covers; a load starts
/// from it and replays only the events after it; later commands move it forward.
#[tokio::test]
async fn snapshot_cuts_the_replay() {
    let case = fresh().await;
    case.history("acc-1", 11).await;
    let stored = case
        .snapshots()
        .await
        .load_snapshot("Account", "acc-1")
        .await
        .expect("load")
        .expect("a snapshot is stored");
    assert_eq!(stored.version, 10);
    assert_eq!(stored.head, case.cid_at("acc-1", 10).await);

    let accounts = case.accounts().await;
    let loaded = accounts.load("acc-1").await.expect("load");
    assert_eq!(loaded.snapshot, SnapshotUse::Used { version: 10 });
    assert_eq!(
        (loaded.version, loaded.replayed, loaded.state.applied),
        (12, 2, 2)
    );
    assert_eq!(loaded.state.balance, 66);

    for amount in [100, 200, 300] {
        accounts
            .execute("acc-1", Deposit { amount })
            .await
            .expect("deposit");
    }
    let moved = case
        .snapshots()
        .await
        .load_snapshot("Account", "acc-1")
        .await
        .expect("load");
    assert_eq!(
        moved.map(|s| (s.version, s.head)),
        Some((15, case.cid_at("acc-1", 15).await))
    );
}

/// A snapshot whose head CID is not the stored event at its version (here: it claims a
/// huge balance and points at event 9) is ignored; the state is replayed and right.
#[tokio::test]
async fn tampered_snapshot_is_ignored() {
    let case = fresh().await;
    case.history("acc-1", 11).await;
    let snapshots = case.snapshots().await;
    let good = snapshots
        .load_snapshot("Account", "acc-1")
        .await
        .expect("load")
        .expect("stored");
    let forged_state = Account {
        open: true,
        balance: 1_000_000,
        ..Account::default()
    };
    let tampered = Snapshot {
        head: case.cid_at("acc-1", 9).await,
        state: Snapshot::encode_state(&forged_state).expect("encode"),
        ..good.clone()
    };
    let key = JetStreamSnapshotStore::key("Account", "acc-1").expect("key");
    snapshots
        .kv()
        .put(
            &key,
            JetStreamSnapshotStore::encode(&tampered).expect("encode"),
        )
        .await
        .expect("tamper");

    let loaded = case.accounts().await.load("acc-1").await.expect("load");
    assert_eq!(
        loaded.snapshot,
        SnapshotUse::Ignored(SnapshotRejection::HeadMismatch {
            version: 10,
            expected: tampered.head,
            found: Some(good.head),
        })
    );
    assert_eq!(
        (loaded.version, loaded.replayed, loaded.state.applied),
        (12, 12, 12)
    );
    assert_eq!(loaded.state.balance, 66);

    // A snapshot beyond the history binds to no stored event at all.
    let ahead = Snapshot {
        version: 50,
        ..good
    };
    snapshots
        .kv()
        .put(
            &key,
            JetStreamSnapshotStore::encode(&ahead).expect("encode"),
        )
        .await
        .expect("tamper");
    let loaded = case.accounts().await.load("acc-1").await.expect("load");
    assert!(
        matches!(
            loaded.snapshot,
            SnapshotUse::Ignored(SnapshotRejection::HeadMismatch {
                version: 50,
                found: None,
                ..
            })
        ),
        "{:?}",
        loaded.snapshot
    );
    assert_eq!(loaded.state.balance, 66);
}

/// A value in the bucket that is not a snapshot is a typed error from the snapshot store
/// and an ignored snapshot for the repository — never a panic.
#[tokio::test]
async fn malformed_snapshot_is_ignored() {
    let case = fresh().await;
    case.history("acc-1", 6).await;
    let snapshots = case.snapshots().await;
    let key = JetStreamSnapshotStore::key("Account", "acc-1").expect("key");
    snapshots
        .kv()
        .put(&key, Bytes::from_static(b"\xa1\x61v\x02"))
        .await
        .expect("garbage");
    match snapshots.load_snapshot("Account", "acc-1").await {
        Err(
            e @ Error::Malformed {
                what: "snapshot", ..
            },
        ) => {
            assert!(e.to_string().contains("is not a snapshot"), "{e}");
        }
        other => panic!("expected a typed error, got {other:?}"),
    }
    let loaded = case.accounts().await.load("acc-1").await.expect("load");
    assert!(
        matches!(
            loaded.snapshot,
            SnapshotUse::Ignored(SnapshotRejection::StoreFailed(_))
        ),
        "{:?}",
        loaded.snapshot
    );
    assert_eq!((loaded.replayed, loaded.state.balance), (7, 21));
    // The next snapshot due replaces the garbage.
    let accounts = case.accounts().await;
    for amount in [1, 1, 1] {
        accounts
            .execute("acc-1", Deposit { amount })
            .await
            .expect("deposit");
    }
    let repaired = snapshots
        .load_snapshot("Account", "acc-1")
        .await
        .expect("load");
    assert_eq!(repaired.map(|s| s.version), Some(10));
}

/// Saves race through revision checks and never move a snapshot backwards: an older one
/// is dropped, and of many concurrent writers the highest version wins.
#[tokio::test]
async fn snapshots_never_move_backwards() {
    let case = fresh().await;
    // Versions 1..=20, no snapshots yet.
    case.history_with(Repository::new(case.store().clone()), "acc-1", 19)
        .await;
    let head = |v| case.cid_at("acc-1", v);
    let snapshot = |version, cid| {
        let head = Head {
            version,
            cid,
            sequence: version,
        };
        Snapshot::of("acc-1", head, &Account::default()).expect("encode")
    };
    let snapshots = case.snapshots().await;
    snapshots
        .save_snapshot(&snapshot(12, head(12).await))
        .await
        .expect("save");
    snapshots
        .save_snapshot(&snapshot(3, head(3).await))
        .await
        .expect("an older save is a no-op");
    let now = snapshots
        .load_snapshot("Account", "acc-1")
        .await
        .expect("load");
    assert_eq!(now.map(|s| s.version), Some(12));

    let mut heads = Vec::new();
    for v in 1..=20 {
        heads.push(head(v).await);
    }
    let mut writers = Vec::new();
    for v in (1..=20).rev() {
        let store = Arc::new(case.snapshots().await);
        let s = snapshot(v, heads[v as usize - 1]);
        writers.push(tokio::spawn(async move { store.save_snapshot(&s).await }));
    }
    for writer in writers {
        writer.await.expect("writer task").expect("save");
    }
    let last = snapshots
        .load_snapshot("Account", "acc-1")
        .await
        .expect("load");
    assert_eq!(last.map(|s| (s.version, s.head)), Some((20, heads[19])));
}

/// The bucket is created with history 1 on file storage, reopened as it is, and a bad
/// bucket name is a configuration error.
#[tokio::test]
async fn bucket_is_provisioned_for_snapshots() {
    let case = fresh().await;
    let snapshots = case.snapshots().await;
    let status = snapshots.kv().status().await.expect("status");
    assert_eq!(status.history(), 1);
    assert_eq!(status.info.config.storage, StorageType::File);
    assert_eq!(status.info.config.num_replicas, 1);
    assert_eq!(snapshots.bucket(), case.bucket);
    let again = case.snapshots().await;
    assert_eq!(again.kv().stream_name, format!("KV_{}", case.bucket));
    let bad = JetStreamSnapshotStore::new(case.store().context().clone(), "no.dots").await;
    assert!(
        matches!(bad, Err(Error::Config { ref setting, .. }) if setting == "bucket"),
        "{bad:?}"
    );
}

/// A load from a snapshot starts the server read at the snapshot's stream sequence: it
/// receives the snapshot's event and the few after it, not the aggregate's history.
#[tokio::test]
async fn a_snapshot_load_reads_only_from_the_snapshot_sequence() {
    let case = fresh().await;
    let id = "acc-big";
    // 1000 events written straight into the store, then a command that snapshots at 1001.
    let history: Vec<bank::AccountEvent> = std::iter::once(bank::opened(id, "Ada"))
        .chain((1..1000).map(|amount| bank::deposited(id, amount)))
        .collect();
    for chunk in history.chunks(cim_events::MAX_BATCH) {
        case.store()
            .append_events(id, chunk.to_vec(), cim_events::ExpectedVersion::Any)
            .await
            .expect("history");
    }
    let accounts = Repository::<Account, _>::new(case.store().clone())
        .with_snapshots(case.snapshots().await, SnapshotPolicy::EveryNEvents(1001));
    accounts
        .execute(id, Deposit { amount: 1 })
        .await
        .expect("snapshot at 1001");
    for amount in 1..=5 {
        case.store()
            .append_event(id, bank::deposited(id, amount), None)
            .await
            .expect("after the snapshot");
    }

    let client = case.store().context().client();
    let received = || {
        client
            .statistics()
            .in_messages
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = received();
    let loaded = accounts.load(id).await.expect("load");
    let from_snapshot = received() - before;
    assert_eq!(loaded.snapshot, SnapshotUse::Used { version: 1001 });
    assert_eq!((loaded.version, loaded.replayed), (1006, 5));
    // The snapshot (one KV get) and the events from its sequence on: 6 messages and the
    // reads' end markers.
    assert!(from_snapshot <= 12, "received {from_snapshot} messages");

    let before = received();
    let full = Repository::<Account, _>::new(case.store().clone())
        .load(id)
        .await
        .expect("full load");
    assert_eq!(full.version, 1006);
    assert!(received() - before > 1000, "a full load reads every event");
    assert_eq!(full.state.balance, loaded.state.balance);
}
