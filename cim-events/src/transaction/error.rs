//! What a transaction can fail with.

use crate::error::{ConflictError, Error};
use crate::repository::LoadError;

/// A boxed domain error: what a handler, or the transaction's own rule, rejected with.
pub type Rejection = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`Transaction`](crate::Transaction) stored nothing.
///
/// A decision over several aggregates meets the rejections of several aggregate types, so
/// [`Rejected`](TransactionError::Rejected) holds the domain error boxed:
/// [`rejection`](TransactionError::rejection) gives it back typed.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// A handler, or the decision itself, rejected the transaction. Nothing was stored.
    #[error("transaction rejected: {0}")]
    Rejected(#[source] Rejection),

    /// Every attempt lost a race against other writers of one of the aggregates. Nothing
    /// was stored.
    #[error("transaction abandoned after {attempts} attempts: {conflict}")]
    Conflict {
        /// How many times the decision was made and committed (1 + retries).
        attempts: u32,
        /// The conflict of the last attempt.
        #[source]
        conflict: Box<ConflictError>,
    },

    /// The transaction's [`CommandId`](crate::CommandId) is already committed: a load
    /// inside the decision found it in the aggregate's chain.
    /// [`Transaction::run`](crate::Transaction::run) answers it with the original commit
    /// ([`Committed::deduplicated`](crate::Committed::deduplicated)); a decision sees it
    /// only if it handles the errors of its loads itself, and should pass it on.
    #[error("command `{command_id}` is already committed")]
    AlreadyCommitted {
        /// The command id.
        command_id: String,
        /// The aggregate whose chain holds it, and its events of that commit.
        found: Box<crate::CommittedAggregate>,
    },

    /// An aggregate could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),

    /// The event store failed (an invalid id, an event IPLD cannot hold, too many events,
    /// an aggregate staged under two types, …). Nothing was stored, unless the error is
    /// transient and the commit's outcome unknown.
    #[error(transparent)]
    Store(#[from] Error),
}

impl TransactionError {
    /// Rejects the transaction with a domain error of the caller's.
    pub fn rejected(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        TransactionError::Rejected(Box::new(error))
    }

    /// The domain error the transaction was rejected with, if it is a `T`.
    pub fn rejection<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            TransactionError::Rejected(error) => error.downcast_ref(),
            _ => None,
        }
    }
}
