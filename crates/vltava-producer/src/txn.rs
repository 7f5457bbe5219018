//! Transactions: a transactional producer's state, its talks with the
//! transaction coordinator, and the `Producer` methods that drive them.
//!
//! The classic protocol (Kafka 0.11 on, "transaction version 1"):
//! FindCoordinator for the transactional id, InitProducerId there (which
//! fences any older producer with the same id and finishes its open
//! transaction), then per transaction AddPartitionsToTxn before the first
//! records of each partition (the sender does that), AddOffsetsToTxn and
//! TxnOffsetCommit for consumed offsets, and EndTxn to commit or abort.
//! Kafka 4's KIP-890 part 2 (no AddPartitionsToTxn, an epoch bump per
//! transaction) needs Produce v12, which this client does not speak yet;
//! brokers keep serving the classic protocol to clients that use it.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use vltava_net::{Purpose, Recovery};
use vltava_wire::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use vltava_wire::messages::find_coordinator_request::FindCoordinatorRequest;
use vltava_wire::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use vltava_wire::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    InitProducerIdRequest, TxnOffsetCommitRequest,
};
use vltava_wire::{ApiKey, ErrorCode, Request};

use crate::error::ProduceError;
use crate::idempotence::ProducerIdentity;
use crate::producer::{Producer, Shared};
use crate::record::{CommitOffset, TopicPartition};

/// Where a transactional producer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `init_transactions` not called yet.
    Uninitialized,
    /// Between transactions.
    Ready,
    /// Inside `begin_transaction` .. commit/abort.
    InTransaction,
}

/// A transactional producer's state, shared by its handles and its sender.
#[derive(Debug)]
pub(crate) struct TxnState {
    pub(crate) id: String,
    pub(crate) phase: Phase,
    /// The transaction coordinator's address, once found.
    pub(crate) coordinator: Option<String>,
    /// Partitions the coordinator knows are in the current transaction.
    pub(crate) added: HashSet<TopicPartition>,
    /// Whether consumed offsets were added to the current transaction.
    pub(crate) offsets_added: bool,
    /// An AddPartitionsToTxn is on the wire.
    pub(crate) adding: bool,
    pub(crate) add_retry_at: Option<Instant>,
    pub(crate) add_attempts: u32,
    /// The first error that dooms the current transaction: it can only be
    /// aborted now.
    pub(crate) error: Option<ProduceError>,
}

/// A lock around [`TxnState`].
#[derive(Debug)]
pub(crate) struct TxnCell(Mutex<TxnState>);

impl TxnCell {
    pub(crate) fn new(id: String) -> Self {
        Self(Mutex::new(TxnState {
            id,
            phase: Phase::Uninitialized,
            coordinator: None,
            added: HashSet::new(),
            offsets_added: false,
            adding: false,
            add_retry_at: None,
            add_attempts: 0,
            error: None,
        }))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TxnState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The consumer group whose offsets a transaction commits
/// ([`Producer::send_offsets_to_transaction`]). The generation and member
/// id let the coordinator fence a consumer that lost its partitions
/// (KIP-447); a plain group id (generation -1) skips that check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The generation the consumer is in (`-1`: unknown).
    pub generation_id: i32,
    /// The consumer's member id (empty: unknown).
    pub member_id: String,
    /// The consumer's static instance id, if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// A group known by id only.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }

    /// Sets the generation and member id the consumer holds.
    pub fn member(mut self, generation_id: i32, member_id: impl Into<String>) -> Self {
        self.generation_id = generation_id;
        self.member_id = member_id.into();
        self
    }
}

/// The highest version of each transactional API this client speaks: the
/// classic protocol (see the module docs).
fn version_cap(api_key: ApiKey) -> i16 {
    match api_key {
        // v4+ is for brokers (verify-only, batched transactions).
        ApiKey::AddPartitionsToTxn => 3,
        // v5 bumps the epoch per transaction (KIP-890 part 2).
        ApiKey::EndTxn => 4,
        ApiKey::AddOffsetsToTxn | ApiKey::TxnOffsetCommit => 4,
        _ => i16::MAX,
    }
}

/// Sends `request` to `broker` at the negotiated version, capped.
async fn send_capped<R: Request>(
    shared: &Shared,
    broker: &str,
    request: R,
) -> Result<R::Response, ProduceError> {
    let pool = shared.meta.pool();
    let result = async {
        let connection = pool.connection(broker, Purpose::Control).await?;
        let version = connection
            .version_for(R::API_KEY)?
            .min(version_cap(R::API_KEY));
        connection.send_at(version, request).await
    }
    .await;
    result.map_err(|error| {
        if error.recovery().refreshes_metadata() {
            shared.meta.report_transport_failure(broker);
        }
        ProduceError::from(error)
    })
}

/// Finds the coordinator of `key` (`key_type` 0: a group, 1: a
/// transactional id), asking any known broker.
async fn find_coordinator(
    shared: &Shared,
    key: &str,
    key_type: i8,
) -> Result<String, ProduceError> {
    let snapshot = shared.meta.snapshot();
    let pool = shared.meta.pool();
    let Some(broker) = snapshot
        .brokers()
        .map(|b| b.address())
        .min_by_key(|a| pool.backoff_remaining(a).unwrap_or_default())
    else {
        shared
            .meta
            .request_refresh(vltava_meta::RefreshReason::Explicit);
        return Err(ProduceError::Blocked {
            what: "a broker to find the coordinator",
            waited: Duration::ZERO,
        });
    };
    // v4+ takes a list of keys, older versions one key.
    let response = async {
        let connection = pool.connection(&broker, Purpose::Control).await?;
        let version = connection.version_for(ApiKey::FindCoordinator)?;
        let request = if version >= 4 {
            FindCoordinatorRequest {
                key_type,
                coordinator_keys: vec![key.to_owned()],
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest {
                key: key.to_owned(),
                key_type,
                ..Default::default()
            }
        };
        connection.send_at(version, request).await
    }
    .await
    .map_err(|error| {
        if error.recovery().refreshes_metadata() {
            shared.meta.report_transport_failure(&broker);
        }
        ProduceError::from(error)
    })?;
    // v4+ answers per key; older versions at the top level.
    let (code, host, port) = match response.coordinators.first() {
        Some(c) => (ErrorCode::from(c.error_code), c.host.clone(), c.port),
        None => (
            ErrorCode::from(response.error_code),
            response.host.clone(),
            response.port,
        ),
    };
    if code.is_err() {
        return Err(ProduceError::Transaction {
            code,
            operation: "FindCoordinator",
        });
    }
    Ok(format!("{host}:{port}"))
}

/// Sends `request` to the transaction coordinator (found first if
/// `coordinator` is `None`; remembered in the state).
pub(crate) async fn send_to_coordinator<R: Request>(
    shared: &Shared,
    coordinator: Option<String>,
    request: R,
) -> Result<R::Response, ProduceError> {
    let Some(txn) = shared.txn.as_ref() else {
        return Err(ProduceError::InvalidState("not a transactional producer"));
    };
    let coordinator = match coordinator {
        Some(c) => c,
        None => {
            let id = txn.lock().id.clone();
            let found = find_coordinator(shared, &id, 1).await?;
            txn.lock().coordinator = Some(found.clone());
            found
        }
    };
    let result = send_capped(shared, &coordinator, request).await;
    if result.as_ref().is_err_and(moves_coordinator) {
        txn.lock().coordinator = None;
    }
    result
}

/// The AddPartitionsToTxn request (client versions, ≤ 3) for `partitions`.
pub(crate) fn add_partitions_request(
    id: &str,
    identity: ProducerIdentity,
    partitions: &[TopicPartition],
) -> AddPartitionsToTxnRequest {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for tp in partitions {
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partitions.push(tp.partition),
            None => topics.push(AddPartitionsToTxnTopic {
                name: tp.topic.clone(),
                partitions: vec![tp.partition],
                ..Default::default()
            }),
        }
    }
    AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: id.to_owned(),
        v3_and_below_producer_id: identity.id,
        v3_and_below_producer_epoch: identity.epoch,
        v3_and_below_topics: topics,
        ..Default::default()
    }
}

/// The TxnOffsetCommit request committing `offsets` for `group`: each with
/// its leader epoch (-1 when unknown) and metadata (empty when none, as
/// Java's `OffsetAndMetadata`).
fn txn_offset_commit_request(
    id: &str,
    identity: ProducerIdentity,
    offsets: &[(TopicPartition, CommitOffset)],
    group: &ConsumerGroupMetadata,
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
    for (tp, offset) in offsets {
        let partition = TxnOffsetCommitRequestPartition {
            partition_index: tp.partition,
            committed_offset: offset.offset,
            committed_leader_epoch: offset.leader_epoch.unwrap_or(-1),
            committed_metadata: Some(offset.metadata.clone().unwrap_or_default()),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(TxnOffsetCommitRequestTopic {
                name: tp.topic.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    TxnOffsetCommitRequest {
        transactional_id: id.to_owned(),
        group_id: group.group_id.clone(),
        producer_id: identity.id,
        producer_epoch: identity.epoch,
        generation_id: group.generation_id,
        member_id: group.member_id.clone(),
        group_instance_id: group.group_instance_id.clone(),
        topics,
        ..Default::default()
    }
}

/// The first partition error of an AddPartitionsToTxn answer, as an error.
pub(crate) fn added_partitions(response: &AddPartitionsToTxnResponse) -> Result<(), ProduceError> {
    let top = ErrorCode::from(response.error_code);
    if top.is_err() {
        return Err(txn_error(top, "AddPartitionsToTxn"));
    }
    // OPERATION_NOT_ATTEMPTED marks partitions skipped because another
    // failed; the real cause is the other code.
    let mut codes: Vec<ErrorCode> = response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter())
        .map(|p| ErrorCode::from(p.partition_error_code))
        .filter(|c| c.is_err())
        .collect();
    codes.sort_by_key(|c| *c == ErrorCode::OPERATION_NOT_ATTEMPTED);
    match codes.first() {
        None => Ok(()),
        Some(&code) => Err(txn_error(code, "AddPartitionsToTxn")),
    }
}

/// A coordinator's error code as a [`ProduceError`].
fn txn_error(code: ErrorCode, operation: &'static str) -> ProduceError {
    match code {
        ErrorCode::PRODUCER_FENCED
        | ErrorCode::INVALID_PRODUCER_EPOCH
        | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        | ErrorCode::INVALID_PRODUCER_ID_MAPPING => ProduceError::Fenced(code),
        code => ProduceError::Transaction { code, operation },
    }
}

/// Whether a transaction request that failed with `error` may be sent
/// again (after finding the coordinator again, if it moved).
pub(crate) fn is_retriable_txn_error(error: &ProduceError) -> bool {
    match error {
        ProduceError::Transaction { code, .. } => {
            *code == ErrorCode::CONCURRENT_TRANSACTIONS
                || Recovery::of_code(*code).is_some_and(|r| {
                    matches!(
                        r,
                        Recovery::Retry
                            | Recovery::FindCoordinator
                            | Recovery::RefreshMetadata
                            | Recovery::Unreachable
                    )
                })
        }
        ProduceError::Net(e) => e.is_retriable(),
        ProduceError::Blocked { .. } => true,
        _ => false,
    }
}

/// Whether the coordinator must be found again before the next try.
pub(crate) fn moves_coordinator(error: &ProduceError) -> bool {
    match error {
        ProduceError::Transaction { code, .. } => {
            Recovery::of_code(*code) == Some(Recovery::FindCoordinator)
        }
        ProduceError::Net(e) => e.is_retriable(),
        _ => false,
    }
}

/// CONCURRENT_TRANSACTIONS: the previous transaction's markers are still
/// being written; it clears within milliseconds.
pub(crate) fn is_concurrent(error: &ProduceError) -> bool {
    matches!(
        error,
        ProduceError::Transaction {
            code: ErrorCode::CONCURRENT_TRANSACTIONS,
            ..
        }
    )
}

impl Producer {
    fn txn(&self) -> Result<&TxnCell, ProduceError> {
        self.shared().txn.as_ref().ok_or(ProduceError::InvalidState(
            "not a transactional producer: set transactional_id",
        ))
    }

    /// Registers the transactional id with its coordinator: gets the
    /// producer id and epoch, fencing any older producer with the same id
    /// and ending its open transaction. Call once, before the first
    /// transaction. Retries within `max_block`.
    pub async fn init_transactions(&self) -> Result<(), ProduceError> {
        let txn = self.txn()?;
        let (id, phase) = {
            let t = txn.lock();
            (t.id.clone(), t.phase)
        };
        if phase != Phase::Uninitialized {
            return Err(ProduceError::InvalidState(
                "init_transactions was already called",
            ));
        }
        let shared = self.shared();
        let timeout_ms =
            i32::try_from(shared.config.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
        let identity = self
            .with_coordinator_retries(
                "InitProducerId",
                || InitProducerIdRequest {
                    transactional_id: Some(id.clone()),
                    transaction_timeout_ms: timeout_ms,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                },
                |r| {
                    (
                        ErrorCode::from(r.error_code),
                        ProducerIdentity {
                            id: r.producer_id,
                            epoch: r.producer_epoch,
                        },
                    )
                },
            )
            .await?;
        shared.lock_seq().reset(identity);
        shared.stats_epoch(identity);
        txn.lock().phase = Phase::Ready;
        shared.wake.notify_one();
        Ok(())
    }

    /// Starts a transaction: records sent from now on are committed or
    /// aborted together.
    pub fn begin_transaction(&self) -> Result<(), ProduceError> {
        let txn = self.txn()?;
        if let Some(error) = self.shared().fatal() {
            return Err(error);
        }
        let mut t = txn.lock();
        match t.phase {
            Phase::Ready => {
                t.phase = Phase::InTransaction;
                t.added.clear();
                t.offsets_added = false;
                t.error = None;
                Ok(())
            }
            Phase::Uninitialized => Err(ProduceError::InvalidState("call init_transactions first")),
            Phase::InTransaction => {
                Err(ProduceError::InvalidState("a transaction is already open"))
            }
        }
    }

    /// Adds consumed offsets to the transaction: they are committed for
    /// `group` if and only if the transaction commits (the
    /// consume-transform-produce loop). `offsets` are the next offsets to
    /// consume, per partition: [`CommitOffset`]s, which carry the leader
    /// epoch of the last record consumed and metadata as Java's
    /// `OffsetAndMetadata` does (a consumer that later starts at an offset
    /// with its epoch validates it against the leader's log, KIP-320), or
    /// plain `i64` offsets, committed without epoch or metadata.
    ///
    /// ```no_run
    /// # use vltava_producer::{CommitOffset, ConsumerGroupMetadata, Producer, TopicPartition};
    /// # async fn run(producer: &Producer) -> Result<(), vltava_producer::ProduceError> {
    /// let group = ConsumerGroupMetadata::new("enrich");
    /// let tp = TopicPartition::new("orders", 0);
    /// // The position after the last record processed, read in leader epoch 7.
    /// let offset = CommitOffset::new(1_042).leader_epoch(Some(7));
    /// producer.send_offsets_to_transaction([(tp.clone(), offset)], &group).await?;
    /// // Or an offset alone.
    /// producer.send_offsets_to_transaction([(tp, 1_042)], &group).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_offsets_to_transaction<O: Into<CommitOffset>>(
        &self,
        offsets: impl IntoIterator<Item = (TopicPartition, O)>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), ProduceError> {
        let offsets: Vec<(TopicPartition, CommitOffset)> = offsets
            .into_iter()
            .map(|(tp, offset)| (tp, offset.into()))
            .collect();
        let txn = self.txn()?;
        let (id, in_txn) = {
            let t = txn.lock();
            (t.id.clone(), t.phase == Phase::InTransaction)
        };
        if !in_txn {
            return Err(ProduceError::InvalidState(
                "send_offsets_to_transaction needs an open transaction",
            ));
        }
        let shared = self.shared();
        let identity = shared
            .lock_seq()
            .identity()
            .unwrap_or(ProducerIdentity::NONE);
        let result = async {
            self.with_coordinator_retries(
                "AddOffsetsToTxn",
                || AddOffsetsToTxnRequest {
                    transactional_id: id.clone(),
                    producer_id: identity.id,
                    producer_epoch: identity.epoch,
                    group_id: group.group_id.clone(),
                    ..Default::default()
                },
                |r| (ErrorCode::from(r.error_code), ()),
            )
            .await?;
            txn.lock().offsets_added = true;
            self.txn_offset_commit(&id, identity, &offsets, group).await
        }
        .await;
        if let Err(error) = &result {
            self.doom(error.clone());
        }
        result
    }

    /// TxnOffsetCommit at the group's coordinator, retried within max_block.
    async fn txn_offset_commit(
        &self,
        id: &str,
        identity: ProducerIdentity,
        offsets: &[(TopicPartition, CommitOffset)],
        group: &ConsumerGroupMetadata,
    ) -> Result<(), ProduceError> {
        let shared = self.shared();
        let request = txn_offset_commit_request(id, identity, offsets, group);
        let deadline = Instant::now() + shared.config.max_block;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = async {
                let coordinator = find_coordinator(shared, &group.group_id, 0).await?;
                let response = send_capped(shared, &coordinator, request.clone()).await?;
                let code = response
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| ErrorCode::from(p.error_code))
                    .find(|c| c.is_err());
                match code {
                    None => Ok(()),
                    Some(code) => Err(txn_error(code, "TxnOffsetCommit")),
                }
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(error) if is_retriable_txn_error(&error) && Instant::now() < deadline => {
                    shared.note_retry(&error);
                    tokio::time::sleep(shared.config.backoff_for(attempt, shared.jitter())).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Commits the transaction: flushes its records, and if every one was
    /// written, asks the coordinator to commit. If a record failed, the
    /// transaction cannot commit: the error is returned and
    /// [`Producer::abort_transaction`] must follow.
    pub async fn commit_transaction(&self) -> Result<(), ProduceError> {
        self.end_transaction(true).await
    }

    /// Aborts the transaction: records not yet sent are dropped (their
    /// deliveries fail with [`ProduceError::Aborted`]), records written are
    /// marked aborted, and consumers reading committed data never see them.
    pub async fn abort_transaction(&self) -> Result<(), ProduceError> {
        self.end_transaction(false).await
    }

    async fn end_transaction(&self, commit: bool) -> Result<(), ProduceError> {
        let txn = self.txn()?;
        if txn.lock().phase != Phase::InTransaction {
            return Err(ProduceError::InvalidState("no transaction is open"));
        }
        let shared = self.shared();
        if !commit {
            let dropped = shared.lock_acc().drain_all();
            for batch in dropped {
                if let Some(sealed) = &batch.sealed {
                    shared.lock_seq().abandoned(&batch.tp, sealed.base_sequence);
                }
                shared.settle(batch, Err(ProduceError::Aborted));
            }
        }
        // Every record sent is settled before EndTxn: its markers must
        // follow the records.
        self.flush().await;
        if let Some(error) = shared.fatal() {
            return Err(error);
        }
        let (id, error, touched) = {
            let t = txn.lock();
            (
                t.id.clone(),
                t.error.clone(),
                !t.added.is_empty() || t.offsets_added,
            )
        };
        if commit && let Some(error) = error {
            return Err(error);
        }
        let identity = shared
            .lock_seq()
            .identity()
            .unwrap_or(ProducerIdentity::NONE);
        if touched {
            self.with_coordinator_retries(
                "EndTxn",
                || EndTxnRequest {
                    transactional_id: id.clone(),
                    producer_id: identity.id,
                    producer_epoch: identity.epoch,
                    committed: commit,
                    ..Default::default()
                },
                |r| (ErrorCode::from(r.error_code), ()),
            )
            .await
            .inspect_err(|e| {
                if matches!(e, ProduceError::Fenced(_)) {
                    shared.set_fatal(e.clone());
                }
            })?;
        }
        // Batches that were never written broke the sequences: start them
        // over with a bumped epoch (KIP-360) before the next transaction.
        if shared.lock_seq().reset_needed() {
            let timeout_ms =
                i32::try_from(shared.config.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
            let bumped = self
                .with_coordinator_retries(
                    "InitProducerId",
                    || InitProducerIdRequest {
                        transactional_id: Some(id.clone()),
                        transaction_timeout_ms: timeout_ms,
                        producer_id: identity.id,
                        producer_epoch: identity.epoch,
                        ..Default::default()
                    },
                    |r| {
                        (
                            ErrorCode::from(r.error_code),
                            ProducerIdentity {
                                id: r.producer_id,
                                epoch: r.producer_epoch,
                            },
                        )
                    },
                )
                .await?;
            shared.lock_seq().reset(bumped);
            shared.stats_epoch(bumped);
        }
        let mut t = txn.lock();
        t.phase = Phase::Ready;
        t.added.clear();
        t.offsets_added = false;
        t.error = None;
        Ok(())
    }

    /// Marks the open transaction as doomed: it can only abort.
    fn doom(&self, error: ProduceError) {
        if let Some(txn) = &self.shared().txn {
            txn.lock().error.get_or_insert(error.clone());
        }
        if matches!(error, ProduceError::Fenced(_)) {
            self.shared().set_fatal(error);
        }
    }

    /// Sends a request built by `build` to the transaction coordinator,
    /// retrying retriable answers (finding the coordinator again when it
    /// moved) until `max_block`; `read` gives the answer's error code and
    /// value.
    async fn with_coordinator_retries<R: Request, T>(
        &self,
        operation: &'static str,
        build: impl Fn() -> R,
        read: impl Fn(&R::Response) -> (ErrorCode, T),
    ) -> Result<T, ProduceError> {
        let shared = self.shared();
        let deadline = Instant::now() + shared.config.max_block;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let coordinator = shared
                .txn
                .as_ref()
                .and_then(|t| t.lock().coordinator.clone());
            let result = send_to_coordinator(shared, coordinator, build())
                .await
                .and_then(|response| {
                    let (code, value) = read(&response);
                    if code.is_ok() {
                        Ok(value)
                    } else {
                        Err(txn_error(code, operation))
                    }
                });
            match result {
                Ok(value) => return Ok(value),
                Err(error) if is_retriable_txn_error(&error) && Instant::now() < deadline => {
                    if moves_coordinator(&error)
                        && let Some(t) = &shared.txn
                    {
                        t.lock().coordinator = None;
                    }
                    shared.note_retry(&error);
                    let wait = if is_concurrent(&error) {
                        Duration::from_millis(20)
                    } else {
                        shared.config.backoff_for(attempt, shared.jitter())
                    };
                    tokio::time::sleep(wait).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_committed_with_their_leader_epoch_and_metadata() {
        let identity = ProducerIdentity { id: 7, epoch: 2 };
        let group = ConsumerGroupMetadata::new("g").member(4, "m-1");
        let offsets = [
            (
                TopicPartition::new("a", 0),
                CommitOffset::new(10).leader_epoch(Some(3)).metadata("m"),
            ),
            (TopicPartition::new("a", 1), CommitOffset::from(20)),
            (
                TopicPartition::new("b", 0),
                CommitOffset::new(30).leader_epoch(Some(0)),
            ),
        ];
        let request = txn_offset_commit_request("tx", identity, &offsets, &group);
        assert_eq!(
            (request.generation_id, request.member_id.as_str()),
            (4, "m-1")
        );
        let sent: Vec<(&str, i32, i64, i32, Option<&str>)> = request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.as_str(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.committed_metadata.as_deref(),
                    )
                })
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("a", 0, 10, 3, Some("m")),
                ("a", 1, 20, -1, Some("")),
                ("b", 0, 30, 0, Some("")),
            ]
        );
    }
}
