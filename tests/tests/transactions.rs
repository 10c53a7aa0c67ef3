//! `Transaction`: one decision over several aggregates, on memory and JetStream. A lost
//! race makes the whole decision again on fresh states; a rejection stores nothing; an
//! aggregate cannot be held as two types.

mod bank;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bank::{Account, BankError, Deposit, OpenAccount, Withdraw};
use cim_events::{
    COMMIT_META_KEY, CommandId, Error, EventHeader, EventStore, LoadError, Repository, Transaction,
    TransactionError, TransactionOptions,
};
use tests::domain::Noted;
use tests::nats::{JetStreamFixture, NatsServer};

/// Opens `a` with 100 and `b` empty.
async fn two_accounts<S: EventStore + Clone>(store: &S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    for id in ["a", "b"] {
        let open = OpenAccount {
            owner: id.to_owned(),
        };
        accounts.execute(id, open).await.expect("open");
    }
    accounts
        .execute("a", Deposit { amount: 100 })
        .await
        .expect("deposit");
}

/// Moves `amount` from `a` to `b` in one transaction; counts the decisions made.
async fn transfer<S: EventStore + Clone>(
    store: &S,
    amount: u64,
    decisions: &Arc<AtomicU32>,
) -> Result<cim_events::Committed, TransactionError> {
    Transaction::run(store, |mut tx| {
        let decisions = decisions.clone();
        async move {
            decisions.fetch_add(1, Ordering::SeqCst);
            tx.execute::<Account, _>("a", Withdraw { amount }).await?;
            tx.execute::<Account, _>("b", Deposit { amount }).await?;
            Ok(tx)
        }
    })
    .await
}

async fn a_transfer_commits_both_sides_or_neither<S: EventStore + Clone>(store: &S) {
    two_accounts(store).await;
    let decisions = Arc::new(AtomicU32::new(0));
    let committed = transfer(store, 30, &decisions).await.expect("transfer");
    assert_eq!(committed.attempts, 1);
    assert_eq!(committed.event_count(), 2);
    assert_eq!(committed.state::<Account>("a").map(|a| a.balance), Some(70));
    assert_eq!(committed.state::<Account>("b").map(|b| b.balance), Some(30));
    let (a, b) = (committed.events_of("a"), committed.events_of("b"));
    assert_eq!(b[0].sequence, a[0].sequence + 1, "stored together");
    let commit = committed.commit_id.clone().expect("a commit id");
    for id in ["a", "b"] {
        let events = store.load(id).await.expect("load");
        let last = events.last().expect("an event");
        assert_eq!(last.block.meta.get(COMMIT_META_KEY), Some(&commit));
        assert_eq!(last.correlation_id(), commit, "one conversation");
    }

    // Too much: the withdrawal is rejected, and the deposit is not stored either.
    let last = store.last_sequence().await.expect("last");
    let refused = transfer(store, 500, &decisions)
        .await
        .expect_err("too much");
    assert!(matches!(
        refused.rejection::<BankError>(),
        Some(BankError::InsufficientFunds { balance: 70, .. })
    ));
    assert_eq!(store.last_sequence().await.expect("last"), last);
}

async fn a_lost_race_decides_again_on_fresh_state<S: EventStore + Clone>(store: &S) {
    two_accounts(store).await;
    let decisions = Arc::new(AtomicU32::new(0));
    let interfere = store.clone();
    let seen = Arc::new(AtomicU32::new(0));
    let committed = Transaction::run(store, |mut tx| {
        let (interfere, seen, decisions) = (interfere.clone(), seen.clone(), decisions.clone());
        async move {
            let attempt = decisions.fetch_add(1, Ordering::SeqCst);
            let balance = tx.load::<Account>("a").await?.balance;
            seen.store(u32::try_from(balance).expect("small"), Ordering::SeqCst);
            if attempt == 0 {
                // Another writer deposits after the load: this decision is stale.
                Repository::<Account, _>::new(interfere)
                    .execute("a", Deposit { amount: 5 })
                    .await
                    .expect("interfering deposit");
            }
            tx.execute::<Account, _>("a", Withdraw { amount: balance })
                .await?;
            tx.execute::<Account, _>("b", Deposit { amount: balance })
                .await?;
            Ok(tx)
        }
    })
    .await
    .expect("committed on the second attempt");
    assert_eq!(committed.attempts, 2);
    assert_eq!(decisions.load(Ordering::SeqCst), 2);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        105,
        "decided again on the fresh state"
    );
    assert_eq!(committed.state::<Account>("a").map(|a| a.balance), Some(0));
    assert_eq!(
        committed.state::<Account>("b").map(|b| b.balance),
        Some(105)
    );
    for id in ["a", "b"] {
        assert!(store.verify_chain(id).await.expect("verify").is_valid());
    }

    // Without retries, the same race is a typed conflict and stores nothing.
    let last = store.last_sequence().await.expect("last");
    let options = TransactionOptions::default().max_retries(0);
    let interfere = store.clone();
    let lost = Transaction::run_with(store, options, |mut tx| {
        let interfere = interfere.clone();
        async move {
            tx.execute::<Account, _>("b", Withdraw { amount: 1 })
                .await?;
            Repository::<Account, _>::new(interfere)
                .execute("b", Deposit { amount: 1 })
                .await
                .expect("interfering deposit");
            Ok(tx)
        }
    })
    .await;
    match lost {
        Err(TransactionError::Conflict { attempts, conflict }) => {
            assert_eq!((attempts, conflict.aggregate_id.as_str()), (1, "b"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.last_sequence().await.expect("last"), last + 1);
}

async fn an_aggregate_is_one_type_in_a_transaction<S: EventStore + Clone>(store: &S) {
    store
        .append_event("n-1", Noted::new("n-1", 0), None)
        .await
        .expect("a Noted chain");
    let wrong = Transaction::run(store, |mut tx| async move {
        tx.load::<Account>("n-1").await?;
        Ok(tx)
    })
    .await;
    assert!(
        matches!(
            &wrong,
            Err(TransactionError::Load(LoadError::Store(Error::AggregateTypeMismatch { chain, .. })))
                if chain == "Notebook"
        ),
        "{wrong:?}"
    );
    let nothing = Transaction::run(store, |mut tx| async move {
        tx.load::<Account>("fresh").await?;
        Ok(tx)
    })
    .await
    .expect("a decision that stores nothing");
    assert_eq!(
        (nothing.commit_id.as_deref(), nothing.event_count()),
        (None, 0)
    );
    let twice = Transaction::run(store, |mut tx| async move {
        tx.load::<Account>("fresh").await?;
        tx.execute::<Account, _>("fresh", OpenAccount { owner: "x".into() })
            .await?;
        Ok(tx)
    })
    .await
    .expect("the same aggregate twice in one decision");
    assert_eq!(twice.event_count(), 1);
}

/// A transfer carrying a command id, sent twice (a retry after a lost answer): the second
/// finds the commit in the first aggregate's chain and stores nothing.
async fn a_resent_transaction_commits_once<S: EventStore + Clone>(store: &S) {
    two_accounts(store).await;
    let command = CommandId::new();
    let options = || {
        TransactionOptions::default()
            .header(EventHeader::default().with_command_id(command.clone()))
    };
    let send = || {
        Transaction::run_with(store, options(), |mut tx| async move {
            tx.execute::<Account, _>("a", Withdraw { amount: 10 })
                .await?;
            tx.execute::<Account, _>("b", Deposit { amount: 10 })
                .await?;
            Ok(tx)
        })
    };
    let first = send().await.expect("first");
    assert!(!first.deduplicated);
    assert_eq!(first.commit_id.as_deref(), Some(command.as_str()));
    let last = store.last_sequence().await.expect("last");
    let again = send().await.expect("again");
    assert!(again.deduplicated);
    assert_eq!(again.commit_id, first.commit_id);
    assert_eq!(again.events_of("a"), first.events_of("a"));
    assert_eq!(
        store.last_sequence().await.expect("last"),
        last,
        "nothing stored"
    );
    let balance = |id: &'static str| async move {
        Repository::<Account, _>::new(store.clone())
            .load(id)
            .await
            .expect("load")
            .state
            .balance
    };
    assert_eq!((balance("a").await, balance("b").await), (90, 10));
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&cim_events::MemoryEventStore::new()).await;
                }
            )*
        }
        mod jetstream {
            $(
                #[tokio::test]
                async fn $case() {
                    let server = super::NatsServer::shared().await;
                    let fixture = super::JetStreamFixture::new(vec![server.addr()], 1).await;
                    super::$case(&fixture.store).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_transfer_commits_both_sides_or_neither,
    a_lost_race_decides_again_on_fresh_state,
    an_aggregate_is_one_type_in_a_transaction,
    a_resent_transaction_commits_once,
);
