//! Events written by v1 code, read by v3 code through every read path, on the memory store
//! and on JetStream: `load` + decode, the repository (load, snapshot, `execute`),
//! subscriptions (including one on a renamed event's old name), the generic projection
//! runner, and on JetStream the durable one. Each path must give the same v3 values, and
//! the stored blocks must not change: same CIDs, chain intact.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use cim_events::jetstream::{JetStreamCheckpointStore, JetStreamProjectionRunner};
use cim_events::projection::{
    Checkpoint, MemoryCheckpointStore, Projection, ProjectionRunner, async_trait,
};
use cim_events::{
    Cid, CommandContext, Event, EventStore, MemoryEventStore, MemorySnapshotStore, RecordedEvent,
    Repository, SnapshotPolicy, SnapshotRejection, SnapshotUse, StartFrom, aggregate,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tests::nats::{JetStreamFixture, NatsServer};

/// The code as it was: schema 1 everywhere, `Opened` not yet renamed.
mod v1 {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[event(aggregate = "Account")]
    pub enum AccountEvent {
        Opened {
            #[event(id)]
            account_id: String,
            owner: String,
        },
        Deposited {
            #[event(id)]
            account_id: String,
            amount: u32,
        },
    }

    #[derive(Debug, Clone)]
    pub struct Open(pub String);
    #[derive(Debug, Clone)]
    pub struct Deposit(pub u32);

    #[derive(Debug, Default, Clone, Serialize, Deserialize)]
    pub struct Account {
        pub balance: u32,
    }

    #[aggregate(events = AccountEvent)]
    impl Account {
        #[command]
        fn open(
            &self,
            Open(owner): Open,
            ctx: &CommandContext<'_>,
        ) -> Result<AccountEvent, Infallible> {
            Ok(AccountEvent::Opened {
                account_id: ctx.aggregate_id.to_owned(),
                owner,
            })
        }

        #[command]
        fn deposit(
            &self,
            Deposit(amount): Deposit,
            ctx: &CommandContext<'_>,
        ) -> Result<AccountEvent, Infallible> {
            Ok(AccountEvent::Deposited {
                account_id: ctx.aggregate_id.to_owned(),
                amount,
            })
        }

        #[apply(Opened)]
        fn opened(&mut self) {}

        #[apply(Deposited)]
        fn deposited(&mut self, amount: &u32) {
            self.balance += amount;
        }
    }
}

/// `Deposited` as schema 1 stored it.
#[derive(Deserialize)]
struct DepositedV1 {
    account_id: String,
    amount: u32,
}

/// `Deposited` as schema 2 stored it: `amount` renamed `cents`, `memo` added.
#[derive(Deserialize)]
struct DepositedV2 {
    account_id: String,
    cents: u32,
    memo: Option<String>,
}

impl From<DepositedV1> for DepositedV2 {
    fn from(old: DepositedV1) -> Self {
        DepositedV2 {
            account_id: old.account_id,
            cents: old.amount,
            memo: None,
        }
    }
}

impl From<DepositedV2> for AccountEvent {
    fn from(old: DepositedV2) -> Self {
        AccountEvent::Deposited {
            account_id: old.account_id,
            cents: u64::from(old.cents),
            memo: old.memo,
        }
    }
}

/// The code as it is: `Opened` renamed `AccountOpened`, `Deposited` at schema 3 (a field
/// renamed, one added, one retyped).
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(aggregate = "Account")]
enum AccountEvent {
    #[event(name = "AccountOpened", aliases("Opened"))]
    Opened {
        #[event(id)]
        account_id: String,
        owner: String,
    },
    #[event(schema = 3, from(2 = DepositedV2, 1 = DepositedV1))]
    Deposited {
        #[event(id)]
        account_id: String,
        cents: u64,
        memo: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Deposit(u64);

/// The state changed shape too (and says so), so v1 snapshots must not be used.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: u64,
    deposits: u32,
}

#[aggregate(events = AccountEvent, state = 2)]
impl Account {
    #[command]
    fn deposit(
        &self,
        Deposit(cents): Deposit,
        ctx: &CommandContext<'_>,
    ) -> Result<AccountEvent, Infallible> {
        Ok(AccountEvent::Deposited {
            account_id: ctx.aggregate_id.to_owned(),
            cents,
            memo: Some("v3".into()),
        })
    }

    #[apply(Opened)]
    fn opened(&mut self, owner: &String) {
        self.owner.clone_from(owner);
    }

    #[apply(Deposited)]
    fn deposited(&mut self, cents: &u64) {
        self.balance += cents;
        self.deposits += 1;
    }
}

const ID: &str = "acc-1";

/// The v3 values the v1 history must read as.
fn expected() -> Vec<AccountEvent> {
    vec![
        AccountEvent::Opened {
            account_id: ID.into(),
            owner: "Alice".into(),
        },
        AccountEvent::Deposited {
            account_id: ID.into(),
            cents: 5,
            memo: None,
        },
        AccountEvent::Deposited {
            account_id: ID.into(),
            cents: 7,
            memo: None,
        },
    ]
}

/// Writes the v1 history through a v1 repository that snapshots every 2 events; returns
/// the CIDs the appends reported.
async fn write_v1<S: EventStore + Clone>(store: &S, snapshots: &MemorySnapshotStore) -> Vec<Cid> {
    let accounts = Repository::<v1::Account, _>::new(store.clone())
        .with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(2));
    let mut cids = Vec::new();
    let outcome = accounts
        .execute(ID, v1::Open("Alice".into()))
        .await
        .expect("read path step");
    cids.extend(outcome.metadata().map(|m| m.cid));
    for amount in [5, 7] {
        let outcome = accounts
            .execute(ID, v1::Deposit(amount))
            .await
            .expect("read path step");
        cids.extend(outcome.metadata().map(|m| m.cid));
    }
    cids
}

/// The chain verifies, with `events` events.
async fn assert_intact<S: EventStore>(store: &S, events: u64) {
    let report = store.verify_chain(ID).await.expect("read path step");
    assert_eq!(
        (report.events, report.faults.len()),
        (events, 0),
        "{report:?}"
    );
}

/// Collects every event it is given, decoded as v3.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<AccountEvent>>>);

#[async_trait]
impl Projection for Collect {
    type Error = cim_events::Error;
    fn name(&self) -> &str {
        "upcast-collect"
    }
    async fn apply(&mut self, event: &RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> {
        self.0.lock().expect("read path step").push(event.decode()?);
        Ok(())
    }
}

/// Every read path but the durable runner, on any store. Returns the v1 CIDs.
async fn read_paths<S: EventStore + Clone + 'static>(store: S) -> Vec<Cid> {
    let snapshots = MemorySnapshotStore::new();
    let cids = write_v1(&store, &snapshots).await;
    assert_eq!(cids.len(), 3);

    // load + decode: v3 values, blocks unchanged.
    let records = store.load(ID).await.expect("read path step");
    assert_eq!(records.iter().map(|r| r.cid).collect::<Vec<_>>(), cids);
    assert_eq!(
        records
            .iter()
            .map(|r| (r.event_type(), r.block.schema))
            .collect::<Vec<_>>(),
        [("Opened", 1), ("Deposited", 1), ("Deposited", 1)]
    );
    let decoded: Vec<AccountEvent> = records
        .iter()
        .map(|r| r.decode().expect("read path step"))
        .collect();
    assert_eq!(decoded, expected());
    assert_intact(&store, 3).await;

    // The repository: the v1 snapshot (state version 1) is not used, the state is rebuilt
    // from the upcast events.
    let accounts = Repository::<Account, _>::new(store.clone())
        .with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(2));
    let loaded = accounts.load(ID).await.expect("read path step");
    assert!(
        matches!(
            loaded.snapshot,
            SnapshotUse::Ignored(SnapshotRejection::StateChanged { version: 2, .. })
        ),
        "{:?}",
        loaded.snapshot
    );
    let state = Account {
        owner: "Alice".into(),
        balance: 12,
        deposits: 2,
    };
    assert_eq!((loaded.version, &loaded.state), (3, &state));

    // execute: decided on the upcast state, appended at schema 3 after the v1 events.
    let outcome = accounts
        .execute(ID, Deposit(30))
        .await
        .expect("read path step");
    assert_eq!(outcome.state.balance, 42);
    let records = store.load(ID).await.expect("read path step");
    assert_eq!(records.len(), 4);
    assert_eq!(records[..3].iter().map(|r| r.cid).collect::<Vec<_>>(), cids);
    assert_eq!(
        (records[3].event_type(), records[3].block.schema),
        ("Deposited", 3)
    );
    assert_intact(&store, 4).await;
    // A snapshot of the new shape is used from now on.
    let again = accounts.load(ID).await.expect("read path step");
    assert_eq!(again.snapshot, SnapshotUse::Used { version: 4 });
    assert_eq!(again.state.balance, 42);

    let mut all = expected();
    all.push(AccountEvent::Deposited {
        account_id: ID.into(),
        cents: 30,
        memo: Some("v3".into()),
    });

    // Subscriptions: everything, and the renamed event under its old name.
    let prefix = store.subject_prefix().to_owned();
    let mut everything = store
        .subscribe(
            &AccountEvent::aggregate_filter(&prefix, ID),
            StartFrom::Beginning,
        )
        .await
        .expect("read path step");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let record = everything
            .next()
            .await
            .expect("read path step")
            .expect("read path step");
        seen.push(record.decode::<AccountEvent>().expect("read path step"));
    }
    assert_eq!(seen, all);
    let old_name = AccountEvent::filters(&prefix)
        .into_iter()
        .find(|f| f.ends_with(".Opened"))
        .expect("the alias has a filter");
    let mut renamed = store
        .subscribe(&old_name, StartFrom::Beginning)
        .await
        .expect("read path step");
    let record = renamed
        .next()
        .await
        .expect("read path step")
        .expect("read path step");
    assert_eq!(record.cid, cids[0]);
    assert_eq!(
        record.decode::<AccountEvent>().expect("read path step"),
        all[0]
    );

    // The generic projection runner.
    let collect = Collect::default();
    let mut running =
        ProjectionRunner::new(store.clone(), collect.clone(), MemoryCheckpointStore::new()).spawn();
    let last = store
        .load(ID)
        .await
        .expect("read path step")
        .last()
        .expect("read path step")
        .sequence;
    running
        .wait_until_sequence(last)
        .await
        .expect("read path step");
    running.stop().await.expect("read path step");
    assert_eq!(*collect.0.lock().expect("read path step"), all);

    cids
}

#[tokio::test]
async fn v1_history_reads_as_v3_on_memory() {
    read_paths(MemoryEventStore::new()).await;
}

#[tokio::test]
async fn v1_history_reads_as_v3_on_jetstream() {
    let fixture = JetStreamFixture::new(vec![NatsServer::shared().await.addr()], 1).await;
    let store = fixture.store.clone();
    read_paths(store.clone()).await;

    // The durable runner.
    let collect = Collect::default();
    let bucket = format!("{}_UPCAST_CP", store.stream_name());
    let checkpoints = JetStreamCheckpointStore::new(store.context().clone(), &bucket)
        .await
        .expect("read path step");
    let mut running = JetStreamProjectionRunner::new(&store, collect.clone(), checkpoints).spawn();
    let last = store
        .load(ID)
        .await
        .expect("read path step")
        .last()
        .expect("read path step")
        .sequence;
    running
        .wait_until_sequence(last)
        .await
        .expect("read path step");
    running.stop().await.expect("read path step");
    assert_eq!(collect.0.lock().expect("read path step").len(), 4);
    assert_eq!(
        collect.0.lock().expect("read path step")[..3],
        expected()[..]
    );
}

/// The harness reads old shapes through the same upcasts.
#[test]
fn given_stored_reads_v1_events_as_v3() {
    use cim_events::testing::AggregateTest;
    AggregateTest::<Account>::new(ID)
        .given_stored([
            v1::AccountEvent::Opened {
                account_id: ID.into(),
                owner: "Alice".into(),
            },
            v1::AccountEvent::Deposited {
                account_id: ID.into(),
                amount: 5,
            },
        ])
        .when(Deposit(1))
        .then_state(|state| {
            assert_eq!(
                state,
                &Account {
                    owner: "Alice".into(),
                    balance: 6,
                    deposits: 2,
                }
            );
        });
}
