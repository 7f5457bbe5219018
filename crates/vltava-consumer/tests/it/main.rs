//! Integration tests of `vltava-consumer` against a real Apache Kafka
//! cluster (`VLTAVA_CLUSTER_DIR`; without it they fail with instructions),
//! with records written by `vltava-producer`.

mod api;
mod assigned;
mod faults;
mod fetch;
mod group;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vltava_consumer::{ConsumeError, Consumer, ConsumerRecord, TopicPartition};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_testkit::Cluster;

fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

use vltava_testkit::unique_name as unique_topic;

/// Produces `count` records `v{i}` with keys `k{i % 50}`; returns where each landed.
async fn produce(bootstrap: &str, topic: &str, count: usize) -> Vec<(i32, i64)> {
    let producer = Producer::new(bootstrap, ProducerConfig::new()).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(topic, format!("v{i}")).key(format!("k{}", i % 50));
        deliveries.push(
            producer
                .send(record)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let mut placed = Vec::new();
    for d in deliveries {
        let m = d.await.unwrap_or_else(|e| panic!("{e}"));
        placed.push((m.partition, m.offset));
    }
    producer.close().await;
    placed
}

/// Polls until `count` records arrived (or `limit` passes); returns them
/// by partition, and every error seen.
async fn consume(
    consumer: &Consumer,
    count: usize,
    limit: Duration,
) -> (BTreeMap<i32, Vec<ConsumerRecord>>, Vec<ConsumeError>) {
    let started = Instant::now();
    let mut got: BTreeMap<i32, Vec<ConsumerRecord>> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut n = 0;
    while n < count && started.elapsed() < limit {
        let fetches = consumer.poll(Duration::from_millis(500)).await;
        errors.extend(fetches.errors);
        for (tp, records) in fetches.partitions {
            n += records.len();
            got.entry(tp.partition).or_default().extend(records);
        }
    }
    (got, errors)
}

fn all_partitions(topic: &str, n: i32) -> Vec<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}
