//! Producing to the shared cluster: placement, order, exactly-once
//! acknowledgement, codecs, acks levels, flush and backpressure.

use std::collections::BTreeMap;
use std::time::Duration;

use vltava_producer::partitioner::partition_for_key;
use vltava_producer::{Acks, ProduceError, Producer, ProducerConfig, ProducerRecord};
use vltava_wire::Compression;

use crate::{read_topic, shared_cluster, unique_topic};

/// Sends `count` keyed records (key `k{i % keys}`, value `v{i}`) and waits
/// for every delivery; returns (partition, offset) per record.
async fn send_numbered(
    producer: &Producer,
    topic: &str,
    count: usize,
    keys: usize,
) -> Vec<(i32, i64)> {
    let mut deliveries = Vec::with_capacity(count);
    for i in 0..count {
        let record = ProducerRecord::new(topic, format!("v{i}"))
            .key(format!("k{}", i % keys))
            .header("n", i.to_string());
        deliveries.push(
            producer
                .send(record)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let mut placed = Vec::with_capacity(count);
    for delivery in deliveries {
        let written = delivery.await.unwrap_or_else(|e| panic!("{e}"));
        placed.push((written.partition, written.offset));
    }
    placed
}

#[tokio::test]
async fn keyed_records_are_placed_by_murmur2_written_once_and_in_order() {
    let cluster = shared_cluster();
    let topic = unique_topic("produce-keyed");
    cluster.create_topic(&topic, 6, 3).unwrap();
    let producer = Producer::new(&cluster.bootstrap(), ProducerConfig::new()).unwrap();
    let count = 3000;
    let placed = send_numbered(&producer, &topic, count, 97).await;
    producer.close().await;
    let stats = producer.stats();
    assert_eq!(stats.acknowledged, count as u64);
    assert!(stats.producer_id >= 0, "idempotence gives a producer id");

    // Where each record went is where the Java client would put it.
    for (i, (partition, _)) in placed.iter().enumerate() {
        let key = format!("k{}", i % 97);
        assert_eq!(
            *partition as u32,
            partition_for_key(key.as_bytes(), 6),
            "{key}"
        );
    }
    // Read back: every record exactly once, at the offset its delivery
    // named, in send order within its partition.
    let log = read_topic(&cluster, &topic).await;
    let total: usize = log.values().map(Vec::len).sum();
    assert_eq!(total, count);
    let mut by_offset: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (i, place) in placed.iter().enumerate() {
        assert!(
            by_offset.insert(*place, i).is_none(),
            "two records at {place:?}"
        );
    }
    for (partition, records) in &log {
        let mut last = None;
        for record in records {
            let i = by_offset[&(*partition, record.offset)];
            assert_eq!(record.value.as_deref(), Some(format!("v{i}").as_bytes()));
            assert_eq!(
                record.key.as_deref(),
                Some(format!("k{}", i % 97).as_bytes())
            );
            assert_eq!(
                record.headers,
                [("n".to_owned(), Some(i.to_string().into_bytes()))]
            );
            assert!(last < Some(i), "partition {partition} out of order at {i}");
            last = Some(i);
        }
    }
}

#[tokio::test]
async fn every_codec_round_trips() {
    let cluster = shared_cluster();
    for codec in Compression::ALL {
        let topic = unique_topic(&format!("produce-{codec:?}").to_lowercase());
        cluster.create_topic(&topic, 2, 3).unwrap();
        let config = ProducerConfig::new().compression(codec);
        let producer = Producer::new(&cluster.bootstrap(), config).unwrap();
        let placed = send_numbered(&producer, &topic, 500, 500).await;
        producer.close().await;
        let log = read_topic(&cluster, &topic).await;
        assert_eq!(log.values().map(Vec::len).sum::<usize>(), 500, "{codec:?}");
        assert_eq!(placed.len(), 500);
    }
}

#[tokio::test]
async fn keyless_records_stick_to_a_partition_per_batch() {
    let cluster = shared_cluster();
    let topic = unique_topic("produce-sticky");
    cluster.create_topic(&topic, 4, 3).unwrap();
    let config = ProducerConfig::new()
        .batch_size(4096)
        .linger(Duration::from_millis(50));
    let producer = Producer::new(&cluster.bootstrap(), config).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..400 {
        let record = ProducerRecord::new(&topic, format!("{i:0>100}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    let mut partitions = Vec::new();
    for d in deliveries {
        partitions.push(d.await.unwrap().partition);
    }
    // Long runs on one partition (a batch is ~30 records of 100 bytes),
    // not a spray: few switches, and more than one partition used.
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches < 40,
        "{switches} partition switches in 400 records"
    );
    let mut used = partitions.clone();
    used.sort_unstable();
    used.dedup();
    assert!(used.len() > 1, "every record went to partition {:?}", used);
}

#[tokio::test]
async fn acks_1_and_acks_0_deliver() {
    let cluster = shared_cluster();
    let topic = unique_topic("produce-acks");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let leader = Producer::new(
        &cluster.bootstrap(),
        ProducerConfig::new().acks(Acks::Leader),
    )
    .unwrap();
    let placed = send_numbered(&leader, &topic, 100, 1).await;
    assert!(placed.iter().all(|&(_, offset)| offset >= 0));
    leader.close().await;
    let none = Producer::new(&cluster.bootstrap(), ProducerConfig::new().acks(Acks::None)).unwrap();
    let placed = send_numbered(&none, &topic, 100, 1).await;
    // acks = 0 hears nothing back: offsets are unknown.
    assert!(placed.iter().all(|&(_, offset)| offset == -1));
    none.close().await;
    // Fire-and-forget still lands (on a healthy cluster): read it back.
    let started = std::time::Instant::now();
    loop {
        let log = read_topic(&cluster, &topic).await;
        let n = log.values().map(Vec::len).sum::<usize>();
        if n == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{n} of 200 records"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn idempotence_needs_acks_all() {
    let error = ProducerConfig::new().acks(Acks::Leader).idempotence(true);
    let cluster = shared_cluster();
    let result = Producer::new(&cluster.bootstrap(), error);
    assert!(
        matches!(result, Err(ProduceError::InvalidConfig(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_missing_topic_blocks_at_most_max_block_then_fails_clearly() {
    let cluster = shared_cluster();
    let config = ProducerConfig::new().max_block(Duration::from_millis(1500));
    let producer = Producer::new(&cluster.bootstrap(), config).unwrap();
    let started = std::time::Instant::now();
    let error = producer
        .send(ProducerRecord::new(unique_topic("no-such-topic"), "x"))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(error, ProduceError::Blocked { .. }), "{error}");
    assert!(error.to_string().contains("metadata"), "{error}");
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_full_buffer_blocks_send_until_records_are_acknowledged() {
    let cluster = shared_cluster();
    let topic = unique_topic("produce-buffer");
    cluster.create_topic(&topic, 1, 3).unwrap();
    // Room for about 20 records of 1 KiB.
    let config = ProducerConfig::new()
        .buffer_memory(20 * 1100)
        .linger(Duration::from_millis(1));
    let producer = Producer::new(&cluster.bootstrap(), config).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..500 {
        let record = ProducerRecord::new(&topic, vec![b'x'; 1024]).key(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    let log = read_topic(&cluster, &topic).await;
    assert_eq!(log[&0].len(), 500);

    let too_big = ProducerRecord::new(&topic, vec![0u8; 30_000]);
    let error = producer.send(too_big).await.unwrap_err();
    assert!(
        matches!(error, ProduceError::RecordTooLarge { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn flush_sends_lingering_records_now_and_close_refuses_new_ones() {
    let cluster = shared_cluster();
    let topic = unique_topic("produce-flush");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let config = ProducerConfig::new().linger(Duration::from_secs(30));
    let producer = Producer::new(&cluster.bootstrap(), config).unwrap();
    let delivery = producer
        .send(ProducerRecord::new(&topic, "x"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), producer.flush())
        .await
        .expect("flush ended long before the 30 s linger");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(delivery.await.unwrap().offset, 0);
    producer.close().await;
    let error = producer
        .send(ProducerRecord::new(&topic, "y"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProduceError::Closed), "{error}");
}
