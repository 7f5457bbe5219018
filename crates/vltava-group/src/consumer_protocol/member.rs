//! [`ConsumerMember`]: the KIP-848 member state machine. See the [module
//! docs](super) for the rules it follows.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use vltava_meta::MetadataSnapshot;
use vltava_net::{NetError, Recovery};
use vltava_wire::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedTopicPartitions;
use vltava_wire::messages::consumer_group_heartbeat_response::Assignment as WireAssignment;
use vltava_wire::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorRequest,
    FindCoordinatorResponse,
};
use vltava_wire::{ApiKey, ErrorCode, Uuid};

use crate::{GroupConfig, GroupEvent, GroupProtocol, MemberIdentity, TopicPartition};

/// The member epoch of a dynamic member's leave heartbeat.
pub const LEAVE_EPOCH: i32 = -1;
/// The member epoch of a static member's leave heartbeat: the broker keeps
/// its assignment for the session timeout, for the instance to come back.
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// The assignor name reported in [`GroupEvent::Joined`] when the broker
/// picks its default one.
const SERVER_DEFAULT_ASSIGNOR: &str = "server";

/// Identifies one request handed out by [`ConsumerMember::poll_action`];
/// its answer (or failure) is handed back with it. Ids grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// The group coordinator: where heartbeats go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Coordinator {
    /// Its node id.
    pub node_id: i32,
    /// Its address, `host:port`.
    pub address: String,
}

/// A FindCoordinator lookup to send to any broker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FindCoordinatorCall {
    /// The id to hand back with the answer.
    pub id: RequestId,
    /// The group whose coordinator is looked for.
    pub group_id: String,
}

impl FindCoordinatorCall {
    /// The request at `version` (the version negotiated with the broker):
    /// one key up to v3, a batch of one key from v4 (KIP-699).
    pub fn to_request(&self, version: i16) -> FindCoordinatorRequest {
        if version >= 4 {
            FindCoordinatorRequest {
                coordinator_keys: vec![self.group_id.clone()],
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest {
                key: self.group_id.clone(),
                ..Default::default()
            }
        }
    }
}

/// A ConsumerGroupHeartbeat to send to the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeartbeatCall {
    /// The id to hand back with the answer.
    pub id: RequestId,
    /// Where to send it.
    pub coordinator: Coordinator,
    /// The request. It fits every version (no regex subscription).
    pub request: ConsumerGroupHeartbeatRequest,
    /// Whether this is the leave heartbeat, whose answer is not awaited.
    pub leaving: bool,
}

/// Metadata the member wants the driver to refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataWanted {
    /// The target assignment names topic ids the member cannot resolve:
    /// hand their names back with [`ConsumerMember::handle_metadata`] or
    /// [`ConsumerMember::handle_snapshot`].
    TopicIds(Vec<Uuid>),
    /// A broker could not be reached: the cluster may have changed (brokers
    /// gone or moved); refresh it before the next attempt.
    Cluster,
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Look the coordinator up.
    FindCoordinator(FindCoordinatorCall),
    /// Send a heartbeat (boxed: it is much larger than the others).
    Heartbeat(Box<HeartbeatCall>),
    /// Refresh metadata.
    RefreshMetadata(MetadataWanted),
}

/// Where the member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberState {
    /// Not in the group yet: heartbeats carry epoch 0.
    Joining,
    /// In the group, with a target assignment not reached yet (waiting for
    /// metadata or for a revocation to be acknowledged).
    Reconciling,
    /// In the group, owning its whole target assignment.
    Stable,
    /// Leaving: revoking its partitions or waiting to send the leave
    /// heartbeat.
    Leaving,
    /// Done: see [`ConsumerMember::outcome`].
    Finished,
}

/// Why a member cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    /// The configuration cannot work.
    #[error("invalid group configuration: {0}")]
    Config(String),
    /// The broker refused the member with a code retrying cannot help.
    #[error(
        "group `{group}`: the broker refused the member with {code}{}; {}",
        message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default(),
        fatal_advice(*code)
    )]
    Broker {
        /// The group id.
        group: String,
        /// The error code.
        code: ErrorCode,
        /// The broker's message, if it sent one.
        message: Option<String>,
    },
    /// The transport failed in a way retrying cannot help (authentication,
    /// TLS refusal, a request the broker refuses).
    #[error("group `{group}`: {cause}")]
    Transport {
        /// The group id.
        group: String,
        /// What failed.
        cause: String,
    },
}

impl MemberError {
    /// The Kafka error code, when the broker gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

fn fatal_advice(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::GROUP_AUTHORIZATION_FAILED => "grant the principal READ on the group",
        ErrorCode::UNRELEASED_INSTANCE_ID | ErrorCode::FENCED_INSTANCE_ID => {
            "another member uses the same group_instance_id"
        }
        ErrorCode::UNSUPPORTED_ASSIGNOR => "check remote_assignor against the broker's assignors",
        ErrorCode::GROUP_MAX_SIZE_REACHED => "the group is full (group.consumer.max.size)",
        _ => "the member stopped",
    }
}

/// How a member ended. Once it has one, it hands out no more actions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It left the group (the leave heartbeat was handed out, or it had
    /// not joined).
    Left,
    /// A fatal error.
    Failed(MemberError),
    /// The broker does not speak ConsumerGroupHeartbeat: use a classic
    /// member instead.
    FallBackToClassic {
        /// Why.
        reason: String,
    },
}

/// Partitions by topic id.
type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// What the last heartbeat sent; `None` in the member means "send all".
#[derive(Debug, Clone, PartialEq, Eq)]
struct SentFields {
    rebalance_timeout_ms: i32,
    subscription: BTreeSet<String>,
    server_assignor: Option<String>,
    owned: Assignment,
}

/// The heartbeat in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: RequestId,
    /// The epoch it carried.
    epoch: i32,
    /// The join it belongs to.
    join: u64,
}

/// The sans-IO KIP-848 member. See the [module docs](super).
#[derive(Debug)]
pub struct ConsumerMember {
    group_id: String,
    instance_id: Option<String>,
    rack: Option<String>,
    rebalance_timeout_ms: i32,
    server_assignor: Option<String>,
    backoff_base: Duration,
    backoff_max: Duration,

    member_id: String,
    epoch: i32,
    subscription: BTreeSet<String>,
    /// Counts joins: a rejoin starts a new one.
    join: u64,

    coordinator: Option<Coordinator>,
    find_in_flight: Option<RequestId>,
    heartbeat_in_flight: Option<InFlight>,
    next_id: u64,

    /// No request before this (backoff after a failure).
    retry_at: Option<Instant>,
    /// The next regular heartbeat.
    next_heartbeat_at: Option<Instant>,
    heartbeat_interval: Duration,
    /// Consecutive failures.
    failures: u32,
    sent: Option<SentFields>,

    owned: Assignment,
    /// The latest target assignment of this join, if the broker sent one.
    target: Option<Assignment>,
    names: HashMap<Uuid, String>,
    /// Partitions a delivered (or queued) Revoked event asks the
    /// application to give up; waiting for [`ConsumerMember::ack_revoked`].
    revoking: Option<Assignment>,
    /// The unknown ids last asked for.
    asked_ids: BTreeSet<Uuid>,
    leave_requested: bool,

    metadata_wanted: VecDeque<MetadataWanted>,
    events: VecDeque<GroupEvent>,
    outcome: Option<Outcome>,
    /// xorshift64* state for the jitter.
    rng: u64,
}

impl ConsumerMember {
    /// A member of `config.group_id` subscribed to `topics`, not joined yet
    /// (its first action looks the coordinator up). `member_id_bytes` make
    /// its member id (random bytes in production; see
    /// [`ConsumerMember::member_id_from_bytes`]); `seed` feeds the backoff
    /// jitter. `config.protocol` is not looked at.
    pub fn new<I, S>(
        config: &GroupConfig,
        topics: I,
        member_id_bytes: [u8; 16],
        seed: u64,
    ) -> Result<Self, MemberError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        config.validate().map_err(MemberError::Config)?;
        Ok(Self {
            group_id: config.group_id.clone(),
            instance_id: config.group_instance_id.clone(),
            rack: config.rack.clone(),
            rebalance_timeout_ms: millis_i32(config.rebalance_timeout),
            server_assignor: config.remote_assignor.clone(),
            backoff_base: config.retry_backoff,
            backoff_max: config.retry_backoff_max.max(config.retry_backoff),
            member_id: Self::member_id_from_bytes(member_id_bytes),
            epoch: 0,
            subscription: topics.into_iter().map(Into::into).collect(),
            join: 0,
            coordinator: None,
            find_in_flight: None,
            heartbeat_in_flight: None,
            next_id: 0,
            retry_at: None,
            next_heartbeat_at: None,
            heartbeat_interval: config.heartbeat_interval,
            failures: 0,
            sent: None,
            owned: Assignment::new(),
            target: None,
            names: HashMap::new(),
            revoking: None,
            asked_ids: BTreeSet::new(),
            leave_requested: false,
            metadata_wanted: VecDeque::new(),
            events: VecDeque::new(),
            outcome: None,
            // xorshift must not start at zero.
            rng: seed | 1,
        })
    }

    /// The member id made from `bytes`: the UUID they form, in Kafka's
    /// base64 text, with the top bit of the first byte cleared so that the
    /// id never starts with `-` (Kafka's `Uuid.randomUuid` avoids those
    /// too), and never the reserved all-zero or metadata-topic UUIDs.
    pub fn member_id_from_bytes(mut bytes: [u8; 16]) -> String {
        bytes[0] &= 0x7f;
        if Uuid(bytes).as_u128() <= 1 {
            bytes[8] |= 0x80;
        }
        Uuid(bytes).to_string()
    }

    // ------------------------------------------------------------ inspection

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The member id (the same for the member's whole life).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The member epoch: 0 while joining. Commits carry it.
    pub fn member_epoch(&self) -> i32 {
        self.epoch
    }

    /// The coordinator, when known.
    pub fn coordinator(&self) -> Option<&Coordinator> {
        self.coordinator.as_ref()
    }

    /// The heartbeat interval in force (the broker's, once it answered).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// The subscribed topics.
    pub fn subscription(&self) -> &BTreeSet<String> {
        &self.subscription
    }

    /// Where the member stands.
    pub fn state(&self) -> MemberState {
        if self.outcome.is_some() {
            MemberState::Finished
        } else if self.leave_requested {
            MemberState::Leaving
        } else if self.epoch <= 0 {
            MemberState::Joining
        } else if self.revoking.is_some() || self.target.as_ref().is_some_and(|t| *t != self.owned)
        {
            MemberState::Reconciling
        } else {
            MemberState::Stable
        }
    }

    /// The partitions the member owns (assigned and not revoked or lost),
    /// sorted. Partitions being revoked stay owned until acknowledged.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.named(&self.owned)
    }

    /// How the member ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    // ------------------------------------------------------------ outputs

    /// The next event for the application, in order, one at a time.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// The next thing to do now, if any: call until `None`. Nothing once
    /// the member has an [`outcome`](Self::outcome).
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        if self.outcome.is_some() {
            return None;
        }
        if let Some(wanted) = self.metadata_wanted.pop_front() {
            return Some(Action::RefreshMetadata(wanted));
        }
        if !self.backoff_over(now) {
            return None;
        }
        let Some(coordinator) = self.coordinator.clone() else {
            if self.find_in_flight.is_some() {
                return None;
            }
            let id = self.next_request_id();
            self.find_in_flight = Some(id);
            return Some(Action::FindCoordinator(FindCoordinatorCall {
                id,
                group_id: self.group_id.clone(),
            }));
        };
        if self.leave_requested {
            if self.revoking.is_some() {
                return None;
            }
            return Some(self.leave_heartbeat(coordinator));
        }
        if self.heartbeat_in_flight.is_some() || !self.heartbeat_due(now) {
            return None;
        }
        let id = self.next_request_id();
        let request = self.build_heartbeat();
        self.heartbeat_in_flight = Some(InFlight {
            id,
            epoch: self.epoch,
            join: self.join,
        });
        Some(Action::Heartbeat(Box::new(HeartbeatCall {
            id,
            coordinator,
            request,
            leaving: false,
        })))
    }

    /// When to call [`poll_action`](Self::poll_action) again at the latest
    /// (a deadline at or before `now` means now). `None` when only an
    /// answer, an acknowledgement or metadata can move the member on, or
    /// once it has an outcome.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        if !self.metadata_wanted.is_empty() {
            return Some(now);
        }
        let gate = self.retry_at.map_or(now, |at| at.max(now));
        if self.coordinator.is_none() {
            return self.find_in_flight.is_none().then_some(gate);
        }
        if self.leave_requested {
            return self.revoking.is_none().then_some(gate);
        }
        if self.heartbeat_in_flight.is_some() {
            return None;
        }
        if self.heartbeat_urgent() {
            return Some(gate);
        }
        Some(self.next_heartbeat_at.map_or(gate, |at| at.max(gate)))
    }

    // ------------------------------------------------------------ inputs

    /// Subscribes to `topics` instead; the next heartbeat, sent at once,
    /// tells the broker.
    pub fn subscribe<I, S>(&mut self, topics: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscription = topics.into_iter().map(Into::into).collect();
    }

    /// Topic names for ids (from metadata). Partitions waiting for them are
    /// reconciled.
    pub fn handle_metadata<I, S>(&mut self, names: I)
    where
        I: IntoIterator<Item = (Uuid, S)>,
        S: Into<String>,
    {
        for (id, name) in names {
            let name = name.into();
            if id != Uuid::ZERO && !name.is_empty() {
                self.names.insert(id, name);
            }
        }
        if self.outcome.is_none() {
            self.reconcile();
        }
    }

    /// The topic names of a metadata snapshot; see
    /// [`handle_metadata`](Self::handle_metadata).
    pub fn handle_snapshot(&mut self, snapshot: &MetadataSnapshot) {
        let names: Vec<(Uuid, String)> = snapshot
            .topics()
            .filter_map(|t| t.id.map(|id| (id, t.name.clone())))
            .collect();
        self.handle_metadata(names);
    }

    /// The application gave up the partitions of the last
    /// [`GroupEvent::Revoked`] (after committing their offsets). The member
    /// goes on: assigns what the latest target holds, or revokes more, or
    /// leaves. Returns `false` (and changes nothing) when no revocation is
    /// pending (for instance because the member was fenced meanwhile and
    /// reported the partitions lost).
    pub fn ack_revoked(&mut self) -> bool {
        let Some(revoked) = self.revoking.take() else {
            return false;
        };
        for (id, partitions) in revoked {
            if let Some(owned) = self.owned.get_mut(&id) {
                owned.retain(|p| !partitions.contains(p));
                if owned.is_empty() {
                    self.owned.remove(&id);
                }
            }
        }
        if self.leave_requested {
            self.revoke_all_for_leave();
        } else {
            self.reconcile();
        }
        true
    }

    /// A request the driver sent to the coordinator at `address` on its
    /// own (an offset commit or fetch) found it unreachable, moved or not
    /// available: the coordinator is found again before the next heartbeat
    /// (Java's `markCoordinatorUnknown` on a commit's failure), membership
    /// and epoch kept, and a [`GroupEvent::SessionError`] says why
    /// (`cause`). A coordinator already forgotten or replaced is left
    /// alone.
    pub fn coordinator_unavailable(&mut self, address: &str, cause: &str) {
        if self
            .coordinator
            .as_ref()
            .is_some_and(|c| c.address == address)
        {
            self.coordinator = None;
            self.events.push_back(GroupEvent::SessionError {
                cause: format!(
                    "group `{}`: {cause}; finding the coordinator again",
                    self.group_id
                ),
                retry_in: Duration::ZERO,
            });
        }
    }

    /// Leaves the group: revokes the owned partitions (wait for the
    /// [`GroupEvent::Revoked`] to be acknowledged), then hands out the leave
    /// heartbeat (epoch -1, or -2 for a static member) and ends with
    /// [`Outcome::Left`]. A member not in the group ends at once.
    pub fn leave(&mut self) {
        if self.outcome.is_some() || self.leave_requested {
            return;
        }
        self.leave_requested = true;
        if self.epoch <= 0 && self.heartbeat_in_flight.is_none() && self.owned.is_empty() {
            self.finish(Outcome::Left);
            return;
        }
        if self.revoking.is_none() {
            self.revoke_all_for_leave();
        }
        // Otherwise the pending acknowledgement leads to the rest.
    }

    /// The driver learned (from ApiVersions) that the coordinator does not
    /// speak ConsumerGroupHeartbeat: the member ends with
    /// [`Outcome::FallBackToClassic`].
    pub fn heartbeat_unsupported(&mut self, reason: impl Into<String>) {
        if self.outcome.is_none() {
            self.release_as_lost();
            self.finish(Outcome::FallBackToClassic {
                reason: reason.into(),
            });
        }
    }

    /// The answer to FindCoordinator `id`. Returns `false` (and changes
    /// nothing) if `id` is not the lookup in flight.
    pub fn handle_find_coordinator(
        &mut self,
        id: RequestId,
        response: &FindCoordinatorResponse,
        now: Instant,
    ) -> bool {
        if self.find_in_flight != Some(id) || self.outcome.is_some() {
            return false;
        }
        self.find_in_flight = None;
        // v4+ answers in `coordinators`; older versions at the top level.
        let (code, message, node_id, host, port) = match response
            .coordinators
            .iter()
            .find(|c| c.key == self.group_id)
            .or(response.coordinators.first())
        {
            Some(c) => (c.error_code, &c.error_message, c.node_id, &c.host, c.port),
            None => (
                response.error_code,
                &response.error_message,
                response.node_id,
                &response.host,
                response.port,
            ),
        };
        let code = ErrorCode::from(code);
        if code.is_err() {
            let cause = describe(code, message.as_deref(), "looking the coordinator up");
            match Recovery::of_code(code) {
                Some(Recovery::Fatal) => self.fail(MemberError::Broker {
                    group: self.group_id.clone(),
                    code,
                    message: message.clone(),
                }),
                Some(class) => self.retriable_failure(cause, class.refreshes_metadata(), now),
                None => {}
            }
            return true;
        }
        if node_id < 0 || host.is_empty() || !(1..=65535).contains(&port) {
            let cause = format!(
                "the coordinator lookup gave no usable coordinator (node {node_id} at {host}:{port})"
            );
            self.retriable_failure(cause, false, now);
            return true;
        }
        let coordinator = Coordinator {
            node_id,
            address: format!("{host}:{port}"),
        };
        self.events.push_back(GroupEvent::CoordinatorChanged {
            node_id,
            address: coordinator.address.clone(),
        });
        self.coordinator = Some(coordinator);
        // A new coordinator (or the same one, restarted) hears everything.
        self.sent = None;
        true
    }

    /// The answer to heartbeat `id`. Returns `false` (and changes nothing)
    /// if `id` is not the heartbeat in flight.
    pub fn handle_heartbeat(
        &mut self,
        id: RequestId,
        response: &ConsumerGroupHeartbeatResponse,
        now: Instant,
    ) -> bool {
        let Some(in_flight) = self.take_heartbeat(id) else {
            return false;
        };
        let code = ErrorCode::from(response.error_code);
        if code.is_ok() {
            self.heartbeat_succeeded(in_flight, response, now);
            return true;
        }
        if code == ErrorCode::UNSUPPORTED_VERSION {
            self.heartbeat_unsupported(describe(
                code,
                response.error_message.as_deref(),
                "heartbeating",
            ));
            return true;
        }
        let cause = describe(code, response.error_message.as_deref(), "heartbeating");
        match Recovery::of_code(code) {
            Some(Recovery::FindCoordinator | Recovery::Unreachable) => {
                self.coordinator = None;
                self.retriable_failure(cause, code == ErrorCode::NETWORK_EXCEPTION, now);
            }
            Some(Recovery::Rejoin) => self.fenced(in_flight, now),
            Some(Recovery::Fatal) => self.fail(MemberError::Broker {
                group: self.group_id.clone(),
                code,
                message: response.error_message.clone(),
            }),
            Some(class) => self.retriable_failure(cause, class.refreshes_metadata(), now),
            None => {}
        }
        true
    }

    /// Request `id` (a lookup or a heartbeat) failed at the transport.
    /// Returns `false` (and changes nothing) if `id` is not in flight.
    pub fn handle_failure(&mut self, id: RequestId, error: &NetError, now: Instant) -> bool {
        let lookup = self.find_in_flight == Some(id) && self.outcome.is_none();
        let heartbeat = if lookup {
            None
        } else {
            match self.take_heartbeat(id) {
                Some(in_flight) => Some(in_flight),
                None => return false,
            }
        };
        if lookup {
            self.find_in_flight = None;
        }
        if heartbeat.is_some() && is_heartbeat_unsupported(error) {
            self.heartbeat_unsupported(error.to_string());
            return true;
        }
        let cause = error.to_string();
        match Recovery::of_net(error) {
            Recovery::Fatal => self.fail(MemberError::Transport {
                group: self.group_id.clone(),
                cause,
            }),
            Recovery::Rejoin => match heartbeat {
                Some(in_flight) => self.fenced(in_flight, now),
                None => self.retriable_failure(cause, false, now),
            },
            Recovery::Unreachable => {
                self.coordinator = None;
                self.retriable_failure(cause, true, now);
            }
            Recovery::FindCoordinator => {
                self.coordinator = None;
                self.retriable_failure(cause, false, now);
            }
            class => self.retriable_failure(cause, class.refreshes_metadata(), now),
        }
        true
    }

    // ------------------------------------------------------------ internals

    fn next_request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    fn backoff_over(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }

    /// Whether a heartbeat should go out without waiting for the interval.
    fn heartbeat_urgent(&self) -> bool {
        if self.epoch <= 0 {
            return true;
        }
        self.sent
            .as_ref()
            .is_none_or(|sent| sent.owned != self.owned || sent.subscription != self.subscription)
    }

    fn heartbeat_due(&self, now: Instant) -> bool {
        self.heartbeat_urgent() || self.next_heartbeat_at.is_none_or(|at| at <= now)
    }

    fn build_heartbeat(&mut self) -> ConsumerGroupHeartbeatRequest {
        let full = self.epoch <= 0 || self.sent.is_none();
        let previous = self.sent.take();
        let mut request = ConsumerGroupHeartbeatRequest {
            group_id: self.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            // Java sends it every time; the broker checks it against the
            // static member it knows.
            instance_id: self.instance_id.clone(),
            ..Default::default()
        };
        // The fields last sent, unless everything goes out.
        let prev = previous.as_ref().filter(|_| !full);
        if full {
            request.rack_id = self.rack.clone();
        }
        if prev.is_none_or(|s| s.rebalance_timeout_ms != self.rebalance_timeout_ms) {
            request.rebalance_timeout_ms = self.rebalance_timeout_ms;
        }
        if prev.is_none_or(|s| s.subscription != self.subscription) {
            request.subscribed_topic_names = Some(self.subscription.iter().cloned().collect());
        }
        if self.server_assignor.is_some()
            && prev.is_none_or(|s| s.server_assignor != self.server_assignor)
        {
            request.server_assignor = self.server_assignor.clone();
        }
        if prev.is_none_or(|s| s.owned != self.owned) {
            request.topic_partitions = Some(
                self.owned
                    .iter()
                    .map(|(id, partitions)| OwnedTopicPartitions {
                        topic_id: *id,
                        partitions: partitions.iter().copied().collect(),
                        ..Default::default()
                    })
                    .collect(),
            );
        }
        self.sent = Some(SentFields {
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            subscription: self.subscription.clone(),
            server_assignor: self.server_assignor.clone(),
            owned: self.owned.clone(),
        });
        request
    }

    fn leave_heartbeat(&mut self, coordinator: Coordinator) -> Action {
        let id = self.next_request_id();
        let epoch = if self.instance_id.is_some() {
            STATIC_LEAVE_EPOCH
        } else {
            LEAVE_EPOCH
        };
        let request = ConsumerGroupHeartbeatRequest {
            group_id: self.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: epoch,
            instance_id: self.instance_id.clone(),
            ..Default::default()
        };
        self.owned.clear();
        self.finish(Outcome::Left);
        Action::Heartbeat(Box::new(HeartbeatCall {
            id,
            coordinator,
            request,
            leaving: true,
        }))
    }

    fn take_heartbeat(&mut self, id: RequestId) -> Option<InFlight> {
        if self.outcome.is_some() || self.heartbeat_in_flight.is_none_or(|f| f.id != id) {
            return None;
        }
        self.heartbeat_in_flight.take()
    }

    fn heartbeat_succeeded(
        &mut self,
        in_flight: InFlight,
        response: &ConsumerGroupHeartbeatResponse,
        now: Instant,
    ) {
        if response.heartbeat_interval_ms > 0 {
            self.heartbeat_interval = Duration::from_millis(response.heartbeat_interval_ms as u64);
        }
        self.next_heartbeat_at = Some(later(now, self.heartbeat_interval));
        if in_flight.join != self.join {
            return;
        }
        let epoch = response.member_epoch;
        if epoch <= 0 || epoch < self.epoch {
            // Not an epoch this member can take: an answer for an older
            // epoch, or nonsense. Nothing changes; a join tries again
            // after the backoff rather than at once.
            if self.epoch <= 0 {
                self.failures = self.failures.saturating_add(1);
                let delay = self.backoff();
                self.retry_at = Some(later(now, delay));
            }
            return;
        }
        self.failures = 0;
        self.retry_at = None;
        if self.epoch <= 0 {
            if let Some(id) = response.member_id.as_deref().filter(|id| !id.is_empty()) {
                // Brokers before KIP-1082 make the member id themselves.
                self.member_id = id.to_owned();
            }
            self.epoch = epoch;
            self.events.push_back(GroupEvent::Joined {
                identity: MemberIdentity {
                    member_id: self.member_id.clone(),
                    generation: epoch,
                },
                protocol: GroupProtocol::Consumer,
                assignor: self
                    .server_assignor
                    .clone()
                    .unwrap_or_else(|| SERVER_DEFAULT_ASSIGNOR.to_owned()),
            });
        } else {
            self.epoch = epoch;
        }
        if let Some(assignment) = &response.assignment {
            self.target = Some(from_wire(assignment));
        }
        // Still-unknown ids are asked for again, at most once a heartbeat.
        self.asked_ids.clear();
        self.reconcile();
    }

    /// Moves the owned partitions toward the latest target: revoke first,
    /// then assign. Does nothing while a revocation awaits its
    /// acknowledgement, while leaving, or before the member joined.
    fn reconcile(&mut self) {
        if self.revoking.is_some() || self.leave_requested || self.epoch <= 0 {
            return;
        }
        let Some(target) = &self.target else {
            return;
        };
        let unresolved: BTreeSet<Uuid> = target
            .keys()
            .filter(|id| !self.names.contains_key(id))
            .copied()
            .collect();
        let mut revoke = Assignment::new();
        for (id, owned) in &self.owned {
            let kept = target.get(id);
            let gone: BTreeSet<i32> = owned
                .iter()
                .filter(|p| kept.is_none_or(|k| !k.contains(p)))
                .copied()
                .collect();
            if !gone.is_empty() {
                revoke.insert(*id, gone);
            }
        }
        let mut add = Assignment::new();
        for (id, partitions) in target {
            if unresolved.contains(id) {
                continue;
            }
            let owned = self.owned.get(id);
            let new: BTreeSet<i32> = partitions
                .iter()
                .filter(|p| owned.is_none_or(|o| !o.contains(p)))
                .copied()
                .collect();
            if !new.is_empty() {
                add.insert(*id, new);
            }
        }
        if !unresolved.is_empty() && unresolved != self.asked_ids {
            self.metadata_wanted
                .retain(|w| !matches!(w, MetadataWanted::TopicIds(_)));
            self.metadata_wanted.push_back(MetadataWanted::TopicIds(
                unresolved.iter().copied().collect(),
            ));
            self.asked_ids = unresolved;
        }
        if !revoke.is_empty() {
            self.events
                .push_back(GroupEvent::Revoked(self.named(&revoke)));
            self.revoking = Some(revoke);
            return;
        }
        if !add.is_empty() {
            self.events
                .push_back(GroupEvent::Assigned(self.named(&add)));
            for (id, partitions) in add {
                self.owned.entry(id).or_default().extend(partitions);
            }
            // The next heartbeat, sent at once, reports them.
        }
    }

    fn revoke_all_for_leave(&mut self) {
        if self.owned.is_empty() || self.epoch <= 0 {
            return;
        }
        self.events
            .push_back(GroupEvent::Revoked(self.named(&self.owned)));
        self.revoking = Some(self.owned.clone());
    }

    /// UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH: the partitions are lost;
    /// rejoin at epoch 0 with the same member id.
    fn fenced(&mut self, in_flight: InFlight, now: Instant) {
        if self.leave_requested {
            // Out of the group already: nothing to leave.
            self.release_as_lost();
            self.finish(Outcome::Left);
            return;
        }
        self.release_as_lost();
        self.epoch = 0;
        self.join += 1;
        self.target = None;
        self.sent = None;
        self.asked_ids.clear();
        self.metadata_wanted
            .retain(|w| !matches!(w, MetadataWanted::TopicIds(_)));
        if in_flight.epoch <= 0 {
            // Refused while joining: do not hammer the broker.
            self.failures = self.failures.saturating_add(1);
            let delay = self.backoff();
            self.retry_at = Some(later(now, delay));
        } else {
            // As Java: rejoin at once.
            self.retry_at = None;
        }
    }

    /// Reports the owned partitions lost (dropping a Revoked event the
    /// application has not taken yet: they are lost instead) and forgets
    /// them.
    fn release_as_lost(&mut self) {
        self.revoking = None;
        self.events.retain(|e| !matches!(e, GroupEvent::Revoked(_)));
        if !self.owned.is_empty() {
            let lost = self.named(&self.owned);
            self.events.push_back(GroupEvent::Lost(lost));
            self.owned.clear();
        }
    }

    fn retriable_failure(&mut self, cause: String, refresh_metadata: bool, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        // The broker may not have seen the last heartbeat: say it all again.
        self.sent = None;
        let delay = self.backoff();
        self.retry_at = Some(later(now, delay));
        if refresh_metadata && !self.metadata_wanted.contains(&MetadataWanted::Cluster) {
            self.metadata_wanted.push_back(MetadataWanted::Cluster);
        }
        self.events.push_back(GroupEvent::SessionError {
            cause: format!("group `{}`: {cause}", self.group_id),
            retry_in: delay,
        });
    }

    fn fail(&mut self, error: MemberError) {
        self.release_as_lost();
        self.finish(Outcome::Failed(error));
    }

    fn finish(&mut self, outcome: Outcome) {
        if matches!(outcome, Outcome::Left) {
            self.events.push_back(GroupEvent::Left);
        }
        self.revoking = None;
        self.find_in_flight = None;
        self.heartbeat_in_flight = None;
        self.metadata_wanted.clear();
        self.outcome = Some(outcome);
    }

    /// The backoff after `failures` consecutive failures:
    /// `retry_backoff * 2^(failures - 1)`, capped at `retry_backoff_max`,
    /// times a jitter factor in `[0.8, 1.2)`, never above the cap.
    fn backoff(&mut self) -> Duration {
        let n = self.failures.max(1);
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << (n - 1).min(31))
            .min(self.backoff_max);
        let factor = 0.8 + 0.4 * self.next_unit();
        Duration::try_from_secs_f64(exp.as_secs_f64() * factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }

    /// A number in `[0, 1)` (xorshift64*).
    fn next_unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let bits = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        bits as f64 / (1u64 << 53) as f64
    }

    /// Partitions by name, sorted. Every id here has a name: only resolved
    /// partitions are ever owned.
    fn named(&self, assignment: &Assignment) -> Vec<TopicPartition> {
        let mut out: Vec<TopicPartition> = assignment
            .iter()
            .flat_map(|(id, partitions)| {
                let name = self
                    .names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string());
                partitions
                    .iter()
                    .map(move |p| TopicPartition::new(name.clone(), *p))
            })
            .collect();
        out.sort();
        out
    }
}

fn from_wire(assignment: &WireAssignment) -> Assignment {
    let mut out = Assignment::new();
    for topic in &assignment.topic_partitions {
        // A negative partition or the null id cannot be consumed: dropped.
        if topic.topic_id == Uuid::ZERO {
            continue;
        }
        let partitions = topic.partitions.iter().copied().filter(|p| *p >= 0);
        out.entry(topic.topic_id).or_default().extend(partitions);
    }
    out.retain(|_, partitions| !partitions.is_empty());
    out
}

fn is_heartbeat_unsupported(error: &NetError) -> bool {
    matches!(
        error,
        NetError::UnsupportedApi {
            api_key: ApiKey::ConsumerGroupHeartbeat,
            ..
        } | NetError::UnsupportedVersion {
            api_key: ApiKey::ConsumerGroupHeartbeat,
            ..
        }
    )
}

fn describe(code: ErrorCode, message: Option<&str>, doing: &str) -> String {
    match message {
        Some(message) if !message.is_empty() => format!("{doing} failed with {code}: {message}"),
        _ => format!("{doing} failed with {code}"),
    }
}

fn millis_i32(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

/// `now + delay`, or `now` if that does not fit an `Instant`.
fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or(now)
}
