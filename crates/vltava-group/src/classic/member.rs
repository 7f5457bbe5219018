//! [`ClassicMember`]: the sans-IO classic group member. See the [module
//! docs](super) for the rules it follows and a driver loop.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vltava_net::{NetError, Recovery};
use vltava_wire::messages::join_group_request::JoinGroupRequestProtocol;
use vltava_wire::messages::leave_group_request::MemberIdentity as LeavingMember;
use vltava_wire::messages::sync_group_request::SyncGroupRequestAssignment;
use vltava_wire::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use vltava_wire::{ApiKey, ErrorCode};

use crate::assignor::{Assignor, MemberSubscription, RebalanceProtocol};
use crate::protocol::{self, Assignment, ProtocolError, Subscription};
use crate::{GroupConfig, GroupEvent, GroupProtocol, MemberIdentity, TopicPartition};

/// The protocol type of consumer groups in JoinGroup and SyncGroup.
const PROTOCOL_TYPE: &str = "consumer";
/// Backoff jitter: a factor in `[1 - JITTER, 1 + JITTER)`, as Java's
/// `retry.backoff` (`CommonClientConfigs.RETRY_BACKOFF_JITTER`).
const JITTER: f64 = 0.2;

/// Identifies one request handed out by [`ClassicMember::poll_request`].
/// Ids grow; an answer is matched to its request by id, and an answer whose
/// request the member no longer waits for is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// The group coordinator, as FindCoordinator named it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Coordinator {
    /// Its node id.
    pub node_id: i32,
    /// Its address, `host:port`.
    pub address: String,
}

/// Where to send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Any broker (FindCoordinator): the driver picks one it can reach.
    AnyBroker,
    /// The group coordinator.
    Coordinator(Coordinator),
}

/// A request body. The bodies are filled for the newest version; the
/// driver calls [`GroupRequest::for_version`] with the version it
/// negotiated before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupRequest {
    /// FindCoordinator for the group.
    FindCoordinator(FindCoordinatorRequest),
    /// JoinGroup.
    JoinGroup(JoinGroupRequest),
    /// SyncGroup.
    SyncGroup(SyncGroupRequest),
    /// Heartbeat.
    Heartbeat(HeartbeatRequest),
    /// LeaveGroup.
    LeaveGroup(LeaveGroupRequest),
}

impl GroupRequest {
    /// The API of the request.
    pub fn api_key(&self) -> ApiKey {
        match self {
            Self::FindCoordinator(_) => ApiKey::FindCoordinator,
            Self::JoinGroup(_) => ApiKey::JoinGroup,
            Self::SyncGroup(_) => ApiKey::SyncGroup,
            Self::Heartbeat(_) => ApiKey::Heartbeat,
            Self::LeaveGroup(_) => ApiKey::LeaveGroup,
        }
    }

    /// The body shaped for `version`: FindCoordinator below v4 carries one
    /// `key` instead of `coordinator_keys`, LeaveGroup below v3 one
    /// `member_id` instead of `members`. Other fields a version cannot
    /// carry are either ignorable or needed (a static member needs
    /// JoinGroup v5+), in which case encoding says so.
    pub fn for_version(&self, version: i16) -> Self {
        let mut shaped = self.clone();
        match &mut shaped {
            Self::FindCoordinator(r) if version < 4 => {
                r.key = r.coordinator_keys.first().cloned().unwrap_or_default();
                r.coordinator_keys.clear();
            }
            Self::LeaveGroup(r) if version < 3 => {
                r.member_id = r
                    .members
                    .first()
                    .map(|m| m.member_id.clone())
                    .unwrap_or_default();
                r.members.clear();
            }
            _ => {}
        }
        shaped
    }
}

/// A request to send: the driver sends [`OutboundRequest::request`]
/// (shaped with [`GroupRequest::for_version`]) to the
/// [`OutboundRequest::target`] and hands back the answer with the id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboundRequest {
    /// The id to hand back with the outcome.
    pub id: RequestId,
    /// Where to send it.
    pub target: Target,
    /// The generation the member was in when it made the request (`-1`:
    /// none).
    pub generation: i32,
    /// The body.
    pub request: GroupRequest,
}

/// An answer to a request of the member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupResponse {
    /// FindCoordinator's answer.
    FindCoordinator(FindCoordinatorResponse),
    /// JoinGroup's answer.
    JoinGroup(JoinGroupResponse),
    /// SyncGroup's answer.
    SyncGroup(SyncGroupResponse),
    /// Heartbeat's answer.
    Heartbeat(HeartbeatResponse),
    /// LeaveGroup's answer.
    LeaveGroup(LeaveGroupResponse),
}

impl GroupResponse {
    fn api_key(&self) -> ApiKey {
        match self {
            Self::FindCoordinator(_) => ApiKey::FindCoordinator,
            Self::JoinGroup(_) => ApiKey::JoinGroup,
            Self::SyncGroup(_) => ApiKey::SyncGroup,
            Self::Heartbeat(_) => ApiKey::Heartbeat,
            Self::LeaveGroup(_) => ApiKey::LeaveGroup,
        }
    }
}

/// Where the member is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberState {
    /// Nothing subscribed yet.
    Idle,
    /// Joining the group (finding the coordinator first when it is unknown).
    Joining,
    /// Joined; waiting for the assignment (SyncGroup).
    Syncing,
    /// Has an assignment and heartbeats (possibly while finding a
    /// coordinator that moved).
    Stable,
    /// Sending LeaveGroup.
    Leaving,
    /// Left the group; does nothing more.
    Left,
    /// Ended by a fatal error ([`ClassicMember::error`]); does nothing more.
    Failed,
}

/// A fatal error: the member ended. Retriable failures never end the
/// member; they come as [`GroupEvent::SessionError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClassicError {
    /// The broker refused a group request with a code retrying cannot fix
    /// (`GROUP_AUTHORIZATION_FAILED`, `FENCED_INSTANCE_ID`,
    /// `INVALID_SESSION_TIMEOUT`, `INCONSISTENT_GROUP_PROTOCOL`,
    /// `GROUP_MAX_SIZE_REACHED`, `UNSUPPORTED_VERSION`...).
    #[error("group `{group_id}`: {api} failed with {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Rejected {
        /// The group.
        group_id: String,
        /// The request the broker refused.
        api: ApiKey,
        /// The code it answered.
        code: ErrorCode,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// A transport failure retrying cannot fix (authentication, TLS
    /// certificates, no common API version...).
    #[error("group `{group_id}`: {api} could not be sent: {cause}")]
    Transport {
        /// The group.
        group_id: String,
        /// The request that failed.
        api: ApiKey,
        /// What failed.
        cause: String,
    },
    /// The member's subscription or the leader's assignment could not be
    /// written in the consumer protocol (a topic name longer than the
    /// protocol allows, which Kafka itself never accepts).
    #[error("group `{group_id}`: {source}")]
    Protocol {
        /// The group.
        group_id: String,
        /// What could not be written.
        #[source]
        source: ProtocolError,
    },
    /// The coordinator chose a protocol (assignor) this member did not
    /// offer, or none.
    #[error(
        "group `{group_id}`: the coordinator chose protocol `{protocol}`, which no assignor of this member provides"
    )]
    UnknownProtocol {
        /// The group.
        group_id: String,
        /// The protocol chosen.
        protocol: String,
    },
}

/// The request in flight.
#[derive(Debug)]
struct InFlight {
    id: RequestId,
    api: ApiKey,
    generation: i32,
    sent_at: Instant,
}

/// What the member needs from the group now.
#[derive(Debug)]
enum Phase {
    Idle,
    /// Send JoinGroup.
    Join,
    /// Send SyncGroup (leader: once the assignment is computed).
    Sync(Sync),
    Stable,
    Leaving,
    Left,
    Failed,
}

#[derive(Debug)]
struct Sync {
    /// The leader waits for partition counts before it assigns.
    pending: Option<Vec<MemberSubscription>>,
    /// What the leader assigned (empty for followers).
    assignments: Vec<SyncGroupRequestAssignment>,
}

/// The sans-IO classic group member. See the [module docs](super).
pub struct ClassicMember {
    config: GroupConfig,
    assignors: Vec<Arc<dyn Assignor>>,
    rebalance: RebalanceProtocol,
    subscription: Vec<String>,
    phase: Phase,
    coordinator: Option<Coordinator>,
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    leader: bool,
    assignment: Vec<TopicPartition>,
    /// The last assignment SyncGroup gave and its generation: what the
    /// `sticky` assignor's user data claims (an eager member has revoked
    /// everything before it rejoins, so its owned partitions are empty
    /// then) and what `cooperative-sticky` writes as its generation. Kept
    /// until the next assignment, through revocations and a lost
    /// membership, as Java's assignors keep theirs.
    last_assignment: Option<(Vec<TopicPartition>, i32)>,
    in_flight: Option<InFlight>,
    next_id: u64,
    /// No request before then (backoff after a failure).
    retry_at: Option<Instant>,
    /// Consecutive failures, for the backoff.
    failures: u32,
    next_heartbeat: Option<Instant>,
    /// The last sign of life of our membership: a successful answer of the
    /// coordinator, or the end of a JoinGroup/SyncGroup it held.
    last_contact: Option<Instant>,
    join_reason: String,
    /// The driver holds the JoinGroup back while the application revokes
    /// (see [`ClassicMember::hold_join`]).
    join_held: bool,
    wants_metadata: bool,
    partition_counts: BTreeMap<String, u32>,
    /// The counts of the group's topics the leader last assigned from.
    assigned_counts: Option<BTreeMap<String, u32>>,
    /// The group's topics, as the leader last saw them.
    group_topics: BTreeSet<String>,
    events: VecDeque<GroupEvent>,
    error: Option<ClassicError>,
    /// The latest `now` seen.
    now: Option<Instant>,
    /// xorshift64* state for the jitter.
    rng: u64,
}

impl fmt::Debug for ClassicMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassicMember")
            .field("group_id", &self.config.group_id)
            .field("state", &self.state())
            .field("member_id", &self.member_id)
            .field("generation", &self.generation)
            .field("coordinator", &self.coordinator)
            .field("assignment", &self.assignment)
            .finish_non_exhaustive()
    }
}

impl ClassicMember {
    /// A member of `config.group_id` that offers `assignors` in this order
    /// of preference (the driver maps `config.assignors` names to
    /// implementations). The rebalance protocol is cooperative when every
    /// assignor is, eager otherwise (as Java). `seed` feeds the backoff
    /// jitter (the driver uses a random one so that members spread out).
    ///
    /// Fails when the configuration does not validate or `assignors` is
    /// empty.
    pub fn new(
        config: GroupConfig,
        assignors: Vec<Arc<dyn Assignor>>,
        seed: u64,
    ) -> Result<Self, String> {
        config.validate()?;
        if assignors.is_empty() {
            return Err("the classic protocol needs at least one assignor".to_owned());
        }
        let rebalance = if assignors
            .iter()
            .all(|a| a.rebalance_protocol() == RebalanceProtocol::Cooperative)
        {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        };
        Ok(Self {
            config,
            assignors,
            rebalance,
            subscription: Vec::new(),
            phase: Phase::Idle,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            leader: false,
            assignment: Vec::new(),
            last_assignment: None,
            in_flight: None,
            next_id: 0,
            retry_at: None,
            failures: 0,
            next_heartbeat: None,
            last_contact: None,
            join_reason: "initial join".to_owned(),
            join_held: false,
            wants_metadata: false,
            partition_counts: BTreeMap::new(),
            assigned_counts: None,
            group_topics: BTreeSet::new(),
            events: VecDeque::new(),
            error: None,
            now: None,
            // xorshift must not start at zero.
            rng: seed | 1,
        })
    }

    // ------------------------------------------------------------ accessors

    /// The configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Where the member is.
    pub fn state(&self) -> MemberState {
        match self.phase {
            Phase::Idle => MemberState::Idle,
            Phase::Join => MemberState::Joining,
            Phase::Sync(_) => MemberState::Syncing,
            Phase::Stable => MemberState::Stable,
            Phase::Leaving => MemberState::Leaving,
            Phase::Left => MemberState::Left,
            Phase::Failed => MemberState::Failed,
        }
    }

    /// The member id the coordinator gave (empty before the first join,
    /// and after `UNKNOWN_MEMBER_ID`).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The generation joined (`-1`: none).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The protocol (assignor name) the group chose at the last join.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether this member led the last join.
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// The partitions the member owns now, sorted.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.assignment
    }

    /// The coordinator, when known.
    pub fn coordinator(&self) -> Option<&Coordinator> {
        self.coordinator.as_ref()
    }

    /// The topics subscribed to, sorted.
    pub fn subscription(&self) -> &[String] {
        &self.subscription
    }

    /// The rebalance protocol (from the assignors).
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.rebalance
    }

    /// The fatal error that ended the member, if one did.
    pub fn error(&self) -> Option<&ClassicError> {
        self.error.as_ref()
    }

    /// Whether the driver should refresh metadata and report it with
    /// [`ClassicMember::handle_metadata`]: after a failure that calls for
    /// it (the coordinator unreachable or not found), and when the leader
    /// needs partition counts to assign.
    pub fn needs_metadata(&self) -> bool {
        self.wants_metadata
    }

    /// The topics whose partition counts the member wants: its
    /// subscription, and when it leads, every topic of the group.
    pub fn metadata_topics(&self) -> Vec<String> {
        let mut topics: BTreeSet<String> = self.subscription.iter().cloned().collect();
        if self.leader {
            topics.extend(self.group_topics.iter().cloned());
        }
        if let Phase::Sync(Sync {
            pending: Some(members),
            ..
        }) = &self.phase
        {
            topics.extend(members.iter().flat_map(|m| m.topics.iter().cloned()));
        }
        topics.into_iter().collect()
    }

    // ---------------------------------------------------------------- inputs

    /// Subscribes to `topics` (the whole list, replacing the previous one).
    /// The first call starts joining; a change later rejoins (eager: every
    /// partition is revoked first; cooperative: those of topics no longer
    /// subscribed). No effect once left or failed.
    pub fn subscribe<I, S>(&mut self, topics: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        let topics: Vec<String> = topics.into_iter().collect();
        if topics == self.subscription {
            return;
        }
        self.subscription = topics;
        match self.phase {
            Phase::Idle => {
                self.phase = Phase::Join;
                self.join_reason = "initial join".to_owned();
            }
            Phase::Join | Phase::Sync(_) | Phase::Stable => {
                self.in_flight = None;
                self.prepare_rejoin("the subscription changed");
            }
            Phase::Leaving | Phase::Left | Phase::Failed => {}
        }
    }

    /// Partition counts of topics (from the metadata the driver holds).
    /// Clears [`ClassicMember::needs_metadata`]. A leader waiting for them
    /// assigns now; a stable leader whose group topics changed in count
    /// rejoins, so that the new partitions get an owner.
    pub fn handle_metadata<I, S>(&mut self, now: Instant, counts: I)
    where
        I: IntoIterator<Item = (S, u32)>,
        S: Into<String>,
    {
        self.observe(now);
        for (topic, count) in counts {
            self.partition_counts.insert(topic.into(), count);
        }
        self.wants_metadata = false;
        let pending = match &mut self.phase {
            Phase::Sync(sync) => sync.pending.take(),
            _ => None,
        };
        if let Some(members) = pending {
            match self.assign(&members) {
                Ok(assignments) => {
                    if let Phase::Sync(sync) = &mut self.phase {
                        sync.assignments = assignments;
                    }
                }
                Err(error) => self.fail(error),
            }
            return;
        }
        if matches!(self.phase, Phase::Stable) && self.leader {
            let changed = self.assigned_counts.as_ref().is_some_and(|assigned| {
                self.group_topics.iter().any(|topic| {
                    let now_known = self.partition_counts.get(topic);
                    now_known.is_some() && now_known != assigned.get(topic)
                })
            });
            if changed {
                self.in_flight = None;
                self.prepare_rejoin("the partitions of the group's topics changed");
            }
        }
    }

    /// Leaves the group: partitions are revoked (lost if the membership was
    /// not current), then a dynamic member sends LeaveGroup when the
    /// coordinator is known; a static member does not (as Java: its
    /// assignment waits for it for the session timeout). Ends with
    /// [`GroupEvent::Left`].
    pub fn leave(&mut self, now: Instant) {
        self.observe(now);
        match self.phase {
            Phase::Leaving | Phase::Left | Phase::Failed => return,
            Phase::Idle => {
                self.finish_leave();
                return;
            }
            Phase::Join | Phase::Sync(_) | Phase::Stable => {}
        }
        self.in_flight = None;
        let owned = std::mem::take(&mut self.assignment);
        if !owned.is_empty() {
            if self.generation >= 0 {
                self.events.push_back(GroupEvent::Revoked(owned));
            } else {
                self.events.push_back(GroupEvent::Lost(owned));
            }
        }
        let dynamic = self.config.group_instance_id.is_none();
        if dynamic && self.coordinator.is_some() && !self.member_id.is_empty() {
            self.phase = Phase::Leaving;
            self.retry_at = None;
        } else {
            self.finish_leave();
        }
    }

    /// While `held`, no JoinGroup goes out: the driver holds it back while
    /// the application handles a revocation (commits what it read, as
    /// Java's `onJoinPrepare` does before its JoinGroup). Everything else
    /// goes on meanwhile, finding the coordinator above all: the
    /// revocation's commit needs one, and a coordinator that died or moved
    /// is found again while the JoinGroup waits.
    pub fn hold_join(&mut self, held: bool) {
        self.join_held = held;
    }

    /// A request the driver sent to the coordinator at `address` on its
    /// own (an offset commit or fetch) found it unreachable, moved or not
    /// available: as after a failure of the member's own requests, the
    /// coordinator is found again, membership, generation and assignment
    /// kept (Java's `markCoordinatorUnknown` on a commit's failure), and a
    /// [`GroupEvent::SessionError`] says why (`cause`). A coordinator
    /// already forgotten or replaced is left alone.
    pub fn coordinator_unavailable(&mut self, now: Instant, address: &str, cause: &str) {
        self.observe(now);
        if self
            .coordinator
            .as_ref()
            .is_some_and(|c| c.address == address)
        {
            self.coordinator = None;
            self.events.push_back(GroupEvent::SessionError {
                cause: format!(
                    "group `{}`: {cause}; finding the coordinator again",
                    self.config.group_id
                ),
                retry_in: Duration::ZERO,
            });
        }
    }

    /// Checks the timers: a member with a generation that has heard
    /// nothing from its coordinator for longer than the session timeout
    /// (outside a JoinGroup or SyncGroup the coordinator holds) treats its
    /// partitions as lost, forgets the coordinator, and rejoins. Retries
    /// and heartbeats that became due go out at the next
    /// [`ClassicMember::poll_request`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        self.check_session(now);
    }

    /// The answer to request `id`. Returns `false`, and changes nothing,
    /// when the member no longer waits for that request (a stale answer:
    /// an older request, an older generation, or the wrong API).
    pub fn handle_response(
        &mut self,
        now: Instant,
        id: RequestId,
        response: GroupResponse,
    ) -> bool {
        self.observe(now);
        let Some(in_flight) = self.take_in_flight(id, response.api_key()) else {
            return false;
        };
        match response {
            GroupResponse::FindCoordinator(r) => self.on_find_coordinator(now, r),
            GroupResponse::JoinGroup(r) => self.on_join(now, r),
            GroupResponse::SyncGroup(r) => self.on_sync(now, r),
            GroupResponse::Heartbeat(r) => self.on_heartbeat(now, &in_flight, r),
            GroupResponse::LeaveGroup(_) => self.finish_leave(),
        }
        true
    }

    /// Request `id` failed at the transport (refused, reset, timed out...).
    /// Classified by [`Recovery::of_net`]. Returns `false` when the member
    /// no longer waits for that request.
    pub fn handle_failure(&mut self, now: Instant, id: RequestId, error: &NetError) -> bool {
        self.handle_failure_class(now, id, Recovery::of_net(error), error.to_string())
    }

    /// Request `id` failed with a failure already classified as `recovery`
    /// (`cause` says what happened, for the application). Returns `false`
    /// when the member no longer waits for that request.
    pub fn handle_failure_class(
        &mut self,
        now: Instant,
        id: RequestId,
        recovery: Recovery,
        cause: impl Into<String>,
    ) -> bool {
        self.observe(now);
        let Some(in_flight) = self.in_flight.take_if(|f| f.id == id) else {
            return false;
        };
        let cause = cause.into();
        let api = in_flight.api;
        if recovery == Recovery::Fatal {
            let group_id = self.config.group_id.clone();
            self.fail(ClassicError::Transport {
                group_id,
                api,
                cause,
            });
            return true;
        }
        match api {
            ApiKey::FindCoordinator => {
                self.wants_metadata = true;
                let cause = format!(
                    "group `{}`: finding the coordinator failed: {cause}",
                    self.config.group_id
                );
                self.back_off(now, cause);
            }
            ApiKey::LeaveGroup => self.finish_leave(),
            _ => {
                if matches!(api, ApiKey::JoinGroup | ApiKey::SyncGroup) {
                    self.last_contact = Some(now);
                }
                let what = format!(
                    "group `{}`: {api} to the coordinator {} failed: {cause}",
                    self.config.group_id,
                    self.coordinator_name()
                );
                self.coordinator_trouble(now, api, recovery, what);
            }
        }
        true
    }

    // --------------------------------------------------------------- outputs

    /// The next request to send, if one is due: never two at once, never
    /// before a backoff ends. FindCoordinator goes to any broker, every
    /// other request to the coordinator.
    pub fn poll_request(&mut self, now: Instant) -> Option<OutboundRequest> {
        self.observe(now);
        self.check_session(now);
        if self.in_flight.is_some() || self.retry_at.is_some_and(|at| at > now) {
            return None;
        }
        let request = match &self.phase {
            Phase::Idle | Phase::Left | Phase::Failed => return None,
            _ if self.coordinator.is_none() => self.find_coordinator_request(),
            Phase::Leaving => self.leave_request(),
            Phase::Join if self.join_held => return None,
            Phase::Join => match self.join_request() {
                Ok(request) => request,
                Err(error) => {
                    self.fail(error);
                    return None;
                }
            },
            Phase::Sync(sync) => {
                if sync.pending.is_some() {
                    return None;
                }
                self.sync_request(sync)
            }
            Phase::Stable => {
                if self.next_heartbeat.is_some_and(|at| at > now) {
                    return None;
                }
                self.heartbeat_request()
            }
        };
        self.retry_at = None;
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.in_flight = Some(InFlight {
            id,
            api: request.api_key(),
            generation: self.generation,
            sent_at: now,
        });
        let target = match (&request, &self.coordinator) {
            (GroupRequest::FindCoordinator(_), _) | (_, None) => Target::AnyBroker,
            (_, Some(coordinator)) => Target::Coordinator(coordinator.clone()),
        };
        Some(OutboundRequest {
            id,
            target,
            generation: self.generation,
            request,
        })
    }

    /// The next event, in the order they happened.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// When the driver should call [`ClassicMember::handle_timeout`] and
    /// [`ClassicMember::poll_request`] again if nothing else happens: the
    /// next heartbeat, the end of a backoff, the session deadline, or the
    /// latest `now` seen when a request is ready. `None` when nothing is
    /// waited for but answers (or the member has ended).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let session = self.session_deadline();
        let next = if self.in_flight.is_some() {
            None
        } else if let Some(at) = self.retry_at {
            Some(at)
        } else {
            match &self.phase {
                Phase::Idle | Phase::Left | Phase::Failed => None,
                _ if self.coordinator.is_none() => self.now,
                Phase::Join if self.join_held => None,
                Phase::Sync(Sync {
                    pending: Some(_), ..
                }) => None,
                Phase::Stable => self.next_heartbeat.or(self.now),
                _ => self.now,
            }
        };
        match (session, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ------------------------------------------------------------- requests

    fn find_coordinator_request(&self) -> GroupRequest {
        GroupRequest::FindCoordinator(FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec![self.config.group_id.clone()],
            ..Default::default()
        })
    }

    /// JoinGroup with one protocol entry per assignor, in order of
    /// preference, each with that assignor's metadata (as Java's
    /// `ConsumerCoordinator.metadata`): the same topics, owned partitions,
    /// generation and rack, and the assignor's own user data (the last
    /// assignment for `sticky`, its generation for `cooperative-sticky`).
    fn join_request(&self) -> Result<GroupRequest, ClassicError> {
        let (last, last_generation) = match &self.last_assignment {
            Some((partitions, generation)) => (Some(partitions.as_slice()), *generation),
            None => (None, -1),
        };
        let protocols = self
            .assignors
            .iter()
            .map(|assignor| {
                let subscription = Subscription {
                    topics: self.subscription.clone(),
                    user_data: protocol::subscription_user_data(
                        assignor.name(),
                        last,
                        last_generation,
                    ),
                    owned_partitions: self.assignment.clone(),
                    generation: self.generation,
                    rack: self.config.rack.clone(),
                };
                let metadata =
                    protocol::encode_subscription(&subscription, protocol::SUBSCRIPTION_VERSION)
                        .map_err(|source| self.protocol_error(source))?;
                Ok(JoinGroupRequestProtocol {
                    name: assignor.name().to_owned(),
                    metadata,
                    ..Default::default()
                })
            })
            .collect::<Result<Vec<_>, ClassicError>>()?;
        Ok(GroupRequest::JoinGroup(JoinGroupRequest {
            group_id: self.config.group_id.clone(),
            session_timeout_ms: millis(self.config.session_timeout),
            rebalance_timeout_ms: millis(self.config.rebalance_timeout),
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: PROTOCOL_TYPE.to_owned(),
            protocols,
            reason: Some(self.join_reason.clone()),
            ..Default::default()
        }))
    }

    fn protocol_error(&self, source: ProtocolError) -> ClassicError {
        ClassicError::Protocol {
            group_id: self.config.group_id.clone(),
            source,
        }
    }

    fn sync_request(&self, sync: &Sync) -> GroupRequest {
        GroupRequest::SyncGroup(SyncGroupRequest {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: Some(PROTOCOL_TYPE.to_owned()),
            protocol_name: self.protocol.clone(),
            assignments: sync.assignments.clone(),
            ..Default::default()
        })
    }

    fn heartbeat_request(&self) -> GroupRequest {
        GroupRequest::Heartbeat(HeartbeatRequest {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            ..Default::default()
        })
    }

    fn leave_request(&self) -> GroupRequest {
        GroupRequest::LeaveGroup(LeaveGroupRequest {
            group_id: self.config.group_id.clone(),
            members: vec![LeavingMember {
                member_id: self.member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
                reason: Some("the consumer is leaving the group".to_owned()),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    // ------------------------------------------------------------ responses

    fn on_find_coordinator(&mut self, now: Instant, r: FindCoordinatorResponse) {
        // v4+: one entry per key; below: the top-level fields.
        let (code, node_id, host, port, message) = match r
            .coordinators
            .iter()
            .find(|c| c.key == self.config.group_id)
            .or(r.coordinators.first())
        {
            Some(c) => (
                ErrorCode::from(c.error_code),
                c.node_id,
                c.host.clone(),
                c.port,
                c.error_message.clone(),
            ),
            None => (
                ErrorCode::from(r.error_code),
                r.node_id,
                r.host,
                r.port,
                r.error_message,
            ),
        };
        match Recovery::of_code(code) {
            None if node_id >= 0 && !host.is_empty() && (1..=65535).contains(&port) => {
                let address = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let coordinator = Coordinator { node_id, address };
                self.events.push_back(GroupEvent::CoordinatorChanged {
                    node_id,
                    address: coordinator.address.clone(),
                });
                self.coordinator = Some(coordinator);
            }
            None => {
                self.wants_metadata = true;
                let cause = format!(
                    "group `{}`: FindCoordinator named no usable coordinator (node {node_id} at {host}:{port})",
                    self.config.group_id
                );
                self.back_off(now, cause);
            }
            Some(Recovery::Fatal) => self.reject(ApiKey::FindCoordinator, code, message),
            Some(_) => {
                self.wants_metadata = true;
                let cause = format!(
                    "group `{}`: no coordinator found: {code}",
                    self.config.group_id
                );
                self.back_off(now, cause);
            }
        }
    }

    fn on_join(&mut self, now: Instant, r: JoinGroupResponse) {
        // The coordinator held the request while the group gathered.
        self.last_contact = Some(now);
        let code = ErrorCode::from(r.error_code);
        match Recovery::of_code(code) {
            None => {}
            Some(Recovery::Rejoin) if code == ErrorCode::MEMBER_ID_REQUIRED => {
                // KIP-394: the coordinator gave us an id; join with it at once.
                self.member_id = r.member_id;
                self.join_reason = "rejoining with the member id the coordinator gave".to_owned();
                self.phase = Phase::Join;
                return;
            }
            Some(recovery) => {
                self.group_error(now, ApiKey::JoinGroup, code, recovery, None);
                return;
            }
        }
        self.failures = 0;
        let chosen = r.protocol_name.unwrap_or_default();
        if !self.assignors.iter().any(|a| a.name() == chosen) {
            let group_id = self.config.group_id.clone();
            self.fail(ClassicError::UnknownProtocol {
                group_id,
                protocol: chosen,
            });
            return;
        }
        let protocol = chosen;
        self.generation = r.generation_id;
        self.member_id = r.member_id;
        self.protocol = Some(protocol.clone());
        self.leader = !r.leader.is_empty() && r.leader == self.member_id;
        let mut sync = Sync {
            pending: None,
            assignments: Vec::new(),
        };
        if self.leader && !r.skip_assignment {
            // Each member's metadata is the one it sent for the protocol
            // the coordinator chose, read as that assignor reads it (the
            // `sticky` claims are in its user data).
            let members: Vec<MemberSubscription> = r
                .members
                .iter()
                .map(|m| match protocol::decode_subscription(&m.metadata) {
                    Ok((_, subscription)) => subscription.to_member(
                        &protocol,
                        m.member_id.clone(),
                        m.group_instance_id.clone(),
                    ),
                    // A member whose metadata cannot be read gets nothing
                    // rather than breaking the whole group's rebalance.
                    Err(_) => MemberSubscription {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        topics: Vec::new(),
                        owned_partitions: Vec::new(),
                        generation: -1,
                        rack: None,
                    },
                })
                .collect();
            self.group_topics = members
                .iter()
                .flat_map(|m| m.topics.iter().cloned())
                .collect();
            if self
                .group_topics
                .iter()
                .all(|t| self.partition_counts.contains_key(t))
            {
                match self.assign(&members) {
                    Ok(assignments) => sync.assignments = assignments,
                    Err(error) => {
                        self.fail(error);
                        return;
                    }
                }
            } else {
                self.wants_metadata = true;
                sync.pending = Some(members);
            }
        }
        self.phase = Phase::Sync(sync);
    }

    fn on_sync(&mut self, now: Instant, r: SyncGroupResponse) {
        self.last_contact = Some(now);
        let code = ErrorCode::from(r.error_code);
        if let Some(recovery) = Recovery::of_code(code) {
            self.group_error(now, ApiKey::SyncGroup, code, recovery, None);
            return;
        }
        // Empty bytes are an empty assignment (what the coordinator sends a
        // member the leader left out).
        let Ok((
            _,
            Assignment {
                partitions: mut new,
                ..
            },
        )) = protocol::decode_assignment(&r.assignment)
        else {
            let cause = format!(
                "group `{}`: the assignment of generation {} could not be read; rejoining",
                self.config.group_id, self.generation
            );
            self.phase = Phase::Join;
            self.join_reason = "the assignment could not be read".to_owned();
            self.back_off(now, cause);
            return;
        };
        new.sort();
        new.dedup();
        self.failures = 0;
        self.phase = Phase::Stable;
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        self.events.push_back(GroupEvent::Joined {
            identity: MemberIdentity {
                member_id: self.member_id.clone(),
                generation: self.generation,
            },
            protocol: GroupProtocol::Classic,
            assignor: self.protocol.clone().unwrap_or_default(),
        });
        let revoked: Vec<TopicPartition> = self
            .assignment
            .iter()
            .filter(|tp| new.binary_search(tp).is_err())
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = new
            .iter()
            .filter(|tp| self.assignment.binary_search(tp).is_err())
            .cloned()
            .collect();
        if !revoked.is_empty() {
            self.events.push_back(GroupEvent::Revoked(revoked.clone()));
        }
        self.last_assignment = Some((new.clone(), self.generation));
        self.assignment = new;
        self.events.push_back(GroupEvent::Assigned(added));
        if self.leader {
            self.assigned_counts = Some(
                self.group_topics
                    .iter()
                    .filter_map(|t| self.partition_counts.get(t).map(|c| (t.clone(), *c)))
                    .collect(),
            );
        }
        if !revoked.is_empty() && self.rebalance == RebalanceProtocol::Cooperative {
            // KIP-429: the revoked partitions go to their new owners in a
            // second rebalance.
            self.phase = Phase::Join;
            self.next_heartbeat = None;
            self.join_reason = "partitions were revoked; rejoining to hand them over".to_owned();
        }
    }

    fn on_heartbeat(&mut self, now: Instant, in_flight: &InFlight, r: HeartbeatResponse) {
        let code = ErrorCode::from(r.error_code);
        match Recovery::of_code(code) {
            None => {
                self.failures = 0;
                self.last_contact = Some(now);
                self.next_heartbeat = Some(in_flight.sent_at + self.config.heartbeat_interval);
            }
            Some(recovery) => self.group_error(now, ApiKey::Heartbeat, code, recovery, None),
        }
    }

    /// An error code in a JoinGroup, SyncGroup or Heartbeat answer.
    fn group_error(
        &mut self,
        now: Instant,
        api: ApiKey,
        code: ErrorCode,
        recovery: Recovery,
        message: Option<String>,
    ) {
        match recovery {
            Recovery::Fatal => self.reject(api, code, message),
            Recovery::Rejoin => match code {
                ErrorCode::REBALANCE_IN_PROGRESS => {
                    if matches!(self.phase, Phase::Stable | Phase::Sync(_)) {
                        self.prepare_rejoin("the group is rebalancing");
                    } else {
                        self.phase = Phase::Join;
                    }
                }
                ErrorCode::UNKNOWN_MEMBER_ID => {
                    self.lose_membership("the coordinator no longer knows this member");
                    self.member_id.clear();
                }
                // ILLEGAL_GENERATION, and codes of the same meaning.
                _ => self.lose_membership("the generation is no longer current"),
            },
            _ => {
                let what = format!(
                    "group `{}`: {api} answered {code} from the coordinator {}",
                    self.config.group_id,
                    self.coordinator_name()
                );
                self.coordinator_trouble(now, api, recovery, what);
            }
        }
    }

    /// A retriable failure of a request to the coordinator.
    fn coordinator_trouble(&mut self, now: Instant, api: ApiKey, recovery: Recovery, what: String) {
        if recovery.refreshes_metadata() {
            self.wants_metadata = true;
        }
        let retry_same = recovery == Recovery::Retry;
        if !retry_same {
            // Find it again; membership, generation and assignment stay.
            self.coordinator = None;
        }
        if api == ApiKey::SyncGroup && !retry_same {
            // The new coordinator may not know the rebalance: join again
            // with the same member id and generation.
            self.phase = Phase::Join;
            self.join_reason = "the coordinator moved during the rebalance".to_owned();
        }
        self.back_off(now, what);
    }

    // -------------------------------------------------------------- helpers

    fn take_in_flight(&mut self, id: RequestId, api: ApiKey) -> Option<InFlight> {
        let generation = self.generation;
        self.in_flight.take_if(|f| {
            f.id == id
                && f.api == api
                && (!matches!(api, ApiKey::Heartbeat | ApiKey::SyncGroup)
                    || f.generation == generation)
        })
    }

    fn observe(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |seen| seen.max(now)));
    }

    fn coordinator_name(&self) -> String {
        self.coordinator.as_ref().map_or_else(
            || "(unknown)".to_owned(),
            |c| format!("{} ({})", c.node_id, c.address),
        )
    }

    /// When the session runs out, if it is running.
    fn session_deadline(&self) -> Option<Instant> {
        if self.generation < 0
            || !matches!(self.phase, Phase::Join | Phase::Sync(_) | Phase::Stable)
            || self
                .in_flight
                .as_ref()
                .is_some_and(|f| matches!(f.api, ApiKey::JoinGroup | ApiKey::SyncGroup))
        {
            return None;
        }
        self.last_contact.map(|at| at + self.config.session_timeout)
    }

    fn check_session(&mut self, now: Instant) {
        if self
            .session_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            // As the Java client: no answer for a session timeout means the
            // coordinator is in doubt, not that the membership is gone. The
            // request in flight is abandoned and the coordinator found
            // again; membership, generation and assignment stay. A
            // coordinator that did expire the session says so
            // (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION) and the partitions are
            // lost then. One that restarted and loaded the group keeps us:
            // after a whole-cluster outage the group goes on without a
            // rebalance and without redelivering anything.
            self.in_flight = None;
            self.coordinator = None;
            self.last_contact = Some(now);
            self.back_off(
                now,
                format!(
                    "group `{}`: no heartbeat answered within the session timeout ({} ms); finding the coordinator again, keeping generation {}",
                    self.config.group_id,
                    self.config.session_timeout.as_millis(),
                    self.generation
                ),
            );
        }
    }

    /// Partitions lost, generation reset, rejoin at once (the member id is
    /// kept; the caller clears it when the coordinator forgot it).
    fn lose_membership(&mut self, reason: &str) {
        let owned = std::mem::take(&mut self.assignment);
        if !owned.is_empty() {
            self.events.push_back(GroupEvent::Lost(owned));
        }
        self.generation = -1;
        self.leader = false;
        self.next_heartbeat = None;
        self.retry_at = None;
        self.last_contact = None;
        self.phase = Phase::Join;
        self.join_reason = reason.to_owned();
    }

    /// An orderly rejoin, membership kept: eager revokes everything,
    /// cooperative only the topics no longer subscribed (the rest is
    /// settled when the new assignment comes).
    fn prepare_rejoin(&mut self, reason: &str) {
        let revoked: Vec<TopicPartition> = match self.rebalance {
            RebalanceProtocol::Cooperative => self
                .assignment
                .iter()
                .filter(|tp| self.subscription.binary_search(&tp.topic).is_err())
                .cloned()
                .collect(),
            _ => self.assignment.clone(),
        };
        if !revoked.is_empty() {
            self.assignment.retain(|tp| !revoked.contains(tp));
            self.events.push_back(GroupEvent::Revoked(revoked));
        }
        self.next_heartbeat = None;
        self.phase = Phase::Join;
        self.join_reason = reason.to_owned();
    }

    fn reject(&mut self, api: ApiKey, code: ErrorCode, message: Option<String>) {
        let group_id = self.config.group_id.clone();
        self.fail(ClassicError::Rejected {
            group_id,
            api,
            code,
            message,
        });
    }

    fn fail(&mut self, error: ClassicError) {
        let owned = std::mem::take(&mut self.assignment);
        if !owned.is_empty() {
            self.events.push_back(GroupEvent::Lost(owned));
        }
        self.in_flight = None;
        self.retry_at = None;
        self.next_heartbeat = None;
        self.phase = Phase::Failed;
        self.error = Some(error);
    }

    fn finish_leave(&mut self) {
        self.in_flight = None;
        self.retry_at = None;
        self.next_heartbeat = None;
        self.generation = -1;
        self.assignment.clear();
        self.phase = Phase::Left;
        self.events.push_back(GroupEvent::Left);
    }

    /// Waits before the next request and tells the application why.
    fn back_off(&mut self, now: Instant, cause: String) {
        self.failures = self.failures.saturating_add(1);
        let retry_in = self.backoff();
        self.retry_at = Some(now + retry_in);
        self.events
            .push_back(GroupEvent::SessionError { cause, retry_in });
    }

    /// `retry_backoff * 2^(n-1)` after `n` consecutive failures, with
    /// jitter, within `retry_backoff..=retry_backoff_max`.
    fn backoff(&mut self) -> Duration {
        let base = self.config.retry_backoff;
        let max = self.config.retry_backoff_max.max(base);
        let n = self.failures;
        if n <= 1 {
            return base;
        }
        let exp = base.saturating_mul(1u32 << (n - 1).min(31));
        // A factor in [1 - JITTER, 1 + JITTER).
        let factor = 1.0 + JITTER * (2.0 * self.next_unit() - 1.0);
        exp.mul_f64(factor).clamp(base, max)
    }

    /// A number in `[0, 1)` (xorshift64*).
    fn next_unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let bits = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        bits as f64 / (1u64 << 53) as f64
    }

    /// The leader's assignment of every member, encoded for SyncGroup.
    fn assign(
        &mut self,
        members: &[MemberSubscription],
    ) -> Result<Vec<SyncGroupRequestAssignment>, ClassicError> {
        let Some(assignor) = self
            .protocol
            .as_deref()
            .and_then(|p| self.assignors.iter().find(|a| a.name() == p))
        else {
            return Ok(Vec::new());
        };
        let counts: BTreeMap<String, u32> = self
            .group_topics
            .iter()
            .filter_map(|t| self.partition_counts.get(t).map(|c| (t.clone(), *c)))
            .collect();
        let mut assigned = assignor.assign(&counts, members);
        if self.rebalance == RebalanceProtocol::Cooperative {
            withhold_transfers(&mut assigned, members);
        }
        members
            .iter()
            .map(|m| {
                let assignment = Assignment {
                    partitions: assigned.remove(&m.member_id).unwrap_or_default(),
                    user_data: None,
                };
                let bytes = protocol::encode_assignment(&assignment, protocol::ASSIGNMENT_VERSION)
                    .map_err(|source| self.protocol_error(source))?;
                Ok(SyncGroupRequestAssignment {
                    member_id: m.member_id.clone(),
                    assignment: bytes,
                    ..Default::default()
                })
            })
            .collect()
    }
}

/// Cooperative safety net (KIP-429): a partition that another member owns
/// now is not handed to its new owner in the same rebalance; the owner
/// revokes it, rejoins, and the next rebalance hands it over. So no
/// partition ever has two owners. When several members claim a partition,
/// the claim of the newest generation counts.
fn withhold_transfers(
    assigned: &mut BTreeMap<String, Vec<TopicPartition>>,
    members: &[MemberSubscription],
) {
    let mut owners: BTreeMap<&TopicPartition, (&str, i32)> = BTreeMap::new();
    for member in members {
        for tp in &member.owned_partitions {
            let claim = (member.member_id.as_str(), member.generation);
            owners
                .entry(tp)
                .and_modify(|current| {
                    if claim.1 > current.1 {
                        *current = claim;
                    }
                })
                .or_insert(claim);
        }
    }
    for (member_id, partitions) in assigned.iter_mut() {
        partitions.retain(|tp| owners.get(tp).is_none_or(|(owner, _)| owner == member_id));
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
