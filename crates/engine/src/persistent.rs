//! Copy-on-write containers that let a new snapshot share everything with
//! the old one except the few chunks a change touches.
//!
//! Both containers are split into pieces behind `Arc`s; cloning one clones a
//! vector of pointers, and a write copies only the piece it lands in. That is
//! what keeps "apply one change" in microseconds at a million entries.

use std::hash::BuildHasher;
use std::sync::Arc;

use compact_str::CompactString;
use hashbrown::HashTable;

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

#[derive(Clone)]
struct Entry<V> {
    key: CompactString,
    value: V,
}

/// A string-keyed hash map in 1,024 shards. Keys of up to 24 bytes are
/// stored inline, so a lookup touches the shard's table and nothing else.
#[derive(Clone)]
pub(crate) struct ShardedMap<V> {
    shards: Vec<Arc<HashTable<Entry<V>>>>,
    hasher: foldhash::fast::FixedState,
    len: usize,
}

const SHARD_BITS: u32 = 10;

impl<V: Clone> ShardedMap<V> {
    pub(crate) fn new() -> Self {
        ShardedMap {
            shards: (0..1 << SHARD_BITS).map(|_| Arc::new(HashTable::new())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x7665_7264_6963_7421),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn locate(&self, key: &str) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        // hashbrown takes the low bits for the bucket and the top 7 for the
        // tag; the shard takes bits in between so all three stay independent.
        let shard = ((hash >> 32) as usize) & ((1 << SHARD_BITS) - 1);
        (hash, shard)
    }

    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        let (hash, shard) = self.locate(key);
        self.shards[shard].find(hash, |e| e.key.as_str() == key).map(|e| &e.value)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let (hash, shard) = self.locate(key);
        // Look before copying: a miss must not clone a shared shard.
        self.shards[shard].find(hash, |e| e.key.as_str() == key)?;
        Arc::make_mut(&mut self.shards[shard]).find_mut(hash, |e| e.key.as_str() == key).map(|e| &mut e.value)
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, key: &str, value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(key) {
            return Some(std::mem::replace(slot, value));
        }
        let (hash, shard) = self.locate(key);
        let hasher = self.hasher.clone();
        Arc::make_mut(&mut self.shards[shard]).insert_unique(
            hash,
            Entry { key: CompactString::from(key), value },
            move |e| hasher.hash_one(e.key.as_str()),
        );
        self.len += 1;
        None
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let (hash, shard) = self.locate(key);
        self.shards[shard].find(hash, |e| e.key.as_str() == key)?;
        let table = Arc::make_mut(&mut self.shards[shard]);
        let (entry, _) = table.find_entry(hash, |e| e.key.as_str() == key).ok()?.remove();
        self.len -= 1;
        Some(entry.value)
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
