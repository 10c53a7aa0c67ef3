//! Snapshots in the repository: deciding whether a stored snapshot can be trusted, and
//! writing new ones as the policy says.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aggregate::Aggregate;
use crate::block::{EventBlock, cid_of};
use crate::crypto::{Crypto, Place};
use crate::head::Head;
use crate::payload::PayloadError;
use crate::record::RawRecord;
use crate::schema::Fingerprint;
use crate::snapshot::{Snapshot, SnapshotPolicy, SnapshotStore};

/// Whether loading an aggregate used a snapshot.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SnapshotUse {
    /// No snapshot store is configured, or it holds no snapshot of the aggregate.
    Absent,
    /// The state started from the snapshot taken at this version; only later events were
    /// replayed.
    Used {
        /// The version the snapshot covers.
        version: u64,
    },
    /// A snapshot was found but not trusted: the state was replayed from the first event.
    Ignored(SnapshotRejection),
}

/// Why a stored snapshot was not used. Each one is also logged with `tracing::warn!`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SnapshotRejection {
    /// The snapshot store failed to load it.
    StoreFailed(String),
    /// The snapshot store returned a snapshot of another aggregate.
    WrongAggregate {
        /// Its aggregate type.
        aggregate_type: String,
        /// Its aggregate id.
        aggregate_id: String,
    },
    /// The snapshot claims to cover version 0, which has no event to bind it to.
    NoEvent,
    /// The state does not decode into the aggregate type (its shape changed since the
    /// snapshot was written, or the bytes are damaged).
    Undecodable {
        /// The version the snapshot covers.
        version: u64,
        /// What went wrong.
        error: PayloadError,
    },
    /// The snapshot was written by a state type of another shape: its declared
    /// [`STATE_VERSION`](crate::Aggregate::STATE_VERSION) or the fingerprint of its fields
    /// differs from the current state type's. Its state would decode wrongly or not at
    /// all (a field added since reads as its default although the history says otherwise).
    StateChanged {
        /// The version the snapshot covers.
        version: u64,
        /// The state version and fingerprint the snapshot was written under.
        stored: (u32, Fingerprint),
        /// The current state type's.
        current: (u32, Fingerprint),
    },
    /// The state was built from encrypted values under a data key that has been
    /// shredded since: it may hold the erased plaintext. The state is rebuilt from the
    /// events, where those values read as shredded, and the next snapshot replaces it.
    Shredded {
        /// The version the snapshot covers.
        version: u64,
        /// The shredded data key (its hashed id).
        data_key: String,
    },
    /// The key store could not say whether the snapshot's data keys were shredded: it is
    /// not served while that is unknown.
    KeysUnknown(String),
    /// The state is sealed under the data keys it was built from (it holds decrypted
    /// values), and could not be opened: no encryption is configured, or the sealed bytes
    /// are damaged.
    Unsealable(String),
    /// The stored event at the snapshot's version is not the event the snapshot was taken
    /// after: the history was rewritten, or the snapshot belongs to another store.
    HeadMismatch {
        /// The version the snapshot covers.
        version: u64,
        /// The CID the snapshot records.
        expected: Cid,
        /// The CID of the stored event at that version, `None` if there is none.
        found: Option<Cid>,
    },
}

impl fmt::Display for SnapshotRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotRejection::StoreFailed(e) => write!(f, "the snapshot store failed: {e}"),
            SnapshotRejection::WrongAggregate {
                aggregate_type,
                aggregate_id,
            } => write!(
                f,
                "the snapshot store returned a snapshot of `{aggregate_type}` `{aggregate_id}`"
            ),
            SnapshotRejection::NoEvent => f.write_str("the snapshot covers no event (version 0)"),
            SnapshotRejection::Undecodable { version, error } => {
                write!(
                    f,
                    "the snapshot at version {version} does not decode: {error}"
                )
            }
            SnapshotRejection::StateChanged {
                version,
                stored,
                current,
            } => write!(
                f,
                "the snapshot at version {version} holds a state of version {} (shape {}), but the state type is now version {} (shape {})",
                stored.0, stored.1, current.0, current.1
            ),
            SnapshotRejection::Shredded { version, data_key } => write!(
                f,
                "the snapshot at version {version} was built from data under key {data_key}, which has been shredded"
            ),
            SnapshotRejection::Unsealable(e) => {
                write!(f, "the snapshot's sealed state could not be opened: {e}")
            }
            SnapshotRejection::KeysUnknown(e) => write!(
                f,
                "the key store could not say whether the snapshot's data keys were shredded: {e}"
            ),
            SnapshotRejection::HeadMismatch {
                version,
                expected,
                found: Some(found),
            } => write!(
                f,
                "the snapshot at version {version} covers event {expected}, but the stored event is {found}"
            ),
            SnapshotRejection::HeadMismatch {
                version,
                expected,
                found: None,
            } => write!(
                f,
                "the snapshot at version {version} covers event {expected}, but no event with that version is stored"
            ),
        }
    }
}

/// The snapshot store, policy and state codec of a repository. The codec is a pair of
/// function pointers chosen where `A: Serialize + DeserializeOwned` is known, so the
/// repository itself needs no serde bound.
pub(crate) struct Snapshots<A> {
    store: Arc<dyn SnapshotStore>,
    policy: SnapshotPolicy,
    encode: fn(&A) -> Result<Bytes, PayloadError>,
    decode: fn(&[u8]) -> Result<A, PayloadError>,
    /// The fingerprint of the state type's shape, computed once.
    state_fingerprint: Fingerprint,
    /// The store's encryption: what checks a snapshot's data keys, and seals and opens
    /// states built from decrypted values.
    crypto: Option<Crypto>,
}

/// A snapshot that passed every check that needs no event: it is this aggregate's, covers
/// at least one event, and its state decodes.
pub(crate) struct Candidate<A> {
    pub state: A,
    pub version: u64,
    pub head: Cid,
    /// Stream sequence of the head event: the load reads from there.
    pub sequence: u64,
    /// The data keys the state was built from.
    pub data_keys: BTreeSet<String>,
}

impl<A> Clone for Snapshots<A> {
    fn clone(&self) -> Self {
        Snapshots {
            store: Arc::clone(&self.store),
            policy: self.policy,
            encode: self.encode,
            decode: self.decode,
            state_fingerprint: self.state_fingerprint,
            crypto: self.crypto.clone(),
        }
    }
}

impl<A> fmt::Debug for Snapshots<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshots")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> Snapshots<A> {
    /// Snapshots of `A` in `store`, its state DAG-CBOR encoded.
    pub(crate) fn new(
        store: Arc<dyn SnapshotStore>,
        policy: SnapshotPolicy,
        crypto: Option<Crypto>,
    ) -> Self
    where
        A: Serialize + DeserializeOwned,
    {
        Snapshots {
            store,
            policy,
            encode: Snapshot::encode_state::<A>,
            decode: Snapshot::decode_state::<A>,
            state_fingerprint: crate::snapshot::state_fingerprint::<A>(),
            crypto,
        }
    }

    /// The stored snapshot of the aggregate, if there is one that passes the checks that
    /// need no event.
    // A rejection is rare and short-lived; boxing it would only add noise.
    #[allow(clippy::result_large_err)]
    pub(crate) async fn candidate(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<Candidate<A>>, SnapshotRejection> {
        let crypto = self.crypto.as_ref();
        let snapshot = match self
            .store
            .load_snapshot(A::AGGREGATE_TYPE, aggregate_id)
            .await
        {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => return Ok(None),
            Err(e) => return Err(SnapshotRejection::StoreFailed(e.to_string())),
        };
        if snapshot.aggregate_type != A::AGGREGATE_TYPE || snapshot.aggregate_id != aggregate_id {
            return Err(SnapshotRejection::WrongAggregate {
                aggregate_type: snapshot.aggregate_type,
                aggregate_id: snapshot.aggregate_id,
            });
        }
        if snapshot.version == 0 {
            return Err(SnapshotRejection::NoEvent);
        }
        let current = (A::STATE_VERSION, self.state_fingerprint);
        if (snapshot.state_version, snapshot.state_fingerprint) != current {
            return Err(SnapshotRejection::StateChanged {
                version: snapshot.version,
                stored: (snapshot.state_version, snapshot.state_fingerprint),
                current,
            });
        }
        shredded_keys(&snapshot, crypto).await?;
        let bytes = open_state(&snapshot, crypto).await?;
        let state = (self.decode)(&bytes).map_err(|error| SnapshotRejection::Undecodable {
            version: snapshot.version,
            error,
        })?;
        Ok(Some(Candidate {
            state,
            version: snapshot.version,
            head: snapshot.head,
            sequence: snapshot.sequence,
            data_keys: snapshot.data_keys.into_iter().collect(),
        }))
    }

    /// Saves a snapshot if the policy asks for one after a command moved the version from
    /// `before` to `head.version`, or if `rebuild` (the stored snapshot was ignored: an old
    /// format, or damaged). A failure is logged, never returned: the events are stored, and
    /// a missing snapshot only makes the next load replay more.
    pub(crate) async fn after_command(
        &self,
        aggregate_id: &str,
        before: u64,
        head: Head,
        state: &A,
        data_keys: &BTreeSet<String>,
        rebuild: bool,
    ) {
        let crypto = self.crypto.as_ref();
        let due = self.policy != SnapshotPolicy::Never
            && (rebuild || self.policy.should_snapshot(before, head.version));
        if !due {
            return;
        }
        let state = match (self.encode)(state) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(
                    aggregate_type = A::AGGREGATE_TYPE,
                    aggregate_id,
                    version = head.version,
                    %error,
                    "snapshot not saved: the state cannot be encoded"
                );
                return;
            }
        };
        let data_keys: Vec<String> = data_keys.iter().cloned().collect();
        let state = match (crypto, data_keys.is_empty()) {
            (Some(crypto), false) => {
                let cid = head.cid.to_string();
                let place = snapshot_place::<A>(aggregate_id, &cid);
                match crypto.seal_state(&state, &data_keys, &place).await {
                    Ok(sealed) => sealed,
                    Err(error) => {
                        tracing::warn!(
                            aggregate_type = A::AGGREGATE_TYPE,
                            aggregate_id,
                            version = head.version,
                            %error,
                            "snapshot not saved: the state cannot be sealed under its data keys"
                        );
                        return;
                    }
                }
            }
            _ => state,
        };
        let snapshot = Snapshot {
            aggregate_type: A::AGGREGATE_TYPE.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            version: head.version,
            head: head.cid,
            sequence: head.sequence,
            state,
            state_version: A::STATE_VERSION,
            state_fingerprint: self.state_fingerprint,
            data_keys,
        };
        if let Err(error) = self.store.save_snapshot(&snapshot).await {
            tracing::warn!(
                aggregate_type = A::AGGREGATE_TYPE,
                aggregate_id,
                version = head.version,
                %error,
                "snapshot not saved: the snapshot store failed"
            );
        }
    }
}

/// Refuses a snapshot built from data under a key that has been shredded since (or when
/// the key store cannot tell). A snapshot without data keys needs no lookup.
async fn shredded_keys(
    snapshot: &Snapshot,
    crypto: Option<&Crypto>,
) -> Result<(), SnapshotRejection> {
    let Some(crypto) = crypto else {
        return Ok(());
    };
    for key in &snapshot.data_keys {
        match crypto.holds_key(key).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(SnapshotRejection::Shredded {
                    version: snapshot.version,
                    data_key: key.clone(),
                });
            }
            Err(e) => return Err(SnapshotRejection::KeysUnknown(e.to_string())),
        }
    }
    Ok(())
}

/// Where a sealed snapshot state is bound: its aggregate and the event it covers.
fn snapshot_place<'a, A: Aggregate>(aggregate_id: &'a str, head: &'a str) -> Place<'a> {
    Place::new(A::AGGREGATE_TYPE, aggregate_id, "$snapshot", head)
}

/// The snapshot's state bytes, unsealed if they were sealed under data keys. A sealed
/// state without encryption configured to open it is not served.
async fn open_state(
    snapshot: &Snapshot,
    crypto: Option<&Crypto>,
) -> Result<Bytes, SnapshotRejection> {
    if snapshot.data_keys.is_empty() {
        return Ok(snapshot.state.clone());
    }
    let Some(crypto) = crypto else {
        return Err(SnapshotRejection::Unsealable(
            "the store has no encryption".to_owned(),
        ));
    };
    let head = snapshot.head.to_string();
    let place = Place::new(
        &snapshot.aggregate_type,
        &snapshot.aggregate_id,
        "$snapshot",
        &head,
    );
    crypto
        .open_state(&snapshot.state, &snapshot.data_keys, &place)
        .await
        .map_err(|e| SnapshotRejection::Unsealable(e.to_string()))
}

impl<A> Candidate<A> {
    /// Checks the snapshot against `first`, the first stored message at or after the
    /// snapshot's stream sequence: it must be there, the event at exactly the snapshot's
    /// version, hashing to the snapshot's head CID. Returns that event's head, where the
    /// replay continues.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check(&self, first: Option<&RawRecord>) -> Result<Head, SnapshotRejection> {
        let found = first
            .filter(|record| record.sequence == self.sequence)
            .and_then(|record| {
                let block = EventBlock::decode(&record.data).ok()?;
                (block.seq == self.version).then(|| Head {
                    version: block.seq,
                    cid: cid_of(&record.data),
                    sequence: record.sequence,
                })
            });
        match found {
            Some(head) if head.cid == self.head => Ok(head),
            other => Err(SnapshotRejection::HeadMismatch {
                version: self.version,
                expected: self.head,
                found: other.map(|h| h.cid),
            }),
        }
    }
}
