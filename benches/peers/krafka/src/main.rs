//! The krafka peer of `cargo xtask bench peers`: consumes a topic from the
//! earliest offset with a consumer without a group (assigned partitions), or
//! produces records with krafka's `Producer`, and prints what it measured.
//!
//! ```text
//! krafka-peer consume BOOTSTRAP TOPIC PARTITIONS RECORDS
//! krafka-peer produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES
//! ```
//!
//! It prints `SETTING key=value` lines, then one `RESULT records=N bytes=B
//! elapsed_ns=T` line: consume from the first record to the last, produce
//! from the first send to the last acknowledgement (after one warm-up record).

use std::time::{Duration, Instant};

use krafka::consumer::AutoOffsetReset;
use krafka::producer::Acks;
use krafka::{Compression, Kafka, Record};

/// The krafka release this peer is built with (pinned in Cargo.toml).
const KRAFKA: &str = "krafka 0.28.1";

fn fail(message: String) -> ! {
    eprintln!("krafka-peer: {message}");
    std::process::exit(1);
}

fn num(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| fail(format!("`{text}` is not a number")))
}

fn setting(key: &str, value: impl std::fmt::Display) {
    println!("SETTING {key}={value}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("tokio runtime: {e}")));
    match args.first().map(String::as_str) {
        Some("version") => println!("{KRAFKA}"),
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
            (num(&args[7]) as u64, num(&args[8])),
        )),
        _ => fail(
            "usage: consume BOOTSTRAP TOPIC PARTITIONS RECORDS | \
             produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES"
                .into(),
        ),
    }
}

async fn connect(bootstrap: &str) -> Kafka {
    Kafka::builder(bootstrap)
        .client_id("krafka-peer")
        .connect()
        .await
        .unwrap_or_else(|e| fail(format!("connect: {e}")))
}

async fn consume(bootstrap: &str, topic: &str, partitions: i32, records: usize) {
    // The fetch sizes and wait are the ones every peer uses; max.poll.records
    // is krafka's "High Throughput Consumer" profile's; the read-ahead
    // (`max_buffered_records`, default 500) is raised as krafka's performance
    // guide says to for high-throughput consumers, here to 4 polls ahead.
    const FETCH_MAX_BYTES: i32 = 50 << 20;
    const PARTITION_BYTES: i32 = 1 << 20;
    const MAX_WAIT: Duration = Duration::from_millis(500);
    const MAX_POLL_RECORDS: i32 = 10_000;
    const MAX_BUFFERED_RECORDS: i32 = 40_000;
    setting("client", KRAFKA);
    setting(
        "api",
        "Kafka::consumer_without_group, assign (no group), poll",
    );
    setting("runtime", "tokio multi-thread, one worker per core");
    setting("auto_offset_reset", "Earliest");
    setting(
        "crc",
        "always checked (krafka verifies every batch's CRC32C; no switch)",
    );
    setting(
        "decompression",
        "lz4_flex; zstd through ruzstd, pure Rust (the `zstd` feature adds only the encoder)",
    );
    setting("fetch_max_bytes", FETCH_MAX_BYTES);
    setting("max_partition_fetch_bytes", PARTITION_BYTES);
    setting("fetch_max_wait.ms", MAX_WAIT.as_millis());
    setting("fetch_min_bytes", 1);
    setting("max_poll_records", MAX_POLL_RECORDS);
    setting("max_buffered_records", MAX_BUFFERED_RECORDS);
    setting("isolation_level", "ReadUncommitted (default)");
    let kafka = connect(bootstrap).await;
    let consumer = kafka
        .consumer_without_group()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_min_bytes(1)
        .fetch_max_bytes(FETCH_MAX_BYTES)
        .max_partition_fetch_bytes(PARTITION_BYTES)
        .fetch_max_wait(MAX_WAIT)
        .max_poll_records(MAX_POLL_RECORDS)
        .max_buffered_records(MAX_BUFFERED_RECORDS)
        .build()
        .await
        .unwrap_or_else(|e| fail(format!("consumer: {e}")));
    consumer
        .assign(topic, (0..partitions).collect())
        .await
        .unwrap_or_else(|e| fail(format!("assign: {e}")));
    let mut started = None;
    let (mut read, mut bytes, mut checksum) = (0usize, 0usize, 0usize);
    while read < records {
        let polled = consumer
            .poll(Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| fail(format!("poll: {e}")));
        for record in &polled {
            started.get_or_insert_with(Instant::now);
            if let Some(value) = &record.value {
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
    (linger_ms, batch_bytes): (u64, usize),
) {
    let data =
        std::fs::read(values_file).unwrap_or_else(|e| fail(format!("reading {values_file}: {e}")));
    let values: Vec<bytes::Bytes> = data
        .chunks_exact(value_size)
        .map(bytes::Bytes::copy_from_slice)
        .collect();
    if values.is_empty() {
        fail(format!(
            "{values_file} holds no value of {value_size} bytes"
        ));
    }
    let compression = match codec {
        "none" => Compression::None,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => fail(format!("unknown codec `{other}`")),
    };
    if !compression.is_available() {
        // A krafka built without a codec's encoder refuses it at `build`.
        println!("UNSUPPORTED krafka was built without the {codec} encoder");
        return;
    }
    setting("client", KRAFKA);
    setting(
        "api",
        "Producer::enqueue (the delivery handle dropped), flush; failures from producer metrics",
    );
    setting("runtime", "tokio multi-thread, one worker per core");
    setting("acks", "All");
    setting("idempotent", "true (krafka default)");
    setting("compression", codec);
    setting("linger.ms", linger_ms);
    setting("batch_size", batch_bytes);
    setting("buffer_memory", "33554432 (default)");
    setting("max_in_flight", "5 per broker (krafka's fixed limit)");
    setting(
        "partitioner",
        "built-in (default; unkeyed records: sticky for batch_size bytes)",
    );
    let kafka = connect(bootstrap).await;
    let producer = kafka
        .producer()
        .acks(Acks::All)
        .idempotent(true)
        .compression(compression)
        .linger(Duration::from_millis(linger_ms))
        .batch_size(batch_bytes)
        .build()
        .await
        .unwrap_or_else(|e| fail(format!("producer: {e}")));
    // Warm up: metadata, producer id, connections.
    let warm_up = producer
        .send(Record::new(topic, values[0].clone()))
        .await
        .unwrap_or_else(|e| fail(format!("warm-up record: {e}")));
    eprintln!("warm-up record at offset {}", warm_up.offset);
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..records {
        let value = values[i % values.len()].clone();
        bytes += value.len();
        // The outcome is counted in the producer's metrics, checked below.
        drop(
            producer
                .enqueue(Record::new(topic, value))
                .await
                .unwrap_or_else(|e| fail(format!("enqueue: {e}"))),
        );
    }
    producer
        .flush()
        .await
        .unwrap_or_else(|e| fail(format!("flush: {e}")));
    let elapsed = started.elapsed();
    let metrics = producer.metrics().producer;
    if metrics.errors > 0 {
        fail(format!("{} batches failed", metrics.errors));
    }
    if metrics.records_sent as usize != records + 1 {
        fail(format!(
            "{} of {} records acknowledged",
            metrics.records_sent,
            records + 1
        ));
    }
    let _ = producer.close().await;
    println!(
        "RESULT records={records} bytes={bytes} elapsed_ns={}",
        elapsed.as_nanos()
    );
}
