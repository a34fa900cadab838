//! `/v1/users`: adding, listing and revoking token holders (admin only).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use verdict_model::{Role, User};

use crate::AppState;
use crate::auth::{Admin, Staff};
use crate::error::{ApiError, Json};

type Result<T> = std::result::Result<T, ApiError>;

/// `POST /v1/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// Unique name, e.g. `approver-a`.
    name: String,
    /// One role: `admin`, `analyst`, `approver`, `reviewer`, `auditor`,
    /// `tenant` or `pep`.
    #[serde(default)]
    role: Option<String>,
    /// Several staff roles, e.g. `["approver", "reviewer"]`.
    #[serde(default)]
    roles: Vec<String>,
    /// For `tenant` users: the tenant they act for.
    #[serde(default)]
    tenant: Option<String>,
    /// For `pep` users: the tenants and/or regions their replica holds
    /// (`{"tenants": ["acme"], "regions": ["westeurope"]}`); every tenant
    /// if left out.
    #[serde(default)]
    scope: Option<verdict_model::ReplicaScope>,
}

/// A new user and its token, which is shown only this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Created {
    /// The user.
    user: User,
    /// The bearer token; store it now, it cannot be shown again.
    token: String,
}

/// Adds a user and returns its token once.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = Created), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, axum::Json<Created>)> {
    let roles = body
        .role
        .iter()
        .chain(&body.roles)
        .map(|r| Role::parse(r))
        .collect::<std::result::Result<Vec<Role>, _>>()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
    let scope = body.scope.map(|s| verdict_model::ReplicaScope::new(s.tenants, s.regions));
    let user =
        User { name: body.name, roles, tenant: body.tenant, scope, created_at: Default::default(), revoked_at: None };
    let (user, token) = s.core.add_user(&who.actor(), user).await?;
    Ok((StatusCode::CREATED, axum::Json(Created { user, token })))
}

/// Every user, revoked ones included.
#[utoipa::path(get, path = "/v1/users", tag = "users",
    responses((status = 200, body = [User])), security(("bearer" = [])))]
pub(crate) async fn list(State(s): State<Arc<AppState>>, _: Staff) -> Result<axum::Json<Vec<User>>> {
    Ok(axum::Json(s.core.users().await?))
}

/// Revokes a user's token at once.
#[utoipa::path(post, path = "/v1/users/{name}/revoke", tag = "users",
    params(("name" = String, Path, description = "The user")),
    responses((status = 200, body = User), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "user-already-revoked", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> Result<axum::Json<User>> {
    Ok(axum::Json(s.core.revoke_user(&who.actor(), &name).await?))
}
