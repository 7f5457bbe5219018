//! `vltava::exactly_once` on the shared cluster: consume-transform-produce
//! with the consumed offsets committed in each transaction; a transaction
//! aborted on purpose is rewound with `rewind_to_committed`, the next one
//! processes the same records again, and a read_committed reader of the
//! output sees every input once. The offsets a transaction commits carry
//! the leader epoch of the last record consumed, and the next member
//! validates them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use vltava::exactly_once::{rewind_to_committed, send_consumer_offsets};
use vltava::{
    CommitOffset, ConsumeError, Consumer, Isolation, OffsetReset, Producer, ProducerConfig,
    ProducerRecord, TopicPartition,
};

use crate::{admin, shared_cluster, unique};

const INPUT_RECORDS: usize = 120;

/// Writes `v{first}` .. `v{first + n - 1}` to `topic`, alternately to
/// partitions 0 and 1, and waits for every acknowledgement.
async fn produce_input(bootstrap: &str, topic: &str, first: usize, n: usize) {
    let plain = Producer::new(bootstrap, ProducerConfig::new()).unwrap();
    let mut deliveries = Vec::new();
    for i in first..first + n {
        let record = ProducerRecord::new(topic, format!("v{i}")).partition((i % 2) as i32);
        deliveries.push(plain.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    plain.close().await;
}

/// Every record of `topic` (2 partitions) as `isolation` shows it, by
/// value: read until `expected` came, then for one more second (so that
/// any extra one shows).
async fn read_output(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
    expected: usize,
) -> Vec<String> {
    let consumer = Consumer::builder(bootstrap)
        .assign([TopicPartition::new(topic, 0), TopicPartition::new(topic, 1)])
        .auto_offset_reset(OffsetReset::Earliest)
        .isolation_level(isolation)
        .build()
        .unwrap();
    let mut values = Vec::new();
    let started = Instant::now();
    let mut extra_until = None;
    while extra_until.is_none_or(|until| Instant::now() < until) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {expected} read",
            values.len()
        );
        let fetches = consumer.poll(Duration::from_millis(200)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        values.extend(
            fetches
                .records()
                .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned()),
        );
        if values.len() >= expected && extra_until.is_none() {
            extra_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_transaction_is_rewound_and_processed_again_exactly_once() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let input = unique("eos-in");
    let output = unique("eos-out");
    cluster.create_topic(&input, 2, 3).unwrap();
    cluster.create_topic(&output, 2, 3).unwrap();
    produce_input(&bootstrap, &input, 0, INPUT_RECORDS).await;

    let consumer = Consumer::builder(&bootstrap)
        .group_id(unique("eos-g"))
        .subscribe([input.as_str()])
        .auto_offset_reset(OffsetReset::Earliest)
        .isolation_level(Isolation::ReadCommitted)
        .enable_auto_commit(false)
        .max_poll_records(15)
        .build()
        .unwrap();
    let producer = Producer::new(
        &bootstrap,
        ProducerConfig::new().transactional_id(unique("eos-tx")),
    )
    .unwrap();
    producer.init_transactions().await.unwrap();

    // Not in a group: nothing to rewind to.
    let assigned = Consumer::builder(&bootstrap)
        .assign([TopicPartition::new(&input, 0)])
        .build()
        .unwrap();
    assert!(matches!(
        rewind_to_committed(&assigned).await,
        Err(ConsumeError::NotInGroup)
    ));

    let mut transactions = 0;
    let mut aborted: BTreeSet<(i32, i64)> = BTreeSet::new();
    // After the abort: the records read again, in the order read.
    let mut after_rewind: Option<Vec<(i32, i64)>> = None;
    let mut committed_inputs: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    let started = Instant::now();
    while committed_inputs.len() < INPUT_RECORDS {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{} of {INPUT_RECORDS} committed",
            committed_inputs.len()
        );
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(
            fetches.errors.iter().all(|e| !e.is_fatal()),
            "{:?}",
            fetches.errors
        );
        let records: Vec<(i32, i64, String)> = fetches
            .records()
            .map(|r| {
                let value = String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned();
                (r.partition, r.offset, value)
            })
            .collect();
        if records.is_empty() {
            continue;
        }
        if let Some(again) = after_rewind.as_mut() {
            again.extend(records.iter().map(|(p, o, _)| (*p, *o)));
        }
        producer.begin_transaction().unwrap();
        for (partition, _, value) in &records {
            let result =
                ProducerRecord::new(output.as_str(), value.to_uppercase()).partition(*partition);
            let _delivery = producer.send(result).await.unwrap();
        }
        send_consumer_offsets(&producer, &consumer).await.unwrap();
        transactions += 1;
        // The third transaction, which read past the committed offsets of
        // two earlier ones, is aborted: as a failed transaction would be.
        if transactions == 3 {
            // Written first, so that the log holds the aborted results.
            producer.flush().await;
            producer.abort_transaction().await.unwrap();
            aborted.extend(records.iter().map(|(p, o, _)| (*p, *o)));
            rewind_to_committed(&consumer).await.unwrap();
            // Every owned partition is back at its committed offset, which
            // is where the aborted records began (or, for a partition the
            // aborted poll did not reach, where it was).
            let owned = consumer.assignment();
            let committed = consumer.committed(&owned).await.unwrap();
            for tp in &owned {
                let at = committed[tp].as_ref().map(|c| c.offset);
                assert_eq!(consumer.position(tp), at, "{tp}");
                if let Some(first) = aborted.iter().find(|(p, _)| *p == tp.partition) {
                    assert_eq!(
                        at,
                        Some(first.1),
                        "{tp}: rewound to the first aborted record"
                    );
                }
            }
            after_rewind = Some(Vec::new());
            continue;
        }
        producer.commit_transaction().await.unwrap();
        for (partition, offset, _) in &records {
            *committed_inputs.entry((*partition, *offset)).or_default() += 1;
        }
    }
    assert!(!aborted.is_empty(), "a transaction was aborted");
    let again = after_rewind.expect("the rewind happened");
    // Re-reading starts at the first aborted record of each partition and
    // covers every aborted one: nothing skipped, nothing before it.
    for partition in [0, 1] {
        let aborted_here: Vec<i64> = aborted
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        let read_here: Vec<i64> = again
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        if let Some(first) = aborted_here.first() {
            assert_eq!(read_here.first(), Some(first), "partition {partition}");
            assert!(
                read_here.starts_with(&aborted_here),
                "partition {partition}: {read_here:?} does not begin with the aborted {aborted_here:?}"
            );
        }
    }
    assert!(
        committed_inputs.values().all(|&n| n == 1),
        "an input committed twice"
    );
    producer.close().await;
    consumer.close().await.unwrap();

    // The output as read_committed sees it: every input once, uppercased.
    let mut seen = read_output(&bootstrap, &output, Isolation::ReadCommitted, INPUT_RECORDS).await;
    seen.sort();
    let mut expected: Vec<String> = (0..INPUT_RECORDS).map(|i| format!("V{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    // The aborted results are in the log all the same (read_uncommitted).
    let everything = read_output(
        &bootstrap,
        &output,
        Isolation::ReadUncommitted,
        INPUT_RECORDS + aborted.len(),
    )
    .await;
    assert_eq!(everything.len(), INPUT_RECORDS + aborted.len());
}

/// KIP-320 through a transaction: the offsets `send_consumer_offsets`
/// commits carry the leader epoch of the last record consumed of each
/// partition, as Java's `OffsetAndMetadata(offset, leaderEpoch, ...)`
/// (read back with OffsetFetch by the admin client, not by the consumer
/// that committed), and the next member of the group, which starts at
/// them, validates them with OffsetForLeaderEpoch before fetching.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactions_offsets_carry_the_leader_epoch_of_the_last_record_consumed() {
    const RECORDS: usize = 40;
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let input = unique("eos-epoch-in");
    let output = unique("eos-epoch-out");
    cluster.create_topic(&input, 2, 3).unwrap();
    cluster.create_topic(&output, 2, 3).unwrap();
    produce_input(&bootstrap, &input, 0, RECORDS).await;
    let group = unique("eos-epoch-g");
    let member = || {
        Consumer::builder(&bootstrap)
            .group_id(group.clone())
            .subscribe([input.as_str()])
            .auto_offset_reset(OffsetReset::Earliest)
            .isolation_level(Isolation::ReadCommitted)
            .enable_auto_commit(false)
            .max_poll_records(7)
            .build()
            .unwrap()
    };
    let consumer = member();
    let producer = Producer::new(
        &bootstrap,
        ProducerConfig::new().transactional_id(unique("eos-epoch-tx")),
    )
    .unwrap();
    producer.init_transactions().await.unwrap();

    // Per partition, the offset and leader epoch of the last record read.
    let mut last: BTreeMap<i32, (i64, Option<i32>)> = BTreeMap::new();
    let mut read = 0;
    let started = Instant::now();
    while read < RECORDS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{read} of {RECORDS} read"
        );
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        let records: Vec<(i32, i64, Option<i32>, String)> = fetches
            .records()
            .map(|r| {
                let value = String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned();
                (r.partition, r.offset, r.leader_epoch, value)
            })
            .collect();
        if records.is_empty() {
            continue;
        }
        producer.begin_transaction().unwrap();
        for (partition, _, _, value) in &records {
            let result =
                ProducerRecord::new(output.as_str(), value.to_uppercase()).partition(*partition);
            let _delivery = producer.send(result).await.unwrap();
        }
        send_consumer_offsets(&producer, &consumer).await.unwrap();
        producer.commit_transaction().await.unwrap();
        for (partition, offset, epoch, _) in &records {
            last.insert(*partition, (*offset, *epoch));
        }
        read += records.len();
    }
    assert_eq!(read, RECORDS, "nothing read twice");

    // Read while the consumer is still open: its close commits by itself.
    let committed = admin(&cluster)
        .list_group_offsets_stable(&group)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for partition in [0, 1] {
        let tp = TopicPartition::new(&input, partition);
        let (offset, epoch) = last[&partition];
        assert!(
            epoch.is_some(),
            "{tp}: a record of a v2 batch carries its leader epoch"
        );
        let c = committed
            .get(&tp)
            .unwrap_or_else(|| panic!("{tp}: nothing committed: {committed:?}"));
        assert_eq!(
            (c.offset, c.leader_epoch),
            (offset + 1, epoch),
            "{tp}: the transaction committed the position after the last record, with its epoch"
        );
        assert_eq!(
            consumer.position_with_epoch(&tp),
            Some(CommitOffset::new(offset + 1).leader_epoch(epoch))
        );
    }
    producer.close().await;
    consumer.close().await.unwrap();

    // The next member starts at those offsets, and validates them first.
    let next = member();
    let started = Instant::now();
    while next.metrics().position_validations < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the committed positions were not validated: {:?}",
            next.metrics()
        );
        let fetches = next.poll(Duration::from_millis(200)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        assert_eq!(fetches.records().count(), 0, "everything was committed");
    }
    produce_input(&bootstrap, &input, RECORDS, 2).await;
    let mut more = Vec::new();
    let started = Instant::now();
    while more.len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "{more:?}");
        let fetches = next.poll(Duration::from_millis(200)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        more.extend(fetches.records().map(|r| (r.partition, r.offset)));
    }
    more.sort();
    let expected: Vec<(i32, i64)> = [0, 1].map(|p| (p, last[&p].0 + 1)).to_vec();
    assert_eq!(
        more, expected,
        "exactly the new records, from the committed offsets"
    );
    assert_eq!(next.metrics().log_truncations, 0);
    next.close().await.unwrap();
}
