//! The quickstart's account domain (`examples/examples/quickstart.rs`) written with
//! cqrs-es 0.5, for the line count in `cim-events/docs/compared-to-cqrs-es.md`: the same
//! events, errors, rules and state. Compiled with the peer bench; `tests/tests/line_counts.rs`
//! checks that the guide shows exactly this file's code.
#![allow(dead_code)]

// listing: start
use std::error::Error;
use std::fmt;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            AccountEvent::Opened { .. } => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug)]
enum BankError {
    AlreadyOpen,
    NotOpen,
    InsufficientFunds { balance: u64, requested: u64 },
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankError::AlreadyOpen => f.write_str("the account is already open"),
            BankError::NotOpen => f.write_str("the account is not open"),
            BankError::InsufficientFunds { balance, requested } => {
                write!(f, "cannot withdraw {requested} from a balance of {balance}")
            }
        }
    }
}

impl Error for BankError {}

#[derive(Debug, Clone)]
enum AccountCommand {
    Open { owner: String },
    Deposit { amount: u64 },
    Withdraw { amount: u64 },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
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
            AccountCommand::Open { owner } => {
                if self.open {
                    return Err(BankError::AlreadyOpen);
                }
                AccountEvent::Opened { owner }
            }
            AccountCommand::Deposit { amount } => {
                if !self.open {
                    return Err(BankError::NotOpen);
                }
                AccountEvent::Deposited { amount }
            }
            AccountCommand::Withdraw { amount } => {
                if !self.open {
                    return Err(BankError::NotOpen);
                }
                if amount > self.balance {
                    return Err(BankError::InsufficientFunds {
                        balance: self.balance,
                        requested: amount,
                    });
                }
                AccountEvent::Withdrawn { amount }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::Opened { .. } => self.open = true,
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }
}
// listing: end
