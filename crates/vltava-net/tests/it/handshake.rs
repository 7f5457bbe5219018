//! The ApiVersions handshake and plain round trips against Kafka 4.x.

use vltava_net::client_range;
use vltava_wire::ErrorCode;
use vltava_wire::messages::{ApiVersionsRequest, MetadataRequest};
use vltava_wire::{ApiKey, Request};

use crate::{connect_to_shared, metadata_for, topic_named};

#[tokio::test]
async fn handshake_negotiates_a_version_table_with_kafka_4() {
    let (cluster, connection) = connect_to_shared().await;
    assert!(
        cluster.kafka_version().starts_with("4."),
        "{}",
        cluster.kafka_version()
    );
    // Kafka 4 speaks ApiVersions v4, the latest this client knows.
    assert_eq!(connection.handshake_version(), 4);
    assert!(connection.api_versions().len() > 40);
    for key in [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::OffsetCommit,
    ] {
        let theirs = connection.api_versions().broker_range(key).unwrap();
        let ours = client_range(key);
        let chosen = connection.version_for(key).unwrap();
        assert_eq!(chosen, ours.max.min(theirs.max), "{key}");
        assert!(theirs.contains(chosen) && ours.contains(chosen), "{key}");
    }
    // Kafka 4 (KRaft) no longer answers the ZooKeeper-era controller APIs.
    let error = connection.version_for(ApiKey::LeaderAndIsr).unwrap_err();
    assert!(error.to_string().contains(connection.broker()), "{error}");
}

#[tokio::test]
async fn metadata_round_trip_describes_the_cluster() {
    let (cluster, connection) = connect_to_shared().await;
    let metadata = connection
        .send(MetadataRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(metadata.cluster_id.as_deref(), Some(cluster.cluster_id()));
    let mut node_ids: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
    node_ids.sort_unstable();
    let expected: Vec<i32> = cluster.node_ids().into_iter().map(|n| n as i32).collect();
    assert_eq!(node_ids, expected);
}

#[tokio::test]
async fn metadata_at_the_oldest_version_the_broker_speaks() {
    let (_cluster, connection) = connect_to_shared().await;
    // From v4 on a request can say not to create the topic (the broker
    // would otherwise auto-create it in the shared cluster).
    let oldest = connection
        .api_versions()
        .broker_range(ApiKey::Metadata)
        .unwrap()
        .min
        .max(4);
    let topic = "vltava-net-it-oldest-metadata";
    let response = connection
        .send_at(oldest, metadata_for(topic))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(topic_named(&response), Some(topic));
    assert_eq!(
        ErrorCode::from(response.topics[0].error_code),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[tokio::test]
async fn api_versions_round_trip_matches_the_handshake() {
    let (_cluster, connection) = connect_to_shared().await;
    let response = connection
        .send(ApiVersionsRequest {
            client_software_name: "vltava".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ErrorCode::from(response.error_code), ErrorCode::NONE);
    assert_eq!(
        &vltava_net::ApiVersions::from_response(&response),
        connection.api_versions()
    );
    assert_eq!(
        connection.version_for(ApiVersionsRequest::API_KEY).unwrap(),
        4
    );
}
