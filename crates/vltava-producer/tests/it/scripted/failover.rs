//! A partition leader that dies: how soon the producer writes to the
//! leader that takes over once metadata names it.
//!
//! The dead leader is an address nothing listens on (node 2, dials are
//! refused at once); the scripted broker (node 1) is the leader that takes
//! over. The retry backoff and the pool's dial backoff are both 2 s, so a
//! batch that waited out either shows.

use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use vltava_meta::{Interest, MetadataClient, MetadataConfig};
use vltava_net::{BrokerPool, PoolConfig};
use vltava_producer::{Delivery, Producer, ProducerConfig, ProducerRecord};

use crate::scripted::broker::{BatchView, Reply, ScriptedBroker, TOPIC};
use crate::scripted::{TEST_LIMIT, TIMESTAMP, within};

/// The dead broker's node id.
const DEAD: i32 = 2;
/// Both backoffs: long enough that waiting one out cannot pass for the
/// prompt hand-over the test looks for.
const BACKOFF: Duration = Duration::from_secs(2);

/// A port nothing listens on.
async fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn send_to(producer: &Producer, partition: i32, value: &str) -> Delivery {
    let record = ProducerRecord::new(TOPIC, value.as_bytes().to_vec())
        .partition(partition)
        .timestamp(TIMESTAMP);
    within(Duration::from_secs(5), producer.send(record))
        .await
        .unwrap()
}

/// Waits until the producer's count of retries reaches `retries`.
async fn until_retries(producer: &Producer, retries: u64) {
    within(Duration::from_secs(5), async {
        while producer.stats().retries < retries {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// The leader of both partitions dies. A batch of partition 0 that failed
/// there waits in its 2 s retry backoff; a batch of partition 1, sent
/// while the dead broker's 2 s dial backoff runs, waits for it. When
/// metadata names the new leader (epoch 2), both go there at once: the
/// retry backoff does not apply to a new leader (the Java client's rule
/// since KIP-951), and a batch waits for a dial backoff in the
/// accumulator, not committed to the old leader inside the pool.
#[tokio::test]
async fn a_dead_leaders_batches_go_to_the_new_leader_as_soon_as_metadata_names_it() {
    let broker = ScriptedBroker::start(2, Box::new(|_: &BatchView| Reply::write())).await;
    let dead = dead_port().await;
    within(TEST_LIMIT, async {
        let pool = BrokerPool::new(PoolConfig::default().reconnect_backoff(BACKOFF, BACKOFF));
        let meta = MetadataClient::new(
            broker.address(),
            pool,
            MetadataConfig::new().interest(Interest::topics(Vec::<String>::new())),
        )
        .unwrap();
        let config = ProducerConfig::new()
            .linger(Duration::ZERO)
            .retry_backoff(BACKOFF, BACKOFF)
            .delivery_timeout(Duration::from_secs(20));
        let producer = Producer::with_metadata(meta.clone(), config).unwrap();

        // A first record while the scripted broker leads: the producer has
        // its id and the topic's metadata.
        let first = send_to(&producer, 0, "first").await;
        within(Duration::from_secs(5), first).await.unwrap();

        // The leader moves to node 2, which is dead.
        broker.set_leader(Some((DEAD, dead)), 1);
        meta.refresh().await.unwrap();
        let retries = producer.stats().retries;
        let retried = send_to(&producer, 0, "retried").await;
        until_retries(&producer, retries + 1).await;
        assert!(
            meta.pool()
                .backoff_remaining(&format!("127.0.0.1:{dead}"))
                .is_some(),
            "the dead broker's dial failed and backs off"
        );
        let waiting = send_to(&producer, 1, "waiting").await;
        // Long enough for the sender to have looked at the second batch.
        tokio::time::sleep(Duration::from_millis(100)).await;

        // Node 1 takes over; metadata says so.
        broker.set_leader(None, 2);
        let moved = Instant::now();
        meta.refresh().await.unwrap();
        let retried = within(Duration::from_secs(10), retried).await.unwrap();
        let waiting = within(Duration::from_secs(10), waiting).await.unwrap();
        let took = moved.elapsed();
        assert!(
            took < Duration::from_millis(1000),
            "the batches reached the new leader {took:?} after metadata named it \
             (a backoff of {BACKOFF:?} was waited out)"
        );
        assert_eq!((retried.partition, retried.offset), (0, 1));
        assert_eq!((waiting.partition, waiting.offset), (1, 0));
        let log = broker.log();
        assert_eq!(log.values(0), [b"first".to_vec(), b"retried".to_vec()]);
        assert_eq!(log.values(1), [b"waiting".to_vec()]);
    })
    .await;
}
