//! Instants as whole seconds since the Unix epoch, written as RFC 3339.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ModelError;

/// An instant, to the second. Decisions and phase boundaries are exact to
/// the second: a phase starting at `t` governs a request at `t`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The latest representable instant; used for "no end".
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// Parses RFC 3339 (`2026-11-23T09:00:00Z`, any offset); fractions of a
    /// second are dropped.
    pub fn parse(text: &str) -> Result<Timestamp, ModelError> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| Timestamp(t.unix_timestamp()))
            .map_err(|_| ModelError::InvalidTime { value: text.to_owned() })
    }

    /// Seconds since the epoch.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// This instant moved by `seconds` (saturating).
    pub fn plus(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0).ok().and_then(|t| t.format(&Rfc3339).ok()) {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339_and_drops_fractions() {
        let t = Timestamp::parse("2026-11-23T09:00:00.750+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-23T08:00:00Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }
}
