//! Offset lookups (ListOffsets), sent to each partition's leader.

use std::collections::BTreeMap;

use vltava_producer::TopicPartition;
use vltava_wire::ErrorCode;
use vltava_wire::messages::ListOffsetsRequest;
use vltava_wire::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};

use super::retry::Step;
use super::{Admin, AdminError, error_step, step_for};

/// Which offset of a partition to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OffsetSpec {
    /// The first offset still in the log (the log start offset).
    Earliest,
    /// The offset the next record will get (the high watermark, the log
    /// end offset for consumers).
    Latest,
    /// The offset of the record with the largest timestamp (KIP-734,
    /// ListOffsets v7+, Kafka 3.0+).
    MaxTimestamp,
    /// The first offset whose record's timestamp (ms since the epoch) is
    /// at or after this one.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The timestamp ListOffsets carries for it.
    fn wire(self) -> i64 {
        match self {
            Self::Latest => -1,
            Self::Earliest => -2,
            Self::MaxTimestamp => -3,
            Self::Timestamp(t) => t,
        }
    }
}

/// A partition's offset as its leader answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedOffset {
    /// The offset; `None` when no record matches (a timestamp later than
    /// every record's, or an empty partition asked for its max timestamp).
    pub offset: Option<i64>,
    /// The timestamp of the record at that offset, for timestamp lookups.
    pub timestamp: Option<i64>,
    /// The leader epoch of the record at that offset, if the broker sent one.
    pub leader_epoch: Option<i32>,
}

const OP: &str = "listing the offsets of";

impl Admin {
    /// Looks up one offset of each partition, at the partition's leader.
    /// One result per partition; moved leaders are found again and
    /// retried within the timeout.
    ///
    /// ```no_run
    /// use vltava::{Admin, OffsetSpec, TopicPartition};
    ///
    /// # async fn run(admin: Admin) -> Result<(), vltava::AdminError> {
    /// let tp = TopicPartition::new("orders", 0);
    /// let offsets = admin.list_offsets(&[(tp.clone(), OffsetSpec::Latest)]).await?;
    /// println!("end of {tp}: {:?}", offsets[&tp].as_ref().map(|o| o.offset));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_offsets(
        &self,
        partitions: &[(TopicPartition, OffsetSpec)],
    ) -> Result<BTreeMap<TopicPartition, Result<ListedOffset, AdminError>>, AdminError> {
        let specs: BTreeMap<TopicPartition, OffsetSpec> = partitions.iter().cloned().collect();
        let specs = &specs;
        self.retry_each(
            "listing offsets",
            specs.keys().cloned().collect(),
            |pending| async move { self.list_offsets_once(specs, pending).await },
        )
        .await
    }

    /// The same offset of every partition of `topic`, by partition.
    pub async fn topic_offsets(
        &self,
        topic: &str,
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, ListedOffset>, AdminError> {
        let description = self.describe_topic_partitions(topic).await?;
        let asked: Vec<(TopicPartition, OffsetSpec)> = description
            .into_iter()
            .map(|p| (TopicPartition::new(topic, p), spec))
            .collect();
        let mut out = BTreeMap::new();
        for (tp, result) in self.list_offsets(&asked).await? {
            out.insert(tp.partition, result?);
        }
        Ok(out)
    }

    /// The partition indexes of `topic`.
    async fn describe_topic_partitions(&self, topic: &str) -> Result<Vec<i32>, AdminError> {
        let topics = [topic.to_owned()];
        let topics = &topics;
        self.retry_one("looking up partitions", || async move {
            let metadata = self.fetch_metadata(Some(topics)).await?;
            let Some(t) = metadata.topics.into_iter().next() else {
                return Ok(Step::Retry(AdminError::Incomplete {
                    op: "looking up partitions",
                    what: format!("topic `{}`", topics[0]),
                }));
            };
            let code = ErrorCode::from(t.error_code);
            Ok(step_for(
                code,
                false,
                |code| AdminError::Topic {
                    op: "looking up the partitions of",
                    topic: topics[0].clone(),
                    code,
                    message: None,
                },
                || Ok(t.partitions.iter().map(|p| p.partition_index).collect()),
            ))
        })
        .await
    }

    /// One round: metadata for the pending topics, then one ListOffsets
    /// per leader.
    async fn list_offsets_once(
        &self,
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
        pending: Vec<TopicPartition>,
    ) -> Result<Vec<(TopicPartition, Step<ListedOffset>)>, AdminError> {
        let mut topics: Vec<String> = pending.iter().map(|tp| tp.topic.clone()).collect();
        topics.dedup();
        let metadata = self.fetch_metadata(Some(&topics)).await?;
        let addresses: BTreeMap<i32, String> = metadata
            .brokers
            .iter()
            .filter_map(|b| {
                let port = u16::try_from(b.port).ok()?;
                Some((
                    b.node_id,
                    vltava_meta::Broker::new(b.node_id, b.host.clone(), port, None).address(),
                ))
            })
            .collect();
        let mut answers = Vec::new();
        // Leader address -> (partition, leader epoch).
        let mut by_leader: BTreeMap<String, Vec<(TopicPartition, i32)>> = BTreeMap::new();
        for tp in pending {
            let topic = metadata
                .topics
                .iter()
                .find(|t| t.name.as_deref() == Some(tp.topic.as_str()));
            let Some(topic) = topic else {
                answers.push((tp.clone(), Step::Retry(incomplete(&tp))));
                continue;
            };
            let code = ErrorCode::from(topic.error_code);
            if code.is_err() {
                let step = error_step(code, false, partition_error(&tp, code));
                answers.push((tp, step));
                continue;
            }
            let Some(partition) = topic
                .partitions
                .iter()
                .find(|p| p.partition_index == tp.partition)
            else {
                let error = partition_error(&tp, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
                answers.push((tp, Step::Done(Err(error))));
                continue;
            };
            match addresses.get(&partition.leader_id) {
                Some(address) => by_leader
                    .entry(address.clone())
                    .or_default()
                    .push((tp, partition.leader_epoch)),
                None => {
                    let error = partition_error(&tp, ErrorCode::LEADER_NOT_AVAILABLE);
                    answers.push((tp, Step::Retry(error)));
                }
            }
        }
        for (leader, partitions) in by_leader {
            answers.extend(self.list_offsets_at(&leader, specs, partitions).await?);
        }
        Ok(answers)
    }

    /// One ListOffsets to `leader` for its partitions.
    async fn list_offsets_at(
        &self,
        leader: &str,
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
        partitions: Vec<(TopicPartition, i32)>,
    ) -> Result<Vec<(TopicPartition, Step<ListedOffset>)>, AdminError> {
        let mut answers = Vec::new();
        let version = match self
            .version_at(leader, vltava_wire::ApiKey::ListOffsets)
            .await
        {
            Ok(Some(version)) => version,
            Ok(None) => {
                return Ok(partitions
                    .into_iter()
                    .map(|(tp, _)| {
                        let error = AdminError::Unsupported(format!("ListOffsets at {leader}"));
                        (tp, Step::Done(Err(error)))
                    })
                    .collect());
            }
            Err(error) => return unreachable_leader(leader, error, partitions),
        };
        // KIP-734: the max-timestamp lookup needs v7.
        let (askable, too_old): (Vec<_>, Vec<_>) = partitions
            .into_iter()
            .partition(|(tp, _)| version >= 7 || specs.get(tp) != Some(&OffsetSpec::MaxTimestamp));
        for (tp, _) in too_old {
            let error = AdminError::Unsupported(format!(
                "the max-timestamp offset of `{tp}` needs ListOffsets v7 (Kafka 3.0), and its leader {leader} speaks v{version}"
            ));
            answers.push((tp, Step::Done(Err(error))));
        }
        if askable.is_empty() {
            return Ok(answers);
        }
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for (tp, epoch) in &askable {
            let spec = specs.get(tp).copied().unwrap_or(OffsetSpec::Latest);
            topics
                .entry(tp.topic.as_str())
                .or_default()
                .push(ListOffsetsPartition {
                    partition_index: tp.partition,
                    current_leader_epoch: *epoch,
                    timestamp: spec.wire(),
                    max_num_offsets: 1,
                    ..Default::default()
                });
        }
        let request = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| ListOffsetsTopic {
                    name: name.to_owned(),
                    partitions,
                    ..Default::default()
                })
                .collect(),
            timeout_ms: self.request_timeout_ms(),
            ..Default::default()
        };
        let response = match self.send(leader, |_| Ok(request)).await {
            Ok(response) => response,
            Err(error) => return unreachable_leader(leader, error, askable),
        };
        let mut answered = BTreeMap::new();
        for topic in response.topics {
            for p in topic.partitions {
                answered.insert(
                    TopicPartition::new(topic.name.clone(), p.partition_index),
                    p,
                );
            }
        }
        for (tp, _) in askable {
            let Some(p) = answered.remove(&tp) else {
                answers.push((tp.clone(), Step::Retry(incomplete(&tp))));
                continue;
            };
            let code = ErrorCode::from(p.error_code);
            let step = step_for(
                code,
                true,
                |code| partition_error(&tp, code),
                || {
                    let offset = if version == 0 {
                        p.old_style_offsets.first().copied().unwrap_or(-1)
                    } else {
                        p.offset
                    };
                    Ok(ListedOffset {
                        offset: (offset >= 0).then_some(offset),
                        timestamp: (p.timestamp >= 0).then_some(p.timestamp),
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    })
                },
            );
            answers.push((tp, step));
        }
        Ok(answers)
    }
}

fn partition_error(tp: &TopicPartition, code: ErrorCode) -> AdminError {
    AdminError::Partition {
        op: OP,
        topic: tp.topic.clone(),
        partition: tp.partition,
        code,
    }
}

fn incomplete(tp: &TopicPartition) -> AdminError {
    AdminError::Incomplete {
        op: "listing offsets",
        what: format!("`{tp}`"),
    }
}

/// A failed request to a leader: retried for each of its partitions
/// (after a metadata refresh) when the error is retriable; otherwise the
/// call fails with it (retrying elsewhere cannot help a codec error).
fn unreachable_leader(
    leader: &str,
    error: AdminError,
    partitions: Vec<(TopicPartition, i32)>,
) -> Result<Vec<(TopicPartition, Step<ListedOffset>)>, AdminError> {
    if !error.is_retriable() {
        return Err(error);
    }
    Ok(partitions
        .into_iter()
        .map(|(tp, _)| {
            let failure = AdminError::LeaderUnreachable {
                op: OP,
                topic: tp.topic.clone(),
                partition: tp.partition,
                broker: leader.to_owned(),
                reason: error.to_string(),
            };
            (tp, Step::Retry(failure))
        })
        .collect())
}
