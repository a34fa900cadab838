//! Bearer-token checks: who a request comes from (the data directory's
//! admin and PEP tokens, or a user's), and extractors that check its role.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use verdict_control::Principal;
use verdict_model::Role;

use crate::AppState;
use crate::error::ApiError;
use verdict_wire::{bearer, same_secret};

/// The data directory's two tokens (the `admin` and `pep` principals).
#[derive(Clone)]
pub struct Tokens {
    /// Full access.
    pub admin: String,
    /// Decisions only.
    pub pep: String,
}

/// Who sent `req`: the data directory's admin or PEP token, or a user's.
fn authenticate(state: &AppState, req: &Request) -> Result<Principal, ApiError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing-token",
            "send a token as 'Authorization: Bearer <token>'; the server wrote them to admin.token and pep.token in its data directory",
        ));
    };
    let token = bearer(value).unwrap_or("");
    if same_secret(token.as_bytes(), state.tokens.admin.as_bytes()) {
        return Ok(Principal::admin());
    }
    if same_secret(token.as_bytes(), state.tokens.pep.as_bytes()) {
        return Ok(Principal { name: "pep".into(), roles: vec![Role::Pep], tenant: None, scope: None });
    }
    state.core.authenticate(token).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "the bearer token is not one this server issued, or it was revoked; use admin.token or pep.token from its data directory, or a user's token",
        )
    })
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// Lets PEP and admin tokens through to decisions.
pub(crate) async fn require_decider(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    match authenticate(&state, &req) {
        Ok(p) if p.is(&[Role::Pep, Role::Admin]) => {
            req.extensions_mut().insert(ReplicaName(p.name.clone()));
            if let Some(scope) = p.scope {
                req.extensions_mut().insert(ReplicaScoped(scope));
            }
            next.run(req).await
        }
        Ok(p) => forbidden(format!("decision endpoints take a pep or admin token, not a {} user's", p.roles_text()))
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Lets any user through and records who it is for the handler's role
/// check ([`Admin`], [`Staff`], [`Caller`]); PEP tokens get 403.
pub(crate) async fn require_user(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    match authenticate(&state, &req) {
        Ok(p) if p.roles == [Role::Pep] => {
            forbidden("this token may only ask for decisions; management endpoints need a user's token").into_response()
        }
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

fn principal(parts: &Parts) -> Result<Principal, ApiError> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::internal(&"a management route is missing its authentication layer"))
}

/// The user of the token a replica (or a gateway asking for decisions)
/// came with.
#[derive(Clone)]
pub(crate) struct ReplicaName(pub String);

/// The scope of a pep token that has one: replication sends only its part.
#[derive(Clone)]
pub(crate) struct ReplicaScoped(pub Arc<verdict_model::ReplicaScope>);

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for ReplicaScoped {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<ReplicaScoped>().cloned())
    }
}

/// Any authenticated user.
pub(crate) struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        principal(parts).map(Caller)
    }
}

/// An admin: users, clauses and inventory.
pub(crate) struct Admin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let p = principal(parts)?;
        if !p.is(&[Role::Admin]) {
            return Err(forbidden(format!("this needs the admin role; {} is a {} user", p.name, p.roles_text())));
        }
        Ok(Admin(p))
    }
}

/// Provider staff (admin, analyst, approver, reviewer, auditor): reads the
/// whole record.
pub(crate) struct Staff;

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let p = principal(parts)?;
        if !p.is_staff() {
            return Err(forbidden(format!(
                "this is for the provider's staff; {} is a {} user",
                p.name,
                p.roles_text()
            )));
        }
        Ok(Staff)
    }
}

/// Refuses `who` unless it has one of `roles`, saying what it tried.
pub(crate) fn require(who: &Principal, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if who.is(roles) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(forbidden(format!(
        "to {what} takes the {} role; {} is a {} user",
        names.join(" or "),
        who.name,
        who.roles_text()
    )))
}
