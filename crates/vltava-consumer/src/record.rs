//! [`ConsumerRecord`] and [`Fetches`]: what `poll` returns.

use std::sync::Arc;

use bytes::Bytes;

use crate::TopicPartition;
use crate::error::ConsumeError;

/// One record. Key, value and header values are views into the fetched
/// (or decompressed) batch: no copy was made for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The leader epoch of the batch (KIP-320), if known.
    pub leader_epoch: Option<i32>,
    /// The timestamp (create or log-append time, as the topic says).
    pub timestamp: i64,
    /// The key.
    pub key: Option<Bytes>,
    /// The value.
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What one `poll` returns: records grouped by partition, in offset order
/// within each, and the errors met, fatal or not.
#[derive(Debug, Default)]
pub struct Fetches {
    /// Per partition, its records.
    pub partitions: Vec<(TopicPartition, Vec<ConsumerRecord>)>,
    /// Errors: the client is already handling the non-fatal ones
    /// ([`ConsumeError::is_fatal`] tells them apart).
    pub errors: Vec<ConsumeError>,
    /// What happened to the group member since the last poll (joined,
    /// assigned, revoked, lost, coordinator changed, session errors, left),
    /// in order. Empty for a consumer without a group.
    pub events: Vec<vltava_group::GroupEvent>,
}

impl Fetches {
    /// Whether there are neither records nor errors.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty() && self.errors.is_empty() && self.events.is_empty()
    }

    /// How many records.
    pub fn record_count(&self) -> usize {
        self.partitions.iter().map(|(_, r)| r.len()).sum()
    }

    /// Every record, partition by partition.
    pub fn records(&self) -> impl Iterator<Item = &ConsumerRecord> {
        self.partitions.iter().flat_map(|(_, r)| r.iter())
    }
}
