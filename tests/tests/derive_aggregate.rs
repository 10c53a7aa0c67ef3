//! Runtime behaviour of the code `#[aggregate]` writes: apply dispatch to every kind of
//! `#[apply]`, command dispatch for every return shape, the context parameter, and the
//! aggregate type.

use cim_events::{Aggregate, CommandContext, Event, EventHeader, Handle, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account")]
struct Closed {
    #[event(id)]
    account_id: String,
    reason: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
        owner: String,
    },
    #[event(name = "MoneyDeposited")]
    Deposited {
        #[event(id)]
        account_id: String,
        amount: u64,
    },
    Withdrawn {
        #[event(id)]
        account_id: String,
        amount: u64,
    },
    Closed(Closed),
}

#[derive(Debug, PartialEq)]
enum BankError {
    AlreadyOpen,
    InsufficientFunds { balance: u64, amount: u64 },
}

impl std::fmt::Display for BankError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BankError::AlreadyOpen => f.write_str("the account is already open"),
            BankError::InsufficientFunds { balance, amount } => {
                write!(f, "insufficient funds: {balance} < {amount}")
            }
        }
    }
}

impl std::error::Error for BankError {}

struct Open {
    owner: String,
}
struct Deposit(u64);
struct Withdraw(u64);
struct Close {
    reason: String,
}
struct Touch;

#[derive(Default, Debug)]
struct Account {
    open: bool,
    owner: String,
    balance: u64,
    closed_because: Option<String>,
    applied: u32,
}

#[aggregate(events = AccountEvent, error = BankError)]
impl Account {
    /// A command returning one event; uses the context for the id.
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

    /// A command returning several events.
    #[command]
    fn deposit(
        &self,
        Deposit(amount): Deposit,
        ctx: &CommandContext<'_>,
    ) -> Result<Vec<AccountEvent>, BankError> {
        let half = amount / 2;
        Ok(vec![
            AccountEvent::Deposited {
                account_id: ctx.aggregate_id.into(),
                amount: half,
            },
            AccountEvent::Deposited {
                account_id: ctx.aggregate_id.into(),
                amount: amount - half,
            },
        ])
    }

    /// A command returning maybe one event.
    #[command]
    fn withdraw(
        &self,
        Withdraw(amount): Withdraw,
        ctx: &CommandContext<'_>,
    ) -> Result<Option<AccountEvent>, BankError> {
        if amount == 0 {
            return Ok(None);
        }
        if amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                amount,
            });
        }
        Ok(Some(AccountEvent::Withdrawn {
            account_id: ctx.aggregate_id.into(),
            amount,
        }))
    }

    /// A command without the context parameter.
    #[command]
    fn close(&self, command: Close) -> Result<AccountEvent, BankError> {
        Ok(AccountEvent::Closed(Closed {
            account_id: "acc-1".into(),
            reason: command.reason,
        }))
    }

    /// A command that decides nothing.
    #[command]
    fn touch(&self, _: Touch) -> Result<Vec<AccountEvent>, BankError> {
        Ok(Vec::new())
    }

    #[apply(Opened)]
    fn opened(&mut self, owner: &str) {
        self.open = true;
        self.owner = owner.to_owned();
        self.applied += 1;
    }

    #[apply(Deposited)]
    fn deposited(&mut self, amount: &u64, account_id: &str) {
        assert!(!account_id.is_empty());
        self.balance += amount;
        self.applied += 1;
    }

    #[apply(Withdrawn)]
    fn withdrawn(&mut self, amount: &u64) {
        self.balance -= amount;
        self.applied += 1;
    }

    #[apply]
    fn closed(&mut self, event: &Closed) {
        self.open = false;
        self.closed_because = Some(event.reason.clone());
        self.applied += 1;
    }

    /// Plain methods are left alone.
    fn balance(&self) -> u64 {
        self.balance
    }
}

/// Runs a command as a repository would: handle, then apply what it decided.
fn run<C>(account: &mut Account, command: C) -> Result<Vec<AccountEvent>, BankError>
where
    Account: Handle<C>,
{
    let header = EventHeader::new("corr-1");
    let ctx = CommandContext {
        aggregate_id: "acc-1",
        version: u64::from(account.applied),
        header: &header,
    };
    let events = account.handle(command, &ctx)?;
    for event in &events {
        account.apply(event);
    }
    Ok(events)
}

#[test]
fn aggregate_type_and_associated_types() {
    assert_eq!(Account::AGGREGATE_TYPE, "Account");
    assert_eq!(
        <Account as Aggregate>::AGGREGATE_TYPE,
        AccountEvent::AGGREGATE_TYPE
    );
    fn types<A: Aggregate<Event = AccountEvent, Error = BankError>>() {}
    types::<Account>();
}

#[test]
fn commands_decide_and_applies_change_state() {
    let mut account = Account::default();
    let opened = run(
        &mut account,
        Open {
            owner: "Alice".into(),
        },
    )
    .unwrap();
    assert_eq!(
        opened,
        [AccountEvent::Opened {
            account_id: "acc-1".into(),
            owner: "Alice".into()
        }]
    );
    assert!(account.open);
    assert_eq!(account.owner, "Alice");

    let deposited = run(&mut account, Deposit(101)).unwrap();
    assert_eq!(deposited.len(), 2);
    assert!(deposited.iter().all(|e| e.event_type() == "MoneyDeposited"));
    assert_eq!(account.balance(), 101);

    assert_eq!(run(&mut account, Withdraw(0)).unwrap(), []);
    assert_eq!(run(&mut account, Withdraw(1)).unwrap().len(), 1);
    assert_eq!(account.balance(), 100);
    assert_eq!(run(&mut account, Touch).unwrap(), []);

    run(
        &mut account,
        Close {
            reason: "moved".into(),
        },
    )
    .unwrap();
    assert!(!account.open);
    assert_eq!(account.closed_because.as_deref(), Some("moved"));
    assert_eq!(account.applied, 5);
}

#[test]
fn rejections_come_back_unchanged() {
    let mut account = Account::default();
    run(&mut account, Open { owner: "A".into() }).unwrap();
    assert_eq!(
        run(&mut account, Open { owner: "B".into() }).unwrap_err(),
        BankError::AlreadyOpen
    );
    assert_eq!(
        run(&mut account, Withdraw(5)).unwrap_err(),
        BankError::InsufficientFunds {
            balance: 0,
            amount: 5
        }
    );
    assert_eq!(account.applied, 1);
}

#[test]
fn replay_rebuilds_the_same_state() {
    let history = [
        AccountEvent::Opened {
            account_id: "acc-1".into(),
            owner: "Alice".into(),
        },
        AccountEvent::Deposited {
            account_id: "acc-1".into(),
            amount: 7,
        },
        AccountEvent::Closed(Closed {
            account_id: "acc-1".into(),
            reason: "done".into(),
        }),
    ];
    let mut account = Account::default();
    for event in &history {
        account.apply(event);
    }
    assert_eq!(
        (account.balance, account.applied, account.open),
        (7, 3, false)
    );
}

/// An aggregate whose events are one struct, and which never rejects a command.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Counter")]
struct Counted {
    #[event(id)]
    counter_id: String,
    by: u32,
}

struct Count(u32);

#[derive(Default)]
struct Counter {
    total: u32,
}

#[aggregate(events = Counted)]
// A command must return `Result` even when it never rejects; the macro allows the
// pedantic lint that would blame the user for it.
#[deny(clippy::unnecessary_wraps)]
impl Counter {
    #[command]
    fn count(&self, Count(by): Count) -> Result<Counted, std::convert::Infallible> {
        Ok(Counted {
            counter_id: "c-1".into(),
            by,
        })
    }

    #[apply]
    fn counted(&mut self, event: &Counted) {
        self.total += event.by;
    }
}

#[test]
fn struct_events_and_infallible_aggregates() {
    let mut counter = Counter::default();
    let header = EventHeader::default();
    let ctx = CommandContext {
        aggregate_id: "c-1",
        version: 0,
        header: &header,
    };
    for event in counter.handle(Count(3), &ctx).unwrap() {
        counter.apply(&event);
    }
    assert_eq!(counter.total, 3);
    assert_eq!(Counter::AGGREGATE_TYPE, "Counter");
}

/// An aggregate with one `#[apply]` taking the whole event enum: it matches itself.
#[derive(Default)]
struct Audit {
    lines: Vec<String>,
}

#[aggregate(events = AccountEvent, name = "Account")]
impl Audit {
    #[apply]
    fn any(&mut self, event: &AccountEvent) {
        let line = match event {
            AccountEvent::Opened { owner, .. } => format!("opened by {owner}"),
            AccountEvent::Deposited { amount, .. } => format!("+{amount}"),
            AccountEvent::Withdrawn { amount, .. } => format!("-{amount}"),
            AccountEvent::Closed(closed) => format!("closed: {}", closed.reason),
        };
        self.lines.push(line);
    }
}

#[test]
fn one_apply_may_take_the_whole_enum() {
    let mut audit = Audit::default();
    audit.apply(&AccountEvent::Deposited {
        account_id: "acc-1".into(),
        amount: 3,
    });
    audit.apply(&AccountEvent::Closed(Closed {
        account_id: "acc-1".into(),
        reason: "done".into(),
    }));
    assert_eq!(audit.lines, ["+3", "closed: done"]);
    assert_eq!(Audit::AGGREGATE_TYPE, "Account");
}
