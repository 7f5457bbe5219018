//! Mixed groups: two of our members and one Java client member (Kafka's
//! own console consumer, kafka-clients from Maven Central) in one classic
//! group on the same assignor settle to a valid assignment: every
//! partition owned exactly once across the three, as the coordinator
//! reports it (DescribeGroups).

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vltava_group::TopicPartition;
use vltava_testkit::Cluster;

use crate::{TestGroup, Topic, classic_config, shared_cluster, unique, valid_assignment};

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
            .args(["--group", group])
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

async fn mixed_group_settles(ours: &str, java: &str) {
    let cluster = shared_cluster();
    let created = Topic::create(&cluster, &unique("interop"), 6).await;
    let topic = created.name.clone();
    let group = unique("interop-g");
    let test_group = TestGroup::new(&cluster.bootstrap(), &group, &created);
    let a = test_group.member(classic_config(&group, ours, Duration::from_secs(10)));
    let b = test_group.member(classic_config(&group, ours, Duration::from_secs(10)));
    let _java = JavaMember::start(&cluster, &topic, &group, java);
    let all = created.all();
    let started = Instant::now();
    let mut last = String::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the mixed group did not settle: ours {:?} {:?}, the coordinator says {last}",
            a.member.assignment(),
            b.member.assignment(),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let members = match test_group.observer.describe().await {
            Ok((_, members)) => members,
            Err(e) => {
                last = e;
                continue;
            }
        };
        last = format!("{members:?}");
        if members.len() != 3 || !members.iter().any(|m| m.client_id == "java-member") {
            continue;
        }
        // What our members hold must be what the coordinator says they hold.
        let ours_agree = [&a, &b].iter().all(|m| {
            let mine: BTreeSet<TopicPartition> = m.member.assignment().into_iter().collect();
            members
                .iter()
                .any(|d| d.member_id == m.member.member_id() && d.partitions == mine)
        });
        let java_owns = members
            .iter()
            .any(|m| m.client_id == "java-member" && !m.partitions.is_empty());
        if ours_agree && java_owns && valid_assignment(&members, &all).is_ok() {
            break;
        }
    }
    for m in [&a, &b] {
        assert!(m.member.error().is_none(), "{:?}", m.member.error());
    }
    eprintln!("{}", test_group.finish(&[]).await);
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
