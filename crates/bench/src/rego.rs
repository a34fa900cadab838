//! The same orders for OPA's Rego, evaluated by `regorus` (Microsoft's
//! Rust interpreter of Rego): the shape an OPA user would give them — one
//! policy, the inventory and the orders as `data` indexed for the
//! question asked (subscription → unit, unit → itself and the units above
//! it, principal → the order phases naming it), the request as `input`;
//! compiled once, evaluated per request. The gateway adapter folds names
//! to lowercase and classes the action from the catalog, as it does for
//! Cedar.

use std::collections::HashMap;

use anyhow::{Context as _, anyhow};
use regorus::{CompiledPolicy, Engine, Value};
use serde_json::{Map, json};
use verdict_model::{Catalog, Inventory, Order, ServicePattern, Timestamp};

use crate::cedar::{CedarOutcome, DenyingPhase, denying_phases, family_and_class};

/// The policy: a request is denied by every order phase that names its
/// subscription or one of its units, is in force at `input.now`, denies the
/// action's class, reaches the service and does not exempt it.
pub const POLICY: &str = r#"package verdict

default allow := true

allow := false if count(deny) > 0

principals contains concat(":", ["sub", input.subscription])

principals contains concat(":", ["unit", unit]) if {
	some unit in data.verdict.ancestors[data.verdict.subscriptions[input.subscription]]
}

deny contains phase.id if {
	some principal in principals
	some phase in data.verdict.orders[principal]
	phase.start <= input.now
	not ended(phase)
	phase.classes[input.class]
	some pattern in phase.services
	reaches(pattern)
	not exempted(phase)
}

ended(phase) if input.now >= phase.stop

exempted(phase) if {
	some pattern in phase.exempt
	reaches(pattern)
}

reaches(pattern) if pattern == "*"

reaches(pattern) if pattern == concat("", [input.family, ".*"])

reaches(pattern) if pattern == input.service
"#;

fn pattern_text(pattern: &ServicePattern) -> String {
    match pattern {
        ServicePattern::All => "*".to_owned(),
        ServicePattern::Family(family) => format!("{family}.*"),
        ServicePattern::Exact(name) => name.clone(),
    }
}

/// A Rego decision point: the compiled policy over the data, and the
/// catalog the adapter classes actions with.
pub struct RegoPdp<'w> {
    catalog: &'w Catalog,
    policy: CompiledPolicy,
}

impl<'w> RegoPdp<'w> {
    /// Builds the data from `inventory` and `orders` and compiles the policy.
    pub fn new(catalog: &'w Catalog, inventory: &Inventory, orders: &[Order]) -> anyhow::Result<RegoPdp<'w>> {
        let mut subscriptions = Map::new();
        let mut ancestors = Map::new();
        for sub in &inventory.subscriptions {
            let unit = format!("{}/{}", sub.tenant, sub.unit);
            if !ancestors.contains_key(&unit) {
                let lineage: Vec<String> = sub.unit.lineage().iter().map(|p| format!("{}/{}", sub.tenant, p)).collect();
                ancestors.insert(unit.clone(), json!(lineage));
            }
            subscriptions.insert(sub.id.clone(), json!(unit));
        }
        let mut by_principal: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
        for order in orders {
            let spec = &order.spec;
            let services: Vec<String> = spec.services.iter().map(pattern_text).collect();
            let exempt: Vec<String> = spec.exempt.iter().map(pattern_text).collect();
            let mut principals: Vec<String> = spec
                .scope
                .units
                .iter()
                .map(|path| format!("unit:{}/{}", spec.tenant, path))
                .chain(spec.scope.subscriptions.iter().chain(&order.retained).map(|s| format!("sub:{s}")))
                .collect();
            principals.sort();
            principals.dedup();
            for DenyingPhase { id, denied, start, stop } in denying_phases(order) {
                let classes: Map<String, serde_json::Value> =
                    denied.iter().map(|c| (c.as_str().to_owned(), json!(true))).collect();
                let mut phase = json!({"id": id, "start": start.seconds(), "classes": classes,
                    "services": services, "exempt": exempt});
                if let Some(stop) = stop {
                    phase["stop"] = json!(stop.seconds());
                }
                for principal in &principals {
                    by_principal.entry(principal.clone()).or_default().push(phase.clone());
                }
            }
        }
        let data = json!({"verdict": {"subscriptions": subscriptions, "ancestors": ancestors,
            "orders": by_principal}});
        let mut engine = Engine::new();
        engine.add_policy("verdict.rego".to_owned(), POLICY.to_owned()).map_err(|e| anyhow!("{e}"))?;
        engine.add_data(Value::from(data)).map_err(|e| anyhow!("{e}"))?;
        let policy = engine
            .compile_with_entrypoint(&"data.verdict.deny".into())
            .map_err(|e| anyhow!("{e}"))
            .context("compiling the Rego policy")?;
        Ok(RegoPdp { catalog, policy })
    }

    /// The request as `input`: names folded to lowercase, the service's
    /// family and the action's class from the catalog (an unlisted service
    /// keeps the family its name gives, and its actions are writes).
    pub fn input(&self, subscription: &str, service: &str, action: &str, at: Timestamp) -> Value {
        let (service, action) = (service.to_ascii_lowercase(), action.to_ascii_lowercase());
        let (family, class) = family_and_class(self.catalog, &service, &action);
        let family = family.unwrap_or_default();
        Value::from(json!({"subscription": subscription, "service": service, "family": family,
            "class": class.as_str(), "now": at.seconds()}))
    }

    /// Evaluates the policy on an input: the phases that deny it.
    pub fn authorize(&self, input: Value) -> anyhow::Result<CedarOutcome> {
        let deny = self.policy.eval_with_input(input).map_err(|e| anyhow!("{e}"))?;
        let reasons: Vec<String> = match &deny {
            Value::Set(ids) => ids.iter().filter_map(|id| id.as_string().ok().map(|s| s.to_string())).collect(),
            Value::Undefined => Vec::new(),
            other => return Err(anyhow!("the policy's deny is not a set: {other}")),
        };
        Ok(CedarOutcome { allowed: reasons.is_empty(), reasons, errors: Vec::new() })
    }

    /// Adapts and asks in one go.
    pub fn decide(
        &self,
        subscription: &str,
        service: &str,
        action: &str,
        at: Timestamp,
    ) -> anyhow::Result<CedarOutcome> {
        self.authorize(self.input(subscription, service, action, at))
    }
}
