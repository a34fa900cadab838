//! Checkpoints: text form, strict parsing, signing and opening.

use verdict_log::{Checkpoint, SigningKey, Tree, leaf_hash};

const SPEC_TEXT: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

#[test]
fn spec_example_text_parses() {
    let cp = Checkpoint::parse(SPEC_TEXT).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20_852_163);
    assert_eq!(cp.text(), SPEC_TEXT);
}

#[test]
fn extension_lines_are_ignored() {
    let text = format!("{SPEC_TEXT}ext one\next two\n");
    assert_eq!(Checkpoint::parse(&text).unwrap(), Checkpoint::parse(SPEC_TEXT).unwrap());
    let empty_ext = format!("{SPEC_TEXT}ext\n\n");
    assert_eq!(Checkpoint::parse(&empty_ext).unwrap_err().code(), "malformed-checkpoint");
}

#[test]
fn parse_rejections() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    for bad in [
        format!("o\n007\n{root}\n"),
        format!("o\n00\n{root}\n"),
        format!("o\n+7\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n1 \n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        "o\n1\n!!!!\n".to_owned(),
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n".to_owned(),
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n".to_owned(),
        "o\n1\n\n".to_owned(),
        "o\n1\n".to_owned(),
        "o\n".to_owned(),
        String::new(),
        format!("o\n1\n{root}"),
        format!("\n1\n{root}\n"),
        format!("o\r\n1\n{root}\n"),
    ] {
        let err = Checkpoint::parse(&bad).expect_err(&bad);
        assert_eq!(err.code(), "malformed-checkpoint", "{bad:?}");
    }
    assert_eq!(Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size, 0);
    assert_eq!(Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).unwrap().size, u64::MAX);
}

#[test]
fn sign_and_open() {
    let key = SigningKey::from_seed("log.example/verdict", [4; 32]).unwrap();
    let tree = Tree::from_leaves((0..10u8).map(|i| leaf_hash(&[i])));
    let cp = Checkpoint { origin: "log.example/verdict".into(), size: 10, root: tree.root() };
    let note = cp.sign(&key).unwrap();
    assert!(note.starts_with(&cp.text()));
    assert_eq!(Checkpoint::open(&note, &key.verifier()).unwrap(), cp);

    let impostor = SigningKey::from_seed("log.example/verdict", [5; 32]).unwrap();
    assert_eq!(Checkpoint::open(&note, &impostor.verifier()).unwrap_err().code(), "bad-signature");
    let tampered = note.replacen("\n10\n", "\n11\n", 1);
    assert_eq!(Checkpoint::open(&tampered, &key.verifier()).unwrap_err().code(), "bad-signature");

    // The key's name must be the origin, both ways.
    let other = SigningKey::from_seed("other.example", [4; 32]).unwrap();
    assert_eq!(cp.sign(&other).unwrap_err().code(), "origin-mismatch");
    let smuggled = other.sign_note(&cp.text()).unwrap();
    assert_eq!(Checkpoint::open(&smuggled, &other.verifier()).unwrap_err().code(), "origin-mismatch");

    // An origin with a newline (which no key name can have) is refused.
    let root = tree.root();
    let sneaky = SigningKey::from_seed("a", [4; 32]).unwrap();
    let bad_origin = Checkpoint { origin: format!("a\n5\n{}", "AAAA".repeat(10) + "AAA="), size: 10, root };
    assert_eq!(bad_origin.sign(&sneaky).unwrap_err().code(), "origin-mismatch");
    let short = SigningKey::from_seed("x", [4; 32]).unwrap();
    let cp_x = Checkpoint { origin: "x".into(), size: 1, root };
    assert_eq!(Checkpoint::open(&cp_x.sign(&short).unwrap(), &short.verifier()).unwrap(), cp_x);

    // A well-signed note whose text is no checkpoint.
    let junk = key.sign_note("log.example/verdict\nten\n").unwrap();
    assert_eq!(Checkpoint::open(&junk, &key.verifier()).unwrap_err().code(), "malformed-checkpoint");
}
