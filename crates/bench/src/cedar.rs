//! The same orders as Cedar policies, and requests as Cedar requests with
//! per-request entity slices.
//!
//! Entities (no namespace):
//!
//! - `Subscription::"<id>"`, child of `Unit::"<tenant>/<path>"`, each unit a
//!   child of its parent unit: `principal in Unit::"t/a"` is "the subscription
//!   sits in unit `a` of tenant `t` or below it", as the tree is now.
//! - `Service::"<family.name>"`, child of `Family::"<family>"`, child of
//!   `Catalog::"services"`. A service the catalog does not list is a child
//!   of its family's entity (or, with no family, of the root) all the same,
//!   so `*` and `family.*` reach it as they do in verdict; only a service no
//!   pattern reaches is allowed as unknown.
//! - `Action::"<service>:<action>"`, child of the class group
//!   `Action::"<class>"`; an action the catalog does not list joins
//!   `Action::"write"`, as verdict classes it.
//!
//! Policies: `permit(principal, action, resource);` plus one `forbid` per
//! order phase whose mode denies something, with id `<order-id>#<phase
//! index>`. The scope carries the single scope entry, the denied classes and
//! the single service pattern when there is one (Cedar checks the scope
//! first, so most policies fail on the principal); the `when` carries the
//! phase window over `context.now` (unix seconds, a Long), several scope
//! entries as `principal in [...]` (units, named and retained
//! subscriptions) and several patterns as `resource in [...]`; the `unless`
//! carries the exempt patterns.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use anyhow::{Context as _, anyhow};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    Request, Response, RestrictedExpression,
};
use verdict_model::{ActionClass, Catalog, Inventory, Order, ServicePattern, Subscription, Timestamp, UnitPath};

/// Id of the policy that allows whatever no order forbids.
pub const PERMIT_ALL: &str = "permit-all";

fn pattern_entity(pattern: &ServicePattern) -> String {
    match pattern {
        ServicePattern::All => "Catalog::\"services\"".to_owned(),
        ServicePattern::Family(family) => format!("Family::{family:?}"),
        ServicePattern::Exact(name) => format!("Service::{name:?}"),
    }
}

fn entity_list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// One order phase that denies something, with its window: what each peer
/// encodes as one policy (Cedar) or one entry (Rego), named
/// `<order-id>#<phase index>`.
pub struct DenyingPhase {
    /// `<order-id>#<phase index>`.
    pub id: String,
    /// The classes of action it denies.
    pub denied: Vec<ActionClass>,
    /// When it starts.
    pub start: Timestamp,
    /// When it stops (the next phase, the order's end or lifting), if ever.
    pub stop: Option<Timestamp>,
}

/// An order's phases that deny some class and whose window is not empty.
pub fn denying_phases(order: &Order) -> Vec<DenyingPhase> {
    let spec = &order.spec;
    let until = match (spec.end, order.lifted_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut out = Vec::new();
    for (i, phase) in spec.phases.iter().enumerate() {
        let denied: Vec<ActionClass> = ActionClass::ALL.into_iter().filter(|c| phase.mode.denies(*c)).collect();
        if denied.is_empty() {
            continue;
        }
        let start = phase.start;
        let stop = [spec.phases.get(i + 1).map(|p| p.start), until].into_iter().flatten().min();
        if stop.is_some_and(|stop| stop <= start) {
            continue;
        }
        out.push(DenyingPhase { id: format!("{}#{i}", order.id), denied, start, stop });
    }
    out
}

/// The Cedar policies for one order: `(policy id, text)` for each phase
/// whose mode denies some class and whose window is not empty.
pub fn order_policies(order: &Order) -> Vec<(String, String)> {
    let spec = &order.spec;
    let principals = order_principals(order);
    let resources: Vec<String> = spec.services.iter().map(pattern_entity).collect();
    let exempt: Vec<String> = spec.exempt.iter().map(pattern_entity).collect();

    let mut out = Vec::new();
    for DenyingPhase { id, denied, start, stop } in denying_phases(order) {
        let mut conditions: Vec<String> = Vec::new();
        let principal_scope = match principals.as_slice() {
            [one] => format!("principal in {one}"),
            many => {
                conditions.push(format!("principal in {}", entity_list(many)));
                "principal".to_owned()
            }
        };
        let action_scope = if denied.len() == ActionClass::ALL.len() {
            "action".to_owned()
        } else {
            let groups: Vec<String> = denied.iter().map(|c| format!("Action::{:?}", c.as_str())).collect();
            format!("action in {}", entity_list(&groups))
        };
        conditions.push(format!("context.now >= {}", start.seconds()));
        if let Some(stop) = stop {
            conditions.push(format!("context.now < {}", stop.seconds()));
        }
        let resource_scope = match resources.as_slice() {
            [one] => format!("resource in {one}"),
            many => {
                conditions.push(format!("resource in {}", entity_list(many)));
                "resource".to_owned()
            }
        };
        let mut text = format!(
            "forbid (\n  {principal_scope},\n  {action_scope},\n  {resource_scope}\n)\nwhen {{ {} }}",
            conditions.join(" && ")
        );
        if !exempt.is_empty() {
            text.push_str(&format!("\nunless {{ resource in {} }}", entity_list(&exempt)));
        }
        text.push(';');
        out.push((id, text));
    }
    out
}

/// The principal entities an order's policies name in their scope: its
/// units and its named and retained subscriptions, as `Type::"id"` text.
/// A subscription as a principal key: `Subscription::"id"`.
fn subscription_key(id: &str) -> String {
    format!("Subscription::{id:?}")
}

/// A unit as a principal key: `Unit::"tenant/path"`.
fn unit_key(tenant: &str, path: &UnitPath) -> String {
    format!("Unit::{:?}", format!("{tenant}/{path}"))
}

pub(crate) fn order_principals(order: &Order) -> Vec<String> {
    let spec = &order.spec;
    let mut principals: Vec<String> = spec.scope.units.iter().map(|path| unit_key(&spec.tenant, path)).collect();
    for sub in spec.scope.subscriptions.iter().chain(&order.retained) {
        let entity = subscription_key(sub);
        if !principals.contains(&entity) {
            principals.push(entity);
        }
    }
    principals
}

/// What a gateway adapter tells a peer about a request's service and
/// action (names already folded to lowercase): the service's family — from
/// the catalog, or for an unlisted service the part of its name before the
/// dot, if any — and the action's class (an unlisted service's actions are
/// writes).
pub fn family_and_class(catalog: &Catalog, service: &str, action: &str) -> (Option<String>, ActionClass) {
    match catalog.index_of(service) {
        Some(index) => (Some(catalog.service(index).family.clone()), catalog.classify(index, action).0),
        None => (service.split_once('.').map(|(family, _)| family.to_owned()), ActionClass::Write),
    }
}

/// How Cedar is given the policies for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slicing {
    /// Every policy on every request.
    Whole,
    /// Only the policies whose scope names the request's subscription, its
    /// unit or a unit above it, with permit-all: slicing a large policy
    /// store by principal, as Cedar's documentation advises, from an index
    /// built once; the slice is put together per request.
    ByPrincipal,
    /// The same slices, put together once for every unit (its chain of
    /// units) and every subscription an order names: a request looks its
    /// slice up by its subscription, else by its unit.
    Cached,
}

/// Every order's policies plus the permit-all policy, parsed.
pub fn policy_set(orders: &[Order]) -> anyhow::Result<PolicySet> {
    let mut set = PolicySet::new();
    let permit = Policy::parse(Some(PolicyId::new(PERMIT_ALL)), "permit (principal, action, resource);")?;
    set.add(permit)?;
    for order in orders {
        for (id, text) in order_policies(order) {
            let policy = Policy::parse(Some(PolicyId::new(&id)), &text)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("policy {id}:\n{text}"))?;
            set.add(policy).with_context(|| format!("adding policy {id}"))?;
        }
    }
    Ok(set)
}

/// Permit-all and the policies of `principals`, each once.
fn slice_of<'p>(
    by_principal: &HashMap<String, Vec<Policy>>,
    permit: &Policy,
    principals: impl Iterator<Item = &'p str>,
) -> anyhow::Result<PolicySet> {
    let mut chosen: Vec<&Policy> = vec![permit];
    for principal in principals {
        for policy in by_principal.get(principal).into_iter().flatten() {
            if !chosen.iter().any(|p| p.id() == policy.id()) {
                chosen.push(policy);
            }
        }
    }
    PolicySet::from_policies(chosen.into_iter().cloned()).map_err(|e| anyhow!("{e}"))
}

/// The slices a request can need, put together once: for each unit whose
/// chain some policy names (keyed by the unit), and for each subscription
/// an order names (its own and its chain's policies, keyed by it).
fn cache_slices(
    inventory: &Inventory,
    by_principal: &HashMap<String, Vec<Policy>>,
    permit: &Policy,
) -> anyhow::Result<HashMap<String, PolicySet>> {
    let mut cached = HashMap::new();
    for sub in &inventory.subscriptions {
        let subscription = subscription_key(sub.id.as_str());
        let chain: Vec<String> = sub.unit.lineage().iter().map(|p| unit_key(&sub.tenant, p)).collect();
        let named = |key: &String| by_principal.contains_key(key);
        if named(&subscription) {
            let principals = std::iter::once(subscription.as_str()).chain(chain.iter().map(String::as_str));
            let slice = slice_of(by_principal, permit, principals)?;
            cached.insert(subscription, slice);
        }
        let unit = chain.last().expect("a unit path has at least itself").clone();
        if !cached.contains_key(&unit) && chain.iter().any(named) {
            let slice = slice_of(by_principal, permit, chain.iter().map(String::as_str))?;
            cached.insert(unit, slice);
        }
    }
    // Subscriptions an order names that the inventory does not hold.
    for key in by_principal.keys().filter(|k| k.starts_with("Subscription::")) {
        if !cached.contains_key(key) {
            let slice = slice_of(by_principal, permit, std::iter::once(key.as_str()))?;
            cached.insert(key.clone(), slice);
        }
    }
    Ok(cached)
}

/// A request ready for Cedar: the request and its entity slice.
pub struct CedarRequest {
    /// The request, with `context.now`.
    pub request: Request,
    /// The principal and its units, as `Type::"id"` text: the keys of the
    /// policy slice.
    pub principals: Vec<String>,
    /// The principal and its unit chain, the resource and its family, the
    /// action and its class group.
    pub entities: Entities,
}

/// Cedar's answer, reduced to what the differential check compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CedarOutcome {
    /// Whether Cedar allowed.
    pub allowed: bool,
    /// The determining policies' ids.
    pub reasons: Vec<String>,
    /// Evaluation errors (there should be none).
    pub errors: Vec<String>,
}

impl From<&Response> for CedarOutcome {
    fn from(response: &Response) -> CedarOutcome {
        CedarOutcome {
            allowed: response.decision() == Decision::Allow,
            reasons: response.diagnostics().reason().map(|id| id.to_string()).collect(),
            errors: response.diagnostics().errors().map(|e| e.to_string()).collect(),
        }
    }
}

/// A Cedar policy decision point holding the orders, and the inventory it
/// cuts entity slices from (what a gateway using Cedar would keep).
pub struct CedarPdp<'w> {
    catalog: &'w Catalog,
    subscriptions: HashMap<&'w str, &'w Subscription>,
    /// The policies: the orders' and permit-all.
    pub policies: PolicySet,
    /// The orders' policies by the principal entities their scope names.
    by_principal: HashMap<String, Vec<Policy>>,
    /// Slices put together once: by named subscription and by unit.
    cached: HashMap<String, PolicySet>,
    /// The slice of a request no policy's scope names: permit-all alone.
    permit_only: PolicySet,
    permit: Policy,
    authorizer: Authorizer,
    types: Types,
}

struct Types {
    subscription: EntityTypeName,
    unit: EntityTypeName,
    service: EntityTypeName,
    family: EntityTypeName,
    catalog: EntityTypeName,
    action: EntityTypeName,
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

impl<'w> CedarPdp<'w> {
    /// Encodes `orders` and indexes `inventory`.
    pub fn new(catalog: &'w Catalog, inventory: &'w Inventory, orders: &[Order]) -> anyhow::Result<CedarPdp<'w>> {
        let ty = |name: &str| EntityTypeName::from_str(name).map_err(|e| anyhow!("{e}"));
        let policies = policy_set(orders)?;
        let mut by_principal: HashMap<String, Vec<Policy>> = HashMap::new();
        for order in orders {
            let principals = order_principals(order);
            for (id, _) in order_policies(order) {
                let policy =
                    policies.policy(&PolicyId::new(&id)).with_context(|| format!("policy {id} is in the set"))?;
                for principal in &principals {
                    by_principal.entry(principal.clone()).or_default().push(policy.clone());
                }
            }
        }
        let permit = policies.policy(&PolicyId::new(PERMIT_ALL)).context("permit-all is in the set")?.clone();
        let cached = cache_slices(inventory, &by_principal, &permit)?;
        Ok(CedarPdp {
            catalog,
            subscriptions: inventory.subscriptions.iter().map(|s| (s.id.as_str(), s)).collect(),
            policies,
            by_principal,
            cached,
            permit_only: PolicySet::from_policies([permit.clone()]).map_err(|e| anyhow!("{e}"))?,
            permit,
            authorizer: Authorizer::new(),
            types: Types {
                subscription: ty("Subscription")?,
                unit: ty("Unit")?,
                service: ty("Service")?,
                family: ty("Family")?,
                catalog: ty("Catalog")?,
                action: ty("Action")?,
            },
        })
    }

    /// The authorizer (to time `is_authorized` alone).
    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// Number of policies, permit-all included.
    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }

    /// Builds the Cedar request and entity slice for one request.
    pub fn prepare(
        &self,
        subscription: &str,
        service: &str,
        action: &str,
        at: Timestamp,
    ) -> anyhow::Result<CedarRequest> {
        // The gateway adapter folds names to the catalog's lowercase, as
        // verdict does, so no spelling of a name slips past a policy.
        let (service, action) = (service.to_ascii_lowercase(), action.to_ascii_lowercase());
        let (service, action) = (service.as_str(), action.as_str());
        let t = &self.types;
        let mut entities: Vec<Entity> = Vec::with_capacity(8);
        let principal = uid(&t.subscription, subscription);
        let mut principals = vec![subscription_key(subscription)];
        if let Some(sub) = self.subscriptions.get(subscription) {
            let lineage = sub.unit.lineage();
            let units: Vec<EntityUid> =
                lineage.iter().map(|p| uid(&t.unit, &format!("{}/{}", sub.tenant, p))).collect();
            principals.extend(lineage.iter().map(|p| unit_key(&sub.tenant, p)));
            entities.push(Entity::new_no_attrs(principal.clone(), HashSet::from([units[units.len() - 1].clone()])));
            for (i, unit) in units.iter().enumerate() {
                let parents = if i == 0 { HashSet::new() } else { HashSet::from([units[i - 1].clone()]) };
                entities.push(Entity::new_no_attrs(unit.clone(), parents));
            }
        }
        let resource = uid(&t.service, service);
        // The service is in its family (an unlisted one too, if its name
        // gives one) and in the catalog's root: `*` and `family.*` reach it,
        // as they do in verdict.
        let (family, class) = family_and_class(self.catalog, service, action);
        let root = uid(&t.catalog, "services");
        match family {
            Some(family) => {
                let family = uid(&t.family, &family);
                entities.push(Entity::new_no_attrs(resource.clone(), HashSet::from([family.clone()])));
                entities.push(Entity::new_no_attrs(family, HashSet::from([root])));
            }
            None => entities.push(Entity::new_no_attrs(resource.clone(), HashSet::from([root]))),
        }
        let action_uid = uid(&t.action, &format!("{service}:{action}"));
        entities.push(Entity::new_no_attrs(action_uid.clone(), HashSet::from([uid(&t.action, class.as_str())])));
        let context = Context::from_pairs([("now".to_owned(), RestrictedExpression::new_long(at.seconds()))])?;
        Ok(CedarRequest {
            request: Request::new(principal, action_uid, resource, context, None)?,
            principals,
            entities: Entities::from_entities(entities, None)?,
        })
    }

    /// Asks Cedar with every policy.
    #[inline]
    pub fn authorize(&self, request: &CedarRequest) -> Response {
        self.authorizer.is_authorized(&request.request, &self.policies, &request.entities)
    }

    /// The policies that can apply to `request`: permit-all and those
    /// whose scope names its subscription or one of its units.
    pub fn slice(&self, request: &CedarRequest) -> anyhow::Result<PolicySet> {
        slice_of(&self.by_principal, &self.permit, request.principals.iter().map(String::as_str))
    }

    /// The same slice as [`CedarPdp::slice`], put together when the PDP was
    /// built: the request's subscription's if an order names it, else its
    /// unit's, else permit-all alone.
    pub fn cached_slice(&self, request: &CedarRequest) -> &PolicySet {
        let (subscription, units) = request.principals.split_first().expect("a request names its subscription");
        self.cached
            .get(subscription)
            .or_else(|| units.last().and_then(|unit| self.cached.get(unit)))
            .unwrap_or(&self.permit_only)
    }

    /// Asks Cedar with the policies `slicing` gives it.
    pub fn authorize_with(&self, request: &CedarRequest, slicing: Slicing) -> anyhow::Result<Response> {
        Ok(match slicing {
            Slicing::Whole => self.authorize(request),
            Slicing::ByPrincipal => {
                self.authorizer.is_authorized(&request.request, &self.slice(request)?, &request.entities)
            }
            Slicing::Cached => {
                self.authorizer.is_authorized(&request.request, self.cached_slice(request), &request.entities)
            }
        })
    }

    /// Prepares and asks in one go, with every policy.
    pub fn decide(
        &self,
        subscription: &str,
        service: &str,
        action: &str,
        at: Timestamp,
    ) -> anyhow::Result<CedarOutcome> {
        self.decide_with(subscription, service, action, at, Slicing::Whole)
    }

    /// Prepares and asks in one go, with the policies `slicing` gives.
    pub fn decide_with(
        &self,
        subscription: &str,
        service: &str,
        action: &str,
        at: Timestamp,
        slicing: Slicing,
    ) -> anyhow::Result<CedarOutcome> {
        let request = self.prepare(subscription, service, action, at)?;
        Ok(CedarOutcome::from(&self.authorize_with(&request, slicing)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_order_encodes_as_two_forbids() {
        let order: Order = serde_json::from_value(serde_json::json!({
            "id": "ord-1",
            "seq": 1,
            "tenant": "ministry-of-defense",
            "clause": "AUP-2",
            "scope": {"units": ["intelligence/signals"]},
            "services": ["storage.*", "ai.*"],
            "exempt": ["security.*"],
            "phases": [
                {"mode": "notice", "start": "2026-11-20T00:00:00Z"},
                {"mode": "export_only", "start": "2026-11-22T00:00:00Z"},
                {"mode": "disabled", "start": "2026-11-29T00:00:00Z"}
            ]
        }))
        .unwrap();
        let policies = order_policies(&order);
        let ids: Vec<&str> = policies.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["ord-1#1", "ord-1#2"]);
        let (_, export_only) = &policies[0];
        assert!(
            export_only.contains(r#"principal in Unit::"ministry-of-defense/intelligence/signals""#),
            "{export_only}"
        );
        assert!(export_only.contains(r#"action in [Action::"write", Action::"invoke", Action::"admin"]"#));
        assert!(export_only.contains(r#"resource in [Family::"storage", Family::"ai"]"#));
        assert!(export_only.contains(r#"unless { resource in [Family::"security"] }"#));
        assert!(policy_set(&[order]).is_ok());
    }
}
