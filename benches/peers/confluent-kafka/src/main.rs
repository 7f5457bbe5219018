//! The confluent-kafka peer of `cargo xtask bench peers`: Confluent's Rust
//! client (a translation of the Java client, configured with the Java
//! client's keys), consuming a topic from the earliest offset with assigned
//! partitions, or producing records, and printing what it measured.
//!
//! ```text
//! confluent-kafka-peer consume BOOTSTRAP TOPIC PARTITIONS RECORDS
//! confluent-kafka-peer produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES
//! ```
//!
//! It prints `SETTING key=value` lines, then one `RESULT records=N bytes=B
//! elapsed_ns=T` line: consume from the first record to the last, produce
//! from the first send to the last acknowledgement (after one warm-up record).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confluent_kafka::common::TopicPartition;
use confluent_kafka::common::serialization::{ByteArraySerializer, BytesDeserializer};
use confluent_kafka::consumer::{Consumer, ConsumerConfig, KafkaConsumer};
use confluent_kafka::producer::{
    KafkaProducer, Producer, ProducerConfig, ProducerRecord, callback,
};

/// The confluent-kafka release this peer is built with (pinned in Cargo.toml).
const CONFLUENT_KAFKA: &str = "confluent-kafka 1.0.0";

fn fail(message: String) -> ! {
    eprintln!("confluent-kafka-peer: {message}");
    std::process::exit(1);
}

fn num(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| fail(format!("`{text}` is not a number")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("tokio runtime: {e}")));
    match args.first().map(String::as_str) {
        Some("version") => println!("{CONFLUENT_KAFKA}"),
        Some("consume") if args.len() == 5 => runtime.block_on(consume(
            &args[1],
            &args[2],
            num(&args[3]) as i32,
            num(&args[4]),
        )),
        Some("produce") if args.len() == 9 => runtime.block_on(produce(
            &args[1],
            &args[2],
            num(&args[3]),
            &args[4],
            num(&args[5]),
            &args[6],
            (num(&args[7]), num(&args[8])),
        )),
        _ => fail(
            "usage: consume BOOTSTRAP TOPIC PARTITIONS RECORDS | \
             produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES"
                .into(),
        ),
    }
}

/// Prints every setting (sorted, as the Java peer does) and returns them
/// with the bootstrap address added.
fn settings(bootstrap: &str, settings: &[(&str, String)]) -> HashMap<String, String> {
    let sorted: BTreeMap<&str, &String> = settings.iter().map(|(k, v)| (*k, v)).collect();
    for (key, value) in &sorted {
        println!("SETTING {key}={value}");
    }
    let mut props: HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    props.insert("bootstrap.servers".into(), bootstrap.into());
    props
}

async fn consume(bootstrap: &str, topic: &str, partitions: i32, records: usize) {
    println!("SETTING client={CONFLUENT_KAFKA}");
    println!(
        "SETTING api=KafkaConsumer<Bytes, Bytes> (BytesDeserializer, no copy), assign + seek_to_beginning (no group), poll"
    );
    println!("SETTING runtime=tokio multi-thread, one worker per core");
    // The Java peer's settings, key for key: the client takes the Java
    // client's configuration. `group.protocol=consumer` because the client
    // refuses to build a consumer with the default `classic`, group or not.
    let props = settings(
        bootstrap,
        &[
            ("group.protocol", "consumer".into()),
            ("enable.auto.commit", "false".into()),
            ("auto.offset.reset", "earliest".into()),
            ("check.crcs", "true".into()),
            ("fetch.max.bytes", (50 << 20).to_string()),
            ("max.partition.fetch.bytes", (1 << 20).to_string()),
            ("fetch.max.wait.ms", "500".into()),
            ("fetch.min.bytes", "1".into()),
            ("max.poll.records", "10000".into()),
            ("receive.buffer.bytes", "65536".into()),
            ("isolation.level", "read_uncommitted".into()),
        ],
    );
    let config = ConsumerConfig::new(&props).unwrap_or_else(|e| fail(format!("config: {e}")));
    let mut consumer: KafkaConsumer<Bytes, Bytes> =
        KafkaConsumer::new(config, BytesDeserializer::new(), BytesDeserializer::new())
            .unwrap_or_else(|e| fail(format!("consumer: {e}")));
    let assigned: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer
        .assign(assigned.clone())
        .await
        .unwrap_or_else(|e| fail(format!("assign: {e}")));
    consumer
        .seek_to_beginning(&assigned)
        .await
        .unwrap_or_else(|e| fail(format!("seek_to_beginning: {e}")));
    let mut started = None;
    let (mut read, mut bytes, mut checksum) = (0usize, 0usize, 0usize);
    while read < records {
        let polled = consumer
            .poll(Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| fail(format!("poll: {e}")));
        for record in &polled {
            started.get_or_insert_with(Instant::now);
            if let Some(value) = record.value() {
                checksum += value.last().copied().unwrap_or(0) as usize;
                bytes += value.len();
            }
            read += 1;
        }
    }
    let elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
    let _ = consumer.close().await;
    eprintln!("checksum {checksum}");
    println!(
        "RESULT records={read} bytes={bytes} elapsed_ns={}",
        elapsed.as_nanos()
    );
}

async fn produce(
    bootstrap: &str,
    topic: &str,
    records: usize,
    values_file: &str,
    value_size: usize,
    codec: &str,
    (linger_ms, batch_bytes): (usize, usize),
) {
    let data =
        std::fs::read(values_file).unwrap_or_else(|e| fail(format!("reading {values_file}: {e}")));
    let values: Vec<&[u8]> = data.chunks_exact(value_size).collect();
    if values.is_empty() {
        fail(format!(
            "{values_file} holds no value of {value_size} bytes"
        ));
    }
    println!("SETTING client={CONFLUENT_KAFKA}");
    println!(
        "SETTING api=KafkaProducer<Vec<u8>, Vec<u8>>::send of &[u8] records (no serializer, no copy) with a callback, flush"
    );
    println!("SETTING runtime=tokio multi-thread, one worker per core");
    println!("SETTING partitioner=built-in (default; unkeyed records: sticky by bytes)");
    let props = settings(
        bootstrap,
        &[
            ("acks", "all".into()),
            ("enable.idempotence", "true".into()),
            ("compression.type", codec.into()),
            ("linger.ms", linger_ms.to_string()),
            ("batch.size", batch_bytes.to_string()),
            ("buffer.memory", (32 << 20).to_string()),
            ("max.in.flight.requests.per.connection", "5".into()),
        ],
    );
    let config = ProducerConfig::new(&props).unwrap_or_else(|e| fail(format!("config: {e}")));
    let producer: KafkaProducer<Vec<u8>, Vec<u8>> = KafkaProducer::new(
        config,
        ByteArraySerializer::new(),
        ByteArraySerializer::new(),
    )
    .unwrap_or_else(|e| fail(format!("producer: {e}")));
    // Warm up: metadata, producer id, connections.
    producer
        .send(ProducerRecord::new(topic.to_owned(), Some(values[0])), None)
        .await
        .unwrap_or_else(|e| fail(format!("warm-up record: {e}")))
        .get()
        .await
        .unwrap_or_else(|e| fail(format!("warm-up record: {e}")));
    let failed = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..records {
        let value = values[i % values.len()];
        bytes += value.len();
        let (failed, acknowledged) = (failed.clone(), acknowledged.clone());
        let done = callback::new(move |_, error| {
            if error.is_some() {
                failed.fetch_add(1, Ordering::Relaxed);
            } else {
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        });
        // The outcome is the callback's; the returned future is not needed.
        drop(
            producer
                .send(
                    ProducerRecord::new(topic.to_owned(), Some(value)),
                    Some(Box::new(done)),
                )
                .await
                .unwrap_or_else(|e| fail(format!("send: {e}"))),
        );
    }
    Producer::flush(&producer)
        .await
        .unwrap_or_else(|e| fail(format!("flush: {e}")));
    let elapsed = started.elapsed();
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        fail(format!("{failed} records failed"));
    }
    let acknowledged = acknowledged.load(Ordering::Relaxed) as usize;
    if acknowledged != records {
        fail(format!("{acknowledged} of {records} records acknowledged"));
    }
    let _ = Producer::close(&producer).await;
    println!(
        "RESULT records={records} bytes={bytes} elapsed_ns={}",
        elapsed.as_nanos()
    );
}
