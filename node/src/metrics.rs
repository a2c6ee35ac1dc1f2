//! What an operator watches, in the Prometheus text format (`GET /metrics` on the API): entries
//! taken and refused (by the rule they broke), catch-up sessions and their bytes, the gossip
//! queue, store commits and their latency, peers, co-ops and records. The same things
//! BENCHMARKS.md measures, on a running node. Encoded by `prometheus-client`, the Prometheus
//! project's own Rust client.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A refusal's label: the rule the entry broke.
pub type Reason = [(&'static str, &'static str); 1];

/// The node's metrics. Cloning shares them.
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    /// Entries accepted and durably stored (written here or received).
    pub entries_applied: Counter,
    /// Entries refused from peers, by rule.
    pub entries_rejected: Family<Reason, Counter>,
    /// Catch-up sessions started.
    pub sync_sessions: Counter,
    /// Bytes of catch-up messages received.
    pub sync_bytes_in: Counter,
    /// Bytes of catch-up messages sent.
    pub sync_bytes_out: Counter,
    /// Entries waiting to be gossiped.
    pub gossip_queue: Gauge,
    /// Store commits and how long each took, in seconds.
    pub commit_seconds: Histogram,
    /// Connected peers.
    pub peers: Gauge,
    /// Co-ops replicated.
    pub coops: Gauge,
    /// Records held (views).
    pub records: Gauge,
    /// The store's size on disk, in bytes (measured when scraped).
    pub store_bytes: Gauge<u64, AtomicU64>,
    /// How long the node's last start took to open its store and hold every view, in seconds.
    pub start_seconds: Gauge<f64, AtomicU64>,
    /// 1 when the last start read its views from the snapshot of a clean stop, 0 when from
    /// the store.
    pub start_from_snapshot: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered under `minga_`.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("minga");
        let m = Metrics {
            registry: std::sync::Arc::new(Registry::default()),
            entries_applied: Counter::default(),
            entries_rejected: Family::default(),
            sync_sessions: Counter::default(),
            sync_bytes_in: Counter::default(),
            sync_bytes_out: Counter::default(),
            gossip_queue: Gauge::default(),
            // 0.1 ms to about 1.6 s: a commit's fsync is 0.2 ms on these machines.
            commit_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 15),
            ),
            peers: Gauge::default(),
            coops: Gauge::default(),
            records: Gauge::default(),
            store_bytes: Gauge::default(),
            start_seconds: Gauge::default(),
            start_from_snapshot: Gauge::default(),
        };
        r.register(
            "entries_applied",
            "Entries accepted and durably stored, written here or received",
            m.entries_applied.clone(),
        );
        r.register(
            "entries_rejected",
            "Entries from peers refused, by the rule they broke",
            m.entries_rejected.clone(),
        );
        r.register(
            "sync_sessions",
            "Catch-up sessions started with peers",
            m.sync_sessions.clone(),
        );
        r.register(
            "sync_received_bytes",
            "Bytes of catch-up messages received, as they crossed the wire (compressed, framed)",
            m.sync_bytes_in.clone(),
        );
        r.register(
            "sync_sent_bytes",
            "Bytes of catch-up messages sent, as they crossed the wire (compressed, framed)",
            m.sync_bytes_out.clone(),
        );
        r.register(
            "gossip_queue_entries",
            "Entries waiting to be gossiped",
            m.gossip_queue.clone(),
        );
        r.register(
            "store_commit_seconds",
            "Durable store commits and how long each took",
            m.commit_seconds.clone(),
        );
        r.register("peers", "Connected peers", m.peers.clone());
        r.register("coops", "Co-ops replicated", m.coops.clone());
        r.register("records", "Records held", m.records.clone());
        r.register(
            "store_size_bytes",
            "The store's size on disk",
            m.store_bytes.clone(),
        );
        r.register(
            "start_seconds",
            "How long the last start took to open the store and hold every view",
            m.start_seconds.clone(),
        );
        r.register(
            "start_from_snapshot",
            "1 when the last start read its views from the snapshot a clean stop wrote",
            m.start_from_snapshot.clone(),
        );
        Metrics {
            registry: std::sync::Arc::new(r),
            ..m
        }
    }

    /// Counts an entry refused for breaking `rule`.
    pub fn rejected(&self, rule: &'static str) {
        self.entries_rejected.get_or_create(&[("rule", rule)]).inc();
    }

    /// The metrics in the Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_format() {
        let m = Metrics::new();
        m.entries_applied.inc_by(3);
        m.rejected("bad_signature");
        m.rejected("bad_signature");
        m.commit_seconds.observe(0.0003);
        let text = m.encode();
        assert!(text.contains("minga_entries_applied_total 3"), "{text}");
        assert!(
            text.contains("minga_entries_rejected_total{rule=\"bad_signature\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("minga_store_commit_seconds_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
