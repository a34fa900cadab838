//! Token holders: who a request comes from, and the directory that maps a
//! token (by its SHA-256; tokens themselves are never stored) to them.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};
use verdict_model::{ReplicaScope, Role, User};
use verdict_store::Op;

use crate::error::{Thing, UserError};
use crate::inventory::tenant_exists;
use crate::ledger::Prepared;
use crate::log::Draft;
use crate::{Actor, Core, CoreError};

/// The authenticated sender of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name.
    pub name: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// For tenant users, their tenant.
    pub tenant: Option<String>,
    /// For pep users with a scope, what their replica may hold.
    pub scope: Option<Arc<ReplicaScope>>,
}

impl Principal {
    /// The holder of the data directory's admin token.
    pub fn admin() -> Principal {
        Principal { name: "admin".into(), roles: vec![Role::Admin], tenant: None, scope: None }
    }

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
        .map(|(u, hash)| {
            let principal = Principal {
                name: u.name.clone(),
                roles: u.roles.clone(),
                tenant: u.tenant.clone(),
                scope: u.scope.clone().map(Arc::new),
            };
            (*hash, principal)
        })
        .collect()
}

impl Core {
    /// Who holds `token`, if it is an active user's.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        self.directory.load().get(&token_hash(token)).cloned()
    }

    /// Every user, revoked ones included, by name.
    pub async fn users(&self) -> Result<Vec<User>, CoreError> {
        Ok(self.reads().await?.users().await?.into_iter().map(|(u, _)| u).collect())
    }

    pub(crate) async fn refresh_directory(&self) -> Result<(), CoreError> {
        self.directory.store(Arc::new(directory(&self.reads().await?.users().await?)));
        Ok(())
    }

    /// Adds a user and returns it with its new token, shown this once.
    pub async fn add_user(&self, actor: &Actor, user: User) -> Result<(User, String), CoreError> {
        let token = new_token(&user.roles).map_err(|e| CoreError::Internal(format!("no randomness: {e}")))?;
        let user = self.add_user_with_token(actor, user, &token).await?;
        Ok((user, token))
    }

    /// Adds a user whose token the caller chose (the data directory's
    /// `admin.token` and `pep.token`, say).
    pub async fn add_user_with_token(&self, actor: &Actor, mut user: User, token: &str) -> Result<User, CoreError> {
        user.created_at = self.clock.now();
        user.revoked_at = None;
        user.validate()?;
        if ["admin", "pep", "verdict"].contains(&user.name.as_str()) {
            return Err(UserError::Reserved { name: user.name }.into());
        }
        let mut tx = self.begin().await?;
        if tx.store().users().await?.iter().any(|(u, _)| u.name == user.name) {
            return Err(UserError::Exists { name: user.name }.into());
        }
        let hash = token_hash(token);
        if self.directory.load().contains_key(&hash) {
            return Err(CoreError::Internal("a token collided with an existing one".into()));
        }
        if let Some(tenant) = &user.tenant
            && !tenant_exists(&mut tx, tenant).await?
        {
            return Err(CoreError::UnknownReference { kind: Thing::Tenant, id: tenant.clone() });
        }
        let roles = verdict_model::roles_text(&user.roles);
        let mut facts = json!({"name": user.name, "roles": roles});
        if let Some(scope) = &user.scope {
            facts["scope"] = json!(scope);
        }
        let mut draft = Draft::new("user.added", json!({"roles": roles})).facts(facts);
        if let Some(tenant) = &user.tenant {
            draft = draft.tenant(tenant);
        }
        let change = Prepared {
            at: user.created_at,
            summary: json!({"user": user.name, "roles": roles}),
            ops: vec![Op::PutUser { user: user.clone(), token_hash: hash }],
            changes: vec![],
            draft,
        };
        tx.write(actor, change).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Revokes a user's token; what it did stays attributed to it.
    pub async fn revoke_user(&self, actor: &Actor, name: &str) -> Result<User, CoreError> {
        let mut tx = self.begin().await?;
        let Some((mut user, _)) = tx.store().users().await?.into_iter().find(|(u, _)| u.name == name) else {
            return Err(CoreError::NotFound { kind: Thing::User, id: name.to_owned() });
        };
        if let Some(at) = user.revoked_at {
            return Err(UserError::AlreadyRevoked { name: name.to_owned(), at }.into());
        }
        let now = tx.now();
        user.revoked_at = Some(now);
        let mut draft = Draft::new("user.revoked", json!({"roles": verdict_model::roles_text(&user.roles)}))
            .facts(json!({"name": name}));
        if let Some(tenant) = &user.tenant {
            draft = draft.tenant(tenant);
        }
        let change = Prepared {
            at: now,
            summary: json!({"user": name}),
            ops: vec![Op::RevokeUser { name: name.to_owned(), at: now }],
            changes: vec![],
            draft,
        };
        tx.write(actor, change).await?;
        tx.commit().await?;
        Ok(user)
    }
}
