//! [`Consumer`]: the handle that polls records of assigned partitions.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use vltava_group::offsets::{CommitOffset, CommitOutcome};
use vltava_group::{
    DriverOptions, GroupConfig, GroupError, GroupEvent, GroupMember, PendingCommit, PendingOffsets,
    Subscription,
};
use vltava_meta::{Interest, MetadataClient, MetadataConfig};
use vltava_net::{BrokerPool, PoolConfig};
use vltava_wire::Batch;
use vltava_wire::records::ControlRecordType;

use crate::TopicPartition;
use crate::config::{ConsumerConfig, Isolation};
use crate::error::ConsumeError;
use crate::fetcher::{self, Completed, POLL_SLICE, Shared, State};
use crate::metrics::{ConsumerMetrics, Stats};
use crate::prepare::{Preparation, PreparedBatch};
use crate::record::{ConsumerRecord, Fetches};

/// Reads records of the partitions it is assigned: fetches ahead in the
/// background (bounded by `buffer_bytes`), hands them out in `poll`.
///
/// This is the consumer without a group: partitions are chosen with
/// [`Consumer::assign`], positions with [`Consumer::seek`] or the reset
/// policy. Group membership and commits come from `vltava-group`.
///
/// ```no_run
/// use std::time::Duration;
/// use vltava_consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
///
/// # async fn run() -> Result<(), vltava_consumer::ConsumeError> {
/// let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
/// let consumer = Consumer::new("127.0.0.1:9092", config)?;
/// consumer.assign([TopicPartition::new("orders", 0)]);
/// let fetches = consumer.poll(Duration::from_secs(1)).await;
/// for record in fetches.records() {
///     println!("{}@{}: {:?}", record.partition, record.offset, record.value);
/// }
/// # Ok(())
/// # }
/// ```
pub struct Consumer {
    pub(crate) shared: Arc<Shared>,
    task: AbortHandle,
    group: Option<Group>,
    /// Marked offsets (the next offset to read), per owned partition.
    marks: Mutex<BTreeMap<TopicPartition, CommitOffset>>,
    /// Every group event, for [`Consumer::events`].
    events: broadcast::Sender<GroupEvent>,
}

/// How many group events a receiver of [`Consumer::events`] may fall
/// behind before it misses some.
const EVENTS_CAPACITY: usize = 1024;

/// The consumer's group membership, when it subscribed.
struct Group {
    member: GroupMember,
    group_id: String,
    /// When offsets were last committed automatically.
    last_auto_commit: Mutex<Instant>,
    /// The automatic commit under way, if any: it runs in the background
    /// so that `poll` never waits for the coordinator.
    auto_commit: Mutex<Option<PendingCommit>>,
    /// Assigned partitions whose committed offsets are being read (in the
    /// background): they start, at those offsets, when the answer comes;
    /// a failed read is tried again, never replaced by the reset policy.
    starting: Mutex<Vec<(Vec<TopicPartition>, PendingOffsets)>>,
    /// Whether the member's end was already reported.
    ended_reported: AtomicBool,
}

impl Consumer {
    /// A consumer of the cluster reached through `bootstrap`. Must be
    /// called within a tokio runtime.
    pub fn new(bootstrap: &str, config: ConsumerConfig) -> Result<Self, ConsumeError> {
        let pool = BrokerPool::new(PoolConfig::new(config.connection.clone()));
        let meta = MetadataClient::new(
            bootstrap,
            pool,
            MetadataConfig::new().interest(Interest::topics(Vec::<String>::new())),
        )
        .map_err(|e| ConsumeError::Meta(Arc::new(e)))?;
        Ok(Self::with_metadata(meta, config))
    }

    /// A consumer sharing `meta` (and its connections). Must be called
    /// within a tokio runtime.
    pub fn with_metadata(meta: MetadataClient, config: ConsumerConfig) -> Self {
        let shared = Arc::new(Shared::new(config, meta));
        let task = tokio::spawn(fetcher::run(shared.clone())).abort_handle();
        Self {
            shared,
            task,
            group: None,
            marks: Mutex::new(BTreeMap::new()),
            events: broadcast::channel(EVENTS_CAPACITY).0,
        }
    }

    /// A consumer in group `group.group_id` with `subscription` (topics, or
    /// a regex matched against the topic names in the metadata and followed
    /// as topics come and go), sharing `meta`; `options` set the driver's
    /// offsets and leave timeouts and custom assignors. Otherwise as
    /// [`Consumer::subscribe`]. Must be called within a tokio runtime.
    pub fn with_group_subscription(
        meta: MetadataClient,
        config: ConsumerConfig,
        group: GroupConfig,
        subscription: Subscription,
        options: DriverOptions,
    ) -> Result<Self, ConsumeError> {
        let group_id = group.group_id.clone();
        let member = GroupMember::with_subscription(meta.clone(), group, subscription, options);
        Self::in_group(meta, config, group_id, member)
    }

    /// A consumer around a newly made group member.
    fn in_group(
        meta: MetadataClient,
        config: ConsumerConfig,
        group_id: String,
        member: Result<GroupMember, GroupError>,
    ) -> Result<Self, ConsumeError> {
        let member = member.map_err(|e| ConsumeError::Group {
            group: group_id.clone(),
            // Construction errors (configuration, assignor names) do not
            // name the group; everything the group layer says later does.
            message: format!("group `{group_id}`: {e}"),
            fatal: true,
        })?;
        let mut consumer = Self::with_metadata(meta, config);
        consumer.group = Some(Group {
            member,
            group_id,
            last_auto_commit: Mutex::new(Instant::now()),
            auto_commit: Mutex::new(None),
            starting: Mutex::new(Vec::new()),
            ended_reported: AtomicBool::new(false),
        });
        Ok(consumer)
    }

    /// The committed offsets of `partitions` in the group (`None`: nothing
    /// committed), read from the coordinator with OffsetFetch and
    /// `require_stable` (offsets of pending transactions are waited for),
    /// retried until the group's offsets timeout. Any partitions, owned or
    /// not (Java's `committed`). [`ConsumeError::NotInGroup`] without a
    /// group.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<CommitOffset>>, ConsumeError> {
        let Some(group) = &self.group else {
            return Err(ConsumeError::NotInGroup);
        };
        group
            .member
            .committed(partitions)
            .await
            .map_err(|e| ConsumeError::Group {
                group: group.group_id.clone(),
                message: e.to_string(),
                fatal: e.is_fatal(),
            })
    }

    /// Marks `record` as processed: [`Consumer::commit_marked`] (and, with
    /// [`ConsumerConfig::commit_marks`], auto-commit, revocation and
    /// `close`) will commit the offset after it. Returns `false` (and marks
    /// nothing) when its partition is not assigned now.
    pub fn mark(&self, record: &ConsumerRecord) -> bool {
        let tp = TopicPartition::new(record.topic.as_ref(), record.partition);
        self.mark_at(tp, record.offset.saturating_add(1), record.leader_epoch)
    }

    /// Marks `offset` as the next offset to read of `tp` (what a commit of
    /// it stores: the offset after the last processed record). A mark
    /// never moves back: an offset not beyond the partition's mark is
    /// ignored, and a commit never moves an offset backwards either.
    /// Returns `false` (and marks nothing) when `tp` is not assigned now.
    pub fn mark_offset(&self, tp: &TopicPartition, offset: i64) -> bool {
        self.mark_at(tp.clone(), offset, None)
    }

    fn mark_at(&self, tp: TopicPartition, offset: i64, leader_epoch: Option<i32>) -> bool {
        if !self.shared.lock().partitions.contains_key(&tp) {
            return false;
        }
        let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        let mark = marks.entry(tp).or_insert(CommitOffset {
            offset,
            leader_epoch,
            metadata: None,
        });
        if offset > mark.offset {
            mark.offset = offset;
            mark.leader_epoch = leader_epoch;
        }
        true
    }

    /// The marked offsets of the owned partitions in `only` (all when `None`).
    fn marked(&self, only: Option<&[TopicPartition]>) -> BTreeMap<TopicPartition, CommitOffset> {
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
            .map(|(tp, c)| (tp.clone(), c.clone()))
            .collect()
    }

    /// Commits the marked offsets (see [`Consumer::mark`]). A commit never
    /// moves an offset backwards: marks not beyond what is committed are
    /// left out. Without a group there is nothing to commit to.
    pub async fn commit_marked(&self) -> Result<(), ConsumeError> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let offsets = self.marked(None);
        self.commit_offsets(group, offsets).await
    }

    /// Every group event from now on, in order, as `poll` applies them
    /// (they also come in [`Fetches::events`]): for applications that read
    /// records through [`Consumer::stream`]. A receiver that falls more
    /// than 1024 events behind misses the oldest (and is told so by
    /// `recv`). No event comes for a consumer without a group.
    pub fn events(&self) -> broadcast::Receiver<GroupEvent> {
        self.events.subscribe()
    }

    /// The consumer's figures now: records and bytes fetched, fetch
    /// requests and errors, rebalances, partitions assigned, revoked and
    /// lost, errors, commits, lag. The same figures go to the `metrics`
    /// facade (see the crate docs for their names).
    pub fn metrics(&self) -> ConsumerMetrics {
        self.shared.stats.snapshot()
    }

    /// A consumer in group `group.group_id`, subscribed to `topics`: the
    /// group decides which partitions it reads; each starts from the
    /// group's committed offset (or the reset policy when there is none).
    /// Group events and session errors come back from `poll`, which is also
    /// where revocations are committed and auto-commit happens, so that
    /// only records the application has finished with are committed. Must
    /// be called within a tokio runtime.
    pub fn subscribe<I, S>(
        bootstrap: &str,
        config: ConsumerConfig,
        group: GroupConfig,
        topics: I,
    ) -> Result<Self, ConsumeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let pool = BrokerPool::new(PoolConfig::new(config.connection.clone()));
        let meta = MetadataClient::new(
            bootstrap,
            pool,
            MetadataConfig::new().interest(Interest::topics(Vec::<String>::new())),
        )
        .map_err(|e| ConsumeError::Meta(Arc::new(e)))?;
        Self::with_group(meta, config, group, topics)
    }

    /// [`Consumer::subscribe`] sharing `meta` (and its connections).
    pub fn with_group<I, S>(
        meta: MetadataClient,
        config: ConsumerConfig,
        group: GroupConfig,
        topics: I,
    ) -> Result<Self, ConsumeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let group_id = group.group_id.clone();
        let member = GroupMember::new(meta.clone(), group, topics);
        Self::in_group(meta, config, group_id, member)
    }

    /// The group id, for a consumer that subscribed.
    pub fn group_id(&self) -> Option<&str> {
        self.group.as_ref().map(|g| g.group_id.as_str())
    }

    /// The group member, for a consumer that subscribed.
    pub fn group_member(&self) -> Option<&GroupMember> {
        self.group.as_ref().map(|g| &g.member)
    }

    /// Commits the positions of every owned partition (the records `poll`
    /// handed out so far) to the group. A commit never moves an offset
    /// backwards. Without a group there is nothing to commit to.
    pub async fn commit(&self) -> Result<(), ConsumeError> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let offsets = self.positions(None);
        self.commit_offsets(group, offsets).await
    }

    /// Commits, then leaves the group, then stops fetching. Without a
    /// group it only stops. Bounded whatever the brokers do: the commit
    /// retries for at most the offsets timeout (the builder's
    /// `default_api_timeout`) and the leave waits at most the leave
    /// timeout; with every broker down it returns with the error after
    /// about their sum.
    pub async fn close(&self) -> Result<(), ConsumeError> {
        let result = match &self.group {
            Some(group) => {
                let committed = if self.shared.config.commit_marks {
                    self.commit_marked().await
                } else {
                    self.commit().await
                };
                let left = group.member.leave().await.map_err(|e| ConsumeError::Group {
                    group: group.group_id.clone(),
                    message: e.to_string(),
                    fatal: false,
                });
                committed.and(left)
            }
            None => Ok(()),
        };
        self.stop();
        result
    }

    /// Replaces the assignment. Partitions kept keep their position; new
    /// ones start from the reset policy (or a later `seek`).
    pub fn assign(&self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let wanted: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let topics: HashSet<String> = wanted.iter().map(|tp| tp.topic.clone()).collect();
        self.shared.meta.add_topics(topics);
        let mut state = self.shared.lock();
        state.partitions.retain(|tp, _| wanted.contains(tp));
        for tp in wanted {
            state.partitions.entry(tp).or_default();
        }
        let assigned = state.partitions.keys().cloned().collect::<HashSet<_>>();
        drop_unassigned(&mut state, &assigned);
        drop(state);
        self.forget_marks(&assigned);
        self.shared.wake.notify_one();
    }

    /// Drops the marks of partitions not in `assigned`.
    fn forget_marks(&self, assigned: &HashSet<TopicPartition>) {
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|tp, _| assigned.contains(tp));
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.lock().partitions.keys().cloned().collect()
    }

    /// Sets the next offset `poll` returns for `tp` (which must be
    /// assigned; otherwise nothing happens and `false` is returned).
    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> bool {
        self.seek_with_epoch(tp, offset, None)
    }

    /// [`Consumer::seek`] to an offset that carries the leader epoch of
    /// the record before it, as committed offsets do
    /// ([`CommitOffset::leader_epoch`]) and as [`ConsumerRecord::leader_epoch`]
    /// gives it (Java's `seek(TopicPartition, OffsetAndMetadata)`). With
    /// an epoch, the position is validated with OffsetForLeaderEpoch
    /// (KIP-320) before it is fetched: if the leader's log was truncated
    /// below it since (an unclean leader election), the truncation is
    /// detected there, and handled as after a leader change (see
    /// [`ConsumeError::Truncated`] and [`ConsumeError::LogTruncation`]).
    pub fn seek_with_epoch(
        &self,
        tp: &TopicPartition,
        offset: i64,
        leader_epoch: Option<i32>,
    ) -> bool {
        let mut state = self.shared.lock();
        let Some(p) = state.partitions.get_mut(tp) else {
            return false;
        };
        p.position = Some(offset);
        p.last_epoch = leader_epoch;
        p.awaiting_validation = leader_epoch.is_some();
        p.leader_epoch = None;
        p.generation += 1;
        // A partition stopped by an error goes on from the new position.
        p.stuck = false;
        // A seek decides where a newly assigned partition starts.
        p.awaiting_committed = false;
        drop(state);
        self.shared.wake.notify_one();
        true
    }

    /// Forgets `tp`'s position: the reset policy decides where it starts
    /// again (ListOffsets, as for a partition with nothing committed; Java's
    /// `seekToBeginning`/`seekToEnd` with the policy's end). Data fetched
    /// for the old position is dropped. `false` (and nothing happens) when
    /// `tp` is not assigned.
    pub fn reset_position(&self, tp: &TopicPartition) -> bool {
        let mut state = self.shared.lock();
        let Some(p) = state.partitions.get_mut(tp) else {
            return false;
        };
        p.position = None;
        p.last_epoch = None;
        p.awaiting_validation = false;
        p.leader_epoch = None;
        p.generation += 1;
        p.stuck = false;
        p.awaiting_committed = false;
        drop(state);
        self.shared.wake.notify_one();
        true
    }

    /// The next offset `poll` returns for `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.shared.lock().partitions.get(tp)?.position
    }

    /// [`Consumer::position`] with the leader epoch of the record before
    /// it: the last record `poll` handed out of `tp`, or, before any, the
    /// epoch that the committed offset, the `seek_with_epoch` or the reset
    /// it started from carried (`None` when nothing gave one). This is
    /// what [`Consumer::commit`] commits, and what a commit made
    /// elsewhere, such as a transaction's
    /// (`Producer::send_offsets_to_transaction`), should carry: a consumer
    /// that starts at an offset committed with its epoch validates it
    /// (KIP-320). Java gets the same from `position` and the last record's
    /// `leaderEpoch()`.
    pub fn position_with_epoch(&self, tp: &TopicPartition) -> Option<CommitOffset> {
        let state = self.shared.lock();
        let p = state.partitions.get(tp)?;
        Some(CommitOffset::new(p.position?).leader_epoch(p.last_epoch))
    }

    /// How far `tp`'s position is behind its high watermark, as last seen.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let state = self.shared.lock();
        let position = state.partitions.get(tp)?.position?;
        let high = *state.high_watermarks.get(tp)?;
        Some((high - position).max(0))
    }

    /// Stops fetching `partitions` until [`Consumer::resume`].
    pub fn pause(&self, partitions: &[TopicPartition]) {
        let mut state = self.shared.lock();
        for tp in partitions {
            if let Some(p) = state.partitions.get_mut(tp) {
                p.paused = true;
            }
        }
    }

    /// Fetches `partitions` again.
    pub fn resume(&self, partitions: &[TopicPartition]) {
        let mut state = self.shared.lock();
        for tp in partitions {
            if let Some(p) = state.partitions.get_mut(tp) {
                p.paused = false;
            }
        }
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Waits up to `timeout` for records or errors and returns them: at
    /// most `max_poll_records` records, each partition's in offset order,
    /// and every error met since the last poll. Returns within the timeout
    /// whatever the brokers do.
    pub async fn poll(&self, timeout: Duration) -> Fetches {
        let deadline = Instant::now() + timeout;
        loop {
            let mut group_news = Fetches::default();
            if let Some(group) = &self.group {
                self.run_group(group, &mut group_news).await;
            }
            let mut fetches = self.take();
            fetches.errors.splice(0..0, group_news.errors);
            fetches.events = group_news.events;
            self.account(&fetches);
            if !fetches.is_empty() || self.shared.closed.load(Ordering::Acquire) {
                return fetches;
            }
            let now = Instant::now();
            if now >= deadline {
                return fetches;
            }
            let wait = (deadline - now).min(POLL_SLICE);
            let ready = self.shared.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            // Data may have arrived between `take` and `enable`.
            if self.shared.lock().has_ready_data() {
                continue;
            }
            let _ = tokio::time::timeout(wait, ready).await;
        }
    }

    /// Stops fetching (without committing or leaving a group; see
    /// [`Consumer::close`]); later polls return nothing.
    pub fn stop(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.task.abort();
        self.shared.ready.notify_waiters();
    }

    /// The positions of the owned partitions in `only` (all when `None`),
    /// as offsets to commit.
    fn positions(&self, only: Option<&[TopicPartition]>) -> BTreeMap<TopicPartition, CommitOffset> {
        let state = self.shared.lock();
        state
            .partitions
            .iter()
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
            .filter_map(|(tp, p)| {
                let offset = p.position?;
                Some((
                    tp.clone(),
                    CommitOffset {
                        offset,
                        leader_epoch: p.last_epoch,
                        metadata: None,
                    },
                ))
            })
            .collect()
    }

    async fn commit_offsets(
        &self,
        group: &Group,
        offsets: BTreeMap<TopicPartition, CommitOffset>,
    ) -> Result<(), ConsumeError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let result = commit_result(group, group.member.commit(offsets).await);
        self.shared.stats.commit(result.is_ok());
        result
    }

    /// Applies what the group member reported: assignments (starting each
    /// partition at its committed offset), revocations (committing the
    /// positions first: every record handed out before this poll has been
    /// processed), losses (no commit), session errors; then auto-commits.
    async fn run_group(&self, group: &Group, fetches: &mut Fetches) {
        while let Some(event) = group.member.try_next_event() {
            match &event {
                GroupEvent::Joined { .. } => self.shared.stats.rebalance(),
                GroupEvent::Assigned(partitions) => self.shared.stats.assigned(partitions.len()),
                GroupEvent::Revoked(partitions) => self.shared.stats.revoked(partitions.len()),
                GroupEvent::Lost(partitions) => self.shared.stats.lost(partitions.len()),
                _ => {}
            }
            let _ = self.events.send(event.clone());
            match &event {
                GroupEvent::Assigned(partitions) => {
                    let topics: HashSet<String> =
                        partitions.iter().map(|tp| tp.topic.clone()).collect();
                    self.shared.meta.add_topics(topics);
                    let mut state = self.shared.lock();
                    for tp in partitions {
                        let p = state.partitions.entry(tp.clone()).or_default();
                        p.position = None;
                        p.last_epoch = None;
                        p.leader_epoch = None;
                        p.awaiting_validation = false;
                        p.generation += 1;
                        p.stuck = false;
                        p.awaiting_committed = true;
                    }
                    drop(state);
                    let pending = group.member.start_committed(partitions);
                    group
                        .starting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((partitions.clone(), pending));
                }
                GroupEvent::Revoked(partitions) => {
                    let offsets = if self.shared.config.commit_marks {
                        self.marked(Some(partitions))
                    } else {
                        self.positions(Some(partitions))
                    };
                    if let Err(e) = self.commit_offsets(group, offsets).await {
                        fetches.errors.push(e);
                    }
                    self.drop_partitions(partitions);
                    forget_starting(group, partitions);
                }
                GroupEvent::Lost(partitions) => {
                    self.drop_partitions(partitions);
                    forget_starting(group, partitions);
                }
                GroupEvent::SessionError { cause, retry_in } => {
                    fetches.errors.push(ConsumeError::Group {
                        group: group.group_id.clone(),
                        message: format!("{cause}; retrying in {} ms", retry_in.as_millis()),
                        fatal: false,
                    });
                }
                _ => {}
            }
            fetches.events.push(event);
        }
        self.start_assigned(group, fetches);
        if let Some(error) = group.member.error()
            && !group.ended_reported.swap(true, Ordering::AcqRel)
        {
            fetches.errors.push(ConsumeError::Group {
                group: group.group_id.clone(),
                message: error.to_string(),
                fatal: error.is_fatal(),
            });
        }
        // Auto-commit runs in the background, one at a time: `poll` reports
        // how the last one went and starts the next when it is due.
        let mut pending = group
            .auto_commit
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(outcome) = pending.as_mut().and_then(PendingCommit::outcome) {
            *pending = None;
            let result = commit_result(group, outcome);
            self.shared.stats.commit(result.is_ok());
            if let Err(e) = result {
                fetches.errors.push(e);
            }
        }
        let due = pending.is_none()
            && self.shared.config.auto_commit.is_some_and(|interval| {
                group
                    .last_auto_commit
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .elapsed()
                    >= interval
            });
        if due {
            *group
                .last_auto_commit
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now();
            let offsets = if self.shared.config.commit_marks {
                self.marked(None)
            } else {
                self.positions(None)
            };
            if !offsets.is_empty() {
                *pending = Some(group.member.start_commit(offsets));
            }
        }
    }

    /// Starts the assigned partitions whose committed offsets arrived, at
    /// those offsets (the reset policy where nothing is committed); a read
    /// that failed is reported and started again.
    fn start_assigned(&self, group: &Group, fetches: &mut Fetches) {
        let mut starting = group
            .starting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut started = Vec::new();
        for (partitions, pending) in starting.iter_mut() {
            match pending.outcome() {
                None => {}
                Some(Ok(committed)) => {
                    started.push((std::mem::take(partitions), committed));
                }
                Some(Err(e)) => {
                    fetches.errors.push(ConsumeError::Group {
                        group: group.group_id.clone(),
                        message: format!(
                            "reading the committed offsets of {} assigned partitions failed ({e}); reading them again before fetching them",
                            partitions.len()
                        ),
                        fatal: e.is_fatal(),
                    });
                    *pending = group.member.start_committed(partitions);
                }
            }
        }
        starting.retain(|(partitions, _)| !partitions.is_empty());
        drop(starting);
        if started.is_empty() {
            return;
        }
        let mut state = self.shared.lock();
        for (partitions, committed) in started {
            for tp in partitions {
                // Revoked since, or sought by the application: left alone.
                let Some(p) = state.partitions.get_mut(&tp) else {
                    continue;
                };
                if !p.awaiting_committed {
                    continue;
                }
                p.awaiting_committed = false;
                let committed = committed.get(&tp).cloned().flatten();
                p.position = committed.as_ref().map(|c| c.offset);
                // A committed offset with a leader epoch is validated
                // before it is fetched (KIP-320, as Java does): the log may
                // have been truncated below it since it was committed.
                p.last_epoch = committed.and_then(|c| c.leader_epoch);
                p.awaiting_validation = p.last_epoch.is_some();
                p.leader_epoch = None;
                p.generation += 1;
            }
        }
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Forgets `partitions` and their buffered data.
    fn drop_partitions(&self, partitions: &[TopicPartition]) {
        let mut state = self.shared.lock();
        for tp in partitions {
            state.partitions.remove(tp);
        }
        let assigned = state.partitions.keys().cloned().collect::<HashSet<_>>();
        drop_unassigned(&mut state, &assigned);
        drop(state);
        self.forget_marks(&assigned);
    }

    /// Counts what a poll returns, and the levels after it.
    fn account(&self, fetches: &Fetches) {
        account(&self.shared.lock(), &self.shared.stats, fetches);
    }

    /// Takes buffered data into records, advancing positions.
    fn take(&self) -> Fetches {
        // Decode what this poll is to hand out (what the blocking pool has
        // not decoded yet) before taking the lock, so that the fetcher can
        // buffer the next answers meanwhile.
        let front: Vec<Arc<Preparation>> = self
            .shared
            .lock()
            .completed
            .iter()
            .map(|c| Arc::clone(&c.prepared))
            .collect();
        let mut records = 0;
        for preparation in front {
            if records >= self.shared.config.max_poll_records {
                break;
            }
            records += preparation
                .get()
                .batches
                .iter()
                .map(|b| b.records.as_ref().map_or(0, |r| r.len()))
                .sum::<usize>();
        }
        let fetches = {
            let mut state = self.shared.lock();
            let fetches = take_buffered(&mut state, &self.shared.config);
            state.decode_ahead();
            fetches
        };
        self.shared.wake.notify_one();
        fetches
    }
}

/// Counts what a poll returns, and the levels after it: records and
/// errors, the lag over the assigned partitions, the buffered bytes.
pub(crate) fn account(state: &State, stats: &Stats, fetches: &Fetches) {
    stats.records(fetches.record_count());
    for error in &fetches.errors {
        stats.error(error.is_fatal());
    }
    let lag: i64 = state
        .partitions
        .iter()
        .filter_map(|(tp, p)| Some((state.high_watermarks.get(tp)? - p.position?).max(0)))
        .sum();
    stats.levels(
        u64::try_from(lag).unwrap_or_default(),
        state.partitions.len(),
        state.buffered_bytes,
    );
}

/// Takes buffered data into records, at most `max_poll_records`,
/// advancing positions, and every error queued since the last poll. No I/O.
pub(crate) fn take_buffered(state: &mut State, config: &ConsumerConfig) -> Fetches {
    let mut fetches = Fetches::default();
    let max = config.max_poll_records;
    fetches.errors = std::mem::take(&mut state.errors);
    let mut taken = 0;
    // Data of paused partitions stays buffered, in order, until they are
    // resumed (Java keeps it too): put back at the front below.
    let mut held: Vec<Completed> = Vec::new();
    while taken < max {
        let Some(completed) = state.completed.pop_front() else {
            break;
        };
        if state
            .partitions
            .get(&completed.tp)
            .is_some_and(|p| p.paused)
        {
            held.push(completed);
            continue;
        }
        state.consumed(&completed);
        let Some(p) = state.partitions.get(&completed.tp) else {
            continue;
        };
        if p.generation != completed.generation || p.position != Some(completed.fetch_offset) {
            continue;
        }
        let (records, next, epoch, error, more) = decode(&completed, config, max - taken);
        let p = state
            .partitions
            .get_mut(&completed.tp)
            .expect("looked up above");
        if next > completed.fetch_offset {
            p.position = Some(next);
            if epoch.is_some() {
                p.last_epoch = epoch;
            }
        }
        if let Some(error) = error {
            fetches.errors.push(error);
        }
        // `max_poll_records` cut the data short: the rest waits for the
        // next poll, first in line, instead of being fetched again.
        if more {
            p.buffered = true;
            state.buffered_bytes += completed.records.len();
            state.completed.push_front(Completed {
                fetch_offset: next,
                ..completed.clone()
            });
        }
        taken += records.len();
        if !records.is_empty() {
            fetches.partitions.push((completed.tp.clone(), records));
        }
    }
    for completed in held.into_iter().rev() {
        state.completed.push_front(completed);
    }
    fetches
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("assignment", &self.assignment())
            .finish_non_exhaustive()
    }
}

/// Forgets assigned partitions that had not started yet.
fn forget_starting(group: &Group, partitions: &[TopicPartition]) {
    let mut starting = group
        .starting
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    for (waiting, _) in starting.iter_mut() {
        waiting.retain(|tp| !partitions.contains(tp));
    }
    starting.retain(|(waiting, _)| !waiting.is_empty());
}

/// A commit's outcome as the consumer reports it.
fn commit_result(
    group: &Group,
    outcome: Result<CommitOutcome, GroupError>,
) -> Result<(), ConsumeError> {
    match outcome {
        Ok(outcome) if outcome.failed.is_empty() => Ok(()),
        Ok(outcome) => Err(ConsumeError::Commit {
            group: group.group_id.clone(),
            partitions: outcome
                .failed
                .into_iter()
                .map(|(tp, (code, _))| (tp, code))
                .collect(),
        }),
        Err(e) => Err(ConsumeError::Group {
            group: group.group_id.clone(),
            message: e.to_string(),
            fatal: e.is_fatal(),
        }),
    }
}

/// Drops buffered data of partitions no longer assigned.
fn drop_unassigned(state: &mut State, assigned: &HashSet<TopicPartition>) {
    let (keep, gone): (Vec<Completed>, Vec<Completed>) = state
        .completed
        .drain(..)
        .partition(|c| assigned.contains(&c.tp));
    for c in &gone {
        state.buffered_bytes = state.buffered_bytes.saturating_sub(c.records.len());
    }
    state.completed = keep.into();
}

/// Decodes up to `max` records of a completed fetch from its fetch offset
/// on, skipping control batches and, under read_committed, aborted
/// transactions. Returns the records, the next position, the leader epoch
/// of the last record, and an error if a batch was corrupt.
fn decode(
    completed: &Completed,
    config: &ConsumerConfig,
    max: usize,
) -> (
    Vec<ConsumerRecord>,
    i64,
    Option<i32>,
    Option<ConsumeError>,
    bool,
) {
    let topic: Arc<str> = Arc::from(completed.tp.topic.as_str());
    let prepared = completed.prepared.get();
    // Room for what the batches hold from the fetch offset on, up to
    // `max`: the declared counts are only a hint, bounded by `max`.
    let capacity = prepared
        .batches
        .iter()
        .filter(|b| b.batch.last_offset() >= completed.fetch_offset)
        .map(|b| b.records.as_ref().map_or(0, |r| r.len()))
        .fold(0usize, usize::saturating_add)
        .min(max);
    let mut records = Vec::with_capacity(capacity);
    let mut next = completed.fetch_offset;
    let mut epoch = None;
    let read_committed = config.isolation == Isolation::ReadCommitted;
    let mut aborted_txns: Vec<(i64, i64)> = completed.aborted.clone();
    aborted_txns.sort_by_key(|&(_, first)| first);
    let mut aborted_txns = aborted_txns.into_iter().peekable();
    let mut aborting: HashSet<i64> = HashSet::new();
    for PreparedBatch {
        batch,
        records: decoded,
    } in &prepared.batches
    {
        if batch.last_offset() < next {
            continue;
        }
        let (producer_id, transactional, leader_epoch) = match batch {
            Batch::V2(b) => (
                b.producer_id(),
                b.is_transactional(),
                Some(b.partition_leader_epoch()),
            ),
            Batch::Legacy(_) => (-1, false, None),
        };
        if read_committed {
            // A transaction the broker lists as aborted is in effect from
            // its first offset until its ABORT marker.
            while let Some(&(pid, first)) = aborted_txns.peek() {
                if first > batch.last_offset() {
                    break;
                }
                aborting.insert(pid);
                aborted_txns.next();
            }
        }
        if batch.is_control() {
            // A marker ends its producer's transaction.
            if let Ok(control) = decoded
                && let Some(Ok(record)) = control.iter().next()
                && let Ok(kind) = record.control_record()
                && kind.kind == ControlRecordType::ABORT
            {
                aborting.remove(&producer_id);
            }
            next = batch.next_offset();
            continue;
        }
        if read_committed && transactional && aborting.contains(&producer_id) {
            next = batch.next_offset();
            continue;
        }
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                let error = ConsumeError::Corrupt {
                    tp: completed.tp.clone(),
                    offset: next,
                    message: e.to_string(),
                };
                return (records, next, epoch, Some(error), false);
            }
        };
        for record in decoded.iter() {
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    let error = ConsumeError::Corrupt {
                        tp: completed.tp.clone(),
                        offset: next,
                        message: e.to_string(),
                    };
                    return (records, next, epoch, Some(error), false);
                }
            };
            if record.offset() < next {
                continue;
            }
            if records.len() >= max {
                return (records, next, epoch, None, true);
            }
            let headers = if record.header_count() == 0 {
                Vec::new()
            } else {
                record
                    .headers()
                    .filter_map(Result::ok)
                    .map(|h| {
                        (
                            String::from_utf8_lossy(h.key()).into_owned(),
                            h.value_bytes(),
                        )
                    })
                    .collect()
            };
            records.push(ConsumerRecord {
                topic: topic.clone(),
                partition: completed.tp.partition,
                offset: record.offset(),
                leader_epoch: leader_epoch.filter(|&e| e >= 0),
                timestamp: record.timestamp(),
                key: record.key_bytes(),
                value: record.value_bytes(),
                headers,
            });
            next = record.offset() + 1;
            epoch = leader_epoch.filter(|&e| e >= 0);
        }
        // Offsets a compacted batch left out are skipped too.
        next = next.max(batch.next_offset());
    }
    if let Some(e) = &prepared.error {
        let error = ConsumeError::Corrupt {
            tp: completed.tp.clone(),
            offset: next,
            message: e.to_string(),
        };
        return (records, next, epoch, Some(error), false);
    }
    (records, next, epoch, None, false)
}
