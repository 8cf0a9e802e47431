//! Striped state: a fixed number of slots, one chosen per key by hash, so that per-key state
//! (locks, change counters) takes bounded memory. Keys that share a slot share its state.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hash};

/// `count` slots of `T`, chosen by key.
#[derive(Debug)]
pub(super) struct Stripes<T> {
    slots: Vec<T>,
    hasher: RandomState,
}

impl<T> Stripes<T> {
    /// `count` (at least one) slots, each made by `make`.
    pub(super) fn new(count: usize, make: impl FnMut() -> T) -> Self {
        Self {
            slots: std::iter::repeat_with(make).take(count.max(1)).collect(),
            hasher: RandomState::new(),
        }
    }

    /// The slot of `key`.
    pub(super) fn get(&self, key: impl Hash) -> &T {
        let slot = self.hasher.hash_one(key) % self.slots.len() as u64;
        let slot = usize::try_from(slot).unwrap_or_default();
        self.slots.get(slot).unwrap_or(&self.slots[0])
    }
}
