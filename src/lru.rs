//! A map that knows the order its entries were last used in and what each weighs, so that a
//! cache can keep within a budget by letting its least recently used entries go first.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Entries by key, with their weight and the order of their last use.
#[derive(Debug)]
pub struct Lru<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Keys by their last use, the least recent first.
    recency: BTreeMap<u64, K>,
    /// Counts uses.
    clock: u64,
    /// The sum of the entries' weights.
    weight: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    weight: u64,
    used: u64,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            clock: 0,
            weight: 0,
        }
    }
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    /// The value of `key`, which counts as its use.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entry = self.entries.get_mut(key)?;
        self.recency.remove(&entry.used);
        self.clock += 1;
        entry.used = self.clock;
        let (key, entry) = self.entries.get_key_value(key)?;
        self.recency.insert(entry.used, key.clone());
        Some(&entry.value)
    }

    /// Whether `key` is held (not a use).
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.contains_key(key)
    }

    /// Holds `value` under `key`, weighing `weight`, as the most recently used; the value it
    /// replaces.
    pub fn insert(&mut self, key: K, value: V, weight: u64) -> Option<V> {
        let replaced = self.remove(&key);
        self.clock += 1;
        self.recency.insert(self.clock, key.clone());
        self.weight += weight;
        let used = self.clock;
        self.entries.insert(
            key,
            Entry {
                value,
                weight,
                used,
            },
        );
        replaced
    }

    /// Lets `key` go; its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entry = self.entries.remove(key)?;
        self.recency.remove(&entry.used);
        self.weight -= entry.weight;
        Some(entry.value)
    }

    /// Lets the least recently used entries go until `more` fits within `budget` beside what
    /// stays; those that went.
    pub fn make_room(&mut self, more: u64, budget: u64) -> Vec<(K, V)> {
        let mut gone = Vec::new();
        while self.weight + more > budget {
            let Some((_, key)) = self.recency.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&key) {
                self.weight -= entry.weight;
                gone.push((key, entry.value));
            }
        }
        gone
    }

    /// The sum of the entries' weights.
    #[must_use]
    pub fn weight(&self) -> u64 {
        self.weight
    }

    /// How many entries are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first() {
        let mut lru: Lru<String, u8> = Lru::default();
        lru.insert("a".into(), 1, 4);
        lru.insert("b".into(), 2, 4);
        lru.insert("c".into(), 3, 4);
        assert_eq!(lru.get("a"), Some(&1));
        assert_eq!(lru.weight(), 12);
        assert!(lru.make_room(0, 12).is_empty());
        assert_eq!(lru.make_room(4, 12), vec![("b".to_owned(), 2)]);
        assert_eq!(lru.make_room(8, 12), vec![("c".to_owned(), 3)]);
        assert!(!lru.contains("b") && lru.contains("a"));
        assert_eq!(lru.get("b"), None);
        // Replacing counts the new weight only, as the most recent.
        assert_eq!(lru.insert("a".into(), 9, 6), Some(1));
        lru.insert("d".into(), 4, 1);
        assert_eq!(lru.weight(), 7);
        assert_eq!(
            lru.make_room(100, 7).len(),
            2,
            "everything goes when it cannot fit"
        );
        assert!(lru.is_empty());
        assert_eq!(lru.weight(), 0);
        assert_eq!(lru.remove("a"), None);
    }
}
