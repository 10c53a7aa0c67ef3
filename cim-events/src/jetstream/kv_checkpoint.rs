//! [`JetStreamCheckpointStore`]: projection checkpoints in a JetStream key-value bucket.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use async_trait::async_trait;
use bytes::Bytes;
use ipld_core::ipld::Ipld;

use crate::block::DecodeError;
use crate::error::{Error, Result};
use crate::projection::{Checkpoint, CheckpointStore};

use super::errors::backend;
use super::kv::{Fields, Value, encode_map, open_bucket, read_fresh};
use crate::backoff;

/// The checkpoint value format this store writes and reads.
pub const CHECKPOINT_FORMAT_VERSION: u64 = 1;

/// How many times a save is tried before the runner is told it failed: with backoff
/// capped at 5 s, about half a minute, enough to ride out a server restart or a leader
/// election without stopping the projection.
const SAVE_ATTEMPTS: u32 = 12;

/// Projection checkpoints in a JetStream key-value bucket, one key per projection (its
/// name). The value is a DAG-CBOR map `{v: 1, projection, sequence, cid}` with `cid` a CID
/// link to the last event applied.
///
/// - **Reads come from the stream leader**, never from a replica that may be behind: a
///   stale checkpoint would make a restarted runner apply events twice.
/// - **Writes are fenced by revision**: each save expects the revision this store last
///   read or wrote for the key. A save that finds the key changed by someone else fails
///   with [`Error::ConcurrentWriter`] instead of overwriting: two runners of one
///   projection at once would each apply only part of the events. A save whose outcome
///   was unknown (a timeout) is checked by reading the key back, and tried again only if
///   it did not land.
///
/// ```no_run
/// use cim_events::jetstream::{JetStreamEventStore, JetStreamProjectionRunner, JetStreamCheckpointStore, async_nats};
/// # use cim_events::projection::{Checkpoint, Projection};
/// # struct Balances;
/// # #[cim_events::projection::async_trait]
/// # impl Projection for Balances {
/// #     type Error = cim_events::Error;
/// #     fn name(&self) -> &str { "balances" }
/// #     async fn apply(&mut self, _: &cim_events::RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let jetstream = async_nats::jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await?);
/// let store = JetStreamEventStore::new(jetstream.clone(), "ACCOUNTS").await?;
/// let checkpoints = JetStreamCheckpointStore::new(jetstream, "projections").await?;
/// let mut runner = JetStreamProjectionRunner::new(&store, Balances, checkpoints);
/// runner.run().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JetStreamCheckpointStore {
    kv: kv::Store,
    /// The revision and checkpoint of each key as this store last read or wrote it.
    known: Mutex<HashMap<String, (u64, Checkpoint)>>,
}

impl JetStreamCheckpointStore {
    /// Opens the checkpoint bucket `bucket`, creating it if it does not exist (history 1,
    /// file storage, one replica).
    pub async fn new(context: jetstream::Context, bucket: &str) -> Result<Self> {
        Self::with_replicas(context, bucket, 1).await
    }

    /// Opens the checkpoint bucket `bucket`, creating it with `replicas` replicas (1 or 3)
    /// if it does not exist. An existing bucket is used with the settings it has.
    pub async fn with_replicas(
        context: jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self> {
        let kv = open_bucket(
            &context,
            bucket,
            replicas,
            "cim-events projection checkpoints",
        )
        .await?;
        Ok(JetStreamCheckpointStore {
            kv,
            known: Mutex::new(HashMap::new()),
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.kv.name
    }

    /// The underlying key-value store.
    pub fn kv(&self) -> &kv::Store {
        &self.kv
    }

    /// Encodes a checkpoint as this store keeps it.
    pub fn encode(projection: &str, checkpoint: Checkpoint) -> Result<Bytes> {
        encode_map(BTreeMap::from([
            (
                "v".to_owned(),
                Ipld::Integer(CHECKPOINT_FORMAT_VERSION.into()),
            ),
            ("projection".to_owned(), Ipld::String(projection.to_owned())),
            (
                "sequence".to_owned(),
                Ipld::Integer(checkpoint.sequence.into()),
            ),
            ("cid".to_owned(), Ipld::Link(checkpoint.cid)),
        ]))
    }

    /// Decodes a value written by [`encode`](Self::encode), strictly; returns the
    /// projection name it records and the checkpoint.
    pub fn decode(bytes: &[u8]) -> Result<(String, Checkpoint), DecodeError> {
        let mut fields = Fields::decode(bytes, CHECKPOINT_FORMAT_VERSION)?;
        let projection = fields.string("projection")?;
        let checkpoint = Checkpoint {
            sequence: fields.unsigned("sequence")?,
            cid: fields.link("cid")?,
        };
        fields.finish()?;
        Ok((projection, checkpoint))
    }

    /// The stored checkpoint of `projection` and its revision, from the leader.
    async fn read(&self, projection: &str) -> Result<Option<(u64, Checkpoint)>> {
        let Some(Value { bytes, revision }) = read_fresh(&self.kv, projection).await? else {
            return Ok(None);
        };
        match Self::decode(&bytes) {
            Ok((name, checkpoint)) if name == projection => Ok(Some((revision, checkpoint))),
            Ok((name, _)) => Err(self.malformed(
                projection,
                revision,
                format!("it records projection `{name}`"),
            )),
            Err(problem) => Err(self.malformed(projection, revision, problem.to_string())),
        }
    }

    fn malformed(&self, projection: &str, revision: u64, problem: String) -> Error {
        Error::Malformed {
            what: "checkpoint",
            key: format!("{}/{projection} (revision {revision})", self.kv.name),
            problem: format!("it is not a checkpoint of `{projection}`: {problem}"),
        }
    }

    fn known(&self, projection: &str) -> Option<(u64, Checkpoint)> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.get(projection).copied()
    }

    fn remember(&self, projection: &str, revision: u64, checkpoint: Checkpoint) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(projection.to_owned(), (revision, checkpoint));
    }
}

#[async_trait]
impl CheckpointStore for JetStreamCheckpointStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        let stored = self.read(projection).await?;
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        match stored {
            Some((revision, checkpoint)) => {
                known.insert(projection.to_owned(), (revision, checkpoint));
                Ok(Some(checkpoint))
            }
            None => {
                known.remove(projection);
                Ok(None)
            }
        }
    }

    async fn save_checkpoint(&self, projection: &str, checkpoint: Checkpoint) -> Result<()> {
        let value = Self::encode(projection, checkpoint)?;
        let mut last_error = String::new();
        for attempt in 0..SAVE_ATTEMPTS {
            if attempt > 0 {
                backoff::sleep(
                    attempt - 1,
                    Duration::from_millis(50),
                    Duration::from_secs(5),
                )
                .await;
            }
            let known = self.known(projection);
            let written = match known {
                Some((revision, _)) => self
                    .kv
                    .update(projection, value.clone(), revision)
                    .await
                    .map_err(|e| e.to_string()),
                None => self
                    .kv
                    .create(projection, value.clone())
                    .await
                    .map_err(|e| e.to_string()),
            };
            match written {
                Ok(revision) => {
                    self.remember(projection, revision, checkpoint);
                    return Ok(());
                }
                Err(e) => last_error = e,
            }
            // Refused, timed out or lost: find out what the key holds now.
            let now = match self.read(projection).await {
                Ok(now) => now,
                // The server is unreachable for now: try again.
                Err(e) if e.is_transient() => {
                    last_error = e.to_string();
                    continue;
                }
                Err(e) => return Err(e),
            };
            match now {
                Some((revision, stored)) if stored == checkpoint => {
                    // An earlier attempt landed.
                    self.remember(projection, revision, checkpoint);
                    return Ok(());
                }
                // Unchanged: the write did not land. Try again.
                now if now.map(|(revision, _)| revision) == known.map(|(revision, _)| revision) => {
                }
                now => {
                    let found = now.map_or_else(
                        || "deleted".to_owned(),
                        |(_, c)| format!("moved to stream sequence {}", c.sequence),
                    );
                    return Err(Error::ConcurrentWriter {
                        what: "checkpoint",
                        key: format!("{}/{projection}", self.kv.name),
                        problem: format!(
                            "it was {found}; is another runner of this projection running?"
                        ),
                    });
                }
            }
        }
        Err(backend(
            "save checkpoint",
            format!("{SAVE_ATTEMPTS} attempts failed, the last with: {last_error}"),
            true,
        ))
    }
}
