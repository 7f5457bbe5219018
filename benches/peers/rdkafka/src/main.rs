//! The rust-rdkafka peer of `cargo xtask bench peers`: consumes a topic from
//! the earliest offset with a `BaseConsumer`, or produces records with a
//! `BaseProducer`, and prints what it measured.
//!
//! ```text
//! rdkafka-peer consume BOOTSTRAP TOPIC PARTITIONS RECORDS
//! rdkafka-peer produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES
//! ```
//!
//! It prints `SETTING key=value` lines, then one `RESULT records=N bytes=B
//! elapsed_ns=T` line: consume from the first record to the last, produce
//! from the first send to the last acknowledgement (after one warm-up record).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

fn fail(message: String) -> ! {
    eprintln!("rdkafka-peer: {message}");
    std::process::exit(1);
}

fn num(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| fail(format!("`{text}` is not a number")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("version") => {
            let (_, version) = rdkafka::util::get_rdkafka_version();
            println!("rdkafka 0.39 (librdkafka {version})");
        }
        Some("consume") if args.len() == 5 => {
            consume(&args[1], &args[2], num(&args[3]) as i32, num(&args[4]))
        }
        Some("produce") if args.len() == 9 => produce(
            &args[1],
            &args[2],
            num(&args[3]),
            &args[4],
            num(&args[5]),
            &args[6],
            num(&args[7]),
            num(&args[8]),
        ),
        _ => fail(
            "usage: consume BOOTSTRAP TOPIC PARTITIONS RECORDS | \
             produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES"
                .into(),
        ),
    }
}

/// Sets and prints every setting.
fn config(settings: &[(&str, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in settings {
        if *key != "bootstrap.servers" {
            println!("SETTING {key}={value}");
        }
        config.set(*key, value);
    }
    config
}

fn consume(bootstrap: &str, topic: &str, partitions: i32, records: usize) {
    let (_, version) = rdkafka::util::get_rdkafka_version();
    println!("SETTING client=rust-rdkafka 0.39, librdkafka {version}");
    println!("SETTING api=BaseConsumer, assign (no subscription), poll per message");
    let consumer: BaseConsumer = config(&[
        ("bootstrap.servers", bootstrap.into()),
        // librdkafka wants a group id for a consumer; nothing joins or commits.
        ("group.id", "vltava-peers-bench".into()),
        ("enable.auto.commit", "false".into()),
        ("enable.auto.offset.store", "false".into()),
        ("auto.offset.reset", "earliest".into()),
        ("check.crcs", "true".into()),
        ("fetch.max.bytes", (50 << 20).to_string()),
        ("max.partition.fetch.bytes", (1 << 20).to_string()),
        ("fetch.wait.max.ms", "500".into()),
        ("fetch.min.bytes", "1".into()),
        ("queued.max.messages.kbytes", "65536".into()),
        ("isolation.level", "read_uncommitted".into()),
    ])
    .create()
    .unwrap_or_else(|e| fail(format!("consumer: {e}")));
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap_or_else(|e| fail(format!("assignment: {e}")));
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|e| fail(format!("assign: {e}")));
    let mut started = None;
    let (mut read, mut bytes, mut checksum) = (0usize, 0usize, 0usize);
    while read < records {
        match consumer.poll(Duration::from_secs(1)) {
            None => {}
            Some(Ok(message)) => {
                started.get_or_insert_with(Instant::now);
                if let Some(value) = message.payload() {
                    checksum += value.last().copied().unwrap_or(0) as usize;
                    bytes += value.len();
                }
                read += 1;
            }
            Some(Err(e)) => fail(format!("poll: {e}")),
        }
    }
    let elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
    eprintln!("checksum {checksum}");
    println!(
        "RESULT records={read} bytes={bytes} elapsed_ns={}",
        elapsed.as_nanos()
    );
}

/// Counts deliveries and failures.
struct Counter {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[allow(clippy::too_many_arguments)]
fn produce(
    bootstrap: &str,
    topic: &str,
    records: usize,
    values_file: &str,
    value_size: usize,
    codec: &str,
    linger_ms: usize,
    batch_bytes: usize,
) {
    let data =
        std::fs::read(values_file).unwrap_or_else(|e| fail(format!("reading {values_file}: {e}")));
    let values: Vec<&[u8]> = data.chunks_exact(value_size).collect();
    if values.is_empty() {
        fail(format!(
            "{values_file} holds no value of {value_size} bytes"
        ));
    }
    let (_, version) = rdkafka::util::get_rdkafka_version();
    println!("SETTING client=rust-rdkafka 0.39, librdkafka {version}");
    println!("SETTING api=BaseProducer::send, poll while the queue is full, flush");
    let producer: BaseProducer<Counter> = config(&[
        ("bootstrap.servers", bootstrap.to_string()),
        ("acks", "all".into()),
        ("enable.idempotence", "true".into()),
        ("compression.codec", codec.into()),
        ("linger.ms", linger_ms.to_string()),
        ("batch.size", batch_bytes.to_string()),
        ("queue.buffering.max.messages", "100000".into()),
        ("queue.buffering.max.kbytes", "1048576".into()),
    ])
    .create_with_context(Counter {
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    })
    .unwrap_or_else(|e| fail(format!("producer: {e}")));
    println!("SETTING batch.num.messages=10000 (default)");
    println!(
        "SETTING partitioner=consistent_random (default; unkeyed records: sticky, sticky.partitioning.linger.ms 10)"
    );

    // Warm up: metadata, producer id, connections.
    send(&producer, topic, values[0]);
    producer
        .flush(Duration::from_secs(30))
        .unwrap_or_else(|e| fail(format!("warm-up flush: {e}")));
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..records {
        let value = values[i % values.len()];
        bytes += value.len();
        send(&producer, topic, value);
    }
    producer
        .flush(Duration::from_secs(120))
        .unwrap_or_else(|e| fail(format!("flush: {e}")));
    let elapsed = started.elapsed();
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        fail(format!("{failed} records failed"));
    }
    let delivered = context.delivered.load(Ordering::Relaxed) as usize;
    if delivered != records + 1 {
        fail(format!("{delivered} of {} records delivered", records + 1));
    }
    println!(
        "RESULT records={records} bytes={bytes} elapsed_ns={}",
        elapsed.as_nanos()
    );
}

/// Sends one record, serving delivery reports while librdkafka's queue is full.
fn send(producer: &BaseProducer<Counter>, topic: &str, value: &[u8]) {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => fail(format!("send: {e}")),
        }
    }
    // Serves delivery reports without waiting, as librdkafka asks of producers.
    producer.poll(Duration::ZERO);
}
