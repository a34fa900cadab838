//! Signing in and out of the console, and the session every console page
//! needs. A token is typed once, into a form posted to this server (never
//! in a URL), and exchanged for a session cookie: `HttpOnly`,
//! `SameSite=Strict`, and `Secure` with the `__Host-` prefix when the server
//! speaks HTTPS. Every form of a session carries a CSRF token derived from
//! the session's secret; the sign-in form carries one of its own, bound to
//! a short-lived cookie, so no other site can sign a browser in.

use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use verdict_console::Viewer;
use verdict_console::public::problem;
use verdict_control::Principal;
use verdict_model::Role;
use verdict_wire::same_secret;

use super::public::html;
use super::unavailable;
use crate::AppState;

/// The session cookie's name, and its name over HTTPS.
const SESSION: &str = "verdict_session";
const SECURE_SESSION: &str = "__Host-verdict_session";
/// The sign-in form's own cookie, and how long it lives.
const SIGN_IN: &str = "verdict_sign_in";
const SIGN_IN_SECONDS: u64 = 600;

/// How console sessions are kept.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleSettings {
    /// How long a session lasts from sign-in, whatever happens.
    pub session_lifetime: Duration,
    /// Whether cookies are `Secure` (the server speaks HTTPS, or is only
    /// reached through a proxy that does).
    pub secure_cookies: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings { session_lifetime: Duration::from_secs(8 * 3600), secure_cookies: false }
    }
}

impl ConsoleSettings {
    fn session_cookie(&self) -> &'static str {
        if self.secure_cookies { SECURE_SESSION } else { SESSION }
    }

    /// A `Set-Cookie` value; `max_age` none for a cookie that lasts as long
    /// as the browser session (the server decides when the session ends).
    fn set_cookie(&self, name: &str, value: &str, path: &str, max_age: Option<u64>) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
        HeaderValue::from_str(&format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{secure}{age}"))
            .expect("cookie values are base64url or hex")
    }
}

/// A cookie sent with the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The CSRF token of the session whose secret is `secret`.
fn csrf_for(secret: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"verdict-console-csrf\0");
    hash.update(secret.as_bytes());
    verdict_control::hex(&hash.finalize())
}

/// A page answered instead of the one asked for: a redirect to sign in, a
/// refusal, or an outage.
pub(super) struct Detour(Box<Response>);

impl From<Response> for Detour {
    fn from(response: Response) -> Detour {
        Detour(Box::new(response))
    }
}

impl IntoResponse for Detour {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn random_hex() -> Result<String, Detour> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Detour::from(unavailable(&e)))?;
    Ok(verdict_control::hex(&bytes))
}

fn refused(text: &str) -> Response {
    html(StatusCode::FORBIDDEN, problem("Refused", text))
}

/// A console address to return to after signing in: a path of the
/// console's own, or the console's home.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/console") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/console",
    }
}

/// Percent-encodes a path for a query parameter.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// The person signed in, their session's secret and the viewer pages are
/// rendered for.
pub(super) struct Signed {
    /// Who, as the API sees them: every action checks this.
    pub principal: Principal,
    /// For the pages.
    pub viewer: Viewer,
    secret: String,
}

/// Who sent the request through its session cookie; `None` when there is
/// no session, or it ended, expired, or its token was revoked.
pub(super) async fn signed(state: &AppState, headers: &HeaderMap) -> Result<Option<Signed>, Detour> {
    let Some(secret) = cookie(headers, state.console.session_cookie()) else { return Ok(None) };
    let Some(session) = state.core.session(secret).await.map_err(|e| Detour::from(unavailable(&e)))? else {
        return Ok(None);
    };
    let admin: [u8; 32] = Sha256::digest(state.tokens.admin.as_bytes()).into();
    let principal = if same_secret(&session.token_hash, &admin) {
        Some(Principal::admin())
    } else {
        state.core.principal_by_token_hash(&session.token_hash)
    };
    let Some(principal) = principal.filter(|p| p.name == session.user) else { return Ok(None) };
    let viewer = Viewer {
        name: principal.name.clone(),
        roles: principal.roles.clone(),
        tenant: principal.tenant.clone(),
        csrf: csrf_for(secret),
    };
    Ok(Some(Signed { principal, viewer, secret: secret.to_owned() }))
}

/// The signed-in person, or a redirect to sign in and come back to `here`.
pub(super) async fn require(state: &AppState, headers: &HeaderMap, here: &str) -> Result<Signed, Detour> {
    match signed(state, headers).await? {
        Some(signed) => Ok(signed),
        None => Err(redirect(&format!("/console/sign-in?next={}", encode(safe_next(Some(here))))).into()),
    }
}

/// Checks a form's CSRF token against the session's.
pub(super) fn check_csrf(signed: &Signed, sent: &str) -> Result<(), Detour> {
    if same_secret(sent.as_bytes(), csrf_for(&signed.secret).as_bytes()) {
        Ok(())
    } else {
        Err(refused(
            "This form's security token does not match your session (it came from another page or site, or your session changed); reload the page and try again.",
        )
        .into())
    }
}

/// The signed-in person behind a posted form, once its CSRF token matched.
pub(super) async fn form_sender(
    state: &AppState,
    headers: &HeaderMap,
    here: &str,
    csrf: &str,
) -> Result<Signed, Response> {
    let signed = require(state, headers, here).await.map_err(IntoResponse::into_response)?;
    check_csrf(&signed, csrf).map_err(IntoResponse::into_response)?;
    Ok(signed)
}

/// The signed-in person if they are provider staff; `why` is shown to
/// anyone else.
pub(super) async fn staff(state: &AppState, headers: &HeaderMap, here: &str, why: &str) -> Result<Signed, Response> {
    let signed = require(state, headers, here).await.map_err(IntoResponse::into_response)?;
    if !signed.principal.is_staff() {
        return Err(html(StatusCode::FORBIDDEN, problem("Not for your role", why)));
    }
    Ok(signed)
}

/// `GET /console`.
pub(super) async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match require(&state, &headers, "/console").await {
        Ok(signed) => html(StatusCode::OK, verdict_console::session::home(&signed.viewer)),
        Err(detour) => detour.into_response(),
    }
}

/// Query of the sign-in form.
#[derive(Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// `GET /console/sign-in`: the form, with a fresh value for its own
/// cookie; someone already signed in goes home.
pub(super) async fn sign_in_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<Next>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    match signed(&state, &headers).await {
        Ok(Some(_)) => return redirect(next),
        Ok(None) => {}
        Err(detour) => return detour.into_response(),
    }
    form(&state, next, None, StatusCode::OK)
}

fn form(state: &AppState, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let value = match random_hex() {
        Ok(value) => value,
        Err(detour) => return detour.into_response(),
    };
    let mut response = html(status, verdict_console::session::sign_in(&value, next, error));
    let cookie = state.console.set_cookie(SIGN_IN, &value, "/console/sign-in", Some(SIGN_IN_SECONDS));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// The sign-in form as posted.
#[derive(Deserialize)]
pub(super) struct SignIn {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// `POST /console/sign-in`: the token exchanged for a session.
pub(super) async fn sign_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(body): Form<SignIn>,
) -> Response {
    let next = safe_next(body.next.as_deref());
    let expected = cookie(&headers, SIGN_IN).unwrap_or("");
    if expected.is_empty() || !same_secret(expected.as_bytes(), body.csrf.as_bytes()) {
        return form(
            &state,
            next,
            Some("This sign-in form expired or came from another page; type the token again."),
            StatusCode::FORBIDDEN,
        );
    }
    let token = body.token.trim();
    let principal = if !token.is_empty() && same_secret(token.as_bytes(), state.tokens.admin.as_bytes()) {
        Some(Principal::admin())
    } else {
        state.core.authenticate(token)
    };
    let principal = match principal {
        None => {
            let why =
                "That token is not one this server issued, or it was revoked. Check it with whoever gave it to you.";
            return form(&state, next, Some(why), StatusCode::UNAUTHORIZED);
        }
        Some(p) if p.roles == [Role::Pep] => {
            let why =
                "That is a gateway's (pep) token, which may only ask for decisions; sign in with a person's token.";
            return form(&state, next, Some(why), StatusCode::FORBIDDEN);
        }
        Some(p) => p,
    };
    let secret = match state.core.open_session(&principal.name, token, state.console.session_lifetime).await {
        Ok((secret, _)) => secret,
        Err(e) => return unavailable(&e),
    };
    let mut response = redirect(next);
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, state.console.set_cookie(state.console.session_cookie(), &secret, "/", None));
    h.append(header::SET_COOKIE, state.console.set_cookie(SIGN_IN, "", "/console/sign-in", Some(0)));
    response
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub(super) struct Plain {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /console/sign-out`: the session ends here and on every server.
pub(super) async fn sign_out(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(body): Form<Plain>,
) -> Response {
    let signed = match require(&state, &headers, "/console").await {
        Ok(signed) => signed,
        Err(detour) => return detour.into_response(),
    };
    if let Err(detour) = check_csrf(&signed, &body.csrf) {
        return detour.into_response();
    }
    if let Err(e) = state.core.end_session(&signed.secret).await {
        return unavailable(&e);
    }
    let mut response = redirect("/console/sign-in");
    let gone = state.console.set_cookie(state.console.session_cookie(), "", "/", Some(0));
    response.headers_mut().append(header::SET_COOKIE, gone);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_consoles_own_paths_are_returned_to() {
        assert_eq!(safe_next(Some("/console/cases?status=open")), "/console/cases?status=open");
        for foreign in ["https://evil.example/", "//evil.example", "/console//evil", "/consol\\e", "/v1/users"] {
            assert_eq!(safe_next(Some(foreign)), "/console", "{foreign}");
        }
        assert_eq!(encode("/console/cases?status=open"), "/console/cases%3Fstatus%3Dopen");
    }

    #[test]
    fn cookies_are_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; verdict_session=abc; b=2"));
        assert_eq!(cookie(&headers, SESSION), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        let secure = ConsoleSettings { secure_cookies: true, ..ConsoleSettings::default() };
        let set = secure.set_cookie(secure.session_cookie(), "x", "/", None);
        assert_eq!(set, "__Host-verdict_session=x; Path=/; HttpOnly; SameSite=Strict; Secure");
    }
}
