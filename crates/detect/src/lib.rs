//! Detection from usage metadata, as a library with no I/O: usage events
//! pre-aggregated into hour slices per subscription, service and meter
//! ([`series`]); sums, rates and growth over the windows rules use, with
//! units rolled up from their subscriptions; and rules written in CEL,
//! checked at publication for everything they may not use and evaluated
//! over a unit's or a subscription's figures ([`rules`]).
//!
//! **Invariant**: nothing here sees an event's origin beyond tenant,
//! subscription, service, meter, quantity, region and time — the fields
//! `verdict_model::UsageEvent` admits. A rule reads figures, never events.

pub mod rollup;
pub mod rules;
pub mod series;

pub use rollup::{Member, Tenancy, subscription_targets, unit_targets};
pub use rules::{Reading, Rule, RuleError, Target, Verdict};
pub use series::{Aggregator, Batch, HOUR, Ingested, Series, SeriesKey, Slice, Window, hour_of};
