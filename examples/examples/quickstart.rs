//! A bank account: open it, deposit and withdraw (one withdrawal is refused for lack of
//! funds), then print every stored event with its CID and the CID it links to, the
//! balance, and whether the chain verifies.
//!
//! The events derive [`Event`], the account is an `#[aggregate]`, and a [`Repository`]
//! runs the commands: load → handle → append → apply.
//!
//! Runs on the embedded store, with no server:
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With `NATS_URL` set it runs on JetStream, in stream `QUICKSTART` under prefix
//! `quickstart` (created if missing), with a new account each run:
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run --example quickstart
//! ```

use std::error::Error;
use std::fmt;

use cim_events::jetstream::{JetStreamEventStore, async_nats};
use cim_events::{
    CommandError, CommandOutcome, Event, EventStore, MemoryEventStore, Repository, aggregate,
};
use serde::{Deserialize, Serialize};

/// Everything that can happen to an account. Each variant is stored as its own event
/// type (`Opened`, `Deposited`, `Withdrawn`); the account's id is in each event's
/// envelope, so the events do not repeat it.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

/// Why the account refuses a command.
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

/// The account's state: only what its commands need to decide. `Clone`, so that the
/// repository can cache it.
#[derive(Debug, Default, Clone)]
struct Account {
    open: bool,
    balance: u64,
}

/// Each `#[command]` handler's parameters become a command type the macro writes:
/// `account::Open { owner }`, `account::Deposit { amount }`, `account::Withdraw { amount }`.
#[aggregate(events = AccountEvent, error = BankError)]
impl Account {
    #[command]
    fn open(&self, owner: String) -> Result<AccountEvent, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen);
        }
        Ok(AccountEvent::Opened { owner })
    }

    #[command]
    fn deposit(&self, amount: u64) -> Result<AccountEvent, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        Ok(AccountEvent::Deposited { amount })
    }

    #[command]
    fn withdraw(&self, amount: u64) -> Result<AccountEvent, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        if amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                requested: amount,
            });
        }
        Ok(AccountEvent::Withdrawn { amount })
    }

    #[apply(Opened)]
    fn opened(&mut self) {
        self.open = true;
    }

    #[apply(Deposited)]
    fn deposited(&mut self, amount: &u64) {
        self.balance += amount;
    }

    #[apply(Withdrawn)]
    fn withdrawn(&mut self, amount: &u64) {
        self.balance -= amount;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let Ok(url) = std::env::var("NATS_URL") else {
        println!("store: in-memory (MemoryEventStore, no server)");
        return run(MemoryEventStore::new(), "acc-123").await;
    };
    let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await?);
    let store = JetStreamEventStore::builder(jetstream, "QUICKSTART")
        .prefix("quickstart")
        .build()
        .await?;
    println!("store: JetStream at {url} (stream QUICKSTART, prefix quickstart)");
    // The stream outlives this run: a new account each time.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    run(store, &format!("acc-{}", now.as_millis())).await
}

async fn run<S: EventStore>(store: S, id: &str) -> Result<(), Box<dyn Error>> {
    // The state cache keeps each account's state after its commands: the next command on
    // it is decided at once and costs one append (one request on JetStream).
    let accounts = Repository::<Account, _>::new(store).with_cache(1024);

    let open = account::Open {
        owner: "Alice".into(),
    };
    print_events(&accounts.execute(id, open).await?);
    print_events(
        &accounts
            .execute(id, account::Deposit { amount: 100 })
            .await?,
    );
    print_events(
        &accounts
            .execute(id, account::Withdraw { amount: 30 })
            .await?,
    );
    // The account refuses: the command fails with the typed domain error, nothing is stored.
    match accounts
        .execute(id, account::Withdraw { amount: 500 })
        .await
    {
        Err(CommandError::Rejected(error)) => {
            println!("   Withdraw {{ amount: 500 }} rejected: {error:?} ({error}); nothing stored");
        }
        Err(other) => return Err(other.into()),
        Ok(_) => return Err("an overdraft was accepted".into()),
    }
    print_events(&accounts.execute(id, account::Deposit { amount: 5 }).await?);

    let account = accounts.load(id).await?;
    println!(
        "balance of {id}: {} (version {})",
        account.state.balance, account.version
    );

    let report = accounts.store().verify_chain(id).await?;
    let verdict = if report.is_valid() {
        "intact"
    } else {
        "BROKEN"
    };
    println!("chain of {} events verified: {verdict}", report.events);
    Ok(())
}

/// One line per stored event: version, type, CID, and the CID of the event before it.
fn print_events(outcome: &CommandOutcome<Account>) {
    for event in outcome.metadata() {
        let prev = event.previous_cid.map_or("-".to_owned(), |c| c.to_string());
        println!(
            "v{} {:<9} {} prev={prev}",
            event.version, event.event_type, event.cid
        );
    }
}

#[cfg(test)]
mod tests {
    /// The stored shapes of the account's events are locked in `quickstart.schema.lock`:
    /// changing one without bumping its schema fails this test (see
    /// `cim-events/docs/evolving-events.md`).
    #[test]
    fn schema_lock() {
        cim_events::assert_schema_lock!(super::AccountEvent; path: "quickstart.schema.lock");
    }
}
