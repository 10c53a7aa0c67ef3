//! [`ProcessThen`]: the *then* half of a [`ProcessTest`]: the checks.

use std::fmt::{self, Debug};
use std::time::SystemTime;

use crate::process::{Outgoing, Process, Wakeup};

use super::super::diff;
use super::{Outcome, ProcessTest, Refusal};

/// The *then* half of a [`ProcessTest`]: what the trigger (or the timers an
/// [`advance`](ProcessTest::advance) fired) did, ready to be checked. Every `then_*`
/// method returns the outcome again, so checks chain.
pub struct ProcessThen<P: Process> {
    /// "on `Received` of Payment(pay-1)", "after advance(1800s)".
    pub(super) step: String,
    /// Why the process does not react to the `when` trigger.
    pub(super) ignored: Option<String>,
    pub(super) commands: Vec<Outgoing>,
    pub(super) records: Vec<P::Event>,
    /// The steps that did nothing, each named.
    pub(super) refused: Vec<(String, Refusal<P::Error>)>,
    pub(super) test: ProcessTest<P>,
}

impl<P: Process> ProcessThen<P> {
    pub(super) fn new(step: String, test: ProcessTest<P>) -> Self {
        ProcessThen {
            step,
            ignored: None,
            commands: Vec::new(),
            records: Vec::new(),
            refused: Vec::new(),
            test,
        }
    }

    pub(super) fn add(&mut self, name: String, outcome: Outcome<P>) {
        match outcome {
            Outcome::Done { events, commands } => {
                self.records.extend(events);
                self.commands.extend(commands);
            }
            Outcome::Ignored(_) => {}
            Outcome::Refused { refusal, .. } => self.refused.push((name, refusal)),
        }
    }

    /// Asserts that the step sent exactly `expected`, in order (`[]`: none). Build the
    /// expected commands with [`Outgoing::new`].
    ///
    /// # Panics
    ///
    /// With a diff of the commands (as their `Debug` prints them) if they differ; with
    /// the reason if the process did not react, or rejected the trigger or failed.
    #[track_caller]
    pub fn then_commands(self, expected: impl IntoIterator<Item = Outgoing>) -> Self {
        let expected: Vec<Outgoing> = expected.into_iter().collect();
        self.check_decided("then_commands", ("command", "commands"), &expected);
        if let Some(diff) = diff::diff_items("commands", &expected, &self.commands) {
            panic!(
                "then_commands failed for process `{}` {}: expected {}, got {}\n{diff}",
                P::AGGREGATE_TYPE,
                self.step,
                count(expected.len(), "command"),
                self.commands.len(),
            );
        }
        self
    }

    /// Asserts that the step recorded exactly `expected` in the process's own chain, in
    /// order.
    ///
    /// # Panics
    ///
    /// With a diff if the events differ; with the reason if the process did not react,
    /// or rejected the trigger or failed.
    #[track_caller]
    pub fn then_records(self, expected: impl IntoIterator<Item = P::Event>) -> Self
    where
        P::Event: PartialEq + Debug,
    {
        let expected: Vec<P::Event> = expected.into_iter().collect();
        self.check_decided("then_records", ("event", "events"), &expected);
        if let Some(diff) = diff::diff_events(&expected, &self.records) {
            panic!(
                "then_records failed for process `{}` {}: expected {}, got {}\n{diff}",
                P::AGGREGATE_TYPE,
                self.step,
                count(expected.len(), "event"),
                self.records.len(),
            );
        }
        self
    }

    /// Asserts that the process rejected the trigger (after an
    /// [`advance`](ProcessTest::advance): the first timer rejected) with an error
    /// `accept` returns `true` for, e.g. `|e| matches!(e, CheckoutError::NotPlaced)`.
    ///
    /// # Panics
    ///
    /// Listing what the step did if nothing was rejected, or showing the error if
    /// `accept` refuses it.
    #[track_caller]
    pub fn then_rejected(self, accept: impl FnOnce(&P::Error) -> bool) -> Self
    where
        P::Event: Debug,
    {
        let failed = |problem: String| -> ! {
            panic!(
                "then_rejected failed for process `{}` {}: {problem}",
                P::AGGREGATE_TYPE,
                self.step
            )
        };
        match (self.refused.first(), &self.ignored) {
            (Some((name, Refusal::Rejected(error))), _) => {
                if !accept(error) {
                    failed(format!(
                        "{name} was rejected, but the predicate does not accept the error:\n{error:#?}"
                    ))
                }
            }
            (Some((name, Refusal::Failed(error))), _) => {
                failed(format!("{name} failed, it was not rejected: {error}"))
            }
            (None, Some(reason)) => failed(format!(
                "expected a rejection, but the process does not react to the trigger: {reason}"
            )),
            (None, None) => failed(format!(
                "expected a rejection, but the step was carried out: it sent {}:\n{}and recorded {}:\n{}",
                count(self.commands.len(), "command"),
                diff::list_items("commands", &self.commands),
                count(self.records.len(), "event"),
                diff::list_events(&self.records),
            )),
        }
        self
    }

    /// Asserts that the process does not react to the trigger: its
    /// [`selector`](Process::selector) does not select it, or its
    /// [`instance`](Process::instance) names none.
    ///
    /// # Panics
    ///
    /// If the process reacted.
    #[track_caller]
    pub fn then_ignored(self) -> Self {
        if self.ignored.is_none() {
            panic!(
                "then_ignored failed for process `{}` {}: the process reacts to it (instance `{}`), sending {}",
                P::AGGREGATE_TYPE,
                self.step,
                self.test.last.as_deref().unwrap_or("?"),
                count(self.commands.len(), "command"),
            );
        }
        self
    }

    /// Runs `check` on the state of the instance the step concerned (after an
    /// [`advance`](ProcessTest::advance): the instance of the last timer fired, or of the
    /// last trigger if none fired), e.g. `|checkout| assert!(checkout.paid)`.
    ///
    /// # Panics
    ///
    /// If no step of the test concerned an instance.
    #[track_caller]
    pub fn then_state(self, check: impl FnOnce(&P)) -> Self {
        match self.state() {
            Some(state) => check(state),
            None => panic!(
                "then_state failed for process `{}` {}: no step concerned an instance",
                P::AGGREGATE_TYPE,
                self.step
            ),
        }
        self
    }

    /// The commands the step sent.
    pub fn commands(&self) -> &[Outgoing] {
        &self.commands
    }

    /// The events the step recorded.
    pub fn records(&self) -> &[P::Event] {
        &self.records
    }

    /// The instance the step concerned (see [`then_state`](ProcessThen::then_state)).
    pub fn instance(&self) -> Option<&str> {
        self.test.last.as_deref()
    }

    /// The state of that instance.
    pub fn state(&self) -> Option<&P> {
        self.test.instances.get(self.instance()?)
    }

    /// The timers still pending after the step, in due order.
    pub fn timers(&self) -> &[Wakeup] {
        &self.test.timers
    }

    /// The clock after the step.
    pub fn now(&self) -> SystemTime {
        self.test.clock
    }

    /// Panics if the step decided nothing: the process did not react, or refused.
    #[track_caller]
    fn check_decided<T: Debug>(&self, check: &str, (noun, label): (&str, &str), expected: &[T]) {
        let problem = match (&self.ignored, self.refused.first()) {
            (Some(reason), _) => format!("the process does not react to the trigger: {reason}"),
            (None, Some((name, refusal))) => format!("{name} {refusal}"),
            (None, None) => return,
        };
        panic!(
            "{check} failed for process `{}` {}: expected {}, but {problem}\n\nexpected:\n{}",
            P::AGGREGATE_TYPE,
            self.step,
            count(expected.len(), noun),
            diff::list_items(label, expected),
        )
    }
}

impl<P: Process + Debug> Debug for ProcessThen<P>
where
    P::Event: Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessThen")
            .field("step", &self.step)
            .field("commands", &self.commands)
            .field("records", &self.records)
            .field("test", &self.test)
            .finish_non_exhaustive()
    }
}

/// "1 command", "2 commands".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
