//! The record accumulator: records gathered into one open batch per
//! partition, and batches handed to the sender once they are full, their
//! linger ran out, or a flush asks for them. Plain data, no I/O and no
//! clock of its own: every call takes `now`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashMap;
use tokio::sync::OwnedSemaphorePermit;
use vltava_wire::compression::Compression;
use vltava_wire::records::{RecordBatch, RecordBatchBuilder, RecordHeader, RecordsError};

use crate::error::ProduceError;
use crate::outcome::{Delivery, OutcomeSender};
use crate::record::TopicPartition;

/// A batch of one partition's records, open until sealed, then sent (and
/// maybe resent) as the same bytes.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub(crate) tp: TopicPartition,
    contents: Contents,
    record_count: usize,
    /// What the records' deliveries wait on.
    outcome: OutcomeSender,
    pub(crate) created: Instant,
    /// The records' share of the buffer memory, released with the batch.
    permit: Option<OwnedSemaphorePermit>,
    /// Set when the batch leaves the accumulator the first time.
    pub(crate) sealed: Option<Sealed>,
    /// How many times it was sent.
    pub(crate) attempts: u32,
    /// Not to be sent again before this (retry backoff).
    pub(crate) retry_at: Option<Instant>,
    /// The partition's leader when the batch was last sent: node id and
    /// leader epoch. A retry skips its backoff once the leader moved.
    pub(crate) sent_to: Option<(i32, Option<i32>)>,
}

/// A batch's records: open to more, or built into a batch's bytes (at the
/// first seal; from then on only its producer fields change).
#[derive(Debug)]
enum Contents {
    Open(RecordBatchBuilder),
    Built(Bytes),
}

/// What a batch was sealed with: its bytes are fixed from then on, so a
/// retry sends exactly what the first attempt sent (the broker recognises
/// a duplicate by producer id, epoch and sequence).
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    pub(crate) base_sequence: i32,
    pub(crate) bytes: Bytes,
}

impl ProducerBatch {
    pub(crate) fn record_count(&self) -> usize {
        self.record_count
    }

    fn size(&self) -> usize {
        match &self.contents {
            Contents::Open(builder) => builder.uncompressed_size(),
            Contents::Built(bytes) => bytes.len(),
        }
    }

    /// The builder, while the batch takes more records.
    fn open(&mut self) -> Option<&mut RecordBatchBuilder> {
        match &mut self.contents {
            Contents::Open(builder) if self.sealed.is_none() => Some(builder),
            _ => None,
        }
    }

    #[cfg(test)]
    fn builder_capacity(&self) -> usize {
        match &self.contents {
            Contents::Open(builder) => builder.capacity(),
            Contents::Built(_) => 0,
        }
    }

    /// Fixes the batch's bytes with the producer's identity; done once,
    /// and again only after [`unseal`](Self::unseal). The first seal
    /// builds the batch (uncompressed, without copying its records); a
    /// later one rewrites only the producer fields and the CRC.
    pub(crate) fn seal(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        transactional: bool,
    ) -> Result<&Sealed, RecordsError> {
        if self.sealed.is_none() {
            let placeholder = Contents::Built(Bytes::new());
            let bytes = match std::mem::replace(&mut self.contents, placeholder) {
                Contents::Open(builder) => builder
                    .producer(producer_id, producer_epoch, base_sequence)
                    .transactional(transactional)
                    .finish()?,
                Contents::Built(built) => RecordBatch::decode_without_crc_check(built)?
                    .with_producer_state(producer_id, producer_epoch, base_sequence, transactional),
            };
            self.contents = Contents::Built(bytes.clone());
            self.sealed = Some(Sealed {
                base_sequence,
                bytes,
            });
        }
        Ok(self.sealed.as_ref().expect("sealed above"))
    }

    /// Forgets the sealed bytes, so the batch is sealed again with a new
    /// producer epoch and sequence (after the producer id was reset).
    pub(crate) fn unseal(&mut self) {
        self.sealed = None;
    }

    /// Completes every record of the batch with its offset (`-1` when
    /// unknown).
    pub(crate) fn complete(self, base_offset: i64, log_append_time: Option<i64>) {
        self.outcome.written(base_offset, log_append_time);
    }

    /// Fails every record of the batch with `error`.
    pub(crate) fn fail(self, error: ProduceError) {
        self.outcome.failed(error);
    }
}

/// How batches are formed.
#[derive(Debug, Clone)]
pub(crate) struct BatchConfig {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) compression: Compression,
}

/// One partition's batches, oldest first: at most the last one is open.
#[derive(Debug, Default)]
struct Queue {
    batches: VecDeque<ProducerBatch>,
    /// The size of the partition's last batch that was closed because
    /// the next record did not fit: a new batch of a partition that fills
    /// its batches reserves that much at once instead of growing record
    /// by record.
    last_full: Option<usize>,
}

/// Records in batches per partition, waiting for the sender.
#[derive(Debug)]
pub(crate) struct Accumulator {
    config: BatchConfig,
    /// Per topic, per partition number: looked up by `&str` on every
    /// record, with no `TopicPartition` made for it.
    queues: HashMap<String, Vec<Queue>>,
    /// Batches in every queue.
    batches: usize,
    /// Set by flush: every batch is ready now, linger or not.
    flushing: bool,
}

/// A record as the accumulator takes it.
pub(crate) struct Append<'a> {
    pub(crate) timestamp: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [RecordHeader<'a>],
    /// [`record_size_estimate`] of the record, computed once by the caller.
    pub(crate) estimate: usize,
    /// The record's share of the buffer memory.
    pub(crate) permit: OwnedSemaphorePermit,
}

impl Accumulator {
    pub(crate) fn new(config: BatchConfig) -> Self {
        Self {
            config,
            queues: HashMap::new(),
            batches: 0,
            flushing: false,
        }
    }

    fn queue(&self, tp: &TopicPartition) -> Option<&Queue> {
        let index = usize::try_from(tp.partition).ok()?;
        self.queues.get(tp.topic.as_str())?.get(index)
    }

    fn queue_mut(&mut self, tp: &TopicPartition) -> Option<&mut Queue> {
        let index = usize::try_from(tp.partition).ok()?;
        self.queues.get_mut(tp.topic.as_str())?.get_mut(index)
    }

    /// Takes the first batch of `tp`'s queue out; forgets the topic once
    /// none of its partitions holds a batch.
    fn pop_front(&mut self, tp: &TopicPartition) -> Option<ProducerBatch> {
        let batch = self.queue_mut(tp)?.batches.pop_front()?;
        self.batches -= 1;
        let idle = self
            .queues
            .get(tp.topic.as_str())
            .is_some_and(|partitions| partitions.iter().all(|q| q.batches.is_empty()));
        if idle {
            self.queues.remove(tp.topic.as_str());
        }
        Some(batch)
    }

    /// Appends a record to the open batch of `partition` of `topic`, or to
    /// a new one if there is none or it would grow past the batch size (a
    /// record larger than the batch size gets a batch of its own); `now`
    /// is asked only when a batch starts. Returns where the outcome will
    /// be reported, and whether the sender should look: a batch is full,
    /// or a new one started (with a linger to time).
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: i32,
        record: Append<'_>,
        now: impl FnOnce() -> Instant,
    ) -> Result<(Delivery, bool), ProduceError> {
        let estimate = record.estimate;
        let index = usize::try_from(partition)
            .map_err(|_| ProduceError::InvalidRecord(format!("partition {partition}")))?;
        let config = &self.config;
        let batch_size = config.batch_size;
        let compression = config.compression;
        let queue = queue_or_new(&mut self.queues, topic, index);
        let fits = queue.batches.back().is_some_and(|b| {
            b.sealed.is_none()
                && matches!(&b.contents, Contents::Open(builder)
                    if builder.is_empty() || builder.uncompressed_size() + estimate <= batch_size)
        });
        let created = !fits;
        if created {
            let bytes = match queue.batches.back() {
                // The open batch is full: its partition fills batches,
                // so the next one is sized like it.
                Some(previous) if matches!(previous.contents, Contents::Open(_)) => {
                    queue.last_full = Some(previous.size());
                    previous.size()
                }
                _ => queue.last_full.unwrap_or(0),
            };
            let mut builder = RecordBatchBuilder::new(compression);
            builder.reserve(bytes.min(batch_size));
            let tp = TopicPartition::new(topic, partition);
            queue.batches.push_back(ProducerBatch {
                outcome: OutcomeSender::new(tp.clone()),
                tp,
                contents: Contents::Open(builder),
                record_count: 0,
                created: now(),
                permit: None,
                sealed: None,
                attempts: 0,
                retry_at: None,
                sent_to: None,
            });
            self.batches += 1;
        }
        let batch = queue.batches.back_mut().expect("a batch is open");
        let offset_delta = batch
            .open()
            .expect("the back batch is open: checked or created above")
            .append(record.timestamp, record.key, record.value, record.headers)
            .map_err(|e| ProduceError::InvalidRecord(e.to_string()))?;
        batch.record_count += 1;
        let delivery = batch.outcome.delivery(offset_delta, record.timestamp);
        match &mut batch.permit {
            Some(held) => held.merge(record.permit),
            None => batch.permit = Some(record.permit),
        }
        // The sender looks when a batch starts (its linger is to be timed;
        // the one before it, if any, is ready now) or fills up: once per
        // batch each, not once per record.
        let full = batch.size() >= batch_size;
        Ok((delivery, full || created))
    }

    /// The partitions whose first batch may be sent at `now`, and the
    /// earliest later instant at which another becomes sendable.
    pub(crate) fn ready(&self, now: Instant) -> (Vec<TopicPartition>, Option<Instant>) {
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        for queue in self.queues.values().flatten() {
            let Some(first) = queue.batches.front() else {
                continue;
            };
            let at = self.sendable_at(first, queue.batches.len() > 1);
            if at <= now {
                ready.push(first.tp.clone());
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        ready.sort();
        (ready, next)
    }

    fn sendable_at(&self, batch: &ProducerBatch, more_behind: bool) -> Instant {
        if let Some(retry_at) = batch.retry_at {
            return retry_at;
        }
        let full = more_behind || batch.size() >= self.config.batch_size;
        if full || self.flushing || batch.sealed.is_some() {
            batch.created
        } else {
            batch.created + self.config.linger
        }
    }

    /// Takes the partition's first batch out, if it may be sent at `now`.
    pub(crate) fn drain(&mut self, tp: &TopicPartition, now: Instant) -> Option<ProducerBatch> {
        let queue = self.queue(tp)?;
        let first = queue.batches.front()?;
        if self.sendable_at(first, queue.batches.len() > 1) > now {
            return None;
        }
        self.pop_front(tp)
    }

    /// Puts a batch back at the front of its partition's queue, to be
    /// retried not before `retry_at`. Batches put back keep their order:
    /// a batch with a lower sequence goes before one with a higher.
    pub(crate) fn reenqueue(&mut self, mut batch: ProducerBatch, retry_at: Instant) {
        batch.retry_at = Some(retry_at);
        let Ok(index) = usize::try_from(batch.tp.partition) else {
            // Never: a batch is made only for a partition number >= 0.
            return;
        };
        self.batches += 1;
        let queue = queue_or_new(&mut self.queues, &batch.tp.topic, index);
        let sequence = batch.sealed.as_ref().map(|s| s.base_sequence);
        let position = queue
            .batches
            .iter()
            .position(|b| match (&b.sealed, sequence) {
                (Some(s), Some(mine)) => s.base_sequence > mine,
                // Unsealed batches are newer than any sealed one.
                (None, _) => true,
                (Some(_), None) => false,
            })
            .unwrap_or(queue.batches.len());
        queue.batches.insert(position, batch);
    }

    /// Ends the retry backoff of every waiting batch for which `moved`
    /// says its partition's leader is no longer the one it was last sent
    /// to (the Java client's rule since KIP-951: a retry to a new leader
    /// does not wait, as the old leader's failure says nothing of the new
    /// one). Returns whether any batch became ready.
    pub(crate) fn end_backoff_if(&mut self, mut moved: impl FnMut(&ProducerBatch) -> bool) -> bool {
        let mut any = false;
        for queue in self.queues.values_mut().flatten() {
            for batch in &mut queue.batches {
                if batch.retry_at.is_some() && moved(batch) {
                    batch.retry_at = None;
                    any = true;
                }
            }
        }
        any
    }

    /// Whether the partition's first batch is a retry (it was sent before).
    pub(crate) fn front_is_retry(&self, tp: &TopicPartition) -> bool {
        self.queue(tp)
            .and_then(|q| q.batches.front())
            .is_some_and(|b| b.attempts > 0)
    }

    /// Takes the partition's first batch out if `take` says so, ready or not.
    pub(crate) fn drain_if(
        &mut self,
        tp: &TopicPartition,
        take: impl FnOnce(&ProducerBatch) -> bool,
    ) -> Option<ProducerBatch> {
        if !take(self.queue(tp)?.batches.front()?) {
            return None;
        }
        self.pop_front(tp)
    }

    /// Forgets the sealed bytes of every waiting batch: the producer's
    /// epoch changed, and they are numbered again when next sent.
    pub(crate) fn unseal_all(&mut self) {
        for queue in self.queues.values_mut().flatten() {
            for batch in &mut queue.batches {
                batch.unseal();
            }
        }
    }

    /// Makes every batch ready now (flush), until [`Accumulator::end_flush`].
    pub(crate) fn begin_flush(&mut self) {
        self.flushing = true;
    }

    /// Lingering applies again.
    pub(crate) fn end_flush(&mut self) {
        self.flushing = false;
    }

    /// Whether no record waits in the accumulator.
    pub(crate) fn is_empty(&self) -> bool {
        self.batches == 0
    }

    /// Takes every batch out (to fail them when the producer closes or a
    /// fatal error ends it).
    pub(crate) fn drain_all(&mut self) -> Vec<ProducerBatch> {
        self.batches = 0;
        self.queues
            .drain()
            .flat_map(|(_, partitions)| partitions)
            .flat_map(|queue| queue.batches)
            .collect()
    }
}

/// The queue of `partition` of `topic` in `queues`, made if there is none.
/// (A function of the map, not of the accumulator, so that the batch count
/// can change while the queue is borrowed.)
fn queue_or_new<'q>(
    queues: &'q mut HashMap<String, Vec<Queue>>,
    topic: &str,
    partition: usize,
) -> &'q mut Queue {
    // One lookup by `&str`; the name is copied only for a new topic.
    let partitions = queues.entry_ref(topic).or_default();
    if partitions.len() <= partition {
        partitions.resize_with(partition + 1, Queue::default);
    }
    &mut partitions[partition]
}

/// An upper bound of the bytes a record adds to a batch (the Java
/// client's `DefaultRecord.sizeInUpperBound` idea: lengths and varints at
/// their widest).
pub(crate) fn record_size_estimate(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader<'_>],
) -> usize {
    let headers: usize = headers
        .iter()
        .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 10)
        .sum();
    21 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + headers
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition::new("t", partition)
    }

    fn config() -> BatchConfig {
        BatchConfig {
            batch_size: 1000,
            linger: Duration::from_millis(10),
            compression: Compression::None,
        }
    }

    /// A permit of one semaphore shared by every test (batches merge their
    /// records' permits, which must come from one semaphore).
    fn permit() -> OwnedSemaphorePermit {
        static MEMORY: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
        MEMORY
            .get_or_init(|| Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)))
            .clone()
            .try_acquire_owned()
            .unwrap()
    }

    fn add(acc: &mut Accumulator, partition: i32, value: &[u8], now: Instant) -> (Delivery, bool) {
        acc.append(
            "t",
            partition,
            Append {
                timestamp: 1000,
                key: None,
                value: Some(value),
                headers: &[],
                estimate: record_size_estimate(None, Some(value), &[]),
                permit: permit(),
            },
            || now,
        )
        .unwrap()
    }

    #[test]
    fn a_batch_waits_for_its_linger_unless_full() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let _ = add(&mut acc, 0, b"small", t0);
        let (ready, next) = acc.ready(t0);
        assert!(ready.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_millis(10)));
        assert!(acc.drain(&tp(0), t0).is_none());
        let later = t0 + Duration::from_millis(10);
        assert_eq!(acc.ready(later).0, [tp(0)]);
        let batch = acc.drain(&tp(0), later).unwrap();
        assert_eq!(batch.record_count(), 1);
        assert!(acc.is_empty());
    }

    #[test]
    fn a_full_batch_is_ready_at_once_and_the_next_record_opens_another() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let value = [7u8; 300];
        let mut records = 0;
        while acc.ready(t0).0.is_empty() {
            let _ = add(&mut acc, 0, &value, t0);
            records += 1;
            assert!(records < 10, "no batch became full");
        }
        // The batch that filled up goes now, linger or not; the record
        // that did not fit opened the next batch, which lingers.
        let batch = acc.drain(&tp(0), t0).unwrap();
        assert!(batch.size() <= 1000, "{}", batch.size());
        assert_eq!(batch.record_count(), records - 1);
        assert!(acc.drain(&tp(0), t0).is_none());
        assert_eq!(
            acc.drain(&tp(0), t0 + Duration::from_millis(10))
                .unwrap()
                .record_count(),
            1
        );
    }

    #[test]
    fn a_record_larger_than_the_batch_size_gets_a_batch_of_its_own() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let _ = add(&mut acc, 0, b"first", t0);
        let (_, full) = add(&mut acc, 0, &[1u8; 5000], t0);
        assert!(full);
        let first = acc.drain(&tp(0), t0).unwrap();
        assert_eq!(first.record_count(), 1);
        let big = acc.drain(&tp(0), t0).unwrap();
        assert_eq!(big.record_count(), 1);
        assert!(big.size() > 5000);
    }

    #[test]
    fn flush_makes_lingering_batches_ready() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let _ = add(&mut acc, 0, b"a", t0);
        let _ = add(&mut acc, 1, b"b", t0);
        acc.begin_flush();
        assert_eq!(acc.ready(t0).0, [tp(0), tp(1)]);
        acc.end_flush();
        assert!(acc.ready(t0).0.is_empty());
    }

    #[test]
    fn sealing_fixes_the_bytes_and_a_retry_keeps_them_and_its_place() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let _ = add(&mut acc, 0, b"one", t0);
        let _ = add(&mut acc, 0, &[0u8; 2000], t0); // second batch
        let mut first = acc.drain(&tp(0), t0).unwrap();
        let bytes = first.seal(42, 3, 100, false).unwrap().bytes.clone();
        assert_eq!(first.seal(42, 4, 999, false).unwrap().bytes, bytes);
        let batches = vltava_wire::records::RecordBatches::new(bytes.clone());
        let decoded = batches.into_iter().next().unwrap().unwrap();
        let vltava_wire::records::Batch::V2(v2) = decoded else {
            panic!("a magic-2 batch")
        };
        assert_eq!(
            (v2.producer_id(), v2.producer_epoch(), v2.base_sequence()),
            (42, 3, 100)
        );
        let retry_at = t0 + Duration::from_millis(100);
        acc.reenqueue(first, retry_at);
        // The retried batch goes first, and waits for its backoff.
        assert!(acc.drain(&tp(0), t0).is_none());
        let again = acc.drain(&tp(0), retry_at).unwrap();
        assert_eq!(again.sealed.as_ref().unwrap().bytes, bytes);
        assert_eq!(again.record_count(), 1);
    }

    #[test]
    fn an_unsealed_batch_takes_no_more_records_and_reseals_with_the_new_identity() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let _ = add(&mut acc, 0, b"one", t0);
        let _ = add(&mut acc, 0, b"two", t0);
        let later = t0 + Duration::from_secs(1);
        let mut batch = acc.drain(&tp(0), later).unwrap();
        let first = batch.seal(42, 3, 100, false).unwrap().bytes.clone();
        // The producer id was reset: the batch goes back, unsealed.
        acc.reenqueue(batch, t0);
        acc.unseal_all();
        // A record sent now starts a batch of its own behind it.
        let _ = add(&mut acc, 0, b"three", t0);
        let mut again = acc.drain(&tp(0), later).unwrap();
        assert!(again.sealed.is_none());
        assert_eq!(again.record_count(), 2);
        let resealed = again.seal(77, 0, 0, true).unwrap().bytes.clone();
        let decode = |bytes: &bytes::Bytes| {
            vltava_wire::RecordBatch::decode(bytes.clone()).expect("a whole batch, CRC right")
        };
        let (before, after) = (decode(&first), decode(&resealed));
        assert_eq!(
            (
                after.producer_id(),
                after.producer_epoch(),
                after.base_sequence()
            ),
            (77, 0, 0)
        );
        assert!(after.is_transactional() && !before.is_transactional());
        // Only the header (the first 61 bytes of a magic-2 batch) moved:
        // the records are the same bytes.
        assert_eq!(first[61..], resealed[61..]);
        assert_eq!(after.record_count(), 2);
        let next = acc.drain(&tp(0), later).unwrap();
        assert_eq!(next.record_count(), 1);
    }

    #[test]
    fn retried_batches_are_ordered_by_sequence() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let mut batches = Vec::new();
        for seq in [0, 1, 2] {
            let _ = add(&mut acc, 0, &[0u8; 2000], t0);
            let mut b = acc.drain(&tp(0), t0).unwrap();
            b.seal(1, 0, seq, false).unwrap();
            batches.push(b);
        }
        let _ = add(&mut acc, 0, b"fresh", t0);
        // Put back out of order: 2, then 0, then 1.
        let mut it = batches.into_iter();
        let (b0, b1, b2) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        acc.reenqueue(b2, t0);
        acc.reenqueue(b0, t0);
        acc.reenqueue(b1, t0);
        let order: Vec<Option<i32>> =
            std::iter::from_fn(|| acc.drain(&tp(0), t0 + Duration::from_secs(1)))
                .map(|b| b.sealed.map(|s| s.base_sequence))
                .collect();
        assert_eq!(order, [Some(0), Some(1), Some(2), None]);
    }

    #[test]
    fn a_partition_that_fills_batches_gets_batches_sized_at_once() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let value = [7u8; 100];
        // The first batch grows record by record, until one does not fit.
        while acc.queue(&tp(0)).map_or(0, |q| q.batches.len()) < 2 {
            let _ = add(&mut acc, 0, &value, t0);
        }
        let queue = acc.queue(&tp(0)).unwrap();
        let full = queue.batches[0].size();
        assert_eq!(queue.last_full, Some(full));
        assert!(queue.batches[1].builder_capacity() >= full - 61, "{full}");
        // A partition that never filled a batch reserves nothing.
        let _ = add(&mut acc, 1, &value, t0);
        assert!(acc.queue(&tp(1)).unwrap().batches[0].builder_capacity() < full / 2);
        // The batch count follows appends, drains and retries.
        assert_eq!(acc.batches, 3);
        let first = acc.drain(&tp(0), t0).unwrap();
        assert_eq!(acc.batches, 2);
        acc.reenqueue(first, t0);
        assert_eq!(acc.batches, 3);
        let later = t0 + Duration::from_secs(1);
        while acc.drain(&tp(0), later).is_some() {}
        assert!(acc.drain(&tp(1), later).is_some());
        assert!(acc.is_empty());
        assert!(acc.queues.is_empty(), "idle topics are forgotten");
    }

    #[test]
    fn a_retry_whose_leader_moved_skips_its_backoff() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        for partition in [0, 1] {
            let _ = add(&mut acc, partition, b"x", t0);
            let mut batch = acc
                .drain(&tp(partition), t0 + Duration::from_secs(1))
                .unwrap();
            batch.seal(1, 0, 0, false).unwrap();
            batch.attempts = 1;
            batch.sent_to = Some((7, Some(3)));
            acc.reenqueue(batch, t0 + Duration::from_secs(10));
        }
        assert!(acc.ready(t0).0.is_empty());
        // Only partition 1's leader moved.
        let any = acc.end_backoff_if(|b| b.tp.partition == 1);
        assert!(any);
        assert_eq!(acc.ready(t0).0, [tp(1)]);
        assert!(acc.drain(&tp(0), t0).is_none());
        assert!(!acc.end_backoff_if(|_| false));
    }

    #[tokio::test]
    async fn completing_a_batch_reports_each_record_its_offset() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config());
        let (a, _) = add(&mut acc, 3, b"a", t0);
        let (b, _) = add(&mut acc, 3, b"b", t0);
        let batch = acc.drain(&tp(3), t0 + Duration::from_secs(1)).unwrap();
        batch.complete(500, None);
        let a = a.await.unwrap();
        let b = b.await.unwrap();
        assert_eq!((a.partition, a.offset, b.offset), (3, 500, 501));
        assert_eq!(a.timestamp, 1000);
    }
}
