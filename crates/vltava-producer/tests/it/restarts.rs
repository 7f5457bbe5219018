//! Producing steadily through a kill -9 of a partition leader and through
//! a rolling restart of every node, on a 3-node cluster of its own: every
//! acknowledged record is in the log exactly once, in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_testkit::{ClusterConfig, OwnedCluster};

use crate::read_topic;

/// Sends numbered records (key `p{i % 3}` so all three partitions get
/// some) until `stop`; returns, per acknowledged record, its number and
/// (partition, offset), and the numbers that failed.
async fn produce_until(
    producer: Producer,
    topic: String,
    stop: Arc<AtomicBool>,
) -> (Vec<(usize, i32, i64)>, Vec<(usize, String)>) {
    let mut pending = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Acquire) {
        let record = ProducerRecord::new(&topic, format!("v{i}")).key(format!("p{}", i % 3));
        match producer.send(record).await {
            Ok(delivery) => pending.push((i, delivery)),
            Err(e) => panic!("send refused record {i}: {e}"),
        }
        i += 1;
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    producer.flush().await;
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    for (i, delivery) in pending {
        match delivery.await {
            Ok(m) => acked.push((i, m.partition, m.offset)),
            Err(e) => failed.push((i, e.to_string())),
        }
    }
    (acked, failed)
}

/// Every acknowledged record is in the log once, where its delivery said,
/// and each partition holds its records in send order with no record
/// twice (a failed record may or may not be there, once at most).
fn check_exactly_once(log: &BTreeMap<i32, Vec<crate::ReadRecord>>, acked: &[(usize, i32, i64)]) {
    let mut at: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (partition, records) in log {
        let mut last: Option<usize> = None;
        for r in records {
            let v = String::from_utf8(r.value.clone().unwrap()).unwrap();
            let i: usize = v[1..].parse().unwrap();
            assert!(
                last < Some(i),
                "partition {partition}: v{i} after v{last:?} (duplicate or reorder)"
            );
            last = Some(i);
            at.insert((*partition, r.offset), i);
        }
    }
    for &(i, partition, offset) in acked {
        assert_eq!(
            at.get(&(partition, offset)),
            Some(&i),
            "acknowledged v{i} is not at {partition}/{offset}"
        );
    }
}

#[tokio::test]
async fn no_acknowledged_record_is_lost_or_doubled_through_kill_9_and_a_rolling_restart() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-producer-restarts");
    let cluster =
        OwnedCluster::start(ClusterConfig::new(dir).nodes(3)).unwrap_or_else(|e| panic!("{e}"));
    let cluster = &*cluster;
    let topic = "restarts";
    cluster.create_topic(topic, 3, 3).unwrap();

    let config = ProducerConfig::new()
        .linger(Duration::from_millis(5))
        .delivery_timeout(Duration::from_secs(120));
    let producer = Producer::new(&cluster.bootstrap(), config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(produce_until(
        producer.clone(),
        topic.to_owned(),
        stop.clone(),
    ));

    // 1. kill -9 the leader of partition 0, and bring it back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let leader = cluster.partition_leader(topic, 0).unwrap();
    cluster.kill(leader).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.start_node(leader).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2. A rolling restart: each node stopped cleanly and started again.
    for node in cluster.node_ids() {
        cluster.restart(node).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    let started = Instant::now();
    let (acked, failed) = tokio::time::timeout(Duration::from_secs(180), task)
        .await
        .expect("the producer settled every record")
        .unwrap();
    let stats = producer.stats();
    eprintln!(
        "{} acknowledged, {} failed, {} retries, {} epoch changes, settled in {:?}; last retry error: {:?}",
        acked.len(),
        failed.len(),
        stats.retries,
        stats.epoch_changes,
        started.elapsed(),
        stats.last_retry_error
    );
    assert!(
        failed.is_empty(),
        "records failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert!(
        acked.len() > 1000,
        "only {} records acknowledged",
        acked.len()
    );
    assert!(
        stats.retries > 0,
        "the faults caused no retry: the test proved nothing"
    );
    let log = read_topic(cluster, topic).await;
    check_exactly_once(&log, &acked);
    let total: usize = log.values().map(Vec::len).sum();
    assert_eq!(
        total,
        acked.len(),
        "the log holds records nobody acknowledged"
    );
}
