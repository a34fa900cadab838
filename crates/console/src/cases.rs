//! The analyst's pages: the case queue, a case with its evidence, findings,
//! comments and timeline, and the forms that open a case and add to it.

use maud::{Markup, html};
use serde_json::Value;
use verdict_model::{Case, CaseEvent};

use crate::Viewer;
use crate::html::{Section, signed_in_page};

/// A form's refusal, shown beside what it concerns.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The stable code (`customer-content-refused`, `invalid-evidence`, …).
    pub code: String,
    /// The sentence, as the API says it.
    pub message: String,
}

/// The queue's filters, as the address carries them.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `open`, `under_review`, `decided`, `closed`.
    pub status: Option<String>,
    /// A tenant id.
    pub tenant: Option<String>,
    /// A user name.
    pub assignee: Option<String>,
    /// A source type.
    pub source: Option<String>,
}

impl Filter {
    fn query(&self, page: usize) -> String {
        let mut parts = Vec::new();
        for (name, value) in
            [("status", &self.status), ("tenant", &self.tenant), ("assignee", &self.assignee), ("source", &self.source)]
        {
            if let Some(v) = value {
                parts.push(format!("{name}={}", encode(v)));
            }
        }
        parts.push(format!("page={page}"));
        format!("/console/cases?{}", parts.join("&"))
    }
}

pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const STATUSES: [&str; 4] = ["open", "under_review", "decided", "closed"];
const SOURCES: [&str; 4] = ["third_party_report", "internal_signal", "complaint", "legal_order"];

fn select(name: &str, label: &str, options: &[&str], chosen: Option<&str>) -> Markup {
    html! {
        div class="field" {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                option value="" { "Any" }
                @for o in options {
                    @if chosen == Some(*o) { option value=(o) selected { (o.replace('_', " ")) } }
                    @else { option value=(o) { (o.replace('_', " ")) } }
                }
            }
        }
    }
}

fn status_badge(status: &str) -> Markup {
    html! { span class=(format!("status status-{status}")) { (status.replace('_', " ")) } }
}

/// One page of the queue (`cases`, of `total` matching), newest first.
pub fn queue(viewer: &Viewer, cases: &[Case], filter: &Filter, page: usize, total: usize, per_page: usize) -> Markup {
    let pages = total.div_ceil(per_page).max(1);
    let body = html! {
        form class="filters" method="get" action="/console/cases" {
            (select("status", "Status", &STATUSES, filter.status.as_deref()))
            div class="field" {
                label for="tenant" { "Tenant" }
                input id="tenant" name="tenant" value=(filter.tenant.as_deref().unwrap_or(""));
            }
            div class="field" {
                label for="assignee" { "Assignee" }
                input id="assignee" name="assignee" value=(filter.assignee.as_deref().unwrap_or(""));
            }
            (select("source", "Source", &SOURCES, filter.source.as_deref()))
            button type="submit" { "Filter" }
        }
        @if viewer.roles.contains(&verdict_model::Role::Analyst) {
            p { a class="button" href="/console/cases/new" { "Open a case" } }
        }
        @if cases.is_empty() {
            p class="empty" {
                @if total == 0 && filter.status.is_none() && filter.tenant.is_none() && filter.assignee.is_none() && filter.source.is_none() {
                    "No cases yet. An analyst opens one from a report, a complaint, a legal order or the provider's own signals."
                } @else {
                    "No case matches these filters; clear one to see more."
                }
            }
        } @else {
            table class="cases" {
                caption { (total) " cases, newest activity first" }
                thead { tr { th scope="col" { "Case" } th scope="col" { "Tenant" } th scope="col" { "Status" }
                    th scope="col" { "Source" } th scope="col" { "Assignee" } th scope="col" { "Updated" } } }
                tbody {
                    @for case in cases {
                        tr {
                            td { a href=(format!("/console/cases/{}", case.id)) { (case.spec.title) } br; code { (case.id) } }
                            td { (case.spec.tenant) }
                            td { (status_badge(case.status.as_str())) }
                            td { (case.spec.source_type.as_str().replace('_', " ")) }
                            td { (case.assignee.as_deref().unwrap_or("—")) }
                            td class="when" { (crate::public::when(&case.updated_at.to_string())) }
                        }
                    }
                }
            }
            nav class="pages" aria-label="Pages of the queue" {
                @if page > 1 { a href=(filter.query(page - 1)) rel="prev" { "← Newer" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a href=(filter.query(page + 1)) rel="next" { "Older →" } }
            }
        }
    };
    signed_in_page("Cases", Section::Cases, viewer, body)
}

/// What the case page may offer its viewer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaseActions {
    /// Add evidence (analysts).
    pub add_evidence: bool,
    /// Comment (staff who write).
    pub comment: bool,
    /// Draft an order from the case (analysts and approvers).
    pub draft_order: bool,
    /// Assign it and move it along its lifecycle (analysts and admins).
    pub manage: bool,
}

/// Which form a refusal belongs to, and the values to show again.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// `evidence` or `comment`.
    pub form: String,
    /// The refusal.
    pub refusal: Option<Refusal>,
    /// The fields as posted.
    pub values: std::collections::BTreeMap<String, String>,
}

fn field_error(attempt: Option<&Attempt>, form: &str, id: &str) -> Option<Markup> {
    let refusal = attempt.filter(|a| a.form == form)?.refusal.as_ref()?;
    Some(html! { p id=(id) class="error" role="alert" { (refusal.message) " (" code { (refusal.code) } ")" } })
}

fn value<'a>(attempt: Option<&'a Attempt>, form: &str, name: &str) -> &'a str {
    attempt.filter(|a| a.form == form).and_then(|a| a.values.get(name)).map_or("", String::as_str)
}

/// One case: what it is about, its evidence (documents by address and
/// SHA-256, findings as tables of figures, notes), comments and timeline,
/// and the forms the viewer may use.
pub fn case(
    viewer: &Viewer,
    case: &Case,
    timeline: &[CaseEvent],
    may: CaseActions,
    analysts: &[String],
    attempt: Option<&Attempt>,
) -> Markup {
    let evidence: Vec<&CaseEvent> = timeline.iter().filter(|e| e.kind == "evidence").collect();
    let comments: Vec<&CaseEvent> = timeline.iter().filter(|e| e.kind == "comment").collect();
    let body = html! {
        dl class="facts" {
            dt { "Case" } dd { code { (case.id) } }
            dt { "Status" } dd { (status_badge(case.status.as_str())) }
            dt { "Tenant" } dd { (case.spec.tenant) }
            dt { "Units" } dd { @for (i, u) in case.spec.units.iter().enumerate() { @if i > 0 { ", " } code { (u.as_str()) } } }
            dt { "Clauses" } dd { (case.spec.clauses.join(", ")) }
            dt { "Source" } dd { (case.spec.source_type.as_str().replace('_', " ")) }
            dt { "Assignee" } dd { (case.assignee.as_deref().unwrap_or("nobody yet")) }
            dt { "Opened" } dd { (case.opened_by) ", " (crate::public::when(&case.opened_at.to_string())) }
        }
        @if may.draft_order {
            p { a class="button" href=(format!("/console/cases/{}/draft", case.id)) { "Draft an order" } }
        }
        @if may.manage { (manage_forms(case, viewer, analysts, attempt)) }
        @if case.spec.source_type == verdict_model::SourceType::InternalSignal { (signal_charts(&evidence)) }
        h2 { "Evidence" }
        @if evidence.is_empty() {
            p class="empty" { "No evidence yet. Add outside documents by address and hash, findings from usage metadata, or notes — never customer content." }
        }
        @for e in &evidence { (evidence_item(e)) }
        @if may.add_evidence { (evidence_form(case, viewer, attempt)) }
        h2 { "Comments" }
        @if comments.is_empty() { p class="empty" { "No comments yet." } }
        @for c in &comments {
            article class="comment" {
                p class="meta" { strong { (c.actor) } " · " (crate::public::when(&c.at.to_string())) }
                p { (c.body.get("text").and_then(Value::as_str).unwrap_or("")) }
            }
        }
        @if may.comment {
            form class="card" method="post" action=(format!("/console/cases/{}/comments", case.id)) {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                div class="field" {
                    label for="comment-text" { "Comment" }
                    textarea id="comment-text" name="text" rows="3" required { (value(attempt, "comment", "text")) }
                    @if let Some(error) = field_error(attempt, "comment", "comment-error") { (error) }
                }
                button type="submit" { "Add comment" }
            }
        }
        h2 { "Timeline" }
        ol class="timeline" {
            @for e in timeline {
                li { span class="when" { (crate::public::when(&e.at.to_string())) } " " strong { (e.actor) } " " (describe(e)) }
            }
        }
    };
    signed_in_page(&case.spec.title, Section::Cases, viewer, body)
}

/// Assignment and the lifecycle's next steps (only those the case may take).
fn manage_forms(case: &Case, viewer: &Viewer, analysts: &[String], attempt: Option<&Attempt>) -> Markup {
    use verdict_model::CaseStatus::*;
    let next: Vec<_> =
        [Open, UnderReview, Decided, Closed].into_iter().filter(|s| case.status.can_become(*s)).collect();
    html! {
        div class="manage" {
            form class="card" method="post" action=(format!("/console/cases/{}/assign", case.id)) {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                div class="field" {
                    label for="assign-user" { "Assign to" }
                    select id="assign-user" name="user" {
                        @for a in analysts {
                            @if case.assignee.as_deref() == Some(a.as_str()) { option value=(a) selected { (a) } }
                            @else { option value=(a) { (a) } }
                        }
                    }
                    @if let Some(error) = field_error(attempt, "assign", "assign-error") { (error) }
                }
                button type="submit" { "Assign" }
            }
            @if !next.is_empty() {
                form class="card" method="post" action=(format!("/console/cases/{}/status", case.id)) {
                    input type="hidden" name="_csrf" value=(viewer.csrf);
                    div class="field" {
                        label for="status-reason" { "Why (recorded in the timeline)" }
                        textarea id="status-reason" name="reason" rows="2" { (value(attempt, "status", "reason")) }
                        @if let Some(error) = field_error(attempt, "status", "status-error") { (error) }
                    }
                    div class="actions" {
                        @for s in &next {
                            button type="submit" name="status" value=(s.as_str()) {
                                @if *s == Open { "Reopen" } @else { "Mark " (s.as_str().replace('_', " ")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// For a case a detection rule opened: each figure its findings carry,
/// over the hours they were recorded.
fn signal_charts(evidence: &[&CaseEvent]) -> Markup {
    let mut series: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>> = Default::default();
    for e in evidence.iter().filter(|e| e.body.get("kind").and_then(Value::as_str) == Some("metadata_finding")) {
        for (name, v) in e.body.get("figures").and_then(Value::as_object).into_iter().flatten() {
            if let Some(v) = v.as_f64() {
                series.entry(name.clone()).or_default().entry(crate::public::when(&e.at.to_string())).or_insert(v);
            }
        }
    }
    html! {
        @if !series.is_empty() {
            section aria-labelledby="signal" {
                h2 id="signal" { "The figures that fired" }
                div class="charts" {
                    @for (name, points) in &series {
                        (crate::charts::columns(name, &points.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>()))
                    }
                }
            }
        }
    }
}

fn describe(event: &CaseEvent) -> String {
    let field = |name: &str| event.body.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
    match event.kind.as_str() {
        "opened" => "opened the case".into(),
        "evidence" => format!("added evidence ({})", field("kind").replace('_', " ")),
        "comment" => "commented".into(),
        "assigned" => format!("assigned it to {}", field("assignee")),
        "status" => match field("reason") {
            reason if reason.is_empty() => format!("set its status to {}", field("to").replace('_', " ")),
            reason => format!("set its status to {}: {reason}", field("to").replace('_', " ")),
        },
        other => other.replace('_', " "),
    }
}

fn evidence_item(event: &CaseEvent) -> Markup {
    let b = &event.body;
    let text = |name: &str| b.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
    let meta = html! { p class="meta" { strong { (event.actor) } " · " (crate::public::when(&event.at.to_string())) } };
    match b.get("kind").and_then(Value::as_str) {
        Some("external_document") => html! {
            article class="evidence" {
                h3 { "Document" }
                (meta)
                dl class="facts" {
                    dt { "Address" } dd { a href=(text("address")) rel="noopener noreferrer nofollow" { (text("address")) } }
                    dt { "SHA-256" } dd { code class="hash" { (text("sha256")) } }
                    dt { "Summary" } dd { (text("summary")) }
                }
            }
        },
        Some("metadata_finding") => html! {
            article class="evidence" {
                h3 { "Metadata finding" }
                (meta)
                p { (text("summary")) }
                table class="figures" {
                    thead { tr { th scope="col" { "Figure" } th scope="col" class="num" { "Value" } } }
                    tbody {
                        @for (name, v) in b.get("figures").and_then(Value::as_object).into_iter().flatten() {
                            tr { td { (name) } td class="num" { (v.to_string()) } }
                        }
                    }
                }
                p class="meta" { "Method: " (text("method")) }
            }
        },
        _ => html! {
            article class="evidence" { h3 { "Note" } (meta) p { (text("text")) } }
        },
    }
}

fn evidence_form(case: &Case, viewer: &Viewer, attempt: Option<&Attempt>) -> Markup {
    let v = |name: &str| value(attempt, "evidence", name);
    let kind = if v("kind").is_empty() { "external_document" } else { v("kind") };
    html! {
        form class="card wide" method="post" action=(format!("/console/cases/{}/evidence", case.id)) {
            h3 { "Add evidence" }
            input type="hidden" name="_csrf" value=(viewer.csrf);
            @if let Some(error) = field_error(attempt, "evidence", "evidence-error") { (error) }
            fieldset {
                legend { "Kind" }
                @for (value, label) in [("external_document", "An outside document"), ("metadata_finding", "A finding from usage metadata"), ("note", "A note")] {
                    label class="choice" {
                        @if kind == value { input type="radio" name="kind" value=(value) checked; } @else { input type="radio" name="kind" value=(value); }
                        " " (label)
                    }
                }
            }
            div class="field" { label for="ev-address" { "Address (outside documents)" } input id="ev-address" name="address" type="url" value=(v("address")); }
            div class="field" { label for="ev-sha256" { "SHA-256 of the document" } input id="ev-sha256" name="sha256" value=(v("sha256")) pattern="[0-9a-f]{64}"; }
            div class="field" { label for="ev-summary" { "Summary (documents and findings)" } textarea id="ev-summary" name="summary" rows="3" { (v("summary")) } }
            fieldset {
                legend { "Figures (findings): numbers about the customer's resources" }
                @for i in 0..3 {
                    div class="pair" {
                        label for=(format!("ev-figure-{i}")) { "Name" }
                        input id=(format!("ev-figure-{i}")) name=(format!("figure_name_{i}")) value=(v(&format!("figure_name_{i}")));
                        label for=(format!("ev-value-{i}")) { "Value" }
                        input id=(format!("ev-value-{i}")) name=(format!("figure_value_{i}")) inputmode="decimal" value=(v(&format!("figure_value_{i}")));
                    }
                }
            }
            div class="field" { label for="ev-method" { "Method (findings): query, system, period" } input id="ev-method" name="method" value=(v("method")); }
            div class="field" { label for="ev-text" { "Note" } textarea id="ev-text" name="text" rows="3" { (v("text")) } }
            button type="submit" { "Add evidence" }
        }
    }
}

/// The values of the new-case form.
#[derive(Debug, Clone, Default)]
pub struct NewCase {
    /// Tenant id.
    pub tenant: String,
    /// Title.
    pub title: String,
    /// Source type.
    pub source: String,
    /// Unit paths, one per line.
    pub units: String,
    /// Clause ids, comma-separated.
    pub clauses: String,
}

/// The form that opens a case; `refusal` shown above the fields.
pub fn new_case(viewer: &Viewer, values: &NewCase, clauses: &[(String, String)], refusal: Option<&Refusal>) -> Markup {
    let body = html! {
        form class="card wide" method="post" action="/console/cases" {
            input type="hidden" name="_csrf" value=(viewer.csrf);
            @if let Some(r) = refusal { p id="case-error" class="error" role="alert" { (r.message) " (" code { (r.code) } ")" } }
            div class="field" { label for="nc-title" { "Title" } input id="nc-title" name="title" required value=(values.title); }
            div class="field" { label for="nc-tenant" { "Tenant id" } input id="nc-tenant" name="tenant" required value=(values.tenant); }
            div class="field" {
                label for="nc-units" { "Units concerned, one path per line" }
                textarea id="nc-units" name="units" rows="3" required { (values.units) }
            }
            div class="field" {
                label for="nc-clauses" { "Clauses, comma-separated" }
                input id="nc-clauses" name="clauses" required value=(values.clauses) aria-describedby="nc-clauses-help";
                p id="nc-clauses-help" class="meta" {
                    @if clauses.is_empty() { "No clause is published yet; an administrator publishes the terms first." }
                    @else { "Published: " @for (i, (id, title)) in clauses.iter().enumerate() { @if i > 0 { "; " } code { (id) } " " (title) } }
                }
            }
            (select("source", "Source", &SOURCES, Some(values.source.as_str()).filter(|s| !s.is_empty())))
            button type="submit" { "Open the case" }
        }
    };
    signed_in_page("Open a case", Section::Cases, viewer, body)
}
