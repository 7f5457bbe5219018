//! Integration tests of the `vltava` facade (the admin client, and the
//! consumer as the crate docs show it) against a real
//! Apache Kafka cluster, found through `VLTAVA_CLUSTER_DIR` (`cargo xtask
//! cluster up`); without one they fail with instructions. Results are
//! checked against the testkit's own view of the cluster and against
//! Kafka's own command-line tools.

mod cluster;
mod consumer;
mod exactly_once;
mod groups;
mod offsets;
mod topics;

use std::time::Duration;

use vltava::{Admin, AdminConfig};
use vltava_testkit::Cluster;

/// The shared cluster of the test run.
fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

use vltava_testkit::unique_name as unique;

/// An admin client for the cluster, with a timeout short enough for a test.
fn admin(cluster: &Cluster) -> Admin {
    let config = AdminConfig::new()
        .api_timeout(Duration::from_secs(30))
        .propagation_timeout(Duration::from_secs(20));
    Admin::new(&cluster.bootstrap(), config).unwrap_or_else(|e| panic!("{e}"))
}
