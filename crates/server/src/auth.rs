//! Bearer-token checks: decision endpoints take the admin or the PEP token,
//! management endpoints only the admin token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// The two secrets the server accepts.
#[derive(Clone)]
pub struct Tokens {
    /// Full access.
    pub admin: String,
    /// Decisions only.
    pub pep: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Pep,
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authenticate(tokens: &Tokens, req: &Request) -> Result<Role, ApiError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing-token",
            "send a token as 'Authorization: Bearer <token>'; the server wrote them to admin.token and pep.token in its data directory",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .unwrap_or("");
    if same(token.as_bytes(), tokens.admin.as_bytes()) {
        Ok(Role::Admin)
    } else if same(token.as_bytes(), tokens.pep.as_bytes()) {
        Ok(Role::Pep)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "the bearer token is not one this server issued; use the contents of admin.token or pep.token from its data directory",
        ))
    }
}

/// Lets the admin and PEP tokens through.
pub(crate) async fn require_decider(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match authenticate(&state.tokens, &req) {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Lets only the admin token through; the PEP token gets 403.
pub(crate) async fn require_admin(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match authenticate(&state.tokens, &req) {
        Ok(Role::Admin) => next.run(req).await,
        Ok(Role::Pep) => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may only ask for decisions; management endpoints need the admin token",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}
