//! The snapshot describes the real cluster: brokers, controller, cluster id
//! and a created topic with its id, leaders, epochs, replicas and ISR.

use vltava_meta::MetadataConfig;
use vltava_wire::ErrorCode;

use crate::{CLUSTER, client, create_topic, shared_cluster};

#[tokio::test]
async fn the_snapshot_describes_the_cluster_and_a_created_topic() {
    let _shared = CLUSTER.read().await;
    let cluster = shared_cluster();
    let topic = "vltava-meta-it-snapshot";
    create_topic(&cluster, topic, 3, 3).await;
    let client = client(
        &cluster.bootstrap(),
        &[topic, "vltava-meta-it-absent"],
        MetadataConfig::new(),
    );
    let snapshot = client.refresh().await.unwrap_or_else(|e| panic!("{e}"));

    assert!(snapshot.version() >= 1);
    assert_eq!(snapshot.cluster_id(), Some(cluster.cluster_id()));
    let mut brokers: Vec<(i32, String)> = snapshot
        .brokers()
        .map(|b| (b.node_id, b.address()))
        .collect();
    brokers.sort();
    let expected: Vec<(i32, String)> = cluster
        .node_ids()
        .into_iter()
        .map(|n| (n as i32, cluster.broker_addr(n).unwrap().to_string()))
        .collect();
    assert_eq!(brokers, expected);
    // In KRaft the "controller" is a live broker Kafka picks (see the docs).
    let controller = snapshot
        .controller()
        .expect("a controller among the brokers");
    assert!(expected.iter().any(|(id, _)| *id == controller.node_id));

    let t = snapshot.topic(topic).expect("the topic is listed");
    assert_eq!(t.error, ErrorCode::NONE);
    assert!(!t.is_internal);
    // Kafka 4 speaks Metadata v12: topic ids.
    let id = t.id.expect("a topic id");
    assert_eq!(snapshot.topic_by_id(id).unwrap().name, topic);
    assert_eq!(t.partition_count(), 3);
    for p in t.partitions() {
        assert_eq!(p.error, ErrorCode::NONE);
        let leader = snapshot.leader(topic, p.partition).expect("a leader");
        assert_eq!(Some(leader.broker.node_id), p.leader_id);
        assert!(leader.epoch.is_some_and(|e| e >= 0), "{p:?}");
        let mut replicas = p.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, [1, 2, 3]);
        assert!(p.isr.contains(&leader.broker.node_id), "{p:?}");
        assert!(p.isr.iter().all(|r| p.replicas.contains(r)), "{p:?}");
        assert!(p.offline_replicas.is_empty(), "{p:?}");
        let expected_leader = cluster.partition_leader(topic, p.partition).unwrap();
        assert_eq!(leader.broker.node_id, expected_leader as i32);
    }

    // A topic that does not exist is listed with its error, not created.
    let absent = snapshot.topic("vltava-meta-it-absent").expect("listed");
    assert_eq!(absent.error, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(absent.partition_count(), 0);
    assert!(snapshot.leader("vltava-meta-it-absent", 0).is_none());
}

#[tokio::test]
async fn interest_in_every_topic_lists_them_all() {
    let _shared = CLUSTER.read().await;
    let cluster = shared_cluster();
    let topic = "vltava-meta-it-all";
    create_topic(&cluster, topic, 1, 1).await;
    // Listed before the refresh: topics are only ever added meanwhile.
    let known = cluster.metadata().unwrap();
    let client = vltava_meta::MetadataClient::new(
        &cluster.bootstrap(),
        crate::pool(),
        MetadataConfig::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let snapshot = client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(snapshot.topic(topic).is_some());
    for t in &known.topics {
        assert!(snapshot.topic(&t.name).is_some(), "{} missing", t.name);
    }
}
