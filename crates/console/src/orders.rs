//! The approver's pages: the queue of orders waiting for approval, and an
//! order with its blast-radius preview, its guards and the approvals so
//! far, where an approver approves exactly the preview on screen or
//! rejects with a reason.

use maud::{Markup, html};
use verdict_control::Preview;
use verdict_model::{Guard, Order};

use crate::Viewer;
use crate::cases::Refusal;
use crate::html::{Section, signed_in_page};
use crate::public::when;

/// Affected subscriptions listed on an order's page; the rest are counted.
const SHOWN: usize = 200;

fn phase_badge(mode: &str) -> Markup {
    html! { span class=(format!("phase phase-{mode}")) { (mode.replace('_', " ")) } }
}

/// An order's phases on a line: those past, the one in force now
/// (marked, and named for screen readers), those to come.
pub fn phase_timeline(order: &Order, now: verdict_model::Timestamp) -> Markup {
    let current = order.phase_at(now).map(|p| p.start);
    html! {
        ol class="timeline-phases" {
            @for p in &order.spec.phases {
                @let state = match current {
                    Some(c) if c == p.start => "current",
                    _ if p.start <= now && order.is_effective() => "past",
                    _ => "next",
                };
                li class=(format!("phase-step {state}")) {
                    (phase_badge(p.mode.as_str()))
                    " " time datetime=(p.start) { (when(&p.start.to_string())) }
                    @if state == "current" { " " strong { "(now)" } }
                }
            }
            @if let Some(end) = order.spec.end { li class="phase-step end" { "ends " time datetime=(end) { (when(&end.to_string())) } } }
        }
    }
}

/// Phase modes as a timeline runs them (notice, export only, disabled),
/// not alphabetically as the preview's maps hold them.
fn in_timeline_order<'a, V>(entries: impl Iterator<Item = (&'a String, V)>) -> Vec<(&'a String, V)> {
    let rank = |mode: &str| ["notice", "export_only", "disabled"].iter().position(|m| *m == mode).unwrap_or(3);
    let mut entries: Vec<_> = entries.collect();
    entries.sort_by_key(|(mode, _)| rank(mode));
    entries
}

/// Orders waiting for approval.
pub fn approvals(viewer: &Viewer, orders: &[Order]) -> Markup {
    let body = html! {
        @if orders.is_empty() {
            p class="empty" { "Nothing waits for approval. Orders an analyst proposes from a case appear here." }
        } @else {
            table class="orders" {
                caption { (orders.len()) " orders waiting" }
                thead { tr { th scope="col" { "Order" } th scope="col" { "Tenant" } th scope="col" { "Clause" }
                    th scope="col" { "Proposed by" } th scope="col" class="num" { "Approvals" } } }
                tbody {
                    @for o in orders {
                        tr {
                            td { a href=(format!("/console/orders/{}", o.id)) { (o.spec.title) } br; code { (o.id) } }
                            td { (o.spec.tenant) }
                            td { (o.spec.clause) }
                            td { (o.lifecycle.proposed_by.as_deref().unwrap_or("—")) }
                            td class="num" { (o.lifecycle.approvals.len()) " of " (o.lifecycle.approvals_required) }
                        }
                    }
                }
            }
        }
    };
    signed_in_page("Waiting for approval", Section::Approvals, viewer, body)
}

/// What an approver reviews on a proposed order's page.
#[derive(Debug, Clone, Copy)]
pub struct Review<'a> {
    /// Its blast radius now.
    pub preview: &'a Preview,
    /// The guards it breaks.
    pub broken: &'a [Guard],
}

/// What the order page may offer its viewer.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderActions {
    /// Approve or reject (an approver, on a proposed order).
    pub decide: bool,
}

/// One order: what it restricts and when, its status and approvals, its
/// preview (for a proposed order), and the approver's forms; `refusal`
/// appears beside the Approve button.
pub fn order(
    viewer: &Viewer,
    order: &Order,
    status: &str,
    now: verdict_model::Timestamp,
    review: Option<Review<'_>>,
    may: OrderActions,
    refusal: Option<&Refusal>,
) -> Markup {
    let spec = &order.spec;
    let preview = review.as_ref().map(|r| r.preview);
    let broken = review.as_ref().map_or(&[][..], |r| r.broken);
    let body = html! {
        dl class="facts" {
            dt { "Order" } dd { code { (order.id) } }
            dt { "Status" } dd { span class=(format!("status status-{status}")) { (status.replace('_', " ")) } }
            dt { "Tenant" } dd { (spec.tenant) }
            dt { "Clause" } dd { (spec.clause) }
            @if let Some(case) = &spec.case_id { dt { "Case" } dd { a href=(format!("/console/cases/{case}")) { (case) } } }
            dt { "Scope" } dd {
                @for u in &spec.scope.units { code { (u.as_str()) } " (and every unit below) " }
                @for s in &spec.scope.subscriptions { code { (s) } " " }
            }
            dt { "Services" } dd { @for s in &spec.services { code { (s.to_string()) } " " } }
            dt { "Exempt" } dd { @if spec.exempt.is_empty() { "none" } @for s in &spec.exempt { code { (s.to_string()) } " " } }
            dt { "End" } dd { (spec.end.map(|e| when(&e.to_string())).unwrap_or_else(|| "until lifted".into())) }
            dt { "Proposed by" } dd { (order.lifecycle.proposed_by.as_deref().unwrap_or("loaded directly")) }
        }
        h2 { "Phases" }
        (phase_timeline(order, now))
        h2 { "Approvals" }
        p { (order.lifecycle.approvals.len()) " of " (order.lifecycle.approvals_required) " required." }
        @if !order.lifecycle.approvals.is_empty() {
            ul {
                @for a in &order.lifecycle.approvals {
                    li { strong { (a.by) } ", " (when(&a.at.to_string()))
                        @if let Some(h) = &a.preview_hash { ", having seen " code class="hash" { (h) } } }
                }
            }
        }
        @if let Some(r) = &order.lifecycle.rejection {
            p class="error" { "Rejected by " (r.by) ": " (r.reason) }
        }
        @if preview.is_some() {
            h2 { "Guards" }
            @if broken.is_empty() {
                p class="ok" { "The order breaks no guard." }
            } @else {
                p class="error" { "The order restricts what these guards protect; approving it overrides each, with a reason the notice shows and the report counts:" }
                ul class="broken-guards" { @for g in broken { li { code { (g.id) } " — " (g.description) } } }
            }
        }
        @for a in order.lifecycle.approvals.iter().filter(|a| !a.overrides.is_empty()) {
            p { (a.by) " overrode " @for o in &a.overrides { code { (o.guard) } ": " (o.reason) " " } }
        }
        @if let Some(preview) = preview { (preview_section(preview)) }
        @if may.decide {
            @if let Some(preview) = preview {
                section class="decide" aria-labelledby="decide" {
                    h2 id="decide" { "Decide" }
                    form class="card" method="post" action=(format!("/console/orders/{}/approve", order.id)) {
                        input type="hidden" name="_csrf" value=(viewer.csrf);
                        input type="hidden" name="preview_hash" value=(preview.hash);
                        @for g in broken {
                            div class="field" {
                                label for=(format!("override-{}", g.id)) { "Why override guard " code { (g.id) } }
                                textarea id=(format!("override-{}", g.id)) name=(format!("override.{}", g.id)) rows="2" {}
                            }
                        }
                        p { "You approve exactly the preview above (" code class="hash" { (preview.hash) } "). If the inventory changed since it was drawn, the approval is refused and the page shows the new one." }
                        @if let Some(r) = refusal {
                            p id="approve-error" class="error" role="alert" { (r.message) " (" code { (r.code) } ")" }
                            button type="submit" aria-describedby="approve-error" { "Approve" }
                        } @else {
                            button type="submit" { "Approve" }
                        }
                    }
                    form class="card" method="post" action=(format!("/console/orders/{}/reject", order.id)) {
                        input type="hidden" name="_csrf" value=(viewer.csrf);
                        div class="field" {
                            label for="reject-reason" { "Reason for rejecting" }
                            textarea id="reject-reason" name="reason" rows="3" required {}
                        }
                        button type="submit" class="secondary" { "Reject" }
                    }
                }
            }
        }
    };
    // A proposal waits among the approvals; any other order is in operation.
    let section = if status == "proposed" { Section::Approvals } else { Section::Operations };
    signed_in_page(&spec.title, section, viewer, body)
}

/// The blast radius: per phase how many subscriptions lose something, the
/// affected ones by unit with what each phase denies per service, what
/// stays untouched and what an exemption spares.
pub(crate) fn preview_section(preview: &Preview) -> Markup {
    let s = &preview.summary;
    html! {
        section aria-labelledby="preview" {
            h2 id="preview" { "Blast radius" }
            p {
                strong { (s.affected_subscriptions) } " of the tenant's subscriptions are restricted; "
                strong { (s.untouched_subscriptions) } " are untouched."
            }
            @if !s.by_phase.is_empty() {
                ul class="by-phase" {
                    @for (mode, n) in in_timeline_order(s.by_phase.iter()) { li { (phase_badge(mode)) ": " (n) " subscriptions lose something" } }
                }
            }
            @if !preview.exempted.is_empty() {
                p { "Spared by an exemption: " @for e in &preview.exempted { code { (e) } " " } }
            }
            table class="preview" {
                caption { "Restricted subscriptions, by unit" }
                thead { tr { th scope="col" { "Unit" } th scope="col" { "Subscription" } th scope="col" { "Service: denied per phase" } } }
                tbody {
                    @for a in preview.affected.iter().take(SHOWN) {
                        tr {
                            td { code { (a.unit) } }
                            td { code { (a.subscription) } }
                            td {
                                @for (service, phases) in a.services.iter() {
                                    div class="service-denials" { code { (service) }
                                        ul class="denials" {
                                            @for (mode, classes) in in_timeline_order(phases.iter()) {
                                                li { (phase_badge(mode)) ": "
                                                    @if classes.is_empty() { "nothing" } @else {
                                                        (classes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if preview.affected.len() > SHOWN {
                p class="meta" { "…and " (preview.affected.len() - SHOWN) " more (the API's preview lists them all)." }
            }
            details {
                summary { "Untouched subscriptions (" (preview.untouched.len()) ")" }
                ul class="untouched" {
                    @for u in preview.untouched.iter().take(SHOWN) { li { code { (u.subscription) } " in " code { (u.unit) } } }
                }
            }
        }
    }
}
