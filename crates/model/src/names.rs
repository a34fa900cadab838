//! Identifiers and unit paths: the names users type, checked once here.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// Checks an identifier: 1–64 characters of `[A-Za-z0-9._-]`, starting with
/// a letter or digit.
pub fn validate_id(what: &'static str, value: &str) -> Result<(), ModelError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(ModelError::InvalidId { what, value: value.to_owned() }) }
}

/// A unit's place in its tenant's tree: segments joined by `/`, e.g.
/// `intelligence/signals`. A unit's descendants are the paths below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitPath(String);

impl UnitPath {
    /// Deepest tree verdict accepts.
    pub const MAX_DEPTH: usize = 16;

    /// Parses and checks a path.
    pub fn parse(value: &str) -> Result<UnitPath, ModelError> {
        let bad = |why| ModelError::InvalidUnitPath { value: value.to_owned(), why };
        if value.is_empty() {
            return Err(bad("it is empty"));
        }
        if value.len() > 256 {
            return Err(bad("it is longer than 256 characters"));
        }
        let mut depth = 0;
        for segment in value.split('/') {
            depth += 1;
            if segment.is_empty() {
                return Err(bad("it has an empty segment; write 'a/b', not '/a', 'a/' or 'a//b'"));
            }
            if validate_id("unit segment", segment).is_err() {
                return Err(bad("segments use a-z, A-Z, 0-9, '.', '_' and '-', starting with a letter or digit"));
            }
        }
        if depth > Self::MAX_DEPTH {
            return Err(bad("it is deeper than 16 levels"));
        }
        Ok(UnitPath(value.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent unit's path, or `None` for a top-level unit.
    pub fn parent(&self) -> Option<UnitPath> {
        self.0.rsplit_once('/').map(|(parent, _)| UnitPath(parent.to_owned()))
    }

    /// This path and all of its ancestors, the top-level unit first.
    pub fn lineage(&self) -> Vec<UnitPath> {
        let mut out: Vec<UnitPath> = self.0.match_indices('/').map(|(i, _)| UnitPath(self.0[..i].to_owned())).collect();
        out.push(self.clone());
        out
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &UnitPath) -> bool {
        self.0 == other.0 || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for UnitPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for UnitPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UnitPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        UnitPath::parse(&text).map_err(crate::refuse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest_by_segment_not_by_prefix() {
        let signals = UnitPath::parse("intelligence/signals").unwrap();
        let intel = UnitPath::parse("intelligence").unwrap();
        let other = UnitPath::parse("intelligence-archive").unwrap();
        assert!(signals.is_within(&intel));
        assert!(!other.is_within(&intel));
        assert_eq!(signals.parent(), Some(intel.clone()));
        assert_eq!(signals.lineage(), vec![intel, signals.clone()]);
    }

    #[test]
    fn rejects_malformed_paths_quoting_them() {
        for bad in ["", "/a", "a/", "a//b", "a b", "-a"] {
            let err = UnitPath::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert!(validate_id("tenant", "ministry-of-defense").is_ok());
        assert!(validate_id("tenant", "").is_err());
    }
}
