//! Mixed groups: two of our members and one Java client member (Kafka's
//! own console consumer, kafka-clients from Maven Central) in one classic
//! group on the same assignor settle to a valid assignment: every
//! partition owned exactly once across the three, as the broker reports it.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vltava_group::TopicPartition;
use vltava_testkit::Cluster;

use crate::{Running, all_partitions, classic_config, shared_cluster, unique};

/// Kafka's console consumer in `group`, with `strategy` (a Java assignor
/// class), killed when dropped.
struct JavaMember(Child);

impl JavaMember {
    fn start(cluster: &Cluster, topic: &str, group: &str, strategy: &str) -> Self {
        let property = if cluster.distribution().major() >= 4 {
            "--formatter-property"
        } else {
            "--property"
        };
        let child = cluster
            .distribution()
            .tool_command("org.apache.kafka.tools.consumer.ConsoleConsumer")
            .args(["--bootstrap-server", &cluster.bootstrap(), "--topic", topic])
            .args(["--group", group, "--timeout-ms", "90000"])
            .args(["--consumer-property", "group.protocol=classic"])
            .args([
                "--consumer-property",
                &format!("partition.assignment.strategy={strategy}"),
            ])
            .args(["--consumer-property", "session.timeout.ms=10000"])
            .args(["--consumer-property", "heartbeat.interval.ms=500"])
            .args(["--consumer-property", "client.id=java-member"])
            .args([property, "print.key=false"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Kafka's console consumer");
        Self(child)
    }
}

impl Drop for JavaMember {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The partitions of `topic` each member of `group` owns, as Kafka's own
/// ConsumerGroupCommand describes them: (client id, partitions).
fn described(cluster: &Cluster, group: &str, topic: &str) -> Vec<(String, BTreeSet<i32>)> {
    let Ok(out) = cluster.distribution().run_tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &[
            "--bootstrap-server",
            &cluster.bootstrap(),
            "--describe",
            "--group",
            group,
            "--members",
            "--verbose",
        ],
    ) else {
        return Vec::new();
    };
    let mut members = Vec::new();
    for line in out.lines() {
        let columns: Vec<&str> = line.split_whitespace().collect();
        // GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS ... ASSIGNMENT ...
        if columns.len() < 5 || columns[0] != group {
            continue;
        }
        let client = columns[3].to_owned();
        let mut owned = BTreeSet::new();
        // Kafka 3.x writes `topic(0,1)`, Kafka 4 `topic:0,1` (the current
        // assignment first, then the target one; the first match counts).
        for cell in &columns[5..] {
            let list = cell
                .strip_prefix(&format!("{topic}("))
                .and_then(|c| c.strip_suffix(')'))
                .or_else(|| cell.strip_prefix(&format!("{topic}:")));
            if let Some(list) = list {
                owned.extend(list.split(',').filter_map(|p| p.trim().parse::<i32>().ok()));
                break;
            }
        }
        members.push((client, owned));
    }
    members
}

async fn mixed_group_settles(ours: &str, java: &str) {
    let cluster = shared_cluster();
    let topic = unique("interop");
    cluster.create_topic(&topic, 6, 3).unwrap();
    let group = unique("interop-g");
    let a = Running::start(
        &cluster.bootstrap(),
        classic_config(&group, ours, Duration::from_secs(10)),
        &topic,
    );
    let b = Running::start(
        &cluster.bootstrap(),
        classic_config(&group, ours, Duration::from_secs(10)),
        &topic,
    );
    let _java = JavaMember::start(&cluster, &topic, &group, java);
    let all: BTreeSet<i32> = all_partitions(&topic, 6)
        .iter()
        .map(|tp| tp.partition)
        .collect();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the mixed group did not settle: ours {:?} {:?}, broker says {:?}\n{}",
            a.member.assignment(),
            b.member.assignment(),
            described(&cluster, &group, &topic),
            cluster
                .distribution()
                .run_tool(
                    "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                    &[
                        "--bootstrap-server",
                        &cluster.bootstrap(),
                        "--describe",
                        "--group",
                        &group,
                        "--members",
                        "--verbose"
                    ],
                )
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let members = tokio::task::block_in_place(|| described(&cluster, &group, &topic));
        if members.len() != 3 || !members.iter().any(|(c, _)| c == "java-member") {
            continue;
        }
        let mut union = BTreeSet::new();
        let mut total = 0;
        for (_, owned) in &members {
            total += owned.len();
            union.extend(owned.iter().copied());
        }
        // What our members hold must be what the broker says they hold.
        let ours_now: BTreeSet<i32> = a
            .member
            .assignment()
            .iter()
            .chain(b.member.assignment().iter())
            .map(|tp: &TopicPartition| tp.partition)
            .collect();
        let java_owned: BTreeSet<i32> = members
            .iter()
            .filter(|(c, _)| c == "java-member")
            .flat_map(|(_, o)| o.iter().copied())
            .collect();
        if union == all
            && total == all.len()
            && !java_owned.is_empty()
            && ours_now.len() + java_owned.len() == all.len()
            && ours_now.is_disjoint(&java_owned)
        {
            break;
        }
    }
    for m in [&a, &b] {
        assert!(m.member.error().is_none(), "{:?}", m.member.error());
    }
    a.leave().await;
    b.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_and_a_java_member_share_a_range_group() {
    mixed_group_settles("range", "org.apache.kafka.clients.consumer.RangeAssignor").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_members_and_a_java_member_share_a_cooperative_sticky_group() {
    mixed_group_settles(
        "cooperative-sticky",
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
    )
    .await;
}
