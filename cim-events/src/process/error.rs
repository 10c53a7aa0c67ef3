//! What a process step can fail with.

use crate::error::Error;

/// Why a command a process sent did not take effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The target aggregate rejected it: a decision, final. The step goes on.
    #[error("rejected: {reason}")]
    Rejected {
        /// The rejection, as the aggregate's error displays it.
        reason: String,
    },
    /// It could not be decided or stored (a store error, a lost race, a broken chain).
    #[error("failed: {reason}")]
    Failed {
        /// What went wrong.
        reason: String,
        /// Whether trying again may succeed.
        transient: bool,
    },
}

/// Why a process step was not carried out to the end. Nothing is acknowledged then: the
/// trigger comes again, and the step is carried out again, each effect at most once.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The process instance could not be loaded, or its step not recorded.
    #[error("process `{process}` instance `{instance}`: {source}")]
    Step {
        /// The process type.
        process: &'static str,
        /// The instance.
        instance: String,
        /// The error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A command the step sent failed (not a rejection: those are final and reported in
    /// the step).
    #[error("process `{process}` instance `{instance}`: command to {target}: {source}")]
    Dispatch {
        /// The process type.
        process: &'static str,
        /// The instance.
        instance: String,
        /// The command's target, `Type(id)`.
        target: String,
        /// The failure.
        #[source]
        source: DispatchError,
    },
    /// The event store, or the timers, failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl ProcessError {
    /// Whether carrying the step out again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ProcessError::Dispatch {
                source: DispatchError::Failed { transient, .. },
                ..
            } => *transient,
            ProcessError::Store(error) => error.is_transient(),
            _ => true,
        }
    }
}
