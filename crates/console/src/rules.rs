//! Detection rules in the console: the list of versions, a version with its
//! text, approvals and what it fired on (approve, retire), and drafting a
//! rule with a backtest over stored usage before publishing it.

use maud::{Markup, html};
use verdict_control::BacktestHit;
use verdict_model::{DetectionRule, RuleState};

use crate::Viewer;
use crate::cases::Refusal;
use crate::html::{Section, signed_in_page};
use crate::public::when;

fn state_badge(state: RuleState) -> Markup {
    html! { span class=(format!("status rule-{}", state.as_str())) { (state.as_str()) } }
}

fn error(refusal: Option<&Refusal>, id: &str) -> Option<Markup> {
    refusal.map(|r| html! { p id=(id) class="error" role="alert" { (r.message) " (" code { (r.code) } ")" } })
}

/// Every version of every rule.
pub fn list(viewer: &Viewer, rules: &[DetectionRule]) -> Markup {
    let body = html! {
        p class="lead" {
            "Rules watch usage metadata — numbers about resources, never content — and open cases; people decide. "
            "Each version's text is in the transparency log before it runs."
        }
        @if viewer.roles.contains(&verdict_model::Role::Analyst) {
            p { a class="button" href="/console/rules/new" { "Draft a rule" } }
        }
        @if rules.is_empty() {
            p class="empty" { "No rule is published. An analyst drafts one, backtests it over stored usage and publishes it in shadow." }
        } @else {
            table class="rules" {
                thead { tr { th scope="col" { "Rule" } th scope="col" class="num" { "Version" } th scope="col" { "State" }
                    th scope="col" { "Clause" } th scope="col" { "Author" } th scope="col" class="num" { "Approvals" } } }
                tbody {
                    @for r in rules.iter().rev() {
                        tr {
                            td { a href=(format!("/console/rules/{}/{}", r.spec.id, r.version)) { (r.spec.title) } br; code { (r.spec.id) } }
                            td class="num" { (r.version) }
                            td { (state_badge(r.state)) }
                            td { (r.spec.clause) }
                            td { (r.author) }
                            td class="num" { (r.approvals.len()) " of " (r.approvals_required) }
                        }
                    }
                }
            }
        }
    };
    signed_in_page("Detection rules", Section::Rules, viewer, body)
}

/// One hit of a version, as the page lists it.
#[derive(Debug, Clone)]
pub struct HitRow {
    /// The tenant.
    pub tenant: String,
    /// The unit or subscription.
    pub target: String,
    /// The hour (RFC 3339).
    pub at: String,
    /// The figures, `reading = value`.
    pub figures: Vec<(String, f64)>,
    /// The case it opened or joined.
    pub case: Option<String>,
}

/// What the version page may offer.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleActions {
    /// Approve its activation (an approver, not its author, on a shadow version).
    pub approve: bool,
    /// Retire it (approvers and admins, unless retired).
    pub retire: bool,
}

/// A human figure: `26.3 M`, `4.50`.
pub(crate) fn figure(value: f64) -> String {
    let abs = value.abs();
    match abs {
        a if a >= 1e12 => format!("{:.1} T", value / 1e12),
        a if a >= 1e9 => format!("{:.1} G", value / 1e9),
        a if a >= 1e6 => format!("{:.1} M", value / 1e6),
        a if a >= 1e4 => format!("{:.1} k", value / 1e3),
        _ => format!("{value:.2}"),
    }
}

/// One version: its text, state, approvals, hits, and the forms.
pub fn rule(
    viewer: &Viewer,
    r: &DetectionRule,
    hits: &[HitRow],
    may: RuleActions,
    refusal: Option<&Refusal>,
) -> Markup {
    let body = html! {
        dl class="facts" {
            dt { "Rule" } dd { code { (r.spec.id) } " version " (r.version) }
            dt { "State" } dd { (state_badge(r.state)) }
            dt { "Clause" } dd { (r.spec.clause) }
            dt { "Evaluated on" } dd { (match r.spec.target { verdict_model::RuleTarget::Unit => "each unit, with the units below it", verdict_model::RuleTarget::Subscription => "each subscription" }) }
            dt { "Published" } dd { (r.author) ", " (when(&r.published_at.to_string()))
                @if let Some(i) = r.log_index { " — " a href=(format!("/transparency/log/{i}")) { "log entry " (i) } } }
            dt { "Approvals" } dd { (r.approvals.len()) " of " (r.approvals_required)
                @for a in &r.approvals { " · " (a.by) } }
        }
        h2 { "Text" }
        pre class="entry" tabindex="0" aria-label="The rule's text" { code { (r.spec.text) } }
        @if may.approve || may.retire {
            section class="decide" aria-labelledby="decide" {
                h2 id="decide" { "Decide" }
                @if let Some(e) = error(refusal, "rule-error") { (e) }
                @if may.approve {
                    form class="card" method="post" action=(format!("/console/rules/{}/{}/approve", r.spec.id, r.version)) {
                        input type="hidden" name="_csrf" value=(viewer.csrf);
                        p { "Activating lets it open cases. Two approvers other than its author are needed." }
                        button type="submit" { "Approve activation" }
                    }
                }
                @if may.retire {
                    form class="card" method="post" action=(format!("/console/rules/{}/{}/retire", r.spec.id, r.version)) {
                        input type="hidden" name="_csrf" value=(viewer.csrf);
                        div class="field" {
                            label for="retire-reason" { "Why retire it" }
                            textarea id="retire-reason" name="reason" rows="2" required {}
                        }
                        button type="submit" class="secondary" { "Retire" }
                    }
                }
            }
        }
        h2 { "What it fired on" }
        @if hits.is_empty() {
            p class="empty" { "Nothing yet. It is evaluated as each hour closes." }
        } @else {
            (hit_table(hits))
        }
    };
    signed_in_page(&r.spec.title, Section::Rules, viewer, body)
}

fn hit_table(hits: &[HitRow]) -> Markup {
    html! {
        table class="hits" {
            thead { tr { th scope="col" { "Hour" } th scope="col" { "Tenant" } th scope="col" { "Unit or subscription" }
                th scope="col" { "Figures" } th scope="col" { "Case" } } }
            tbody {
                @for h in hits {
                    tr {
                        td class="when" { (when(&h.at)) }
                        td { (h.tenant) }
                        td { code { (h.target) } }
                        td { @for (name, v) in &h.figures { div { code { (name) } " = " (figure(*v)) } } }
                        td { @if let Some(c) = &h.case { a href=(format!("/console/cases/{c}")) { (c) } } @else { "— (shadow)" } }
                    }
                }
            }
        }
    }
}

/// The draft form's values.
#[derive(Debug, Clone, Default)]
pub struct RuleDraft {
    /// Rule id.
    pub id: String,
    /// Clause.
    pub clause: String,
    /// Title.
    pub title: String,
    /// CEL text.
    pub text: String,
    /// `unit` or `subscription`.
    pub target: String,
    /// Backtest: days back from now.
    pub days: String,
}

/// Drafting a rule: the form, a backtest's hits (if one ran), and a
/// refusal beside the form.
pub fn draft(
    viewer: &Viewer,
    values: &RuleDraft,
    clauses: &[(String, String)],
    backtest: Option<&[BacktestHit]>,
    refusal: Option<&Refusal>,
) -> Markup {
    let body = html! {
        p class="lead" {
            "A rule reads figures through " code { "sum" } ", " code { "rate" } " and " code { "growth" } " — e.g. "
            code { "sum(\"ai.speech-to-text\", \"audio_seconds\", \"1d\") > 3.6e6" } " — and "
            code { "tenant_kind" } ", " code { "unit" } ", " code { "regions" } ". Backtest it, then publish it: it runs in shadow until two approvers activate it."
        }
        form class="card wide" method="post" action="/console/rules" {
            input type="hidden" name="_csrf" value=(viewer.csrf);
            @if let Some(e) = error(refusal, "draft-error") { (e) }
            div class="field" { label for="rule-id" { "Rule id" } input id="rule-id" name="id" required value=(values.id); }
            div class="field" { label for="rule-title" { "Title" } input id="rule-title" name="title" required value=(values.title); }
            div class="field" {
                label for="rule-clause" { "Clause" }
                select id="rule-clause" name="clause" {
                    @for (id, title) in clauses {
                        @if *id == values.clause { option value=(id) selected { (id) " — " (title) } }
                        @else { option value=(id) { (id) " — " (title) } }
                    }
                }
            }
            div class="field" {
                label for="rule-text" { "Text (CEL)" }
                textarea id="rule-text" name="text" rows="4" required aria-describedby=[refusal.map(|_| "draft-error")] { (values.text) }
            }
            div class="field" {
                label for="rule-target" { "Evaluated on" }
                select id="rule-target" name="target" {
                    @for (v, label) in [("unit", "each unit, with the units below it"), ("subscription", "each subscription")] {
                        @if values.target == v { option value=(v) selected { (label) } } @else { option value=(v) { (label) } }
                    }
                }
            }
            div class="field" { label for="rule-days" { "Backtest over the last … days (up to 30)" } input id="rule-days" name="days" inputmode="numeric" value=(values.days); }
            div class="actions" {
                button type="submit" class="secondary" formaction="/console/rules/new" { "Backtest" }
                button type="submit" { "Publish in shadow" }
            }
        }
        @if let Some(hits) = backtest {
            section aria-labelledby="backtest" {
                h2 id="backtest" { "Backtest" }
                @if hits.is_empty() {
                    p class="ok" { "It would have fired on nothing in that period." }
                } @else {
                    table class="hits" {
                        thead { tr { th scope="col" { "Tenant" } th scope="col" { "Unit or subscription" } th scope="col" { "First" }
                            th scope="col" class="num" { "Hours" } th scope="col" { "Figures at first" } } }
                        tbody {
                            @for h in hits {
                                tr {
                                    td { (h.tenant) }
                                    td { code { (h.target) } }
                                    td class="when" { (when(&h.first.to_string())) }
                                    td class="num" { (h.hours) }
                                    td { @for (name, v) in &h.figures { div { code { (name) } " = " (figure(*v)) } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    signed_in_page("Draft a detection rule", Section::Rules, viewer, body)
}
