//! `vltava bench produce|consume`: a quick throughput check against any
//! cluster. Numbers go to stdout; a progress bar to stderr when it is a
//! terminal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vltava::TopicPartition;
use vltava::{Consumer, ConsumerConfig, OffsetReset, OffsetSpec, Producer, ProducerRecord};

use crate::cli::{BenchArgs, BenchCommand};
use crate::connect::Settings;
use crate::error::{CliError, produce_kind};
use crate::output::print_lines;
use crate::produce::{interrupted_signal, producer_config, progress_bar, synthetic_value};

pub(crate) async fn run(settings: &Settings, args: BenchArgs) -> Result<(), CliError> {
    match args.command {
        BenchCommand::Produce {
            topic,
            count,
            size,
            compression,
            acks,
            linger,
            batch_size,
        } => {
            let connected = settings.connect().await?;
            connected.partitions(&topic).await?;
            let config = producer_config(settings, acks, compression, linger, Some(batch_size));
            let producer = Producer::with_metadata(connected.meta.clone(), config)?;
            let progress = progress_bar(Some(count), false);
            let interrupt = interrupted_signal();
            tokio::pin!(interrupt);
            // Deliveries are awaited by a task of their own, in order, so
            // that sending never waits for an acknowledgement.
            let (deliveries, mut pending) = tokio::sync::mpsc::unbounded_channel();
            let watcher = {
                let progress = progress.clone();
                tokio::spawn(async move {
                    let mut failed = 0u64;
                    let mut first = None;
                    let mut latency = Duration::ZERO;
                    let mut delivered = 0u64;
                    while let Some((sent_at, delivery)) = pending.recv().await {
                        let delivery: vltava::Delivery = delivery;
                        let sent_at: Instant = sent_at;
                        match delivery.await {
                            Ok(_) => {
                                delivered += 1;
                                latency += sent_at.elapsed();
                                progress.inc(1);
                            }
                            Err(e) => {
                                failed += 1;
                                first.get_or_insert(e);
                            }
                        }
                    }
                    (delivered, failed, first, latency)
                })
            };
            let started = Instant::now();
            let mut interrupted = false;
            for n in 1..=count {
                let record = ProducerRecord::new(topic.clone(), synthetic_value(n, size));
                let sent = tokio::select! {
                    biased;
                    () = &mut interrupt => { interrupted = true; break; }
                    sent = producer.send(record) => sent,
                };
                let _ = deliveries.send((Instant::now(), sent?));
            }
            drop(deliveries);
            producer.flush().await;
            let (delivered, failed, first, latency) = watcher
                .await
                .map_err(|e| CliError::internal(format!("the delivery watcher failed: {e}")))?;
            progress.finish_and_clear();
            let elapsed = started.elapsed().as_secs_f64().max(1e-9);
            print_lines([
                format!("produced   {delivered} records of {size} bytes to `{topic}`"),
                format!("time       {elapsed:.2} s"),
                format!("records/s  {:.0}", delivered as f64 / elapsed),
                format!(
                    "MB/s       {:.1}",
                    (delivered as f64 * size as f64) / elapsed / 1e6
                ),
                format!(
                    "latency    {:.1} ms on average, send to acknowledgement",
                    latency.as_secs_f64() * 1000.0 / delivered.max(1) as f64
                ),
            ])?;
            if interrupted {
                return Err(CliError::interrupted());
            }
            if let Some(error) = first {
                return Err(CliError::new(
                    produce_kind(&error),
                    format!("{failed} records were not delivered; the first: {error}"),
                ));
            }
            Ok(())
        }
        BenchCommand::Consume { topic, count } => {
            let connected = settings.connect().await?;
            let partitions = connected.partitions(&topic).await?;
            let tps: Vec<TopicPartition> = partitions
                .iter()
                .map(|&p| TopicPartition::new(topic.clone(), p))
                .collect();
            // What "everything" means: the records there when the run starts.
            let asked: Vec<(TopicPartition, OffsetSpec)> = tps
                .iter()
                .flat_map(|tp| {
                    [
                        (tp.clone(), OffsetSpec::Earliest),
                        (tp.clone(), OffsetSpec::Latest),
                    ]
                })
                .collect();
            let mut ends: BTreeMap<TopicPartition, (i64, i64)> = BTreeMap::new();
            for spec in [OffsetSpec::Earliest, OffsetSpec::Latest] {
                let listed = connected
                    .admin
                    .list_offsets(
                        &asked
                            .iter()
                            .filter(|(_, s)| *s == spec)
                            .cloned()
                            .collect::<Vec<_>>(),
                    )
                    .await?;
                for (tp, result) in listed {
                    let offset = result?.offset.unwrap_or(0);
                    let entry = ends.entry(tp).or_insert((0, 0));
                    if spec == OffsetSpec::Earliest {
                        entry.0 = offset;
                    } else {
                        entry.1 = offset;
                    }
                }
            }
            let available: u64 = ends
                .values()
                .map(|(first, end)| (end - first).max(0) as u64)
                .sum();
            let target = count.map_or(available, |c| c.min(available));
            if target == 0 {
                return Err(CliError::refused(format!(
                    "topic `{topic}` has no records to read; fill it with `vltava bench produce -t {topic}`"
                )));
            }
            let consumer = Consumer::with_metadata(
                connected.meta.clone(),
                ConsumerConfig::new()
                    .connection(settings.connection.clone())
                    .offset_reset(OffsetReset::Earliest),
            );
            consumer.assign(tps);
            let progress = progress_bar(Some(target), false);
            let interrupt = interrupted_signal();
            tokio::pin!(interrupt);
            let started = Instant::now();
            let mut records = 0u64;
            let mut bytes = 0u64;
            let mut last_progress = Instant::now();
            let mut interrupted = false;
            while records < target {
                let fetches = tokio::select! {
                    biased;
                    () = &mut interrupt => { interrupted = true; break; }
                    f = consumer.poll(Duration::from_millis(500)) => f,
                };
                if let Some(fatal) = fetches.errors.iter().find(|e| e.is_fatal()) {
                    return Err(fatal.clone().into());
                }
                for r in fetches.records() {
                    records += 1;
                    bytes += r.value.as_ref().map_or(0, |v| v.len() as u64)
                        + r.key.as_ref().map_or(0, |k| k.len() as u64);
                }
                if fetches.record_count() > 0 {
                    last_progress = Instant::now();
                } else if last_progress.elapsed() > settings.timeout {
                    return Err(CliError::new(
                        crate::error::Kind::Unreachable,
                        format!(
                            "no record arrived for {:?} after {records} of {target}",
                            settings.timeout
                        ),
                    ));
                }
                progress.set_position(records.min(target));
            }
            consumer.stop();
            progress.finish_and_clear();
            let elapsed = started.elapsed().as_secs_f64().max(1e-9);
            print_lines([
                format!("consumed   {records} records from `{topic}`"),
                format!("time       {elapsed:.2} s"),
                format!("records/s  {:.0}", records as f64 / elapsed),
                format!("MB/s       {:.1}", bytes as f64 / elapsed / 1e6),
            ])?;
            if interrupted {
                return Err(CliError::interrupted());
            }
            Ok(())
        }
    }
}
