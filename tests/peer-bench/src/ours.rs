//! Our side: the bank account written with the `cim-events` macros, run by a
//! [`Repository`] over a [`JetStreamEventStore`] (R1, file storage).

use std::fmt;

use cim_events::jetstream::{JetStreamSnapshotStore, async_nats};
use cim_events::{
    CommandContext, EventStore, ExpectedVersion, JetStreamEventStore, Repository, SnapshotPolicy,
    SnapshotUse, aggregate,
};
use serde::{Deserialize, Serialize};

use crate::{SNAPSHOT_EVERY, memo};

/// Accounts the state cache of the cached side keeps.
const CACHE: usize = 10_000;

/// What can happen to an account.
#[derive(cim_events::Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "Account")]
pub enum AccountEvent {
    /// The account was opened.
    Opened {
        /// The account.
        #[event(id)]
        account_id: String,
        /// Who owns it.
        owner: String,
    },
    /// Money was paid in.
    Deposited {
        /// The account.
        #[event(id)]
        account_id: String,
        /// How much.
        amount: u64,
        /// A free-text memo (240 characters in this bench).
        memo: String,
    },
}

/// Why the account refuses a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankError {
    /// `Open` on an open account.
    AlreadyOpen,
    /// `Deposit` on an account that was never opened.
    NotOpen,
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankError::AlreadyOpen => f.write_str("the account is already open"),
            BankError::NotOpen => f.write_str("the account is not open"),
        }
    }
}

impl std::error::Error for BankError {}

/// Opens an account.
#[derive(Debug, Clone)]
pub struct Open {
    /// Who owns it.
    pub owner: String,
}

/// Pays money in.
#[derive(Debug, Clone)]
pub struct Deposit {
    /// How much.
    pub amount: u64,
    /// A free-text memo.
    pub memo: String,
}

/// The account's state: what its commands need to decide, and the balance. `Clone` so
/// that the repository can cache it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Account {
    open: bool,
    balance: u64,
}

#[aggregate(events = AccountEvent, error = BankError)]
impl Account {
    #[command]
    fn open(&self, command: Open, ctx: &CommandContext<'_>) -> Result<AccountEvent, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen);
        }
        Ok(AccountEvent::Opened {
            account_id: ctx.aggregate_id.to_owned(),
            owner: command.owner,
        })
    }

    #[command]
    fn deposit(
        &self,
        command: Deposit,
        ctx: &CommandContext<'_>,
    ) -> Result<AccountEvent, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        Ok(AccountEvent::Deposited {
            account_id: ctx.aggregate_id.to_owned(),
            amount: command.amount,
            memo: command.memo,
        })
    }

    #[apply(Opened)]
    fn opened(&mut self) {
        self.open = true;
    }

    #[apply(Deposited)]
    fn deposited(&mut self, amount: &u64) {
        self.balance += amount;
    }
}

/// Our repository type in this bench.
pub type Accounts = Repository<Account, JetStreamEventStore>;

/// The event stream and the snapshot bucket, on one JetStream connection.
#[derive(Debug, Clone)]
pub struct Stores {
    events: JetStreamEventStore,
    snapshots: JetStreamSnapshotStore,
}

impl Stores {
    /// Provisions the stream `PEER_BENCH` (R1, file storage, subjects under `peerbench`)
    /// and the snapshot bucket `peer_bench_snapshots`.
    pub async fn provision(jetstream: async_nats::jetstream::Context) -> cim_events::Result<Self> {
        let events = JetStreamEventStore::builder(jetstream.clone(), "PEER_BENCH")
            .prefix("peerbench")
            .replicas(1)
            .build()
            .await?;
        let snapshots = JetStreamSnapshotStore::new(jetstream, "peer_bench_snapshots").await?;
        Ok(Stores { events, snapshots })
    }
}

/// Builds our repository, with or without snapshots: the one place where it is
/// configured, so that a setting such as `.with_cache(capacity)` is one line here.
pub fn repository(stores: &Stores, snapshots: bool, cache: bool) -> Accounts {
    let accounts = Repository::new(stores.events.clone());
    let accounts = if cache {
        accounts.with_cache(CACHE)
    } else {
        accounts
    };
    if snapshots {
        accounts.with_snapshots(
            stores.snapshots.clone(),
            SnapshotPolicy::EveryNEvents(SNAPSHOT_EVERY),
        )
    } else {
        accounts
    }
}

/// Writes `Opened` and then `Deposited` events straight into the store, `events` in
/// all, in one atomic append (`events` ≤ [`cim_events::MAX_BATCH`]): the history of an
/// account that has run `events - 1` deposits, without running them.
pub async fn prefill(accounts: &Accounts, id: &str, events: usize) -> cim_events::Result<()> {
    let history = std::iter::once(AccountEvent::Opened {
        account_id: id.to_owned(),
        owner: "bench".to_owned(),
    })
    .chain((1..events).map(|n| AccountEvent::Deposited {
        account_id: id.to_owned(),
        amount: 1,
        memo: memo(n),
    }))
    .collect();
    accounts
        .store()
        .append_events(id, history, ExpectedVersion::NoStream)
        .await?;
    Ok(())
}

/// The version of the snapshot a load of the account starts from: `None` when it
/// replays from the first event because there is none (or no snapshot store), an error
/// when a snapshot exists but is not trusted.
pub async fn snapshot_version(
    accounts: &Accounts,
    id: &str,
) -> Result<Option<u64>, Box<dyn std::error::Error + Send + Sync>> {
    match accounts.load(id).await?.snapshot {
        SnapshotUse::Used { version } => Ok(Some(version)),
        SnapshotUse::Absent => Ok(None),
        SnapshotUse::Ignored(reason) => Err(format!("snapshot of {id} ignored: {reason}").into()),
        other => Err(format!("snapshot of {id}: {other:?}").into()),
    }
}
