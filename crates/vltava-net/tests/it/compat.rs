//! Version negotiation against the compatibility tier, Kafka 3.9, on a
//! one-node cluster of its own.

use vltava_net::{Connection, ConnectionConfig, client_range};
use vltava_testkit::{COMPAT_KAFKA_VERSION, Cluster, ClusterConfig, OwnedCluster};
use vltava_wire::ApiKey;
use vltava_wire::messages::MetadataRequest;

#[tokio::test]
async fn negotiates_with_kafka_3_9_and_picks_lower_versions_than_with_4() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-net-compat");
    let config = ClusterConfig::new(dir)
        .nodes(1)
        .kafka_version(COMPAT_KAFKA_VERSION);
    let old = OwnedCluster::start(config).unwrap_or_else(|e| panic!("{e}"));
    assert!(old.kafka_version().starts_with("3.9"));
    let old_broker = old.broker_addr(1).unwrap().to_string();
    let old_conn = Connection::connect(&old_broker, ConnectionConfig::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let new_cluster = Cluster::from_env().unwrap_or_else(|e| panic!("{e}"));
    let new_broker = new_cluster
        .bootstrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let new_conn = Connection::connect(&new_broker, ConnectionConfig::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Each side picks the highest version both know.
    let mut lower = Vec::new();
    for key in [
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
    ] {
        let ours = client_range(key);
        let old_theirs = old_conn.api_versions().broker_range(key).unwrap();
        let new_theirs = new_conn.api_versions().broker_range(key).unwrap();
        let old_v = old_conn.version_for(key).unwrap();
        let new_v = new_conn.version_for(key).unwrap();
        assert_eq!(old_v, ours.max.min(old_theirs.max), "{key}");
        assert_eq!(new_v, ours.max.min(new_theirs.max), "{key}");
        assert!(old_v <= new_v, "{key}: 3.9 got v{old_v}, 4.x v{new_v}");
        if old_v < new_v {
            lower.push(key);
        }
    }
    // 3.9 predates some of 4.x's versions (e.g. Produce v12, Fetch v17 with
    // KIP-951's successors), so at least one API is negotiated lower.
    assert!(
        !lower.is_empty(),
        "3.9 and 4.x negotiated identical versions"
    );
    // And the negotiated request works.
    let metadata = old_conn.send(MetadataRequest::default()).await.unwrap();
    assert_eq!(metadata.brokers.len(), 1);
    assert_eq!(metadata.cluster_id.as_deref(), Some(old.cluster_id()));
}
