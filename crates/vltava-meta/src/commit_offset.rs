//! [`CommitOffset`]: an offset to commit, as every layer that commits
//! offsets (the group's commits, the producer's transactional ones)
//! and every layer that reads them back takes it.

/// An offset to commit: the next offset to consume, and the leader epoch
/// of the last record consumed (KIP-320), if known, with the application's
/// metadata (Java's `OffsetAndMetadata`). A consumer that later starts at
/// an offset committed with its epoch validates it against the leader's
/// log (OffsetForLeaderEpoch) before fetching, so a log truncated below it
/// since is noticed.
///
/// The cache neither reads nor keeps offsets; the type lives here, beside
/// [`TopicPartition`](crate::TopicPartition), so that the group and the
/// producer, which do not depend on each other, share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the record before it, if known.
    pub leader_epoch: Option<i32>,
    /// Application metadata stored with the offset.
    pub metadata: Option<String>,
}

impl CommitOffset {
    /// An offset without epoch or metadata.
    pub fn new(offset: i64) -> Self {
        Self {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }

    /// Sets the leader epoch of the record before the offset.
    pub fn leader_epoch(mut self, leader_epoch: Option<i32>) -> Self {
        self.leader_epoch = leader_epoch;
        self
    }

    /// Sets the metadata stored with the offset.
    pub fn metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }
}

/// An offset without epoch or metadata, for callers that have only
/// offsets.
impl From<i64> for CommitOffset {
    fn from(offset: i64) -> Self {
        Self::new(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_offset_carries_no_epoch_and_no_metadata() {
        let plain = CommitOffset::from(42);
        assert_eq!(plain, CommitOffset::new(42));
        assert_eq!((plain.leader_epoch, plain.metadata), (None, None));
        let full = CommitOffset::new(42).leader_epoch(Some(3)).metadata("m");
        assert_eq!(
            (full.offset, full.leader_epoch, full.metadata.as_deref()),
            (42, Some(3), Some("m"))
        );
    }
}
