//! The pages around a session: signing in with a token, and the home page
//! that says who is signed in and what their roles let them do.

use maud::{Markup, html};
use verdict_model::Role;

use crate::html::{Section, page, signed_in_page};

/// The person a console page is rendered for.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their user name.
    pub name: String,
    /// Their roles.
    pub roles: Vec<Role>,
    /// For a tenant's user, the tenant.
    pub tenant: Option<String>,
    /// The token every form of their session must carry.
    pub csrf: String,
}

impl Viewer {
    /// Their roles as text, `approver+reviewer`.
    pub fn roles_text(&self) -> String {
        verdict_model::roles_text(&self.roles)
    }
}

/// What a role may do in the console, in a sentence a person reads.
fn duties(role: Role) -> &'static str {
    match role {
        Role::Admin => "Manage users, clauses and the inventory, and read the whole record.",
        Role::Analyst => "Open cases, add evidence and findings, and draft orders with their blast radius.",
        Role::Approver => "Approve or reject orders others proposed, exactly as previewed, and lift orders in force.",
        Role::Reviewer => "Decide appeals: uphold, amend or lift, with reasons.",
        Role::Auditor => "Read everything — cases, orders, notices, appeals, the report — and change nothing.",
        Role::Tenant => "Read your notices and their statements of reasons, follow your orders, and appeal.",
        Role::Pep => "Replicate decisions to a gateway (no console pages).",
        Role::Meter => "Send usage metadata to detection (no console pages).",
    }
}

/// Where a role's work starts.
fn start(role: Role) -> Option<(&'static str, &'static str)> {
    match role {
        Role::Analyst | Role::Admin | Role::Auditor => Some(("/console/cases", "The case queue")),
        Role::Approver => Some(("/console/approvals", "Orders waiting for approval")),
        Role::Reviewer => Some(("/console/appeals", "The appeals")),
        Role::Tenant => Some(("/console/notices", "Your notices")),
        Role::Pep | Role::Meter => None,
    }
}

/// The sign-in form: a token field, the sign-in request's own CSRF value,
/// and where to go after; `error` is shown beside the field.
pub fn sign_in(csrf: &str, next: &str, error: Option<&str>) -> Markup {
    let body = html! {
        p class="lead" {
            "Sign in with your verdict token (an administrator gives it to you; "
            code { "verdict user add" } " prints it once). It is exchanged for a session and is not kept in this browser."
        }
        form class="card" method="post" action="/console/sign-in" {
            input type="hidden" name="_csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            div class=(if error.is_some() { "field invalid" } else { "field" }) {
                label for="token" { "Token" }
                @if let Some(error) = error {
                    input id="token" name="token" type="password" autocomplete="off" required
                        aria-invalid="true" aria-describedby="token-error" autofocus;
                    p id="token-error" class="error" role="alert" { (error) }
                } @else {
                    input id="token" name="token" type="password" autocomplete="off" required autofocus;
                }
            }
            button type="submit" { "Sign in" }
        }
        p { "Looking for what this provider did? The " a href="/transparency" { "transparency report" } " needs no sign-in." }
    };
    page("Sign in", Section::Console, body)
}

/// The home page: who is signed in, and what their roles let them do here.
pub fn home(viewer: &Viewer) -> Markup {
    let body = html! {
        p class="lead" {
            "Signed in as " strong { (viewer.name) }
            @if let Some(tenant) = &viewer.tenant { ", for tenant " strong { (tenant) } }
            "."
        }
        h2 { "What you can do" }
        ul class="duties" {
            @for role in &viewer.roles {
                li {
                    span class="role" { (role.as_str()) } " — " (duties(*role))
                    @if let Some((href, label)) = start(*role) { " " a href=(href) { (label) } }
                }
            }
        }
        p class="meta" {
            "Drafting orders, the report with its charts, the inventory and replicas come next in the console; until then "
            "the API does them (" code { "verdict --help" } ")."
        }
    };
    signed_in_page("Console", Section::Console, viewer, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_error_is_beside_its_field_and_escaped() {
        let page = sign_in("c<s>rf", "/console", Some("<b>no</b> such token")).into_string();
        assert!(page.contains("aria-describedby=\"token-error\""));
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt; such token"));
        assert!(page.contains("value=\"c&lt;s&gt;rf\""));
        assert!(!page.contains("<b>"));
    }

    #[test]
    fn home_lists_each_role_and_carries_the_csrf_token_in_sign_out() {
        let viewer = Viewer {
            name: "approver-a".into(),
            roles: vec![Role::Approver, Role::Reviewer],
            tenant: None,
            csrf: "abc".into(),
        };
        let page = home(&viewer).into_string();
        assert!(page.contains("Decide appeals") && page.contains("Approve or reject"));
        assert!(page.contains("name=\"_csrf\" value=\"abc\""));
        assert!(page.contains("approver+reviewer"));
    }
}
