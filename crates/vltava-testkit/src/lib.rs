//! `vltava-testkit`: a real Apache Kafka cluster on 127.0.0.1, for tests,
//! benchmarks and the demo. Dev-only; never a dependency of a library crate.
//!
//! It sits beside the layers rather than on top of them: it fetches Kafka's
//! own broker jars from Maven Central with `mvn` ([`Distribution`]), writes
//! KRaft configs for N combined broker+controller nodes on free loopback
//! ports, formats their storage, runs them as background processes, and
//! drives them the way an outage would: [`Cluster::stop`] (SIGTERM),
//! [`Cluster::kill`] (SIGKILL), [`Cluster::pause`]/[`Cluster::resume`]
//! (SIGSTOP/SIGCONT), [`Cluster::start_node`] and [`Cluster::restart`].
//!
//! A cluster lives in a folder: configs, data, each node's `server.log`, a
//! `cluster.json` describing it and one pid file per running node. Another
//! process (a test binary, `cargo xtask cluster`) attaches to it with
//! [`Cluster::attach`] or [`Cluster::from_env`] and drives it just as well.
//! Pid files left by a crashed run are detected (the pid is gone, a zombie,
//! or now belongs to another program) and removed.
//!
//! What it deliberately does not do: it is not a Kafka client. To know when
//! the cluster is ready, who leads a partition or which node coordinates a
//! group, it speaks a handful of old, fixed-layout requests (Metadata v5,
//! FindCoordinator v2, CreateTopics v4) through a tiny blocking probe of its
//! own, so that `vltava-wire`'s own tests can use the testkit without a
//! dependency cycle and without trusting the code they test.
//!
//! Beside `PLAINTEXT`, every node has `SASL_PLAINTEXT` and `SSL` client
//! listeners ([`security`]): [`Cluster::bootstrap_for`] names them,
//! [`Cluster::ca_pem`] is the CA to trust, and [`SASL_USERNAME`] /
//! [`SASL_PASSWORD`] the credentials the SASL mechanisms accept.
//!
//! Integration tests find the cluster through the `VLTAVA_CLUSTER_DIR`
//! environment variable, which `cargo xtask test` sets. Without it,
//! [`Cluster::from_env`] fails with a message that says how to start one;
//! there is no silent skip.

mod cluster;
mod dist;
mod error;
mod probe;
mod process;
pub mod security;

pub use cluster::{CLUSTER_DIR_ENV, Cluster, ClusterConfig, NodeState, NodeStatus, OwnedCluster};
pub use dist::{COMPAT_KAFKA_VERSION, DEFAULT_KAFKA_VERSION, Distribution};
pub use error::{Error, Result};
pub use probe::{BrokerInfo, MetadataInfo, PartitionInfo, TopicInfo};
pub use security::{Listener, SASL_MECHANISMS, SASL_PASSWORD, SASL_USERNAME};

/// A name no other call in this process (or an earlier run) returns:
/// `prefix`, the time in nanoseconds and a counter. For topics and groups
/// that tests create on a shared cluster.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{nanos}-{n}")
}
