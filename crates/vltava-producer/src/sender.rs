//! The sender: one task per producer that takes ready batches out of the
//! accumulator, groups them by partition leader into Produce requests,
//! and handles the answers: acknowledging records, retrying in order,
//! refreshing metadata, renumbering sequences when they broke.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use vltava_meta::LeaderHints;
use vltava_net::{NetError, Purpose, Recovery};
use vltava_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
use vltava_wire::messages::produce_response::PartitionProduceResponse;
use vltava_wire::messages::{
    AddPartitionsToTxnResponse, InitProducerIdRequest, ProduceRequest, ProduceResponse,
};
use vltava_wire::{ApiKey, ErrorCode};

use crate::accumulator::ProducerBatch;
use crate::config::Acks;
use crate::error::ProduceError;
use crate::idempotence::{ProducerIdentity, SequenceVerdict};
use crate::producer::Shared;
use crate::record::TopicPartition;

/// A request the sender put on the wire, come back.
enum Outcome {
    Produce(Flight),
    /// AddPartitionsToTxn for the transaction's new partitions.
    Added(Added),
    /// A Produce request given up at its delivery deadline ended.
    Drained(Drained),
}

/// The answer to AddPartitionsToTxn.
struct Added {
    partitions: Vec<TopicPartition>,
    result: Result<AddPartitionsToTxnResponse, ProduceError>,
}

/// A Produce request on the wire and what it carries.
struct Flight {
    broker: String,
    batches: Vec<ProducerBatch>,
    result: Result<ProduceResponse, NetError>,
    /// Set when the batches came back at their delivery deadline while the
    /// request was still unanswered: it ends (answer or request timeout)
    /// when this does, and only then are its batches off the wire.
    still_on_wire: Option<JoinHandle<()>>,
}

/// A request given up at its delivery deadline has ended: its partitions'
/// batches are off the wire.
struct Drained {
    broker: String,
    partitions: Vec<TopicPartition>,
}

/// Why InitProducerId failed, and whether asking again may help.
struct InitError {
    error: ProduceError,
    retriable: bool,
}

impl InitError {
    fn retriable(error: ProduceError) -> Self {
        Self {
            error,
            retriable: true,
        }
    }
}

fn response_message(code: ErrorCode) -> Option<String> {
    Some(format!("InitProducerId: {}", code.description()))
}

/// The sender's state; lives in its task.
pub(crate) struct Sender {
    shared: Arc<Shared>,
    in_flight: JoinSet<Outcome>,
    /// Produce requests on the wire, per broker address.
    per_broker: HashMap<String, usize>,
    /// Per broker address, what tells the next Produce request that the
    /// last one made is queued on the connection (see `dispatch`).
    last_queued: HashMap<String, oneshot::Receiver<()>>,
    /// When the producer id may be asked for again after a failure.
    init_retry_at: Option<Instant>,
    init_attempts: u32,
    /// The metadata snapshot version the retry backoffs were last checked
    /// against (see [`Sender::retry_moved_partitions_now`]).
    checked_leaders: u64,
}

impl Sender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            in_flight: JoinSet::new(),
            per_broker: HashMap::new(),
            last_queued: HashMap::new(),
            init_retry_at: None,
            init_attempts: 0,
            checked_leaders: 0,
        }
    }

    /// Runs until the producer closes and every record is settled.
    pub(crate) async fn run(mut self) {
        let mut snapshots = self.shared.meta.watch();
        loop {
            if self.shared.is_closing()
                && self.shared.lock_acc().is_empty()
                && self.in_flight.is_empty()
            {
                return;
            }
            if let Some(error) = self.shared.fatal() {
                self.fail_everything(error);
                if self.in_flight.is_empty() {
                    return;
                }
            }
            let now = Instant::now();
            let mut wake_at = self.maintain_identity(now).await;
            self.retry_moved_partitions_now();
            if let Some(at) = self.send_ready(Instant::now()) {
                wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
            }
            let sleep = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(done) = self.in_flight.join_next() => {
                    // A send task that panicked or was aborted took its
                    // batches with it: their records see Closed.
                    match done {
                        Ok(Outcome::Produce(flight)) => self.handle(flight),
                        Ok(Outcome::Added(added)) => self.handle_added(added),
                        Ok(Outcome::Drained(drained)) => self.handle_drained(drained),
                        Err(_) => {}
                    }
                }
                () = self.shared.wake.notified() => {}
                _ = snapshots.changed() => {}
                () = sleep => {}
            }
        }
    }

    /// Gets a producer id, or a bumped epoch after the sequences broke,
    /// when idempotence is on. Returns when to try again after a failure.
    async fn maintain_identity(&mut self, now: Instant) -> Option<Instant> {
        // A transactional producer gets its id from init_transactions, and
        // renumbers when it aborts.
        if self.shared.txn.is_some() {
            return None;
        }
        let (enabled, needed, on_wire) = {
            let seq = self.shared.lock_seq();
            (
                seq.enabled(),
                seq.identity().is_none() || seq.reset_needed(),
                seq.in_flight(),
            )
        };
        // A reset waits until nothing is on the wire: every answer for the
        // old epoch must be in before sequences start over.
        if !enabled || !needed || on_wire > 0 || !self.in_flight.is_empty() {
            return None;
        }
        if let Some(at) = self.init_retry_at
            && at > now
        {
            return Some(at);
        }
        // Before the first metadata there is no broker to ask: that is no
        // failure to back off from. The loop wakes on the next snapshot.
        if self.shared.meta.snapshot().brokers().next().is_none() {
            self.shared
                .meta
                .request_refresh(vltava_meta::RefreshReason::Explicit);
            return None;
        }
        let current = self.shared.lock_seq().identity();
        match self.init_producer_id(current).await {
            Ok(identity) => {
                tracing::info!(
                    producer_id = identity.id,
                    epoch = identity.epoch,
                    "producer id and epoch set; sequences start at 0"
                );
                self.init_attempts = 0;
                self.init_retry_at = None;
                self.shared.lock_seq().reset(identity);
                self.shared.lock_acc().unseal_all();
                self.shared.stats_epoch(identity);
                None
            }
            Err(InitError { error, retriable }) => {
                if !retriable {
                    self.shared.set_fatal(error);
                    return None;
                }
                self.shared.note_retry(&error);
                self.init_attempts += 1;
                let wait = self
                    .shared
                    .config
                    .backoff_for(self.init_attempts, self.shared.jitter());
                let at = Instant::now() + wait;
                self.init_retry_at = Some(at);
                Some(at)
            }
        }
    }

    /// InitProducerId at any broker (the producer is not transactional):
    /// a fresh id, or with `current`, the same id at the next epoch
    /// (KIP-360). A broker that cannot bump the epoch (the id expired)
    /// is asked for a fresh id instead.
    async fn init_producer_id(
        &self,
        current: Option<ProducerIdentity>,
    ) -> Result<ProducerIdentity, InitError> {
        let snapshot = self.shared.meta.snapshot();
        let pool = self.shared.meta.pool();
        let broker = snapshot
            .brokers()
            .map(|b| b.address())
            .min_by_key(|a| pool.backoff_remaining(a).unwrap_or_default());
        let Some(broker) = broker else {
            self.shared
                .meta
                .request_refresh(vltava_meta::RefreshReason::Explicit);
            return Err(InitError::retriable(ProduceError::Blocked {
                what: "a broker to ask for a producer id",
                waited: Duration::ZERO,
            }));
        };
        let mut asking = current;
        loop {
            let request = InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: i32::MAX,
                producer_id: asking.map_or(-1, |c| c.id),
                producer_epoch: asking.map_or(-1, |c| c.epoch),
                ..Default::default()
            };
            let response = match pool.send(&broker, Purpose::Control, request).await {
                Ok(response) => response,
                Err(error) => {
                    if error.recovery().refreshes_metadata() {
                        self.shared.meta.report_transport_failure(&broker);
                    }
                    let retriable = error.is_retriable();
                    return Err(InitError {
                        error: error.into(),
                        retriable,
                    });
                }
            };
            let code = ErrorCode::from(response.error_code);
            if code.is_ok() {
                return Ok(ProducerIdentity {
                    id: response.producer_id,
                    epoch: response.producer_epoch,
                });
            }
            if asking.is_some()
                && matches!(
                    code,
                    ErrorCode::INVALID_PRODUCER_EPOCH
                        | ErrorCode::PRODUCER_FENCED
                        | ErrorCode::UNKNOWN_PRODUCER_ID
                        | ErrorCode::INVALID_PRODUCER_ID_MAPPING
                )
            {
                asking = None;
                continue;
            }
            let retriable = Recovery::of_code(code).is_some_and(Recovery::is_retriable);
            let error = if retriable {
                ProduceError::Broker {
                    tp: TopicPartition::new("", -1),
                    code,
                    message: response_message(code),
                }
            } else {
                ProduceError::Fenced(code)
            };
            return Err(InitError { error, retriable });
        }
    }

    /// With a new metadata snapshot, ends the retry backoff of batches
    /// whose partition's leader moved since they were last sent: the old
    /// leader's failure says nothing of the new one (the Java client's rule
    /// since KIP-951). A dead leader's batches go to its successor as soon
    /// as metadata names it, not up to `retry_backoff_max` later.
    fn retry_moved_partitions_now(&mut self) {
        let snapshot = self.shared.meta.snapshot();
        if snapshot.version() == self.checked_leaders {
            return;
        }
        self.checked_leaders = snapshot.version();
        let mut moved = std::collections::BTreeSet::new();
        self.shared.lock_acc().end_backoff_if(|batch| {
            let Some((node, epoch)) = batch.sent_to else {
                return false;
            };
            let Some(leader) = snapshot.leader(&batch.tp.topic, batch.tp.partition) else {
                return false;
            };
            let newer_epoch =
                matches!((leader.epoch, epoch), (Some(now), Some(then)) if now > then);
            let changed = leader.broker.node_id != node || newer_epoch;
            if changed {
                moved.insert(format!("{}-{}", batch.tp.topic, batch.tp.partition));
            }
            changed
        });
        if !moved.is_empty() {
            tracing::debug!(partitions = ?moved, "leaders moved: their retries go now, without backoff");
        }
    }

    /// Sends every batch that is ready, as long as its leader has room for
    /// another request; fails batches past their delivery timeout. Returns
    /// the next instant at which something becomes ready.
    ///
    /// A request carries at most one batch per partition (the broker
    /// takes no more), so a partition with several batches ready needs
    /// several requests: rounds go on, each making at most one request
    /// per broker, until a round sends nothing. That ends: every request
    /// takes one of a broker's `max_in_flight` slots.
    fn send_ready(&mut self, now: Instant) -> Option<Instant> {
        loop {
            let (next, sent) = self.send_round(now);
            if !sent {
                return next;
            }
        }
    }

    /// One round of [`Sender::send_ready`]: at most one request per
    /// broker. Returns the next instant at which something becomes ready,
    /// and whether a request went out.
    fn send_round(&mut self, now: Instant) -> (Option<Instant>, bool) {
        let shared = self.shared.clone();
        let snapshot = shared.meta.snapshot();
        let config = &shared.config;
        let (ready, mut next) = shared.lock_acc().ready(now);
        // Per leader address, the batches to send, in partition order.
        let mut requests: BTreeMap<String, Vec<ProducerBatch>> = BTreeMap::new();
        let mut request_sizes: HashMap<String, usize> = HashMap::new();
        let mut unknown_leader = false;
        let mut to_add = Vec::new();
        let transactional_id = shared.txn.as_ref().map(|t| t.lock().id.clone());
        for tp in ready {
            // In a transaction, a partition's records go out only once the
            // coordinator knows the partition is in it.
            if let Some(txn) = &shared.txn {
                let txn = txn.lock();
                // A doomed transaction sends nothing more: its records
                // fail with the error that doomed it.
                if let Some(error) = txn.error.clone() {
                    drop(txn);
                    let batch = shared.lock_acc().drain_if(&tp, |_| true);
                    if let Some(batch) = batch {
                        if let Some(sealed) = &batch.sealed {
                            shared.lock_seq().abandoned(&tp, sealed.base_sequence);
                        }
                        shared.settle(batch, Err(error));
                    }
                    continue;
                }
                if !txn.added.contains(&tp) {
                    to_add.push(tp);
                    continue;
                }
            }
            let Some((leader, sent_to)) = snapshot
                .leader(&tp.topic, tp.partition)
                .map(|l| (l.broker.address(), (l.broker.node_id, l.epoch)))
            else {
                unknown_leader = true;
                self.expire_front(&tp, now);
                continue;
            };
            // A leader whose last dials failed is not sent to until its
            // dial backoff ends (the Java client's `NetworkClient.ready`):
            // its batches wait here, where a new snapshot that names
            // another leader sends them there at once, rather than in
            // the pool, committed to the old leader.
            if let Some(wait) = shared.meta.pool().backoff_remaining(&leader) {
                let at = now + wait;
                next = Some(next.map_or(at, |n| n.min(at)));
                self.expire_front(&tp, now);
                continue;
            }
            // A batch that cannot go out yet (the broker's requests in
            // flight are at the limit, or its sequence must wait) still
            // fails at its delivery timeout.
            if self.per_broker.get(&leader).copied().unwrap_or(0) >= config.max_in_flight {
                self.expire_front(&tp, now);
                continue;
            }
            let is_retry = self.shared.lock_acc().front_is_retry(&tp);
            if !self
                .shared
                .lock_seq()
                .may_send(&tp, is_retry, config.max_in_flight)
            {
                self.expire_front(&tp, now);
                continue;
            }
            let Some(mut batch) = self.shared.lock_acc().drain(&tp, now) else {
                continue;
            };
            batch.sent_to = Some(sent_to);
            if batch.created + config.delivery_timeout <= now {
                self.expire(batch, None);
                continue;
            }
            let size = request_sizes.entry(leader.clone()).or_default();
            let identity = self
                .shared
                .lock_seq()
                .identity()
                .unwrap_or(ProducerIdentity::NONE);
            if batch.sealed.is_none() {
                let sequence = self.shared.lock_seq().assign(&tp, batch.record_count());
                let transactional = transactional_id.is_some();
                if let Err(error) = batch.seal(identity.id, identity.epoch, sequence, transactional)
                {
                    self.shared.lock_seq().abandoned(&tp, sequence);
                    self.shared
                        .settle(batch, Err(ProduceError::InvalidRecord(error.to_string())));
                    continue;
                }
            }
            let bytes = batch.sealed.as_ref().map_or(0, |s| s.bytes.len());
            if *size > 0 && *size + bytes > config.max_request_size {
                // No room in this request: back in front, next round.
                self.shared.lock_acc().reenqueue(batch, now);
                next = Some(next.map_or(now, |n| n.min(now)));
                continue;
            }
            *size += bytes;
            self.shared.lock_seq().sent(&tp);
            requests.entry(leader).or_default().push(batch);
        }
        if unknown_leader {
            self.shared
                .meta
                .request_refresh(vltava_meta::RefreshReason::Explicit);
        }
        let sent = !requests.is_empty();
        for (broker, batches) in requests {
            self.dispatch(broker, batches, transactional_id.clone());
        }
        if !to_add.is_empty()
            && let Some(at) = self.add_partitions(to_add, now)
        {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        (next, sent)
    }

    /// Fails the partition's first batch if its delivery timeout passed
    /// while it waited for a leader.
    fn expire_front(&mut self, tp: &TopicPartition, now: Instant) {
        let timeout = self.shared.config.delivery_timeout;
        let expired = self
            .shared
            .lock_acc()
            .drain_if(tp, |b| b.created + timeout <= now);
        if let Some(batch) = expired {
            self.expire(batch, None);
        }
    }

    fn expire(&mut self, batch: ProducerBatch, last: Option<ProduceError>) {
        if let Some(sealed) = &batch.sealed {
            self.shared
                .lock_seq()
                .abandoned(&batch.tp, sealed.base_sequence);
        }
        let error = ProduceError::DeliveryTimeout {
            tp: batch.tp.clone(),
            timeout: self.shared.config.delivery_timeout,
            last: last.map(Arc::new),
        };
        self.shared.settle(batch, Err(error));
    }

    /// Puts one Produce request on the wire.
    fn dispatch(
        &mut self,
        broker: String,
        mut batches: Vec<ProducerBatch>,
        transactional_id: Option<String>,
    ) {
        let config = &self.shared.config;
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        for batch in &mut batches {
            batch.attempts += 1;
            let records = batch.sealed.as_ref().map(|s| s.bytes.clone());
            topics
                .entry(batch.tp.topic.clone())
                .or_default()
                .push(PartitionProduceData {
                    index: batch.tp.partition,
                    records,
                    ..Default::default()
                });
        }
        let request = ProduceRequest {
            transactional_id,
            acks: config.acks.as_i16(),
            timeout_ms: i32::try_from(config.connection.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
            topic_data: topics
                .into_iter()
                .map(|(name, partition_data)| TopicProduceData {
                    name,
                    partition_data,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        *self.per_broker.entry(broker.clone()).or_default() += 1;
        let pool = self.shared.meta.pool().clone();
        let acks = config.acks;
        // The first delivery deadline among the batches: the answer is not
        // waited for past it (the request timeout may be far longer).
        let delivery_timeout = config.delivery_timeout;
        let deadline = batches
            .iter()
            .map(|b| b.created + delivery_timeout)
            .min()
            .unwrap_or_else(|| Instant::now() + delivery_timeout);
        let target = broker.clone();
        // Requests to one broker go on the wire in the order they were
        // made: a partition's batches are numbered in that order, and a
        // broker refuses a sequence that skips ahead. Each request waits
        // until the one made before it to the same broker is queued on the
        // connection (or failed to be), then queues itself.
        // The signal is the sender's drop: nothing is ever sent on it.
        let (queued, queued_signal) = oneshot::channel::<()>();
        let previous = self.last_queued.insert(broker.clone(), queued_signal);
        let mut exchange = Box::pin(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            let on_wire = async {
                let connection = pool.connection(&target, Purpose::Produce).await?;
                if acks == Acks::None {
                    connection.send_unanswered(request).await.map(|()| None)
                } else {
                    connection.enqueue(request).await.map(Some)
                }
            }
            .await;
            drop(queued);
            match on_wire? {
                Some(pending) => pending.response().await,
                None => Ok(ProduceResponse::default()),
            }
        });
        self.in_flight.spawn(async move {
            tokio::select! {
                result = &mut exchange => Outcome::Produce(Flight {
                    broker,
                    batches,
                    result,
                    still_on_wire: None,
                }),
                () = tokio::time::sleep_until(deadline.into()) => {
                    // The batches come back now, to fail those past their
                    // deadline; the request stays on the wire until it
                    // ends, and is waited for before anything of its
                    // partitions is retried or renumbered.
                    let rest = tokio::spawn(async move {
                        let _ = exchange.await;
                    });
                    Outcome::Produce(Flight {
                        result: Err(NetError::Timeout {
                            broker: broker.clone(),
                            api_key: ApiKey::Produce,
                            timeout: delivery_timeout,
                        }),
                        broker,
                        batches,
                        still_on_wire: Some(rest),
                    })
                }
            }
        });
    }

    /// Sends AddPartitionsToTxn for partitions new to the transaction,
    /// unless one is on the wire or backing off; returns when to look again.
    fn add_partitions(&mut self, partitions: Vec<TopicPartition>, now: Instant) -> Option<Instant> {
        let txn_lock = self.shared.txn.as_ref()?;
        let (request, coordinator) = {
            let mut txn = txn_lock.lock();
            if txn.adding {
                return None;
            }
            if let Some(at) = txn.add_retry_at
                && at > now
            {
                return Some(at);
            }
            let identity = self.shared.lock_seq().identity()?;
            txn.adding = true;
            (
                crate::txn::add_partitions_request(&txn.id, identity, &partitions),
                txn.coordinator.clone(),
            )
        };
        let shared = self.shared.clone();
        self.in_flight.spawn(async move {
            let result = crate::txn::send_to_coordinator(&shared, coordinator, request).await;
            Outcome::Added(Added { partitions, result })
        });
        None
    }

    /// Handles the answer to AddPartitionsToTxn.
    fn handle_added(&mut self, added: Added) {
        let Some(txn_lock) = self.shared.txn.as_ref() else {
            return;
        };
        let mut txn = txn_lock.lock();
        txn.adding = false;
        let outcome = added
            .result
            .and_then(|response| crate::txn::added_partitions(&response));
        match outcome {
            Ok(()) => {
                txn.add_attempts = 0;
                txn.add_retry_at = None;
                txn.added.extend(added.partitions);
            }
            Err(error) if error.is_retriable() || crate::txn::is_retriable_txn_error(&error) => {
                if crate::txn::moves_coordinator(&error) {
                    txn.coordinator = None;
                }
                txn.add_attempts += 1;
                // CONCURRENT_TRANSACTIONS clears within milliseconds (the
                // previous transaction's markers); the Java client retries
                // it after 20 ms rather than the full backoff.
                let wait = if crate::txn::is_concurrent(&error) {
                    Duration::from_millis(20)
                } else {
                    self.shared
                        .config
                        .backoff_for(txn.add_attempts, self.shared.jitter())
                };
                txn.add_retry_at = Some(Instant::now() + wait);
                drop(txn);
                self.shared.note_retry(&error);
            }
            Err(error) => {
                let fenced = matches!(error, ProduceError::Fenced(_));
                txn.error.get_or_insert(error.clone());
                drop(txn);
                if fenced {
                    self.shared.set_fatal(error);
                }
            }
        }
        self.shared.wake.notify_one();
    }

    /// Handles the answer to one Produce request.
    fn handle(&mut self, flight: Flight) {
        let Flight {
            broker,
            batches,
            result,
            still_on_wire,
        } = flight;
        if let Some(rest) = still_on_wire {
            // Given up at the delivery deadline: the batches past it fail,
            // the others wait for a retry; the request still counts as on
            // the wire (for the broker's in-flight limit, the partitions'
            // sequences and an epoch bump) until it ends.
            let partitions = batches.iter().map(|b| b.tp.clone()).collect();
            let error = ProduceError::from(result.err().unwrap_or(NetError::Timeout {
                broker: broker.clone(),
                api_key: ApiKey::Produce,
                timeout: self.shared.config.delivery_timeout,
            }));
            for batch in batches {
                self.retry(batch, error.clone());
            }
            self.in_flight.spawn(async move {
                let _ = rest.await;
                Outcome::Drained(Drained { broker, partitions })
            });
            return;
        }
        self.off_the_wire(&broker, batches.iter().map(|b| &b.tp));
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(
                    broker = %broker,
                    batches = batches.len(),
                    error = %error,
                    "Produce request failed"
                );
                if error.recovery().refreshes_metadata() {
                    self.shared.meta.report_transport_failure(&broker);
                }
                let retriable = error.is_retriable();
                let error = ProduceError::from(error);
                for batch in batches {
                    if retriable {
                        self.retry(batch, error.clone());
                    } else {
                        self.abandon(batch, error.clone());
                    }
                }
                return;
            }
        };
        if self.shared.config.acks == Acks::None {
            for batch in batches {
                self.shared.settle_acks0(batch);
            }
            return;
        }
        let hints = LeaderHints::from_produce_response(&response);
        if !hints.is_empty() {
            self.shared.meta.apply_leader_hints(&hints);
        }
        let mut answers: HashMap<(String, i32), PartitionProduceResponse> = HashMap::new();
        for topic in response.responses {
            for p in topic.partition_responses {
                answers.insert((topic.name.clone(), p.index), p);
            }
        }
        for batch in batches {
            let key = (batch.tp.topic.clone(), batch.tp.partition);
            let Some(answer) = answers.remove(&key) else {
                // The broker left the partition out: treat as retriable.
                let error = ProduceError::Broker {
                    tp: batch.tp.clone(),
                    code: ErrorCode::UNKNOWN_SERVER_ERROR,
                    message: Some("the response did not mention the partition".to_owned()),
                };
                self.retry(batch, error);
                continue;
            };
            self.handle_partition(
                batch,
                ErrorCode::from(answer.error_code),
                answer.base_offset,
                answer.log_append_time_ms,
                answer.error_message,
            );
        }
    }

    /// A request given up at its delivery deadline ended.
    fn handle_drained(&mut self, drained: Drained) {
        self.off_the_wire(&drained.broker, drained.partitions.iter());
        self.shared.wake.notify_one();
    }

    /// A Produce request to `broker` carrying batches of `partitions` ended.
    fn off_the_wire<'a>(
        &mut self,
        broker: &str,
        partitions: impl Iterator<Item = &'a TopicPartition>,
    ) {
        if let Some(count) = self.per_broker.get_mut(broker) {
            *count = count.saturating_sub(1);
        }
        let mut sequences = self.shared.lock_seq();
        for tp in partitions {
            sequences.returned(tp);
        }
    }

    fn handle_partition(
        &mut self,
        batch: ProducerBatch,
        code: ErrorCode,
        base_offset: i64,
        append_time: i64,
        message: Option<String>,
    ) {
        let sequence = batch.sealed.as_ref().map_or(-1, |s| s.base_sequence);
        let log_append_time = (append_time >= 0).then_some(append_time);
        // A duplicate of a batch already written is a success (its offsets
        // are unknown when the broker no longer remembers them).
        if code.is_ok() || code == ErrorCode::DUPLICATE_SEQUENCE_NUMBER {
            self.shared.lock_seq().acknowledged(&batch.tp, sequence);
            let offset = if code.is_ok() { base_offset } else { -1 };
            self.shared.settle_written(batch, offset, log_append_time);
            return;
        }
        let error = ProduceError::Broker {
            tp: batch.tp.clone(),
            code,
            message,
        };
        tracing::debug!(
            topic = %batch.tp.topic,
            partition = batch.tp.partition,
            sequence,
            code = %code,
            "Produce refused"
        );
        if matches!(
            code,
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER | ErrorCode::UNKNOWN_PRODUCER_ID
        ) {
            let verdict = self.shared.lock_seq().out_of_order(&batch.tp, sequence);
            match verdict {
                SequenceVerdict::RetryInOrder => self.retry(batch, error),
                // In a transaction the sequences cannot start over in the
                // middle: the transaction must be aborted.
                SequenceVerdict::Reset if self.shared.txn.is_some() => self.abandon(batch, error),
                // Not written; renumbered under the bumped epoch and sent
                // again, so nothing is lost and nothing doubled.
                SequenceVerdict::Reset => self.retry(batch, error),
            }
            return;
        }
        // Another producer took over the transactional id or producer id:
        // nothing this one sends can be written any more.
        if matches!(
            code,
            ErrorCode::PRODUCER_FENCED
                | ErrorCode::INVALID_PRODUCER_EPOCH
                | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                | ErrorCode::INVALID_PRODUCER_ID_MAPPING
        ) {
            self.shared.set_fatal(ProduceError::Fenced(code));
            self.abandon(batch, ProduceError::Fenced(code));
            return;
        }
        match Recovery::of_code(code) {
            Some(Recovery::RefreshMetadata | Recovery::Unreachable) => {
                self.shared
                    .meta
                    .report_error(&batch.tp.topic, batch.tp.partition, code);
                self.retry(batch, error);
            }
            Some(class) if class.is_retriable() => self.retry(batch, error),
            _ => self.abandon(batch, error),
        }
    }

    /// Puts a batch back for another attempt after the backoff, or fails
    /// it if that would pass its delivery timeout.
    fn retry(&mut self, batch: ProducerBatch, error: ProduceError) {
        let now = Instant::now();
        let wait = self
            .shared
            .config
            .backoff_for(batch.attempts, self.shared.jitter());
        if batch.created + self.shared.config.delivery_timeout <= now + wait {
            self.expire(batch, Some(error));
            return;
        }
        self.shared.note_retry(&error);
        tracing::debug!(
            topic = %batch.tp.topic,
            partition = batch.tp.partition,
            attempts = batch.attempts,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "batch put back for a retry"
        );
        self.shared.lock_acc().reenqueue(batch, now + wait);
    }

    /// Fails a batch for good.
    fn abandon(&mut self, batch: ProducerBatch, error: ProduceError) {
        if let Some(sealed) = &batch.sealed {
            self.shared
                .lock_seq()
                .abandoned(&batch.tp, sealed.base_sequence);
        }
        self.shared.settle(batch, Err(error));
    }

    /// After a fatal error: every waiting batch fails with it.
    fn fail_everything(&mut self, error: ProduceError) {
        let batches = self.shared.lock_acc().drain_all();
        for batch in batches {
            self.shared.settle(batch, Err(error.clone()));
        }
    }
}
