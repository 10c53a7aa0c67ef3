//! Checkpoints: how far a projection got, bound to the CID of the event it covers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cid::Cid;

use crate::error::Result;
use crate::record::RecordedEvent;

/// The position of a projection: the last event it applied, by stream sequence and CID.
/// The CID makes the position verifiable: a checkpoint is only trusted while the stored
/// event at `sequence` still has this CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// Stream sequence of the last event applied.
    pub sequence: u64,
    /// CID of that event.
    pub cid: Cid,
}

impl Checkpoint {
    /// The checkpoint that covers `event`.
    pub fn of(event: &RecordedEvent) -> Checkpoint {
        Checkpoint {
            sequence: event.sequence,
            cid: event.cid,
        }
    }
}

/// Where checkpoints are kept, one per projection name.
///
/// The runner loads the checkpoint when it starts and saves one after every event the
/// projection applied, before acknowledging it. For effects and checkpoint to be atomic,
/// implement this over the projection's own storage (see the
/// [module documentation](super)); otherwise use [`MemoryCheckpointStore`] or, on
/// JetStream, `JetStreamCheckpointStore`.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The checkpoint of `projection`, `None` if it has none yet (it starts from the first
    /// event).
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>>;

    /// Records `checkpoint` as the position of `projection`.
    async fn save_checkpoint(&self, projection: &str, checkpoint: Checkpoint) -> Result<()>;
}

#[async_trait]
impl<T: CheckpointStore + ?Sized> CheckpointStore for Arc<T> {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        (**self).load_checkpoint(projection).await
    }

    async fn save_checkpoint(&self, projection: &str, checkpoint: Checkpoint) -> Result<()> {
        (**self).save_checkpoint(projection, checkpoint).await
    }
}

/// Checkpoints in memory: for tests, and for projections whose read model is in memory
/// too (both are lost together, so the projection rebuilds from the first event). Cloning
/// gives another handle to the same checkpoints.
///
/// ```
/// use cim_events::projection::{CheckpointStore, MemoryCheckpointStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let checkpoints = MemoryCheckpointStore::new();
/// assert_eq!(checkpoints.load_checkpoint("balances").await?, None);
/// # Ok::<(), cim_events::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryCheckpointStore {
    checkpoints: Arc<Mutex<HashMap<String, Checkpoint>>>,
}

impl MemoryCheckpointStore {
    /// An empty checkpoint store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        let map = self.checkpoints.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(projection).copied())
    }

    async fn save_checkpoint(&self, projection: &str, checkpoint: Checkpoint) -> Result<()> {
        let mut map = self.checkpoints.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(projection.to_owned(), checkpoint);
        Ok(())
    }
}
