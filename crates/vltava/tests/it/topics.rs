//! Topics: create with configs, describe, grow, delete; checked against
//! Kafka's own `TopicCommand`.

use std::collections::BTreeMap;

use vltava::{AdminError, ConfigChange, ConfigSource, CreateTopicsOptions, ErrorCode, NewTopic};
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

/// The topic's configs as Kafka's own `ConfigCommand --describe` lists them.
fn configs_by_kafka(cluster: &Cluster, topic: &str) -> String {
    cluster
        .distribution()
        .run_tool(
            "org.apache.kafka.tools.ConfigCommand",
            &[
                "--bootstrap-server",
                &cluster.bootstrap(),
                "--describe",
                "--entity-type",
                "topics",
                "--entity-name",
                topic,
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `describe_topic` (bounded) until `check` holds of the topic's
/// configs: a broker may show an accepted change a moment later.
async fn configs_until(
    admin: &vltava::Admin,
    topic: &str,
    check: impl Fn(&BTreeMap<String, vltava::ConfigEntry>) -> bool,
) -> BTreeMap<String, vltava::ConfigEntry> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let configs = admin
            .describe_topic(topic)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .configs;
        if check(&configs) || std::time::Instant::now() > deadline {
            return configs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn topic_configs_are_set_appended_subtracted_and_deleted() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let topic = unique("admin-alter");
    admin
        .create_topic(NewTopic::new(&topic, 1, 1).config("max.message.bytes", "200000"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    admin
        .alter_topic_config(
            &topic,
            vec![
                ConfigChange::set("retention.ms", "7200000"),
                ConfigChange::delete("max.message.bytes"),
                ConfigChange::append("cleanup.policy", "compact"),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let configs = configs_until(&admin, &topic, |c| {
        c["retention.ms"].value.as_deref() == Some("7200000")
    })
    .await;
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("7200000"));
    assert_eq!(configs["retention.ms"].source, ConfigSource::DynamicTopic);
    assert!(
        configs["max.message.bytes"].is_default(),
        "deleted: back to the default"
    );
    assert_eq!(
        configs["cleanup.policy"].value.as_deref(),
        Some("delete,compact")
    );
    let by_kafka = configs_by_kafka(&cluster, &topic);
    assert!(by_kafka.contains("retention.ms=7200000"), "{by_kafka}");
    assert!(!by_kafka.contains("max.message.bytes=200000"), "{by_kafka}");

    admin
        .alter_topic_config(
            &topic,
            vec![ConfigChange::subtract("cleanup.policy", "delete")],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let configs = configs_until(&admin, &topic, |c| {
        c["cleanup.policy"].value.as_deref() == Some("compact")
    })
    .await;
    assert_eq!(configs["cleanup.policy"].value.as_deref(), Some("compact"));

    // Validate-only changes nothing.
    let checked = admin
        .alter_topic_configs(
            &BTreeMap::from([(
                topic.clone(),
                vec![ConfigChange::set("retention.ms", "1000")],
            )]),
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    checked[&topic].as_ref().unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let configs = admin.describe_topic(&topic).await.unwrap().configs;
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("7200000"));

    // Typed errors: an unknown config, a bad value, an unknown topic, bad arguments.
    let unknown = admin
        .alter_topic_config(&topic, vec![ConfigChange::set("no.such.config", "1")])
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some(ErrorCode::INVALID_CONFIG), "{unknown}");
    assert!(
        unknown.to_string().contains("check the topic config"),
        "{unknown}"
    );
    let bad = admin
        .alter_topic_config(&topic, vec![ConfigChange::set("retention.ms", "soon")])
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some(ErrorCode::INVALID_CONFIG), "{bad}");
    let missing = admin
        .alter_topic_config(
            &unique("no-such-topic"),
            vec![ConfigChange::set("retention.ms", "1")],
        )
        .await
        .unwrap_err();
    assert_eq!(
        missing.code(),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "{missing}"
    );
    let twice = admin
        .alter_topic_config(
            &topic,
            vec![
                ConfigChange::set("retention.ms", "1"),
                ConfigChange::delete("retention.ms"),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(twice, AdminError::InvalidArgument(_)), "{twice}");
    let none = admin.alter_topic_config(&topic, vec![]).await.unwrap_err();
    assert!(matches!(none, AdminError::InvalidArgument(_)), "{none}");
    admin
        .delete_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
