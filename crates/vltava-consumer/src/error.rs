//! [`ConsumeError`]: what went wrong while consuming.

use std::sync::Arc;

use vltava_group::offsets::CommitOffset;
use vltava_meta::MetaError;
use vltava_net::NetError;
use vltava_wire::ErrorCode;

use crate::TopicPartition;

/// An error `poll` reports. Cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// A broker could not be reached or answered badly; the client retries.
    #[error("fetching from {broker}: {source}; retrying in {retry_in_ms} ms")]
    Broker {
        /// The broker's address.
        broker: String,
        /// What failed.
        #[source]
        source: Arc<NetError>,
        /// When the client tries again.
        retry_in_ms: u64,
    },
    /// A partition's fetch failed with a Kafka error; retriable ones are
    /// handled by the client (metadata refresh, new leader).
    #[error("{tp}: {code}")]
    Partition {
        /// The partition.
        tp: TopicPartition,
        /// The broker's code.
        code: ErrorCode,
    },
    /// The partition's position is out of range and the reset policy is
    /// `None`: `seek` to go on.
    #[error("{tp}: offset {offset} is out of range and offset_reset is None; seek to go on")]
    OutOfRange {
        /// The partition.
        tp: TopicPartition,
        /// The position that is out of range.
        offset: i64,
    },
    /// A batch could not be decoded (CRC, corruption): the partition stops
    /// at that offset.
    #[error("{tp}: corrupt record batch at offset {offset}: {message}")]
    Corrupt {
        /// The partition.
        tp: TopicPartition,
        /// The offset it stopped at.
        offset: i64,
        /// The decoder's message.
        message: String,
    },
    /// The partition's log was truncated below the position (a leader
    /// change lost records that were never fully replicated): the position
    /// went back to where the logs agree. Records between were handed out
    /// but are gone from the log.
    #[error("{tp}: log truncated; position moved back from {from} to {to}")]
    Truncated {
        /// The partition.
        tp: TopicPartition,
        /// The position before.
        from: i64,
        /// The position now.
        to: i64,
    },
    /// The partition's log was truncated below the position (a leader
    /// change lost records that were never fully replicated) and the reset
    /// policy is `None`: the position stays, the partition stops, and
    /// `seek` decides where it goes on (Java's `LogTruncationException`).
    /// `divergent` is where the logs agree up to (the end offset of the
    /// last leader epoch both have, with that epoch), when the leader knows
    /// it: `seek` there to read on from the first record that may differ.
    #[error(
        "{tp}: the log was truncated below offset {offset}{}, and offset_reset is None; seek to go on",
        divergent.as_ref().map(|d| format!(" (the logs agree up to offset {})", d.offset)).unwrap_or_default()
    )]
    LogTruncation {
        /// The partition.
        tp: TopicPartition,
        /// The position, which records below it were truncated.
        offset: i64,
        /// The first offset that may differ, with its leader epoch.
        divergent: Option<CommitOffset>,
    },
    /// The group session has trouble the member recovers from by itself
    /// (coordinator unreachable, refused, loading), or, if fatal, the
    /// member ended (the consumer can no longer consume in the group).
    #[error("{message}")]
    Group {
        /// The group id.
        group: String,
        /// What happened, and when the member tries again. The group layer
        /// names the group in every message it makes; `group` is here for
        /// programs that match on it.
        message: String,
        /// Whether the member ended.
        fatal: bool,
    },
    /// Committing offsets failed for some partitions.
    #[error(
        "committing offsets of group `{group}` failed: {}",
        failed_list(partitions)
    )]
    Commit {
        /// The group id.
        group: String,
        /// The partitions not committed, with the broker's code.
        partitions: Vec<(TopicPartition, ErrorCode)>,
    },
    /// Metadata could not be had.
    #[error(transparent)]
    Meta(Arc<MetaError>),
    /// The consumer is closed.
    #[error("the consumer is closed")]
    Closed,
    /// The call needs a group and the consumer has none (it was built
    /// with assigned partitions).
    #[error("the consumer is not in a group: build it with a group id and a subscription")]
    NotInGroup,
    /// A setting is invalid (from [`ConsumerBuilder::build`](crate::ConsumerBuilder::build)).
    #[error(transparent)]
    Config(#[from] crate::builder::ConfigError),
}

impl ConsumeError {
    /// Whether the consumer cannot go on by itself: a corrupt batch, an
    /// out-of-range position or a log truncation with no reset policy, a non-retriable Kafka
    /// or transport error, or a closed consumer. A broker restart is never
    /// fatal.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Broker { source, .. } => !source.is_retriable(),
            Self::Partition { code, .. } => !vltava_net::Recovery::of_code(*code)
                .is_some_and(vltava_net::Recovery::is_retriable),
            Self::Meta(e) => !e.is_retriable(),
            Self::Truncated { .. } | Self::Commit { .. } => false,
            Self::Group { fatal, .. } => *fatal,
            Self::OutOfRange { .. }
            | Self::LogTruncation { .. }
            | Self::Corrupt { .. }
            | Self::Closed => true,
            // Mistakes of the caller's, for one call; nothing ended.
            Self::NotInGroup => false,
            Self::Config(_) => true,
        }
    }
}

/// `orders-1: ILLEGAL_GENERATION (22), orders-3: ...`.
fn failed_list(partitions: &[(TopicPartition, ErrorCode)]) -> String {
    partitions
        .iter()
        .map(|(tp, code)| format!("{tp}: {code}"))
        .collect::<Vec<_>>()
        .join(", ")
}
