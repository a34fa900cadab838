//! Prometheus metrics, kept in atomics and rendered as text on scrape.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use verdict_engine::Snapshot;
use verdict_model::Timestamp;

/// Upper bounds of the decision-latency histogram, in seconds.
const BOUNDS: [f64; 12] = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2, 1e-1];

/// Counters and the latency histogram.
#[derive(Default)]
pub struct Metrics {
    allowed: AtomicU64,
    denied: AtomicU64,
    invalid: AtomicU64,
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    watchers: std::sync::atomic::AtomicI64,
    streamed_bytes: AtomicU64,
    streamed_frames: AtomicU64,
}

impl Metrics {
    /// Records one decision and how long the handler took to make it.
    pub fn observe(&self, allowed: bool, elapsed: Duration) {
        if allowed { &self.allowed } else { &self.denied }.fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Records a decision request that could not be answered (bad input).
    pub fn invalid(&self) {
        self.invalid.fetch_add(1, Ordering::Relaxed);
    }

    /// A replica started (+1) or stopped (-1) watching the change stream.
    pub fn watcher(&self, delta: i64) {
        self.watchers.fetch_add(delta, Ordering::Relaxed);
    }

    /// A change set of `bytes` went out on the stream.
    pub fn streamed(&self, bytes: usize) {
        self.streamed_frames.fetch_add(1, Ordering::Relaxed);
        self.streamed_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self, snapshot: &Snapshot, now: Timestamp) -> String {
        let mut out = String::with_capacity(2048);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP verdict_decisions_total Decisions answered, by result.");
        let _ = writeln!(out, "# TYPE verdict_decisions_total counter");
        let _ = writeln!(out, "verdict_decisions_total{{result=\"allow\"}} {}", get(&self.allowed));
        let _ = writeln!(out, "verdict_decisions_total{{result=\"deny\"}} {}", get(&self.denied));
        let _ = writeln!(out, "verdict_decisions_total{{result=\"invalid\"}} {}", get(&self.invalid));
        let _ = writeln!(out, "# HELP verdict_decision_seconds Time to answer one decision inside the server.");
        let _ = writeln!(out, "# TYPE verdict_decision_seconds histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            cumulative += get(bucket);
            let _ = writeln!(out, "verdict_decision_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = get(&self.count);
        let _ = writeln!(out, "verdict_decision_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "verdict_decision_seconds_sum {}", get(&self.sum_nanos) as f64 / 1e9);
        let _ = writeln!(out, "verdict_decision_seconds_count {count}");
        let _ = writeln!(out, "# HELP verdict_snapshot_version Version of the decision snapshot in force.");
        let _ = writeln!(out, "# TYPE verdict_snapshot_version gauge");
        let _ = writeln!(out, "verdict_snapshot_version {}", snapshot.version());
        let _ = writeln!(out, "# HELP verdict_orders_in_force Orders governing some phase now.");
        let _ = writeln!(out, "# TYPE verdict_orders_in_force gauge");
        let _ = writeln!(out, "verdict_orders_in_force {}", snapshot.orders_in_force(now));
        let (tenants, units, subscriptions, orders) = snapshot.counts();
        let _ = writeln!(out, "# HELP verdict_inventory Objects in the snapshot, by kind.");
        let _ = writeln!(out, "# TYPE verdict_inventory gauge");
        let _ = writeln!(out, "verdict_inventory{{kind=\"tenant\"}} {tenants}");
        let _ = writeln!(out, "verdict_inventory{{kind=\"unit\"}} {units}");
        let _ = writeln!(out, "verdict_inventory{{kind=\"subscription\"}} {subscriptions}");
        let _ = writeln!(out, "verdict_inventory{{kind=\"order\"}} {orders}");
        let _ = writeln!(out, "# HELP verdict_watchers Replicas following the change stream now.");
        let _ = writeln!(out, "# TYPE verdict_watchers gauge");
        let _ = writeln!(out, "verdict_watchers {}", self.watchers.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP verdict_streamed_changes_total Change sets sent to replicas, and their bytes.");
        let _ = writeln!(out, "# TYPE verdict_streamed_changes_total counter");
        let _ = writeln!(out, "verdict_streamed_changes_total {}", get(&self.streamed_frames));
        let _ = writeln!(out, "verdict_streamed_bytes_total {}", get(&self.streamed_bytes));
        out
    }
}
