//! The public pages: the transparency report and the log explorer, and the
//! static assets.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use verdict_console::public::{self, Checkpoint, EntryRow};
use verdict_console::{Markup, assets};
use verdict_control::Report;
use verdict_model::Timestamp;

use super::unavailable;
use crate::AppState;

/// Entries on a page of the log explorer.
const PAGE: u64 = 50;

/// The public report, computed at most once per log size (it reads the
/// whole store, and anyone may ask for it).
#[derive(Default)]
pub(crate) struct ReportCache(tokio::sync::Mutex<Option<(u64, Arc<Report>)>>);

pub(super) fn html(status: StatusCode, markup: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

async fn report(state: &AppState) -> Result<Arc<Report>, verdict_control::CoreError> {
    let size = state.core.checkpoint().checkpoint.size;
    let mut cache = state.public_report.0.lock().await;
    if let Some((at, report)) = cache.as_ref()
        && *at == size
    {
        return Ok(report.clone());
    }
    let report = Arc::new(state.core.transparency_report(Timestamp(0), Timestamp::now().plus(1)).await?);
    *cache = Some((size, report.clone()));
    Ok(report)
}

pub(super) async fn transparency(State(state): State<Arc<AppState>>) -> Response {
    let report = match report(&state).await {
        Ok(report) => report,
        Err(e) => return unavailable(&e),
    };
    let signed = state.core.checkpoint();
    let checkpoint = Checkpoint {
        origin: signed.checkpoint.origin.clone(),
        size: signed.checkpoint.size,
        root: base64_root(&signed.checkpoint.root),
        key: state.core.log_key().to_string(),
    };
    html(StatusCode::OK, public::transparency(&report, &checkpoint))
}

fn base64_root(root: &[u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(root)
}

pub(super) async fn report_csv(State(state): State<Arc<AppState>>) -> Response {
    match report(&state).await {
        Ok(report) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"transparency-report.csv\""),
            ],
            report.to_csv(),
        )
            .into_response(),
        Err(e) => unavailable(&e),
    }
}

/// Query of the log explorer.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    /// List the entries before this index (newest first); the newest by
    /// default.
    before: Option<String>,
}

pub(super) async fn log_list(State(state): State<Arc<AppState>>, Query(query): Query<ListQuery>) -> Response {
    let size = state.core.checkpoint().checkpoint.size;
    let before = match query.before.as_deref().map(str::parse::<u64>) {
        None => size,
        Some(Ok(before)) => before.min(size),
        Some(Err(_)) => {
            let text = format!(
                "{:?} is not an entry index; the log's entries are numbered 0 to {}.",
                query.before.unwrap_or_default(),
                size.saturating_sub(1)
            );
            return html(StatusCode::BAD_REQUEST, public::problem("Not an entry index", &text));
        }
    };
    let start = before.saturating_sub(PAGE);
    let entries = match state.core.log_entries(start, before).await {
        Ok(entries) => entries,
        Err(e) => return unavailable(&e),
    };
    let mut rows: Vec<EntryRow> = (start..).zip(&entries).map(|(i, e)| EntryRow::parse(i, e)).collect();
    rows.reverse();
    let newer = (before < size).then(|| (before + PAGE).min(size));
    let older = (start > 0).then_some(start);
    html(StatusCode::OK, public::log_list(&rows, size, newer, older))
}

pub(super) async fn log_entry(State(state): State<Arc<AppState>>, Path(index): Path<String>) -> Response {
    let size = state.core.checkpoint().checkpoint.size;
    let missing = |text: String| html(StatusCode::NOT_FOUND, public::not_found(&text));
    let Ok(index) = index.parse::<u64>() else {
        return missing(format!("{index:?} is not an entry index; the log's entries are numbered from 0."));
    };
    match state.core.log_entries(index, index + 1).await {
        Ok(mut entries) => match entries.pop() {
            Some(entry) => html(StatusCode::OK, public::log_entry(index, &entry, size)),
            None => missing(format!("The log has no entry {index} yet: it holds {size} entries.")),
        },
        Err(e) => unavailable(&e),
    }
}

pub(super) async fn asset(Path((hash, name)): Path<(String, String)>) -> Response {
    match assets::find(&format!("{}{hash}/{name}", assets::PREFIX)) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset (an old page? reload it)").into_response(),
    }
}
