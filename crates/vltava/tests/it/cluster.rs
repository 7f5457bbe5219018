//! Describing the cluster.

use crate::{admin, shared_cluster};

#[tokio::test]
async fn describe_cluster_matches_the_clusters_nodes_and_id() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let described = admin
        .describe_cluster()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<u32> = described.brokers.iter().map(|b| b.node_id as u32).collect();
    assert_eq!(ids, cluster.node_ids());
    assert_eq!(described.cluster_id.as_deref(), Some(cluster.cluster_id()));
    for broker in &described.brokers {
        let expected = cluster.broker_addr(broker.node_id as u32).unwrap();
        assert_eq!(broker.address(), expected.to_string());
        assert_eq!(broker.rack, None, "the testkit sets no racks");
    }
    // KRaft names a live broker as the controller.
    let controller = described.controller.expect("a controller");
    assert!(cluster.node_ids().contains(&(controller.node_id as u32)));
}
