//! Targets for rules: each subscription on its own, and each unit with its
//! subscriptions and every unit below it added up, hour by hour — so a
//! unit's figures include its descendants, as an order's scope does.

use std::collections::{BTreeMap, BTreeSet};

use verdict_model::UnitPath;

use crate::rules::Target;
use crate::series::{Series, SeriesKey};

/// One subscription of a tenant, where it sits.
#[derive(Debug, Clone)]
pub struct Member {
    /// The subscription.
    pub subscription: String,
    /// Its unit.
    pub unit: UnitPath,
    /// Its region (empty: none).
    pub region: String,
}

/// The tenant a set of targets belongs to.
#[derive(Debug, Clone)]
pub struct Tenancy<'a> {
    /// Its id.
    pub tenant: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// Its subscriptions.
    pub members: &'a [Member],
}

/// One target per subscription that has usage.
pub fn subscription_targets(t: &Tenancy<'_>, series: &BTreeMap<SeriesKey, Series>) -> Vec<Target> {
    t.members
        .iter()
        .filter_map(|m| {
            let own: BTreeMap<(String, String), Series> = series
                .iter()
                .filter(|(k, _)| k.subscription == m.subscription)
                .map(|(k, s)| ((k.service.clone(), k.meter.clone()), s.clone()))
                .collect();
            (!own.is_empty()).then(|| Target {
                tenant: t.tenant.to_owned(),
                tenant_kind: t.kind.to_owned(),
                unit: m.unit.to_string(),
                subscription: m.subscription.clone(),
                regions: if m.region.is_empty() { vec![] } else { vec![m.region.clone()] },
                series: own,
            })
        })
        .collect()
}

/// One target per unit (every unit a subscription sits in, and each of
/// their ancestors) that has usage within it.
pub fn unit_targets(t: &Tenancy<'_>, series: &BTreeMap<SeriesKey, Series>) -> Vec<Target> {
    let mut units: BTreeMap<String, Target> = BTreeMap::new();
    let mut regions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let by_subscription: BTreeMap<&str, &Member> = t.members.iter().map(|m| (m.subscription.as_str(), m)).collect();
    for (key, s) in series {
        let Some(member) = by_subscription.get(key.subscription.as_str()) else { continue };
        let mut at = Some(member.unit.clone());
        while let Some(unit) = at {
            let target = units.entry(unit.to_string()).or_insert_with(|| Target {
                tenant: t.tenant.to_owned(),
                tenant_kind: t.kind.to_owned(),
                unit: unit.to_string(),
                ..Target::default()
            });
            target
                .series
                .entry((key.service.clone(), key.meter.clone()))
                .or_insert_with(|| Series::new(s.kind))
                .add_series(s);
            if !member.region.is_empty() {
                regions.entry(unit.to_string()).or_default().insert(member.region.clone());
            }
            at = unit.parent();
        }
    }
    units
        .into_iter()
        .map(|(unit, mut target)| {
            target.regions = regions.remove(&unit).map(|r| r.into_iter().collect()).unwrap_or_default();
            target
        })
        .collect()
}
