//! Usage in hour slices: a batch of events pre-aggregated per subscription,
//! service, meter and hour (a counter's hour is its sum, a gauge's its
//! highest reading — both independent of the order events arrive in, so a
//! late event lands where it belongs), and one series' figures over a
//! window ending at an hour boundary.

use std::collections::{BTreeMap, HashMap};

use verdict_model::{MeterKind, Timestamp, UsageEvent};

/// Seconds in an hour slice.
pub const HOUR: i64 = 3600;

/// The start of the hour `t` falls in.
pub fn hour_of(t: Timestamp) -> i64 {
    t.seconds().div_euclid(HOUR) * HOUR
}

/// What a series is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The subscription.
    pub subscription: String,
    /// The service.
    pub service: String,
    /// The meter.
    pub meter: String,
}

/// Combines two readings of one hour: a counter adds, a gauge keeps the
/// higher.
pub fn combine(kind: MeterKind, a: f64, b: f64) -> f64 {
    match kind {
        MeterKind::Counter => a + b,
        MeterKind::Gauge => a.max(b),
    }
}

/// A batch of events as hour slices: what one ingestion adds to the store.
/// Subscriptions are interned and meters are positions in the catalog's
/// table, so adding an event hashes one string and copies none.
#[derive(Debug, Default)]
pub struct Batch {
    subscriptions: HashMap<String, u32>,
    names: Vec<String>,
    slices: HashMap<(u32, u16, i64), f64>,
    events: usize,
}

/// One hour slice of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slice<'a> {
    /// The subscription.
    pub subscription: &'a str,
    /// The service.
    pub service: &'static str,
    /// The meter.
    pub meter: &'static str,
    /// The meter's position in [`verdict_model::METERS`].
    pub meter_position: usize,
    /// The hour's start.
    pub hour: i64,
    /// Counter or gauge.
    pub kind: MeterKind,
    /// The quantity.
    pub quantity: f64,
}

impl Batch {
    /// Adds one (checked) event; an event of a meter no service declares
    /// (which the checks refuse) is ignored.
    pub fn add(&mut self, event: &UsageEvent) {
        let Some(meter) =
            verdict_model::METERS.iter().position(|m| m.name == event.meter && m.service == event.service)
        else {
            return;
        };
        let kind = verdict_model::METERS[meter].kind;
        let subscription = match self.subscriptions.get(event.subscription.as_str()) {
            Some(i) => *i,
            None => {
                let i = self.names.len() as u32;
                self.names.push(event.subscription.clone());
                self.subscriptions.insert(event.subscription.clone(), i);
                i
            }
        };
        self.slices
            .entry((subscription, meter as u16, hour_of(event.time)))
            .and_modify(|q| *q = combine(kind, *q, event.quantity))
            .or_insert(event.quantity);
        self.events += 1;
    }

    /// Events added.
    pub fn events(&self) -> usize {
        self.events
    }

    /// The slices.
    pub fn slices(&self) -> impl Iterator<Item = Slice<'_>> {
        self.slices.iter().map(|((subscription, meter, hour), quantity)| {
            let def = &verdict_model::METERS[*meter as usize];
            Slice {
                subscription: &self.names[*subscription as usize],
                service: def.service,
                meter: def.name,
                meter_position: *meter as usize,
                hour: *hour,
                kind: def.kind,
                quantity: *quantity,
            }
        })
    }

    /// How many slices.
    pub fn len(&self) -> usize {
        self.slices.len()
    }

    /// Whether no event was added.
    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
    }
}

/// A window a rule reads: whole hours, up to 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Its length in seconds.
    pub seconds: i64,
}

impl Window {
    /// The longest window.
    pub const MAX_DAYS: i64 = 30;

    /// `"1h"`, `"6h"`, `"1d"`, `"7d"`, `"30d"`: a number of hours or days.
    pub fn parse(text: &str) -> Result<Window, String> {
        let (number, unit) = text.split_at(text.len().saturating_sub(1));
        let n: i64 = number
            .parse()
            .map_err(|_| format!("window {text:?} is not a number of hours or days, e.g. \"1h\" or \"7d\""))?;
        let seconds = match unit {
            "h" => n * HOUR,
            "d" => n * 24 * HOUR,
            _ => return Err(format!("window {text:?} is not a number of hours or days, e.g. \"1h\" or \"7d\"")),
        };
        if n < 1 || seconds > Window::MAX_DAYS * 24 * HOUR {
            return Err(format!("window {text:?} is out of range: from 1h to {}d", Window::MAX_DAYS));
        }
        Ok(Window { seconds })
    }
}

/// One series' hour slices (or a unit's: its subscriptions' added up).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Counter or gauge.
    pub kind: MeterKind,
    /// Hour start → quantity.
    pub hours: BTreeMap<i64, f64>,
}

impl Series {
    /// An empty series of `kind`.
    pub fn new(kind: MeterKind) -> Series {
        Series { kind, hours: BTreeMap::new() }
    }

    /// Adds one hour's quantity, combined with what the hour holds.
    pub fn add(&mut self, hour: i64, quantity: f64) {
        let kind = self.kind;
        self.hours.entry(hour).and_modify(|q| *q = combine(kind, *q, quantity)).or_insert(quantity);
    }

    /// Adds another series hour by hour, as a unit adds up its
    /// subscriptions: gauges' levels add too (a unit stores what its
    /// subscriptions store).
    pub fn add_series(&mut self, other: &Series) {
        for (hour, q) in &other.hours {
            *self.hours.entry(*hour).or_insert(0.0) += q;
        }
    }

    /// A counter's total over `[end - w, end)`; a gauge's level at the end
    /// of it (its last hour with a reading in the window, or 0).
    pub fn sum(&self, window: Window, end: i64) -> f64 {
        match self.kind {
            MeterKind::Counter => self.hours.range(end - window.seconds..end).map(|(_, q)| q).sum(),
            MeterKind::Gauge => self.level_before(end, end - window.seconds),
        }
    }

    /// Per second over the window: a counter's total, a gauge's change.
    pub fn rate(&self, window: Window, end: i64) -> f64 {
        let amount = match self.kind {
            MeterKind::Counter => self.sum(window, end),
            MeterKind::Gauge => self.sum(window, end) - self.level_before(end - window.seconds, i64::MIN),
        };
        amount / window.seconds as f64
    }

    /// How many times larger the window is than what came before it: a
    /// counter's total against the window before; a gauge's level at the
    /// end against its level at the start. 0 without a baseline (nothing
    /// before): a new subscription has not grown, it has begun.
    pub fn growth(&self, window: Window, end: i64) -> f64 {
        let (now, before) = match self.kind {
            MeterKind::Counter => (self.sum(window, end), self.sum(window, end - window.seconds)),
            MeterKind::Gauge => (self.sum(window, end), self.level_before(end - window.seconds, i64::MIN)),
        };
        if before > 0.0 { now / before } else { 0.0 }
    }

    /// The last reading before `end`, no earlier than `from`.
    fn level_before(&self, end: i64, from: i64) -> f64 {
        self.hours.range(from..end).next_back().map_or(0.0, |(_, q)| *q)
    }
}

/// Usage held in memory: every series, and the ids of the events counted
/// (a resent event counts once). The store keeps the same figures
/// durably; this is what it must agree with.
#[derive(Debug, Default)]
pub struct Aggregator {
    series: BTreeMap<SeriesKey, Series>,
    seen: std::collections::HashSet<String>,
}

/// What one ingestion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Events counted.
    pub accepted: usize,
    /// Events dropped because their id was counted before.
    pub duplicates: usize,
}

impl Aggregator {
    /// Counts `events` (already checked), each id once.
    pub fn ingest(&mut self, events: &[UsageEvent]) -> Ingested {
        let mut batch = Batch::default();
        let mut done = Ingested::default();
        for event in events {
            if let Some(id) = &event.id
                && !self.seen.insert(id.clone())
            {
                done.duplicates += 1;
                continue;
            }
            batch.add(event);
            done.accepted += 1;
        }
        self.apply(&batch);
        done
    }

    /// Adds a batch's slices.
    pub fn apply(&mut self, batch: &Batch) {
        for slice in batch.slices() {
            let key = SeriesKey {
                subscription: slice.subscription.to_owned(),
                service: slice.service.to_owned(),
                meter: slice.meter.to_owned(),
            };
            self.series.entry(key).or_insert_with(|| Series::new(slice.kind)).add(slice.hour, slice.quantity);
        }
    }

    /// Every series.
    pub fn series(&self) -> &BTreeMap<SeriesKey, Series> {
        &self.series
    }
}
