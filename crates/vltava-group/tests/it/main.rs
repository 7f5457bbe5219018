//! Integration tests of the group driver ([`GroupMember`]) against a real
//! Apache Kafka cluster: the shared one (`VLTAVA_CLUSTER_DIR`; without it
//! the tests fail with instructions) for groups joining and leaving, and a
//! 3-node cluster of the binary's own for broker faults.
//!
//! Every test goes through the same helpers, so every test checks the same
//! things:
//!
//! - [`Topic::create`] writes [`RECORDS`] records to every partition of
//!   the topic, then one more to each every 100 ms while the test runs (the
//!   Java and franz-go members of the interop tests consume them and commit
//!   real positions, so the log must stay ahead of them);
//! - [`TestGroup::member`] starts a member whose task behaves as a
//!   consuming application would ([`application`]): it reads the committed
//!   offset of each partition it is assigned, "processes" records (its
//!   position moves forward, never past what was written), auto-commits every
//!   half second in the background, commits a revoked partition's position
//!   before acknowledging the revocation, and drops lost partitions
//!   without committing;
//! - [`TestGroup`] samples the group's committed offsets (OffsetFetch, by a
//!   client of its own) every 200 ms while the test runs, and
//!   [`TestGroup::finish`] checks that no partition's committed offset
//!   ever went backwards, that the final ones hold every commit the
//!   members were told succeeded, that commits did happen, and that the
//!   members still in the group own every partition exactly once.
//!
//! Positions are not read from fetched records (this crate does not
//! fetch); the application moves them within what was written, as if it
//! processed that many records, and commits them as a consumer would.

mod assignors;
mod fallback;
mod faults;
mod groups;
mod interop;
mod protocol;
mod static_membership;
mod sticky;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vltava_group::classic::GroupRequest;
use vltava_group::offsets::CommitOffset;
use vltava_group::protocol::decode_assignment;
use vltava_group::{
    DriverOptions, GroupConfig, GroupEvent, GroupMember, GroupProtocol, PendingCommit,
    PendingOffsets, TopicPartition,
};
use vltava_meta::{MetadataClient, MetadataConfig};
use vltava_net::{BrokerPool, NetError, PoolConfig, Purpose};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_testkit::Cluster;
use vltava_wire::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use vltava_wire::messages::{
    ConsumerGroupDescribeRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    FindCoordinatorResponse, OffsetFetchRequest,
};
use vltava_wire::{ApiKey, ErrorCode};

fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

use vltava_testkit::unique_name as unique;

/// Records written to every partition of a test topic before the test.
const RECORDS: i64 = 500;

/// How often one more record is written to every partition while a test
/// runs (10 a second each, twice what a test application processes).
const WRITE_EVERY: Duration = Duration::from_millis(100);

fn all_partitions(topic: &str, n: i32) -> BTreeSet<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// A classic member's settings for tests: short but valid timeouts (the
/// testkit's brokers allow sessions from 1 s).
fn classic_config(group: &str, assignor: &str, session: Duration) -> GroupConfig {
    let mut config = GroupConfig::new(group);
    config.protocol = GroupProtocol::Classic;
    config.session_timeout = session;
    config.heartbeat_interval = Duration::from_millis(500);
    config.rebalance_timeout = Duration::from_secs(15);
    config.assignors = vec![assignor.to_owned()];
    config
}

/// A KIP-848 member's settings (the broker sets session and heartbeat).
fn consumer_config(group: &str) -> GroupConfig {
    let mut config = GroupConfig::new(group);
    config.protocol = GroupProtocol::Consumer;
    config.rebalance_timeout = Duration::from_secs(15);
    config
}

// ----------------------------------------------------------------- topics

/// A test topic: [`RECORDS`] records in every partition, and a writer
/// that appends one more to each every [`WRITE_EVERY`] until the last
/// clone is dropped.
#[derive(Debug, Clone)]
struct Topic {
    name: String,
    partitions: i32,
    /// Per partition, the offset after the last record the writer was
    /// told is written (the log end, or a little behind it).
    ends: Arc<Vec<AtomicI64>>,
    _writer: Arc<AbortOnDrop>,
}

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Topic {
    /// Creates `name` on `cluster` (replication factor 3, or the number of
    /// nodes when fewer), writes [`RECORDS`] records to each partition,
    /// and starts the writer.
    async fn create(cluster: &Cluster, name: &str, partitions: i32) -> Self {
        let replicas = cluster.node_ids().len().min(3) as i16;
        tokio::task::block_in_place(|| cluster.create_topic(name, partitions, replicas))
            .unwrap_or_else(|e| panic!("creating {name}: {e}"));
        let producer = Producer::new(&cluster.bootstrap(), ProducerConfig::new()).unwrap();
        let ends: Arc<Vec<AtomicI64>> =
            Arc::new((0..partitions).map(|_| AtomicI64::new(0)).collect());
        let mut deliveries = Vec::new();
        for partition in 0..partitions {
            for i in 0..RECORDS {
                let record =
                    ProducerRecord::new(name, format!("{partition}-{i}")).partition(partition);
                deliveries.push(
                    producer
                        .send(record)
                        .await
                        .unwrap_or_else(|e| panic!("{e}")),
                );
            }
        }
        for delivery in deliveries {
            let placed = delivery.await.unwrap_or_else(|e| panic!("{e}"));
            ends[placed.partition as usize].fetch_max(placed.offset + 1, Ordering::AcqRel);
        }
        for (p, end) in ends.iter().enumerate() {
            assert_eq!(
                end.load(Ordering::Acquire),
                RECORDS,
                "partition {p} of {name}"
            );
        }
        let writer = {
            let (name, ends) = (name.to_owned(), ends.clone());
            tokio::spawn(async move {
                // Brokers may be down (the fault tests): what fails is
                // not written, and the writer goes on.
                let mut tick = tokio::time::interval(WRITE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut n = RECORDS;
                loop {
                    tick.tick().await;
                    let mut deliveries = Vec::new();
                    for partition in 0..partitions {
                        let record = ProducerRecord::new(name.as_str(), format!("{partition}-{n}"))
                            .partition(partition);
                        if let Ok(delivery) = producer.send(record).await {
                            deliveries.push(delivery);
                        }
                    }
                    n += 1;
                    for delivery in deliveries {
                        let placed = tokio::time::timeout(Duration::from_secs(5), delivery).await;
                        if let Ok(Ok(placed)) = placed {
                            ends[placed.partition as usize]
                                .fetch_max(placed.offset + 1, Ordering::AcqRel);
                        }
                    }
                }
            })
        };
        Self {
            name: name.to_owned(),
            partitions,
            ends,
            _writer: Arc::new(AbortOnDrop(writer)),
        }
    }

    fn all(&self) -> BTreeSet<TopicPartition> {
        all_partitions(&self.name, self.partitions)
    }

    /// How far partition `p` is known to be written.
    fn end(&self, p: i32) -> i64 {
        self.ends[p as usize].load(Ordering::Acquire)
    }
}

// ------------------------------------------------------------ application

/// What a member's application side knows, shared with the test.
#[derive(Debug, Default)]
struct AppState {
    /// The position (next offset to process) of each partition owned now;
    /// `None` until its committed offset has been read.
    positions: BTreeMap<TopicPartition, Option<i64>>,
    /// Processing stopped (the member is about to leave).
    stopped: bool,
}

impl AppState {
    fn known(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> BTreeMap<TopicPartition, CommitOffset> {
        self.positions
            .iter()
            .filter(|(tp, _)| partitions.is_none_or(|only| only.contains(tp)))
            .filter_map(|(tp, p)| Some((tp.clone(), CommitOffset::new((*p)?))))
            .collect()
    }
}

/// What the members' applications did with each partition, in order:
/// commits they were told succeeded (what the checks use), and, for the
/// post-mortem of a failed check, assignments, revocations, losses and the
/// committed offsets they read.
#[derive(Debug, Clone, Default)]
struct Ledger(Arc<Mutex<Vec<Entry>>>);

#[derive(Debug, Clone)]
struct Entry {
    at: Instant,
    member: String,
    tp: TopicPartition,
    step: Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Assigned,
    Revoked,
    Lost,
    /// Its committed offset was read: the position starts there.
    Read(i64),
    Committed(i64),
}

impl Ledger {
    fn note<I>(&self, member: &GroupMember, entries: I)
    where
        I: IntoIterator<Item = (TopicPartition, Step)>,
    {
        let (at, who) = (Instant::now(), member.member_id());
        self.0
            .lock()
            .unwrap()
            .extend(entries.into_iter().map(|(tp, step)| Entry {
                at,
                member: who.clone(),
                tp,
                step,
            }));
    }

    fn record(&self, member: &GroupMember, committed: BTreeMap<TopicPartition, i64>) {
        self.note(
            member,
            committed
                .into_iter()
                .map(|(tp, offset)| (tp, Step::Committed(offset))),
        );
    }

    /// The commits: (partition, offset, member).
    fn commits(&self) -> Vec<(TopicPartition, i64, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e.step {
                Step::Committed(offset) => Some((e.tp.clone(), offset, e.member.clone())),
                _ => None,
            })
            .collect()
    }

    fn entries(&self) -> Vec<Entry> {
        self.0.lock().unwrap().clone()
    }
}

/// One member, with a task that plays the application (see
/// [`application`]) and logs every event with the time.
struct Running {
    member: Arc<GroupMember>,
    log: Arc<Mutex<Vec<(Instant, GroupEvent)>>>,
    state: Arc<Mutex<AppState>>,
    ledger: Ledger,
    hold: watch::Sender<bool>,
    holding: Arc<AtomicBool>,
    pump: JoinHandle<()>,
}

impl Running {
    fn events(&self) -> Vec<GroupEvent> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn events_since(&self, since: Instant) -> Vec<GroupEvent> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// From now on, the application does not acknowledge a revocation
    /// (after committing) until [`Running::release_revocations`]: the
    /// member cannot rejoin, so a rebalance that revokes its partitions
    /// stays under way.
    fn hold_revocations(&self) {
        self.hold.send_replace(true);
    }

    fn release_revocations(&self) {
        self.hold.send_replace(false);
    }

    /// Whether the application is holding a revocation now.
    fn holding(&self) -> bool {
        self.holding.load(Ordering::Acquire)
    }

    /// Leaves as an application closing does: stops processing, commits
    /// its positions, then leaves the group.
    async fn leave(mut self) {
        let offsets = {
            let mut state = self.state.lock().unwrap();
            state.stopped = true;
            state.known(None)
        };
        if !offsets.is_empty() {
            let outcome =
                tokio::time::timeout(Duration::from_secs(30), self.member.commit(offsets))
                    .await
                    .expect("the commit is bounded by offsets_timeout")
                    .unwrap_or_else(|e| panic!("the closing commit: {e}"));
            self.ledger.record(&self.member, outcome.committed);
        }
        self.release_revocations();
        tokio::time::timeout(Duration::from_secs(10), self.member.leave())
            .await
            .expect("leave() is bounded by its own timeout")
            .unwrap_or_else(|e| panic!("leave: {e}"));
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.pump).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

fn test_options() -> DriverOptions {
    DriverOptions::new()
        .leave_timeout(Duration::from_secs(5))
        .offsets_timeout(Duration::from_secs(45))
}

/// What a member's application task works with.
struct App {
    member: Arc<GroupMember>,
    log: Arc<Mutex<Vec<(Instant, GroupEvent)>>>,
    state: Arc<Mutex<AppState>>,
    ledger: Ledger,
    hold: watch::Receiver<bool>,
    holding: Arc<AtomicBool>,
    topic: Topic,
    seed: u64,
}

/// The application side of a test member, as a consumer with at-least-once
/// processing would do it:
///
/// - an assigned partition's position is its committed offset (0 when
///   none), read in the background; until then nothing is processed or
///   committed for it;
/// - every 100 ms each known position moves forward by 0 or 1 record
///   (half the writer's pace), never past what was written;
/// - every 500 ms the known positions are committed in the background, one
///   commit at a time;
/// - a revoked partition's position is committed (waiting for the answer)
///   before the revocation is acknowledged (by asking for the next event),
///   and then it is dropped; a lost one is dropped without a commit.
///
/// Commits the member reports as done go to `ledger`.
async fn application(app: App) {
    let App {
        member,
        log,
        state,
        ledger,
        mut hold,
        holding,
        topic,
        seed,
    } = app;
    let mut rng = seed | 1;
    let mut step = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 2) as i64
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    let mut commit: Option<PendingCommit> = None;
    let mut reading: Option<(Vec<TopicPartition>, PendingOffsets)> = None;
    loop {
        tokio::select! {
            biased;
            event = member.next_event() => {
                let Some(event) = event else { break };
                log.lock().unwrap().push((Instant::now(), event.clone()));
                let step = match &event {
                    GroupEvent::Assigned(p) => Some((p, Step::Assigned)),
                    GroupEvent::Revoked(p) => Some((p, Step::Revoked)),
                    GroupEvent::Lost(p) => Some((p, Step::Lost)),
                    _ => None,
                };
                if let Some((partitions, step)) = step {
                    ledger.note(&member, partitions.iter().map(|tp| (tp.clone(), step)));
                }
                match event {
                    GroupEvent::Assigned(partitions) => {
                        let mut state = state.lock().unwrap();
                        for tp in partitions {
                            state.positions.entry(tp).or_insert(None);
                        }
                    }
                    GroupEvent::Revoked(partitions) => {
                        let offsets = state.lock().unwrap().known(Some(&partitions));
                        if !offsets.is_empty() {
                            let done = tokio::time::timeout(
                                Duration::from_secs(20),
                                member.commit(offsets),
                            )
                            .await;
                            if let Ok(Ok(outcome)) = done {
                                ledger.record(&member, outcome.committed);
                            }
                        }
                        forget(&state, &mut reading, &partitions);
                        if *hold.borrow() {
                            holding.store(true, Ordering::Release);
                            let _ = hold.wait_for(|held| !*held).await;
                            holding.store(false, Ordering::Release);
                        }
                    }
                    GroupEvent::Lost(partitions) => forget(&state, &mut reading, &partitions),
                    _ => {}
                }
            }
            _ = tick.tick() => {
                ticks += 1;
                if let Some(outcome) = commit.as_mut().and_then(PendingCommit::outcome) {
                    if let Ok(outcome) = outcome {
                        ledger.record(&member, outcome.committed);
                    }
                    commit = None;
                }
                if let Some((partitions, pending)) = &mut reading
                    && let Some(outcome) = pending.outcome()
                {
                    if let Ok(committed) = outcome {
                        let mut state = state.lock().unwrap();
                        let mut read_now = Vec::new();
                        for tp in partitions.iter() {
                            if let (Some(position @ None), Some(read)) =
                                (state.positions.get_mut(tp), committed.get(tp))
                            {
                                let offset = read.as_ref().map_or(0, |c| c.offset);
                                *position = Some(offset);
                                read_now.push((tp.clone(), Step::Read(offset)));
                            }
                        }
                        ledger.note(&member, read_now);
                    }
                    reading = None;
                }
                let mut state = state.lock().unwrap();
                if state.stopped {
                    continue;
                }
                if reading.is_none() {
                    let unknown: Vec<TopicPartition> = state
                        .positions
                        .iter()
                        .filter(|(_, p)| p.is_none())
                        .map(|(tp, _)| tp.clone())
                        .collect();
                    if !unknown.is_empty() {
                        let pending = member.start_committed(&unknown);
                        reading = Some((unknown, pending));
                    }
                }
                for (tp, position) in state.positions.iter_mut() {
                    if let Some(position) = position {
                        let end = topic.end(tp.partition);
                        *position = (*position + step()).min(end).max(*position);
                    }
                }
                if commit.is_none() && ticks % 5 == 0 {
                    let offsets = state.known(None);
                    if !offsets.is_empty() {
                        commit = Some(member.start_commit(offsets));
                    }
                }
            }
        }
    }
}

/// The application lets go of `partitions`; a read of committed offsets
/// that includes any of them is abandoned (its answer may be older than
/// what the next owner commits).
fn forget(
    state: &Mutex<AppState>,
    reading: &mut Option<(Vec<TopicPartition>, PendingOffsets)>,
    partitions: &[TopicPartition],
) {
    let mut state = state.lock().unwrap();
    for tp in partitions {
        state.positions.remove(tp);
    }
    if reading
        .as_ref()
        .is_some_and(|(reads, _)| reads.iter().any(|tp| partitions.contains(tp)))
    {
        *reading = None;
    }
}

// ------------------------------------------------------------------ groups

/// A test's group: its members (started by [`TestGroup::member`]) commit as
/// an application does, and a watcher of its own reads the group's
/// committed offsets every 200 ms. [`TestGroup::finish`] checks them.
struct TestGroup {
    bootstrap: String,
    group: String,
    topic: Topic,
    ledger: Ledger,
    observer: Arc<Observer>,
    history: Arc<Mutex<History>>,
    sampler: JoinHandle<()>,
}

/// What the watcher saw of the committed offsets.
#[derive(Debug)]
struct History {
    started: Instant,
    /// Per partition, the highest committed offset seen so far, and the
    /// coordinator that answered it.
    high: BTreeMap<TopicPartition, (i64, String)>,
    /// Reads that answered.
    samples: usize,
    /// Every time a partition's committed offset read lower than before.
    backwards: Vec<Backwards>,
}

/// A committed offset that read lower than before.
#[derive(Debug)]
struct Backwards {
    tp: TopicPartition,
    before: (i64, String),
    now: (i64, String),
    /// When it was read, since the test group started.
    at: Duration,
}

impl History {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            high: BTreeMap::new(),
            samples: 0,
            backwards: Vec::new(),
        }
    }

    fn record(&mut self, from: &str, read: &BTreeMap<TopicPartition, i64>) {
        self.samples += 1;
        for (tp, offset) in read {
            let now = (*offset, from.to_owned());
            match self.high.get(tp) {
                Some(before) if before.0 > *offset => self.backwards.push(Backwards {
                    tp: tp.clone(),
                    before: before.clone(),
                    now,
                    at: self.started.elapsed(),
                }),
                Some(before) if before.0 == *offset => {}
                _ => {
                    self.high.insert(tp.clone(), now);
                }
            }
        }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

impl TestGroup {
    /// The group `group` over `topic`; starts watching its commits.
    fn new(bootstrap: &str, group: &str, topic: &Topic) -> Self {
        let observer = Arc::new(Observer::new(bootstrap, group));
        let history = Arc::new(Mutex::new(History::new()));
        let sampler = {
            let observer = observer.clone();
            let history = history.clone();
            let partitions: Vec<TopicPartition> = topic.all().into_iter().collect();
            tokio::spawn(async move {
                loop {
                    if let Ok((from, read)) = observer.committed(&partitions).await {
                        history.lock().unwrap().record(&from, &read);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        Self {
            bootstrap: bootstrap.to_owned(),
            group: group.to_owned(),
            topic: topic.clone(),
            ledger: Ledger::default(),
            observer,
            history,
            sampler,
        }
    }

    /// Starts a member of this group with `config` (its group id must be
    /// this group's), subscribed to the topic, run as an application.
    fn member(&self, config: GroupConfig) -> Running {
        assert_eq!(config.group_id, self.group, "a member of another group");
        let meta = MetadataClient::new(
            &self.bootstrap,
            BrokerPool::new(PoolConfig::default()),
            MetadataConfig::new(),
        )
        .unwrap();
        let member = Arc::new(
            GroupMember::with_options(meta, config, [self.topic.name.as_str()], test_options())
                .unwrap(),
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(Mutex::new(AppState::default()));
        let (hold, hold_rx) = watch::channel(false);
        let holding = Arc::new(AtomicBool::new(false));
        let seed = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            Instant::now(),
        );
        let pump = tokio::spawn(application(App {
            member: member.clone(),
            log: log.clone(),
            state: state.clone(),
            ledger: self.ledger.clone(),
            hold: hold_rx,
            holding: holding.clone(),
            topic: self.topic.clone(),
            seed,
        }));
        Running {
            member,
            log,
            state,
            ledger: self.ledger.clone(),
            hold,
            holding,
            pump,
        }
    }

    /// The checks every test ends with. `settled` are the members that
    /// should own the whole topic now (empty when every member has left,
    /// or when members of other clients share the group and the caller
    /// checked the assignment itself): they must own every partition
    /// exactly once. Then, from the committed offsets read back: no
    /// partition's offset ever went backwards while the test ran, the
    /// final offsets hold every commit a member was told succeeded (none
    /// was rewound or lost), none is past the log end, and commits did
    /// happen. Returns a line for the test's report.
    async fn finish(self, settled: &[&Running]) -> String {
        if !settled.is_empty() {
            settle(settled, &self.topic.all(), Duration::from_secs(60), false).await;
        }
        // Members still running may not have committed yet.
        let started = Instant::now();
        while self.ledger.commits().is_empty() && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Every commit acknowledged before this copy was applied before the
        // read that follows; members still running go on committing.
        let ledger = self.ledger.commits();
        assert!(
            !ledger.is_empty(),
            "group {}: the members committed nothing, so nothing was checked",
            self.group
        );
        let partitions: Vec<TopicPartition> = self.topic.all().into_iter().collect();
        let last = loop {
            match self.observer.committed(&partitions).await {
                Ok(read) => break read,
                Err(e) => assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the final read of {}'s committed offsets failed: {e}",
                    self.group
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        self.sampler.abort();
        let (from, last) = last;
        let mut history = self.history.lock().unwrap();
        history.record(&from, &last);
        if !history.backwards.is_empty() {
            // The members' commits of those partitions, for the post-mortem.
            let started = history.started;
            let commits: Vec<String> = self
                .ledger
                .entries()
                .iter()
                .filter(|e| history.backwards.iter().any(|b| b.tp == e.tp))
                .map(|e| {
                    format!(
                        "{:?} {} p{} {:?}",
                        e.at.saturating_duration_since(started),
                        e.member,
                        e.tp.partition,
                        e.step
                    )
                })
                .collect();
            let went: Vec<String> = history
                .backwards
                .iter()
                .map(|b| {
                    format!(
                        "p{} read {} (from {}) after {} (from {}), {:?} in",
                        b.tp.partition, b.now.0, b.now.1, b.before.0, b.before.1, b.at
                    )
                })
                .collect();
            panic!(
                "group {}: committed offsets went backwards:\n{}\nwhat the members did with those partitions (time, member, partition, step):\n{}",
                self.group,
                went.join("\n"),
                commits.join("\n")
            );
        }
        for (tp, offset, member) in &ledger {
            let now = last.get(tp).copied();
            assert!(
                now >= Some(*offset),
                "group {}: {tp:?} was committed at {offset} by {member}, and reads {now:?} at the end",
                self.group,
            );
        }
        for (tp, offset) in &last {
            let end = self.topic.end(tp.partition);
            assert!(
                (0..=end).contains(offset),
                "group {}: {tp:?} committed at {offset}, outside the log (0..={end})",
                self.group
            );
        }
        format!(
            "group {}: {} commits acknowledged, {} reads of the committed offsets, none went backwards; final {:?}",
            self.group,
            ledger.len(),
            history.samples,
            last.values().collect::<Vec<_>>()
        )
    }
}

// ---------------------------------------------------------------- observer

/// A client of its own, outside the group, that reads what the coordinator
/// says about the group: committed offsets (OffsetFetch), the classic
/// group's state and members (DescribeGroups), a KIP-848 group's state
/// (ConsumerGroupDescribe). Finds the coordinator again when it moves.
struct Observer {
    bootstrap: Vec<String>,
    group: String,
    pool: BrokerPool,
    coordinator: Mutex<Option<String>>,
}

/// A member of a classic group as DescribeGroups tells it.
#[derive(Debug, Clone)]
struct Described {
    member_id: String,
    client_id: String,
    group_instance_id: Option<String>,
    partitions: BTreeSet<TopicPartition>,
}

impl Observer {
    fn new(bootstrap: &str, group: &str) -> Self {
        Self {
            bootstrap: bootstrap.split(',').map(str::to_owned).collect(),
            group: group.to_owned(),
            pool: BrokerPool::new(PoolConfig::default()),
            coordinator: Mutex::new(None),
        }
    }

    async fn coordinator(&self) -> Result<String, String> {
        if let Some(known) = self.coordinator.lock().unwrap().clone() {
            return Ok(known);
        }
        let mut last = String::new();
        for broker in &self.bootstrap {
            match self.find_at(broker).await {
                Ok(address) => {
                    *self.coordinator.lock().unwrap() = Some(address.clone());
                    return Ok(address);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn find_at(&self, broker: &str) -> Result<String, String> {
        let connection = self
            .pool
            .connection(broker, Purpose::Control)
            .await
            .map_err(|e| e.to_string())?;
        let version = connection
            .version_for(ApiKey::FindCoordinator)
            .map_err(|e| e.to_string())?;
        let request = GroupRequest::FindCoordinator(FindCoordinatorRequest {
            coordinator_keys: vec![self.group.clone()],
            ..Default::default()
        })
        .for_version(version);
        let GroupRequest::FindCoordinator(request) = request else {
            unreachable!()
        };
        let r: FindCoordinatorResponse = connection
            .send_at(version, request)
            .await
            .map_err(|e| e.to_string())?;
        let (code, host, port) = match r.coordinators.first() {
            Some(c) => (c.error_code, c.host.clone(), c.port),
            None => (r.error_code, r.host, r.port),
        };
        if code != 0 || host.is_empty() {
            return Err(format!("FindCoordinator: {}", ErrorCode::from(code)));
        }
        Ok(format!("{host}:{port}"))
    }

    /// Forgets the coordinator after `error` when it calls for that.
    fn failed(&self, error: String) -> String {
        *self.coordinator.lock().unwrap() = None;
        error
    }

    fn code_failed(&self, what: &str, code: i16) -> String {
        let code = ErrorCode::from(code);
        if matches!(
            code,
            ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
        ) {
            *self.coordinator.lock().unwrap() = None;
        }
        format!("{what}: {code}")
    }

    /// The committed offsets of `partitions` (partitions with none are left
    /// out), as OffsetFetch answers now, and the coordinator that answered.
    async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<(String, BTreeMap<TopicPartition, i64>), String> {
        let coordinator = self.coordinator().await?;
        let connection = self
            .pool
            .connection(&coordinator, Purpose::Group)
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        let version = connection
            .version_for(ApiKey::OffsetFetch)
            .map_err(|e| e.to_string())?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let request = if version >= 8 {
            OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup {
                    group_id: self.group.clone(),
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
                group_id: self.group.clone(),
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
        let r = connection
            .send_at(version, request)
            .await
            .map_err(|e: NetError| self.failed(e.to_string()))?;
        let mut read = BTreeMap::new();
        let mut take = |topic: &str, partition: i32, offset: i64, code: i16| {
            if code != 0 {
                return Err(self.code_failed("OffsetFetch partition", code));
            }
            if offset >= 0 {
                read.insert(TopicPartition::new(topic, partition), offset);
            }
            Ok(())
        };
        match r.groups.first() {
            Some(group) => {
                if group.error_code != 0 {
                    return Err(self.code_failed("OffsetFetch", group.error_code));
                }
                for t in &group.topics {
                    for p in &t.partitions {
                        take(&t.name, p.partition_index, p.committed_offset, p.error_code)?;
                    }
                }
            }
            None => {
                if r.error_code != 0 {
                    return Err(self.code_failed("OffsetFetch", r.error_code));
                }
                for t in &r.topics {
                    for p in &t.partitions {
                        take(&t.name, p.partition_index, p.committed_offset, p.error_code)?;
                    }
                }
            }
        }
        Ok((coordinator, read))
    }

    /// The classic group's state (`PreparingRebalance`, `Stable`...) and
    /// members with the assignment the coordinator holds for each.
    async fn describe(&self) -> Result<(String, Vec<Described>), String> {
        let coordinator = self.coordinator().await?;
        let connection = self
            .pool
            .connection(&coordinator, Purpose::Group)
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        let version = connection
            .version_for(ApiKey::DescribeGroups)
            .map_err(|e| e.to_string())?;
        let request = DescribeGroupsRequest {
            groups: vec![self.group.clone()],
            ..Default::default()
        };
        let r = connection
            .send_at(version, request)
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        let group = r
            .groups
            .into_iter()
            .next()
            .ok_or("no group in the answer")?;
        if group.error_code != 0 {
            return Err(self.code_failed("DescribeGroups", group.error_code));
        }
        let members = group
            .members
            .into_iter()
            .map(|m| {
                let partitions = decode_assignment(&m.member_assignment)
                    .map(|(_, a)| a.partitions.into_iter().collect())
                    .unwrap_or_default();
                Described {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    group_instance_id: m.group_instance_id,
                    partitions,
                }
            })
            .collect();
        Ok((group.group_state, members))
    }

    /// A KIP-848 group's state (`Assigning`, `Reconciling`, `Stable`...).
    async fn consumer_group_state(&self) -> Result<String, String> {
        let coordinator = self.coordinator().await?;
        let connection = self
            .pool
            .connection(&coordinator, Purpose::Group)
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        let version = connection
            .version_for(ApiKey::ConsumerGroupDescribe)
            .map_err(|e| e.to_string())?;
        let request = ConsumerGroupDescribeRequest {
            group_ids: vec![self.group.clone()],
            ..Default::default()
        };
        let r = connection
            .send_at(version, request)
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        let group = r
            .groups
            .into_iter()
            .next()
            .ok_or("no group in the answer")?;
        if group.error_code != 0 {
            return Err(self.code_failed("ConsumerGroupDescribe", group.error_code));
        }
        Ok(group.group_state)
    }
}

// -------------------------------------------------------------- assignment

/// Waits until the members' assignments cover `all` exactly once and stay
/// so (same generations) for a second; fails on any moment where two
/// members own one partition when `strict`. Returns how long it took.
async fn settle(
    members: &[&Running],
    all: &BTreeSet<TopicPartition>,
    limit: Duration,
    strict: bool,
) -> Duration {
    let started = Instant::now();
    let mut stable_since: Option<(Instant, Vec<i32>)> = None;
    loop {
        let assignments: Vec<Vec<TopicPartition>> =
            members.iter().map(|m| m.member.assignment()).collect();
        let generations: Vec<i32> = members.iter().map(|m| m.member.generation()).collect();
        let mut owners: BTreeMap<&TopicPartition, usize> = BTreeMap::new();
        for a in &assignments {
            for tp in a {
                *owners.entry(tp).or_default() += 1;
            }
        }
        let twice: Vec<_> = owners.iter().filter(|(_, n)| **n > 1).collect();
        if strict {
            assert!(
                twice.is_empty(),
                "owned twice at once: {twice:?}; {assignments:?}"
            );
        }
        for m in members {
            assert!(m.member.error().is_none(), "fatal: {:?}", m.member.error());
        }
        let complete = twice.is_empty()
            && owners.len() == all.len()
            && owners.keys().all(|tp| all.contains(*tp))
            && generations.iter().all(|g| *g > 0);
        if complete {
            match &stable_since {
                Some((since, gens)) if *gens == generations => {
                    if since.elapsed() >= Duration::from_secs(1) {
                        return started.elapsed();
                    }
                }
                _ => stable_since = Some((Instant::now(), generations.clone())),
            }
        } else {
            stable_since = None;
        }
        assert!(
            started.elapsed() < limit,
            "not settled after {limit:?}: assignments {assignments:?}, generations {generations:?}, events {:?}",
            members.iter().map(|m| m.events()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that `described` (the coordinator's view of every member) gives
/// each partition of `all` to exactly one member; returns why not.
fn valid_assignment(described: &[Described], all: &BTreeSet<TopicPartition>) -> Result<(), String> {
    let mut owners: BTreeMap<&TopicPartition, Vec<&str>> = BTreeMap::new();
    for m in described {
        for tp in &m.partitions {
            owners.entry(tp).or_default().push(&m.client_id);
        }
    }
    let twice: Vec<_> = owners.iter().filter(|(_, o)| o.len() > 1).collect();
    let missing: Vec<_> = all.iter().filter(|tp| !owners.contains_key(tp)).collect();
    let foreign: Vec<_> = owners.keys().filter(|tp| !all.contains(**tp)).collect();
    if twice.is_empty() && missing.is_empty() && foreign.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "owned twice: {twice:?}; owned by nobody: {missing:?}; not of the topic: {foreign:?}"
        ))
    }
}
