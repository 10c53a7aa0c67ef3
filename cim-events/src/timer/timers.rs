//! `Timers`: the trait both timer backends implement.

use async_trait::async_trait;

use crate::error::Result;

use super::fired::FiredTimers;
use super::request::Timer;

/// Durable timers: "deliver this message at T", kept by the backend, not by a sleeping task.
///
/// Implemented by [`MemoryTimers`](super::MemoryTimers) (on a [`VirtualClock`](super::VirtualClock),
/// for tests) and `jetstream::JetStreamTimers` (JetStream message schedules, which survive
/// restarts of every process and of the server).
#[async_trait]
pub trait Timers: Send + Sync {
    /// Schedules `timer`, replacing the pending timer of the same owner and name if there
    /// is one (and a fired one of that owner and name not yet acknowledged): scheduling the
    /// same timer twice keeps one. A due time in the past fires at once.
    ///
    /// A timer that has already fired and been acknowledged is gone: scheduling it again
    /// fires it again. After an error the timer may or may not be scheduled; scheduling it
    /// again is safe.
    async fn schedule(&self, timer: &Timer) -> Result<()>;

    /// Cancels `owner`'s timer `name`: a pending one never fires, and a fired one that
    /// was not acknowledged yet is not delivered (again). Returns whether there was one.
    ///
    /// A timer can fire while the cancel is on its way, so workers must still ignore
    /// timers they no longer expect. Fails with
    /// [`Error::InvalidToken`](crate::Error::InvalidToken) for an invalid owner or name.
    async fn cancel(&self, owner: &str, name: &str) -> Result<bool>;

    /// The fired timers, delivered through the durable consumer `consumer`: every fired
    /// timer goes to one of the streams open on that name, and comes back to one of them
    /// if it is not acknowledged in time (the consumer outlives the stream and the
    /// process). Fired timers wait for a consumer: those that fired while none was reading
    /// are delivered when one opens.
    ///
    /// Each timer store delivers to one consumer name: another name fails with
    /// [`TimerError::ConsumerInUse`](super::TimerError::ConsumerInUse). An invalid name
    /// fails with [`Error::InvalidToken`](crate::Error::InvalidToken).
    async fn fired(&self, consumer: &str) -> Result<FiredTimers>;
}
