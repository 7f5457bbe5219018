//! Integration tests of the group driver ([`GroupMember`]) against a real
//! Apache Kafka cluster: the shared one (`VLTAVA_CLUSTER_DIR`; without it
//! the tests fail with instructions) for groups joining and leaving, and a
//! 3-node cluster of the binary's own for broker faults.

mod assignors;
mod fallback;
mod faults;
mod groups;
mod interop;
mod protocol;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use vltava_group::{
    DriverOptions, GroupConfig, GroupEvent, GroupMember, GroupProtocol, TopicPartition,
};
use vltava_meta::{MetadataClient, MetadataConfig};
use vltava_net::{BrokerPool, PoolConfig};
use vltava_testkit::Cluster;

fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

use vltava_testkit::unique_name as unique;

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

/// One member, with a task that takes its events (acknowledging each
/// revocation by asking for the next event) and logs them with the time.
struct Running {
    member: Arc<GroupMember>,
    log: Arc<Mutex<Vec<(Instant, GroupEvent)>>>,
    pump: JoinHandle<()>,
}

impl Running {
    fn start(bootstrap: &str, config: GroupConfig, topic: &str) -> Self {
        let meta = MetadataClient::new(
            bootstrap,
            BrokerPool::new(PoolConfig::default()),
            MetadataConfig::new(),
        )
        .unwrap();
        let member =
            Arc::new(GroupMember::with_options(meta, config, [topic], test_options()).unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let pump = {
            let member = member.clone();
            let log = log.clone();
            tokio::spawn(async move {
                while let Some(event) = member.next_event().await {
                    log.lock().unwrap().push((Instant::now(), event));
                }
            })
        };
        Self { member, log, pump }
    }

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

    async fn leave(mut self) {
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
