//! How the producer fills the wire: requests to a broker arrive in the
//! order their sequences were given, one request carries a ready batch of
//! every partition, and requests pipeline up to `max_in_flight`.

use std::collections::HashMap;
use std::time::Duration;

use vltava_producer::{Delivery, Producer, ProducerRecord};
use vltava_wire::ErrorCode;

use crate::scripted::broker::{Log, Reply, ScriptedBroker, TOPIC};
use crate::scripted::{TEST_LIMIT, TIMESTAMP, config, settle_ok, value, within};

const PARTITIONS: i32 = 3;

/// Sends records `0..count` round robin over the partitions (record `i` to
/// partition `i % PARTITIONS`). Under 1,000, so every value has the size
/// the batch size was computed for.
async fn send_round_robin(producer: &Producer, count: usize) -> Vec<Delivery> {
    assert!(count < 1000);
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(TOPIC, value(i))
            .partition(i as i32 % PARTITIONS)
            .timestamp(TIMESTAMP);
        deliveries.push(
            within(Duration::from_secs(10), producer.send(record))
                .await
                .unwrap(),
        );
    }
    deliveries
}

/// Every batch was written at the first attempt, each partition's batches
/// arrived in sequence order, and each partition holds its records in
/// the order sent.
fn assert_written_in_order(log: &Log, count: usize) {
    let mut last: HashMap<i32, i32> = HashMap::new();
    for (request, batch) in log.batches() {
        let view = &batch.view;
        assert_eq!(
            batch.answered,
            Some(ErrorCode::NONE),
            "request {request}, partition {} sequence {}: {:?}",
            view.partition,
            view.base_sequence,
            batch.answered
        );
        if let Some(previous) = last.insert(view.partition, view.base_sequence) {
            assert!(
                view.base_sequence > previous,
                "partition {}: sequence {} arrived after {previous}",
                view.partition,
                view.base_sequence
            );
        }
    }
    for partition in 0..PARTITIONS {
        let expected: Vec<Vec<u8>> = (0..count)
            .filter(|i| *i as i32 % PARTITIONS == partition)
            .map(value)
            .collect();
        assert_eq!(log.values(partition), expected, "partition {partition}");
    }
}

/// Produce requests to one broker are made concurrently (each waits for
/// its answer in a task of its own), on a runtime with two workers; they
/// must still reach the broker in the order their batches were numbered,
/// or the broker refuses the later sequence (OUT_OF_ORDER_SEQUENCE_NUMBER)
/// and the producer has to retry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_the_broker_in_sequence_order() {
    let broker = ScriptedBroker::start(PARTITIONS, Box::new(|_| Reply::write())).await;
    within(TEST_LIMIT, async {
        // Batches of two records: 450 batches, in hundreds of requests.
        let producer = Producer::new(broker.address(), config(2)).unwrap();
        let count = 900;
        let deliveries = send_round_robin(&producer, count).await;
        settle_ok(&producer, deliveries).await;
        let log = broker.log();
        assert!(log.produces.len() >= 100, "{} requests", log.produces.len());
        assert_written_in_order(&log, count);
        assert_eq!(producer.stats().retries, 0, "{:?}", producer.stats());
        producer.close().await;
    })
    .await;
}

/// With a broker that takes 20 ms per Produce request and batches piling
/// up, the producer keeps `max_in_flight` (5) requests on the wire, never
/// more, and each request carries the next batch of every partition.
#[tokio::test]
async fn requests_pipeline_up_to_max_in_flight_with_a_batch_of_every_partition() {
    let broker = ScriptedBroker::start(PARTITIONS, Box::new(|_| Reply::write())).await;
    broker.delay_produce(Duration::from_millis(20));
    within(TEST_LIMIT, async {
        let producer = Producer::new(broker.address(), config(2)).unwrap();
        let count = 300;
        let deliveries = send_round_robin(&producer, count).await;
        settle_ok(&producer, deliveries).await;
        let log = broker.log();
        assert_written_in_order(&log, count);

        // Requests on the wire when each arrived: itself, and those that
        // arrived before and were answered after.
        let depths: Vec<usize> = log
            .produces
            .iter()
            .enumerate()
            .map(|(k, call)| {
                1 + log.produces[..k]
                    .iter()
                    .filter(|earlier| earlier.answered.is_none_or(|a| a > call.arrived))
                    .count()
            })
            .collect();
        assert_eq!(depths.iter().max(), Some(&5), "{depths:?}");

        // One batch per partition per request, and most requests carry
        // one of each: 150 batches in about 50 requests, not 150.
        for (k, call) in log.produces.iter().enumerate() {
            let mut partitions: Vec<i32> = call.batches.iter().map(|b| b.view.partition).collect();
            partitions.sort_unstable();
            partitions.dedup();
            assert_eq!(partitions.len(), call.batches.len(), "request {k}");
        }
        let full = log
            .produces
            .iter()
            .filter(|call| call.batches.len() == PARTITIONS as usize)
            .count();
        assert!(
            full * 4 >= log.produces.len() * 3,
            "{full} of {} requests carry a batch of every partition",
            log.produces.len()
        );
        producer.close().await;
    })
    .await;
}
