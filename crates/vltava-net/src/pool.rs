//! [`BrokerPool`]: connections to many brokers, dialled lazily, one per
//! broker and [`Purpose`], redialled with capped exponential backoff, closed
//! when idle.
//!
//! The shape: a map from broker address to a [`Broker`], which holds one
//! slot per purpose and the broker's dial backoff. A slot is an async mutex
//! around an optional connection, so that callers who want the same
//! connection while it is being dialled wait for that one dial instead of
//! dialling too, and share its outcome, failure included. The lock is held across the dial only; sends happen on a
//! clone of the `Arc<Connection>`, outside any lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use tracing::Instrument;
use vltava_wire::{ApiKey, Request};

use crate::backoff::{Backoff, Jitter};
use crate::config::ConnectionConfig;
use crate::connection::Connection;
use crate::error::NetError;

/// What a connection is for. Each broker gets at most one connection per
/// purpose, so that traffic of one kind never queues behind another: a
/// fetch that waits `max_wait_ms` on the broker never delays a heartbeat.
///
/// The Java client keeps one connection per broker (and a second one to
/// the coordinator); franz-go keeps one per broker for each of produce,
/// fetch, group and everything else. Vltava follows franz-go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Metadata, admin requests, offset lookups: short control requests.
    Control,
    /// Group membership and offsets: heartbeats, joins, syncs, commits.
    Group,
    /// Fetch requests, which may wait on the broker for records.
    Fetch,
    /// Produce requests.
    Produce,
}

impl Purpose {
    /// Every purpose, in slot order.
    pub const ALL: [Purpose; 4] = [
        Purpose::Control,
        Purpose::Group,
        Purpose::Fetch,
        Purpose::Produce,
    ];

    /// The purpose a request of `api_key` travels under by default.
    pub fn for_api(api_key: ApiKey) -> Self {
        match api_key {
            ApiKey::Fetch | ApiKey::ShareFetch | ApiKey::ShareAcknowledge => Self::Fetch,
            ApiKey::Produce => Self::Produce,
            ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::TxnOffsetCommit
            | ApiKey::ConsumerGroupHeartbeat
            | ApiKey::ShareGroupHeartbeat => Self::Group,
            _ => Self::Control,
        }
    }

    fn slot(self) -> usize {
        match self {
            Self::Control => 0,
            Self::Group => 1,
            Self::Fetch => 2,
            Self::Produce => 3,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Control => "control",
            Self::Group => "group",
            Self::Fetch => "fetch",
            Self::Produce => "produce",
        })
    }
}

/// How a [`BrokerPool`] dials, backs off and closes.
///
/// ```
/// use std::time::Duration;
/// use vltava_net::{ConnectionConfig, PoolConfig};
///
/// let config = PoolConfig::new(ConnectionConfig::new().client_id("billing"))
///     .reconnect_backoff(Duration::from_millis(100), Duration::from_secs(2));
/// assert_eq!(config.idle_timeout, Duration::from_secs(540));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The configuration of every connection the pool opens.
    pub connection: ConnectionConfig,
    /// The wait before redialling a broker after its first failed dial
    /// (Java: `reconnect.backoff.ms`, 50 ms).
    pub reconnect_backoff: Duration,
    /// The longest wait between dials of a broker that keeps failing
    /// (Java: `reconnect.backoff.max.ms`, 1 s). The wait doubles with each
    /// failure up to this cap; jitter only ever shortens it, so the cap
    /// holds exactly.
    pub reconnect_backoff_max: Duration,
    /// A connection with nothing in flight for this long is closed
    /// (Java: `connections.max.idle.ms`, 9 min).
    pub idle_timeout: Duration,
}

impl PoolConfig {
    /// The defaults (those of the Java client), around `connection`.
    pub fn new(connection: ConnectionConfig) -> Self {
        Self {
            connection,
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(9 * 60),
        }
    }

    /// Sets the first and the longest wait between dials of a failing broker.
    pub fn reconnect_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.reconnect_backoff = first;
        self.reconnect_backoff_max = max.max(first);
        self
    }

    /// Sets how long an unused connection stays open.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self::new(ConnectionConfig::new())
    }
}

/// Connections to many brokers, dialled on first use, one per broker and
/// [`Purpose`]. Cheap to clone: clones share the connections.
///
/// A connection that closed (the broker died, restarted, or the connection
/// was idle) is replaced on the next request. A broker whose dials fail is
/// redialled with capped exponential backoff and jitter; callers that were
/// waiting for a dial that failed get its failure at once, and callers
/// asking after it wait for the backoff (bound that wait with your own
/// timeout, or check [`BrokerPool::backoff_remaining`] and pick another
/// broker, or wait elsewhere). When a connection dies, its requests in flight fail at once
/// with a retriable [`NetError::Disconnected`]; the pool does not resend
/// them: whether a request may be repeated is the caller's call.
///
/// ```no_run
/// use vltava_net::{BrokerPool, PoolConfig, Purpose};
/// use vltava_wire::messages::MetadataRequest;
///
/// # async fn run() -> Result<(), vltava_net::NetError> {
/// let pool = BrokerPool::new(PoolConfig::default());
/// let metadata = pool
///     .send("127.0.0.1:9092", Purpose::Control, MetadataRequest::default())
///     .await?;
/// println!("{} brokers", metadata.brokers.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BrokerPool {
    inner: Arc<Inner>,
}

struct Inner {
    config: PoolConfig,
    brokers: Mutex<HashMap<String, Arc<Broker>>>,
    /// Whether the task that closes idle connections runs.
    reaper_started: AtomicBool,
    /// Feeds the jitter.
    jitter: Jitter,
}

/// One broker's connections and dial backoff.
struct Broker {
    slots: [tokio::sync::Mutex<Option<Arc<Connection>>>; 4],
    backoff: Mutex<DialBackoff>,
}

/// Dial failures of one broker since its last successful dial.
#[derive(Debug, Default)]
struct DialBackoff {
    failures: u32,
    /// No dial before this instant.
    next_dial: Option<Instant>,
    /// Failed dials ever (never reset): a caller that sees it grow while
    /// it waits knows a dial failed meanwhile.
    failed_dials: u64,
    /// What the last failed dial met (the error's kind and text), handed
    /// to the callers that waited for that dial.
    last_failure: Option<(std::io::ErrorKind, String)>,
}

impl BrokerPool {
    /// A pool with no connections yet. Needs no runtime until first used.
    pub fn new(config: PoolConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                brokers: Mutex::new(HashMap::new()),
                reaper_started: AtomicBool::new(false),
                jitter: Jitter::new(),
            }),
        }
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The open connection to `broker` (`host:port`) for `purpose`, dialled
    /// now if there is none or the last one closed.
    ///
    /// If the broker's last dials failed, this first waits out its backoff.
    /// If a dial of the broker fails while this call waits for the slot
    /// (another caller's dial), this call fails with that failure at once.
    /// Cancellation safe: dropping the future abandons at most a dial.
    pub async fn connection(
        &self,
        broker: &str,
        purpose: Purpose,
    ) -> Result<Arc<Connection>, NetError> {
        self.start_reaper();
        let entry = self.inner.broker(broker);
        let failed_before = entry.lock_backoff().failed_dials;
        let mut slot = entry.slots[purpose.slot()].lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        // A dial of this broker failed while this call waited for the
        // slot: that is the dial it waited for, and its failure is this
        // call's too. Dialling again would first wait out the backoff that
        // failure started, and callers queued behind one another would
        // each wait a whole backoff in turn (a dead leader's Produce
        // requests took seconds to fail, while metadata already named
        // the new leader).
        if let Some(error) = entry.lock_backoff().failed_since(failed_before, broker) {
            tracing::debug!(broker, purpose = ?purpose, error = %error, "the dial this call waited for failed");
            return Err(error);
        }
        let redial = slot.take().is_some();
        let span = tracing::debug_span!("dial", broker, purpose = ?purpose);
        let wait = entry.lock_backoff().next_dial;
        span.in_scope(|| {
            if redial {
                tracing::debug!("the connection closed; dialling again");
            }
            if let Some(at) = wait {
                let wait = at.saturating_duration_since(Instant::now());
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                tracing::debug!(wait_ms, "waiting out the dial backoff");
            }
        });
        if let Some(at) = wait {
            tokio::time::sleep_until(at.into()).await;
        }
        let connected = Connection::connect(broker, self.inner.config.connection.clone())
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match connected {
            Ok(connection) => {
                let failures = entry.lock_backoff().failures;
                if failures > 0 {
                    tracing::info!(failures, "reconnected after failed dials");
                }
                entry.lock_backoff().reset();
                let connection = Arc::new(connection);
                *slot = Some(connection.clone());
                Ok(connection)
            }
            Err(error) => {
                // Only failures that a later dial might not meet count
                // towards the backoff; a wrong version table will not heal.
                if error.is_retriable() {
                    let jitter = self.inner.jitter.next();
                    let mut backoff = entry.lock_backoff();
                    let now = Instant::now();
                    backoff.failed(now, &self.inner.config, jitter, &error);
                    tracing::warn!(
                        failures = backoff.failures,
                        retry_in_ms = backoff.next_dial.map_or(0, |at| {
                            u64::try_from(at.saturating_duration_since(now).as_millis())
                                .unwrap_or(u64::MAX)
                        }),
                        error = %error,
                        "dial failed; backing off"
                    );
                } else {
                    tracing::warn!(error = %error, "dial failed, not retriable");
                }
                Err(error)
            }
        }
    }

    /// Sends `body` to `broker` on its `purpose` connection (dialled if
    /// needed) at the negotiated version, and waits for the response.
    ///
    /// Not retried: an error that [`NetError::is_retriable`] may be sent
    /// again by the caller, which knows whether that is safe.
    pub async fn send<R: Request>(
        &self,
        broker: &str,
        purpose: Purpose,
        body: R,
    ) -> Result<R::Response, NetError> {
        let connection = self.connection(broker, purpose).await?;
        connection.send(body).await
    }

    /// How long until `broker` may be dialled again, if its last dial
    /// failed and the backoff has not run out.
    pub fn backoff_remaining(&self, broker: &str) -> Option<Duration> {
        let entry = self.inner.brokers().get(broker).cloned()?;
        let next = entry.lock_backoff().next_dial?;
        next.checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// The connections open now, as `(broker, purpose)` pairs (for tests
    /// and diagnostics; connections being dialled are not listed).
    pub fn open_connections(&self) -> Vec<(String, Purpose)> {
        let brokers: Vec<(String, Arc<Broker>)> = self
            .inner
            .brokers()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut open = Vec::new();
        for (address, broker) in brokers {
            for purpose in Purpose::ALL {
                if let Ok(slot) = broker.slots[purpose.slot()].try_lock()
                    && slot.as_ref().is_some_and(|c| !c.is_closed())
                {
                    open.push((address.clone(), purpose));
                }
            }
        }
        open.sort_by(|a, b| (&a.0, a.1.slot()).cmp(&(&b.0, b.1.slot())));
        open
    }

    /// Closes every connection to `broker`; requests in flight on them
    /// fail with a retriable error. The next request dials afresh, without
    /// a backoff.
    pub fn close_broker(&self, broker: &str) {
        if let Some(entry) = self.inner.brokers().remove(broker) {
            entry.close_all();
        }
    }

    /// Starts, once, the task that closes idle connections. It holds only
    /// a weak reference, so it ends when the last clone of the pool goes.
    fn start_reaper(&self) {
        if self.inner.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        let idle = self.inner.config.idle_timeout;
        // Checked four times per idle timeout: a connection lives at most
        // 1.25 idle timeouts unused.
        let period = (idle / 4).max(Duration::from_millis(10));
        tokio::spawn(reap(inner, period));
    }
}

/// Closes connections idle for longer than the idle timeout, until the
/// pool is gone.
async fn reap(inner: Weak<Inner>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let brokers: Vec<Arc<Broker>> = inner.brokers().values().cloned().collect();
        for broker in brokers {
            for slot in &broker.slots {
                // A slot being dialled is not idle.
                let Ok(mut slot) = slot.try_lock() else {
                    continue;
                };
                let idle = slot.as_ref().is_some_and(|c| {
                    c.is_closed()
                        || (c.in_flight() == 0 && c.idle_for() >= inner.config.idle_timeout)
                });
                if idle && let Some(connection) = slot.take() {
                    connection.close();
                }
            }
        }
    }
}

impl Inner {
    fn brokers(&self) -> MutexGuard<'_, HashMap<String, Arc<Broker>>> {
        self.brokers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn broker(&self, address: &str) -> Arc<Broker> {
        self.brokers()
            .entry(address.to_owned())
            .or_insert_with(|| Arc::new(Broker::new()))
            .clone()
    }
}

impl Broker {
    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| tokio::sync::Mutex::new(None)),
            backoff: Mutex::new(DialBackoff::default()),
        }
    }

    fn lock_backoff(&self) -> MutexGuard<'_, DialBackoff> {
        self.backoff.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close_all(&self) {
        for slot in &self.slots {
            if let Ok(slot) = slot.try_lock()
                && let Some(connection) = slot.as_ref()
            {
                connection.close();
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl DialBackoff {
    /// A successful dial: no backoff any more.
    fn reset(&mut self) {
        self.failures = 0;
        self.next_dial = None;
        self.last_failure = None;
    }

    /// Records a failed dial at `now`: the next waits
    /// `min(first * 2^(failures-1), max)`, shortened by up to 20% at random.
    fn failed(&mut self, now: Instant, config: &PoolConfig, jitter: f64, error: &NetError) {
        self.failed_dials = self.failed_dials.wrapping_add(1);
        self.last_failure = Some(match error {
            NetError::Dial { source, .. } => (source.kind(), source.to_string()),
            NetError::DialTimeout { .. } => (std::io::ErrorKind::TimedOut, error.to_string()),
            other => (std::io::ErrorKind::Other, other.to_string()),
        });
        self.failures = self.failures.saturating_add(1);
        let wait = backoff_delay(
            self.failures,
            config.reconnect_backoff,
            config.reconnect_backoff_max,
            jitter,
        );
        self.next_dial = Some(now + wait);
    }
}

impl DialBackoff {
    /// The failure of the last dial, if one failed after `failed_dials`
    /// read `before` and none succeeded since, as an error for `broker`.
    fn failed_since(&self, before: u64, broker: &str) -> Option<NetError> {
        if self.failed_dials == before {
            return None;
        }
        let (kind, text) = self.last_failure.as_ref()?;
        Some(NetError::Dial {
            broker: broker.to_owned(),
            source: std::io::Error::new(*kind, text.clone()),
        })
    }
}

/// The wait after the `failures`-th failure in a row (see [`Backoff`]).
pub(crate) fn backoff_delay(
    failures: u32,
    first: Duration,
    max: Duration,
    jitter: f64,
) -> Duration {
    Backoff::new(first, max).delay(failures, jitter)
}

impl fmt::Debug for BrokerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerPool")
            .field("brokers", &self.inner.brokers().len())
            .field("config", &self.inner.config)
            .finish()
    }
}

#[cfg(test)]
mod tests;
