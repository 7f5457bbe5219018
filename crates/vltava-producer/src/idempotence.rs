//! The idempotent producer's bookkeeping: its producer id and epoch, and
//! per partition the next sequence and the sequences sent but not yet
//! acknowledged. Plain data, no I/O.
//!
//! The broker keeps, per producer id and partition, the sequences of the
//! last five batches it wrote: a retried batch it already has is answered
//! as written (no duplicate), a batch whose sequence skips ahead is refused
//! with OUT_OF_ORDER_SEQUENCE_NUMBER. So every batch of a partition gets
//! the next sequence once, when it is first sent, and keeps it through
//! retries; and when a batch fails for good (its sequence will never be
//! written), the sequences must start over: the producer bumps its epoch
//! (KIP-360) and numbers every batch not yet written from 0 again.

use std::collections::{BTreeSet, HashMap};

use crate::record::TopicPartition;

/// A producer id and epoch from InitProducerId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdentity {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
}

impl ProducerIdentity {
    /// The identity of a producer without idempotence.
    pub(crate) const NONE: Self = Self { id: -1, epoch: -1 };
}

#[derive(Debug, Default)]
struct PartitionState {
    next_sequence: i32,
    /// Base sequences sent (or queued for a retry) and not yet acknowledged.
    unacked: BTreeSet<i32>,
    /// Batches of this partition in requests on the wire.
    in_flight: usize,
}

/// What the sender must do about a batch's error, as far as sequences go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceVerdict {
    /// An earlier batch of the partition is being retried: this one was
    /// refused only because it came after it. Retry it, in order.
    RetryInOrder,
    /// The sequence broke: bump the epoch and renumber.
    Reset,
}

/// The sequences of every partition, and whether they must start over.
#[derive(Debug)]
pub(crate) struct Sequences {
    enabled: bool,
    identity: Option<ProducerIdentity>,
    partitions: HashMap<TopicPartition, PartitionState>,
    /// Set when the sequences broke; the sender stops sending, waits for
    /// the requests in flight, bumps the epoch and calls [`Sequences::reset`].
    reset_needed: bool,
}

impl Sequences {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            identity: if enabled {
                None
            } else {
                Some(ProducerIdentity::NONE)
            },
            partitions: HashMap::new(),
            reset_needed: false,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The producer id and epoch to send with, once known.
    pub(crate) fn identity(&self) -> Option<ProducerIdentity> {
        self.identity
    }

    /// Takes a new identity from InitProducerId; every sequence starts at 0.
    pub(crate) fn reset(&mut self, identity: ProducerIdentity) {
        self.identity = Some(identity);
        for state in self.partitions.values_mut() {
            state.next_sequence = 0;
            state.unacked.clear();
        }
        self.reset_needed = false;
    }

    pub(crate) fn reset_needed(&self) -> bool {
        self.reset_needed
    }

    /// The base sequence for a new batch of `records` records of `tp`
    /// (`-1` without idempotence), and counts it as unacknowledged.
    pub(crate) fn assign(&mut self, tp: &TopicPartition, records: usize) -> i32 {
        if !self.enabled {
            return -1;
        }
        let state = self.partitions.entry(tp.clone()).or_default();
        let base = state.next_sequence;
        // Sequences wrap at i32::MAX, as the broker expects.
        let count = i32::try_from(records).unwrap_or(i32::MAX);
        state.next_sequence = base.wrapping_add(count) & i32::MAX;
        state.unacked.insert(base);
        base
    }

    /// Whether a batch of `tp` may go on the wire now: always without
    /// idempotence; with it, not while the sequences wait for a reset, and
    /// only alone while a retried batch of the partition is outstanding
    /// (the Java client's rule: a retry goes out with nothing behind it).
    pub(crate) fn may_send(
        &self,
        tp: &TopicPartition,
        is_retry: bool,
        max_in_flight: usize,
    ) -> bool {
        if !self.enabled {
            return true;
        }
        if self.reset_needed || self.identity.is_none() {
            return false;
        }
        let in_flight = self.partitions.get(tp).map_or(0, |s| s.in_flight);
        if is_retry {
            in_flight == 0
        } else {
            in_flight < max_in_flight
        }
    }

    pub(crate) fn sent(&mut self, tp: &TopicPartition) {
        self.partitions.entry(tp.clone()).or_default().in_flight += 1;
    }

    /// A request carrying a batch of `tp` came back (whatever the answer).
    pub(crate) fn returned(&mut self, tp: &TopicPartition) {
        if let Some(state) = self.partitions.get_mut(tp) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }

    /// The batch with `base_sequence` was written.
    pub(crate) fn acknowledged(&mut self, tp: &TopicPartition, base_sequence: i32) {
        if let Some(state) = self.partitions.get_mut(tp) {
            state.unacked.remove(&base_sequence);
        }
    }

    /// The batch with `base_sequence` will never be written (it failed for
    /// good): later sequences of its partition cannot be written either
    /// until the sequences start over.
    pub(crate) fn abandoned(&mut self, tp: &TopicPartition, base_sequence: i32) {
        if !self.enabled || base_sequence < 0 {
            return;
        }
        if let Some(state) = self.partitions.get_mut(tp) {
            state.unacked.remove(&base_sequence);
        }
        self.reset_needed = true;
    }

    /// OUT_OF_ORDER_SEQUENCE_NUMBER (or UNKNOWN_PRODUCER_ID) for the batch
    /// with `base_sequence`: if an earlier batch of the partition is still
    /// unacknowledged, this one only came too early; otherwise the broker
    /// lost track of us and the sequences must start over.
    pub(crate) fn out_of_order(
        &mut self,
        tp: &TopicPartition,
        base_sequence: i32,
    ) -> SequenceVerdict {
        let earlier = self
            .partitions
            .get(tp)
            .and_then(|s| s.unacked.first().copied())
            .is_some_and(|first| first < base_sequence);
        if earlier {
            SequenceVerdict::RetryInOrder
        } else {
            self.reset_needed = true;
            SequenceVerdict::Reset
        }
    }

    /// Batches on the wire, over every partition.
    pub(crate) fn in_flight(&self) -> usize {
        self.partitions.values().map(|s| s.in_flight).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn ready() -> Sequences {
        let mut s = Sequences::new(true);
        s.reset(ProducerIdentity { id: 7, epoch: 0 });
        s
    }

    #[test]
    fn sequences_advance_by_record_count_and_wrap() {
        let mut s = ready();
        assert_eq!(s.assign(&tp(), 10), 0);
        assert_eq!(s.assign(&tp(), 5), 10);
        assert_eq!(s.assign(&TopicPartition::new("t", 1), 1), 0);
        s.partitions.get_mut(&tp()).unwrap().next_sequence = i32::MAX - 1;
        assert_eq!(s.assign(&tp(), 3), i32::MAX - 1);
        assert_eq!(s.assign(&tp(), 1), 1);
    }

    #[test]
    fn without_idempotence_there_are_no_sequences() {
        let mut s = Sequences::new(false);
        assert_eq!(s.identity(), Some(ProducerIdentity::NONE));
        assert_eq!(s.assign(&tp(), 10), -1);
        assert!(s.may_send(&tp(), true, 1));
        s.abandoned(&tp(), -1);
        assert!(!s.reset_needed());
    }

    #[test]
    fn nothing_is_sent_before_the_producer_id_is_known() {
        let s = Sequences::new(true);
        assert!(!s.may_send(&tp(), false, 5));
    }

    #[test]
    fn up_to_max_in_flight_but_a_retry_goes_alone() {
        let mut s = ready();
        for _ in 0..5 {
            assert!(s.may_send(&tp(), false, 5));
            s.sent(&tp());
        }
        assert!(!s.may_send(&tp(), false, 5));
        assert!(!s.may_send(&tp(), true, 5));
        for _ in 0..5 {
            s.returned(&tp());
        }
        assert!(s.may_send(&tp(), true, 5));
    }

    #[test]
    fn out_of_order_behind_an_unacked_batch_retries_in_order() {
        let mut s = ready();
        let first = s.assign(&tp(), 10);
        let second = s.assign(&tp(), 10);
        assert_eq!(s.out_of_order(&tp(), second), SequenceVerdict::RetryInOrder);
        assert!(!s.reset_needed());
        s.acknowledged(&tp(), first);
        assert_eq!(s.out_of_order(&tp(), second), SequenceVerdict::Reset);
        assert!(s.reset_needed());
        assert!(!s.may_send(&tp(), false, 5));
    }

    #[test]
    fn an_abandoned_batch_forces_a_reset_that_renumbers_from_zero() {
        let mut s = ready();
        let first = s.assign(&tp(), 10);
        s.assign(&tp(), 10);
        s.abandoned(&tp(), first);
        assert!(s.reset_needed());
        s.reset(ProducerIdentity { id: 7, epoch: 1 });
        assert!(!s.reset_needed());
        assert_eq!(s.assign(&tp(), 1), 0);
        assert_eq!(s.identity().unwrap().epoch, 1);
    }
}
