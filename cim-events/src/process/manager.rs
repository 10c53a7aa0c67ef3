//! [`ProcessManager`]: carries out one step of a process — decide, record, send, set
//! timers — so that a step carried out again (after a crash, by a second worker) has each
//! effect once.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::aggregate::{CommandContext, Handle};
use crate::command_id::CommandId;
use crate::dyn_store::DynEventStore;
use crate::error::Error;
use crate::header::EventHeader;
use crate::metadata::EventMetadata;
use crate::record::RecordedEvent;
use crate::repository::{CommandError, Repository};
use crate::store::EventStore;
use crate::subject::{TokenKind, validate_token};
use crate::timer::{FiredTimer, Timer, Timers};

use super::Process;
use super::error::{DispatchError, ProcessError};
use super::reaction::{Delivered, Outgoing, Reaction, Wakeup};

/// Carries out the steps of process `P` on store `S`: each trigger (an event the process
/// selects, or one of its timers) is one step.
///
/// 1. **Decide and record.** The instance's state is loaded (it is an aggregate: its
///    events are the process's decisions, CID-chained), the handler reacts, and the events
///    it records are appended with a [`CommandId`] derived from the trigger. Two workers
///    racing on one instance are serialised by the chain's concurrency check; the loser
///    decides again on the new state.
/// 2. **Send.** Only then are the commands sent, in order, each with a command id derived
///    from the step's: a command sent again is not applied twice. A rejection is final and
///    reported; any other failure fails the step, to be carried out again.
/// 3. **Timers** are set and cancelled through [`Timers`], the instance as the timer's
///    owner: give each process type its own timers (on JetStream, its own timer stream).
///
/// Carried out again (the trigger redelivered after a crash), a recorded step is found in
/// the chain by its command id: the handler decides again on the state *before* it —
/// handlers decide from state and trigger only, so the decision is the same — and the
/// commands and timers are carried out again, each at most once.
pub struct ProcessManager<P: Process, S> {
    repository: Repository<P, S>,
    commands: DynEventStore,
    timers: Option<Arc<dyn Timers>>,
}

/// The `meta` key under which the events a timer's step records name the timer.
pub const TIMER_META_KEY: &str = "cim.timer";

/// What one step did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepReport {
    /// The instance the trigger concerned; `None` when it is not for this process.
    pub instance: Option<String>,
    /// The events the step recorded in the instance's chain.
    pub recorded: Vec<EventMetadata>,
    /// Whether the step had been recorded before (the trigger came again): it was decided
    /// again on the state before it, and nothing new was recorded.
    pub repeated: bool,
    /// The commands sent, with what became of each.
    pub sent: Vec<(Outgoing, Result<Delivered, DispatchError>)>,
    /// The timers set.
    pub timers: Vec<Wakeup>,
    /// The timers cancelled.
    pub cancelled: Vec<String>,
    /// The process's own rejection of the trigger, if it rejected it: nothing was done.
    pub rejected: Option<String>,
}

impl StepReport {
    fn skipped() -> Self {
        StepReport {
            instance: None,
            recorded: Vec::new(),
            repeated: false,
            sent: Vec::new(),
            timers: Vec::new(),
            cancelled: Vec::new(),
            rejected: None,
        }
    }
}

/// What triggered a step.
#[derive(Clone)]
enum Cause {
    Event(Arc<RecordedEvent>),
    Timer(Wakeup),
}

/// The "command" a step runs on the instance: the trigger, and where the handler leaves
/// the rest of its reaction (commands, timers) for the manager.
pub(crate) struct Trigger<P: Process> {
    cause: Cause,
    now: SystemTime,
    reaction: Arc<Mutex<Option<Reaction<P>>>>,
}

impl<P: Process> Clone for Trigger<P> {
    fn clone(&self) -> Self {
        Trigger {
            cause: self.cause.clone(),
            now: self.now,
            reaction: self.reaction.clone(),
        }
    }
}

impl<P: Process> Trigger<P> {
    /// Runs the handler on `state`; the recorded events, and the reaction kept aside.
    fn decide(&self, state: &P, instance: &str) -> Result<Reaction<P>, P::Error> {
        let mut reaction = Reaction::new(instance, self.now);
        match &self.cause {
            Cause::Event(event) => state.react(event, &mut reaction)?,
            Cause::Timer(timer) => state.wake(timer, &mut reaction)?,
        }
        Ok(reaction)
    }
}

impl<P: Process> Handle<Trigger<P>> for P {
    fn handle(
        &self,
        trigger: Trigger<P>,
        ctx: &CommandContext<'_>,
    ) -> Result<Vec<P::Event>, P::Error> {
        let mut reaction = trigger.decide(self, ctx.aggregate_id)?;
        // A trigger that cannot be read records nothing.
        let events = match reaction.failure {
            Some(_) => Vec::new(),
            None => std::mem::take(&mut reaction.events),
        };
        *trigger
            .reaction
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reaction);
        Ok(events)
    }
}

impl<P: Process, S: EventStore + Clone + 'static> ProcessManager<P, S> {
    /// The steps of `P` on `store`: the instances' chains and the commands' targets.
    pub fn new(store: S) -> Self {
        ProcessManager {
            commands: DynEventStore::new(store.clone()),
            repository: Repository::new(store),
            timers: None,
        }
    }

    /// Sets and cancels the process's timers through `timers` (without, a step that sets
    /// a timer fails). The timers are this process type's alone: each timer's owner is an
    /// instance id.
    pub fn timers(mut self, timers: Arc<dyn Timers>) -> Self {
        self.timers = Some(timers);
        self
    }

    /// The process's timers, if it has some: where its drivers read the timers that came
    /// due.
    pub fn timer_source(&self) -> Option<&Arc<dyn Timers>> {
        self.timers.as_ref()
    }

    /// How many times a step that lost a race on its instance is decided again.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.repository = self.repository.max_retries(retries);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        self.repository.store()
    }

    /// Carries out the step `trigger` causes, if it is an event the process selects and
    /// names an instance of; otherwise does nothing (`instance: None`).
    pub async fn react(&self, trigger: &RecordedEvent) -> Result<StepReport, ProcessError> {
        if !P::selector().matches(trigger) {
            return Ok(StepReport::skipped());
        }
        let Some(instance) = P::instance(trigger) else {
            return Ok(StepReport::skipped());
        };
        let step = CommandId::caused_by(trigger, P::AGGREGATE_TYPE);
        let header = EventHeader::caused_by(trigger).with_command_id(step.clone());
        let cause = Cause::Event(Arc::new(trigger.clone()));
        self.step(&instance, cause, trigger.time(), step, header)
            .await
    }

    /// Carries out the step of a fired timer of this process and acknowledges it.
    pub async fn fired(&self, fired: FiredTimer) -> Result<StepReport, ProcessError> {
        let wakeup = Wakeup {
            instance: fired.owner.clone(),
            name: fired.name.clone(),
            due: fired.due,
        };
        let report = self.wake(&wakeup).await?;
        fired.ack().await?;
        Ok(report)
    }

    /// Carries out the step timer `timer` causes.
    pub async fn wake(&self, timer: &Wakeup) -> Result<StepReport, ProcessError> {
        let due = timer
            .due
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let step = CommandId::new_at(
            format!(
                "{}/{}/{}/{due}",
                P::AGGREGATE_TYPE,
                timer.instance,
                timer.name
            ),
            timer.due,
        )?;
        // The wake continues the instance's conversation: caused by its latest decision,
        // the one that set the timer or came after it; the timer's name is in the meta.
        let store = self.repository.store();
        let latest = match store.head(&timer.instance).await? {
            Some(head) => store.load_from(&timer.instance, head.version).await?.pop(),
            None => None,
        };
        let header = match &latest {
            Some(latest) => EventHeader::caused_by(latest),
            None => EventHeader::new(timer.instance.clone()),
        }
        .with_meta(TIMER_META_KEY, timer.name.clone())
        .with_command_id(step.clone());
        self.step(
            &timer.instance,
            Cause::Timer(timer.clone()),
            timer.due,
            step,
            header,
        )
        .await
    }

    async fn step(
        &self,
        instance: &str,
        cause: Cause,
        now: SystemTime,
        step: CommandId,
        header: EventHeader,
    ) -> Result<StepReport, ProcessError> {
        validate_token(TokenKind::AggregateId, instance).map_err(Error::from)?;
        let trigger = Trigger::<P> {
            cause,
            now,
            reaction: Arc::new(Mutex::new(None)),
        };
        let outcome = self
            .repository
            .execute_with(instance, trigger.clone(), header.clone())
            .await;
        let mut report = StepReport {
            instance: Some(instance.to_owned()),
            ..StepReport::skipped()
        };
        let reaction = match outcome {
            Ok(outcome) if outcome.deduplicated => {
                report.repeated = true;
                report.recorded = outcome.metadata().cloned().collect();
                let first = report.recorded.first().map_or(1, |m| m.version);
                let before = self
                    .repository
                    .load_before(instance, first)
                    .await
                    .map_err(|e| self.failed(instance, CommandError::<P::Error>::from(e)))?;
                match trigger.decide(&before.state, instance) {
                    Ok(reaction) => reaction,
                    // It was accepted the first time: deciding differently now means the
                    // handler is not deterministic. Nothing more can be carried out.
                    Err(rejection) => {
                        report.rejected = Some(rejection.to_string());
                        return Ok(report);
                    }
                }
            }
            Ok(outcome) => {
                report.recorded = outcome.metadata().cloned().collect();
                take(&trigger.reaction).unwrap_or_else(|| Reaction::new(instance, now))
            }
            Err(CommandError::Rejected(rejection)) => {
                report.rejected = Some(rejection.to_string());
                return Ok(report);
            }
            Err(error) => return Err(self.failed(instance, error)),
        };
        if let Some(error) = reaction.failure {
            return Err(ProcessError::Store(error));
        }
        // Commands are caused by the step's last recorded event when there is one: the
        // decision, content-addressed. Otherwise by the trigger, as the step's header says.
        let causes = match report.recorded.last() {
            Some(decision) => EventHeader::caused_by(decision),
            None => EventHeader {
                command_id: None,
                ..header
            },
        };
        for (i, command) in reaction.commands.iter().enumerate() {
            let id = CommandId::new_at(format!("{step}/{i}"), step.issued())?;
            let delivered = match command
                .run(self.commands.clone(), causes.clone().with_command_id(id))
                .await
            {
                Err(source @ DispatchError::Failed { .. }) => {
                    return Err(ProcessError::Dispatch {
                        process: P::AGGREGATE_TYPE,
                        instance: instance.to_owned(),
                        target: format!("{}({})", command.aggregate_type, command.aggregate_id),
                        source,
                    });
                }
                // Applied, or rejected: a decision of the target, final.
                delivered => delivered,
            };
            report.sent.push((command.clone(), delivered));
        }
        if !(reaction.timers.is_empty() && reaction.cancelled.is_empty()) {
            let timers = self.timers.as_ref().ok_or_else(|| {
                self.failed(
                    instance,
                    CommandError::<P::Error>::Store(Error::Backend {
                        operation: "process timers",
                        message: "the process sets timers, but its manager has none".into(),
                        transient: false,
                    }),
                )
            })?;
            for name in &reaction.cancelled {
                timers.cancel(instance, name).await?;
            }
            for timer in &reaction.timers {
                let timer = Timer::new(instance, &timer.name, timer.due, bytes::Bytes::new())?;
                timers.schedule(&timer).await?;
            }
        }
        report.timers = reaction.timers;
        report.cancelled = reaction.cancelled;
        Ok(report)
    }

    fn failed(&self, instance: &str, error: CommandError<P::Error>) -> ProcessError {
        match error {
            CommandError::Store(error) => ProcessError::Store(error),
            other => ProcessError::Step {
                process: P::AGGREGATE_TYPE,
                instance: instance.to_owned(),
                source: Box::new(other),
            },
        }
    }
}

fn take<P: Process>(slot: &Mutex<Option<Reaction<P>>>) -> Option<Reaction<P>> {
    slot.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
}

impl<P: Process, S: Clone> Clone for ProcessManager<P, S> {
    fn clone(&self) -> Self {
        ProcessManager {
            repository: self.repository.clone(),
            commands: self.commands.clone(),
            timers: self.timers.clone(),
        }
    }
}

impl<P: Process, S: std::fmt::Debug> std::fmt::Debug for ProcessManager<P, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessManager")
            .field("process", &P::AGGREGATE_TYPE)
            .field("repository", &self.repository)
            .field("timers", &self.timers.is_some())
            .finish()
    }
}
