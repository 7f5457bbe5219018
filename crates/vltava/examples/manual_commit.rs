//! Manual commits with idempotent processing: each record is applied to a
//! store keyed by `(topic, partition, offset)`, so a record read again
//! after a crash or a lost partition (at-least-once) changes nothing; the
//! offsets are committed after the work is done.
//!
//! ```sh
//! cargo run -p vltava --example manual_commit -- 127.0.0.1:PORT orders
//! ```

use std::collections::HashMap;
use std::time::Duration;

use vltava::{Consumer, ConsumerConfig, GroupConfig, OffsetReset};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = args.next().unwrap_or_else(|| "orders".to_owned());

    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .auto_commit(None);
    let consumer = Consumer::subscribe(
        &bootstrap,
        config,
        GroupConfig::new("manual-commit"),
        [topic],
    )?;
    // The "database": applying the same record twice is harmless.
    let mut store: HashMap<(String, i32, i64), usize> = HashMap::new();
    for _ in 0..100 {
        let fetches = consumer.poll(Duration::from_millis(500)).await;
        if let Some(fatal) = fetches.errors.iter().find(|e| e.is_fatal()) {
            return Err(fatal.clone().into());
        }
        for record in fetches.records() {
            let key = (record.topic.to_string(), record.partition, record.offset);
            store.insert(key, record.value.as_ref().map_or(0, |v| v.len()));
        }
        if fetches.record_count() > 0 {
            // Everything handed out so far is applied: commit it. A commit
            // never moves an offset backwards.
            consumer.commit().await?;
        }
    }
    println!("{} distinct records applied", store.len());
    consumer.close().await?;
    Ok(())
}
