//! KIP-951 leader hints: the new leader of a partition (id and epoch) and
//! the brokers' endpoints, as Fetch (v16+) and Produce (v10+) responses
//! carry them next to `NOT_LEADER_OR_FOLLOWER` or `FENCED_LEADER_EPOCH`.
//!
//! Applying them ([`RefreshPolicy::apply_leader_hints`](crate::RefreshPolicy::apply_leader_hints))
//! moves a partition to its new leader without waiting for a full refresh.

use vltava_wire::Uuid;
use vltava_wire::messages::{FetchResponse, ProduceResponse};

use crate::model::Broker;

/// How a hint names its topic: Fetch v13+ uses topic ids, Produce and
/// older Fetch versions use names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopicKey {
    /// By name.
    Name(String),
    /// By topic id.
    Id(Uuid),
}

/// One partition's new leader, as a broker reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaderHint {
    /// The topic.
    pub topic: TopicKey,
    /// The partition index.
    pub partition: i32,
    /// The new leader's node id.
    pub leader_id: i32,
    /// The new leader's epoch.
    pub leader_epoch: i32,
}

impl LeaderHint {
    /// A hint that `leader_id` leads `partition` of `topic` at `leader_epoch`.
    pub fn new(topic: TopicKey, partition: i32, leader_id: i32, leader_epoch: i32) -> Self {
        Self {
            topic,
            partition,
            leader_id,
            leader_epoch,
        }
    }
}

/// The leader hints and node endpoints of one response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaderHints {
    /// The partitions' new leaders.
    pub leaders: Vec<LeaderHint>,
    /// Endpoints of the brokers the hints name (they may be brokers the
    /// cache does not know yet).
    pub endpoints: Vec<Broker>,
}

impl LeaderHints {
    /// Hints built by hand (tests, or a layer with its own response type).
    pub fn new(leaders: Vec<LeaderHint>, endpoints: Vec<Broker>) -> Self {
        Self { leaders, endpoints }
    }

    /// Whether there is no hint at all.
    pub fn is_empty(&self) -> bool {
        self.leaders.is_empty()
    }

    /// The hints of a Fetch response: every partition whose
    /// `current_leader` names a leader and an epoch (the field's default,
    /// `-1`/`-1`, means "no hint"), and the response's node endpoints.
    pub fn from_fetch_response(response: &FetchResponse) -> Self {
        let leaders = response
            .responses
            .iter()
            .flat_map(|topic| {
                let key = topic_key(&topic.topic, topic.topic_id);
                topic.partitions.iter().filter_map(move |p| {
                    hint(
                        key.clone()?,
                        p.partition_index,
                        p.current_leader.leader_id,
                        p.current_leader.leader_epoch,
                    )
                })
            })
            .collect();
        let endpoints = response
            .node_endpoints
            .iter()
            .filter_map(|n| Broker::from_wire(n.node_id, &n.host, n.port, n.rack.as_deref()))
            .collect();
        Self { leaders, endpoints }
    }

    /// The hints of a Produce response, as [`LeaderHints::from_fetch_response`].
    pub fn from_produce_response(response: &ProduceResponse) -> Self {
        let leaders = response
            .responses
            .iter()
            .flat_map(|topic| {
                let key = topic_key(&topic.name, Uuid::ZERO);
                topic.partition_responses.iter().filter_map(move |p| {
                    hint(
                        key.clone()?,
                        p.index,
                        p.current_leader.leader_id,
                        p.current_leader.leader_epoch,
                    )
                })
            })
            .collect();
        let endpoints = response
            .node_endpoints
            .iter()
            .filter_map(|n| Broker::from_wire(n.node_id, &n.host, n.port, n.rack.as_deref()))
            .collect();
        Self { leaders, endpoints }
    }
}

fn topic_key(name: &str, id: Uuid) -> Option<TopicKey> {
    if id != Uuid::ZERO {
        Some(TopicKey::Id(id))
    } else if !name.is_empty() {
        Some(TopicKey::Name(name.to_owned()))
    } else {
        None
    }
}

fn hint(topic: TopicKey, partition: i32, leader_id: i32, leader_epoch: i32) -> Option<LeaderHint> {
    (leader_id >= 0 && leader_epoch >= 0)
        .then(|| LeaderHint::new(topic, partition, leader_id, leader_epoch))
}

#[cfg(test)]
mod tests {
    use vltava_wire::messages::fetch_response::{
        FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
    };
    use vltava_wire::messages::produce_response::{
        LeaderIdAndEpoch as ProduceLeader, PartitionProduceResponse, TopicProduceResponse,
    };

    use super::*;

    #[test]
    fn fetch_hints_by_id_skip_absent_leaders_and_bad_endpoints() {
        let id = Uuid::from_u128(42);
        let response = FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic_id: id,
                partitions: vec![
                    PartitionData {
                        partition_index: 0,
                        current_leader: LeaderIdAndEpoch {
                            leader_id: 2,
                            leader_epoch: 7,
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                    // The default: no hint.
                    PartitionData {
                        partition_index: 1,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            node_endpoints: vec![
                NodeEndpoint {
                    node_id: 2,
                    host: "127.0.0.1".into(),
                    port: 9094,
                    rack: None,
                    ..Default::default()
                },
                NodeEndpoint {
                    node_id: 3,
                    host: "127.0.0.1".into(),
                    port: -5,
                    rack: None,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let hints = LeaderHints::from_fetch_response(&response);
        assert_eq!(hints.leaders, [LeaderHint::new(TopicKey::Id(id), 0, 2, 7)]);
        assert_eq!(hints.endpoints, [Broker::new(2, "127.0.0.1", 9094, None)]);
    }

    #[test]
    fn produce_hints_by_name() {
        let response = ProduceResponse {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    index: 3,
                    current_leader: ProduceLeader {
                        leader_id: 1,
                        leader_epoch: 4,
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let hints = LeaderHints::from_produce_response(&response);
        assert_eq!(
            hints.leaders,
            [LeaderHint::new(TopicKey::Name("t".into()), 3, 1, 4)]
        );
        assert!(hints.endpoints.is_empty());
    }
}
