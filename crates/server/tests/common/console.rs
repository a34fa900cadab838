//! Driving the console over HTTP as a browser would: signing in through
//! the form, carrying the session cookie, posting forms with their CSRF
//! token, and reading values back out of the pages.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use verdict_control::Actor;
use verdict_model::Role;

/// Adds a staff user with one role; its token.
pub async fn add_user(core: &verdict_control::Core, name: &str, role: Role) -> String {
    let user = verdict_model::User {
        name: name.into(),
        roles: vec![role],
        tenant: None,
        scope: None,
        created_at: Default::default(),
        revoked_at: None,
    };
    core.add_user(&Actor::admin(), user).await.unwrap().1
}

/// A browser without redirects or a cookie jar: the test carries cookies.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of cookie `name` set by a response, if any.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
}

pub fn value_of(cookie: &str) -> &str {
    cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// The hidden `_csrf` of the first form of a page.
pub fn csrf_in(page: &str) -> String {
    page.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

pub struct SignedIn {
    pub session: String,
    pub csrf: String,
}

/// Signs in with `token` through the form, as a browser does.
pub async fn sign_in(base: &str, token: &str) -> Result<SignedIn, (StatusCode, String)> {
    let http = browser();
    let form = http.get(format!("{base}/console/sign-in?next=/console")).send().await.unwrap();
    let pre = value_of(&set_cookie(form.headers(), "verdict_sign_in").unwrap()).to_owned();
    let csrf = csrf_in(&form.text().await.unwrap());
    let response = http
        .post(format!("{base}/console/sign-in"))
        .header("cookie", format!("verdict_sign_in={pre}"))
        .form(&[("_csrf", csrf.as_str()), ("token", token), ("next", "/console")])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err((response.status(), response.text().await.unwrap()));
    }
    let cookie = set_cookie(response.headers(), "verdict_session").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Max-Age"), "ends with the browser or the session, whichever is first: {cookie}");
    assert_eq!(response.headers()["location"], "/console");
    let session = value_of(&cookie).to_owned();
    let home = http.get(format!("{base}/console")).header("cookie", format!("verdict_session={session}")).send().await;
    let csrf = csrf_in(&home.unwrap().text().await.unwrap());
    Ok(SignedIn { session, csrf })
}

/// Posts a console form with the session's cookie.
pub async fn post_form(base: &str, path: &str, session: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let response = browser()
        .post(format!("{base}{path}"))
        .header("cookie", format!("verdict_session={session}"))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

pub async fn page(base: &str, path: &str, session: &str) -> (StatusCode, String) {
    let response = browser()
        .get(format!("{base}{path}"))
        .header("cookie", format!("verdict_session={session}"))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

pub fn hidden(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\"")).nth(1).unwrap().split('"').next().unwrap().to_owned()
}
