//! A bounded least-recently-used map, for the caches of aggregate heads (in the JetStream
//! store) and aggregate states (in the repository). Callers put it behind a lock.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// At most `capacity` entries; inserting one more evicts the least recently used.
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    capacity: usize,
    /// Increases with every use; an entry's tick says when it was last used.
    clock: u64,
    entries: HashMap<K, (V, u64)>,
    /// The keys by the tick of their last use, oldest first.
    order: BTreeMap<u64, K>,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// An empty cache holding at most `capacity` entries (0: holds nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            clock: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// The entry for `key`, now the most recently used.
    pub(crate) fn get<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.clock += 1;
        let (value, tick) = self.entries.get_mut(key)?;
        let key = self.order.remove(tick)?;
        *tick = self.clock;
        self.order.insert(self.clock, key);
        Some(value)
    }

    /// Inserts or replaces the entry for `key`, evicting the least recently used entry
    /// if the cache is full.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        self.clock += 1;
        if let Some((_, tick)) = self.entries.remove(&key) {
            self.order.remove(&tick);
        } else if self.entries.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        self.order.insert(self.clock, key.clone());
        self.entries.insert(key, (value, self.clock));
    }

    /// Removes the entry for `key`, returning it.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (value, tick) = self.entries.remove(key)?;
        self.order.remove(&tick);
        Some(value)
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The most entries it holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_entry() {
        let mut cache = Lru::new(2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.get("a").copied(), Some(1)); // `b` is now the oldest
        cache.insert("c", 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("a").copied(), Some(1));
        assert_eq!(cache.get("c").copied(), Some(3));
    }

    #[test]
    fn replacing_an_entry_does_not_evict_another() {
        let mut cache = Lru::new(2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.insert("a", 10);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a").copied(), Some(10));
        assert_eq!(cache.get("b").copied(), Some(2));
        assert_eq!(cache.remove("b"), Some(2));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn stays_within_its_bound_and_holds_nothing_at_zero() {
        let mut cache = Lru::new(100);
        for i in 0..10_000 {
            cache.insert(i, i);
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.order.len(), cache.len());
        let mut none = Lru::new(0);
        none.insert(1, 1);
        assert_eq!(none.len(), 0);
    }
}
