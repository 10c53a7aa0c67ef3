//! The bank account the repository shapes run: the `#[derive(Event)]` / `#[aggregate]` form
//! of `examples/quickstart.rs`, with a memo on every deposit so that a command's event is
//! the size of a realistic one (about 500 bytes stored).

use std::fmt;

use cim_events::{CommandContext, Event, aggregate};
use serde::{Deserialize, Serialize};

/// The length of the memo each deposit carries.
pub const MEMO_LEN: usize = 240;

/// Everything that happens to an account.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
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
        /// Free text, [`MEMO_LEN`] characters in this bench.
        memo: String,
    },
}

/// Why the account refuses a command.
#[derive(Debug)]
pub enum BankError {
    /// `Open` on an open account.
    AlreadyOpen,
    /// `Deposit` before `Open`.
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

/// Opens the account.
#[derive(Debug, Clone)]
pub struct Open;

/// Pays `amount` in, with a memo.
#[derive(Debug, Clone)]
pub struct Deposit {
    /// How much.
    pub amount: u64,
    /// Free text.
    pub memo: String,
}

/// The account's state. Serializable, so that the repository can snapshot it; `Clone`, so
/// that it can cache it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Account {
    /// Whether `Open` was handled.
    pub open: bool,
    /// The sum of the deposits.
    pub balance: u64,
}

#[aggregate(events = AccountEvent, error = BankError)]
impl Account {
    #[command]
    fn open(&self, _: Open, ctx: &CommandContext<'_>) -> Result<AccountEvent, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen);
        }
        Ok(opened(ctx.aggregate_id))
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

/// The `Opened` event of account `id`.
pub fn opened(id: &str) -> AccountEvent {
    AccountEvent::Opened {
        account_id: id.to_owned(),
        owner: "Alice".to_owned(),
    }
}

/// The event a [`deposit`] command produces, for writing without the repository (setup,
/// and the raw reference).
pub fn deposited(id: &str, amount: u64) -> AccountEvent {
    AccountEvent::Deposited {
        account_id: id.to_owned(),
        amount,
        memo: memo(),
    }
}

/// A deposit command of `amount`.
pub fn deposit(amount: u64) -> Deposit {
    Deposit {
        amount,
        memo: memo(),
    }
}

/// A [`MEMO_LEN`]-character memo.
fn memo() -> String {
    "Rent for the flat on the third floor, paid by standing order; see the attached lease. "
        .chars()
        .cycle()
        .take(MEMO_LEN)
        .collect()
}
