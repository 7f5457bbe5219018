//! What tests ask of the shared cluster that `cargo xtask test` runs.

use std::net::TcpStream;
use std::time::Duration;

use vltava_testkit::{Cluster, Distribution, Listener};

fn cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_shared_cluster_has_three_serving_brokers() {
    let cluster = cluster();
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    let metadata = cluster.metadata().unwrap();
    let mut ids: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);
    for broker in &metadata.brokers {
        assert_eq!(broker.host, "127.0.0.1");
        assert_eq!(
            cluster.broker_addr(broker.node_id as u32).unwrap().port() as i32,
            broker.port
        );
    }
}

#[test]
fn a_created_topic_has_a_leader_and_three_in_sync_replicas_per_partition() {
    let cluster = cluster();
    let topic = format!("testkit-topic-{}", std::process::id());
    cluster
        .create_topic_with_configs(&topic, 6, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    let metadata = cluster.metadata().unwrap();
    let info = metadata
        .topics
        .iter()
        .find(|t| t.name == topic)
        .expect("the topic is listed");
    assert_eq!(info.partitions.len(), 6);
    for p in &info.partitions {
        assert_eq!(p.replicas.len(), 3, "{p:?}");
        assert_eq!(p.isr.len(), 3, "{p:?}");
        let leader = cluster.partition_leader(&topic, p.partition).unwrap();
        assert!(p.replicas.contains(&(leader as i32)), "{p:?}");
    }
    // Creating it again is not an error: tests may share topic names.
    cluster.create_topic(&topic, 6, 3).unwrap();
    assert!(
        cluster.partition_leader(&topic, 6).is_err(),
        "partition 6 does not exist"
    );
}

#[test]
fn a_group_coordinator_is_one_of_the_nodes() {
    let cluster = cluster();
    let node = cluster.group_coordinator("testkit-group").unwrap();
    assert!(cluster.node_ids().contains(&node), "coordinator {node}");
    // The answer is stable while nothing changes.
    assert_eq!(cluster.group_coordinator("testkit-group").unwrap(), node);
}

#[test]
fn the_running_version_is_cached_so_no_download_happens_again() {
    let cluster = cluster();
    let cached = Distribution::cached(cluster.kafka_version())
        .unwrap()
        .expect("the running version is in the cache");
    let jar = cached
        .libs()
        .join(format!("kafka_2.13-{}.jar", cluster.kafka_version()));
    assert!(jar.exists(), "{} is missing", jar.display());
}

#[test]
fn kafkas_own_tools_run_against_the_cluster() {
    let cluster = cluster();
    let topic = format!("testkit-tools-{}", std::process::id());
    cluster.create_topic(&topic, 2, 3).unwrap();
    let listed = cluster
        .distribution()
        .run_tool(
            "org.apache.kafka.tools.TopicCommand",
            &["--bootstrap-server", &cluster.bootstrap(), "--list"],
        )
        .unwrap();
    assert!(listed.lines().any(|l| l.trim() == topic), "{listed}");
}

#[test]
fn the_shared_cluster_has_sasl_and_ssl_listeners_and_a_ca() {
    let cluster = cluster();
    let plaintext = cluster.bootstrap_for(Listener::Plaintext).unwrap();
    assert_eq!(plaintext, cluster.bootstrap());
    let mut seen = std::collections::HashSet::new();
    for listener in [Listener::Plaintext, Listener::SaslPlaintext, Listener::Ssl] {
        for node in cluster.node_ids() {
            let addr = cluster.listener_addr(node, listener).unwrap();
            assert!(addr.ip().is_loopback(), "{addr}");
            assert!(seen.insert(addr), "{listener} of node {node} reuses {addr}");
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{listener} of node {node} at {addr}: {e}"));
        }
        let bootstrap = cluster.bootstrap_for(listener).unwrap();
        assert_eq!(bootstrap.split(',').count(), cluster.node_ids().len());
    }
    let ca = cluster.ca_pem().unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert!(cluster.ca_pem_path().starts_with(cluster.dir()));
}
