//! C2SP tlog checkpoints: the signed tree head "origin\nsize\nbase64(root)\n"
//! carried as a signed note.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{LogError, snippet};
use crate::merkle::Hash;
use crate::note::{SigningKey, VerifierKey, open_note};

/// A checkpoint: the log's origin line, tree size and root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. "example.com/log42"; equal to the log key's name.
    pub origin: String,
    /// The number of entries in the tree.
    pub size: u64,
    /// The RFC 6962 root hash of the tree at `size`.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: "origin\nsize\nbase64(root)\n".
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }

    /// Parses a checkpoint note text strictly: a non-empty origin, a decimal size with no
    /// leading zeros, a base64 root of exactly 32 bytes, then optional non-empty extension
    /// lines (allowed and ignored); every line ends in '\n'.
    pub fn parse(text: &str) -> Result<Checkpoint, LogError> {
        let bad = |why: String| LogError::MalformedCheckpoint(why);
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad(format!("text {:?} does not end in a newline", snippet(text))))?;
        if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(bad(format!("text {:?} contains the control character {c:?}", snippet(text))));
        }
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(bad(format!(
                "text {:?} has {} lines; a checkpoint needs origin, size and root",
                snippet(text),
                lines.len()
            )));
        }
        let (origin, size, root) = (lines[0], lines[1], lines[2]);
        if origin.is_empty() {
            return Err(bad("the origin line is empty".to_owned()));
        }
        let size_ok =
            !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) && (size == "0" || !size.starts_with('0'));
        let size: u64 = if size_ok { size.parse().ok() } else { None }.ok_or_else(|| {
            bad(format!("size line {:?} is not a decimal number without leading zeros", snippet(size)))
        })?;
        let root_bytes = B64.decode(root).map_err(|_| bad(format!("root line {:?} is not base64", snippet(root))))?;
        let root: Hash = root_bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad(format!("root line {:?} holds {} bytes, not 32", snippet(root), root_bytes.len())))?;
        if let Some(i) = lines[3..].iter().position(|l| l.is_empty()) {
            return Err(bad(format!("extension line {} is empty", i + 1)));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root })
    }

    /// Signs the checkpoint text as a note; the key's name must equal the origin.
    pub fn sign(&self, key: &SigningKey) -> Result<String, LogError> {
        if key.name() != self.origin {
            return Err(LogError::OriginMismatch { origin: snippet(&self.origin), key: key.name().to_owned() });
        }
        // Refuse to sign a text that would not parse back to this checkpoint (say, an origin
        // with a newline in it).
        let text = self.text();
        if Checkpoint::parse(&text)? != *self {
            return Err(LogError::MalformedCheckpoint(format!(
                "origin {:?} would not survive a round trip through the note text",
                snippet(&self.origin)
            )));
        }
        key.sign_note(&text)
    }

    /// Verifies the signature with `key`, parses, and checks origin == key.name().
    pub fn open(note: &str, key: &VerifierKey) -> Result<Checkpoint, LogError> {
        let text = open_note(note, key)?;
        let checkpoint = Checkpoint::parse(text)?;
        if checkpoint.origin != key.name() {
            return Err(LogError::OriginMismatch { origin: snippet(&checkpoint.origin), key: key.name().to_owned() });
        }
        Ok(checkpoint)
    }
}
