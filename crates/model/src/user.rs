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
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 7] =
        [Role::Admin, Role::Analyst, Role::Approver, Role::Reviewer, Role::Auditor, Role::Tenant, Role::Pep];

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
        }
    }

    /// Parses a wire name, quoting it back if it is none.
    pub fn parse(text: &str) -> Result<Role, ModelError> {
        Role::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| ModelError::UnknownRole(text.to_owned()))
    }

    /// Whether the role belongs to the provider's staff (reads the whole
    /// record), as opposed to a customer or a gateway.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Tenant | Role::Pep)
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
        let alone = [Role::Tenant, Role::Pep];
        if roles.len() > 1 && roles.iter().any(|r| alone.contains(r)) {
            return Err(ModelError::InvalidUser(format!(
                "user {:?} combines {}; tenant and pep users hold that one role only",
                self.name,
                roles_text(roles)
            )));
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
