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

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use vltava_benches::{VALUE_SIZE, value};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_testkit::{Cluster, ClusterConfig};
use vltava_wire::Compression;

/// The broker's cluster; taken down at the end if this bench started it.
struct BenchCluster {
    cluster: Cluster,
    started_here: bool,
}

impl Drop for BenchCluster {
    fn drop(&mut self) {
        if self.started_here
            && let Err(e) = self.cluster.down()
        {
            eprintln!("taking the bench cluster down: {e}");
        }
    }
}

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
    // `cargo bench` passes --bench; a filter that names another bench skips this one.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args
        .iter()
        .any(|f| !"producer_throughput".contains(f.as_str()))
    {
        return;
    }
    let records: usize = std::env::var("PRODUCE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bench = match Cluster::from_env() {
        Ok(cluster) => BenchCluster {
            cluster,
            started_here: false,
        },
        Err(_) => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/vltava-bench-cluster");
            eprintln!(
                "no VLTAVA_CLUSTER_DIR: starting a one-node cluster in {}",
                dir.display()
            );
            BenchCluster {
                cluster: Cluster::start(ClusterConfig::new(dir).nodes(1))
                    .unwrap_or_else(|e| panic!("{e}")),
                started_here: true,
            }
        }
    };
    let cluster = &bench.cluster;
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
