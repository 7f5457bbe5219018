//! Groups through broker faults, on a 3-node cluster of this binary's own
//! (one cluster, started once, for every phase): the coordinator killed
//! (-9) and stopped (SIGTERM), both while the groups are stable and while
//! a rebalance is in progress (held open by members that do not yet
//! acknowledge their revocations, and seen as such by the coordinator
//! before the fault); commits across a coordinator kill; a member the
//! coordinator expired commits nothing for the partitions it lost; a
//! frozen coordinator does not end a membership; every node down for
//! 10 s while members join. Every member commits as an application does
//! all along, and no group's committed offsets ever go backwards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::task::block_in_place;
use vltava_group::offsets::CommitOffset;
use vltava_group::{GroupEvent, TopicPartition};
use vltava_testkit::{ClusterConfig, OwnedCluster};

use crate::{Running, TestGroup, Topic, classic_config, consumer_config, settle};

const TOPIC: &str = "faults";
const PARTITIONS: i32 = 12;

/// Java's `String.hashCode`, to place two groups on the same
/// `__consumer_offsets` partition (so the same coordinator).
fn offsets_partition(group: &str) -> i32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    (h & 0x7fff_ffff) % 12
}

/// A group name `prefix-N` on `partition` of `__consumer_offsets`.
fn group_on(prefix: &str, partition: i32) -> String {
    (0..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|g| offsets_partition(g) == partition)
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    Stop,
}

fn no_fatal(members: &[&Running]) {
    for m in members {
        assert!(m.member.error().is_none(), "fatal: {:?}", m.member.error());
        assert!(!m.member.is_ended());
    }
}

/// What the application of `member` has processed, moved on by `records`
/// per partition (as if it processed that many more, once the log has
/// them), with its background work stopped so that nothing else commits
/// for it meanwhile: the offsets to commit by hand, each beyond anything
/// the member committed. Clearing `stopped` starts it again.
async fn processed_ahead(
    member: &Running,
    topic: &Topic,
    records: i64,
) -> BTreeMap<TopicPartition, CommitOffset> {
    member.state.lock().unwrap().stopped = true;
    let started = Instant::now();
    loop {
        {
            let mut state = member.state.lock().unwrap();
            let room = state
                .positions
                .iter()
                .all(|(tp, p)| p.is_some_and(|p| p + records <= topic.end(tp.partition)));
            if room && !state.positions.is_empty() {
                for position in state.positions.values_mut().flatten() {
                    *position += records;
                }
                return state.known(None);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {records} records to process: {:?}",
            member.state.lock().unwrap().positions
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_ride_through_coordinator_faults_and_a_full_outage() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-group-faults");
    let cluster = block_in_place(|| OwnedCluster::start(ClusterConfig::new(dir).nodes(3)))
        .unwrap_or_else(|e| panic!("{e}"));
    let topic = Topic::create(&cluster, TOPIC, PARTITIONS).await;
    let bootstrap = cluster.bootstrap();
    let all = topic.all();
    // A classic group and a KIP-848 group with the same coordinator.
    let classic_group = group_on("classic", 5);
    let consumer_group = group_on("kip848", 5);
    let classic_session = Duration::from_secs(20);
    let classic = || classic_config(&classic_group, "range", classic_session);
    let group_a = TestGroup::new(&bootstrap, &classic_group, &topic);
    let group_b = TestGroup::new(&bootstrap, &consumer_group, &topic);
    let mut a: Vec<Running> = (0..3).map(|_| group_a.member(classic())).collect();
    let mut b: Vec<Running> = (0..3)
        .map(|_| group_b.member(consumer_config(&consumer_group)))
        .collect();
    settle(
        &a.iter().collect::<Vec<_>>(),
        &all,
        Duration::from_secs(60),
        true,
    )
    .await;
    settle(
        &b.iter().collect::<Vec<_>>(),
        &all,
        Duration::from_secs(60),
        true,
    )
    .await;

    let mut report = Vec::new();
    for (fault, rebalancing) in [
        (Fault::Kill, false),
        (Fault::Stop, false),
        (Fault::Kill, true),
        (Fault::Stop, true),
    ] {
        let coordinator = block_in_place(|| cluster.group_coordinator(&classic_group)).unwrap();
        let generations: Vec<i32> = a.iter().map(|m| m.member.generation()).collect();
        let mut under_way = String::new();
        if rebalancing {
            // The members there now acknowledge no revocation until the
            // fault has hit: a newcomer starts a rebalance that cannot
            // complete before then (the eager classic members revoke
            // everything and do not rejoin; the KIP-848 members that give
            // up partitions to the newcomer do not reconcile).
            for m in a.iter().chain(&b) {
                m.hold_revocations();
            }
            a.push(group_a.member(classic()));
            b.push(group_b.member(consumer_config(&consumer_group)));
            under_way = rebalance_under_way(&group_a, &a, &group_b, &b).await;
        }
        let at = Instant::now();
        let commit = if rebalancing {
            None
        } else {
            // A commit in flight across the fault; it must complete.
            let offsets = processed_ahead(&a[0], &topic, 10).await;
            assert!(
                !offsets.is_empty(),
                "a[0] owns partitions with known positions"
            );
            let member = a[0].member.clone();
            Some((
                offsets.clone(),
                tokio::spawn(async move { member.commit(offsets).await }),
            ))
        };
        block_in_place(|| match fault {
            Fault::Kill => cluster.kill(coordinator),
            Fault::Stop => cluster.stop(coordinator),
        })
        .unwrap();
        for m in a.iter().chain(&b) {
            m.release_revocations();
        }
        let found = new_coordinator(&a.iter().chain(&b).collect::<Vec<_>>(), at, coordinator).await;
        let ra = settle(
            &a.iter().collect::<Vec<_>>(),
            &all,
            Duration::from_secs(60),
            false,
        )
        .await;
        let rb = settle(
            &b.iter().collect::<Vec<_>>(),
            &all,
            Duration::from_secs(60),
            false,
        )
        .await;
        let recovered = at.elapsed();
        no_fatal(&a.iter().chain(&b).collect::<Vec<_>>());
        for m in a.iter().chain(&b).take(3) {
            let events = m.events_since(at);
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, GroupEvent::SessionError { .. })),
                "{fault:?} (rebalancing: {rebalancing}): no session error reported: {events:?}"
            );
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, GroupEvent::CoordinatorChanged { .. })),
                "{fault:?} (rebalancing: {rebalancing}): no new coordinator reported: {events:?}"
            );
        }
        if !rebalancing {
            // Back within the session timeout: same generation, nothing lost.
            let now: Vec<i32> = a.iter().map(|m| m.member.generation()).collect();
            assert_eq!(now, generations, "{fault:?}: the classic group rebalanced");
            for m in a.iter().chain(&b) {
                let events = m.events_since(at);
                assert!(
                    !events
                        .iter()
                        .any(|e| matches!(e, GroupEvent::Lost(_) | GroupEvent::Revoked(_))),
                    "{fault:?}: partitions moved: {events:?}"
                );
            }
        }
        if let Some((offsets, commit)) = commit {
            let outcome = commit.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
            assert!(
                outcome.is_ok(),
                "{fault:?}: commit across the fault: {outcome:?}"
            );
            assert_eq!(outcome.committed.len(), offsets.len());
            a[0].ledger.record(&a[0].member, outcome.committed);
            a[0].state.lock().unwrap().stopped = false;
        }
        let max_retry = a
            .iter()
            .chain(&b)
            .flat_map(|m| m.events_since(at))
            .filter_map(|e| match e {
                GroupEvent::SessionError { retry_in, .. } => Some(retry_in),
                _ => None,
            })
            .max();
        report.push(format!(
            "{fault:?} rebalancing={rebalancing}{under_way}: every member on a new coordinator after {found:?}, settled after {recovered:?} (classic {ra:?}, kip-848 {rb:?} of that), longest SessionError wait {max_retry:?}"
        ));
        block_in_place(|| cluster.start_node(coordinator)).unwrap();
    }
    // Committed offsets never went backwards, whatever the fault.
    report.push(group_a.finish(&a.iter().collect::<Vec<_>>()).await);
    report.push(group_b.finish(&b.iter().collect::<Vec<_>>()).await);
    drop(a);
    drop(b);

    // A member the coordinator expired loses its partitions and commits
    // nothing for them. The member is frozen, not the coordinator (a
    // coordinator that cannot be reached does not end a membership: the
    // member keeps it until the coordinator says otherwise, as Java's):
    // it runs on a runtime of its own whose only thread is blocked for
    // twice its session timeout, so its heartbeats stop while the
    // coordinator's clock runs.
    let lost_group = crate::unique("lost");
    let group_lost = TestGroup::new(&bootstrap, &lost_group, &topic);
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let frozen_runtime = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        handle_tx.send(runtime.handle().clone()).unwrap();
        let _ = runtime.block_on(stop_rx);
    });
    let handle = handle_rx.recv().unwrap();
    let lonely = {
        // The member and its application both run there, as one process.
        let _inside = handle.enter();
        group_lost.member(classic_config(&lost_group, "range", Duration::from_secs(3)))
    };
    settle(&[&lonely], &all, Duration::from_secs(30), true).await;
    // Let the application read its positions, then commit by hand what it
    // processed (its own commits stop there).
    let started = Instant::now();
    while lonely.state.lock().unwrap().known(None).len() < all.len() {
        assert!(started.elapsed() < Duration::from_secs(30), "no positions");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before_offsets = processed_ahead(&lonely, &topic, 5).await;
    let outcome = lonely.member.commit(before_offsets.clone()).await.unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(outcome.committed.len(), all.len());
    lonely
        .ledger
        .record(&lonely.member, outcome.committed.clone());
    let before = outcome.committed;
    let frozen = Instant::now();
    handle.spawn(async { std::thread::sleep(Duration::from_secs(6)) });
    while !lonely
        .events()
        .iter()
        .any(|e| matches!(e, GroupEvent::Lost(_)))
    {
        assert!(
            frozen.elapsed() < Duration::from_secs(20),
            "no Lost: {:?}",
            lonely.events()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let offsets: BTreeMap<TopicPartition, CommitOffset> = before
        .iter()
        .map(|(tp, offset)| (tp.clone(), CommitOffset::new(offset + 5)))
        .collect();
    // Until it has joined again the member owns nothing, so it commits
    // nothing; once it has (the rejoin can beat this commit), committing
    // is its right again.
    let lost_generation = lonely.member.generation();
    let outcome = lonely.member.commit(offsets).await.unwrap();
    let rejoined = lonely
        .events_since(frozen)
        .iter()
        .any(|e| matches!(e, GroupEvent::Assigned(_)));
    if !rejoined {
        assert!(
            outcome.committed.is_empty(),
            "a lost member (generation {lost_generation}) committed {outcome:?}"
        );
        settle(&[&lonely], &all, Duration::from_secs(30), true).await;
        let after = group_lost
            .observer
            .committed(&all.iter().cloned().collect::<Vec<_>>())
            .await
            .map(|(_, read)| read);
        assert_eq!(after, Ok(before), "the lost partitions' offsets moved");
    } else {
        lonely.ledger.record(&lonely.member, outcome.committed);
    }
    report.push(format!(
        "lost member rejoined before its commit: {rejoined}"
    ));
    report.push(group_lost.finish(&[]).await);
    drop(lonely);
    let _ = stop_tx.send(());
    frozen_runtime.join().unwrap();

    // A coordinator frozen (SIGSTOP) for longer than the session timeout
    // is rediscovered elsewhere; the membership is not given up on the
    // member's own clock.
    let kept_group = crate::unique("kept");
    let group_kept = TestGroup::new(&bootstrap, &kept_group, &topic);
    let patient = group_kept.member(classic_config(&kept_group, "range", Duration::from_secs(3)));
    settle(&[&patient], &all, Duration::from_secs(30), true).await;
    let generation = patient.member.generation();
    let coordinator = block_in_place(|| cluster.group_coordinator(&kept_group)).unwrap();
    block_in_place(|| cluster.pause(coordinator)).unwrap();
    let paused = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !patient
            .events_since(paused)
            .iter()
            .any(|e| matches!(e, GroupEvent::Lost(_))),
        "lost on the member's own clock: {:?}",
        patient.events_since(paused)
    );
    assert_eq!(patient.member.generation(), generation);
    block_in_place(|| cluster.resume(coordinator)).unwrap();
    settle(&[&patient], &all, Duration::from_secs(60), true).await;
    report.push(group_kept.finish(&[&patient]).await);
    drop(patient);

    // Every node down for 10 s while members join: session errors
    // ("connection refused"), never fatal, then they join by themselves.
    let c_group = crate::unique("outage-classic");
    let k_group = crate::unique("outage-kip848");
    let group_c = TestGroup::new(&bootstrap, &c_group, &topic);
    let group_k = TestGroup::new(&bootstrap, &k_group, &topic);
    let c: Vec<Running> = (0..2)
        .map(|_| group_c.member(classic_config(&c_group, "range", Duration::from_secs(6))))
        .collect();
    let k: Vec<Running> = (0..2)
        .map(|_| group_k.member(consumer_config(&k_group)))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let nodes = cluster.node_ids();
    for node in &nodes {
        block_in_place(|| cluster.kill(*node)).unwrap();
    }
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    no_fatal(&c.iter().chain(&k).collect::<Vec<_>>());
    for m in c.iter().chain(&k) {
        let refused = m.events_since(down).iter().any(
            |e| matches!(e, GroupEvent::SessionError { cause, .. } if cause.contains("refused")),
        );
        assert!(
            refused,
            "no 'connection refused' session error: {:?}",
            m.events()
        );
    }
    let waits: Vec<Duration> = c
        .iter()
        .chain(&k)
        .flat_map(|m| m.events_since(down))
        .filter_map(|e| match e {
            GroupEvent::SessionError { retry_in, .. } => Some(retry_in),
            _ => None,
        })
        .collect();
    assert!(
        waits.iter().all(|w| *w <= Duration::from_secs(1)),
        "{waits:?}"
    );
    block_in_place(|| cluster.start_nodes(&nodes)).unwrap();
    let up = Instant::now();
    let rc = settle(
        &c.iter().collect::<Vec<_>>(),
        &all,
        Duration::from_secs(90),
        false,
    )
    .await;
    let rk = settle(
        &k.iter().collect::<Vec<_>>(),
        &all,
        Duration::from_secs(90),
        false,
    )
    .await;
    no_fatal(&c.iter().chain(&k).collect::<Vec<_>>());
    report.push(format!(
        "full outage: {} session errors in 10 s down, waits up to {:?}; joined {:?} after the nodes served again (classic {rc:?}, kip-848 {rk:?})",
        waits.len(),
        waits.iter().max(),
        up.elapsed()
    ));
    report.push(group_c.finish(&c.iter().collect::<Vec<_>>()).await);
    report.push(group_k.finish(&k.iter().collect::<Vec<_>>()).await);
    for line in &report {
        eprintln!("{line}");
    }
}

/// Waits until the rebalance that the newcomers (the last of `a` and of
/// `b`) started is seen under way, held open by the members before them:
/// in the classic group every earlier member holds its revocation and the
/// coordinator describes the group as `PreparingRebalance`; in the KIP-848
/// group at least one earlier member holds a revocation and the
/// coordinator describes it as `Reconciling` (or `Assigning`). Returns
/// what was seen, for the report.
async fn rebalance_under_way(
    group_a: &TestGroup,
    a: &[Running],
    group_b: &TestGroup,
    b: &[Running],
) -> String {
    let started = Instant::now();
    let (earlier_a, earlier_b) = (&a[..a.len() - 1], &b[..b.len() - 1]);
    loop {
        let classic_held = earlier_a.iter().all(Running::holding);
        let consumer_held = earlier_b.iter().any(Running::holding);
        let classic_state = group_a.observer.describe().await.map(|(state, _)| state);
        let consumer_state = group_b.observer.consumer_group_state().await;
        let classic_ok = classic_held && classic_state.as_deref() == Ok("PreparingRebalance");
        let consumer_ok = consumer_held
            && consumer_state.as_deref().is_ok_and(|s| {
                s.eq_ignore_ascii_case("reconciling") || s.eq_ignore_ascii_case("assigning")
            });
        if classic_ok && consumer_ok {
            return format!(
                " (under way after {:?}: classic {classic_state:?}, kip-848 {consumer_state:?})",
                started.elapsed()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no rebalance under way to break: classic members holding {:?}, coordinator says {classic_state:?}; kip-848 members holding {:?}, coordinator says {consumer_state:?}",
            earlier_a.iter().map(Running::holding).collect::<Vec<_>>(),
            earlier_b.iter().map(Running::holding).collect::<Vec<_>>(),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every member reported a coordinator other than `old`
/// since `since`; returns how long that took from `since`.
async fn new_coordinator(members: &[&Running], since: Instant, old: u32) -> Duration {
    loop {
        let moved = members.iter().all(|m| {
            m.events_since(since).iter().any(|e| {
                matches!(e, GroupEvent::CoordinatorChanged { node_id, .. } if *node_id != old as i32)
            })
        });
        if moved {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "not every member found a new coordinator: {:?}",
            members
                .iter()
                .map(|m| m.events_since(since))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
