//! The one error type of the log crate: each variant has a stable kebab-case
//! code and a lowercase message that quotes the offending input.

/// Why a log operation or a piece of log input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A note key name is empty or contains a space or '+'.
    #[error("invalid key name {0:?}: use a non-empty name with no spaces and no '+'")]
    InvalidKeyName(String),
    /// A verifier key string does not parse or its key id does not match.
    #[error("malformed verifier key {vkey:?}: {why}")]
    MalformedVkey {
        /// The input as given (shortened if long).
        vkey: String,
        /// What is wrong with it.
        why: String,
    },
    /// A signed note (or a text to be signed) breaks the signed-note format.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// A signature by the trusted key is present but does not verify.
    #[error("signature by {name:?} (key id {key_id:08x}) does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The note carries no signature by the trusted key (code `bad-signature` too).
    #[error("note has no signature by {name:?} (key id {key_id:08x})")]
    MissingSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// A checkpoint's note text breaks the tlog-checkpoint format.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// A checkpoint's origin differs from the name of the key that signs or verifies it.
    #[error("checkpoint origin {origin:?} does not match key name {key:?}")]
    OriginMismatch {
        /// The checkpoint's origin line.
        origin: String,
        /// The key's name.
        key: String,
    },
    /// An inclusion or consistency proof does not lead to the expected root(s).
    #[error("proof mismatch: {0}")]
    ProofMismatch(String),
    /// An index or tree size lies outside the tree or is otherwise impossible.
    #[error("index out of range: {0}")]
    IndexOutOfRange(String),
    /// A tile path does not follow the tlog-tiles grammar.
    #[error("malformed tile path {path:?}: {why}")]
    MalformedTilePath {
        /// The input as given (shortened if long).
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A tile does not exist (yet) in a tree of the given size.
    #[error("tile {path:?} does not exist in a tree of size {size}")]
    TileOutOfRange {
        /// The tile's path.
        path: String,
        /// The tree size asked about.
        size: u64,
    },
    /// An entry bundle was asked of a Merkle tree, which holds only hashes.
    #[error("tile {0:?} is an entry bundle, not a hash tile")]
    NotAHashTile(String),
    /// An entry bundle's bytes are truncated.
    #[error("malformed entry bundle: {0}")]
    MalformedBundle(String),
    /// An entry is too long for a bundle's 16-bit length prefix.
    #[error("entry {position} is {len} bytes long; entry bundles hold entries of at most 65535 bytes")]
    EntryTooLarge {
        /// The entry's position in the bundle, from 0.
        position: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A tlog-proof receipt does not parse.
    #[error("malformed receipt: {0}")]
    MalformedReceipt(String),
}

impl LogError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            LogError::InvalidKeyName(_) => "invalid-key-name",
            LogError::MalformedVkey { .. } => "malformed-vkey",
            LogError::MalformedNote(_) => "malformed-note",
            LogError::BadSignature { .. } | LogError::MissingSignature { .. } => "bad-signature",
            LogError::Random(_) => "rng-failure",
            LogError::MalformedCheckpoint(_) => "malformed-checkpoint",
            LogError::OriginMismatch { .. } => "origin-mismatch",
            LogError::ProofMismatch(_) => "proof-mismatch",
            LogError::IndexOutOfRange(_) => "index-out-of-range",
            LogError::MalformedTilePath { .. } => "malformed-tile-path",
            LogError::TileOutOfRange { .. } => "tile-out-of-range",
            LogError::NotAHashTile(_) => "not-a-hash-tile",
            LogError::MalformedBundle(_) => "malformed-bundle",
            LogError::EntryTooLarge { .. } => "entry-too-large",
            LogError::MalformedReceipt(_) => "malformed-receipt",
        }
    }
}

/// Shortens `s` to at most 80 characters for quoting in an error message.
pub(crate) fn snippet(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}
