//! [`ProjectionRunner`]: runs a projection on any [`EventStore`] through its subscriptions.

use futures::StreamExt;
use tokio::sync::watch;

use crate::error::Error;
use crate::observe::projection::LagProbe;
use crate::store::{EventStore, StartFrom};

use super::Projection;
use super::applier::Applier;
use super::checkpoint::{Checkpoint, CheckpointStore};
use super::control::{Progress, ShutdownHandle};
use super::error::ProjectionError;
use super::running::RunningProjection;

/// How many subscriptions in a row may end before delivering anything before the runner
/// gives up.
const MAX_EMPTY_SUBSCRIPTIONS: u32 = 3;

/// Runs a [`Projection`] on any [`EventStore`], the embedded
/// [`MemoryEventStore`](crate::MemoryEventStore) included, through
/// [`EventStore::subscribe_filters`]: catch-up from the checkpoint, then live.
///
/// Every run subscribes from the checkpoint's own sequence, so the first event delivered
/// must be the checkpointed one, with the same CID — which proves the checkpoint against
/// the stored history before anything else is applied (see
/// [`ProjectionError::CheckpointMismatch`]). The rules for skipping, saving and stopping are
/// those of the [module documentation](super).
///
/// On JetStream this runs on an ordered consumer that the server forgets when the runner
/// stops; `JetStreamProjectionRunner` uses a durable consumer instead. A subscription
/// that cannot be set up stops the run with [`ProjectionError::Store`]; running again
/// resumes from the checkpoint.
///
/// See the [module documentation](super) for an example.
#[derive(Debug)]
pub struct ProjectionRunner<S, P, C> {
    store: S,
    /// The subject filters (`None`: `{prefix}.>`).
    filters: Option<Vec<String>>,
    applier: Applier<P, C>,
    /// The projection-lag gauge.
    lag: LagProbe,
}

impl<S: EventStore, P: Projection, C: CheckpointStore> ProjectionRunner<S, P, C> {
    /// A runner feeding `projection` every event of `store` (filter `{prefix}.>`), keeping
    /// its checkpoint in `checkpoints`.
    pub fn new(store: S, projection: P, checkpoints: C) -> Self {
        ProjectionRunner {
            store,
            filters: None,
            applier: Applier::new(projection, checkpoints),
            lag: LagProbe::default(),
        }
    }

    /// Feeds only the events whose subjects match `filter`, e.g. `events.*.Deposited`. The
    /// filter must stay the same across runs: the checkpointed event must still match it.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filters = Some(vec![filter.into()]);
        self
    }

    /// Feeds only the events `selector` selects: its event types of its aggregate types
    /// (see [`EventSelector`](crate::EventSelector)), on one subscription to its
    /// [`subject_filters`](crate::EventSelector::subject_filters). Other events the
    /// filters deliver (another aggregate type's event of a selected name) are skipped.
    /// The checkpointed event must still be selected on the next run; events a widened
    /// selector adds before the checkpoint are not replayed.
    pub fn select(mut self, selector: crate::EventSelector) -> Self {
        self.filters = Some(selector.subject_filters(self.store.subject_prefix()));
        self.applier.select(selector);
        self
    }

    /// Verifies that every event follows the previous event of its aggregate that this
    /// runner applied (next version, `prev` = that event's CID), and stops with
    /// [`ProjectionError::BrokenChain`] otherwise. Off by default. Meaningful only when the
    /// filter delivers every event of the aggregates it delivers (e.g. `{prefix}.>`).
    pub fn verify_chain(mut self, on: bool) -> Self {
        self.applier.verify_chain(on);
        self
    }

    /// A handle that stops the runner after the event it is applying.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.applier.control().shutdown_handle()
    }

    /// The runner's progress, updated after every event.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.applier.control().progress()
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        self.applier.projection()
    }

    /// The projection, mutably (between runs).
    pub fn projection_mut(&mut self) -> &mut P {
        self.applier.projection_mut()
    }

    /// The projection, giving up the runner.
    pub fn into_projection(self) -> P {
        self.applier.into_projection()
    }

    /// Runs the runner on its own tokio task. The returned handle waits for progress and
    /// reports the error that stopped the runner, if one does.
    pub fn spawn(self) -> RunningProjection<Self, P::Error>
    where
        S: 'static,
        P: 'static,
        C: 'static,
    {
        let name = self.applier.name().to_owned();
        let (shutdown, progress) = (self.shutdown_handle(), self.progress());
        let mut runner = self;
        RunningProjection::spawn(name, shutdown, progress, async move {
            let result = runner.run().await;
            (runner, result)
        })
    }

    /// Runs until the [`ShutdownHandle`] asks it to stop (`Ok` with the progress) or
    /// something fails (`Err`, after which running again resumes from the checkpoint).
    pub async fn run(&mut self) -> Result<Progress, ProjectionError<P::Error>> {
        self.applier.resume().await?;
        let filters = self
            .filters
            .clone()
            .unwrap_or_else(|| vec![format!("{}.>", self.store.subject_prefix())]);
        let mut empty = 0;
        loop {
            let checkpoint = self.applier.checkpoint();
            let start =
                checkpoint.map_or(StartFrom::Beginning, |c| StartFrom::Sequence(c.sequence));
            let control = self.applier.control();
            let Some(subscribed) = control
                .or_shutdown(self.store.subscribe_filters(&filters, start))
                .await
            else {
                return Ok(control.current());
            };
            let mut events = subscribed.map_err(|e| self.applier.store_error(e))?;
            self.applier.resumed();
            let mut unproven = checkpoint;
            let mut delivered = false;
            loop {
                let control = self.applier.control();
                let Some(next) = control.or_shutdown(events.next()).await else {
                    return Ok(control.current());
                };
                let Some(item) = next else { break };
                delivered = true;
                // The first event delivered from the checkpoint's sequence must be the
                // checkpointed event (its CID is compared when it is offered). An error
                // item before it proves nothing, so the proof waits for an event.
                if let (Some(checkpoint), Ok(first)) = (unproven, &item) {
                    unproven = None;
                    if first.sequence != checkpoint.sequence {
                        return Err(self
                            .applier
                            .mismatch(checkpoint, Some(Checkpoint::of(first))));
                    }
                }
                match item {
                    // The subscription recovers from these on its own, in order.
                    Err(e) if e.is_transient() => {
                        tracing::warn!(projection = self.applier.name(), error = %e, "subscription hiccup");
                    }
                    item => {
                        self.applier.offer(item).await?;
                        let (name, checkpoint) = (self.applier.name(), self.applier.checkpoint());
                        self.lag.after(&self.store, name, checkpoint).await;
                    }
                }
            }
            // The subscription ended: subscribe again from the checkpoint.
            empty = if delivered { 0 } else { empty + 1 };
            if empty >= MAX_EMPTY_SUBSCRIPTIONS {
                return Err(self.applier.store_error(Error::Backend {
                    operation: "subscribe",
                    message: "the subscription keeps ending without delivering events".to_owned(),
                    transient: true,
                }));
            }
        }
    }
}
