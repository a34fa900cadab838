//! tlog-tiles resources: tile and entry-bundle paths (`tile/<L>/<N>[.p/<W>]`,
//! `tile/entries/<N>[.p/<W>]`) and the entry bundle encoding.

use crate::error::{LogError, snippet};

/// The highest tile level the tlog-tiles spec allows.
pub(crate) const MAX_LEVEL: u8 = 63;

/// A tlog-tiles resource: a hash tile at level L, or an entry bundle.
///
/// Entry bundles have `level` 0 (they parallel the level-0 hash tiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    /// The tile level, 0 to 63; always 0 for entry bundles.
    pub level: u8,
    /// The tile's index within its level.
    pub index: u64,
    /// The number of hashes (or entries) served: 1 to 256, where 256 is a full tile.
    pub width: u16,
    /// Whether this is an entry bundle rather than a hash tile.
    pub entries: bool,
}

impl TileId {
    /// Parses the part after "tile/": "0/x001/234", "1/000.p/17", "entries/x001/234.p/5".
    /// Strict per spec: 3-digit zero-padded elements, all but the last prefixed with 'x',
    /// level without leading zeros and <= 63, width 1..=255 without leading zeros, nothing else.
    /// The index has no redundant leading "x000" elements. A leading "tile/" is accepted too,
    /// so that `TileId::parse(&id.path())` round-trips.
    pub fn parse(path: &str) -> Result<TileId, LogError> {
        let bad = |why: &'static str| LogError::MalformedTilePath { path: snippet(path), why };
        let rest = path.strip_prefix("tile/").unwrap_or(path);
        let (head, rest) = rest.split_once('/').ok_or_else(|| bad("expected <level>/<index>"))?;
        let (level, entries) = if head == "entries" {
            (0, true)
        } else {
            let level = parse_small(head).ok_or_else(|| bad("level must be a decimal number with no leading zeros"))?;
            if level > u32::from(MAX_LEVEL) {
                return Err(bad("level must be at most 63"));
            }
            (level as u8, false)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            None => (rest, 256u16),
            Some((index_part, w)) => {
                let w = parse_small(w).ok_or_else(|| bad("width must be a decimal number with no leading zeros"))?;
                if !(1..=255).contains(&w) {
                    return Err(bad("partial tile width must be 1 to 255"));
                }
                (index_part, w as u16)
            }
        };
        let elements: Vec<&str> = index_part.split('/').collect();
        let (last, prefixed) = elements.split_last().ok_or_else(|| bad("missing index"))?;
        let mut index: u64 = 0;
        for (i, element) in prefixed.iter().enumerate() {
            let digits = element.strip_prefix('x').ok_or_else(|| bad("all but the last index element need an 'x'"))?;
            let value = three_digits(digits).ok_or_else(|| bad("index elements must be 3 decimal digits"))?;
            if i == 0 && value == 0 {
                return Err(bad("index has a redundant leading x000 element"));
            }
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(value))
                .ok_or_else(|| bad("index does not fit in 64 bits"))?;
        }
        let value = three_digits(last).ok_or_else(|| bad("index elements must be 3 decimal digits"))?;
        index = index
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or_else(|| bad("index does not fit in 64 bits"))?;
        Ok(TileId { level, index, width, entries })
    }

    /// The resource path: "tile/0/x001/234", "tile/entries/000.p/5" (the inverse of `parse`).
    pub fn path(&self) -> String {
        let mut out = String::from("tile/");
        if self.entries {
            out.push_str("entries");
        } else {
            out.push_str(&self.level.to_string());
        }
        let digits = self.index.to_string();
        let pad = (3 - digits.len() % 3) % 3;
        let padded = format!("{}{digits}", "0".repeat(pad));
        let groups = padded.len() / 3;
        for g in 0..groups {
            out.push('/');
            if g + 1 < groups {
                out.push('x');
            }
            out.push_str(&padded[g * 3..g * 3 + 3]);
        }
        if self.is_partial() {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Whether this is a partial tile (fewer than 256 hashes or entries).
    pub fn is_partial(&self) -> bool {
        self.width < 256
    }

    /// First and one-past-last entry index covered by this tile as served (width-aware).
    /// Saturates at `u64::MAX` for tiles beyond any 64-bit tree.
    pub fn entry_range(&self) -> (u64, u64) {
        let level = if self.entries { 0 } else { u32::from(self.level) };
        let per_hash = 256u64.checked_pow(level);
        let start = per_hash.and_then(|p| self.index.checked_mul(256)?.checked_mul(p)).unwrap_or(u64::MAX);
        let span = per_hash.and_then(|p| p.checked_mul(u64::from(self.width))).unwrap_or(u64::MAX);
        (start, start.saturating_add(span))
    }

    /// The tiles at `level` (or, with `entries`, the entry bundles, whose level is 0) that a
    /// client reads to cover a tree of `size`, in order: every full tile, then the partial
    /// tile of width floor(size / 256^level) mod 256 if that is not zero.
    pub fn for_tree(size: u64, level: u8, entries: bool) -> Vec<TileId> {
        let level = if entries { 0 } else { level };
        let Some(per_hash) = 256u64.checked_pow(u32::from(level)) else {
            return Vec::new();
        };
        let hashes = size / per_hash;
        let full = hashes / 256;
        let partial = (hashes % 256) as u16;
        let mut out: Vec<TileId> = (0..full).map(|index| TileId { level, index, width: 256, entries }).collect();
        if partial != 0 {
            out.push(TileId { level, index: full, width: partial, entries });
        }
        out
    }
}

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}

impl std::str::FromStr for TileId {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TileId::parse(s)
    }
}

/// A decimal number of at most 3 digits with no leading zeros ("0" itself is fine).
fn parse_small(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// Exactly three decimal digits.
fn three_digits(s: &str) -> Option<u64> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Encodes entries as an entry bundle: each entry prefixed by its length as a big-endian
/// uint16. Entries longer than 65535 bytes are refused.
pub fn encode_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::new();
    for (position, entry) in entries.into_iter().enumerate() {
        let len = u16::try_from(entry.len()).map_err(|_| LogError::EntryTooLarge { position, len: entry.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries. Refuses truncated input, naming the entry.
pub fn decode_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, LogError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let position = out.len();
        let Some((prefix, tail)) = rest.split_first_chunk::<2>() else {
            return Err(LogError::MalformedBundle(format!(
                "entry {position} has a truncated length prefix (1 byte left of {} bytes)",
                bytes.len()
            )));
        };
        let len = usize::from(u16::from_be_bytes(*prefix));
        if tail.len() < len {
            return Err(LogError::MalformedBundle(format!(
                "entry {position} is truncated: its prefix says {len} bytes but {} are left",
                tail.len()
            )));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_examples() {
        let t = TileId { level: 0, index: 1_234_067, width: 256, entries: false };
        assert_eq!(t.path(), "tile/0/x001/x234/067");
        assert_eq!(TileId::parse("0/x001/x234/067").unwrap(), t);
        let e = TileId { level: 0, index: 0, width: 5, entries: true };
        assert_eq!(e.path(), "tile/entries/000.p/5");
        let max = TileId { level: 63, index: u64::MAX, width: 255, entries: false };
        assert_eq!(max.path(), "tile/63/x018/x446/x744/x073/x709/x551/615.p/255");
        assert_eq!(TileId::parse(&max.path()).unwrap(), max);
        assert_eq!(TileId::parse("0/x018/x446/x744/x073/x709/x551/616").unwrap_err().code(), "malformed-tile-path");
    }

    #[test]
    fn entry_ranges() {
        assert_eq!(TileId { level: 0, index: 2, width: 256, entries: false }.entry_range(), (512, 768));
        assert_eq!(TileId { level: 1, index: 1, width: 17, entries: false }.entry_range(), (65536, 65536 + 17 * 256));
        assert_eq!(TileId { level: 0, index: 3, width: 5, entries: true }.entry_range(), (768, 773));
        assert_eq!(TileId { level: 9, index: 1, width: 1, entries: false }.entry_range(), (u64::MAX, u64::MAX));
    }

    #[test]
    fn bundles() {
        let entries: [&[u8]; 3] = [b"", b"a", &[7u8; 300]];
        let bytes = encode_bundle(entries).unwrap();
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, b'a']);
        assert_eq!(decode_bundle(&bytes).unwrap(), entries.to_vec());
        let e = decode_bundle(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!(e.code(), "malformed-bundle");
        assert!(e.to_string().contains("entry 2"), "{e}");
        let e = decode_bundle(&[0, 1, b'x', 0]).unwrap_err();
        assert!(e.to_string().contains("entry 1"), "{e}");
        let big = vec![0u8; 65536];
        assert_eq!(encode_bundle([&big[..]]).unwrap_err().code(), "entry-too-large");
        assert_eq!(encode_bundle([&big[..65535]]).unwrap().len(), 65537);
        assert!(decode_bundle(&[]).unwrap().is_empty());
    }
}
