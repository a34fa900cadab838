//! Usage metadata into the store: a batch of checked events is counted all
//! or nothing, in one transaction that claims the events' ids (a resent
//! event counts once) and adds their hour slices — so an acknowledged
//! batch survives a crash and a crash before the acknowledgement leaves
//! nothing of it. Usage is not a governance action: it is not logged.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroI64;

use sha2::{Digest, Sha256};
use verdict_detect::{Batch, Ingested, Series, SeriesKey};
use verdict_model::{Catalog, LineError, MeterKind, Timestamp, UsageEvent};
use verdict_store::{Op, UsageAdd, UsageSeries};

use crate::error::UsageBatchError;
use crate::{Core, CoreError};

/// The most events one batch may hold.
pub const MAX_USAGE_BATCH: usize = 100_000;

/// How late an event may arrive and still be counted.
pub const LATENESS_SECONDS: i64 = 48 * 3600;

/// How long hour slices are kept: the longest window (30 days) and the one
/// before it, which growth compares against, and a day.
pub const USAGE_RETENTION_DAYS: i64 = 61;

/// The most subscriptions whose series numbers are kept in memory (a
/// name and 8 bytes a meter each).
const SERIES_CACHE_LIMIT: usize = 1_000_000;

/// Series numbers by subscription, one slot per meter of the catalog.
pub(crate) type SeriesNumbers = HashMap<String, Box<[Option<NonZeroI64>]>>;

/// An event id as the store keeps it: 64 bits of its SHA-256. Two ids
/// collide within one hour (where ids are compared) with a chance of about
/// n²/2⁶⁵: one in ten million for a million ids an hour.
pub(crate) fn id_digest(id: &str) -> i64 {
    let digest = Sha256::digest(id.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"))
}

/// Reads an NDJSON batch of usage events (blank lines skipped), each with
/// its line number from 1, checked against the catalog and the times
/// allowed; large batches are read on every core. The first bad line, in
/// line order, refuses the batch.
pub fn parse_usage_batch(
    body: &[u8],
    catalog: &Catalog,
    earliest: Timestamp,
    latest: Timestamp,
) -> Result<Vec<(usize, UsageEvent)>, UsageBatchError> {
    // Pieces of whole lines, each read on its own thread.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let pieces = if body.len() < 1 << 20 { 1 } else { threads.min(8) };
    let mut bounds = vec![0];
    for k in 1..pieces {
        let from = (body.len() * k / pieces).max(*bounds.last().unwrap_or(&0));
        let cut = body[from..].iter().position(|b| *b == b'\n').map_or(body.len(), |p| from + p + 1);
        bounds.push(cut);
    }
    bounds.push(body.len());
    let mut first_line = 1;
    let mut jobs = Vec::with_capacity(pieces);
    for w in bounds.windows(2) {
        let piece = &body[w[0]..w[1]];
        jobs.push((first_line, piece));
        first_line += piece.iter().filter(|b| **b == b'\n').count();
    }
    let read = |(first, piece): (usize, &[u8])| -> Result<Vec<(usize, UsageEvent)>, UsageBatchError> {
        let mut events = Vec::with_capacity(piece.len() / 160);
        for (i, line) in piece.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line_no = first + i;
            match UsageEvent::parse_line(line, catalog, earliest, latest) {
                Ok(event) => events.push((line_no, event)),
                Err(LineError::NotJson(reason)) => return Err(UsageBatchError::Malformed { line: line_no, reason }),
                Err(LineError::Event(error)) => return Err(UsageBatchError::Event { line: line_no, error }),
            }
        }
        Ok(events)
    };
    let results: Vec<_> = if jobs.len() == 1 {
        jobs.into_iter().map(read).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs.into_iter().map(|job| scope.spawn(move || read(job))).collect();
            handles.into_iter().map(|h| h.join().expect("a usage reader panicked")).collect()
        })
    };
    let mut events = Vec::new();
    for result in results {
        events.extend(result?);
    }
    if events.len() > MAX_USAGE_BATCH {
        return Err(UsageBatchError::TooLarge { count: events.len(), max: MAX_USAGE_BATCH });
    }
    if events.is_empty() {
        return Err(UsageBatchError::Empty);
    }
    Ok(events)
}

impl Core {
    /// The times an event may carry now: from the allowed lateness ago to
    /// a little ahead of this server's clock.
    pub fn usage_bounds(&self) -> (Timestamp, Timestamp) {
        let now = self.now();
        (now.plus(-LATENESS_SECONDS), now.plus(verdict_model::MAX_CLOCK_SKEW_SECONDS))
    }

    /// Whether every event's subscription is its tenant's (the first that
    /// is not, by line, refuses the batch).
    pub fn check_usage_subscriptions(&self, events: &[(usize, UsageEvent)]) -> Result<(), UsageBatchError> {
        let index = self.inventory.load();
        for (line, e) in events {
            if !index.tenant(&e.tenant).is_some_and(|t| t.contains(&e.subscription)) {
                return Err(UsageBatchError::UnknownSubscription {
                    line: *line,
                    tenant: e.tenant.clone(),
                    subscription: e.subscription.clone(),
                });
            }
        }
        Ok(())
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
        self.check_usage_subscriptions(events)?;
        // Each id once per hour: the first event with it in the batch
        // stands for the rest.
        let keys: Vec<Option<(i64, i64)>> = events
            .iter()
            .map(|(_, e)| e.id.as_deref().map(|id| (verdict_detect::hour_of(e.time), id_digest(id))))
            .collect();
        let mut distinct = std::collections::HashSet::with_capacity(keys.len());
        let first: Vec<bool> = keys.iter().map(|k| k.is_none_or(|k| distinct.insert(k))).collect();
        // The store sorts them to compare with its runs of ids.
        let claims: Vec<(i64, i64)> = keys.iter().zip(&first).filter_map(|(k, f)| k.filter(|_| *f)).collect();
        // Another server numbering the same new series at the same moment
        // makes this batch fail; it is then counted again from the start.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.count_usage(events, &keys, &first, &claims).await {
                Err(CoreError::Store(verdict_store::StoreError::Conflict(_))) if attempt < 5 => continue,
                done => return done,
            }
        }
    }

    /// One attempt at counting a checked batch in one transaction.
    async fn count_usage(
        &self,
        events: &[(usize, UsageEvent)],
        keys: &[Option<(i64, i64)>],
        first: &[bool],
        claims: &[(i64, i64)],
    ) -> Result<Ingested, CoreError> {
        let mut tx = self.begin().await?;
        let before = tx.store().claim_usage_ids(claims).await?;
        let mut batch = Batch::default();
        let mut tenants: HashMap<&str, &str> = HashMap::new();
        let mut done = Ingested::default();
        for (((_, e), key), first) in events.iter().zip(keys).zip(first) {
            if key.is_some_and(|k| !*first || before.contains(&k)) {
                done.duplicates += 1;
                continue;
            }
            tenants.entry(&e.subscription).or_insert(&e.tenant);
            batch.add(e);
            done.accepted += 1;
        }
        // Series the store has numbered are known from earlier batches;
        // the rest are looked up or numbered in this transaction, and
        // remembered once it commits.
        let slices: Vec<_> = batch.slices().collect();
        let mut numbers: Vec<Option<NonZeroI64>> = {
            let known = self.usage_series.lock().expect("usage series cache poisoned");
            slices.iter().map(|s| known.get(s.subscription).and_then(|m| m[s.meter_position])).collect()
        };
        let mut unknown: Vec<usize> = Vec::new();
        let mut asked: HashMap<(&str, usize), usize> = HashMap::new();
        let mut wanted: Vec<UsageSeries> = Vec::new();
        for (i, slice) in slices.iter().enumerate() {
            if numbers[i].is_none() {
                unknown.push(i);
                asked.entry((slice.subscription, slice.meter_position)).or_insert_with(|| {
                    wanted.push(UsageSeries {
                        tenant: tenants.get(slice.subscription).map(|t| (*t).to_owned()).unwrap_or_default(),
                        subscription: slice.subscription.to_owned(),
                        service: slice.service.to_owned(),
                        meter: slice.meter.to_owned(),
                        gauge: slice.kind == MeterKind::Gauge,
                    });
                    wanted.len() - 1
                });
            }
        }
        let numbered: Vec<NonZeroI64> = if wanted.is_empty() {
            Vec::new()
        } else {
            let ids = tx.store().usage_series_ids(&wanted).await?;
            ids.into_iter()
                .map(|id| {
                    NonZeroI64::new(id).ok_or_else(|| CoreError::Internal("the store numbered a usage series 0".into()))
                })
                .collect::<Result<_, _>>()?
        };
        for i in unknown {
            numbers[i] = Some(numbered[asked[&(slices[i].subscription, slices[i].meter_position)]]);
        }
        // A tenant's slices in key order, so the store appends rather than
        // scatters.
        let mut by_tenant: BTreeMap<&str, Vec<UsageAdd>> = BTreeMap::new();
        for (slice, number) in slices.iter().zip(&numbers) {
            let tenant = tenants.get(slice.subscription).copied().unwrap_or_default();
            by_tenant.entry(tenant).or_default().push(UsageAdd {
                series: number.expect("every slice's series is numbered").get(),
                hour: slice.hour,
                gauge: slice.kind == MeterKind::Gauge,
                quantity: slice.quantity,
            });
        }
        let ops: Vec<Op> = by_tenant
            .into_iter()
            .map(|(tenant, mut slices)| {
                slices.sort_unstable_by_key(|a| (a.hour, a.series));
                Op::AddUsage { tenant: tenant.to_owned(), slices }
            })
            .collect();
        tx.write_unlogged(&ops).await?;
        tx.commit().await?;
        if !asked.is_empty() {
            let mut known = self.usage_series.lock().expect("usage series cache poisoned");
            // Bounded: past the limit the cache starts over and refills
            // from the store.
            if known.len() + asked.len() > SERIES_CACHE_LIMIT {
                known.clear();
            }
            for ((subscription, position), at) in asked {
                let meters = known
                    .entry(subscription.to_owned())
                    .or_insert_with(|| vec![None; verdict_model::METERS.len()].into_boxed_slice());
                meters[position] = Some(numbered[at]);
            }
        }
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
