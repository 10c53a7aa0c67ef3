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
//!     fn aggregate_type(&self) -> &str { "Account" }
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
//!
//! Had the handler withdrawn 4 where the test expects 5, the test would fail with:
//!
//! ```text
//! then_expect_events failed for aggregate `acc-1`: expected 1 event, got 1
//! first difference at events[0]; `-` expected, `+` actual
//!
//! -> events[0] differs:
//!      Withdrawn {
//!          account_id: "acc-1",
//!    -     amount: 5,
//!    +     amount: 4,
//!      }
//! ```
//!
//! [`given_stored`](AggregateTest::given_stored) takes past events as older code stored
//! them, so a test can check that history still reads through the upcasts.
//!
//! The harness also fails a test whose events no store would take as this aggregate's:
//! another aggregate id, an aggregate type other than `A::AGGREGATE_TYPE`, an invalid
//! subject token, or a payload IPLD cannot hold.

mod diff;
mod process;

use std::fmt::Debug;

use crate::aggregate::{Aggregate, CommandContext, Handle};
use crate::event::Event;
use crate::header::EventHeader;
use crate::seal::prepare;

pub use process::{ProcessTest, ProcessThen, Trigger};

/// `event`'s payload as a store would hand it back: converted to IPLD, encoded as
/// DAG-CBOR and decoded again.
fn stored_round_trip<E: Event>(event: &E) -> Result<ipld_core::ipld::Ipld, String> {
    let payload = event.to_payload().map_err(|e| e.to_string())?;
    let bytes = serde_ipld_dagcbor::to_vec(&payload).map_err(|e| e.to_string())?;
    serde_ipld_dagcbor::from_slice(&bytes).map_err(|e| e.to_string())
}

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
    /// Whether a store would accept the events, and why not.
    storable: Result<(), String>,
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
            if let Some(found) = event.carried_id().filter(|id| *id != self.aggregate_id) {
                panic!(
                    "given events[{}] belongs to aggregate `{found}`, but the test is for `{}`",
                    self.version, self.aggregate_id
                );
            }
            self.state.apply(&event);
            self.version += 1;
        }
        self
    }

    /// Past events as an older version of the code stored them: each `old` event is
    /// stored the way a store would (its payload, event type and schema version, through
    /// a DAG-CBOR round trip), then read back as `A::Event` — upcasts, aliases and all —
    /// and applied. Keep the old shapes as their own types in the test (for example a
    /// `mod v1` with the event enum as it was), so the test exercises the upcasts that
    /// production reads will run.
    ///
    /// ```
    /// # use cim_events::{Event, aggregate, testing::AggregateTest};
    /// # use serde::{Deserialize, Serialize};
    /// mod v1 {
    ///     # use serde::{Deserialize, Serialize};
    ///     #[derive(cim_events::Event, Serialize, Deserialize)]
    ///     #[event(aggregate = "Counter")]
    ///     pub enum CounterEvent {
    ///         Added { #[event(id)] id: String, n: u32 },
    ///     }
    /// }
    /// #[derive(Serialize, Deserialize)]
    /// struct AddedV1 { id: String, n: u32 }
    /// impl From<AddedV1> for CounterEvent {
    ///     fn from(old: AddedV1) -> Self {
    ///         CounterEvent::Added { id: old.id, n: u64::from(old.n), note: None }
    ///     }
    /// }
    /// #[derive(Event, Serialize, Deserialize, Debug, PartialEq)]
    /// #[event(aggregate = "Counter")]
    /// enum CounterEvent {
    ///     #[event(schema = 2, from(1 = AddedV1))]
    ///     Added { #[event(id)] id: String, n: u64, note: Option<String> },
    /// }
    /// #[derive(Default)]
    /// struct Counter { total: u64 }
    /// #[aggregate(events = CounterEvent)]
    /// impl Counter {
    ///     #[apply(Added)]
    ///     fn added(&mut self, n: &u64) { self.total += n; }
    /// }
    /// let test = AggregateTest::<Counter>::new("c-1")
    ///     .given_stored([v1::CounterEvent::Added { id: "c-1".into(), n: 2 }]);
    /// # let _ = test;
    /// ```
    ///
    /// # Panics
    ///
    /// If an event belongs to another aggregate, or does not read back as `A::Event`: the
    /// message names the event, its schema and the decode error.
    #[track_caller]
    pub fn given_stored<E: Event>(mut self, old: impl IntoIterator<Item = E>) -> Self {
        for event in old {
            let index = self.version;
            if let Some(found) = event.carried_id().filter(|id| *id != self.aggregate_id) {
                panic!(
                    "given_stored events[{index}] belongs to aggregate `{found}`, but the test is for `{}`",
                    self.aggregate_id
                );
            }
            let (event_type, schema) = (event.event_type().to_owned(), event.schema_version());
            let read = stored_round_trip(&event).and_then(|payload| {
                A::Event::from_payload(&event_type, schema, payload).map_err(|e| e.to_string())
            });
            match read {
                Ok(current) => {
                    self.state.apply(&current);
                    self.version += 1;
                }
                Err(error) => panic!(
                    "given_stored events[{index}] (`{event_type}`, schema {schema}) does not read back as the current event type: {error}"
                ),
            }
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
                storable::<A>(&self.aggregate_id, events, &self.header)
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
    /// would accept them as this aggregate's events: the right aggregate id, the aggregate
    /// type `A::AGGREGATE_TYPE`, valid subject tokens, payloads IPLD can hold.
    ///
    /// # Panics
    ///
    /// With a diff if the events differ, or with the reason if the command was rejected
    /// or the events cannot be stored as this aggregate's.
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
                        "then_expect_events failed for aggregate `{}`: the events are as expected, but they cannot be stored as this aggregate's events: {error}",
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

/// Checks the events as the repository's append would, and that they name the aggregate
/// type the aggregate does: a mismatch is no store error, but it files the events under
/// another type than the aggregate's snapshots and subscriptions expect.
fn storable<A: Aggregate>(
    aggregate_id: &str,
    events: &[A::Event],
    header: &EventHeader,
) -> Result<(), String> {
    if let Some(event) = events
        .iter()
        .find(|e| e.aggregate_type() != A::AGGREGATE_TYPE)
    {
        return Err(format!(
            "event `{}` reports aggregate type `{}`, but the aggregate's AGGREGATE_TYPE is `{}`",
            event.event_type(),
            event.aggregate_type(),
            A::AGGREGATE_TYPE
        ));
    }
    prepare(aggregate_id, events, header)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl<A: Aggregate + Debug> Debug for AggregateTest<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateTest")
            .field("aggregate_id", &self.aggregate_id)
            .field("version", &self.version)
            .field("state", &self.state)
            .field("header", &self.header)
            .finish()
    }
}

impl<A> Debug for Then<A>
where
    A: Aggregate + Debug,
    A::Event: Debug,
    A::Error: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Then")
            .field("aggregate_id", &self.aggregate_id)
            .field("result", &self.result)
            .field("state", &self.state)
            .finish_non_exhaustive()
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
