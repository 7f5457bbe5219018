//! Transactions against the shared cluster: committed records are read by
//! a read_committed consumer (Kafka's own), aborted ones never are; offsets
//! sent to a transaction are committed with it, with their leader epochs
//! and metadata; a newer producer with the same transactional id fences
//! the older one.

use std::time::Duration;

use vltava_net::{BrokerPool, PoolConfig, Purpose};
use vltava_producer::{
    CommitOffset, ConsumerGroupMetadata, ProduceError, Producer, ProducerConfig, ProducerRecord,
    TopicPartition,
};
use vltava_testkit::Cluster;
use vltava_wire::ErrorCode;
use vltava_wire::messages::OffsetFetchRequest;
use vltava_wire::messages::find_coordinator_request::FindCoordinatorRequest;
use vltava_wire::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};

use crate::{console_consume_at, read_topic, shared_cluster, unique_topic};

fn transactional(cluster: &Cluster, id: &str) -> Producer {
    let config = ProducerConfig::new()
        .transactional_id(id)
        .max_block(Duration::from_secs(30));
    Producer::new(&cluster.bootstrap(), config).unwrap()
}

async fn send_all(producer: &Producer, topic: &str, prefix: &str, n: usize) {
    let mut deliveries = Vec::new();
    for i in 0..n {
        let record = ProducerRecord::new(topic, format!("{prefix}-{i}")).key(format!("k{i}"));
        deliveries.push(
            producer
                .send(record)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    for d in deliveries {
        d.await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn read_committed_sees_committed_records_and_never_aborted_ones() {
    let cluster = shared_cluster();
    let topic = unique_topic("txn-commit-abort");
    cluster.create_topic(&topic, 2, 3).unwrap();
    let producer = transactional(&cluster, &unique_topic("txn-a"));
    producer.init_transactions().await.unwrap();

    producer.begin_transaction().unwrap();
    send_all(&producer, &topic, "committed", 50).await;
    producer.commit_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_all(&producer, &topic, "aborted", 30).await;
    producer.abort_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_all(&producer, &topic, "later", 20).await;
    producer.commit_transaction().await.unwrap();

    // The aborted records were written (a read_uncommitted reader sees
    // them), but a read_committed one never does.
    let everything = read_topic(&cluster, &topic).await;
    let written: usize = everything.values().map(Vec::len).sum();
    assert_eq!(written, 100, "50 + 30 + 20 records in the log");
    let committed = console_consume_at(&cluster, &topic, 100, "read_committed", 10_000);
    let values: Vec<&str> = committed
        .iter()
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    assert_eq!(values.len(), 70, "{committed:?}");
    assert!(
        values.iter().all(|v| !v.starts_with("aborted")),
        "{values:?}"
    );
    assert_eq!(
        values.iter().filter(|v| v.starts_with("committed")).count(),
        50
    );
    assert_eq!(values.iter().filter(|v| v.starts_with("later")).count(), 20);
    producer.close().await;
}

#[tokio::test]
async fn send_outside_a_transaction_is_refused_clearly() {
    let cluster = shared_cluster();
    let topic = unique_topic("txn-state");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let producer = transactional(&cluster, &unique_topic("txn-state"));
    let error = producer.begin_transaction().unwrap_err();
    assert!(matches!(error, ProduceError::InvalidState(_)), "{error}");
    producer.init_transactions().await.unwrap();
    let error = producer
        .send(ProducerRecord::new(&topic, "x"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("begin_transaction"), "{error}");
    let error = producer.commit_transaction().await.unwrap_err();
    assert!(matches!(error, ProduceError::InvalidState(_)), "{error}");
}

#[tokio::test]
async fn a_newer_producer_with_the_same_id_fences_the_older_one() {
    let cluster = shared_cluster();
    let topic = unique_topic("txn-fence");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let id = unique_topic("txn-fence-id");
    let old = transactional(&cluster, &id);
    old.init_transactions().await.unwrap();
    old.begin_transaction().unwrap();
    send_all(&old, &topic, "old", 5).await;

    // The newer producer aborts the old one's open transaction and bumps
    // the epoch.
    let new = transactional(&cluster, &id);
    new.init_transactions().await.unwrap();
    assert!(new.stats().producer_epoch > old.stats().producer_epoch);

    let error = old.commit_transaction().await.unwrap_err();
    assert!(matches!(error, ProduceError::Fenced(_)), "{error}");
    // Fenced is for good.
    let error = old.begin_transaction().unwrap_err();
    assert!(matches!(error, ProduceError::Fenced(_)), "{error}");

    new.begin_transaction().unwrap();
    send_all(&new, &topic, "new", 5).await;
    new.commit_transaction().await.unwrap();
    let committed = console_consume_at(&cluster, &topic, 10, "read_committed", 10_000);
    let values: Vec<&str> = committed
        .iter()
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    assert_eq!(values.len(), 5, "{committed:?}");
    assert!(values.iter().all(|v| v.starts_with("new")), "{values:?}");
}

/// The group's committed offset of `topic`-0, read with OffsetFetch.
async fn committed_offset(cluster: &Cluster, group: &str, topic: &str) -> i64 {
    committed(cluster, group, topic).await.0
}

/// The group's committed offset of `topic`-0 with its leader epoch and
/// metadata, read with OffsetFetch (`require_stable`). EndTxn is answered
/// before the coordinator has written the transaction's markers, so the
/// group coordinator may still hold the offsets as pending for a moment:
/// it answers UNSTABLE_OFFSET_COMMIT, and the read is made again.
async fn committed(cluster: &Cluster, group: &str, topic: &str) -> (i64, i32, Option<String>) {
    let pool = BrokerPool::new(PoolConfig::default());
    let any = cluster.bootstrap().split(',').next().unwrap().to_owned();
    let found = pool
        .send(
            &any,
            Purpose::Control,
            FindCoordinatorRequest {
                key_type: 0,
                coordinator_keys: vec![group.to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let c = &found.coordinators[0];
    let coordinator = format!("{}:{}", c.host, c.port);
    let started = std::time::Instant::now();
    loop {
        let response = pool
            .send(
                &coordinator,
                Purpose::Group,
                OffsetFetchRequest {
                    require_stable: true,
                    groups: vec![OffsetFetchRequestGroup {
                        group_id: group.to_owned(),
                        topics: Some(vec![OffsetFetchRequestTopics {
                            name: topic.to_owned(),
                            partition_indexes: vec![0],
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let g = &response.groups[0];
        let p = &g.topics[0].partitions[0];
        let code = ErrorCode::from(if g.error_code != 0 {
            g.error_code
        } else {
            p.error_code
        });
        if code.is_ok() {
            return (
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.clone(),
            );
        }
        assert_eq!(
            code,
            ErrorCode::UNSTABLE_OFFSET_COMMIT,
            "OffsetFetch failed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the offsets stayed pending"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn offsets_sent_to_a_transaction_commit_with_it_and_not_when_it_aborts() {
    let cluster = shared_cluster();
    let input = unique_topic("txn-input");
    let output = unique_topic("txn-output");
    cluster.create_topic(&input, 1, 3).unwrap();
    cluster.create_topic(&output, 1, 3).unwrap();
    let group = ConsumerGroupMetadata::new(unique_topic("txn-group"));
    let producer = transactional(&cluster, &unique_topic("txn-offsets"));
    producer.init_transactions().await.unwrap();
    let tp = TopicPartition::new(&input, 0);

    producer.begin_transaction().unwrap();
    send_all(&producer, &output, "out", 3).await;
    producer
        .send_offsets_to_transaction([(tp.clone(), 42)], &group)
        .await
        .unwrap();
    producer.abort_transaction().await.unwrap();
    assert_eq!(
        committed_offset(&cluster, &group.group_id, &input).await,
        -1
    );

    producer.begin_transaction().unwrap();
    send_all(&producer, &output, "out", 3).await;
    producer
        .send_offsets_to_transaction([(tp.clone(), 17)], &group)
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();
    assert_eq!(
        committed_offset(&cluster, &group.group_id, &input).await,
        17
    );
}

/// An offset sent with a leader epoch and metadata is committed with them
/// (Java's `OffsetAndMetadata(offset, leaderEpoch, metadata)`), so a
/// consumer that starts there can validate it (KIP-320); a plain offset
/// is committed with neither.
#[tokio::test]
async fn offsets_sent_to_a_transaction_keep_their_leader_epoch_and_metadata() {
    let cluster = shared_cluster();
    let input = unique_topic("txn-epoch-input");
    cluster.create_topic(&input, 1, 3).unwrap();
    let group = ConsumerGroupMetadata::new(unique_topic("txn-epoch-group"));
    let producer = transactional(&cluster, &unique_topic("txn-epoch"));
    producer.init_transactions().await.unwrap();
    let tp = TopicPartition::new(&input, 0);

    producer.begin_transaction().unwrap();
    let offset = CommitOffset::new(17)
        .leader_epoch(Some(4))
        .metadata("batch 9");
    producer
        .send_offsets_to_transaction([(tp.clone(), offset)], &group)
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();
    assert_eq!(
        committed(&cluster, &group.group_id, &input).await,
        (17, 4, Some("batch 9".to_owned()))
    );

    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction([(tp.clone(), 18)], &group)
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();
    assert_eq!(
        committed(&cluster, &group.group_id, &input).await,
        (18, -1, Some(String::new()))
    );
    producer.close().await;
}
