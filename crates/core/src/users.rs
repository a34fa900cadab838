//! Token holders: who a request comes from, and the directory that maps a
//! token (by its SHA-256; tokens themselves are never stored) to them.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use verdict_model::{Role, User};

use crate::Actor;

/// The authenticated sender of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name.
    pub name: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// For tenant users, their tenant.
    pub tenant: Option<String>,
}

impl Principal {
    /// The actor its changes are attributed to in the log.
    pub fn actor(&self) -> Actor {
        Actor::new(self.name.clone())
    }

    /// Whether it has one of `roles`.
    pub fn is(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }

    /// Whether it is a user of `tenant` (and so may read that tenant's own
    /// orders, notices, appeals and log records).
    pub fn speaks_for(&self, tenant: &str) -> bool {
        self.is(&[Role::Tenant]) && self.tenant.as_deref() == Some(tenant)
    }

    /// Whether it is provider staff (reads the whole record).
    pub fn is_staff(&self) -> bool {
        self.roles.iter().any(|r| r.is_staff())
    }

    /// Its roles as text, `approver+reviewer`.
    pub fn roles_text(&self) -> String {
        verdict_model::roles_text(&self.roles)
    }
}

/// SHA-256 of a token, as stored.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token for `role`: `vdt_<role>_` and 64 hex digits.
pub(crate) fn new_token(roles: &[Role]) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let first = roles.first().map_or("user", |r| r.as_str());
    Ok(format!("vdt_{first}_{}", crate::hex(&bytes)))
}

/// Active users by token hash.
pub(crate) fn directory(users: &[(User, [u8; 32])]) -> HashMap<[u8; 32], Principal> {
    users
        .iter()
        .filter(|(u, _)| u.revoked_at.is_none())
        .map(|(u, hash)| (*hash, Principal { name: u.name.clone(), roles: u.roles.clone(), tenant: u.tenant.clone() }))
        .collect()
}
