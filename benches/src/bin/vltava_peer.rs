//! Vltava's side of `cargo xtask bench peers`: the same small program as
//! each peer's (franz-go, rust-rdkafka, the Java client), with the same
//! command line and output, so the xtask runs them all alike.
//!
//! ```text
//! vltava-peer consume BOOTSTRAP TOPIC PARTITIONS RECORDS
//! vltava-peer produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES
//! ```
//!
//! It prints `SETTING key=value` lines, then one `RESULT records=N bytes=B
//! elapsed_ns=T` line: consume from the first record to the last, produce
//! from the first send to the last acknowledgement (after one warm-up record).

use std::time::{Duration, Instant};

use bytes::Bytes;
use vltava_consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_wire::Compression;

fn fail(message: String) -> ! {
    eprintln!("vltava-peer: {message}");
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
        Some("version") => println!("vltava {}", env!("CARGO_PKG_VERSION")),
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

async fn consume(bootstrap: &str, topic: &str, partitions: i32, records: usize) {
    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .max_poll_records(10_000);
    println!("SETTING client=vltava {}", env!("CARGO_PKG_VERSION"));
    println!("SETTING api=vltava_consumer::Consumer, assign (no group), poll");
    println!("SETTING runtime=tokio multi-thread, one worker per core");
    println!("SETTING auto.offset.reset=earliest");
    println!("SETTING check.crcs=true (always: every batch's CRC32C is checked)");
    println!("SETTING fetch.max.bytes={}", config.fetch_max_bytes);
    println!(
        "SETTING max.partition.fetch.bytes={}",
        config.max_partition_fetch_bytes
    );
    println!(
        "SETTING fetch.max.wait.ms={}",
        config.fetch_max_wait.as_millis()
    );
    println!("SETTING fetch.min.bytes={}", config.fetch_min_bytes);
    println!("SETTING buffer.bytes={}", config.buffer_bytes);
    println!("SETTING max.poll.records=10000");
    println!("SETTING isolation.level=read_uncommitted");
    let consumer = Consumer::new(bootstrap, config).unwrap_or_else(|e| fail(e.to_string()));
    consumer.assign((0..partitions).map(|p| TopicPartition::new(topic, p)));
    let mut started = None;
    let (mut read, mut bytes, mut checksum) = (0usize, 0usize, 0usize);
    while read < records {
        let fetches = consumer.poll(Duration::from_secs(1)).await;
        for error in &fetches.errors {
            if error.is_fatal() {
                fail(error.to_string());
            }
        }
        for record in fetches.records() {
            started.get_or_insert_with(Instant::now);
            if let Some(value) = &record.value {
                checksum += value.last().copied().unwrap_or(0) as usize;
                bytes += value.len();
            }
            read += 1;
        }
    }
    let elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
    consumer.stop();
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
    let values: Vec<Bytes> = data
        .chunks_exact(value_size)
        .map(Bytes::copy_from_slice)
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
    // vltava's throughput settings, with the linger and batch size the
    // bench gives (the recommended ones unless overridden): the rest of
    // `for_throughput` (requests of up to 4 MiB) stays.
    let config = ProducerConfig::for_throughput()
        .compression(compression)
        .linger(Duration::from_millis(linger_ms))
        .batch_size(batch_bytes);
    println!("SETTING client=vltava {}", env!("CARGO_PKG_VERSION"));
    println!("SETTING api=vltava_producer::Producer::send, keep the last delivery, flush");
    println!("SETTING runtime=tokio multi-thread, one worker per core");
    println!("SETTING acks=all");
    println!("SETTING enable.idempotence=true");
    println!("SETTING compression={codec}");
    println!("SETTING linger.ms={linger_ms}");
    println!("SETTING batch.size={batch_bytes}");
    println!("SETTING buffer.memory={}", config.buffer_memory);
    println!("SETTING max.in.flight={}", config.max_in_flight);
    println!("SETTING max.request.size={}", config.max_request_size);
    println!("SETTING partitioner=sticky (default; unkeyed records)");
    let producer = Producer::new(bootstrap, config).unwrap_or_else(|e| fail(e.to_string()));
    // Warm up: metadata, producer id, connections.
    let warm_up = producer
        .send(ProducerRecord::new(topic, values[0].clone()))
        .await
        .unwrap_or_else(|e| fail(e.to_string()));
    warm_up
        .await
        .unwrap_or_else(|e| fail(format!("warm-up record: {e}")));
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut last = None;
    for i in 0..records {
        let value = values[i % values.len()].clone();
        bytes += value.len();
        // Deliveries complete in order per partition; keeping only the last
        // one and checking the failure count at the end is enough.
        last = Some(
            producer
                .send(ProducerRecord::new(topic, value))
                .await
                .unwrap_or_else(|e| fail(e.to_string())),
        );
    }
    producer.flush().await;
    if let Some(last) = last {
        last.await.unwrap_or_else(|e| fail(e.to_string()));
    }
    let elapsed = started.elapsed();
    let stats = producer.stats();
    if stats.failed > 0 {
        fail(format!("{} records failed", stats.failed));
    }
    if stats.acknowledged as usize != records + 1 {
        fail(format!(
            "{} of {} records acknowledged",
            stats.acknowledged,
            records + 1
        ));
    }
    producer.close().await;
    println!(
        "RESULT records={records} bytes={bytes} elapsed_ns={}",
        elapsed.as_nanos()
    );
}
