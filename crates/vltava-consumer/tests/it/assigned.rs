//! A consumer of assigned partitions on the shared cluster.

use std::time::Duration;

use vltava_consumer::{Consumer, ConsumerConfig, Isolation, OffsetReset, TopicPartition};
use vltava_producer::{Producer, ProducerConfig, ProducerRecord};

use crate::{all_partitions, consume, produce, shared_cluster, unique_topic};

#[tokio::test]
async fn every_record_is_read_once_in_order_from_the_earliest_offset() {
    let cluster = shared_cluster();
    let topic = unique_topic("consume-all");
    cluster.create_topic(&topic, 3, 3).unwrap();
    let placed = produce(&cluster.bootstrap(), &topic, 3000).await;
    let consumer = Consumer::new(
        &cluster.bootstrap(),
        ConsumerConfig::new().offset_reset(OffsetReset::Earliest),
    )
    .unwrap();
    consumer.assign(all_partitions(&topic, 3));
    let (got, errors) = consume(&consumer, 3000, Duration::from_secs(60)).await;
    assert!(errors.is_empty(), "{errors:?}");
    let total: usize = got.values().map(Vec::len).sum();
    assert_eq!(total, 3000);
    for (partition, records) in &got {
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                r.offset, i as i64,
                "partition {partition}: gap or duplicate"
            );
            assert_eq!(r.partition, *partition);
        }
    }
    // Each record is where its delivery said, with its value and key.
    for (i, (partition, offset)) in placed.iter().enumerate() {
        let r = &got[partition][*offset as usize];
        assert_eq!(r.value.as_deref(), Some(format!("v{i}").as_bytes()));
        assert_eq!(r.key.as_deref(), Some(format!("k{}", i % 50).as_bytes()));
    }
    let tp = TopicPartition::new(&topic, 0);
    assert_eq!(consumer.position(&tp), Some(got[&0].len() as i64));
    assert_eq!(consumer.lag(&tp), Some(0));
}

#[tokio::test]
async fn latest_starts_at_the_end_and_seek_moves_the_position() {
    let cluster = shared_cluster();
    let topic = unique_topic("consume-latest");
    cluster.create_topic(&topic, 1, 3).unwrap();
    produce(&cluster.bootstrap(), &topic, 100).await;
    let consumer = Consumer::new(&cluster.bootstrap(), ConsumerConfig::new()).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    consumer.assign([tp.clone()]);
    // Nothing old is read under Latest.
    let fetches = consumer.poll(Duration::from_secs(2)).await;
    assert_eq!(fetches.record_count(), 0);
    assert_eq!(consumer.position(&tp), Some(100));
    produce(&cluster.bootstrap(), &topic, 10).await;
    let (got, _) = consume(&consumer, 10, Duration::from_secs(30)).await;
    assert_eq!(got[&0].first().map(|r| r.offset), Some(100));
    assert_eq!(got[&0].len(), 10);
    assert!(consumer.seek(&tp, 42));
    let (got, _) = consume(&consumer, 1, Duration::from_secs(30)).await;
    assert_eq!(got[&0][0].offset, 42);
    assert!(
        !consumer.seek(&TopicPartition::new(&topic, 7), 0),
        "not assigned"
    );
}

#[tokio::test]
async fn read_committed_skips_aborted_transactions_read_uncommitted_does_not() {
    let cluster = shared_cluster();
    let topic = unique_topic("consume-txn");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let producer = Producer::new(
        &cluster.bootstrap(),
        ProducerConfig::new().transactional_id(unique_topic("consume-txn-id")),
    )
    .unwrap();
    producer.init_transactions().await.unwrap();
    for (label, n, commit) in [("c1", 40, true), ("a", 25, false), ("c2", 15, true)] {
        producer.begin_transaction().unwrap();
        let mut deliveries = Vec::new();
        for i in 0..n {
            deliveries.push(
                producer
                    .send(ProducerRecord::new(&topic, format!("{label}-{i}")))
                    .await
                    .unwrap(),
            );
        }
        for d in deliveries {
            d.await.unwrap();
        }
        if commit {
            producer.commit_transaction().await.unwrap();
        } else {
            producer.abort_transaction().await.unwrap();
        }
    }
    producer.close().await;
    let tp = TopicPartition::new(&topic, 0);
    for (isolation, expected) in [
        (Isolation::ReadCommitted, 55),
        (Isolation::ReadUncommitted, 80),
    ] {
        let consumer = Consumer::new(
            &cluster.bootstrap(),
            ConsumerConfig::new()
                .offset_reset(OffsetReset::Earliest)
                .isolation(isolation),
        )
        .unwrap();
        consumer.assign([tp.clone()]);
        let (got, errors) = consume(&consumer, expected, Duration::from_secs(30)).await;
        assert!(errors.is_empty(), "{errors:?}");
        let values: Vec<String> = got
            .values()
            .flatten()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(values.len(), expected, "{isolation:?}");
        let aborted = values.iter().filter(|v| v.starts_with("a-")).count();
        match isolation {
            Isolation::ReadCommitted => assert_eq!(aborted, 0, "aborted records were read"),
            _ => assert_eq!(aborted, 25),
        }
        // Nothing more arrives: the markers are not records.
        let more = consumer.poll(Duration::from_millis(700)).await;
        assert_eq!(more.record_count(), 0);
    }
}

#[tokio::test]
async fn without_a_reset_policy_a_partition_reports_a_fatal_error() {
    let cluster = shared_cluster();
    let topic = unique_topic("consume-none");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let consumer = Consumer::new(
        &cluster.bootstrap(),
        ConsumerConfig::new().offset_reset(OffsetReset::None),
    )
    .unwrap();
    let tp = TopicPartition::new(&topic, 0);
    consumer.assign([tp.clone()]);
    let mut errors = Vec::new();
    for _ in 0..20 {
        let fetches = consumer.poll(Duration::from_millis(500)).await;
        errors.extend(fetches.errors);
        if !errors.is_empty() {
            break;
        }
    }
    assert!(!errors.is_empty(), "no error reported");
    assert!(errors.iter().all(|e| e.is_fatal()), "{errors:?}");
    assert!(errors[0].to_string().contains("seek"), "{}", errors[0]);
    // A seek gets it going again.
    produce(&cluster.bootstrap(), &topic, 3).await;
    assert!(consumer.seek(&tp, 0));
    let fetches = consumer.poll(Duration::from_secs(10)).await;
    assert!(fetches.record_count() > 0);
}
