//! Signed notes: the C2SP signed-note spec's example vkey and note, and the
//! ways a note must fail (tampered text, wrong key, only unknown signatures).

use verdict_log::{LogError, SigningKey, VerifierKey, open_note};

const VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

#[test]
fn spec_example_verifies() {
    let key = VerifierKey::parse(VKEY).unwrap();
    assert_eq!(key.name(), "example.com/foo");
    assert_eq!(key.key_id(), 0x530d_903a);
    assert_eq!(key.to_string(), VKEY);
    assert_eq!(VKEY.parse::<VerifierKey>().unwrap(), key);
    assert_eq!(open_note(NOTE, &key).unwrap(), "This is an example message.\n");
}

#[test]
fn tampered_text_fails() {
    let key = VerifierKey::parse(VKEY).unwrap();
    let tampered = NOTE.replace("example message", "exemple message");
    let err = open_note(&tampered, &key).unwrap_err();
    assert!(matches!(err, LogError::BadSignature { .. }), "{err}");
    assert_eq!(err.code(), "bad-signature");
    // A flipped bit in the signature itself fails the same way.
    let forged = NOTE.replace("Uw2QOkn8", "Uw2QOkn9");
    assert_eq!(open_note(&forged, &key).unwrap_err().code(), "bad-signature");
}

#[test]
fn wrong_key_fails() {
    // Same name, different key (so a different key id): the example signature is unknown to it.
    let other = SigningKey::from_seed("example.com/foo", [9; 32]).unwrap().verifier();
    let err = open_note(NOTE, &other).unwrap_err();
    assert!(matches!(err, LogError::MissingSignature { .. }), "{err}");
    assert_eq!(err.code(), "bad-signature");
    let elsewhere = SigningKey::from_seed("example.com/bar", [9; 32]).unwrap().verifier();
    assert_eq!(open_note(NOTE, &elsewhere).unwrap_err().code(), "bad-signature");
}

#[test]
fn unknown_signatures_are_ignored_but_not_enough() {
    let key = VerifierKey::parse(VKEY).unwrap();
    let stranger = SigningKey::from_seed("witness.example", [5; 32]).unwrap();
    let only_unknown = stranger.sign_note("This is an example message.\n").unwrap();
    let err = open_note(&only_unknown, &key).unwrap_err();
    assert!(matches!(err, LogError::MissingSignature { .. }), "{err}");

    // The example signature next to unknown ones (including a name collision and an id
    // collision with garbage signatures) still verifies.
    let sig_line = NOTE.strip_prefix("This is an example message.\n\n").unwrap();
    let stranger_line = only_unknown.strip_prefix("This is an example message.\n\n").unwrap();
    let same_name_other_id =
        "\u{2014} example.com/foo AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let same_id_other_name = "\u{2014} example.com/fo Uw2QOgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let many =
        format!("This is an example message.\n\n{stranger_line}{same_name_other_id}{sig_line}{same_id_other_name}");
    assert_eq!(open_note(&many, &key).unwrap(), "This is an example message.\n");
    assert_eq!(open_note(&many, &stranger.verifier()).unwrap(), "This is an example message.\n");
}

#[test]
fn text_is_split_at_the_last_blank_line() {
    let key = SigningKey::from_seed("example.com/log", [1; 32]).unwrap();
    let text = "first\n\nsecond\n\n\nthird\n";
    let note = key.sign_note(text).unwrap();
    assert_eq!(open_note(&note, &key.verifier()).unwrap(), text);
    // Moving a signature line into the text breaks the signature.
    let rearranged = note.replacen("first\n", "first\n\n", 1);
    assert!(open_note(&rearranged, &key.verifier()).is_err());
}

#[test]
fn signatures_are_deterministic_ed25519() {
    let key = SigningKey::from_seed("example.com/log", [2; 32]).unwrap();
    assert_eq!(key.sign_note("a\n").unwrap(), key.sign_note("a\n").unwrap());
    let vkey = key.verifier().to_string();
    assert!(vkey.starts_with("example.com/log+"));
    let parsed = VerifierKey::parse(&vkey).unwrap();
    assert_eq!(parsed, key.verifier());
    assert_eq!(parsed.key_id(), u32::from_str_radix(&vkey[16..24], 16).unwrap());
}
