//! Service patterns (`storage.blob`, `ai.*`, `*`) and the sets of catalog
//! services they select.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Catalog, ModelError, ServiceIndex};

/// A pattern over service names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServicePattern {
    /// `*`: every service.
    All,
    /// `family.*`: every service of a family.
    Family(String),
    /// `family.name`: one service.
    Exact(String),
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl ServicePattern {
    /// Parses a pattern, quoting it back on error.
    pub fn parse(text: &str) -> Result<ServicePattern, ModelError> {
        let invalid = || ModelError::InvalidPattern { value: text.to_owned() };
        if text == "*" {
            return Ok(ServicePattern::All);
        }
        let (family, name) = text.split_once('.').ok_or_else(invalid)?;
        if !is_word(family) {
            return Err(invalid());
        }
        if name == "*" {
            Ok(ServicePattern::Family(family.to_owned()))
        } else if is_word(name) {
            Ok(ServicePattern::Exact(text.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// Whether the pattern selects a service name.
    pub fn matches(&self, service: &str) -> bool {
        match self {
            ServicePattern::All => true,
            ServicePattern::Family(family) => {
                service.strip_prefix(family.as_str()).is_some_and(|rest| rest.starts_with('.'))
            }
            ServicePattern::Exact(name) => name == service,
        }
    }

    /// Whether the pattern covers services the catalog does not list in
    /// `family` (`None`: a service of no catalog family): `*` covers every
    /// one, `family.*` those of its family, an exact name none.
    pub fn covers_unlisted(&self, family: Option<&str>) -> bool {
        match self {
            ServicePattern::All => true,
            ServicePattern::Family(f) => family == Some(f.as_str()),
            ServicePattern::Exact(_) => false,
        }
    }

    /// The catalog services this pattern selects; refuses a pattern that
    /// selects none (a typo must not become a silent no-op).
    pub fn select(&self, catalog: &Catalog) -> Result<ServiceSet, ModelError> {
        let set = ServiceSet::from_fn(catalog, |name| self.matches(name));
        if set.is_empty() { Err(ModelError::PatternMatchesNothing { value: self.to_string() }) } else { Ok(set) }
    }
}

impl fmt::Display for ServicePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServicePattern::All => f.write_str("*"),
            ServicePattern::Family(family) => write!(f, "{family}.*"),
            ServicePattern::Exact(name) => f.write_str(name),
        }
    }
}

impl Serialize for ServicePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ServicePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ServicePattern::parse(&text).map_err(crate::refuse)
    }
}

/// A set of catalog services, as a bit mask over catalog indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ServiceSet(u128);

impl ServiceSet {
    /// The services whose names satisfy `keep`.
    pub fn from_fn(catalog: &Catalog, mut keep: impl FnMut(&str) -> bool) -> ServiceSet {
        let mut bits = 0u128;
        for (i, service) in catalog.services.iter().enumerate() {
            if keep(&service.name) {
                bits |= 1 << i;
            }
        }
        ServiceSet(bits)
    }

    /// Union of the services each pattern selects; every pattern must select
    /// at least one.
    pub fn of_patterns(catalog: &Catalog, patterns: &[ServicePattern]) -> Result<ServiceSet, ModelError> {
        let mut set = ServiceSet::default();
        for pattern in patterns {
            set = set.union(pattern.select(catalog)?);
        }
        Ok(set)
    }

    /// The set with one more index (0 to 127).
    pub fn with(self, index: ServiceIndex) -> ServiceSet {
        if index < 128 { ServiceSet(self.0 | 1u128 << index) } else { self }
    }

    /// Whether the set holds a service.
    #[inline]
    pub fn contains(self, index: ServiceIndex) -> bool {
        index < 128 && self.0 & (1u128 << index) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Services in either set.
    pub fn union(self, other: ServiceSet) -> ServiceSet {
        ServiceSet(self.0 | other.0)
    }

    /// Services in `self` but not in `other`.
    pub fn minus(self, other: ServiceSet) -> ServiceSet {
        ServiceSet(self.0 & !other.0)
    }

    /// The indexes in the set, ascending.
    pub fn iter(self) -> impl Iterator<Item = ServiceIndex> {
        (0..128u16).filter(move |i| self.contains(*i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_match_and_quote_errors() {
        let ai = ServicePattern::parse("ai.*").unwrap();
        assert!(ai.matches("ai.translation"));
        assert!(!ai.matches("aix.translation"));
        assert!(ServicePattern::parse("*").unwrap().matches("compute.vm"));
        for bad in ["", "ai", "ai.", ".blob", "AI.*", "storage.*.x", "st orage.blob", "*.blob"] {
            let err = ServicePattern::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let catalog = Catalog::builtin();
        let err = ServicePattern::parse("storage.blbo").unwrap().select(&catalog).unwrap_err();
        assert_eq!(err.code(), "pattern-matches-nothing");
        assert_eq!(ai.select(&catalog).unwrap().iter().count(), 3);
    }
}
