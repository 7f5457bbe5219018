//! Refreshes triggered by the error codes other layers report happen, are
//! coalesced, and respect the minimum interval.

use std::time::{Duration, Instant};

use vltava_meta::MetadataConfig;
use vltava_wire::ErrorCode;

use crate::{CLUSTER, client, create_topic, shared_cluster};

#[tokio::test]
async fn report_error_triggers_a_refresh_that_respects_the_minimum_interval() {
    let _shared = CLUSTER.read().await;
    let cluster = shared_cluster();
    let topic = "vltava-meta-it-triggers";
    create_topic(&cluster, topic, 1, 3).await;
    let backoff = Duration::from_millis(800);
    let config = MetadataConfig::new()
        .refresh_backoff(backoff)
        .backoff_jitter(0.0);
    let client = client(&cluster.bootstrap(), &[topic], config);
    client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    let mut snapshots = client.watch();
    snapshots.borrow_and_update();

    // A code that needs no metadata triggers nothing, even after the backoff.
    assert!(!client.report_error(topic, 0, ErrorCode::NOT_COORDINATOR));
    tokio::time::sleep(backoff + Duration::from_millis(200)).await;
    assert_eq!(client.stats().started, 1, "{:?}", client.stats());

    // NOT_LEADER_OR_FOLLOWER does: a refresh happens.
    assert!(client.report_error(topic, 0, ErrorCode::NOT_LEADER_OR_FOLLOWER));
    tokio::time::timeout(Duration::from_secs(10), snapshots.changed())
        .await
        .expect("a refresh within 10 s")
        .unwrap();
    let first = Instant::now();
    assert_eq!(client.stats().succeeded, 2, "{:?}", client.stats());

    // A burst of errors right after it: one refresh, no sooner than the backoff.
    for code in [
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode::LEADER_NOT_AVAILABLE,
    ] {
        for _ in 0..5 {
            assert!(client.report_error(topic, 0, code));
        }
    }
    tokio::time::sleep(backoff / 2).await;
    assert_eq!(client.stats().started, 2, "too soon: {:?}", client.stats());
    tokio::time::timeout(Duration::from_secs(10), snapshots.changed())
        .await
        .expect("a refresh within 10 s")
        .unwrap();
    let waited = first.elapsed();
    assert!(
        waited >= backoff - Duration::from_millis(50),
        "after {waited:?}"
    );
    // The burst made one refresh, and nothing more is pending.
    tokio::time::sleep(backoff + Duration::from_millis(300)).await;
    let stats = client.stats();
    assert_eq!((stats.started, stats.succeeded), (3, 3), "{stats:?}");
}
