//! The repository's state cache: each aggregate's state and head after its last command,
//! so that the next command on it is handled at once and costs one append.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

use crate::aggregate::Aggregate;
use crate::cache::Lru;
use crate::head::Head;

/// A state and the head it was built up to.
pub(crate) struct Cached<A> {
    pub(crate) state: A,
    pub(crate) head: Head,
    /// The data keys of the encrypted values the state was built from.
    pub(crate) data_keys: BTreeSet<String>,
    /// The encryption's shred count when the state was kept: after a shred in this
    /// process, a state built from encrypted values is dropped.
    pub(crate) shreds: u64,
    /// When its data keys were last known not to be shredded.
    pub(crate) checked: Instant,
}

/// What the repository needs of its cache. A trait object, so that only
/// [`with_cache`](super::Repository::with_cache) needs `A: Clone`.
pub(crate) trait StateCache<A: Aggregate>: Send + Sync {
    /// Takes the aggregate's entry out of the cache.
    fn take(&self, aggregate_id: &str) -> Option<Cached<A>>;
    /// Keeps a copy of `state` at `head`, built from `data_keys`, at shred count `shreds`.
    fn keep(
        &self,
        aggregate_id: &str,
        state: &A,
        head: Head,
        data_keys: &BTreeSet<String>,
        shreds: u64,
    );
    /// How many aggregates it holds, and the most it holds.
    fn usage(&self) -> (usize, usize);
}

/// An LRU of states, bounded by the number of aggregates.
pub(crate) struct LruStates<A> {
    states: Mutex<Lru<String, Cached<A>>>,
}

impl<A> LruStates<A> {
    pub(crate) fn new(capacity: usize) -> Self {
        LruStates {
            states: Mutex::new(Lru::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<String, Cached<A>>> {
        // Every update is a single insert or remove: a poisoned lock holds a whole map.
        self.states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<A: Aggregate + Clone + Send> StateCache<A> for LruStates<A> {
    fn take(&self, aggregate_id: &str) -> Option<Cached<A>> {
        self.lock().remove(aggregate_id)
    }

    fn keep(
        &self,
        aggregate_id: &str,
        state: &A,
        head: Head,
        data_keys: &BTreeSet<String>,
        shreds: u64,
    ) {
        let entry = Cached {
            state: state.clone(),
            head,
            data_keys: data_keys.clone(),
            shreds,
            checked: Instant::now(),
        };
        self.lock().insert(aggregate_id.to_owned(), entry);
    }

    fn usage(&self) -> (usize, usize) {
        let states = self.lock();
        (states.len(), states.capacity())
    }
}
