//! The peer: the same bank account as a `cqrs-es` [`Aggregate`], persisted by
//! `postgres-es` in the standard `events` and `snapshots` tables.

use std::str::FromStr;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use postgres_es::{PostgresCqrs, PostgresEventRepository, postgres_cqrs, postgres_snapshot_cqrs};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::ours::BankError;
use crate::{SNAPSHOT_EVERY, memo};

/// What can happen to an account. As usual with cqrs-es, the account id is in the
/// envelope (the `aggregate_id` column), not in the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// The account was opened.
    Opened {
        /// Who owns it.
        owner: String,
    },
    /// Money was paid in.
    Deposited {
        /// How much.
        amount: u64,
        /// A free-text memo (240 characters in this bench).
        memo: String,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            AccountEvent::Opened { .. } => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// The commands, one enum as cqrs-es expects.
#[derive(Debug, Clone)]
pub enum AccountCommand {
    /// Opens the account.
    Open {
        /// Who owns it.
        owner: String,
    },
    /// Pays money in.
    Deposit {
        /// How much.
        amount: u64,
        /// A free-text memo.
        memo: String,
    },
}

/// The account's state, the same as ours.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Account {
    open: bool,
    balance: u64,
}

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = BankError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccountCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), BankError> {
        let event = match command {
            AccountCommand::Open { owner } if !self.open => AccountEvent::Opened { owner },
            AccountCommand::Open { .. } => return Err(BankError::AlreadyOpen),
            AccountCommand::Deposit { amount, memo } if self.open => {
                AccountEvent::Deposited { amount, memo }
            }
            AccountCommand::Deposit { .. } => return Err(BankError::NotOpen),
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::Opened { .. } => self.open = true,
            AccountEvent::Deposited { amount, .. } => self.balance += amount,
        }
    }
}

/// A connection pool whose sessions run with `synchronous_commit` `on` or `off`, with
/// one connection per concurrent task of the bench (so that no task waits for a
/// connection), all opened up front.
pub async fn pool(url: &str, synchronous_commit: bool, connections: u32) -> sqlx::Result<PgPool> {
    let setting = if synchronous_commit { "on" } else { "off" };
    let options = PgConnectOptions::from_str(url)?.options([("synchronous_commit", setting)]);
    let pool = PgPoolOptions::new()
        .min_connections(connections)
        .max_connections(connections)
        .connect_with(options)
        .await?;
    let row = sqlx::query("SHOW synchronous_commit")
        .fetch_one(&pool)
        .await?;
    let actual: String = row.try_get(0)?;
    assert_eq!(
        actual, setting,
        "the pool's sessions ignore synchronous_commit"
    );
    Ok(pool)
}

/// The server's version string, e.g. `PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on …`.
pub async fn server_version(pool: &PgPool) -> sqlx::Result<String> {
    sqlx::query("SELECT version()")
        .fetch_one(pool)
        .await?
        .try_get(0)
}

/// The framework over `pool`: plain (`postgres_cqrs`), or with a snapshot every
/// [`SNAPSHOT_EVERY`] events (`postgres_snapshot_cqrs`).
pub fn framework(pool: PgPool, snapshots: bool) -> PostgresCqrs<Account> {
    if snapshots {
        postgres_snapshot_cqrs(pool, vec![], SNAPSHOT_EVERY as usize, ())
    } else {
        postgres_cqrs(pool, vec![], ())
    }
}

/// Writes `Opened` and then `Deposited` rows straight into the events table through
/// postgres-es, `events` in all, in one transaction: the history of an account that has
/// run `events - 1` deposits, without running them.
pub async fn prefill(pool: &PgPool, id: &str, events: usize) -> Result<(), PersistenceError> {
    let history: Vec<SerializedEvent> = (0..events)
        .map(|n| {
            let event = match n {
                0 => AccountEvent::Opened {
                    owner: "bench".to_owned(),
                },
                n => AccountEvent::Deposited {
                    amount: 1,
                    memo: memo(n),
                },
            };
            SerializedEvent::new(
                id.to_owned(),
                n + 1,
                Account::TYPE.to_owned(),
                event.event_type(),
                event.event_version(),
                serde_json::to_value(&event).expect("an event serializes"),
                serde_json::json!({}),
            )
        })
        .collect();
    PostgresEventRepository::new(pool.clone())
        .persist::<Account>(&history, None)
        .await
}

/// The sequence of the account's snapshot in the `snapshots` table, if it has one.
pub async fn snapshot_version(pool: &PgPool, id: &str) -> sqlx::Result<Option<u64>> {
    let row = sqlx::query(
        "SELECT last_sequence FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(Account::TYPE)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| row.try_get::<i64, _>(0).map(|sequence| sequence as u64))
        .transpose()
}
