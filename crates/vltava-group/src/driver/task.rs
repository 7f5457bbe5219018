//! The driver's task: one loop around one member machine, its requests in
//! a `JoinSet`, the handle's commands, metadata snapshots and the
//! machine's deadline.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::Instrument;
use vltava_meta::{MetadataClient, MetadataSnapshot, RefreshReason};
use vltava_net::{Backoff, BrokerPool, Jitter, NetError, Purpose, Recovery};
use vltava_wire::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use vltava_wire::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use vltava_wire::{ApiKey, ErrorCode};

use super::{Command, GroupError, Shared};
use crate::assignor::Assignor;
use crate::classic::{self, GroupRequest, GroupResponse, MemberState, Target};
use crate::consumer_protocol::{self, Action, MetadataWanted, Outcome};
use crate::offsets::{CommitId, CommitIdentity, CommitOffset, CommitOutcome, CommitTracker};
use crate::{
    ClassicMember, ConsumerMember, GroupConfig, GroupEvent, GroupProtocol, TopicPartition,
    TopicPattern,
};

/// How long a lookup waits for a first broker to be known.
const FIRST_BROKER_WAIT: Duration = Duration::from_secs(10);
/// How long a classic leader waits for metadata of topics the snapshot
/// does not name before it assigns with what it knows.
const METADATA_WAIT: Duration = Duration::from_secs(5);

/// The member machine the driver runs.
pub(crate) enum Machine {
    Classic(Box<ClassicMember>),
    Consumer(Box<ConsumerMember>),
}

impl Machine {
    pub(crate) fn new(
        config: &GroupConfig,
        assignors: &[Arc<dyn Assignor>],
        topics: &[String],
        seed: u64,
    ) -> Result<Self, GroupError> {
        match config.protocol {
            GroupProtocol::Consumer => {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&seed.to_le_bytes());
                id[8..].copy_from_slice(
                    &seed
                        .rotate_left(29)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .to_le_bytes(),
                );
                ConsumerMember::new(config, topics.iter().cloned(), id, seed)
                    .map(|m| Self::Consumer(Box::new(m)))
                    .map_err(GroupError::Consumer)
            }
            _ => Self::classic(config, assignors, topics, seed),
        }
    }

    fn classic(
        config: &GroupConfig,
        assignors: &[Arc<dyn Assignor>],
        topics: &[String],
        seed: u64,
    ) -> Result<Self, GroupError> {
        let mut config = config.clone();
        config.protocol = GroupProtocol::Classic;
        let mut member =
            ClassicMember::new(config, assignors.to_vec(), seed).map_err(GroupError::Config)?;
        member.subscribe(topics.iter().cloned());
        Ok(Self::Classic(Box::new(member)))
    }

    pub(crate) fn protocol(&self) -> GroupProtocol {
        match self {
            Self::Classic(_) => GroupProtocol::Classic,
            Self::Consumer(_) => GroupProtocol::Consumer,
        }
    }

    fn coordinator(&self) -> Option<(i32, String)> {
        match self {
            Self::Classic(m) => m.coordinator().map(|c| (c.node_id, c.address.clone())),
            Self::Consumer(m) => m.coordinator().map(|c| (c.node_id, c.address.clone())),
        }
    }

    /// An offsets request to the coordinator at `address` found it gone
    /// or moved: the member finds it again.
    fn coordinator_unavailable(&mut self, now: Instant, address: &str, cause: &str) {
        match self {
            Self::Classic(m) => m.coordinator_unavailable(now, address, cause),
            Self::Consumer(m) => m.coordinator_unavailable(address, cause),
        }
    }

    fn identity(&self, config: &GroupConfig) -> CommitIdentity {
        match self {
            Self::Classic(m) => CommitIdentity::Classic {
                generation: m.generation(),
                member_id: m.member_id().to_owned(),
                group_instance_id: config.group_instance_id.clone(),
            },
            Self::Consumer(m) => CommitIdentity::Consumer {
                member_epoch: m.member_epoch(),
                member_id: m.member_id().to_owned(),
            },
        }
    }
}

/// What a request the task sent came back with.
enum Done {
    Classic {
        id: classic::RequestId,
        broker: String,
        result: Result<GroupResponse, NetError>,
    },
    Find {
        id: consumer_protocol::RequestId,
        broker: String,
        result: Result<FindCoordinatorResponse, NetError>,
    },
    Heartbeat {
        id: consumer_protocol::RequestId,
        broker: String,
        result: Result<ConsumerGroupHeartbeatResponse, NetError>,
    },
    Commit {
        op: u64,
        commit: CommitId,
        broker: String,
        result: Result<OffsetCommitResponse, NetError>,
    },
    Fetch {
        op: u64,
        broker: String,
        result: Result<OffsetFetchResponse, NetError>,
    },
}

type CommitReply = oneshot::Sender<Result<CommitOutcome, GroupError>>;
type FetchReply =
    oneshot::Sender<Result<BTreeMap<TopicPartition, Option<CommitOffset>>, GroupError>>;

/// A commit or an offset read, retried until it is done or its deadline.
struct Op {
    kind: OpKind,
    deadline: Instant,
    retry_at: Instant,
    in_flight: bool,
    attempts: u32,
    last: Option<String>,
}

enum OpKind {
    Commit {
        /// What is still to commit.
        offsets: BTreeMap<TopicPartition, CommitOffset>,
        outcome: CommitOutcome,
        last_code: Option<ErrorCode>,
        reply: Option<CommitReply>,
    },
    Fetch {
        /// What is still to read.
        partitions: Vec<TopicPartition>,
        got: BTreeMap<TopicPartition, Option<CommitOffset>>,
        reply: Option<FetchReply>,
    },
}

/// What the handle hands the task at the start.
pub(crate) struct Start {
    pub(crate) meta: MetadataClient,
    pub(crate) config: GroupConfig,
    pub(crate) assignors: Vec<Arc<dyn Assignor>>,
    pub(crate) topics: Vec<String>,
    pub(crate) pattern: Option<TopicPattern>,
    pub(crate) machine: Machine,
    pub(crate) shared: Arc<Shared>,
    pub(crate) events: mpsc::UnboundedSender<GroupEvent>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) auto_ack: bool,
    pub(crate) offsets_timeout: Duration,
    pub(crate) seed: u64,
}

pub(crate) struct Driver {
    meta: MetadataClient,
    pool: BrokerPool,
    config: GroupConfig,
    assignors: Vec<Arc<dyn Assignor>>,
    topics: Vec<String>,
    /// A pattern subscription: `topics` follows what of the metadata matches.
    pattern: Option<TopicPattern>,
    /// The snapshot version the pattern was last matched against.
    pattern_version: u64,
    machine: Machine,
    tracker: CommitTracker,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<GroupEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
    auto_ack: bool,
    offsets_timeout: Duration,
    tasks: JoinSet<Done>,
    /// Requests of the machine on the wire.
    machine_in_flight: usize,
    /// Revocations delivered and not acknowledged yet, oldest first.
    revocations: VecDeque<Vec<TopicPartition>>,
    leaving: bool,
    ops: BTreeMap<u64, Op>,
    next_op: u64,
    /// The snapshot version last handed to the machine.
    fed_version: u64,
    /// When the classic member's metadata need was first seen.
    metadata_asked: Option<Instant>,
    backoff: Backoff,
    jitter: Jitter,
    /// Brokers whose last request failed at the transport, or a
    /// coordinator unheard for a session timeout, and when: a coordinator
    /// lookup goes to another broker first.
    unreachable: HashMap<String, Instant>,
}

impl Driver {
    pub(crate) fn new(start: Start) -> Self {
        let backoff = Backoff::new(start.config.retry_backoff, start.config.retry_backoff_max);
        Self {
            pool: start.meta.pool().clone(),
            meta: start.meta,
            tracker: CommitTracker::new(start.config.group_id.clone()),
            config: start.config,
            assignors: start.assignors,
            topics: start.topics,
            pattern: start.pattern,
            pattern_version: 0,
            machine: start.machine,
            shared: start.shared,
            events: start.events,
            commands: start.commands,
            auto_ack: start.auto_ack,
            offsets_timeout: start.offsets_timeout,
            tasks: JoinSet::new(),
            machine_in_flight: 0,
            revocations: VecDeque::new(),
            leaving: false,
            ops: BTreeMap::new(),
            next_op: 0,
            fed_version: 0,
            metadata_asked: None,
            backoff,
            jitter: Jitter::seeded(start.seed),
            unreachable: HashMap::new(),
        }
    }

    /// Runs until the member has ended or the handle is gone.
    pub(crate) async fn run(mut self) {
        let mut snapshots = self.meta.watch();
        let mut watching = true;
        loop {
            let now = Instant::now();
            let wake = self.step(now);
            self.publish();
            if self.finished() {
                self.end();
                return;
            }
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = self.commands.recv() => match command {
                    // The handle is gone: stop, with whatever is in flight.
                    None => return,
                    Some(command) => self.command(command),
                },
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    if let Ok(done) = done {
                        self.done(done);
                    }
                }
                changed = snapshots.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                    }
                }
                () = sleep => {}
            }
        }
    }

    // ------------------------------------------------------------ stepping

    /// Moves the machine on as far as it goes now; returns when to come back.
    fn step(&mut self, now: Instant) -> Option<Instant> {
        self.fall_back_if_asked();
        self.follow_pattern();
        let wake = match &self.machine {
            Machine::Classic(_) => self.step_classic(now),
            Machine::Consumer(_) => self.step_consumer(now),
        };
        let ops = self.step_ops(now);
        earliest(wake, ops)
    }

    fn step_classic(&mut self, now: Instant) -> Option<Instant> {
        let Machine::Classic(member) = &mut self.machine else {
            return None;
        };
        let coordinator = member.coordinator().map(|c| c.address.clone());
        member.handle_timeout(now);
        if let Some(address) = coordinator
            && member.coordinator().is_none()
        {
            // Unheard for a whole session timeout, with its request still
            // in flight: a coordinator frozen, not refused. Look it up
            // elsewhere first (Java's lookup goes to the least loaded
            // node, which the frozen one, with a request pending, is not):
            // asked again, a frozen coordinator answers only when it
            // thaws, and then still names itself.
            self.unreachable.insert(address, now);
        }
        self.feed_classic_metadata(now);
        // Events first: a revocation holds back the JoinGroup after it
        // (but not the coordinator's lookup, which its commit may need).
        self.forward_events();
        let held = !self.revocations.is_empty() && !self.leaving;
        let Machine::Classic(member) = &mut self.machine else {
            return None;
        };
        member.hold_join(held);
        let request = member.poll_request(now);
        if let Some(out) = request {
            self.send_classic(out);
        }
        self.forward_events();
        let Machine::Classic(member) = &self.machine else {
            return None;
        };
        let timeout = member.poll_timeout();
        let metadata = self.metadata_asked.map(|at| (at + METADATA_WAIT).max(now));
        earliest(timeout, metadata)
    }

    /// Partition counts for the classic member: when it asks, and for a
    /// leader whenever the snapshot changes (so that it notices new
    /// partitions).
    fn feed_classic_metadata(&mut self, now: Instant) {
        let Machine::Classic(member) = &mut self.machine else {
            return;
        };
        let snapshot = self.meta.snapshot();
        let wants = member.needs_metadata();
        let changed = snapshot.version() != self.fed_version;
        if !(wants || (changed && member.is_leader())) {
            self.metadata_asked = None;
            return;
        }
        let topics = member.metadata_topics();
        if wants && self.metadata_asked.is_none() {
            self.metadata_asked = Some(now);
            self.meta.add_topics(topics.iter().cloned());
            self.meta.request_refresh(RefreshReason::Explicit);
        }
        let complete = topics.iter().all(|t| snapshot.topic(t).is_some());
        let waited_enough = self
            .metadata_asked
            .is_some_and(|at| now >= at + METADATA_WAIT);
        if complete || waited_enough {
            let counts: Vec<(String, u32)> = topics
                .iter()
                .filter_map(|t| {
                    let topic = snapshot.topic(t)?;
                    Some((t.clone(), u32::try_from(topic.partition_count()).ok()?))
                })
                .collect();
            member.handle_metadata(now, counts);
            self.fed_version = snapshot.version();
            self.metadata_asked = None;
        }
    }

    fn step_consumer(&mut self, now: Instant) -> Option<Instant> {
        let snapshot = self.meta.snapshot();
        let Machine::Consumer(member) = &mut self.machine else {
            return None;
        };
        if snapshot.version() != self.fed_version {
            member.handle_snapshot(&snapshot);
            self.fed_version = snapshot.version();
        }
        self.forward_events();
        loop {
            let Machine::Consumer(member) = &mut self.machine else {
                return None;
            };
            let Some(action) = member.poll_action(now) else {
                break;
            };
            match action {
                Action::FindCoordinator(call) => self.send_find(call),
                Action::Heartbeat(call) => self.send_heartbeat(*call),
                Action::RefreshMetadata(MetadataWanted::TopicIds(_)) => {
                    member.handle_snapshot(&snapshot);
                    self.meta.request_refresh(RefreshReason::Explicit);
                }
                Action::RefreshMetadata(_) => self.meta.request_refresh(RefreshReason::Explicit),
            }
            self.forward_events();
        }
        self.forward_events();
        let Machine::Consumer(member) = &self.machine else {
            return None;
        };
        member.deadline(now)
    }

    /// A pattern subscription matches each new snapshot; when the set of
    /// matching topics changed, the machine subscribes to the new set.
    fn follow_pattern(&mut self) {
        let Some(pattern) = &self.pattern else {
            return;
        };
        let snapshot = self.meta.snapshot();
        // Before the first answer the snapshot is empty: that is not "no
        // topic matches any more".
        if snapshot.version() == self.pattern_version || snapshot.is_empty() {
            return;
        }
        self.pattern_version = snapshot.version();
        let matched = pattern.matching(&snapshot);
        if matched == self.topics {
            return;
        }
        tracing::info!(
            group = %self.config.group_id,
            pattern = %pattern,
            topics = ?matched,
            "the topics matching the subscription changed; subscribing again"
        );
        self.topics = matched.clone();
        match &mut self.machine {
            Machine::Classic(m) => m.subscribe(matched),
            Machine::Consumer(m) => m.subscribe(matched),
        }
    }

    /// A KIP-848 member that ended with `FallBackToClassic` is replaced by
    /// a classic member with the same configuration and subscription.
    fn fall_back_if_asked(&mut self) {
        let Machine::Consumer(member) = &self.machine else {
            return;
        };
        let Some(Outcome::FallBackToClassic { reason }) = member.outcome() else {
            return;
        };
        let reason = reason.clone();
        // What it reported before ending (partitions lost) goes first.
        self.forward_events();
        match Machine::classic(
            &self.config,
            &self.assignors,
            &self.topics,
            self.jitter.next_u64(),
        ) {
            Ok(classic) => {
                self.machine = classic;
                self.fed_version = 0;
                self.emit(GroupEvent::FellBackToClassic { reason });
            }
            Err(error) => {
                let error = match error {
                    GroupError::Config(e) => GroupError::Config(format!(
                        "the coordinator does not speak KIP-848 ({reason}) and the classic fallback cannot start: {e}"
                    )),
                    other => other,
                };
                self.shared.view().error = Some(error);
                self.shared.view().ended = true;
            }
        }
    }

    /// Hands the machine's events to the application, keeping the tracker
    /// in step: assigned partitions may be committed, lost ones never.
    fn forward_events(&mut self) {
        loop {
            let event = match &mut self.machine {
                Machine::Classic(m) => m.poll_event(),
                Machine::Consumer(m) => m.poll_event(),
            };
            let Some(event) = event else {
                return;
            };
            match &event {
                GroupEvent::Assigned(partitions) => self.tracker.assigned(partitions),
                GroupEvent::Lost(partitions) => self.tracker.lost(partitions),
                GroupEvent::Revoked(partitions) => {
                    self.revocations.push_back(partitions.clone());
                }
                _ => {}
            }
            let revoked = matches!(event, GroupEvent::Revoked(_));
            self.emit(event);
            if revoked && (self.auto_ack || self.leaving) {
                self.ack_revoked();
            }
        }
    }

    fn emit(&self, event: GroupEvent) {
        trace_event(&self.config.group_id, &event);
        // The receiver lives in the handle; when it is gone the task is too.
        let _ = self.events.send(event);
    }

    fn ack_revoked(&mut self) {
        let Some(partitions) = self.revocations.pop_front() else {
            return;
        };
        self.tracker.revoked(&partitions);
        if let Machine::Consumer(member) = &mut self.machine {
            member.ack_revoked();
        }
    }

    // ------------------------------------------------------------ sending

    fn send_classic(&mut self, out: classic::OutboundRequest) {
        let pool = self.pool.clone();
        let id = out.id;
        self.machine_in_flight += 1;
        let span = tracing::debug_span!(
            "group_request",
            group = %self.config.group_id,
            api = ?out.request.api_key(),
        );
        match out.target {
            Target::Coordinator(coordinator) => {
                let broker = coordinator.address;
                self.tasks.spawn(
                    async move {
                        let result = send_group(&pool, &broker, Purpose::Group, out.request).await;
                        if let Err(error) = &result {
                            tracing::debug!(broker = %broker, error = %error, "group request failed");
                        }
                        Done::Classic { id, broker, result }
                    }
                    .instrument(span),
                );
            }
            _ => {
                let meta = self.meta.clone();
                let avoid = self.unreachable.clone();
                let span = tracing::info_span!("find_coordinator", group = %self.config.group_id);
                self.tasks.spawn(async move {
                    let broker = match any_broker(&meta, &avoid).await {
                        Ok(broker) => broker,
                        Err(error) => {
                            return Done::Classic {
                                id,
                                broker: String::new(),
                                result: Err(error),
                            };
                        }
                    };
                    tracing::debug!(broker = %broker, "looking the coordinator up");
                    let result = send_group(&pool, &broker, Purpose::Control, out.request).await;
                    if let Err(error) = &result {
                        tracing::debug!(broker = %broker, error = %error, "coordinator lookup failed");
                    }
                    Done::Classic { id, broker, result }
                }.instrument(span));
            }
        }
    }

    fn send_find(&mut self, call: consumer_protocol::FindCoordinatorCall) {
        let pool = self.pool.clone();
        let meta = self.meta.clone();
        let avoid = self.unreachable.clone();
        self.machine_in_flight += 1;
        let span = tracing::info_span!("find_coordinator", group = %self.config.group_id);
        self.tasks.spawn(
            async move {
                let id = call.id;
                let broker = match any_broker(&meta, &avoid).await {
                    Ok(broker) => broker,
                    Err(error) => {
                        return Done::Find {
                            id,
                            broker: String::new(),
                            result: Err(error),
                        };
                    }
                };
                tracing::debug!(broker = %broker, "looking the coordinator up");
                let result = async {
                    let connection = pool.connection(&broker, Purpose::Control).await?;
                    let version = connection.version_for(ApiKey::FindCoordinator)?;
                    connection.send_at(version, call.to_request(version)).await
                }
                .await;
                if let Err(error) = &result {
                    tracing::debug!(broker = %broker, error = %error, "coordinator lookup failed");
                }
                Done::Find { id, broker, result }
            }
            .instrument(span),
        );
    }

    fn send_heartbeat(&mut self, call: consumer_protocol::HeartbeatCall) {
        let pool = self.pool.clone();
        self.machine_in_flight += 1;
        let broker = call.coordinator.address.clone();
        let span = tracing::debug_span!(
            "group_request",
            group = %self.config.group_id,
            api = ?ApiKey::ConsumerGroupHeartbeat,
        );
        self.tasks.spawn(
            async move {
                let result = send_heartbeat(&pool, &broker, call.request).await;
                if let Err(error) = &result {
                    tracing::debug!(broker = %broker, error = %error, "group request failed");
                }
                Done::Heartbeat {
                    id: call.id,
                    broker,
                    result,
                }
            }
            .instrument(span),
        );
    }

    // ------------------------------------------------------------ answers

    /// A request to `broker` failed: the metadata client hears of a
    /// transport failure, and lookups try other brokers first.
    fn broker_failed(&mut self, broker: &str, error: &NetError) {
        if Recovery::of_net(error).refreshes_metadata() && !broker.is_empty() {
            self.meta.report_transport_failure(broker);
            self.unreachable.insert(broker.to_owned(), Instant::now());
        }
    }

    fn done(&mut self, done: Done) {
        let now = Instant::now();
        let answered = match &done {
            Done::Classic { broker, result, .. } => result.is_ok().then_some(broker),
            Done::Find { broker, result, .. } => result.is_ok().then_some(broker),
            Done::Heartbeat { broker, result, .. } => result.is_ok().then_some(broker),
            Done::Commit { broker, result, .. } => result.is_ok().then_some(broker),
            Done::Fetch { broker, result, .. } => result.is_ok().then_some(broker),
        };
        if let Some(broker) = answered {
            self.unreachable.remove(broker);
        }
        match done {
            Done::Classic { id, broker, result } => {
                self.machine_in_flight = self.machine_in_flight.saturating_sub(1);
                if let Err(error) = &result {
                    self.broker_failed(&broker, error);
                }
                let Machine::Classic(member) = &mut self.machine else {
                    return;
                };
                match result {
                    Ok(response) => {
                        member.handle_response(now, id, response);
                    }
                    Err(error) => {
                        member.handle_failure(now, id, &error);
                    }
                }
            }
            Done::Find { id, broker, result } => {
                self.machine_in_flight = self.machine_in_flight.saturating_sub(1);
                if let Err(error) = &result {
                    self.broker_failed(&broker, error);
                }
                let Machine::Consumer(member) = &mut self.machine else {
                    return;
                };
                match result {
                    Ok(response) => {
                        member.handle_find_coordinator(id, &response, now);
                    }
                    Err(error) => {
                        member.handle_failure(id, &error, now);
                    }
                }
            }
            Done::Heartbeat { id, broker, result } => {
                self.machine_in_flight = self.machine_in_flight.saturating_sub(1);
                if let Err(error) = &result {
                    self.broker_failed(&broker, error);
                }
                let Machine::Consumer(member) = &mut self.machine else {
                    return;
                };
                match result {
                    Ok(response) => {
                        member.handle_heartbeat(id, &response, now);
                    }
                    Err(error) => {
                        member.handle_failure(id, &error, now);
                    }
                }
            }
            Done::Commit {
                op,
                commit,
                broker,
                result,
            } => self.commit_done(now, op, commit, &broker, result),
            Done::Fetch { op, broker, result } => self.fetch_done(now, op, &broker, result),
        }
    }

    // ------------------------------------------------------------ commands

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::AckRevoked => self.ack_revoked(),
            Command::Leave => {
                self.leaving = true;
                match &mut self.machine {
                    Machine::Classic(m) => m.leave(now),
                    Machine::Consumer(m) => m.leave(),
                }
                // Revocations the application has not acknowledged yet
                // are acknowledged now: it is leaving.
                while !self.revocations.is_empty() {
                    self.ack_revoked();
                }
            }
            Command::Commit { offsets, reply } => {
                if let Some(error) = self.ended_error() {
                    let _ = reply.send(Err(error));
                    return;
                }
                self.add_op(
                    now,
                    OpKind::Commit {
                        offsets,
                        outcome: CommitOutcome::default(),
                        last_code: None,
                        reply: Some(reply),
                    },
                );
            }
            Command::Committed { partitions, reply } => {
                if let Some(error) = self.ended_error() {
                    let _ = reply.send(Err(error));
                    return;
                }
                self.add_op(
                    now,
                    OpKind::Fetch {
                        partitions,
                        got: BTreeMap::new(),
                        reply: Some(reply),
                    },
                );
            }
        }
    }

    fn add_op(&mut self, now: Instant, kind: OpKind) {
        let id = self.next_op;
        self.next_op += 1;
        self.ops.insert(
            id,
            Op {
                kind,
                deadline: now + self.offsets_timeout,
                retry_at: now,
                in_flight: false,
                attempts: 0,
                last: None,
            },
        );
    }

    // ------------------------------------------------------------ offsets

    /// Sends the offset operations that are due; returns when the next one
    /// is (a retry or a deadline).
    fn step_ops(&mut self, now: Instant) -> Option<Instant> {
        let coordinator = self.machine.coordinator().map(|(_, address)| address);
        let identity = self.machine.identity(&self.config);
        let mut wake: Option<Instant> = None;
        let ids: Vec<u64> = self.ops.keys().copied().collect();
        for id in ids {
            let Some(op) = self.ops.get_mut(&id) else {
                continue;
            };
            if op.in_flight {
                continue;
            }
            if now >= op.deadline {
                let op = self.ops.remove(&id).expect("present");
                self.time_out(op, coordinator.is_none());
                continue;
            }
            let Some(broker) = coordinator.clone().filter(|_| op.retry_at <= now) else {
                // Waiting for the backoff or for a coordinator: the
                // machine's own progress wakes the loop, the deadline too.
                wake = earliest(
                    wake,
                    Some(op.retry_at.max(now + RETRY_POLL).min(op.deadline)),
                );
                continue;
            };
            match &mut op.kind {
                OpKind::Commit { offsets, .. } => {
                    let Some((commit, request)) = self.tracker.prepare(offsets, &identity) else {
                        let op = self.ops.remove(&id).expect("present");
                        finish(op, None);
                        continue;
                    };
                    op.in_flight = true;
                    let pool = self.pool.clone();
                    self.tasks.spawn(async move {
                        let result = send_commit(&pool, &broker, request).await;
                        Done::Commit {
                            op: id,
                            commit,
                            broker,
                            result,
                        }
                    });
                }
                OpKind::Fetch { partitions, .. } => {
                    op.in_flight = true;
                    let pool = self.pool.clone();
                    let group_id = self.config.group_id.clone();
                    let partitions = partitions.clone();
                    self.tasks.spawn(async move {
                        let result = send_fetch(&pool, &broker, group_id, &partitions).await;
                        Done::Fetch {
                            op: id,
                            broker,
                            result,
                        }
                    });
                }
            }
            wake = earliest(wake, Some(op.deadline));
        }
        wake
    }

    fn commit_done(
        &mut self,
        now: Instant,
        id: u64,
        commit: CommitId,
        broker: &str,
        result: Result<OffsetCommitResponse, NetError>,
    ) {
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                self.tracker.handle_failure(commit);
                self.broker_failed(broker, &error);
                self.offsets_failed(now, broker, Recovery::of_net(&error), || {
                    format!("OffsetCommit to the coordinator ({broker}) failed: {error}")
                });
                self.retry_op(now, id, error.to_string());
                return;
            }
        };
        let answer = self.tracker.handle_response(commit, &response);
        for (code, recovery) in answer.failed.values() {
            self.offsets_failed(now, broker, *recovery, || {
                format!("OffsetCommit to the coordinator ({broker}) answered {code}")
            });
        }
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let OpKind::Commit {
            offsets,
            outcome,
            last_code,
            ..
        } = &mut op.kind
        else {
            return;
        };
        let mut retry = None;
        for (tp, offset) in answer.committed {
            offsets.remove(&tp);
            outcome.failed.remove(&tp);
            outcome.committed.insert(tp, offset);
        }
        for (tp, (code, recovery)) in answer.failed {
            let retriable = match recovery {
                Recovery::Fatal => false,
                // The generation moved on: those partitions may belong to
                // someone else now. Only a rebalance in progress (classic)
                // leaves them ours, to commit with the next generation.
                Recovery::Rejoin => code == ErrorCode::REBALANCE_IN_PROGRESS,
                _ => true,
            };
            if retriable {
                *last_code = Some(code);
                retry = Some(format!("OffsetCommit answered {code}"));
            } else {
                offsets.remove(&tp);
                outcome.failed.insert(tp, (code, recovery));
            }
        }
        match retry {
            Some(cause) if !offsets.is_empty() => self.retry_op(now, id, cause),
            _ => {
                let op = self.ops.remove(&id).expect("present");
                finish(op, None);
            }
        }
    }

    fn fetch_done(
        &mut self,
        now: Instant,
        id: u64,
        broker: &str,
        result: Result<OffsetFetchResponse, NetError>,
    ) {
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                self.broker_failed(broker, &error);
                self.offsets_failed(now, broker, Recovery::of_net(&error), || {
                    format!("OffsetFetch to the coordinator ({broker}) failed: {error}")
                });
                self.retry_op(now, id, error.to_string());
                return;
            }
        };
        let group_code = ErrorCode::from(
            response
                .groups
                .first()
                .map_or(response.error_code, |g| g.error_code),
        );
        if let Some(recovery) = Recovery::of_code(group_code) {
            self.offsets_failed(now, broker, recovery, || {
                format!("OffsetFetch to the coordinator ({broker}) answered {group_code}")
            });
            if recovery == Recovery::Fatal {
                let op = self.ops.remove(&id).expect("present");
                let error = GroupError::Offsets {
                    group_id: self.config.group_id.clone(),
                    api: ApiKey::OffsetFetch,
                    code: group_code,
                };
                finish(op, Some(error));
            } else {
                self.retry_op(now, id, format!("OffsetFetch answered {group_code}"));
            }
            return;
        }
        let fetched = self.tracker.handle_fetch(&response);
        for (_, code) in &fetched.retry {
            if let Some(recovery) = Recovery::of_code(*code) {
                self.offsets_failed(now, broker, recovery, || {
                    format!("OffsetFetch to the coordinator ({broker}) answered {code}")
                });
            }
        }
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let OpKind::Fetch {
            partitions, got, ..
        } = &mut op.kind
        else {
            return;
        };
        for (tp, offset) in fetched.offsets {
            partitions.retain(|p| *p != tp);
            got.insert(tp, offset);
        }
        let mut fatal = None;
        for (_, code) in &fetched.retry {
            if Recovery::of_code(*code) == Some(Recovery::Fatal)
                && *code != ErrorCode::UNSTABLE_OFFSET_COMMIT
            {
                fatal = Some(*code);
            }
        }
        if let Some(code) = fatal {
            let op = self.ops.remove(&id).expect("present");
            let error = GroupError::Offsets {
                group_id: self.config.group_id.clone(),
                api: ApiKey::OffsetFetch,
                code,
            };
            finish(op, Some(error));
            return;
        }
        // Partitions the broker left out or answered with a retriable code.
        if partitions.is_empty() {
            let op = self.ops.remove(&id).expect("present");
            finish(op, None);
        } else {
            let cause = fetched
                .retry
                .first()
                .map(|(tp, code)| format!("OffsetFetch answered {code} for {tp:?}"))
                .unwrap_or_else(|| "OffsetFetch left partitions out".to_owned());
            self.retry_op(now, id, cause);
        }
    }

    /// An offsets request to the coordinator at `broker` failed with
    /// `recovery`: a coordinator unreachable, moved or not available is
    /// found again by the member, whatever it is doing (a classic member
    /// that holds its JoinGroup while the application commits a
    /// revocation would otherwise keep the dead one, and the commit would
    /// wait for it until its deadline).
    fn offsets_failed(
        &mut self,
        now: Instant,
        broker: &str,
        recovery: Recovery,
        cause: impl FnOnce() -> String,
    ) {
        if matches!(recovery, Recovery::Unreachable | Recovery::FindCoordinator) {
            self.machine.coordinator_unavailable(now, broker, &cause());
        }
    }

    fn retry_op(&mut self, now: Instant, id: u64, cause: String) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        op.in_flight = false;
        op.attempts += 1;
        let wait = self.backoff.delay(op.attempts, self.jitter.next());
        tracing::debug!(
            group = %self.config.group_id,
            attempt = op.attempts,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "offsets request to retry: {cause}"
        );
        op.retry_at = now + wait;
        op.last = Some(cause);
    }

    fn time_out(&self, op: Op, no_coordinator: bool) {
        let error = GroupError::Timeout {
            group_id: self.config.group_id.clone(),
            what: match op.kind {
                OpKind::Commit { .. } => "committing offsets",
                OpKind::Fetch { .. } => "reading committed offsets",
            },
            waited: self.offsets_timeout,
            last: op
                .last
                .clone()
                .or_else(|| no_coordinator.then(|| "no coordinator known".to_owned())),
        };
        match op.kind {
            OpKind::Commit {
                offsets,
                mut outcome,
                last_code,
                reply,
            } => {
                // What is still not committed fails with the last code seen.
                let code = last_code.unwrap_or(if no_coordinator {
                    ErrorCode::COORDINATOR_NOT_AVAILABLE
                } else {
                    ErrorCode::REQUEST_TIMED_OUT
                });
                let recovery = Recovery::of_code(code).unwrap_or(Recovery::Retry);
                for tp in offsets.into_keys() {
                    outcome.failed.insert(tp, (code, recovery));
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(outcome));
                }
            }
            OpKind::Fetch { reply, .. } => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(error));
                }
            }
        }
    }

    // ------------------------------------------------------------ ending

    /// Whether the member has ended and nothing it sent is still owed an
    /// answer (a KIP-848 leave heartbeat is waited for).
    fn finished(&self) -> bool {
        if self.shared.view().ended {
            return true;
        }
        match &self.machine {
            Machine::Classic(m) => matches!(m.state(), MemberState::Left | MemberState::Failed),
            Machine::Consumer(m) => match m.outcome() {
                Some(Outcome::Left) => self.machine_in_flight == 0,
                Some(Outcome::FallBackToClassic { .. }) | None => false,
                Some(_) => true,
            },
        }
    }

    fn ended_error(&self) -> Option<GroupError> {
        self.finished().then(|| GroupError::Ended {
            group_id: self.config.group_id.clone(),
            cause: self.fatal_error().map(|e| e.to_string()),
        })
    }

    fn fatal_error(&self) -> Option<GroupError> {
        if let Some(error) = self.shared.view().error.clone() {
            return Some(error);
        }
        match &self.machine {
            Machine::Classic(m) => m.error().cloned().map(GroupError::Classic),
            Machine::Consumer(m) => match m.outcome() {
                Some(Outcome::Failed(error)) => Some(GroupError::Consumer(error.clone())),
                _ => None,
            },
        }
    }

    fn end(&mut self) {
        self.forward_events();
        let error = self.fatal_error();
        {
            let mut view = self.shared.view();
            view.ended = true;
            view.error = error.clone();
        }
        let ended = GroupError::Ended {
            group_id: self.config.group_id.clone(),
            cause: error.map(|e| e.to_string()),
        };
        for (_, op) in std::mem::take(&mut self.ops) {
            finish(op, Some(ended.clone()));
        }
    }

    /// What the handle reads.
    fn publish(&self) {
        let (member_id, generation, assignment) = match &self.machine {
            Machine::Classic(m) => (
                m.member_id().to_owned(),
                m.generation(),
                m.assignment().to_vec(),
            ),
            Machine::Consumer(m) => (m.member_id().to_owned(), m.member_epoch(), m.assignment()),
        };
        let mut view = self.shared.view();
        view.protocol = self.machine.protocol();
        view.member_id = member_id;
        view.generation = generation;
        view.assignment = assignment;
        view.coordinator = self.machine.coordinator();
    }
}

/// Says what happened to the member as a `tracing` event: the recovery
/// paths (session errors with their backoff, lost partitions, coordinator
/// changes, the classic fallback) at `warn`/`info`, the rest at `debug`.
fn trace_event(group: &str, event: &GroupEvent) {
    match event {
        GroupEvent::SessionError { cause, retry_in } => tracing::warn!(
            group,
            retry_in_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            "group session error: {cause}; retrying"
        ),
        GroupEvent::Lost(partitions) => tracing::warn!(
            group,
            partitions = partitions.len(),
            "the membership was lost (session expired or fenced); partitions lost, rejoining"
        ),
        GroupEvent::CoordinatorChanged { node_id, address } => {
            tracing::info!(group, node_id, address = %address, "group coordinator found")
        }
        GroupEvent::FellBackToClassic { reason } => tracing::warn!(
            group,
            "the coordinator does not speak KIP-848 ({reason}); falling back to the classic protocol"
        ),
        GroupEvent::Joined {
            identity,
            protocol,
            assignor,
        } => tracing::info!(
            group,
            member_id = %identity.member_id,
            generation = identity.generation,
            protocol = ?protocol,
            assignor = %assignor,
            "joined the group"
        ),
        GroupEvent::Assigned(partitions) => {
            tracing::debug!(group, partitions = ?partitions, "partitions assigned")
        }
        GroupEvent::Revoked(partitions) => {
            tracing::debug!(group, partitions = ?partitions, "partitions revoked")
        }
        GroupEvent::Left => tracing::info!(group, "left the group"),
    }
}

/// How often an offsets operation waiting for a coordinator looks again.
const RETRY_POLL: Duration = Duration::from_millis(100);

/// Replies to an operation: its result, or `error`.
fn finish(op: Op, error: Option<GroupError>) {
    match op.kind {
        OpKind::Commit { outcome, reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(error.map_or(Ok(outcome), Err));
            }
        }
        OpKind::Fetch { got, reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(error.map_or(Ok(got), Err));
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The known broker with the least dial backoff, those that failed last
/// (`avoid`) after the others, waiting (at most [`FIRST_BROKER_WAIT`]) for
/// the first snapshot when none is known yet.
async fn any_broker(
    meta: &MetadataClient,
    avoid: &HashMap<String, Instant>,
) -> Result<String, NetError> {
    let pool = meta.pool().clone();
    let pick = |snapshot: &MetadataSnapshot| {
        snapshot.brokers().map(|b| b.address()).min_by_key(|a| {
            (
                pool.backoff_remaining(a).unwrap_or_default(),
                avoid.get(a).copied(),
            )
        })
    };
    if let Some(broker) = pick(&meta.snapshot()) {
        return Ok(broker);
    }
    meta.request_refresh(RefreshReason::Explicit);
    let mut snapshots = meta.watch();
    let wait = async {
        loop {
            if let Some(broker) = pick(&snapshots.borrow_and_update()) {
                return Some(broker);
            }
            if snapshots.changed().await.is_err() {
                return None;
            }
        }
    };
    match tokio::time::timeout(FIRST_BROKER_WAIT, wait).await {
        Ok(Some(broker)) => Ok(broker),
        _ => Err(NetError::Dial {
            broker: "(bootstrap)".to_owned(),
            source: io::Error::new(
                io::ErrorKind::NotConnected,
                match meta.last_failure() {
                    Some(failure) => format!("no broker is known yet: {failure}"),
                    None => "no broker is known yet".to_owned(),
                },
            ),
        }),
    }
}

/// Sends a classic member's request at the version negotiated with `broker`.
async fn send_group(
    pool: &BrokerPool,
    broker: &str,
    purpose: Purpose,
    request: GroupRequest,
) -> Result<GroupResponse, NetError> {
    let connection = pool.connection(broker, purpose).await?;
    let version = connection.version_for(request.api_key())?;
    Ok(match request.for_version(version) {
        GroupRequest::FindCoordinator(r) => {
            GroupResponse::FindCoordinator(connection.send_at(version, r).await?)
        }
        GroupRequest::JoinGroup(r) => {
            GroupResponse::JoinGroup(connection.send_at(version, r).await?)
        }
        GroupRequest::SyncGroup(r) => {
            GroupResponse::SyncGroup(connection.send_at(version, r).await?)
        }
        GroupRequest::Heartbeat(r) => {
            GroupResponse::Heartbeat(connection.send_at(version, r).await?)
        }
        GroupRequest::LeaveGroup(r) => {
            GroupResponse::LeaveGroup(connection.send_at(version, r).await?)
        }
    })
}

async fn send_heartbeat(
    pool: &BrokerPool,
    broker: &str,
    request: ConsumerGroupHeartbeatRequest,
) -> Result<ConsumerGroupHeartbeatResponse, NetError> {
    let connection = pool.connection(broker, Purpose::Group).await?;
    // A broker without the API: UnsupportedApi, which the member turns
    // into the classic fallback.
    let version = connection.version_for(ApiKey::ConsumerGroupHeartbeat)?;
    connection.send_at(version, request).await
}

async fn send_commit(
    pool: &BrokerPool,
    broker: &str,
    mut request: OffsetCommitRequest,
) -> Result<OffsetCommitResponse, NetError> {
    let connection = pool.connection(broker, Purpose::Group).await?;
    let version = connection.version_for(ApiKey::OffsetCommit)?;
    if version < 7 {
        request.group_instance_id = None;
    }
    connection.send_at(version, request).await
}

async fn send_fetch(
    pool: &BrokerPool,
    broker: &str,
    group_id: String,
    partitions: &[TopicPartition],
) -> Result<OffsetFetchResponse, NetError> {
    let connection = pool.connection(broker, Purpose::Group).await?;
    let version = connection.version_for(ApiKey::OffsetFetch)?;
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let request = if version >= 8 {
        OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id,
                topics: Some(
                    by_topic
                        .into_iter()
                        .map(|(name, partition_indexes)| OffsetFetchRequestTopics {
                            name: name.to_owned(),
                            partition_indexes,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }],
            require_stable: true,
            ..Default::default()
        }
    } else {
        OffsetFetchRequest {
            group_id,
            topics: Some(
                by_topic
                    .into_iter()
                    .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                        name: name.to_owned(),
                        partition_indexes,
                        ..Default::default()
                    })
                    .collect(),
            ),
            require_stable: version >= 7,
            ..Default::default()
        }
    };
    connection.send_at(version, request).await
}
