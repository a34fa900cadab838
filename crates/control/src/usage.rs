//! Usage metadata into the store: a batch of checked events is counted all
//! or nothing, in one transaction that claims the events' ids (a resent
//! event counts once) and adds their hour slices — so an acknowledged
//! batch survives a crash and a crash before the acknowledgement leaves
//! nothing of it. Usage is not a governance action: it is not logged.

use std::collections::BTreeMap;

use verdict_detect::{Batch, Ingested, Series, SeriesKey};
use verdict_model::{MeterKind, Timestamp, UsageEvent};
use verdict_store::{Op, UsageSlice};

use crate::error::UsageBatchError;
use crate::{Core, CoreError};

/// The most events one batch may hold.
pub const MAX_USAGE_BATCH: usize = 100_000;

/// How late an event may arrive and still be counted.
pub const LATENESS_SECONDS: i64 = 48 * 3600;

/// How long hour slices are kept: the longest window (30 days) and the one
/// before it, which growth compares against, and a day.
pub const USAGE_RETENTION_DAYS: i64 = 61;

impl Core {
    /// The times an event may carry now: from the allowed lateness ago to
    /// a little ahead of this server's clock.
    pub fn usage_bounds(&self) -> (Timestamp, Timestamp) {
        let now = self.now();
        (now.plus(-LATENESS_SECONDS), now.plus(verdict_model::MAX_CLOCK_SKEW_SECONDS))
    }

    /// Counts a batch of checked events (each with its line, from 1): every
    /// subscription must be its tenant's; events whose id was counted
    /// before are dropped. All or nothing.
    pub async fn ingest_usage(&self, events: &[(usize, UsageEvent)]) -> Result<Ingested, CoreError> {
        if events.is_empty() {
            return Err(UsageBatchError::Empty.into());
        }
        if events.len() > MAX_USAGE_BATCH {
            return Err(UsageBatchError::TooLarge { count: events.len(), max: MAX_USAGE_BATCH }.into());
        }
        {
            let index = self.inventory.load();
            for (line, e) in events {
                if !index.tenant(&e.tenant).is_some_and(|t| t.contains(&e.subscription)) {
                    return Err(UsageBatchError::UnknownSubscription {
                        line: *line,
                        tenant: e.tenant.clone(),
                        subscription: e.subscription.clone(),
                    }
                    .into());
                }
            }
        }
        let ids: Vec<(String, i64)> = events
            .iter()
            .filter_map(|(_, e)| e.id.as_ref().map(|id| (id.clone(), verdict_detect::hour_of(e.time))))
            .collect();
        let mut tx = self.begin().await?;
        let fresh = tx.store().claim_usage_ids(&ids).await?;
        let mut batch = Batch::default();
        let mut tenants: BTreeMap<&str, &str> = BTreeMap::new();
        let mut done = Ingested::default();
        let mut claimed = std::collections::HashSet::new();
        for (_, e) in events {
            // An id counts once: not if counted before, nor twice in a batch.
            if let Some(id) = &e.id
                && !(fresh.contains(id) && claimed.insert(id.as_str()))
            {
                done.duplicates += 1;
                continue;
            }
            tenants.insert(&e.subscription, &e.tenant);
            batch.add(e);
            done.accepted += 1;
        }
        let slices: Vec<UsageSlice> = batch
            .slices()
            .map(|slice| UsageSlice {
                tenant: tenants.get(slice.subscription).map(|t| (*t).to_owned()).unwrap_or_default(),
                subscription: slice.subscription.to_owned(),
                service: slice.service.to_owned(),
                meter: slice.meter.to_owned(),
                hour: slice.hour,
                gauge: slice.kind == MeterKind::Gauge,
                quantity: slice.quantity,
            })
            .collect();
        tx.write_unlogged(&[Op::AddUsage(slices)]).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// A tenant's series, from hour `from_hour` on.
    pub async fn usage_series(&self, tenant: &str, from_hour: i64) -> Result<BTreeMap<SeriesKey, Series>, CoreError> {
        let slices = self.reads().await?.usage_hours(tenant, from_hour).await?;
        let mut series: BTreeMap<SeriesKey, Series> = BTreeMap::new();
        for s in slices {
            let kind = if s.gauge { MeterKind::Gauge } else { MeterKind::Counter };
            series
                .entry(SeriesKey { subscription: s.subscription, service: s.service, meter: s.meter })
                .or_insert_with(|| Series::new(kind))
                .add(s.hour, s.quantity);
        }
        Ok(series)
    }

    /// Forgets usage older than the retention period; returns the first
    /// hour kept.
    pub async fn purge_usage(&self) -> Result<i64, CoreError> {
        let before = verdict_detect::hour_of(self.now().plus(-USAGE_RETENTION_DAYS * 86_400));
        let mut tx = self.begin().await?;
        tx.write_unlogged(&[Op::PurgeUsage { before_hour: before }]).await?;
        tx.commit().await?;
        Ok(before)
    }
}
