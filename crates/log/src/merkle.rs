//! RFC 6962 Merkle hash trees: hashing, an append-only in-memory tree that
//! keeps every complete subtree hash, and inclusion / consistency proofs with
//! their RFC 9162 verification algorithms.

use sha2::{Digest, Sha256};

use crate::error::LogError;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// The RFC 6962 leaf hash of an entry: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The RFC 6962 interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// In-memory Merkle tree over leaf hashes. Keeps every complete subtree hash per level
/// (level k holds floor(size / 2^k) hashes), so roots at any size, proofs and tiles are cheap.
///
/// Memory use is about two hashes (64 bytes) per leaf.
#[derive(Clone, Default)]
pub struct Tree {
    /// `levels[k][i]` is the hash of the complete subtree of 2^k leaves starting at leaf i * 2^k.
    /// Level k is present only once it holds at least one hash.
    levels: Vec<Vec<Hash>>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree").field("size", &self.size()).finish_non_exhaustive()
    }
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// A tree holding the given leaf hashes, in order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Tree {
        let mut tree = Tree::new();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Appends a leaf hash; hashes only the newly completed subtrees (amortised one hash).
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            if row.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// Drops every leaf from `size` on (and the subtrees they completed), as
    /// if they had never been pushed; a no-op if the tree is not larger.
    pub fn truncate(&mut self, size: u64) {
        for (k, row) in self.levels.iter_mut().enumerate() {
            // Level k holds the complete subtrees of 2^k leaves within `size`.
            let keep = usize::try_from(size >> k).unwrap_or(usize::MAX);
            row.truncate(keep);
        }
        while self.levels.last().is_some_and(Vec::is_empty) {
            self.levels.pop();
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The leaf hash at `index`, if the tree has it.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.first()?.get(index).copied()
    }

    /// The root hash at the current size.
    pub fn root(&self) -> Hash {
        self.root_of(self.size())
    }

    /// The root hash of the tree's first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        self.check_size(size)?;
        Ok(self.root_of(size))
    }

    /// The RFC 6962 inclusion proof (audit path) of leaf `index` in the tree of the first
    /// `size` leaves: from the leaf's sibling up to the root's child.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(size)?;
        if index >= size {
            return Err(LogError::IndexOutOfRange(format!("leaf index {index} is not below tree size {size}")));
        }
        Ok(self.path(0, index, size))
    }

    /// The RFC 6962 consistency proof from the tree of the first `old` leaves to the tree of
    /// the first `new` leaves. Empty when `old == new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(new)?;
        if old == 0 || old > new {
            return Err(LogError::IndexOutOfRange(format!(
                "consistency proof needs 0 < old size <= new size, got old {old} and new {new}"
            )));
        }
        if old == new {
            return Ok(Vec::new());
        }
        // The largest complete subtree ending at `old` is shared by both trees; the proof is
        // that node (unless it is the whole old tree, which the verifier knows as the old root)
        // followed by its inclusion path in the new tree.
        let level = old.trailing_zeros();
        let index = (old - 1) >> level;
        let mut proof = Vec::with_capacity(2 * 64);
        if index != 0 {
            proof.push(self.node(level, index));
        }
        proof.extend(self.path(level, index, new));
        Ok(proof)
    }

    /// The bytes of a tlog-tiles hash tile (concatenated 32-byte hashes) for `tile`,
    /// valid only if the tile exists in a tree of `size` (size <= self.size()): the entries
    /// the tile covers as served (see [`TileId::entry_range`](crate::TileId::entry_range))
    /// must all lie below `size`. Errors for entry bundles, malformed ids and tiles outside.
    pub fn tile(&self, tile: &crate::TileId, size: u64) -> Result<Vec<u8>, LogError> {
        self.check_size(size)?;
        if tile.entries {
            return Err(LogError::NotAHashTile(tile.path()));
        }
        if tile.level > crate::tile::MAX_LEVEL || tile.width == 0 || tile.width > 256 {
            return Err(LogError::MalformedTilePath {
                path: tile.path(),
                why: "level must be 0 to 63 and width 1 to 256",
            });
        }
        let out_of_range = || LogError::TileOutOfRange { path: tile.path(), size };
        // Hashes of this tile live at tree level 8 * L, at indexes N * 256 .. N * 256 + W.
        let level = u32::from(tile.level) * 8;
        let first = tile.index.checked_mul(256).ok_or_else(out_of_range)?;
        let last = first.checked_add(u64::from(tile.width)).ok_or_else(out_of_range)?;
        let end_entry = if level >= 64 { None } else { last.checked_mul(1u64 << level) };
        match end_entry {
            Some(end) if end <= size => {}
            _ => return Err(out_of_range()),
        }
        let row = &self.levels[level as usize];
        let mut out = Vec::with_capacity(usize::from(tile.width) * 32);
        for hash in &row[first as usize..last as usize] {
            out.extend_from_slice(hash);
        }
        Ok(out)
    }

    fn check_size(&self, size: u64) -> Result<(), LogError> {
        if size > self.size() {
            return Err(LogError::IndexOutOfRange(format!(
                "tree size {size} is beyond the tree's current size {}",
                self.size()
            )));
        }
        Ok(())
    }

    /// The stored hash of the complete subtree at `level`, `index`.
    fn node(&self, level: u32, index: u64) -> Hash {
        self.levels[level as usize][index as usize]
    }

    /// MTH of leaves `[start, end)` where `start < end` and `start` is a multiple of a power of
    /// two at least `end - start` (as for every subtree of an RFC 6962 tree). Hashes the stored
    /// complete subtrees that make up the range, right to left: O(log n).
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let mut len = end - start;
        let mut pos = end;
        let mut acc: Option<Hash> = None;
        while len != 0 {
            let level = len.trailing_zeros();
            let width = 1u64 << level;
            pos -= width;
            let piece = self.node(level, pos >> level);
            acc = Some(match acc {
                None => piece,
                Some(right) => node_hash(&piece, &right),
            });
            len -= width;
        }
        acc.unwrap_or_else(empty_root)
    }

    fn root_of(&self, size: u64) -> Hash {
        if size == 0 { empty_root() } else { self.range_hash(0, size) }
    }

    /// The inclusion path of the node at (`level`, `index`) in the tree of `size` leaves.
    fn path(&self, level: u32, index: u64, size: u64) -> Vec<Hash> {
        let last = (size - 1) >> level;
        // Below `inner` levels the node's path and the tree's right edge differ, so each level
        // contributes a sibling (complete, except possibly the right edge one); above it the
        // path runs along the right edge and only left siblings appear.
        let inner = 64 - (index ^ last).leading_zeros();
        let mut proof = Vec::with_capacity(64);
        for step in 0..inner {
            let lvl = level + step;
            let sibling = (index >> step) ^ 1;
            let start = sibling << lvl;
            let end = start.saturating_add(1u64 << lvl).min(size);
            if end - start == 1u64 << lvl {
                proof.push(self.node(lvl, sibling));
            } else {
                proof.push(self.range_hash(start, end));
            }
        }
        let mut node = index >> inner;
        let mut lvl = level + inner;
        while node != 0 {
            if node & 1 == 1 {
                proof.push(self.node(lvl, node ^ 1));
            }
            node >>= 1;
            lvl += 1;
        }
        proof
    }
}

/// Verifies an RFC 6962 inclusion proof of `leaf` (a leaf hash) at `index` in a tree of `size`
/// leaves with root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), LogError> {
    if index >= size {
        return Err(LogError::IndexOutOfRange(format!("leaf index {index} is not below tree size {size}")));
    }
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    if &computed != root {
        return Err(LogError::ProofMismatch(format!(
            "inclusion proof for leaf {index} in tree of size {size} does not lead to the root"
        )));
    }
    Ok(())
}

fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Result<Hash, LogError> {
    let wrong_length = || {
        LogError::ProofMismatch(format!(
            "inclusion proof for leaf {index} in tree of size {size} has the wrong length {}",
            proof.len()
        ))
    };
    let mut f = index;
    let mut s = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(wrong_length());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length());
    }
    Ok(r)
}

/// Verifies an RFC 6962 consistency proof between a tree of `old_size` leaves with root
/// `old_root` and a tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots; an old size of 0 needs an empty proof and
/// the empty-tree root as the old root.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LogError> {
    let mismatch = |why: &str| {
        LogError::ProofMismatch(format!(
            "consistency proof from size {old_size} to size {new_size} ({} hashes): {why}",
            proof.len()
        ))
    };
    if old_size > new_size {
        return Err(LogError::IndexOutOfRange(format!(
            "old tree size {old_size} is larger than new tree size {new_size}"
        )));
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(mismatch("expected an empty proof"));
        }
        if old_size == 0 && old_root != &empty_root() {
            return Err(mismatch("the old root is not the empty-tree root"));
        }
        if old_size == new_size && old_root != new_root {
            return Err(mismatch("the roots of equal-size trees differ"));
        }
        return Ok(());
    }
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => return Err(mismatch("the proof is empty")),
        }
    };
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if s == 0 {
            return Err(mismatch("the proof is too long"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(mismatch("the proof is too short"));
    }
    if &fr != old_root {
        return Err(mismatch("it does not lead to the old root"));
    }
    if &sr != new_root {
        return Err(mismatch("it does not lead to the new root"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn truncating_is_as_if_the_leaves_were_never_pushed() {
        let leaves: Vec<Hash> = (0u32..37).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for keep in [0usize, 1, 2, 5, 16, 17, 36, 37] {
            let mut tree = Tree::from_leaves(leaves.iter().copied());
            tree.truncate(keep as u64);
            let expected = Tree::from_leaves(leaves[..keep].iter().copied());
            assert_eq!(tree.size(), keep as u64);
            assert_eq!(tree.root(), expected.root(), "root after truncating to {keep}");
            tree.push(leaves[0]);
            let mut grown = expected.clone();
            grown.push(leaves[0]);
            assert_eq!(tree.root(), grown.root(), "pushing after truncating to {keep}");
        }
    }

    use super::*;

    /// RFC 6962 §2.1 MTH, straight from the definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn levels_hold_floor_size_over_two_to_the_k() {
        let tree = Tree::from_leaves(leaves(1000));
        for (k, row) in tree.levels.iter().enumerate() {
            assert_eq!(row.len() as u64, 1000 >> k);
        }
        assert_eq!(tree.levels.len(), 10);
    }

    #[test]
    fn roots_and_ranges_match_definition() {
        let all = leaves(70);
        let tree = Tree::from_leaves(all.iter().copied());
        for size in 0..=70u64 {
            assert_eq!(tree.root_at(size).unwrap(), mth(&all[..size as usize]), "size {size}");
        }
        assert!(tree.root_at(71).is_err());
    }

    #[test]
    fn proofs_verify_and_catch_tampering() {
        let tree = Tree::from_leaves(leaves(40));
        for size in 1..=40 {
            let root = tree.root_at(size).unwrap();
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap();
                let leaf = tree.leaf(index).unwrap();
                verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert_eq!(verify_inclusion(&leaf, index, size, &bad, &root).unwrap_err().code(), "proof-mismatch");
                    let mut long = proof.clone();
                    long.push(*first);
                    assert!(verify_inclusion(&leaf, index, size, &long, &root).is_err());
                }
            }
            for old in 1..=size {
                let proof = tree.consistency_proof(old, size).unwrap();
                let old_root = tree.root_at(old).unwrap();
                verify_consistency(old, size, &old_root, &root, &proof).unwrap();
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    let last = bad.len() - 1;
                    bad[last][31] ^= 0x80;
                    assert!(verify_consistency(old, size, &old_root, &root, &bad).is_err());
                    assert!(verify_consistency(old, size, &old_root, &root, &proof[1..]).is_err());
                }
            }
        }
    }

    #[test]
    fn argument_checks() {
        let tree = Tree::from_leaves(leaves(5));
        assert_eq!(tree.inclusion_proof(5, 5).unwrap_err().code(), "index-out-of-range");
        assert_eq!(tree.inclusion_proof(0, 6).unwrap_err().code(), "index-out-of-range");
        assert_eq!(tree.consistency_proof(0, 3).unwrap_err().code(), "index-out-of-range");
        assert_eq!(tree.consistency_proof(4, 3).unwrap_err().code(), "index-out-of-range");
        assert_eq!(tree.consistency_proof(3, 6).unwrap_err().code(), "index-out-of-range");
        assert_eq!(tree.consistency_proof(3, 3).unwrap(), Vec::<Hash>::new());
        assert_eq!(tree.leaf(5), None);
        let empty = empty_root();
        verify_consistency(0, 5, &empty, &tree.root(), &[]).unwrap();
        assert!(verify_consistency(0, 5, &tree.root(), &tree.root(), &[]).is_err());
        assert!(verify_consistency(5, 5, &tree.root(), &empty, &[]).is_err());
        assert!(verify_consistency(5, 4, &tree.root(), &tree.root(), &[]).is_err());
        assert!(verify_inclusion(&tree.leaf(0).unwrap(), 0, 0, &[], &empty).is_err());
    }
}
