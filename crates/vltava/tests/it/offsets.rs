//! Offsets: earliest, latest, by timestamp and max timestamp, after
//! producing records with known timestamps.

use vltava::{OffsetSpec, Producer, ProducerConfig, ProducerRecord, TopicPartition};

use crate::{admin, shared_cluster, unique};

#[tokio::test]
async fn offsets_by_position_and_by_time_find_the_right_records() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let topic = unique("admin-offsets");
    admin
        .create_topic(vltava::NewTopic::new(&topic, 2, 3))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // N records to partition 0, one second apart, in the past.
    let n = 20i64;
    let base = 1_700_000_000_000i64;
    let producer = Producer::new(&cluster.bootstrap(), ProducerConfig::new()).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..n {
        let record = ProducerRecord::new(&topic, format!("v{i}"))
            .partition(0)
            .timestamp(base + i * 1000);
        deliveries.push(
            producer
                .send(record)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    for delivery in deliveries {
        delivery.await.unwrap_or_else(|e| panic!("{e}"));
    }
    producer.close().await;

    let p0 = TopicPartition::new(&topic, 0);
    let p1 = TopicPartition::new(&topic, 1);
    let asked = [
        (p0.clone(), OffsetSpec::Latest),
        (p1.clone(), OffsetSpec::Latest),
    ];
    let latest = admin
        .list_offsets(&asked)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(latest[&p0].as_ref().unwrap().offset, Some(n));
    assert_eq!(
        latest[&p1].as_ref().unwrap().offset,
        Some(0),
        "nothing went to partition 1"
    );

    let earliest = admin
        .topic_offsets(&topic, OffsetSpec::Earliest)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(earliest.len(), 2);
    assert!(
        earliest.values().all(|o| o.offset == Some(0)),
        "{earliest:?}"
    );

    let cases = [
        (base, Some(0)),
        (base + 7 * 1000, Some(7)),
        // Between two records: the first at or after the timestamp.
        (base + 7 * 1000 - 500, Some(7)),
        (base - 1_000_000, Some(0)),
        // Later than every record: none.
        (base + n * 1000, None),
    ];
    for (timestamp, expected) in cases {
        let found = admin
            .list_offsets(&[(p0.clone(), OffsetSpec::Timestamp(timestamp))])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let found = found[&p0].as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.offset, expected, "timestamp {timestamp}");
        if let Some(offset) = expected {
            assert_eq!(
                found.timestamp,
                Some(base + offset * 1000),
                "timestamp {timestamp}"
            );
        }
    }

    let max = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::MaxTimestamp)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let max = max[&p0].as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(max.offset, Some(n - 1));
    assert_eq!(max.timestamp, Some(base + (n - 1) * 1000));

    // A partition that does not exist is its own error; the others answer.
    let p9 = TopicPartition::new(&topic, 9);
    let mixed = admin
        .list_offsets(&[
            (p0.clone(), OffsetSpec::Latest),
            (p9.clone(), OffsetSpec::Latest),
        ])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mixed[&p0].as_ref().unwrap().offset, Some(n));
    let error = mixed[&p9].as_ref().unwrap_err();
    assert_eq!(
        error.code(),
        Some(vltava::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "{error}"
    );
    assert_eq!(error.partition(), Some(9));

    admin
        .delete_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// While a transaction that commits offsets of a group is open, a plain
/// read of the group's offsets gives the ones before it; a stable read
/// (`require_stable`) waits for the transaction and gives its offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stable_read_waits_for_a_pending_transactional_commit() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let topic = unique("admin-stable");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let group = unique("admin-stable-g");
    let tp = TopicPartition::new(&topic, 0);
    let producer = Producer::new(
        &cluster.bootstrap(),
        ProducerConfig::new().transactional_id(unique("admin-stable-txn")),
    )
    .unwrap();
    producer.init_transactions().await.unwrap();
    let metadata = vltava::ConsumerGroupMetadata::new(group.clone());
    // A first transaction commits 5, a second one 10 and stays open.
    for (offset, commit) in [(5, true), (10, false)] {
        producer.begin_transaction().unwrap();
        producer
            .send_offsets_to_transaction([(tp.clone(), offset)], &metadata)
            .await
            .unwrap();
        if commit {
            producer.commit_transaction().await.unwrap();
        }
    }

    // Pending: the plain read gives 5; the stable one waits.
    let plain = admin.list_group_offsets(&group).await.unwrap();
    assert_eq!(plain.get(&tp).map(|c| c.offset), Some(5), "{plain:?}");
    let stable = {
        let admin = admin.clone();
        let group = group.clone();
        tokio::spawn(async move { admin.list_group_offsets_stable(&group).await })
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    if stable.is_finished() {
        panic!("the stable read did not wait: {:?}", stable.await.unwrap());
    }

    producer.commit_transaction().await.unwrap();
    let stable = stable.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stable.get(&tp).map(|c| c.offset), Some(10));
    producer.close().await;
}
