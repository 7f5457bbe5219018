//! Committed offsets, sans-IO: which offsets to commit, what the answers
//! mean, and the rules that keep commits safe.
//!
//! - A commit never moves an offset backwards: offsets at or below what
//!   this member already committed for a partition, or has a commit of on
//!   the wire, are left out. (Without the second half, a commit that
//!   failed and is retried while a later, higher one is in flight reaches
//!   the coordinator after it and puts the offset back: two commits back
//!   off with their own jitter, so the older can be retried second.)
//! - A late answer never rewinds anything: the committed offset of a
//!   partition only ever grows, whatever order answers arrive in and
//!   whichever generation they were sent in.
//! - Only partitions the member owns are committed; a lost partition is
//!   forgotten at once (no commit for it: it may already belong to another
//!   member), a revoked one may be committed while it is being revoked.
//!
//! [`CommitTracker`] takes offsets and answers in and hands
//! `OffsetCommitRequest`s out; the driver sends them to the coordinator.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use vltava_net::Recovery;
use vltava_wire::ErrorCode;
use vltava_wire::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use vltava_wire::messages::{OffsetCommitRequest, OffsetCommitResponse, OffsetFetchResponse};

use crate::TopicPartition;

/// The offset type the group commits and reads back; it lives in
/// `vltava-meta`, beside `TopicPartition`, so that the producer's
/// transactional commits take it too.
pub use vltava_meta::CommitOffset;

/// Who commits: the coordinator accepts a commit only from the current
/// member of the current generation (classic) or member epoch (KIP-848).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitIdentity {
    /// A member of a classic group.
    Classic {
        /// The generation.
        generation: i32,
        /// The member id.
        member_id: String,
        /// The static instance id, if any.
        group_instance_id: Option<String>,
    },
    /// A member of a KIP-848 consumer group.
    Consumer {
        /// The member epoch.
        member_epoch: i32,
        /// The member id.
        member_id: String,
    },
    /// No membership: offsets of a group nobody is a member of (manual
    /// assignment), generation -1.
    Simple,
}

impl CommitIdentity {
    fn generation_and_member(&self) -> (i32, String, Option<String>) {
        match self {
            Self::Classic {
                generation,
                member_id,
                group_instance_id,
            } => (*generation, member_id.clone(), group_instance_id.clone()),
            Self::Consumer {
                member_epoch,
                member_id,
            } => (*member_epoch, member_id.clone(), None),
            Self::Simple => (-1, String::new(), None),
        }
    }
}

/// Identifies one commit handed out by [`CommitTracker::prepare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub u64);

/// What became of one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CommitOutcome {
    /// Partitions whose offset is now committed.
    pub committed: BTreeMap<TopicPartition, i64>,
    /// Partitions that failed, with the broker's code and what to do.
    pub failed: BTreeMap<TopicPartition, (ErrorCode, Recovery)>,
}

impl CommitOutcome {
    /// Whether every partition was committed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// The most serious recovery among the failures: fatal before rejoin
    /// before find-coordinator before retry.
    pub fn recovery(&self) -> Option<Recovery> {
        let rank = |r: &Recovery| match r {
            Recovery::Fatal => 0,
            Recovery::Rejoin => 1,
            Recovery::FindCoordinator => 2,
            Recovery::Unreachable => 3,
            Recovery::RefreshMetadata => 4,
            _ => 5,
        };
        self.failed.values().map(|(_, r)| *r).min_by_key(rank)
    }
}

/// A commit on the wire.
#[derive(Debug)]
struct Pending {
    offsets: BTreeMap<TopicPartition, CommitOffset>,
}

/// The member's view of its committed offsets.
#[derive(Debug, Default)]
pub struct CommitTracker {
    group_id: String,
    /// The highest offset known committed, per partition.
    committed: HashMap<TopicPartition, i64>,
    /// Partitions the member owns (and may commit).
    owned: BTreeSet<TopicPartition>,
    pending: HashMap<CommitId, Pending>,
    next_id: u64,
}

impl CommitTracker {
    /// A tracker for `group_id`, owning nothing yet.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            ..Self::default()
        }
    }

    /// The partitions were assigned to the member.
    pub fn assigned(&mut self, partitions: &[TopicPartition]) {
        self.owned.extend(partitions.iter().cloned());
    }

    /// The partitions are no longer the member's, in an orderly way: call
    /// after committing them (see [`CommitTracker::prepare`]).
    pub fn revoked(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.owned.remove(tp);
        }
    }

    /// The partitions were lost: they are forgotten at once, and no commit
    /// for them is prepared from now on. What this member knew was
    /// committed is dropped too: the next owner may commit lower (after a
    /// reset) and this member must not assume otherwise if it gets them back.
    pub fn lost(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.owned.remove(tp);
            self.committed.remove(tp);
        }
    }

    /// The partitions the member owns.
    pub fn owned(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// The highest offset known committed for `tp`.
    pub fn committed(&self, tp: &TopicPartition) -> Option<i64> {
        self.committed.get(tp).copied()
    }

    /// Builds a commit of `offsets` as `identity`, leaving out partitions
    /// the member does not own and offsets that would not move forward:
    /// not above what is committed, nor above a commit still waiting for
    /// its answer (a higher commit may follow one in flight: on one
    /// connection the coordinator applies them in order). `None` when
    /// nothing is left to commit.
    pub fn prepare(
        &mut self,
        offsets: &BTreeMap<TopicPartition, CommitOffset>,
        identity: &CommitIdentity,
    ) -> Option<(CommitId, OffsetCommitRequest)> {
        let forward: BTreeMap<TopicPartition, CommitOffset> = offsets
            .iter()
            .filter(|(tp, _)| {
                self.owned.contains(*tp) || matches!(identity, CommitIdentity::Simple)
            })
            .filter(|(tp, o)| {
                o.offset >= 0
                    && self.committed(tp).is_none_or(|c| o.offset > c)
                    && self.in_flight(tp).is_none_or(|f| o.offset > f)
            })
            .map(|(tp, o)| (tp.clone(), o.clone()))
            .collect();
        if forward.is_empty() {
            return None;
        }
        let (generation, member_id, group_instance_id) = identity.generation_and_member();
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (tp, o) in &forward {
            let partition = OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: o.offset,
                committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                committed_metadata: Some(o.metadata.clone().unwrap_or_default()),
                ..Default::default()
            };
            match topics.last_mut() {
                Some(t) if t.name == tp.topic => t.partitions.push(partition),
                _ => topics.push(OffsetCommitRequestTopic {
                    name: tp.topic.clone(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let request = OffsetCommitRequest {
            group_id: self.group_id.clone(),
            generation_id_or_member_epoch: generation,
            member_id,
            group_instance_id,
            retention_time_ms: -1,
            topics,
            ..Default::default()
        };
        let id = CommitId(self.next_id);
        self.next_id += 1;
        self.pending.insert(id, Pending { offsets: forward });
        Some((id, request))
    }

    /// The highest offset of `tp` in a commit waiting for its answer.
    fn in_flight(&self, tp: &TopicPartition) -> Option<i64> {
        self.pending
            .values()
            .filter_map(|p| p.offsets.get(tp).map(|o| o.offset))
            .max()
    }

    /// Takes the answer to commit `id`. A committed offset only ever grows:
    /// an answer that arrives after a later commit's does not rewind it.
    pub fn handle_response(
        &mut self,
        id: CommitId,
        response: &OffsetCommitResponse,
    ) -> CommitOutcome {
        let mut outcome = CommitOutcome::default();
        let Some(pending) = self.pending.remove(&id) else {
            return outcome;
        };
        let mut answered: HashMap<(&str, i32), ErrorCode> = HashMap::new();
        for topic in &response.topics {
            for p in &topic.partitions {
                answered.insert(
                    (topic.name.as_str(), p.partition_index),
                    ErrorCode::from(p.error_code),
                );
            }
        }
        for (tp, offset) in pending.offsets {
            // A partition the broker left out is treated as not committed.
            let code = answered
                .get(&(tp.topic.as_str(), tp.partition))
                .copied()
                .unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR);
            if code.is_ok() {
                let entry = self.committed.entry(tp.clone()).or_insert(offset.offset);
                *entry = (*entry).max(offset.offset);
                outcome.committed.insert(tp, offset.offset);
            } else {
                outcome.failed.insert(tp, (code, commit_recovery(code)));
            }
        }
        outcome
    }

    /// Commit `id` got no answer (the transport failed): nothing is known
    /// to be committed; the offsets may be committed again.
    pub fn handle_failure(&mut self, id: CommitId) {
        self.pending.remove(&id);
    }

    /// How many commits wait for their answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Reads an OffsetFetch answer (v8+ with one group, or older top-level
    /// topics) into committed offsets, raising what the tracker knows.
    /// Partitions with UNSTABLE_OFFSET_COMMIT (a transaction is still
    /// committing them, with `require_stable`) or another error come back
    /// in the error list to be fetched again.
    pub fn handle_fetch(&mut self, response: &OffsetFetchResponse) -> FetchedOffsets {
        let mut offsets = BTreeMap::new();
        let mut errors = Vec::new();
        let mut take = |topic: &str,
                        partition: i32,
                        offset: i64,
                        epoch: i32,
                        metadata: Option<&str>,
                        code: i16| {
            let tp = TopicPartition::new(topic, partition);
            let code = ErrorCode::from(code);
            if code.is_err() {
                errors.push((tp, code));
                return;
            }
            let value = (offset >= 0).then(|| CommitOffset {
                offset,
                leader_epoch: (epoch >= 0).then_some(epoch),
                metadata: metadata.map(str::to_owned),
            });
            offsets.insert(tp, value);
        };
        match response.groups.first() {
            Some(group) => {
                for t in &group.topics {
                    for p in &t.partitions {
                        take(
                            &t.name,
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.metadata.as_deref(),
                            p.error_code,
                        );
                    }
                }
            }
            None => {
                for t in &response.topics {
                    for p in &t.partitions {
                        take(
                            &t.name,
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.metadata.as_deref(),
                            p.error_code,
                        );
                    }
                }
            }
        }
        for (tp, value) in &offsets {
            if let Some(v) = value {
                let entry = self.committed.entry(tp.clone()).or_insert(v.offset);
                *entry = (*entry).max(v.offset);
            }
        }
        FetchedOffsets {
            offsets,
            retry: errors,
        }
    }
}

/// An OffsetFetch answer, read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FetchedOffsets {
    /// Per partition, its committed offset (`None`: nothing committed).
    pub offsets: BTreeMap<TopicPartition, Option<CommitOffset>>,
    /// Partitions to fetch again, with the broker's code.
    pub retry: Vec<(TopicPartition, ErrorCode)>,
}

/// What a commit error means for the commit (not for the member: the
/// membership machine reads the same codes from its own requests).
fn commit_recovery(code: ErrorCode) -> Recovery {
    match code {
        // A transaction of another producer is committing offsets of the
        // group: retry shortly.
        ErrorCode::UNSTABLE_OFFSET_COMMIT => Recovery::Retry,
        // Too large metadata or an invalid offset: this commit cannot work.
        ErrorCode::OFFSET_METADATA_TOO_LARGE | ErrorCode::INVALID_COMMIT_OFFSET_SIZE => {
            Recovery::Fatal
        }
        code => Recovery::of_code(code).unwrap_or(Recovery::Fatal),
    }
}

#[cfg(test)]
mod tests {
    use vltava_wire::messages::offset_commit_response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };

    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn member(generation: i32) -> CommitIdentity {
        CommitIdentity::Classic {
            generation,
            member_id: "m".into(),
            group_instance_id: None,
        }
    }

    fn offsets(list: &[(i32, i64)]) -> BTreeMap<TopicPartition, CommitOffset> {
        list.iter()
            .map(|&(p, o)| (tp(p), CommitOffset::new(o)))
            .collect()
    }

    fn answer(request: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
        OffsetCommitResponse {
            topics: request
                .topics
                .iter()
                .map(|t| OffsetCommitResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| OffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: code.code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_commit_carries_generation_member_and_epochs() {
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0), tp(1)]);
        let mut o = offsets(&[(0, 10), (1, 20)]);
        o.get_mut(&tp(1)).unwrap().leader_epoch = Some(3);
        let (_, request) = t.prepare(&o, &member(7)).unwrap();
        assert_eq!(request.group_id, "g");
        assert_eq!(request.generation_id_or_member_epoch, 7);
        assert_eq!(request.member_id, "m");
        let parts = &request.topics[0].partitions;
        assert_eq!(
            (parts[0].committed_offset, parts[0].committed_leader_epoch),
            (10, -1)
        );
        assert_eq!(
            (parts[1].committed_offset, parts[1].committed_leader_epoch),
            (20, 3)
        );
    }

    #[test]
    fn a_commit_never_moves_an_offset_backwards() {
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0), tp(1)]);
        let (id, request) = t.prepare(&offsets(&[(0, 10), (1, 5)]), &member(1)).unwrap();
        t.handle_response(id, &answer(&request, ErrorCode::NONE));
        // 0 would go back to 8 and 1 stays at 5: only 1 -> 6 is sent.
        assert!(t.prepare(&offsets(&[(0, 8), (1, 5)]), &member(1)).is_none());
        let (_, request) = t.prepare(&offsets(&[(0, 8), (1, 6)]), &member(1)).unwrap();
        assert_eq!(request.topics[0].partitions.len(), 1);
        assert_eq!(request.topics[0].partitions[0].partition_index, 1);
    }

    #[test]
    fn a_late_answer_from_an_old_generation_never_rewinds() {
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0)]);
        let (old, old_request) = t.prepare(&offsets(&[(0, 10)]), &member(1)).unwrap();
        let (new, new_request) = t.prepare(&offsets(&[(0, 20)]), &member(2)).unwrap();
        t.handle_response(new, &answer(&new_request, ErrorCode::NONE));
        assert_eq!(t.committed(&tp(0)), Some(20));
        let outcome = t.handle_response(old, &answer(&old_request, ErrorCode::NONE));
        assert_eq!(outcome.committed[&tp(0)], 10);
        assert_eq!(
            t.committed(&tp(0)),
            Some(20),
            "the late answer rewound the offset"
        );
        // And an answer for an unknown commit changes nothing.
        assert!(
            t.handle_response(CommitId(99), &answer(&old_request, ErrorCode::NONE))
                .committed
                .is_empty()
        );
    }

    #[test]
    fn lost_partitions_are_never_committed_revoked_ones_are_until_revoked() {
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0), tp(1)]);
        t.lost(&[tp(0)]);
        let (_, request) = t
            .prepare(&offsets(&[(0, 10), (1, 10)]), &member(1))
            .unwrap();
        let sent: Vec<i32> = request.topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .collect();
        assert_eq!(sent, [1]);
        t.revoked(&[tp(1)]);
        assert!(t.prepare(&offsets(&[(1, 11)]), &member(1)).is_none());
        assert!(t.owned().is_empty());
    }

    #[test]
    fn errors_are_classified_and_nothing_is_marked_committed() {
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0)]);
        for (code, recovery) in [
            (ErrorCode::ILLEGAL_GENERATION, Recovery::Rejoin),
            (ErrorCode::UNKNOWN_MEMBER_ID, Recovery::Rejoin),
            (ErrorCode::REBALANCE_IN_PROGRESS, Recovery::Rejoin),
            (ErrorCode::FENCED_MEMBER_EPOCH, Recovery::Rejoin),
            (ErrorCode::NOT_COORDINATOR, Recovery::FindCoordinator),
            (ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, Recovery::Retry),
            (ErrorCode::STALE_MEMBER_EPOCH, Recovery::Retry),
            (ErrorCode::UNSTABLE_OFFSET_COMMIT, Recovery::Retry),
            (ErrorCode::OFFSET_METADATA_TOO_LARGE, Recovery::Fatal),
            (ErrorCode::GROUP_AUTHORIZATION_FAILED, Recovery::Fatal),
        ] {
            let (id, request) = t.prepare(&offsets(&[(0, 10)]), &member(1)).unwrap();
            let outcome = t.handle_response(id, &answer(&request, code));
            assert_eq!(outcome.failed[&tp(0)], (code, recovery), "{code}");
            assert_eq!(outcome.recovery(), Some(recovery));
            assert!(!outcome.is_ok());
            assert_eq!(t.committed(&tp(0)), None);
        }
    }

    #[test]
    fn a_retried_commit_never_follows_a_higher_one_in_flight() {
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0), tp(1)]);
        // A background commit fails at the transport, and will be retried.
        let (first, _) = t
            .prepare(&offsets(&[(0, 300), (1, 40)]), &member(1))
            .unwrap();
        t.handle_failure(first);
        // Meanwhile a later commit (the revocation's) goes out, higher.
        let (later, later_request) = t.prepare(&offsets(&[(0, 301)]), &member(1)).unwrap();
        // The first one's retry comes while it is in flight: 300 would
        // reach the coordinator after 301, so only partition 1 goes.
        let (_, retry) = t
            .prepare(&offsets(&[(0, 300), (1, 40)]), &member(1))
            .unwrap();
        let sent: Vec<(i32, i64)> = retry.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        assert_eq!(sent, [(1, 40)]);
        assert!(t.prepare(&offsets(&[(0, 301)]), &member(1)).is_none());
        // A higher one may follow the one in flight.
        assert!(t.prepare(&offsets(&[(0, 302)]), &member(1)).is_some());
        // Once answered, the bar is what is committed.
        t.handle_response(later, &answer(&later_request, ErrorCode::NONE));
        assert_eq!(t.committed(&tp(0)), Some(301));
        // An in-flight commit that fails takes its bar with it.
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0)]);
        let (id, _) = t.prepare(&offsets(&[(0, 10)]), &member(1)).unwrap();
        assert!(t.prepare(&offsets(&[(0, 10)]), &member(1)).is_none());
        t.handle_failure(id);
        assert!(t.prepare(&offsets(&[(0, 10)]), &member(1)).is_some());
    }

    #[test]
    fn a_failed_transport_leaves_the_offsets_to_commit_again() {
        let mut t = CommitTracker::new("g");
        t.assigned(&[tp(0)]);
        let (id, _) = t.prepare(&offsets(&[(0, 10)]), &member(1)).unwrap();
        assert_eq!(t.pending(), 1);
        t.handle_failure(id);
        assert_eq!(t.pending(), 0);
        assert!(t.prepare(&offsets(&[(0, 10)]), &member(1)).is_some());
    }

    #[test]
    fn offset_fetch_raises_what_is_known_and_reports_unstable_partitions() {
        use vltava_wire::messages::offset_fetch_response::{
            OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
        };
        let mut t = CommitTracker::new("g");
        let part = |p: i32, offset: i64, code: ErrorCode| OffsetFetchResponsePartitions {
            partition_index: p,
            committed_offset: offset,
            committed_leader_epoch: 4,
            error_code: code.code(),
            ..Default::default()
        };
        let response = OffsetFetchResponse {
            groups: vec![OffsetFetchResponseGroup {
                group_id: "g".into(),
                topics: vec![OffsetFetchResponseTopics {
                    name: "t".into(),
                    partitions: vec![
                        part(0, 42, ErrorCode::NONE),
                        part(1, -1, ErrorCode::NONE),
                        part(2, -1, ErrorCode::UNSTABLE_OFFSET_COMMIT),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let FetchedOffsets {
            offsets,
            retry: errors,
        } = t.handle_fetch(&response);
        assert_eq!(offsets[&tp(0)].as_ref().unwrap().offset, 42);
        assert_eq!(offsets[&tp(0)].as_ref().unwrap().leader_epoch, Some(4));
        assert_eq!(offsets[&tp(1)], None);
        assert_eq!(errors, [(tp(2), ErrorCode::UNSTABLE_OFFSET_COMMIT)]);
        assert_eq!(t.committed(&tp(0)), Some(42));
    }

    #[test]
    fn a_simple_group_commits_without_owning() {
        let mut t = CommitTracker::new("g");
        let (_, request) = t
            .prepare(&offsets(&[(3, 1)]), &CommitIdentity::Simple)
            .unwrap();
        assert_eq!(request.generation_id_or_member_epoch, -1);
        assert_eq!(request.member_id, "");
    }
}
