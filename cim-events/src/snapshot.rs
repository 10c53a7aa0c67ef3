//! Snapshots: an aggregate's state at a version, bound to the CID of the event it covers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use cid::Cid;

use crate::aggregate::Aggregate;
use crate::error::Result;
use crate::head::Head;
use crate::payload::{self, PayloadError, PayloadProblem};
use crate::schema::Fingerprint;

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
    /// The state, DAG-CBOR encoded. When the state was built from encrypted values
    /// (`data_keys` is not empty), these bytes are sealed: the DAG-CBOR of an encrypted
    /// node (see [`crypto`](crate::crypto#wire-format)) per data key, one inside the other,
    /// bound to the aggregate and the head CID, so that destroying any of those keys leaves
    /// the snapshot unreadable wherever its bytes remain.
    pub state: Bytes,
    /// The [`STATE_VERSION`](crate::Aggregate::STATE_VERSION) of the aggregate that wrote
    /// the state.
    pub state_version: u32,
    /// The fingerprint of the state type's shape that wrote it (see
    /// [`schema`](crate::schema)). A snapshot whose version or fingerprint differs from
    /// the current state type's is never used: the state is rebuilt from the events.
    pub state_fingerprint: Fingerprint,
    /// The data keys whose plaintext the state may hold, each `{kid}:{version}`: the
    /// SHA-256 of the key id and the data key's version, in hex (see
    /// [`crypto`](crate::crypto#wire-format)). Empty without encryption. A snapshot is not
    /// served once one of these keys is destroyed, even if its key id is re-created.
    pub data_keys: Vec<String>,
}

impl Snapshot {
    /// A snapshot of `state`, aggregate `aggregate_id` of type `A`, taken after the event
    /// `head`: the state encoded with [`encode_state`](Snapshot::encode_state) and stamped
    /// with `A`'s state version and shape, as the repository writes it.
    ///
    /// ```
    /// use cim_events::{Aggregate, Head, Snapshot};
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// # struct Account { balance: u64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Noted { id: String }
    /// # impl cim_events::Event for Noted {
    /// #     fn event_type(&self) -> &str { "Noted" }
    /// #     fn aggregate_id(&self) -> &str { &self.id }
    /// # }
    /// # impl Aggregate for Account {
    /// #     type Event = Noted;
    /// #     type Error = std::convert::Infallible;
    /// #     const AGGREGATE_TYPE: &'static str = "Account";
    /// #     fn apply(&mut self, _: &Noted) {}
    /// # }
    /// let head = Head { version: 3, cid: cim_events::block::cid_of(b"event 3"), sequence: 9 };
    /// let snapshot = Snapshot::of("acc-1", head, &Account { balance: 7 })?;
    /// assert_eq!((snapshot.version, snapshot.sequence), (3, 9));
    /// assert_eq!(snapshot.state_version, Account::STATE_VERSION);
    /// # Ok::<(), cim_events::payload::PayloadError>(())
    /// ```
    pub fn of<A>(aggregate_id: &str, head: Head, state: &A) -> Result<Snapshot, PayloadError>
    where
        A: Aggregate + serde::Serialize + serde::de::DeserializeOwned,
    {
        Ok(Snapshot {
            aggregate_type: A::AGGREGATE_TYPE.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            version: head.version,
            head: head.cid,
            sequence: head.sequence,
            state: Snapshot::encode_state(state)?,
            state_version: A::STATE_VERSION,
            state_fingerprint: state_fingerprint::<A>(),
            data_keys: Vec::new(),
        })
    }

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

/// The fingerprint of state type `A`'s shape, traced from its `Deserialize` impl (see
/// [`state_shape`](crate::schema::state_shape)).
pub(crate) fn state_fingerprint<A: Aggregate + serde::de::DeserializeOwned>() -> Fingerprint {
    crate::schema::state_shape::<A>().fingerprint()
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
