//! A KIP-848 member against a broker that does not offer the consumer
//! protocol (Kafka 3.9, where it is off by default) falls back to the
//! classic protocol by itself, says so, and joins.

use std::time::{Duration, Instant};

use vltava_group::{GroupEvent, GroupProtocol};
use vltava_testkit::{COMPAT_KAFKA_VERSION, ClusterConfig, OwnedCluster};

use crate::{TestGroup, Topic, consumer_config, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_protocol_member_falls_back_to_classic_on_kafka_3_9() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-group-fallback");
    let config = ClusterConfig::new(dir)
        .nodes(1)
        .kafka_version(COMPAT_KAFKA_VERSION);
    let cluster = OwnedCluster::start(config).unwrap_or_else(|e| panic!("{e}"));
    let topic = Topic::create(&cluster, "fallback", 3).await;
    let group_id = unique("fallback-g");
    let group = TestGroup::new(&cluster.bootstrap(), &group_id, &topic);
    let member = group.member(consumer_config(&group_id));
    let started = Instant::now();
    loop {
        let events = member.events();
        let fell_back = events
            .iter()
            .any(|e| matches!(e, GroupEvent::FellBackToClassic { .. }));
        let joined_classic = events.iter().any(|e| {
            matches!(
                e,
                GroupEvent::Joined {
                    protocol: GroupProtocol::Classic,
                    ..
                }
            )
        });
        if fell_back && joined_classic && member.member.assignment().len() == 3 {
            break;
        }
        assert!(
            member.member.error().is_none(),
            "{:?}",
            member.member.error()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no fallback and classic join: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(member.member.protocol(), GroupProtocol::Classic);
    eprintln!("{}", group.finish(&[&member]).await);
    member.leave().await;
}
