//! Integration tests of `vltava-producer` against a real Apache Kafka
//! cluster, found through `VLTAVA_CLUSTER_DIR` (`cargo xtask cluster up`);
//! without one they fail with instructions. Records are read back with our
//! own codec over a plain connection and with Kafka's console consumer.

mod interop;
mod produce;
mod restarts;
mod scripted;
mod transactions;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vltava_net::{Connection, ConnectionConfig};
use vltava_testkit::Cluster;
use vltava_wire::messages::fetch_request::{FetchPartition, FetchTopic};
use vltava_wire::messages::metadata_request::MetadataRequestTopic;
use vltava_wire::messages::{FetchRequest, MetadataRequest};
use vltava_wire::{Batch, DecompressionLimit, ErrorCode, RecordBatches};

/// The shared cluster of the test run.
fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

use vltava_testkit::unique_name as unique_topic;

/// A record as read back: offset, key, value, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadRecord {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Every record of every partition of `topic`, read with our codec from
/// each partition's leader up to its high watermark.
async fn read_topic(cluster: &Cluster, topic: &str) -> BTreeMap<i32, Vec<ReadRecord>> {
    let bootstrap = cluster.bootstrap();
    let first = bootstrap.split(',').next().unwrap();
    let conn = Connection::connect(first, ConnectionConfig::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let metadata = conn
        .send(MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(topic.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        })
        .await
        .unwrap();
    let t = &metadata.topics[0];
    assert_eq!(ErrorCode::from(t.error_code), ErrorCode::NONE, "{topic}");
    let mut out = BTreeMap::new();
    for p in &t.partitions {
        let leader = metadata
            .brokers
            .iter()
            .find(|b| b.node_id == p.leader_id)
            .map(|b| format!("{}:{}", b.host, b.port))
            .expect("a leader");
        let conn = Connection::connect(&leader, ConnectionConfig::new())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut records = Vec::new();
        let mut offset = 0i64;
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "reading {topic} took too long"
            );
            let response = conn
                .send(FetchRequest {
                    max_wait_ms: 0,
                    min_bytes: 0,
                    max_bytes: 8 << 20,
                    isolation_level: 0,
                    topics: vec![FetchTopic {
                        topic: topic.to_owned(),
                        topic_id: t.topic_id,
                        partitions: vec![FetchPartition {
                            partition: p.partition_index,
                            fetch_offset: offset,
                            partition_max_bytes: 8 << 20,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .await
                .unwrap();
            let part = &response.responses[0].partitions[0];
            assert_eq!(ErrorCode::from(part.error_code), ErrorCode::NONE);
            let high_watermark = part.high_watermark;
            if let Some(bytes) = part.records.clone() {
                for batch in RecordBatches::new(bytes) {
                    let batch: Batch = batch.unwrap();
                    if batch.is_control() {
                        offset = batch.last_offset() + 1;
                        continue;
                    }
                    for record in batch.records(DecompressionLimit::DEFAULT).unwrap().iter() {
                        let record = record.unwrap();
                        if record.offset() < offset {
                            continue;
                        }
                        records.push(ReadRecord {
                            offset: record.offset(),
                            key: record.key().map(<[u8]>::to_vec),
                            value: record.value().map(<[u8]>::to_vec),
                            headers: record
                                .headers()
                                .map(|h| {
                                    let h = h.unwrap();
                                    (
                                        String::from_utf8_lossy(h.key()).into_owned(),
                                        h.value().map(<[u8]>::to_vec),
                                    )
                                })
                                .collect(),
                        });
                    }
                    offset = batch.last_offset() + 1;
                }
            }
            if offset >= high_watermark {
                break;
            }
        }
        out.insert(p.partition_index, records);
    }
    out
}

/// Runs Kafka's console consumer over `topic` from the beginning and
/// returns the lines it printed (`key \t value` per record).
fn console_consume(cluster: &Cluster, topic: &str, expected: usize) -> Vec<String> {
    console_consume_at(cluster, topic, expected, "read_uncommitted", 30_000)
}

/// Like [`console_consume`], at an isolation level, stopping after
/// `timeout_ms` without a record.
fn console_consume_at(
    cluster: &Cluster,
    topic: &str,
    expected: usize,
    isolation: &str,
    timeout_ms: u32,
) -> Vec<String> {
    // Kafka 4 renamed the formatter's option (and warns on stdout if the
    // old one is used).
    let property = if cluster.distribution().major() >= 4 {
        "--formatter-property"
    } else {
        "--property"
    };
    let output = cluster
        .distribution()
        .tool_command("org.apache.kafka.tools.consumer.ConsoleConsumer")
        .args(["--bootstrap-server", &cluster.bootstrap(), "--topic", topic])
        .args(["--from-beginning", "--max-messages", &expected.to_string()])
        .args(["--timeout-ms", &timeout_ms.to_string()])
        .args(["--isolation-level", isolation])
        .args([property, "print.key=true"])
        .args([property, "key.separator=\t"])
        .stdin(Stdio::null())
        .output()
        .expect("running Kafka's console consumer");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
