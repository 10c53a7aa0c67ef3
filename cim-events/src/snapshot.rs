//! Snapshots: an aggregate's state at a version, bound to the CID of the event it covers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use cid::Cid;

use crate::error::Result;
use crate::payload::{self, PayloadError, PayloadProblem};

/// An aggregate's state after the event at `version`, whose CID is `head`, stored at
/// stream sequence `sequence`. A snapshot is only trusted if the stored message at
/// `sequence` is still that event; a load then reads only the messages after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Aggregate type.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Version of the last event the state covers.
    pub version: u64,
    /// CID of that event.
    pub head: Cid,
    /// Stream sequence of that event.
    pub sequence: u64,
    /// The state, DAG-CBOR encoded.
    pub state: Bytes,
}

impl Snapshot {
    /// Encodes an aggregate state the way snapshots store it: converted to IPLD as strictly
    /// as event payloads are (see [`crate::payload`]), then DAG-CBOR encoded.
    ///
    /// ```
    /// use cim_events::Snapshot;
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Account { balance: u64 }
    /// let bytes = Snapshot::encode_state(&Account { balance: 7 })?;
    /// assert_eq!(Snapshot::decode_state::<Account>(&bytes)?, Account { balance: 7 });
    /// # Ok::<(), cim_events::payload::PayloadError>(())
    /// ```
    pub fn encode_state<T: serde::Serialize>(state: &T) -> Result<Bytes, PayloadError> {
        let ipld = payload::to_ipld(state)?;
        serde_ipld_dagcbor::to_vec(&ipld)
            .map(Bytes::from)
            .map_err(|e| PayloadError {
                path: "$".to_owned(),
                problem: PayloadProblem::Serde(e.to_string()),
            })
    }

    /// Decodes a state written by [`encode_state`](Snapshot::encode_state). Bytes that are
    /// not DAG-CBOR, or that do not fit `T`, are a [`PayloadError`] with
    /// [`PayloadProblem::Mismatch`].
    pub fn decode_state<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
        let ipld: ipld_core::ipld::Ipld =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| PayloadError {
                path: "$".to_owned(),
                problem: PayloadProblem::Mismatch(format!("not DAG-CBOR: {e}")),
            })?;
        payload::from_ipld(ipld)
    }
}

/// When the repository writes snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SnapshotPolicy {
    /// Never.
    #[default]
    Never,
    /// Whenever a command brings the version to a multiple of this number (or past one).
    EveryNEvents(u64),
}

impl SnapshotPolicy {
    /// Whether a command that moved the version from `before` to `after` should snapshot.
    pub fn should_snapshot(&self, before: u64, after: u64) -> bool {
        match *self {
            SnapshotPolicy::Never => false,
            SnapshotPolicy::EveryNEvents(0) => false,
            SnapshotPolicy::EveryNEvents(n) => after / n > before / n,
        }
    }
}

/// Where snapshots are kept.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// The newest snapshot of the aggregate, if any.
    async fn load_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<Snapshot>>;

    /// Saves a snapshot. A snapshot older than the one stored is ignored, so concurrent
    /// writers never move a snapshot backwards.
    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<()>;
}

/// Snapshots in memory, for tests and the embedded store.
#[derive(Debug, Clone, Default)]
pub struct MemorySnapshotStore {
    snapshots: Arc<Mutex<HashMap<(String, String), Snapshot>>>,
}

impl MemorySnapshotStore {
    /// An empty snapshot store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SnapshotStore for MemorySnapshotStore {
    async fn load_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<Snapshot>> {
        let map = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map
            .get(&(aggregate_type.to_owned(), aggregate_id.to_owned()))
            .cloned())
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let mut map = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        let key = (
            snapshot.aggregate_type.clone(),
            snapshot.aggregate_id.clone(),
        );
        if map
            .get(&key)
            .is_none_or(|old| old.version < snapshot.version)
        {
            map.insert(key, snapshot.clone());
        }
        Ok(())
    }
}
