//! Groups: a simple group's committed offsets and lag (checked against
//! Kafka's `ConsumerGroupCommand`), live classic and KIP-848 groups run by
//! Kafka's console consumer, listing and deleting.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vltava::net::{Connection, ConnectionConfig};
use vltava::wire::messages::OffsetCommitRequest;
use vltava::wire::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use vltava::{
    Admin, ErrorCode, GroupDescription, GroupType, ListGroupsOptions, NewTopic, Producer,
    ProducerConfig, ProducerRecord, TopicPartition,
};
use vltava_testkit::Cluster;

use crate::{admin, shared_cluster, unique};

/// Produces `count` records to each listed partition of `topic`.
async fn produce(cluster: &Cluster, topic: &str, counts: &[(i32, usize)]) {
    let producer = Producer::new(&cluster.bootstrap(), ProducerConfig::new()).unwrap();
    let mut deliveries = Vec::new();
    for &(partition, count) in counts {
        for i in 0..count {
            let record = ProducerRecord::new(topic, format!("v{i}")).partition(partition);
            deliveries.push(
                producer
                    .send(record)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap_or_else(|e| panic!("{e}"));
    }
    producer.close().await;
}

/// Commits offsets for `group` as a simple group (no member, generation
/// -1), straight to its coordinator as the testkit finds it; retries
/// (bounded) while a new coordinator loads or moves.
async fn commit_simple(cluster: &Cluster, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let started = Instant::now();
    loop {
        let node = cluster.group_coordinator(group).unwrap();
        let address = cluster.broker_addr(node).unwrap().to_string();
        let connection = Connection::connect(&address, ConnectionConfig::new())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let response = connection
            .send(OffsetCommitRequest {
                group_id: group.to_owned(),
                generation_id_or_member_epoch: -1,
                member_id: String::new(),
                topics: vec![OffsetCommitRequestTopic {
                    name: topic.to_owned(),
                    partitions: offsets
                        .iter()
                        .map(|&(partition, offset)| OffsetCommitRequestPartition {
                            partition_index: partition,
                            committed_offset: offset,
                            committed_metadata: Some("by the test".to_owned()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let codes: Vec<ErrorCode> = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| ErrorCode::from(p.error_code)))
            .collect();
        if codes.iter().all(|c| c.is_ok()) {
            return;
        }
        assert!(
            codes.iter().all(|c| c.is_ok() || c.is_retriable())
                && started.elapsed() < Duration::from_secs(30),
            "committing for {group}: {codes:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Per partition of `topic`: (current offset, log end offset, lag) as
/// Kafka's `ConsumerGroupCommand --describe` prints them.
fn lag_by_kafka(cluster: &Cluster, group: &str, topic: &str) -> BTreeMap<i32, (i64, i64, i64)> {
    let output = cluster
        .distribution()
        .run_tool(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &[
                "--bootstrap-server",
                &cluster.bootstrap(),
                "--describe",
                "--group",
                group,
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rows = BTreeMap::new();
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 6 && fields[0] == group && fields[1] == topic {
            let number = |i: usize| {
                fields[i]
                    .parse::<i64>()
                    .unwrap_or_else(|_| panic!("{line}"))
            };
            rows.insert(number(2) as i32, (number(3), number(4), number(5)));
        }
    }
    assert!(!rows.is_empty(), "no rows for {topic} in:\n{output}");
    rows
}

#[tokio::test]
async fn a_simple_groups_offsets_and_lag_match_kafkas_tool_and_it_can_be_deleted() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let topic = unique("admin-lag");
    let group = unique("admin-simple-group");
    admin
        .create_topic(NewTopic::new(&topic, 2, 3))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    produce(&cluster, &topic, &[(0, 10), (1, 10)]).await;
    commit_simple(&cluster, &group, &topic, &[(0, 4), (1, 7)]).await;

    let listed = admin
        .list_groups(&ListGroupsOptions::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listing = listed
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not in {listed:?}"));
    assert_eq!(listing.state.as_deref(), Some("Empty"));
    assert_eq!(listing.group_type, Some(GroupType::Classic));
    let empty_only = admin
        .list_groups(&ListGroupsOptions::new().state("Empty"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(empty_only.iter().any(|g| g.group_id == group));
    let stable_only = admin
        .list_groups(&ListGroupsOptions::new().state("Stable"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!stable_only.iter().any(|g| g.group_id == group));

    let described = admin
        .describe_group(&group)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(described.state, "Empty");
    assert_eq!(described.group_type, GroupType::Classic);
    assert!(described.members.is_empty());

    let committed = admin
        .list_group_offsets(&group)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let p0 = TopicPartition::new(&topic, 0);
    let p1 = TopicPartition::new(&topic, 1);
    assert_eq!(committed.len(), 2, "{committed:?}");
    assert_eq!(committed[&p0].offset, 4);
    assert_eq!(committed[&p1].offset, 7);
    assert_eq!(committed[&p0].metadata.as_deref(), Some("by the test"));

    // More records: the lag grows on partition 0 only.
    produce(&cluster, &topic, &[(0, 5)]).await;
    let lag = admin
        .group_lag(&group)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lag.partitions[&p0].log_end, 15);
    assert_eq!(lag.partitions[&p0].lag, 11);
    assert_eq!(lag.partitions[&p1].lag, 3);
    assert_eq!(lag.total, 14);
    let kafka = lag_by_kafka(&cluster, &group, &topic);
    for (tp, ours) in &lag.partitions {
        assert_eq!(
            kafka[&tp.partition],
            (ours.committed, ours.log_end, ours.lag),
            "{tp}"
        );
    }

    admin
        .delete_group(&group)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = admin
        .list_groups(&ListGroupsOptions::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !listed.iter().any(|g| g.group_id == group),
        "{group} still listed"
    );
    let again = admin.delete_group(&group).await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{again}");
    assert_eq!(again.group(), Some(group.as_str()));
    admin
        .delete_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Kafka's console consumer in `group`, over `topic`, until killed.
struct ConsoleConsumer(Child);

impl ConsoleConsumer {
    fn start(cluster: &Cluster, group: &str, topic: &str, protocol: &str) -> Self {
        let child = cluster
            .distribution()
            .tool_command("org.apache.kafka.tools.consumer.ConsoleConsumer")
            .args([
                "--bootstrap-server",
                &cluster.bootstrap(),
                "--topic",
                topic,
                "--group",
                group,
            ])
            .args(["--from-beginning", "--timeout-ms", "120000"])
            .args(["--consumer-property", &format!("group.protocol={protocol}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running Kafka's console consumer");
        Self(child)
    }
}

impl Drop for ConsoleConsumer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Describes `group` until it has one member holding every partition of
/// `topic` (bounded).
async fn wait_for_one_member(
    admin: &Admin,
    group: &str,
    topic: &str,
    partitions: usize,
) -> GroupDescription {
    let started = Instant::now();
    loop {
        let described = admin.describe_group(group).await;
        if let Ok(described) = &described
            && described.members.len() == 1
            && described.members[0]
                .assignment
                .as_ref()
                .is_some_and(|a| a.get(topic).is_some_and(|p| p.len() == partitions))
        {
            return described.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "group {group} never had one member with all of {topic}: {described:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn live_classic_and_consumer_protocol_groups_are_described_with_their_assignments() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let topic = unique("admin-live");
    admin
        .create_topic(NewTopic::new(&topic, 3, 3))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    produce(&cluster, &topic, &[(0, 3), (1, 3), (2, 3)]).await;

    for (protocol, group_type) in [
        ("classic", GroupType::Classic),
        ("consumer", GroupType::Consumer),
    ] {
        let group = unique(&format!("admin-live-{protocol}"));
        let consumer = ConsoleConsumer::start(&cluster, &group, &topic, protocol);
        let described = wait_for_one_member(&admin, &group, &topic, 3).await;
        assert_eq!(described.group_type, group_type, "{described:?}");
        assert_eq!(described.state, "Stable", "{described:?}");
        assert!(!described.assignor.is_empty(), "{described:?}");
        assert_eq!(described.protocol_type, "consumer");
        let member = &described.members[0];
        assert_eq!(member.assignment.as_ref().unwrap()[&topic], [0, 1, 2]);
        assert!(!member.member_id.is_empty());
        if group_type == GroupType::Consumer {
            assert_eq!(member.subscribed_topics, std::slice::from_ref(&topic));
            assert!(member.member_epoch.is_some_and(|e| e > 0));
            assert!(described.group_epoch.is_some());
        }

        let by_type = admin
            .list_groups(&ListGroupsOptions::new().group_type(protocol))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            by_type.iter().any(|g| g.group_id == group),
            "{group} not in {by_type:?}"
        );

        // A group with a member cannot be deleted.
        let refused = admin.delete_group(&group).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(ErrorCode::NON_EMPTY_GROUP),
            "{refused}"
        );
        drop(consumer);
    }
    admin
        .delete_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
