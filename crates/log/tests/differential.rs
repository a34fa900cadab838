//! Differential test against `ct-merkle`, an independent RFC 6962 implementation:
//! roots, inclusion proofs and consistency proofs must be byte-identical, and every
//! proof must verify with both our verifier and theirs.

use ct_merkle::array::Array;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2_ct::Sha256;
use verdict_log::{Hash, Tree, leaf_hash, verify_consistency, verify_inclusion};

type Theirs = MemoryBackedTree<Sha256, Vec<u8>>;

/// splitmix64: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn entry(&mut self) -> Vec<u8> {
        let len = self.range(0, 40) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn flat(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

fn their_root(root: &Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new(Array::from(*root), size)
}

/// A record of one of their proofs, taken while their tree had `size` leaves.
struct Recorded {
    size: u64,
    root: Vec<u8>,
    inclusion: Vec<(u64, Vec<u8>)>,
    consistency: Vec<(u64, Vec<u8>)>,
}

/// Checks the trees at their common size, recording their answers for a later re-check.
fn compare_now(rng: &mut Rng, ours: &Tree, theirs: &Theirs, entries: &[Vec<u8>], probes: usize) -> Recorded {
    let size = ours.size();
    assert_eq!(theirs.len(), size);
    let root = ours.root();
    assert_eq!(theirs.root().as_bytes().as_slice(), root.as_slice(), "root at size {size}");
    let their_root_here = their_root(&root, size);
    let mut record = Recorded { size, root: root.to_vec(), inclusion: Vec::new(), consistency: Vec::new() };
    let mut indexes: Vec<u64> = (0..probes).map(|_| rng.range(0, size - 1)).collect();
    indexes.extend([0, size - 1]);
    for index in indexes {
        let proof = ours.inclusion_proof(index, size).unwrap();
        let their_proof = theirs.prove_inclusion(index as usize);
        assert_eq!(their_proof.as_bytes(), flat(&proof).as_slice(), "inclusion proof of {index} in {size}");
        let leaf = leaf_hash(&entries[index as usize]);
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        let decoded = InclusionProof::<Sha256>::try_from_bytes(flat(&proof)).unwrap();
        their_root_here.verify_inclusion(&entries[index as usize], index, &decoded).unwrap();
        record.inclusion.push((index, flat(&proof)));
    }
    let mut olds: Vec<u64> = (0..probes).map(|_| rng.range(1, size)).collect();
    olds.extend([1, size]);
    for old in olds {
        let proof = ours.consistency_proof(old, size).unwrap();
        let their_proof = theirs.prove_consistency((size - old) as usize);
        assert_eq!(their_proof.as_bytes(), flat(&proof).as_slice(), "consistency proof {old} -> {size}");
        let old_root = ours.root_at(old).unwrap();
        verify_consistency(old, size, &old_root, &root, &proof).unwrap();
        let decoded = ConsistencyProof::<Sha256>::try_from_bytes(flat(&proof)).unwrap();
        their_root_here.verify_consistency(&their_root(&old_root, old), &decoded).unwrap();
        record.consistency.push((old, flat(&proof)));
    }
    record
}

/// Re-checks answers recorded at an earlier size against the grown tree's historical views.
fn compare_history(ours: &Tree, records: &[Recorded]) {
    for r in records {
        assert_eq!(ours.root_at(r.size).unwrap().as_slice(), r.root.as_slice(), "historical root {}", r.size);
        for (index, proof) in &r.inclusion {
            assert_eq!(&flat(&ours.inclusion_proof(*index, r.size).unwrap()), proof, "historical inclusion");
        }
        for (old, proof) in &r.consistency {
            assert_eq!(&flat(&ours.consistency_proof(*old, r.size).unwrap()), proof, "historical consistency");
        }
    }
}

#[test]
fn random_small_trees() {
    let mut rng = Rng(0x7665_7264_6963_7421);
    for _ in 0..25 {
        let target = rng.range(1, 300);
        let mut ours = Tree::new();
        let mut theirs = Theirs::new();
        let mut entries = Vec::new();
        let mut records = Vec::new();
        while ours.size() < target {
            let entry = rng.entry();
            ours.push(leaf_hash(&entry));
            theirs.push(entry.clone());
            entries.push(entry);
            records.push(compare_now(&mut rng, &ours, &theirs, &entries, 2));
        }
        compare_history(&ours, &records);
    }
}

#[test]
fn tile_boundaries() {
    let mut rng = Rng(42);
    let checkpoints = [255u64, 256, 257, 511, 512, 513, 65535, 65536, 65537];
    let mut ours = Tree::new();
    let mut theirs = Theirs::new();
    let mut entries = Vec::new();
    let mut records = Vec::new();
    for &size in &checkpoints {
        while ours.size() < size {
            let entry = ours.size().to_be_bytes().to_vec();
            ours.push(leaf_hash(&entry));
            theirs.push(entry.clone());
            entries.push(entry);
        }
        records.push(compare_now(&mut rng, &ours, &theirs, &entries, 12));
        // Consistency from the other boundary sizes.
        for &old in checkpoints.iter().filter(|&&old| old < size) {
            let proof = ours.consistency_proof(old, size).unwrap();
            let their_proof = theirs.prove_consistency((size - old) as usize);
            assert_eq!(their_proof.as_bytes(), flat(&proof).as_slice(), "consistency {old} -> {size}");
        }
    }
    compare_history(&ours, &records);
}
