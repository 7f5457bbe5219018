//! Static membership (KIP-345) on the shared cluster: a member with a
//! `group_instance_id` that restarts within its session timeout takes its
//! place back: the same partitions, the same generation, and no rebalance
//! for the others (no event at all reaches them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vltava_group::{GroupEvent, TopicPartition};

use crate::{Running, TestGroup, Topic, classic_config, settle, shared_cluster, unique};

const PARTITIONS: i32 = 12;
const SESSION: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_its_session_gets_its_partitions_back_without_a_rebalance()
 {
    let cluster = shared_cluster();
    let topic = Topic::create(&cluster, &unique("static"), PARTITIONS).await;
    let group_id = unique("static-group");
    let group = TestGroup::new(&cluster.bootstrap(), &group_id, &topic);
    // Range is eager: any rebalance would revoke every member's partitions.
    let config = |instance: usize| {
        let mut config = classic_config(&group_id, "range", SESSION);
        config.group_instance_id = Some(format!("instance-{instance}"));
        config
    };
    let all = topic.all();
    let mut members: Vec<Running> = Vec::new();
    for i in 0..3 {
        members.push(group.member(config(i)));
        let refs: Vec<&Running> = members.iter().collect();
        settle(&refs, &all, Duration::from_secs(40), true).await;
    }

    // Restart each in turn (so the leader too), stopping as a static
    // member does: no LeaveGroup.
    let mut report = Vec::new();
    for restarting in 0..members.len() {
        let before: Vec<Vec<TopicPartition>> =
            members.iter().map(|m| m.member.assignment()).collect();
        let generations: Vec<i32> = members.iter().map(|m| m.member.generation()).collect();
        let old_id = members[restarting].member.member_id();
        let stopped = Instant::now();
        let leaving = members.remove(restarting);
        leaving.leave().await;
        // The process is down for a moment, well within its session.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let restarted = group.member(config(restarting));
        members.insert(restarting, restarted);
        let back = &members[restarting];
        loop {
            assert!(
                stopped.elapsed() < SESSION,
                "instance-{restarting} not back within its session: {:?}, events {:?}",
                back.member.assignment(),
                back.events()
            );
            if back.member.generation() > 0 && !back.member.assignment().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = stopped.elapsed();
        assert_eq!(
            back.member.assignment(),
            before[restarting],
            "instance-{restarting} came back with other partitions"
        );
        assert_eq!(
            back.member.generation(),
            generations[restarting],
            "the group moved to another generation"
        );
        assert_ne!(
            back.member.member_id(),
            old_id,
            "a restart gets a new member id"
        );
        // Give a rebalance, were one coming, time to show.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (i, m) in members.iter().enumerate() {
            assert_eq!(
                m.member.generation(),
                generations[i],
                "member {i}: a rebalance"
            );
            assert_eq!(
                m.member.assignment(),
                before[i],
                "member {i}: partitions moved"
            );
            if i != restarting {
                let events = m.events_since(stopped);
                assert!(
                    events
                        .iter()
                        .all(|e| matches!(e, GroupEvent::SessionError { .. })),
                    "member {i} saw the restart of instance-{restarting}: {events:?}"
                );
            }
        }
        // The coordinator agrees: still three members, one per instance,
        // each with the partitions it had, and no rebalance going on.
        let (state, described) = group.observer.describe().await.unwrap();
        assert_eq!(state, "Stable");
        let by_instance: BTreeMap<String, Vec<TopicPartition>> = described
            .into_iter()
            .map(|d| {
                (
                    d.group_instance_id.unwrap_or_default(),
                    d.partitions.into_iter().collect(),
                )
            })
            .collect();
        let expected: BTreeMap<String, Vec<TopicPartition>> = before
            .iter()
            .enumerate()
            .map(|(i, partitions)| (format!("instance-{i}"), partitions.clone()))
            .collect();
        assert_eq!(by_instance, expected, "the coordinator's view");
        report.push(format!("instance-{restarting} back in {took:?}"));
    }
    let by_instance: BTreeMap<usize, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (i, m.member.assignment().len()))
        .collect();
    eprintln!("static restarts: {report:?}, partitions by instance {by_instance:?}");
    eprintln!(
        "{}",
        group.finish(&members.iter().collect::<Vec<_>>()).await
    );
    for m in members {
        m.leave().await;
    }
}
