//! Drafting an order — from a case, or as the new version an appeal's
//! reviewer amends an order to — with its blast radius redrawn as the
//! draft changes: per phase what each subscription loses, what stays
//! untouched, what an exemption spares, and the guards the draft breaks.
//! The form works without script (a button redraws the whole page); with
//! `draft.js` the preview panel is redrawn in place as fields change.

use maud::{Markup, html};
use verdict_control::Preview;
use verdict_model::{Catalog, Guard, OrderSpec, PhaseMode, Timestamp};

use crate::Viewer;
use crate::cases::Refusal;
use crate::html::{Section, signed_in_page_with};
use crate::orders::preview_section;

/// The draft's fields as the form posts them (and shows them again).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftValues {
    /// Clause id.
    pub clause: String,
    /// One line for people.
    pub title: String,
    /// Unit paths ticked.
    pub units: Vec<String>,
    /// More unit paths, one per line.
    pub other_units: String,
    /// Subscription ids, separated by spaces, commas or lines.
    pub subscriptions: String,
    /// Service patterns restricted.
    pub services: Vec<String>,
    /// Service patterns spared.
    pub exempt: Vec<String>,
    /// Days from now each phase starts (blank: no such phase).
    pub notice_days: String,
    /// See `notice_days`.
    pub export_only_days: String,
    /// See `notice_days`.
    pub disabled_days: String,
    /// Days from now the order ends (blank: until lifted).
    pub end_days: String,
    /// Why there is no notice phase first.
    pub emergency_reason: String,
}

impl DraftValues {
    /// The values of a posted form (`_csrf` and unknown names ignored).
    pub fn from_pairs(pairs: &[(String, String)]) -> DraftValues {
        let mut v = DraftValues::default();
        for (name, value) in pairs {
            match name.as_str() {
                "clause" => v.clause = value.clone(),
                "title" => v.title = value.clone(),
                "unit" => v.units.push(value.clone()),
                "other_units" => v.other_units = value.clone(),
                "subscriptions" => v.subscriptions = value.clone(),
                "service" => v.services.push(value.clone()),
                "exempt" => v.exempt.push(value.clone()),
                "notice_days" => v.notice_days = value.clone(),
                "export_only_days" => v.export_only_days = value.clone(),
                "disabled_days" => v.disabled_days = value.clone(),
                "end_days" => v.end_days = value.clone(),
                "emergency_reason" => v.emergency_reason = value.clone(),
                _ => {}
            }
        }
        v
    }

    /// A first draft for a case: its units, its first clause, a notice
    /// now, export-only after two days and disabled after nine (the
    /// graduated timeline the design's case uses); no services yet.
    pub fn for_case(case: &verdict_model::Case) -> DraftValues {
        DraftValues {
            clause: case.spec.clauses.first().cloned().unwrap_or_default(),
            title: case.spec.title.clone(),
            units: case.spec.units.iter().map(|u| u.as_str().to_owned()).collect(),
            notice_days: "0".into(),
            export_only_days: "2".into(),
            disabled_days: "9".into(),
            ..DraftValues::default()
        }
    }

    /// An order's body as a draft, its phases counted from `now` (a phase
    /// already begun starts now), for amending it.
    pub fn of_spec(spec: &OrderSpec, now: Timestamp) -> DraftValues {
        let days = |at: Timestamp| {
            let d = (at.seconds() - now.seconds()).max(0) as f64 / 86_400.0;
            let text = format!("{d:.2}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        let phase =
            |mode: PhaseMode| spec.phases.iter().find(|p| p.mode == mode).map(|p| days(p.start)).unwrap_or_default();
        DraftValues {
            clause: spec.clause.clone(),
            title: spec.title.clone(),
            units: spec.scope.units.iter().map(|u| u.as_str().to_owned()).collect(),
            other_units: String::new(),
            subscriptions: spec.scope.subscriptions.join(" "),
            services: spec.services.iter().map(ToString::to_string).collect(),
            exempt: spec.exempt.iter().map(ToString::to_string).collect(),
            notice_days: phase(PhaseMode::Notice),
            export_only_days: phase(PhaseMode::ExportOnly),
            disabled_days: phase(PhaseMode::Disabled),
            end_days: spec.end.map(days).unwrap_or_default(),
            emergency_reason: spec.emergency_reason.clone().unwrap_or_default(),
        }
    }
}

/// What the preview panel shows.
#[derive(Debug, Clone)]
pub enum DraftOutcome {
    /// The blast radius of a valid draft.
    Preview {
        /// The preview.
        preview: Preview,
        /// The guards the draft breaks.
        broken: Vec<Guard>,
        /// The timeline restricts from its first phase and no reason says why.
        needs_emergency_reason: bool,
    },
    /// Why the draft cannot be previewed (or proposed).
    Problem(DraftProblem),
}

/// Why a draft cannot be previewed or proposed, and the field it concerns.
#[derive(Debug, Clone)]
pub struct DraftProblem {
    /// The form field's name, if the problem is one field's.
    pub field: Option<String>,
    /// The refusal.
    pub refusal: Refusal,
}

impl DraftOutcome {
    fn field_problem(&self, field: &str) -> Option<&Refusal> {
        match self {
            DraftOutcome::Problem(DraftProblem { field: Some(f), refusal }) if f == field => Some(refusal),
            _ => None,
        }
    }
}

/// Where a draft comes from, and where its form posts.
#[derive(Debug, Clone)]
pub enum DraftFor<'a> {
    /// A new order proposed from a case.
    Case {
        /// The case's id.
        id: &'a str,
        /// Its tenant.
        tenant: &'a str,
    },
    /// The new version of an order, as an appeal's decision.
    Amendment {
        /// The appeal's id.
        appeal: &'a str,
        /// The order amended.
        order: &'a str,
        /// Its tenant.
        tenant: &'a str,
    },
}

impl DraftFor<'_> {
    fn base(&self) -> String {
        match self {
            DraftFor::Case { id, .. } => format!("/console/cases/{id}/draft"),
            DraftFor::Amendment { appeal, .. } => format!("/console/appeals/{appeal}/amend"),
        }
    }

    /// Where the form is posted to take effect.
    fn submit(&self) -> String {
        match self {
            DraftFor::Case { id, .. } => format!("/console/cases/{id}/orders"),
            DraftFor::Amendment { appeal, .. } => format!("/console/appeals/{appeal}/amendment"),
        }
    }

    fn tenant(&self) -> &str {
        match self {
            DraftFor::Case { tenant, .. } | DraftFor::Amendment { tenant, .. } => tenant,
        }
    }
}

/// What the draft page offers to choose from.
#[derive(Debug, Clone, Copy)]
pub struct Choices<'a> {
    /// Published clauses: id and title.
    pub clauses: &'a [(String, String)],
    /// Unit paths offered as boxes to tick.
    pub units: &'a [String],
    /// The service catalog.
    pub catalog: &'a Catalog,
}

fn error_beside(outcome: Option<&DraftOutcome>, field: &str) -> Option<Markup> {
    let r = outcome?.field_problem(field)?;
    Some(
        html! { p id=(format!("{field}-error")) class="error" role="alert" { (r.message) " (" code { (r.code) } ")" } },
    )
}

fn described(outcome: Option<&DraftOutcome>, field: &str) -> Option<String> {
    outcome?.field_problem(field).map(|_| format!("{field}-error"))
}

fn tick(name: &str, id: &str, value: &str, checked: bool) -> Markup {
    html! {
        @if checked { input type="checkbox" id=(id) name=(name) value=(value) checked; }
        @else { input type="checkbox" id=(id) name=(name) value=(value); }
    }
}

/// The services as boxes to tick, a family's wildcard first.
fn services_fieldset(
    name: &str,
    legend: &str,
    chosen: &[String],
    catalog: &Catalog,
    outcome: Option<&DraftOutcome>,
) -> Markup {
    let mut families: Vec<&str> = catalog.services.iter().map(|s| s.family.as_str()).collect();
    families.dedup();
    html! {
        fieldset class="services" aria-describedby=[described(outcome, name)] {
            legend { (legend) }
            @for family in &families {
                div class="family" {
                    @let all = format!("{family}.*");
                    @let id = format!("{name}-{family}-all");
                    label class="choice all" for=(id) { (tick(name, &id, &all, chosen.contains(&all))) " " code { (all) } " (every " (family) " service)" }
                    @for s in catalog.services.iter().filter(|s| s.family == *family) {
                        @let id = format!("{name}-{}", s.name.replace('.', "-"));
                        label class="choice" for=(id) title=(s.description) { (tick(name, &id, &s.name, chosen.contains(&s.name))) " " code { (s.name) } }
                    }
                }
            }
            @if let Some(e) = error_beside(outcome, name) { (e) }
        }
    }
}

fn days_field(name: &str, label: &str, value: &str, outcome: Option<&DraftOutcome>) -> Markup {
    let id = format!("draft-{name}");
    html! {
        div class="field days" {
            label for=(id) { (label) }
            input id=(id) name=(name) value=(value) inputmode="decimal" size="6" aria-describedby=[described(outcome, name)];
            @if let Some(e) = error_beside(outcome, name) { (e) }
        }
    }
}

/// The draft page: the form, and the preview panel for `outcome` (none
/// before the first preview).
pub fn draft(
    viewer: &Viewer,
    target: &DraftFor<'_>,
    values: &DraftValues,
    choices: Choices<'_>,
    outcome: Option<&DraftOutcome>,
) -> Markup {
    let base = target.base();
    let title = match target {
        DraftFor::Case { .. } => "Draft an order",
        DraftFor::Amendment { .. } => "Amend the order",
    };
    let body = html! {
        @match target {
            DraftFor::Case { id, tenant } => p class="lead" {
                "For case " a href=(format!("/console/cases/{id}")) { code { (id) } } " against tenant " strong { (tenant) }
                ". The preview on the right is what approvers will see; proposing sends the draft to them."
            },
            DraftFor::Amendment { appeal, order, tenant } => p class="lead" {
                "The new version of order " a href=(format!("/console/orders/{order}")) { code { (order) } }
                " (tenant " strong { (tenant) } "), deciding appeal " a href=(format!("/console/appeals/{appeal}")) { code { (appeal) } }
                ". Once decided, it replaces the order in force and the tenant gets a new notice."
            },
        }
        div class="drafting" {
            form id="draft" class="card draft" method="post" action=(target.submit()) data-preview=(format!("{base}/preview")) {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                div class="field" {
                    label for="draft-title" { "Title (one line the tenant will read)" }
                    input id="draft-title" name="title" value=(values.title) required maxlength="500" aria-describedby=[described(outcome, "title")];
                    @if let Some(e) = error_beside(outcome, "title") { (e) }
                }
                div class="field" {
                    label for="draft-clause" { "Clause" }
                    select id="draft-clause" name="clause" aria-describedby=[described(outcome, "clause")] {
                        @if choices.clauses.iter().all(|(id, _)| *id != values.clause) { option value=(values.clause) selected { "Choose a clause" } }
                        @for (id, clause_title) in choices.clauses {
                            @if *id == values.clause { option value=(id) selected { (id) " — " (clause_title) } }
                            @else { option value=(id) { (id) " — " (clause_title) } }
                        }
                    }
                    @if let Some(e) = error_beside(outcome, "clause") { (e) }
                }
                fieldset class="scope" aria-describedby=[described(outcome, "scope")] {
                    legend { "Scope in tenant " (target.tenant()) " (a unit covers every unit below it, now and later)" }
                    @for (i, unit) in choices.units.iter().enumerate() {
                        @let id = format!("draft-unit-{i}");
                        label class="choice" for=(id) { (tick("unit", &id, unit, values.units.contains(unit))) " " code { (unit) } }
                    }
                    div class="field" {
                        label for="draft-other-units" { "Other units, one path per line" }
                        textarea id="draft-other-units" name="other_units" rows="2" { (values.other_units) }
                    }
                    div class="field" {
                        label for="draft-subscriptions" { "Single subscriptions, by id" }
                        input id="draft-subscriptions" name="subscriptions" value=(values.subscriptions);
                    }
                    @if let Some(e) = error_beside(outcome, "scope") { (e) }
                }
                (services_fieldset("service", "Services restricted", &values.services, choices.catalog, outcome))
                (services_fieldset("exempt", "Services spared (exemptions)", &values.exempt, choices.catalog, outcome))
                fieldset class="timeline" {
                    legend { "Timeline: days from approval each phase starts (leave blank to skip a phase)" }
                    (days_field("notice_days", "Notice (restricts nothing)", &values.notice_days, outcome))
                    (days_field("export_only_days", "Export only (reads and exports still work)", &values.export_only_days, outcome))
                    (days_field("disabled_days", "Disabled (everything denied)", &values.disabled_days, outcome))
                    (days_field("end_days", "Ends after (blank: until lifted)", &values.end_days, outcome))
                }
                div class="field" {
                    label for="draft-emergency" { "Emergency reason (only when the first phase already restricts)" }
                    textarea id="draft-emergency" name="emergency_reason" rows="2" aria-describedby=[described(outcome, "emergency_reason")] { (values.emergency_reason) }
                    @if let Some(e) = error_beside(outcome, "emergency_reason") { (e) }
                }
                @if let DraftFor::Amendment { .. } = target {
                    div class="field" {
                        label for="draft-reasons" { "Reasons for the decision, as the tenant will read them" }
                        textarea id="draft-reasons" name="reasons" rows="3" required aria-describedby=[described(outcome, "reasons")] {}
                        @if let Some(e) = error_beside(outcome, "reasons") { (e) }
                    }
                }
                div class="actions" {
                    @match target {
                        DraftFor::Case { .. } => button type="submit" { "Propose the order" },
                        DraftFor::Amendment { .. } => button type="submit" { "Amend the order" },
                    }
                    button type="submit" class="secondary" formaction=(base) { "Redraw the preview" }
                }
            }
            (panel(outcome))
        }
    };
    let section = match target {
        DraftFor::Case { .. } => Section::Cases,
        DraftFor::Amendment { .. } => Section::Appeals,
    };
    signed_in_page_with(title, section, viewer, &[crate::assets::DRAFT_SCRIPT.path()], body)
}

/// The preview panel alone: what `draft.js` fetches and puts in place.
pub fn panel(outcome: Option<&DraftOutcome>) -> Markup {
    html! {
        section id="preview-panel" class="preview-panel" aria-live="polite" aria-labelledby="preview-heading" {
            h2 id="preview-heading" { "What this draft would do" }
            @match outcome {
                None => p class="empty" { "Choose the services to restrict; the blast radius appears here as you draft." },
                Some(DraftOutcome::Problem(DraftProblem { refusal, .. })) => p class="error" role="alert" data-code=(refusal.code) {
                    (refusal.message) " (" code { (refusal.code) } ")"
                },
                Some(DraftOutcome::Preview { preview, broken, needs_emergency_reason }) => {
                    @if *needs_emergency_reason {
                        p class="error" { "The first phase already restricts: say why there is no notice first (emergency reason), or start with a notice phase." }
                    }
                    section class="guards" aria-labelledby="guards-heading" {
                        h3 id="guards-heading" { "Guards" }
                        @if broken.is_empty() {
                            p class="ok" { "The draft breaks no guard." }
                        } @else {
                            p class="error" { "The draft restricts what these guards protect; each approver must override them with a reason, or the draft must spare them:" }
                            ul class="broken-guards" {
                                @for g in broken { li { code { (g.id) } " — " (g.description) } }
                            }
                        }
                    }
                    (preview_section(preview))
                    p class="meta" { "Preview " code class="hash" data-preview-hash=(preview.hash) { (preview.hash) } }
                }
            }
        }
    }
}
