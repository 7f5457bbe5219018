//! Produce throughput against a real broker: 100-byte records (the
//! JSON-like values of `vltava_benches::value`, no key, so the sticky
//! partitioner fills batches), acks=all with idempotence (the defaults),
//! per codec. Prints records/s, MB/s of record values, and the client's
//! CPU seconds per million records (user + system time of this process,
//! which excludes the broker's).
//!
//! Not criterion: one run takes seconds and its figure is a rate, not a
//! per-iteration time. The broker is the cluster of `VLTAVA_CLUSTER_DIR`
//! if set, else a one-node cluster this bench starts in `target/` and
//! takes down at the end. `PRODUCE_RECORDS` sets the records per codec
//! (default 1,000,000).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use vltava_benches::{BenchCluster, VALUE_SIZE, value};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_wire::Compression;

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

async fn produce(
    bootstrap: &str,
    topic: &str,
    codec: Compression,
    records: usize,
) -> (Duration, Duration) {
    let values: Vec<Bytes> = (0..1024).map(|i| Bytes::from(value(i))).collect();
    let config = ProducerConfig::new().compression(codec);
    let producer = Producer::new(bootstrap, config).unwrap_or_else(|e| panic!("{e}"));
    // Warm up: metadata, producer id, connections.
    producer
        .send(ProducerRecord::new(topic, values[0].clone()))
        .await
        .unwrap()
        .await
        .unwrap();
    let cpu = cpu_time();
    let started = Instant::now();
    let mut last = None;
    for i in 0..records {
        let delivery = producer
            .send(ProducerRecord::new(topic, values[i % values.len()].clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Deliveries complete in order per partition; keeping only the
        // last one and flushing at the end measures the pipeline, not the
        // bookkeeping of a million futures.
        last = Some(delivery);
    }
    producer.flush().await;
    if let Some(last) = last {
        last.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time() - cpu;
    let stats = producer.stats();
    assert_eq!(stats.failed, 0, "records failed");
    assert_eq!(stats.acknowledged as usize, records + 1);
    producer.close().await;
    (elapsed, cpu)
}

fn main() {
    if vltava_benches::filtered_out("producer_throughput") {
        return;
    }
    let records: usize = std::env::var("PRODUCE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bench = BenchCluster::get();
    let cluster = &*bench;
    let bootstrap = cluster.bootstrap();
    let runtime = Runtime::new().unwrap();
    let replication = cluster.node_ids().len().min(3) as i16;
    println!(
        "producer_throughput: {records} records of {VALUE_SIZE} bytes per codec, acks=all, idempotent, \
         linger 5 ms, batch 16 KiB, 3 partitions, replication {replication}"
    );
    println!("codec   records/s   MB/s    client CPU s per 1M records   elapsed");
    for codec in Compression::ALL {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let topic = format!("bench-produce-{codec:?}-{nanos}").to_lowercase();
        cluster.create_topic(&topic, 3, replication).unwrap();
        let (elapsed, cpu) = runtime.block_on(produce(&bootstrap, &topic, codec, records));
        let rate = records as f64 / elapsed.as_secs_f64();
        println!(
            "{:<7} {:>9.0}   {:>6.1}  {:>10.2}                    {:.2?}",
            format!("{codec:?}").to_lowercase(),
            rate,
            rate * VALUE_SIZE as f64 / 1e6,
            cpu.as_secs_f64() / records as f64 * 1e6,
            elapsed
        );
    }
}
