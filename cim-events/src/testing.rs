//! Given/when/then tests for aggregates, without a store.
//!
//! *Given* these past events, *when* this command arrives, *then* expect these events, no
//! event, or this error. [`AggregateTest`] applies the given events to `A::default()`,
//! handles the command with a [`CommandContext`] at the version the given events reach,
//! and compares. On a mismatch it panics with a readable diff — expected and actual events
//! one by one, changed lines marked `-` (expected) and `+` (actual), the first difference
//! marked `->` — pointing at the line of your test.
//!
//! ```
//! use cim_events::testing::AggregateTest;
//! use cim_events::{Aggregate, CommandContext, Event, Handle};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! enum AccountEvent {
//!     Deposited { account_id: String, amount: u64 },
//!     Withdrawn { account_id: String, amount: u64 },
//! }
//! impl Event for AccountEvent {
//!     fn event_type(&self) -> &str {
//!         match self { Self::Deposited { .. } => "Deposited", Self::Withdrawn { .. } => "Withdrawn" }
//!     }
//!     fn aggregate_id(&self) -> &str {
//!         match self { Self::Deposited { account_id, .. } | Self::Withdrawn { account_id, .. } => account_id }
//!     }
//! }
//!
//! #[derive(Debug, PartialEq)]
//! enum BankError { Insufficient { balance: u64 } }
//! impl std::fmt::Display for BankError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
//! }
//! impl std::error::Error for BankError {}
//!
//! #[derive(Debug, Default)]
//! struct Account { balance: u64 }
//! impl Aggregate for Account {
//!     type Event = AccountEvent;
//!     type Error = BankError;
//!     const AGGREGATE_TYPE: &'static str = "Account";
//!     fn apply(&mut self, event: &AccountEvent) {
//!         match event {
//!             AccountEvent::Deposited { amount, .. } => self.balance += amount,
//!             AccountEvent::Withdrawn { amount, .. } => self.balance -= amount,
//!         }
//!     }
//! }
//!
//! struct Withdraw { amount: u64 }
//! impl Handle<Withdraw> for Account {
//!     fn handle(&self, cmd: Withdraw, ctx: &CommandContext<'_>) -> Result<Vec<AccountEvent>, BankError> {
//!         if cmd.amount > self.balance {
//!             return Err(BankError::Insufficient { balance: self.balance });
//!         }
//!         Ok(vec![AccountEvent::Withdrawn { account_id: ctx.aggregate_id.to_owned(), amount: cmd.amount }])
//!     }
//! }
//!
//! let deposited = AccountEvent::Deposited { account_id: "acc-1".into(), amount: 10 };
//!
//! AggregateTest::<Account>::new("acc-1")
//!     .given([deposited.clone()])
//!     .when(Withdraw { amount: 4 })
//!     .then_expect_events([AccountEvent::Withdrawn { account_id: "acc-1".into(), amount: 4 }])
//!     .then_state(|account| assert_eq!(account.balance, 6));
//!
//! AggregateTest::<Account>::new("acc-1")
//!     .given([deposited])
//!     .when(Withdraw { amount: 11 })
//!     .then_expect_error_eq(BankError::Insufficient { balance: 10 });
//! ```

mod diff;

use std::fmt::Debug;

use crate::aggregate::{Aggregate, CommandContext, Handle};
use crate::event::Event;
use crate::header::EventHeader;
use crate::seal::prepare;

/// A given/when/then test of one aggregate: the *given* half. See the
/// [module documentation](self).
pub struct AggregateTest<A: Aggregate> {
    aggregate_id: String,
    header: EventHeader,
    state: A,
    version: u64,
}

/// The *then* half of an [`AggregateTest`]: what the command did, ready to be checked.
/// Every `then_*` method returns the outcome again, so checks chain.
pub struct Then<A: Aggregate> {
    aggregate_id: String,
    /// The state after the command's events (the given state if it was rejected).
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
    /// Whether a store would accept the events, checked as the repository would.
    storable: Result<(), crate::Error>,
}

impl<A: Aggregate> AggregateTest<A> {
    /// A test of the aggregate `aggregate_id`, with no past events and a default header.
    pub fn new(aggregate_id: impl Into<String>) -> Self {
        AggregateTest {
            aggregate_id: aggregate_id.into(),
            header: EventHeader::default(),
            state: A::default(),
            version: 0,
        }
    }

    /// Past events, applied in order. May be called more than once; the events add up.
    ///
    /// # Panics
    ///
    /// If an event belongs to another aggregate: no store would have stored it here.
    #[track_caller]
    pub fn given(mut self, events: impl IntoIterator<Item = A::Event>) -> Self {
        for event in events {
            if event.aggregate_id() != self.aggregate_id {
                panic!(
                    "given event {} belongs to aggregate `{}`, but the test is for `{}`",
                    self.version,
                    event.aggregate_id(),
                    self.aggregate_id
                );
            }
            self.state.apply(&event);
            self.version += 1;
        }
        self
    }

    /// The header the command arrives with, which the handler sees in its
    /// [`CommandContext`] (default: an empty header).
    pub fn with_header(mut self, header: EventHeader) -> Self {
        self.header = header;
        self
    }

    /// Handles `command` against the state the given events built, at their version.
    pub fn when<C>(self, command: C) -> Then<A>
    where
        A: Handle<C>,
    {
        let context = CommandContext {
            aggregate_id: &self.aggregate_id,
            version: self.version,
            header: &self.header,
        };
        let result = self.state.handle(command, &context);
        let mut state = self.state;
        let storable = match &result {
            Ok(events) => {
                events.iter().for_each(|event| state.apply(event));
                prepare(&self.aggregate_id, events, &self.header).map(|_| ())
            }
            Err(_) => Ok(()),
        };
        Then {
            aggregate_id: self.aggregate_id,
            state,
            result,
            storable,
        }
    }
}

impl<A: Aggregate> Then<A> {
    /// Asserts that the command produced exactly `expected`, in order, and that a store
    /// would accept them (right aggregate id, valid subject tokens, payloads IPLD can
    /// hold).
    ///
    /// # Panics
    ///
    /// With a diff if the events differ, or with the error if the command was rejected or
    /// the store would refuse the events.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = A::Event>) -> Self
    where
        A::Event: PartialEq + Debug,
        A::Error: Debug,
    {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match &self.result {
            Err(error) => panic!(
                "then_expect_events failed for aggregate `{}`: expected {}, but the command was rejected:\n{error:#?}\n\nexpected:\n{}",
                self.aggregate_id,
                count(expected.len()),
                diff::list_events(&expected),
            ),
            Ok(actual) => {
                if let Some(diff) = diff::diff_events(&expected, actual) {
                    panic!(
                        "then_expect_events failed for aggregate `{}`: expected {}, got {}\n{diff}",
                        self.aggregate_id,
                        count(expected.len()),
                        actual.len(),
                    );
                }
                if let Err(error) = &self.storable {
                    panic!(
                        "then_expect_events failed for aggregate `{}`: the events are as expected, but a store would refuse them: {error}",
                        self.aggregate_id,
                    );
                }
            }
        }
        self
    }

    /// Asserts that the command was accepted and produced no event.
    ///
    /// # Panics
    ///
    /// Listing the events if there are any, or with the error if the command was rejected.
    #[track_caller]
    pub fn then_expect_no_events(self) -> Self
    where
        A::Event: Debug,
        A::Error: Debug,
    {
        match &self.result {
            Ok(events) if events.is_empty() => {}
            Ok(events) => panic!(
                "then_expect_no_events failed for aggregate `{}`: the command produced {}:\n{}",
                self.aggregate_id,
                count(events.len()),
                diff::list_events(events),
            ),
            Err(error) => panic!(
                "then_expect_no_events failed for aggregate `{}`: the command was rejected:\n{error:#?}",
                self.aggregate_id,
            ),
        }
        self
    }

    /// Asserts that the command was rejected with an error `accept` returns `true` for,
    /// e.g. `|e| matches!(e, BankError::Insufficient { .. })`.
    ///
    /// # Panics
    ///
    /// Listing the events if the command was accepted, or showing the error if `accept`
    /// refuses it.
    #[track_caller]
    pub fn then_expect_error(self, accept: impl FnOnce(&A::Error) -> bool) -> Self
    where
        A::Event: Debug,
        A::Error: Debug,
    {
        match &self.result {
            Ok(events) => self.panic_accepted("then_expect_error", events),
            Err(error) if !accept(error) => panic!(
                "then_expect_error failed for aggregate `{}`: the command was rejected, but the predicate does not accept the error:\n{error:#?}",
                self.aggregate_id,
            ),
            Err(_) => {}
        }
        self
    }

    /// Asserts that the command was rejected with exactly `expected`.
    ///
    /// # Panics
    ///
    /// With a line diff of the two errors, or listing the events if the command was
    /// accepted.
    #[track_caller]
    pub fn then_expect_error_eq(self, expected: A::Error) -> Self
    where
        A::Event: Debug,
        A::Error: PartialEq + Debug,
    {
        match &self.result {
            Ok(events) => self.panic_accepted("then_expect_error_eq", events),
            Err(actual) if *actual != expected => panic!(
                "then_expect_error_eq failed for aggregate `{}`: the command was rejected with another error; `-` expected, `+` actual\n\n{}",
                self.aggregate_id,
                diff::diff_lines(&format!("{expected:#?}"), &format!("{actual:#?}")),
            ),
            Err(_) => {}
        }
        self
    }

    /// Runs `check` on the state after the command's events (the given state if the
    /// command was rejected), e.g. `|account| assert_eq!(account.balance, 6)`.
    #[track_caller]
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self {
        check(&self.state);
        self
    }

    /// The events the command produced, or the error it was rejected with.
    pub fn result(&self) -> Result<&[A::Event], &A::Error> {
        self.result.as_deref()
    }

    /// The state after the command's events (the given state if it was rejected).
    pub fn state(&self) -> &A {
        &self.state
    }

    /// The state, consuming the outcome.
    pub fn into_state(self) -> A {
        self.state
    }

    #[track_caller]
    fn panic_accepted(&self, check: &str, events: &[A::Event]) -> !
    where
        A::Event: Debug,
    {
        panic!(
            "{check} failed for aggregate `{}`: expected the command to be rejected, but it was accepted with {}:\n{}",
            self.aggregate_id,
            count(events.len()),
            diff::list_events(events),
        )
    }
}

/// "1 event", "2 events".
fn count(n: usize) -> String {
    if n == 1 {
        "1 event".to_owned()
    } else {
        format!("{n} events")
    }
}
