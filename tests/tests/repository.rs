//! The repository against `MemoryEventStore`, with a hand-written bank account aggregate.

mod bank;
mod probes;

use std::sync::atomic::Ordering;

use bank::{
    Account, AccountEvent, Annotate, BankError, Close, Deposit, DepositMany, Misdirect,
    OpenAccount, Withdraw, deposited, opened, withdrawn,
};
use cim_events::{
    CommandError, Error, EventHeader, EventStore, ExpectedVersion, Head, LoadError,
    MemoryEventStore, MemorySnapshotStore, Repository, Snapshot, SnapshotPolicy, SnapshotRejection,
    SnapshotStore, SnapshotUse,
};
use probes::{ProbeSnapshots, ProbeStore, closed};
use tests::domain::Noted;

fn repo(store: &MemoryEventStore) -> Repository<Account, MemoryEventStore> {
    Repository::new(store.clone())
}

fn open() -> OpenAccount {
    OpenAccount {
        owner: "alice".to_owned(),
    }
}

/// Opens `id` and deposits 1, 2, …, `deposits`.
async fn account_with_deposits<S: EventStore>(
    repo: &Repository<Account, S>,
    id: &str,
    deposits: u64,
) {
    repo.execute(id, open()).await.expect("open");
    for amount in 1..=deposits {
        repo.execute(id, Deposit { amount }).await.expect("deposit");
    }
}

fn events_of(outcome: &cim_events::CommandOutcome<Account>) -> Vec<AccountEvent> {
    outcome.events.iter().map(|e| e.event.clone()).collect()
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn happy_path_chains_events_and_returns_metadata() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);

    let first = accounts.execute("acc-1", open()).await.unwrap();
    assert_eq!(events_of(&first), vec![opened("acc-1", "alice")]);
    assert_eq!((first.version, first.attempts), (1, 1));
    assert_eq!(first.events[0].metadata.version, 1);
    assert_eq!(first.events[0].metadata.previous_cid, None);
    assert_eq!(first.head_cid(), Some(first.events[0].metadata.cid));

    let second = accounts
        .execute("acc-1", Deposit { amount: 50 })
        .await
        .unwrap();
    let third = accounts
        .execute("acc-1", Withdraw { amount: 20 })
        .await
        .unwrap();
    assert_eq!(events_of(&third), vec![withdrawn("acc-1", 20)]);
    assert_eq!(second.events[0].metadata.previous_cid, first.head_cid());
    assert_eq!(third.events[0].metadata.previous_cid, second.head_cid());
    assert_eq!(third.version, 3);
    assert_eq!(third.state.balance, 30);
    assert_eq!(third.events[0].metadata.event_type, "Withdrawn");
    assert_eq!(third.events[0].metadata.subject, "events.acc-1.Withdrawn");

    let head = store.head("acc-1").await.unwrap().unwrap();
    assert_eq!(third.head, Some(head));
    assert_eq!(head.cid, third.events[0].metadata.cid);
    assert!(store.verify_chain("acc-1").await.unwrap().is_valid());
}

#[tokio::test]
async fn load_rebuilds_state_version_and_head() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    account_with_deposits(&accounts, "acc-1", 4).await;

    let loaded = accounts.load("acc-1").await.unwrap();
    assert_eq!(loaded.version, 5);
    assert_eq!(loaded.state.balance, 1 + 2 + 3 + 4);
    assert_eq!(loaded.state.owner, "alice");
    assert_eq!((loaded.replayed, loaded.state.applied), (5, 5));
    assert_eq!(loaded.snapshot, SnapshotUse::Absent);
    assert_eq!(loaded.head, store.head("acc-1").await.unwrap());

    let empty = accounts.load("acc-new").await.unwrap();
    assert_eq!((empty.version, empty.head, empty.replayed), (0, None, 0));
    assert_eq!(empty.state, Account::default());
}

#[tokio::test]
async fn rejected_command_returns_the_domain_error_and_stores_nothing() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    account_with_deposits(&accounts, "acc-1", 1).await;
    let head = store.head("acc-1").await.unwrap();

    let err = accounts
        .execute("acc-1", Withdraw { amount: 5 })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        CommandError::Rejected(BankError::InsufficientFunds {
            balance: 1,
            requested: 5
        })
    ));
    assert_eq!(
        err.rejection(),
        Some(&BankError::InsufficientFunds {
            balance: 1,
            requested: 5
        })
    );
    assert_eq!(
        err.to_string(),
        "command rejected: cannot withdraw 5 from a balance of 1"
    );
    assert_eq!(store.head("acc-1").await.unwrap(), head);
    assert_eq!(store.load("acc-1").await.unwrap().len(), 2);

    // On an aggregate with no events, nothing is created either.
    let err = accounts
        .execute("acc-2", Deposit { amount: 5 })
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::Rejected(BankError::NotOpen)));
    assert_eq!(store.head("acc-2").await.unwrap(), None);
    assert_eq!(store.aggregate_ids().await.unwrap(), vec!["acc-1"]);
}

#[tokio::test]
async fn command_without_events_appends_nothing() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute("acc-1", open()).await.unwrap();
    let closed = accounts.execute("acc-1", Close).await.unwrap();
    assert_eq!(closed.version, 2);

    let again = accounts.execute("acc-1", Close).await.unwrap();
    assert!(again.events.is_empty());
    assert_eq!(again.version, 2);
    assert_eq!(again.head, closed.head);
    assert!(again.state.closed);
    assert_eq!(store.appends.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn several_events_of_one_command_are_stored_in_order() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    accounts.execute("acc-1", open()).await.unwrap();

    let outcome = accounts
        .execute(
            "acc-1",
            DepositMany {
                amounts: vec![5, 6, 7],
            },
        )
        .await
        .unwrap();
    let versions: Vec<u64> = outcome.metadata().map(|m| m.version).collect();
    assert_eq!(versions, vec![2, 3, 4]);
    assert_eq!(
        events_of(&outcome),
        vec![
            deposited("acc-1", 5),
            deposited("acc-1", 6),
            deposited("acc-1", 7)
        ]
    );
    assert_eq!(
        outcome.events[1].metadata.previous_cid,
        Some(outcome.events[0].metadata.cid)
    );
    assert_eq!((outcome.version, outcome.state.balance), (4, 18));

    // One bad amount rejects the whole command.
    let err = accounts
        .execute(
            "acc-1",
            DepositMany {
                amounts: vec![1, 0],
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::Rejected(BankError::ZeroAmount)));
    assert_eq!(store.head("acc-1").await.unwrap().unwrap().version, 4);
}

#[tokio::test]
async fn events_of_another_aggregate_are_refused_before_storing() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    accounts.execute("acc-1", open()).await.unwrap();

    let err = accounts.execute("acc-1", Misdirect).await.unwrap_err();
    assert!(
        matches!(&err, CommandError::Store(Error::AggregateMismatch { expected, found })
            if expected == "acc-1" && found == "someone-else"),
        "{err:?}"
    );
    assert_eq!(store.aggregate_ids().await.unwrap(), vec!["acc-1"]);
    assert_eq!(store.head("acc-1").await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn invalid_aggregate_id_is_a_store_error() {
    let accounts = repo(&MemoryEventStore::new());
    let err = accounts.execute("acc.1", open()).await.unwrap_err();
    assert!(
        matches!(err, CommandError::Store(Error::InvalidToken(_))),
        "{err:?}"
    );
    let err = accounts.load("acc.*").await.unwrap_err();
    assert!(
        matches!(err, LoadError::Store(Error::InvalidToken(_))),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Context, correlation and causation
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn handler_sees_id_version_and_header() {
    let accounts = repo(&MemoryEventStore::new());
    account_with_deposits(&accounts, "acc-1", 2).await;

    let header = EventHeader::with_causation("corr-1", "cmd-1");
    let outcome = accounts
        .execute_with("acc-1", Annotate, header)
        .await
        .unwrap();
    assert_eq!(
        outcome.state.notes,
        vec![r#"id=acc-1 version=3 correlation=corr-1 causation=Some("cmd-1")"#]
    );
}

#[tokio::test]
async fn correlation_causation_and_metadata_carry_to_every_event() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    accounts.execute("acc-1", open()).await.unwrap();

    let header = EventHeader::with_causation("corr-42", "cmd-7").with_meta("user", "bob");
    let outcome = accounts
        .execute_with(
            "acc-1",
            DepositMany {
                amounts: vec![1, 2, 3],
            },
            header,
        )
        .await
        .unwrap();
    assert_eq!(outcome.events.len(), 3);
    for meta in outcome.metadata() {
        assert_eq!(meta.correlation_id, "corr-42");
        assert_eq!(meta.causation_id.as_deref(), Some("cmd-7"));
    }
    // The same facts are in the stored blocks.
    let stored = store.load_from("acc-1", 2).await.unwrap();
    assert_eq!(stored.len(), 3);
    for event in &stored {
        assert_eq!(event.block.correlation_id, "corr-42");
        assert_eq!(event.block.causation_id.as_deref(), Some("cmd-7"));
        assert_eq!(
            event.block.meta.get("user").map(String::as_str),
            Some("bob")
        );
    }
}

#[tokio::test]
async fn without_a_header_a_command_s_events_share_a_fresh_correlation() {
    let accounts = repo(&MemoryEventStore::new());
    accounts.execute("acc-1", open()).await.unwrap();
    let outcome = accounts
        .execute(
            "acc-1",
            DepositMany {
                amounts: vec![1, 2],
            },
        )
        .await
        .unwrap();
    let first = &outcome.events[0].metadata;
    assert_eq!(first.correlation_id, first.event_id);
    assert_eq!(outcome.events[1].metadata.correlation_id, first.event_id);
    assert_eq!(first.causation_id, None);
}

#[tokio::test]
async fn caused_by_links_a_command_to_the_event_that_caused_it() {
    let accounts = repo(&MemoryEventStore::new());
    let opened = accounts.execute("acc-1", open()).await.unwrap();
    let cause = &opened.events[0].metadata;

    let bonus = accounts
        .execute_with(
            "acc-1",
            Deposit { amount: 10 },
            EventHeader::caused_by(cause),
        )
        .await
        .unwrap();
    let meta = &bonus.events[0].metadata;
    assert_eq!(meta.correlation_id, cause.correlation_id);
    assert_eq!(meta.causation_id, Some(cause.cid.to_string()));
}

// ---------------------------------------------------------------------------------------
// Conflicts and retries
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn conflict_is_retried_against_the_caught_up_state() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone());
    account_with_deposits(&accounts, "acc-1", 0).await;
    accounts
        .execute("acc-1", Deposit { amount: 100 })
        .await
        .unwrap();

    // A competing writer deposits 1000 right before our first append.
    store.race(1);
    let appends_before = store.appends.load(Ordering::SeqCst);
    let reads_before = store.records_read.load(Ordering::SeqCst);
    let outcome = accounts
        .execute("acc-1", Withdraw { amount: 100 })
        .await
        .unwrap();

    assert_eq!(outcome.attempts, 2);
    assert_eq!(store.appends.load(Ordering::SeqCst) - appends_before, 2);
    // The first load read both events; the retry read only the competing one.
    assert_eq!(
        store.records_read.load(Ordering::SeqCst) - reads_before,
        2 + 1
    );
    // Our withdrawal is stored after the competing deposit.
    assert_eq!(outcome.version, 4);
    assert_eq!(outcome.events[0].metadata.version, 4);
    assert_eq!(outcome.state.balance, 100 + 1000 - 100);
    let stored: Vec<AccountEvent> = store
        .load("acc-1")
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap())
        .collect();
    assert_eq!(
        stored,
        vec![
            opened("acc-1", "alice"),
            deposited("acc-1", 100),
            deposited("acc-1", 1000),
            withdrawn("acc-1", 100),
        ]
    );
    assert!(store.verify_chain("acc-1").await.unwrap().is_valid());
    assert_eq!(accounts.load("acc-1").await.unwrap().state, outcome.state);
}

#[tokio::test]
async fn a_retry_decides_again_and_may_reject() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute("acc-1", open()).await.unwrap();

    // The account is closed between our load and our append: the retry sees it closed.
    store.race_with(1, closed);
    let err = accounts
        .execute("acc-1", Deposit { amount: 10 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::Rejected(BankError::Closed)),
        "{err:?}"
    );
    assert_eq!(store.appends.load(Ordering::SeqCst), 2);
    let head = store.head("acc-1").await.unwrap().unwrap();
    assert_eq!(head.version, 2);
    assert!(accounts.load("acc-1").await.unwrap().state.closed);
}

#[tokio::test]
async fn retries_are_bounded_and_end_in_the_conflict() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).max_retries(2);
    accounts.execute("acc-1", open()).await.unwrap();

    // Every attempt loses the race.
    store.race(10);
    let err = accounts
        .execute("acc-1", Deposit { amount: 7 })
        .await
        .unwrap_err();
    let CommandError::Conflict { attempts, conflict } = &err else {
        panic!("expected a conflict, got {err:?}");
    };
    assert_eq!(*attempts, 3);
    assert!(err.is_conflict());
    assert_eq!(conflict.aggregate_id, "acc-1");
    // Open (1), then a competing deposit before each attempt: the last expected 3, found 4.
    assert!(
        matches!(conflict.expected, ExpectedVersion::After(head) if head.version == 3),
        "{:?}",
        conflict.expected
    );
    assert_eq!(conflict.actual.map(|h| h.version), Some(4));
    assert!(
        err.to_string()
            .starts_with("command abandoned after 3 attempts: ")
    );
    assert!(std::error::Error::source(&err).is_some());

    // Only the competing deposits were stored, none of ours.
    assert_eq!(store.races.load(Ordering::SeqCst), 7);
    let balance = accounts.load("acc-1").await.unwrap().state.balance;
    assert_eq!(balance, 3 * 1000);
}

#[tokio::test]
async fn zero_retries_returns_the_first_conflict() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).max_retries(0);
    store.race(1);
    // The aggregate is new: the first append expects no stream, and the racer created it.
    let err = accounts.execute("acc-1", open()).await.unwrap_err();
    let CommandError::Conflict { attempts, conflict } = &err else {
        panic!("expected a conflict, got {err:?}");
    };
    assert_eq!(*attempts, 1);
    assert_eq!(conflict.expected, ExpectedVersion::NoStream);
    assert_eq!(store.head("acc-1").await.unwrap().unwrap().version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_on_one_aggregate_stay_linear() {
    const WRITERS: u64 = 40;
    let store = MemoryEventStore::new();
    // Enough retries that every writer gets through, however the race goes.
    let accounts = repo(&store).max_retries(WRITERS as u32);
    accounts.execute("acc-1", open()).await.unwrap();

    let tasks: Vec<_> = (1..=WRITERS)
        .map(|amount| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.execute("acc-1", Deposit { amount }).await })
        })
        .collect();
    let mut attempts = 0;
    let mut versions = Vec::new();
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        attempts += outcome.attempts;
        versions.push(outcome.version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=WRITERS + 1).collect::<Vec<_>>());
    assert!(attempts >= WRITERS as u32);

    let loaded = accounts.load("acc-1").await.unwrap();
    assert_eq!(loaded.version, WRITERS + 1);
    assert_eq!(loaded.state.balance, WRITERS * (WRITERS + 1) / 2);
    let report = store.verify_chain("acc-1").await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    let events = store.load("acc-1").await.unwrap();
    for pair in events.windows(2) {
        assert_eq!(pair[1].block.prev, Some(pair[0].cid));
        assert_eq!(pair[1].version(), pair[0].version() + 1);
    }
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn snapshot_is_used_and_only_later_events_are_replayed() {
    let store = ProbeStore::default();
    let snapshots = ProbeSnapshots::default();
    let accounts = Repository::<Account, _>::new(store.clone())
        .with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(5));
    account_with_deposits(&accounts, "acc-1", 6).await; // versions 1..=7
    assert_eq!(snapshots.saved(), vec![5]);

    let reads_before = store.records_read.load(Ordering::SeqCst);
    let loaded = accounts.load("acc-1").await.unwrap();
    assert_eq!(loaded.snapshot, SnapshotUse::Used { version: 5 });
    assert_eq!(loaded.version, 7);
    assert_eq!(loaded.replayed, 2);
    assert_eq!(loaded.state.applied, 2, "only events 6 and 7 were applied");
    assert_eq!(loaded.state.balance, (1..=6).sum::<u64>());
    assert_eq!(loaded.state.owner, "alice");
    assert_eq!(loaded.head, store.head("acc-1").await.unwrap());
    // The event at the snapshot's version, to check its CID, and the two after it.
    assert_eq!(store.records_read.load(Ordering::SeqCst) - reads_before, 3);

    // The same state as a full replay.
    let full = repo(&store.inner).load("acc-1").await.unwrap();
    assert_eq!((full.replayed, full.state.applied), (7, 7));
    assert_eq!(
        Account {
            applied: 0,
            ..full.state
        },
        Account {
            applied: 0,
            ..loaded.state
        }
    );
}

#[tokio::test]
async fn snapshot_at_the_head_replays_nothing() {
    let store = MemoryEventStore::new();
    let accounts =
        repo(&store).with_snapshots(MemorySnapshotStore::new(), SnapshotPolicy::EveryNEvents(2));
    account_with_deposits(&accounts, "acc-1", 3).await; // versions 1..=4
    let loaded = accounts.load("acc-1").await.unwrap();
    assert_eq!(loaded.snapshot, SnapshotUse::Used { version: 4 });
    assert_eq!(
        (loaded.version, loaded.replayed, loaded.state.applied),
        (4, 0, 0)
    );
    assert_eq!(loaded.state.balance, 6);
    assert_eq!(loaded.head, store.head("acc-1").await.unwrap());

    // Commands run from the snapshot too.
    let outcome = accounts
        .execute("acc-1", Withdraw { amount: 6 })
        .await
        .unwrap();
    assert_eq!((outcome.version, outcome.state.balance), (5, 0));
}

#[tokio::test]
async fn snapshot_policy_frequency_is_respected() {
    let store = MemoryEventStore::new();
    let snapshots = ProbeSnapshots::default();
    let accounts = repo(&store).with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(3));

    account_with_deposits(&accounts, "acc-1", 9).await; // versions 1..=10
    assert_eq!(snapshots.saved(), vec![3, 6, 9]);

    // A command that jumps over a multiple (10 -> 13 passes 12) snapshots at its end.
    accounts
        .execute(
            "acc-1",
            DepositMany {
                amounts: vec![1, 1, 1],
            },
        )
        .await
        .unwrap();
    assert_eq!(snapshots.saved(), vec![3, 6, 9, 13]);

    // Rejected and empty commands never snapshot.
    accounts
        .execute("acc-1", Deposit { amount: 0 })
        .await
        .unwrap_err();
    accounts.execute("acc-1", Close).await.unwrap(); // 14
    accounts.execute("acc-1", Close).await.unwrap(); // no event
    assert_eq!(snapshots.saved(), vec![3, 6, 9, 13]);

    let stored = snapshots
        .inner
        .load_snapshot("Account", "acc-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 13);
    assert_eq!(stored.aggregate_type, "Account");
    assert_eq!(stored.head, store.load("acc-1").await.unwrap()[12].cid);
    let state: Account = Snapshot::decode_state(&stored.state).unwrap();
    assert_eq!(state.balance, (1..=9).sum::<u64>() + 3);
}

#[tokio::test]
async fn never_policy_saves_no_snapshot() {
    let snapshots = ProbeSnapshots::default();
    let accounts =
        repo(&MemoryEventStore::new()).with_snapshots(snapshots.clone(), SnapshotPolicy::Never);
    account_with_deposits(&accounts, "acc-1", 5).await;
    assert_eq!(snapshots.saved(), Vec::<u64>::new());
    assert_eq!(
        accounts.load("acc-1").await.unwrap().snapshot,
        SnapshotUse::Absent
    );
}

/// Saves a forged snapshot of `acc-1` claiming a balance of 999 999.
async fn forge(
    snapshots: &MemorySnapshotStore,
    version: u64,
    head: cim_events::Cid,
    sequence: u64,
) {
    let forged = Account {
        open: true,
        owner: "mallory".to_owned(),
        balance: 999_999,
        ..Account::default()
    };
    snapshots
        .save_snapshot(
            &Snapshot::of(
                "acc-1",
                Head {
                    version,
                    cid: head,
                    sequence,
                },
                &forged,
            )
            .expect("encodable"),
        )
        .await
        .expect("memory snapshot stores do not fail");
}

#[tokio::test]
async fn snapshot_whose_head_does_not_match_is_ignored() {
    let store = MemoryEventStore::new();
    let snapshots = MemorySnapshotStore::new();
    let plain = repo(&store);
    account_with_deposits(&plain, "acc-1", 5).await; // versions 1..=6
    let events = store.load("acc-1").await.unwrap();

    // Claims to cover version 4, but names the CID of version 3.
    forge(&snapshots, 4, events[2].cid, events[3].sequence).await;
    let accounts = repo(&store).with_snapshots(snapshots.clone(), SnapshotPolicy::Never);
    let loaded = accounts.load("acc-1").await.unwrap();
    assert_eq!(
        loaded.snapshot,
        SnapshotUse::Ignored(SnapshotRejection::HeadMismatch {
            version: 4,
            expected: events[2].cid,
            found: Some(events[3].cid),
        })
    );
    assert_eq!((loaded.replayed, loaded.state.applied), (6, 6));
    assert_eq!(loaded.state.balance, 15);
    assert_eq!(loaded.state.owner, "alice");

    // Commands are decided on the real state too.
    let err = accounts
        .execute("acc-1", Withdraw { amount: 16 })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        CommandError::Rejected(BankError::InsufficientFunds { balance: 15, .. })
    ));
}

#[tokio::test]
async fn snapshot_beyond_the_stored_history_is_ignored() {
    let store = MemoryEventStore::new();
    let snapshots = MemorySnapshotStore::new();
    account_with_deposits(&repo(&store), "acc-1", 2).await; // versions 1..=3
    let head = store.head("acc-1").await.unwrap().unwrap();

    forge(&snapshots, 50, head.cid, 50).await;
    let loaded = repo(&store)
        .with_snapshots(snapshots, SnapshotPolicy::Never)
        .load("acc-1")
        .await
        .unwrap();
    assert_eq!(
        loaded.snapshot,
        SnapshotUse::Ignored(SnapshotRejection::HeadMismatch {
            version: 50,
            expected: head.cid,
            found: None,
        })
    );
    assert_eq!((loaded.version, loaded.state.balance), (3, 3));
}

#[tokio::test]
async fn snapshot_that_does_not_decode_is_ignored() {
    let store = MemoryEventStore::new();
    account_with_deposits(&repo(&store), "acc-1", 2).await;
    let head = store.head("acc-1").await.unwrap().unwrap();

    for state in [
        vec![0xff, 0x00, 0x13],
        Snapshot::encode_state(&"not an account").unwrap().to_vec(),
    ] {
        let snapshots = MemorySnapshotStore::new();
        snapshots
            .save_snapshot(&Snapshot {
                state: state.into(),
                ..Snapshot::of("acc-1", head, &Account::default()).unwrap()
            })
            .await
            .unwrap();
        let loaded = repo(&store)
            .with_snapshots(snapshots, SnapshotPolicy::Never)
            .load("acc-1")
            .await
            .unwrap();
        assert!(
            matches!(
                &loaded.snapshot,
                SnapshotUse::Ignored(SnapshotRejection::Undecodable { version: 3, .. })
            ),
            "{:?}",
            loaded.snapshot
        );
        assert_eq!((loaded.version, loaded.state.balance), (3, 3));
    }
}

/// A snapshot written by a state type of another shape (another declared version, or
/// another field fingerprint) would decode wrongly: it is never used, the state is rebuilt
/// from the events, and the next snapshot replaces it.
#[tokio::test]
async fn snapshot_of_another_state_shape_is_rebuilt() {
    let store = MemoryEventStore::new();
    account_with_deposits(&repo(&store), "acc-1", 2).await;
    let head = store.head("acc-1").await.unwrap().unwrap();
    let current = Snapshot::of("acc-1", head, &Account::default()).unwrap();
    let changed_fingerprint = {
        let mut bytes = current.state_fingerprint.0;
        bytes[0] ^= 1;
        cim_events::schema::Fingerprint(bytes)
    };
    for (state_version, state_fingerprint) in [
        (current.state_version + 1, current.state_fingerprint),
        (current.state_version, changed_fingerprint),
    ] {
        let snapshots = MemorySnapshotStore::new();
        snapshots
            .save_snapshot(&Snapshot {
                state_version,
                state_fingerprint,
                ..current.clone()
            })
            .await
            .unwrap();
        let loaded = repo(&store)
            .with_snapshots(snapshots, SnapshotPolicy::Never)
            .load("acc-1")
            .await
            .unwrap();
        assert_eq!(
            loaded.snapshot,
            SnapshotUse::Ignored(SnapshotRejection::StateChanged {
                version: 3,
                stored: (state_version, state_fingerprint),
                current: (current.state_version, current.state_fingerprint),
            })
        );
        // Rebuilt from the events, not the (empty) snapshot state.
        assert_eq!(
            (loaded.version, loaded.replayed, loaded.state.balance),
            (3, 3, 3)
        );
    }
}

#[tokio::test]
async fn failing_snapshot_store_never_fails_a_command() {
    let store = MemoryEventStore::new();
    let failing = ProbeSnapshots {
        fail_saves: true,
        fail_loads: true,
        ..ProbeSnapshots::default()
    };
    let accounts = repo(&store).with_snapshots(failing.clone(), SnapshotPolicy::EveryNEvents(1));
    account_with_deposits(&accounts, "acc-1", 2).await;
    // Every command tried to save, every save failed, and the commands succeeded.
    assert_eq!(failing.saved(), vec![1, 2, 3]);

    let loaded = accounts.load("acc-1").await.unwrap();
    assert!(
        matches!(
            &loaded.snapshot,
            SnapshotUse::Ignored(SnapshotRejection::StoreFailed(message)) if message.contains("snapshot bucket unavailable")
        ),
        "{:?}",
        loaded.snapshot
    );
    assert_eq!((loaded.version, loaded.state.balance), (3, 3));
}

#[tokio::test]
async fn conflict_retry_with_snapshots_catches_up_from_the_snapshot_state() {
    let store = ProbeStore::default();
    let snapshots = ProbeSnapshots::default();
    let accounts = Repository::<Account, _>::new(store.clone())
        .with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(2));
    account_with_deposits(&accounts, "acc-1", 3).await; // versions 1..=4, snapshots 2, 4

    store.race(1);
    let outcome = accounts
        .execute("acc-1", Deposit { amount: 4 })
        .await
        .unwrap();
    assert_eq!(outcome.attempts, 2);
    assert_eq!(
        (outcome.version, outcome.state.balance),
        (6, 1 + 2 + 3 + 1000 + 4)
    );
    assert_eq!(snapshots.saved(), vec![2, 4, 6]);
    let loaded = accounts.load("acc-1").await.unwrap();
    assert_eq!(loaded.snapshot, SnapshotUse::Used { version: 6 });
    assert_eq!(loaded.state.balance, outcome.state.balance);
}

// ---------------------------------------------------------------------------------------
// Damaged histories
// ---------------------------------------------------------------------------------------

/// An event of the aggregate's own type whose payload the aggregate's event type cannot
/// read (another program's idea of `Deposited`).
#[derive(serde::Serialize, serde::Deserialize)]
struct ForeignDeposit {
    account_id: String,
    note: String,
}

impl cim_events::Event for ForeignDeposit {
    fn event_type(&self) -> &str {
        "Deposited"
    }
    fn aggregate_id(&self) -> &str {
        &self.account_id
    }
    fn aggregate_type(&self) -> &str {
        "Account"
    }
}

#[tokio::test]
async fn undecodable_event_is_a_typed_error_naming_version_and_sequence() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    account_with_deposits(&accounts, "acc-1", 1).await;
    // Another program wrote an event of the same aggregate type but its own shape.
    let foreign = store
        .append_events(
            "acc-1",
            vec![ForeignDeposit {
                account_id: "acc-1".into(),
                note: "no amount".into(),
            }],
            ExpectedVersion::Any,
        )
        .await
        .unwrap();

    let err = accounts.load("acc-1").await.unwrap_err();
    let LoadError::Decode {
        aggregate_id,
        version,
        source,
    } = &err
    else {
        panic!("expected a decode error, got {err:?}");
    };
    assert_eq!((aggregate_id.as_str(), *version), ("acc-1", 3));
    assert!(
        matches!(&**source, Error::PayloadDecode { sequence, event_type, .. }
            if *sequence == foreign[0].sequence && event_type == "Deposited"),
        "{source:?}"
    );
    assert!(
        err.to_string()
            .starts_with("event 3 of aggregate `acc-1` cannot be decoded: ")
    );

    let err = accounts
        .execute("acc-1", Deposit { amount: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::Decode { version: 3, .. }),
        "{err:?}"
    );
}

/// Two aggregate types with the same id would share one chain (subjects carry no type):
/// the append of another type's events is refused, naming both types, and nothing is
/// stored.
#[tokio::test]
async fn events_of_another_aggregate_type_are_refused_naming_both_types() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    account_with_deposits(&accounts, "acc-1", 1).await;
    let refused = store
        .append_events("acc-1", vec![Noted::new("acc-1", 1)], ExpectedVersion::Any)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::AggregateTypeMismatch { aggregate_id, chain, event }
            if aggregate_id == "acc-1" && chain == "Account" && event == "Notebook"),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "aggregate `acc-1` is a `Account`, but the events appended to it are of aggregate type `Notebook`"
    );
    assert_eq!(store.head("acc-1").await.unwrap().unwrap().version, 2);
}

/// A chain that holds another aggregate type's event (written before such appends were
/// refused, or around the store) loads as a typed error naming both types, not as a
/// payload mismatch.
#[tokio::test]
async fn a_chain_event_of_another_aggregate_type_is_reported_as_such() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    account_with_deposits(&accounts, "acc-1", 1).await;
    let head = store.head("acc-1").await.unwrap().unwrap();
    let foreign = cim_events::test_util::seal_after(
        "events",
        "acc-1",
        Some(&head),
        &[Noted::new("acc-1", 1)],
        &EventHeader::default(),
    )
    .unwrap();
    common_insert(&store, &foreign);
    let err = accounts.load("acc-1").await.unwrap_err();
    assert!(
        matches!(&err, LoadError::Store(Error::AggregateTypeMismatch { chain, event, .. })
            if chain == "Notebook" && event == "Account"),
        "{err:?}"
    );
}

fn common_insert(store: &MemoryEventStore, events: &[cim_events::SealedEvent]) {
    for event in events {
        store.insert_raw(
            &event.subject,
            cim_events::test_util::headers_of(event),
            event.bytes.clone(),
        );
    }
}

/// A message that is not part of the aggregate's chain — here a copy of another
/// aggregate's first event — is stepped over: it is never applied and never the base of an
/// append, and `verify_chain` locates it.
#[tokio::test]
async fn an_event_outside_the_chain_is_stepped_over_and_reported() {
    let store = MemoryEventStore::new();
    let accounts = repo(&store);
    account_with_deposits(&accounts, "acc-1", 1).await;
    accounts.execute("acc-x", open()).await.unwrap();
    let head = store.head("acc-1").await.unwrap().unwrap();

    // A foreign writer copies acc-x's first event into acc-1's subjects.
    let copied = store.read_raw("acc-x", 1).await.unwrap().remove(0);
    let sequence = store.insert_raw("events.acc-1.Opened", copied.headers, copied.data);

    let loaded = accounts.load("acc-1").await.unwrap();
    assert_eq!((loaded.version, loaded.state.balance), (2, 1));
    assert_eq!(loaded.head, Some(head));
    let outcome = accounts
        .execute("acc-1", Deposit { amount: 1 })
        .await
        .unwrap();
    assert_eq!(outcome.events[0].metadata.version, 3);
    assert_eq!(outcome.events[0].metadata.previous_cid, Some(head.cid));
    assert_eq!(store.load("acc-1").await.unwrap().len(), 3);
    let report = store.verify_chain("acc-1").await.unwrap();
    assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
    assert_eq!(report.faults[0].sequence, sequence);
}

// ---------------------------------------------------------------------------------------
// The state cache
// ---------------------------------------------------------------------------------------

/// With the cache, a command on an aggregate the repository has seen is handled without
/// a read and appended in one attempt; without it, every command loads.
#[tokio::test]
async fn a_cached_command_reads_nothing_and_appends_once() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(16);
    account_with_deposits(&accounts, "acc-1", 2).await;
    let (reads, appends) = (
        store.records_read.load(Ordering::SeqCst),
        store.appends.load(Ordering::SeqCst),
    );
    let outcome = accounts
        .execute("acc-1", Deposit { amount: 10 })
        .await
        .unwrap();
    assert_eq!((outcome.version, outcome.state.balance), (4, 13));
    assert_eq!(store.records_read.load(Ordering::SeqCst) - reads, 0);
    assert_eq!(store.appends.load(Ordering::SeqCst) - appends, 1);

    let uncached = Repository::<Account, _>::new(store.clone());
    let reads = store.records_read.load(Ordering::SeqCst);
    uncached
        .execute("acc-1", Deposit { amount: 1 })
        .await
        .unwrap();
    assert_eq!(store.records_read.load(Ordering::SeqCst) - reads, 4);
}

/// A cached state that another writer has overtaken is refused by the store, and the
/// repository reads only the events after the cached head before handling the command
/// again: no fork, the same state as a fresh load.
#[tokio::test]
async fn a_stale_cached_state_catches_up_with_only_the_newer_events() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(16);
    account_with_deposits(&accounts, "acc-1", 2).await; // versions 1..=3, cached
    // Another writer (with its own repository) appends twice.
    let other = Repository::<Account, _>::new(store.inner.clone());
    other
        .execute("acc-1", Deposit { amount: 100 })
        .await
        .unwrap();
    other
        .execute("acc-1", Deposit { amount: 200 })
        .await
        .unwrap();

    let reads = store.records_read.load(Ordering::SeqCst);
    let outcome = accounts
        .execute("acc-1", Withdraw { amount: 303 })
        .await
        .unwrap();
    assert_eq!(outcome.attempts, 2);
    assert_eq!(store.records_read.load(Ordering::SeqCst) - reads, 2);
    assert_eq!((outcome.version, outcome.state.balance), (6, 0));
    let fresh = repo(&store.inner).load("acc-1").await.unwrap();
    assert_eq!((fresh.version, fresh.state.balance), (6, 0));
    assert!(store.verify_chain("acc-1").await.unwrap().is_valid());
}

/// The cache holds at most its capacity; an evicted aggregate is loaded again.
#[tokio::test]
async fn the_cache_respects_its_bound() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(2);
    for id in ["a-1", "a-2", "a-3", "a-4", "a-5"] {
        accounts.execute(id, open()).await.unwrap();
    }
    assert_eq!(accounts.cache_usage(), Some((2, 2)));
    // a-4 and a-5 are cached; a-1 was evicted first.
    let reads = store.records_read.load(Ordering::SeqCst);
    accounts
        .execute("a-5", Deposit { amount: 1 })
        .await
        .unwrap();
    assert_eq!(store.records_read.load(Ordering::SeqCst) - reads, 0);
    accounts
        .execute("a-1", Deposit { amount: 1 })
        .await
        .unwrap();
    assert_eq!(store.records_read.load(Ordering::SeqCst) - reads, 1);
    assert_eq!(accounts.cache_usage(), Some((2, 2)));
    // Clones share the cache.
    assert_eq!(accounts.clone().cache_usage(), Some((2, 2)));
    assert_eq!(repo(&store.inner).cache_usage(), None);
}

/// A rejected command leaves the cached state as it was, and the next command uses it.
#[tokio::test]
async fn a_rejected_command_keeps_the_cached_state() {
    let store = ProbeStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(4);
    account_with_deposits(&accounts, "acc-1", 1).await;
    let reads = store.records_read.load(Ordering::SeqCst);
    let err = accounts
        .execute("acc-1", Withdraw { amount: 5 })
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::Rejected(_)), "{err:?}");
    let outcome = accounts
        .execute("acc-1", Withdraw { amount: 1 })
        .await
        .unwrap();
    assert_eq!((outcome.version, outcome.state.balance), (3, 0));
    assert_eq!(store.records_read.load(Ordering::SeqCst) - reads, 0);
}
