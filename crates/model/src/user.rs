//! People and machines that hold tokens, and what each role may do.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ModelError, Timestamp, validate_id};

/// What a token holder may do. Staff roles are separate so that no one
/// person both proposes and approves, or approves and decides the appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users, clauses, inventory; reads everything.
    Admin,
    /// Opens cases, adds evidence, proposes orders.
    Analyst,
    /// Approves or rejects proposed orders; lifts orders.
    Approver,
    /// Decides appeals.
    Reviewer,
    /// Reads everything, writes nothing.
    Auditor,
    /// A customer's user: reads its own tenant's notices, orders and log
    /// records, and files appeals.
    Tenant,
    /// A gateway: decisions and replication only.
    Pep,
    /// The provider's metering pipeline: sends usage events, reads nothing.
    Meter,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::Analyst,
        Role::Approver,
        Role::Reviewer,
        Role::Auditor,
        Role::Tenant,
        Role::Pep,
        Role::Meter,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Approver => "approver",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Tenant => "tenant",
            Role::Pep => "pep",
            Role::Meter => "meter",
        }
    }

    /// Parses a wire name, quoting it back if it is none.
    pub fn parse(text: &str) -> Result<Role, ModelError> {
        Role::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| ModelError::UnknownRole(text.to_owned()))
    }

    /// Whether the role belongs to the provider's staff (reads the whole
    /// record), as opposed to a customer or a gateway.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Tenant | Role::Pep | Role::Meter)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The roles of a token holder, as text: `approver+reviewer`.
pub fn roles_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("+")
}

/// A token holder. The token itself is never stored, only its SHA-256. A
/// person may hold several staff roles (an approver who also reviews
/// appeals); the rules of due process still keep them from approving their
/// own proposal or deciding the appeal of an order they approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Unique name, e.g. `approver-a` or `mod-legal`.
    pub name: String,
    /// What the user may do.
    pub roles: Vec<Role>,
    /// For `tenant` users, the one tenant they act for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// For `pep` users, what their replica may hold (every tenant if none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ReplicaScope>,
    /// When the user was added.
    #[serde(default)]
    pub created_at: Timestamp,
    /// When its token was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl User {
    /// Checks the name and roles, and that a tenant is named exactly for
    /// `tenant` users.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_id("user name", &self.name)?;
        let roles = &self.roles;
        if roles.is_empty() {
            return Err(ModelError::InvalidUser(format!("user {:?} has no role; give at least one", self.name)));
        }
        if roles.iter().enumerate().any(|(i, r)| roles[..i].contains(r)) {
            return Err(ModelError::InvalidUser(format!("user {:?} lists a role twice", self.name)));
        }
        let alone = [Role::Tenant, Role::Pep, Role::Meter];
        if roles.len() > 1 && roles.iter().any(|r| alone.contains(r)) {
            return Err(ModelError::InvalidUser(format!(
                "user {:?} combines {}; tenant, pep and meter users hold that one role only",
                self.name,
                roles_text(roles)
            )));
        }
        if let Some(scope) = &self.scope {
            if *roles != [Role::Pep] {
                return Err(ModelError::InvalidUser(format!(
                    "user {:?} has role {} and a replica scope; only pep users have one",
                    self.name,
                    roles_text(roles)
                )));
            }
            scope.validate()?;
        }
        match (roles.contains(&Role::Tenant), &self.tenant) {
            (true, None) => Err(ModelError::InvalidUser(format!(
                "user {:?} has role tenant but names no tenant; say which tenant it acts for",
                self.name
            ))),
            (true, Some(t)) => validate_id("tenant id", t),
            (false, Some(t)) => Err(ModelError::InvalidUser(format!(
                "user {:?} has role {} and tenant {t:?}; only tenant users belong to a tenant",
                self.name,
                roles_text(roles)
            ))),
            (false, None) => Ok(()),
        }
    }
}

/// What a gateway's replica holds when its token is scoped: the tenants it
/// serves, the regions it serves, or both. A replica learns nothing of a
/// tenant outside its scope (not its units, subscriptions or orders); with
/// regions, only tenants with a subscription in one of them, and of those
/// only the subscriptions in them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplicaScope {
    /// Tenant ids, sorted; empty: every tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Region names, sorted; empty: every region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

impl ReplicaScope {
    /// A scope over `tenants` and `regions`, sorted and without repeats.
    pub fn new(tenants: impl IntoIterator<Item = String>, regions: impl IntoIterator<Item = String>) -> ReplicaScope {
        let sorted = |items: &mut Vec<String>| {
            items.sort_unstable();
            items.dedup();
        };
        let mut scope = ReplicaScope { tenants: tenants.into_iter().collect(), regions: regions.into_iter().collect() };
        sorted(&mut scope.tenants);
        sorted(&mut scope.regions);
        scope
    }

    /// Checks that it names something, and valid ids.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.tenants.is_empty() && self.regions.is_empty() {
            return Err(ModelError::InvalidUser(
                "a replica scope names at least one tenant or region; leave the scope out for every tenant".into(),
            ));
        }
        for tenant in &self.tenants {
            validate_id("tenant id", tenant)?;
        }
        for region in &self.regions {
            validate_id("region", region)?;
        }
        Ok(())
    }

    /// Whether the scope takes in `tenant` (by the tenant list alone).
    pub fn admits_tenant(&self, tenant: &str) -> bool {
        self.tenants.is_empty() || self.tenants.binary_search_by(|t| t.as_str().cmp(tenant)).is_ok()
    }

    /// Whether the scope limits regions.
    pub fn is_regional(&self) -> bool {
        !self.regions.is_empty()
    }

    /// Whether the scope takes in a subscription in `region`.
    pub fn admits_region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.binary_search_by(|r| r.as_str().cmp(region)).is_ok()
    }
}

impl fmt::Display for ReplicaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[String]| if items.is_empty() { "every".to_owned() } else { items.join(",") };
        write!(f, "tenants {} in regions {}", list(&self.tenants), list(&self.regions))
    }
}
