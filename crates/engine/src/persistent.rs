//! Copy-on-write containers that let a new snapshot share everything with
//! the old one except the few chunks a change touches.
//!
//! Both containers are split into pieces behind `Arc`s; cloning one clones a
//! vector of pointers, and a write copies only the piece it lands in. That is
//! what keeps "apply one change" in microseconds at a million entries.

use std::hash::BuildHasher;
use std::sync::Arc;

use compact_str::CompactString;

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A vector in chunks of 1,024 elements.
#[derive(Clone)]
pub(crate) struct ChunkedVec<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T: Clone> ChunkedVec<T> {
    pub(crate) fn new() -> Self {
        ChunkedVec { chunks: Vec::new(), len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn get(&self, index: u32) -> &T {
        let i = index as usize;
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }

    /// Starts loading element `index` into cache; see [`crate::cpu::prefetch`].
    #[inline]
    pub(crate) fn prefetch(&self, index: u32) {
        crate::cpu::prefetch(self.get(index));
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> &mut T {
        let i = index as usize;
        &mut Arc::make_mut(&mut self.chunks[i >> CHUNK_BITS])[i & (CHUNK - 1)]
    }

    pub(crate) fn push(&mut self, value: T) -> u32 {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let last = self.chunks.last_mut().expect("a chunk was just ensured");
        Arc::make_mut(last).push(value);
        self.len += 1;
        u32::try_from(self.len - 1).expect("fewer than 2^32 elements")
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

/// One slot of a shard: the key inline (24 bytes; ids up to 24 bytes need
/// no heap) next to its value, so a lookup reads one cache line. An empty
/// key marks a free slot; keys are never empty.
#[derive(Clone, Default)]
struct Slot<V> {
    key: CompactString,
    value: V,
}

/// One shard: open addressing with linear probing, at most 3/4 full.
#[derive(Clone)]
struct Shard<V> {
    slots: Vec<Slot<V>>,
    len: usize,
}

impl<V: Clone + Default> Shard<V> {
    fn new() -> Self {
        Shard { slots: Vec::new(), len: 0 }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `key`, or the free slot where it would go.
    #[inline]
    fn probe(&self, hash: u64, key: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.key.is_empty() || crate::cpu::short_eq(slot.key.as_str(), key) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self, hasher: &foldhash::fast::FixedState, at_least: usize) {
        let wanted = (at_least * 4 / 3 + 1).next_power_of_two().max(8);
        if wanted <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); wanted]);
        let mask = wanted - 1;
        for slot in old.into_iter().filter(|s| !s.key.is_empty()) {
            let mut i = hasher.hash_one(slot.key.as_str()) as usize & mask;
            while !self.slots[i].key.is_empty() {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

/// A string-keyed hash map in 64 copy-on-write shards. A lookup hashes
/// the key once and reads one slot (one cache line, usually): the key is
/// stored inline beside the value.
#[derive(Clone)]
pub(crate) struct ShardedMap<V> {
    shards: Vec<Arc<Shard<V>>>,
    hasher: foldhash::fast::FixedState,
    len: usize,
}

/// 64 shards: few enough that their headers stay in L1 on the hot path,
/// many enough that copying one on a change (~1/64 of the map) stays well
/// under a millisecond at a million entries.
const SHARD_BITS: u32 = 6;

/// Where a key's probe starts; see [`ShardedMap::locate`].
#[derive(Clone, Copy, Default)]
pub(crate) struct Located {
    hash: u64,
    shard: u32,
}

impl<V: Clone + Default> ShardedMap<V> {
    pub(crate) fn new() -> Self {
        ShardedMap {
            shards: (0..1 << SHARD_BITS).map(|_| Arc::new(Shard::new())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x7665_7264_6963_7421),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Hashes a key. The slot index takes the low bits, the shard bits 32
    /// and up, so the two stay independent.
    #[inline]
    pub(crate) fn locate(&self, key: &str) -> Located {
        let hash = self.hasher.hash_one(key);
        Located { hash, shard: ((hash >> 32) as u32) & ((1 << SHARD_BITS) - 1) }
    }

    /// Asks the CPU to bring the first slot a lookup of `at` will read into
    /// cache, without waiting for it: a batch issues many of these, so their
    /// DRAM round trips overlap instead of queueing behind each other.
    #[inline]
    pub(crate) fn prefetch(&self, at: Located) {
        let shard = &self.shards[at.shard as usize];
        if let Some(slot) = shard.slots.get(at.hash as usize & shard.mask()) {
            crate::cpu::prefetch(slot);
        }
    }

    /// Looks a key up where [`ShardedMap::locate`] said.
    #[inline]
    pub(crate) fn get_at(&self, at: Located, key: &str) -> Option<&V> {
        let shard = &self.shards[at.shard as usize];
        let slot = &shard.slots[shard.probe(at.hash, key)?];
        (!slot.key.is_empty()).then_some(&slot.value)
    }

    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.get_at(self.locate(key), key)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let at = self.locate(key);
        // Look before copying: a miss must not clone a shared shard.
        self.get_at(at, key)?;
        let shard = Arc::make_mut(&mut self.shards[at.shard as usize]);
        let i = shard.probe(at.hash, key)?;
        Some(&mut shard.slots[i].value)
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, key: &str, value: V) -> Option<V> {
        debug_assert!(!key.is_empty(), "keys are never empty");
        let at = self.locate(key);
        let hasher = self.hasher.clone();
        let shard = Arc::make_mut(&mut self.shards[at.shard as usize]);
        shard.grow(&hasher, shard.len + 1);
        let i = shard.probe(at.hash, key).expect("a grown shard has room");
        let slot = &mut shard.slots[i];
        if slot.key.is_empty() {
            *slot = Slot { key: CompactString::from(key), value };
            shard.len += 1;
            self.len += 1;
            None
        } else {
            Some(std::mem::replace(&mut slot.value, value))
        }
    }

    /// Makes room for `additional` more entries, spread over the shards.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let per_shard = additional / (1 << SHARD_BITS) + additional / (1 << (SHARD_BITS + 3)) + 1;
        let hasher = self.hasher.clone();
        for shard in &mut self.shards {
            let shard = Arc::make_mut(shard);
            shard.grow(&hasher, shard.len + per_shard);
        }
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.shards
            .iter()
            .flat_map(|s| s.slots.iter())
            .filter(|slot| !slot.key.is_empty())
            .map(|slot| (slot.key.as_str(), &slot.value))
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let at = self.locate(key);
        self.get_at(at, key)?;
        let hasher = self.hasher.clone();
        let shard = Arc::make_mut(&mut self.shards[at.shard as usize]);
        let mask = shard.mask();
        let mut hole = shard.probe(at.hash, key)?;
        let removed = std::mem::take(&mut shard.slots[hole]);
        // Backward-shift deletion: pull later entries of the run into the
        // hole unless that would move one before its home slot.
        let mut next = (hole + 1) & mask;
        while !shard.slots[next].key.is_empty() {
            let home = hasher.hash_one(shard.slots[next].key.as_str()) as usize & mask;
            let distance_from_home = next.wrapping_sub(home) & mask;
            let distance_to_hole = next.wrapping_sub(hole) & mask;
            if distance_from_home >= distance_to_hole {
                shard.slots.swap(hole, next);
                hole = next;
            }
            next = (next + 1) & mask;
        }
        shard.len -= 1;
        self.len -= 1;
        Some(removed.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_until_written() {
        let mut a = ShardedMap::new();
        for i in 0..5000 {
            a.insert(&format!("sub-{i}"), i);
        }
        let mut b = a.clone();
        b.insert("sub-7", 70);
        b.remove("sub-8");
        assert_eq!(a.get("sub-7"), Some(&7));
        assert_eq!(a.get("sub-8"), Some(&8));
        assert_eq!(b.get("sub-7"), Some(&70));
        assert_eq!(b.get("sub-8"), None);
        assert_eq!((a.len(), b.len()), (5000, 4999));
        // Removing many keeps every survivor reachable (backward shift).
        for i in (0..5000).step_by(3) {
            assert_eq!(b.remove(&format!("sub-{i}")).is_some(), i != 8);
        }
        for i in 0..5000 {
            let expected = if i % 3 == 0 || i == 8 {
                None
            } else if i == 7 {
                Some(70)
            } else {
                Some(i)
            };
            assert_eq!(b.get(&format!("sub-{i}")).copied(), expected, "sub-{i}");
        }

        let mut v = ChunkedVec::new();
        for i in 0..3000u32 {
            v.push(i);
        }
        let mut w = v.clone();
        *w.get_mut(2500) = 0;
        assert_eq!((*v.get(2500), *w.get(2500)), (2500, 0));
        assert_eq!(w.iter().count(), 3000);
    }
}
