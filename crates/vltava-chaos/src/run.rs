//! The runner: one scenario, one protocol, one client, on a 3-node cluster.
//!
//! A run creates a fresh topic (12 partitions, RF 3,
//! `min.insync.replicas=2`) and group, starts the sequence producer, the
//! committed-offset observer and the members, waits for the group to
//! settle, puts it through the scenario's faults while the producer keeps
//! writing, stops the producer, waits for the members to reach lag 0,
//! closes them, and computes the account from the journal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vltava_testkit::Cluster;

use crate::eos;
use crate::journal::{Journal, What, Who};
use crate::member::{Client, Member, MemberSpec};
use crate::observe::Observer;
use crate::produce::{Produced, SeqProducer};
use crate::scenario::Scenario;
use crate::settings::{Protocol, Settings};
use crate::verdict::{self, Account};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The scenario.
    pub scenario: Scenario,
    /// The group protocol.
    pub protocol: Protocol,
    /// The members' client.
    pub client: Client,
    /// Timeouts and rates.
    pub settings: Settings,
    /// Print the timeline as it happens.
    pub echo: bool,
    /// Where to write the run's whole journal (one file per run), for a
    /// post-mortem; `None`: nowhere.
    pub journal_dir: Option<std::path::PathBuf>,
    /// How long [`Scenario::Soak`] injects faults (other scenarios ignore it).
    pub soak: Duration,
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The scenario.
    pub scenario: Scenario,
    /// The protocol.
    pub protocol: Protocol,
    /// The client's name.
    pub client: &'static str,
    /// The account.
    pub account: Account,
    /// What failed the pass criteria (empty: passed).
    pub failures: Vec<String>,
    /// How long the run took.
    pub took: Duration,
    /// The journal file, if one was written.
    pub journal: Option<std::path::PathBuf>,
}

impl RunReport {
    /// Whether every criterion held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// A few lines: the verdict and the figures.
    pub fn summary(&self) -> String {
        let a = &self.account;
        let seconds = |r: Option<Duration>| {
            r.map_or("never".to_owned(), |r| format!("{:.1}s", r.as_secs_f64()))
        };
        let recovery = a
            .recoveries
            .iter()
            .zip(&a.produce_recoveries)
            .zip(&a.failovers)
            .map(|(((_, r), p), f)| match f {
                Some(f) => format!(
                    "{} (producer {}, leaders moved {:.1}s)",
                    seconds(*r),
                    seconds(*p),
                    f.as_secs_f64()
                ),
                None => format!("{} (producer {})", seconds(*r), seconds(*p)),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!(
            "{} {} [{} / {}] in {:.0}s\n    records acked {}, delivered {}, lost {}, duplicates {} (outside the window {}, worst burst {}), commits {} ({} backwards)\n    rebalances {}, recovery {}, drain {}, errors reported {} non-fatal / {} fatal\n    final assignment {}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.scenario,
            self.protocol,
            self.client,
            self.took.as_secs_f64(),
            a.acked,
            a.deliveries,
            a.lost.len(),
            a.duplicates,
            a.duplicates_outside_window,
            a.worst_duplicate_burst,
            a.commits,
            a.commit_regressions.len(),
            a.rebalances,
            if recovery.is_empty() {
                "-".to_owned()
            } else {
                recovery
            },
            a.drain.map_or("NOT REACHED".to_owned(), |d| format!(
                "{:.1}s",
                d.as_secs_f64()
            )),
            a.errors,
            a.fatal.len(),
            a.final_assignment
                .iter()
                .map(|(m, p)| format!("m{m}:{}", crate::journal::partitions(p)))
                .collect::<Vec<_>>()
                .join(" "),
        );
        for sample in &a.error_samples {
            out.push_str(&format!("\n    reported e.g.: {sample}"));
        }
        for failure in &self.failures {
            out.push_str(&format!("\n    FAILED: {failure}"));
        }
        if let Some(journal) = &self.journal {
            out.push_str(&format!("\n    journal: {}", journal.display()));
        }
        out
    }
}

/// Runs one scenario. The cluster must have 3 nodes; nodes found down are
/// started first.
pub fn run(cluster: &Cluster, options: &RunOptions) -> Result<RunReport, String> {
    let started = Instant::now();
    let nodes = cluster.node_ids();
    if nodes.len() < 3 {
        return Err(format!(
            "the reliability suite needs 3 nodes; this cluster has {}",
            nodes.len()
        ));
    }
    cluster.start_nodes(&nodes).map_err(|e| e.to_string())?;
    wait_in_sync(cluster, Duration::from_secs(120))?;
    let n = options.scenario.number();
    let prefix = match options.scenario {
        Scenario::Mission => "vltava-demo".to_owned(),
        Scenario::Soak => "chaos-soak".to_owned(),
        _ => format!("chaos-s{n}"),
    };
    let topic = vltava_testkit::unique_name(&prefix);
    let group = vltava_testkit::unique_name(&format!("{prefix}-{}", options.protocol));
    let s = &options.settings;
    cluster
        .create_topic_with_configs(&topic, s.partitions, 3, &[("min.insync.replicas", "2")])
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting a tokio runtime: {e}"))?;
    let journal = Arc::new(Journal::new(options.echo));
    let spec = MemberSpec {
        bootstrap: cluster.bootstrap(),
        topic: topic.clone(),
        group: group.clone(),
        protocol: options.protocol,
        settings: s.clone(),
    };
    let (account, failures) = runtime.block_on(async {
        if options.scenario == Scenario::ExactlyOnce {
            return eos::run(cluster, options, &spec, journal.clone()).await;
        }
        let watcher = watch_leaders(cluster, &topic, journal.clone())?;
        let mut run = Running::start(&spec, options, journal.clone()).await?;
        run.settle().await?;
        faults(cluster, options, &mut run, &group, &topic).await?;
        let (produced, drained_at, drain) = run.finish().await;
        watcher.store(true, std::sync::atomic::Ordering::Release);
        let expect = options.scenario.expect(s);
        let account = verdict::account(
            &journal.entries(),
            &produced,
            s.partitions,
            &expect,
            drained_at,
            drain,
        );
        let failures = verdict::judge(&account, &expect);
        Ok::<_, String>((account, failures))
    })?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    let journal = write_journal(options, &group, &journal);
    Ok(RunReport {
        scenario: options.scenario,
        protocol: options.protocol,
        client: options.client.name(),
        account,
        failures,
        took: started.elapsed(),
        journal,
    })
}

/// Writes every entry of the journal, one per line, into
/// `options.journal_dir`; the file's path, or `None` if there is no
/// folder or it could not be written.
fn write_journal(
    options: &RunOptions,
    group: &str,
    journal: &Journal,
) -> Option<std::path::PathBuf> {
    use std::io::Write;
    let dir = options.journal_dir.as_ref()?;
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("{group}-{}.log", options.client.name()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).ok()?);
    for e in journal.entries() {
        writeln!(
            out,
            "{:>9.3} {:<9} {}",
            e.at.as_secs_f64(),
            e.who.to_string(),
            crate::journal::describe(&e.what)
        )
        .ok()?;
    }
    out.flush().ok()?;
    Some(path)
}

/// A scenario under way: producer, observer and members.
pub(crate) struct Running {
    pub(crate) spec: MemberSpec,
    pub(crate) client: Client,
    pub(crate) journal: Arc<Journal>,
    pub(crate) producer: Option<SeqProducer>,
    pub(crate) observer: Option<Observer>,
    pub(crate) members: Vec<Member>,
    pub(crate) next_index: usize,
}

impl Running {
    async fn start(
        spec: &MemberSpec,
        options: &RunOptions,
        journal: Arc<Journal>,
    ) -> Result<Self, String> {
        let s = &options.settings;
        let observer = Observer::start(&spec.bootstrap, &spec.topic, &spec.group, journal.clone())?;
        let producer = SeqProducer::start(
            &spec.bootstrap,
            &spec.topic,
            s.partitions,
            s.rate,
            journal.clone(),
        )?;
        let mut run = Self {
            spec: spec.clone(),
            client: options.client.clone(),
            journal,
            producer: Some(producer),
            observer: Some(observer),
            members: Vec::new(),
            next_index: 1,
        };
        for _ in 0..s.members {
            run.add_member().await?;
        }
        Ok(run)
    }

    /// Starts one more member.
    pub(crate) async fn add_member(&mut self) -> Result<usize, String> {
        let index = self.next_index;
        self.next_index += 1;
        let member = Member::start(index, &self.client, &self.spec, self.journal.clone()).await?;
        self.members.push(member);
        Ok(index)
    }

    /// Closes member `index` cleanly.
    pub(crate) async fn close_member(&mut self, index: usize) {
        if let Some(i) = self.members.iter().position(|m| m.index() == index) {
            self.members.remove(i).close(&self.journal).await;
        }
    }

    /// Crashes member `index`.
    pub(crate) async fn crash_member(&mut self, index: usize) {
        if let Some(i) = self.members.iter().position(|m| m.index() == index) {
            self.members.remove(i).crash(&self.journal).await;
        }
    }

    /// Waits until every partition is owned once, every member owns some,
    /// every partition has delivered a record and nothing changed for 1 s.
    pub(crate) async fn settle(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + self.spec.settings.settle_deadline;
        let partitions = self.spec.settings.partitions;
        loop {
            let entries = self.journal.entries();
            let now = self.journal.now();
            let owners = verdict::assignment(&entries, now);
            let live: Vec<usize> = self.members.iter().map(Member::index).collect();
            let every_member = live
                .iter()
                .all(|m| owners.get(m).is_some_and(|p| !p.is_empty()));
            let map: BTreeMap<usize, Vec<i32>> = owners
                .iter()
                .map(|(m, p)| (*m, p.iter().copied().collect()))
                .collect();
            let valid = verdict::assignment_problem(&map, partitions).is_none();
            let last_change = entries
                .iter()
                .rev()
                .find(|e| {
                    matches!(e.who, Who::Member(_))
                        && matches!(e.what, What::Assigned(_) | What::Revoked(_) | What::Lost(_))
                })
                .map_or(Duration::ZERO, |e| e.at);
            let mut consumed = vec![false; partitions as usize];
            for e in &entries {
                if let What::Consumed { partition, .. } = e.what
                    && let Some(c) = consumed.get_mut(partition as usize)
                {
                    *c = true;
                }
            }
            if every_member
                && valid
                && consumed.iter().all(|c| *c)
                && now.saturating_sub(last_change) >= Duration::from_secs(1)
            {
                self.journal.write(Who::Runner, What::Settled);
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the group did not settle within {:?}: {owners:?}",
                    self.spec.settings.settle_deadline
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the producer, waits for lag 0 (bounded), closes the members.
    /// Returns what was produced, when the members were told to close, and
    /// how long reaching lag 0 took (`None`: not within the deadline).
    pub(crate) async fn finish(&mut self) -> (Produced, Duration, Option<Duration>) {
        let produced = match self.producer.take() {
            Some(p) => p.stop().await,
            None => Produced::default(),
        };
        let started = Instant::now();
        let deadline = started + self.spec.settings.drain_deadline;
        // The last acknowledged offset of each partition.
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for s in produced.acked() {
            let offset = s.offset.unwrap_or_default();
            let l = last.entry(s.partition).or_insert(offset);
            *l = (*l).max(offset);
        }
        let mut reached: BTreeMap<i32, i64> = BTreeMap::new();
        let mut seen = 0;
        let drain = loop {
            let fresh = self.journal.entries_from(seen);
            seen += fresh.len();
            for e in fresh {
                if let What::Consumed {
                    partition, offset, ..
                } = e.what
                {
                    let r = reached.entry(partition).or_insert(offset);
                    *r = (*r).max(offset);
                }
            }
            if last
                .iter()
                .all(|(p, o)| reached.get(p).is_some_and(|r| r >= o))
            {
                break Some(started.elapsed());
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        self.journal.write(
            Who::Runner,
            What::Step(match drain {
                Some(d) => format!("lag 0 after {:.1} s; closing the members", d.as_secs_f64()),
                None => "lag 0 NOT reached; closing the members".to_owned(),
            }),
        );
        let drained_at = self.journal.now();
        let members = std::mem::take(&mut self.members);
        let journal = self.journal.clone();
        let closes = members.into_iter().map(|m| {
            let journal = journal.clone();
            tokio::spawn(async move { m.close(&journal).await })
        });
        for close in closes.collect::<Vec<_>>() {
            let _ = close.await;
        }
        // One more observer round, so the closing commits are read too.
        tokio::time::sleep(crate::observe::EVERY * 3).await;
        if let Some(observer) = self.observer.take() {
            observer.stop();
        }
        (produced, drained_at, drain)
    }
}

/// Runs the scenario's faults.
async fn faults(
    cluster: &Cluster,
    options: &RunOptions,
    run: &mut Running,
    group: &str,
    topic: &str,
) -> Result<(), String> {
    let scenario = options.scenario;
    let journal = run.journal.clone();
    let fault = |text: String| journal.write(Who::Runner, What::Fault(text));
    let healed = |text: String| journal.write(Who::Runner, What::Healed(text));
    let step = |text: String| journal.write(Who::Runner, What::Step(text));
    let e = |e: vltava_testkit::Error| e.to_string();
    let tail = Duration::from_secs(8);
    let coordinator = || cluster.group_coordinator(group).map_err(e);
    match scenario {
        Scenario::RollingRestart => {
            for round in 1..=2 {
                for node in cluster.node_ids() {
                    fault(format!("clean restart of node {node} (round {round})"));
                    cluster.stop(node).map_err(e)?;
                    cluster.start_node(node).map_err(e)?;
                    healed(format!("node {node} back"));
                    wait_in_sync(cluster, Duration::from_secs(90))?;
                    step(format!("node {node} in sync again"));
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        Scenario::CoordinatorKill => {
            let node = coordinator()?;
            fault(format!("kill -9 the coordinator, node {node}"));
            cluster.kill(node).map_err(e)?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            cluster.start_node(node).map_err(e)?;
            healed(format!("node {node} back"));
        }
        Scenario::LeaderKill => {
            let coordinator = coordinator()?;
            kill_a_leader(cluster, run, topic, coordinator).await?;
        }
        Scenario::Mission => {
            let node = coordinator()?;
            fault(format!(
                "clean restart of node {node}, the group coordinator"
            ));
            cluster.stop(node).map_err(e)?;
            cluster.start_node(node).map_err(e)?;
            healed(format!("node {node} back"));
            wait_in_sync(cluster, Duration::from_secs(90))?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let coordinator = coordinator()?;
            kill_a_leader(cluster, run, topic, coordinator).await?;
        }
        Scenario::AllDown => {
            let nodes = cluster.node_ids();
            fault("kill -9 every node".to_owned());
            for &node in &nodes {
                cluster.kill(node).map_err(e)?;
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
            step("starting every node".to_owned());
            cluster.start_nodes(&nodes).map_err(e)?;
            cluster.wait_ready().map_err(e)?;
            healed("the cluster is ready".to_owned());
        }
        Scenario::CoordinatorPause => {
            let node = coordinator()?;
            let pause = run.spec.settings.request_timeout + Duration::from_secs(5);
            fault(format!(
                "SIGSTOP the coordinator, node {node}, for {} s",
                pause.as_secs()
            ));
            cluster.pause(node).map_err(e)?;
            tokio::time::sleep(pause).await;
            cluster.resume(node).map_err(e)?;
            healed(format!("node {node} thawed"));
        }
        Scenario::MemberCrash => {
            let coordinator = coordinator()?;
            let node = cluster
                .node_ids()
                .into_iter()
                .find(|&n| n != coordinator)
                .ok_or("no node but the coordinator")?;
            let victim = run.members.first().map(Member::index).ok_or("no member")?;
            fault(format!(
                "member {victim} crashes while node {node} restarts"
            ));
            run.crash_member(victim).await;
            cluster.stop(node).map_err(e)?;
            cluster.start_node(node).map_err(e)?;
            healed(format!("node {node} back"));
        }
        Scenario::Churn => {
            let node = cluster
                .node_ids()
                .into_iter()
                .find(|&n| Some(n) != coordinator().ok())
                .ok_or("no node but the coordinator")?;
            let gap = Duration::from_secs(3);
            let joined = run.add_member().await?;
            step(format!("member {joined} joins"));
            tokio::time::sleep(gap).await;
            fault(format!(
                "clean restart of node {node}, members coming and going"
            ));
            cluster.stop(node).map_err(e)?;
            run.close_member(joined).await;
            let joined = run.add_member().await?;
            step(format!("member {joined} joins"));
            tokio::time::sleep(gap).await;
            cluster.start_node(node).map_err(e)?;
            healed(format!("node {node} back"));
            run.close_member(joined).await;
            for _ in 0..2 {
                tokio::time::sleep(gap).await;
                let joined = run.add_member().await?;
                step(format!("member {joined} joins"));
                tokio::time::sleep(gap).await;
                run.close_member(joined).await;
            }
        }
        Scenario::KillMidRebalance => {
            let node = coordinator()?;
            let before = journal.len();
            let joined = run.add_member().await?;
            step(format!("member {joined} joins, starting a rebalance"));
            // Wait for the rebalance to be under way: a member's assignment
            // changing, or the newcomer joining.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline
                && !journal.entries_from(before).iter().any(|e| {
                    matches!(e.who, Who::Member(_))
                        && matches!(e.what, What::Revoked(_) | What::Joined { .. })
                })
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            fault(format!(
                "kill -9 the coordinator, node {node}, mid-rebalance"
            ));
            cluster.kill(node).map_err(e)?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            cluster.start_node(node).map_err(e)?;
            healed(format!("node {node} back"));
        }
        Scenario::Soak => random_faults(cluster, &journal, options.soak).await?,
        Scenario::ExactlyOnce => {
            return Err(format!("{scenario} has no fault script of its own"));
        }
    }
    wait_in_sync(cluster, Duration::from_secs(90))?;
    tokio::time::sleep(tail).await;
    Ok(())
}

/// kill -9 of the leader of some partition that is not led by the
/// coordinator, started again 5 s later.
async fn kill_a_leader(
    cluster: &Cluster,
    run: &Running,
    topic: &str,
    coordinator: u32,
) -> Result<(), String> {
    let e = |e: vltava_testkit::Error| e.to_string();
    let mut victim = None;
    for p in 0..run.spec.settings.partitions {
        let leader = cluster.partition_leader(topic, p).map_err(e)?;
        if leader != coordinator {
            victim = Some((leader, p));
            break;
        }
    }
    let (node, p) = victim.ok_or("every partition is led by the coordinator")?;
    run.journal.write(
        Who::Runner,
        What::Fault(format!(
            "kill -9 node {node}, leader of p{p}, not the coordinator (node {coordinator})"
        )),
    );
    cluster.kill(node).map_err(e)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.start_node(node).map_err(e)?;
    run.journal
        .write(Who::Runner, What::Healed(format!("node {node} back")));
    Ok(())
}

/// Watches the topic's leaders from a thread of its own (the testkit's
/// metadata probe, not the client under test) and writes each change to
/// the journal, so a timeline shows when the cluster moved and when the
/// members followed. Stops when the returned flag is set.
pub(crate) fn watch_leaders(
    cluster: &Cluster,
    topic: &str,
    journal: Arc<Journal>,
) -> Result<Arc<std::sync::atomic::AtomicBool>, String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let cluster = Cluster::attach(cluster.dir()).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let topic = topic.to_owned();
    std::thread::spawn(move || {
        let mut leaders: BTreeMap<i32, i32> = BTreeMap::new();
        while !stopped.load(Ordering::Acquire) {
            if let Ok(m) = cluster.metadata()
                && let Some(t) = m.topics.iter().find(|t| t.name == topic)
            {
                let mut moved: BTreeMap<(i32, i32), Vec<i32>> = BTreeMap::new();
                for p in &t.partitions {
                    let old = leaders.insert(p.partition, p.leader);
                    if let Some(old) = old
                        && old != p.leader
                    {
                        moved.entry((old, p.leader)).or_default().push(p.partition);
                    }
                }
                for ((from, to), partitions) in moved {
                    journal.write(
                        Who::Runner,
                        What::LeadersMoved {
                            partitions,
                            from,
                            to,
                        },
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    Ok(stop)
}

/// Waits until every partition of every topic has all its replicas in sync.
pub fn wait_in_sync(cluster: &Cluster, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let lagging = match cluster.metadata() {
            Ok(m) => m
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
                .filter(|(_, p)| p.leader < 0 || p.isr.len() < p.replicas.len())
                .map(|(t, p)| format!("{}/{}", t.name, p.partition))
                .collect::<Vec<_>>(),
            Err(e) => vec![e.to_string()],
        };
        if lagging.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "replicas not in sync after {within:?}: {}",
                lagging.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The soak's faults: random faults on random nodes every 10 to 20 s for
/// `length`, one node at a time (kill -9, clean stop, SIGSTOP, restart,
/// each undone before the next). The seed is written to the journal;
/// `VLTAVA_CHAOS_SEED` repeats a soak.
async fn random_faults(
    cluster: &Cluster,
    journal: &Journal,
    length: Duration,
) -> Result<(), String> {
    let e = |e: vltava_testkit::Error| e.to_string();
    let nodes = cluster.node_ids();
    let mut random = Random::seeded();
    journal.write(
        Who::Runner,
        What::Step(format!("soak seed {} for {:?}", random.seed, length)),
    );
    let end = Instant::now() + length;
    while Instant::now() < end {
        let node = nodes[random.below(nodes.len())];
        let period = Duration::from_secs(10 + random.below(11) as u64);
        let since = Instant::now();
        let held = Duration::from_secs(2 + random.below(6) as u64);
        match random.below(4) {
            0 => {
                journal.write(Who::Runner, What::Fault(format!("kill -9 node {node}")));
                cluster.kill(node).map_err(e)?;
                tokio::time::sleep(held).await;
                cluster.start_node(node).map_err(e)?;
            }
            1 => {
                journal.write(
                    Who::Runner,
                    What::Fault(format!("clean stop of node {node}")),
                );
                cluster.stop(node).map_err(e)?;
                tokio::time::sleep(held).await;
                cluster.start_node(node).map_err(e)?;
            }
            2 => {
                journal.write(
                    Who::Runner,
                    What::Fault(format!("SIGSTOP node {node} for {} s", held.as_secs())),
                );
                cluster.pause(node).map_err(e)?;
                tokio::time::sleep(held).await;
                cluster.resume(node).map_err(e)?;
            }
            _ => {
                journal.write(Who::Runner, What::Fault(format!("restart of node {node}")));
                cluster.restart(node).map_err(e)?;
            }
        }
        journal.write(Who::Runner, What::Healed(format!("node {node} back")));
        wait_in_sync(cluster, Duration::from_secs(90))?;
        if let Some(rest) = period.checked_sub(since.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    Ok(())
}

/// A small xorshift generator: the soak's choices, reproducible from the
/// seed it prints.
struct Random {
    seed: u64,
    state: u64,
}

impl Random {
    fn seeded() -> Self {
        let seed = std::env::var("VLTAVA_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        Self { seed, state: seed }
    }

    fn below(&mut self, n: usize) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % n.max(1) as u64) as usize
    }
}
