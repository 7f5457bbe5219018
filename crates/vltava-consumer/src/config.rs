//! [`ConsumerConfig`]: how the consumer fetches and where it starts.

use std::time::Duration;

use vltava_net::ConnectionConfig;

/// Which records a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// Every record up to the high watermark, transactional or not
    /// (`read_uncommitted`, the default).
    ReadUncommitted,
    /// Only committed records, up to the last stable offset; records of
    /// aborted transactions are skipped (`read_committed`).
    ReadCommitted,
}

/// Where a partition without a valid position starts
/// (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffsetReset {
    /// The first offset still in the log.
    Earliest,
    /// The end of the log: only new records (the Java default).
    Latest,
    /// No reset: the partition reports an error and waits for a `seek`.
    None,
}

/// The consumer's settings; the defaults are the Java client's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// The connections' settings.
    pub connection: ConnectionConfig,
    /// `isolation.level`, read_uncommitted.
    pub isolation: Isolation,
    /// `auto.offset.reset`, latest.
    pub offset_reset: OffsetReset,
    /// `fetch.min.bytes`, 1.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`, 50 MiB: the most one Fetch answer may hold.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`, 1 MiB.
    pub max_partition_fetch_bytes: i32,
    /// `fetch.max.wait.ms`, 500 ms: how long the broker may wait for
    /// `fetch_min_bytes`.
    pub fetch_max_wait: Duration,
    /// The most fetched bytes buffered ahead of `poll`: no broker is asked
    /// for more while the buffer holds this much (memory stays bounded).
    pub buffer_bytes: usize,
    /// `max.poll.records`, 500: the most records one poll returns.
    pub max_poll_records: usize,
    /// Wait before fetching again from a broker after a failure, and
    /// before asking again for a partition after a retriable error for it
    /// (a Fetch, ListOffsets or OffsetForLeaderEpoch answer with, say,
    /// NOT_LEADER_OR_FOLLOWER): `retry.backoff.ms`, 100 ms, doubling per
    /// failure in a row, less up to 20% of jitter (KIP-580).
    pub retry_backoff: Duration,
    /// The longest such wait (`retry.backoff.max.ms`, 1 s).
    pub retry_backoff_max: Duration,
    /// `check.crcs`, on.
    pub check_crcs: bool,
    /// `enable.auto.commit` with `auto.commit.interval.ms` (5 s; `None`
    /// turns it off). In a group, `poll` commits the positions of records
    /// handed out by earlier polls once this long has passed: what the
    /// application has finished with, so delivery is at-least-once.
    pub auto_commit: Option<Duration>,
    /// What the consumer commits by itself (auto-commit, revocation,
    /// `close`): `false` (the default, Java's way) commits the positions
    /// of what earlier polls handed out; `true` commits only the offsets
    /// the application marked ([`Consumer::mark`](crate::Consumer::mark)),
    /// as franz-go's `AutoCommitMarks`. No Java setting.
    pub commit_marks: bool,
}

impl ConsumerConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self {
            connection: ConnectionConfig::new(),
            isolation: Isolation::ReadUncommitted,
            offset_reset: OffsetReset::Latest,
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            buffer_bytes: 64 * 1024 * 1024,
            max_poll_records: 500,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            check_crcs: true,
            auto_commit: Some(Duration::from_secs(5)),
            commit_marks: false,
        }
    }

    /// Sets the isolation level.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Sets the reset policy.
    pub fn offset_reset(mut self, reset: OffsetReset) -> Self {
        self.offset_reset = reset;
        self
    }

    /// Sets how long the broker may hold a fetch.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.fetch_max_wait = wait;
        self
    }

    /// Sets the prefetch budget in bytes.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes.max(1);
        self
    }

    /// Sets the most records one poll returns.
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.max_poll_records = records.max(1);
        self
    }

    /// Sets the auto-commit interval (`None`: commit only on `commit`,
    /// on revocation and on close).
    pub fn auto_commit(mut self, interval: Option<Duration>) -> Self {
        self.auto_commit = interval;
        self
    }

    /// Sets whether the consumer's own commits (auto-commit, revocation,
    /// `close`) commit only marked offsets.
    pub fn commit_marks(mut self, marks: bool) -> Self {
        self.commit_marks = marks;
        self
    }

    /// Sets the connections' settings.
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection;
        self
    }
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self::new()
    }
}
