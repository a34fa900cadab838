//! Window arithmetic as data (`windows.json`): events in — including late
//! and resent ones — and, for the rule of each case, every listed
//! subscription's and unit's figures and outcome out. Each case is also
//! run with its events in reverse order: the figures may not depend on
//! the order events arrive in.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use verdict_detect::{Aggregator, Member, Rule, Target, Tenancy, hour_of, subscription_targets, unit_targets};
use verdict_model::{Catalog, Timestamp, UnitPath, UsageEvent};

#[derive(Deserialize)]
struct Case {
    name: String,
    members: Vec<MemberSpec>,
    end: String,
    events: Vec<Value>,
    rule: String,
    expect: Expect,
}

#[derive(Deserialize)]
struct MemberSpec {
    subscription: String,
    unit: String,
    region: String,
}

#[derive(Deserialize)]
struct Expect {
    accepted: usize,
    duplicates: usize,
    #[serde(default)]
    subscriptions: BTreeMap<String, Outcome>,
    #[serde(default)]
    units: BTreeMap<String, Outcome>,
}

#[derive(Deserialize)]
struct Outcome {
    fires: bool,
    figures: BTreeMap<String, f64>,
}

fn check(
    name: &str,
    targets: &[Target],
    key: impl Fn(&Target) -> &str,
    expected: &BTreeMap<String, Outcome>,
    rule: &Rule,
    end: i64,
) {
    for (id, want) in expected {
        let target = targets.iter().find(|t| key(t) == id).unwrap_or_else(|| panic!("{name}: no target {id}"));
        let got = rule.evaluate(target, end).unwrap();
        assert_eq!(got.fires, want.fires, "{name}: {id} fires? {got:?}");
        for (reading, value) in &want.figures {
            let have = got.figures.get(reading).unwrap_or_else(|| panic!("{name}: {id} has no {reading}: {got:?}"));
            assert!(
                (have - value).abs() <= 1e-9 * value.abs().max(1.0),
                "{name}: {id} {reading} = {have}, not {value}"
            );
        }
    }
}

#[test]
fn windows_roll_ups_and_rule_outcomes_are_as_the_cases_say() {
    let cases: Vec<Case> = serde_json::from_str(include_str!("windows.json")).unwrap();
    let catalog = Catalog::builtin();
    for case in &cases {
        let end = Timestamp::parse(&case.end).unwrap();
        assert_eq!(hour_of(end), end.seconds(), "{}: windows end on an hour", case.name);
        let events: Vec<UsageEvent> = case
            .events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["tenant"] = "ministry-of-defense".into();
                UsageEvent::parse(&e, &catalog, end.plus(-31 * 86_400), end.plus(300)).unwrap()
            })
            .collect();
        let members: Vec<Member> = case
            .members
            .iter()
            .map(|m| Member {
                subscription: m.subscription.clone(),
                unit: UnitPath::parse(&m.unit).unwrap(),
                region: m.region.clone(),
            })
            .collect();
        let rule = Rule::compile(&case.rule, &catalog).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let tenancy = Tenancy { tenant: "ministry-of-defense", kind: "government", members: &members };
        let mut reversed = events.clone();
        reversed.reverse();
        for (order, events) in [("in order", events), ("reversed", reversed)] {
            let name = format!("{} ({order})", case.name);
            let mut aggregator = Aggregator::default();
            let done = aggregator.ingest(&events);
            assert_eq!((done.accepted, done.duplicates), (case.expect.accepted, case.expect.duplicates), "{name}");
            let subs = subscription_targets(&tenancy, aggregator.series());
            check(&name, &subs, |t| t.subscription.as_str(), &case.expect.subscriptions, &rule, end.seconds());
            let units = unit_targets(&tenancy, aggregator.series());
            check(&name, &units, |t| t.unit.as_str(), &case.expect.units, &rule, end.seconds());
        }
    }
}
