//! The transparency log over HTTP: C2SP tlog-tiles read paths (public),
//! proofs and tlog-proof receipts (public), and private records (entitled
//! tokens only).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use verdict_log::TileId;
use verdict_model::Role;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::manage::Query;

type Result<T> = std::result::Result<T, ApiError>;

const TEXT: &str = "text/plain; charset=utf-8";
/// The checkpoint changes with every commit: caches may keep it briefly.
const CHECKPOINT_CACHE: &str = "public, max-age=2";
/// A tile or bundle never changes once it exists (a partial one has its
/// width in its path).
const TILE_CACHE: &str = "public, max-age=31536000, immutable";

fn text(body: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(TEXT)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

/// The latest signed checkpoint (C2SP tlog-checkpoint as a signed note).
#[utoipa::path(get, path = "/log/checkpoint", tag = "log",
    responses((status = 200, description = "Signed checkpoint", content_type = "text/plain")))]
pub(crate) async fn checkpoint(State(s): State<Arc<AppState>>) -> Response {
    text(s.core.checkpoint().note.clone(), CHECKPOINT_CACHE)
}

/// The verifier key of the log, in C2SP vkey form.
#[utoipa::path(get, path = "/log/key", tag = "log",
    responses((status = 200, description = "`<origin>+<key id>+<base64 key>`", content_type = "text/plain")))]
pub(crate) async fn key(State(s): State<Arc<AppState>>) -> Response {
    text(format!("{}\n", s.core.log_key()), "public, max-age=3600")
}

/// A hash tile `<L>/<N>[.p/<W>]` or an entry bundle `entries/<N>[.p/<W>]`.
#[utoipa::path(get, path = "/log/tile/{path}", tag = "log",
    params(("path" = String, Path, description = "e.g. `0/000`, `1/x001/234.p/17`, `entries/000.p/5`")),
    responses((status = 200, description = "Tile bytes", content_type = "application/octet-stream"),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn tile(State(s): State<Arc<AppState>>, Path(path): Path<String>) -> Result<Response> {
    let tile = TileId::parse(&path).map_err(|e| ApiError::bad_request("malformed-tile-path", e.to_string()))?;
    let bytes = s.core.log_tile(&tile).await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static(TILE_CACHE)),
        ],
        bytes,
    )
        .into_response())
}

/// Parameters of an inclusion proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct InclusionParams {
    /// The entry's index (from 0).
    index: u64,
    /// The tree size; defaults to the latest checkpoint's.
    size: Option<u64>,
}

/// A proof: the hashes, base64, from the leaf's (or old tree's) side up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProofView {
    /// Entry index (inclusion proofs).
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    /// Old tree size (consistency proofs).
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<u64>,
    /// The tree size proven against.
    size: u64,
    /// The proof hashes, base64.
    proof: Vec<String>,
}

fn encode(hashes: Vec<verdict_log::Hash>) -> Vec<String> {
    hashes.iter().map(|h| BASE64.encode(h)).collect()
}

/// RFC 6962 inclusion proof of one entry.
#[utoipa::path(get, path = "/log/proof/inclusion", tag = "log", params(InclusionParams),
    responses((status = 200, body = ProofView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn inclusion(
    State(s): State<Arc<AppState>>,
    Query(q): Query<InclusionParams>,
) -> Result<axum::Json<ProofView>> {
    let size = q.size.unwrap_or_else(|| s.core.checkpoint().checkpoint.size);
    let proof = s.core.inclusion_proof(q.index, size)?;
    Ok(axum::Json(ProofView { index: Some(q.index), old: None, size, proof: encode(proof) }))
}

/// Parameters of a consistency proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct ConsistencyParams {
    /// The older tree size (at least 1).
    old: u64,
    /// The newer tree size; defaults to the latest checkpoint's.
    new: Option<u64>,
}

/// RFC 6962 consistency proof between two tree sizes.
#[utoipa::path(get, path = "/log/proof/consistency", tag = "log", params(ConsistencyParams),
    responses((status = 200, body = ProofView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn consistency(
    State(s): State<Arc<AppState>>,
    Query(q): Query<ConsistencyParams>,
) -> Result<axum::Json<ProofView>> {
    let new = q.new.unwrap_or_else(|| s.core.checkpoint().checkpoint.size);
    let proof = s.core.consistency_proof(q.old, new)?;
    Ok(axum::Json(ProofView { index: None, old: Some(q.old), size: new, proof: encode(proof) }))
}

/// A `c2sp.org/tlog-proof@v1` receipt for one entry, against the latest
/// checkpoint; the `extra` line carries the entry, so the receipt verifies
/// offline with `verdict log verify-receipt`.
#[utoipa::path(get, path = "/log/receipt/{index}", tag = "log",
    params(("index" = u64, Path, description = "Entry index, from 0")),
    responses((status = 200, description = "tlog-proof receipt", content_type = "text/plain"),
        (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn receipt(State(s): State<Arc<AppState>>, Path(index): Path<String>) -> Result<Response> {
    let index = parse_index(&index)?;
    let receipt = s.core.receipt(index).await?;
    Ok(text(receipt.to_text(), RECEIPT_CACHE))
}

/// A receipt names the latest checkpoint, which moves on.
const RECEIPT_CACHE: &str = "no-cache";

fn parse_index(text: &str) -> Result<u64> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-index",
            format!("{text:?} is not a log index; indexes are whole numbers from 0"),
        )
    })
}

/// An entry with the private record it commits to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PrivateView {
    /// Entry index.
    index: u64,
    /// Entry type.
    #[serde(rename = "type")]
    kind: String,
    /// The public entry, exactly as logged (a JSON text).
    entry: String,
    /// The commitment the entry carries: `sha256:` + hex(SHA-256(salt ‖ record)).
    commitment: String,
    /// The salt, hex.
    salt: String,
    /// The private record, exactly as committed to (a JSON text).
    record: String,
}

/// The private record behind a log entry, with its salt, so the holder can
/// check it against the entry's commitment. For admins and auditors, and
/// for a tenant's users the entries that concern their tenant.
#[utoipa::path(get, path = "/v1/log/entries/{index}/private", tag = "log",
    params(("index" = u64, Path, description = "Entry index, from 0")),
    responses((status = 200, body = PrivateView),
        (status = 403, description = "forbidden: the caller's role reads no private records", body = crate::error::ErrorBody),
        (status = 404, description = "index-out-of-range; or unknown-record: another tenant's entry, to a tenant's user", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn private(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(index): Path<String>,
) -> Result<axum::Json<PrivateView>> {
    let index = parse_index(&index)?;
    let record = s.core.log_record(index).await?;
    let entitled = who.is(&[Role::Admin, Role::Auditor]) || record.tenant.as_deref().is_some_and(|t| who.speaks_for(t));
    if !entitled && who.is(&[Role::Tenant]) {
        // As documented: to a tenant's user, another tenant's entry has no
        // private record (a 403 would confirm whom it concerns).
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-record",
            format!("there is no private record of entry {index} for {} to read", who.name),
        ));
    }
    if !entitled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} may not read private log records: admins, auditors and the users of the tenant an entry concerns may",
                who.name
            ),
        ));
    }
    let entry = String::from_utf8_lossy(&record.entry).into_owned();
    let commitment = verdict_control::commitment(&record.salt, &record.private);
    Ok(axum::Json(PrivateView {
        index,
        kind: record.kind,
        entry,
        commitment,
        salt: verdict_control::hex(&record.salt),
        record: String::from_utf8_lossy(&record.private).into_owned(),
    }))
}
