//! The consumer through broker faults, each test on a 3-node cluster of
//! its own (the tests of this module take turns: each kills brokers, and
//! three clusters at once would starve a 2-core machine):
//!
//! - a partition leader killed (-9) mid-consumption: the position is
//!   validated with OffsetForLeaderEpoch and kept, nothing lost or doubled;
//!   one broker frozen (SIGSTOP) while the others' partitions keep coming
//!   (fetches to brokers are independent); every broker down for 15 s
//!   under an assigned and a group consumer: polls keep their timeout, the
//!   group's trouble comes out of `poll` as a non-fatal error, and both
//!   resume by themselves; `close` with every broker down is bounded;
//! - the group coordinator stopped and killed: the consumer keeps its
//!   member id and generation, no partition is revoked, lost or assigned;
//! - an unclean leader election truncates a partition's log below the
//!   consumers' positions: validation finds it, a consumer with a reset
//!   policy moves back to where the logs agree and reads on, one with
//!   policy None stops with the LogTruncation error until it seeks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, MutexGuard};
use tokio::task::block_in_place;
use vltava_consumer::{
    ConsumeError, Consumer, ConsumerConfig, ConsumerRecord, GroupEvent, GroupProtocol, OffsetReset,
    TopicPartition,
};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_testkit::{ClusterConfig, OwnedCluster};

use crate::{all_partitions, consume, produce};

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// A 3-node cluster of the test's own, once no other test of this module
/// has one. Keep the guard until the cluster is dropped.
async fn own_cluster(name: &str) -> (MutexGuard<'static, ()>, Arc<OwnedCluster>) {
    let turn = ONE_AT_A_TIME.lock().await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let cluster = block_in_place(|| OwnedCluster::start(ClusterConfig::new(dir).nodes(3)))
        .unwrap_or_else(|e| panic!("{e}"));
    (turn, Arc::new(cluster))
}

/// Produces `values` to `tp` with `config`; panics if one is not acknowledged.
async fn produce_values(
    bootstrap: &str,
    tp: &TopicPartition,
    values: &[String],
    config: ProducerConfig,
) {
    let producer = Producer::new(bootstrap, config).unwrap();
    let mut deliveries = Vec::new();
    for value in values {
        let record = ProducerRecord::new(tp.topic.as_str(), value.clone()).partition(tp.partition);
        deliveries.push(producer.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap_or_else(|e| panic!("{e}"));
    }
    producer.close().await;
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
}

/// How much later than a plain timer of the same length, started with it
/// on the same task, a poll may return: the consumer's own overhead.
const POLL_OVERHEAD: Duration = Duration::from_millis(100);

/// The most a poll may take past its timeout at all, scheduling on a
/// loaded machine included.
const POLL_SLACK: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_rides_through_a_leader_kill_a_frozen_broker_and_every_broker_down() {
    let (_turn, cluster) = own_cluster("vltava-consumer-faults").await;
    let bootstrap = cluster.bootstrap();
    let topic = "faults";
    cluster.create_topic(topic, 3, 3).unwrap();
    produce(&bootstrap, topic, 30_000).await;
    let mut config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .max_poll_records(200);
    // Small answers (about 2,000 records), so that most of each partition
    // is fetched after the kill, from the new leader.
    config.max_partition_fetch_bytes = 32 * 1024;
    let consumer = Consumer::new(&bootstrap, config).unwrap();
    consumer.assign(all_partitions(topic, 3));

    // 1. Read a little, kill the leader of partition 0, read the rest.
    // Every partition must have started (records handed out, so a
    // position with an epoch): a partition whose first ListOffsets is
    // still pending at the kill starts afresh at the new leader, with
    // nothing to validate (what made this test flaky at first). Those
    // that started wait paused for the others: read on meanwhile, the
    // partition whose answers came first could race ahead (partition 2
    // once had 7,294 of its 10,200 records read at the kill), and when
    // that was partition 0 (7,800 records) it was fetched to its end
    // before the kill: nothing was left to fetch from the new leader, and
    // nothing was validated (twice in seventeen runs of the suite).
    // Paused once it handed out at most 3,199 records, it has at most
    // one more answer (about 2,000) fetched.
    let (mut got, first_errors) = consume(&consumer, 3000, Duration::from_secs(30)).await;
    let started = Instant::now();
    while got.len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            got.keys()
        );
        let reading: Vec<TopicPartition> =
            got.keys().map(|&p| TopicPartition::new(topic, p)).collect();
        consumer.pause(&reading);
        let (more, _) = consume(&consumer, 1, Duration::from_secs(1)).await;
        for (p, records) in more {
            got.entry(p).or_default().extend(records);
        }
    }
    consumer.resume(&all_partitions(topic, 3));
    let read_before: Vec<(i32, usize)> = got.iter().map(|(p, r)| (*p, r.len())).collect();
    let leader = cluster.partition_leader(topic, 0).unwrap();
    let before = consumer.metrics();
    block_in_place(|| cluster.kill(leader)).unwrap();
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
    // The new leader's epoch sent the positions it leads to validation
    // (OffsetForLeaderEpoch) before fetching; nothing was truncated, so
    // each went on where it was (the offsets above have no gap or repeat).
    let after = consumer.metrics();
    assert!(
        after.position_validations > before.position_validations,
        "no position was validated after node {leader}, partition 0's leader, was killed: \
         {after:?}; records read per partition before the kill {read_before:?}; errors \
         before the kill {first_errors:?}, after {errors:?}"
    );
    assert_eq!(after.log_truncations, 0, "{errors:?}");
    block_in_place(|| cluster.start_node(leader)).unwrap();

    // 2. One broker frozen: fetches to the others go on.
    fetches_to_other_brokers_go_on_while_one_is_frozen(&cluster).await;

    // 3. Every broker down, under this consumer and a group consumer.
    let group_topic = "faults-group";
    cluster.create_topic(group_topic, 3, 3).unwrap();
    produce(&bootstrap, group_topic, 300).await;
    let api_timeout = Duration::from_secs(3);
    let leave_timeout = Duration::from_secs(2);
    let member = Consumer::builder(&bootstrap)
        .group_id("faults-g")
        .subscribe([group_topic])
        .auto_offset_reset(OffsetReset::Earliest)
        .auto_commit_interval(Duration::from_millis(200))
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .default_api_timeout(api_timeout)
        .leave_timeout(leave_timeout)
        .build()
        .unwrap();
    let group_partitions = all_partitions(group_topic, 3);
    let (read, errors) = consume(&member, 300, Duration::from_secs(60)).await;
    assert_eq!(
        read.values().map(Vec::len).sum::<usize>(),
        300,
        "{errors:?}"
    );
    // Auto-commit catches up with everything read before the outage.
    let started = Instant::now();
    loop {
        member.poll(Duration::from_millis(100)).await;
        let committed = member.committed(&group_partitions).await.unwrap();
        if committed.values().flatten().map(|c| c.offset).sum::<i64>() == 300 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{committed:?}");
    }

    for node in cluster.node_ids() {
        block_in_place(|| cluster.kill(node)).unwrap();
    }
    let timeout = Duration::from_millis(300);
    let mut reported = Vec::new();
    let mut group_reported = Vec::new();
    let mut slowest = [Duration::ZERO; 2];
    let mut overhead = [Duration::ZERO; 2];
    let down_since = Instant::now();
    while down_since.elapsed() < Duration::from_secs(15) {
        for (i, c) in [&consumer, &member].into_iter().enumerate() {
            // A plain timer of the poll's timeout beside it, on the same
            // task: how late the machine itself wakes us (the old bound of
            // 1.5 s for 300 ms was for that: on this 2-core machine at a
            // load average of 50 a 300 ms poll took up to 423 ms; with the
            // timer beside it, 372 ms, the timer 0.2 ms earlier).
            let started = Instant::now();
            let ((fetches, took), timer) = tokio::join!(
                async { (c.poll(timeout).await, started.elapsed()) },
                async {
                    tokio::time::sleep(timeout).await;
                    started.elapsed()
                }
            );
            slowest[i] = slowest[i].max(took);
            overhead[i] = overhead[i].max(took.saturating_sub(timer));
            assert!(
                took.saturating_sub(timer) < POLL_OVERHEAD,
                "poll took {took:?}, {:?} past a timer of its timeout, with the brokers down",
                took.saturating_sub(timer)
            );
            assert!(
                took < timeout + POLL_SLACK,
                "poll took {took:?} with the brokers down"
            );
            for e in fetches.errors {
                assert!(!e.is_fatal(), "a broker outage is never fatal: {e}");
                if i == 1 {
                    group_reported.push(e);
                } else {
                    reported.push(e.to_string());
                }
            }
        }
    }
    eprintln!(
        "polls of {timeout:?} with every broker down: slowest assigned {:?}, group {:?}; \
         most past the timer beside them: assigned {:?}, group {:?}",
        slowest[0], slowest[1], overhead[0], overhead[1]
    );
    assert!(
        !reported.is_empty(),
        "nothing told the application the brokers were gone"
    );
    // The group session's trouble is an error of poll's, not fatal, that
    // says when the member tries again.
    assert!(
        group_reported.iter().any(|e| matches!(
            e,
            ConsumeError::Group { fatal: false, message, .. } if message.contains("retrying in")
        )),
        "no group session error came out of poll: {group_reported:?}"
    );
    let nodes = cluster.node_ids();
    block_in_place(|| cluster.start_nodes(&nodes)).unwrap();
    // It resumes by itself: new records arrive, for both.
    produce(&bootstrap, topic, 300).await;
    let new: Vec<String> = (0..300).map(|i| format!("after-{i}")).collect();
    for tp in &group_partitions {
        let mine: Vec<String> = new
            .iter()
            .skip(tp.partition as usize)
            .step_by(3)
            .cloned()
            .collect();
        produce_values(&bootstrap, tp, &mine, ProducerConfig::new()).await;
    }
    let (after, _) = consume(&consumer, 300, Duration::from_secs(60)).await;
    let n: usize = after.values().map(Vec::len).sum();
    assert_eq!(
        n, 300,
        "the consumer did not resume after the brokers came back"
    );
    let (after, _) = consume(&member, 300, Duration::from_secs(90)).await;
    let mut values: Vec<String> = after.values().flatten().map(value).collect();
    values.sort();
    let mut expected = new.clone();
    expected.sort();
    assert_eq!(
        values, expected,
        "the group consumer resumed at its committed offsets with the new records, and only them"
    );

    // 4. `close` with every broker down: the commit gives up after the
    // API timeout, leaving after the leave timeout.
    for node in cluster.node_ids() {
        block_in_place(|| cluster.kill(node)).unwrap();
    }
    let started = Instant::now();
    let closed = member.close().await;
    let took = started.elapsed();
    assert!(
        took < api_timeout + leave_timeout + Duration::from_secs(1),
        "close took {took:?} with every broker down ({closed:?})"
    );
    assert!(closed.is_err(), "neither commit nor leave can succeed");
    let started = Instant::now();
    consumer.close().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(100));
    let nodes = cluster.node_ids();
    block_in_place(|| cluster.start_nodes(&nodes)).unwrap();
}

/// One broker frozen (SIGSTOP) with a fetch to it in flight: partitions
/// the other brokers lead keep coming. A fetcher that waited for every
/// broker's answer in turn would deliver nothing until the frozen one's
/// request timed out (30 s).
async fn fetches_to_other_brokers_go_on_while_one_is_frozen(cluster: &OwnedCluster) {
    let bootstrap = cluster.bootstrap();
    let topic = "frozen";
    // One replica: the others' high watermarks must not wait for the
    // frozen node to replicate (it would stay in their ISR for
    // replica.lag.time.max.ms, 30 s, and nothing would be readable).
    cluster
        .create_topic_with_configs(topic, 6, 1, &[("min.insync.replicas", "1")])
        .unwrap();
    let partitions = all_partitions(topic, 6);
    let consumer = Consumer::builder(&bootstrap)
        .assign(partitions.clone())
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let producer = Producer::new(&bootstrap, ProducerConfig::new()).unwrap();
    let send = |tp: &TopicPartition, value: String| {
        ProducerRecord::new(topic, value).partition(tp.partition)
    };
    for tp in &partitions {
        producer
            .send(send(tp, "warm".to_owned()))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let (read, _) = consume(&consumer, 6, Duration::from_secs(30)).await;
    assert_eq!(read.values().map(Vec::len).sum::<usize>(), 6);
    let frozen = cluster.partition_leader(topic, 0).unwrap();
    let others: Vec<&TopicPartition> = partitions
        .iter()
        .filter(|tp| cluster.partition_leader(topic, tp.partition).unwrap() != frozen)
        .collect();
    assert!(
        !others.is_empty(),
        "every partition is led by node {frozen}"
    );

    block_in_place(|| cluster.pause(frozen)).unwrap();
    let paused_at = Instant::now();
    // The fetch to the frozen broker is held from here on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut deliveries = Vec::new();
    for tp in &others {
        for i in 0..20 {
            deliveries.push(
                producer
                    .send(send(tp, format!("while-frozen-{i}")))
                    .await
                    .unwrap(),
            );
        }
    }
    for d in deliveries {
        d.await.unwrap();
    }
    let expected = others.len() * 20;
    let mut got = 0;
    while got < expected {
        // Before the frozen broker is fenced (broker.session.timeout.ms,
        // 6 s) and its partitions move.
        assert!(
            paused_at.elapsed() < Duration::from_millis(5500),
            "{got} of {expected} records of the other brokers arrived while node {frozen} was frozen"
        );
        let fetches = consumer.poll(Duration::from_millis(200)).await;
        for (tp, records) in &fetches.partitions {
            assert!(others.contains(&tp), "{tp} is led by the frozen node");
            got += records.len();
        }
    }
    block_in_place(|| cluster.resume(frozen)).unwrap();
    producer.close().await;
    consumer.close().await.unwrap();
}

/// Java's `String.hashCode`, to place groups on one `__consumer_offsets`
/// partition (so on one coordinator).
fn offsets_partition(group: &str) -> i32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    (h & 0x7fff_ffff) % 12
}

/// What one consumer read (how often each offset) and the events it saw.
type Seen = (BTreeMap<(i32, i64), u32>, Vec<GroupEvent>);

/// Polls `consumers` (with what each read and every event it saw) until
/// `done` says enough, or `limit` passes (then panics).
async fn poll_all(
    consumers: &[&Consumer],
    seen: &mut [Seen],
    limit: Duration,
    mut done: impl FnMut(&[Seen]) -> bool,
) {
    let started = Instant::now();
    while !done(seen) {
        assert!(started.elapsed() < limit, "gave up after {limit:?}");
        for (c, (records, events)) in consumers.iter().zip(seen.iter_mut()) {
            let fetches = c.poll(Duration::from_millis(200)).await;
            assert!(
                fetches.errors.iter().all(|e| !e.is_fatal()),
                "{:?}",
                fetches.errors
            );
            events.extend(fetches.events.iter().cloned());
            for r in fetches.records() {
                *records.entry((r.partition, r.offset)).or_default() += 1;
            }
        }
    }
}

/// DESIGN.md's promise, for `Consumer`: when the coordinator restarts
/// (SIGTERM, then kill -9) and is back within the session timeout, the
/// consumer keeps its member id and generation and nothing is revoked,
/// lost or assigned; every record is read once. Classic and KIP-848
/// groups, on one coordinator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_restart_keeps_the_membership_of_a_consumer() {
    let (_turn, cluster) = own_cluster("vltava-consumer-coordinator").await;
    let bootstrap = cluster.bootstrap();
    let topic = "promise";
    cluster.create_topic(topic, 4, 3).unwrap();
    let partitions = all_partitions(topic, 4);
    let group = |prefix: &str| {
        (0..)
            .map(|n| format!("{prefix}-{n}"))
            .find(|g| offsets_partition(g) == 7)
            .unwrap()
    };
    let (classic_group, kip848_group) = (group("classic"), group("kip848"));
    let build = |group: &str, protocol: GroupProtocol| {
        let builder = Consumer::builder(&bootstrap)
            .group_id(group)
            .group_protocol(protocol)
            .subscribe([topic])
            .auto_offset_reset(OffsetReset::Earliest)
            .auto_commit_interval(Duration::from_millis(500));
        match protocol {
            // Longer than a kill -9's recovery: the dead broker fenced
            // after 6 s, a new leader of the offsets partition, loading.
            GroupProtocol::Classic => builder
                .session_timeout(Duration::from_secs(25))
                .heartbeat_interval(Duration::from_secs(1)),
            // The broker's group.consumer.session.timeout.ms (45 s).
            _ => builder,
        }
        .build()
        .unwrap()
    };
    let classic = build(&classic_group, GroupProtocol::Classic);
    let kip848 = build(&kip848_group, GroupProtocol::Consumer);
    let consumers = [&classic, &kip848];
    let mut produced = 0;
    let mut produce_more = async |n: usize| {
        let values: Vec<String> = (produced..produced + n).map(|i| format!("r{i}")).collect();
        produced += n;
        for tp in &partitions {
            let mine: Vec<String> = values
                .iter()
                .skip(tp.partition as usize)
                .step_by(4)
                .cloned()
                .collect();
            produce_values(&bootstrap, tp, &mine, ProducerConfig::new()).await;
        }
        produced
    };
    let mut seen = vec![(BTreeMap::new(), Vec::new()), (BTreeMap::new(), Vec::new())];
    let total = produce_more(400).await;
    let all_read =
        |total: usize| move |seen: &[Seen]| seen.iter().all(|(records, _)| records.len() == total);
    poll_all(
        &consumers,
        &mut seen,
        Duration::from_secs(90),
        all_read(total),
    )
    .await;
    for c in consumers {
        assert_eq!(c.assignment().len(), 4);
    }
    let coordinator = block_in_place(|| cluster.group_coordinator(&classic_group)).unwrap();
    assert_eq!(
        block_in_place(|| cluster.group_coordinator(&kip848_group)).unwrap(),
        coordinator
    );
    let identities: Vec<(String, i32)> = consumers
        .iter()
        .map(|c| {
            let m = c.group_member().unwrap();
            (m.member_id(), m.generation())
        })
        .collect();
    for (_, events) in &mut seen {
        events.clear();
    }

    for kill in [false, true] {
        let node = block_in_place(|| cluster.group_coordinator(&classic_group)).unwrap();
        if kill {
            block_in_place(|| cluster.kill(node)).unwrap();
        } else {
            block_in_place(|| cluster.stop(node)).unwrap();
        }
        // Reading goes on while the coordinator is away and comes back.
        let total = produce_more(100).await;
        poll_all(
            &consumers,
            &mut seen,
            Duration::from_secs(90),
            all_read(total),
        )
        .await;
        block_in_place(|| cluster.start_node(node)).unwrap();
        let total = produce_more(100).await;
        poll_all(
            &consumers,
            &mut seen,
            Duration::from_secs(90),
            all_read(total),
        )
        .await;
        // A few heartbeats with the coordinator where it is now.
        let settle = Instant::now() + Duration::from_secs(3);
        poll_all(&consumers, &mut seen, Duration::from_secs(10), |_| {
            Instant::now() > settle
        })
        .await;
        let how = if kill { "kill -9" } else { "SIGTERM" };
        for (i, c) in consumers.iter().enumerate() {
            let m = c.group_member().unwrap();
            assert_eq!(
                (m.member_id(), m.generation()),
                identities[i],
                "consumer {i} got a new membership after the coordinator's {how}"
            );
            let rebalanced: Vec<&GroupEvent> = seen[i]
                .1
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        GroupEvent::Joined { .. }
                            | GroupEvent::Assigned(_)
                            | GroupEvent::Revoked(_)
                            | GroupEvent::Lost(_)
                    )
                })
                .collect();
            assert!(
                rebalanced.is_empty(),
                "consumer {i} after the coordinator's {how}: {rebalanced:?}"
            );
            let twice: Vec<_> = seen[i].0.iter().filter(|(_, n)| **n > 1).collect();
            assert!(twice.is_empty(), "consumer {i} read twice: {twice:?}");
        }
    }
    for c in consumers {
        c.close().await.unwrap();
    }
}

/// An unclean leader election on a real cluster: a partition of RF 2 with
/// min.insync.replicas 1, its follower stopped, records acknowledged by
/// the leader alone, the leader killed, the stale follower elected
/// (kafka-leader-election --election-type unclean). The records the
/// consumers read from the old leader are gone from the new one's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_truncated_by_an_unclean_election_is_detected_by_validation() {
    let (_turn, cluster) = own_cluster("vltava-consumer-truncation").await;
    let bootstrap = cluster.bootstrap();
    let topic = "truncated";
    cluster
        .create_topic_with_configs(
            topic,
            1,
            2,
            &[
                ("min.insync.replicas", "1"),
                ("unclean.leader.election.enable", "true"),
            ],
        )
        .unwrap();
    let tp = TopicPartition::new(topic, 0);
    let partition = || block_in_place(|| cluster.partition(topic, 0)).unwrap();
    let p = partition();
    let leader = p.leader as u32;
    let follower = p
        .replicas
        .iter()
        .find(|&&r| r != p.leader)
        .copied()
        .unwrap() as u32;
    let values = |from: usize, to: usize, what: &str| -> Vec<String> {
        (from..to).map(|i| format!("{what}-{i}")).collect()
    };
    // 0..100 on both replicas.
    produce_values(
        &bootstrap,
        &tp,
        &values(0, 100, "both"),
        ProducerConfig::new(),
    )
    .await;
    let with_reset = Consumer::builder(&bootstrap)
        .assign([tp.clone()])
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let without_reset = Consumer::builder(&bootstrap)
        .assign([tp.clone()])
        .auto_offset_reset(OffsetReset::None)
        .build()
        .unwrap();
    assert!(without_reset.seek(&tp, 0));
    let read_to = async |c: &Consumer, end: i64| {
        let started = Instant::now();
        let mut records = Vec::new();
        while c.position(&tp) != Some(end) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "at {:?}",
                c.position(&tp)
            );
            let fetches = c.poll(Duration::from_millis(200)).await;
            assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
            records.extend(fetches.partitions.into_iter().flat_map(|(_, r)| r));
        }
        records
    };
    for c in [&with_reset, &without_reset] {
        read_to(c, 100).await;
    }

    // 100..150 on the leader alone.
    block_in_place(|| cluster.stop(follower)).unwrap();
    let started = Instant::now();
    while partition().isr != [leader as i32] {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            partition()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    produce_values(
        &bootstrap,
        &tp,
        &values(100, 150, "lost"),
        ProducerConfig::new(),
    )
    .await;
    for c in [&with_reset, &without_reset] {
        let read = read_to(c, 150).await;
        assert_eq!(read.last().map(value).as_deref(), Some("lost-149"));
    }
    let before = [with_reset.metrics(), without_reset.metrics()];

    // The leader dies; the stale follower is elected, uncleanly.
    block_in_place(|| cluster.kill(leader)).unwrap();
    block_in_place(|| cluster.start_node(follower)).unwrap();
    let started = Instant::now();
    loop {
        let elected = block_in_place(|| {
            cluster.distribution().run_tool(
                "org.apache.kafka.tools.LeaderElectionCommand",
                &[
                    "--bootstrap-server",
                    &cluster.bootstrap(),
                    "--election-type",
                    "unclean",
                    "--topic",
                    topic,
                    "--partition",
                    "0",
                ],
            )
        });
        if partition().leader == follower as i32 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the follower was not elected: {elected:?}, {:?}",
            partition()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // New records after the truncation point.
    produce_values(
        &bootstrap,
        &tp,
        &values(100, 130, "new"),
        ProducerConfig::new(),
    )
    .await;

    // With a reset policy: back to 100, where the logs agree, reported, and
    // reading goes on with the new leader's records.
    let started = Instant::now();
    let mut errors = Vec::new();
    let mut records = Vec::new();
    while records.len() < 30 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} read; errors {errors:?}",
            records.len()
        );
        let fetches = with_reset.poll(Duration::from_millis(200)).await;
        errors.extend(fetches.errors);
        records.extend(fetches.partitions.into_iter().flat_map(|(_, r)| r));
    }
    assert!(
        errors.iter().any(|e| matches!(
            e,
            ConsumeError::Truncated {
                from: 150,
                to: 100,
                ..
            }
        )),
        "{errors:?}"
    );
    assert!(errors.iter().all(|e| !e.is_fatal()), "{errors:?}");
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (100..130).collect::<Vec<i64>>());
    assert_eq!(records.first().map(value).as_deref(), Some("new-100"));
    let m = with_reset.metrics();
    assert!(
        m.position_validations > before[0].position_validations,
        "{m:?}"
    );
    assert_eq!(m.log_truncations, before[0].log_truncations + 1, "{m:?}");

    // Without one: the partition stops at 150 with the typed error, until
    // the application seeks (here to where the logs agree).
    let started = Instant::now();
    let error = loop {
        assert!(started.elapsed() < Duration::from_secs(60));
        let fetches = without_reset.poll(Duration::from_millis(200)).await;
        assert_eq!(fetches.record_count(), 0);
        // The dead leader's fetch errors come first, not fatal.
        if let Some(e) = fetches.errors.into_iter().find(ConsumeError::is_fatal) {
            break e;
        }
    };
    let ConsumeError::LogTruncation {
        offset: 150,
        divergent: Some(divergent),
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!(error.is_fatal());
    assert_eq!(divergent.offset, 100);
    let fetches = without_reset.poll(Duration::from_millis(1000)).await;
    assert_eq!(fetches.record_count(), 0, "stopped until a seek");
    assert_eq!(without_reset.position(&tp), Some(150));
    assert!(without_reset.seek_with_epoch(&tp, divergent.offset, divergent.leader_epoch));
    let read = read_to(&without_reset, 130).await;
    assert_eq!(read.first().map(value).as_deref(), Some("new-100"));
    assert_eq!(read.len(), 30);
}
