//! The `Aggregate` and `Handle` traits: what `#[aggregate]` writes and the repository runs.

use crate::event::Event;
use crate::header::EventHeader;

/// A consistency boundary whose state is rebuilt by applying its events in order.
/// Usually written by `#[aggregate]`.
pub trait Aggregate: Default + Send + Sync + Sized + 'static {
    /// The aggregate's events (usually an enum deriving `Event`).
    type Event: Event;
    /// What its command handlers reject commands with.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The aggregate type name: one NATS subject token.
    const AGGREGATE_TYPE: &'static str;
    /// The version of the state's shape, as `#[aggregate(state = N)]` declares it
    /// (default 1). A snapshot written under another version is never used: the state is
    /// rebuilt from the events instead.
    const STATE_VERSION: u32 = 1;

    /// Applies one event to the state. Must not fail: events are facts.
    fn apply(&mut self, event: &Self::Event);
}

/// An aggregate that handles commands of type `C`. `#[aggregate]` writes one impl per
/// `#[command]` method.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[command]` handler for `{C}`",
    label = "`{C}` is not a command of `{Self}`",
    note = "add a `#[command]` method that takes `{C}` to the `#[aggregate]` impl of `{Self}`"
)]
pub trait Handle<C>: Aggregate {
    /// Decides which events the command produces, given the current state. Returns the
    /// events (possibly none) or rejects the command.
    fn handle(&self, command: C, ctx: &CommandContext<'_>)
    -> Result<Vec<Self::Event>, Self::Error>;
}

/// A command a [`Repository`](crate::Repository) can run against `A`: a type that one of
/// `A`'s `#[command]` methods takes ([`Handle`]), and `Clone`, because the repository may
/// handle a command again after losing a race. Implemented for every such type; it exists
/// so that a command that is neither gets one error that says what to write.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command the repository of `{A}` can run",
    label = "not a command of `{A}`",
    note = "`{A}` needs a `#[command]` method that takes `{Self}`, and `{Self}` must be `Clone` (a command may be handled again after a conflict): add `#[derive(Clone)]` to it"
)]
pub trait Command<A: Aggregate>: Clone {
    /// Handles the command on `state`: [`Handle::handle`].
    fn handle_by(self, state: &A, ctx: &CommandContext<'_>) -> Result<Vec<A::Event>, A::Error>;
}

impl<A: Handle<C>, C: Clone> Command<A> for C {
    fn handle_by(self, state: &A, ctx: &CommandContext<'_>) -> Result<Vec<A::Event>, A::Error> {
        state.handle(self, ctx)
    }
}

/// What a command handler may know besides the state and the command.
#[derive(Debug, Clone, Copy)]
pub struct CommandContext<'a> {
    /// The aggregate the command is addressed to.
    pub aggregate_id: &'a str,
    /// The aggregate's version before the command (0: no events yet).
    pub version: u64,
    /// Correlation, causation and metadata that the command's events will carry.
    pub header: &'a EventHeader,
}
