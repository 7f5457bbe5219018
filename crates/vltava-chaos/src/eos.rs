//! Scenario 9: exactly-once consume-transform-produce through scenarios 1
//! and 2. Each member reads the input topic and, per poll, writes every
//! record's sequence number to the same partition of an output topic in a
//! transaction that also commits the consumed offsets. A read_committed
//! verifier reads the output topic all along; the verdict is on what it
//! saw: every acknowledged input record exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vltava::exactly_once::{rewind_to_committed, send_consumer_offsets};
use vltava::{
    Consumer, ConsumerConfig, Isolation, OffsetReset, Producer, ProducerConfig, ProducerRecord,
    TopicPartition,
};
use vltava_testkit::Cluster;

use crate::journal::{Journal, What, Who};
use crate::member::{Client, MemberSpec, note_events_and_errors, seq_of, vltava_configs};
use crate::observe::Observer;
use crate::produce::SeqProducer;
use crate::run::{RunOptions, wait_in_sync};
use crate::scenario::Scenario;
use crate::verdict::{self, Account};

/// Runs scenario 9 (vltava members only: the transform needs our
/// transactional producer).
pub(crate) async fn run(
    cluster: &Cluster,
    options: &RunOptions,
    spec: &MemberSpec,
    journal: Arc<Journal>,
) -> Result<(Account, Vec<String>), String> {
    if options.client != Client::Vltava {
        return Err("scenario 9 (exactly-once) runs with vltava members only".to_owned());
    }
    let s = &options.settings;
    let output = format!("{}-out", spec.topic);
    cluster
        .create_topic_with_configs(&output, s.partitions, 3, &[("min.insync.replicas", "2")])
        .map_err(|e| e.to_string())?;
    let observer = Observer::start(&spec.bootstrap, &spec.topic, &spec.group, journal.clone())?;
    let seen: Arc<std::sync::Mutex<HashMap<u64, u32>>> = Arc::default();
    let verifier = verify(&spec.bootstrap, &output, s.partitions, seen.clone())?;
    let producer = SeqProducer::start(
        &spec.bootstrap,
        &spec.topic,
        s.partitions,
        s.rate,
        journal.clone(),
    )?;
    let mut members = Vec::new();
    for index in 1..=s.members {
        members.push(EosMember::start(index, spec, &output, journal.clone())?);
    }
    settle(&journal, s.partitions, s.members, s.settle_deadline).await?;
    journal.write(Who::Runner, What::Settled);

    // Scenario 1, then scenario 2.
    let e = |e: vltava_testkit::Error| e.to_string();
    for round in 1..=2 {
        for node in cluster.node_ids() {
            journal.write(
                Who::Runner,
                What::Fault(format!("clean restart of node {node} (round {round})")),
            );
            cluster.stop(node).map_err(e)?;
            cluster.start_node(node).map_err(e)?;
            journal.write(Who::Runner, What::Healed(format!("node {node} back")));
            wait_in_sync(cluster, Duration::from_secs(90))?;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let node = cluster.group_coordinator(&spec.group).map_err(e)?;
    journal.write(
        Who::Runner,
        What::Fault(format!("kill -9 the coordinator, node {node}")),
    );
    cluster.kill(node).map_err(e)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.start_node(node).map_err(e)?;
    journal.write(Who::Runner, What::Healed(format!("node {node} back")));
    wait_in_sync(cluster, Duration::from_secs(90))?;
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Stop producing; wait until the verifier has seen every acknowledged record.
    let produced = producer.stop().await;
    let started = Instant::now();
    let deadline = started + s.drain_deadline;
    let drain = loop {
        let all = {
            let seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            produced.acked().all(|r| seen.contains_key(&r.seq))
        };
        if all {
            break Some(started.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    journal.write(Who::Runner, What::Step("closing the members".to_owned()));
    let drained_at = journal.now();
    for member in members {
        member.close(&journal).await;
    }
    // Anything a late transaction would add shows up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    verifier.abort();
    observer.stop();

    let expect = Scenario::ExactlyOnce.expect(s);
    let mut account = verdict::account(
        &journal.entries(),
        &produced,
        s.partitions,
        &expect,
        drained_at,
        drain,
    );
    // The verdict is on the output topic.
    let seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    account.deliveries = seen.values().map(|n| *n as usize).sum();
    account.duplicates = seen.values().map(|n| n.saturating_sub(1) as usize).sum();
    account.duplicates_outside_window = account.duplicates;
    account.lost = produced
        .acked()
        .filter(|r| !seen.contains_key(&r.seq))
        .map(|r| (r.partition, r.offset.unwrap_or_default()))
        .collect();
    account.mismatched = seen.keys().filter(|seq| **seq == u64::MAX).count();
    let failures = verdict::judge(&account, &expect);
    Ok((account, failures))
}

/// Waits until every partition is owned once and every member owns some.
async fn settle(
    journal: &Journal,
    partitions: i32,
    members: usize,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let owners = verdict::assignment(&journal.entries(), journal.now());
        let map: BTreeMap<usize, Vec<i32>> = owners
            .iter()
            .map(|(m, p)| (*m, p.iter().copied().collect()))
            .collect();
        if map.len() == members
            && map.values().all(|p| !p.is_empty())
            && verdict::assignment_problem(&map, partitions).is_none()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the group did not settle within {within:?}: {map:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A read_committed reader of the whole output topic, counting each
/// sequence number it sees.
fn verify(
    bootstrap: &str,
    output: &str,
    partitions: i32,
    seen: Arc<std::sync::Mutex<HashMap<u64, u32>>>,
) -> Result<JoinHandle<()>, String> {
    let consumer = Consumer::new(
        bootstrap,
        ConsumerConfig::new()
            .isolation(Isolation::ReadCommitted)
            .offset_reset(OffsetReset::Earliest),
    )
    .map_err(|e| format!("verifier: {e}"))?;
    consumer.assign((0..partitions).map(|p| TopicPartition::new(output, p)));
    Ok(tokio::spawn(async move {
        loop {
            let fetches = consumer.poll(Duration::from_millis(500)).await;
            let mut seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for r in fetches.records() {
                *seen.entry(seq_of(r.value.as_deref())).or_default() += 1;
            }
        }
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Close,
}

/// A consume-transform-produce member.
struct EosMember {
    control: watch::Sender<Control>,
    task: JoinHandle<()>,
}

impl EosMember {
    fn start(
        index: usize,
        spec: &MemberSpec,
        output: &str,
        journal: Arc<Journal>,
    ) -> Result<Self, String> {
        let (config, group) = vltava_configs(spec);
        let config = config.auto_commit(None).isolation(Isolation::ReadCommitted);
        let consumer = Consumer::subscribe(&spec.bootstrap, config, group, [spec.topic.as_str()])
            .map_err(|e| format!("member {index}: {e}"))?;
        let (control, mut watch) = watch::channel(Control::Run);
        let bootstrap = spec.bootstrap.clone();
        let transactional_id = format!("{}-m{index}", spec.group);
        let request_timeout = spec.settings.request_timeout;
        let output = output.to_owned();
        let task = tokio::spawn(async move {
            let who = Who::Member(index);
            let new_producer = || async {
                loop {
                    let mut config = ProducerConfig::new().transactional_id(&transactional_id);
                    config.connection.request_timeout = request_timeout;
                    let attempt = async {
                        let producer = Producer::new(&bootstrap, config)?;
                        producer.init_transactions().await?;
                        Ok::<_, vltava::ProduceError>(producer)
                    };
                    match attempt.await {
                        Ok(p) => return p,
                        Err(e) => {
                            journal.write(
                                who,
                                What::Error {
                                    fatal: false,
                                    text: format!("starting the transactional producer: {e}"),
                                },
                            );
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            };
            let mut producer = new_producer().await;
            loop {
                if *watch.borrow_and_update() == Control::Close {
                    producer.close().await;
                    if let Err(e) = consumer.close().await {
                        journal.write(
                            who,
                            What::Error {
                                fatal: e.is_fatal(),
                                text: format!("close: {e}"),
                            },
                        );
                    }
                    journal.write(who, What::Left);
                    return;
                }
                let fetches = tokio::select! {
                    f = consumer.poll(Duration::from_millis(200)) => f,
                    _ = watch.changed() => continue,
                };
                note_events_and_errors(&journal, who, &fetches);
                let records: Vec<(i32, i64, u64)> = fetches
                    .records()
                    .map(|r| (r.partition, r.offset, seq_of(r.value.as_deref())))
                    .collect();
                if records.is_empty() {
                    continue;
                }
                let transaction = async {
                    producer.begin_transaction()?;
                    for (partition, _, seq) in &records {
                        let record = ProducerRecord::new(output.as_str(), seq.to_string())
                            .partition(*partition);
                        let _delivery = producer.send(record).await?;
                    }
                    send_consumer_offsets(&producer, &consumer).await?;
                    producer.commit_transaction().await
                };
                match transaction.await {
                    Ok(()) => journal.consumed(index, records),
                    Err(e) => {
                        journal.write(
                            who,
                            What::Error {
                                fatal: false,
                                text: format!("transaction failed, aborting: {e}"),
                            },
                        );
                        if producer.abort_transaction().await.is_err() {
                            // A producer that cannot abort is replaced: the
                            // new one's InitProducerId fences it and ends
                            // its transaction.
                            producer.close().await;
                            producer = new_producer().await;
                        }
                        rewind(&consumer, &journal, who).await;
                    }
                }
            }
        });
        Ok(Self { control, task })
    }

    async fn close(self, journal: &Journal) {
        let _ = self.control.send(Control::Close);
        if tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .is_err()
        {
            journal.write(
                Who::Runner,
                What::Error {
                    fatal: true,
                    text: "an exactly-once member did not close within 60 s".to_owned(),
                },
            );
        }
    }
}

/// After an abort: every owned partition goes back to its committed offset
/// ([`rewind_to_committed`]), tried again while the offsets cannot be read
/// (a coordinator restarting).
async fn rewind(consumer: &Consumer, journal: &Journal, who: Who) {
    for _ in 0..20 {
        match rewind_to_committed(consumer).await {
            Ok(()) => return,
            Err(e) => {
                journal.write(
                    who,
                    What::Error {
                        fatal: false,
                        text: format!("rewinding to the committed offsets: {e}"),
                    },
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
