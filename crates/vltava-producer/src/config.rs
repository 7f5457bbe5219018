//! [`ProducerConfig`]: how the producer batches, acknowledges and retries.

use std::time::Duration;

use vltava_net::ConnectionConfig;
use vltava_wire::Compression;

/// How many replicas must have a record before the broker acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acks {
    /// None: the broker does not answer; a record may be lost silently and
    /// its offset is unknown (`-1`). Idempotence needs more.
    None,
    /// The leader alone: a record acknowledged just before the leader dies
    /// may be lost.
    Leader,
    /// Every in-sync replica (at least `min.insync.replicas`): an
    /// acknowledged record survives any single broker failure.
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn as_i16(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Leader => 1,
            Self::All => -1,
        }
    }
}

/// The producer's settings. The defaults are the Java client's (4.x).
///
/// ```
/// use std::time::Duration;
/// use vltava_producer::{Acks, ProducerConfig};
/// use vltava_wire::Compression;
///
/// let config = ProducerConfig::new()
///     .compression(Compression::Zstd)
///     .linger(Duration::from_millis(20));
/// assert_eq!(config.acks, Acks::All);
/// assert!(config.idempotence);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// The connections' settings (client id, timeouts, security).
    pub connection: ConnectionConfig,
    /// Acknowledgement level (`acks`, default all).
    pub acks: Acks,
    /// Idempotent production (`enable.idempotence`, default on): the
    /// broker drops duplicates of a retried batch, so retries neither
    /// duplicate nor reorder records. Needs `acks = all`.
    pub idempotence: bool,
    /// The uncompressed size at which a partition's batch is sent without
    /// waiting for the linger (`batch.size`, 16 KiB).
    pub batch_size: usize,
    /// How long a batch that is not full waits for more records
    /// (`linger.ms`, 5 ms).
    pub linger: Duration,
    /// The codec of every batch (`compression.type`, none).
    pub compression: Compression,
    /// The bytes of records waiting to be acknowledged, at most
    /// (`buffer.memory`, 32 MiB); `send` waits for room.
    pub buffer_memory: usize,
    /// How long `send` may wait for room in the buffer or for a topic's
    /// metadata (`max.block.ms`, 60 s).
    pub max_block: Duration,
    /// How long a record may take from `send` to its acknowledgement,
    /// retries included (`delivery.timeout.ms`, 120 s).
    pub delivery_timeout: Duration,
    /// The first wait before a retry (`retry.backoff.ms`, 100 ms); it
    /// doubles per attempt up to [`ProducerConfig::retry_backoff_max`].
    pub retry_backoff: Duration,
    /// The longest wait before a retry (`retry.backoff.max.ms`, 1 s).
    pub retry_backoff_max: Duration,
    /// Produce requests in flight per broker (`max.in.flight.requests.per.connection`,
    /// 5; at most 5 with idempotence, which keeps order up to 5).
    pub max_in_flight: usize,
    /// The largest Produce request (`max.request.size`, 1 MiB); a single
    /// record larger than this is refused.
    pub max_request_size: usize,
    /// The transactional id (`transactional.id`, none): set, the producer
    /// is transactional (and idempotent); see `Producer::init_transactions`.
    pub transactional_id: Option<String>,
    /// How long the coordinator lets a transaction stay open before it
    /// aborts it (`transaction.timeout.ms`, 60 s).
    pub transaction_timeout: Duration,
}

impl ProducerConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self {
            connection: ConnectionConfig::new(),
            acks: Acks::All,
            idempotence: true,
            batch_size: 16 * 1024,
            linger: Duration::from_millis(5),
            compression: Compression::None,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            max_in_flight: 5,
            max_request_size: 1024 * 1024,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
        }
    }

    /// The defaults, with batching for throughput: batches of up to
    /// 1,000,000 bytes (`batch.size`) and a 10 ms linger, the batching
    /// librdkafka (1 MB, 5 ms) and franz-go (1,000,012 bytes, 10 ms) use by
    /// default, and Produce requests of up to 4 MiB (`max.request.size`),
    /// so that one request carries several partitions' full batches (as
    /// franz-go's do) instead of one. Larger batches cost less per record
    /// to compress and to send, most with zstd, and fewer requests cost the
    /// broker less (docs/benchmarks.md measures both); the price is latency
    /// under light load (up to the linger) and up to a megabyte per
    /// partition being filled, within `buffer_memory`. A single record may
    /// then be up to 4 MiB on our side; the broker still refuses one above
    /// its `message.max.bytes` (1 MB by default). The defaults stay the
    /// Java client's (16 KiB, 5 ms, 1 MiB).
    ///
    /// ```
    /// use std::time::Duration;
    /// use vltava_producer::ProducerConfig;
    ///
    /// let config = ProducerConfig::for_throughput();
    /// assert_eq!(config.batch_size, 1_000_000);
    /// assert_eq!(config.linger, Duration::from_millis(10));
    /// assert_eq!(config.max_request_size, 4 * 1024 * 1024);
    /// ```
    pub fn for_throughput() -> Self {
        Self::new()
            .batch_size(1_000_000)
            .linger(Duration::from_millis(10))
            .max_request_size(4 * 1024 * 1024)
    }

    /// Sets the connections' settings.
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection;
        self
    }

    /// Sets the acknowledgement level. Anything but [`Acks::All`] turns
    /// idempotence off, as it needs every in-sync replica.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        if acks != Acks::All {
            self.idempotence = false;
        }
        self
    }

    /// Turns idempotence on or off.
    pub fn idempotence(mut self, on: bool) -> Self {
        self.idempotence = on;
        self
    }

    /// Sets the batch size.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = bytes.max(1);
        self
    }

    /// Sets the linger.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets the codec.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the buffer memory.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.buffer_memory = bytes.max(1);
        self
    }

    /// Sets how long `send` may block.
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.max_block = max_block;
        self
    }

    /// Sets the delivery timeout.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// Sets the first and the longest retry backoff.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry_backoff = first;
        self.retry_backoff_max = max.max(first);
        self
    }

    /// Sets the Produce requests in flight per broker (1 to 5 with
    /// idempotence).
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// Makes the producer transactional, with `id` as its transactional id
    /// (turns idempotence on).
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = Some(id.into());
        self.idempotence = true;
        self
    }

    /// Sets the transaction timeout.
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.transaction_timeout = timeout;
        self
    }

    /// Sets the largest request.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes.max(1);
        self
    }

    /// The wait before the `attempt`-th retry: the backoff doubled per
    /// attempt, capped, shortened by up to 20% by `jitter` in [0, 1).
    pub(crate) fn backoff_for(&self, attempt: u32, jitter: f64) -> Duration {
        vltava_net::Backoff::new(self.retry_backoff, self.retry_backoff_max).delay(attempt, jitter)
    }

    /// Checks the settings that cannot go together.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.idempotence && self.acks != Acks::All {
            return Err("idempotence needs acks = all".to_owned());
        }
        if self.transactional_id.is_some() && !self.idempotence {
            return Err("a transactional producer is idempotent".to_owned());
        }
        if self.idempotence && self.max_in_flight > 5 {
            return Err("idempotence keeps order with at most 5 requests in flight".to_owned());
        }
        Ok(())
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self::new()
    }
}
