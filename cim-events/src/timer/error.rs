//! `TimerError`: what can be wrong with a timer besides its owner and name tokens.

use std::time::SystemTime;

/// A timer that cannot be scheduled, or delivered timers that cannot be read. Carried by
/// [`Error::Timer`](crate::Error::Timer); an owner or name that is not a safe subject token
/// is an [`Error::InvalidToken`](crate::Error::InvalidToken) instead, as for aggregate ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimerError {
    /// The payload is larger than [`MAX_PAYLOAD`](super::MAX_PAYLOAD). Nothing was
    /// scheduled.
    #[error("timer payload is {size} bytes, more than the {max} bytes a timer carries")]
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The largest payload accepted.
        max: usize,
    },

    /// The due time is before the Unix epoch or after 2554-07-21T23:34:33Z: timers carry
    /// their due time as nanoseconds since the epoch in 64 bits. Nothing was scheduled.
    #[error(
        "timer due time {due:?} is outside 1970-01-01T00:00:00Z ..= 2554-07-21T23:34:33Z (nanoseconds since the epoch in 64 bits)"
    )]
    DueOutOfRange {
        /// The due time given.
        due: SystemTime,
    },

    /// Fired timers already go to another consumer: each fired timer is delivered to one
    /// consumer name only (on JetStream the timer stream is a work queue, which allows one
    /// consumer per subject). Delete the other consumer first, or use its name.
    #[error("fired timers already go to consumer `{existing}`; `{requested}` cannot take them too")]
    ConsumerInUse {
        /// The consumer name asked for.
        requested: String,
        /// The consumer that takes the fired timers (as far as known; empty if the server
        /// did not say).
        existing: String,
    },

    /// A message on the fired-timer subjects that this crate did not write (its subject
    /// does not name an owner, a name and a due time). It is terminated, never redelivered.
    #[error("message on `{subject}` is not a fired timer: {problem}")]
    Malformed {
        /// The message's subject.
        subject: String,
        /// What is wrong with it.
        problem: String,
    },
}
