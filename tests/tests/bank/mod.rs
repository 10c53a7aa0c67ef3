//! A bank account aggregate with hand-written `Event`, `Aggregate` and `Handle` impls, shared
//! by the repository and harness tests (the macros are tested on their own).

// Each test binary uses a different part of the domain.
#![allow(dead_code)]

use std::fmt;

use cim_events::{Aggregate, CommandContext, Event, Handle};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    Opened { account_id: String, owner: String },
    Deposited { account_id: String, amount: u64 },
    Withdrawn { account_id: String, amount: u64 },
    Annotated { account_id: String, note: String },
    Closed { account_id: String },
}

impl Event for AccountEvent {
    fn event_type(&self) -> &str {
        match self {
            AccountEvent::Opened { .. } => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
            AccountEvent::Annotated { .. } => "Annotated",
            AccountEvent::Closed { .. } => "Closed",
        }
    }

    fn aggregate_id(&self) -> &str {
        match self {
            AccountEvent::Opened { account_id, .. }
            | AccountEvent::Deposited { account_id, .. }
            | AccountEvent::Withdrawn { account_id, .. }
            | AccountEvent::Annotated { account_id, .. }
            | AccountEvent::Closed { account_id } => account_id,
        }
    }

    fn aggregate_type(&self) -> &str {
        "Account"
    }
}

pub fn opened(id: &str, owner: &str) -> AccountEvent {
    AccountEvent::Opened {
        account_id: id.to_owned(),
        owner: owner.to_owned(),
    }
}

pub fn deposited(id: &str, amount: u64) -> AccountEvent {
    AccountEvent::Deposited {
        account_id: id.to_owned(),
        amount,
    }
}

pub fn withdrawn(id: &str, amount: u64) -> AccountEvent {
    AccountEvent::Withdrawn {
        account_id: id.to_owned(),
        amount,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankError {
    AlreadyOpen,
    NotOpen,
    Closed,
    ZeroAmount,
    InsufficientFunds { balance: u64, requested: u64 },
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankError::AlreadyOpen => f.write_str("the account is already open"),
            BankError::NotOpen => f.write_str("the account is not open"),
            BankError::Closed => f.write_str("the account is closed"),
            BankError::ZeroAmount => f.write_str("the amount must not be zero"),
            BankError::InsufficientFunds { balance, requested } => {
                write!(f, "cannot withdraw {requested} from a balance of {balance}")
            }
        }
    }
}

impl std::error::Error for BankError {}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub open: bool,
    pub closed: bool,
    pub owner: String,
    pub balance: u64,
    pub notes: Vec<String>,
    /// How many events this value has had applied since it was created (default or
    /// snapshot-decoded): lets tests count what a load replayed. Not part of snapshots.
    #[serde(skip)]
    pub applied: u64,
}

impl Aggregate for Account {
    type Event = AccountEvent;
    type Error = BankError;
    const AGGREGATE_TYPE: &'static str = "Account";

    fn apply(&mut self, event: &AccountEvent) {
        self.applied += 1;
        match event {
            AccountEvent::Opened { owner, .. } => {
                self.open = true;
                self.owner = owner.clone();
            }
            AccountEvent::Deposited { amount, .. } => self.balance += amount,
            AccountEvent::Withdrawn { amount, .. } => self.balance -= amount,
            AccountEvent::Annotated { note, .. } => self.notes.push(note.clone()),
            AccountEvent::Closed { .. } => self.closed = true,
        }
    }
}

impl Account {
    fn check_usable(&self) -> Result<(), BankError> {
        if !self.open {
            Err(BankError::NotOpen)
        } else if self.closed {
            Err(BankError::Closed)
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, Clone)]
pub struct OpenAccount {
    pub owner: String,
}

#[derive(Debug, Clone)]
pub struct Deposit {
    pub amount: u64,
}

#[derive(Debug, Clone)]
pub struct Withdraw {
    pub amount: u64,
}

/// Deposits several amounts at once: several events from one command, stored atomically.
#[derive(Debug, Clone)]
pub struct DepositMany {
    pub amounts: Vec<u64>,
}

/// Records what the handler saw in its `CommandContext`.
#[derive(Debug, Clone)]
pub struct Annotate;

/// Closing a closed account is a no-op: accepted, no event.
#[derive(Debug, Clone)]
pub struct Close;

/// A buggy handler: it produces an event of another aggregate.
#[derive(Debug, Clone)]
pub struct Misdirect;

impl Handle<OpenAccount> for Account {
    fn handle(
        &self,
        command: OpenAccount,
        ctx: &CommandContext<'_>,
    ) -> Result<Vec<AccountEvent>, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen);
        }
        Ok(vec![opened(ctx.aggregate_id, &command.owner)])
    }
}

impl Handle<Deposit> for Account {
    fn handle(
        &self,
        command: Deposit,
        ctx: &CommandContext<'_>,
    ) -> Result<Vec<AccountEvent>, BankError> {
        self.check_usable()?;
        if command.amount == 0 {
            return Err(BankError::ZeroAmount);
        }
        Ok(vec![deposited(ctx.aggregate_id, command.amount)])
    }
}

impl Handle<Withdraw> for Account {
    fn handle(
        &self,
        command: Withdraw,
        ctx: &CommandContext<'_>,
    ) -> Result<Vec<AccountEvent>, BankError> {
        self.check_usable()?;
        if command.amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                requested: command.amount,
            });
        }
        Ok(vec![withdrawn(ctx.aggregate_id, command.amount)])
    }
}

impl Handle<DepositMany> for Account {
    fn handle(
        &self,
        command: DepositMany,
        ctx: &CommandContext<'_>,
    ) -> Result<Vec<AccountEvent>, BankError> {
        self.check_usable()?;
        command
            .amounts
            .into_iter()
            .map(|amount| match amount {
                0 => Err(BankError::ZeroAmount),
                _ => Ok(deposited(ctx.aggregate_id, amount)),
            })
            .collect()
    }
}

impl Handle<Annotate> for Account {
    fn handle(
        &self,
        _: Annotate,
        ctx: &CommandContext<'_>,
    ) -> Result<Vec<AccountEvent>, BankError> {
        let note = format!(
            "id={} version={} correlation={} causation={:?}",
            ctx.aggregate_id, ctx.version, ctx.header.correlation_id, ctx.header.causation_id
        );
        Ok(vec![AccountEvent::Annotated {
            account_id: ctx.aggregate_id.to_owned(),
            note,
        }])
    }
}

impl Handle<Close> for Account {
    fn handle(&self, _: Close, ctx: &CommandContext<'_>) -> Result<Vec<AccountEvent>, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        if self.closed {
            return Ok(Vec::new());
        }
        Ok(vec![AccountEvent::Closed {
            account_id: ctx.aggregate_id.to_owned(),
        }])
    }
}

impl Handle<Misdirect> for Account {
    fn handle(&self, _: Misdirect, _: &CommandContext<'_>) -> Result<Vec<AccountEvent>, BankError> {
        Ok(vec![deposited("someone-else", 1)])
    }
}
