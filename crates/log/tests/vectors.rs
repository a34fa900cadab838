//! Runs the RFC 6962 known-answer vectors in `tests/vectors/rfc6962.json`
//! (the Certificate Transparency reference set of 8 entries) against the tree,
//! the proof generators and the verifiers, plus corrupted variants of each proof.

use serde_json::Value;
use verdict_log::{Hash, Tree, empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion};

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s:?}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hash(v: &Value) -> Hash {
    hex(v.as_str().unwrap()).try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

fn vectors() -> Value {
    let text = include_str!("vectors/rfc6962.json");
    serde_json::from_str(text).unwrap()
}

fn entries(v: &Value) -> Vec<Vec<u8>> {
    v["entries"].as_array().unwrap().iter().map(|e| hex(e.as_str().unwrap())).collect()
}

fn tree(v: &Value) -> Tree {
    Tree::from_leaves(entries(v).iter().map(|e| leaf_hash(e)))
}

const SOME_HASH: Hash = [0xab; 32];

#[test]
fn hash_primitives() {
    let v = vectors();
    let leaves = entries(&v);
    let level0 = hashes(&v["subtree_hashes"][0]);
    for (entry, want) in leaves.iter().zip(&level0) {
        assert_eq!(&leaf_hash(entry), want);
    }
    assert_eq!(node_hash(&level0[0], &level0[1]), hash(&v["subtree_hashes"][1][0]));
    assert_eq!(empty_root(), hash(&v["roots"][0]["root"]));
}

#[test]
fn subtree_hashes() {
    let v = vectors();
    let leaves: Vec<Hash> = entries(&v).iter().map(|e| leaf_hash(e)).collect();
    for (level, row) in v["subtree_hashes"].as_array().unwrap().iter().enumerate() {
        for (i, want) in hashes(row).iter().enumerate() {
            let sub = Tree::from_leaves(leaves[i << level..(i + 1) << level].iter().copied());
            assert_eq!(&sub.root(), want, "level {level} index {i}");
        }
    }
}

#[test]
fn roots() {
    let v = vectors();
    let tree = tree(&v);
    let mut growing = Tree::new();
    let leaves: Vec<Hash> = entries(&v).iter().map(|e| leaf_hash(e)).collect();
    for case in v["roots"].as_array().unwrap() {
        let size = case["size"].as_u64().unwrap();
        let want = hash(&case["root"]);
        assert_eq!(tree.root_at(size).unwrap(), want, "root_at({size})");
        while growing.size() < size {
            growing.push(leaves[growing.size() as usize]);
        }
        assert_eq!(growing.root(), want, "root at size {size} while growing");
    }
}

#[test]
fn inclusion_proofs() {
    let v = vectors();
    let tree = tree(&v);
    for case in v["inclusion"].as_array().unwrap() {
        let index = case["index"].as_u64().unwrap();
        let size = case["size"].as_u64().unwrap();
        let want = hashes(&case["proof"]);
        assert_eq!(tree.inclusion_proof(index, size).unwrap(), want, "proof of {index} in {size}");
        let root = tree.root_at(size).unwrap();
        let leaf = tree.leaf(index).unwrap();
        verify_inclusion(&leaf, index, size, &want, &root).unwrap();

        // Corruptions, after transparency-dev/merkle's verifier tests: each must fail.
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (index.wrapping_sub(1), size, leaf, root, want.clone(), "index - 1".into()),
            (index + 1, size, leaf, root, want.clone(), "index + 1".into()),
            (index ^ 2, size, leaf, root, want.clone(), "index ^ 2".into()),
            (index, size * 2, leaf, root, want.clone(), "size * 2".into()),
            (index, size / 2, leaf, root, want.clone(), "size / 2".into()),
            (index, size, leaf_hash(b"WrongLeaf"), root, want.clone(), "wrong leaf".into()),
            (index, size, leaf, empty_root(), want.clone(), "empty root".into()),
            (index, size, leaf, SOME_HASH, want.clone(), "random root".into()),
            (index, size, leaf, root, [want.clone(), vec![root]].concat(), "trailing root".into()),
            (index, size, leaf, root, [vec![root], want.clone()].concat(), "preceding root".into()),
        ];
        for i in 0..want.len() {
            let mut bad = want.clone();
            bad[i][0] ^= 8;
            probes.push((index, size, leaf, root, bad, format!("flipped bit in proof[{i}]")));
        }
        if !want.is_empty() {
            probes.push((index, size, leaf, root, want[..want.len() - 1].to_vec(), "removed component".into()));
        }
        if want.len() > 1 {
            let inserted = [&want[..1], &[SOME_HASH], &want[1..]].concat();
            probes.push((index, size, leaf, root, inserted, "inserted component".into()));
        }
        for (i, s, l, r, p, what) in probes {
            if i == index && s == size && l == leaf && r == root && p == want {
                continue; // a corruption that happens to change nothing (e.g. index ^ 2 when index ^ 2 == index)
            }
            assert!(verify_inclusion(&l, i, s, &p, &r).is_err(), "{what} verified for {index} in {size}");
        }
    }
}

#[test]
fn consistency_proofs() {
    let v = vectors();
    let tree = tree(&v);
    for case in v["consistency"].as_array().unwrap() {
        let old = case["old_size"].as_u64().unwrap();
        let new = case["new_size"].as_u64().unwrap();
        let want = hashes(&case["proof"]);
        assert_eq!(tree.consistency_proof(old, new).unwrap(), want, "proof {old} -> {new}");
        let old_root = tree.root_at(old).unwrap();
        let new_root = tree.root_at(new).unwrap();
        verify_consistency(old, new, &old_root, &new_root, &want).unwrap();
        if want.is_empty() {
            continue;
        }
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (old - 1, new, old_root, new_root, want.clone(), "old - 1".into()),
            (old + 1, new, old_root, new_root, want.clone(), "old + 1".into()),
            (old ^ 2, new, old_root, new_root, want.clone(), "old ^ 2".into()),
            (old, new * 2, old_root, new_root, want.clone(), "new * 2".into()),
            (old, new / 2, old_root, new_root, want.clone(), "new / 2".into()),
            (old, new, SOME_HASH, new_root, want.clone(), "wrong old root".into()),
            (old, new, old_root, SOME_HASH, want.clone(), "wrong new root".into()),
            (old, new, new_root, old_root, want.clone(), "swapped roots".into()),
            (old, new, old_root, new_root, Vec::new(), "empty proof".into()),
            (old, new, old_root, new_root, [want.clone(), vec![old_root]].concat(), "trailing old root".into()),
            (old, new, old_root, new_root, [want.clone(), vec![new_root]].concat(), "trailing new root".into()),
            (old, new, old_root, new_root, [vec![old_root], want.clone()].concat(), "preceding old root".into()),
            (old, new, old_root, new_root, [vec![new_root], want.clone()].concat(), "preceding new root".into()),
            (old, new, old_root, new_root, [vec![want[0]], want.clone()].concat(), "preceding proof[0]".into()),
            (old, new, old_root, new_root, want[..want.len() - 1].to_vec(), "truncated".into()),
        ];
        for i in 0..want.len() {
            let mut bad = want.clone();
            bad[i][0] ^= 16;
            probes.push((old, new, old_root, new_root, bad, format!("flipped bit in proof[{i}]")));
        }
        for (o, n, ro, rn, p, what) in probes {
            if o == old && n == new && ro == old_root && rn == new_root && p == want {
                continue;
            }
            assert!(verify_consistency(o, n, &ro, &rn, &p).is_err(), "{what} verified for {old} -> {new}");
        }
    }
}
