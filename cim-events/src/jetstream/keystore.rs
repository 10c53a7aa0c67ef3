//! [`JetStreamKeyStore`]: wrapped data keys in a JetStream key-value bucket.

use std::fmt::Display;

use async_nats::jetstream::{
    self,
    kv::{self, Operation, UpdateErrorKind},
};
use async_trait::async_trait;
use futures::TryStreamExt;

use crate::crypto::{CryptoError, KeyIdHash, KeyRecord, KeyStore, WrappedKey};
use crate::error::Result;

use super::kv::{open_bucket, read_latest};

/// Wrapped data keys in a JetStream key-value bucket, for [`Crypto`](crate::crypto::Crypto).
///
/// - **Key**: the [`KeyIdHash`] of the data subject's key id — the SHA-256 of its UTF-8
///   bytes in 64 lower-case hex digits, a valid key-value key whatever the key id (an
///   e-mail address is not one). The key id itself is never stored.
/// - **Value**: the [`WrappedKey`]'s DAG-CBOR map `{v: 1, kek, nonce, key}`: the data key
///   encrypted under the user's KEK, which is never written to NATS.
/// - **Writes** are conditional on the key's revision (`update` with the revision read, or
///   with 0 for a key that must not exist), so two writers never both create a subject's
///   key and a re-wrap never revives a shredded one.
/// - **Shred** is a key-value purge: a rollup that deletes every revision of the key and
///   leaves one purge marker, which is the tombstone. The bucket keeps history 1. Reads
///   come from the stream leader, so a shred is seen by the next read anywhere.
///
/// A purge is not erasure: the server marks the old messages deleted, and their bytes stay
/// in block files, on replicas and in backups until compaction. That is why
/// [`Crypto::shred`](crate::crypto::Crypto::shred) also rotates the KEK (see
/// `cim-events/docs/encryption.md`). Do not run `nats kv compact` (which removes purge markers) on
/// this bucket: the shredded data stays erased, but a key id whose tombstone is gone could
/// be given a new key without the explicit re-creation.
///
/// Permissions on bucket `B`: opening it (and listing keys) takes
/// `$JS.API.STREAM.INFO.KV_B`; reading keys `$JS.API.STREAM.MSG.GET.KV_B`; creating,
/// re-wrapping and shredding them publishing on
/// `$KV.B.>`. A process that only decrypts needs the first two. Listing keys (for a
/// rotation or a shred) reads the stream's subjects from its info, with no consumer.
///
/// ```no_run
/// use cim_events::crypto::{Crypto, Kek};
/// use cim_events::jetstream::{JetStreamKeyStore, async_nats};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let jetstream = async_nats::jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await?);
/// let keys = JetStreamKeyStore::new(jetstream, "customer_keys").await?;
/// let kek = Kek::from_bytes("kek-2025-06", [0x42; 32])?; // from your secret manager
/// let crypto = Crypto::new(keys, kek);
/// # let _ = crypto; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamKeyStore {
    kv: kv::Store,
}

impl JetStreamKeyStore {
    /// Opens the key bucket `bucket`, creating it if it does not exist (history 1, file
    /// storage, one replica).
    pub async fn new(context: jetstream::Context, bucket: &str) -> Result<Self> {
        Self::with_replicas(context, bucket, 1).await
    }

    /// Opens the key bucket `bucket`, creating it with `replicas` replicas (1 or 3) if it
    /// does not exist. An existing bucket is used with the settings it has.
    pub async fn with_replicas(
        context: jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self> {
        let kv = open_bucket(&context, bucket, replicas, "cim-events wrapped data keys").await?;
        Ok(JetStreamKeyStore { kv })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.kv.name
    }

    /// The underlying key-value store.
    pub fn kv(&self) -> &kv::Store {
        &self.kv
    }
}

fn backend(operation: &'static str, err: impl Display) -> CryptoError {
    CryptoError::Backend {
        operation,
        message: err.to_string(),
        transient: true,
    }
}

#[async_trait]
impl KeyStore for JetStreamKeyStore {
    async fn get(&self, kid: &KeyIdHash) -> Result<KeyRecord, CryptoError> {
        let (value, operation) = match read_latest(&self.kv, kid.as_str()).await {
            Ok(Some(latest)) => latest,
            Ok(None) => return Ok(KeyRecord::Absent),
            Err(e) => return Err(backend("read a data key", e)),
        };
        let revision = value.revision;
        if operation != Operation::Put {
            // A purge is our tombstone; a delete by someone else erased it too.
            return Ok(KeyRecord::Shredded { revision });
        }
        let key = WrappedKey::decode(&value.bytes).map_err(|e| match e {
            CryptoError::Malformed { what, problem } => CryptoError::Malformed {
                what: format!("{what} {}/{kid} (revision {revision})", self.kv.name),
                problem,
            },
            other => other,
        })?;
        Ok(KeyRecord::Live { key, revision })
    }

    async fn put(
        &self,
        kid: &KeyIdHash,
        key: &WrappedKey,
        expected: Option<u64>,
    ) -> Result<u64, CryptoError> {
        // Revision 0: the subject has no message at all, not even a purge marker.
        match self
            .kv
            .update(kid.as_str(), key.encode().into(), expected.unwrap_or(0))
            .await
        {
            Ok(revision) => Ok(revision),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                Err(CryptoError::Conflict { kid: kid.clone() })
            }
            Err(e) => Err(backend("write a data key", e)),
        }
    }

    async fn shred(&self, kid: &KeyIdHash) -> Result<(), CryptoError> {
        self.kv
            .purge(kid.as_str())
            .await
            .map_err(|e| backend("purge a data key", e))
    }

    async fn list(&self) -> Result<Vec<KeyIdHash>, CryptoError> {
        // The stream's subjects, from stream info (paged): no consumer to create and
        // clean up. Tombstones are subjects too; the caller reads each record anyway.
        let filter = format!("{}>", self.kv.prefix);
        let subjects: Vec<(String, usize)> = self
            .kv
            .stream
            .info_with_subjects(&filter)
            .await
            .map_err(|e| backend("list data keys", e))?
            .try_collect()
            .await
            .map_err(|e| backend("list data keys", e))?;
        let mut kids = subjects
            .iter()
            .map(|(subject, _)| {
                KeyIdHash::parse(subject.strip_prefix(&self.kv.prefix).unwrap_or(subject))
            })
            .collect::<Result<Vec<_>, _>>()?;
        kids.sort();
        Ok(kids)
    }
}
