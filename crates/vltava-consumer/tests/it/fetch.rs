//! The fetch path on the shared cluster, observed from outside: an
//! incremental fetch session after the first fetch (the consumer's
//! counters of incremental requests and partitions named), the prefetch
//! budget while the application does not poll, records that are views
//! into the fetched batch (pointer arithmetic on keys and values), and a
//! leader moved by a preferred election, followed from the KIP-951 hint in
//! the old leader's Fetch answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::task::block_in_place;
use vltava_consumer::{Consumer, OffsetReset, TopicPartition};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};
use vltava_wire::Compression;

use crate::{shared_cluster, unique_topic};

/// Produces `count` records of `value_len` bytes to `tp`, keys `key-NNNN`.
async fn produce_to(
    bootstrap: &str,
    tp: &TopicPartition,
    count: usize,
    value_len: usize,
    config: ProducerConfig,
) {
    let producer = Producer::new(bootstrap, config).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..count {
        let value = vec![b'a' + (i % 26) as u8; value_len];
        let record = ProducerRecord::new(tp.topic.as_str(), value)
            .key(format!("key-{i:04}"))
            .partition(tp.partition);
        deliveries.push(producer.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    producer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_first_fetch_the_session_is_incremental_and_names_only_what_changed() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("session");
    cluster.create_topic(&topic, 9, 3).unwrap();
    // The partitions one broker leads: one fetch session holds them all.
    let mut by_leader: BTreeMap<u32, Vec<i32>> = BTreeMap::new();
    for p in 0..9 {
        by_leader
            .entry(cluster.partition_leader(&topic, p).unwrap())
            .or_default()
            .push(p);
    }
    let (_, partitions) = by_leader
        .into_iter()
        .max_by_key(|(_, ps)| ps.len())
        .unwrap();
    let k = partitions.len() as u64;
    assert!(k >= 2, "a broker leading two partitions: {partitions:?}");
    let busy = TopicPartition::new(&topic, partitions[0]);
    let consumer = Consumer::builder(&bootstrap)
        .assign(partitions.iter().map(|p| TopicPartition::new(&topic, *p)))
        .auto_offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(50))
        .build()
        .unwrap();
    // Records come to one partition only, in rounds: each round changes
    // that partition's fetch offset and nothing else.
    let mut read = 0;
    for round in 0..6 {
        produce_to(&bootstrap, &busy, 10, 10, ProducerConfig::new()).await;
        let started = Instant::now();
        while read < (round + 1) * 10 {
            assert!(started.elapsed() < Duration::from_secs(30), "{read} read");
            let fetches = consumer.poll(Duration::from_millis(200)).await;
            assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
            assert!(fetches.partitions.iter().all(|(tp, _)| *tp == busy));
            read += fetches.record_count();
        }
    }
    // Some idle long polls too.
    consumer.poll(Duration::from_millis(500)).await;
    let m = consumer.metrics();
    assert!(
        m.incremental_fetch_requests >= 6,
        "the broker opened a session (a non-zero id) and later fetches used it: {m:?}"
    );
    // Full fetches would name every partition every time (k per request).
    // Incremental ones name the partitions that joined the session (at
    // most k, as their starting offsets arrive) and then only the busy one,
    // once per round it moved.
    let full = m.fetch_requests - m.incremental_fetch_requests;
    assert!(
        m.fetch_partitions_sent <= full * k + k + m.incremental_fetch_requests,
        "incremental fetches named unchanged partitions: {m:?} (k = {k})"
    );
    assert!(
        m.fetch_partitions_sent < m.fetch_requests * k / 2,
        "most requests leave most partitions out: {m:?} (k = {k})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetching_stays_within_prefetch_bytes_and_one_answer_per_broker() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("prefetch");
    cluster.create_topic(&topic, 3, 3).unwrap();
    for p in 0..3 {
        produce_to(
            &bootstrap,
            &TopicPartition::new(&topic, p),
            1000,
            1000,
            ProducerConfig::new(),
        )
        .await;
    }
    let produced: u64 = 3 * 1000 * 1000;
    let prefetch: u64 = 64 * 1024;
    let answer: u64 = 64 * 1024;
    let brokers: u64 = 3;
    // The documented overshoot: fetches already in flight when the budget
    // fills still land, at most one answer per broker.
    let bound = prefetch + brokers * answer;
    let consumer = Consumer::builder(&bootstrap)
        .assign((0..3).map(|p| TopicPartition::new(&topic, p)))
        .auto_offset_reset(OffsetReset::Earliest)
        .prefetch_bytes(prefetch as usize)
        .fetch_max_bytes(answer as i32)
        .max_partition_fetch_bytes(32 * 1024)
        .max_poll_records(50)
        .build()
        .unwrap();
    // No poll: the fetcher fills the buffer by itself, then stops.
    let started = Instant::now();
    let mut last = 0;
    let mut still_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fetched = consumer.metrics().bytes_fetched;
        if fetched != last {
            last = fetched;
            still_since = Instant::now();
        }
        if fetched > 0 && still_since.elapsed() > Duration::from_millis(1500) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "fetching never settled: {fetched} bytes"
        );
    }
    assert!(
        last <= bound,
        "{last} bytes prefetched without a poll; the budget is {prefetch} + {brokers} answers of {answer}"
    );
    assert!(last < produced / 4, "{last} of {produced} bytes prefetched");

    // Reading it all, the buffer stays within the bound after every poll.
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let started = Instant::now();
    while offsets.values().map(Vec::len).sum::<usize>() < 3000 {
        assert!(started.elapsed() < Duration::from_secs(60));
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        let buffered = consumer.metrics().buffered_bytes;
        assert!(buffered <= bound, "{buffered} bytes buffered after a poll");
        for r in fetches.records() {
            offsets.entry(r.partition).or_default().push(r.offset);
        }
    }
    for (p, got) in &offsets {
        assert_eq!(got, &(0..1000).collect::<Vec<i64>>(), "partition {p}");
    }
}

/// The length of `n` as a zigzag varint (record fields are).
fn varint_len(n: i64) -> usize {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut len = 1;
    while z >= 0x80 {
        z >>= 7;
        len += 1;
    }
    len
}

async fn records_point_into_their_batch(compression: Compression) {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("zero-copy");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    let config = ProducerConfig::new()
        .compression(compression)
        .linger(Duration::from_millis(50))
        .batch_size(256 * 1024);
    produce_to(&bootstrap, &tp, 200, 300, config).await;
    let consumer = Consumer::builder(&bootstrap)
        .assign([tp.clone()])
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut records = Vec::new();
    let started = Instant::now();
    while records.len() < 200 {
        assert!(started.elapsed() < Duration::from_secs(30));
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        records.extend(fetches.partitions.into_iter().flat_map(|(_, r)| r));
    }
    let mut adjacent = 0;
    for pair in records.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (key, value) = (a.key.as_ref().unwrap(), a.value.as_ref().unwrap());
        assert_eq!(key.len(), 8);
        assert_eq!(value.len(), 300);
        // In a batch a record is `... key length, key, value length,
        // value, headers`: the value starts right after the key and the
        // value's length. Copies into allocations of their own would sit
        // apart (an allocator never packs them this tight).
        let gap = value.as_ptr() as usize - key.as_ptr() as usize;
        assert_eq!(
            gap,
            key.len() + varint_len(value.len() as i64),
            "offset {}: key and value are not views into one batch",
            a.offset
        );
        // The next record of the same batch follows this one's value: its
        // header count, then its own length, attributes, deltas, key.
        let next_key = b.key.as_ref().unwrap().as_ptr() as usize;
        let after_value = value.as_ptr() as usize + value.len();
        if next_key > after_value && next_key - after_value < 16 {
            adjacent += 1;
        }
    }
    assert!(
        adjacent >= 150,
        "records of a batch follow each other in one buffer: {adjacent} of 199 did"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_values_are_views_into_the_fetched_batch() {
    records_point_into_their_batch(Compression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_values_of_a_compressed_batch_are_views_into_its_one_decompression_buffer() {
    records_point_into_their_batch(Compression::Lz4).await;
}

/// A leader that moves while the old one stays up (replicas reordered with
/// Kafka's reassignment tool, then a preferred election): the old leader
/// answers the consumer's next Fetch with NOT_LEADER_OR_FOLLOWER naming
/// the new leader (KIP-951), and the consumer fetches from it on that hint,
/// with nothing lost or doubled and no fatal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_leader_is_followed_from_the_hint_in_the_old_leaders_fetch_answer() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("hint");
    cluster.create_topic(&topic, 1, 2).unwrap();
    let tp = TopicPartition::new(topic.as_str(), 0);
    let partition = || block_in_place(|| cluster.partition(&topic, 0)).unwrap();
    // Both replicas in sync, so either can lead.
    let started = Instant::now();
    let p = loop {
        let p = partition();
        if p.leader >= 0 && p.isr.len() == 2 {
            break p;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let old = p.leader;
    let new = *p.replicas.iter().find(|&&r| r != old).unwrap();

    produce_to(&bootstrap, &tp, 100, 100, ProducerConfig::new()).await;
    let consumer = Consumer::builder(&bootstrap)
        .assign([tp.clone()])
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut offsets = Vec::new();
    let mut errors = Vec::new();
    let read_to = async |end: i64, offsets: &mut Vec<i64>, errors: &mut Vec<_>| {
        let started = Instant::now();
        while consumer.position(&tp) != Some(end) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "at {:?}; errors {errors:?}",
                consumer.position(&tp)
            );
            let fetches = consumer.poll(Duration::from_millis(200)).await;
            errors.extend(fetches.errors);
            offsets.extend(
                fetches
                    .partitions
                    .into_iter()
                    .flat_map(|(_, r)| r)
                    .map(|r| r.offset),
            );
        }
    };
    read_to(100, &mut offsets, &mut errors).await;
    let before = consumer.metrics();
    assert_eq!(before.leader_hints_applied, 0, "{before:?}");

    // The new leader first in the replica list, then elected as preferred.
    let plan = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{topic}.json"));
    std::fs::write(
        &plan,
        format!(
            r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":0,"replicas":[{new},{old}]}}]}}"#
        ),
    )
    .unwrap();
    let plan = plan.to_str().unwrap();
    block_in_place(|| {
        cluster.distribution().run_tool(
            "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--reassignment-json-file",
                plan,
                "--execute",
            ],
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    loop {
        let elected = block_in_place(|| {
            cluster.distribution().run_tool(
                "org.apache.kafka.tools.LeaderElectionCommand",
                &[
                    "--bootstrap-server",
                    &bootstrap,
                    "--election-type",
                    "preferred",
                    "--topic",
                    &topic,
                    "--partition",
                    "0",
                ],
            )
        });
        let p = partition();
        if p.leader == new {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{new} was not elected: {elected:?}, {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The old leader is still up; the consumer learns of the move from it.
    produce_to(&bootstrap, &tp, 50, 100, ProducerConfig::new()).await;
    read_to(150, &mut offsets, &mut errors).await;
    let after = consumer.metrics();
    assert!(
        after.leader_hints_applied >= 1,
        "the move was not taken from a KIP-951 hint: {after:?}"
    );
    assert_eq!(offsets, (0..150).collect::<Vec<i64>>());
    assert!(errors.iter().all(|e| !e.is_fatal()), "{errors:?}");
    consumer.close().await.unwrap();
}
