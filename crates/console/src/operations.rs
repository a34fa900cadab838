//! The operations pages: the replicas connected to the change stream with
//! the version each holds, the orders in force now, and the inventory —
//! tenants, then one tenant's units and subscriptions, searchable and paged.

use maud::{Markup, html};
use verdict_control::InventoryPage;
use verdict_model::{Order, Tenant, Timestamp};

use crate::Viewer;
use crate::html::{Section, signed_in_page};
use crate::orders::phase_timeline;
use crate::public::when;

/// One connected replica as the page lists it.
#[derive(Debug, Clone)]
pub struct ReplicaRow {
    /// The token's user.
    pub name: String,
    /// Whether its token is scoped.
    pub scoped: bool,
    /// Its `User-Agent`.
    pub agent: String,
    /// When it connected (RFC 3339).
    pub connected_at: String,
    /// The version it has been sent.
    pub version: u64,
    /// How many versions it is behind this server.
    pub behind: u64,
    /// Seconds since it was last sent anything.
    pub silent_seconds: i64,
}

/// What the overview shows.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The control plane's version (the change stream's position).
    pub version: u64,
    /// Entries in the transparency log.
    pub log_size: u64,
    /// Subscriptions in the inventory.
    pub subscriptions: usize,
    /// The connected replicas.
    pub replicas: Vec<ReplicaRow>,
}

fn sections() -> Markup {
    html! {
        nav class="subnav" aria-label="Operations" {
            a href="/console/operations" { "Replicas" }
            a href="/console/operations/orders" { "Orders in force" }
            a href="/console/operations/inventory" { "Inventory" }
        }
    }
}

/// The overview: the control plane's position and its replicas.
pub fn overview(viewer: &Viewer, o: &Overview) -> Markup {
    let body = html! {
        (sections())
        dl class="facts" {
            dt { "Version" } dd { (o.version) }
            dt { "Log entries" } dd { (o.log_size) }
            dt { "Subscriptions" } dd { (o.subscriptions) }
        }
        h2 { "Replicas connected to this server" }
        @if o.replicas.is_empty() {
            p class="empty" {
                "No replica is connected to this server's change stream. Gateways run "
                code { "verdict pep --upstream <this server>" } "; replicas fed through NATS JetStream are listed by the stream's consumers, not here."
            }
        } @else {
            table class="replicas" {
                caption { (o.replicas.len()) " connected" }
                thead { tr {
                    th scope="col" { "Token" } th scope="col" { "Agent" } th scope="col" { "Connected" }
                    th scope="col" class="num" { "Version" } th scope="col" class="num" { "Behind" } th scope="col" class="num" { "Last sent" }
                } }
                tbody {
                    @for r in &o.replicas {
                        tr {
                            td { (r.name) @if r.scoped { " " span class="kind" { "scoped" } } }
                            td { (r.agent) }
                            td class="when" { (when(&r.connected_at)) }
                            td class="num" { (r.version) }
                            td class="num" {
                                @if r.behind == 0 { span class="ok" { "up to date" } } @else { span class="error" { (r.behind) " versions" } }
                            }
                            td class="num" { (r.silent_seconds) " s ago" }
                        }
                    }
                }
            }
        }
    };
    signed_in_page("Operations", Section::Operations, viewer, body)
}

/// The orders in force now, a page at a time (`next`: the address of the
/// next page).
pub fn orders_in_force(viewer: &Viewer, orders: &[Order], now: Timestamp, next: Option<&str>) -> Markup {
    let body = html! {
        (sections())
        @if orders.is_empty() {
            p class="empty" { "No order is in force. Approved orders appear here from their first phase until they end or are lifted." }
        } @else {
            table class="orders" {
                thead { tr { th scope="col" { "Order" } th scope="col" { "Tenant" } th scope="col" { "Clause" } th scope="col" { "Timeline" } } }
                tbody {
                    @for o in orders {
                        tr {
                            td { a href=(format!("/console/orders/{}", o.id)) { (o.spec.title) } br; code { (o.id) } }
                            td { (o.spec.tenant) }
                            td { (o.spec.clause) }
                            td { (phase_timeline(o, now)) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { nav class="pages" aria-label="Pages" { a href=(next) rel="next" { "More →" } } }
    };
    signed_in_page("Orders in force", Section::Operations, viewer, body)
}

/// The tenants, a page at a time.
pub fn tenants(viewer: &Viewer, tenants: &[Tenant], next: Option<&str>) -> Markup {
    let body = html! {
        (sections())
        form class="filters" method="get" action="/console/operations/inventory" {
            div class="field" { label for="tenant-after" { "Tenants after" } input id="tenant-after" name="after"; }
            button type="submit" { "Go" }
        }
        @if tenants.is_empty() {
            p class="empty" { "No tenant here. An administrator imports the inventory with " code { "verdict import" } "." }
        } @else {
            table {
                thead { tr { th scope="col" { "Tenant" } th scope="col" { "Kind" } th scope="col" { "Name" } } }
                tbody {
                    @for t in tenants {
                        tr {
                            td { a href=(format!("/console/operations/inventory/{}", t.id)) { code { (t.id) } } }
                            td { (t.kind.as_str()) }
                            td { (t.name) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { nav class="pages" aria-label="Pages" { a href=(next) rel="next" { "More →" } } }
    };
    signed_in_page("Inventory", Section::Operations, viewer, body)
}

/// The query a tenant's inventory page was drawn for.
#[derive(Debug, Clone, Default)]
pub struct InventoryView {
    /// Within this unit.
    pub unit: String,
    /// Ids containing this.
    pub search: String,
    /// The page, from 1.
    pub page: usize,
    /// Rows per page.
    pub per_page: usize,
}

impl InventoryView {
    fn address(&self, tenant: &str, page: usize) -> String {
        let mut query = vec![format!("page={page}")];
        if !self.unit.is_empty() {
            query.push(format!("unit={}", crate::cases::encode(&self.unit)));
        }
        if !self.search.is_empty() {
            query.push(format!("q={}", crate::cases::encode(&self.search)));
        }
        format!("/console/operations/inventory/{tenant}?{}", query.join("&"))
    }
}

/// One tenant's units and a page of its subscriptions.
pub fn tenant_inventory(viewer: &Viewer, tenant: &Tenant, inventory: &InventoryPage, view: &InventoryView) -> Markup {
    let pages = inventory.matching.div_ceil(view.per_page.max(1)).max(1);
    let body = html! {
        (sections())
        p class="lead" { (tenant.kind.as_str()) " customer · " (inventory.total) " subscriptions in " (inventory.units.len()) " units" }
        div class="beside" {
            section aria-labelledby="units" {
                h2 id="units" { "Units" }
                @if inventory.units.is_empty() { p class="empty" { "No units." } }
                ul class="units" {
                    @for (unit, count) in &inventory.units {
                        @let depth = unit.matches('/').count();
                        li class=(format!("depth-{}", depth.min(6))) {
                            a href=(InventoryView { unit: unit.clone(), search: String::new(), ..view.clone() }.address(&tenant.id, 1)) { code { (unit) } }
                            " " span class="meta" { (count) }
                        }
                    }
                }
            }
            section aria-labelledby="subs" {
                h2 id="subs" { "Subscriptions" }
                form class="filters" method="get" action=(format!("/console/operations/inventory/{}", tenant.id)) {
                    div class="field" { label for="inv-unit" { "Within unit" } input id="inv-unit" name="unit" value=(view.unit); }
                    div class="field" { label for="inv-q" { "Id contains" } input id="inv-q" name="q" value=(view.search); }
                    button type="submit" { "Search" }
                }
                @if inventory.rows.is_empty() {
                    p class="empty" { "No subscription matches; clear the search or choose another unit." }
                } @else {
                    table class="subscriptions" {
                        caption { (inventory.matching) " match" }
                        thead { tr { th scope="col" { "Subscription" } th scope="col" { "Unit" } th scope="col" { "Region" } th scope="col" { "Services" } } }
                        tbody {
                            @for s in &inventory.rows {
                                tr {
                                    td { code { (s.id) } }
                                    td { code { (s.unit) } }
                                    td { (s.region) }
                                    td { @if s.services.is_empty() { "every service" } @else { (s.services.join(", ")) } }
                                }
                            }
                        }
                    }
                    nav class="pages" aria-label="Pages of subscriptions" {
                        @if view.page > 1 { a href=(view.address(&tenant.id, view.page - 1)) rel="prev" { "← Previous" } }
                        span { "Page " (view.page) " of " (pages) }
                        @if view.page < pages { a href=(view.address(&tenant.id, view.page + 1)) rel="next" { "Next →" } }
                    }
                }
            }
        }
    };
    signed_in_page(&format!("Inventory of {}", tenant.id), Section::Operations, viewer, body)
}
