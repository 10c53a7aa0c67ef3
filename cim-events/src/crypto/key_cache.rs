//! The cache of data keys a [`Crypto`] handle keeps: bounded (least recently used out),
//! each entry trusted for the TTL, and aware of the data key versions a key id has lost.

use std::sync::Arc;
use std::time::Instant;

use super::kek::{DataKey, VERSION_LEN};
use super::{Crypto, KeyIdHash};
use crate::cache::Lru;

/// What a handle knows of a key id: its data key (`None`: shredded), the versions of its
/// data keys known to be destroyed (so that old values read as shredded without asking
/// the key store each time, and new ones are never taken for old), and when the key store
/// was read.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) key: Option<Arc<DataKey>>,
    dead: Vec<[u8; VERSION_LEN]>,
    read_at: Instant,
}

/// The most destroyed versions remembered per key id.
const DEAD_VERSIONS: usize = 8;

impl Entry {
    /// Whether a value under data key `version` can be told readable or shredded from
    /// this entry alone.
    pub(super) fn knows(&self, version: &[u8; VERSION_LEN]) -> bool {
        self.key_for(version).is_some() || self.dead.contains(version)
    }

    /// The data key of `version`, if it is the live one.
    pub(super) fn key_for(&self, version: &[u8; VERSION_LEN]) -> Option<&Arc<DataKey>> {
        self.key.as_ref().filter(|key| key.version() == *version)
    }

    /// Records that `version` is not (or no longer) a live key of this key id.
    pub(super) fn bury(&mut self, version: [u8; VERSION_LEN]) {
        if self.key_for(&version).is_none() && !self.dead.contains(&version) {
            if self.dead.len() >= DEAD_VERSIONS {
                self.dead.remove(0);
            }
            self.dead.push(version);
        }
    }
}

impl Crypto {
    /// The cached entry of `kid`, unless it is older than the TTL.
    pub(super) fn cached(&self, kid: &KeyIdHash) -> Option<Entry> {
        let mut cache = self.cache();
        let entry = cache.get(kid)?.clone();
        if entry.read_at.elapsed() < self.inner.ttl {
            Some(entry)
        } else {
            cache.remove(kid);
            None
        }
    }

    /// Caches what the key store holds for `kid` now (`None`: shredded), keeping the
    /// destroyed versions known so far and adding the key it replaces. Returns the entry.
    pub(super) fn cache_put(&self, kid: &KeyIdHash, key: Option<Arc<DataKey>>) -> Entry {
        let mut cache = self.cache();
        let mut entry = Entry {
            key,
            dead: Vec::new(),
            read_at: Instant::now(),
        };
        if let Some(previous) = cache.get(kid) {
            for version in previous
                .dead
                .iter()
                .copied()
                .chain(previous.key.as_ref().map(|k| k.version()))
            {
                entry.bury(version);
            }
        }
        cache.insert(kid.clone(), entry.clone());
        entry
    }

    pub(super) fn cache(&self) -> std::sync::MutexGuard<'_, Lru<KeyIdHash, Entry>> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
