//! Consumers in a group on the shared cluster: positions start from the
//! group's commits, revocations commit before partitions move, and
//! together the members read every record exactly once; a member whose
//! session expired is told (Lost), rejoins and resumes at the commits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vltava_consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, TopicPartition};
use vltava_group::{GroupConfig, GroupEvent};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};

use crate::{produce, shared_cluster, unique_topic};

fn config() -> ConsumerConfig {
    ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .auto_commit(None)
        .max_poll_records(100)
}

/// Everything read, by (partition, offset) -> how many times.
type Seen = BTreeMap<(i32, i64), u32>;

fn note(seen: &mut Seen, records: impl Iterator<Item = ConsumerRecord>) -> usize {
    let mut n = 0;
    for r in records {
        *seen.entry((r.partition, r.offset)).or_default() += 1;
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_resumes_from_the_first_ones_commits() {
    let cluster = shared_cluster();
    let topic = unique_topic("group-resume");
    cluster.create_topic(&topic, 6, 3).unwrap();
    produce(&cluster.bootstrap(), &topic, 3000).await;
    let group = unique_topic("group-resume-g");
    let mut seen = Seen::new();

    let first = Consumer::subscribe(
        &cluster.bootstrap(),
        config(),
        GroupConfig::new(&group),
        [topic.as_str()],
    )
    .unwrap();
    let started = Instant::now();
    let mut read = 0;
    let mut joined = false;
    while read < 1500 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {read} read"
        );
        let fetches = first.poll(Duration::from_millis(500)).await;
        joined |= fetches
            .events
            .iter()
            .any(|e| matches!(e, GroupEvent::Joined { .. }));
        assert!(
            fetches.errors.iter().all(|e| !e.is_fatal()),
            "{:?}",
            fetches.errors
        );
        read += note(
            &mut seen,
            fetches.partitions.into_iter().flat_map(|(_, r)| r),
        );
    }
    assert!(joined, "no Joined event came back from poll");
    first.close().await.unwrap();

    // The second member starts where the first committed: nothing twice.
    let second = Consumer::subscribe(
        &cluster.bootstrap(),
        config(),
        GroupConfig::new(&group),
        [topic.as_str()],
    )
    .unwrap();
    let started = Instant::now();
    while seen.len() < 3000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of 3000 read",
            seen.len()
        );
        let fetches = second.poll(Duration::from_millis(500)).await;
        assert!(
            fetches.errors.iter().all(|e| !e.is_fatal()),
            "{:?}",
            fetches.errors
        );
        note(
            &mut seen,
            fetches.partitions.into_iter().flat_map(|(_, r)| r),
        );
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "read twice: {:?}",
        &twice[..twice.len().min(5)]
    );
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_the_partitions_and_read_everything_once() {
    let cluster = shared_cluster();
    let topic = unique_topic("group-split");
    cluster.create_topic(&topic, 6, 3).unwrap();
    produce(&cluster.bootstrap(), &topic, 3000).await;
    let group = unique_topic("group-split-g");
    let a = Consumer::subscribe(
        &cluster.bootstrap(),
        config(),
        GroupConfig::new(&group),
        [topic.as_str()],
    )
    .unwrap();
    let b = Consumer::subscribe(
        &cluster.bootstrap(),
        config(),
        GroupConfig::new(&group),
        [topic.as_str()],
    )
    .unwrap();
    let mut seen = Seen::new();
    let mut by_member: [BTreeMap<i32, usize>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let started = Instant::now();
    while seen.len() < 3000 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{} of 3000 read",
            seen.len()
        );
        for (i, consumer) in [&a, &b].into_iter().enumerate() {
            let fetches = consumer.poll(Duration::from_millis(200)).await;
            assert!(
                fetches.errors.iter().all(|e| !e.is_fatal()),
                "{:?}",
                fetches.errors
            );
            for (tp, records) in fetches.partitions {
                *by_member[i].entry(tp.partition).or_default() += records.len();
                note(&mut seen, records.into_iter());
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "read twice: {:?}",
        &twice[..twice.len().min(5)]
    );
    // Both took part (the group split the partitions between them).
    let owned_a = a.group_member().unwrap().assignment();
    let owned_b = b.group_member().unwrap().assignment();
    assert_eq!(owned_a.len() + owned_b.len(), 6, "{owned_a:?} {owned_b:?}");
    assert!(owned_a.iter().all(|tp| !owned_b.contains(tp)));
    assert!(!owned_a.is_empty() && !owned_b.is_empty());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// An assigned partition starts at the group's committed offset, read in
/// the background: `poll` is not held up by it, and a `seek` made when the
/// assignment is reported decides the start, whatever the commit says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_on_assignment_wins_over_the_committed_offset_read_after_it() {
    let cluster = shared_cluster();
    let topic = unique_topic("group-seek");
    cluster.create_topic(&topic, 2, 3).unwrap();
    produce(&cluster.bootstrap(), &topic, 400).await;
    let group = unique_topic("group-seek-g");

    // A first member commits 50 on every partition and leaves.
    let first = Consumer::subscribe(
        &cluster.bootstrap(),
        config(),
        GroupConfig::new(group.as_str()),
        [topic.as_str()],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while first.assignment().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the first member got no partitions"
        );
        first.poll(Duration::from_millis(100)).await;
    }
    for tp in first.assignment() {
        assert!(first.seek(&tp, 50));
    }
    first.commit().await.unwrap();
    first.close().await.unwrap();

    // The second member seeks p0 to 10 as soon as it hears of it; p1
    // starts at the committed 50.
    let second = Consumer::subscribe(
        &cluster.bootstrap(),
        config(),
        GroupConfig::new(group.as_str()),
        [topic.as_str()],
    )
    .unwrap();
    let mut first_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_offsets.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "not every partition delivered: {first_offsets:?}"
        );
        let fetches = second.poll(Duration::from_millis(100)).await;
        for event in &fetches.events {
            if let GroupEvent::Assigned(partitions) = event {
                for tp in partitions.iter().filter(|tp| tp.partition == 0) {
                    assert!(second.seek(tp, 10), "an assigned partition can be sought");
                }
            }
        }
        for r in fetches.records() {
            first_offsets.entry(r.partition).or_insert(r.offset);
        }
    }
    assert_eq!(first_offsets, BTreeMap::from([(0, 10), (1, 50)]));
    second.close().await.unwrap();
}

/// DESIGN.md's promise, the other half: a consumer whose session expires
/// (its process stalled past the session timeout: here its whole runtime
/// is blocked, as by a long pause of the application) gets a Lost event,
/// rejoins, and resumes from the committed offsets: re-reading starts
/// exactly at each partition's committed offset, and nothing from there
/// on is skipped.
// A current-thread runtime: blocking its thread stalls the consumer's
// own tasks too (heartbeats included), as a stalled process would.
#[tokio::test]
async fn a_consumer_whose_session_expired_is_told_rejoins_and_resumes_at_the_committed_offsets() {
    let cluster = shared_cluster();
    let topic = unique_topic("group-lost");
    cluster.create_topic(&topic, 3, 3).unwrap();
    // 200 records in each partition.
    let producer = Producer::new(&cluster.bootstrap(), ProducerConfig::new()).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..600 {
        let record = ProducerRecord::new(topic.as_str(), format!("v{i}")).partition(i % 3);
        deliveries.push(producer.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    producer.close().await;
    let consumer = Consumer::builder(cluster.bootstrap())
        .group_id(unique_topic("group-lost-g"))
        .subscribe([topic.as_str()])
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .session_timeout(Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(300))
        .max_poll_records(40)
        .build()
        .unwrap();
    let partitions: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(&topic, p)).collect();
    let mut read = 0;
    let started = Instant::now();
    while read < 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "{read} read");
        let fetches = consumer.poll(Duration::from_millis(200)).await;
        assert!(
            fetches.errors.iter().all(|e| !e.is_fatal()),
            "{:?}",
            fetches.errors
        );
        read += fetches.record_count();
    }
    consumer.commit().await.unwrap();
    let committed: BTreeMap<i32, i64> = consumer
        .committed(&partitions)
        .await
        .unwrap()
        .into_iter()
        .map(|(tp, c)| (tp.partition, c.map_or(0, |c| c.offset)))
        .collect();
    // Read on past the commit: these records will be read again.
    while read < 350 {
        assert!(started.elapsed() < Duration::from_secs(60), "{read} read");
        read += consumer
            .poll(Duration::from_millis(200))
            .await
            .record_count();
    }
    let generation = consumer.group_member().unwrap().generation();

    // Three session timeouts without a heartbeat.
    std::thread::sleep(Duration::from_secs(6));

    let mut lost = false;
    let mut reassigned = false;
    let mut again: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let started = Instant::now();
    loop {
        let all_back = partitions.iter().all(|tp| {
            let wanted = 200 - committed[&tp.partition];
            again.get(&tp.partition).map_or(0, Vec::len) as i64 >= wanted
        });
        if reassigned && all_back {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "lost {lost}, reassigned {reassigned}, re-read {again:?}"
        );
        let fetches = consumer.poll(Duration::from_millis(200)).await;
        assert!(
            fetches.errors.iter().all(|e| !e.is_fatal()),
            "{:?}",
            fetches.errors
        );
        for event in &fetches.events {
            match event {
                GroupEvent::Lost(p) => {
                    assert_eq!(p.len(), 3, "{p:?}");
                    lost = true;
                }
                GroupEvent::Assigned(_) if lost => reassigned = true,
                _ => {}
            }
        }
        if reassigned {
            for r in fetches.records() {
                again.entry(r.partition).or_default().push(r.offset);
            }
        }
    }
    assert!(lost, "no Lost event after the session expired");
    // The committed offsets carry the leader epoch of the last record
    // read: each restart there was validated before it was fetched.
    assert!(consumer.metrics().position_validations >= 1);
    assert_ne!(consumer.group_member().unwrap().generation(), generation);
    for (partition, offsets) in &again {
        let from = committed[partition];
        assert_eq!(
            offsets,
            &(from..200).collect::<Vec<i64>>(),
            "partition {partition}: re-reading must start at the committed {from} and skip nothing"
        );
    }
    consumer.close().await.unwrap();
}
