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

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3339 in UTC (`2026-11-23T09:00:00Z`), written without allocating:
/// every decision's context carries a few of these. Instants outside years
/// 0 to 9999, which RFC 3339 cannot write, print as `@seconds`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, second_of_day) = (self.0.div_euclid(86_400), self.0.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return write!(f, "@{}", self.0);
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        let fields = [
            (0, 4, year),
            (5, 2, i64::from(month)),
            (8, 2, i64::from(day)),
            (11, 2, second_of_day / 3600),
            (14, 2, second_of_day / 60 % 60),
            (17, 2, second_of_day % 60),
        ];
        for (at, width, mut value) in fields {
            for digit in text[at..at + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
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
        Timestamp::parse(&text).map_err(crate::refuse)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_agrees_with_the_time_crate() {
        let reference = |t: i64| {
            OffsetDateTime::from_unix_timestamp(t).ok().and_then(|d| d.format(&Rfc3339).ok()).unwrap_or(format!("@{t}"))
        };
        let mut t: i64 = -62_167_219_300; // just before year 0
        while t < 253_402_300_900 {
            // just after year 9999
            for probe in [t, t + 1, t + 86_399] {
                assert_eq!(super::Timestamp(probe).to_string(), reference(probe), "{probe}");
            }
            t += 86_400 * 7 + 3_601;
        }
        for probe in [0, -1, 951_782_400, 4_107_542_400, i64::MAX, i64::MIN] {
            assert_eq!(super::Timestamp(probe).to_string(), reference(probe), "{probe}");
        }
    }

    use super::*;

    #[test]
    fn round_trips_rfc3339_and_drops_fractions() {
        let t = Timestamp::parse("2026-11-23T09:00:00.750+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-23T08:00:00Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }
}
