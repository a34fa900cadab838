//! Bodies that people write (evidence, comments, notes, appeals) are
//! screened for customer content at every depth before they are read: a
//! field named like content anywhere is refused with the same code and
//! sentence as at the top level (`customer-content-refused`, 422).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, RawBody};

/// A JSON body of `T`, screened by [`verdict_model::refuse_content`] first.
pub(crate) struct Screened<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Screened<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        verdict_wire::require_json(req.headers())?;
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        let value: serde_json::Value = verdict_wire::from_json_bytes(&bytes)?;
        screen(&value)?;
        verdict_wire::from_value(&value).map(Screened)
    }
}

/// Refuses `value` if it carries customer content anywhere.
pub(crate) fn screen(value: &serde_json::Value) -> Result<(), ApiError> {
    verdict_model::refuse_content(value)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))
}
