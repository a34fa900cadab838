//! verdict's transparency log: RFC 6962 hashing and proofs, C2SP signed
//! notes and checkpoints, tlog-tiles paths and entry bundles, and tlog-proof
//! receipts. Pure: no I/O; the store keeps the entries.

mod checkpoint;
mod error;
mod merkle;
mod note;
mod receipt;
mod tile;

pub use checkpoint::Checkpoint;
pub use error::LogError;
pub use merkle::{Hash, Tree, empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion};
pub use note::{MAX_NOTE_BYTES, MAX_SIGNATURES, SigningKey, VerifierKey, open_note};
pub use receipt::Receipt;
pub use tile::{TileId, decode_bundle, encode_bundle};
