//! [`MetadataConfig`]: how often metadata is refreshed, and for which topics.

use std::collections::BTreeSet;
use std::time::Duration;

/// Which topics the cache follows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interest {
    /// Every topic of the cluster (Metadata with a null topic list).
    All,
    /// Only these topics (an empty set: brokers and controller only).
    Topics(BTreeSet<String>),
}

impl Interest {
    /// Interest in exactly these topics.
    pub fn topics<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Topics(topics.into_iter().map(Into::into).collect())
    }

    /// Whether `topic` is of interest.
    pub fn contains(&self, topic: &str) -> bool {
        match self {
            Self::All => true,
            Self::Topics(topics) => topics.contains(topic),
        }
    }
}

impl Default for Interest {
    /// [`Interest::All`].
    fn default() -> Self {
        Self::All
    }
}

/// When the metadata cache refreshes, and what it asks for.
///
/// ```
/// use std::time::Duration;
/// use vltava_meta::{Interest, MetadataConfig};
///
/// let config = MetadataConfig::new()
///     .interest(Interest::topics(["orders"]))
///     .max_age(Duration::from_secs(60));
/// assert_eq!(config.refresh_backoff, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetadataConfig {
    /// The minimum time between the end of one refresh and the start of the
    /// next (Java: `retry.backoff.ms`, 100 ms). No trigger makes a refresh
    /// start sooner.
    pub refresh_backoff: Duration,
    /// The cap of the exponential backoff (KIP-580) that grows after failed
    /// refreshes and after answers that still lack what was asked for
    /// (Java: `retry.backoff.max.ms`, 1 s). Never below `refresh_backoff`.
    pub refresh_backoff_max: Duration,
    /// Jitter of the exponential backoff, a fraction in `0.0..=1.0`
    /// (KIP-580: 0.2). The backoff never goes below `refresh_backoff` nor
    /// above `refresh_backoff_max` because of it.
    pub backoff_jitter: f64,
    /// How old metadata may get before it is refreshed with no other
    /// reason (Java: `metadata.max.age.ms`, 5 min).
    pub max_age: Duration,
    /// The topics followed at the start.
    pub interest: Interest,
    /// Whether Metadata requests ask the broker to create topics it does
    /// not know (only when the broker allows it). `false` by default;
    /// Metadata below v4 cannot say no, and always asks.
    pub allow_auto_topic_creation: bool,
    /// How long [`MetadataClient::refresh`](crate::MetadataClient::refresh)
    /// waits for a successful refresh (Java: `default.api.timeout.ms`, 60 s).
    pub refresh_timeout: Duration,
    /// How long one Metadata request may take, dial included, before its
    /// broker counts as failed and the next refresh asks another (10 s).
    /// Shorter than the connection's request timeout (30 s) so that one
    /// frozen broker does not hold metadata back for long.
    pub request_timeout: Duration,
}

impl MetadataConfig {
    /// The defaults: 100 ms backoff growing to 1 s with 20 % jitter, 5 min
    /// maximum age, every topic, no auto-creation, 60 s refresh timeout.
    pub fn new() -> Self {
        Self {
            refresh_backoff: Duration::from_millis(100),
            refresh_backoff_max: Duration::from_secs(1),
            backoff_jitter: 0.2,
            max_age: Duration::from_secs(300),
            interest: Interest::All,
            allow_auto_topic_creation: false,
            refresh_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the minimum time between refreshes.
    pub fn refresh_backoff(mut self, backoff: Duration) -> Self {
        self.refresh_backoff = backoff;
        self
    }

    /// Sets the cap of the exponential backoff.
    pub fn refresh_backoff_max(mut self, max: Duration) -> Self {
        self.refresh_backoff_max = max;
        self
    }

    /// Sets the backoff jitter (clamped to `0.0..=1.0`).
    pub fn backoff_jitter(mut self, jitter: f64) -> Self {
        self.backoff_jitter = jitter;
        self
    }

    /// Sets the maximum age of metadata.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets the topics followed at the start.
    pub fn interest(mut self, interest: Interest) -> Self {
        self.interest = interest;
        self
    }

    /// Sets whether Metadata requests may auto-create topics.
    pub fn allow_auto_topic_creation(mut self, allow: bool) -> Self {
        self.allow_auto_topic_creation = allow;
        self
    }

    /// Sets how long `refresh()` waits.
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout;
        self
    }

    /// Sets how long one Metadata request may take.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self::new()
    }
}
