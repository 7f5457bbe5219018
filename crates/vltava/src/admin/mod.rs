//! [`Admin`]: the admin calls (topics, cluster, offsets, groups), and the
//! machinery they share: where each request goes, and retries within one
//! overall timeout.

mod cluster;
mod configs;
mod error;
mod features;
mod groups;
mod offsets;
mod retry;
mod topics;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use vltava_meta::{Interest, MetadataClient, MetadataConfig, RefreshReason};
use vltava_net::{BrokerPool, ConnectionConfig, NetError, PoolConfig, Purpose, Recovery};
use vltava_wire::messages::find_coordinator_request::FindCoordinatorRequest;
use vltava_wire::messages::metadata_request::MetadataRequestTopic;
use vltava_wire::messages::{MetadataRequest, MetadataResponse};
use vltava_wire::{ApiKey, ErrorCode, Request};

pub use cluster::ClusterDescription;
pub use configs::ConfigChange;
pub use error::AdminError;
pub use features::{FeatureMetadata, FinalizedFeature, SupportedFeature};
pub use groups::{
    CommittedOffset, GroupDescription, GroupLag, GroupListing, GroupMember, GroupType,
    ListGroupsOptions, PartitionLag,
};
pub use offsets::{ListedOffset, OffsetSpec};
pub use topics::{
    ConfigEntry, ConfigSource, CreateTopicsOptions, CreatedTopic, NewTopic, PartitionDescription,
    TopicDescription, TopicListing,
};

use retry::{Backoff, Step};

/// How an [`Admin`] connects, waits and retries.
///
/// ```
/// use std::time::Duration;
/// use vltava::AdminConfig;
///
/// let config = AdminConfig::new().api_timeout(Duration::from_secs(20));
/// assert_eq!(config.retry_backoff, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdminConfig {
    /// The connections' settings (client id, request timeout...). Used
    /// only by [`Admin::new`]; an admin built on a shared
    /// [`MetadataClient`] uses that client's pool.
    pub connection: ConnectionConfig,
    /// How long one admin call may take, retries included (Java:
    /// `default.api.timeout.ms`, 60 s).
    pub api_timeout: Duration,
    /// The first wait before a retry (Java: `retry.backoff.ms`, 100 ms);
    /// it doubles per attempt up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    /// The longest wait before a retry (Java: `retry.backoff.max.ms`, 1 s).
    pub retry_backoff_max: Duration,
    /// How long creating, deleting or growing a topic waits, after the
    /// controller said yes, for every broker's metadata to show the change
    /// (30 s). Java's admin client does not wait; Kafka's own tools and
    /// most users then poll for it.
    pub propagation_timeout: Duration,
}

impl AdminConfig {
    /// The defaults, those of the Java admin client where it has them.
    pub fn new() -> Self {
        Self {
            connection: ConnectionConfig::new(),
            api_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            propagation_timeout: Duration::from_secs(30),
        }
    }

    /// Sets the connections' settings.
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection;
        self
    }

    /// Sets how long one admin call may take, retries included.
    pub fn api_timeout(mut self, timeout: Duration) -> Self {
        self.api_timeout = timeout;
        self
    }

    /// Sets the first and the longest wait between retries.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry_backoff = first;
        self.retry_backoff_max = max.max(first);
        self
    }

    /// Sets how long topic changes wait for the brokers' metadata.
    pub fn propagation_timeout(mut self, timeout: Duration) -> Self {
        self.propagation_timeout = timeout;
        self
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The admin client: creates, deletes, lists and describes topics,
/// describes the cluster, looks up offsets, and lists, describes and
/// deletes consumer groups.
///
/// Every call retries what is worth retrying (unreachable brokers, moved
/// leaders and coordinators, loading coordinators) with capped exponential
/// backoff, within [`AdminConfig::api_timeout`], and sends each request
/// where it belongs: topic and cluster requests to any broker (in KRaft,
/// brokers forward controller requests), group requests to the group's
/// coordinator, offset lookups to each partition's leader. Calls about
/// many topics or groups answer for each one separately.
///
/// Cheap to clone: clones share connections and the metadata cache.
///
/// ```no_run
/// use vltava::{Admin, AdminConfig, NewTopic};
///
/// # async fn run() -> Result<(), vltava::AdminError> {
/// let admin = Admin::new("127.0.0.1:9092", AdminConfig::new())?;
/// admin
///     .create_topic(NewTopic::new("orders", 6, 3).config("retention.ms", "86400000"))
///     .await?;
/// let orders = admin.describe_topic("orders").await?;
/// println!("{} partitions", orders.partitions.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    config: AdminConfig,
    meta: MetadataClient,
    /// Group id to its coordinator's address, as FindCoordinator said.
    coordinators: Mutex<HashMap<String, String>>,
    /// Spreads "any broker" requests over the brokers.
    next_broker: AtomicUsize,
}

impl Admin {
    /// An admin client for the cluster reached through `bootstrap`
    /// (comma-separated `host:port`). Connects lazily. Must be called
    /// within a tokio runtime.
    pub fn new(bootstrap: &str, config: AdminConfig) -> Result<Self, AdminError> {
        let pool = BrokerPool::new(PoolConfig::new(config.connection.clone()));
        // The cache follows the brokers only: topic calls ask brokers
        // directly, so that the admin never widens a shared cache's interest.
        let meta_config = MetadataConfig::new()
            .interest(Interest::topics(Vec::<String>::new()))
            .refresh_timeout(config.api_timeout);
        let meta = MetadataClient::new(bootstrap, pool, meta_config)?;
        Ok(Self::with_metadata(meta, config))
    }

    /// An admin client that shares `meta` (its connections and broker
    /// list) with other parts of the client; `config.connection` is not
    /// used. Never changes `meta`'s topic interest.
    pub fn with_metadata(meta: MetadataClient, config: AdminConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                meta,
                coordinators: Mutex::new(HashMap::new()),
                next_broker: AtomicUsize::new(0),
            }),
        }
    }

    /// The admin's configuration.
    pub fn config(&self) -> &AdminConfig {
        &self.inner.config
    }

    /// The metadata client the admin uses for the broker list and its connections.
    pub fn metadata(&self) -> &MetadataClient {
        &self.inner.meta
    }

    fn pool(&self) -> &BrokerPool {
        self.inner.meta.pool()
    }

    /// Runs `attempt` over the keys still pending until each has a final
    /// answer or the call's timeout runs out.
    ///
    /// `attempt` answers, per key, [`Step::Done`] or [`Step::Retry`]; keys
    /// it does not mention are retried. An `Err` from `attempt` concerns
    /// the whole request: retriable ones are retried for every pending key,
    /// others end the call. At the timeout, keys whose last failure was
    /// their own get [`AdminError::Timeout`] with it; if the last failure
    /// was the whole request's, the call fails with that timeout instead.
    async fn retry_each<K, T, F, Fut>(
        &self,
        op: &str,
        keys: Vec<K>,
        mut attempt: F,
    ) -> Result<BTreeMap<K, Result<T, AdminError>>, AdminError>
    where
        K: Ord + Clone + fmt::Debug,
        F: FnMut(Vec<K>) -> Fut,
        Fut: Future<Output = Result<Vec<(K, Step<T>)>, AdminError>>,
    {
        let timeout = self.inner.config.api_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Backoff::new(
            self.inner.config.retry_backoff,
            self.inner.config.retry_backoff_max,
        );
        let mut pending: Vec<K> = keys;
        pending.sort();
        pending.dedup();
        let mut done = BTreeMap::new();
        let mut last_own: BTreeMap<K, AdminError> = BTreeMap::new();
        let mut last_request: Option<AdminError> = None;
        loop {
            if pending.is_empty() {
                return Ok(done);
            }
            let outcome = tokio::time::timeout_at(deadline, attempt(pending.clone())).await;
            match outcome {
                Err(_elapsed) => break,
                Ok(Err(error)) => {
                    if !error.is_retriable() {
                        return Err(error);
                    }
                    self.on_retriable(&error);
                    last_request = Some(error);
                }
                Ok(Ok(answers)) => {
                    last_request = None;
                    let mut still = Vec::new();
                    let mut answered = BTreeMap::new();
                    for (key, step) in answers {
                        answered.insert(key, step);
                    }
                    for key in pending.drain(..) {
                        match answered.remove(&key) {
                            Some(Step::Done(result)) => {
                                last_own.remove(&key);
                                done.insert(key, result);
                            }
                            Some(Step::Retry(error)) => {
                                self.on_retriable(&error);
                                last_own.insert(key.clone(), error);
                                still.push(key);
                            }
                            None => {
                                last_own.insert(
                                    key.clone(),
                                    AdminError::Incomplete {
                                        op: "an admin call",
                                        what: format!("{key:?}"),
                                    },
                                );
                                still.push(key);
                            }
                        }
                    }
                    pending = still;
                    if pending.is_empty() {
                        return Ok(done);
                    }
                }
            }
            let wait = backoff.next_delay();
            if tokio::time::Instant::now() + wait >= deadline {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        if let Some(last) = last_request {
            return Err(AdminError::Timeout {
                op: op.to_owned(),
                timeout,
                last: Some(Box::new(last)),
            });
        }
        for key in pending {
            let last = last_own.remove(&key).map(Box::new);
            done.insert(
                key,
                Err(AdminError::Timeout {
                    op: op.to_owned(),
                    timeout,
                    last,
                }),
            );
        }
        Ok(done)
    }

    /// [`Admin::retry_each`] for a call with one answer.
    async fn retry_one<T, F, Fut>(&self, op: &str, mut attempt: F) -> Result<T, AdminError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T>, AdminError>>,
    {
        let mut results = self
            .retry_each(op, vec![()], |_| {
                let fut = attempt();
                async move { Ok(vec![((), fut.await?)]) }
            })
            .await?;
        results.remove(&()).unwrap_or_else(|| {
            Err(AdminError::Incomplete {
                op: "an admin call",
                what: op.to_owned(),
            })
        })
    }

    /// What a retriable failure asks for before the next attempt.
    fn on_retriable(&self, error: &AdminError) {
        match error.recovery() {
            Some(Recovery::FindCoordinator) => {
                if let Some(group) = error.group() {
                    self.forget_coordinator(group);
                }
            }
            Some(Recovery::RefreshMetadata) => {
                self.inner.meta.request_refresh(RefreshReason::Explicit);
            }
            Some(Recovery::Unreachable) => {
                if let Some(broker) = error.broker() {
                    self.inner.meta.report_transport_failure(broker);
                    self.forget_coordinators_at(broker);
                } else {
                    self.inner.meta.request_refresh(RefreshReason::Explicit);
                }
            }
            _ => {}
        }
    }

    /// Sends the request `build` makes for the version negotiated with
    /// `broker`, on the connection for its purpose.
    async fn send<R: Request>(
        &self,
        broker: &str,
        build: impl FnOnce(i16) -> Result<R, AdminError>,
    ) -> Result<R::Response, AdminError> {
        let connection = self
            .pool()
            .connection(broker, Purpose::for_api(R::API_KEY))
            .await?;
        let version = connection.version_for(R::API_KEY)?;
        let request = build(version)?;
        Ok(connection.send_at(version, request).await?)
    }

    /// The version of `api_key` that `broker` and this client speak, if any.
    async fn version_at(&self, broker: &str, api_key: ApiKey) -> Result<Option<i16>, AdminError> {
        let connection = self
            .pool()
            .connection(broker, Purpose::for_api(api_key))
            .await?;
        Ok(connection.api_versions().negotiate(api_key))
    }

    /// The addresses of the brokers the metadata cache knows, refreshing
    /// it first if it knows none yet.
    async fn brokers(&self) -> Result<Vec<vltava_meta::Broker>, AdminError> {
        let mut snapshot = self.inner.meta.snapshot();
        if snapshot.brokers().len() == 0 {
            snapshot = self.inner.meta.refresh().await?;
        }
        let mut brokers: Vec<_> = snapshot.brokers().cloned().collect();
        brokers.sort_by_key(|b| b.node_id);
        Ok(brokers)
    }

    /// A broker to send a request any broker can answer: the brokers in
    /// turn, skipping those whose dials are backing off.
    async fn any_broker(&self) -> Result<String, AdminError> {
        let brokers = self.brokers().await?;
        if brokers.is_empty() {
            return Err(AdminError::Incomplete {
                op: "finding a broker",
                what: "any broker".to_owned(),
            });
        }
        let start = self.inner.next_broker.fetch_add(1, Ordering::Relaxed);
        let pool = self.pool();
        let chosen = (0..brokers.len())
            .map(|i| &brokers[(start + i) % brokers.len()])
            .find(|b| pool.backoff_remaining(&b.address()).is_none())
            .unwrap_or(&brokers[start % brokers.len()]);
        Ok(chosen.address())
    }

    /// One Metadata request to any broker, for `topics` (`None`: every
    /// topic), never creating topics.
    async fn fetch_metadata(
        &self,
        topics: Option<&[String]>,
    ) -> Result<MetadataResponse, AdminError> {
        let broker = self.any_broker().await?;
        self.fetch_metadata_from(&broker, topics).await
    }

    async fn fetch_metadata_from(
        &self,
        broker: &str,
        topics: Option<&[String]>,
    ) -> Result<MetadataResponse, AdminError> {
        self.send(broker, |version| {
            Ok(MetadataRequest {
                topics: topics.map(|names| {
                    names
                        .iter()
                        .map(|name| MetadataRequestTopic {
                            name: Some(name.clone()),
                            ..Default::default()
                        })
                        .collect()
                }),
                // Below v4 the request cannot say no (and the field must
                // keep its default).
                allow_auto_topic_creation: version < 4,
                ..Default::default()
            })
        })
        .await
    }

    /// The address of `group`'s coordinator: from the cache, or asked
    /// with FindCoordinator.
    async fn coordinator(&self, group: &str) -> Result<String, AdminError> {
        if let Some(address) = self.lock_coordinators().get(group) {
            return Ok(address.clone());
        }
        let broker = self.any_broker().await?;
        let response = self
            .send(&broker, |version| {
                Ok(if version >= 4 {
                    FindCoordinatorRequest {
                        key_type: 0,
                        coordinator_keys: vec![group.to_owned()],
                        ..Default::default()
                    }
                } else {
                    FindCoordinatorRequest {
                        key: group.to_owned(),
                        ..Default::default()
                    }
                })
            })
            .await?;
        let (code, message, host, port) = match response.coordinators.first() {
            Some(c) => (
                c.error_code,
                c.error_message.clone(),
                c.host.clone(),
                c.port,
            ),
            None => (
                response.error_code,
                response.error_message.clone(),
                response.host.clone(),
                response.port,
            ),
        };
        let code = ErrorCode::from(code);
        if code.is_err() {
            return Err(AdminError::Group {
                op: "finding the coordinator of",
                group: group.to_owned(),
                code,
                message,
            });
        }
        let valid = u16::try_from(port)
            .ok()
            .filter(|&p| p != 0 && !host.is_empty());
        let Some(port) = valid else {
            return Err(AdminError::Group {
                op: "finding the coordinator of",
                group: group.to_owned(),
                code: ErrorCode::COORDINATOR_NOT_AVAILABLE,
                message: Some(format!(
                    "the broker named `{host}:{port}`, which is not an address"
                )),
            });
        };
        let address = vltava_meta::Broker::new(-1, host, port, None).address();
        self.lock_coordinators()
            .insert(group.to_owned(), address.clone());
        Ok(address)
    }

    fn lock_coordinators(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.inner
            .coordinators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn forget_coordinator(&self, group: &str) {
        self.lock_coordinators().remove(group);
    }

    fn forget_coordinators_at(&self, broker: &str) {
        self.lock_coordinators()
            .retain(|_, address| address != broker);
    }

    /// Sends a group request to `group`'s coordinator; a transport failure
    /// forgets the coordinator and is reported as the group's, so that the
    /// next attempt finds it again.
    async fn send_to_coordinator<R: Request>(
        &self,
        op: &'static str,
        group: &str,
        build: impl FnOnce(i16) -> Result<R, AdminError>,
    ) -> Result<R::Response, AdminError> {
        let address = self.coordinator(group).await?;
        match self.send(&address, build).await {
            Err(AdminError::Net(error)) if error.is_retriable() => {
                self.forget_coordinator(group);
                self.inner.meta.report_transport_failure(&address);
                Err(AdminError::Net(error))
            }
            Err(AdminError::Net(NetError::UnsupportedApi { .. })) => Err(AdminError::Group {
                op,
                group: group.to_owned(),
                code: ErrorCode::UNSUPPORTED_VERSION,
                message: Some(format!("the coordinator at {address} does not support it")),
            }),
            other => other,
        }
    }
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("config", &self.inner.config)
            .field("meta", &self.inner.meta)
            .finish_non_exhaustive()
    }
}

/// The step for a Kafka error code in a per-item answer: done when the
/// code is `NONE` or fatal, retried when [`Recovery`] says the client
/// recovers (`retry_metadata` also retries codes that call for fresh
/// metadata: right for leaders, wrong for "this topic does not exist").
fn step_for<T>(
    code: ErrorCode,
    retry_metadata: bool,
    error: impl FnOnce(ErrorCode) -> AdminError,
    ok: impl FnOnce() -> Result<T, AdminError>,
) -> Step<T> {
    if code.is_ok() {
        Step::Done(ok())
    } else {
        error_step(code, retry_metadata, error(code))
    }
}

/// [`step_for`] for a code known to be an error.
fn error_step<T>(code: ErrorCode, retry_metadata: bool, error: AdminError) -> Step<T> {
    match Recovery::of_code(code) {
        Some(Recovery::RefreshMetadata) if !retry_metadata => Step::Done(Err(error)),
        None | Some(Recovery::Fatal) => Step::Done(Err(error)),
        Some(_) => Step::Retry(error),
    }
}
