//! Round trips of small requests over one connection to a real broker:
//! one at a time, and pipelined at several depths. Criterion measures the
//! throughput; a second pass records each request's latency and prints
//! percentiles.
//!
//! The broker is the cluster named by `VLTAVA_CLUSTER_DIR` if it is set
//! (`cargo xtask cluster up`), else a one-node cluster this bench starts in
//! `target/` and takes down at the end.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use vltava_benches::BenchCluster;
use vltava_net::{Connection, ConnectionConfig};
use vltava_wire::messages::MetadataRequest;

/// The request: Metadata for no topics (about 30 bytes; the answer lists
/// the brokers). Small enough that the figures are the transport's and the
/// broker's per-request cost, not bandwidth.
fn small_request() -> MetadataRequest {
    MetadataRequest {
        topics: Some(Vec::new()),
        allow_auto_topic_creation: false,
        ..Default::default()
    }
}

/// Sends `count` requests keeping `depth` in flight; returns each latency.
async fn run(connection: &Arc<Connection>, count: usize, depth: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(count);
    let mut in_flight = JoinSet::new();
    let mut sent = 0;
    while latencies.len() < count {
        while sent < count && in_flight.len() < depth {
            let connection = connection.clone();
            in_flight.spawn(async move {
                let started = Instant::now();
                let response = connection.send(small_request()).await;
                (started.elapsed(), response.map(|r| r.brokers.len()))
            });
            sent += 1;
        }
        let (latency, brokers) = in_flight
            .join_next()
            .await
            .expect("requests in flight")
            .expect("the request task");
        black_box(brokers.expect("the broker answers"));
        latencies.push(latency);
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn main() {
    if vltava_benches::filtered_out("net_round_trip") {
        return;
    }
    let bench = BenchCluster::get();
    let broker = bench.bootstrap().split(',').next().unwrap().to_owned();
    let runtime = Runtime::new().unwrap();
    let connection = Arc::new(
        runtime
            .block_on(Connection::connect(
                &broker,
                ConnectionConfig::new().max_in_flight(256),
            ))
            .unwrap_or_else(|e| panic!("{e}")),
    );

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("net_round_trip");
    for depth in [1usize, 8, 64] {
        let batch = 64;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("metadata_depth_{depth}"), |b| {
            b.iter(|| runtime.block_on(run(&connection, batch, depth)));
        });
    }
    group.finish();
    criterion.final_summary();

    // Latency percentiles, after a warm-up, over 20,000 requests per depth.
    println!("\nround trips of small requests over one connection to {broker}:");
    println!("depth  requests/s   p50        p90        p99        p99.9");
    for depth in [1usize, 8, 64] {
        runtime.block_on(run(&connection, 2_000, depth));
        let started = Instant::now();
        let mut latencies = runtime.block_on(run(&connection, 20_000, depth));
        let elapsed = started.elapsed();
        latencies.sort_unstable();
        println!(
            "{depth:>5}  {:>10.0}   {:<9.1?}  {:<9.1?}  {:<9.1?}  {:.1?}",
            latencies.len() as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.90),
            percentile(&latencies, 0.99),
            percentile(&latencies, 0.999),
        );
    }
}
