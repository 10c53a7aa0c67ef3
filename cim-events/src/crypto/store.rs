//! [`KeyStore`]: where wrapped data keys live, and [`MemoryKeyStore`], the embedded one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{CryptoError, KeyIdHash, WrappedKey};

/// What a key store holds for one key id hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRecord {
    /// Nothing: the key was never created.
    Absent,
    /// The subject's data key, wrapped.
    Live {
        /// The wrapped data key.
        key: WrappedKey,
        /// The record's revision, for [`KeyStore::put`].
        revision: u64,
    },
    /// The key was shredded: the tombstone that stops it from being created again by
    /// accident.
    Shredded {
        /// The tombstone's revision, for an explicit re-creation with [`KeyStore::put`].
        revision: u64,
    },
}

/// Storage for wrapped data keys, one record per key id hash. It sees neither key ids nor
/// key-encryption keys, only [`KeyIdHash`]es and [`WrappedKey`]s; the rules (a tombstone
/// is re-created only on request, every data key is re-wrapped on a KEK rotation) are
/// [`Crypto`](super::Crypto)'s.
///
/// Implementations: [`MemoryKeyStore`] (embedded, tests) and
/// `jetstream::JetStreamKeyStore` (a JetStream key-value bucket, feature `jetstream`).
/// Another backend implements these four methods; writes must be conditional on the
/// revision, so that two writers cannot both create a subject's key, and a re-wrap never
/// revives a shredded one.
///
/// ```
/// use cim_events::crypto::{CryptoError, KeyIdHash, KeyRecord, KeyStore, MemoryKeyStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let keys = MemoryKeyStore::new();
/// let kid = KeyIdHash::of("customer-7");
/// assert_eq!(keys.get(&kid).await?, KeyRecord::Absent);
/// keys.shred(&kid).await?;
/// assert!(matches!(keys.get(&kid).await?, KeyRecord::Shredded { .. }));
/// assert_eq!(keys.list().await?, vec![]); // only live keys are listed
/// # Ok::<(), CryptoError>(()) }).unwrap();
/// ```
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The record of `kid`, as fresh as the backend can read it (a shred must be seen by
    /// the next read, wherever it was made).
    async fn get(&self, kid: &KeyIdHash) -> Result<KeyRecord, CryptoError>;

    /// Writes `key` as the record of `kid`, if the record is still at `expected`: `None`
    /// when it must be [`Absent`](KeyRecord::Absent) (a creation), `Some(revision)` when it
    /// must be the live key or the tombstone at that revision (a re-wrap, or an explicit
    /// re-creation). Returns the new revision, or [`CryptoError::Conflict`] when the record
    /// is elsewhere.
    async fn put(
        &self,
        kid: &KeyIdHash,
        key: &WrappedKey,
        expected: Option<u64>,
    ) -> Result<u64, CryptoError>;

    /// Destroys the wrapped key of `kid`, keeping no revision of it, and leaves a
    /// tombstone. Shredding an absent or shredded key leaves a tombstone too.
    async fn shred(&self, kid: &KeyIdHash) -> Result<(), CryptoError>;

    /// The key id hashes that have a live key, for re-wrapping. A backend that cannot tell
    /// a tombstone from a live key without reading it may list tombstones too: callers
    /// [`get`](Self::get) each record anyway.
    async fn list(&self) -> Result<Vec<KeyIdHash>, CryptoError>;
}

#[async_trait]
impl<S: KeyStore + ?Sized> KeyStore for Arc<S> {
    async fn get(&self, kid: &KeyIdHash) -> Result<KeyRecord, CryptoError> {
        (**self).get(kid).await
    }

    async fn put(
        &self,
        kid: &KeyIdHash,
        key: &WrappedKey,
        expected: Option<u64>,
    ) -> Result<u64, CryptoError> {
        (**self).put(kid, key, expected).await
    }

    async fn shred(&self, kid: &KeyIdHash) -> Result<(), CryptoError> {
        (**self).shred(kid).await
    }

    async fn list(&self) -> Result<Vec<KeyIdHash>, CryptoError> {
        (**self).list().await
    }
}

/// Wrapped data keys in memory, for [`MemoryEventStore`](crate::MemoryEventStore) and
/// tests. Clones share the same keys. A shred drops the wrapped key from memory at once.
///
/// ```
/// use cim_events::crypto::{Crypto, Kek, MemoryKeyStore};
/// let crypto = Crypto::new(MemoryKeyStore::new(), Kek::generate("kek-1")?);
/// # let _ = crypto;
/// # Ok::<(), cim_events::crypto::CryptoError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryKeyStore {
    inner: Arc<Mutex<Records>>,
}

#[derive(Debug, Default)]
struct Records {
    /// The newest revision handed out.
    clock: u64,
    /// `None`: a tombstone.
    records: BTreeMap<KeyIdHash, (Option<WrappedKey>, u64)>,
}

impl MemoryKeyStore {
    /// An empty key store.
    pub fn new() -> MemoryKeyStore {
        MemoryKeyStore::default()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl KeyStore for MemoryKeyStore {
    async fn get(&self, kid: &KeyIdHash) -> Result<KeyRecord, CryptoError> {
        Ok(match self.records().records.get(kid) {
            None => KeyRecord::Absent,
            Some((Some(key), revision)) => KeyRecord::Live {
                key: key.clone(),
                revision: *revision,
            },
            Some((None, revision)) => KeyRecord::Shredded {
                revision: *revision,
            },
        })
    }

    async fn put(
        &self,
        kid: &KeyIdHash,
        key: &WrappedKey,
        expected: Option<u64>,
    ) -> Result<u64, CryptoError> {
        let mut records = self.records();
        let current = records.records.get(kid).map(|(_, revision)| *revision);
        if current != expected {
            return Err(CryptoError::Conflict { kid: kid.clone() });
        }
        records.clock += 1;
        let revision = records.clock;
        records
            .records
            .insert(kid.clone(), (Some(key.clone()), revision));
        Ok(revision)
    }

    async fn shred(&self, kid: &KeyIdHash) -> Result<(), CryptoError> {
        let mut records = self.records();
        records.clock += 1;
        let revision = records.clock;
        records.records.insert(kid.clone(), (None, revision));
        Ok(())
    }

    async fn list(&self) -> Result<Vec<KeyIdHash>, CryptoError> {
        Ok(self
            .records()
            .records
            .iter()
            .filter(|(_, (key, _))| key.is_some())
            .map(|(kid, _)| kid.clone())
            .collect())
    }
}
