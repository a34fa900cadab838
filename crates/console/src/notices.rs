//! A tenant's pages and the reviewer's: notices as readable statements of
//! reasons with their receipts, filing an appeal, and deciding one beside
//! its order and notice.

use maud::{Markup, html};
use verdict_model::{Appeal, Notice, Order};

use crate::Viewer;
use crate::cases::Refusal;
use crate::html::{Section, signed_in_page};
use crate::public::when;

fn list_of<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// Notices, newest first (a tenant's own, or all for staff); for a
/// tenant's users, their orders on their timelines too.
pub fn notices(viewer: &Viewer, notices: &[Notice], orders: &[Order], now: verdict_model::Timestamp) -> Markup {
    let body = html! {
        @if viewer.tenant.is_some() {
            section aria-labelledby="your-orders" {
                h2 id="your-orders" { "Your orders" }
                @if orders.is_empty() {
                    p class="empty" { "No order restricts any of your services." }
                } @else {
                    table class="orders" {
                        thead { tr { th scope="col" { "Order" } th scope="col" { "Status" } th scope="col" { "Timeline" } } }
                        tbody {
                            @for o in orders {
                                @let status = o.status_at(now);
                                tr {
                                    td { (o.spec.title) br; code { (o.id) } }
                                    td { span class=(format!("status status-{}", status.as_str())) { (status.as_str().replace('_', " ")) } }
                                    td { (crate::orders::phase_timeline(o, now)) }
                                }
                            }
                        }
                    }
                }
                p { a href="/console/records" { "Your log records" } ": the private part of every log entry about you, checked here against what the public log commits to." }
            }
            h2 { "Notices" }
        }
        @if notices.is_empty() {
            p class="empty" { "No notices. When an order restricts a service of yours, its notice and statement of reasons appear here." }
        } @else {
            table class="notices" {
                thead { tr { th scope="col" { "Notice" } th scope="col" { "Kind" } th scope="col" { "Tenant" } th scope="col" { "Issued" } } }
                tbody {
                    @for n in notices {
                        tr {
                            td { a href=(format!("/console/notices/{}", n.id)) { (n.statement.ground.title) } br; code { (n.id) } }
                            td { (n.kind.as_str().replace('_', " ")) }
                            td { (n.tenant) }
                            td class="when" { (when(&n.issued_at.to_string())) }
                        }
                    }
                }
            }
        }
    };
    signed_in_page("Notices", Section::Notices, viewer, body)
}

/// What the notice page may offer.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoticeActions {
    /// File an appeal against its order (the tenant's users).
    pub appeal: bool,
}

/// One notice: the statement of reasons as prose, the receipt, and the
/// appeal form; `refusal` beside the form.
pub fn notice(viewer: &Viewer, notice: &Notice, may: NoticeActions, refusal: Option<&Refusal>) -> Markup {
    let s = &notice.statement;
    let body = html! {
        p class="lead" {
            "Notice " code { (notice.id) } " to " strong { (notice.tenant) } ", issued "
            (when(&notice.issued_at.to_string())) ", about order " code { (notice.order) } "."
        }
        section aria-labelledby="what" {
            h2 id="what" { "What is restricted" }
            p { "A " (s.restriction.replace('_', " ")) ": the services " strong { (list_of(&s.services)) }
                ", except " (list_of(&s.exempt)) ", for "
                @for u in &s.scope.units { "unit " code { (u.as_str()) } " (and every unit below it) " }
                @for sub in &s.scope.subscriptions { "subscription " code { (sub) } " " }
                ". Nothing else of yours is affected." }
            p { "In force from " (when(&s.effective_from.to_string())) ", "
                (s.end.map(|e| format!("until {}", when(&e.to_string()))).unwrap_or_else(|| "until lifted".into())) "; in "
                (list_of(&s.territorial_scope)) "." }
            ol class="phases" {
                @for p in &s.phases {
                    li { span class=(format!("phase phase-{}", p.mode.as_str())) { (p.mode.as_str().replace('_', " ")) }
                        " from " (when(&p.start.to_string())) ": "
                        (match p.mode.as_str() { "notice" => "nothing is denied yet; this is your notice.",
                            "export_only" => "you can still read and take your data out; writing and invoking are denied.",
                            _ => "the services are disabled." }) }
                }
            }
        }
        section aria-labelledby="why" {
            h2 id="why" { "Why" }
            p { (s.facts) }
            blockquote class="ground" {
                p { strong { (s.ground.clause) " (version " (s.ground.version) "): " (s.ground.title) } }
                p { (s.ground.text) }
            }
            dl class="facts" {
                dt { "Where the case came from" } dd { (s.source_type.as_str().replace('_', " ")) }
                dt { "Automated detection" } dd { (if s.automated_detection { "yes" } else { "no" }) }
                dt { "Automated decision" } dd { (if s.automated_decision { "yes" } else { "no: people approved it" }) }
                @if let Some(reason) = &s.emergency_reason { dt { "Why notice was shortened" } dd { (reason) } }
            }
        }
        section aria-labelledby="proof" {
            h2 id="proof" { "Proof" }
            p {
                "This notice is committed to in the public log"
                @if let Some(i) = notice.log_index { " (entry " a href=(format!("/transparency/log/{i}")) { (i) } ")" }
                ". " a class="button" href=(format!("/console/notices/{}/receipt", notice.id)) download=(format!("{}.tlog-proof", notice.id)) { "Download the receipt" }
                " and check it with " code { "verdict log verify-receipt" } "."
            }
        }
        section aria-labelledby="appeal" {
            h2 id="appeal" { "Appeal" }
            p { (s.how_to_appeal) }
            @if may.appeal {
                form class="card wide" method="post" action=(format!("/console/orders/{}/appeals", notice.order)) {
                    input type="hidden" name="_csrf" value=(viewer.csrf);
                    input type="hidden" name="notice" value=(notice.id);
                    div class="field" {
                        label for="appeal-statement" { "Why you contest this order" }
                        @if let Some(r) = refusal {
                            textarea id="appeal-statement" name="statement" rows="5" required aria-describedby="appeal-error" {}
                            p id="appeal-error" class="error" role="alert" { (r.message) " (" code { (r.code) } ")" }
                        } @else {
                            textarea id="appeal-statement" name="statement" rows="5" required {}
                        }
                    }
                    button type="submit" { "File the appeal" }
                }
            }
        }
    };
    signed_in_page(&format!("Notice: {}", s.ground.title), Section::Notices, viewer, body)
}

/// Appeals, open ones first.
pub fn appeals(viewer: &Viewer, appeals: &[Appeal]) -> Markup {
    let body = html! {
        @if appeals.is_empty() {
            p class="empty" { "No appeals. A tenant's appeal against an order appears here for a reviewer who took no part in it." }
        } @else {
            table class="appeals" {
                thead { tr { th scope="col" { "Appeal" } th scope="col" { "Order" } th scope="col" { "Tenant" } th scope="col" { "Filed" } th scope="col" { "Outcome" } } }
                tbody {
                    @for a in appeals {
                        tr {
                            td { a href=(format!("/console/appeals/{}", a.id)) { code { (a.id) } } }
                            td { code { (a.order) } }
                            td { (a.tenant) }
                            td class="when" { (when(&a.filed_at.to_string())) }
                            td { (a.decision.as_ref().map_or("pending", |d| d.outcome.as_str())) }
                        }
                    }
                }
            }
        }
    };
    signed_in_page("Appeals", Section::Appeals, viewer, body)
}

/// One appeal beside its order and notice, with the reviewer's form.
pub fn appeal(
    viewer: &Viewer,
    appeal: &Appeal,
    order: &Order,
    notice: Option<&Notice>,
    decide: bool,
    refusal: Option<&Refusal>,
) -> Markup {
    let body = html! {
        div class="beside" {
            section aria-labelledby="statement" {
                h2 id="statement" { "The tenant's statement" }
                p class="meta" { (appeal.filed_by) ", " (when(&appeal.filed_at.to_string())) }
                blockquote { p { (appeal.statement) } }
            }
            section aria-labelledby="order" {
                h2 id="order" { "The order" }
                dl class="facts" {
                    dt { "Order" } dd { a href=(format!("/console/orders/{}", order.id)) { (order.spec.title) } }
                    dt { "Clause" } dd { (order.spec.clause) }
                    dt { "Services" } dd { (list_of(&order.spec.services)) }
                    dt { "Approved by" } dd { (order.lifecycle.approvals.iter().map(|a| a.by.as_str()).collect::<Vec<_>>().join(", ")) }
                }
            }
        }
        @if let Some(n) = notice {
            section aria-labelledby="the-notice" {
                h2 id="the-notice" { "The notice the tenant was given" }
                dl class="facts" {
                    dt { "Notice" } dd { a href=(format!("/console/notices/{}", n.id)) { code { (n.id) } } ", " (when(&n.issued_at.to_string())) }
                    dt { "Ground" } dd { (n.statement.ground.title) }
                    dt { "Facts" } dd { (n.statement.facts) }
                    dt { "Phases" } dd { @for p in &n.statement.phases { (p.mode.as_str().replace('_', " ")) " from " (when(&p.start.to_string())) "; " } }
                }
            }
        }
        @if let Some(d) = &appeal.decision {
            h2 { "Decided" }
            p { strong { (d.outcome.as_str()) } " by " (d.by) ", " (when(&d.at.to_string())) ": " (d.reasons) }
        } @else if decide {
            form class="card wide" method="post" action=(format!("/console/appeals/{}/decision", appeal.id)) {
                h2 { "Decide" }
                input type="hidden" name="_csrf" value=(viewer.csrf);
                @if let Some(r) = refusal { p id="decide-error" class="error" role="alert" { (r.message) " (" code { (r.code) } ")" } }
                fieldset {
                    legend { "Outcome" }
                    label class="choice" { input type="radio" name="outcome" value="uphold" checked; " Uphold: the order stands" }
                    label class="choice" { input type="radio" name="outcome" value="lift"; " Lift: the order ends now" }
                }
                div class="field" {
                    label for="decide-reasons" { "Reasons, as the tenant will read them" }
                    textarea id="decide-reasons" name="reasons" rows="4" required {}
                }
                button type="submit" { "Decide" }
            }
            p { "Or " a href=(format!("/console/appeals/{}/amend", appeal.id)) { "amend the order" } ": draft its new version and see what it would change before deciding." }
        }
    };
    signed_in_page(&format!("Appeal {}", appeal.id), Section::Appeals, viewer, body)
}
