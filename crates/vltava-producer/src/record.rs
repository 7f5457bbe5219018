//! What goes in ([`ProducerRecord`]) and what comes back ([`RecordMetadata`]).

use bytes::Bytes;
pub use vltava_meta::{CommitOffset, TopicPartition};

/// A record to produce.
///
/// ```
/// use vltava_producer::ProducerRecord;
///
/// let record = ProducerRecord::new("orders", "order 17 paid")
///     .key("customer-4")
///     .header("trace-id", "a1b2");
/// assert_eq!(record.partition, None); // the partitioner decides
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// The partition; `None` lets the partitioner choose (murmur2 of the
    /// key, or the sticky partition for records without a key).
    pub partition: Option<i32>,
    /// The key, `None` for null.
    pub key: Option<Bytes>,
    /// The value, `None` for null (a tombstone on a compacted topic).
    pub value: Option<Bytes>,
    /// Headers, in order; keys may repeat.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The create time in milliseconds since the epoch; `None`: now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and no key, for `topic`.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with a null value (a tombstone) for `topic`.
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            partition: None,
            key: Some(key.into()),
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition, overriding the partitioner.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }

    /// Sets the create time (milliseconds since the epoch).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset in the partition (`-1` with `acks = 0`, which
    /// hears nothing back).
    pub offset: i64,
    /// The record's timestamp: its create time, or the broker's append
    /// time if the topic uses `LogAppendTime`.
    pub timestamp: i64,
}
