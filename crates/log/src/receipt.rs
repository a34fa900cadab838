//! c2sp.org/tlog-proof@v1 receipts: an entry's index, its inclusion proof and
//! the signed checkpoint it leads to, verifiable offline.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::Checkpoint;
use crate::error::{LogError, snippet};
use crate::merkle::{Hash, verify_inclusion};
use crate::note::VerifierKey;

/// The first line of every receipt.
const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The longest inclusion proof of a tree with at most 2^64 - 1 leaves.
const MAX_PROOF: usize = 64;

/// A c2sp.org/tlog-proof@v1 receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Optional opaque extra data (not authenticated).
    pub extra: Option<Vec<u8>>,
    /// The entry's index in the log.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up to the root's child.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl Receipt {
    /// The receipt's text: header, optional "extra" line, "index" line, proof lines, a blank
    /// line and the checkpoint.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(64 + 45 * self.proof.len() + self.checkpoint.len());
        out.push_str(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&B64.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.proof {
            out.push_str(&B64.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a receipt strictly; the checkpoint is kept verbatim and checked by `verify`.
    pub fn parse(text: &str) -> Result<Receipt, LogError> {
        let bad = |why: String| LogError::MalformedReceipt(why);
        let mut rest = text;
        let mut next_line = |what: &str| -> Result<&str, LogError> {
            let (line, tail) = rest
                .split_once('\n')
                .ok_or_else(|| bad(format!("receipt {:?} ends before its {what}", snippet(text))))?;
            rest = tail;
            Ok(line)
        };
        let header = next_line("header")?;
        if header != HEADER {
            return Err(bad(format!("first line {:?} is not {HEADER:?}", snippet(header))));
        }
        let mut line = next_line("index line")?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            let bytes = B64.decode(b64).map_err(|_| bad(format!("extra data {:?} is not base64", snippet(b64))))?;
            extra = Some(bytes);
            line = next_line("index line")?;
        }
        let digits = line
            .strip_prefix("index ")
            .ok_or_else(|| bad(format!("line {:?} is not \"index <number>\"", snippet(line))))?;
        let digits_ok = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        let index: u64 = if digits_ok { digits.parse().ok() } else { None }
            .ok_or_else(|| bad(format!("index {:?} is not a decimal number without leading zeros", snippet(digits))))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line("blank line before the checkpoint")?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF {
                return Err(bad(format!("the proof has more than {MAX_PROOF} hashes")));
            }
            let bytes = B64.decode(line).map_err(|_| bad(format!("proof line {:?} is not base64", snippet(line))))?;
            let hash: Hash = bytes
                .as_slice()
                .try_into()
                .map_err(|_| bad(format!("proof line {:?} holds {} bytes, not 32", snippet(line), bytes.len())))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(bad("the checkpoint is missing".to_owned()));
        }
        Ok(Receipt { extra, index, proof, checkpoint: rest.to_owned() })
    }

    /// Opens the checkpoint with `key` and checks the inclusion proof of `leaf` at `index`; returns the checkpoint.
    pub fn verify(&self, key: &VerifierKey, leaf: &Hash) -> Result<Checkpoint, LogError> {
        let checkpoint = Checkpoint::open(&self.checkpoint, key)?;
        verify_inclusion(leaf, self.index, checkpoint.size, &self.proof, &checkpoint.root)?;
        Ok(checkpoint)
    }
}

impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for Receipt {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Receipt::parse(s)
    }
}
