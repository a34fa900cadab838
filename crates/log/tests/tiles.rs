//! tlog-tiles: path parsing and formatting, the spec's 70,000-entry example,
//! tile contents against subtree roots, refusal of tiles a tree size lacks,
//! and entry bundles against level-0 tiles.

use verdict_log::{Hash, TileId, Tree, decode_bundle, encode_bundle, leaf_hash};

fn tile(level: u8, index: u64, width: u16) -> TileId {
    TileId { level, index, width, entries: false }
}

#[test]
fn paths_round_trip() {
    let cases = [
        ("0/000", tile(0, 0, 256)),
        ("0/x001/234", tile(0, 1234, 256)),
        ("0/x001/x234/067", tile(0, 1_234_067, 256)),
        ("1/000.p/17", tile(1, 0, 17)),
        ("2/999.p/255", tile(2, 999, 255)),
        ("63/x001/000.p/1", tile(63, 1000, 1)),
        ("entries/x001/234.p/5", TileId { level: 0, index: 1234, width: 5, entries: true }),
        ("entries/272", TileId { level: 0, index: 272, width: 256, entries: true }),
    ];
    for (text, want) in cases {
        let got = TileId::parse(text).unwrap();
        assert_eq!(got, want, "{text}");
        assert_eq!(got.path(), format!("tile/{text}"));
        assert_eq!(TileId::parse(&got.path()).unwrap(), got);
        assert_eq!(got.to_string().parse::<TileId>().unwrap(), got);
        assert_eq!(got.is_partial(), text.contains(".p/"));
    }
    // Every index formats to a path that parses back to it.
    for index in [0u64, 1, 999, 1000, 999_999, 1_000_000, 123_456_789_012, u64::MAX] {
        for t in [tile(5, index, 256), TileId { level: 0, index, width: 9, entries: true }] {
            assert_eq!(TileId::parse(&t.path()).unwrap(), t, "{}", t.path());
        }
    }
}

#[test]
fn paths_rejected() {
    for bad in [
        "0/1",
        "0/x1/000",
        "64/000",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/07",
        "01/000",
        "00/000",
        "",
        "0",
        "0/",
        "/000",
        "0/0000",
        "0/00",
        "0/x000/001",
        "0/001/234",
        "0/x001/x234",
        "0/x001/",
        "0/000.p/",
        "0/000.p/5.p/5",
        "0/000.P/5",
        "0/000.p/+5",
        "-1/000",
        "+1/000",
        "entry/000",
        "entries/000/",
        "entries/000.p/0",
        "0/000 ",
        " 0/000",
        "0/abc",
        "0/000.p/1000",
        "0/x001.p/5/234",
        "tile/tile/0/000",
        "0/x018/x446/x744/x073/x709/x551/616",
        "1000/000",
    ] {
        let err = TileId::parse(bad).expect_err(bad);
        assert_eq!(err.code(), "malformed-tile-path", "{bad:?}");
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
fn spec_example_tiles_for_70000() {
    let level0 = TileId::for_tree(70_000, 0, false);
    assert_eq!(level0.len(), 274);
    assert!(level0[..273].iter().enumerate().all(|(i, t)| *t == tile(0, i as u64, 256)));
    assert_eq!(level0[273], tile(0, 273, 112));
    assert_eq!(TileId::for_tree(70_000, 1, false), vec![tile(1, 0, 256), tile(1, 1, 17)]);
    assert_eq!(TileId::for_tree(70_000, 2, false), vec![tile(2, 0, 1)]);
    assert!(TileId::for_tree(70_000, 3, false).is_empty());
    let bundles = TileId::for_tree(70_000, 0, true);
    assert_eq!(bundles.len(), 274);
    assert!(bundles.iter().all(|t| t.entries && t.level == 0));
    assert_eq!(bundles[273].path(), "tile/entries/273.p/112");
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1"
    assert_eq!(TileId::for_tree(256, 0, false), vec![tile(0, 0, 256)]);
    assert_eq!(TileId::for_tree(256, 1, false), vec![tile(1, 0, 1)]);
    assert!(TileId::for_tree(0, 0, true).is_empty());
    assert!(TileId::for_tree(u64::MAX, 63, false).is_empty());

    assert_eq!(level0[273].entry_range(), (69_888, 70_000));
    assert_eq!(tile(1, 1, 17).entry_range(), (65_536, 69_888));
    assert_eq!(tile(2, 0, 1).entry_range(), (0, 65_536));
    assert_eq!(tile(1, 0, 256).entry_range(), (0, 65_536));
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
}

fn split(bytes: &[u8]) -> Vec<Hash> {
    assert_eq!(bytes.len() % 32, 0);
    bytes.chunks(32).map(|c| c.try_into().unwrap()).collect()
}

#[test]
fn tile_contents_at_70000() {
    let all = leaves(70_000);
    let tree = Tree::from_leaves(all.iter().copied());
    let size = tree.size();

    // Level 0: leaf hashes.
    let t5 = split(&tree.tile(&tile(0, 5, 256), size).unwrap());
    assert_eq!(t5, all[1280..1536]);
    let last = split(&tree.tile(&tile(0, 273, 112), size).unwrap());
    assert_eq!(last, all[69_888..]);

    // Level 1: each hash is the MTH of a full level-0 tile's 256 leaves.
    let full = split(&tree.tile(&tile(1, 0, 256), size).unwrap());
    assert_eq!(full.len(), 256);
    for (i, h) in full.iter().enumerate() {
        let sub = Tree::from_leaves(all[i * 256..(i + 1) * 256].iter().copied());
        assert_eq!(*h, sub.root(), "level 1 hash {i}");
    }
    let partial = split(&tree.tile(&tile(1, 1, 17), size).unwrap());
    for (j, h) in partial.iter().enumerate() {
        let start = (256 + j) * 256;
        assert_eq!(*h, Tree::from_leaves(all[start..start + 256].iter().copied()).root(), "level 1 hash {}", 256 + j);
    }
    // Level 2's only hash is the root of the first 65,536 entries.
    assert_eq!(tree.tile(&tile(2, 0, 1), size).unwrap(), tree.root_at(65_536).unwrap().to_vec());

    // Partial tiles of older sizes stay available, as prefixes of the full tile.
    let older = tree.tile(&tile(0, 5, 10), size).unwrap();
    assert_eq!(split(&older), all[1280..1290]);
    assert_eq!(tree.tile(&tile(0, 0, 1), 1).unwrap(), all[0].to_vec());
}

#[test]
fn tiles_missing_from_a_size_are_refused() {
    let tree = Tree::from_leaves(leaves(70_000));
    let refused = [
        (tile(0, 273, 256), 70_000),
        (tile(0, 273, 113), 70_000),
        (tile(0, 273, 112), 69_999),
        (tile(0, 274, 1), 70_000),
        (tile(1, 1, 18), 70_000),
        (tile(1, 1, 256), 70_000),
        (tile(1, 0, 256), 65_535),
        (tile(2, 0, 2), 70_000),
        (tile(2, 0, 1), 65_535),
        (tile(3, 0, 1), 70_000),
        (tile(63, 0, 1), 70_000),
        (tile(0, u64::MAX, 256), 70_000),
        (tile(0, 0, 1), 0),
    ];
    for (t, size) in refused {
        let err = tree.tile(&t, size).expect_err(&t.path());
        assert_eq!(err.code(), "tile-out-of-range", "{} at {size}", t.path());
    }
    let bundle = TileId { level: 0, index: 0, width: 256, entries: true };
    assert_eq!(tree.tile(&bundle, 70_000).unwrap_err().code(), "not-a-hash-tile");
    assert_eq!(tree.tile(&tile(0, 0, 256), 70_001).unwrap_err().code(), "index-out-of-range");
    assert_eq!(tree.tile(&tile(0, 0, 0), 70_000).unwrap_err().code(), "malformed-tile-path");
    assert_eq!(tree.tile(&tile(0, 0, 257), 70_000).unwrap_err().code(), "malformed-tile-path");
    assert_eq!(tree.tile(&tile(64, 0, 1), 70_000).unwrap_err().code(), "malformed-tile-path");
}

#[test]
fn bundles_hash_to_level0_tiles() {
    let entries: Vec<Vec<u8>> = (0..300u32).map(|i| vec![i as u8; (i % 7) as usize * 50]).collect();
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    for t in TileId::for_tree(300, 0, true) {
        let (start, end) = t.entry_range();
        let bundle = encode_bundle(entries[start as usize..end as usize].iter().map(|e| e.as_slice())).unwrap();
        let decoded = decode_bundle(&bundle).unwrap();
        assert_eq!(decoded.len(), usize::from(t.width));
        let hashes: Vec<u8> = decoded.iter().flat_map(|e| leaf_hash(e)).collect();
        let hash_tile = TileId { entries: false, ..t };
        assert_eq!(hashes, tree.tile(&hash_tile, 300).unwrap(), "{}", t.path());
    }
}
