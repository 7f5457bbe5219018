//! Mixed groups on the shared cluster: our members and a member of another
//! client in one classic group on the same assignor. The other client is
//! the Java one (Kafka's own console consumer, kafka-clients from Maven
//! Central through the testkit's distribution) or franz-go (the
//! `chaos-member` program of `vltava-chaos`, built here with `go build`
//! from the Go module proxy). Each case: the group settles, one of ours
//! leaves, another joins, and after every step the coordinator's view of
//! the group (DescribeGroups) gives every partition to exactly one member,
//! the other client's member among the owners, and our members hold what
//! the coordinator says they hold. Where the other client starts first and
//! settles alone, it is the group's leader (the coordinator keeps the
//! first member as leader while it stays) and its assignor assigns to ours.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vltava_group::TopicPartition;
use vltava_testkit::Cluster;

use crate::{
    Described, Running, TestGroup, Topic, classic_config, settle, shared_cluster, unique,
    valid_assignment,
};

const PARTITIONS: i32 = 6;
const LIMIT: Duration = Duration::from_secs(120);

/// The member of the other client.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// Kafka's console consumer with this `partition.assignment.strategy`.
    Java(&'static str),
    /// franz-go's `chaos-member` with this `--protocol`.
    FranzGo(&'static str),
}

/// A running member of another client, stopped when dropped.
struct PeerMember {
    child: Child,
    /// franz-go's stdin, kept open: closing it makes the member leave.
    stdin: Option<ChildStdin>,
    client_id: String,
    /// franz-go's event lines (not its per-record lines), for failures.
    lines: Arc<Mutex<Vec<String>>>,
}

impl PeerMember {
    fn start(cluster: &Cluster, topic: &Topic, group: &str, peer: Peer) -> Self {
        match peer {
            Peer::Java(strategy) => Self::java(cluster, topic, group, strategy),
            Peer::FranzGo(protocol) => Self::franz_go(cluster, topic, group, protocol),
        }
    }

    fn java(cluster: &Cluster, topic: &Topic, group: &str, strategy: &str) -> Self {
        let property = if cluster.distribution().major() >= 4 {
            "--formatter-property"
        } else {
            "--property"
        };
        let client_id = "java-member".to_owned();
        let child = cluster
            .distribution()
            .tool_command("org.apache.kafka.tools.consumer.ConsoleConsumer")
            .args(["--bootstrap-server", &cluster.bootstrap()])
            .args(["--topic", &topic.name, "--group", group])
            .args(["--consumer-property", "group.protocol=classic"])
            .args([
                "--consumer-property",
                &format!(
                    "partition.assignment.strategy=org.apache.kafka.clients.consumer.{strategy}"
                ),
            ])
            .args(["--consumer-property", "session.timeout.ms=10000"])
            .args(["--consumer-property", "heartbeat.interval.ms=500"])
            .args(["--consumer-property", &format!("client.id={client_id}")])
            .args([property, "print.key=false"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Kafka's console consumer");
        Self {
            child,
            stdin: None,
            client_id,
            lines: Arc::default(),
        }
    }

    fn franz_go(cluster: &Cluster, topic: &Topic, group: &str, protocol: &str) -> Self {
        let program = tokio::task::block_in_place(franz_go_member);
        let mut child = Command::new(program)
            .args(["--brokers", &cluster.bootstrap()])
            .args(["--topic", &topic.name, "--group", group])
            .args(["--protocol", protocol, "--name", "peer"])
            .args(["--session-timeout-ms", "10000", "--heartbeat-ms", "500"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the franz-go member");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        {
            // Read everything (a full pipe would block the member); keep
            // all but the one line per record.
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.split(' ').nth(1) != Some("R") {
                        lines.lock().unwrap().push(line);
                    }
                }
            });
        }
        Self {
            stdin: child.stdin.take(),
            child,
            client_id: "chaos-member-peer".to_owned(),
            lines,
        }
    }
}

impl Drop for PeerMember {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            // franz-go's clean close: commit, leave, exit.
            let _ = stdin.write_all(b"close\n");
            drop(stdin);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds `chaos-member` (franz-go, its version pinned by its `go.mod`)
/// once per test run, from the Go module proxy or the module cache.
fn franz_go_member() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(program) = built.as_ref() {
        return program.clone();
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vltava-chaos/franz-go");
    let program = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaos-member");
    let status = Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(&program)
        .arg(".")
        .current_dir(&source)
        .status()
        .unwrap_or_else(|e| panic!("running `go build` (Go 1.26, see its go.mod): {e}"));
    assert!(status.success(), "go build in {} failed", source.display());
    *built = Some(program.clone());
    program
}

/// Waits until the coordinator describes the group as stable with
/// `members` members, among them `peer`, every partition owned exactly
/// once, `ours` holding what the coordinator says they hold, and the same
/// description for 1.5 s. Returns how long it took and the description.
async fn settled(
    group: &TestGroup,
    ours: &[&Running],
    peer: &PeerMember,
    members: usize,
) -> (Duration, Vec<Described>) {
    let all = group.topic.all();
    let started = Instant::now();
    let mut same_since: Option<(Instant, BTreeMap<String, BTreeSet<TopicPartition>>)> = None;
    let mut last = String::new();
    loop {
        assert!(
            started.elapsed() < LIMIT,
            "the mixed group did not settle with {members} members: {last}; ours {:?}; the peer's events {:?}",
            ours.iter()
                .map(|m| (m.member.member_id(), m.member.assignment(), m.events()))
                .collect::<Vec<_>>(),
            peer.lines.lock().unwrap()
        );
        for m in ours {
            assert!(m.member.error().is_none(), "{:?}", m.member.error());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (state, described) = match group.observer.describe().await {
            Ok(d) => d,
            Err(e) => {
                last = e;
                continue;
            }
        };
        last = format!("state {state}, members {described:?}");
        let peer_owns = described
            .iter()
            .filter(|m| m.client_id == peer.client_id)
            .map(|m| m.partitions.len())
            .sum::<usize>();
        let ours_agree = ours.iter().all(|m| {
            let id = m.member.member_id();
            let mine: BTreeSet<TopicPartition> = m.member.assignment().into_iter().collect();
            described
                .iter()
                .any(|d| d.member_id == id && d.partitions == mine)
        });
        let ok = state == "Stable"
            && described.len() == members
            && peer_owns > 0
            && ours_agree
            && valid_assignment(&described, &all).is_ok();
        if !ok {
            same_since = None;
            continue;
        }
        let view: BTreeMap<String, BTreeSet<TopicPartition>> = described
            .iter()
            .map(|d| (d.member_id.clone(), d.partitions.clone()))
            .collect();
        match &same_since {
            Some((since, seen)) if *seen == view => {
                if since.elapsed() >= Duration::from_millis(1500) {
                    return (started.elapsed(), described);
                }
            }
            _ => same_since = Some((Instant::now(), view)),
        }
    }
}

/// One case: `ours` as our members' assignor, `peer` the other client's
/// member; `peer_leads`: the peer starts first and settles alone, so it
/// leads the group throughout; otherwise one of ours does until it leaves.
async fn mixed_group(ours: &str, peer: Peer, peer_leads: bool) {
    let cluster = shared_cluster();
    let topic = Topic::create(&cluster, &unique("interop"), PARTITIONS).await;
    let group_id = unique("interop-g");
    let group = TestGroup::new(&cluster.bootstrap(), &group_id, &topic);
    let config = || classic_config(&group_id, ours, Duration::from_secs(10));
    let mut report = Vec::new();
    let (a, other) = if peer_leads {
        let other = PeerMember::start(&cluster, &topic, &group_id, peer);
        let (took, _) = settled(&group, &[], &other, 1).await;
        report.push(format!("{peer:?} alone (the leader) after {took:?}"));
        (group.member(config()), other)
    } else {
        let a = group.member(config());
        settle(&[&a], &topic.all(), LIMIT, true).await;
        (a, PeerMember::start(&cluster, &topic, &group_id, peer))
    };
    let b = group.member(config());
    let (took, described) = settled(&group, &[&a, &b], &other, 3).await;
    report.push(format!("3 members after {took:?}: {described:?}"));

    // One of ours leaves, then another joins.
    a.leave().await;
    let (took, described) = settled(&group, &[&b], &other, 2).await;
    report.push(format!("2 members after {took:?}: {described:?}"));
    let c = group.member(config());
    let (took, described) = settled(&group, &[&b, &c], &other, 3).await;
    report.push(format!("3 members again after {took:?}: {described:?}"));

    for line in &report {
        eprintln!("{ours} with {peer:?}: {line}");
    }
    eprintln!("{}", group.finish(&[]).await);
    c.leave().await;
    b.leave().await;
    drop(other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_and_a_java_member_share_a_range_group() {
    mixed_group("range", Peer::Java("RangeAssignor"), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_and_a_java_member_share_a_cooperative_sticky_group() {
    mixed_group(
        "cooperative-sticky",
        Peer::Java("CooperativeStickyAssignor"),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_join_a_roundrobin_group_led_by_a_java_member() {
    mixed_group("roundrobin", Peer::Java("RoundRobinAssignor"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_join_a_sticky_group_led_by_a_java_member() {
    mixed_group("sticky", Peer::Java("StickyAssignor"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_join_a_range_group_led_by_a_franz_go_member() {
    mixed_group("range", Peer::FranzGo("range"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_and_a_franz_go_member_share_a_cooperative_sticky_group() {
    mixed_group(
        "cooperative-sticky",
        Peer::FranzGo("cooperative-sticky"),
        false,
    )
    .await;
}
