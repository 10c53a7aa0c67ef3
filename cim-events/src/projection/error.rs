//! What stops a projection runner.

use cid::Cid;

use crate::block::DecodeError;
use crate::error::Error;
use crate::repository::BrokenChain;

use super::checkpoint::Checkpoint;
use super::control::Progress;

/// Why a projection runner stopped. In every case nothing after the last saved checkpoint
/// was acknowledged: running again resumes from there.
///
/// `E` is the projection's own error type. The enum is `#[non_exhaustive]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError<E: std::error::Error + Send + Sync + 'static> {
    /// The projection name cannot name a checkpoint or a durable consumer.
    #[error(
        "projection name `{}` is not valid: use 1 to 64 ASCII letters, digits, `-` and `_`",
        name.escape_debug()
    )]
    InvalidName {
        /// The name given.
        name: String,
    },

    /// The projection failed to apply an event.
    #[error(
        "projection `{projection}` failed on the event at stream sequence {sequence} ({cid}): {source}"
    )]
    Apply {
        /// The projection.
        projection: String,
        /// Stream sequence of the event.
        sequence: u64,
        /// CID of the event.
        cid: Cid,
        /// What the projection returned.
        #[source]
        source: E,
    },

    /// The checkpoint store failed to load the checkpoint (`sequence: None`) or to save the
    /// one after the event at `sequence` — which was applied, and will be delivered again.
    #[error("projection `{projection}`: checkpoint store failed{}: {source}", describe_sequence(*sequence))]
    Checkpoint {
        /// The projection.
        projection: String,
        /// The event whose checkpoint could not be saved.
        sequence: Option<u64>,
        /// What the checkpoint store returned.
        #[source]
        source: Error,
    },

    /// The stored checkpoint does not match the stored events: the event at its sequence
    /// has another CID, or no event the projection subscribes to is stored there. The
    /// stream was replaced, the filter changed, or the checkpoint belongs elsewhere;
    /// carrying on would skip or repeat events, so the runner refuses.
    #[error(
        "projection `{projection}`: checkpoint at stream sequence {} ({}) does not match the stored events: {}",
        checkpoint.sequence,
        checkpoint.cid,
        describe_found(found)
    )]
    CheckpointMismatch {
        /// The projection.
        projection: String,
        /// The stored checkpoint.
        checkpoint: Checkpoint,
        /// The first event the projection subscribes to at or after the checkpoint's
        /// sequence, if any.
        found: Option<Checkpoint>,
    },

    /// A message the projection subscribes to is not an event in wire format v1.
    #[error(
        "projection `{projection}`: the message at stream sequence {sequence} is not a valid event: {source}"
    )]
    Decode {
        /// The projection.
        projection: String,
        /// Stream sequence of the message.
        sequence: u64,
        /// What is wrong with it.
        #[source]
        source: DecodeError,
    },

    /// With chain verification on, an event does not follow the previous event of its
    /// aggregate that the runner applied: a version is missing or repeated, or its `prev`
    /// link is not that event's CID. The failing stream sequence is in the report.
    #[error("projection `{projection}`: {chain}")]
    BrokenChain {
        /// The projection.
        projection: String,
        /// Where the chain breaks.
        chain: Box<BrokenChain>,
    },

    /// The event store failed (a subscription or consumer could not be set up, or kept
    /// failing after retries).
    #[error("projection `{projection}`: {source}")]
    Store {
        /// The projection.
        projection: String,
        /// What the store returned.
        #[source]
        source: Error,
    },

    /// Waiting on a [`RunningProjection`](super::RunningProjection): the runner is no
    /// longer running and has nothing else to report — it was shut down before the
    /// progress waited for, or the error that stopped it was already returned by an
    /// earlier call on the same handle.
    #[error("projection `{projection}`: the runner stopped (checkpoint {})", describe_checkpoint(progress.checkpoint))]
    Stopped {
        /// The projection.
        projection: String,
        /// Its progress when it stopped.
        progress: Progress,
    },

    /// The runner's task panicked (in the projection, its checkpoint store or the
    /// store) or was cancelled with its runtime. Nothing after the last saved checkpoint
    /// was acknowledged.
    #[error("projection `{projection}`: the runner's task ended abnormally: {message}")]
    Panicked {
        /// The projection.
        projection: String,
        /// The panic's message.
        message: String,
    },
}

fn describe_checkpoint(checkpoint: Option<Checkpoint>) -> String {
    checkpoint.map_or_else(
        || "none".to_owned(),
        |c| format!("at stream sequence {}", c.sequence),
    )
}

fn describe_sequence(sequence: Option<u64>) -> String {
    sequence.map_or_else(
        || " loading the checkpoint".to_owned(),
        |s| format!(" saving the checkpoint of the event at stream sequence {s}"),
    )
}

fn describe_found(found: &Option<Checkpoint>) -> String {
    match found {
        None => "no such event is stored".to_owned(),
        Some(f) => format!("found {} at stream sequence {}", f.cid, f.sequence),
    }
}
