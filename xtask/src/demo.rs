//! `cargo xtask demo`: the main job on a local cluster.
//!
//! For now it starts (or reuses) the local cluster, shows what a client sees
//! of it, and connects with `vltava-net` to show the versions it negotiates;
//! it grows into the consumer-group-through-restarts demo.

use crate::flags::Flags;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::new(args);
    flags.finish()?;
    let (cluster, _) = crate::cluster::up_or_attach(crate::cluster::default_dir(), None, None)?;
    let metadata = cluster.metadata().map_err(|e| e.to_string())?;
    println!(
        "Kafka {} cluster {}",
        cluster.kafka_version(),
        cluster.cluster_id()
    );
    println!("bootstrap: {}", cluster.bootstrap());
    println!(
        "controller (as brokers report it): node {}",
        metadata.controller_id
    );
    let mut brokers = metadata.brokers.clone();
    brokers.sort_by_key(|b| b.node_id);
    for broker in &brokers {
        println!(
            "  broker {} at {}:{}",
            broker.node_id, broker.host, broker.port
        );
    }
    let topic = "vltava-demo";
    cluster
        .create_topic(topic, 6, 3)
        .map_err(|e| e.to_string())?;
    println!("topic `{topic}`: 6 partitions, replication factor 3");
    for partition in 0..6 {
        let leader = cluster
            .partition_leader(topic, partition)
            .map_err(|e| e.to_string())?;
        println!("  partition {partition}: leader node {leader}");
    }
    let coordinator = cluster
        .group_coordinator("vltava-demo-group")
        .map_err(|e| e.to_string())?;
    println!("group `vltava-demo-group` is coordinated by node {coordinator}");
    negotiate(&cluster.bootstrap())?;
    println!("the cluster keeps running: `cargo xtask cluster down` ends it");
    Ok(())
}

/// Connects to the first broker with `vltava-net` and prints what the ApiVersions handshake agreed.
fn negotiate(bootstrap: &str) -> Result<(), String> {
    use vltava_wire::ApiKey;
    let broker = bootstrap.split(',').next().unwrap_or(bootstrap).to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting a tokio runtime: {e}"))?;
    runtime.block_on(async {
        let connection =
            vltava_net::Connection::connect(&broker, vltava_net::ConnectionConfig::default())
                .await
                .map_err(|e| e.to_string())?;
        println!(
            "vltava-net: connected to {broker}, ApiVersions v{} handshake, {} APIs announced",
            connection.handshake_version(),
            connection.api_versions().len()
        );
        for key in [
            ApiKey::Fetch,
            ApiKey::Produce,
            ApiKey::Metadata,
            ApiKey::JoinGroup,
            ApiKey::ConsumerGroupHeartbeat,
        ] {
            match connection.version_for(key) {
                Ok(version) => println!("  {:<24} v{version}", key.name()),
                Err(e) => println!("  {:<24} {e}", key.name()),
            }
        }
        Ok(())
    })
}
