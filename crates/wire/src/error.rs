//! The one error type of the HTTP API: a status, a stable code and a
//! sentence, always sent as `{"error": {"code", "message"}}`.

use axum::extract::rejection::BytesRejection;
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

/// A body that could not be read (too large, or broken off), as an
/// [`ApiError`].
pub fn from_bytes_rejection(r: BytesRejection) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&r);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                "the request body stopped arriving (nothing for 10 s); send it again without pausing",
            );
        }
        cause = error.source();
    }
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

/// Refuses (415) a body whose content type is not JSON.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let json_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if json_type {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as JSON with the header 'Content-Type: application/json'",
        ))
    }
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request("malformed-json", format!("the body is not valid JSON: {e}"))
}

fn does_not_fit(code: &'static str, why: &dyn std::fmt::Display) -> ApiError {
    ApiError::bad_request(code, format!("the JSON body does not fit: {why}"))
}

/// Parses a JSON body into an owned `T`. 415 without a JSON content type,
/// 400 `malformed-json` for bad syntax, and for data that does not fit, 400
/// with the code of serde's error kind (`unknown-field`, `missing-field`,
/// `invalid-type`, `invalid-value`, or a model type's own, such as
/// `invalid-pattern`) and the path to the field (see [`crate::body`]).
pub fn parse_body<T: DeserializeOwned>(headers: &axum::http::HeaderMap, bytes: &[u8]) -> Result<T, ApiError> {
    require_json(headers)?;
    from_json_bytes(bytes)
}

/// [`parse_body`] once the content type is known to be JSON.
pub fn from_json_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(e) if e.classify() != serde_json::error::Category::Data => Err(malformed(&e)),
        Err(e) => {
            // Only a body that failed pays for the second, classifying pass.
            let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
            Err(match crate::body::why_not::<T>(&value) {
                Some(why) => does_not_fit(why.kind.code(), &why),
                None => does_not_fit("invalid-body", &e),
            })
        }
    }
}

/// A parsed JSON value as an owned `T`, refused as [`parse_body`] refuses
/// data that does not fit.
pub fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ApiError> {
    T::deserialize(value).map_err(|e| match crate::body::why_not::<T>(value) {
        Some(why) => does_not_fit(why.kind.code(), &why),
        None => does_not_fit("invalid-body", &e),
    })
}

/// Parses a JSON body that borrows from `bytes` (no copies of its strings),
/// for the lenient AuthZEN wire types, whose fields are all optional and
/// untyped beyond JSON: the only way their data can fail is a value of the
/// wrong JSON type (`invalid-type`). Otherwise as [`parse_body`].
pub fn parse_json<'a, T: serde::Deserialize<'a>>(
    headers: &axum::http::HeaderMap,
    bytes: &'a [u8],
) -> Result<T, ApiError> {
    require_json(headers)?;
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => does_not_fit("invalid-type", &e),
        _ => malformed(&e),
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

/// A JSON body as [`parse_body`] reads it.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The content type first: a wrong one is refused before the body is read.
        require_json(req.headers())?;
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        from_json_bytes(&bytes).map(Json)
    }
}
