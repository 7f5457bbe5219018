//! [`GroupMember`]: the tokio driver that runs one member machine over
//! `vltava-net` and `vltava-meta`.
//!
//! One background task per member owns the machine
//! ([`ClassicMember`](crate::ClassicMember) for
//! [`GroupProtocol::Classic`], [`ConsumerMember`](crate::ConsumerMember)
//! for [`GroupProtocol::Consumer`]) and a [`CommitTracker`](crate::offsets::CommitTracker). It sends the
//! machine's requests through the metadata client's [`BrokerPool`]
//! (FindCoordinator on a `Control` connection to the known broker with the
//! least dial backoff; group requests on the coordinator's `Group`
//! connection), each at the version negotiated with that broker, and feeds
//! answers and transport failures back. It serves the machine's metadata
//! needs from the [`MetadataClient`] (partition counts for the classic
//! leader, topic names for KIP-848 assignments), and sleeps until the
//! machine's next deadline, an answer, a command of the handle or a new
//! metadata snapshot: it never polls in a loop.
//!
//! A KIP-848 member whose coordinator does not speak
//! ConsumerGroupHeartbeat ends with `FallBackToClassic`; the driver then
//! builds a classic member with the same configuration and subscription
//! and reports [`GroupEvent::FellBackToClassic`].
//!
//! # Events
//!
//! [`GroupMember::next_event`] hands out the machine's [`GroupEvent`]s in
//! the order they happened, one at a time. A [`GroupEvent::Revoked`] holds
//! the member back (no JoinGroup, no further reconciliation) until the
//! application acknowledges it, which is where it commits the offsets of
//! the revoked partitions: [`GroupMember::ack_revoked`], or simply the next
//! call to [`GroupMember::next_event`], which acknowledges every revocation
//! it delivered before. With [`DriverOptions::auto_ack_revocations`] the
//! driver acknowledges each revocation itself as soon as it queues the
//! event (for applications that commit nothing on revocation, or do not
//! read events at all).
//!
//! # Offsets
//!
//! [`GroupMember::commit`] commits through the member's [`CommitTracker`](crate::offsets::CommitTracker)
//! with its current identity (classic generation and member id, or KIP-848
//! member epoch), to the coordinator: partitions the member does not own
//! and offsets not beyond what it committed, or has a commit of still on
//! the wire, are left out, so a commit never moves an offset backwards (not
//! even a retried one, when a later commit overtook it) and a lost member
//! commits nothing for the partitions it lost. Coordinator moves, transport
//! failures, `REBALANCE_IN_PROGRESS` and `STALE_MEMBER_EPOCH` are retried
//! (each time with the identity of the moment) until
//! [`DriverOptions::offsets_timeout`].
//! [`GroupMember::committed`] reads committed offsets (OffsetFetch,
//! `require_stable`) the same way.
//!
//! # Ending
//!
//! The task ends when the member has left ([`GroupMember::leave`], bounded
//! by [`DriverOptions::leave_timeout`]), when it failed (a fatal error,
//! [`GroupMember::error`]), or when the handle is dropped (the task and
//! every request it has in flight are aborted; the coordinator removes the
//! member after its session timeout). Retriable failures never end it.

mod task;

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use vltava_meta::MetadataClient;
use vltava_wire::{ApiKey, ErrorCode};

use crate::assignor::Assignor;
use crate::classic::ClassicError;
use crate::consumer_protocol::MemberError;
use crate::offsets::{CommitOffset, CommitOutcome};
use crate::{
    GroupConfig, GroupEvent, GroupProtocol, MemberIdentity, Subscription, TopicPartition,
    TopicPattern,
};

#[allow(unused_imports)] // For the docs.
use vltava_net::BrokerPool;

/// How the driver behaves around the member machine.
#[derive(Clone)]
#[non_exhaustive]
pub struct DriverOptions {
    /// Acknowledge every [`GroupEvent::Revoked`] as soon as it is queued,
    /// instead of waiting for [`GroupMember::ack_revoked`] or the next
    /// [`GroupMember::next_event`]. Off by default.
    pub auto_ack_revocations: bool,
    /// How long [`GroupMember::leave`] waits for the member to leave
    /// (revocation, LeaveGroup or the leave heartbeat) before it stops the
    /// task anyway (5 s).
    pub leave_timeout: Duration,
    /// How long [`GroupMember::commit`] and [`GroupMember::committed`]
    /// keep retrying (30 s).
    pub offsets_timeout: Duration,
    /// Assignors of the application's own, looked up by name in
    /// `GroupConfig::assignors` before the built-in ones.
    pub assignors: Vec<Arc<dyn Assignor>>,
}

impl DriverOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self {
            auto_ack_revocations: false,
            leave_timeout: Duration::from_secs(5),
            offsets_timeout: Duration::from_secs(30),
            assignors: Vec::new(),
        }
    }

    /// Sets [`DriverOptions::auto_ack_revocations`].
    pub fn auto_ack_revocations(mut self, auto: bool) -> Self {
        self.auto_ack_revocations = auto;
        self
    }

    /// Sets [`DriverOptions::leave_timeout`].
    pub fn leave_timeout(mut self, timeout: Duration) -> Self {
        self.leave_timeout = timeout;
        self
    }

    /// Sets [`DriverOptions::offsets_timeout`].
    pub fn offsets_timeout(mut self, timeout: Duration) -> Self {
        self.offsets_timeout = timeout;
        self
    }

    /// Adds an assignor of the application's own (found by its
    /// [`Assignor::name`] in `GroupConfig::assignors`).
    pub fn assignor(mut self, assignor: Arc<dyn Assignor>) -> Self {
        self.assignors.push(assignor);
        self
    }
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DriverOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverOptions")
            .field("auto_ack_revocations", &self.auto_ack_revocations)
            .field("leave_timeout", &self.leave_timeout)
            .field("offsets_timeout", &self.offsets_timeout)
            .field(
                "assignors",
                &self.assignors.iter().map(|a| a.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What can go wrong with a [`GroupMember`]. Retriable failures are never
/// errors: they come as [`GroupEvent::SessionError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The configuration cannot work (validation, an unknown assignor).
    #[error("invalid group configuration: {0}")]
    Config(String),
    /// The classic member ended with a fatal error.
    #[error(transparent)]
    Classic(ClassicError),
    /// The KIP-848 member ended with a fatal error.
    #[error(transparent)]
    Consumer(MemberError),
    /// The member has ended (left, failed, or its task stopped): nothing
    /// more can be done with it.
    #[error("group `{group_id}`: the member has ended{}", cause.as_deref().map(|c| format!(": {c}")).unwrap_or_default())]
    Ended {
        /// The group.
        group_id: String,
        /// Why, when it failed.
        cause: Option<String>,
    },
    /// An offsets request was refused with a code retrying cannot fix.
    #[error("group `{group_id}`: {api} failed with {code}")]
    Offsets {
        /// The group.
        group_id: String,
        /// OffsetCommit or OffsetFetch.
        api: ApiKey,
        /// The broker's code.
        code: ErrorCode,
    },
    /// An operation did not complete in time; the member goes on.
    #[error("group `{group_id}`: {what} did not complete within {waited:?}{}", last.as_deref().map(|l| format!(" (last: {l})")).unwrap_or_default())]
    Timeout {
        /// The group.
        group_id: String,
        /// What was waited for.
        what: &'static str,
        /// How long.
        waited: Duration,
        /// The last failure seen, if any.
        last: Option<String>,
    },
}

impl GroupError {
    /// Whether the member has ended for good (a fatal error of the group
    /// protocol, or a configuration that cannot work).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Config(_) | Self::Classic(_) | Self::Consumer(_) | Self::Ended { .. }
        )
    }
}

/// What the handle reads of the task's state.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) protocol: GroupProtocol,
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) assignment: Vec<TopicPartition>,
    pub(crate) coordinator: Option<(i32, String)>,
    pub(crate) error: Option<GroupError>,
    pub(crate) ended: bool,
}

pub(crate) struct Shared {
    pub(crate) group_id: String,
    view: Mutex<View>,
}

impl Shared {
    pub(crate) fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the handle asks of the task.
pub(crate) enum Command {
    Commit {
        offsets: BTreeMap<TopicPartition, CommitOffset>,
        reply: oneshot::Sender<Result<CommitOutcome, GroupError>>,
    },
    Committed {
        partitions: Vec<TopicPartition>,
        reply: oneshot::Sender<Result<BTreeMap<TopicPartition, Option<CommitOffset>>, GroupError>>,
    },
    AckRevoked,
    Leave,
}

/// Aborts the task when the handle goes.
struct TaskGuard(AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An offsets request handed to the member's task, whose answer is read
/// later: [`GroupMember::start_commit`] and
/// [`GroupMember::start_committed`].
#[derive(Debug)]
pub struct Pending<T> {
    answer: Result<oneshot::Receiver<Result<T, GroupError>>, GroupError>,
    group_id: String,
}

/// A commit started by [`GroupMember::start_commit`].
pub type PendingCommit = Pending<CommitOutcome>;

/// A read of committed offsets started by [`GroupMember::start_committed`].
pub type PendingOffsets = Pending<BTreeMap<TopicPartition, Option<CommitOffset>>>;

impl<T> Pending<T> {
    /// The outcome once the request is done, `None` while it is under way.
    /// The outcome is given once: call this until it returns `Some`, then
    /// drop the `Pending`.
    pub fn outcome(&mut self) -> Option<Result<T, GroupError>> {
        match &mut self.answer {
            Err(error) => Some(Err(error.clone())),
            Ok(answer) => match answer.try_recv() {
                Ok(result) => Some(result),
                Err(oneshot::error::TryRecvError::Empty) => None,
                Err(oneshot::error::TryRecvError::Closed) => Some(Err(GroupError::Ended {
                    group_id: self.group_id.clone(),
                    cause: None,
                })),
            },
        }
    }
}

/// A member of a consumer group, run by a background tokio task. See the
/// [module docs](self) for events, offsets and how it ends.
///
/// ```no_run
/// use vltava_group::{GroupConfig, GroupEvent, GroupMember, GroupProtocol};
/// use vltava_meta::{MetadataClient, MetadataConfig};
/// use vltava_net::{BrokerPool, PoolConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let meta = MetadataClient::new("127.0.0.1:9092", BrokerPool::new(PoolConfig::default()), MetadataConfig::new())?;
/// let member = GroupMember::new(meta, GroupConfig::new("billing"), ["orders"])?;
/// while let Some(event) = member.next_event().await {
///     match event {
///         GroupEvent::Assigned(partitions) => { /* start fetching them */ }
///         GroupEvent::Revoked(partitions) => {
///             // Commit what was processed of them, then let the member go on.
///             member.ack_revoked();
///         }
///         GroupEvent::Lost(partitions) => { /* drop them; commit nothing */ }
///         GroupEvent::SessionError { cause, retry_in } => eprintln!("{cause}; retrying in {retry_in:?}"),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct GroupMember {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<GroupEvent>>,
    /// Revocations delivered by `next_event` and not acknowledged yet.
    unacked: AtomicUsize,
    auto_ack: bool,
    leave_timeout: Duration,
    finished: watch::Receiver<bool>,
    _task: TaskGuard,
}

impl GroupMember {
    /// A member of `config.group_id` subscribed to `topics`, with the
    /// default [`DriverOptions`]. It starts joining at once, in a task of
    /// the current tokio runtime. `meta` provides the pool and the
    /// metadata; the topics are added to its interest.
    ///
    /// Fails when the configuration does not validate, an assignor name is
    /// unknown, or there is no tokio runtime.
    pub fn new<I, S>(
        meta: MetadataClient,
        config: GroupConfig,
        topics: I,
    ) -> Result<Self, GroupError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_options(meta, config, topics, DriverOptions::new())
    }

    /// [`GroupMember::new`] with `options`.
    pub fn with_options<I, S>(
        meta: MetadataClient,
        config: GroupConfig,
        topics: I,
        options: DriverOptions,
    ) -> Result<Self, GroupError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        Self::start(meta, config, topics, None, options)
    }

    /// A member of `config.group_id` with `subscription`: a list of topics
    /// (as [`GroupMember::with_options`]), or a [`TopicPattern`]. For a
    /// pattern, `meta` follows every topic from now on
    /// ([`Interest::All`](vltava_meta::Interest::All)); the member
    /// subscribes to the topics of each new metadata snapshot that match
    /// (none at first, before the first snapshot), and subscribes again
    /// whenever that set changes (a topic created or deleted): the classic
    /// member rejoins, the KIP-848 member says so in its next heartbeat.
    /// With no topic matching, a classic member does not join until one
    /// does; a KIP-848 member joins with an empty subscription.
    pub fn with_subscription(
        meta: MetadataClient,
        config: GroupConfig,
        subscription: Subscription,
        options: DriverOptions,
    ) -> Result<Self, GroupError> {
        match subscription {
            Subscription::Topics(topics) => Self::start(meta, config, topics, None, options),
            Subscription::Pattern(pattern) => {
                meta.set_interest(vltava_meta::Interest::All);
                let topics = pattern.matching(&meta.snapshot());
                Self::start(meta, config, topics, Some(pattern), options)
            }
        }
    }

    fn start(
        meta: MetadataClient,
        config: GroupConfig,
        topics: Vec<String>,
        pattern: Option<TopicPattern>,
        options: DriverOptions,
    ) -> Result<Self, GroupError> {
        config.validate().map_err(GroupError::Config)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| GroupError::Config("a GroupMember needs a tokio runtime".to_owned()))?;
        let mut topics = topics;
        topics.sort();
        topics.dedup();
        let assignors = resolve_assignors(&config, &options)?;
        let seed = RandomState::new().hash_one(Instant::now());
        let machine = task::Machine::new(&config, &assignors, &topics, seed)?;
        let shared = Arc::new(Shared {
            group_id: config.group_id.clone(),
            view: Mutex::new(View {
                protocol: machine.protocol(),
                member_id: String::new(),
                generation: -1,
                assignment: Vec::new(),
                coordinator: None,
                error: None,
                ended: false,
            }),
        });
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (finished_tx, finished) = watch::channel(false);
        meta.add_topics(topics.iter().cloned());
        let driver = task::Driver::new(task::Start {
            meta,
            config,
            assignors,
            topics,
            pattern,
            machine,
            shared: shared.clone(),
            events: events_tx,
            commands: commands_rx,
            auto_ack: options.auto_ack_revocations,
            offsets_timeout: options.offsets_timeout,
            seed,
        });
        let handle = runtime.spawn(async move {
            driver.run().await;
            let _ = finished_tx.send(true);
        });
        Ok(Self {
            shared,
            commands,
            events: tokio::sync::Mutex::new(events),
            unacked: AtomicUsize::new(0),
            auto_ack: options.auto_ack_revocations,
            leave_timeout: options.leave_timeout,
            finished,
            _task: TaskGuard(handle.abort_handle()),
        })
    }

    /// The next event, in the order they happened; waits for one. `None`
    /// once the member has ended and every event was taken.
    ///
    /// Calling it acknowledges every [`GroupEvent::Revoked`] it delivered
    /// before (see [`GroupMember::ack_revoked`]). Cancellation safe: an
    /// event is never lost by dropping the future.
    pub async fn next_event(&self) -> Option<GroupEvent> {
        self.ack_all();
        let mut events = self.events.lock().await;
        let event = events.recv().await;
        self.delivered(event.as_ref());
        event
    }

    /// The next event if one is ready, without waiting. Acknowledges
    /// earlier revocations like [`GroupMember::next_event`].
    pub fn try_next_event(&self) -> Option<GroupEvent> {
        self.ack_all();
        let mut events = self.events.try_lock().ok()?;
        let event = events.try_recv().ok();
        self.delivered(event.as_ref());
        event
    }

    /// Acknowledges the oldest [`GroupEvent::Revoked`] delivered and not
    /// acknowledged yet: the application has let go of those partitions
    /// (and committed their offsets). The member then goes on (joins again,
    /// or takes its new partitions). Does nothing if none is pending.
    pub fn ack_revoked(&self) {
        let acked = self
            .unacked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if acked.is_ok() {
            let _ = self.commands.send(Command::AckRevoked);
        }
    }

    fn ack_all(&self) {
        let n = self.unacked.swap(0, Ordering::AcqRel);
        for _ in 0..n {
            let _ = self.commands.send(Command::AckRevoked);
        }
    }

    fn delivered(&self, event: Option<&GroupEvent>) {
        if !self.auto_ack && matches!(event, Some(GroupEvent::Revoked(_))) {
            self.unacked.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The partitions the member owns now, sorted. It may run ahead of the
    /// events not taken yet.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.view().assignment.clone()
    }

    /// The member id (empty before the classic member first joined).
    pub fn member_id(&self) -> String {
        self.shared.view().member_id.clone()
    }

    /// The classic generation or KIP-848 member epoch (`-1` or `0`: not in
    /// the group now).
    pub fn generation(&self) -> i32 {
        self.shared.view().generation
    }

    /// Member id and generation (or member epoch) together.
    pub fn identity(&self) -> MemberIdentity {
        let view = self.shared.view();
        MemberIdentity {
            member_id: view.member_id.clone(),
            generation: view.generation,
        }
    }

    /// The protocol the member speaks now (classic after a fallback).
    pub fn protocol(&self) -> GroupProtocol {
        self.shared.view().protocol
    }

    /// The coordinator's node id and address, when known.
    pub fn coordinator(&self) -> Option<(i32, String)> {
        self.shared.view().coordinator.clone()
    }

    /// The fatal error that ended the member, if one did.
    pub fn error(&self) -> Option<GroupError> {
        self.shared.view().error.clone()
    }

    /// Whether the member has ended (left or failed).
    pub fn is_ended(&self) -> bool {
        self.shared.view().ended || *self.finished.borrow()
    }

    /// Commits `offsets` (the next offset to consume, per partition) as the
    /// member's current identity, to the coordinator. Partitions the member
    /// does not own and offsets not beyond those it committed (or is
    /// committing, in a commit still waiting for its answer) are left out
    /// (neither in `committed` nor in `failed` of the outcome).
    /// Retriable failures are retried until
    /// [`DriverOptions::offsets_timeout`]; partitions still not committed
    /// then are in `failed` with the last code seen.
    pub async fn commit(
        &self,
        offsets: BTreeMap<TopicPartition, CommitOffset>,
    ) -> Result<CommitOutcome, GroupError> {
        let (reply, answer) = oneshot::channel();
        self.request(Command::Commit { offsets, reply }, answer)
            .await
    }

    /// [`GroupMember::commit`] without waiting: the commit is handed to the
    /// member's task at once and its outcome read later from the returned
    /// [`PendingCommit`]. What auto-commit uses, so that a slow coordinator
    /// (one waiting for a dead replica to drop out of the ISR of
    /// `__consumer_offsets`) never holds up `poll`. Commits keep their
    /// order: a later commit, in the background or not, is sent after this
    /// one.
    pub fn start_commit(&self, offsets: BTreeMap<TopicPartition, CommitOffset>) -> PendingCommit {
        let (reply, answer) = oneshot::channel();
        self.start_request(Command::Commit { offsets, reply }, answer)
    }

    /// [`GroupMember::committed`] without waiting: the read is handed to
    /// the member's task at once and its outcome read later from the
    /// returned [`PendingOffsets`]. What the consumer uses when partitions
    /// are assigned, so that a coordinator that is away never holds up
    /// `poll`, and a read that fails is tried again rather than replaced
    /// by the reset policy.
    pub fn start_committed(&self, partitions: &[TopicPartition]) -> PendingOffsets {
        let (reply, answer) = oneshot::channel();
        let command = Command::Committed {
            partitions: partitions.to_vec(),
            reply,
        };
        self.start_request(command, answer)
    }

    fn start_request<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<T, GroupError>>,
    ) -> Pending<T> {
        let answer = if self.commands.send(command).is_err() {
            Err(self.ended())
        } else {
            Ok(answer)
        };
        Pending {
            answer,
            group_id: self.shared.group_id.clone(),
        }
    }

    /// The committed offsets of `partitions` (`None`: nothing committed),
    /// read from the coordinator (OffsetFetch with `require_stable`).
    /// Retriable failures are retried until
    /// [`DriverOptions::offsets_timeout`].
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<CommitOffset>>, GroupError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Committed {
            partitions: partitions.to_vec(),
            reply,
        };
        self.request(command, answer).await
    }

    async fn request<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<T, GroupError>>,
    ) -> Result<T, GroupError> {
        if self.commands.send(command).is_err() {
            return Err(self.ended());
        }
        answer.await.unwrap_or_else(|_| Err(self.ended()))
    }

    fn ended(&self) -> GroupError {
        let view = self.shared.view();
        GroupError::Ended {
            group_id: self.shared.group_id.clone(),
            cause: view.error.as_ref().map(ToString::to_string),
        }
    }

    /// Leaves the group: the owned partitions are revoked (the revocation
    /// is acknowledged by the driver: commit before calling this), then a
    /// dynamic member sends LeaveGroup (classic) or the leave heartbeat
    /// (KIP-848). Waits at most [`DriverOptions::leave_timeout`]; after
    /// that the task is stopped anyway and this returns
    /// [`GroupError::Timeout`]. Events up to [`GroupEvent::Left`] can still
    /// be taken with [`GroupMember::next_event`].
    pub async fn leave(&self) -> Result<(), GroupError> {
        self.ack_all();
        let _ = self.commands.send(Command::Leave);
        let mut finished = self.finished.clone();
        let waited =
            tokio::time::timeout(self.leave_timeout, finished.wait_for(|done| *done)).await;
        match waited {
            Ok(_) => Ok(()),
            Err(_) => {
                self._task.0.abort();
                Err(GroupError::Timeout {
                    group_id: self.shared.group_id.clone(),
                    what: "leaving the group",
                    waited: self.leave_timeout,
                    last: None,
                })
            }
        }
    }
}

impl std::fmt::Debug for GroupMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let view = self.shared.view();
        f.debug_struct("GroupMember")
            .field("group_id", &self.shared.group_id)
            .field("protocol", &view.protocol)
            .field("member_id", &view.member_id)
            .field("generation", &view.generation)
            .field("assignment", &view.assignment.len())
            .field("ended", &view.ended)
            .finish_non_exhaustive()
    }
}

/// The assignors named in `config.assignors`, in order: the application's
/// own first, then the built-in ones.
fn resolve_assignors(
    config: &GroupConfig,
    options: &DriverOptions,
) -> Result<Vec<Arc<dyn Assignor>>, GroupError> {
    let find = |name: &String| {
        options
            .assignors
            .iter()
            .find(|a| a.name() == name)
            .cloned()
            .or_else(|| builtin_assignor(name))
    };
    if config.protocol != GroupProtocol::Classic {
        // Only needed after a fallback to classic, which says so if none is left.
        return Ok(config.assignors.iter().filter_map(find).collect());
    }
    config
        .assignors
        .iter()
        .map(|name| {
            find(name).ok_or_else(|| GroupError::Config(format!("no assignor is named `{name}`")))
        })
        .collect()
}

/// The built-in assignor of that name.
fn builtin_assignor(name: &str) -> Option<Arc<dyn Assignor>> {
    crate::assignor::by_name(name).map(Arc::from)
}
