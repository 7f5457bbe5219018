//! Topic calls: create, delete, list, describe (with configs), create partitions.

use std::collections::BTreeMap;
use std::time::Duration;

use vltava_meta::RefreshReason;
use vltava_wire::messages::create_partitions_request::CreatePartitionsTopic;
use vltava_wire::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use vltava_wire::messages::delete_topics_request::DeleteTopicState;
use vltava_wire::messages::describe_configs_request::DescribeConfigsResource;
use vltava_wire::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
};
use vltava_wire::{ErrorCode, Uuid};

use super::retry::{Backoff, Step};
use super::{Admin, AdminError, error_step, step_for};

/// A topic to create.
///
/// ```
/// use vltava::NewTopic;
///
/// let topic = NewTopic::new("orders", 6, 3).config("cleanup.policy", "compact");
/// assert_eq!(topic.partitions, Some(6));
/// let defaults = NewTopic::with_defaults("audit"); // the brokers' num.partitions and RF
/// assert_eq!(defaults.replication_factor, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// How many partitions (`None`: the brokers' `num.partitions`).
    pub partitions: Option<i32>,
    /// How many replicas of each (`None`: the brokers' `default.replication.factor`).
    pub replication_factor: Option<i16>,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with this many partitions and replicas.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        Self {
            name: name.into(),
            partitions: Some(partitions),
            replication_factor: Some(replication_factor),
            configs: BTreeMap::new(),
        }
    }

    /// A topic with the brokers' default partition count and replication factor.
    pub fn with_defaults(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            partitions: None,
            replication_factor: None,
            configs: BTreeMap::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// Options of [`Admin::create_topics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateTopicsOptions {
    /// Only check that the topics could be created (Java: `validateOnly`).
    pub validate_only: bool,
    /// Wait until every broker's metadata shows the new topics with a
    /// leader for each partition (bounded by
    /// [`AdminConfig::propagation_timeout`](crate::AdminConfig::propagation_timeout)). On by default.
    pub wait_for_metadata: bool,
}

impl CreateTopicsOptions {
    /// The defaults: create for real, and wait for the metadata.
    pub fn new() -> Self {
        Self {
            validate_only: false,
            wait_for_metadata: true,
        }
    }

    /// Only validates.
    pub fn validate_only(mut self, on: bool) -> Self {
        self.validate_only = on;
        self
    }

    /// Sets whether to wait for the metadata to show the topics.
    pub fn wait_for_metadata(mut self, on: bool) -> Self {
        self.wait_for_metadata = on;
        self
    }
}

impl Default for CreateTopicsOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// What the controller said of a topic it created (or would create).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreatedTopic {
    /// The topic's name.
    pub name: String,
    /// Its id (CreateTopics v7+; `None` before, and when only validating).
    pub id: Option<Uuid>,
    /// Its partition count (v5+).
    pub partitions: Option<i32>,
    /// Its replication factor (v5+).
    pub replication_factor: Option<i16>,
    /// Its configs as the controller set them (v5+; empty before).
    pub configs: BTreeMap<String, ConfigEntry>,
}

/// A topic as [`Admin::list_topics`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicListing {
    /// The topic's name.
    pub name: String,
    /// Its id (Metadata v10+).
    pub id: Option<Uuid>,
    /// Whether it is one of Kafka's own (`__consumer_offsets`, ...).
    pub is_internal: bool,
}

/// A topic, its partitions and its configs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its id (Metadata v10+).
    pub id: Option<Uuid>,
    /// Whether it is one of Kafka's own.
    pub is_internal: bool,
    /// Its partitions, by index.
    pub partitions: Vec<PartitionDescription>,
    /// Every config of the topic, set or default (DescribeConfigs).
    pub configs: BTreeMap<String, ConfigEntry>,
}

impl TopicDescription {
    /// The replication factor: the replica count of partition 0.
    pub fn replication_factor(&self) -> Option<usize> {
        self.partitions.first().map(|p| p.replicas.len())
    }
}

/// One partition of a described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionDescription {
    /// The partition's index.
    pub partition: i32,
    /// The leader's node id (`None` while there is none).
    pub leader: Option<i32>,
    /// The leader epoch, if the broker sent one.
    pub leader_epoch: Option<i32>,
    /// The replicas' node ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// The replicas that are offline.
    pub offline_replicas: Vec<i32>,
}

/// One config of a topic (or broker).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigEntry {
    /// The value (`None` for sensitive configs and unset ones).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Whether it is sensitive (its value is withheld).
    pub sensitive: bool,
}

impl ConfigEntry {
    /// Whether the value is a default rather than set for this resource.
    pub fn is_default(&self) -> bool {
        self.source != ConfigSource::DynamicTopic
    }
}

/// Where a config's value comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigSource {
    /// Set on the topic itself.
    DynamicTopic,
    /// A dynamic config of this broker.
    DynamicBroker,
    /// A dynamic config for every broker.
    DynamicDefaultBroker,
    /// The broker's `server.properties`.
    StaticBroker,
    /// Kafka's built-in default.
    Default,
    /// A dynamic broker logger config.
    DynamicBrokerLogger,
    /// A client-metrics config.
    ClientMetrics,
    /// A group config.
    Group,
    /// Not told (DescribeConfigs v0), or a source this client does not know.
    Unknown(i8),
}

impl ConfigSource {
    /// The source for a wire value.
    pub fn from_wire(source: i8) -> Self {
        match source {
            1 => Self::DynamicTopic,
            2 => Self::DynamicBroker,
            3 => Self::DynamicDefaultBroker,
            4 => Self::StaticBroker,
            5 => Self::Default,
            6 => Self::DynamicBrokerLogger,
            7 => Self::ClientMetrics,
            8 => Self::Group,
            other => Self::Unknown(other),
        }
    }
}

/// What the brokers' metadata must show before a topic change is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The topic, with this many partitions, each with a leader.
    Partitions(i32),
    /// The topic, whatever its partition count, each with a leader.
    Exists,
    /// No such topic.
    Gone,
}

/// The DescribeConfigs resource type of a topic.
pub(super) const RESOURCE_TOPIC: i8 = 2;

impl Admin {
    /// Creates one topic, and (by default) waits until the brokers'
    /// metadata shows it, so that producing to it right away works.
    ///
    /// A topic that exists already fails with an [`AdminError::Topic`]
    /// whose code is `TOPIC_ALREADY_EXISTS`.
    pub async fn create_topic(&self, topic: NewTopic) -> Result<CreatedTopic, AdminError> {
        let name = topic.name.clone();
        let mut results = self
            .create_topics(vec![topic], &CreateTopicsOptions::new())
            .await?;
        results.remove(&name).unwrap_or_else(|| {
            Err(AdminError::Incomplete {
                op: "creating a topic",
                what: format!("topic `{name}`"),
            })
        })
    }

    /// Creates topics, with one result per topic. The outer error is for a
    /// failure of the whole call (no broker reachable).
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        options: &CreateTopicsOptions,
    ) -> Result<BTreeMap<String, Result<CreatedTopic, AdminError>>, AdminError> {
        let by_name: BTreeMap<String, NewTopic> =
            topics.into_iter().map(|t| (t.name.clone(), t)).collect();
        let validate_only = options.validate_only;
        let request_timeout = self.request_timeout_ms();
        let mut results = self
            .retry_each(
                "creating topics",
                by_name.keys().cloned().collect(),
                |pending| {
                    let by_name = &by_name;
                    async move {
                        let broker = self.any_broker().await?;
                        let response = self
                            .send(&broker, |_| {
                                Ok(CreateTopicsRequest {
                                    topics: pending
                                        .iter()
                                        .filter_map(|name| by_name.get(name))
                                        .map(creatable)
                                        .collect(),
                                    timeout_ms: request_timeout,
                                    validate_only,
                                    ..Default::default()
                                })
                            })
                            .await?;
                        Ok(response
                            .topics
                            .into_iter()
                            .map(|t| {
                                let code = ErrorCode::from(t.error_code);
                                let name = t.name.clone();
                                let message = t.error_message.clone();
                                let step = topic_step(
                                    code,
                                    |code| AdminError::Topic {
                                        op: "creating",
                                        topic: name.clone(),
                                        code,
                                        message,
                                    },
                                    || Ok(created(t)),
                                );
                                (name, step)
                            })
                            .collect())
                    }
                },
            )
            .await?;
        if !validate_only && options.wait_for_metadata {
            let waits: Vec<(String, Expect)> = results
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(name, _)| {
                    let expect = by_name[name]
                        .partitions
                        .filter(|&p| p > 0)
                        .map_or(Expect::Exists, Expect::Partitions);
                    (name.clone(), expect)
                })
                .collect();
            self.settle(&mut results, "creating", &waits).await;
        }
        Ok(results)
    }

    /// Deletes one topic, and waits until the brokers' metadata no longer
    /// shows it. An unknown topic fails with `UNKNOWN_TOPIC_OR_PARTITION`.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), AdminError> {
        let mut results = self.delete_topics(&[topic]).await?;
        results.remove(topic).unwrap_or_else(|| {
            Err(AdminError::Incomplete {
                op: "deleting a topic",
                what: format!("topic `{topic}`"),
            })
        })
    }

    /// Deletes topics, with one result per topic, and waits (bounded) until
    /// the brokers' metadata no longer shows the deleted ones.
    pub async fn delete_topics(
        &self,
        topics: &[&str],
    ) -> Result<BTreeMap<String, Result<(), AdminError>>, AdminError> {
        let request_timeout = self.request_timeout_ms();
        let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let mut results = self
            .retry_each("deleting topics", names, |pending| async move {
                let broker = self.any_broker().await?;
                let response = self
                    .send(&broker, |version| {
                        Ok(if version >= 6 {
                            DeleteTopicsRequest {
                                topics: pending
                                    .iter()
                                    .map(|name| DeleteTopicState {
                                        name: Some(name.clone()),
                                        ..Default::default()
                                    })
                                    .collect(),
                                timeout_ms: request_timeout,
                                ..Default::default()
                            }
                        } else {
                            DeleteTopicsRequest {
                                topic_names: pending.clone(),
                                timeout_ms: request_timeout,
                                ..Default::default()
                            }
                        })
                    })
                    .await?;
                Ok(response
                    .responses
                    .into_iter()
                    .filter_map(|t| {
                        let name = t.name?;
                        let code = ErrorCode::from(t.error_code);
                        let step = topic_step(
                            code,
                            |code| AdminError::Topic {
                                op: "deleting",
                                topic: name.clone(),
                                code,
                                message: t.error_message.clone(),
                            },
                            || Ok(()),
                        );
                        Some((name, step))
                    })
                    .collect())
            })
            .await?;
        let waits: Vec<(String, Expect)> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(name, _)| (name.clone(), Expect::Gone))
            .collect();
        self.settle(&mut results, "deleting", &waits).await;
        Ok(results)
    }

    /// Lists the cluster's topics by name, without Kafka's internal ones
    /// unless `include_internal`.
    pub async fn list_topics(
        &self,
        include_internal: bool,
    ) -> Result<Vec<TopicListing>, AdminError> {
        let response = self
            .retry_one("listing topics", || async {
                Ok(Step::Done(Ok(self.fetch_metadata(None).await?)))
            })
            .await?;
        let mut topics: Vec<TopicListing> = response
            .topics
            .into_iter()
            .filter(|t| ErrorCode::from(t.error_code).is_ok())
            .filter(|t| include_internal || !t.is_internal)
            .filter_map(|t| {
                Some(TopicListing {
                    name: t.name?,
                    id: (t.topic_id != Uuid::ZERO).then_some(t.topic_id),
                    is_internal: t.is_internal,
                })
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Describes one topic: partitions, leaders, replicas, ISR, id and configs.
    pub async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, AdminError> {
        let mut results = self.describe_topics(&[topic]).await?;
        results.remove(topic).unwrap_or_else(|| {
            Err(AdminError::Incomplete {
                op: "describing a topic",
                what: format!("topic `{topic}`"),
            })
        })
    }

    /// Describes topics, with one result per topic: partitions from a
    /// Metadata request, configs from DescribeConfigs.
    pub async fn describe_topics(
        &self,
        topics: &[&str],
    ) -> Result<BTreeMap<String, Result<TopicDescription, AdminError>>, AdminError> {
        let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        self.retry_each("describing topics", names, |pending| async move {
            let broker = self.any_broker().await?;
            let metadata = self.fetch_metadata_from(&broker, Some(&pending)).await?;
            let mut found = BTreeMap::new();
            let mut answers = Vec::new();
            for t in metadata.topics {
                let Some(name) = t.name.clone() else { continue };
                let code = ErrorCode::from(t.error_code);
                if code.is_err() {
                    // An unknown topic is final; a leaderless one is not.
                    let unknown = matches!(
                        code,
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::UNKNOWN_TOPIC_ID
                    );
                    let error = AdminError::Topic {
                        op: "describing",
                        topic: name.clone(),
                        code,
                        message: None,
                    };
                    answers.push((name, error_step(code, !unknown, error)));
                    continue;
                }
                let mut partitions: Vec<PartitionDescription> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionDescription {
                        partition: p.partition_index,
                        leader: (p.leader_id >= 0).then_some(p.leader_id),
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        offline_replicas: p.offline_replicas.clone(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                found.insert(
                    name.clone(),
                    TopicDescription {
                        name,
                        id: (t.topic_id != Uuid::ZERO).then_some(t.topic_id),
                        is_internal: t.is_internal,
                        partitions,
                        configs: BTreeMap::new(),
                    },
                );
            }
            if found.is_empty() {
                return Ok(answers);
            }
            let names: Vec<String> = found.keys().cloned().collect();
            let configs = self.describe_topic_configs(&broker, &names).await?;
            for (name, result) in configs {
                let Some(mut description) = found.remove(&name) else {
                    continue;
                };
                let step = match result {
                    Ok(configs) => {
                        description.configs = configs;
                        Step::Done(Ok(description))
                    }
                    Err(error) if error.is_retriable() => Step::Retry(error),
                    Err(error) => Step::Done(Err(error)),
                };
                answers.push((name, step));
            }
            Ok(answers)
        })
        .await
    }

    /// DescribeConfigs for topics, at one broker.
    async fn describe_topic_configs(
        &self,
        broker: &str,
        topics: &[String],
    ) -> Result<Vec<(String, Result<BTreeMap<String, ConfigEntry>, AdminError>)>, AdminError> {
        let response = self
            .send(broker, |_| {
                Ok(DescribeConfigsRequest {
                    resources: topics
                        .iter()
                        .map(|name| DescribeConfigsResource {
                            resource_type: RESOURCE_TOPIC,
                            resource_name: name.clone(),
                            configuration_keys: None,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
            })
            .await?;
        Ok(response
            .results
            .into_iter()
            .filter(|r| r.resource_type == RESOURCE_TOPIC)
            .map(|r| {
                let code = ErrorCode::from(r.error_code);
                let result = if code.is_err() {
                    Err(AdminError::Topic {
                        op: "describing the configs of",
                        topic: r.resource_name.clone(),
                        code,
                        message: r.error_message,
                    })
                } else {
                    Ok(r.configs
                        .into_iter()
                        .map(|c| {
                            let source = if c.config_source >= 0 {
                                ConfigSource::from_wire(c.config_source)
                            } else if c.is_default {
                                ConfigSource::Default
                            } else {
                                ConfigSource::Unknown(c.config_source)
                            };
                            (
                                c.name,
                                ConfigEntry {
                                    value: c.value,
                                    source,
                                    read_only: c.read_only,
                                    sensitive: c.is_sensitive,
                                },
                            )
                        })
                        .collect())
                };
                (r.resource_name, result)
            })
            .collect())
    }

    /// Raises topics' partition counts to the given totals (Kafka cannot
    /// lower them), with one result per topic, and waits (bounded) until
    /// the brokers' metadata shows the new partitions with leaders.
    pub async fn create_partitions(
        &self,
        totals: &BTreeMap<String, i32>,
        validate_only: bool,
    ) -> Result<BTreeMap<String, Result<(), AdminError>>, AdminError> {
        let request_timeout = self.request_timeout_ms();
        let mut results = self
            .retry_each(
                "creating partitions",
                totals.keys().cloned().collect(),
                |pending| async move {
                    let broker = self.any_broker().await?;
                    let response = self
                        .send(&broker, |_| {
                            Ok(CreatePartitionsRequest {
                                topics: pending
                                    .iter()
                                    .filter_map(|name| {
                                        Some(CreatePartitionsTopic {
                                            name: name.clone(),
                                            count: *totals.get(name)?,
                                            assignments: None,
                                            ..Default::default()
                                        })
                                    })
                                    .collect(),
                                timeout_ms: request_timeout,
                                validate_only,
                                ..Default::default()
                            })
                        })
                        .await?;
                    Ok(response
                        .results
                        .into_iter()
                        .map(|r| {
                            let code = ErrorCode::from(r.error_code);
                            let step = topic_step(
                                code,
                                |code| AdminError::Topic {
                                    op: "adding partitions to",
                                    topic: r.name.clone(),
                                    code,
                                    message: r.error_message.clone(),
                                },
                                || Ok(()),
                            );
                            (r.name, step)
                        })
                        .collect())
                },
            )
            .await?;
        if !validate_only {
            let waits: Vec<(String, Expect)> = results
                .iter()
                .filter(|(_, r)| r.is_ok())
                .filter_map(|(name, _)| {
                    Some((name.clone(), Expect::Partitions(*totals.get(name)?)))
                })
                .collect();
            self.settle(&mut results, "adding partitions to", &waits)
                .await;
        }
        Ok(results)
    }

    /// The broker-side timeout for controller requests: the connection's
    /// request timeout, as Java sends it.
    pub(super) fn request_timeout_ms(&self) -> i32 {
        let timeout = self.pool().config().connection.request_timeout;
        i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// Waits for `waits` to show in every broker's metadata; topics that
    /// do not in time get [`AdminError::NotPropagated`]. Asks the shared
    /// metadata cache to refresh afterwards.
    async fn settle<T>(
        &self,
        results: &mut BTreeMap<String, Result<T, AdminError>>,
        op: &'static str,
        waits: &[(String, Expect)],
    ) {
        if waits.is_empty() {
            return;
        }
        let timeout = self.inner.config.propagation_timeout;
        let late = self.wait_for_metadata(waits, timeout).await;
        for topic in late {
            results.insert(
                topic.clone(),
                Err(AdminError::NotPropagated {
                    op,
                    topic,
                    waited: timeout,
                }),
            );
        }
        if waits
            .iter()
            .any(|(t, _)| self.inner.meta.interest().contains(t))
        {
            self.inner.meta.request_refresh(RefreshReason::Explicit);
        }
    }

    /// Polls every broker's metadata until each topic shows as expected,
    /// or `timeout` runs out; returns the topics that did not.
    async fn wait_for_metadata(
        &self,
        waits: &[(String, Expect)],
        timeout: Duration,
    ) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
        let mut pending: Vec<(String, Expect)> = waits.to_vec();
        loop {
            pending = self.not_yet_visible(&pending).await;
            let wait = backoff.next_delay();
            if pending.is_empty() || tokio::time::Instant::now() + wait >= deadline {
                return pending.into_iter().map(|(t, _)| t).collect();
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The topics some broker does not show as expected yet (all of them
    /// if the brokers cannot be asked).
    async fn not_yet_visible(&self, waits: &[(String, Expect)]) -> Vec<(String, Expect)> {
        let names: Vec<String> = waits.iter().map(|(t, _)| t.clone()).collect();
        let Ok(brokers) = self.fetch_metadata(Some(&names)).await.map(|m| m.brokers) else {
            return waits.to_vec();
        };
        let mut late = Vec::new();
        let mut answers = Vec::new();
        for broker in &brokers {
            let Ok(port) = u16::try_from(broker.port) else {
                continue;
            };
            let address =
                vltava_meta::Broker::new(broker.node_id, broker.host.clone(), port, None).address();
            match self.fetch_metadata_from(&address, Some(&names)).await {
                Ok(answer) => answers.push(answer),
                Err(_) => return waits.to_vec(),
            }
        }
        for (topic, expect) in waits {
            let visible = !answers.is_empty()
                && answers.iter().all(|answer| {
                    let shown = answer
                        .topics
                        .iter()
                        .find(|t| t.name.as_deref() == Some(topic.as_str()));
                    let exists = shown.is_some_and(|t| ErrorCode::from(t.error_code).is_ok());
                    match expect {
                        Expect::Gone => !exists,
                        Expect::Exists | Expect::Partitions(_) => shown.is_some_and(|t| {
                            exists
                                && !t.partitions.is_empty()
                                && t.partitions.iter().all(|p| p.leader_id >= 0)
                                && match expect {
                                    Expect::Partitions(n) => t.partitions.len() == *n as usize,
                                    _ => true,
                                }
                        }),
                    }
                });
            if !visible {
                late.push((topic.clone(), *expect));
            }
        }
        late
    }
}

/// The step for a topic-level code of a controller request: retried when
/// [`vltava_net::Recovery`] retries it and it is not about metadata
/// (`UNKNOWN_TOPIC_OR_PARTITION` is final here, as in the Java client).
fn topic_step<T>(
    code: ErrorCode,
    error: impl FnOnce(ErrorCode) -> AdminError,
    ok: impl FnOnce() -> Result<T, AdminError>,
) -> Step<T> {
    step_for(code, false, error, ok)
}

fn creatable(topic: &NewTopic) -> CreatableTopic {
    CreatableTopic {
        name: topic.name.clone(),
        num_partitions: topic.partitions.unwrap_or(-1),
        replication_factor: topic.replication_factor.unwrap_or(-1),
        assignments: Vec::new(),
        configs: topic
            .configs
            .iter()
            .map(|(k, v)| CreatableTopicConfig {
                name: k.clone(),
                value: Some(v.clone()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn created(t: vltava_wire::messages::create_topics_response::CreatableTopicResult) -> CreatedTopic {
    CreatedTopic {
        id: (t.topic_id != Uuid::ZERO).then_some(t.topic_id),
        partitions: (t.num_partitions > 0).then_some(t.num_partitions),
        replication_factor: (t.replication_factor > 0).then_some(t.replication_factor),
        configs: t
            .configs
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                (
                    c.name,
                    ConfigEntry {
                        value: c.value,
                        source: ConfigSource::from_wire(c.config_source),
                        read_only: c.read_only,
                        sensitive: c.is_sensitive,
                    },
                )
            })
            .collect(),
        name: t.name,
    }
}
