//! [`ConsumerBuilder`]: every setting of a consumer in one place, checked
//! when it is built ([`ConfigError`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use vltava_group::assignor::Assignor;
use vltava_group::{DriverOptions, GroupConfig, GroupProtocol, Subscription, TopicPattern};
use vltava_meta::{Interest, MetadataClient, MetadataConfig};
use vltava_net::{BrokerPool, ConnectionConfig, PoolConfig, Sasl, TlsConfig};

use crate::config::{ConsumerConfig, Isolation, OffsetReset};
use crate::error::ConsumeError;
use crate::{Consumer, TopicPartition};

/// A setting [`ConsumerBuilder::build`] refused. Each names the builder
/// method (the Java name is in its docs) and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value out of its range, or one that cannot work.
    #[error("invalid `{setting}`: {reason}")]
    Invalid {
        /// The builder method.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// Two settings that cannot go together.
    #[error("`{setting}` cannot go with `{with}`: {reason}")]
    Conflict {
        /// The builder method.
        setting: &'static str,
        /// The other one.
        with: &'static str,
        /// Why.
        reason: String,
    },
    /// A setting that must be given and was not.
    #[error("`{setting}` is required: {reason}")]
    Missing {
        /// The builder method.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// `build` was called outside a tokio runtime.
    #[error(
        "a consumer must be built within a tokio runtime (it spawns its fetcher and group tasks)"
    )]
    NoRuntime,
}

impl ConfigError {
    /// The builder method the error is about (`None` for
    /// [`ConfigError::NoRuntime`]).
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { setting, .. }
            | Self::Conflict { setting, .. }
            | Self::Missing { setting, .. } => Some(setting),
            Self::NoRuntime => None,
        }
    }
}

/// What the consumer reads.
#[derive(Debug, Clone)]
enum Source {
    Topics(Vec<String>),
    Pattern(String),
    Assign(Vec<TopicPartition>),
}

/// Builds a [`Consumer`]: where the cluster is, what to read (a group's
/// subscription to topics or to a regex, or assigned partitions), and
/// every timeout and size. Each setting's rustdoc gives its Java name and
/// its default; the defaults are the Java client's unless said otherwise.
/// [`ConsumerBuilder::build`] checks them all and refuses a value out of
/// its range, or settings that contradict each other, with a
/// [`ConfigError`].
///
/// ```no_run
/// use std::time::Duration;
/// use vltava_consumer::{Consumer, OffsetReset};
///
/// # async fn run() -> Result<(), vltava_consumer::ConsumeError> {
/// let consumer = Consumer::builder("127.0.0.1:9092")
///     .group_id("billing")
///     .subscribe(["orders", "refunds"])
///     .auto_offset_reset(OffsetReset::Earliest)
///     .session_timeout(Duration::from_secs(30))
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct ConsumerBuilder {
    bootstrap: String,
    group_id: Option<String>,
    source: Vec<Source>,
    exclude_internal_topics: bool,
    // Connections.
    client_id: String,
    client_rack: Option<String>,
    request_timeout: Duration,
    socket_connection_setup_timeout: Duration,
    reconnect_backoff: Duration,
    reconnect_backoff_max: Duration,
    connections_max_idle: Duration,
    metadata_max_age: Duration,
    allow_auto_create_topics: bool,
    tls: Option<TlsConfig>,
    sasl: Option<Sasl>,
    // The group.
    group_protocol: GroupProtocol,
    group_instance_id: Option<String>,
    group_remote_assignor: Option<String>,
    session_timeout: Option<Duration>,
    heartbeat_interval: Option<Duration>,
    rebalance_timeout: Duration,
    assignors: Option<Vec<String>>,
    custom_assignors: Vec<Arc<dyn Assignor>>,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    default_api_timeout: Duration,
    leave_timeout: Duration,
    // Fetching.
    fetch_min_bytes: i32,
    fetch_max_bytes: i32,
    max_partition_fetch_bytes: i32,
    fetch_max_wait: Duration,
    max_poll_records: usize,
    prefetch_bytes: usize,
    check_crcs: bool,
    isolation_level: Isolation,
    auto_offset_reset: OffsetReset,
    // Commits.
    enable_auto_commit: bool,
    auto_commit_interval: Duration,
    auto_commit_marks: bool,
}

const SESSION_TIMEOUT: Duration = Duration::from_secs(45);
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
const DEFAULT_ASSIGNORS: [&str; 2] = ["range", "cooperative-sticky"];

impl Consumer {
    /// A builder for a consumer of the cluster reached through `bootstrap`
    /// (`host:port[,host:port...]`, Java's `bootstrap.servers`).
    pub fn builder(bootstrap: impl Into<String>) -> ConsumerBuilder {
        ConsumerBuilder::new(bootstrap)
    }
}

impl ConsumerBuilder {
    /// The defaults, for the cluster reached through `bootstrap`
    /// (`bootstrap.servers`).
    pub fn new(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            group_id: None,
            source: Vec::new(),
            exclude_internal_topics: true,
            client_id: "vltava".to_owned(),
            client_rack: None,
            request_timeout: Duration::from_secs(30),
            socket_connection_setup_timeout: Duration::from_secs(10),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            connections_max_idle: Duration::from_secs(9 * 60),
            metadata_max_age: Duration::from_secs(5 * 60),
            allow_auto_create_topics: false,
            tls: None,
            sasl: None,
            group_protocol: GroupProtocol::Classic,
            group_instance_id: None,
            group_remote_assignor: None,
            session_timeout: None,
            heartbeat_interval: None,
            rebalance_timeout: Duration::from_secs(5 * 60),
            assignors: None,
            custom_assignors: Vec::new(),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            default_api_timeout: Duration::from_secs(60),
            leave_timeout: Duration::from_secs(5),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            max_poll_records: 500,
            prefetch_bytes: 64 * 1024 * 1024,
            check_crcs: true,
            isolation_level: Isolation::ReadUncommitted,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            auto_commit_marks: false,
        }
    }

    // ------------------------------------------------------------ what to read

    /// The consumer group (`group.id`; no default). Needed by
    /// [`subscribe`](Self::subscribe) and
    /// [`subscribe_pattern`](Self::subscribe_pattern).
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Subscribes the group member to these topics (Java's
    /// `subscribe(Collection)`): the group assigns the partitions. Needs a
    /// [`group_id`](Self::group_id).
    pub fn subscribe<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.source
            .push(Source::Topics(topics.into_iter().map(Into::into).collect()));
        self
    }

    /// Subscribes the group member to every topic whose whole name matches
    /// the regex `pattern` (Java's `subscribe(Pattern)`), matched on the
    /// client against the metadata of every topic, again each time the
    /// metadata changes (so a topic created later joins within
    /// [`metadata_max_age`](Self::metadata_max_age)). The syntax is the
    /// `regex` crate's. Java's KIP-848 consumer sends the regex to the
    /// broker instead; here both protocols match on the client. Needs a
    /// [`group_id`](Self::group_id).
    pub fn subscribe_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.source.push(Source::Pattern(pattern.into()));
        self
    }

    /// Reads these partitions, without a group (Java's `assign`):
    /// positions come from [`auto_offset_reset`](Self::auto_offset_reset)
    /// or [`Consumer::seek`]. Cannot go with a group id (committing
    /// offsets of assigned partitions to a group is not supported).
    pub fn assign(mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Self {
        self.source
            .push(Source::Assign(partitions.into_iter().collect()));
        self
    }

    /// Whether a pattern subscription leaves out internal topics such as
    /// `__consumer_offsets` (`exclude.internal.topics`, true).
    pub fn exclude_internal_topics(mut self, exclude: bool) -> Self {
        self.exclude_internal_topics = exclude;
        self
    }

    // ------------------------------------------------------------ connections

    /// The client id sent with every request (`client.id`; `vltava`, where
    /// Java makes one up per consumer). Also the `client_id` label of the
    /// consumer's metrics.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// The rack of this consumer (`client.rack`; none). Sent to the group
    /// (KIP-848 rack-aware assignment by the broker). Fetching from the
    /// closest replica (KIP-392), Java's other use of it, is not done.
    pub fn client_rack(mut self, rack: impl Into<String>) -> Self {
        self.client_rack = Some(rack.into());
        self
    }

    /// How long a request may wait for its answer (`request.timeout.ms`,
    /// 30 s). Above zero.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long opening a connection may take, TCP and TLS each
    /// (`socket.connection.setup.timeout.ms`, 10 s; Java grows it up to
    /// `socket.connection.setup.timeout.max.ms` after failures, this stays
    /// fixed). Above zero.
    pub fn socket_connection_setup_timeout(mut self, timeout: Duration) -> Self {
        self.socket_connection_setup_timeout = timeout;
        self
    }

    /// The wait before dialling a broker again after a failed dial
    /// (`reconnect.backoff.ms`, 50 ms); it doubles with each failure up to
    /// [`reconnect_backoff_max`](Self::reconnect_backoff_max).
    pub fn reconnect_backoff(mut self, backoff: Duration) -> Self {
        self.reconnect_backoff = backoff;
        self
    }

    /// The longest wait between dials of a failing broker
    /// (`reconnect.backoff.max.ms`, 1 s). Not below
    /// [`reconnect_backoff`](Self::reconnect_backoff).
    pub fn reconnect_backoff_max(mut self, max: Duration) -> Self {
        self.reconnect_backoff_max = max;
        self
    }

    /// How long an unused connection stays open
    /// (`connections.max.idle.ms`, 9 min). Above zero.
    pub fn connections_max_idle(mut self, idle: Duration) -> Self {
        self.connections_max_idle = idle;
        self
    }

    /// How old metadata may get before it is refreshed anyway
    /// (`metadata.max.age.ms`, 5 min): how soon a topic created later
    /// joins a pattern subscription. Above zero.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = age;
        self
    }

    /// Whether asking for metadata of a topic that does not exist creates
    /// it, when the broker allows it (`allow.auto.create.topics`; false,
    /// as franz-go, where Java says true).
    pub fn allow_auto_create_topics(mut self, allow: bool) -> Self {
        self.allow_auto_create_topics = allow;
        self
    }

    /// Speaks TLS to the brokers (`security.protocol=SSL`, or `SASL_SSL`
    /// with [`sasl`](Self::sasl); the `ssl.*` settings are the
    /// [`TlsConfig`]). Plaintext by default.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Authenticates with SASL (`security.protocol=SASL_PLAINTEXT`, or
    /// `SASL_SSL` with [`tls`](Self::tls); `sasl.mechanism` and the
    /// credentials are the [`Sasl`]: PLAIN, SCRAM-SHA-256/512,
    /// OAUTHBEARER). None by default.
    pub fn sasl(mut self, sasl: Sasl) -> Self {
        self.sasl = Some(sasl);
        self
    }

    // ------------------------------------------------------------ the group

    /// The group protocol (`group.protocol`, classic). With
    /// [`GroupProtocol::Consumer`] (KIP-848) the broker assigns, and sets
    /// the session timeout and heartbeat interval itself: setting
    /// [`session_timeout`](Self::session_timeout),
    /// [`heartbeat_interval`](Self::heartbeat_interval) or
    /// [`partition_assignment_strategy`](Self::partition_assignment_strategy)
    /// then is an error, as in Java. A broker without KIP-848 makes the
    /// member fall back to classic, with the defaults of those.
    pub fn group_protocol(mut self, protocol: GroupProtocol) -> Self {
        self.group_protocol = protocol;
        self
    }

    /// Static membership (`group.instance.id`, KIP-345; none): a member
    /// that comes back within the session timeout keeps its partitions,
    /// with no rebalance. Not empty.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// The broker-side assignor to ask for (`group.remote.assignor`; none:
    /// the broker's default). KIP-848 only: an error with the classic
    /// protocol, as in Java.
    pub fn group_remote_assignor(mut self, assignor: impl Into<String>) -> Self {
        self.group_remote_assignor = Some(assignor.into());
        self
    }

    /// How long the coordinator waits without a heartbeat before it
    /// removes the member (`session.timeout.ms`, 45 s). Classic only.
    /// Above the heartbeat interval; the broker bounds it too
    /// (`group.min.session.timeout.ms`, `group.max.session.timeout.ms`).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = Some(timeout);
        self
    }

    /// How often the member heartbeats (`heartbeat.interval.ms`, 3 s).
    /// Classic only. Below the session timeout.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = Some(interval);
        self
    }

    /// How long the coordinator waits for every member to rejoin in a
    /// rebalance, and a KIP-848 member to let go of revoked partitions
    /// (`max.poll.interval.ms`, 5 min). Java also leaves the group when
    /// `poll` is not called for that long; this consumer does not.
    pub fn rebalance_timeout(mut self, timeout: Duration) -> Self {
        self.rebalance_timeout = timeout;
        self
    }

    /// The client-side assignors, by name, in order of preference
    /// (`partition.assignment.strategy`; `range`, `cooperative-sticky`).
    /// Built in: `range`, `roundrobin`, `sticky`, `cooperative-sticky`;
    /// names of [`assignor`](Self::assignor)s work too. Classic only.
    pub fn partition_assignment_strategy<I, S>(mut self, assignors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.assignors = Some(assignors.into_iter().map(Into::into).collect());
        self
    }

    /// An assignor of the application's own, found by its name in
    /// [`partition_assignment_strategy`](Self::partition_assignment_strategy)
    /// (Java: a class name in that list).
    pub fn assignor(mut self, assignor: Arc<dyn Assignor>) -> Self {
        self.custom_assignors.push(assignor);
        self
    }

    /// The first wait before retrying a failed group or metadata request, a
    /// fetch from a failed broker, or a partition whose fetch, reset
    /// (ListOffsets) or validation (OffsetForLeaderEpoch) the leader
    /// answered with a retriable error (`retry.backoff.ms`, 100 ms); it
    /// doubles per failure in a row, with jitter, up to
    /// [`retry_backoff_max`](Self::retry_backoff_max). A partition's
    /// backoff ends at its next answer without error, or as soon as the
    /// metadata names a new leader for it.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The longest such wait (`retry.backoff.max.ms`, 1 s). Not below
    /// [`retry_backoff`](Self::retry_backoff).
    pub fn retry_backoff_max(mut self, max: Duration) -> Self {
        self.retry_backoff_max = max;
        self
    }

    /// How long commits and reads of committed offsets keep retrying
    /// (`default.api.timeout.ms`, 60 s). Above zero.
    pub fn default_api_timeout(mut self, timeout: Duration) -> Self {
        self.default_api_timeout = timeout;
        self
    }

    /// How long [`Consumer::close`] waits for the member to leave the
    /// group (5 s; no Java setting: Java's `close()` waits up to 30 s for
    /// commit and leave together). Above zero.
    pub fn leave_timeout(mut self, timeout: Duration) -> Self {
        self.leave_timeout = timeout;
        self
    }

    // ------------------------------------------------------------ fetching

    /// The least data a broker answers a fetch with, if it can within
    /// [`fetch_max_wait`](Self::fetch_max_wait) (`fetch.min.bytes`, 1). At
    /// least 0.
    pub fn fetch_min_bytes(mut self, bytes: i32) -> Self {
        self.fetch_min_bytes = bytes;
        self
    }

    /// The most data one fetch answer may hold (`fetch.max.bytes`, 50 MiB);
    /// a first batch larger than it still comes whole. At least 0.
    pub fn fetch_max_bytes(mut self, bytes: i32) -> Self {
        self.fetch_max_bytes = bytes;
        self
    }

    /// The most data one fetch answer holds per partition
    /// (`max.partition.fetch.bytes`, 1 MiB); a first batch larger than it
    /// still comes whole. At least 0.
    pub fn max_partition_fetch_bytes(mut self, bytes: i32) -> Self {
        self.max_partition_fetch_bytes = bytes;
        self
    }

    /// How long a broker may hold a fetch waiting for
    /// [`fetch_min_bytes`](Self::fetch_min_bytes) (`fetch.max.wait.ms`,
    /// 500 ms). Below 2^31 ms.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.fetch_max_wait = wait;
        self
    }

    /// The most records one `poll` returns (`max.poll.records`, 500). At
    /// least 1.
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.max_poll_records = records;
        self
    }

    /// The prefetch budget: no broker is asked for more while this many
    /// fetched bytes wait for `poll` (64 MiB; no Java setting, franz-go's
    /// `MaxBufferedBytes`). Memory stays within it plus one answer per
    /// broker. At least 1.
    pub fn prefetch_bytes(mut self, bytes: usize) -> Self {
        self.prefetch_bytes = bytes;
        self
    }

    /// Whether record batches' CRCs are checked (`check.crcs`, true).
    pub fn check_crcs(mut self, check: bool) -> Self {
        self.check_crcs = check;
        self
    }

    /// Which records are read (`isolation.level`, read_uncommitted).
    pub fn isolation_level(mut self, isolation: Isolation) -> Self {
        self.isolation_level = isolation;
        self
    }

    /// Where a partition without a committed offset or a valid position
    /// starts (`auto.offset.reset`, latest).
    pub fn auto_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    // ------------------------------------------------------------ commits

    /// Whether `poll` commits by itself every
    /// [`auto_commit_interval`](Self::auto_commit_interval)
    /// (`enable.auto.commit`, true): the positions of what earlier polls
    /// handed out, or with [`auto_commit_marks`](Self::auto_commit_marks)
    /// the marked offsets. Either way at-least-once.
    pub fn enable_auto_commit(mut self, enable: bool) -> Self {
        self.enable_auto_commit = enable;
        self
    }

    /// How often auto-commit commits (`auto.commit.interval.ms`, 5 s).
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Whether what the consumer commits by itself (auto-commit, on
    /// revocation, on `close`) is only what the application marked with
    /// [`Consumer::mark`] (false; franz-go's `AutoCommitMarks`, no Java
    /// setting). For applications that finish records out of poll order or
    /// later than the next poll.
    pub fn auto_commit_marks(mut self, marks: bool) -> Self {
        self.auto_commit_marks = marks;
        self
    }

    // ------------------------------------------------------------ building

    /// Checks every setting, as [`build`](Self::build) does, without
    /// building.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.plan().map(|_| ())
    }

    /// Builds the consumer: it starts fetching (and, in a group, joining)
    /// at once, in tasks of the current tokio runtime. Fails with
    /// [`ConsumeError::Config`] when a setting is refused (see
    /// [`ConfigError`]) or outside a tokio runtime.
    pub fn build(self) -> Result<Consumer, ConsumeError> {
        let plan = self.plan()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::NoRuntime.into());
        }
        let pool = BrokerPool::new(plan.pool);
        let meta = MetadataClient::new(&self.bootstrap, pool, plan.metadata)
            .map_err(|e| ConsumeError::Meta(Arc::new(e)))?;
        match plan.group {
            Some((group, subscription, options)) => {
                Consumer::with_group_subscription(meta, plan.consumer, group, subscription, options)
            }
            None => {
                let consumer = Consumer::with_metadata(meta, plan.consumer);
                if let Some(partitions) = plan.assign {
                    consumer.assign(partitions);
                }
                Ok(consumer)
            }
        }
    }

    /// Checks the settings and turns them into the layers' configurations.
    fn plan(&self) -> Result<Plan, ConfigError> {
        let invalid =
            |setting: &'static str, reason: String| ConfigError::Invalid { setting, reason };
        vltava_meta::parse_bootstrap(&self.bootstrap)
            .map_err(|e| invalid("bootstrap", e.to_string()))?;
        nonzero("request_timeout", self.request_timeout)?;
        nonzero(
            "socket_connection_setup_timeout",
            self.socket_connection_setup_timeout,
        )?;
        nonzero("connections_max_idle", self.connections_max_idle)?;
        nonzero("metadata_max_age", self.metadata_max_age)?;
        nonzero("default_api_timeout", self.default_api_timeout)?;
        nonzero("leave_timeout", self.leave_timeout)?;
        nonzero("rebalance_timeout", self.rebalance_timeout)?;
        ordered(
            ("reconnect_backoff", self.reconnect_backoff),
            ("reconnect_backoff_max", self.reconnect_backoff_max),
        )?;
        ordered(
            ("retry_backoff", self.retry_backoff),
            ("retry_backoff_max", self.retry_backoff_max),
        )?;
        fits_i32_ms("request_timeout", self.request_timeout)?;
        fits_i32_ms("rebalance_timeout", self.rebalance_timeout)?;
        fits_i32_ms("fetch_max_wait", self.fetch_max_wait)?;
        for (setting, bytes) in [
            ("fetch_min_bytes", self.fetch_min_bytes),
            ("fetch_max_bytes", self.fetch_max_bytes),
            ("max_partition_fetch_bytes", self.max_partition_fetch_bytes),
        ] {
            if bytes < 0 {
                return Err(invalid(setting, format!("{bytes} is negative")));
            }
        }
        if self.max_poll_records == 0 {
            return Err(invalid("max_poll_records", "must be at least 1".to_owned()));
        }
        if self.prefetch_bytes == 0 {
            return Err(invalid("prefetch_bytes", "must be at least 1".to_owned()));
        }
        if self.client_rack.as_deref() == Some("") {
            return Err(invalid(
                "client_rack",
                "is empty; leave it unset for no rack".to_owned(),
            ));
        }

        let source = match self.source.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            [..] => {
                return Err(ConfigError::Conflict {
                    setting: "subscribe",
                    with: "assign",
                    reason: "subscribe, subscribe_pattern and assign are exclusive, and each is \
                             given once"
                        .to_owned(),
                });
            }
        };
        let group = self.group(source.as_ref())?;
        let assign = match source {
            Some(Source::Assign(partitions)) => {
                if let Some(tp) = partitions.iter().find(|tp| tp.topic.is_empty()) {
                    return Err(invalid(
                        "assign",
                        format!("partition {} has an empty topic name", tp.partition),
                    ));
                }
                Some(partitions)
            }
            _ => None,
        };

        let mut connection = ConnectionConfig::new()
            .client_id(self.client_id.clone())
            .request_timeout(self.request_timeout)
            .dial_timeout(self.socket_connection_setup_timeout);
        if let Some(tls) = &self.tls {
            connection = connection.tls(tls.clone());
        }
        if let Some(sasl) = &self.sasl {
            connection = connection.sasl(sasl.clone());
        }
        let pool = PoolConfig::new(connection.clone())
            .reconnect_backoff(self.reconnect_backoff, self.reconnect_backoff_max)
            .idle_timeout(self.connections_max_idle);
        let metadata = MetadataConfig::new()
            .interest(Interest::topics(Vec::<String>::new()))
            .refresh_backoff(self.retry_backoff)
            .refresh_backoff_max(self.retry_backoff_max)
            .max_age(self.metadata_max_age)
            .allow_auto_topic_creation(self.allow_auto_create_topics);
        let mut consumer = ConsumerConfig::new()
            .connection(connection)
            .isolation(self.isolation_level)
            .offset_reset(self.auto_offset_reset)
            .fetch_max_wait(self.fetch_max_wait)
            .buffer_bytes(self.prefetch_bytes)
            .max_poll_records(self.max_poll_records)
            .auto_commit(self.enable_auto_commit.then_some(self.auto_commit_interval))
            .commit_marks(self.auto_commit_marks);
        consumer.fetch_min_bytes = self.fetch_min_bytes;
        consumer.fetch_max_bytes = self.fetch_max_bytes;
        consumer.max_partition_fetch_bytes = self.max_partition_fetch_bytes;
        consumer.retry_backoff = self.retry_backoff;
        consumer.retry_backoff_max = self.retry_backoff_max;
        consumer.check_crcs = self.check_crcs;
        Ok(Plan {
            pool,
            metadata,
            consumer,
            group,
            assign,
        })
    }

    /// The group's configuration, subscription and driver options, when
    /// there is a group.
    fn group(
        &self,
        source: Option<&Source>,
    ) -> Result<Option<(GroupConfig, Subscription, DriverOptions)>, ConfigError> {
        let invalid =
            |setting: &'static str, reason: String| ConfigError::Invalid { setting, reason };
        let subscription = match source {
            Some(Source::Topics(topics)) => {
                if topics.is_empty() {
                    return Err(invalid(
                        "subscribe",
                        "no topic given; subscribe to at least one".to_owned(),
                    ));
                }
                if topics.iter().any(String::is_empty) {
                    return Err(invalid("subscribe", "a topic name is empty".to_owned()));
                }
                Some(Subscription::Topics(topics.clone()))
            }
            Some(Source::Pattern(pattern)) => {
                let pattern = TopicPattern::new(pattern)
                    .map_err(|e| invalid("subscribe_pattern", e.to_string()))?
                    .include_internal(!self.exclude_internal_topics);
                Some(Subscription::Pattern(pattern))
            }
            Some(Source::Assign(_)) | None => None,
        };
        let Some(group_id) = &self.group_id else {
            if subscription.is_some() {
                return Err(ConfigError::Missing {
                    setting: "group_id",
                    reason: "a subscription is a group's: set the group id, or use assign"
                        .to_owned(),
                });
            }
            return Ok(None);
        };
        let Some(subscription) = subscription else {
            return Err(match source {
                Some(_) => ConfigError::Conflict {
                    setting: "assign",
                    with: "group_id",
                    reason: "committing offsets of assigned partitions to a group is not \
                             supported; leave group_id unset, or subscribe"
                        .to_owned(),
                },
                None => ConfigError::Missing {
                    setting: "subscribe",
                    reason: "a group member needs a subscription (subscribe or subscribe_pattern)"
                        .to_owned(),
                },
            });
        };
        if group_id.is_empty() {
            return Err(invalid("group_id", "is empty".to_owned()));
        }
        if self.group_protocol == GroupProtocol::Consumer {
            let broker_decides = [
                ("session_timeout", self.session_timeout.is_some()),
                ("heartbeat_interval", self.heartbeat_interval.is_some()),
                ("partition_assignment_strategy", self.assignors.is_some()),
            ];
            if let Some((setting, _)) = broker_decides.iter().find(|(_, set)| *set) {
                return Err(ConfigError::Conflict {
                    setting,
                    with: "group_protocol",
                    reason: "with the consumer protocol (KIP-848) the broker decides it".to_owned(),
                });
            }
        } else if self.group_remote_assignor.is_some() {
            return Err(ConfigError::Conflict {
                setting: "group_remote_assignor",
                with: "group_protocol",
                reason: "a broker-side assignor needs the consumer protocol (KIP-848)".to_owned(),
            });
        }
        let session_timeout = self.session_timeout.unwrap_or(SESSION_TIMEOUT);
        let heartbeat_interval = self.heartbeat_interval.unwrap_or(HEARTBEAT_INTERVAL);
        nonzero("session_timeout", session_timeout)?;
        nonzero("heartbeat_interval", heartbeat_interval)?;
        fits_i32_ms("session_timeout", session_timeout)?;
        if heartbeat_interval >= session_timeout {
            return Err(ConfigError::Conflict {
                setting: "heartbeat_interval",
                with: "session_timeout",
                reason: format!(
                    "{heartbeat_interval:?} is not below {session_timeout:?}; a third of it is usual"
                ),
            });
        }
        let assignors: Vec<String> = match &self.assignors {
            Some(names) => names.clone(),
            None => DEFAULT_ASSIGNORS.iter().map(|&n| n.to_owned()).collect(),
        };
        if self.group_protocol == GroupProtocol::Classic && assignors.is_empty() {
            return Err(invalid(
                "partition_assignment_strategy",
                "is empty; the classic protocol needs an assignor".to_owned(),
            ));
        }
        for name in &assignors {
            let custom = self.custom_assignors.iter().any(|a| a.name() == name);
            if !custom && vltava_group::assignor::by_name(name).is_none() {
                return Err(invalid(
                    "partition_assignment_strategy",
                    format!(
                        "no assignor is named `{name}` (built in: range, roundrobin, sticky, \
                         cooperative-sticky; or add one with `assignor`)"
                    ),
                ));
            }
        }
        if self.group_instance_id.as_deref() == Some("") {
            return Err(invalid(
                "group_instance_id",
                "is empty; leave it unset for dynamic membership".to_owned(),
            ));
        }
        let mut config = GroupConfig::new(group_id.clone());
        config.protocol = self.group_protocol;
        config.group_instance_id = self.group_instance_id.clone();
        config.session_timeout = session_timeout;
        config.heartbeat_interval = heartbeat_interval;
        config.rebalance_timeout = self.rebalance_timeout;
        config.assignors = assignors;
        config.remote_assignor = self.group_remote_assignor.clone();
        config.retry_backoff = self.retry_backoff;
        config.retry_backoff_max = self.retry_backoff_max;
        config.rack = self.client_rack.clone();
        config
            .validate()
            .map_err(|reason| invalid("group_id", reason))?;
        let mut options = DriverOptions::new()
            .offsets_timeout(self.default_api_timeout)
            .leave_timeout(self.leave_timeout);
        for assignor in &self.custom_assignors {
            options = options.assignor(assignor.clone());
        }
        Ok(Some((config, subscription, options)))
    }
}

/// The layers' configurations, from the settings.
struct Plan {
    pool: PoolConfig,
    metadata: MetadataConfig,
    consumer: ConsumerConfig,
    group: Option<(GroupConfig, Subscription, DriverOptions)>,
    assign: Option<Vec<TopicPartition>>,
}

fn nonzero(setting: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            setting,
            reason: "must be above zero".to_owned(),
        });
    }
    Ok(())
}

fn ordered(
    (first, low): (&'static str, Duration),
    (second, high): (&'static str, Duration),
) -> Result<(), ConfigError> {
    if low > high {
        return Err(ConfigError::Conflict {
            setting: first,
            with: second,
            reason: format!("{low:?} is above the maximum, {high:?}"),
        });
    }
    Ok(())
}

/// Kafka carries these as 32-bit milliseconds.
fn fits_i32_ms(setting: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.as_millis() > i32::MAX as u128 {
        return Err(ConfigError::Invalid {
            setting,
            reason: format!("{value:?} does not fit in 2^31 - 1 milliseconds"),
        });
    }
    Ok(())
}

impl fmt::Debug for ConsumerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("bootstrap", &self.bootstrap)
            .field("group_id", &self.group_id)
            .field("source", &self.source)
            .field("client_id", &self.client_id)
            .field("group_protocol", &self.group_protocol)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(Sasl::mechanism))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> ConsumerBuilder {
        Consumer::builder("127.0.0.1:9092")
            .group_id("g")
            .subscribe(["t"])
    }

    fn setting(builder: ConsumerBuilder) -> &'static str {
        builder.validate().unwrap_err().setting().unwrap()
    }

    #[test]
    fn the_defaults_are_valid_and_the_java_ones() {
        group().validate().unwrap();
        Consumer::builder("127.0.0.1:9092").validate().unwrap();
        let plan = group().plan().unwrap();
        let (config, _, options) = plan.group.unwrap();
        assert_eq!(config.session_timeout, Duration::from_secs(45));
        assert_eq!(config.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(config.rebalance_timeout, Duration::from_secs(300));
        assert_eq!(config.assignors, ["range", "cooperative-sticky"]);
        assert_eq!(options.offsets_timeout, Duration::from_secs(60));
        let c = plan.consumer;
        assert_eq!(c.fetch_min_bytes, 1);
        assert_eq!(c.fetch_max_bytes, 52_428_800);
        assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.auto_commit, Some(Duration::from_secs(5)));
        assert_eq!(c.offset_reset, OffsetReset::Latest);
        assert_eq!(c.isolation, Isolation::ReadUncommitted);
        assert_eq!(c.connection.request_timeout, Duration::from_secs(30));
        assert_eq!(plan.pool.reconnect_backoff, Duration::from_millis(50));
        assert_eq!(plan.metadata.max_age, Duration::from_secs(300));
    }

    #[test]
    fn settings_reach_the_layers() {
        let plan = group()
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_secs(1))
            .enable_auto_commit(false)
            .auto_commit_marks(true)
            .fetch_max_bytes(1000)
            .client_id("me")
            .plan()
            .unwrap();
        let (config, _, _) = plan.group.unwrap();
        assert_eq!(config.session_timeout, Duration::from_secs(10));
        assert_eq!(plan.consumer.auto_commit, None);
        assert!(plan.consumer.commit_marks);
        assert_eq!(plan.consumer.fetch_max_bytes, 1000);
        assert_eq!(plan.consumer.connection.client_id.as_deref(), Some("me"));
    }

    #[test]
    fn bad_values_are_refused_naming_the_setting() {
        assert_eq!(setting(group().max_poll_records(0)), "max_poll_records");
        assert_eq!(setting(group().prefetch_bytes(0)), "prefetch_bytes");
        assert_eq!(setting(group().fetch_min_bytes(-1)), "fetch_min_bytes");
        assert_eq!(
            setting(group().request_timeout(Duration::ZERO)),
            "request_timeout"
        );
        assert_eq!(
            setting(group().fetch_max_wait(Duration::from_secs(1 << 32))),
            "fetch_max_wait"
        );
        assert_eq!(
            setting(group().heartbeat_interval(Duration::from_secs(45))),
            "heartbeat_interval"
        );
        assert_eq!(
            setting(group().retry_backoff(Duration::from_secs(2))),
            "retry_backoff"
        );
        assert_eq!(setting(group().group_id("")), "group_id");
        assert_eq!(setting(group().group_instance_id("")), "group_instance_id");
        assert_eq!(
            setting(group().partition_assignment_strategy(["nope"])),
            "partition_assignment_strategy"
        );
        assert_eq!(setting(Consumer::builder("").group_id("g")), "bootstrap");
        assert_eq!(
            setting(
                Consumer::builder("h:1")
                    .group_id("g")
                    .subscribe_pattern("a(")
            ),
            "subscribe_pattern"
        );
        assert_eq!(
            setting(
                Consumer::builder("h:1")
                    .group_id("g")
                    .subscribe(Vec::<String>::new())
            ),
            "subscribe"
        );
    }

    #[test]
    fn contradictions_are_refused() {
        // A subscription needs a group; assign cannot have one.
        assert!(matches!(
            Consumer::builder("h:1").subscribe(["t"]).validate(),
            Err(ConfigError::Missing {
                setting: "group_id",
                ..
            })
        ));
        assert!(matches!(
            Consumer::builder("h:1")
                .group_id("g")
                .assign([TopicPartition::new("t", 0)])
                .validate(),
            Err(ConfigError::Conflict {
                setting: "assign",
                ..
            })
        ));
        assert!(matches!(
            Consumer::builder("h:1").group_id("g").validate(),
            Err(ConfigError::Missing {
                setting: "subscribe",
                ..
            })
        ));
        assert!(matches!(
            group().subscribe_pattern("t.*").validate(),
            Err(ConfigError::Conflict { .. })
        ));
        // As Java: the broker decides these under KIP-848.
        assert_eq!(
            setting(
                group()
                    .group_protocol(GroupProtocol::Consumer)
                    .session_timeout(Duration::from_secs(10))
            ),
            "session_timeout"
        );
        assert_eq!(
            setting(group().group_remote_assignor("uniform")),
            "group_remote_assignor"
        );
        group()
            .group_protocol(GroupProtocol::Consumer)
            .group_remote_assignor("uniform")
            .validate()
            .unwrap();
    }

    #[test]
    fn build_outside_a_runtime_is_an_error_not_a_panic() {
        let error = group().build().unwrap_err();
        assert!(
            matches!(error, ConsumeError::Config(ConfigError::NoRuntime)),
            "{error}"
        );
    }
}
