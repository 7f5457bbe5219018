//! `cargo xtask demo`: the main job on a local cluster.
//!
//! For now it starts (or reuses) the local cluster, shows what a client sees
//! of it, connects with `vltava-net` to show the versions it negotiates,
//! and produces records with the idempotent producer while the leader of
//! a partition is killed (-9) and started again, then counts them with
//! `Admin`: none lost, none doubled. It grows into the
//! consumer-group-through-restarts demo.

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
    produce_through_a_kill(&cluster)?;
    crate::demo_group::run(&cluster)?;
    println!("the cluster keeps running: `cargo xtask cluster down` ends it");
    Ok(())
}

/// Produces records while the leader of partition 0 of a fresh topic is
/// killed and started again; then checks with `Admin` that the log holds
/// exactly the records acknowledged.
fn produce_through_a_kill(cluster: &vltava_testkit::Cluster) -> Result<(), String> {
    use std::time::{Duration, Instant};
    use vltava::{Admin, AdminConfig, OffsetSpec, Producer, ProducerConfig, ProducerRecord};

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let topic = format!("vltava-demo-produce-{nanos}");
    cluster
        .create_topic(&topic, 3, 3)
        .map_err(|e| e.to_string())?;
    let victim = cluster
        .partition_leader(&topic, 0)
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting a tokio runtime: {e}"))?;
    let bootstrap = cluster.bootstrap();
    runtime.block_on(async {
        let producer = Producer::new(&bootstrap, ProducerConfig::new()).map_err(|e| e.to_string())?;
        println!(
            "producing to `{topic}` (idempotent, acks=all); node {victim}, leader of partition 0, will be killed -9 and started again"
        );
        let started = Instant::now();
        let mut deliveries = Vec::new();
        let mut killed = false;
        let mut restarted = false;
        let mut i = 0u64;
        while !restarted {
            let record = ProducerRecord::new(topic.as_str(), format!("record {i}"))
                .key(format!("key-{}", i % 100));
            deliveries.push(producer.send(record).await.map_err(|e| e.to_string())?);
            i += 1;
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if !killed && started.elapsed() > Duration::from_secs(2) {
                tokio::task::block_in_place(|| cluster.kill(victim)).map_err(|e| e.to_string())?;
                println!("  {:>6.1?}: killed node {victim} ({i} records sent so far)", started.elapsed());
                killed = true;
            }
            if killed && started.elapsed() > Duration::from_secs(5) {
                let node = victim;
                tokio::task::block_in_place(|| cluster.start_node(node)).map_err(|e| e.to_string())?;
                println!("  {:>6.1?}: node {victim} is back", started.elapsed());
                restarted = true;
            }
        }
        producer.flush().await;
        let mut acknowledged = 0u64;
        for delivery in deliveries {
            delivery.await.map_err(|e| format!("a record failed: {e}"))?;
            acknowledged += 1;
        }
        let stats = producer.stats();
        println!(
            "  {acknowledged} records acknowledged, {} failed, {} retries on the way",
            stats.failed, stats.retries
        );
        producer.close().await;
        let admin = Admin::new(&bootstrap, AdminConfig::new()).map_err(|e| e.to_string())?;
        let latest = admin
            .topic_offsets(&topic, OffsetSpec::Latest)
            .await
            .map_err(|e| e.to_string())?;
        let in_log: i64 = latest.values().filter_map(|o| o.offset).sum();
        println!("  the log holds {in_log} records (Admin::topic_offsets, latest)");
        if in_log != acknowledged as i64 {
            return Err(format!(
                "{acknowledged} records were acknowledged but the log holds {in_log}"
            ));
        }
        println!("  every acknowledged record is in the log exactly once");
        Ok(())
    })
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
