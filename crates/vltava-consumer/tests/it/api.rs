//! The consumer's API on the shared cluster: the builder with a regex
//! subscription (both protocols), committed offsets, marks and
//! mark-only auto-commit, the record stream, and metrics through a real
//! `metrics` recorder.

use std::collections::{BTreeMap, BTreeSet};
use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_core::Stream;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use vltava_consumer::{
    ConsumeError, Consumer, ConsumerBuilder, ConsumerRecord, GroupEvent, GroupProtocol,
    OffsetReset, RecordStream, TopicPartition,
};

use crate::{all_partitions, produce, shared_cluster, unique_topic};

/// A group consumer reading from the earliest offset, committing nothing
/// by itself.
fn group_builder(bootstrap: &str, group: &str) -> ConsumerBuilder {
    Consumer::builder(bootstrap)
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
}

/// Polls until `until` says enough (or `limit` passes; then panics with
/// what was read). Fatal errors fail the test.
async fn poll_until(
    consumer: &Consumer,
    limit: Duration,
    until: impl FnMut(&[ConsumerRecord]) -> bool,
) -> Vec<ConsumerRecord> {
    poll_counting_errors(consumer, limit, until).await.0
}

/// [`poll_until`], also counting the non-fatal errors the polls returned
/// (a group's first coordinator lookup on a just-started cluster, while
/// `__consumer_offsets` is created, reports some).
async fn poll_counting_errors(
    consumer: &Consumer,
    limit: Duration,
    mut until: impl FnMut(&[ConsumerRecord]) -> bool,
) -> (Vec<ConsumerRecord>, usize) {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut errors = 0;
    while !until(&read) {
        assert!(
            started.elapsed() < limit,
            "gave up after {:?} with {} records",
            limit,
            read.len()
        );
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(
            fetches.errors.iter().all(|e| !e.is_fatal()),
            "{:?}",
            fetches.errors
        );
        errors += fetches.errors.len();
        read.extend(fetches.partitions.into_iter().flat_map(|(_, r)| r));
    }
    (read, errors)
}

/// The next item through the `Stream` trait itself (not the inherent
/// `next`), as a `StreamExt` user gets it.
async fn next(stream: &mut RecordStream<'_>) -> Option<Result<ConsumerRecord, ConsumeError>> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

async fn pattern_subscription_follows_new_topics(protocol: GroupProtocol) {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let prefix = unique_topic("pattern");
    let (a, b, c) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        format!("{prefix}-c"),
    );
    // Matches a search for the pattern, but not the whole name.
    let outside = format!("x{prefix}-a");
    cluster.create_topic(&a, 3, 3).unwrap();
    cluster.create_topic(&b, 2, 3).unwrap();
    cluster.create_topic(&outside, 1, 3).unwrap();
    for topic in [&a, &b, &outside] {
        produce(&bootstrap, topic, 100).await;
    }
    let consumer = group_builder(&bootstrap, &unique_topic("pattern-g"))
        .group_protocol(protocol)
        .subscribe_pattern(format!("{prefix}-.*"))
        .metadata_max_age(Duration::from_secs(1))
        .build()
        .unwrap();
    let limit = Duration::from_secs(60);
    let read = poll_until(&consumer, limit, |r| r.len() >= 200).await;
    let topics: BTreeSet<&str> = read.iter().map(|r| r.topic.as_ref()).collect();
    assert_eq!(topics, BTreeSet::from([a.as_str(), b.as_str()]));
    assert_eq!(read.len(), 200, "read twice");

    // A topic created now joins the subscription at a metadata refresh.
    cluster.create_topic(&c, 2, 3).unwrap();
    produce(&bootstrap, &c, 50).await;
    let read = poll_until(&consumer, limit, |r| {
        r.iter().filter(|r| r.topic.as_ref() == c).count() >= 50
    })
    .await;
    assert!(
        read.iter().all(|r| r.topic.as_ref() == c),
        "only the new topic had records left: {:?}",
        read.iter()
            .map(|r| r.topic.as_ref())
            .collect::<BTreeSet<_>>()
    );
    let assigned: BTreeSet<String> = consumer
        .assignment()
        .into_iter()
        .map(|tp| tp.topic)
        .collect();
    assert_eq!(assigned, BTreeSet::from([a, b, c]));
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_subscription_reads_matching_topics_and_follows_new_ones_classic() {
    pattern_subscription_follows_new_topics(GroupProtocol::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_subscription_reads_matching_topics_and_follows_new_ones_kip848() {
    pattern_subscription_follows_new_topics(GroupProtocol::Consumer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_reads_what_commit_stored() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("committed");
    let never = unique_topic("committed-never");
    cluster.create_topic(&topic, 3, 3).unwrap();
    cluster.create_topic(&never, 1, 3).unwrap();
    produce(&bootstrap, &topic, 300).await;
    let consumer = group_builder(&bootstrap, &unique_topic("committed-g"))
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    poll_until(&consumer, Duration::from_secs(60), |r| r.len() >= 300).await;
    let partitions = all_partitions(&topic, 3);
    let before = consumer.committed(&partitions).await.unwrap();
    assert!(before.values().all(Option::is_none), "{before:?}");

    consumer.commit().await.unwrap();
    let mut asked = partitions.clone();
    asked.push(TopicPartition::new(&never, 0));
    let committed = consumer.committed(&asked).await.unwrap();
    let mut total = 0;
    for tp in &partitions {
        let offset = committed[tp].as_ref().expect("committed").offset;
        assert_eq!(Some(offset), consumer.position(tp), "{tp}");
        total += offset;
    }
    assert_eq!(total, 300);
    assert_eq!(committed[&TopicPartition::new(&never, 0)], None);
    consumer.close().await.unwrap();

    let assigned = Consumer::builder(&bootstrap)
        .assign(partitions.clone())
        .build()
        .unwrap();
    assert!(matches!(
        assigned.committed(&partitions).await,
        Err(ConsumeError::NotInGroup)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_commit_only_what_was_marked_and_never_go_back() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("marks");
    cluster.create_topic(&topic, 1, 3).unwrap();
    produce(&bootstrap, &topic, 200).await;
    let tp = TopicPartition::new(&topic, 0);
    let consumer = group_builder(&bootstrap, &unique_topic("marks-g"))
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    let read = poll_until(&consumer, Duration::from_secs(60), |r| r.len() >= 200).await;
    assert_eq!(consumer.position(&tp), Some(200));

    // Nothing marked: nothing to commit.
    consumer.commit_marked().await.unwrap();
    assert_eq!(
        consumer.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp],
        None
    );

    assert!(consumer.mark(&read[49]));
    consumer.commit_marked().await.unwrap();
    let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
    let committed = committed[&tp].as_ref().expect("committed");
    assert_eq!(committed.offset, 50);
    assert_eq!(committed.leader_epoch, read[49].leader_epoch);

    // An older mark changes nothing; a later one moves on.
    assert!(consumer.mark_offset(&tp, 20));
    consumer.commit_marked().await.unwrap();
    let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].as_ref().unwrap().offset, 50);
    assert!(consumer.mark(&read[119]));
    assert!(
        consumer.mark(&read[99]),
        "an older record still counts as assigned"
    );
    consumer.commit_marked().await.unwrap();
    let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].as_ref().unwrap().offset, 120);

    // Partitions the consumer does not own are not marked.
    assert!(!consumer.mark_offset(&TopicPartition::new(&topic, 7), 3));
    assert!(!consumer.mark_offset(&TopicPartition::new("elsewhere", 0), 3));
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_marks_commits_the_marks_and_not_the_positions() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("automarks");
    cluster.create_topic(&topic, 1, 3).unwrap();
    produce(&bootstrap, &topic, 200).await;
    let tp = TopicPartition::new(&topic, 0);
    let group = unique_topic("automarks-g");
    let consumer = group_builder(&bootstrap, &group)
        .subscribe([topic.as_str()])
        .enable_auto_commit(true)
        .auto_commit_interval(Duration::from_millis(100))
        .auto_commit_marks(true)
        .build()
        .unwrap();
    let read = poll_until(&consumer, Duration::from_secs(60), |r| r.len() >= 200).await;
    assert!(consumer.mark(&read[120]));
    // Polls past the interval auto-commit the mark (121), not the position (200).
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the mark was not auto-committed"
        );
        consumer.poll(Duration::from_millis(200)).await;
        let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
        if let Some(c) = &committed[&tp] {
            assert_eq!(c.offset, 121, "auto-commit must commit the mark only");
            break;
        }
    }
    // Close commits marks too: the next member starts at the mark.
    consumer.close().await.unwrap();
    let next = group_builder(&bootstrap, &group)
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    let read = poll_until(&next, Duration::from_secs(60), |r| r.len() >= 79).await;
    assert_eq!(read[0].offset, 121);
    assert_eq!(read.len(), 79);
    next.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_yields_records_gives_back_what_it_held_and_ends_after_a_fatal_error() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("stream");
    cluster.create_topic(&topic, 1, 3).unwrap();
    produce(&bootstrap, &topic, 100).await;
    let tp = TopicPartition::new(&topic, 0);
    let consumer = Consumer::builder(&bootstrap)
        .assign([tp.clone()])
        .auto_offset_reset(OffsetReset::None)
        .build()
        .unwrap();
    assert!(consumer.seek(&tp, 0));

    // Ten records taken of a poll that handed out more: dropping the stream
    // gives the rest back.
    let mut stream = consumer.stream();
    for offset in 0..10 {
        let record = tokio::time::timeout(Duration::from_secs(30), next(&mut stream))
            .await
            .expect("a record within 30 s")
            .expect("the stream goes on")
            .unwrap();
        assert_eq!(record.offset, offset);
    }
    let first_poll = consumer.metrics().records_consumed;
    assert!(first_poll > 10, "one poll handed out more than was taken");
    drop(stream);
    assert_eq!(consumer.position(&tp), Some(10));

    let mut stream = consumer.stream();
    let mut offsets = Vec::new();
    while offsets.len() < 90 {
        let item = tokio::time::timeout(Duration::from_secs(30), next(&mut stream))
            .await
            .expect("a record within 30 s")
            .expect("the stream goes on");
        offsets.push(item.unwrap().offset);
    }
    assert_eq!(offsets, (10..100).collect::<Vec<i64>>());
    drop(stream);

    // Out of range with no reset policy is fatal: the stream yields it, then ends.
    assert!(consumer.seek(&tp, 1_000_000));
    let mut stream = consumer.stream();
    let item = tokio::time::timeout(Duration::from_secs(30), next(&mut stream))
        .await
        .expect("an item within 30 s")
        .expect("the error comes before the end");
    assert!(
        matches!(
            &item,
            Err(ConsumeError::OutOfRange {
                offset: 1_000_000,
                ..
            })
        ),
        "{item:?}"
    );
    assert!(
        next(&mut stream).await.is_none(),
        "the stream ends after a fatal error"
    );
    let metrics = consumer.metrics();
    assert_eq!(metrics.fatal_errors, 1);
    assert_eq!(
        metrics.records_consumed,
        first_poll + 90,
        "what the first stream gave back was handed out again"
    );
    drop(stream);

    // A stopped consumer's stream ends.
    consumer.stop();
    let mut stream = consumer.stream();
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_stream_reads_everything_and_events_come_on_the_side() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("group-stream");
    cluster.create_topic(&topic, 3, 3).unwrap();
    produce(&bootstrap, &topic, 300).await;
    let consumer = group_builder(&bootstrap, &unique_topic("group-stream-g"))
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    let mut events = consumer.events();
    let mut stream = consumer.stream();
    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    while seen.len() < 300 {
        let item = tokio::time::timeout(Duration::from_secs(60), next(&mut stream))
            .await
            .expect("a record within 60 s")
            .expect("the stream goes on");
        match item {
            Ok(r) => *seen.entry((r.partition, r.offset)).or_default() += 1,
            Err(e) => assert!(!e.is_fatal(), "{e}"),
        }
    }
    assert!(seen.values().all(|&n| n == 1), "a record came twice");
    drop(stream);
    let mut got = Vec::new();
    while let Ok(event) = events.try_recv() {
        got.push(event);
    }
    assert!(
        got.iter().any(|e| matches!(e, GroupEvent::Joined { .. })),
        "{got:?}"
    );
    let assigned: usize = got
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Assigned(p) => Some(p.len()),
            _ => None,
        })
        .sum();
    assert_eq!(assigned, 3, "{got:?}");
    consumer.close().await.unwrap();
}

/// The figures of one consumer (its `client_id` label) as a debugging
/// recorder saw them. Its snapshots drain what they read (counters and
/// gauges go back to zero, histograms lose their samples), so counters
/// and histogram sample counts are summed here over every snapshot, and
/// a gauge is its value since the last snapshot (every poll sets them).
struct Figures {
    snapshotter: Snapshotter,
    client_id: String,
    totals: BTreeMap<String, f64>,
    gauges: BTreeMap<String, f64>,
}

impl Figures {
    fn read(&mut self) {
        self.gauges.clear();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let ours = key
                .labels()
                .any(|l| l.key() == "client_id" && l.value() == self.client_id);
            if !ours {
                continue;
            }
            let fatal = key
                .labels()
                .find(|l| l.key() == "fatal")
                .map(|l| l.value().to_owned());
            let name = match fatal {
                Some(fatal) => format!("{}{{fatal={fatal}}}", key.name()),
                None => key.name().to_owned(),
            };
            #[allow(clippy::cast_precision_loss)]
            match value {
                DebugValue::Counter(n) => *self.totals.entry(name).or_default() += n as f64,
                DebugValue::Histogram(samples) => {
                    *self.totals.entry(name).or_default() += samples.len() as f64;
                }
                DebugValue::Gauge(g) => {
                    self.gauges.insert(name, g.into_inner());
                }
            }
        }
    }

    fn total(&self, name: &str) -> f64 {
        self.totals.get(name).copied().unwrap_or_default()
    }

    fn gauge(&self, name: &str) -> Option<f64> {
        self.gauges.get(name).copied()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_records_are_fetched_rebalanced_and_lag_shrinks() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("metrics");
    cluster.create_topic(&topic, 3, 3).unwrap();
    produce(&bootstrap, &topic, 600).await;
    let client_id = unique_topic("metrics-client");
    let recorder = DebuggingRecorder::new();
    let mut figures = Figures {
        snapshotter: recorder.snapshotter(),
        client_id: client_id.clone(),
        totals: BTreeMap::new(),
        gauges: BTreeMap::new(),
    };
    let consumer = metrics::with_local_recorder(&recorder, || {
        group_builder(&bootstrap, &unique_topic("metrics-g"))
            .subscribe([topic.as_str()])
            .client_id(&client_id)
            .max_poll_records(10)
            .build()
            .unwrap()
    });
    figures.read();
    assert!(
        figures
            .totals
            .contains_key("vltava_consumer_records_consumed_total"),
        "the handles are registered at build: {:?}",
        figures.totals
    );
    assert_eq!(figures.total("vltava_consumer_records_consumed_total"), 0.0);

    // A first poll with records: a rebalance happened, and lag is left.
    let (first, mut errors) =
        poll_counting_errors(&consumer, Duration::from_secs(60), |r| !r.is_empty()).await;
    figures.read();
    assert_eq!(figures.total("vltava_consumer_rebalances_total"), 1.0);
    assert_eq!(
        figures.total("vltava_consumer_partitions_assigned_total"),
        3.0
    );
    assert_eq!(
        figures.gauge("vltava_consumer_assigned_partitions"),
        Some(3.0)
    );
    #[allow(clippy::cast_precision_loss)]
    let read = first.len() as f64;
    assert_eq!(
        figures.total("vltava_consumer_records_consumed_total"),
        read
    );
    let lag = figures.gauge("vltava_consumer_lag").unwrap();
    assert!(lag > 0.0 && lag <= 600.0 - read, "lag {lag}");

    let (rest, more) = poll_counting_errors(&consumer, Duration::from_secs(60), |r| {
        r.len() + first.len() >= 600
    })
    .await;
    errors += more;
    assert_eq!(first.len() + rest.len(), 600);
    // One more poll settles the levels.
    errors += consumer.poll(Duration::from_millis(300)).await.errors.len();
    figures.read();
    assert_eq!(
        figures.total("vltava_consumer_records_consumed_total"),
        600.0
    );
    assert_eq!(figures.gauge("vltava_consumer_lag"), Some(0.0));
    let bytes = figures.total("vltava_consumer_bytes_fetched_total");
    assert!(
        bytes > 600.0 * 3.0,
        "at least a few bytes per record: {bytes}"
    );
    let fetches = figures.total("vltava_consumer_fetch_requests_total");
    assert!(fetches >= 1.0);
    assert!(
        figures.total("vltava_consumer_fetch_latency_seconds") >= fetches,
        "one latency per fetch answered so far"
    );
    assert_eq!(figures.total("vltava_consumer_commits_total"), 0.0);
    // Every non-fatal error the polls returned, and no other.
    #[allow(clippy::cast_precision_loss)]
    let errors = errors as f64;
    assert_eq!(
        figures.total("vltava_consumer_errors_total{fatal=false}"),
        errors
    );
    consumer.commit().await.unwrap();
    figures.read();
    assert_eq!(figures.total("vltava_consumer_commits_total"), 1.0);

    // The snapshot method says the same without a recorder.
    let snapshot = consumer.metrics();
    assert_eq!(snapshot.records_consumed, 600);
    assert_eq!(snapshot.rebalances, 1);
    assert_eq!(snapshot.partitions_assigned, 3);
    assert_eq!(snapshot.lag, 0);
    assert_eq!(snapshot.commits, 1);
    #[allow(clippy::cast_precision_loss)]
    {
        assert_eq!(snapshot.bytes_fetched as f64, bytes);
        assert!(snapshot.fetch_requests as f64 >= fetches);
    }
    consumer.close().await.unwrap();
    let after = consumer.metrics();
    assert!(after.rate_since(&snapshot).records_per_sec >= 0.0);
}

/// Produces `count` records `p{partition}-{i}` to one partition.
async fn produce_to(bootstrap: &str, tp: &TopicPartition, count: usize) {
    let producer =
        vltava_producer::Producer::new(bootstrap, vltava_producer::ProducerConfig::new()).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = vltava_producer::ProducerRecord::new(
            tp.topic.as_str(),
            format!("p{}-{i}", tp.partition),
        )
        .partition(tp.partition);
        deliveries.push(producer.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    producer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_partitions_hand_out_nothing_while_the_others_do_and_resume_where_they_were() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("pause");
    cluster.create_topic(&topic, 2, 3).unwrap();
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    produce_to(&bootstrap, &p0, 200).await;
    produce_to(&bootstrap, &p1, 200).await;
    let consumer = Consumer::builder(&bootstrap)
        .assign([p0.clone(), p1.clone()])
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(20)
        .build()
        .unwrap();
    // Both partitions started (and p0 has more fetched and waiting).
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let started = Instant::now();
    while next.len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "{next:?}");
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        for r in fetches.records() {
            let at = next.entry(r.partition).or_insert(0);
            assert_eq!(r.offset, *at, "partition {}", r.partition);
            *at += 1;
        }
    }
    consumer.pause(std::slice::from_ref(&p0));
    let paused_at = consumer.position(&p0).unwrap();
    assert_eq!(paused_at, next[&0]);
    // p1 is read to its end; p0 hands out nothing, buffered or new.
    produce_to(&bootstrap, &p0, 50).await;
    let started = Instant::now();
    while next[&1] < 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "{next:?}");
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        for r in fetches.records() {
            assert_eq!(
                r.partition, 1,
                "a paused partition handed out offset {}",
                r.offset
            );
            assert_eq!(r.offset, next[&1]);
            *next.get_mut(&1).unwrap() += 1;
        }
    }
    let fetches = consumer.poll(Duration::from_millis(1000)).await;
    assert_eq!(fetches.record_count(), 0, "p1 is done and p0 is paused");
    assert_eq!(consumer.position(&p0), Some(paused_at));

    // Resumed: p0 goes on exactly where it stopped, to its new end.
    consumer.resume(std::slice::from_ref(&p0));
    let started = Instant::now();
    while next[&0] < 250 {
        assert!(started.elapsed() < Duration::from_secs(30), "{next:?}");
        let fetches = consumer.poll(Duration::from_millis(300)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        for r in fetches.records() {
            assert_eq!(r.partition, 0);
            assert_eq!(r.offset, next[&0], "p0 resumed out of order");
            *next.get_mut(&0).unwrap() += 1;
        }
    }
    assert_eq!(consumer.position(&p0), Some(250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_auto_commit_commits_only_what_earlier_polls_handed_out() {
    let cluster = shared_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("autocommit");
    cluster.create_topic(&topic, 1, 3).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    produce_to(&bootstrap, &tp, 300).await;
    // Positions mode (the default), committing as often as it can.
    let consumer = Consumer::builder(&bootstrap)
        .group_id(unique_topic("autocommit-g"))
        .subscribe([topic.as_str()])
        .auto_offset_reset(OffsetReset::Earliest)
        .auto_commit_interval(Duration::from_millis(20))
        .max_poll_records(20)
        .build()
        .unwrap();
    let committed = || async {
        consumer.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp]
            .as_ref()
            .map(|c| c.offset)
    };
    // The next offset after what polls before the current one handed out.
    let mut handed = 0;
    let mut commits_seen = Vec::new();
    let started = Instant::now();
    while handed < 300 {
        assert!(started.elapsed() < Duration::from_secs(60), "{handed} read");
        let before = handed;
        let fetches = consumer.poll(Duration::from_millis(200)).await;
        assert!(fetches.errors.is_empty(), "{:?}", fetches.errors);
        if let Some(last) = fetches.records().last() {
            handed = last.offset + 1;
        }
        // Whatever this poll started committing, it is at most what the
        // polls before it handed out: never the records just returned.
        if let Some(at) = committed().await {
            assert!(
                at <= before,
                "committed {at} while earlier polls had handed out up to {before} (this one {handed})"
            );
            commits_seen.push(at);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        commits_seen.iter().any(|&at| at > 0 && at < 300),
        "auto-commit moved along as records were handed out: {commits_seen:?}"
    );
    // The last poll's records are not committed while the application
    // does not come back, however long the interval has run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at = committed().await.unwrap_or_default();
    assert!(
        at < 300,
        "the last poll's records were committed before another poll"
    );
    // The next poll commits them.
    let started = Instant::now();
    while committed().await != Some(300) {
        assert!(started.elapsed() < Duration::from_secs(30));
        let fetches = consumer.poll(Duration::from_millis(100)).await;
        assert_eq!(fetches.record_count(), 0);
    }
    consumer.close().await.unwrap();
}
