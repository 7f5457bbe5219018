//! Tests of the idempotent producer against a scripted broker on
//! loopback (`broker.rs`): errors a real broker rarely gives on demand
//! (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, a duplicate, a
//! request never answered) are answered exactly when the test says, and
//! the broker's log shows what was written under which producer id,
//! epoch and sequence. No Kafka cluster needed.

mod broker;
mod epoch;
mod failover;
mod pipeline;

use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use vltava_producer::{
    Delivery, ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};
use vltava_wire::Compression;
use vltava_wire::records::RecordBatchBuilder;

use crate::scripted::broker::TOPIC;

/// Every record's create time: fixed, so that batch sizes are too.
const TIMESTAMP: i64 = 1_700_000_000_000;

/// The longest any test may take.
const TEST_LIMIT: Duration = Duration::from_secs(30);

/// The value of the `i`-th record.
fn value(i: usize) -> Vec<u8> {
    format!("v{i:03}").into_bytes()
}

fn values(range: Range<usize>) -> Vec<Vec<u8>> {
    range.map(value).collect()
}

/// The batch size with which exactly `records` records of [`value`]
/// make a batch: the accumulator adds a record to the open batch while
/// its size plus the record's estimate (21 bytes + the value) fits.
fn batch_size_for(records: usize) -> usize {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for i in 0..records - 1 {
        builder
            .append(TIMESTAMP, None, Some(&value(i)), &[])
            .unwrap();
    }
    builder.uncompressed_size() + 21 + value(0).len()
}

/// Batches of `records` records that wait (a long linger) until the next
/// batch starts or a flush; quick retries.
fn config(records: usize) -> ProducerConfig {
    ProducerConfig::new()
        .batch_size(batch_size_for(records))
        .linger(Duration::from_secs(60))
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .delivery_timeout(Duration::from_secs(20))
        .max_block(Duration::from_secs(10))
}

/// Sends the records of `range` to partition 0.
async fn send(producer: &Producer, range: Range<usize>) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for i in range {
        let record = ProducerRecord::new(TOPIC, value(i))
            .partition(0)
            .timestamp(TIMESTAMP);
        deliveries.push(
            within(Duration::from_secs(10), producer.send(record))
                .await
                .unwrap(),
        );
    }
    deliveries
}

/// Flushes, then the outcome of every delivery.
async fn settle(
    producer: &Producer,
    deliveries: Vec<Delivery>,
) -> Vec<Result<RecordMetadata, ProduceError>> {
    within(Duration::from_secs(15), producer.flush()).await;
    let mut outcomes = Vec::new();
    for delivery in deliveries {
        outcomes.push(within(Duration::from_secs(1), delivery).await);
    }
    outcomes
}

/// Flushes; every record must have been written. Returns their offsets.
async fn settle_ok(producer: &Producer, deliveries: Vec<Delivery>) -> Vec<i64> {
    settle(producer, deliveries)
        .await
        .into_iter()
        .map(|outcome| {
            outcome
                .unwrap_or_else(|e| panic!("a record failed: {e}"))
                .offset
        })
        .collect()
}

/// Awaits `future` at most `limit`.
async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("not done within {limit:?}"))
}
