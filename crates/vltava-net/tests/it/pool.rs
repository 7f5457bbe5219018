//! The broker pool against a 3-node cluster of its own (the test kills and
//! restarts a node, which the shared cluster's other users must not see):
//! per-purpose connections keep a long fetch from delaying group traffic,
//! a kill -9 fails requests in flight at once, other brokers keep working,
//! and the node is usable again as soon as it is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vltava_net::{BrokerPool, ConnectionConfig, NetError, PoolConfig, Purpose, Recovery};
use vltava_testkit::{ClusterConfig, OwnedCluster};
use vltava_wire::messages::fetch_request::{FetchPartition, FetchTopic};
use vltava_wire::messages::metadata_request::MetadataRequestTopic;
use vltava_wire::messages::{ApiVersionsRequest, FetchRequest, MetadataRequest};

/// A fetch of an empty partition that the broker holds for `wait`.
fn long_fetch(topic: &str, topic_id: vltava_wire::Uuid, wait: Duration) -> FetchRequest {
    FetchRequest {
        max_wait_ms: wait.as_millis() as i32,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.to_owned(),
            topic_id,
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn pool_keeps_purposes_apart_and_survives_a_kill_9() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-net-pool");
    let cluster =
        OwnedCluster::start(ClusterConfig::new(dir).nodes(3)).unwrap_or_else(|e| panic!("{e}"));
    let cluster = &*cluster;
    let topic = "pool-test";
    cluster.create_topic(topic, 1, 1).unwrap();
    let leader = cluster.partition_leader(topic, 0).unwrap();
    let target = cluster.broker_addr(leader).unwrap().to_string();
    let other = cluster
        .node_ids()
        .into_iter()
        .find(|&n| n != leader)
        .map(|n| cluster.broker_addr(n).unwrap().to_string())
        .unwrap();

    // A request timeout far longer than the test: failing by timeout could
    // not pass for failing at once.
    let pool = BrokerPool::new(PoolConfig::new(
        ConnectionConfig::new().request_timeout(Duration::from_secs(120)),
    ));
    let metadata = pool
        .send(
            &target,
            Purpose::Control,
            MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some(topic.to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let topic_id = metadata.topics[0].topic_id;

    // 1. A broker works through one connection's requests in order: behind
    // a fetch it holds for 3 s, a request on the same connection waits;
    // on the group connection it does not.
    let wait = Duration::from_secs(3);
    let fetch_connection = pool.connection(&target, Purpose::Fetch).await.unwrap();
    // A leader that has just been elected may answer a fetch at once with
    // an error until its replica is ready; a fetch it answers at once would
    // hold nothing up. Wait until it serves the partition (bounded).
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = fetch_connection
            .send(long_fetch(topic, topic_id, Duration::from_millis(10)))
            .await
            .unwrap();
        let code = answer
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(-1, |p| p.error_code);
        if answer.error_code == 0 && code == 0 {
            break;
        }
        assert!(
            Instant::now() < ready_by,
            "the leader did not serve the partition: codes {} / {code}",
            answer.error_code
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = {
        let connection = fetch_connection.clone();
        let request = long_fetch(topic, topic_id, wait);
        tokio::spawn(async move { connection.send(request).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    pool.send(&target, Purpose::Group, ApiVersionsRequest::default())
        .await
        .unwrap();
    let beside = started.elapsed();
    let started = Instant::now();
    fetch_connection
        .send(ApiVersionsRequest::default())
        .await
        .unwrap();
    let behind = started.elapsed();
    held.await.unwrap().unwrap();
    assert!(
        beside < Duration::from_secs(1) && behind > Duration::from_secs(2),
        "group connection answered in {beside:?}, the fetch connection in {behind:?}"
    );

    // 2. kill -9 the broker with a fetch in flight: it fails at once,
    // retriably, as an unreachable broker.
    let in_flight = {
        let connection = fetch_connection.clone();
        let request = long_fetch(topic, topic_id, Duration::from_secs(60));
        tokio::spawn(async move { connection.send(request).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    cluster.kill(leader).unwrap();
    let error = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the request in flight did not fail within 10 s")
        .unwrap()
        .unwrap_err();
    let failed_after = killed.elapsed();
    assert!(matches!(error, NetError::Disconnected { .. }), "{error}");
    assert_eq!(error.recovery(), Recovery::Unreachable);
    assert!(failed_after < Duration::from_secs(5), "{failed_after:?}");

    // Another broker still answers, through the same pool.
    pool.send(&other, Purpose::Control, MetadataRequest::default())
        .await
        .unwrap();

    // The dead broker refuses dials; the pool backs off between them.
    for _ in 0..4 {
        let error = pool
            .send(&target, Purpose::Control, MetadataRequest::default())
            .await
            .unwrap_err();
        assert_eq!(error.recovery(), Recovery::Unreachable, "{error}");
    }
    assert!(pool.backoff_remaining(&target).is_some());

    // 3. Back up, the node is usable again within 1 s.
    cluster.start_node(leader).unwrap();
    let back = Instant::now();
    let pool = Arc::new(pool);
    loop {
        match pool
            .send(&target, Purpose::Control, MetadataRequest::default())
            .await
        {
            Ok(_) => break,
            Err(error) if back.elapsed() < Duration::from_secs(5) => {
                assert!(error.is_retriable(), "{error}");
            }
            Err(error) => panic!("still failing 5 s after the restart: {error}"),
        }
    }
    let usable_after = back.elapsed();
    eprintln!(
        "group beside a held fetch {beside:?}, behind it {behind:?}; \
         in-flight fetch failed {failed_after:?} after kill -9; \
         usable {usable_after:?} after the node was back"
    );
    assert!(
        usable_after < Duration::from_secs(1),
        "usable {usable_after:?} after the node was back"
    );
}
