//! [`ProcessTimers`]: where a process manager sets and cancels its timers.

use async_trait::async_trait;

use crate::error::Result;

use super::reaction::Wakeup;

/// Sets and cancels the timers of process instances. Setting a timer of the same
/// process, instance and name again replaces it; both calls may be repeated (a step
/// carried out again) with no further effect.
///
/// When a timer is due, whoever drives the process hands it back as a [`Wakeup`] to
/// [`ProcessManager::wake`](super::ProcessManager::wake).
#[async_trait]
pub trait ProcessTimers: Send + Sync {
    /// Sets `timer` for an instance of process type `process`.
    async fn set(&self, process: &str, timer: &Wakeup) -> Result<()>;

    /// Cancels timer `name` of `instance` of process type `process`, if it is set.
    async fn cancel(&self, process: &str, instance: &str, name: &str) -> Result<()>;
}
