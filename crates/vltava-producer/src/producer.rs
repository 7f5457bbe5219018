//! [`Producer`]: the handle applications send records through, and the
//! state it shares with its sender task.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hashbrown::HashMap;
use tokio::sync::{Notify, Semaphore};
use tokio::task::AbortHandle;
use vltava_meta::{MetadataClient, MetadataConfig, MetadataSnapshot};
use vltava_net::{BrokerPool, Jitter, PoolConfig};
use vltava_wire::records::RecordHeader;

use crate::accumulator::{Accumulator, Append, BatchConfig, ProducerBatch, record_size_estimate};
use crate::config::ProducerConfig;
use crate::error::ProduceError;
use crate::idempotence::{ProducerIdentity, Sequences};
use crate::outcome::Delivery;
use crate::partitioner::{StickyPartitioner, partition_for_key};
use crate::record::{ProducerRecord, TopicPartition};
use crate::sender::Sender;
use crate::txn::{Phase, TxnCell};

/// Sends records to Kafka: batched per partition, compressed, retried in
/// order, idempotent by default. Cheap to clone; clones share one sender.
///
/// ```no_run
/// use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
///
/// # async fn run() -> Result<(), vltava_producer::ProduceError> {
/// let producer = Producer::new("127.0.0.1:9092", ProducerConfig::new())?;
/// let delivery = producer
///     .send(ProducerRecord::new("orders", "order 17 paid").key("customer-4"))
///     .await?;
/// let written = delivery.await?;
/// println!("partition {} offset {}", written.partition, written.offset);
/// producer.close().await;
/// # Ok(())
/// # }
/// ```
///
/// Dropping every handle without [`Producer::close`] abandons the records
/// still waiting: their deliveries end with [`ProduceError::Closed`].
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
    _task: Arc<TaskGuard>,
}

/// Aborts the sender task when the last handle goes.
struct TaskGuard(AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the handles and the sender task share.
pub(crate) struct Shared {
    pub(crate) config: ProducerConfig,
    pub(crate) meta: MetadataClient,
    acc: Mutex<Accumulator>,
    sequences: Mutex<Sequences>,
    memory: Arc<Semaphore>,
    pub(crate) wake: Notify,
    sticky: Mutex<HashMap<String, StickyPartitioner>>,
    /// Records handed to `send` and not yet settled.
    outstanding: AtomicUsize,
    /// Woken when `outstanding` drops to zero.
    drained: Notify,
    closing: AtomicBool,
    fatal: Mutex<Option<ProduceError>>,
    /// Whether `fatal` is set: read on every send without the lock.
    has_fatal: AtomicBool,
    jitter: Jitter,
    stats: Mutex<ProducerStats>,
    /// Set for a transactional producer.
    pub(crate) txn: Option<TxnCell>,
}

/// Counters of what the producer did, for tests and monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerStats {
    /// Records acknowledged by the broker.
    pub acknowledged: u64,
    /// Records that failed.
    pub failed: u64,
    /// Batches put back for another attempt.
    pub retries: u64,
    /// The last error that caused a retry, as text.
    pub last_retry_error: Option<String>,
    /// The producer id and epoch in use (`-1` without idempotence).
    pub producer_id: i64,
    /// The producer epoch; it grows when sequences had to start over.
    pub producer_epoch: i16,
    /// How many times the producer id or epoch changed.
    pub epoch_changes: u64,
}

impl Producer {
    /// A producer for the cluster reached through `bootstrap`
    /// (comma-separated `host:port`). Connects lazily. Must be called
    /// within a tokio runtime.
    pub fn new(bootstrap: &str, config: ProducerConfig) -> Result<Self, ProduceError> {
        config.validate().map_err(ProduceError::InvalidConfig)?;
        let pool = BrokerPool::new(PoolConfig::new(config.connection.clone()));
        let meta_config = MetadataConfig::new()
            .interest(vltava_meta::Interest::topics(Vec::<String>::new()))
            .allow_auto_topic_creation(false);
        let meta = MetadataClient::new(bootstrap, pool, meta_config)
            .map_err(|e| ProduceError::InvalidConfig(e.to_string()))?;
        Self::with_metadata(meta, config)
    }

    /// A producer that shares `meta` (and its connections) with other
    /// parts of the client. Must be called within a tokio runtime.
    pub fn with_metadata(
        meta: MetadataClient,
        config: ProducerConfig,
    ) -> Result<Self, ProduceError> {
        config.validate().map_err(ProduceError::InvalidConfig)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| ProduceError::InvalidConfig("no tokio runtime".to_owned()))?;
        let memory = Arc::new(Semaphore::new(
            config.buffer_memory.min(Semaphore::MAX_PERMITS),
        ));
        let acc = Accumulator::new(BatchConfig {
            batch_size: config.batch_size,
            linger: config.linger,
            compression: config.compression,
        });
        let sequences = Mutex::new(Sequences::new(config.idempotence));
        let txn = config.transactional_id.clone().map(TxnCell::new);
        let shared = Arc::new(Shared {
            config,
            meta,
            acc: Mutex::new(acc),
            sequences,
            memory,
            wake: Notify::new(),
            sticky: Mutex::new(HashMap::new()),
            outstanding: AtomicUsize::new(0),
            drained: Notify::new(),
            closing: AtomicBool::new(false),
            fatal: Mutex::new(None),
            has_fatal: AtomicBool::new(false),
            jitter: Jitter::new(),
            stats: Mutex::new(ProducerStats {
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            }),
            txn,
        });
        let task = runtime.spawn(Sender::new(shared.clone()).run());
        Ok(Self {
            shared,
            _task: Arc::new(TaskGuard(task.abort_handle())),
        })
    }

    /// Hands `record` to the producer. Waits (at most `max_block`) for the
    /// topic's metadata and for room in the buffer; then returns a
    /// [`Delivery`] that ends when the record is acknowledged or failed.
    ///
    /// Records of one partition are written in the order `send` returned.
    pub async fn send(&self, record: ProducerRecord) -> Result<Delivery, ProduceError> {
        let shared = &self.shared;
        if shared.closing.load(Ordering::Acquire) {
            return Err(ProduceError::Closed);
        }
        if let Some(error) = shared.fatal() {
            return Err(error);
        }
        if let Some(txn) = &shared.txn
            && txn.lock().phase != Phase::InTransaction
        {
            return Err(ProduceError::InvalidState(
                "a transactional producer sends inside a transaction: call begin_transaction",
            ));
        }
        // Read the clock only when send has to wait: max_block counts from
        // the first wait (nothing before it waits).
        let mut started = None;
        let (partitions, snapshot) = self.partition_count(&record.topic, &mut started).await?;
        let headers: Vec<RecordHeader<'_>> = record
            .headers
            .iter()
            .map(|(key, value)| RecordHeader {
                key,
                value: value.as_deref(),
            })
            .collect();
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let estimate =
            record_size_estimate(record.key.as_deref(), record.value.as_deref(), &headers);
        if estimate > shared.config.max_request_size || estimate > shared.config.buffer_memory {
            return Err(ProduceError::RecordTooLarge {
                size: estimate,
                max: shared
                    .config
                    .max_request_size
                    .min(shared.config.buffer_memory),
            });
        }
        let partition = match record.partition {
            Some(p) if p >= 0 && (p as u32) < partitions => p,
            Some(p) => {
                return Err(ProduceError::InvalidRecord(format!(
                    "partition {p} of `{}`, which has {partitions}",
                    record.topic
                )));
            }
            None => self.choose_partition(&record, partitions, estimate, &snapshot),
        };
        let permits = u32::try_from(estimate).unwrap_or(u32::MAX);
        // Room in the buffer, without a timer when there is room now.
        let permit = match shared.memory.clone().try_acquire_many_owned(permits) {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(ProduceError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                let started = *started.get_or_insert_with(Instant::now);
                let deadline = started + shared.config.max_block;
                let wait = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(wait, shared.memory.clone().acquire_many_owned(permits))
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(ProduceError::Closed),
                    Err(_) => {
                        return Err(ProduceError::Blocked {
                            what: "room in the buffer (buffer_memory)",
                            waited: started.elapsed(),
                        });
                    }
                }
            }
        };
        // Counted before the record is in a batch: once it is, the sender
        // may settle it (and count it off) before this thread runs again.
        shared.outstanding.fetch_add(1, Ordering::AcqRel);
        let appended = shared.lock_acc().append(
            &record.topic,
            partition,
            Append {
                timestamp,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers: &headers,
                estimate,
                permit,
            },
            Instant::now,
        );
        let (delivery, wake) = match appended {
            Ok(appended) => appended,
            Err(error) => {
                shared.settled(1);
                return Err(error);
            }
        };
        if wake {
            shared.wake.notify_one();
        }
        Ok(delivery)
    }

    /// Waits until every record handed to `send` before (and during) the
    /// call is acknowledged or failed; batches go out without waiting for
    /// their linger meanwhile.
    pub async fn flush(&self) {
        let shared = &self.shared;
        shared.lock_acc().begin_flush();
        shared.wake.notify_one();
        loop {
            // Registered before the count is read, so a drop to zero in
            // between is not missed.
            let drained = shared.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if shared.outstanding.load(Ordering::Acquire) == 0 {
                break;
            }
            drained.await;
        }
        shared.lock_acc().end_flush();
    }

    /// Flushes, then stops the producer: later sends fail with
    /// [`ProduceError::Closed`].
    pub async fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        self.flush().await;
    }

    /// What the producer did so far.
    pub fn stats(&self) -> ProducerStats {
        self.shared.lock_stats().clone()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The metadata client the producer follows the cluster with.
    pub fn metadata(&self) -> &MetadataClient {
        &self.shared.meta
    }

    /// The number of partitions of `topic`, waiting for its metadata at
    /// most `max_block` from `started` (set now if unset).
    async fn partition_count(
        &self,
        topic: &str,
        started: &mut Option<Instant>,
    ) -> Result<(u32, Arc<MetadataSnapshot>), ProduceError> {
        let meta = &self.shared.meta;
        // The common case, first: the topic is known.
        let snapshot = meta.snapshot();
        if let Some(t) = snapshot.topic(topic)
            && t.partition_count() > 0
        {
            let count = u32::try_from(t.partition_count()).unwrap_or(u32::MAX);
            return Ok((count, snapshot));
        }
        let started = *started.get_or_insert_with(Instant::now);
        let deadline = started + self.shared.config.max_block;
        let mut snapshots = meta.watch();
        if meta.add_topics([topic]) {
            meta.request_refresh(vltava_meta::RefreshReason::NewTopics);
        }
        loop {
            let snapshot = meta.snapshot();
            if let Some(t) = snapshot.topic(topic) {
                let count = t.partition_count();
                if count > 0 {
                    return Ok((u32::try_from(count).unwrap_or(u32::MAX), snapshot.clone()));
                }
                if let Some(class) = vltava_net::Recovery::of_code(t.error)
                    && !class.is_retriable()
                {
                    return Err(ProduceError::Broker {
                        tp: TopicPartition::new(topic, -1),
                        code: t.error,
                        message: None,
                    });
                }
            }
            meta.request_refresh(vltava_meta::RefreshReason::NewTopics);
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero()
                || tokio::time::timeout(wait, snapshots.changed())
                    .await
                    .is_err()
            {
                return Err(ProduceError::Blocked {
                    what: "the topic's metadata (does it exist?)",
                    waited: started.elapsed(),
                });
            }
        }
    }

    /// Murmur2 of the key, as the Java client places keyed records; the
    /// sticky partition for records without a key.
    fn choose_partition(
        &self,
        record: &ProducerRecord,
        partitions: u32,
        size: usize,
        snapshot: &MetadataSnapshot,
    ) -> i32 {
        if let Some(key) = &record.key {
            return partition_for_key(key, partitions) as i32;
        }
        let topic = record.topic.as_str();
        let has_leader =
            |p: u32| i32::try_from(p).is_ok_and(|p| snapshot.leader(topic, p).is_some());
        let available = || {
            snapshot
                .topic(topic)
                .map(|t| {
                    t.partitions()
                        .iter()
                        .filter(|p| snapshot.leader(topic, p.partition).is_some())
                        .filter_map(|p| u32::try_from(p.partition).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut sticky = self
            .shared
            .sticky
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // One lookup by `&str`; the name is copied only for a new topic.
        let shared = &self.shared;
        sticky
            .entry_ref(topic)
            .or_insert_with(|| {
                StickyPartitioner::new(shared.config.batch_size, shared.jitter.next_u64())
            })
            .partition(size, partitions, snapshot.version(), has_leader, available) as i32
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field(
                "outstanding",
                &self.shared.outstanding.load(Ordering::Relaxed),
            )
            .field("closing", &self.shared.is_closing())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn lock_acc(&self) -> MutexGuard<'_, Accumulator> {
        self.acc.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock_seq(&self) -> MutexGuard<'_, Sequences> {
        self.sequences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_stats(&self) -> MutexGuard<'_, ProducerStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn fatal(&self) -> Option<ProduceError> {
        if !self.has_fatal.load(Ordering::Acquire) {
            return None;
        }
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_fatal(&self, error: ProduceError) {
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
        self.has_fatal.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// A fraction in [0, 1) for retry jitter.
    pub(crate) fn jitter(&self) -> f64 {
        self.jitter.next()
    }

    pub(crate) fn note_retry(&self, error: &ProduceError) {
        let mut stats = self.lock_stats();
        stats.retries += 1;
        stats.last_retry_error = Some(error.to_string());
    }

    pub(crate) fn stats_epoch(&self, identity: ProducerIdentity) {
        let mut stats = self.lock_stats();
        stats.producer_id = identity.id;
        stats.producer_epoch = identity.epoch;
        stats.epoch_changes += 1;
    }

    /// Settles a batch written at `base_offset`.
    pub(crate) fn settle_written(
        &self,
        batch: ProducerBatch,
        base_offset: i64,
        log_append_time: Option<i64>,
    ) {
        let records = batch.record_count();
        batch.complete(base_offset, log_append_time);
        self.lock_stats().acknowledged += records as u64;
        self.settled(records);
    }

    /// Settles a batch sent with acks = 0: nothing more will be known.
    pub(crate) fn settle_acks0(&self, batch: ProducerBatch) {
        self.settle_written(batch, -1, None);
    }

    /// Settles a batch with an error.
    pub(crate) fn settle(&self, batch: ProducerBatch, outcome: Result<(), ProduceError>) {
        let records = batch.record_count();
        match outcome {
            Ok(()) => batch.complete(-1, None),
            Err(error) => {
                // A record of a transaction that failed dooms it: it can
                // only be aborted now.
                if let Some(txn) = &self.txn
                    && !matches!(error, ProduceError::Aborted)
                {
                    txn.lock().error.get_or_insert(error.clone());
                }
                batch.fail(error);
                self.lock_stats().failed += records as u64;
            }
        }
        self.settled(records);
    }

    fn settled(&self, records: usize) {
        let before = self
            .outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(records))
            })
            .unwrap_or(0);
        if before <= records {
            self.drained.notify_waiters();
        }
    }
}

/// Now, in milliseconds since the epoch.
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
