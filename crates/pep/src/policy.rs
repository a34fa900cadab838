//! What a replica does when it has not heard from the control plane for a
//! while: per service family, keep deciding on the last snapshot, or fail
//! closed once it is older than a limit.

use std::time::Duration;

/// The rule for one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// Keep deciding on the last snapshot, however old (availability first:
    /// orders in force stay enforced, new ones wait for the connection).
    Keep,
    /// Deny every request once the snapshot is older than this (safety
    /// first: nothing is allowed on information that may be out of date).
    FailClosedAfter(Duration),
}

/// Rules per service family (`storage`, `ai`, …) and a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalenessPolicy {
    /// For families without a rule of their own.
    pub default: Staleness,
    /// `(family, rule)`.
    pub families: Vec<(String, Staleness)>,
}

impl Default for StalenessPolicy {
    /// Keep deciding on the last snapshot, for every family.
    fn default() -> Self {
        StalenessPolicy { default: Staleness::Keep, families: Vec::new() }
    }
}

impl StalenessPolicy {
    /// The rule for `service` (`family.name`). Families compare without
    /// case, as the engine folds names: `AI.vision` is under `ai`'s rule.
    pub fn rule(&self, service: &str) -> Staleness {
        let family = service.split('.').next().unwrap_or(service);
        self.families.iter().find(|(f, _)| f.eq_ignore_ascii_case(family)).map_or(self.default, |(_, rule)| *rule)
    }

    /// Adds one rule written `FAMILY=keep` or `FAMILY=fail-closed:DURATION`
    /// (`*` for the default; durations like `500ms`, `30s`, `5m`, `1h`).
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        let (family, rule) = text
            .split_once('=')
            .ok_or_else(|| format!("staleness rule {text:?} should read FAMILY=keep or FAMILY=fail-closed:30s"))?;
        let rule = match rule {
            "keep" => Staleness::Keep,
            _ => {
                let limit = rule.strip_prefix("fail-closed:").ok_or_else(|| {
                    format!("staleness rule {text:?}: {rule:?} is neither keep nor fail-closed:DURATION")
                })?;
                Staleness::FailClosedAfter(parse_duration(limit).map_err(|e| format!("staleness rule {text:?}: {e}"))?)
            }
        };
        let family = family.trim();
        if family == "*" {
            self.default = rule;
        } else if family.is_empty() || family.contains('.') {
            return Err(format!("staleness rule {text:?}: name a service family such as storage or ai, or *"));
        } else if !verdict_model::Catalog::builtin().services.iter().any(|s| s.family == family) {
            // A misspelt family would fail open while meaning to fail closed.
            let mut known: Vec<String> =
                verdict_model::Catalog::builtin().services.into_iter().map(|s| s.family).collect();
            known.dedup();
            return Err(format!("staleness rule {text:?}: no service family {family:?}; known: {}", known.join(", ")));
        } else {
            self.families.retain(|(f, _)| f != family);
            self.families.push((family.to_owned(), rule));
        }
        Ok(())
    }
}

/// Parses `250ms`, `30s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 500ms, 30s, 5m or 1h"))?;
    let too_long = || format!("{text:?} is too long a duration");
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(too_long),
        "h" => n.checked_mul(3600).map(Duration::from_secs).ok_or_else(too_long),
        _ => Err(format!("{text:?} has no unit; write 500ms, 30s, 5m or 1h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_apply_by_family() {
        let mut policy = StalenessPolicy::default();
        policy.add("storage=fail-closed:30s").unwrap();
        policy.add("*=fail-closed:5m").unwrap();
        policy.add("security=keep").unwrap();
        assert_eq!(policy.rule("storage.blob"), Staleness::FailClosedAfter(Duration::from_secs(30)));
        assert_eq!(policy.rule("security.defender"), Staleness::Keep);
        assert_eq!(policy.rule("STORAGE.Blob"), Staleness::FailClosedAfter(Duration::from_secs(30)));
        assert_eq!(policy.rule("ai.translation"), Staleness::FailClosedAfter(Duration::from_secs(300)));
        for bad in
            ["storage", "storage=closed", "storage=fail-closed:30", "storage.blob=keep", "=keep", "x=fail-closed:s"]
        {
            assert!(policy.add(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }
}
