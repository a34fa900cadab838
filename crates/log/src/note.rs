//! C2SP signed notes with Ed25519 keys (signature type 0x01): signing keys,
//! verifier keys in vkey form, and note signing and verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest as _, Sha256};

use crate::error::{LogError, snippet};

/// The signed-note signature type byte of Ed25519 keys.
const ALG_ED25519: u8 = 0x01;
/// The largest signed note `open_note` accepts, in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// The most signature lines `open_note` accepts on one note.
pub const MAX_SIGNATURES: usize = 100;
/// The prefix of every signature line: em dash, space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Checks a key name: non-empty, no Unicode spaces, no '+'.
fn check_name(name: &str) -> Result<(), LogError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(LogError::InvalidKeyName(snippet(name)));
    }
    Ok(())
}

/// SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian.
fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Ed25519 signed-note key (C2SP signed-note, signature type 0x01).
#[derive(Clone)]
pub struct SigningKey {
    name: String,
    key: ed25519_dalek::SigningKey,
    verifier: VerifierKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        f.debug_struct("SigningKey").field("verifier", &self.verifier.to_string()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key named `name` with a seed from the operating system's random number generator.
    pub fn generate(name: &str) -> Result<SigningKey, LogError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| LogError::Random(e.to_string()))?;
        SigningKey::from_seed(name, seed)
    }

    /// The key named `name` with the given 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SigningKey, LogError> {
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = key.verifying_key();
        let verifier = VerifierKey { name: name.to_owned(), id: key_id(name, public.as_bytes()), key: public };
        Ok(SigningKey { name: name.to_owned(), key, verifier })
    }

    /// The 32-byte seed, for storing the key.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        self.verifier.clone()
    }

    /// Signs a note text, which must end in '\n' and hold no control characters but '\n';
    /// returns `text + "\n" + "— <name> <base64(keyid||sig)>\n"`.
    pub fn sign_note(&self, text: &str) -> Result<String, LogError> {
        if !text.ends_with('\n') {
            return Err(LogError::MalformedNote(format!("text {:?} does not end in a newline", snippet(text))));
        }
        if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(LogError::MalformedNote(format!(
                "text {:?} contains the control character {c:?}",
                snippet(text)
            )));
        }
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.verifier.id.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob)))
    }
}

/// An Ed25519 signed-note verifier key, in text form `<name>+<hex id>+<base64(0x01||pub)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Parses a vkey `<name>+<hex id>+<base64(0x01||pub)>` and checks that the id matches.
    pub fn parse(vkey: &str) -> Result<VerifierKey, LogError> {
        let bad = |why: &str| LogError::MalformedVkey { vkey: snippet(vkey), why: why.to_owned() };
        // The name holds no '+', the id is hex; the base64 part may hold '+' itself.
        let (name, rest) = vkey.split_once('+').ok_or_else(|| bad("expected <name>+<key id>+<key>"))?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or_else(|| bad("expected <name>+<key id>+<key>"))?;
        check_name(name).map_err(|_| bad("the key name must be non-empty with no spaces"))?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad("the key id must be 8 lowercase hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("the key id must be 8 lowercase hex digits"))?;
        let raw = B64.decode(key_b64).map_err(|_| bad("the key is not valid base64"))?;
        match raw.split_first() {
            Some((&ALG_ED25519, public)) if public.len() == 32 => {
                let public: [u8; 32] = public.try_into().map_err(|_| bad("the Ed25519 key must be 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&public)
                    .map_err(|_| bad("the Ed25519 public key is not a valid curve point"))?;
                if key_id(name, &public) != id {
                    return Err(bad("the key id does not match the name and key"));
                }
                Ok(VerifierKey { name: name.to_owned(), id, key })
            }
            Some((&ALG_ED25519, _)) => Err(bad("the Ed25519 key must be 32 bytes")),
            Some((alg, _)) => Err(bad(&format!("unsupported signature type 0x{alg:02x}; only Ed25519 (0x01) is"))),
            None => Err(bad("the key is empty")),
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifierKey::parse(s)
    }
}

/// Verifies a signed note with `key`: ignores signatures by other keys, fails if the key's
/// signature is missing or wrong; returns the note text (ending in '\n').
///
/// Enforces the note rules: no control characters but '\n', the last blank line separates
/// the text from one or more well-formed signature lines, at most [`MAX_SIGNATURES`]
/// signatures and [`MAX_NOTE_BYTES`] bytes.
pub fn open_note<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str, LogError> {
    let bad = |why: String| LogError::MalformedNote(why);
    if note.len() > MAX_NOTE_BYTES {
        return Err(bad(format!("the note is {} bytes, more than the limit of {MAX_NOTE_BYTES}", note.len())));
    }
    if let Some(c) = note.chars().find(|&c| c < ' ' && c != '\n') {
        return Err(bad(format!("note {:?} contains the control character {c:?}", snippet(note))));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| bad(format!("note {:?} has no blank line before its signatures", snippet(note))))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    if sigs.is_empty() {
        return Err(bad(format!("note {:?} has no signatures", snippet(note))));
    }
    if !sigs.ends_with('\n') {
        return Err(bad(format!("the signature block {:?} does not end in a newline", snippet(sigs))));
    }
    let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(bad(format!("the note has {} signatures, more than the limit of {MAX_SIGNATURES}", lines.len())));
    }
    let mut verified = false;
    for line in lines {
        let malformed =
            || bad(format!("signature line {:?} is not \"— <key name> <base64 signature>\"", snippet(line)));
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(malformed)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(malformed)?;
        check_name(name).map_err(|_| malformed())?;
        let blob = B64.decode(b64).map_err(|_| malformed())?;
        if blob.len() < 5 {
            return Err(malformed());
        }
        let id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if name != key.name || id != key.id {
            continue;
        }
        let signature = ed25519_dalek::Signature::from_slice(&blob[4..])
            .map_err(|_| LogError::BadSignature { name: key.name.clone(), key_id: key.id })?;
        key.key
            .verify(text.as_bytes(), &signature)
            .map_err(|_| LogError::BadSignature { name: key.name.clone(), key_id: key.id })?;
        verified = true;
    }
    if !verified {
        return Err(LogError::MissingSignature { name: key.name.clone(), key_id: key.id });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_open_round_trip() {
        let key = SigningKey::from_seed("example.com/log", [7; 32]).unwrap();
        let note = key.sign_note("hello\n\nworld\n").unwrap();
        assert!(note.starts_with("hello\n\nworld\n\n\u{2014} example.com/log "));
        assert_eq!(open_note(&note, &key.verifier()).unwrap(), "hello\n\nworld\n");
        let vkey = key.verifier().to_string();
        assert_eq!(VerifierKey::parse(&vkey).unwrap(), key.verifier());
        let again = SigningKey::from_seed("example.com/log", key.seed()).unwrap();
        assert_eq!(again.verifier(), key.verifier());
        assert!(!format!("{key:?}").contains("0707"));
    }

    #[test]
    fn key_names_and_texts_are_checked() {
        for name in ["", "a b", "a+b", "a\u{a0}b", "a\tb"] {
            assert_eq!(SigningKey::from_seed(name, [1; 32]).unwrap_err().code(), "invalid-key-name", "{name:?}");
        }
        assert_eq!(SigningKey::generate("a+b").unwrap_err().code(), "invalid-key-name");
        let key = SigningKey::generate("ok").unwrap();
        assert_ne!(key.seed(), SigningKey::generate("ok").unwrap().seed());
        assert_eq!(key.sign_note("no newline").unwrap_err().code(), "malformed-note");
        assert_eq!(key.sign_note("tab\there\n").unwrap_err().code(), "malformed-note");
    }

    #[test]
    fn malformed_notes() {
        let key = SigningKey::from_seed("k", [3; 32]).unwrap();
        let v = key.verifier();
        let note = key.sign_note("text\n").unwrap();
        let sig_line = note.strip_prefix("text\n\n").unwrap();
        let cases = [
            "text\n".to_owned(),
            "text\n\n".to_owned(),
            note.trim_end_matches('\n').to_owned(),
            format!("text\r\n\n{sig_line}"),
            format!("text\n\n{sig_line}garbage\n"),
            format!("text\n\n{sig_line}- k AAAAAAA=\n"),
            format!("text\n\n{sig_line}\u{2014} k AAAA\n"),
            format!("text\n\n{sig_line}\u{2014} k !!!!\n"),
            format!("text\n\n{sig_line}\u{2014} a+b AAAAAAA=\n"),
            format!("text\n\n{}", sig_line.repeat(MAX_SIGNATURES + 1)),
        ];
        for case in cases {
            assert_eq!(open_note(&case, &v).unwrap_err().code(), "malformed-note", "{case:?}");
        }
        // Exactly the limit is fine.
        let many = format!("text\n\n{}", sig_line.repeat(MAX_SIGNATURES));
        assert_eq!(open_note(&many, &v).unwrap(), "text\n");
        let huge = format!("{}\n\n{sig_line}", "a".repeat(MAX_NOTE_BYTES));
        assert_eq!(open_note(&huge, &v).unwrap_err().code(), "malformed-note");
    }

    #[test]
    fn vkey_rejections() {
        let good = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        assert_eq!(VerifierKey::parse(good).unwrap().to_string(), good);
        for bad in [
            "",
            "example.com/foo",
            "example.com/foo+530d903a",
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
        ] {
            let e = VerifierKey::parse(bad).unwrap_err();
            assert_eq!(e.code(), "malformed-vkey", "{bad:?}");
        }
    }
}
