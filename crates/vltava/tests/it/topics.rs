//! Topics: create with configs, describe, grow, delete; checked against
//! Kafka's own `TopicCommand`.

use std::collections::BTreeMap;

use vltava::{AdminError, ConfigSource, CreateTopicsOptions, ErrorCode, NewTopic};
use vltava_testkit::Cluster;

use crate::{admin, shared_cluster, unique};

/// The `PartitionCount` Kafka's `TopicCommand --describe` reports.
fn partition_count_by_kafka(cluster: &Cluster, topic: &str) -> usize {
    let output = cluster
        .distribution()
        .run_tool(
            "org.apache.kafka.tools.TopicCommand",
            &[
                "--bootstrap-server",
                &cluster.bootstrap(),
                "--describe",
                "--topic",
                topic,
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let count = output
        .split_whitespace()
        .skip_while(|w| *w != "PartitionCount:")
        .nth(1)
        .unwrap_or_else(|| panic!("no PartitionCount in:\n{output}"));
    count.parse().unwrap()
}

#[tokio::test]
async fn a_topic_is_created_with_configs_described_grown_and_deleted() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let topic = unique("admin-topic");

    let created = admin
        .create_topic(
            NewTopic::new(&topic, 3, 2)
                .config("retention.ms", "3600000")
                .config("max.message.bytes", "200000"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.partitions, Some(3));
    assert_eq!(created.replication_factor, Some(2));
    assert!(created.id.is_some());

    // The metadata shows it at once: create_topic waited for it.
    let described = admin
        .describe_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(described.id, created.id);
    assert!(!described.is_internal);
    assert_eq!(described.partitions.len(), 3);
    assert_eq!(described.replication_factor(), Some(2));
    for (i, p) in described.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert_eq!(p.replicas.len(), 2);
        let leader = p.leader.expect("a leader");
        assert!(p.replicas.contains(&leader));
        assert!(p.isr.contains(&leader));
    }
    let retention = &described.configs["retention.ms"];
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert_eq!(
        described.configs["max.message.bytes"].value.as_deref(),
        Some("200000")
    );
    // An unset config is there too, as a default.
    assert!(described.configs["cleanup.policy"].is_default());
    assert_eq!(partition_count_by_kafka(&cluster, &topic), 3);

    // Creating it again is a typed error.
    let again = admin
        .create_topic(NewTopic::new(&topic, 3, 2))
        .await
        .unwrap_err();
    assert_eq!(
        again.code(),
        Some(ErrorCode::TOPIC_ALREADY_EXISTS),
        "{again}"
    );
    assert_eq!(again.topic(), Some(topic.as_str()));
    assert!(matches!(again, AdminError::Topic { .. }), "{again:?}");
    assert!(!again.is_retriable());

    // Growing it.
    let grown = admin
        .create_partitions(&BTreeMap::from([(topic.clone(), 5)]), false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    grown[&topic].as_ref().unwrap_or_else(|e| panic!("{e}"));
    let described = admin
        .describe_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(described.partitions.len(), 5);
    assert_eq!(partition_count_by_kafka(&cluster, &topic), 5);
    // Shrinking is refused.
    let shrunk = admin
        .create_partitions(&BTreeMap::from([(topic.clone(), 2)]), false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let error = shrunk[&topic].as_ref().unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::INVALID_PARTITIONS), "{error}");

    let listed = admin
        .list_topics(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.iter().any(|t| t.name == topic && t.id == created.id));
    assert!(listed.iter().all(|t| !t.is_internal));

    admin
        .delete_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = admin
        .list_topics(true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !listed.iter().any(|t| t.name == topic),
        "{topic} still listed"
    );
    let gone = admin.describe_topic(&topic).await.unwrap_err();
    assert_eq!(
        gone.code(),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "{gone}"
    );
    let twice = admin.delete_topic(&topic).await.unwrap_err();
    assert_eq!(
        twice.code(),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "{twice}"
    );
}

#[tokio::test]
async fn validate_only_creates_nothing_and_bad_topics_fail_alone() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let good = unique("admin-validate");
    let bad = unique("admin-too-many-replicas");
    let results = admin
        .create_topics(
            vec![NewTopic::new(&good, 2, 3), NewTopic::new(&bad, 1, 10)],
            &CreateTopicsOptions::new().validate_only(true),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    results[&good].as_ref().unwrap_or_else(|e| panic!("{e}"));
    let error = results[&bad].as_ref().unwrap_err();
    assert_eq!(
        error.code(),
        Some(ErrorCode::INVALID_REPLICATION_FACTOR),
        "{error}"
    );
    let listed = admin
        .list_topics(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!listed.iter().any(|t| t.name == good || t.name == bad));
}
