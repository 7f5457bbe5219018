//! Integration tests of `vltava-meta` against a real Apache Kafka cluster,
//! found through `VLTAVA_CLUSTER_DIR` (`cargo xtask cluster up`, 3 nodes);
//! without one they fail with instructions. Loopback only.
//!
//! One test stops a node of the shared cluster (and starts it again); it
//! takes [`CLUSTER`] for writing, every other test for reading, so that no
//! test of this binary sees a node missing that it did not stop itself.

mod bootstrap;
mod failover;
mod snapshot;
mod triggers;

use std::time::Duration;

use tokio::sync::RwLock;
use vltava_meta::{Interest, MetadataClient, MetadataConfig};
use vltava_net::{BrokerPool, ConnectionConfig, PoolConfig};
use vltava_testkit::Cluster;

/// Taken for writing by tests that stop nodes, for reading by the others.
static CLUSTER: RwLock<()> = RwLock::const_new(());

/// The shared cluster of the test run.
fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// A pool with short timeouts, so that a dead broker fails fast.
fn pool() -> BrokerPool {
    let connection = ConnectionConfig::new()
        .client_id("vltava-meta-it")
        .request_timeout(Duration::from_secs(10))
        .dial_timeout(Duration::from_secs(5));
    BrokerPool::new(PoolConfig::new(connection))
}

/// A client of the cluster that follows `topics`.
fn client(bootstrap: &str, topics: &[&str], config: MetadataConfig) -> MetadataClient {
    let config = config.interest(Interest::topics(topics.iter().copied()));
    MetadataClient::new(bootstrap, pool(), config).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a blocking testkit call off the runtime's thread, so that the
/// clients' background tasks keep running meanwhile.
async fn on_cluster<T, F>(cluster: &Cluster, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&Cluster) -> T + Send + 'static,
{
    let dir = cluster.dir().to_owned();
    tokio::task::spawn_blocking(move || f(&Cluster::attach(dir).unwrap_or_else(|e| panic!("{e}"))))
        .await
        .unwrap()
}

/// Creates a topic and waits until it has leaders.
async fn create_topic(cluster: &Cluster, name: &str, partitions: i32, replication: i16) {
    let name = name.to_owned();
    on_cluster(cluster, move |c| {
        c.create_topic(&name, partitions, replication)
            .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    })
    .await;
}
