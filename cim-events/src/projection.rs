//! Projections: read models built from the stored events, each event applied once, in
//! stream order, surviving restarts.
//!
//! A [`Projection`] is fed events by a runner: [`ProjectionRunner`] over any
//! [`EventStore`](crate::EventStore) (the embedded [`MemoryEventStore`](crate::MemoryEventStore)
//! included), or `JetStreamProjectionRunner` on a durable JetStream consumer (see
//! `cim_events::jetstream`). Both keep a [`Checkpoint`] — the stream sequence and the CID
//! of the last event applied — in a [`CheckpointStore`], and both follow the same rules:
//!
//! - **The checkpoint is saved after the projection applied the event, and before the
//!   event is acknowledged.** A runner that stops anywhere loses nothing: whatever was
//!   not checkpointed is delivered again.
//! - **An event at or before the checkpoint is skipped** (and acknowledged), so
//!   redeliveries have no effect. An event *at* the checkpoint's sequence must have the
//!   checkpoint's CID: a checkpoint that does not match the stored history (a stream
//!   recreated, a checkpoint copied from elsewhere) stops the runner with
//!   [`ProjectionError::CheckpointMismatch`] instead of silently skipping events.
//! - **A failure stops the runner** with a typed [`ProjectionError`] and nothing after the
//!   last checkpoint is acknowledged; running again resumes from the checkpoint.
//!
//! Exactly-once *effects* then depend on one window only: a crash after
//! [`Projection::apply`] changed the read model and before the checkpoint was saved. A
//! projection closes it in one of two ways:
//!
//! 1. **It owns its storage** (a database table, a file): it writes the checkpoint it is
//!    given in the same transaction as the effect, and the runner reads and writes
//!    checkpoints through a [`CheckpointStore`] over that same storage. Effect and
//!    checkpoint are then atomic, and every event has its effect exactly once.
//! 2. **Otherwise it is idempotent**: the one event that can come again after a crash comes
//!    with the same stream sequence and CID, so the projection can recognise it (for
//!    example by storing the sequence with each row it writes).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use cim_events::projection::{Checkpoint, MemoryCheckpointStore, Projection, ProjectionRunner};
//! use cim_events::{Event, EventStore, MemoryEventStore, RecordedEvent};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Deposited { account_id: String, amount: u64 }
//! impl Event for Deposited {
//!     fn event_type(&self) -> &str { "Deposited" }
//!     fn aggregate_id(&self) -> &str { &self.account_id }
//! }
//!
//! /// The total of every deposit.
//! struct Total(Arc<Mutex<u64>>);
//!
//! #[cim_events::projection::async_trait]
//! impl Projection for Total {
//!     type Error = cim_events::Error;
//!     fn name(&self) -> &str { "total" }
//!     async fn apply(&mut self, event: &RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> {
//!         *self.0.lock().unwrap() += event.decode::<Deposited>()?.amount;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryEventStore::new();
//! for amount in [10, 20, 30] {
//!     store.append_event("acc-1", Deposited { account_id: "acc-1".into(), amount }, None).await?;
//! }
//!
//! let total = Arc::new(Mutex::new(0));
//! let checkpoints = MemoryCheckpointStore::new();
//! let runner = ProjectionRunner::new(store.clone(), Total(total.clone()), checkpoints.clone());
//! let mut running = runner.spawn();
//!
//! // Wait until the projection has caught up with the store, then stop it. Had the
//! // runner failed meanwhile, `wait_until_sequence` would return its error.
//! running.wait_until_sequence(store.last_sequence().await?).await?;
//! let stopped = running.stop().await?;
//! assert_eq!((*total.lock().unwrap(), stopped.applied), (60, 3));
//! assert_eq!(checkpoints.load_checkpoint("total").await?, stopped.checkpoint);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! # use cim_events::projection::CheckpointStore;
//! ```

mod applier;
mod chain;
mod checkpoint;
mod control;
mod error;
mod runner;
mod running;

pub use checkpoint::{Checkpoint, CheckpointStore, MemoryCheckpointStore};
pub use control::{Progress, ShutdownHandle};
pub use error::ProjectionError;
pub use runner::ProjectionRunner;
pub use running::RunningProjection;

/// The attribute [`Projection`] and [`CheckpointStore`] impls are written with, re-exported
/// so that implementing them needs no extra dependency.
pub use async_trait::async_trait;

#[cfg(feature = "jetstream")]
pub(crate) use applier::Applier;

use crate::record::RecordedEvent;

/// A read model fed by stored events. See the [module documentation](self) for how a
/// runner drives it and how to make its effects exactly-once.
#[async_trait]
pub trait Projection: Send {
    /// What [`apply`](Projection::apply) fails with. A failure stops the runner without
    /// checkpointing or acknowledging the event.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The projection's name: its checkpoint's key and, on JetStream, its durable
    /// consumer's name. Letters, digits, `-` and `_`, at most 64 characters; it must stay
    /// the same across restarts.
    fn name(&self) -> &str;

    /// Applies one event. `checkpoint` is the position the runner records once this
    /// returns `Ok`: a projection that owns its storage writes it together with the
    /// effect (see the [module documentation](self)).
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        checkpoint: Checkpoint,
    ) -> Result<(), Self::Error>;
}
