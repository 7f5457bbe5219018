//! The consumer's figures: each is kept twice, in an atomic read by
//! [`Consumer::metrics`](crate::Consumer::metrics) (for applications
//! without a metrics recorder) and in a handle of the `metrics` facade
//! (for those with one; the library installs no recorder and no exporter).
//!
//! The handles are registered when the consumer is built, with the
//! recorder in force then (the global one, or a local one around the
//! build); every series carries the label `client_id`.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `vltava_consumer_records_consumed_total` | counter | records handed out by `poll` |
//! | `vltava_consumer_bytes_fetched_total` | counter | record-batch bytes fetched into the buffer |
//! | `vltava_consumer_fetch_requests_total` | counter | Fetch requests answered or failed |
//! | `vltava_consumer_fetch_errors_total` | counter | failed Fetch requests and partitions answered with an error |
//! | `vltava_consumer_fetch_latency_seconds` | histogram | time from sending a Fetch to its answer (or failure) |
//! | `vltava_consumer_fetch_requests_incremental_total` | counter | Fetch requests sent in an open KIP-227 session (incremental: naming only what changed) |
//! | `vltava_consumer_fetch_partitions_sent_total` | counter | partitions named in Fetch requests (an incremental request leaves out the unchanged ones) |
//! | `vltava_consumer_position_validations_total` | counter | positions validated with OffsetForLeaderEpoch (after a leader change, or a seek to an offset with a leader epoch) |
//! | `vltava_consumer_log_truncations_total` | counter | log truncations detected below a position (by validation or a Fetch's diverging epoch) |
//! | `vltava_consumer_leader_hints_applied_total` | counter | partitions moved to a new leader by a KIP-951 hint in a Fetch answer, without waiting for a metadata refresh |
//! | `vltava_consumer_rebalances_total` | counter | times the member joined the group (each completed rebalance) |
//! | `vltava_consumer_partitions_assigned_total` | counter | partitions assigned by the group |
//! | `vltava_consumer_partitions_revoked_total` | counter | partitions revoked in orderly rebalances |
//! | `vltava_consumer_partitions_lost_total` | counter | partitions lost (session expired or fenced) |
//! | `vltava_consumer_errors_total` | counter | errors `poll` reported; label `fatal` = `true` or `false` |
//! | `vltava_consumer_commits_total` | counter | commits that went through (each call, auto-commits included) |
//! | `vltava_consumer_commit_failures_total` | counter | commits that failed for some partition or as a whole |
//! | `vltava_consumer_lag` | gauge | records between the positions and the high watermarks, summed over the assigned partitions whose watermark is known |
//! | `vltava_consumer_assigned_partitions` | gauge | partitions assigned now |
//! | `vltava_consumer_buffered_bytes` | gauge | fetched bytes waiting for `poll` |

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};

/// A counter kept in both places.
struct Count {
    value: AtomicU64,
    handle: Counter,
}

impl Count {
    fn new(name: &'static str, client_id: &str) -> Self {
        Self {
            value: AtomicU64::new(0),
            handle: metrics::counter!(name, "client_id" => client_id.to_owned()),
        }
    }

    fn with(name: &'static str, client_id: &str, label: &'static str, value: &'static str) -> Self {
        Self {
            value: AtomicU64::new(0),
            handle: metrics::counter!(name, "client_id" => client_id.to_owned(), label => value),
        }
    }

    fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
        self.handle.increment(n);
    }

    fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// A gauge kept in both places.
struct Level {
    value: AtomicU64,
    handle: Gauge,
}

impl Level {
    fn new(name: &'static str, client_id: &str) -> Self {
        Self {
            value: AtomicU64::new(0),
            handle: metrics::gauge!(name, "client_id" => client_id.to_owned()),
        }
    }

    fn set(&self, value: u64) {
        self.value.store(value, Ordering::Relaxed);
        // Gauges are f64 in the facade; counts this large do not occur.
        #[allow(clippy::cast_precision_loss)]
        self.handle.set(value as f64);
    }

    fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// Every figure of one consumer.
pub(crate) struct Stats {
    records: Count,
    bytes: Count,
    fetch_requests: Count,
    fetch_errors: Count,
    fetch_latency: Histogram,
    incremental_fetches: Count,
    partitions_sent: Count,
    validations: Count,
    truncations: Count,
    leader_hints: Count,
    rebalances: Count,
    assigned: Count,
    revoked: Count,
    lost: Count,
    errors: Count,
    fatal_errors: Count,
    commits: Count,
    commit_failures: Count,
    lag: Level,
    partitions: Level,
    buffered: Level,
}

impl Stats {
    pub(crate) fn new(client_id: &str) -> Self {
        Self {
            records: Count::new("vltava_consumer_records_consumed_total", client_id),
            bytes: Count::new("vltava_consumer_bytes_fetched_total", client_id),
            fetch_requests: Count::new("vltava_consumer_fetch_requests_total", client_id),
            fetch_errors: Count::new("vltava_consumer_fetch_errors_total", client_id),
            fetch_latency: metrics::histogram!(
                "vltava_consumer_fetch_latency_seconds",
                "client_id" => client_id.to_owned()
            ),
            incremental_fetches: Count::new(
                "vltava_consumer_fetch_requests_incremental_total",
                client_id,
            ),
            partitions_sent: Count::new("vltava_consumer_fetch_partitions_sent_total", client_id),
            validations: Count::new("vltava_consumer_position_validations_total", client_id),
            truncations: Count::new("vltava_consumer_log_truncations_total", client_id),
            leader_hints: Count::new("vltava_consumer_leader_hints_applied_total", client_id),
            rebalances: Count::new("vltava_consumer_rebalances_total", client_id),
            assigned: Count::new("vltava_consumer_partitions_assigned_total", client_id),
            revoked: Count::new("vltava_consumer_partitions_revoked_total", client_id),
            lost: Count::new("vltava_consumer_partitions_lost_total", client_id),
            errors: Count::with("vltava_consumer_errors_total", client_id, "fatal", "false"),
            fatal_errors: Count::with("vltava_consumer_errors_total", client_id, "fatal", "true"),
            commits: Count::new("vltava_consumer_commits_total", client_id),
            commit_failures: Count::new("vltava_consumer_commit_failures_total", client_id),
            lag: Level::new("vltava_consumer_lag", client_id),
            partitions: Level::new("vltava_consumer_assigned_partitions", client_id),
            buffered: Level::new("vltava_consumer_buffered_bytes", client_id),
        }
    }

    pub(crate) fn records(&self, n: usize) {
        self.records.add(n as u64);
    }

    pub(crate) fn bytes(&self, n: usize) {
        self.bytes.add(n as u64);
    }

    /// A Fetch came back (or failed) after `took`.
    pub(crate) fn fetch(&self, took: Duration, failed: bool) {
        self.fetch_requests.add(1);
        self.fetch_latency.record(took.as_secs_f64());
        if failed {
            self.fetch_errors.add(1);
        }
    }

    /// A Fetch request is sent: incremental or full, naming `partitions`.
    pub(crate) fn fetch_sent(&self, incremental: bool, partitions: usize) {
        if incremental {
            self.incremental_fetches.add(1);
        }
        self.partitions_sent.add(partitions as u64);
    }

    /// `n` positions are being validated (OffsetForLeaderEpoch).
    pub(crate) fn validation(&self, n: usize) {
        self.validations.add(n as u64);
    }

    /// A log truncation was detected below a position.
    pub(crate) fn truncation(&self) {
        self.truncations.add(1);
    }

    /// `n` partitions moved to the leader a Fetch answer named (KIP-951).
    pub(crate) fn leader_hints(&self, n: usize) {
        self.leader_hints.add(n as u64);
    }

    pub(crate) fn partition_error(&self) {
        self.fetch_errors.add(1);
    }

    pub(crate) fn rebalance(&self) {
        self.rebalances.add(1);
    }

    pub(crate) fn assigned(&self, n: usize) {
        self.assigned.add(n as u64);
    }

    pub(crate) fn revoked(&self, n: usize) {
        self.revoked.add(n as u64);
    }

    pub(crate) fn lost(&self, n: usize) {
        self.lost.add(n as u64);
    }

    pub(crate) fn error(&self, fatal: bool) {
        if fatal {
            self.fatal_errors.add(1);
        } else {
            self.errors.add(1);
        }
    }

    pub(crate) fn commit(&self, ok: bool) {
        if ok {
            self.commits.add(1);
        } else {
            self.commit_failures.add(1);
        }
    }

    /// The levels of the moment.
    pub(crate) fn levels(&self, lag: u64, partitions: usize, buffered: usize) {
        self.lag.set(lag);
        self.partitions.set(partitions as u64);
        self.buffered.set(buffered as u64);
    }

    pub(crate) fn snapshot(&self) -> ConsumerMetrics {
        ConsumerMetrics {
            at: Instant::now(),
            records_consumed: self.records.get(),
            bytes_fetched: self.bytes.get(),
            fetch_requests: self.fetch_requests.get(),
            fetch_errors: self.fetch_errors.get(),
            incremental_fetch_requests: self.incremental_fetches.get(),
            fetch_partitions_sent: self.partitions_sent.get(),
            position_validations: self.validations.get(),
            log_truncations: self.truncations.get(),
            leader_hints_applied: self.leader_hints.get(),
            rebalances: self.rebalances.get(),
            partitions_assigned: self.assigned.get(),
            partitions_revoked: self.revoked.get(),
            partitions_lost: self.lost.get(),
            errors: self.errors.get(),
            fatal_errors: self.fatal_errors.get(),
            commits: self.commits.get(),
            commit_failures: self.commit_failures.get(),
            lag: self.lag.get(),
            assigned_partitions: self.partitions.get(),
            buffered_bytes: self.buffered.get(),
        }
    }
}

/// The consumer's figures at one moment ([`Consumer::metrics`](crate::Consumer::metrics)):
/// totals since the consumer was built, and levels of the moment. The same
/// figures go to the `metrics` facade; see the crate docs for their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerMetrics {
    /// When the snapshot was taken.
    pub at: Instant,
    /// Records handed out by `poll`.
    pub records_consumed: u64,
    /// Record-batch bytes fetched into the buffer.
    pub bytes_fetched: u64,
    /// Fetch requests answered or failed.
    pub fetch_requests: u64,
    /// Failed Fetch requests, and partitions a Fetch answered with an error.
    pub fetch_errors: u64,
    /// Fetch requests sent in an open KIP-227 fetch session (incremental:
    /// the session id is the broker's, and only partitions whose fetch
    /// changed are named).
    pub incremental_fetch_requests: u64,
    /// Partitions named in Fetch requests, full and incremental.
    pub fetch_partitions_sent: u64,
    /// Positions validated with OffsetForLeaderEpoch (KIP-320), after a
    /// leader change or a seek to an offset with a leader epoch.
    pub position_validations: u64,
    /// Log truncations detected below a position (by validation, or by a
    /// Fetch answer's diverging epoch).
    pub log_truncations: u64,
    /// Partitions moved to a new leader by a KIP-951 hint in a Fetch
    /// answer (NOT_LEADER_OR_FOLLOWER naming the current leader), without
    /// waiting for a metadata refresh.
    pub leader_hints_applied: u64,
    /// Times the member joined the group: one per completed rebalance.
    pub rebalances: u64,
    /// Partitions assigned by the group, counted at each assignment.
    pub partitions_assigned: u64,
    /// Partitions revoked in orderly rebalances.
    pub partitions_revoked: u64,
    /// Partitions lost (the session expired or the member was fenced).
    pub partitions_lost: u64,
    /// Non-fatal errors `poll` reported.
    pub errors: u64,
    /// Fatal errors `poll` reported.
    pub fatal_errors: u64,
    /// Commits that went through.
    pub commits: u64,
    /// Commits that failed, for some partition or as a whole.
    pub commit_failures: u64,
    /// Records between positions and high watermarks, summed over the
    /// assigned partitions whose watermark is known (as of the last poll).
    pub lag: u64,
    /// Partitions assigned now (as of the last poll).
    pub assigned_partitions: u64,
    /// Fetched bytes waiting for `poll` (as of the last poll).
    pub buffered_bytes: u64,
}

/// Records and bytes per second between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct FetchRate {
    /// Records handed out by `poll`, per second.
    pub records_per_sec: f64,
    /// Bytes fetched, per second.
    pub bytes_per_sec: f64,
}

impl ConsumerMetrics {
    /// The fetch rate since `earlier` (a snapshot taken before this one):
    /// Java's `records-consumed-rate` and `bytes-consumed-rate` over the
    /// window the caller chose. Zero rates when no time has passed.
    #[allow(clippy::cast_precision_loss)]
    pub fn rate_since(&self, earlier: &ConsumerMetrics) -> FetchRate {
        let secs = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if secs <= 0.0 {
            return FetchRate {
                records_per_sec: 0.0,
                bytes_per_sec: 0.0,
            };
        }
        FetchRate {
            records_per_sec: self
                .records_consumed
                .saturating_sub(earlier.records_consumed) as f64
                / secs,
            bytes_per_sec: self.bytes_fetched.saturating_sub(earlier.bytes_fetched) as f64 / secs,
        }
    }
}
