//! Given/when/then tests for [`Process`]es, without a store, on a virtual clock.
//!
//! [`ProcessTest`] seals each [`Trigger`] as a store would, hands it to the process, and
//! keeps what a [`ProcessManager`](crate::process::ProcessManager) would keep: each
//! instance's state (its recorded events, applied) and its timers. Timers fire only when
//! the test moves the clock.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::head::Head;
use crate::header::EventHeader;
use crate::process::{Outgoing, Process, Reaction, Wakeup};
use crate::record::{RawRecord, RecordedEvent};
use crate::seal::seal;
use crate::subject::{DEFAULT_PREFIX, TokenKind, validate_token};

use super::storable;

mod then;
mod trigger;

pub use then::ProcessThen;
pub use trigger::Trigger;

/// Where a test's clock starts, in seconds since the Unix epoch: 2026-01-01T00:00:00Z.
const START_SECS: u64 = 1_767_225_600;
/// The correlation of a test's triggers, unless it sets one.
const CORRELATION: &str = "process-test";
/// The most timers one move of the clock fires: more means a wake that sets its own
/// timer again with no delay.
const MAX_WAKES: usize = 10_000;

/// A given/when/then test of process `P`: the *given* half.
///
/// *Given* these triggers (each reacted to in turn: its recorded events applied to the
/// instance's state, its timers set), *when* this trigger arrives — or *advance* the
/// clock, firing the timers that come due — *then* expect these commands, these recorded
/// events, or this rejection. On a mismatch it panics with a readable diff, as
/// [`AggregateTest`](super::AggregateTest) does.
///
/// Every trigger of a test shares one correlation (`"process-test"` unless
/// [`correlation`](ProcessTest::correlation) says otherwise), so the default
/// [`Process::instance`] sends them all to one instance. The clock starts at
/// 2026-01-01T00:00:00Z and moves only when the test says: a trigger happens at the
/// clock's time, and [`advance`](ProcessTest::advance) fires, in due order, every timer
/// due by the time it reaches — including timers that the wakes it fires set.
///
/// ```
/// use std::time::Duration;
/// use cim_events::process::{Outgoing, Process, Reaction, Wakeup};
/// use cim_events::testing::{ProcessTest, Trigger};
/// use cim_events::{aggregate, Event, EventSelector, RecordedEvent};
/// use serde::{Deserialize, Serialize};
/// # use std::convert::Infallible;
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(aggregate = "Order")]
/// enum OrderEvent { Placed, Confirmed, Cancelled }
///
/// #[derive(Default)]
/// struct Order;
/// #[aggregate(events = OrderEvent, error = Infallible)]
/// impl Order {
///     #[command]
///     fn confirm(&self) -> Result<OrderEvent, Infallible> { Ok(OrderEvent::Confirmed) }
///     #[command]
///     fn cancel(&self) -> Result<OrderEvent, Infallible> { Ok(OrderEvent::Cancelled) }
///     # #[apply(Placed)] fn placed(&mut self) {}
///     # #[apply(Confirmed)] fn confirmed(&mut self) {}
///     # #[apply(Cancelled)] fn cancelled(&mut self) {}
/// }
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(aggregate = "Payment")]
/// enum PaymentEvent { Received { amount: u64 } }
///
/// /// Confirms an order once it is paid; cancels it if no payment comes within 30 minutes.
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// #[event(aggregate = "Checkout")]
/// enum CheckoutEvent { Started { order: String }, Paid }
///
/// #[derive(Default)]
/// struct Checkout { order: Option<String>, paid: bool }
/// #[aggregate(events = CheckoutEvent, error = Infallible)]
/// impl Checkout {
///     #[apply(Started)]
///     fn started(&mut self, order: &str) { self.order = Some(order.to_owned()) }
///     #[apply(Paid)]
///     fn paid(&mut self) { self.paid = true }
/// }
///
/// impl Process for Checkout {
///     fn selector() -> EventSelector {
///         OrderEvent::selector_placed().or(PaymentEvent::selector())
///     }
///     fn react(&self, trigger: &RecordedEvent, out: &mut Reaction<Self>) -> Result<(), Infallible> {
///         if OrderEvent::selector_placed().matches(trigger) {
///             out.record(CheckoutEvent::Started { order: trigger.aggregate_id().to_owned() });
///             out.schedule("payment-timeout", Duration::from_secs(30 * 60));
///         } else if let (Some(id), false) = (&self.order, self.paid) {
///             out.record(CheckoutEvent::Paid);
///             out.cancel("payment-timeout");
///             out.send::<Order, _>(id.clone(), order::Confirm);
///         }
///         Ok(())
///     }
///     fn wake(&self, _timeout: &Wakeup, out: &mut Reaction<Self>) -> Result<(), Infallible> {
///         if let (Some(id), false) = (&self.order, self.paid) {
///             out.send::<Order, _>(id.clone(), order::Cancel);
///         }
///         Ok(())
///     }
/// }
///
/// let placed = || Trigger::new("o-1", OrderEvent::Placed);
/// let received = || Trigger::new("pay-1", PaymentEvent::Received { amount: 42 });
///
/// // Paid in time: the order is confirmed.
/// ProcessTest::<Checkout>::new()
///     .given([placed()])
///     .when(received())
///     .then_commands([Outgoing::new::<Order, _>("o-1", order::Confirm)])
///     .then_records([CheckoutEvent::Paid])
///     .then_state(|checkout| assert!(checkout.paid));
///
/// // No payment within 30 minutes: the order is cancelled.
/// ProcessTest::<Checkout>::new()
///     .given([placed()])
///     .advance(Duration::from_secs(30 * 60))
///     .then_commands([Outgoing::new::<Order, _>("o-1", order::Cancel)]);
///
/// // Paid: the timeout was cancelled, and never fires.
/// ProcessTest::<Checkout>::new()
///     .given([placed(), received()])
///     .advance(Duration::from_secs(24 * 60 * 60))
///     .then_commands([]);
/// ```
///
/// Had the process sent `Cancel` where the first test expects `Confirm`, it would fail
/// with:
///
/// ```text
/// then_commands failed for process `Checkout` on `Received` of Payment(pay-1): expected 1 command, got 1
/// first difference at commands[0]; `-` expected, `+` actual
///
/// -> commands[0] differs:
///    - Order(o-1) <- Confirm
///    + Order(o-1) <- Cancel
/// ```
pub struct ProcessTest<P: Process> {
    correlation: String,
    start: SystemTime,
    clock: SystemTime,
    /// Stream sequence of the last trigger sealed.
    sequence: u64,
    /// The head of each trigger aggregate, so its triggers chain.
    heads: BTreeMap<String, Head>,
    instances: BTreeMap<String, P>,
    /// Pending timers, by due time (set order among equal ones).
    timers: Vec<Wakeup>,
    /// How many given triggers so far, to name them in messages.
    given: usize,
    /// The instance the last step concerned.
    last: Option<String>,
}

/// What one step decided, or why it decided nothing.
enum Outcome<P: Process> {
    Done {
        events: Vec<P::Event>,
        commands: Vec<Outgoing>,
    },
    Ignored(String),
    Refused {
        instance: String,
        refusal: Refusal<P::Error>,
    },
}

/// Why a step did nothing: its handler rejected the trigger, or it failed (the handler
/// called [`Reaction::fail`], or its events cannot be recorded).
enum Refusal<E> {
    Rejected(E),
    Failed(String),
}

impl<E: Debug> fmt::Display for Refusal<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Rejected(error) => write!(f, "was rejected:\n{error:#?}"),
            Refusal::Failed(error) => write!(f, "failed: {error}"),
        }
    }
}

impl<P: Process> Default for ProcessTest<P> {
    fn default() -> Self {
        let start = UNIX_EPOCH + Duration::from_secs(START_SECS);
        ProcessTest {
            correlation: CORRELATION.to_owned(),
            start,
            clock: start,
            sequence: 0,
            heads: BTreeMap::new(),
            instances: BTreeMap::new(),
            timers: Vec::new(),
            given: 0,
            last: None,
        }
    }
}

impl<P: Process> ProcessTest<P> {
    /// A test with no past triggers, in correlation `"process-test"`, its clock at
    /// 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self::default()
    }

    /// The correlation of the triggers that follow (default `"process-test"`): with the
    /// default [`Process::instance`], the instance they concern.
    pub fn correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation = id.into();
        self
    }

    /// Starts the clock at `time` instead of 2026-01-01T00:00:00Z. Call it first: it
    /// moves the clock wherever it stands.
    pub fn starting_at(mut self, time: SystemTime) -> Self {
        self.start = time;
        self.clock = time;
        self
    }

    /// Triggers already handled, in order, at the clock's time: each is reacted to, its
    /// recorded events applied to the instance's state, its timers set. May be called
    /// more than once; the triggers add up.
    ///
    /// # Panics
    ///
    /// If a trigger cannot be stored, if the process does not react to it (not selected,
    /// or no instance), or if it rejects it or fails on it: a past trigger must have been
    /// handled.
    #[track_caller]
    pub fn given(mut self, triggers: impl IntoIterator<Item = Trigger>) -> Self {
        for trigger in triggers {
            let step = format!("given[{}] {}", self.given, trigger.label());
            self.given += 1;
            let event = self.seal(&step, trigger);
            let outcome = self.react(&event);
            given_ok(&step, outcome);
        }
        self
    }

    /// Moves the clock `by`, as past history: every timer due by then fires, in due
    /// order, as [`advance`](ProcessTest::advance) fires them.
    ///
    /// # Panics
    ///
    /// If a wake rejects its timer or fails.
    #[track_caller]
    pub fn given_advance(mut self, by: Duration) -> Self {
        let step = format!("given_advance({by:?})");
        for (timer, outcome) in self.fire(by) {
            given_ok(&format!("{step}: {timer}"), outcome);
        }
        self
    }

    /// Hands `trigger` to the process, at the clock's time: the step under test.
    ///
    /// # Panics
    ///
    /// If the trigger cannot be stored (an invalid aggregate id, a payload IPLD cannot
    /// hold).
    #[track_caller]
    pub fn when(mut self, trigger: Trigger) -> ProcessThen<P> {
        let step = format!("on {}", trigger.label());
        let event = self.seal(&format!("when {}", trigger.label()), trigger);
        let mut then = ProcessThen::new(step, self);
        match then.test.react(&event) {
            Outcome::Ignored(reason) => then.ignored = Some(reason),
            outcome => {
                let instance = then.test.last.as_deref().unwrap_or_default();
                then.add(format!("the trigger of instance `{instance}`"), outcome);
            }
        }
        then
    }

    /// Moves the clock `by`: the step under test is every timer due by then, fired in
    /// due order through [`Process::wake`], each at its due time — including the timers
    /// those wakes set, if they come due within `by`.
    ///
    /// # Panics
    ///
    /// If the wakes fire more than 10,000 timers: a wake sets its timer again with no
    /// delay.
    #[track_caller]
    pub fn advance(mut self, by: Duration) -> ProcessThen<P> {
        let fired = self.fire(by);
        let mut then = ProcessThen::new(format!("after advance({by:?})"), self);
        for (timer, outcome) in fired {
            then.add(timer, outcome);
        }
        then
    }

    /// Seals `trigger` as a store would, after the earlier triggers of its aggregate.
    #[track_caller]
    fn seal(&mut self, step: &str, trigger: Trigger) -> RecordedEvent {
        match self.sealed(trigger) {
            Ok(event) => event,
            Err(error) => panic!("{step} cannot be stored: {error}"),
        }
    }

    fn sealed(&mut self, trigger: Trigger) -> crate::Result<RecordedEvent> {
        let correlation = trigger
            .correlation
            .unwrap_or_else(|| self.correlation.clone());
        let mut events = (trigger.prepare)(&EventHeader::new(correlation))?;
        let sequence = self.sequence + 1;
        let since_epoch = self.clock.duration_since(UNIX_EPOCH).unwrap_or_default();
        for event in &mut events {
            // Deterministic, so that CIDs (and the ids derived from them) are too.
            let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
            let mut counter = [0u8; 10];
            counter[2..].copy_from_slice(&sequence.to_be_bytes());
            event.id = uuid::Builder::from_unix_timestamp_millis(millis, &counter)
                .into_uuid()
                .to_string();
            event.time = u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX);
        }
        let head = self.heads.get(&trigger.aggregate_id);
        let sealed = seal(DEFAULT_PREFIX, &trigger.aggregate_id, head, &events)?;
        let Some(sealed) = sealed.into_iter().next() else {
            return Err(crate::Error::EmptyAppend);
        };
        self.sequence = sequence;
        self.heads.insert(
            trigger.aggregate_id,
            Head {
                version: sealed.block.seq,
                cid: sealed.cid,
                sequence,
            },
        );
        let headers = sealed
            .headers()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        RecordedEvent::from_raw(RawRecord {
            sequence,
            subject: sealed.subject,
            headers,
            data: sealed.bytes,
        })
    }

    /// The step `event` causes, as [`ProcessManager::react`] carries it out.
    ///
    /// [`ProcessManager::react`]: crate::process::ProcessManager::react
    fn react(&mut self, event: &RecordedEvent) -> Outcome<P> {
        if !P::selector().matches(event) {
            return Outcome::Ignored(format!(
                "the selector of `{}` does not select it",
                P::AGGREGATE_TYPE
            ));
        }
        let Some(instance) = P::instance(event) else {
            return Outcome::Ignored(format!(
                "`{}`'s `instance` names no instance for it",
                P::AGGREGATE_TYPE
            ));
        };
        self.decide(instance, event.time(), |state, reaction| {
            P::react(state, event, reaction)
        })
    }

    /// Runs a handler of `instance` at `now`; if it decides, applies the recorded events
    /// and sets and cancels the timers.
    fn decide(
        &mut self,
        instance: String,
        now: SystemTime,
        handler: impl FnOnce(&P, &mut Reaction<P>) -> Result<(), P::Error>,
    ) -> Outcome<P> {
        self.last = Some(instance.clone());
        let failed = |instance, error: String| Outcome::Refused {
            instance,
            refusal: Refusal::Failed(error),
        };
        if let Err(error) = validate_token(TokenKind::AggregateId, &instance) {
            return failed(instance, error.to_string());
        }
        let state = self.instances.entry(instance.clone()).or_default();
        let mut reaction = Reaction::new(instance.clone(), now);
        if let Err(error) = handler(state, &mut reaction) {
            return Outcome::Refused {
                instance,
                refusal: Refusal::Rejected(error),
            };
        }
        if let Some(error) = reaction.failure {
            return failed(instance, error.to_string());
        }
        let header = EventHeader::new(self.correlation.clone());
        if let Err(error) = storable::<P>(&instance, &reaction.events, &header) {
            return failed(instance, format!("its events cannot be recorded: {error}"));
        }
        reaction.events.iter().for_each(|event| state.apply(event));
        for name in &reaction.cancelled {
            self.timers
                .retain(|timer| !(timer.instance == instance && timer.name == *name));
        }
        for timer in reaction.timers {
            self.set(timer);
        }
        Outcome::Done {
            events: reaction.events,
            commands: reaction.commands,
        }
    }

    /// Sets `timer`, replacing the instance's timer of that name.
    fn set(&mut self, timer: Wakeup) {
        self.timers
            .retain(|t| !(t.instance == timer.instance && t.name == timer.name));
        let at = self.timers.partition_point(|t| t.due <= timer.due);
        self.timers.insert(at, timer);
    }

    /// Moves the clock `by`, firing every timer due by then; each, named, with what its
    /// wake did.
    #[track_caller]
    fn fire(&mut self, by: Duration) -> Vec<(String, Outcome<P>)> {
        let until = self.clock + by;
        let mut fired = Vec::new();
        while self.timers.first().is_some_and(|timer| timer.due <= until) {
            if fired.len() == MAX_WAKES {
                panic!(
                    "advancing the clock fired {MAX_WAKES} timers of `{}` and more are due: does a wake set its timer again with no delay?",
                    P::AGGREGATE_TYPE
                );
            }
            let timer = self.timers.remove(0);
            self.clock = self.clock.max(timer.due);
            let name = format!(
                "timer `{}` of instance `{}` (due at {})",
                timer.name,
                timer.instance,
                self.elapsed(timer.due)
            );
            let outcome = self.decide(timer.instance.clone(), timer.due, |state, reaction| {
                P::wake(state, &timer, reaction)
            });
            fired.push((name, outcome));
        }
        self.clock = self.clock.max(until);
        fired
    }

    /// `time` relative to the start: "+1800s".
    fn elapsed(&self, time: SystemTime) -> String {
        match time.duration_since(self.start) {
            Ok(after) => format!("+{after:?}"),
            Err(before) => format!("-{:?}", before.duration()),
        }
    }
}

/// Checks that a given step was carried out.
#[track_caller]
fn given_ok<P: Process>(step: &str, outcome: Outcome<P>) {
    match outcome {
        Outcome::Done { .. } => {}
        Outcome::Ignored(reason) => panic!(
            "{step} is not reacted to: {reason}; a given trigger must be one the process handles"
        ),
        Outcome::Refused { instance, refusal } => {
            panic!(
                "{step} {refusal}\n(instance `{instance}` of `{}`)",
                P::AGGREGATE_TYPE
            )
        }
    }
}

impl<P: Process + Debug> Debug for ProcessTest<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessTest")
            .field("correlation", &self.correlation)
            .field("clock", &self.clock)
            .field("instances", &self.instances)
            .field("timers", &self.timers)
            .finish_non_exhaustive()
    }
}
