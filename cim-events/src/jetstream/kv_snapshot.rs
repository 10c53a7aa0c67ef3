//! [`JetStreamSnapshotStore`]: snapshots in a JetStream key-value bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{
    self,
    kv::{self, CreateErrorKind, UpdateErrorKind},
};
use async_trait::async_trait;
use bytes::Bytes;
use ipld_core::ipld::Ipld;

use crate::block::DecodeError;
use crate::error::{Error, Result};
use crate::schema::Fingerprint;
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::subject::{TokenKind, validate_token};

use super::errors::backend;
use super::kv::{Fields, Value, encode_map, open_bucket, read_any, read_fresh};
use crate::backoff;

/// The snapshot value format this store writes and reads. Version 2 added the stream
/// sequence of the head event, so that a load reads only the events after it. Version 3
/// added the state's shape (its declared version and fingerprint), so that a state type
/// that changed never reads an old state, and the data keys the state may hold plaintext
/// of, so that a shredded key's data is never served from a snapshot. A value of another
/// version (versions 1 and 2 included) is never misread: it loads as
/// [`Error::Malformed`](crate::Error::Malformed), the repository ignores it with a warning
/// and replays the events, and the next snapshot saved replaces it.
pub const SNAPSHOT_FORMAT_VERSION: u64 = 3;

/// How many times a save re-reads and retries after losing a race on the key.
const SAVE_ATTEMPTS: u32 = 10;

/// Snapshots in a JetStream key-value bucket, one key per aggregate.
///
/// - **Key**: `{aggregate_type}.{aggregate_id}`, each part validated as a subject token and
///   escaped for the key alphabet: ASCII letters, digits, `-` and `_` stay as they are,
///   every other byte of the UTF-8 encoding becomes `=XX` (upper-case hex), so `acc-1`
///   stays `acc-1` and `ü` becomes `=C3=BC`. The escaping is reversible.
/// - **Value**: a DAG-CBOR map `{v: 3, aggregate_type, aggregate_id, version, head,
///   sequence, state, state_version, state_fingerprint, data_keys}` with `head` a CID link
///   to the event the state was taken after, `sequence` that event's stream sequence,
///   `state` the DAG-CBOR bytes of the state, `state_version` and `state_fingerprint`
///   (32 bytes) the shape of the state type that wrote it, and `data_keys` a list of
///   strings (see [`encode`](Self::encode)).
/// - **Writes** check the key's revision: `create` when the key has no value, `update`
///   with the revision read otherwise. A writer that loses a race reads again and only
///   overwrites a snapshot of a lower version (or of the same version with another
///   head), so snapshots never move backwards.
/// - **Loads** come from any replica: a snapshot a little behind only costs a longer
///   replay, and the repository checks every snapshot against the stored event at its
///   version before trusting it. Saves read the revision from the stream leader.
///
/// A value that is not a snapshot in this format loads as [`Error::Malformed`](crate::Error::Malformed)
/// naming the key and the problem (the repository then ignores it with a warning and
/// replays the events); it never panics.
///
/// ```no_run
/// use cim_events::jetstream::{JetStreamEventStore, JetStreamSnapshotStore, async_nats};
/// use cim_events::{Repository, SnapshotPolicy};
/// # #[derive(Default, serde::Serialize, serde::Deserialize)]
/// # struct Account;
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Opened { id: String }
/// # impl cim_events::Event for Opened {
/// #     fn event_type(&self) -> &str { "Opened" }
/// #     fn aggregate_id(&self) -> &str { &self.id }
/// # }
/// # impl cim_events::Aggregate for Account {
/// #     type Event = Opened;
/// #     type Error = std::convert::Infallible;
/// #     const AGGREGATE_TYPE: &'static str = "Account";
/// #     fn apply(&mut self, _: &Opened) {}
/// # }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let jetstream = async_nats::jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await?);
/// let store = JetStreamEventStore::new(jetstream.clone(), "ACCOUNTS").await?;
/// let snapshots = JetStreamSnapshotStore::new(jetstream, "account_snapshots").await?;
/// let accounts = Repository::<Account, _>::new(store)
///     .with_snapshots(snapshots, SnapshotPolicy::EveryNEvents(100));
/// # let _ = accounts; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamSnapshotStore {
    kv: kv::Store,
}

impl JetStreamSnapshotStore {
    /// Opens the snapshot bucket `bucket`, creating it if it does not exist (history 1,
    /// file storage, one replica).
    pub async fn new(context: jetstream::Context, bucket: &str) -> Result<Self> {
        Self::with_replicas(context, bucket, 1).await
    }

    /// Opens the snapshot bucket `bucket`, creating it with `replicas` replicas (1 or 3) if
    /// it does not exist. An existing bucket is used with the settings it has.
    pub async fn with_replicas(
        context: jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self> {
        let kv = open_bucket(&context, bucket, replicas, "cim-events snapshots").await?;
        Ok(JetStreamSnapshotStore { kv })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.kv.name
    }

    /// The underlying key-value store.
    pub fn kv(&self) -> &kv::Store {
        &self.kv
    }

    /// The key a snapshot of this aggregate is stored under. Fails if either part is not a
    /// valid subject token.
    ///
    /// ```
    /// use cim_events::jetstream::JetStreamSnapshotStore;
    /// assert_eq!(JetStreamSnapshotStore::key("Account", "acc-1")?, "Account.acc-1");
    /// assert_eq!(JetStreamSnapshotStore::key("Account", "zoë:1")?, "Account.zo=C3=AB=3A1");
    /// # Ok::<(), cim_events::Error>(())
    /// ```
    pub fn key(aggregate_type: &str, aggregate_id: &str) -> Result<String> {
        validate_token(TokenKind::AggregateType, aggregate_type)?;
        validate_token(TokenKind::AggregateId, aggregate_id)?;
        Ok(format!(
            "{}.{}",
            escape(aggregate_type),
            escape(aggregate_id)
        ))
    }

    /// Encodes a snapshot as this store keeps it: a DAG-CBOR map with keys `v` (3),
    /// `aggregate_type`, `aggregate_id`, `version`, `head` (a CID link), `sequence`,
    /// `state` (bytes), `state_version`, `state_fingerprint` (bytes) and `data_keys` (a
    /// list of strings).
    pub fn encode(snapshot: &Snapshot) -> Result<Bytes> {
        let s = |v: &str| Ipld::String(v.to_owned());
        encode_map(BTreeMap::from([
            (
                "v".to_owned(),
                Ipld::Integer(SNAPSHOT_FORMAT_VERSION.into()),
            ),
            ("aggregate_type".to_owned(), s(&snapshot.aggregate_type)),
            ("aggregate_id".to_owned(), s(&snapshot.aggregate_id)),
            ("version".to_owned(), Ipld::Integer(snapshot.version.into())),
            ("head".to_owned(), Ipld::Link(snapshot.head)),
            (
                "sequence".to_owned(),
                Ipld::Integer(snapshot.sequence.into()),
            ),
            ("state".to_owned(), Ipld::Bytes(snapshot.state.to_vec())),
            (
                "state_version".to_owned(),
                Ipld::Integer(snapshot.state_version.into()),
            ),
            (
                "state_fingerprint".to_owned(),
                Ipld::Bytes(snapshot.state_fingerprint.0.to_vec()),
            ),
            (
                "data_keys".to_owned(),
                Ipld::List(snapshot.data_keys.iter().map(|k| s(k)).collect()),
            ),
        ]))
    }

    /// Decodes a value written by [`encode`](Self::encode), strictly: exactly those keys,
    /// each with its type.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
        let mut fields = Fields::decode(bytes, SNAPSHOT_FORMAT_VERSION)?;
        let snapshot = Snapshot {
            aggregate_type: fields.string("aggregate_type")?,
            aggregate_id: fields.string("aggregate_id")?,
            version: fields.unsigned("version")?,
            head: fields.link("head")?,
            sequence: fields.unsigned("sequence")?,
            state: Bytes::from(fields.bytes("state")?),
            state_version: fields.unsigned_u32("state_version")?,
            state_fingerprint: Fingerprint(fields.bytes_array("state_fingerprint")?),
            data_keys: fields.strings("data_keys")?,
        };
        fields.finish()?;
        Ok(snapshot)
    }

    /// The stored snapshot under `key` with its revision; a value that does not decode is
    /// returned as `Err` with its revision, so that a save can replace it. `fresh` reads
    /// from the stream leader (for a save's revision check), otherwise from any replica.
    async fn current(
        &self,
        key: &str,
        fresh: bool,
    ) -> Result<Option<(std::result::Result<Snapshot, DecodeError>, u64)>> {
        let value = if fresh {
            read_fresh(&self.kv, key).await?
        } else {
            read_any(&self.kv, key).await?
        };
        Ok(value.map(|Value { bytes, revision }| (Self::decode(&bytes), revision)))
    }
}

#[async_trait]
impl SnapshotStore for JetStreamSnapshotStore {
    async fn load_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<Snapshot>> {
        let key = Self::key(aggregate_type, aggregate_id)?;
        match self.current(&key, false).await? {
            None => Ok(None),
            Some((Ok(snapshot), _)) => Ok(Some(snapshot)),
            Some((Err(problem), revision)) => Err(Error::Malformed {
                what: "snapshot",
                key: format!("{}/{key} (revision {revision})", self.kv.name),
                problem: format!("it is not a snapshot: {problem}"),
            }),
        }
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let key = Self::key(&snapshot.aggregate_type, &snapshot.aggregate_id)?;
        let value = Self::encode(snapshot)?;
        for attempt in 0..SAVE_ATTEMPTS {
            let written = match self.current(&key, true).await? {
                None => self
                    .kv
                    .create(&key, value.clone())
                    .await
                    .map_err(|e| (e.kind() == CreateErrorKind::AlreadyExists, e.to_string())),
                Some((Ok(stored), _)) if !replaces(snapshot, &stored) => return Ok(()),
                Some((_, revision)) => {
                    self.kv
                        .update(&key, value.clone(), revision)
                        .await
                        .map_err(|e| {
                            (
                                e.kind() == UpdateErrorKind::WrongLastRevision,
                                e.to_string(),
                            )
                        })
                }
            };
            match written {
                Ok(_) => return Ok(()),
                // Another writer got there first (or the read came from a replica that was
                // behind): read again and decide again.
                Err((true, _)) => {
                    backoff::sleep(
                        attempt,
                        Duration::from_millis(2),
                        Duration::from_millis(100),
                    )
                    .await;
                }
                Err((false, message)) => return Err(backend("save snapshot", message, true)),
            }
        }
        Err(backend(
            "save snapshot",
            format!("key `{key}` kept changing during {SAVE_ATTEMPTS} attempts"),
            true,
        ))
    }
}

/// Whether `new` should replace `stored`: it covers a later version, or the same version
/// with another head (the stored one no longer matches the events, so it is useless).
fn replaces(new: &Snapshot, stored: &Snapshot) -> bool {
    new.version > stored.version || (new.version == stored.version && new.head != stored.head)
}

/// Escapes a subject token into the key alphabet: `[A-Za-z0-9_-]` kept, every other
/// byte `=XX`.
pub(crate) fn escape(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    for byte in token.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("={byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::cid_of;

    fn snapshot() -> Snapshot {
        Snapshot {
            aggregate_type: "Account".into(),
            aggregate_id: "acc-1".into(),
            version: 7,
            head: cid_of(b"event 7"),
            sequence: 42,
            state: Bytes::from_static(&[0xa0]),
            state_version: 2,
            state_fingerprint: Fingerprint([7; 32]),
            data_keys: vec!["k1".into()],
        }
    }

    /// A snapshot written before the stream sequence was recorded is refused by its
    /// format version, never read as one of this format.
    #[test]
    fn refuses_the_previous_format_version() {
        let mut map = match serde_ipld_dagcbor::from_slice::<Ipld>(
            &JetStreamSnapshotStore::encode(&snapshot()).unwrap(),
        )
        .unwrap()
        {
            Ipld::Map(map) => map,
            _ => unreachable!(),
        };
        map.insert("v".into(), Ipld::Integer(1));
        map.remove("sequence");
        let v1 = serde_ipld_dagcbor::to_vec(&Ipld::Map(map)).unwrap();
        assert_eq!(
            JetStreamSnapshotStore::decode(&v1),
            Err(DecodeError::UnsupportedVersion(1))
        );
    }

    #[test]
    fn encodes_and_decodes_exactly() {
        let bytes = JetStreamSnapshotStore::encode(&snapshot()).unwrap();
        assert_eq!(JetStreamSnapshotStore::decode(&bytes).unwrap(), snapshot());
    }

    #[test]
    fn rejects_values_that_are_not_snapshots() {
        let decode = JetStreamSnapshotStore::decode;
        assert!(matches!(decode(b"\xff\x00"), Err(DecodeError::Cbor(_))));
        let list = serde_ipld_dagcbor::to_vec(&Ipld::List(vec![])).unwrap();
        assert_eq!(decode(&list), Err(DecodeError::NotAMap));
        let mut map = match serde_ipld_dagcbor::from_slice::<Ipld>(
            &JetStreamSnapshotStore::encode(&snapshot()).unwrap(),
        )
        .unwrap()
        {
            Ipld::Map(map) => map,
            _ => unreachable!(),
        };
        let encode = |map: &BTreeMap<String, Ipld>| {
            serde_ipld_dagcbor::to_vec(&Ipld::Map(map.clone())).unwrap()
        };
        map.insert("head".into(), Ipld::String("bafy…".into()));
        assert_eq!(
            decode(&encode(&map)),
            Err(DecodeError::WrongType {
                key: "head",
                expected: "a CID link"
            })
        );
        map.insert("head".into(), Ipld::Link(cid_of(b"x")));
        map.insert("extra".into(), Ipld::Null);
        assert_eq!(
            decode(&encode(&map)),
            Err(DecodeError::UnknownKey("extra".into()))
        );
        map.remove("extra");
        map.insert("v".into(), Ipld::Integer(2));
        assert_eq!(
            decode(&encode(&map)),
            Err(DecodeError::UnsupportedVersion(2))
        );
        map.insert("v".into(), Ipld::Integer(3));
        map.insert("state_fingerprint".into(), Ipld::Bytes(vec![1; 31]));
        assert!(matches!(
            decode(&encode(&map)),
            Err(DecodeError::WrongType {
                key: "state_fingerprint",
                ..
            })
        ));
        map.insert("state_fingerprint".into(), Ipld::Bytes(vec![1; 32]));
        map.insert("data_keys".into(), Ipld::List(vec![Ipld::Integer(1)]));
        assert!(matches!(
            decode(&encode(&map)),
            Err(DecodeError::WrongType {
                key: "data_keys",
                ..
            })
        ));
        map.insert("data_keys".into(), Ipld::List(vec![]));
        map.remove("state");
        assert_eq!(decode(&encode(&map)), Err(DecodeError::MissingKey("state")));
    }

    #[test]
    fn keys_escape_reversibly_into_the_key_alphabet() {
        assert_eq!(
            JetStreamSnapshotStore::key("Account", "a_b-C9").unwrap(),
            "Account.a_b-C9"
        );
        assert_eq!(escape("a=b/c"), "a=3Db=2Fc");
        assert!(JetStreamSnapshotStore::key("Account", "a.b").is_err());
        assert!(JetStreamSnapshotStore::key("Acc ount", "a").is_err());
    }

    #[test]
    fn never_moves_backwards() {
        let stored = snapshot();
        let older = Snapshot {
            version: 6,
            ..snapshot()
        };
        let newer = Snapshot {
            version: 8,
            ..snapshot()
        };
        let rewritten = Snapshot {
            head: cid_of(b"other event 7"),
            ..snapshot()
        };
        assert!(!replaces(&older, &stored));
        assert!(!replaces(&snapshot(), &stored));
        assert!(replaces(&newer, &stored));
        assert!(replaces(&rewritten, &stored));
    }
}
