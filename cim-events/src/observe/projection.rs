//! Observing projection runners: each step, and how far behind the stream they are.

use std::time::{Duration, Instant};

use metrics::{counter, gauge};
use tracing::field::display;

use crate::error::Result;
use crate::projection::Checkpoint;
use crate::record::RecordedEvent;
use crate::store::EventStore;

use super::names::{PROJECTION_EVENTS, PROJECTION_LAG};

/// How often [`LagProbe`] asks the store for its last sequence.
const LAG_SAMPLE: Duration = Duration::from_secs(1);

/// An event reached a projection runner's step: its position goes into the step's span.
pub(crate) fn offered(event: &RecordedEvent) {
    let span = tracing::Span::current();
    span.record("sequence", event.sequence);
    span.record("cid", display(event.cid));
}

/// The step ended with `outcome` (`applied`, `skipped`).
pub(crate) fn stepped(projection: &str, outcome: &'static str) {
    tracing::Span::current().record("outcome", outcome);
    counter!(PROJECTION_EVENTS, "projection" => projection.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Sets the lag gauge of `projection`.
pub(crate) fn lag(projection: &str, messages: u64) {
    // Precision loss only beyond 2^53 messages.
    #[allow(clippy::cast_precision_loss)]
    gauge!(PROJECTION_LAG, "projection" => projection.to_owned()).set(messages as f64);
}

/// Measures how far a projection at `checkpoint` (`None`: nothing applied yet) is behind
/// `store` — its last stream sequence minus the checkpoint's, messages of every subject
/// counted — records it as the [`PROJECTION_LAG`] gauge of `projection`, and returns
/// it. One [`EventStore::last_sequence`] call: call it on a timer, for example with a
/// `JetStreamProjectionRunner`'s or `ProjectionRunner`'s `progress()`.
pub async fn record_projection_lag<S: EventStore + ?Sized>(
    store: &S,
    projection: &str,
    checkpoint: Option<Checkpoint>,
) -> Result<u64> {
    let last = store.last_sequence().await?;
    let behind = last.saturating_sub(checkpoint.map_or(0, |c| c.sequence));
    lag(projection, behind);
    Ok(behind)
}

/// The lag gauge of a runner fed by a subscription: after each event, the newest stream
/// sequence known (the store's last sequence, asked at most once a second, or the event's
/// own if newer) minus the checkpoint's. It never lags high: once the runner applies the
/// newest message, it reads 0.
#[derive(Debug, Default)]
pub(crate) struct LagProbe {
    sampled: Option<Instant>,
    newest: u64,
}

impl LagProbe {
    /// Updates the gauge of `projection` after a step that left it at `checkpoint`.
    pub(crate) async fn after<S: EventStore + ?Sized>(
        &mut self,
        store: &S,
        projection: &str,
        checkpoint: Option<Checkpoint>,
    ) {
        let Some(checkpoint) = checkpoint else { return };
        if self.sampled.is_none_or(|at| at.elapsed() >= LAG_SAMPLE) {
            self.sampled = Some(Instant::now());
            match store.last_sequence().await {
                Ok(last) => self.newest = self.newest.max(last),
                Err(error) => tracing::debug!(%error, "projection lag not sampled"),
            }
        }
        self.newest = self.newest.max(checkpoint.sequence);
        lag(projection, self.newest - checkpoint.sequence);
    }
}
