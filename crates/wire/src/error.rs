//! The one error type of the HTTP API: a status, a stable code and a
//! sentence, always sent as `{"error": {"code", "message"}}`.

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use verdict_model::{Problem, ProblemKind};

/// An error as the API reports it. 5xx never carry internals: those are
/// logged, and the client gets a generic sentence.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, e.g. `unknown-order`.
    pub code: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
/// The body of every error response.
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's code and sentence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 500; the detail goes to the log only.
    pub fn internal(detail: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "verdict failed to handle the request; the error is logged on the server. Retry, and report it if it persists",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message } };
        (self.status, axum::Json(body)).into_response()
    }
}

/// Every domain error converts the same way: its class picks the status,
/// its code and sentence go to the client, and an internal failure's detail
/// goes to the log only.
impl<E: Problem> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        let status = match e.kind() {
            ProblemKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::Internal => return ApiError::internal(&format_args!("{e}: {e:?}")),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// A data error's code. Model types refuse bad values while they are
/// deserialised; their messages start with fixed phrases, mapped here to the
/// same codes the model's own errors carry.
fn data_error_code(message: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("invalid service pattern", "invalid-pattern"),
        ("invalid unit path", "invalid-unit-path"),
        ("invalid time", "invalid-time"),
        ("unknown field", "unknown-field"),
        ("missing field", "missing-field"),
        ("unknown variant", "invalid-value"),
        ("invalid type", "invalid-type"),
    ];
    // axum puts the JSON path first: `services[0]: invalid service pattern …`.
    let bare = message.split_once(": ").map(|(_, rest)| rest).unwrap_or(message);
    PREFIXES
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix) || bare.starts_with(prefix))
        .map(|(_, code)| *code)
        .unwrap_or("invalid-body")
}

/// A body that could not be read (too large, or broken off), as an
/// [`ApiError`].
pub fn from_bytes_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "the request body is larger than this endpoint accepts (1 MiB; 256 MiB for /v1/import); split it into smaller requests",
        )
    } else {
        ApiError::bad_request("unreadable-body", format!("the request body could not be read: {}", r.body_text()))
    }
}

/// `axum::Json`'s refusals, as [`ApiError`]s.
pub fn from_json_rejection(r: JsonRejection) -> ApiError {
    {
        match r {
            JsonRejection::JsonDataError(e) => {
                let message = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.body_text());
                ApiError::bad_request(data_error_code(&message), format!("the JSON body does not fit: {message}"))
            }
            JsonRejection::JsonSyntaxError(e) => {
                let message = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.body_text());
                ApiError::bad_request("malformed-json", format!("the body is not valid JSON: {message}"))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as JSON with the header 'Content-Type: application/json'",
            ),
            JsonRejection::BytesRejection(b) => from_bytes_rejection(b),
            other => ApiError::bad_request("invalid-body", other.body_text()),
        }
    }
}

/// Parses a JSON body that borrows from `bytes` (no copies of its strings),
/// with the same errors as [`Json`]: 415 without a JSON content type, 400
/// `malformed-json` for bad syntax, 400 with a field-specific code for data
/// that does not fit.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(
    headers: &axum::http::HeaderMap,
    bytes: &'a [u8],
) -> Result<T, ApiError> {
    let json_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !json_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as JSON with the header 'Content-Type: application/json'",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            let message = e.to_string();
            ApiError::bad_request(data_error_code(&message), format!("the JSON body does not fit: {message}"))
        }
        _ => ApiError::bad_request("malformed-json", format!("the body is not valid JSON: {e}")),
    })
}

/// The raw body, with the body-limit rejection as a JSON 413.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state).await.map(RawBody).map_err(from_bytes_rejection)
    }
}

/// `axum::Json`, with rejections turned into [`ApiError`]s.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state).await.map(|axum::Json(v)| Json(v)).map_err(from_json_rejection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refusals_keep_their_codes() {
        assert_eq!(data_error_code("invalid service pattern \"st orage\": use ..."), "invalid-pattern");
        assert_eq!(data_error_code("unknown field `exmept`, expected ..."), "unknown-field");
        assert_eq!(data_error_code("services[0]: invalid service pattern \"x\""), "invalid-pattern");
        assert_eq!(data_error_code("something else"), "invalid-body");
    }
}
