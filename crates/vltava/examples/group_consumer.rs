//! A group consumer: joins `example-group`, reads `orders`, prints records
//! and what happens to the group; auto-commit (every 5 s) commits what was
//! handed out by earlier polls, so delivery is at-least-once.
//!
//! ```sh
//! cargo xtask cluster up                      # prints the bootstrap string
//! cargo run -p vltava --example group_consumer -- 127.0.0.1:PORT orders
//! ```

use std::time::Duration;

use vltava::{Consumer, ConsumerConfig, GroupConfig, GroupEvent, OffsetReset};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = args.next().unwrap_or_else(|| "orders".to_owned());

    let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
    let consumer = Consumer::subscribe(
        &bootstrap,
        config,
        GroupConfig::new("example-group"),
        [topic],
    )?;
    // A bounded demo loop; a service would poll until told to stop.
    for _ in 0..100 {
        let fetches = consumer.poll(Duration::from_millis(500)).await;
        for event in &fetches.events {
            match event {
                GroupEvent::Assigned(partitions) => println!("assigned {partitions:?}"),
                GroupEvent::Revoked(partitions) => println!("revoked {partitions:?} (committed)"),
                GroupEvent::Lost(partitions) => println!("lost {partitions:?}"),
                other => println!("{other:?}"),
            }
        }
        for error in &fetches.errors {
            // A broker restart is never fatal: the consumer keeps going.
            if error.is_fatal() {
                return Err(error.clone().into());
            }
            eprintln!("(retrying by itself) {error}");
        }
        for record in fetches.records() {
            println!(
                "{}-{}@{}: {}",
                record.topic,
                record.partition,
                record.offset,
                String::from_utf8_lossy(record.value.as_deref().unwrap_or_default())
            );
        }
    }
    // Commits, leaves the group (bounded), stops.
    consumer.close().await?;
    Ok(())
}
