//! The sequence producer: an idempotent vltava producer writing records
//! numbered 0, 1, 2... at a steady rate, record `n` to partition
//! `n % partitions`, so every partition gets records all through a scenario.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use vltava::{Producer, ProducerConfig, ProducerRecord};

use crate::journal::{Journal, What, Who};

/// One record the producer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its sequence number.
    pub seq: u64,
    /// Its partition.
    pub partition: i32,
    /// When `send` was called, since the scenario started.
    pub at: Duration,
    /// Its offset, when the broker acknowledged it.
    pub offset: Option<i64>,
    /// When the acknowledgement arrived, since the scenario started.
    pub acked_at: Option<Duration>,
}

/// What the producer did.
#[derive(Debug, Default)]
pub struct Produced {
    /// Every record sent, by sequence number.
    pub sent: Vec<Sent>,
    /// Failed deliveries: sequence number and why.
    pub failed: Vec<(u64, String)>,
}

impl Produced {
    /// The acknowledged records.
    pub fn acked(&self) -> impl Iterator<Item = &Sent> {
        self.sent.iter().filter(|s| s.offset.is_some())
    }
}

/// The running producer.
#[derive(Debug)]
pub struct SeqProducer {
    running: Arc<AtomicBool>,
    task: JoinHandle<Produced>,
}

impl SeqProducer {
    /// Starts writing to `topic`.
    pub fn start(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        rate: u32,
        journal: Arc<Journal>,
    ) -> Result<Self, String> {
        // The producer's defaults (Java's: request timeout 30 s), not the
        // members' 10 s: acks=all requests to live leaders are held by the
        // broker until a killed replica leaves the ISR, which takes the
        // broker session timeout or, on a loaded machine, longer; a 10 s
        // timeout made them time out and be sent again right as the
        // cluster failed over, adding seconds to every recovery.
        let config = ProducerConfig::new();
        let producer = Producer::new(bootstrap, config).map_err(|e| format!("producer: {e}"))?;
        let running = Arc::new(AtomicBool::new(true));
        let topic = topic.to_owned();
        let task = tokio::spawn(produce(
            producer,
            topic,
            partitions,
            rate,
            running.clone(),
            journal,
        ));
        Ok(Self { running, task })
    }

    /// Stops sending, waits for every delivery, and says what happened.
    pub async fn stop(self) -> Produced {
        self.running.store(false, Ordering::Release);
        self.task.await.unwrap_or_default()
    }
}

const TICK: Duration = Duration::from_millis(25);

async fn produce(
    producer: Producer,
    topic: String,
    partitions: i32,
    rate: u32,
    running: Arc<AtomicBool>,
    journal: Arc<Journal>,
) -> Produced {
    let per_tick = (u64::from(rate) * TICK.as_millis() as u64 / 1000).max(1);
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut produced = Produced::default();
    // Deliveries are awaited as they come, so each acknowledgement's time
    // is known (a recovery splits into the producer's part and the
    // consumers').
    let (deliveries, mut pending) = tokio::sync::mpsc::unbounded_channel();
    let collector = {
        let journal = journal.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while let Some((index, delivery)) = pending.recv().await {
                let outcome: Result<vltava::RecordMetadata, vltava::ProduceError> = delivery.await;
                outcomes.push((index, outcome, journal.now()));
            }
            outcomes
        })
    };
    let mut seq = 0u64;
    let mut last_error = String::new();
    while running.load(Ordering::Acquire) {
        ticks.tick().await;
        for _ in 0..per_tick {
            let partition = (seq % partitions as u64) as i32;
            let record = ProducerRecord::new(topic.as_str(), seq.to_string()).partition(partition);
            let at = journal.now();
            match producer.send(record).await {
                Ok(delivery) => {
                    produced.sent.push(Sent {
                        seq,
                        partition,
                        at,
                        offset: None,
                        acked_at: None,
                    });
                    let _ = deliveries.send((produced.sent.len() - 1, delivery));
                }
                Err(e) => {
                    let text = e.to_string();
                    if text != last_error {
                        journal.write(Who::Producer, What::Step(format!("send refused: {text}")));
                        last_error = text.clone();
                    }
                    produced.failed.push((seq, text));
                }
            }
            seq += 1;
        }
    }
    producer.flush().await;
    drop(deliveries);
    for (index, outcome, at) in collector.await.unwrap_or_default() {
        match outcome {
            Ok(meta) => {
                let sent = &mut produced.sent[index];
                if meta.partition != sent.partition {
                    produced.failed.push((
                        sent.seq,
                        format!(
                            "written to partition {} instead of {}",
                            meta.partition, sent.partition
                        ),
                    ));
                }
                sent.offset = Some(meta.offset);
                sent.acked_at = Some(at);
            }
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    journal.write(
                        Who::Producer,
                        What::Step(format!("delivery failed: {text}")),
                    );
                    last_error = text.clone();
                }
                produced.failed.push((produced.sent[index].seq, text));
            }
        }
    }
    producer.close().await;
    journal.write(
        Who::Producer,
        What::Step(format!(
            "stopped: {} sent, {} acknowledged, {} failed",
            produced.sent.len(),
            produced.acked().count(),
            produced.failed.len()
        )),
    );
    produced
}
