//! tlog-proof receipts: the text shape, round trips, verification and its
//! failures, strict parsing, and the verification time budget.

use std::time::Instant;

use verdict_log::{Checkpoint, Receipt, SigningKey, Tree, leaf_hash, verify_inclusion};

const ORIGIN: &str = "log.example/verdict";

struct Fixture {
    key: SigningKey,
    tree: Tree,
    entries: Vec<Vec<u8>>,
}

fn fixture(size: u64) -> Fixture {
    let key = SigningKey::from_seed(ORIGIN, [11; 32]).unwrap();
    let entries: Vec<Vec<u8>> = (0..size).map(|i| format!("decision {i}").into_bytes()).collect();
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    Fixture { key, tree, entries }
}

fn receipt(f: &Fixture, index: u64, extra: Option<&[u8]>) -> Receipt {
    let size = f.tree.size();
    let checkpoint = Checkpoint { origin: ORIGIN.into(), size, root: f.tree.root() }.sign(&f.key).unwrap();
    Receipt { extra: extra.map(<[u8]>::to_vec), index, proof: f.tree.inclusion_proof(index, size).unwrap(), checkpoint }
}

#[test]
fn text_shape_and_round_trip() {
    let f = fixture(1000);
    let r = receipt(&f, 737, Some(b"ctx"));
    let text = r.to_text();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines[0], "c2sp.org/tlog-proof@v1");
    assert_eq!(lines[1], "extra Y3R4");
    assert_eq!(lines[2], "index 737");
    let n = r.proof.len();
    assert_eq!(n, 10);
    for line in &lines[3..3 + n] {
        assert_eq!(line.len(), 44, "{line:?}");
    }
    assert_eq!(lines[3 + n], "");
    assert!(text.ends_with(&r.checkpoint));
    assert_eq!(text[text.len() - r.checkpoint.len() - 2..].chars().next(), Some('\n'));
    assert_eq!(Receipt::parse(&text).unwrap(), r);
    assert_eq!(text.parse::<Receipt>().unwrap().to_string(), text);

    let plain = receipt(&f, 0, None);
    let text = plain.to_text();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n"));
    assert_eq!(Receipt::parse(&text).unwrap(), plain);

    // An empty proof (a one-entry tree) and empty extra data round-trip too.
    let single = fixture(1);
    let r = receipt(&single, 0, Some(b""));
    assert!(r.to_text().starts_with("c2sp.org/tlog-proof@v1\nextra \nindex 0\n\n"));
    assert_eq!(Receipt::parse(&r.to_text()).unwrap(), r);
    r.verify(&single.key.verifier(), &leaf_hash(&single.entries[0])).unwrap();
}

#[test]
fn spec_example_parses() {
    let text = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw[...]1roloI=
— witness1.example mJirIklj[...]qY9v2B/5bg==
— witness2.example TnKKVHLX[...]xwYwrSjgow==
— witness3.example S4X82uH5[...]3oEcROGLFQ==
";
    let r = Receipt::parse(text).unwrap();
    assert_eq!(r.index, 73_894);
    assert_eq!(r.proof.len(), 5);
    assert!(r.extra.as_ref().unwrap().starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
    assert!(r.checkpoint.starts_with("example.com/fancylog\n109482\n"));
    assert_eq!(r.to_text(), text);
}

#[test]
fn verification() {
    let f = fixture(1000);
    let vkey = f.key.verifier();
    let index = 737;
    let leaf = leaf_hash(&f.entries[index as usize]);
    let r = receipt(&f, index, None);
    let cp = r.verify(&vkey, &leaf).unwrap();
    assert_eq!((cp.origin.as_str(), cp.size, cp.root), (ORIGIN, 1000, f.tree.root()));
    // Also after a trip through text.
    Receipt::parse(&r.to_text()).unwrap().verify(&vkey, &leaf).unwrap();

    for i in 0..r.proof.len() {
        let mut bad = r.clone();
        bad.proof[i][7] ^= 0x20;
        assert_eq!(bad.verify(&vkey, &leaf).unwrap_err().code(), "proof-mismatch", "flipped proof[{i}]");
    }
    let mut short = r.clone();
    short.proof.pop();
    assert_eq!(short.verify(&vkey, &leaf).unwrap_err().code(), "proof-mismatch");
    let wrong_index = Receipt { index: index + 1, ..r.clone() };
    assert_eq!(wrong_index.verify(&vkey, &leaf).unwrap_err().code(), "proof-mismatch");
    let beyond = Receipt { index: 1000, ..r.clone() };
    assert_eq!(beyond.verify(&vkey, &leaf).unwrap_err().code(), "index-out-of-range");
    let wrong_leaf = leaf_hash(&f.entries[index as usize + 1]);
    assert_eq!(r.verify(&vkey, &wrong_leaf).unwrap_err().code(), "proof-mismatch");
    let wrong_key = SigningKey::from_seed(ORIGIN, [12; 32]).unwrap().verifier();
    assert_eq!(r.verify(&wrong_key, &leaf).unwrap_err().code(), "bad-signature");
    let mut tampered = r.clone();
    tampered.checkpoint = tampered.checkpoint.replacen("\n1000\n", "\n1001\n", 1);
    assert_eq!(tampered.verify(&vkey, &leaf).unwrap_err().code(), "bad-signature");
}

#[test]
fn parse_rejections() {
    let f = fixture(20);
    let good = receipt(&f, 3, Some(b"x")).to_text();
    let proof_line = {
        let lines: Vec<&str> = good.split('\n').collect();
        lines[3].to_owned()
    };
    let checkpoint = receipt(&f, 3, None).checkpoint;
    let cases = [
        good.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
        good.replacen("c2sp.org/tlog-proof@v1\n", "", 1),
        good.replacen("index 3", "index 03", 1),
        good.replacen("index 3", "index -3", 1),
        good.replacen("index 3", "index  3", 1),
        good.replacen("index 3", "index", 1),
        good.replacen("index 3", "index 18446744073709551616", 1),
        good.replacen("extra eA==", "extra !!", 1),
        good.replacen("extra eA==\nindex 3", "index 3\nextra eA==", 1),
        good.replacen(&proof_line, &proof_line[..40], 1),
        good.replacen(&proof_line, &format!("{proof_line}AAAA"), 1),
        good.replacen(&proof_line, "not base64!", 1),
        format!("c2sp.org/tlog-proof@v1\nindex 3\n{}\n{checkpoint}", format!("{proof_line}\n").repeat(65)),
        format!("c2sp.org/tlog-proof@v1\nindex 3\n{proof_line}\n"),
        format!("c2sp.org/tlog-proof@v1\nindex 3\n{proof_line}\n\n"),
        "c2sp.org/tlog-proof@v1".to_owned(),
        String::new(),
    ];
    for bad in cases {
        let err = Receipt::parse(&bad).expect_err(&bad);
        assert_eq!(err.code(), "malformed-receipt", "{bad:?}");
    }
}

fn micros_per_call(rounds: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

/// Receipt verification is one Ed25519 verification plus parsing and ~20 hashes. Reports the
/// times; in optimised builds (`cargo test -p verdict-log --release -- --nocapture`) asserts
/// that everything but the signature check stays within a few microseconds and the whole
/// within a generous bound (ed25519-dalek's verification alone is about 40 µs here).
#[test]
fn verification_time_budget() {
    let key = SigningKey::from_seed(ORIGIN, [13; 32]).unwrap();
    // 2^20 + 1 leaves give a 21-hash proof; debug builds use a smaller tree and only report.
    let size: u64 = if cfg!(debug_assertions) { 1 << 12 } else { (1 << 20) + 1 };
    let tree = Tree::from_leaves((0..size).map(|i| leaf_hash(&i.to_be_bytes())));
    let index = size / 3;
    let checkpoint = Checkpoint { origin: ORIGIN.into(), size, root: tree.root() }.sign(&key).unwrap();
    let r = Receipt { extra: None, index, proof: tree.inclusion_proof(index, size).unwrap(), checkpoint };
    let r = Receipt::parse(&r.to_text()).unwrap();
    let vkey = key.verifier();
    let leaf = leaf_hash(&index.to_be_bytes());
    let rounds = if cfg!(debug_assertions) { 20 } else { 2000 };

    let whole = micros_per_call(rounds, || {
        r.verify(&vkey, &leaf).unwrap();
    });
    let text = verdict_log::open_note(&r.checkpoint, &vkey).unwrap();
    let without_signature = micros_per_call(rounds, || {
        let cp = Checkpoint::parse(text).unwrap();
        verify_inclusion(&leaf, r.index, cp.size, &r.proof, &cp.root).unwrap();
    });
    let parse = micros_per_call(rounds, || {
        Receipt::parse(&r.to_text()).unwrap();
    });
    eprintln!(
        "receipt with a {}-hash proof: verify {whole:.1} µs, of which {without_signature:.1} µs without the \
         signature check; to_text + parse {parse:.1} µs",
        r.proof.len()
    );
    if !cfg!(debug_assertions) {
        assert!(without_signature < 10.0, "checkpoint parse + inclusion check took {without_signature:.1} µs");
        assert!(whole < 100.0, "receipt verification took {whole:.1} µs");
    }
}
