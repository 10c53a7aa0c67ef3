//! Idempotent commands: a command carrying a `CommandId` takes effect once, whether it is
//! resent inside JetStream's duplicate window (the server drops the identical blocks), after
//! it (the repository finds the id in the chain), across a reconnect, or twice at once.

mod bank;

use std::time::Duration;

use bank::{Account, Deposit, OpenAccount};
use cim_events::{
    COMMAND_META_KEY, CommandId, EventHeader, EventStore, ExpectedVersion, JetStreamEventStore,
    MemoryEventStore, MemorySnapshotStore, PreparedAppend, Repository, SnapshotPolicy,
};
use tests::domain::Noted;
use tests::nats::{NatsServer, connect, unique_names};

fn with_id(command: &CommandId) -> EventHeader {
    EventHeader::default().with_command_id(command.clone())
}

async fn jetstream(server: &NatsServer, window: Duration) -> JetStreamEventStore {
    let (stream, prefix) = unique_names();
    JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix)
        .duplicate_window(window)
        .build()
        .await
        .expect("provision")
}

/// Opens `id` and deposits 10 with command id `command`: the command under test.
async fn open_and_deposit<S: EventStore + Clone>(store: &S, id: &str, command: &CommandId) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let open = OpenAccount {
        owner: "ann".into(),
    };
    accounts.execute(id, open).await.expect("open");
    let first = accounts
        .execute_with(id, Deposit { amount: 10 }, with_id(command))
        .await
        .expect("deposit");
    assert!(!first.deduplicated);
    assert_eq!(first.state.balance, 10);
}

/// Resends the deposit through a fresh repository and checks it took effect once.
async fn resend_takes_effect_once<S: EventStore + Clone>(store: &S, id: &str, command: &CommandId) {
    let original = store.load(id).await.expect("load");
    let accounts = Repository::<Account, _>::new(store.clone());
    let again = accounts
        .execute_with(id, Deposit { amount: 10 }, with_id(command))
        .await
        .expect("resend");
    assert!(again.deduplicated);
    assert_eq!(again.attempts, 0);
    assert_eq!(again.state.balance, 10, "deposited once");
    assert_eq!(again.events.len(), 1);
    assert_eq!(
        again.events[0].metadata.cid, original[1].cid,
        "the original event"
    );
    let now = store.load(id).await.expect("load");
    assert_eq!(now.len(), 2, "one set of events");
    assert_eq!(
        now[1].block.meta.get(COMMAND_META_KEY).map(String::as_str),
        Some(command.as_str())
    );
}

#[tokio::test]
async fn a_resent_command_takes_effect_once_in_memory() {
    let store = MemoryEventStore::new();
    let command = CommandId::new();
    open_and_deposit(&store, "acc-1", &command).await;
    resend_takes_effect_once(&store, "acc-1", &command).await;
    // Another command is not mistaken for it.
    let other = Repository::<Account, _>::new(store.clone())
        .execute_with("acc-1", Deposit { amount: 5 }, with_id(&CommandId::new()))
        .await
        .expect("another command");
    assert!(!other.deduplicated);
    assert_eq!(other.state.balance, 15);
}

/// A command found in the chain however the state was loaded: replayed whole (looked for
/// on the way), from the state cache, or from a snapshot (the events before it are read
/// again to look).
#[tokio::test]
async fn a_resent_command_is_found_through_the_cache_and_a_snapshot() {
    let store = MemoryEventStore::new();
    let command = CommandId::new();
    open_and_deposit(&store, "acc-5", &command).await;
    let deposit = || Deposit { amount: 10 };
    let cached = Repository::<Account, _>::new(store.clone()).with_cache(16);
    cached.load("acc-5").await.expect("load");
    for attempt in 0..2 {
        // The first sends it on a loaded state and fills the cache; the second is served
        // from the cache.
        let again = cached
            .execute_with("acc-5", deposit(), with_id(&command))
            .await
            .expect("resend");
        assert!(again.deduplicated, "attempt {attempt}");
        assert_eq!(again.state.balance, 10);
    }
    let snapshots = Repository::<Account, _>::new(store.clone())
        .with_snapshots(MemorySnapshotStore::new(), SnapshotPolicy::EveryNEvents(1));
    let other = snapshots
        .execute_with("acc-5", deposit(), with_id(&CommandId::new()))
        .await
        .expect("another deposit, snapshotted");
    assert!(!other.deduplicated);
    let again = snapshots
        .execute_with("acc-5", deposit(), with_id(&command))
        .await
        .expect("resend");
    assert!(again.deduplicated);
    assert_eq!(again.state.balance, 20);
    assert_eq!(store.load("acc-5").await.expect("load").len(), 3);
}

/// Sixteen copies of one command sent at once: one takes effect; the others lose the race,
/// catch up, and find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_copies_of_a_command_take_effect_once() {
    let store = MemoryEventStore::new();
    let accounts = Repository::<Account, _>::new(store.clone()).max_retries(20);
    let open = OpenAccount {
        owner: "ann".into(),
    };
    accounts.execute("acc-2", open).await.expect("open");
    let command = CommandId::new();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let accounts = accounts.clone();
        let header = with_id(&command);
        tasks.push(tokio::spawn(async move {
            accounts
                .execute_with("acc-2", Deposit { amount: 10 }, header)
                .await
                .expect("deposit")
        }));
    }
    let mut applied = 0;
    for task in tasks {
        let outcome = task.await.expect("task");
        applied += usize::from(!outcome.deduplicated);
        assert_eq!(outcome.events.len(), 1);
    }
    assert_eq!(applied, 1);
    assert_eq!(store.load("acc-2").await.expect("load").len(), 2);
}

/// Inside the duplicate window, the same command prepared again (another process, a
/// retry after a crash) seals the same blocks: the append answers the original's CID and
/// stream sequence, and nothing more is stored.
#[tokio::test]
async fn the_same_command_prepared_again_is_recognised_by_its_cids() {
    let server = NatsServer::shared().await;
    let store = jetstream(server, Duration::from_secs(120)).await;
    let head = store
        .append_events("n-1", vec![Noted::new("n-1", 0)], ExpectedVersion::NoStream)
        .await
        .expect("history")[0]
        .head();
    let command = CommandId::new();
    let send = || {
        PreparedAppend::new("n-1", &[Noted::new("n-1", 1)], &with_id(&command)).expect("prepare")
    };
    let first = store
        .append_prepared(&send(), ExpectedVersion::After(head))
        .await
        .expect("first");
    let last = store.last_sequence().await.expect("last");
    let again = store
        .append_prepared(&send(), ExpectedVersion::After(head))
        .await
        .expect("the copy is recognised, not refused");
    assert_eq!(again, first, "same CID at the same sequence");
    assert_eq!(store.last_sequence().await.expect("last"), last);
    assert_eq!(store.load("n-1").await.expect("load").len(), 2);
}

/// Across a reconnect (a new connection and store handle, as after a crash), the resent
/// command is found in the chain.
#[tokio::test]
async fn a_resent_command_across_a_reconnect_takes_effect_once() {
    let server = NatsServer::shared().await;
    let (stream, prefix) = unique_names();
    let open = || async {
        JetStreamEventStore::builder(connect(vec![server.addr()]).await, &stream)
            .prefix(prefix.clone())
            .build()
            .await
            .expect("open the store")
    };
    let command = CommandId::new();
    let first = open().await;
    open_and_deposit(&first, "acc-3", &command).await;
    drop(first);
    let second = open().await;
    resend_takes_effect_once(&second, "acc-3", &command).await;
}

/// After the duplicate window the server stores a resent block again (shown at the store
/// level), but the repository finds the command in the chain and does not resend it.
#[tokio::test]
async fn after_the_window_the_chain_answers() {
    let server = NatsServer::shared().await;
    let store = jetstream(server, Duration::from_millis(500)).await;
    let command = CommandId::new();
    open_and_deposit(&store, "acc-4", &command).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    resend_takes_effect_once(&store, "acc-4", &command).await;

    // The same command prepared again after the window seals the same blocks: the
    // server no longer remembers their ids, and its concurrency check refuses them, but
    // the chain's head is their CID, so the append answers where they are.
    let head = store
        .append_events("n-2", vec![Noted::new("n-2", 0)], ExpectedVersion::NoStream)
        .await
        .expect("history")[0]
        .head();
    let other = CommandId::new();
    let send =
        || PreparedAppend::new("n-2", &[Noted::new("n-2", 1)], &with_id(&other)).expect("prepare");
    let first = store
        .append_prepared(&send(), ExpectedVersion::After(head))
        .await
        .expect("first");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = store
        .append_prepared(&send(), ExpectedVersion::After(head))
        .await
        .expect("recognised by its CIDs");
    assert_eq!(late, first);
    assert_eq!(store.load("n-2").await.expect("load").len(), 2);
}
