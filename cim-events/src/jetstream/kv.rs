//! What the key-value stores (snapshots, checkpoints) share: opening a bucket with the
//! settings they need, reading a key from the stream leader, and the strict DAG-CBOR maps
//! their values are.

use std::collections::BTreeMap;

use async_nats::jetstream::{
    self,
    kv::{self, Operation},
    stream::{LastRawMessageError, LastRawMessageErrorKind, StorageType},
};
use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::block::DecodeError;
use crate::error::{Error, Result};

use super::errors::{STREAM_NAME_IN_USE, STREAM_NOT_FOUND, api_code, backend};

/// Opens bucket `bucket`, creating it if it does not exist: history 1 (only the newest
/// value of a key matters), file storage, `replicas` replicas. An existing bucket is used
/// as it is.
pub(crate) async fn open_bucket(
    context: &jetstream::Context,
    bucket: &str,
    replicas: usize,
    description: &str,
) -> Result<kv::Store> {
    check_bucket_name(bucket)?;
    for _ in 0..2 {
        match context.get_key_value(bucket).await {
            Ok(store) => return Ok(store),
            Err(e) if api_code(&e) != Some(STREAM_NOT_FOUND) => {
                return Err(backend("open bucket", e, true));
            }
            Err(_) => {}
        }
        let config = kv::Config {
            bucket: bucket.to_owned(),
            description: description.to_owned(),
            history: 1,
            storage: StorageType::File,
            num_replicas: replicas.max(1),
            ..kv::Config::default()
        };
        match context.create_key_value(config).await {
            Ok(store) => return Ok(store),
            // Created by someone else meanwhile: open theirs.
            Err(e) if api_code(&e) == Some(STREAM_NAME_IN_USE) => {}
            Err(e) => return Err(backend("create bucket", e, true)),
        }
    }
    Err(backend(
        "open bucket",
        format!("bucket `{bucket}` was neither found nor created"),
        true,
    ))
}

/// Bucket names are letters, digits, `-` and `_`.
pub(crate) fn check_bucket_name(bucket: &str) -> Result<()> {
    let valid = !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::Config {
            setting: "bucket".to_owned(),
            problem: format!(
                "`{}` is not a valid bucket name: use ASCII letters, digits, `-` and `_`",
                bucket.escape_debug()
            ),
        })
    }
}

/// A key's newest value and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    pub(crate) bytes: Bytes,
    pub(crate) revision: u64,
}

/// The newest message of `key` as the stream leader has it (never a lagging replica's):
/// its value and revision, and whether it is a put or a delete or purge marker; `None` if
/// the key has no message at all.
pub(crate) async fn read_latest(
    store: &kv::Store,
    key: &str,
) -> std::result::Result<Option<(Value, Operation)>, LastRawMessageError> {
    let subject = format!("{}{key}", store.prefix);
    match store
        .stream
        .raw_message_builder()
        .last_by_subject(subject)
        .send()
        .await
    {
        Ok(message) => {
            let operation = message
                .headers
                .get("KV-Operation")
                .and_then(|op| op.as_str().parse::<Operation>().ok())
                .unwrap_or(Operation::Put);
            let value = Value {
                bytes: message.payload,
                revision: message.sequence,
            };
            Ok(Some((value, operation)))
        }
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The newest value of `key` as the stream leader has it (never a lagging replica's), or
/// `None` if the key has none or was deleted.
pub(crate) async fn read_fresh(store: &kv::Store, key: &str) -> Result<Option<Value>> {
    match read_latest(store, key).await {
        Ok(Some((value, Operation::Put))) => Ok(Some(value)),
        Ok(_) => Ok(None),
        Err(e) => Err(backend("read key", e, true)),
    }
}

/// The newest value of `key` from any replica (Direct Get): cheapest, possibly a little
/// behind the leader right after a write on a replicated bucket.
pub(crate) async fn read_any(store: &kv::Store, key: &str) -> Result<Option<Value>> {
    match store.entry(key).await {
        Ok(Some(entry)) if entry.operation == Operation::Put => Ok(Some(Value {
            bytes: entry.value,
            revision: entry.revision,
        })),
        Ok(_) => Ok(None),
        Err(e) => Err(backend("read key", e, true)),
    }
}

/// Encodes a map as DAG-CBOR.
pub(crate) fn encode_map(fields: BTreeMap<String, Ipld>) -> Result<Bytes> {
    serde_ipld_dagcbor::to_vec(&Ipld::Map(fields))
        .map(Bytes::from)
        .map_err(|e| backend("encode value", e, false))
}

/// A DAG-CBOR map read strictly: every key must be taken, once, with its type.
pub(crate) struct Fields(BTreeMap<String, Ipld>);

impl Fields {
    /// Decodes `bytes` as a DAG-CBOR map whose format version `v` is `version`.
    pub(crate) fn decode(bytes: &[u8], version: u64) -> Result<Fields, DecodeError> {
        let ipld: Ipld =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| DecodeError::Cbor(e.to_string()))?;
        let Ipld::Map(map) = ipld else {
            return Err(DecodeError::NotAMap);
        };
        let mut fields = Fields(map);
        let found = fields.integer("v")?;
        if found != i128::from(version) {
            return Err(DecodeError::UnsupportedVersion(found));
        }
        Ok(fields)
    }

    fn take(&mut self, key: &'static str) -> Result<Ipld, DecodeError> {
        self.0.remove(key).ok_or(DecodeError::MissingKey(key))
    }

    fn integer(&mut self, key: &'static str) -> Result<i128, DecodeError> {
        match self.take(key)? {
            Ipld::Integer(i) => Ok(i),
            _ => Err(DecodeError::WrongType {
                key,
                expected: "an integer",
            }),
        }
    }

    /// An unsigned integer.
    pub(crate) fn unsigned(&mut self, key: &'static str) -> Result<u64, DecodeError> {
        u64::try_from(self.integer(key)?).map_err(|_| DecodeError::WrongType {
            key,
            expected: "an unsigned 64-bit integer",
        })
    }

    /// A string.
    pub(crate) fn string(&mut self, key: &'static str) -> Result<String, DecodeError> {
        match self.take(key)? {
            Ipld::String(s) => Ok(s),
            _ => Err(DecodeError::WrongType {
                key,
                expected: "a string",
            }),
        }
    }

    /// A CID link.
    pub(crate) fn link(&mut self, key: &'static str) -> Result<Cid, DecodeError> {
        match self.take(key)? {
            Ipld::Link(cid) => Ok(cid),
            _ => Err(DecodeError::WrongType {
                key,
                expected: "a CID link",
            }),
        }
    }

    /// A byte string.
    pub(crate) fn bytes(&mut self, key: &'static str) -> Result<Vec<u8>, DecodeError> {
        match self.take(key)? {
            Ipld::Bytes(b) => Ok(b),
            _ => Err(DecodeError::WrongType {
                key,
                expected: "bytes",
            }),
        }
    }

    /// An unsigned 32-bit integer.
    pub(crate) fn unsigned_u32(&mut self, key: &'static str) -> Result<u32, DecodeError> {
        u32::try_from(self.integer(key)?).map_err(|_| DecodeError::WrongType {
            key,
            expected: "an unsigned 32-bit integer",
        })
    }

    /// A byte string of exactly `N` bytes.
    pub(crate) fn bytes_array<const N: usize>(
        &mut self,
        key: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        <[u8; N]>::try_from(self.bytes(key)?).map_err(|_| DecodeError::WrongType {
            key,
            expected: "a byte string of the fingerprint's length",
        })
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, key: &'static str) -> Result<Vec<String>, DecodeError> {
        let wrong = DecodeError::WrongType {
            key,
            expected: "a list of strings",
        };
        match self.take(key)? {
            Ipld::List(items) => items
                .into_iter()
                .map(|item| match item {
                    Ipld::String(s) => Ok(s),
                    _ => Err(wrong.clone()),
                })
                .collect(),
            _ => Err(wrong),
        }
    }

    /// Fails if a key was not taken.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.0.into_keys().next() {
            Some(key) => Err(DecodeError::UnknownKey(key)),
            None => Ok(()),
        }
    }
}
