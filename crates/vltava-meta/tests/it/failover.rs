//! A partition's leader stops: after a refresh the metadata names the new
//! leader with a higher epoch. The node is started again before the test
//! ends, however it ends.

use std::time::{Duration, Instant};

use vltava_meta::MetadataConfig;
use vltava_testkit::Cluster;
use vltava_wire::ErrorCode;

use crate::{CLUSTER, client, create_topic, on_cluster, shared_cluster};

/// Starts the node again (and waits until it serves) when dropped, so that
/// the shared cluster is left whole even if the test fails midway (the
/// test itself starts it off the runtime's thread and forgets the guard).
struct StartAgain<'a>(&'a Cluster, u32);

impl Drop for StartAgain<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.start_node(self.1) {
            eprintln!("starting node {} again: {e}", self.1);
        }
    }
}

#[tokio::test]
async fn a_stopped_leader_is_replaced_by_a_new_one_at_a_higher_epoch() {
    let _exclusive = CLUSTER.write().await;
    let cluster = shared_cluster();
    let topic = "vltava-meta-it-failover";
    create_topic(&cluster, topic, 1, 3).await;
    let config = MetadataConfig::new().refresh_backoff(Duration::from_millis(100));
    let client = client(&cluster.bootstrap(), &[topic], config);
    let before = client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    let leader = before.leader(topic, 0).expect("a leader");
    let (old_leader, old_epoch) = (leader.broker.node_id, leader.epoch.expect("an epoch"));
    let old_address = leader.broker.address();

    let node = u32::try_from(old_leader).unwrap();
    let restart = StartAgain(&cluster, node);
    on_cluster(&cluster, move |c| c.stop(node))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // What a fetcher would do: report the failed broker and the error code,
    // and wait for the metadata to move.
    client.report_transport_failure(&old_address);
    let mut snapshots = client.watch();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (new_leader, new_epoch) = loop {
        let current = client.snapshot();
        if let Some(l) = current.leader(topic, 0) {
            if l.broker.node_id != old_leader {
                break (l.broker.node_id, l.epoch);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new leader within 60 s: {current:?}"
        );
        client.report_error(topic, 0, ErrorCode::NOT_LEADER_OR_FOLLOWER);
        let _ = tokio::time::timeout(Duration::from_secs(1), snapshots.changed()).await;
    };
    let new_epoch = new_epoch.expect("an epoch");
    assert!(new_epoch > old_epoch, "epoch {old_epoch} -> {new_epoch}");
    assert_ne!(new_leader, old_leader);
    let after = client.snapshot();
    let p = after.partition(topic, 0).unwrap();
    assert!(p.isr.contains(&new_leader), "{p:?}");
    // The first refresh, and at least one after the leader stopped.
    assert!(client.stats().succeeded >= 2, "{:?}", client.stats());

    // Leave the shared cluster whole, then check the client sees the node back.
    std::mem::forget(restart);
    on_cluster(&cluster, move |c| c.start_node(node))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.snapshot().broker(old_leader).is_none() {
        assert!(
            Instant::now() < deadline,
            "node {old_leader} not back in the metadata"
        );
        client.request_refresh(vltava_meta::RefreshReason::Explicit);
        let _ = tokio::time::timeout(Duration::from_secs(1), snapshots.changed()).await;
    }
    // The epoch did not move backwards through all this.
    let last = client.snapshot();
    assert!(
        last.leader(topic, 0)
            .and_then(|l| l.epoch)
            .unwrap_or(i32::MAX)
            >= new_epoch
    );
}
