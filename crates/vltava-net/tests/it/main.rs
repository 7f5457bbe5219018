//! Integration tests of `vltava-net` against a real Apache Kafka cluster,
//! found through `VLTAVA_CLUSTER_DIR` (`cargo xtask cluster up`); without
//! one they fail with instructions. Loopback only.

mod compat;
mod faults;
mod handshake;
mod pipelining;
mod pool;
mod security;

use vltava_net::{Connection, ConnectionConfig};
use vltava_testkit::Cluster;
use vltava_wire::messages::metadata_request::MetadataRequestTopic;
use vltava_wire::messages::{MetadataRequest, MetadataResponse};

/// The shared cluster of the test run.
fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// A connection to the shared cluster's first broker.
async fn connect_to_shared() -> (Cluster, Connection) {
    let cluster = shared_cluster();
    let broker = first_broker(&cluster);
    let connection =
        Connection::connect(&broker, ConnectionConfig::new().client_id("vltava-net-it"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    (cluster, connection)
}

fn first_broker(cluster: &Cluster) -> String {
    cluster
        .bootstrap()
        .split(',')
        .next()
        .expect("a cluster has a broker")
        .to_owned()
}

/// A Metadata request for one topic that does not exist: the broker names
/// it in its answer, which tells which request an answer belongs to.
fn metadata_for(topic: &str) -> MetadataRequest {
    MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(topic.to_owned()),
            ..Default::default()
        }]),
        allow_auto_topic_creation: false,
        ..Default::default()
    }
}

/// The single topic name a Metadata response talks about.
fn topic_named(response: &MetadataResponse) -> Option<&str> {
    match response.topics.as_slice() {
        [topic] => topic.name.as_deref(),
        _ => None,
    }
}
