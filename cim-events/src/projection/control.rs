//! Stopping a runner from outside, and watching how far it got.

use std::future::Future;
use std::sync::Arc;

use futures::future::{Either, select};
use tokio::sync::watch;

use super::checkpoint::Checkpoint;

/// How far a runner got, published after every event it handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The projection's checkpoint: the last event applied (by this runner or an earlier
    /// one), `None` before the first.
    pub checkpoint: Option<Checkpoint>,
    /// Events this runner applied.
    pub applied: u64,
    /// Deliveries this runner skipped: the checkpoint already covered them (redeliveries
    /// after a crash or a lost acknowledgement), or the runner's selector leaves them out.
    pub skipped: u64,
    /// How many times this runner (re)started consuming from the checkpoint: once per
    /// run, plus once per recovery from a lost connection or a lost delivery.
    pub resumed: u64,
    /// How many matching messages the stream held beyond the last one delivered, as the
    /// server reported with that delivery: the projection's lag. Known only on a durable
    /// JetStream consumer.
    pub pending: Option<u64>,
}

/// Asks a running projection to stop. Cloneable; any clone stops it.
///
/// The runner finishes the event it is applying (apply, checkpoint, acknowledge), then
/// returns `Ok` with its [`Progress`]. A runner asked to stop before it starts returns at
/// once.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Asks the runner to stop after the event it is applying.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Whether a stop was asked for.
    pub fn is_shutdown(&self) -> bool {
        *self.stop.borrow()
    }
}

/// A runner's side of the shutdown flag and the progress channel.
#[derive(Debug)]
pub(crate) struct Control {
    stop: Arc<watch::Sender<bool>>,
    progress: watch::Sender<Progress>,
}

impl Control {
    pub(crate) fn new() -> Self {
        Control {
            stop: Arc::new(watch::channel(false).0),
            progress: watch::channel(Progress::default()).0,
        }
    }

    pub(crate) fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: Arc::clone(&self.stop),
        }
    }

    pub(crate) fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    pub(crate) fn current(&self) -> Progress {
        *self.progress.borrow()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut Progress)) {
        self.progress.send_modify(change);
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        *self.stop.borrow()
    }

    /// Runs `work` unless a stop is asked for first: `None` means stop. A stop asked for
    /// while `work` is pending drops it, so `work` must be safe to abandon (waiting for the
    /// next message is; applying one is not, and is never passed here).
    pub(crate) async fn or_shutdown<F: Future>(&self, work: F) -> Option<F::Output> {
        if self.is_shutdown() {
            return None;
        }
        let mut stop = self.stop.subscribe();
        let stopped = async move {
            // An error means every sender is gone, which cannot happen while `self` lives.
            let _ = stop.wait_for(|stop| *stop).await;
        };
        match select(std::pin::pin!(work), std::pin::pin!(stopped)).await {
            Either::Left((output, _)) => Some(output),
            Either::Right(_) => None,
        }
    }
}
