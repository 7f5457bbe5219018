//! The fetch path through broker faults, on a 3-node cluster of its own:
//! a partition leader killed (-9) and restarted mid-consumption loses and
//! doubles nothing; with every broker down, poll keeps its timeout and
//! reports non-fatal errors for the whole 15 s, then resumes by itself.

use std::time::{Duration, Instant};

use vltava_consumer::{Consumer, ConsumerConfig, OffsetReset};
use vltava_testkit::{ClusterConfig, OwnedCluster};

use crate::{all_partitions, consume, produce};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_rides_through_a_leader_kill_and_every_broker_down() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-consumer-faults");
    let cluster =
        OwnedCluster::start(ClusterConfig::new(dir).nodes(3)).unwrap_or_else(|e| panic!("{e}"));
    let topic = "faults";
    cluster.create_topic(topic, 3, 3).unwrap();
    produce(&cluster.bootstrap(), topic, 30_000).await;
    let consumer = Consumer::new(
        &cluster.bootstrap(),
        ConsumerConfig::new()
            .offset_reset(OffsetReset::Earliest)
            .max_poll_records(200),
    )
    .unwrap();
    consumer.assign(all_partitions(topic, 3));

    // 1. Read a little, kill the leader of partition 0, read the rest.
    let (mut got, _) = consume(&consumer, 3000, Duration::from_secs(30)).await;
    let leader = cluster.partition_leader(topic, 0).unwrap();
    tokio::task::block_in_place(|| cluster.kill(leader)).unwrap();
    let already: usize = got.values().map(Vec::len).sum();
    let (rest, errors) = consume(&consumer, 30_000 - already, Duration::from_secs(90)).await;
    for (p, records) in rest {
        got.entry(p).or_default().extend(records);
    }
    let total: usize = got.values().map(Vec::len).sum();
    assert!(
        total >= 30_000,
        "only {total} of 30000 read; errors: {errors:?}"
    );
    for (partition, records) in &got {
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                r.offset, i as i64,
                "partition {partition}: gap or duplicate at {i}"
            );
        }
    }
    assert!(errors.iter().all(|e| !e.is_fatal()), "{errors:?}");
    tokio::task::block_in_place(|| cluster.start_node(leader)).unwrap();

    // 2. Every broker down: poll keeps returning within its timeout.
    for node in cluster.node_ids() {
        tokio::task::block_in_place(|| cluster.kill(node)).unwrap();
    }
    let mut reported = Vec::new();
    let down_since = Instant::now();
    while down_since.elapsed() < Duration::from_secs(15) {
        let started = Instant::now();
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(1500),
            "poll took {took:?} with the brokers down"
        );
        for e in fetches.errors {
            assert!(!e.is_fatal(), "a broker outage is never fatal: {e}");
            reported.push(e.to_string());
        }
    }
    assert!(
        !reported.is_empty(),
        "nothing told the application the brokers were gone"
    );
    let nodes = cluster.node_ids();
    tokio::task::block_in_place(|| cluster.start_nodes(&nodes)).unwrap();
    // 3. It resumes by itself: new records arrive.
    produce(&cluster.bootstrap(), topic, 300).await;
    let (after, _) = consume(&consumer, 300, Duration::from_secs(60)).await;
    let n: usize = after.values().map(Vec::len).sum();
    assert_eq!(
        n, 300,
        "the consumer did not resume after the brokers came back"
    );
}
