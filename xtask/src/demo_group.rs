//! The mission, live: a producer and a group of 3 consumers on the local
//! cluster while the group coordinator restarts and a partition leader is
//! killed (-9); a timeline of what the members reported, and a final
//! account of what was produced, consumed, lost and duplicated.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vltava::group::{GroupConfig, GroupEvent};
use vltava::{Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig, ProducerRecord};
use vltava_testkit::Cluster;

const PARTITIONS: i32 = 12;
const MEMBERS: usize = 3;

/// What every member consumed: (partition, offset) -> times.
type Consumed = Arc<Mutex<HashMap<(i32, i64), u32>>>;

/// Prints a timeline line.
fn say(started: Instant, who: &str, what: impl std::fmt::Display) {
    println!(
        "  [{:>5.1}s] {who:<9} {what}",
        started.elapsed().as_secs_f64()
    );
}

pub(crate) fn run(cluster: &Cluster) -> Result<(), String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let topic = format!("vltava-demo-group-{nanos}");
    let group = format!("vltava-demo-{nanos}");
    cluster
        .create_topic(&topic, PARTITIONS, 3)
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting a tokio runtime: {e}"))?;
    println!(
        "\nthe mission: a group of {MEMBERS} consumers (`{group}`) reads `{topic}` ({PARTITIONS} partitions) while a producer writes"
    );
    runtime.block_on(mission(cluster, &topic, &group))
}

async fn mission(cluster: &Cluster, topic: &str, group: &str) -> Result<(), String> {
    let bootstrap = cluster.bootstrap();
    let started = Instant::now();
    let producing = Arc::new(AtomicBool::new(true));
    let consuming = Arc::new(AtomicBool::new(true));
    let consumed: Consumed = Arc::default();

    // The producer: numbered records, steadily, until told to stop.
    let producer = Producer::new(&bootstrap, ProducerConfig::new()).map_err(|e| e.to_string())?;
    let producer_task = {
        let producer = producer.clone();
        let producing = producing.clone();
        let topic = topic.to_owned();
        tokio::spawn(async move {
            let mut deliveries = Vec::new();
            let mut i = 0u64;
            while producing.load(Ordering::Acquire) {
                let record = ProducerRecord::new(topic.as_str(), format!("{i}"))
                    .key(format!("k{}", i % 1000));
                match producer.send(record).await {
                    Ok(d) => deliveries.push(d),
                    Err(e) => return Err(format!("send refused: {e}")),
                }
                i += 1;
                if i % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            producer.flush().await;
            let mut acked: Vec<(i32, i64)> = Vec::new();
            let mut failed = 0;
            for d in deliveries {
                match d.await {
                    Ok(m) => acked.push((m.partition, m.offset)),
                    Err(_) => failed += 1,
                }
            }
            Ok((acked, failed))
        })
    };

    // The members.
    let mut members = Vec::new();
    for m in 1..=MEMBERS {
        let config = ConsumerConfig::new()
            .offset_reset(OffsetReset::Earliest)
            .auto_commit(Some(Duration::from_secs(1)));
        let mut group_config = GroupConfig::new(group);
        group_config.session_timeout = Duration::from_secs(10);
        group_config.heartbeat_interval = Duration::from_secs(1);
        let consumer = Consumer::subscribe(&bootstrap, config, group_config, [topic])
            .map_err(|e| e.to_string())?;
        let consumed = consumed.clone();
        let consuming = consuming.clone();
        members.push(tokio::spawn(async move {
            let who = format!("member {m}");
            let mut fatal = None;
            let mut last_error = String::new();
            while consuming.load(Ordering::Acquire) {
                let fetches = consumer.poll(Duration::from_millis(200)).await;
                for event in &fetches.events {
                    match event {
                        GroupEvent::Joined {
                            identity, assignor, ..
                        } => say(
                            started,
                            &who,
                            format!(
                                "joined, generation {}, assignor {assignor}",
                                identity.generation
                            ),
                        ),
                        GroupEvent::Assigned(p) => {
                            say(started, &who, format!("assigned {}", partitions(p)))
                        }
                        GroupEvent::Revoked(p) => {
                            say(started, &who, format!("revoked {}", partitions(p)))
                        }
                        GroupEvent::Lost(p) => {
                            say(started, &who, format!("LOST {}", partitions(p)))
                        }
                        GroupEvent::CoordinatorChanged { node_id, .. } => {
                            say(started, &who, format!("coordinator is node {node_id}"))
                        }
                        _ => {}
                    }
                }
                for error in &fetches.errors {
                    let text = error.to_string();
                    if error.is_fatal() {
                        fatal = Some(text.clone());
                    }
                    // One line per kind of trouble, not per retry.
                    let kind: String = text.chars().take(60).collect();
                    if kind != last_error {
                        say(started, &who, format!("reported: {text}"));
                        last_error = kind;
                    }
                }
                let mut seen = consumed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for record in fetches.records() {
                    *seen.entry((record.partition, record.offset)).or_default() += 1;
                }
            }
            let _ = consumer.close().await;
            fatal
        }));
    }

    // The faults.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let coordinator = tokio::task::block_in_place(|| cluster.group_coordinator(group))
        .map_err(|e| e.to_string())?;
    say(
        started,
        "cluster",
        format!("restarting node {coordinator}, the group coordinator (SIGTERM, then start)"),
    );
    tokio::task::block_in_place(|| cluster.restart(coordinator)).map_err(|e| e.to_string())?;
    say(started, "cluster", format!("node {coordinator} is back"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let coordinator = tokio::task::block_in_place(|| cluster.group_coordinator(group))
        .map_err(|e| e.to_string())?;
    let mut victim = None;
    for p in 0..PARTITIONS {
        let leader = tokio::task::block_in_place(|| cluster.partition_leader(topic, p))
            .map_err(|e| e.to_string())?;
        if leader != coordinator {
            victim = Some((p, leader));
            break;
        }
    }
    if let Some((p, leader)) = victim {
        say(
            started,
            "cluster",
            format!("kill -9 node {leader}, leader of partition {p} (not the coordinator)"),
        );
        tokio::task::block_in_place(|| cluster.kill(leader)).map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        tokio::task::block_in_place(|| cluster.start_node(leader)).map_err(|e| e.to_string())?;
        say(started, "cluster", format!("node {leader} is back"));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    producing.store(false, Ordering::Release);
    let (acked, failed) = producer_task.await.map_err(|e| e.to_string())??;
    producer.close().await;
    say(
        started,
        "producer",
        format!(
            "stopped: {} records acknowledged, {failed} failed",
            acked.len()
        ),
    );

    // Let the members catch up, at most 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let caught_up_at = loop {
        let missing = {
            let seen = consumed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            acked.iter().filter(|k| !seen.contains_key(k)).count()
        };
        if missing == 0 || Instant::now() > deadline {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    consuming.store(false, Ordering::Release);
    let mut fatal = Vec::new();
    for m in members {
        if let Some(f) = m.await.map_err(|e| e.to_string())? {
            fatal.push(f);
        }
    }
    let seen = consumed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lost = acked.iter().filter(|k| !seen.contains_key(k)).count();
    let duplicates: u64 = seen.values().map(|&n| u64::from(n.saturating_sub(1))).sum();
    let consumed_total: u64 = seen.values().map(|&n| u64::from(n)).sum();
    println!("\nfinal account");
    println!("  produced (acknowledged) {:>8}", acked.len());
    println!("  consumed (records)      {consumed_total:>8}");
    println!("  lost                    {lost:>8}");
    println!(
        "  duplicates              {duplicates:>8}   (records read again after a rebalance: processed, not yet committed)"
    );
    println!("  fatal errors            {:>8}", fatal.len());
    println!(
        "  caught up at            {:>7.1}s",
        caught_up_at.as_secs_f64()
    );
    if lost > 0 || !fatal.is_empty() {
        return Err(format!("{lost} records lost, fatal errors: {fatal:?}"));
    }
    Ok(())
}

/// `orders-0, orders-3` as `0,3`.
fn partitions(list: &[vltava::TopicPartition]) -> String {
    let by_topic: BTreeMap<&str, Vec<i32>> = list.iter().fold(BTreeMap::new(), |mut m, tp| {
        m.entry(tp.topic.as_str()).or_default().push(tp.partition);
        m
    });
    let parts: Vec<String> = by_topic
        .values()
        .map(|ps| {
            let mut ps = ps.clone();
            ps.sort_unstable();
            ps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    format!("partitions {}", parts.join(" "))
}
