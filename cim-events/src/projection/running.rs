//! [`RunningProjection`]: a runner on its own task, and the one place its owner learns
//! why it stopped.

use std::future::Future;

use futures::future::{Either, select};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};

use super::control::{Progress, ShutdownHandle};
use super::error::ProjectionError;

/// What a runner's task hands back: the runner and what `run` returned.
type Finished<R, E> = (R, Result<Progress, ProjectionError<E>>);

/// A projection runner running on its own tokio task, from
/// [`ProjectionRunner::spawn`](super::ProjectionRunner::spawn) or
/// `JetStreamProjectionRunner::spawn`.
///
/// Waiting on it never loses the reason it stopped: if the runner fails while
/// [`wait_for`](Self::wait_for) waits, `wait_for` returns the runner's own
/// [`ProjectionError`] (an `Apply`, `Store`, `CheckpointMismatch`, … error), not a closed
/// channel; [`join`](Self::join) and [`stop`](Self::stop) return it too. A panic in the
/// task becomes [`ProjectionError::Panicked`]. The error is returned once: a later call
/// on the same handle returns [`ProjectionError::Stopped`].
///
/// ```
/// use cim_events::projection::{Checkpoint, MemoryCheckpointStore, Projection, ProjectionError, ProjectionRunner};
/// use cim_events::{Event, EventStore, MemoryEventStore, RecordedEvent};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Ping { id: String }
/// impl Event for Ping {
///     fn event_type(&self) -> &str { "Ping" }
///     fn aggregate_id(&self) -> &str { &self.id }
/// }
///
/// /// Fails on the second event.
/// struct Fragile(u32);
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("too many pings")]
/// struct TooMany;
///
/// #[cim_events::projection::async_trait]
/// impl Projection for Fragile {
///     type Error = TooMany;
///     fn name(&self) -> &str { "fragile" }
///     async fn apply(&mut self, _: &RecordedEvent, _: Checkpoint) -> Result<(), TooMany> {
///         self.0 += 1;
///         if self.0 == 2 { Err(TooMany) } else { Ok(()) }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryEventStore::new();
/// for _ in 0..3 {
///     store.append_event("p-1", Ping { id: "p-1".into() }, None).await?;
/// }
/// let mut running = ProjectionRunner::new(store, Fragile(0), MemoryCheckpointStore::new()).spawn();
/// // The runner dies on the second event: waiting for the third says why.
/// let waited = running.wait_for(|p| p.applied == 3).await;
/// assert!(matches!(waited, Err(ProjectionError::Apply { sequence: 2, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct RunningProjection<R, E: std::error::Error + Send + Sync + 'static> {
    projection: String,
    shutdown: ShutdownHandle,
    progress: watch::Receiver<Progress>,
    state: State<R, E>,
}

#[derive(Debug)]
enum State<R, E: std::error::Error + Send + Sync + 'static> {
    Running(JoinHandle<Finished<R, E>>),
    /// Boxed: the runner and an error are much larger than a task handle.
    Ended(Box<Ended<R, E>>),
}

/// How the runner's task ended.
#[derive(Debug)]
struct Ended<R, E: std::error::Error + Send + Sync + 'static> {
    runner: Option<R>,
    /// What the runner returned; an error is taken out when first returned.
    result: Option<Result<Progress, ProjectionError<E>>>,
}

impl<R: Send + 'static, E: std::error::Error + Send + Sync + 'static> RunningProjection<R, E> {
    /// Spawns `run`, the runner's `run` followed by handing the runner back.
    pub(crate) fn spawn(
        projection: String,
        shutdown: ShutdownHandle,
        progress: watch::Receiver<Progress>,
        run: impl Future<Output = Finished<R, E>> + Send + 'static,
    ) -> Self {
        RunningProjection {
            projection,
            shutdown,
            progress,
            state: State::Running(tokio::spawn(run)),
        }
    }

    /// A handle that stops the runner after the event it is applying.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// The runner's progress, updated after every event.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// The progress now.
    pub fn current(&self) -> Progress {
        *self.progress.borrow()
    }

    /// Whether the runner has stopped (its result is waiting for [`join`](Self::join)).
    pub fn is_finished(&self) -> bool {
        match &self.state {
            State::Running(task) => task.is_finished(),
            State::Ended(_) => true,
        }
    }

    /// Waits until `condition` holds for the runner's progress and returns that progress.
    ///
    /// # Errors
    ///
    /// If the runner stops first: its own error, as it returned it; or
    /// [`ProjectionError::Stopped`] if it was shut down (or its error was already
    /// returned); or [`ProjectionError::Panicked`].
    pub async fn wait_for(
        &mut self,
        mut condition: impl FnMut(&Progress) -> bool,
    ) -> Result<Progress, ProjectionError<E>> {
        loop {
            let now = *self.progress.borrow_and_update();
            if condition(&now) {
                return Ok(now);
            }
            match &mut self.state {
                State::Running(task) => {
                    let joined = {
                        let changed = std::pin::pin!(self.progress.changed());
                        match select(task, changed).await {
                            Either::Left((joined, _)) => joined,
                            Either::Right((Ok(()), _)) => continue,
                            // The progress sender went with the runner: the task is ending.
                            Either::Right((Err(_), task)) => task.await,
                        }
                    };
                    self.ended(joined);
                }
                State::Ended(ended) => {
                    let result = &mut ended.result;
                    return match result.take() {
                        Some(Ok(last)) => {
                            *result = Some(Ok(last));
                            if condition(&last) {
                                Ok(last)
                            } else {
                                Err(self.stopped(last))
                            }
                        }
                        Some(Err(e)) => Err(e),
                        None => Err(self.stopped(now)),
                    };
                }
            }
        }
    }

    /// Waits until the checkpoint reaches stream sequence `sequence` (for example the
    /// store's [`last_sequence`](crate::EventStore::last_sequence)); see
    /// [`wait_for`](Self::wait_for).
    ///
    /// # Errors
    ///
    /// As [`wait_for`](Self::wait_for).
    pub async fn wait_until_sequence(
        &mut self,
        sequence: u64,
    ) -> Result<Progress, ProjectionError<E>> {
        self.wait_for(|p| p.checkpoint.is_some_and(|c| c.sequence >= sequence))
            .await
    }

    /// Asks the runner to stop after the event it is applying, and waits for it: see
    /// [`join`](Self::join).
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub async fn stop(self) -> Result<Progress, ProjectionError<E>> {
        self.shutdown.shutdown();
        self.join().await
    }

    /// Waits for the runner to stop and returns what it returned: `Ok` with its progress
    /// after a shutdown, or the error that stopped it.
    ///
    /// # Errors
    ///
    /// The runner's error; [`ProjectionError::Panicked`] if its task panicked;
    /// [`ProjectionError::Stopped`] if its error was already returned by
    /// [`wait_for`](Self::wait_for).
    pub async fn join(self) -> Result<Progress, ProjectionError<E>> {
        self.join_runner().await.0
    }

    /// [`join`](Self::join), also handing back the runner (to read its projection or run
    /// it again, which resumes from the checkpoint); `None` if its task panicked.
    pub async fn join_runner(mut self) -> (Result<Progress, ProjectionError<E>>, Option<R>) {
        if let State::Running(task) = &mut self.state {
            let joined = task.await;
            self.ended(joined);
        }
        let last = self.current();
        let stopped = self.stopped(last);
        match self.state {
            State::Ended(ended) => (ended.result.unwrap_or(Err(stopped)), ended.runner),
            State::Running(_) => (Err(stopped), None),
        }
    }

    /// Records the end of the task.
    fn ended(&mut self, joined: Result<Finished<R, E>, JoinError>) {
        self.state = match joined {
            Ok((runner, result)) => State::Ended(Box::new(Ended {
                runner: Some(runner),
                result: Some(result),
            })),
            Err(e) => State::Ended(Box::new(Ended {
                runner: None,
                result: Some(Err(ProjectionError::Panicked {
                    projection: self.projection.clone(),
                    message: panic_message(e),
                })),
            })),
        };
    }

    fn stopped(&self, progress: Progress) -> ProjectionError<E> {
        ProjectionError::Stopped {
            projection: self.projection.clone(),
            progress,
        }
    }
}

/// What a failed task says: the panic's message, or that it was cancelled.
fn panic_message(err: JoinError) -> String {
    if !err.is_panic() {
        return "the task was cancelled (its runtime shut down)".to_owned();
    }
    let payload = err.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
