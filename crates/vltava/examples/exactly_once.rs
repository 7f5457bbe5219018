//! Exactly-once consume-transform-produce: records of `input` are read by a
//! group consumer, transformed (upper-cased) and written to `output` by a
//! transactional producer, and the consumer's offsets are committed in the
//! same transaction. A consumer reading `output` with read_committed sees
//! each result once, whatever restarts happen in between. A transaction
//! that fails is aborted and the consumer rewound to its committed
//! offsets: the next transaction processes the same records again.
//!
//! ```sh
//! cargo run -p vltava --example exactly_once -- 127.0.0.1:PORT input output
//! ```

use std::time::Duration;

use vltava::exactly_once::{rewind_to_committed, send_consumer_offsets};
use vltava::{
    Consumer, ConsumerConfig, GroupConfig, Isolation, OffsetReset, Producer, ProducerConfig,
    ProducerRecord,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let input = args.next().unwrap_or_else(|| "input".to_owned());
    let output = args.next().unwrap_or_else(|| "output".to_owned());

    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .isolation(Isolation::ReadCommitted)
        .auto_commit(None);
    let consumer =
        Consumer::subscribe(&bootstrap, config, GroupConfig::new("eos-example"), [input])?;
    let producer = Producer::new(
        &bootstrap,
        ProducerConfig::new().transactional_id("eos-example-1"),
    )?;
    producer.init_transactions().await?;

    for _ in 0..100 {
        let fetches = consumer.poll(Duration::from_millis(500)).await;
        if let Some(fatal) = fetches.errors.iter().find(|e| e.is_fatal()) {
            return Err(fatal.clone().into());
        }
        if fetches.record_count() == 0 {
            continue;
        }
        producer.begin_transaction()?;
        for record in fetches.records() {
            let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
            let result = ProducerRecord::new(output.as_str(), value.to_uppercase());
            let _delivery = producer.send(result).await?;
        }
        // The consumed offsets commit with the produced records, or not at all.
        let done = async {
            send_consumer_offsets(&producer, &consumer).await?;
            producer.commit_transaction().await
        };
        if let Err(error) = done.await {
            eprintln!("transaction failed ({error}); aborting, the records will be read again");
            producer.abort_transaction().await?;
            // Back to the last committed offsets: the next transaction
            // processes the aborted records again.
            rewind_to_committed(&consumer).await?;
        }
    }
    producer.close().await;
    consumer.close().await?;
    Ok(())
}
