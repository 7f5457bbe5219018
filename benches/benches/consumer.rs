//! End-to-end consumption against a real broker: a topic of 100-byte
//! records (the JSON-like values of `vltava_benches::value`) written once
//! per codec by vltava's producer, then read from the earliest offset by a
//! `Consumer` of its assigned partitions, every record's value touched.
//! Prints records/s and MB/s from first to last record, the client's CPU
//! seconds per million records (this process's user + system time, the
//! broker's excluded) and the process's peak RSS.
//!
//! Not criterion: one run is a rate over seconds. The broker is the
//! cluster of `VLTAVA_CLUSTER_DIR` if set, else a one-node cluster this
//! bench starts and takes down. `CONSUME_RECORDS` sets the records per
//! codec (default 1,000,000).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use vltava_benches::{BenchCluster, VALUE_SIZE, value};
use vltava_consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_wire::Compression;

const PARTITIONS: i32 = 3;

/// User + system CPU time of this process, and its peak RSS in KiB.
fn usage() -> (Duration, u64) {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (
        tv(usage.ru_utime) + tv(usage.ru_stime),
        usage.ru_maxrss as u64,
    )
}

async fn fill(bootstrap: &str, topic: &str, codec: Compression, records: usize) {
    let values: Vec<Bytes> = (0..1024).map(|i| Bytes::from(value(i))).collect();
    let config = ProducerConfig::new()
        .compression(codec)
        .batch_size(64 * 1024)
        .linger(Duration::from_millis(20));
    let producer = Producer::new(bootstrap, config).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..records {
        // Only the count of failures matters here (checked below).
        drop(
            producer
                .send(ProducerRecord::new(topic, values[i % values.len()].clone()))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    producer.close().await;
    assert_eq!(producer.stats().failed, 0);
}

async fn consume(bootstrap: &str, topic: &str, records: usize) -> (Duration, Duration, usize) {
    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .max_poll_records(10_000);
    let consumer = Consumer::new(bootstrap, config).unwrap_or_else(|e| panic!("{e}"));
    consumer.assign((0..PARTITIONS).map(|p| TopicPartition::new(topic, p)));
    let (cpu_before, _) = usage();
    let mut started = None;
    let mut read = 0usize;
    let mut checksum = 0usize;
    let give_up = Instant::now() + Duration::from_secs(600);
    while read < records {
        assert!(
            Instant::now() < give_up,
            "only {read} of {records} records read"
        );
        let fetches = consumer.poll(Duration::from_secs(1)).await;
        for error in &fetches.errors {
            assert!(!error.is_fatal(), "{error}");
        }
        for record in fetches.records() {
            started.get_or_insert_with(Instant::now);
            checksum += record.value.as_ref().map_or(0, |v| v[v.len() - 1] as usize);
            read += 1;
        }
    }
    let elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
    let (cpu_after, _) = usage();
    std::hint::black_box(checksum);
    consumer.stop();
    (elapsed, cpu_after - cpu_before, read)
}

fn main() {
    if vltava_benches::filtered_out("consumer_throughput") {
        return;
    }
    let records: usize = std::env::var("CONSUME_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bench = BenchCluster::get();
    let bootstrap = bench.bootstrap();
    let runtime = Runtime::new().unwrap();
    println!(
        "consumer_throughput: {records} records of {VALUE_SIZE} bytes per codec, {PARTITIONS} partitions, \
         read_uncommitted, CRC checked, fetch.max.wait 500 ms, max.partition.fetch.bytes 1 MiB"
    );
    println!("codec   records/s   MB/s    client CPU s per 1M records   peak RSS   elapsed");
    for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let topic = format!("bench-consume-{codec:?}-{nanos}").to_lowercase();
        let replication = bench.node_ids().len().min(3) as i16;
        bench.create_topic(&topic, PARTITIONS, replication).unwrap();
        runtime.block_on(fill(&bootstrap, &topic, codec, records));
        let (elapsed, cpu, read) = runtime.block_on(consume(&bootstrap, &topic, records));
        let (_, rss_kib) = usage();
        let rate = read as f64 / elapsed.as_secs_f64();
        println!(
            "{:<7} {:>9.0}   {:>6.1}  {:>10.2}                    {:>5} MiB   {:.2?}",
            format!("{codec:?}").to_lowercase(),
            rate,
            rate * VALUE_SIZE as f64 / 1e6,
            cpu.as_secs_f64() / read as f64 * 1e6,
            rss_kib / 1024,
            elapsed
        );
    }
}
