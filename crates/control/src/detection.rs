//! Detection rules through the control plane. Publishing a version puts
//! its full text and clause in the transparency log before it is ever
//! evaluated; it starts in shadow (evaluated, what it would fire on
//! recorded, nothing opened); two approvers other than its author make it
//! active (the version it replaces retires); a rule never restricts
//! anything: an active one opens a case for the unit (the deepest unit it
//! fires on; the units above it join that case), or adds a metadata
//! finding to the unit's open case, and people decide. Each hour, when
//! the windows close, every shadow and active version is evaluated over
//! the stored usage.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use verdict_detect::{Member, Rule, Target, Tenancy, subscription_targets, unit_targets};
use verdict_model::{
    Case, CaseSpec, CaseStatus, Catalog, DetectionRule, Evidence, RuleApproval, RuleSpec, RuleState, RuleTarget,
    SourceType, Timestamp,
};
use verdict_store::{CaseFilter, Op, Page, RuleResult};

use crate::cases::clause_in;
use crate::error::{DetectionError, Thing};
use crate::ledger::Prepared;
use crate::log::Draft;
use crate::usage::USAGE_RETENTION_DAYS;
use crate::{Core, CoreError, Principal};

/// Approvals a rule's activation needs.
pub const RULE_APPROVALS: u32 = 2;

/// The name cases opened by rules carry as their opener.
pub const DETECTION: &str = "verdict-detection";

/// What one hour's evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    /// The hour whose windows closed (seconds since the epoch).
    pub hour: i64,
    /// Rule versions evaluated.
    pub rules: usize,
    /// Targets a shadow version would have fired on.
    pub shadow_hits: usize,
    /// Targets an active version fired on.
    pub active_hits: usize,
    /// Cases opened.
    pub cases_opened: Vec<String>,
    /// Cases a finding was added to.
    pub cases_updated: Vec<String>,
}

/// A target a backtest's rule would have fired on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BacktestHit {
    /// The tenant.
    pub tenant: String,
    /// The unit path or subscription id.
    pub target: String,
    /// The first hour it would have fired (RFC 3339).
    pub first: Timestamp,
    /// Hours it would have fired in the period.
    pub hours: usize,
    /// The figures at the first hour.
    pub figures: BTreeMap<String, f64>,
}

fn hour_floor(t: Timestamp) -> i64 {
    verdict_detect::hour_of(t)
}

impl Core {
    /// Every version of every rule.
    pub async fn rules(&self) -> Result<Vec<DetectionRule>, CoreError> {
        Ok(self.reads().await?.rules().await?)
    }

    /// One version of a rule.
    pub async fn rule(&self, id: &str, version: u32) -> Result<DetectionRule, CoreError> {
        self.rules()
            .await?
            .into_iter()
            .find(|r| r.spec.id == id && r.version == version)
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Rule, id: format!("{id}@{version}") })
    }

    /// What a version fired on, newest first.
    pub async fn rule_results(&self, id: &str, version: u32, limit: u32) -> Result<Vec<RuleResult>, CoreError> {
        Ok(self.reads().await?.rule_results(id, version, limit).await?)
    }

    /// Publishes a new version of a rule, in shadow: its text is checked
    /// (nothing it cannot evaluate), its clause must be published, and the
    /// log entry carries its full text.
    pub async fn publish_rule(&self, who: &Principal, spec: RuleSpec) -> Result<DetectionRule, CoreError> {
        spec.validate()?;
        Rule::compile(&spec.text, &Catalog::builtin()).map_err(DetectionError::from)?;
        let mut tx = self.begin().await?;
        if clause_in(tx.store(), &spec.clause).await?.is_none() {
            return Err(CoreError::UnknownReference { kind: Thing::Clause, id: spec.clause.clone() });
        }
        let version =
            tx.store().rules().await?.iter().filter(|r| r.spec.id == spec.id).map(|r| r.version).max().unwrap_or(0) + 1;
        let now = tx.now();
        let mut rule = DetectionRule {
            spec,
            version,
            state: RuleState::Shadow,
            author: who.name.clone(),
            published_at: now,
            log_index: None,
            approvals: Vec::new(),
            approvals_required: RULE_APPROVALS,
            activated_at: None,
            retired_at: None,
        };
        rule.log_index = Some(tx.next_index());
        let public = json!({"rule": rule.spec.id, "version": version, "clause": rule.spec.clause,
            "title": rule.spec.title, "text": rule.spec.text, "target": rule.spec.target, "state": "shadow"});
        let change = Prepared {
            at: now,
            summary: json!({"rule": rule.spec.id, "version": version}),
            ops: vec![Op::PutRule(rule.clone())],
            changes: vec![],
            draft: Draft::new("rule.published", public).subject(&rule.spec.id),
        };
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Approves a shadow version's activation; the last approval makes it
    /// active and retires the version active before it.
    pub async fn approve_rule(&self, who: &Principal, id: &str, version: u32) -> Result<DetectionRule, CoreError> {
        let mut tx = self.begin().await?;
        let all = tx.store().rules().await?;
        let mut rule = all
            .iter()
            .find(|r| r.spec.id == id && r.version == version)
            .cloned()
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Rule, id: format!("{id}@{version}") })?;
        if rule.state != RuleState::Shadow {
            return Err(DetectionError::NotShadow { id: id.to_owned(), version, state: rule.state }.into());
        }
        if rule.author == who.name {
            return Err(DetectionError::SelfApproval { who: who.name.clone(), id: id.to_owned() }.into());
        }
        if rule.approvals.iter().any(|a| a.by == who.name) {
            return Err(DetectionError::AlreadyApproved { who: who.name.clone(), id: id.to_owned(), version }.into());
        }
        let now = tx.now();
        rule.approvals.push(RuleApproval { by: who.name.clone(), at: now });
        let mut ops = Vec::new();
        let active = rule.approvals.len() as u32 >= rule.approvals_required;
        if active {
            rule.state = RuleState::Active;
            rule.activated_at = Some(now);
            for mut old in all.into_iter().filter(|r| r.spec.id == id && r.state == RuleState::Active) {
                old.state = RuleState::Retired;
                old.retired_at = Some(now);
                ops.push(Op::PutRule(old));
            }
        }
        ops.push(Op::PutRule(rule.clone()));
        let kind = if active { "rule.activated" } else { "rule.approval" };
        let public = json!({"rule": id, "version": version, "approvals": rule.approvals.len(),
            "approvals_required": rule.approvals_required});
        let change = Prepared {
            at: now,
            summary: json!({"rule": id, "version": version, "active": active}),
            ops,
            changes: vec![],
            draft: Draft::new(kind, public).subject(id),
        };
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Retires a version: it is no longer evaluated.
    pub async fn retire_rule(
        &self,
        who: &Principal,
        id: &str,
        version: u32,
        reason: &str,
    ) -> Result<DetectionRule, CoreError> {
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reason (say why the rule is retired)")));
        }
        let mut tx = self.begin().await?;
        let mut rule = tx
            .store()
            .rules()
            .await?
            .into_iter()
            .find(|r| r.spec.id == id && r.version == version)
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Rule, id: format!("{id}@{version}") })?;
        if rule.state == RuleState::Retired {
            return Err(DetectionError::Retired { id: id.to_owned(), version }.into());
        }
        let now = tx.now();
        rule.state = RuleState::Retired;
        rule.retired_at = Some(now);
        let change = Prepared {
            at: now,
            summary: json!({"rule": id, "version": version}),
            ops: vec![Op::PutRule(rule.clone())],
            changes: vec![],
            draft: Draft::new("rule.retired", json!({"rule": id, "version": version, "reason": reason})).subject(id),
        };
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Every tenant, in id order.
    async fn all_tenants(&self) -> Result<Vec<verdict_model::Tenant>, CoreError> {
        let mut tenants = Vec::new();
        let mut page = Page { after: None, limit: 1000 };
        loop {
            let batch = self.tenants(&page).await?;
            let done = batch.len() < 1000;
            page.after = batch.last().map(|t| t.id.clone());
            tenants.extend(batch);
            if done {
                return Ok(tenants);
            }
        }
    }

    /// One tenant's rule targets of each kind in `kinds`, over its usage
    /// from `from_hour` on. Rules are evaluated a tenant at a time, so
    /// what evaluation holds in memory is one tenant's series (at most
    /// the retention period of hours each), never every tenant's.
    async fn tenant_targets(
        &self,
        tenant: &verdict_model::Tenant,
        kinds: &std::collections::BTreeSet<RuleTarget>,
        from_hour: i64,
    ) -> Result<BTreeMap<RuleTarget, Vec<Target>>, CoreError> {
        let series = self.usage_series(&tenant.id, from_hour).await?;
        if series.is_empty() {
            return Ok(BTreeMap::new());
        }
        let members: Vec<Member> = {
            let index = self.inventory.load();
            match index.tenant(&tenant.id) {
                None => return Ok(BTreeMap::new()),
                Some(subs) => subs
                    .iter()
                    .map(|s| Member {
                        subscription: s.id.to_owned(),
                        unit: subs.units()[s.unit as usize].clone(),
                        region: subs.regions()[s.region as usize].clone(),
                    })
                    .collect(),
            }
        };
        let tenancy = Tenancy { tenant: &tenant.id, kind: tenant.kind.as_str(), members: &members };
        Ok(kinds
            .iter()
            .map(|kind| {
                let mut targets = match kind {
                    RuleTarget::Unit => unit_targets(&tenancy, &series),
                    RuleTarget::Subscription => subscription_targets(&tenancy, &series),
                };
                // Deepest units first: a case is opened for the most
                // precise unit, and the units above it join that case.
                targets.sort_by_key(|t| std::cmp::Reverse(t.unit.matches('/').count()));
                (*kind, targets)
            })
            .collect())
    }

    /// Runs `text` over the stored usage at every hour boundary from
    /// `from` to `to` (at most 30 days): the targets it would have fired
    /// on, when first and how often.
    pub async fn backtest(
        &self,
        text: &str,
        target: RuleTarget,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<BacktestHit>, CoreError> {
        let rule = Rule::compile(text, &Catalog::builtin()).map_err(DetectionError::from)?;
        let (start, end) = (hour_floor(from), hour_floor(to));
        if end < start || end - start > 30 * 86_400 {
            return Err(DetectionError::Period(format!(
                "the period from {from} to {to} is not a period of up to 30 days; give from before to"
            ))
            .into());
        }
        let mut hits: BTreeMap<(String, String), BacktestHit> = BTreeMap::new();
        let kinds = [target].into();
        for tenant in self.all_tenants().await? {
            let mut targets = self.tenant_targets(&tenant, &kinds, start - USAGE_RETENTION_DAYS * 86_400).await?;
            let targets = targets.remove(&target).unwrap_or_default();
            backtest_tenant(&rule, &targets, start, end, &mut hits)?;
        }
        Ok(hits.into_values().collect())
    }

    /// Evaluates each hour as it closes (and any closed since the last
    /// evaluation, up to two days back), and at each day's close forgets
    /// usage older than the retention period, for as long as the task runs.
    pub async fn evaluate_rules_forever(self: std::sync::Arc<Core>) {
        loop {
            let now = hour_floor(self.now());
            let next = match self.last_rules_evaluation().await {
                Ok(Some(last)) => (last + verdict_detect::HOUR).max(now - 48 * verdict_detect::HOUR),
                Ok(None) => now,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the last rule evaluation; retrying");
                    now + verdict_detect::HOUR
                }
            };
            if next <= now {
                // Once a day, usage older than the retention period goes.
                if next.rem_euclid(86_400) == 0
                    && let Err(e) = self.purge_usage().await
                {
                    tracing::error!(error = %e, "cannot purge old usage; retrying tomorrow");
                }
                match self.evaluate_rules(Timestamp(next)).await {
                    Ok(done) if done.active_hits + done.shadow_hits > 0 => {
                        tracing::info!(hour = %Timestamp(next), shadow = done.shadow_hits, active = done.active_hits,
                            opened = done.cases_opened.len(), "detection rules evaluated");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot evaluate the detection rules; retrying"),
                }
                continue;
            }
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        }
    }

    /// The last hour whose evaluation is done.
    pub async fn last_rules_evaluation(&self) -> Result<Option<i64>, CoreError> {
        Ok(self.reads().await?.last_rules_evaluation().await?)
    }

    /// Evaluates every shadow and active version at the close of the hour
    /// ending at `end_hour` (an hour boundary not evaluated before): each
    /// hit is recorded; an active version's hit opens a case for the unit
    /// (source: internal signal) or adds a metadata finding to its open one.
    pub async fn evaluate_rules(&self, end_hour: Timestamp) -> Result<Evaluation, CoreError> {
        let hour = hour_floor(end_hour);
        if hour > hour_floor(self.now()) {
            return Err(DetectionError::Period(format!(
                "the hour ending {} has not closed yet; evaluate at an hour boundary up to now",
                Timestamp(hour)
            ))
            .into());
        }
        let mut done = Evaluation { hour, ..Evaluation::default() };
        // One server evaluates each hour, once: whoever claims it first.
        // A crash after the claim loses that hour's evaluation, not the
        // next one's (their windows overlap it).
        let mut claim = self.begin().await?;
        let mine = claim.store().claim_rules_hour(hour).await?;
        claim.commit().await?;
        if !mine || self.last_rules_evaluation().await?.is_some_and(|last| last > hour) {
            return Ok(done);
        }
        let catalog = Catalog::builtin();
        let rules: Vec<DetectionRule> =
            self.rules().await?.into_iter().filter(|r| r.state != RuleState::Retired).collect();
        done.rules = rules.len();
        let compiled: Vec<Rule> = rules
            .iter()
            .map(|r| Rule::compile(&r.spec.text, &catalog).map_err(DetectionError::from))
            .collect::<Result<_, _>>()?;
        let kinds: std::collections::BTreeSet<RuleTarget> = rules.iter().map(|r| r.spec.target).collect();
        let mut results = Vec::new();
        for tenant in self.all_tenants().await? {
            // The tenant's targets of each kind, read once for all the rules.
            let by_target = self.tenant_targets(&tenant, &kinds, hour - USAGE_RETENTION_DAYS * 86_400).await?;
            // The tenant's open cases from detection, read at its first
            // active hit and kept current as hits open cases.
            let mut open_cases: Option<Vec<Case>> = None;
            for (rule, compiled) in rules.iter().zip(&compiled) {
                for t in by_target.get(&rule.spec.target).map(Vec::as_slice).unwrap_or_default() {
                    let verdict = compiled.evaluate(t, hour).map_err(DetectionError::from)?;
                    if !verdict.fires {
                        continue;
                    }
                    let name = if t.subscription.is_empty() { t.unit.clone() } else { t.subscription.clone() };
                    let case_id = if rule.state == RuleState::Active {
                        done.active_hits += 1;
                        let open = match &mut open_cases {
                            Some(open) => open,
                            None => open_cases.insert(self.open_detection_cases(&tenant.id).await?),
                        };
                        Some(self.signal(rule, t, hour, &verdict.figures, open, &mut done).await?)
                    } else {
                        done.shadow_hits += 1;
                        None
                    };
                    results.push(RuleResult {
                        rule_id: rule.spec.id.clone(),
                        version: rule.version,
                        tenant: t.tenant.clone(),
                        target: name,
                        hour,
                        figures: json!(verdict.figures),
                        case_id,
                    });
                }
            }
        }
        let mut tx = self.begin().await?;
        tx.write_unlogged(&[Op::AddRuleResults(results)]).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Every open or under-review case of `tenant` from an internal signal,
    /// however many, the most recently updated first.
    async fn open_detection_cases(&self, tenant: &str) -> Result<Vec<Case>, CoreError> {
        // The store's largest page: a tenant's open detection cases fit in
        // one read; beyond it, a case updated between two pages could move
        // across them, hence the de-duplication.
        const PAGE: u32 = 10_000;
        let mut open = Vec::new();
        for status in [CaseStatus::Open, CaseStatus::UnderReview] {
            let filter = CaseFilter {
                tenant: Some(tenant.to_owned()),
                status: Some(status.as_str().to_owned()),
                source: Some(SourceType::InternalSignal.as_str().to_owned()),
                ..CaseFilter::default()
            };
            let mut offset = 0;
            loop {
                let (page, _) = self.case_queue(&filter, offset, PAGE).await?;
                let last = page.len() < PAGE as usize;
                offset += page.len() as u64;
                open.extend(page);
                if last {
                    break;
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        open.retain(|c: &Case| seen.insert(c.id.clone()));
        open.sort_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
        Ok(open)
    }

    /// An active rule's hit on `t`: a finding added to the unit's open case
    /// from detection (one of `open`, the tenant's), or a new case, added
    /// to `open`; its id.
    async fn signal(
        &self,
        rule: &DetectionRule,
        t: &Target,
        hour: i64,
        figures: &BTreeMap<String, f64>,
        open: &mut Vec<Case>,
        done: &mut Evaluation,
    ) -> Result<String, CoreError> {
        let detection = Principal {
            name: DETECTION.to_owned(),
            roles: vec![verdict_model::Role::Analyst],
            tenant: None,
            scope: None,
        };
        let unit = verdict_model::UnitPath::parse(&t.unit)?;
        let figures_json: serde_json::Map<String, serde_json::Value> =
            figures.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let what = if t.subscription.is_empty() {
            format!("unit {}", t.unit)
        } else {
            format!("subscription {}", t.subscription)
        };
        let evidence: Evidence = serde_json::from_value(json!({
            "kind": "metadata_finding",
            "summary": format!("Rule {} v{} fired for {what}: {}", rule.spec.id, rule.version, rule.spec.text),
            "figures": figures_json,
            "method": format!("rule {} version {} (log entry {}), windows ending {}", rule.spec.id, rule.version,
                rule.log_index.map_or("?".to_owned(), |i| i.to_string()), Timestamp(hour)),
        }))
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        // A unit's hit joins the most recently active open case from
        // detection about it, or about a unit within it or above it: the
        // same activity, one case.
        while let Some(at) =
            open.iter().position(|c| c.spec.units.iter().any(|u| unit.is_within(u) || u.is_within(&unit)))
        {
            let case_id = open[at].id.clone();
            match self.add_evidence(&detection, &case_id, evidence.clone()).await {
                Ok(_) => {
                    done.cases_updated.push(case_id.clone());
                    let case = open.remove(at);
                    open.insert(0, case);
                    return Ok(case_id);
                }
                // Closed by someone since the evaluation read it: the
                // activity goes on, so it needs another case.
                Err(e) if e.code() == "case-closed" => {
                    open.remove(at);
                }
                Err(e) => return Err(e),
            }
        }
        let spec: CaseSpec = serde_json::from_value(json!({
            "tenant": t.tenant, "source_type": "internal_signal", "units": [t.unit],
            "clauses": [rule.spec.clause],
            "title": format!("{} — rule {} v{} on {}", rule.spec.title, rule.spec.id, rule.version, t.unit),
        }))
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        let case = self.open_case(&detection, spec).await?;
        done.cases_opened.push(case.id.clone());
        let case_id = case.id.clone();
        self.add_evidence(&detection, &case_id, evidence).await?;
        open.insert(0, case);
        Ok(case_id)
    }
}

/// A backtest over one tenant's targets, hour by hour from `start` to
/// `end`, into `hits` (first hour, figures then, hours fired).
fn backtest_tenant(
    rule: &Rule,
    targets: &[Target],
    start: i64,
    end: i64,
    hits: &mut BTreeMap<(String, String), BacktestHit>,
) -> Result<(), CoreError> {
    let mut hour = start;
    while hour <= end {
        for t in targets {
            let verdict = rule.evaluate(t, hour).map_err(DetectionError::from)?;
            if verdict.fires {
                let name = if t.subscription.is_empty() { t.unit.clone() } else { t.subscription.clone() };
                hits.entry((t.tenant.clone(), name.clone())).and_modify(|h| h.hours += 1).or_insert(BacktestHit {
                    tenant: t.tenant.clone(),
                    target: name,
                    first: Timestamp(hour),
                    hours: 1,
                    figures: verdict.figures,
                });
            }
        }
        hour += verdict_detect::HOUR;
    }
    Ok(())
}
