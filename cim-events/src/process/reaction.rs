//! [`Reaction`]: what a process decides in one step — its own events, the commands it
//! sends, the timers it sets or cancels.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::aggregate::{Aggregate, Command};
use crate::dyn_store::DynEventStore;
use crate::header::EventHeader;
use crate::repository::{CommandError, Repository};

use super::error::DispatchError;

/// What one step of a process decided. The process records events in its own chain
/// ([`record`](Reaction::record)), sends commands to aggregates ([`send`](Reaction::send))
/// and sets timers ([`schedule`](Reaction::schedule)); the runtime carries them out after
/// the step is recorded, each at most once.
///
/// Handlers must decide from the state and the trigger only (like command handlers): a
/// step may be decided again after a crash, and must come out the same. A step that sends
/// commands should also record an event: a recorded step is decided again on the state
/// before it, while a step that recorded nothing is decided again on the state as it is
/// then, which another trigger may have moved.
pub struct Reaction<P: Aggregate> {
    instance: String,
    now: SystemTime,
    pub(crate) events: Vec<P::Event>,
    pub(crate) commands: Vec<Outgoing>,
    pub(crate) timers: Vec<Wakeup>,
    pub(crate) cancelled: Vec<String>,
    pub(crate) failure: Option<crate::Error>,
}

impl<P: Aggregate> Reaction<P> {
    /// A reaction of process instance `instance` to a trigger that happened at `now`.
    pub fn new(instance: impl Into<String>, now: SystemTime) -> Self {
        Reaction {
            instance: instance.into(),
            now,
            events: Vec::new(),
            commands: Vec::new(),
            timers: Vec::new(),
            cancelled: Vec::new(),
            failure: None,
        }
    }

    /// The process instance reacting (its aggregate id).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// When the trigger happened (an event's time, a timer's due time): the clock of the
    /// step, so that a step decided again comes out the same.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// Records an event in the process instance's own chain: its state, and its
    /// decisions, verifiable like any history.
    pub fn record(&mut self, event: P::Event) {
        self.events.push(event);
    }

    /// Sends `command` to aggregate `aggregate_id` of type `A`, once: it carries a
    /// [`CommandId`](crate::CommandId) derived from the trigger, so a step carried out
    /// again does not apply it twice. `C` must be a command of `A` (checked at compile
    /// time).
    pub fn send<A, C>(&mut self, aggregate_id: impl Into<String>, command: C)
    where
        A: Aggregate,
        C: Command<A> + fmt::Debug + Send + Sync + 'static,
    {
        self.commands
            .push(Outgoing::new::<A, C>(aggregate_id, command));
    }

    /// Sets timer `name` to wake the instance `after` the trigger's time (see
    /// [`now`](Reaction::now)). Setting a timer of the same name again replaces it.
    pub fn schedule(&mut self, name: impl Into<String>, after: Duration) {
        self.schedule_at(name, self.now + after);
    }

    /// Sets timer `name` to wake the instance at `due`.
    pub fn schedule_at(&mut self, name: impl Into<String>, due: SystemTime) {
        let name = name.into();
        self.timers.retain(|timer| timer.name != name);
        self.cancelled.retain(|cancelled| *cancelled != name);
        self.timers.push(Wakeup {
            instance: self.instance.clone(),
            name,
            due,
        });
    }

    /// Cancels timer `name`. A timer may still fire if it was already on its way: a
    /// process ignores a wake-up its state says no longer matters.
    pub fn cancel(&mut self, name: impl Into<String>) {
        let name = name.into();
        self.timers.retain(|timer| timer.name != name);
        self.cancelled.push(name);
    }

    /// Fails the step: the trigger cannot be read (it does not decode into the event type
    /// the handler takes). Nothing of the step is recorded, sent or set, and the step
    /// fails with `error`: the trigger comes again, to a fixed build.
    pub fn fail(&mut self, error: crate::Error) {
        self.failure.get_or_insert(error);
    }

    /// The events recorded so far.
    pub fn events(&self) -> &[P::Event] {
        &self.events
    }

    /// The commands sent so far.
    pub fn commands(&self) -> &[Outgoing] {
        &self.commands
    }

    /// The timers set so far.
    pub fn timers(&self) -> &[Wakeup] {
        &self.timers
    }

    /// The timers cancelled so far.
    pub fn cancelled(&self) -> &[String] {
        &self.cancelled
    }
}

impl<P: Aggregate> fmt::Debug for Reaction<P>
where
    P::Event: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reaction")
            .field("instance", &self.instance)
            .field("events", &self.events)
            .field("commands", &self.commands)
            .field("timers", &self.timers)
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

/// A timer of a process instance: wake it at `due`, under `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wakeup {
    /// The process instance to wake.
    pub instance: String,
    /// The timer's name, unique per instance.
    pub name: String,
    /// When it is due.
    pub due: SystemTime,
}

type RunCommand = dyn Fn(
        DynEventStore,
        String,
        EventHeader,
    ) -> Pin<Box<dyn Future<Output = Result<Delivered, DispatchError>> + Send>>
    + Send
    + Sync;

/// A command a process sends: where to, and what (described by its `Debug` text).
#[derive(Clone)]
pub struct Outgoing {
    /// The target's aggregate type.
    pub aggregate_type: &'static str,
    /// The target aggregate.
    pub aggregate_id: String,
    /// The command's Rust type name.
    pub command_type: &'static str,
    /// The command, as `{:?}` prints it.
    pub description: String,
    run: Arc<RunCommand>,
}

impl Outgoing {
    /// Command `command` to aggregate `aggregate_id` of type `A`: what
    /// [`Reaction::send`] records, and what a test expects it to send.
    pub fn new<A, C>(aggregate_id: impl Into<String>, command: C) -> Self
    where
        A: Aggregate,
        C: Command<A> + fmt::Debug + Send + Sync + 'static,
    {
        let description = format!("{command:?}");
        let run: Arc<RunCommand> = Arc::new(move |store, aggregate_id, header| {
            let command = command.clone();
            Box::pin(async move {
                match Repository::<A, _>::new(store)
                    .execute_with(&aggregate_id, command, header)
                    .await
                {
                    Ok(outcome) => Ok(Delivered {
                        events: outcome.events.len(),
                        deduplicated: outcome.deduplicated,
                    }),
                    Err(CommandError::Rejected(rejection)) => Err(DispatchError::Rejected {
                        reason: rejection.to_string(),
                    }),
                    Err(error) => Err(DispatchError::Failed {
                        reason: error.to_string(),
                        transient: is_transient(&error),
                    }),
                }
            })
        });
        Outgoing {
            aggregate_type: A::AGGREGATE_TYPE,
            aggregate_id: aggregate_id.into(),
            command_type: std::any::type_name::<C>(),
            description,
            run,
        }
    }

    /// Runs the command on `store` with `header` (which carries its command id).
    pub(crate) async fn run(
        &self,
        store: DynEventStore,
        header: EventHeader,
    ) -> Result<Delivered, DispatchError> {
        (self.run)(store, self.aggregate_id.clone(), header).await
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({}) <- {}",
            self.aggregate_type, self.aggregate_id, self.description
        )
    }
}

impl PartialEq for Outgoing {
    fn eq(&self, other: &Self) -> bool {
        (
            self.aggregate_type,
            &self.aggregate_id,
            self.command_type,
            &self.description,
        ) == (
            other.aggregate_type,
            &other.aggregate_id,
            other.command_type,
            &other.description,
        )
    }
}

/// What became of a sent command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// How many events it stored (or had stored, if deduplicated).
    pub events: usize,
    /// Whether it had been applied before (a step carried out again).
    pub deduplicated: bool,
}

fn is_transient<E>(error: &CommandError<E>) -> bool {
    match error {
        CommandError::Store(error) => error.is_transient(),
        CommandError::Conflict { .. } => true,
        _ => false,
    }
}
