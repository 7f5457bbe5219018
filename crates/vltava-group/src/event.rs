//! [`GroupEvent`]: what a member reports to the application, in order.

use std::time::Duration;

use crate::TopicPartition;

/// Who the member is in the group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberIdentity {
    /// The member id the coordinator gave (classic) or the client made (KIP-848).
    pub member_id: String,
    /// The generation (classic) or member epoch (KIP-848).
    pub generation: i32,
}

/// Something that happened to the member. Events are delivered in the
/// order they happened, one at a time, never concurrently.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// The member joined (or rejoined) the group.
    Joined {
        /// Member id and generation.
        identity: MemberIdentity,
        /// The protocol in use.
        protocol: crate::GroupProtocol,
        /// The assignor the group chose.
        assignor: String,
    },
    /// Partitions were added to the member's assignment.
    Assigned(Vec<TopicPartition>),
    /// Partitions were taken away in an orderly rebalance: their offsets
    /// may be committed first.
    Revoked(Vec<TopicPartition>),
    /// Partitions were lost (the membership expired or was fenced): they
    /// may already belong to another member; nothing is committed for them.
    Lost(Vec<TopicPartition>),
    /// The coordinator changed (found for the first time, or again after
    /// it moved or restarted).
    CoordinatorChanged {
        /// Its node id.
        node_id: i32,
        /// Its address.
        address: String,
    },
    /// The group session has trouble the member recovers from by itself:
    /// the coordinator is unreachable, refuses connections, is loading.
    /// The member keeps trying.
    SessionError {
        /// What went wrong.
        cause: String,
        /// When the member tries again.
        retry_in: Duration,
    },
    /// The coordinator does not speak KIP-848 (ConsumerGroupHeartbeat):
    /// the member goes on with the classic protocol, with the same
    /// configuration and subscription.
    FellBackToClassic {
        /// What the coordinator answered.
        reason: String,
    },
    /// The member left the group.
    Left,
}
