//! The web pages' HTTP side: the public transparency pages, the console's
//! sessions and pages, and the headers every page carries. The pages
//! themselves are `verdict-console`'s views.

mod cases;
mod drafts;
mod notices;
mod operations;
mod orders;
mod public;
mod rules;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub(crate) use public::ReportCache;
pub use session::ConsoleSettings;

use crate::AppState;
use crate::error::ApiError;

/// The page for a store that could not be read (logged; a 500).
fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a console page failed");
    public::html(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        verdict_console::public::problem(
            "Not available",
            "This page could not be read from the store just now; try again in a moment.",
        ),
    )
}

/// A refusal of the API as a page: not found, or refused, with its sentence.
fn failed(e: &ApiError) -> Response {
    let title = if e.status == axum::http::StatusCode::NOT_FOUND { "Not found" } else { "Refused" };
    public::html(e.status, verdict_console::public::problem(title, &e.message))
}

/// A refusal of the API as a form shows it beside the field.
fn refusal(e: &ApiError) -> verdict_console::cases::Refusal {
    verdict_console::cases::Refusal { code: e.code.to_owned(), message: e.message.clone() }
}

/// A form's outcome: done (see `to`), refused before the form could be
/// read again (a page), or refused with a sentence for beside the form.
fn after_form<T>(result: Result<T, ApiError>, to: impl FnOnce(&T) -> String) -> Result<Response, ApiError> {
    match result {
        Ok(done) => {
            Ok((axum::http::StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, to(&done))]).into_response())
        }
        Err(e) if e.status == axum::http::StatusCode::FORBIDDEN || e.status == axum::http::StatusCode::NOT_FOUND => {
            Ok(failed(&e))
        }
        Err(e) => Err(e),
    }
}

/// The public pages and the assets, behind the pages' headers.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/transparency", get(public::transparency))
        .route("/transparency/report.csv", get(public::report_csv))
        .route("/transparency/log", get(public::log_list))
        .route("/transparency/log/{index}", get(public::log_entry))
        .route("/console/assets/{hash}/{name}", get(public::asset))
        .route("/console", get(session::home))
        .route("/console/sign-in", get(session::sign_in_form).post(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/cases", get(cases::queue).post(cases::open))
        .route("/console/cases/new", get(cases::new_form))
        .route("/console/cases/{id}", get(cases::show))
        .route("/console/cases/{id}/evidence", post(cases::add_evidence))
        .route("/console/cases/{id}/comments", post(cases::comment))
        .route("/console/cases/{id}/assign", post(cases::assign))
        .route("/console/cases/{id}/status", post(cases::set_status))
        .route("/console/cases/{id}/draft", get(drafts::start).post(drafts::redraw))
        .route("/console/cases/{id}/draft/preview", post(drafts::panel))
        .route("/console/cases/{id}/orders", post(drafts::propose))
        .route("/console/appeals/{id}/amend", get(drafts::start).post(drafts::redraw))
        .route("/console/appeals/{id}/amend/preview", post(drafts::panel))
        .route("/console/appeals/{id}/amendment", post(drafts::amend))
        .route("/console/approvals", get(orders::approvals))
        .route("/console/orders/{id}", get(orders::show))
        .route("/console/orders/{id}/approve", post(orders::approve))
        .route("/console/orders/{id}/reject", post(orders::reject))
        .route("/console/orders/{id}/appeals", post(notices::file))
        .route("/console/operations", get(operations::overview))
        .route("/console/operations/orders", get(operations::orders))
        .route("/console/operations/inventory", get(operations::tenants))
        .route("/console/operations/inventory/{tenant}", get(operations::tenant))
        .route("/console/rules", get(rules::list).post(rules::publish))
        .route("/console/rules/new", get(rules::new_form).post(rules::backtest))
        .route("/console/rules/{id}/{version}", get(rules::show))
        .route("/console/rules/{id}/{version}/approve", post(rules::approve))
        .route("/console/rules/{id}/{version}/retire", post(rules::retire))
        .route("/console/notices", get(notices::list))
        .route("/console/records", get(notices::records))
        .route("/console/notices/{id}", get(notices::show))
        .route("/console/notices/{id}/receipt", get(notices::receipt))
        .route("/console/appeals", get(notices::appeals))
        .route("/console/appeals/{id}", get(notices::appeal))
        .route("/console/appeals/{id}/decision", post(notices::decide))
        .layer(from_fn(page_headers))
}

/// What every page and asset carries: a policy that runs no script but
/// this server's own and no inline script or style at all, no framing, no
/// sniffing, and no caching unless the handler says otherwise.
async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
    response
}
