//! [`MetadataClient`]: the tokio driver of the [`RefreshPolicy`].
//!
//! One background task per client runs the policy: it sleeps until the
//! policy's deadline or a trigger, sends the refresh the policy hands out
//! through the [`BrokerPool`] (on the broker's `Control` connection, at the
//! Metadata version negotiated with that broker), resolves the bootstrap
//! list with `tokio::net::lookup_host` when the policy falls back to it,
//! and publishes every new snapshot on a `watch` channel. The task holds no
//! reference to the client handle: when the last clone of the client is
//! dropped, the task is aborted.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;
use vltava_net::{BrokerPool, NetError, Purpose};
use vltava_wire::messages::MetadataResponse;
use vltava_wire::{ApiKey, ErrorCode};

use crate::config::{Interest, MetadataConfig};
use crate::error::MetaError;
use crate::hints::LeaderHints;
use crate::model::MetadataSnapshot;
use crate::policy::{RefreshPolicy, RefreshReason, RefreshRequest, RefreshTarget};

/// The metadata cache of a client: a [`RefreshPolicy`] driven by a
/// background tokio task over a [`BrokerPool`].
///
/// Cheap to clone (clones share the cache and the task). Reading the
/// current snapshot is an `Arc` clone; [`MetadataClient::watch`] follows
/// every new one. Other layers report what they see
/// ([`MetadataClient::report_error`],
/// [`MetadataClient::report_transport_failure`],
/// [`MetadataClient::apply_leader_hints`]) and the policy decides when to
/// refresh. Dropping the last clone stops the background task.
#[derive(Clone)]
pub struct MetadataClient {
    shared: Arc<Shared>,
    _task: Arc<TaskGuard>,
}

/// What the handle and the background task share.
struct Shared {
    policy: Mutex<RefreshPolicy>,
    /// Wakes the task after a trigger (a stored permit: no wake-up is lost).
    wake: Notify,
    snapshots: watch::Sender<Arc<MetadataSnapshot>>,
    /// One more than the id of the last successful refresh (0: none yet).
    succeeded: watch::Sender<u64>,
    /// The error of the last failed attempt, cleared by a success.
    last_failure: Mutex<Option<Arc<MetaError>>>,
    stats: Mutex<RefreshStats>,
    pool: BrokerPool,
}

/// Counters of the refreshes a [`MetadataClient`] made, for diagnostics
/// and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshStats {
    /// Refresh attempts started.
    pub started: u64,
    /// Attempts that got an answer.
    pub succeeded: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Attempts that went to the bootstrap list (resolved anew).
    pub bootstrap_attempts: u64,
    /// Where the last attempt went.
    pub last_target: Option<RefreshTarget>,
    /// Why the last attempt was made.
    pub last_reason: Option<RefreshReason>,
}

/// Aborts the background task when the last client handle goes.
struct TaskGuard(AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl MetadataClient {
    /// A client that follows the cluster reached through `bootstrap`
    /// (comma-separated `host:port` entries), over `pool`. It starts its
    /// first refresh at once, in the background; [`MetadataClient::refresh`]
    /// waits for it.
    ///
    /// Must be called within a tokio runtime.
    pub fn new(
        bootstrap: &str,
        pool: BrokerPool,
        config: MetadataConfig,
    ) -> Result<Self, MetaError> {
        let bootstrap = parse_bootstrap(bootstrap)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MetaError::NoRuntime)?;
        let seed = RandomState::new().hash_one(Instant::now());
        let policy = RefreshPolicy::new(config, bootstrap, seed);
        let (snapshots, _) = watch::channel(policy.snapshot().clone());
        let (succeeded, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            policy: Mutex::new(policy),
            wake: Notify::new(),
            snapshots,
            succeeded,
            last_failure: Mutex::new(None),
            stats: Mutex::new(RefreshStats::default()),
            pool,
        });
        let task = runtime.spawn(run(shared.clone()));
        Ok(Self {
            shared,
            _task: Arc::new(TaskGuard(task.abort_handle())),
        })
    }

    /// The current snapshot (empty, version 0, until the first refresh).
    pub fn snapshot(&self) -> Arc<MetadataSnapshot> {
        self.shared.snapshots.borrow().clone()
    }

    /// A receiver that sees every new snapshot. It reports the channel
    /// closed once the client is gone.
    pub fn watch(&self) -> watch::Receiver<Arc<MetadataSnapshot>> {
        self.shared.snapshots.subscribe()
    }

    /// The pool the client sends its requests through.
    pub fn pool(&self) -> &BrokerPool {
        &self.shared.pool
    }

    /// Counters of the refreshes made so far.
    pub fn stats(&self) -> RefreshStats {
        lock(&self.shared.stats).clone()
    }

    /// The error of the last failed refresh attempt, if the last attempt failed.
    pub fn last_failure(&self) -> Option<Arc<MetaError>> {
        lock(&self.shared.last_failure).clone()
    }

    /// Asks for a refresh and waits until one that started after this
    /// call has succeeded; returns its snapshot (or a newer one).
    ///
    /// The refresh still waits for the policy's backoff. Failed attempts
    /// are retried in the background; after the configured
    /// `refresh_timeout` this gives up with [`MetaError::RefreshTimeout`]
    /// (carrying the last failure), while the client keeps trying.
    /// Cancellation safe.
    pub async fn refresh(&self) -> Result<Arc<MetadataSnapshot>, MetaError> {
        let (ticket, timeout) = {
            let mut policy = self.shared.lock_policy();
            policy.request_refresh(RefreshReason::Explicit);
            (policy.next_refresh_id().0, policy.config().refresh_timeout)
        };
        self.shared.wake.notify_one();
        let mut succeeded = self.shared.succeeded.subscribe();
        match tokio::time::timeout(timeout, succeeded.wait_for(|&done| done > ticket)).await {
            Ok(Ok(_)) => Ok(self.snapshot()),
            Ok(Err(_)) => Err(MetaError::Closed),
            Err(_) => Err(MetaError::RefreshTimeout {
                waited: timeout,
                last: self.last_failure(),
            }),
        }
    }

    /// Asks for a refresh without waiting for it.
    pub fn request_refresh(&self, reason: RefreshReason) {
        self.shared.lock_policy().request_refresh(reason);
        self.shared.wake.notify_one();
    }

    /// Reports an error code another layer got for `topic`'s `partition`;
    /// asks for a refresh, and returns `true`, when the code calls for one.
    pub fn report_error(&self, topic: &str, partition: i32, code: ErrorCode) -> bool {
        let triggered = self
            .shared
            .lock_policy()
            .report_error(topic, partition, code);
        if triggered {
            self.shared.wake.notify_one();
        }
        triggered
    }

    /// Reports that a request to `broker` (`host:port`) failed at the
    /// transport: the broker is avoided for refreshes until one succeeds,
    /// and a refresh is asked for.
    pub fn report_transport_failure(&self, broker: &str) {
        tracing::debug!(broker, "transport failure reported; refresh asked for");
        self.shared
            .lock_policy()
            .report_transport_failure(broker, now());
        self.shared.wake.notify_one();
    }

    /// Applies KIP-951 leader hints (see
    /// [`RefreshPolicy::apply_leader_hints`]); publishes a new snapshot if
    /// any partition moved, and returns those that did.
    pub fn apply_leader_hints(&self, hints: &LeaderHints) -> Vec<(String, i32)> {
        let mut policy = self.shared.lock_policy();
        let moved = policy.apply_leader_hints(hints);
        self.shared.publish(&policy);
        drop(policy);
        if !moved.is_empty() {
            tracing::info!(moved = moved.len(), partitions = ?moved, "leaders moved (KIP-951 hints)");
        }
        moved
    }

    /// The topics followed.
    pub fn interest(&self) -> Interest {
        self.shared.lock_policy().interest().clone()
    }

    /// Follows these topics from now on (see [`RefreshPolicy::set_interest`]).
    pub fn set_interest(&self, interest: Interest) {
        let mut policy = self.shared.lock_policy();
        policy.set_interest(interest);
        self.shared.publish(&policy);
        drop(policy);
        self.shared.wake.notify_one();
    }

    /// Adds topics to follow; a refresh follows if any is new.
    pub fn add_topics<I, S>(&self, topics: I) -> bool
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let added = self.shared.lock_policy().add_topics(topics);
        if added {
            self.shared.wake.notify_one();
        }
        added
    }

    /// Stops following topics; they leave the snapshot at once.
    pub fn remove_topics<I, S>(&self, topics: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut policy = self.shared.lock_policy();
        policy.remove_topics(topics);
        self.shared.publish(&policy);
    }
}

impl std::fmt::Debug for MetadataClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("MetadataClient")
            .field("version", &snapshot.version())
            .field("brokers", &snapshot.brokers().len())
            .field("topics", &snapshot.topics().len())
            .finish_non_exhaustive()
    }
}

/// Splits a bootstrap string (`host:port,host:port`) into its entries,
/// checking that each has a host and a port.
pub fn parse_bootstrap(bootstrap: &str) -> Result<Vec<String>, MetaError> {
    let entries: Vec<String> = bootstrap
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        return Err(MetaError::NoBootstrap);
    }
    for entry in &entries {
        let valid = entry.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0)
        });
        if !valid {
            return Err(MetaError::InvalidBootstrap(entry.clone()));
        }
    }
    Ok(entries)
}

/// The clock of the driver (tokio's, so that paused-time tests work).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn lock_policy(&self) -> MutexGuard<'_, RefreshPolicy> {
        lock(&self.policy)
    }

    /// Sends the policy's snapshot to the watchers if it is a new one.
    /// Called with the policy locked, so snapshots go out in order.
    fn publish(&self, policy: &RefreshPolicy) {
        let snapshot = policy.snapshot();
        self.snapshots.send_if_modified(|current| {
            if current.version() == snapshot.version() {
                false
            } else {
                *current = snapshot.clone();
                true
            }
        });
    }

    /// Sends one refresh and hands its outcome to the policy.
    async fn perform(&self, request: RefreshRequest) {
        {
            let mut stats = lock(&self.stats);
            stats.started += 1;
            if matches!(request.target, RefreshTarget::Bootstrap(_)) {
                stats.bootstrap_attempts += 1;
            }
            stats.last_target = Some(request.target.clone());
            stats.last_reason = Some(request.reason.clone());
        }
        let started = now();
        let result = match &request.target {
            RefreshTarget::Broker { address, .. } => self.fetch_bounded(address, &request).await,
            RefreshTarget::Bootstrap(entries) => self.fetch_bootstrap(entries, &request).await,
        };
        let took_ms =
            u64::try_from(now().saturating_duration_since(started).as_millis()).unwrap_or(u64::MAX);
        let target = match &request.target {
            RefreshTarget::Broker { address, .. } => address.as_str(),
            RefreshTarget::Bootstrap(_) => "bootstrap",
        };
        let mut policy = self.lock_policy();
        match result {
            Ok((version, response)) => {
                let before = policy.snapshot().clone();
                policy.handle_response(request.id, version, &response, now());
                self.publish(&policy);
                let moved = before.leaders_moved(policy.snapshot());
                let backoff_ms =
                    u64::try_from(policy.current_backoff().as_millis()).unwrap_or(u64::MAX);
                let again = policy.is_refresh_pending();
                drop(policy);
                if moved.is_empty() {
                    tracing::debug!(
                        target,
                        reason = %request.reason,
                        took_ms,
                        again,
                        backoff_ms,
                        "metadata refreshed"
                    );
                } else {
                    tracing::info!(
                        target,
                        reason = %request.reason,
                        took_ms,
                        again,
                        backoff_ms,
                        moved = moved.len(),
                        partitions = ?moved,
                        "metadata refreshed; leaders moved"
                    );
                }
                *lock(&self.last_failure) = None;
                lock(&self.stats).succeeded += 1;
                self.succeeded.send_replace(request.id.0 + 1);
            }
            Err(error) => {
                policy.handle_failure(request.id, now());
                let backoff_ms =
                    u64::try_from(policy.current_backoff().as_millis()).unwrap_or(u64::MAX);
                drop(policy);
                tracing::debug!(
                    target,
                    reason = %request.reason,
                    took_ms,
                    backoff_ms,
                    error = %error,
                    "metadata refresh failed"
                );
                *lock(&self.last_failure) = Some(Arc::new(error));
                lock(&self.stats).failed += 1;
            }
        }
    }

    /// [`Shared::fetch`] within the configured request timeout (dial
    /// included): a frozen broker fails the refresh in that time instead
    /// of the connection's request timeout.
    async fn fetch_bounded(
        &self,
        address: &str,
        request: &RefreshRequest,
    ) -> Result<(i16, MetadataResponse), MetaError> {
        let timeout = self.lock_policy().config().request_timeout;
        match tokio::time::timeout(timeout, self.fetch(address, request)).await {
            Ok(result) => result,
            Err(_) => Err(MetaError::Net(NetError::Timeout {
                broker: address.to_owned(),
                api_key: ApiKey::Metadata,
                timeout,
            })),
        }
    }

    /// One Metadata round trip to `address`, at the version negotiated with it.
    async fn fetch(
        &self,
        address: &str,
        request: &RefreshRequest,
    ) -> Result<(i16, MetadataResponse), MetaError> {
        let connection = self.pool.connection(address, Purpose::Control).await?;
        let version = connection.version_for(ApiKey::Metadata)?;
        let response = connection
            .send_at(version, request.to_request(version))
            .await?;
        Ok((version, response))
    }

    /// Resolves each bootstrap entry anew and tries its addresses in
    /// order until one answers.
    async fn fetch_bootstrap(
        &self,
        entries: &[String],
        request: &RefreshRequest,
    ) -> Result<(i16, MetadataResponse), MetaError> {
        let mut last = MetaError::NoBootstrap;
        let mut tried = 0;
        for entry in entries {
            let addresses = match tokio::net::lookup_host(entry.as_str()).await {
                Ok(addresses) => addresses,
                Err(source) => {
                    last = MetaError::Resolve {
                        address: entry.clone(),
                        source,
                    };
                    continue;
                }
            };
            for address in addresses {
                tried += 1;
                match self.fetch_bounded(&address.to_string(), request).await {
                    Ok(answer) => return Ok(answer),
                    Err(error) => last = error,
                }
            }
        }
        Err(MetaError::BootstrapFailed {
            tried,
            last: Box::new(last),
        })
    }
}

/// The background task: refresh when the policy says so, sleep otherwise.
async fn run(shared: Arc<Shared>) {
    loop {
        let now = now();
        let (request, deadline) = {
            let mut policy = shared.lock_policy();
            let request = policy.poll_refresh(now);
            (request, policy.deadline(now))
        };
        if let Some(request) = request {
            shared.perform(request).await;
            continue;
        }
        let notified = shared.wake.notified();
        match deadline {
            Some(deadline) => {
                let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
                tokio::select! {
                    () = sleep => {}
                    () = notified => {}
                }
            }
            // Only while a refresh is in flight, which this task performs
            // itself; kept for completeness.
            None => notified.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_strings_are_checked() {
        assert_eq!(
            parse_bootstrap(" a:1, b:2 ,").unwrap(),
            ["a:1".to_owned(), "b:2".to_owned()]
        );
        assert_eq!(parse_bootstrap("[::1]:9092").unwrap(), ["[::1]:9092"]);
        assert!(matches!(
            parse_bootstrap(" , "),
            Err(MetaError::NoBootstrap)
        ));
        for bad in ["a", "a:", ":1", "a:x", "a:0", "a:70000"] {
            assert!(
                matches!(parse_bootstrap(bad), Err(MetaError::InvalidBootstrap(ref e)) if e == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_outside_a_runtime_is_an_error_not_a_panic() {
        let error = MetadataClient::new(
            "a:1",
            BrokerPool::new(Default::default()),
            MetadataConfig::new(),
        )
        .unwrap_err();
        assert!(matches!(error, MetaError::NoRuntime), "{error}");
    }

    #[tokio::test]
    async fn a_broker_that_never_answers_fails_a_refresh_within_the_request_timeout() {
        // Accepts connections and never answers (as a SIGSTOPped broker).
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = silent.local_addr().unwrap().to_string();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                open.push(stream);
            }
        });
        let config = MetadataConfig::new()
            .request_timeout(std::time::Duration::from_millis(300))
            .refresh_timeout(std::time::Duration::from_secs(2));
        let client =
            MetadataClient::new(&address, BrokerPool::new(Default::default()), config).unwrap();
        let started = Instant::now();
        let error = client.refresh().await.unwrap_err();
        assert!(matches!(error, MetaError::RefreshTimeout { .. }), "{error}");
        // Several attempts fit in the 2 s: each gave up after 300 ms, not
        // after the connection's 30 s request timeout.
        let stats = client.stats();
        assert!(stats.failed >= 2, "{stats:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let last = client.last_failure().expect("a failure is recorded");
        assert!(last.to_string().contains("timed out"), "{last}");
        held.abort();
    }

    #[tokio::test]
    async fn dropping_the_client_stops_its_task() {
        // Nothing listens on the bootstrap port: the task keeps retrying
        // until the client goes.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let client = MetadataClient::new(
            &address,
            BrokerPool::new(Default::default()),
            MetadataConfig::new(),
        )
        .unwrap();
        let mut snapshots = client.watch();
        let weak = Arc::downgrade(&client.shared);
        let task = client._task.0.clone();
        let other = client.clone();
        drop(client);
        assert!(!task.is_finished());
        drop(other);
        // The task is aborted, which frees the shared state and closes the
        // watch channel.
        tokio::time::timeout(std::time::Duration::from_secs(5), snapshots.changed())
            .await
            .expect("the watch channel closes")
            .unwrap_err();
        assert!(task.is_finished());
        assert!(weak.upgrade().is_none());
    }
}
