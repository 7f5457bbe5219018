//! The fetcher: one task per consumer that keeps a fetch in flight to
//! every broker leading an assigned partition (each with its own KIP-227
//! session), resets positions that need it, validates positions after a
//! leader change (KIP-320, OffsetForLeaderEpoch), and buffers what comes
//! back for `poll`, within a byte budget.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use vltava_group::offsets::CommitOffset;
use vltava_meta::{LeaderHints, MetadataClient, MetadataSnapshot, RefreshReason};
use vltava_net::{Backoff, Jitter, NetError, Purpose, Recovery};
use vltava_wire::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use vltava_wire::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use vltava_wire::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use vltava_wire::{ErrorCode, Uuid};

use crate::TopicPartition;
use crate::config::{ConsumerConfig, Isolation, OffsetReset};
use crate::error::ConsumeError;
use crate::fetch_session::{FetchSession, PartitionFetch};
use crate::metrics::Stats;
use crate::prepare::{DECODE_AHEAD, Preparation};

/// One assigned partition.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionState {
    /// The next offset to hand out; `None` until reset.
    pub(crate) position: Option<i64>,
    /// The leader epoch of the last record handed out (or the one a
    /// committed offset or a seek carried): what OffsetForLeaderEpoch
    /// validates the position against.
    pub(crate) last_epoch: Option<i32>,
    /// The partition leader's epoch (from the metadata) under which the
    /// position was last fetched or validated (Java's
    /// `FetchPosition.currentLeader`). A newer epoch in the metadata means
    /// the leader changed: the position is validated before fetching again.
    pub(crate) leader_epoch: Option<i32>,
    /// The position must be validated with OffsetForLeaderEpoch before it
    /// is fetched (a leader change, or a seek to an offset with an epoch).
    pub(crate) awaiting_validation: bool,
    /// Retriable errors answered for it in a row, and until when it waits
    /// before it is asked again (reset, validated or fetched alike).
    retry: Option<Retry>,
    /// The leader (node id, leader epoch) its request in flight went to.
    asked_leader: Option<(i32, Option<i32>)>,
    pub(crate) paused: bool,
    /// A fetch or a reset for it is on the wire.
    in_flight: bool,
    /// Fetched data for it waits in the buffer.
    pub(crate) buffered: bool,
    /// Bumped by every seek or reassignment: data fetched before is stale.
    pub(crate) generation: u64,
    /// An out-of-range position already reported (policy None).
    pub(crate) stuck: bool,
    /// Assigned by the group, its committed offset not read yet: neither
    /// fetched nor reset (nor committed) until it is, or until a `seek`.
    pub(crate) awaiting_committed: bool,
}

/// A partition's retry backoff (KIP-580): after a retriable error for it
/// in a ListOffsets, OffsetForLeaderEpoch or Fetch answer, the partition
/// is not asked for again before `until`, which is `retry_backoff` after
/// the first error and doubles (with jitter) per error in a row up to
/// `retry_backoff_max`. Its next answer without error forgets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    /// Retriable errors in a row.
    pub(crate) attempts: u32,
    /// Not asked for again before this...
    pub(crate) until: Instant,
    /// ...of the leader (node id, leader epoch) that answered the error. A
    /// leader that moved since is asked at once: the old leader's error
    /// says nothing of the new one (the producer's rule, Java's since
    /// KIP-951).
    pub(crate) leader: Option<(i32, Option<i32>)>,
}

impl PartitionState {
    /// A retriable error answered for the request in flight: the partition
    /// backs off. Returns the wait.
    fn back_off(&mut self, now: Instant, backoff: &Backoff, jitter: f64) -> Duration {
        let attempts = self.retry.map_or(0, |r| r.attempts).saturating_add(1);
        let wait = backoff.delay(attempts, jitter);
        self.retry = Some(Retry {
            attempts,
            until: now + wait,
            leader: self.asked_leader,
        });
        wait
    }

    /// Answered without error: the next error starts the backoff over.
    fn succeeded(&mut self) {
        self.retry = None;
    }

    /// Until when the partition waits before it may be asked again of
    /// `leader` (node id, leader epoch); `None` when it may be now.
    fn retry_wait(&self, leader: (i32, Option<i32>), now: Instant) -> Option<Instant> {
        let retry = self.retry?;
        if retry.until <= now {
            return None;
        }
        if let Some((node, epoch)) = retry.leader {
            let newer_epoch =
                matches!((leader.1, epoch), (Some(current), Some(then)) if current > then);
            if leader.0 != node || newer_epoch {
                return None;
            }
        }
        Some(retry.until)
    }
}

/// A partition's fetched data, waiting for `poll`.
#[derive(Debug, Clone)]
pub(crate) struct Completed {
    pub(crate) tp: TopicPartition,
    pub(crate) generation: u64,
    pub(crate) fetch_offset: i64,
    pub(crate) records: Bytes,
    /// `(producer id, first offset)` of aborted transactions (read_committed).
    pub(crate) aborted: Vec<(i64, i64)>,
    /// The data's decoding (CRCs, decompression), shared by the copies.
    pub(crate) prepared: Arc<Preparation>,
}

/// What the consumer handle and the fetcher share.
pub(crate) struct Shared {
    pub(crate) config: ConsumerConfig,
    pub(crate) meta: MetadataClient,
    state: Mutex<State>,
    /// Wakes the fetcher: assignment, seek, data consumed.
    pub(crate) wake: Notify,
    /// Wakes `poll`: data or errors arrived.
    pub(crate) ready: Notify,
    pub(crate) closed: AtomicBool,
    jitter: Jitter,
    /// The consumer's figures.
    pub(crate) stats: Arc<Stats>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) partitions: BTreeMap<TopicPartition, PartitionState>,
    pub(crate) completed: VecDeque<Completed>,
    pub(crate) buffered_bytes: usize,
    pub(crate) errors: Vec<ConsumeError>,
    /// Per partition, its high watermark as last seen.
    pub(crate) high_watermarks: HashMap<TopicPartition, i64>,
}

impl State {
    /// Whether fetched data waits for `poll` that it may hand out (data
    /// of paused partitions waits for their resumption).
    pub(crate) fn has_ready_data(&self) -> bool {
        self.completed
            .iter()
            .any(|c| self.partitions.get(&c.tp).is_none_or(|p| !p.paused))
    }

    /// Has the first [`DECODE_AHEAD`] bytes of the data waiting for `poll`
    /// decoded on the blocking pool, ahead of the application.
    pub(crate) fn decode_ahead(&self) {
        let mut bytes = 0;
        for completed in &self.completed {
            if bytes >= DECODE_AHEAD {
                break;
            }
            completed.prepared.schedule();
            bytes += completed.records.len();
        }
    }

    /// A completed fetch was taken out for `poll`.
    pub(crate) fn consumed(&mut self, completed: &Completed) {
        self.buffered_bytes = self.buffered_bytes.saturating_sub(completed.records.len());
        if let Some(p) = self.partitions.get_mut(&completed.tp) {
            p.buffered = false;
        }
    }
}

impl Shared {
    pub(crate) fn new(config: ConsumerConfig, meta: MetadataClient) -> Self {
        let stats = Arc::new(Stats::new(
            config.connection.client_id.as_deref().unwrap_or_default(),
        ));
        Self {
            stats,
            config,
            meta,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            jitter: Jitter::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, error: ConsumeError) {
        self.lock().errors.push(error);
        self.ready.notify_waiters();
    }

    /// Backs `p` off after a retriable error answered for it (see
    /// [`Retry`]); returns the wait.
    fn back_off(&self, p: &mut PartitionState, now: Instant) -> Duration {
        back_off(&self.config, &self.jitter, p, now)
    }
}

/// Backs `p` off after a retriable error answered for it (see [`Retry`]);
/// returns the wait.
fn back_off(
    config: &ConsumerConfig,
    jitter: &Jitter,
    p: &mut PartitionState,
    now: Instant,
) -> Duration {
    let backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
    p.back_off(now, &backoff, jitter.next())
}

/// What came back from a broker.
enum Outcome {
    Fetch {
        broker: String,
        asked: Vec<(TopicPartition, u64, i64)>,
        ids: HashMap<Uuid, String>,
        result: Result<FetchResponse, NetError>,
    },
    Reset {
        broker: String,
        asked: Vec<(TopicPartition, u64)>,
        result: Result<ListOffsetsResponse, NetError>,
    },
    Validate {
        broker: String,
        asked: Vec<Validation>,
        result: Result<OffsetForLeaderEpochResponse, NetError>,
    },
}

/// A position to validate: OffsetForLeaderEpoch asks the leader where
/// `epoch` (the epoch of the record before `offset`) ends in its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validation {
    pub(crate) tp: TopicPartition,
    pub(crate) generation: u64,
    /// The position being validated.
    pub(crate) offset: i64,
    /// The epoch of the record before it.
    pub(crate) epoch: i32,
    /// The leader's epoch as the metadata has it (fences a stale leader).
    pub(crate) current_leader_epoch: Option<i32>,
}

/// Runs until the consumer closes.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut sessions: HashMap<String, FetchSession> = HashMap::new();
    let mut fetching: HashMap<String, bool> = HashMap::new();
    let mut failures: HashMap<String, (u32, Instant)> = HashMap::new();
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut snapshots = shared.meta.watch();
    let backoff = Backoff::new(shared.config.retry_backoff, shared.config.retry_backoff_max);
    loop {
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let next = dispatch(
            &shared,
            &mut sessions,
            &mut fetching,
            &failures,
            &mut tasks,
            now,
        );
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(done) = tasks.join_next() => {
                if let Ok(outcome) = done {
                    handle(&shared, outcome, &mut sessions, &mut fetching, &mut failures, &backoff);
                }
            }
            () = shared.wake.notified() => {}
            _ = snapshots.changed() => {}
            () = sleep => {}
        }
    }
}

/// What one pass over the partitions decided to ask, per broker.
#[derive(Debug, Default)]
struct Plan {
    fetches: BTreeMap<String, BTreeMap<TopicPartition, (PartitionFetch, u64)>>,
    resets: BTreeMap<String, Vec<(TopicPartition, u64)>>,
    validations: BTreeMap<String, Vec<Validation>>,
    /// A partition has no known leader: the metadata is refreshed.
    missing_leader: bool,
    /// When a partition or a broker in backoff may be asked again.
    wake_at: Option<Instant>,
}

/// Decides what to ask of which broker at `now`, and marks what it asks
/// in flight: the plain-data half of [`dispatch`] (no I/O).
fn plan(
    state: &mut State,
    snapshot: &MetadataSnapshot,
    config: &ConsumerConfig,
    fetching: &HashMap<String, bool>,
    failures: &HashMap<String, (u32, Instant)>,
    now: Instant,
) -> Plan {
    let mut plan = Plan::default();
    let wake_at = &mut plan.wake_at;
    let mut wake = |at: Instant| *wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
    let over_budget = state.buffered_bytes >= config.buffer_bytes;
    // A broker is fetched from again only once every partition it
    // answered for has been handed out (franz-go's lockstep). Fetching
    // the others meanwhile would long-poll partitions at their log end
    // for `fetch_max_wait` while the drained ones, which have data,
    // wait behind that request: one fetch per broker is in flight.
    let draining: std::collections::HashSet<String> = state
        .partitions
        .iter()
        // A paused partition's data waits for its resumption; the
        // broker's other partitions are fetched meanwhile.
        .filter(|(_, p)| p.buffered && !p.paused)
        .filter_map(|(tp, _)| snapshot.leader(&tp.topic, tp.partition))
        .map(|l| l.broker.address())
        .collect();
    for (tp, p) in state.partitions.iter_mut() {
        if p.paused || p.in_flight || p.buffered || p.stuck || p.awaiting_committed {
            continue;
        }
        let Some(leader) = snapshot.leader(&tp.topic, tp.partition) else {
            plan.missing_leader = true;
            continue;
        };
        let broker = leader.broker.address();
        if let Some(&(_, until)) = failures.get(&broker)
            && until > now
        {
            wake(until);
            continue;
        }
        let leader_id = (leader.broker.node_id, leader.epoch);
        // A partition in backoff waits alone: the broker's other
        // partitions are asked for meanwhile.
        if let Some(until) = p.retry_wait(leader_id, now) {
            wake(until);
            continue;
        }
        if let Some(offset) = p.position
            && needs_validation(p, leader.epoch)
        {
            match p.last_epoch {
                Some(epoch) => {
                    plan.validations
                        .entry(broker)
                        .or_default()
                        .push(Validation {
                            tp: tp.clone(),
                            generation: p.generation,
                            offset,
                            epoch,
                            current_leader_epoch: leader.epoch,
                        });
                    p.in_flight = true;
                    p.asked_leader = Some(leader_id);
                    continue;
                }
                // Nothing read yet and no epoch given: nothing to
                // validate against (Java completes the validation).
                None => p.awaiting_validation = false,
            }
        }
        if p.awaiting_validation {
            continue;
        }
        match p.position {
            None => plan
                .resets
                .entry(broker)
                .or_default()
                .push((tp.clone(), p.generation)),
            Some(offset) if !over_budget => {
                if fetching.get(&broker).copied().unwrap_or(false) || draining.contains(&broker) {
                    continue;
                }
                let fetch = PartitionFetch {
                    fetch_offset: offset,
                    current_leader_epoch: leader.epoch,
                    last_fetched_epoch: p.last_epoch,
                    max_bytes: config.max_partition_fetch_bytes,
                };
                plan.fetches
                    .entry(broker)
                    .or_default()
                    .insert(tp.clone(), (fetch, p.generation));
            }
            Some(_) => continue,
        }
        p.in_flight = true;
        p.asked_leader = Some(leader_id);
    }
    plan
}

/// Sends what can be sent; returns when a partition or a broker in
/// backoff may be asked again.
fn dispatch(
    shared: &Arc<Shared>,
    sessions: &mut HashMap<String, FetchSession>,
    fetching: &mut HashMap<String, bool>,
    failures: &HashMap<String, (u32, Instant)>,
    tasks: &mut JoinSet<Outcome>,
    now: Instant,
) -> Option<Instant> {
    let snapshot = shared.meta.snapshot();
    let config = &shared.config;
    let Plan {
        fetches,
        resets,
        validations,
        missing_leader,
        wake_at,
    } = plan(
        &mut shared.lock(),
        &snapshot,
        config,
        fetching,
        failures,
        now,
    );
    if missing_leader {
        shared.meta.request_refresh(RefreshReason::Explicit);
    }
    let pool = shared.meta.pool().clone();
    for (broker, asked) in resets {
        let request = reset_request(&asked, config.offset_reset, config.isolation);
        let pool = pool.clone();
        tasks.spawn(async move {
            let result = pool.send(&broker, Purpose::Control, request).await;
            Outcome::Reset {
                broker,
                asked,
                result,
            }
        });
    }
    for (broker, asked) in validations {
        let request = validation_request(&asked);
        let pool = pool.clone();
        shared.stats.validation(asked.len());
        tracing::debug!(
            broker = %broker,
            partitions = ?asked.iter().map(|v| (v.tp.to_string(), v.offset, v.epoch)).collect::<Vec<_>>(),
            "validating positions (OffsetForLeaderEpoch): a leader change, or an offset given with its epoch"
        );
        tasks.spawn(async move {
            let result = pool.send(&broker, Purpose::Control, request).await;
            Outcome::Validate {
                broker,
                asked,
                result,
            }
        });
    }
    for (broker, wanted) in fetches {
        let ids: HashMap<String, Uuid> = wanted
            .keys()
            .filter_map(|tp| {
                let id = snapshot.topic(&tp.topic)?.id?;
                Some((tp.topic.clone(), id))
            })
            .collect();
        let by_id: HashMap<Uuid, String> = ids.iter().map(|(n, i)| (*i, n.clone())).collect();
        let session = sessions.entry(broker.clone()).or_default();
        let positions: BTreeMap<TopicPartition, PartitionFetch> =
            wanted.iter().map(|(tp, (f, _))| (tp.clone(), *f)).collect();
        let mut request = FetchRequest {
            replica_id: -1,
            max_wait_ms: i32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            isolation_level: match config.isolation {
                Isolation::ReadUncommitted => 0,
                Isolation::ReadCommitted => 1,
            },
            ..Default::default()
        };
        let built = session.build(&positions, &ids);
        shared.stats.fetch_sent(
            !built.full,
            built.topics.iter().map(|t| t.partitions.len()).sum(),
        );
        built.apply(&mut request);
        let asked: Vec<(TopicPartition, u64, i64)> = wanted
            .into_iter()
            .map(|(tp, (f, generation))| (tp, generation, f.fetch_offset))
            .collect();
        fetching.insert(broker.clone(), true);
        let pool = pool.clone();
        let stats = shared.stats.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = pool.send(&broker, Purpose::Fetch, request).await;
            stats.fetch(sent.elapsed(), result.is_err());
            Outcome::Fetch {
                broker,
                asked,
                ids: by_id,
                result,
            }
        });
    }
    wake_at
}

/// Whether `p`'s position must be validated before it is fetched: it
/// waits for a validation already, or the metadata shows a leader epoch
/// newer than the one it was fetched under (the leader changed: its log
/// may have been truncated below the position). Records the epoch it
/// fetches under otherwise.
fn needs_validation(p: &mut PartitionState, leader_epoch: Option<i32>) -> bool {
    if let (Some(known), Some(current)) = (p.leader_epoch, leader_epoch)
        && current > known
        && p.last_epoch.is_some()
    {
        p.awaiting_validation = true;
    }
    if !p.awaiting_validation && leader_epoch.is_some() {
        p.leader_epoch = leader_epoch;
    }
    p.awaiting_validation
}

/// OffsetForLeaderEpoch as a consumer sends it (v3+: replica id -1, a
/// consumer; -2 would be a debug reader allowed past the high watermark).
fn validation_request(asked: &[Validation]) -> OffsetForLeaderEpochRequest {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for v in asked {
        let partition = OffsetForLeaderPartition {
            partition: v.tp.partition,
            current_leader_epoch: v.current_leader_epoch.unwrap_or(-1),
            leader_epoch: v.epoch,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.topic == v.tp.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(OffsetForLeaderTopic {
                topic: v.tp.topic.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics,
        ..Default::default()
    }
}

/// ListOffsets for partitions to reset: earliest (-2) or latest (-1).
fn reset_request(
    asked: &[(TopicPartition, u64)],
    policy: OffsetReset,
    isolation: Isolation,
) -> ListOffsetsRequest {
    let timestamp = match policy {
        OffsetReset::Earliest => -2,
        // With policy None the latest offset is looked up only to say
        // where the log ends; nothing moves.
        OffsetReset::Latest | OffsetReset::None => -1,
    };
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (tp, _) in asked {
        let partition = ListOffsetsPartition {
            partition_index: tp.partition,
            current_leader_epoch: -1,
            timestamp,
            max_num_offsets: 1,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(ListOffsetsTopic {
                name: tp.topic.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    ListOffsetsRequest {
        replica_id: -1,
        isolation_level: match isolation {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        },
        topics,
        ..Default::default()
    }
}

fn handle(
    shared: &Arc<Shared>,
    outcome: Outcome,
    sessions: &mut HashMap<String, FetchSession>,
    fetching: &mut HashMap<String, bool>,
    failures: &mut HashMap<String, (u32, Instant)>,
    backoff: &Backoff,
) {
    match outcome {
        Outcome::Fetch {
            broker,
            asked,
            ids,
            result,
        } => {
            fetching.insert(broker.clone(), false);
            let response = match result {
                Ok(response) => response,
                Err(error) => {
                    if let Some(s) = sessions.get_mut(&broker) {
                        s.handle_failure();
                    }
                    release(shared, asked.iter().map(|(tp, _, _)| tp));
                    broker_failed(shared, &broker, error, failures, backoff);
                    return;
                }
            };
            failures.remove(&broker);
            let outcome = sessions
                .entry(broker.clone())
                .or_default()
                .handle_response(&response);
            let hints = LeaderHints::from_fetch_response(&response);
            if !hints.is_empty() {
                let moved = shared.meta.apply_leader_hints(&hints);
                if !moved.is_empty() {
                    shared.stats.leader_hints(moved.len());
                    tracing::info!(
                        broker = %broker,
                        partitions = ?moved,
                        "leaders moved (KIP-951 hints in the Fetch answer); fetching from the new leaders"
                    );
                }
            }
            handle_fetch(
                shared,
                &asked,
                &ids,
                response,
                matches!(outcome, crate::fetch_session::SessionOutcome::Reset(_)),
                Instant::now(),
            );
        }
        Outcome::Reset {
            broker,
            asked,
            result,
        } => {
            let response = match result {
                Ok(response) => response,
                Err(error) => {
                    release(shared, asked.iter().map(|(tp, _)| tp));
                    broker_failed(shared, &broker, error, failures, backoff);
                    return;
                }
            };
            failures.remove(&broker);
            handle_reset(shared, &asked, &response, Instant::now());
        }
        Outcome::Validate {
            broker,
            asked,
            result,
        } => {
            let response = match result {
                Ok(response) => response,
                Err(error) => {
                    release(shared, asked.iter().map(|v| &v.tp));
                    broker_failed(shared, &broker, error, failures, backoff);
                    return;
                }
            };
            failures.remove(&broker);
            handle_validation(shared, &asked, &response, Instant::now());
        }
    }
    shared.wake.notify_one();
}

/// Clears the in-flight marks of partitions whose request failed.
fn release<'a>(shared: &Shared, tps: impl Iterator<Item = &'a TopicPartition>) {
    let mut state = shared.lock();
    for tp in tps {
        if let Some(p) = state.partitions.get_mut(tp) {
            p.in_flight = false;
        }
    }
}

fn broker_failed(
    shared: &Shared,
    broker: &str,
    error: NetError,
    failures: &mut HashMap<String, (u32, Instant)>,
    backoff: &Backoff,
) {
    if error.recovery().refreshes_metadata() {
        shared.meta.report_transport_failure(broker);
    }
    let entry = failures
        .entry(broker.to_owned())
        .or_insert((0, Instant::now()));
    entry.0 += 1;
    let wait = backoff.delay(entry.0, shared.jitter.next());
    entry.1 = Instant::now() + wait;
    tracing::warn!(
        broker,
        failures = entry.0,
        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        error = %error,
        "fetching failed; backing off this broker"
    );
    shared.report(ConsumeError::Broker {
        broker: broker.to_owned(),
        source: Arc::new(error),
        retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
    });
}

/// Takes a Fetch answer for the partitions `asked` (partition,
/// generation, fetch offset) at `now`. With `session_reset` the broker
/// ended the fetch session and the answer holds no data: the partitions
/// are asked again.
fn handle_fetch(
    shared: &Shared,
    asked: &[(TopicPartition, u64, i64)],
    ids: &HashMap<Uuid, String>,
    response: FetchResponse,
    session_reset: bool,
    now: Instant,
) {
    let mut state = shared.lock();
    let arrival = buffer_fetch(
        &mut state,
        &shared.config,
        &shared.stats,
        asked,
        ids,
        response,
        session_reset,
        now,
        &shared.jitter,
    );
    drop(state);
    for (tp, code) in arrival.refresh {
        shared.meta.report_error(&tp.topic, tp.partition, code);
    }
    if arrival.arrived {
        shared.ready.notify_waiters();
    }
}

/// What a Fetch answer did that the fetcher must act on outside the lock.
#[derive(Debug, Default)]
pub(crate) struct Arrival {
    /// Something for `poll` arrived: data or an error.
    pub(crate) arrived: bool,
    /// Partitions whose leader moved or is unknown, to report to the
    /// metadata cache.
    pub(crate) refresh: Vec<(TopicPartition, ErrorCode)>,
}

/// The state's side of a Fetch answer for the partitions in `asked`
/// (`(partition, generation, fetch offset)`): data is buffered for `poll`,
/// positions move on a diverging epoch, errors are queued. No I/O.
#[expect(
    clippy::too_many_arguments,
    reason = "the fetcher's shared parts one by one, so that the benches drive it without a broker"
)]
pub(crate) fn buffer_fetch(
    state: &mut State,
    config: &ConsumerConfig,
    stats: &Stats,
    asked: &[(TopicPartition, u64, i64)],
    ids: &HashMap<Uuid, String>,
    response: FetchResponse,
    session_reset: bool,
    now: Instant,
    jitter: &Jitter,
) -> Arrival {
    let mut answered: HashMap<
        TopicPartition,
        vltava_wire::messages::fetch_response::PartitionData,
    > = HashMap::new();
    if !session_reset {
        for topic in response.responses {
            let name = if topic.topic.is_empty() {
                ids.get(&topic.topic_id).cloned().unwrap_or_default()
            } else {
                topic.topic
            };
            for p in topic.partitions {
                answered.insert(TopicPartition::new(name.clone(), p.partition_index), p);
            }
        }
    }
    let mut arrived = false;
    let mut refresh = Vec::new();
    for (tp, generation, fetch_offset) in asked {
        let Some(p) = state.partitions.get_mut(tp) else {
            continue;
        };
        p.in_flight = false;
        if session_reset {
            continue;
        }
        if p.generation != *generation || p.position != Some(*fetch_offset) {
            // Data for a position since moved (a seek, a reset) is
            // dropped, but the high watermark it carries is still the
            // partition's: an incremental fetch session (KIP-227) does not
            // repeat it while it stays the same, so dropping it would leave
            // the lag unknown for a partition sought to its end. A stale
            // answer only raises it (a current one may have lowered it).
            if let Some(data) = answered.get(tp)
                && ErrorCode::from(data.error_code) == ErrorCode::NONE
            {
                let high = state
                    .high_watermarks
                    .entry(tp.clone())
                    .or_insert(data.high_watermark);
                *high = (*high).max(data.high_watermark);
            }
            continue;
        }
        // An incremental answer leaves out partitions with nothing new
        // (and no error).
        let Some(data) = answered.remove(tp) else {
            p.succeeded();
            continue;
        };
        let code = ErrorCode::from(data.error_code);
        if code.is_ok() {
            p.succeeded();
        }
        match code {
            ErrorCode::NONE
                if data.diverging_epoch.epoch >= 0 && data.diverging_epoch.end_offset >= 0 =>
            {
                // The leader's log diverged from what we read (KIP-320, via
                // Fetch v12+ last_fetched_epoch): records past its end
                // offset for our epoch were truncated.
                let error = truncated(
                    config,
                    stats,
                    p,
                    tp,
                    *fetch_offset,
                    Some((data.diverging_epoch.end_offset, data.diverging_epoch.epoch)),
                    "Fetch answered with a diverging epoch",
                );
                state.errors.extend(error);
                arrived = true;
            }
            ErrorCode::NONE => {
                state
                    .high_watermarks
                    .insert(tp.clone(), data.high_watermark);
                let records = data.records.unwrap_or_default();
                if records.is_empty() {
                    continue;
                }
                let p = state.partitions.get_mut(tp).expect("looked up above");
                p.buffered = true;
                state.buffered_bytes += records.len();
                stats.bytes(records.len());
                let aborted = data
                    .aborted_transactions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| (a.producer_id, a.first_offset))
                    .collect();
                state.completed.push_back(Completed {
                    tp: tp.clone(),
                    generation: *generation,
                    fetch_offset: *fetch_offset,
                    prepared: Preparation::new(records.clone(), *fetch_offset, config.check_crcs),
                    records,
                    aborted,
                });
                state.decode_ahead();
                arrived = true;
            }
            ErrorCode::OFFSET_OUT_OF_RANGE => {
                stats.partition_error();
                tracing::info!(
                    partition = %tp,
                    offset = *fetch_offset,
                    reset = ?config.offset_reset,
                    "position out of range"
                );
                if config.offset_reset == OffsetReset::None {
                    p.stuck = true;
                    state.errors.push(ConsumeError::OutOfRange {
                        tp: tp.clone(),
                        offset: *fetch_offset,
                    });
                    arrived = true;
                } else {
                    p.position = None;
                }
            }
            code => match Recovery::of_code(code) {
                Some(class) if class.is_retriable() => {
                    stats.partition_error();
                    let wait = back_off(config, jitter, p, now);
                    let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                    if class.refreshes_metadata() {
                        tracing::info!(
                            partition = %tp,
                            code = %code,
                            retry_in_ms,
                            "the partition's leader moved or is unknown; refreshing metadata"
                        );
                        refresh.push((tp.clone(), code));
                    } else {
                        tracing::debug!(partition = %tp, code = %code, retry_in_ms, "retriable fetch error; the partition backs off");
                    }
                }
                _ => {
                    stats.partition_error();
                    tracing::warn!(partition = %tp, code = %code, "fetching the partition failed; it stops");
                    p.stuck = true;
                    state.errors.push(ConsumeError::Partition {
                        tp: tp.clone(),
                        code,
                    });
                    arrived = true;
                }
            },
        }
    }
    Arrival { arrived, refresh }
}

/// The log was truncated below `offset` (the position `p` was fetched or
/// validated at): `end` is the end offset and epoch of the last epoch the
/// logs share, when the leader knows it. As Java's
/// `SubscriptionState.maybeCompleteValidation`: with a reset policy the
/// position moves to that end offset (or, unknown, is reset by the
/// policy) and the truncation is reported ([`ConsumeError::Truncated`],
/// not fatal); with `None` the position stays, the partition stops, and
/// [`ConsumeError::LogTruncation`] says where the logs agree (Java's
/// `LogTruncationException`): the application decides with a `seek`.
fn truncated(
    config: &ConsumerConfig,
    stats: &Stats,
    p: &mut PartitionState,
    tp: &TopicPartition,
    offset: i64,
    end: Option<(i64, i32)>,
    how: &'static str,
) -> Option<ConsumeError> {
    stats.truncation();
    let policy = config.offset_reset;
    tracing::warn!(
        partition = %tp,
        position = offset,
        end_offset = end.map(|(o, _)| o),
        end_epoch = end.map(|(_, e)| e),
        policy = ?policy,
        how,
        "log truncation detected (KIP-320): records below the position are gone from the leader's log"
    );
    p.awaiting_validation = false;
    if policy == OffsetReset::None {
        p.stuck = true;
        return Some(ConsumeError::LogTruncation {
            tp: tp.clone(),
            offset,
            divergent: end.map(|(o, e)| CommitOffset {
                offset: o,
                leader_epoch: Some(e),
                metadata: None,
            }),
        });
    }
    p.generation += 1;
    match end {
        Some((end_offset, epoch)) => {
            let to = end_offset.min(offset);
            p.position = Some(to);
            p.last_epoch = Some(epoch);
            Some(ConsumeError::Truncated {
                tp: tp.clone(),
                from: offset,
                to,
            })
        }
        // The leader knows no end for our epoch: start over by the policy.
        None => {
            p.position = None;
            p.last_epoch = None;
            None
        }
    }
}

/// Takes the OffsetForLeaderEpoch answer for positions being validated.
fn handle_validation(
    shared: &Shared,
    asked: &[Validation],
    response: &OffsetForLeaderEpochResponse,
    now: Instant,
) {
    let mut answered: HashMap<(&str, i32), (ErrorCode, i32, i64)> = HashMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            answered.insert(
                (t.topic.as_str(), p.partition),
                (ErrorCode::from(p.error_code), p.leader_epoch, p.end_offset),
            );
        }
    }
    let mut guard = shared.lock();
    let state = &mut *guard;
    let mut reported = false;
    let mut refresh = Vec::new();
    for v in asked {
        let Some(p) = state.partitions.get_mut(&v.tp) else {
            continue;
        };
        p.in_flight = false;
        // Sought or reassigned meanwhile: that position is validated anew.
        if p.generation != v.generation || p.position != Some(v.offset) {
            continue;
        }
        let Some(&(code, epoch, end_offset)) = answered.get(&(v.tp.topic.as_str(), v.tp.partition))
        else {
            // Not answered for: asked again after the backoff.
            shared.back_off(p, now);
            continue;
        };
        if code.is_ok() {
            p.succeeded();
            p.leader_epoch = v.current_leader_epoch.or(p.leader_epoch);
            if epoch < 0 || end_offset < 0 {
                let error = truncated(
                    &shared.config,
                    &shared.stats,
                    p,
                    &v.tp,
                    v.offset,
                    None,
                    "OffsetForLeaderEpoch knows no end for the epoch",
                );
                state.errors.extend(error);
                reported = true;
            } else if end_offset < v.offset {
                let error = truncated(
                    &shared.config,
                    &shared.stats,
                    p,
                    &v.tp,
                    v.offset,
                    Some((end_offset, epoch)),
                    "OffsetForLeaderEpoch",
                );
                state.errors.extend(error);
                reported = true;
            } else {
                tracing::debug!(partition = %v.tp, position = v.offset, epoch = v.epoch, end_offset, "position validated");
                p.awaiting_validation = false;
            }
            continue;
        }
        shared.stats.partition_error();
        match Recovery::of_code(code) {
            Some(class) if class.is_retriable() => {
                let wait = shared.back_off(p, now);
                tracing::debug!(
                    partition = %v.tp,
                    code = %code,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "validating the position failed; the partition backs off"
                );
                if class.refreshes_metadata() {
                    refresh.push((v.tp.clone(), code));
                }
            }
            _ => {
                tracing::warn!(partition = %v.tp, code = %code, "validating the position failed; the partition stops");
                p.stuck = true;
                state.errors.push(ConsumeError::Partition {
                    tp: v.tp.clone(),
                    code,
                });
                reported = true;
            }
        }
    }
    drop(guard);
    for (tp, code) in refresh {
        shared.meta.report_error(&tp.topic, tp.partition, code);
    }
    if reported {
        shared.ready.notify_waiters();
    }
}

/// Takes the ListOffsets answer for the partitions `asked` (partition,
/// generation) to reset, at `now`.
fn handle_reset(
    shared: &Shared,
    asked: &[(TopicPartition, u64)],
    response: &ListOffsetsResponse,
    now: Instant,
) {
    let mut answered: HashMap<(&str, i32), (ErrorCode, i64, i32)> = HashMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            answered.insert(
                (t.name.as_str(), p.partition_index),
                (ErrorCode::from(p.error_code), p.offset, p.leader_epoch),
            );
        }
    }
    let mut state = shared.lock();
    let mut reported = false;
    let mut refresh = Vec::new();
    for (tp, generation) in asked {
        let Some(p) = state.partitions.get_mut(tp) else {
            continue;
        };
        p.in_flight = false;
        if p.generation != *generation || p.position.is_some() {
            continue;
        }
        let (code, offset, epoch) = answered
            .get(&(tp.topic.as_str(), tp.partition))
            .copied()
            // Not answered for: as a retriable error.
            .unwrap_or((ErrorCode::NONE, -1, -1));
        if code.is_ok() && offset >= 0 {
            p.succeeded();
            if shared.config.offset_reset == OffsetReset::None {
                p.stuck = true;
                state.errors.push(ConsumeError::OutOfRange {
                    tp: tp.clone(),
                    offset,
                });
                reported = true;
            } else {
                tracing::debug!(partition = %tp, offset, policy = ?shared.config.offset_reset, "position reset");
                p.position = Some(offset);
                p.last_epoch = (epoch >= 0).then_some(epoch);
                p.leader_epoch = None;
                p.awaiting_validation = false;
            }
            continue;
        }
        match Recovery::of_code(code) {
            Some(class) if !class.is_retriable() => {
                tracing::warn!(partition = %tp, code = %code, "resetting the position failed; the partition stops");
                p.stuck = true;
                state.errors.push(ConsumeError::Partition {
                    tp: tp.clone(),
                    code,
                });
                reported = true;
            }
            // Retriable, or no offset in the answer.
            class => {
                let wait = shared.back_off(p, now);
                tracing::debug!(
                    partition = %tp,
                    code = %code,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "resetting the position failed; the partition backs off"
                );
                if class.is_some_and(Recovery::refreshes_metadata) {
                    refresh.push((tp.clone(), code));
                }
            }
        }
    }
    drop(state);
    for (tp, code) in refresh {
        shared.meta.report_error(&tp.topic, tp.partition, code);
    }
    if reported {
        shared.ready.notify_waiters();
    }
}

/// How long `poll` may wait at most between checks (so a closed consumer
/// or a lost wake-up never blocks a poll past its timeout).
pub(crate) const POLL_SLICE: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use vltava_meta::{Interest, MetadataConfig, RefreshPolicy};
    use vltava_net::{BrokerPool, PoolConfig};
    use vltava_wire::messages::MetadataResponse;
    use vltava_wire::messages::fetch_response::{
        EpochEndOffset, FetchableTopicResponse, PartitionData,
    };
    use vltava_wire::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use vltava_wire::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A fetcher's shared state over a metadata client that talks to
    /// nobody (these tests feed answers by hand).
    fn shared() -> Shared {
        shared_with(OffsetReset::Latest)
    }

    fn shared_with(policy: OffsetReset) -> Shared {
        let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = nobody.local_addr().unwrap().to_string();
        drop(nobody);
        let meta = MetadataClient::new(
            &address,
            BrokerPool::new(PoolConfig::default()),
            MetadataConfig::new(),
        )
        .unwrap();
        Shared::new(ConsumerConfig::new().offset_reset(policy), meta)
    }

    fn answer(tp: &TopicPartition, data: PartitionData) -> FetchResponse {
        FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: tp.topic.clone(),
                partitions: vec![PartitionData {
                    partition_index: tp.partition,
                    ..data
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_diverging_epoch_moves_the_position_back_and_reports_the_truncation() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                position: Some(120),
                last_epoch: Some(3),
                in_flight: true,
                ..Default::default()
            },
        );
        let diverged = PartitionData {
            high_watermark: 100,
            diverging_epoch: EpochEndOffset {
                epoch: 3,
                end_offset: 100,
                ..Default::default()
            },
            records: Some(Bytes::from_static(b"ignored")),
            ..Default::default()
        };
        handle_fetch(
            &shared,
            &[(tp.clone(), 0, 120)],
            &HashMap::new(),
            answer(&tp, diverged),
            false,
            Instant::now(),
        );
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!(p.position, Some(100));
        assert_eq!(p.last_epoch, Some(3));
        assert!(
            !p.in_flight && !p.buffered,
            "the diverged data must not be buffered"
        );
        assert!(state.completed.is_empty());
        assert!(matches!(
            state.errors.as_slice(),
            [ConsumeError::Truncated {
                from: 120,
                to: 100,
                ..
            }]
        ));
        assert!(!state.errors[0].is_fatal());
    }

    #[tokio::test]
    async fn with_no_reset_policy_a_diverging_epoch_stops_the_partition_where_it_is() {
        let shared = shared_with(OffsetReset::None);
        let tp = TopicPartition::new("t", 0);
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                position: Some(120),
                last_epoch: Some(3),
                in_flight: true,
                ..Default::default()
            },
        );
        let diverged = PartitionData {
            diverging_epoch: EpochEndOffset {
                epoch: 3,
                end_offset: 100,
                ..Default::default()
            },
            ..Default::default()
        };
        handle_fetch(
            &shared,
            &[(tp.clone(), 0, 120)],
            &HashMap::new(),
            answer(&tp, diverged),
            false,
            Instant::now(),
        );
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!(p.position, Some(120), "no policy: the position stays");
        assert!(p.stuck, "the partition waits for a seek");
        let [error] = state.errors.as_slice() else {
            panic!("{:?}", state.errors);
        };
        let ConsumeError::LogTruncation {
            offset: 120,
            divergent: Some(divergent),
            ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!((divergent.offset, divergent.leader_epoch), (100, Some(3)));
        assert!(error.is_fatal(), "as OutOfRange: the application must seek");
    }

    /// A partition read up to 120 in epoch 3, last fetched from a leader
    /// of epoch 3.
    fn read_in_epoch_3() -> PartitionState {
        PartitionState {
            position: Some(120),
            last_epoch: Some(3),
            leader_epoch: Some(3),
            ..Default::default()
        }
    }

    #[test]
    fn a_newer_leader_epoch_in_the_metadata_asks_for_validation_first() {
        let mut p = read_in_epoch_3();
        assert!(!needs_validation(&mut p, Some(3)));
        assert!(!p.awaiting_validation);
        // The leader changed: validate before fetching.
        assert!(needs_validation(&mut p, Some(4)));
        assert!(p.awaiting_validation);
        assert_eq!(
            p.leader_epoch,
            Some(3),
            "the epoch moves only once validated"
        );
        // Until the answer, every pass asks again (the in-flight mark
        // keeps it from being sent twice).
        assert!(needs_validation(&mut p, Some(4)));
    }

    #[test]
    fn a_position_without_an_epoch_is_not_validated_and_follows_the_leader() {
        // Reset by the policy, nothing read yet: no epoch to validate.
        let mut p = PartitionState {
            position: Some(0),
            ..Default::default()
        };
        assert!(!needs_validation(&mut p, Some(7)));
        assert_eq!(p.leader_epoch, Some(7));
        assert!(!needs_validation(&mut p, Some(8)));
        assert_eq!(p.leader_epoch, Some(8));
        assert!(!p.awaiting_validation);
    }

    #[tokio::test]
    async fn a_validation_in_backoff_waits_and_says_until_when() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        let later = now + 100 * MS;
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                awaiting_validation: true,
                retry: Some(Retry {
                    attempts: 1,
                    until: later,
                    leader: Some((1, Some(4))),
                }),
                ..read_in_epoch_3()
            },
        );
        let leaders = snapshot(&[(0, 1, 4)]);
        let waiting = plan_at(&shared, &leaders, now);
        assert!(asked(&waiting).is_empty(), "{waiting:?}");
        assert_eq!(waiting.wake_at, Some(later));
        {
            let state = shared.lock();
            let p = &state.partitions[&tp];
            assert!(
                p.awaiting_validation && !p.in_flight,
                "still to be validated"
            );
        }
        let due = plan_at(&shared, &leaders, later);
        assert_eq!(asked(&due), [("validate", tp.clone())]);
    }

    #[test]
    fn the_validation_request_is_a_consumers() {
        let request = validation_request(&[
            Validation {
                tp: TopicPartition::new("a", 1),
                generation: 0,
                offset: 120,
                epoch: 3,
                current_leader_epoch: Some(4),
            },
            Validation {
                tp: TopicPartition::new("a", 2),
                generation: 0,
                offset: 7,
                epoch: 0,
                current_leader_epoch: None,
            },
        ]);
        assert_eq!(
            request.replica_id, -1,
            "-1: a consumer (-2 would be a debug reader)"
        );
        let [topic] = request.topics.as_slice() else {
            panic!("{request:?}");
        };
        assert_eq!(topic.topic, "a");
        let asked: Vec<(i32, i32, i32)> = topic
            .partitions
            .iter()
            .map(|p| (p.partition, p.current_leader_epoch, p.leader_epoch))
            .collect();
        assert_eq!(asked, vec![(1, 4, 3), (2, -1, 0)]);
    }

    fn validating(shared: &Shared, tp: &TopicPartition) -> Validation {
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                awaiting_validation: true,
                in_flight: true,
                generation: 5,
                ..read_in_epoch_3()
            },
        );
        Validation {
            tp: tp.clone(),
            generation: 5,
            offset: 120,
            epoch: 3,
            current_leader_epoch: Some(4),
        }
    }

    fn epoch_answer(
        tp: &TopicPartition,
        code: ErrorCode,
        leader_epoch: i32,
        end_offset: i64,
    ) -> OffsetForLeaderEpochResponse {
        use vltava_wire::messages::offset_for_leader_epoch_response::{
            EpochEndOffset, OffsetForLeaderTopicResult,
        };
        OffsetForLeaderEpochResponse {
            topics: vec![OffsetForLeaderTopicResult {
                topic: tp.topic.clone(),
                partitions: vec![EpochEndOffset {
                    error_code: code.code(),
                    partition: tp.partition,
                    leader_epoch,
                    end_offset,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_epoch_ending_at_or_past_the_position_keeps_it() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        let asked = validating(&shared, &tp);
        // Epoch 3 ended at 150 on the new leader: nothing we read is gone.
        let answer = epoch_answer(&tp, ErrorCode::NONE, 3, 150);
        handle_validation(&shared, &[asked], &answer, Instant::now());
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!(p.position, Some(120));
        assert_eq!(p.generation, 5, "nothing stale");
        assert!(!p.awaiting_validation && !p.in_flight && !p.stuck);
        assert_eq!(p.leader_epoch, Some(4), "validated under the new leader");
        assert!(state.errors.is_empty(), "{:?}", state.errors);
        assert_eq!(shared.stats.snapshot().log_truncations, 0);
    }

    #[tokio::test]
    async fn an_epoch_ending_below_the_position_moves_it_back_and_reports_it() {
        let shared = shared_with(OffsetReset::Earliest);
        let tp = TopicPartition::new("t", 0);
        let asked = validating(&shared, &tp);
        // The new leader's log has epoch 2 end at 100: 100..120 are gone.
        let answer = epoch_answer(&tp, ErrorCode::NONE, 2, 100);
        handle_validation(&shared, &[asked], &answer, Instant::now());
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!(p.position, Some(100));
        assert_eq!(p.last_epoch, Some(2));
        assert_eq!(p.generation, 6, "data fetched before is stale");
        assert!(!p.awaiting_validation && !p.stuck);
        assert!(
            matches!(
                state.errors.as_slice(),
                [ConsumeError::Truncated {
                    from: 120,
                    to: 100,
                    ..
                }]
            ),
            "{:?}",
            state.errors
        );
        assert!(!state.errors[0].is_fatal());
        assert_eq!(shared.stats.snapshot().log_truncations, 1);
    }

    #[tokio::test]
    async fn with_no_reset_policy_a_truncation_found_by_validation_stops_the_partition() {
        let shared = shared_with(OffsetReset::None);
        let tp = TopicPartition::new("t", 0);
        let asked = validating(&shared, &tp);
        let answer = epoch_answer(&tp, ErrorCode::NONE, 2, 100);
        handle_validation(&shared, &[asked], &answer, Instant::now());
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!(p.position, Some(120));
        assert!(p.stuck);
        assert!(
            matches!(
                state.errors.as_slice(),
                [ConsumeError::LogTruncation {
                    offset: 120,
                    divergent: Some(CommitOffset {
                        offset: 100,
                        leader_epoch: Some(2),
                        ..
                    }),
                    ..
                }]
            ),
            "{:?}",
            state.errors
        );
    }

    #[tokio::test]
    async fn an_unknown_end_resets_by_the_policy() {
        let shared = shared_with(OffsetReset::Latest);
        let tp = TopicPartition::new("t", 0);
        let asked = validating(&shared, &tp);
        let answer = epoch_answer(&tp, ErrorCode::NONE, -1, -1);
        handle_validation(&shared, &[asked], &answer, Instant::now());
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!(p.position, None, "the policy decides (ListOffsets next)");
        assert!(!p.awaiting_validation && !p.stuck);
        assert_eq!(shared.stats.snapshot().log_truncations, 1);
    }

    #[tokio::test]
    async fn a_fenced_validation_is_retried_after_the_backoff() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        let asked = validating(&shared, &tp);
        let now = Instant::now();
        let answer = epoch_answer(&tp, ErrorCode::FENCED_LEADER_EPOCH, -1, -1);
        handle_validation(&shared, &[asked], &answer, now);
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!(p.position, Some(120));
        assert!(p.awaiting_validation && !p.in_flight && !p.stuck);
        let retry = p.retry.expect("backing off");
        assert_eq!(retry.attempts, 1);
        assert_within_backoff(retry.until - now, shared.config.retry_backoff);
        assert!(state.errors.is_empty());
    }

    #[tokio::test]
    async fn a_non_retriable_validation_error_stops_the_partition() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        let asked = validating(&shared, &tp);
        let answer = epoch_answer(&tp, ErrorCode::TOPIC_AUTHORIZATION_FAILED, -1, -1);
        handle_validation(&shared, &[asked], &answer, Instant::now());
        let state = shared.lock();
        assert!(state.partitions[&tp].stuck);
        assert!(matches!(
            state.errors.as_slice(),
            [ConsumeError::Partition {
                code: ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                ..
            }]
        ));
    }

    #[tokio::test]
    async fn a_validation_answer_for_a_position_sought_since_is_dropped() {
        let shared = shared_with(OffsetReset::Earliest);
        let tp = TopicPartition::new("t", 0);
        let asked = validating(&shared, &tp);
        // The application sought meanwhile.
        {
            let mut state = shared.lock();
            let p = state.partitions.get_mut(&tp).unwrap();
            p.position = Some(10);
            p.generation += 1;
        }
        let answer = epoch_answer(&tp, ErrorCode::NONE, 2, 100);
        handle_validation(&shared, &[asked], &answer, Instant::now());
        let state = shared.lock();
        assert_eq!(state.partitions[&tp].position, Some(10));
        assert!(state.errors.is_empty());
        assert!(!state.partitions[&tp].in_flight);
    }

    #[tokio::test]
    async fn an_answer_for_a_stale_position_is_dropped() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                position: Some(50),
                generation: 2,
                ..Default::default()
            },
        );
        let data = PartitionData {
            high_watermark: 100,
            records: Some(Bytes::from_static(b"whatever")),
            ..Default::default()
        };
        // Fetched at generation 1 (before a seek).
        handle_fetch(
            &shared,
            &[(tp.clone(), 1, 10)],
            &HashMap::new(),
            answer(&tp, data),
            false,
            Instant::now(),
        );
        {
            let state = shared.lock();
            assert!(state.completed.is_empty());
            assert_eq!(state.partitions[&tp].position, Some(50));
            // Its high watermark is kept: an incremental session would not
            // send it again while it stays the same.
            assert_eq!(state.high_watermarks.get(&tp), Some(&100));
        }
        // An older stale answer never lowers it.
        let older = PartitionData {
            high_watermark: 80,
            ..Default::default()
        };
        handle_fetch(
            &shared,
            &[(tp.clone(), 1, 10)],
            &HashMap::new(),
            answer(&tp, older),
            false,
            Instant::now(),
        );
        assert_eq!(shared.lock().high_watermarks.get(&tp), Some(&100));
    }

    /// A metadata snapshot of topic `t` (id 1) on brokers 1-3, with each
    /// `(partition, leader's node id, leader epoch)` given.
    fn snapshot(leaders: &[(i32, i32, i32)]) -> Arc<MetadataSnapshot> {
        let mut policy = RefreshPolicy::new(
            MetadataConfig::new().interest(Interest::topics(["t"])),
            vec!["127.0.0.1:9091".to_owned()],
            1,
        );
        let now = Instant::now();
        let refresh = policy.poll_refresh(now).expect("a first refresh is due");
        let response = MetadataResponse {
            brokers: (1..=3)
                .map(|id| MetadataResponseBroker {
                    node_id: id,
                    host: "127.0.0.1".into(),
                    port: 9090 + id,
                    ..Default::default()
                })
                .collect(),
            cluster_id: Some("cluster".into()),
            controller_id: 1,
            topics: vec![MetadataResponseTopic {
                name: Some("t".into()),
                topic_id: Uuid::from_u128(1),
                partitions: leaders
                    .iter()
                    .map(|&(partition, leader, epoch)| MetadataResponsePartition {
                        partition_index: partition,
                        leader_id: leader,
                        leader_epoch: epoch,
                        replica_nodes: vec![1, 2, 3],
                        isr_nodes: vec![1, 2, 3],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        policy
            .handle_response(refresh.id, 12, &response, now)
            .expect("the refresh in flight")
    }

    /// What the fetcher would ask at `now`, with no broker failing and no
    /// fetch in flight (and the partitions asked are marked in flight).
    fn plan_at(shared: &Shared, snapshot: &MetadataSnapshot, now: Instant) -> Plan {
        plan(
            &mut shared.lock(),
            snapshot,
            &shared.config,
            &HashMap::new(),
            &HashMap::new(),
            now,
        )
    }

    /// What a plan asks: validations, then resets, then fetches.
    fn asked(plan: &Plan) -> Vec<(&'static str, TopicPartition)> {
        let validations = plan.validations.values().flatten().map(|v| &v.tp);
        let resets = plan.resets.values().flatten().map(|(tp, _)| tp);
        let fetches = plan.fetches.values().flat_map(BTreeMap::keys);
        validations
            .map(|tp| ("validate", tp.clone()))
            .chain(resets.map(|tp| ("reset", tp.clone())))
            .chain(fetches.map(|tp| ("fetch", tp.clone())))
            .collect()
    }

    /// `wait` is the backoff `full` less its jitter (up to 20% off).
    fn assert_within_backoff(wait: Duration, full: Duration) {
        assert!(
            wait <= full && wait + Duration::from_micros(1) >= full.mul_f64(0.8),
            "waited {wait:?}, the backoff is {full:?} less up to 20%"
        );
    }

    /// A Fetch answer refusing `tp` with `code`.
    fn refused(tp: &TopicPartition, code: ErrorCode) -> FetchResponse {
        answer(
            tp,
            PartitionData {
                error_code: code.code(),
                high_watermark: -1,
                ..Default::default()
            },
        )
    }

    /// A Fetch answer for `tp` with nothing new: no error, no records.
    fn nothing_new(tp: &TopicPartition) -> FetchResponse {
        answer(
            tp,
            PartitionData {
                high_watermark: 10,
                ..Default::default()
            },
        )
    }

    /// Fetches `t-0` at `now` and answers with `code`; returns the wait
    /// before it may be fetched again, checked against what the fetcher
    /// asks just before that (nothing of it) and when it says to wake up.
    fn fetch_refused(
        shared: &Shared,
        leaders: &MetadataSnapshot,
        code: ErrorCode,
        now: Instant,
    ) -> Duration {
        let tp = TopicPartition::new("t", 0);
        let sent = plan_at(shared, leaders, now);
        assert!(asked(&sent).contains(&("fetch", tp.clone())), "{sent:?}");
        let offset = shared.lock().partitions[&tp].position.unwrap();
        handle_fetch(
            shared,
            &[(tp.clone(), 0, offset)],
            &HashMap::new(),
            refused(&tp, code),
            false,
            now,
        );
        let until = shared.lock().partitions[&tp]
            .retry
            .expect("backing off")
            .until;
        let waiting = plan_at(shared, leaders, until - MS);
        assert!(
            !asked(&waiting).iter().any(|(_, asked)| *asked == tp),
            "{code}: asked again {:?} after the error",
            until - MS - now
        );
        assert_eq!(waiting.wake_at, Some(until), "{code}");
        until - now
    }

    #[tokio::test]
    async fn repeated_retriable_fetch_errors_are_spaced_by_a_growing_capped_backoff() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                position: Some(10),
                ..Default::default()
            },
        );
        // The leader answers the same way whatever the metadata says.
        let leaders = snapshot(&[(0, 1, 5)]);
        let (first, max) = (shared.config.retry_backoff, shared.config.retry_backoff_max);
        assert_eq!((first, max), (100 * MS, 1000 * MS), "the defaults");
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for code in [
            ErrorCode::UNKNOWN_LEADER_EPOCH,
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::OFFSET_NOT_AVAILABLE,
            ErrorCode::REPLICA_NOT_AVAILABLE,
            ErrorCode::KAFKA_STORAGE_ERROR,
            ErrorCode::LEADER_NOT_AVAILABLE,
            ErrorCode::UNKNOWN_LEADER_EPOCH,
        ] {
            let wait = fetch_refused(&shared, &leaders, code, now);
            waits.push(wait);
            now += wait;
        }
        for (wait, full) in waits.iter().zip([100, 200, 400, 800, 1000, 1000, 1000]) {
            assert_within_backoff(*wait, full * MS);
        }
        assert_eq!(shared.lock().partitions[&tp].retry.unwrap().attempts, 7);
        assert!(shared.lock().errors.is_empty(), "retriable: not reported");
    }

    #[tokio::test]
    async fn an_answer_without_error_forgets_the_backoff() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                position: Some(10),
                ..Default::default()
            },
        );
        let leaders = snapshot(&[(0, 1, 5)]);
        let mut now = Instant::now();
        for _ in 0..3 {
            now += fetch_refused(&shared, &leaders, ErrorCode::UNKNOWN_LEADER_EPOCH, now);
        }
        // The fourth fetch is answered with nothing new, and no error.
        assert_eq!(
            asked(&plan_at(&shared, &leaders, now)),
            [("fetch", tp.clone())]
        );
        handle_fetch(
            &shared,
            &[(tp.clone(), 0, 10)],
            &HashMap::new(),
            nothing_new(&tp),
            false,
            now,
        );
        assert_eq!(shared.lock().partitions[&tp].retry, None);
        // The next error waits the first backoff again.
        let wait = fetch_refused(&shared, &leaders, ErrorCode::UNKNOWN_LEADER_EPOCH, now);
        assert_within_backoff(wait, 100 * MS);
        now += wait;
        now += fetch_refused(&shared, &leaders, ErrorCode::UNKNOWN_LEADER_EPOCH, now);
        // An incremental answer that leaves the partition out (nothing new
        // for it) is an answer without error too.
        assert_eq!(
            asked(&plan_at(&shared, &leaders, now)),
            [("fetch", tp.clone())]
        );
        handle_fetch(
            &shared,
            &[(tp.clone(), 0, 10)],
            &HashMap::new(),
            FetchResponse::default(),
            false,
            now,
        );
        assert_eq!(shared.lock().partitions[&tp].retry, None);
        assert_eq!(
            asked(&plan_at(&shared, &leaders, now)),
            [("fetch", tp.clone())]
        );
    }

    #[tokio::test]
    async fn a_partition_in_backoff_does_not_hold_back_the_others_of_its_broker() {
        let shared = shared();
        let [t0, t1, t2] = [0, 1, 2].map(|p| TopicPartition::new("t", p));
        {
            let mut state = shared.lock();
            for tp in [&t0, &t1] {
                state.partitions.insert(
                    tp.clone(),
                    PartitionState {
                        position: Some(10),
                        ..Default::default()
                    },
                );
            }
            // t-2 has no position yet: it is reset first.
            state
                .partitions
                .insert(t2.clone(), PartitionState::default());
        }
        // One broker leads all three.
        let leaders = snapshot(&[(0, 1, 5), (1, 1, 5), (2, 1, 5)]);
        let now = Instant::now();
        let sent = plan_at(&shared, &leaders, now);
        assert_eq!(
            asked(&sent),
            [
                ("reset", t2.clone()),
                ("fetch", t0.clone()),
                ("fetch", t1.clone())
            ]
        );
        // t-0 is refused, t-1 has nothing new yet; t-2's reset fails too.
        let mut fetched = refused(&t0, ErrorCode::NOT_LEADER_OR_FOLLOWER);
        fetched.responses[0].partitions.push(PartitionData {
            partition_index: 1,
            high_watermark: 10,
            ..Default::default()
        });
        handle_fetch(
            &shared,
            &[(t0.clone(), 0, 10), (t1.clone(), 0, 10)],
            &HashMap::new(),
            fetched,
            false,
            now,
        );
        handle_reset(
            &shared,
            &[(t2.clone(), 0)],
            &reset_answer(&t2, ErrorCode::OFFSET_NOT_AVAILABLE, -1),
            now,
        );
        // At once, the broker is asked for t-1 alone.
        let next = plan_at(&shared, &leaders, now);
        assert_eq!(asked(&next), [("fetch", t1.clone())]);
        let until = {
            let state = shared.lock();
            let t0_until = state.partitions[&t0].retry.unwrap().until;
            let t2_until = state.partitions[&t2].retry.unwrap().until;
            t0_until.min(t2_until)
        };
        assert_eq!(
            next.wake_at,
            Some(until),
            "woken for the first backoff's end"
        );
        // And the others come back once their backoff is over.
        handle_fetch(
            &shared,
            &[(t1.clone(), 0, 10)],
            &HashMap::new(),
            nothing_new(&t1),
            false,
            now,
        );
        let later = now + 100 * MS;
        assert_eq!(
            asked(&plan_at(&shared, &leaders, later)),
            [
                ("reset", t2.clone()),
                ("fetch", t0.clone()),
                ("fetch", t1.clone())
            ]
        );
    }

    fn reset_answer(tp: &TopicPartition, code: ErrorCode, offset: i64) -> ListOffsetsResponse {
        ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: tp.topic.clone(),
                partitions: vec![ListOffsetsPartitionResponse {
                    partition_index: tp.partition,
                    error_code: code.code(),
                    offset,
                    leader_epoch: if offset >= 0 { 5 } else { -1 },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_reset_that_fails_backs_off_until_it_is_answered() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        shared
            .lock()
            .partitions
            .insert(tp.clone(), PartitionState::default());
        let leaders = snapshot(&[(0, 1, 5)]);
        let mut now = Instant::now();
        let answers = [
            reset_answer(&tp, ErrorCode::NOT_LEADER_OR_FOLLOWER, -1),
            reset_answer(&tp, ErrorCode::OFFSET_NOT_AVAILABLE, -1),
            // The partition left out of the answer.
            ListOffsetsResponse::default(),
        ];
        for (answer, full) in answers.iter().zip([100, 200, 400]) {
            assert_eq!(
                asked(&plan_at(&shared, &leaders, now)),
                [("reset", tp.clone())]
            );
            handle_reset(&shared, &[(tp.clone(), 0)], answer, now);
            let until = shared.lock().partitions[&tp].retry.unwrap().until;
            assert_within_backoff(until - now, full * MS);
            let waiting = plan_at(&shared, &leaders, until - MS);
            assert!(asked(&waiting).is_empty(), "{waiting:?}");
            assert_eq!(waiting.wake_at, Some(until));
            now = until;
        }
        assert_eq!(
            asked(&plan_at(&shared, &leaders, now)),
            [("reset", tp.clone())]
        );
        handle_reset(
            &shared,
            &[(tp.clone(), 0)],
            &reset_answer(&tp, ErrorCode::NONE, 42),
            now,
        );
        let state = shared.lock();
        let p = &state.partitions[&tp];
        assert_eq!((p.position, p.last_epoch), (Some(42), Some(5)));
        assert_eq!(p.retry, None);
        assert!(state.errors.is_empty(), "{:?}", state.errors);
    }

    #[tokio::test]
    async fn a_partition_whose_leader_moved_is_asked_at_once_despite_its_backoff() {
        let shared = shared();
        let tp = TopicPartition::new("t", 0);
        shared.lock().partitions.insert(
            tp.clone(),
            PartitionState {
                position: Some(10),
                ..Default::default()
            },
        );
        let old = snapshot(&[(0, 1, 5)]);
        let mut now = Instant::now();
        let mut wait = Duration::ZERO;
        for _ in 0..4 {
            now += wait;
            wait = fetch_refused(&shared, &old, ErrorCode::NOT_LEADER_OR_FOLLOWER, now);
        }
        assert!(wait > 500 * MS, "{wait:?}");
        let meanwhile = now + wait / 2;
        // The same leader, at the same epoch: still waiting.
        assert!(asked(&plan_at(&shared, &old, meanwhile)).is_empty());
        // Another broker leads now, or the same one at a newer epoch: the
        // old leader's refusal says nothing of it.
        for moved in [snapshot(&[(0, 2, 6)]), snapshot(&[(0, 1, 6)])] {
            let sent = plan_at(&shared, &moved, meanwhile);
            assert_eq!(asked(&sent), [("fetch", tp.clone())]);
            shared.lock().partitions.get_mut(&tp).unwrap().in_flight = false;
        }
    }
}
