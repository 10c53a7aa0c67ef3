//! What loading an aggregate or running a command can fail with.

pub use crate::chain::BrokenChain;
use crate::error::{ConflictError, Error};

/// Why an aggregate could not be loaded.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The event store failed, or the aggregate id is not a valid subject token.
    #[error(transparent)]
    Store(#[from] Error),

    /// A stored event cannot be read as an event of this aggregate: it is not an event in
    /// wire format v1, or its payload does not decode into the aggregate's event type. The
    /// source names the event's stream sequence.
    #[error("event {version} of aggregate `{aggregate_id}` cannot be decoded: {source}")]
    Decode {
        /// The aggregate being loaded.
        aggregate_id: String,
        /// The aggregate version the event holds (or should hold).
        version: u64,
        /// The decoding error, naming the stream sequence.
        #[source]
        source: Box<Error>,
    },

    /// The stored events do not form one chain: a version is missing or repeated, or an
    /// event does not link to the one before it. Replaying past it would build a state
    /// from a history that is not the aggregate's.
    #[error(transparent)]
    BrokenChain(Box<BrokenChain>),
}

/// Why a command did not run to completion.
///
/// `Rejected` is the aggregate's own answer; every other variant says the command could
/// not be decided or recorded. Nothing was stored in any case except a failed snapshot
/// save, which is not an error at all (it is logged).
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError<E> {
    /// The aggregate's handler rejected the command. Nothing was stored.
    #[error("command rejected: {0}")]
    Rejected(#[source] E),

    /// Every attempt lost the race against other writers of the same aggregate. Nothing
    /// was stored.
    #[error("command abandoned after {attempts} attempts: {conflict}")]
    Conflict {
        /// How many times the command was handled and appended (1 + retries).
        attempts: u32,
        /// The conflict of the last attempt.
        #[source]
        conflict: Box<ConflictError>,
    },

    /// A stored event of the aggregate cannot be decoded; see [`LoadError::Decode`].
    #[error("event {version} of aggregate `{aggregate_id}` cannot be decoded: {source}")]
    Decode {
        /// The aggregate the command was addressed to.
        aggregate_id: String,
        /// The aggregate version the event holds (or should hold).
        version: u64,
        /// The decoding error, naming the stream sequence.
        #[source]
        source: Box<Error>,
    },

    /// The aggregate's stored history is not one chain; see [`LoadError::BrokenChain`].
    #[error(transparent)]
    BrokenChain(Box<BrokenChain>),

    /// The event store failed while loading or appending (including an invalid aggregate
    /// id, an event of another aggregate, or a payload IPLD cannot hold). A failed append
    /// is not retried: a timed-out append may have been stored, and handling the command
    /// again could record it twice.
    #[error(transparent)]
    Store(Error),
}

impl<E> CommandError<E> {
    /// The domain error, if the aggregate rejected the command.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            CommandError::Rejected(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the command was abandoned because of concurrency conflicts.
    pub fn is_conflict(&self) -> bool {
        matches!(self, CommandError::Conflict { .. })
    }
}

impl<E> From<LoadError> for CommandError<E> {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Store(e) => CommandError::Store(e),
            LoadError::Decode {
                aggregate_id,
                version,
                source,
            } => CommandError::Decode {
                aggregate_id,
                version,
                source,
            },
            LoadError::BrokenChain(broken) => CommandError::BrokenChain(broken),
        }
    }
}
