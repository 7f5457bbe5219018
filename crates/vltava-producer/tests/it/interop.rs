//! Interop with Kafka's own tools, per codec: what our producer writes,
//! Kafka's console consumer reads; what Kafka's console producer writes,
//! our codec reads, each keyed record in the partition our murmur2 names.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

use vltava_producer::partitioner::partition_for_key;
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_testkit::Cluster;
use vltava_wire::Compression;

use crate::{console_consume, read_topic, shared_cluster, unique_topic};

const RECORDS: usize = 200;
const PARTITIONS: u32 = 4;

fn codec_name(codec: Compression) -> &'static str {
    match codec {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// Writes `key-{i} \t value-{i}` records with Kafka's console producer.
fn console_produce(cluster: &Cluster, topic: &str, codec: &str) {
    let mut child = cluster
        .distribution()
        .tool_command("org.apache.kafka.tools.ConsoleProducer")
        .args(["--bootstrap-server", &cluster.bootstrap(), "--topic", topic])
        .args(["--compression-codec", codec])
        .args(["--producer-property", "linger.ms=100"])
        .args(["--property", "parse.key=true"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting Kafka's console producer");
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..RECORDS {
        writeln!(stdin, "key-{i}\tvalue-{i} {}", "abc ".repeat(i % 7)).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "console producer: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn kafka_reads_what_we_write_and_we_read_what_kafka_writes_with_every_codec() {
    let cluster = shared_cluster();
    for codec in Compression::ALL {
        let name = codec_name(codec);

        // Kafka writes, we read: every record, where murmur2 says.
        let theirs = unique_topic(&format!("interop-java-{name}"));
        cluster.create_topic(&theirs, PARTITIONS as i32, 3).unwrap();
        console_produce(&cluster, &theirs, name);
        let log = read_topic(&cluster, &theirs).await;
        let mut seen = BTreeSet::new();
        for (partition, records) in &log {
            for record in records {
                let key = String::from_utf8(record.key.clone().unwrap()).unwrap();
                let i: usize = key["key-".len()..].parse().unwrap();
                let value = String::from_utf8(record.value.clone().unwrap()).unwrap();
                assert_eq!(
                    value,
                    format!("value-{i} {}", "abc ".repeat(i % 7)),
                    "{name}"
                );
                assert_eq!(
                    *partition as u32,
                    partition_for_key(key.as_bytes(), PARTITIONS),
                    "{name}: Kafka put {key} in partition {partition}"
                );
                assert!(seen.insert(i), "{name}: {key} twice");
            }
        }
        assert_eq!(seen.len(), RECORDS, "{name}");

        // We write, Kafka reads.
        let ours = unique_topic(&format!("interop-vltava-{name}"));
        cluster.create_topic(&ours, PARTITIONS as i32, 3).unwrap();
        let producer = Producer::new(
            &cluster.bootstrap(),
            ProducerConfig::new().compression(codec),
        )
        .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..RECORDS {
            let record = ProducerRecord::new(&ours, format!("value-{i} {}", "xyz ".repeat(i % 5)))
                .key(format!("key-{i}"));
            deliveries.push(producer.send(record).await.unwrap());
        }
        for d in deliveries {
            d.await.unwrap();
        }
        producer.close().await;
        let lines = console_consume(&cluster, &ours, RECORDS);
        let mut read: Vec<String> = lines;
        read.sort();
        let mut expected: Vec<String> = (0..RECORDS)
            .map(|i| format!("key-{i}\tvalue-{i} {}", "xyz ".repeat(i % 5)))
            .collect();
        expected.sort();
        assert_eq!(
            read, expected,
            "{name}: Kafka's console consumer read something else"
        );
    }
}
