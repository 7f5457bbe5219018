//! Group calls: list, describe (classic and KIP-848), committed offsets,
//! lag, delete. Every request but ListGroups goes to the group's
//! coordinator, found with FindCoordinator and found again when it moves.

use std::collections::BTreeMap;

use bytes::Bytes;
use vltava_producer::TopicPartition;
use vltava_wire::messages::offset_fetch_request::OffsetFetchRequestGroup;
use vltava_wire::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerProtocolAssignment,
    DeleteGroupsRequest, DescribeGroupsRequest, DescribeGroupsResponse, ListGroupsRequest,
    OffsetFetchRequest,
};
use vltava_wire::{ApiKey, ErrorCode, Message};

use super::offsets::OffsetSpec;
use super::retry::Step;
use super::{Admin, AdminError, error_step, step_for};

/// Options of [`Admin::list_groups`].
///
/// ```
/// use vltava::ListGroupsOptions;
///
/// let options = ListGroupsOptions::new().state("Stable").group_type("consumer");
/// assert_eq!(options.states, ["Stable"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListGroupsOptions {
    /// Only groups in these states (`Stable`, `Empty`, ...; any case).
    /// Needs ListGroups v4 (Kafka 2.6).
    pub states: Vec<String>,
    /// Only groups of these types (`classic`, `consumer`, `share`; any
    /// case). Needs ListGroups v5 (Kafka 3.8).
    pub types: Vec<String>,
}

impl ListGroupsOptions {
    /// No filter: every group.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a state to the filter.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.states.push(state.into());
        self
    }

    /// Adds a type to the filter.
    pub fn group_type(mut self, group_type: impl Into<String>) -> Self {
        self.types.push(group_type.into());
        self
    }
}

/// The kind of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupType {
    /// The classic protocol (JoinGroup/SyncGroup), including simple groups
    /// that only commit offsets.
    Classic,
    /// A KIP-848 consumer group (ConsumerGroupHeartbeat).
    Consumer,
    /// A KIP-932 share group.
    Share,
    /// A type this client does not know.
    Other(String),
}

impl GroupType {
    fn parse(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "classic" => Self::Classic,
            "consumer" => Self::Consumer,
            "share" => Self::Share,
            _ => Self::Other(name.to_owned()),
        }
    }
}

/// A group as [`Admin::list_groups`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`consumer` for consumer groups, empty for groups
    /// that only commit offsets).
    pub protocol_type: String,
    /// Its state (ListGroups v4+).
    pub state: Option<String>,
    /// Its type (ListGroups v5+).
    pub group_type: Option<GroupType>,
}

/// A group, its state and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// Classic or KIP-848 consumer group.
    pub group_type: GroupType,
    /// Its state as the coordinator names it: `Stable`, `Empty`,
    /// `PreparingRebalance`, `Dead` (a classic group the coordinator does
    /// not know), ...; KIP-848 groups have states of their own
    /// (`Assigning`, `Reconciling`, ...).
    pub state: String,
    /// The protocol type of a classic group (`consumer`; empty for a group
    /// that only commits offsets); `consumer` for KIP-848 groups.
    pub protocol_type: String,
    /// The partition assignor in use (`range`, `uniform`, ...), if any.
    pub assignor: String,
    /// The coordinator's address.
    pub coordinator: String,
    /// The group epoch (KIP-848 groups only).
    pub group_epoch: Option<i32>,
    /// The members.
    pub members: Vec<GroupMember>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupMember {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its static membership id, if it has one.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// Its host, as the coordinator saw it.
    pub client_host: String,
    /// Its assigned partitions, by topic. For a classic group, decoded from
    /// the consumer protocol's assignment; `None` when the group does not
    /// use the consumer protocol or the bytes could not be decoded.
    pub assignment: Option<BTreeMap<String, Vec<i32>>>,
    /// The partitions the coordinator means to give it (KIP-848 only).
    pub target_assignment: Option<BTreeMap<String, Vec<i32>>>,
    /// Its member epoch (KIP-848 only).
    pub member_epoch: Option<i32>,
    /// The topics it subscribes to (KIP-848 only; empty otherwise).
    pub subscribed_topics: Vec<String>,
    /// Its rack (KIP-848 only).
    pub rack: Option<String>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommittedOffset {
    /// The committed offset: the next record the group will read.
    pub offset: i64,
    /// The leader epoch committed with it, if any.
    pub leader_epoch: Option<i32>,
    /// The metadata string committed with it, if any.
    pub metadata: Option<String>,
}

/// How far behind a group is on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionLag {
    /// The group's committed offset.
    pub committed: i64,
    /// The partition's latest offset (the high watermark).
    pub log_end: i64,
    /// `log_end - committed`, never below 0.
    pub lag: i64,
}

/// How far behind a group is: per partition it has committed, and in total.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupLag {
    /// The group.
    pub group_id: String,
    /// Per partition with a committed offset.
    pub partitions: BTreeMap<TopicPartition, PartitionLag>,
    /// The sum over the partitions.
    pub total: i64,
}

impl Admin {
    /// Lists the groups of every broker (each lists the groups it
    /// coordinates), sorted by id.
    pub async fn list_groups(
        &self,
        options: &ListGroupsOptions,
    ) -> Result<Vec<GroupListing>, AdminError> {
        let brokers = self.brokers().await?;
        let ids: Vec<i32> = brokers.iter().map(|b| b.node_id).collect();
        let results = self
            .retry_each("listing groups", ids, |pending| async move {
                let brokers = self.brokers().await?;
                let mut answers = Vec::new();
                for id in pending {
                    let Some(broker) = brokers.iter().find(|b| b.node_id == id) else {
                        // Gone from the cluster, and its groups moved with
                        // their coordinators to the brokers that are left.
                        answers.push((id, Step::Done(Ok(Vec::new()))));
                        continue;
                    };
                    answers.push((id, self.list_groups_at(&broker.address(), options).await?));
                }
                Ok(answers)
            })
            .await?;
        let mut groups = Vec::new();
        for (_, result) in results {
            groups.extend(result?);
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(groups)
    }

    async fn list_groups_at(
        &self,
        broker: &str,
        options: &ListGroupsOptions,
    ) -> Result<Step<Vec<GroupListing>>, AdminError> {
        let mut version = 0;
        let response = self
            .send(broker, |v| {
                version = v;
                if v < 4 && !options.states.is_empty() {
                    return Err(AdminError::Unsupported(format!(
                        "listing groups by state needs ListGroups v4 (Kafka 2.6); {broker} speaks v{v}"
                    )));
                }
                if v < 5 && !options.types.is_empty() {
                    return Err(AdminError::Unsupported(format!(
                        "listing groups by type needs ListGroups v5 (Kafka 3.8); {broker} speaks v{v}"
                    )));
                }
                Ok(ListGroupsRequest {
                    states_filter: options.states.clone(),
                    types_filter: options.types.clone(),
                    ..Default::default()
                })
            })
            .await?;
        let code = ErrorCode::from(response.error_code);
        Ok(step_for(
            code,
            false,
            |code| AdminError::Broker {
                op: "listing groups",
                code,
                message: Some(format!("at {broker}")),
            },
            || {
                Ok(response
                    .groups
                    .into_iter()
                    .map(|g| GroupListing {
                        group_id: g.group_id,
                        protocol_type: g.protocol_type,
                        state: (version >= 4).then_some(g.group_state),
                        group_type: (version >= 5).then(|| GroupType::parse(&g.group_type)),
                    })
                    .collect())
            },
        ))
    }

    /// Describes one group.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, AdminError> {
        let mut results = self.describe_groups(&[group]).await?;
        results.remove(group).unwrap_or_else(|| {
            Err(AdminError::Incomplete {
                op: "describing a group",
                what: format!("group `{group}`"),
            })
        })
    }

    /// Describes groups, one result per group. A KIP-848 consumer group is
    /// described with ConsumerGroupDescribe (as the Java admin client does:
    /// asked first, and a group it does not know as a consumer group is
    /// asked again with DescribeGroups); a classic group with DescribeGroups,
    /// its members' assignments decoded from the consumer protocol.
    pub async fn describe_groups(
        &self,
        groups: &[&str],
    ) -> Result<BTreeMap<String, Result<GroupDescription, AdminError>>, AdminError> {
        let ids: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        self.retry_each("describing groups", ids, |pending| async move {
            let mut answers = Vec::new();
            for group in pending {
                let step = match self.describe_group_once(&group).await {
                    Ok(step) => step,
                    Err(error) if error.is_retriable() => Step::Retry(error),
                    Err(error) => return Err(error),
                };
                answers.push((group, step));
            }
            Ok(answers)
        })
        .await
    }

    async fn describe_group_once(&self, group: &str) -> Result<Step<GroupDescription>, AdminError> {
        let coordinator = self.coordinator(group).await?;
        let kip848 = self
            .version_at(&coordinator, ApiKey::ConsumerGroupDescribe)
            .await?
            .is_some();
        if kip848 {
            let response: ConsumerGroupDescribeResponse = self
                .send_to_coordinator("describing", group, |_| {
                    Ok(ConsumerGroupDescribeRequest {
                        group_ids: vec![group.to_owned()],
                        ..Default::default()
                    })
                })
                .await?;
            if let Some(described) = response.groups.into_iter().find(|g| g.group_id == group) {
                let code = ErrorCode::from(described.error_code);
                if code != ErrorCode::GROUP_ID_NOT_FOUND {
                    let message = described.error_message.clone();
                    return Ok(step_for(
                        code,
                        false,
                        |code| group_error("describing", group, code, message),
                        || Ok(consumer_group(described, coordinator.clone())),
                    ));
                }
            }
        }
        let response: DescribeGroupsResponse = self
            .send_to_coordinator("describing", group, |_| {
                Ok(DescribeGroupsRequest {
                    groups: vec![group.to_owned()],
                    ..Default::default()
                })
            })
            .await?;
        let Some(described) = response.groups.into_iter().find(|g| g.group_id == group) else {
            return Ok(Step::Retry(AdminError::Incomplete {
                op: "describing groups",
                what: format!("group `{group}`"),
            }));
        };
        let code = ErrorCode::from(described.error_code);
        Ok(step_for(
            code,
            false,
            |code| group_error("describing", group, code, None),
            || Ok(classic_group(described, coordinator.clone())),
        ))
    }

    /// The offsets `group` has committed, by partition (partitions without
    /// a committed offset are left out).
    pub async fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>, AdminError> {
        self.group_offsets(group, false).await
    }

    /// [`Admin::list_group_offsets`] with `require_stable` (Java's
    /// `ListConsumerGroupOffsetsOptions.requireStable(true)`, OffsetFetch
    /// v7+): while a transaction that commits offsets of the group is
    /// pending, the coordinator answers `UNSTABLE_OFFSET_COMMIT` (retried
    /// here) instead of the offsets before it, so an offset once read is
    /// never followed by an older one while the transaction completes.
    pub async fn list_group_offsets_stable(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>, AdminError> {
        self.group_offsets(group, true).await
    }

    async fn group_offsets(
        &self,
        group: &str,
        require_stable: bool,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>, AdminError> {
        self.retry_one("fetching committed offsets", || async {
            match self.group_offsets_once(group, require_stable).await {
                Err(error) if error.is_retriable() => Ok(Step::Retry(error)),
                other => other,
            }
        })
        .await
    }

    async fn group_offsets_once(
        &self,
        group: &str,
        require_stable: bool,
    ) -> Result<Step<BTreeMap<TopicPartition, CommittedOffset>>, AdminError> {
        let mut version = 0;
        let response = self
            .send_to_coordinator("fetching the committed offsets of", group, |v| {
                version = v;
                Ok(if v >= 8 {
                    OffsetFetchRequest {
                        groups: vec![OffsetFetchRequestGroup {
                            group_id: group.to_owned(),
                            topics: None,
                            ..Default::default()
                        }],
                        require_stable,
                        ..Default::default()
                    }
                } else if v >= 2 {
                    OffsetFetchRequest {
                        group_id: group.to_owned(),
                        topics: None,
                        ..Default::default()
                    }
                } else {
                    return Err(AdminError::Unsupported(format!(
                        "fetching every committed offset of group `{group}` needs OffsetFetch v2 (Kafka 0.10.2)"
                    )));
                })
            })
            .await?;
        // (error code, [(topic, partition, offset, epoch, metadata, code)])
        let mut rows = Vec::new();
        let code = if version >= 8 {
            let Some(g) = response.groups.into_iter().find(|g| g.group_id == group) else {
                return Ok(Step::Retry(AdminError::Incomplete {
                    op: "fetching committed offsets",
                    what: format!("group `{group}`"),
                }));
            };
            for t in g.topics {
                for p in t.partitions {
                    rows.push((
                        t.name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata,
                        p.error_code,
                    ));
                }
            }
            g.error_code
        } else {
            for t in response.topics {
                for p in t.partitions {
                    rows.push((
                        t.name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata,
                        p.error_code,
                    ));
                }
            }
            response.error_code
        };
        let code = ErrorCode::from(code);
        if code.is_err() {
            let error = group_error("fetching the committed offsets of", group, code, None);
            return Ok(error_step(code, false, error));
        }
        let mut offsets = BTreeMap::new();
        for (topic, partition, offset, epoch, metadata, code) in rows {
            let code = ErrorCode::from(code);
            if code.is_err() {
                // UNSTABLE_OFFSET_COMMIT (a transaction is pending) is retried.
                let error = group_error(
                    "fetching the committed offsets of",
                    group,
                    code,
                    Some(format!("for `{topic}`-{partition}")),
                );
                return Ok(error_step(code, false, error));
            }
            if offset < 0 {
                continue;
            }
            offsets.insert(
                TopicPartition::new(topic, partition),
                CommittedOffset {
                    offset,
                    leader_epoch: (epoch >= 0).then_some(epoch),
                    metadata: metadata.filter(|m| !m.is_empty()),
                },
            );
        }
        Ok(Step::Done(Ok(offsets)))
    }

    /// How far `group` is behind: for each partition it has committed, the
    /// partition's latest offset minus the committed one; and the total.
    pub async fn group_lag(&self, group: &str) -> Result<GroupLag, AdminError> {
        let committed = self.list_group_offsets(group).await?;
        let asked: Vec<(TopicPartition, OffsetSpec)> = committed
            .keys()
            .map(|tp| (tp.clone(), OffsetSpec::Latest))
            .collect();
        let latest = self.list_offsets(&asked).await?;
        let mut partitions = BTreeMap::new();
        let mut total = 0i64;
        for (tp, result) in latest {
            let end = result?.offset.unwrap_or(0);
            let Some(committed) = committed.get(&tp) else {
                continue;
            };
            let lag = end.saturating_sub(committed.offset).max(0);
            total = total.saturating_add(lag);
            partitions.insert(
                tp,
                PartitionLag {
                    committed: committed.offset,
                    log_end: end,
                    lag,
                },
            );
        }
        Ok(GroupLag {
            group_id: group.to_owned(),
            partitions,
            total,
        })
    }

    /// Deletes one group (it must have no members) with its committed offsets.
    pub async fn delete_group(&self, group: &str) -> Result<(), AdminError> {
        let mut results = self.delete_groups(&[group]).await?;
        results.remove(group).unwrap_or_else(|| {
            Err(AdminError::Incomplete {
                op: "deleting a group",
                what: format!("group `{group}`"),
            })
        })
    }

    /// Deletes groups, one result per group. A group with members fails
    /// with `NON_EMPTY_GROUP`; an unknown one with `GROUP_ID_NOT_FOUND`.
    pub async fn delete_groups(
        &self,
        groups: &[&str],
    ) -> Result<BTreeMap<String, Result<(), AdminError>>, AdminError> {
        let ids: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        self.retry_each("deleting groups", ids, |pending| async move {
            let mut answers = Vec::new();
            for group in pending {
                let sent = self
                    .send_to_coordinator("deleting", &group, |_| {
                        Ok(DeleteGroupsRequest {
                            groups_names: vec![group.clone()],
                            ..Default::default()
                        })
                    })
                    .await;
                let response = match sent {
                    Ok(response) => response,
                    Err(error) if error.is_retriable() => {
                        answers.push((group, Step::Retry(error)));
                        continue;
                    }
                    Err(error) => return Err(error),
                };
                let step = match response.results.into_iter().find(|r| r.group_id == group) {
                    Some(r) => step_for(
                        ErrorCode::from(r.error_code),
                        false,
                        |code| group_error("deleting", &group, code, None),
                        || Ok(()),
                    ),
                    None => Step::Retry(AdminError::Incomplete {
                        op: "deleting groups",
                        what: format!("group `{group}`"),
                    }),
                };
                answers.push((group, step));
            }
            Ok(answers)
        })
        .await
    }
}

fn group_error(
    op: &'static str,
    group: &str,
    code: ErrorCode,
    message: Option<String>,
) -> AdminError {
    AdminError::Group {
        op,
        group: group.to_owned(),
        code,
        message,
    }
}

fn classic_group(
    g: vltava_wire::messages::describe_groups_response::DescribedGroup,
    coordinator: String,
) -> GroupDescription {
    let consumer = g.protocol_type == "consumer";
    GroupDescription {
        group_id: g.group_id,
        group_type: GroupType::Classic,
        state: g.group_state,
        protocol_type: g.protocol_type,
        assignor: g.protocol_data,
        coordinator,
        group_epoch: None,
        members: g
            .members
            .into_iter()
            .map(|m| GroupMember {
                assignment: if consumer {
                    decode_assignment(&m.member_assignment)
                } else {
                    None
                },
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                target_assignment: None,
                member_epoch: None,
                subscribed_topics: Vec::new(),
                rack: None,
            })
            .collect(),
    }
}

fn consumer_group(
    g: vltava_wire::messages::consumer_group_describe_response::DescribedGroup,
    coordinator: String,
) -> GroupDescription {
    fn by_topic(
        assignment: vltava_wire::messages::consumer_group_describe_response::Assignment,
    ) -> BTreeMap<String, Vec<i32>> {
        let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for t in assignment.topic_partitions {
            let mut partitions = t.partitions;
            partitions.sort_unstable();
            out.entry(t.topic_name).or_default().extend(partitions);
        }
        out
    }
    GroupDescription {
        group_id: g.group_id,
        group_type: GroupType::Consumer,
        state: g.group_state,
        protocol_type: "consumer".to_owned(),
        assignor: g.assignor_name,
        coordinator,
        group_epoch: Some(g.group_epoch),
        members: g
            .members
            .into_iter()
            .map(|m| GroupMember {
                member_id: m.member_id,
                group_instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                assignment: Some(by_topic(m.assignment)),
                target_assignment: Some(by_topic(m.target_assignment)),
                member_epoch: Some(m.member_epoch),
                subscribed_topics: m.subscribed_topic_names,
                rack: m.rack_id,
            })
            .collect(),
    }
}

/// Decodes a classic consumer's assignment (`ConsumerProtocolAssignment`
/// after its int16 version). Empty bytes are an empty assignment (a member
/// that has not synced yet); a newer version is read as the newest this
/// client knows, which works while Kafka only appends fields; anything that
/// does not decode is `None`.
fn decode_assignment(bytes: &Bytes) -> Option<BTreeMap<String, Vec<i32>>> {
    if bytes.is_empty() {
        return Some(BTreeMap::new());
    }
    if bytes.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version < 0 {
        return None;
    }
    let known = ConsumerProtocolAssignment::VERSIONS.max;
    let assignment =
        ConsumerProtocolAssignment::decode(&bytes.slice(2..), version.min(known)).ok()?;
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for t in assignment.assigned_partitions {
        out.entry(t.topic).or_default().extend(t.partitions);
    }
    for partitions in out.values_mut() {
        partitions.sort_unstable();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use vltava_wire::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;

    use super::*;

    fn encoded(version: i16, assignment: &ConsumerProtocolAssignment) -> Bytes {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&version.to_be_bytes());
        assignment.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn assignments_decode_by_topic_with_sorted_partitions() {
        let assignment = ConsumerProtocolAssignment {
            assigned_partitions: vec![
                AssignedTopic {
                    topic: "b".into(),
                    partitions: vec![3, 1],
                },
                AssignedTopic {
                    topic: "a".into(),
                    partitions: vec![0],
                },
            ],
            user_data: None,
        };
        for version in 0..=ConsumerProtocolAssignment::VERSIONS.max {
            let decoded = decode_assignment(&encoded(version, &assignment)).unwrap();
            assert_eq!(decoded["a"], [0]);
            assert_eq!(decoded["b"], [1, 3]);
        }
    }

    #[test]
    fn empty_or_broken_assignments_do_not_panic() {
        assert_eq!(decode_assignment(&Bytes::new()), Some(BTreeMap::new()));
        assert_eq!(decode_assignment(&Bytes::from_static(&[0])), None);
        assert_eq!(
            decode_assignment(&Bytes::from_static(&[0xff, 0xff, 0, 0])),
            None
        );
        assert_eq!(
            decode_assignment(&Bytes::from_static(&[0, 0, 0, 0, 0, 9])),
            None
        );
        // Every prefix of a valid assignment either decodes or is None.
        let valid = encoded(
            1,
            &ConsumerProtocolAssignment {
                assigned_partitions: vec![AssignedTopic {
                    topic: "t".into(),
                    partitions: vec![1, 2],
                }],
                user_data: Some(Bytes::from_static(b"x")),
            },
        );
        for end in 0..valid.len() {
            let _ = decode_assignment(&valid.slice(..end));
        }
    }
}
