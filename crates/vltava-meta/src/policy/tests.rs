//! The policy driven with scripted responses and simulated time: `Instant`s
//! advanced by hand, no clock, no I/O.

use std::time::{Duration, Instant};

use vltava_wire::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};

use super::*;
use crate::hints::LeaderHint;

const MS: Duration = Duration::from_millis(1);

fn wire_broker(id: i32) -> MetadataResponseBroker {
    MetadataResponseBroker {
        node_id: id,
        host: "127.0.0.1".into(),
        port: 9090 + id,
        rack: None,
        ..Default::default()
    }
}

fn wire_partition(index: i32, leader: i32, epoch: i32) -> MetadataResponsePartition {
    MetadataResponsePartition {
        error_code: 0,
        partition_index: index,
        leader_id: leader,
        leader_epoch: epoch,
        replica_nodes: vec![1, 2, 3],
        isr_nodes: vec![1, 2, 3],
        offline_replicas: vec![],
        ..Default::default()
    }
}

fn wire_topic(
    name: &str,
    id: u128,
    partitions: Vec<MetadataResponsePartition>,
) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: 0,
        name: Some(name.into()),
        topic_id: Uuid::from_u128(id),
        is_internal: false,
        partitions,
        ..Default::default()
    }
}

fn wire_topic_error(name: &str, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.code(),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn response(brokers: &[i32], topics: Vec<MetadataResponseTopic>) -> MetadataResponse {
    MetadataResponse {
        brokers: brokers.iter().map(|&id| wire_broker(id)).collect(),
        cluster_id: Some("cluster".into()),
        controller_id: 1,
        topics,
        ..Default::default()
    }
}

/// One topic `t` (id 1) with partition 0 led by `leader` at `epoch`, on brokers 1-3.
fn t0(leader: i32, epoch: i32) -> MetadataResponse {
    response(
        &[1, 2, 3],
        vec![wire_topic("t", 1, vec![wire_partition(0, leader, epoch)])],
    )
}

/// A config without jitter, so that backoffs are exact.
fn exact() -> MetadataConfig {
    MetadataConfig::new().backoff_jitter(0.0)
}

/// A policy and a clock advanced by hand.
struct Sim {
    policy: RefreshPolicy,
    now: Instant,
}

impl Sim {
    fn new(config: MetadataConfig) -> Self {
        Self {
            policy: RefreshPolicy::new(config, vec!["boot:9092".into()], 7),
            now: Instant::now(),
        }
    }

    /// A policy that has had one answer (`t0(1, 5)`) at `self.now`.
    fn started(config: MetadataConfig) -> Self {
        let mut sim = Self::new(config);
        sim.answer(&t0(1, 5));
        sim
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn poll(&mut self) -> Option<RefreshRequest> {
        self.policy.poll_refresh(self.now)
    }

    /// Polls (the refresh must be due) and answers with `response` at v12.
    fn answer(&mut self, response: &MetadataResponse) -> RefreshRequest {
        self.answer_at(12, response)
    }

    fn answer_at(&mut self, version: i16, response: &MetadataResponse) -> RefreshRequest {
        let request = self.poll().expect("a refresh is due");
        assert!(
            self.policy
                .handle_response(request.id, version, response, self.now)
                .is_some()
        );
        request
    }

    /// Polls (the refresh must be due) and fails it.
    fn fail(&mut self) -> RefreshRequest {
        let request = self.poll().expect("a refresh is due");
        assert!(self.policy.handle_failure(request.id, self.now));
        request
    }

    /// How long from now until the next refresh is due.
    fn due_in(&self) -> Duration {
        self.policy
            .deadline(self.now)
            .expect("no refresh in flight")
            .saturating_duration_since(self.now)
    }

    fn snapshot(&self) -> Arc<MetadataSnapshot> {
        self.policy.snapshot().clone()
    }
}

fn broker_target(request: &RefreshRequest) -> i32 {
    match &request.target {
        RefreshTarget::Broker { node_id, .. } => *node_id,
        other => panic!("expected a broker, got {other:?}"),
    }
}

// ------------------------------------------------------------------- start

#[test]
fn startup_asks_the_bootstrap_list_at_once() {
    let mut sim = Sim::new(exact());
    assert_eq!(sim.due_in(), Duration::ZERO);
    let request = sim.poll().unwrap();
    assert_eq!(request.reason, RefreshReason::Startup);
    assert_eq!(
        request.target,
        RefreshTarget::Bootstrap(vec!["boot:9092".into()])
    );
    assert_eq!(request.topics, None);
    assert!(sim.policy.is_refreshing());
    // One at a time.
    assert!(sim.poll().is_none());
    assert_eq!(sim.policy.deadline(sim.now), None);
    let snapshot = sim
        .policy
        .handle_response(request.id, 12, &t0(2, 5), sim.now)
        .unwrap();
    assert_eq!(snapshot.version(), 1);
    assert_eq!(snapshot.brokers().len(), 3);
    assert_eq!(snapshot.cluster_id(), Some("cluster"));
    assert_eq!(snapshot.controller().unwrap().node_id, 1);
    let leader = snapshot.leader("t", 0).unwrap();
    assert_eq!((leader.broker.node_id, leader.epoch), (2, Some(5)));
    assert_eq!(leader.broker.address(), "127.0.0.1:9092");
    assert_eq!(snapshot.topic_by_id(Uuid::from_u128(1)).unwrap().name, "t");
    let p = snapshot.partition("t", 0).unwrap();
    assert_eq!(
        (p.replicas.as_slice(), p.isr.as_slice()),
        (&[1, 2, 3][..], &[1, 2, 3][..])
    );
}

#[test]
fn a_stale_or_unknown_refresh_id_changes_nothing() {
    let mut sim = Sim::new(exact());
    let request = sim.poll().unwrap();
    let other = RefreshId(request.id.0 + 1);
    assert!(
        sim.policy
            .handle_response(other, 12, &t0(1, 1), sim.now)
            .is_none()
    );
    assert!(!sim.policy.handle_failure(other, sim.now));
    assert!(sim.policy.is_refreshing());
    assert_eq!(sim.snapshot().version(), 0);
    assert!(sim.policy.handle_failure(request.id, sim.now));
    // Answered twice: the second is ignored.
    assert!(
        sim.policy
            .handle_response(request.id, 12, &t0(1, 1), sim.now)
            .is_none()
    );
}

// ------------------------------------------------------------------- timing

#[test]
fn the_minimum_interval_is_honoured_whatever_asks() {
    let mut sim = Sim::started(exact());
    // Every kind of trigger, right after a refresh.
    sim.advance(10 * MS);
    assert!(
        sim.policy
            .report_error("t", 0, ErrorCode::NOT_LEADER_OR_FOLLOWER)
    );
    sim.policy
        .report_transport_failure("127.0.0.1:9091", sim.now);
    sim.policy.request_refresh(RefreshReason::Explicit);
    assert!(sim.poll().is_none());
    assert_eq!(sim.due_in(), 90 * MS);
    sim.advance(89 * MS);
    assert!(sim.poll().is_none());
    sim.advance(MS);
    let request = sim.poll().unwrap();
    // The first reason is the one reported.
    assert!(
        matches!(request.reason, RefreshReason::Error { .. }),
        "{:?}",
        request.reason
    );
}

#[test]
fn max_age_triggers_a_refresh_with_no_other_reason() {
    let config = exact().max_age(Duration::from_secs(60));
    let mut sim = Sim::started(config);
    assert_eq!(sim.due_in(), Duration::from_secs(60));
    sim.advance(Duration::from_secs(60) - MS);
    assert!(sim.poll().is_none());
    sim.advance(MS);
    let request = sim.poll().unwrap();
    assert_eq!(request.reason, RefreshReason::MaxAge);
    sim.policy
        .handle_response(request.id, 12, &t0(1, 5), sim.now);
    assert_eq!(sim.due_in(), Duration::from_secs(60));
}

#[test]
fn each_error_that_needs_metadata_triggers_a_refresh() {
    for code in [
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode::LEADER_NOT_AVAILABLE,
        ErrorCode::FENCED_LEADER_EPOCH,
    ] {
        let mut sim = Sim::started(exact());
        sim.advance(Duration::from_secs(1));
        assert!(sim.poll().is_none(), "{code}");
        assert!(sim.policy.report_error("t", 0, code), "{code}");
        let request = sim.poll().unwrap_or_else(|| panic!("{code}: no refresh"));
        assert_eq!(
            request.reason,
            RefreshReason::Error {
                topic: "t".into(),
                partition: 0,
                code
            }
        );
    }
    for code in [
        ErrorCode::NONE,
        ErrorCode::NOT_COORDINATOR,
        ErrorCode::REQUEST_TIMED_OUT,
        ErrorCode::from(-2),
    ] {
        let mut sim = Sim::started(exact());
        sim.advance(Duration::from_secs(1));
        assert!(!sim.policy.report_error("t", 0, code), "{code}");
        assert!(sim.poll().is_none(), "{code}");
        assert!(!sim.policy.is_refresh_pending(), "{code}");
    }
}

#[test]
fn a_transport_failure_triggers_a_refresh_that_avoids_that_broker() {
    let mut sim = Sim::started(exact());
    sim.advance(Duration::from_secs(1));
    for _ in 0..10 {
        sim.policy
            .report_transport_failure("127.0.0.1:9092", sim.now);
        let request = sim.poll().unwrap();
        assert!(
            matches!(request.reason, RefreshReason::TransportFailure { ref broker } if broker == "127.0.0.1:9092")
        );
        assert_ne!(broker_target(&request), 2);
        assert!(sim.policy.handle_failure(request.id, sim.now));
        sim.advance(Duration::from_secs(2));
        // Back to health with the next success.
        let request = sim.answer(&t0(1, 5));
        assert_ne!(broker_target(&request), 2);
        sim.advance(Duration::from_secs(1));
    }
}

#[test]
fn an_explicit_request_triggers_a_refresh() {
    let mut sim = Sim::started(exact());
    sim.advance(Duration::from_secs(1));
    assert!(sim.poll().is_none());
    sim.policy.request_refresh(RefreshReason::Explicit);
    assert_eq!(sim.poll().unwrap().reason, RefreshReason::Explicit);
}

#[test]
fn a_trigger_during_a_refresh_leads_to_one_more_after_the_backoff() {
    let mut sim = Sim::started(exact());
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    let first = sim.poll().unwrap();
    let ticket = sim.policy.next_refresh_id();
    assert!(ticket > first.id);
    assert!(
        sim.policy
            .report_error("t", 0, ErrorCode::NOT_LEADER_OR_FOLLOWER)
    );
    assert!(sim.poll().is_none());
    sim.advance(5 * MS);
    sim.policy.handle_response(first.id, 12, &t0(1, 5), sim.now);
    assert_eq!(sim.due_in(), 100 * MS);
    sim.advance(100 * MS);
    let second = sim.poll().unwrap();
    assert_eq!(second.id, ticket);
    assert!(matches!(second.reason, RefreshReason::Error { .. }));
}

#[test]
fn backoff_grows_after_failures_up_to_the_cap_and_resets_on_success() {
    let mut sim = Sim::started(exact());
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    let mut seen = Vec::new();
    for _ in 0..7 {
        sim.fail();
        seen.push(sim.due_in().as_millis());
        sim.advance(sim.due_in() - MS);
        assert!(sim.poll().is_none(), "sooner than the backoff");
        sim.advance(MS);
    }
    assert_eq!(seen, [100, 200, 400, 800, 1000, 1000, 1000]);
    sim.answer(&t0(1, 5));
    assert_eq!(sim.policy.current_backoff(), 100 * MS);
    sim.policy.request_refresh(RefreshReason::Explicit);
    assert_eq!(sim.due_in(), 100 * MS);
}

#[test]
fn jitter_stays_within_the_minimum_and_the_cap() {
    let config = MetadataConfig::new()
        .backoff_jitter(0.2)
        .refresh_backoff(100 * MS)
        .refresh_backoff_max(Duration::from_secs(1));
    let mut sim = Sim::started(config);
    sim.policy.request_refresh(RefreshReason::Explicit);
    sim.advance(Duration::from_secs(1));
    let mut distinct = BTreeSet::new();
    for n in 1..40u32 {
        sim.fail();
        let backoff = sim.policy.current_backoff();
        assert!(
            backoff >= 100 * MS && backoff <= Duration::from_secs(1),
            "{backoff:?}"
        );
        if n == 3 {
            // 400 ms +- 20 %.
            assert!(backoff >= 320 * MS && backoff <= 480 * MS, "{backoff:?}");
        }
        distinct.insert(backoff);
        sim.advance(backoff);
    }
    // The cap is reached, and jitter below it spreads the values.
    assert!(distinct.contains(&Duration::from_secs(1)));
    assert!(distinct.len() > 3, "{distinct:?}");
}

// ------------------------------------------------------------------- brokers

#[test]
fn brokers_without_failures_are_preferred_in_turn() {
    let mut sim = Sim::started(exact());
    let mut chosen = Vec::new();
    for _ in 0..3 {
        sim.advance(Duration::from_secs(1));
        sim.policy.request_refresh(RefreshReason::Explicit);
        chosen.push(broker_target(&sim.answer(&t0(1, 5))));
    }
    chosen.sort_unstable();
    assert_eq!(chosen, [1, 2, 3]);

    // Broker 1 failed long ago, broker 2 recently, then a success: 3 (never
    // failed) first, then 1 (least recently failed) before 2.
    let mut sim = Sim::started(exact());
    sim.policy
        .report_transport_failure("127.0.0.1:9091", sim.now);
    sim.advance(Duration::from_secs(1));
    sim.policy
        .report_transport_failure("127.0.0.1:9092", sim.now);
    sim.advance(Duration::from_secs(1));
    assert_eq!(broker_target(&sim.answer(&t0(1, 5))), 3);
    sim.policy
        .report_transport_failure("127.0.0.1:9093", sim.now);
    sim.advance(Duration::from_secs(1));
    // 3 failed after the last success: out; 1 and 2 failed before it.
    assert_eq!(broker_target(&sim.answer(&t0(1, 5))), 1);
}

#[test]
fn when_every_known_broker_failed_the_bootstrap_list_is_tried_again() {
    let mut sim = Sim::started(exact());
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    let mut failed = Vec::new();
    for _ in 0..3 {
        let request = sim.fail();
        failed.push(broker_target(&request));
        sim.advance(sim.due_in());
    }
    failed.sort_unstable();
    assert_eq!(failed, [1, 2, 3]);
    let request = sim.fail();
    assert_eq!(
        request.target,
        RefreshTarget::Bootstrap(vec!["boot:9092".into()])
    );
    assert_eq!(request.reason, RefreshReason::Explicit);
    // Still nothing answers: bootstrap again, after a longer backoff.
    sim.advance(sim.due_in());
    let request = sim.poll().unwrap();
    assert!(matches!(request.target, RefreshTarget::Bootstrap(_)));
    assert_eq!(request.reason, RefreshReason::Explicit);
    // The bootstrap answers: known brokers are candidates again.
    sim.policy
        .handle_response(request.id, 12, &t0(1, 5), sim.now);
    sim.policy.request_refresh(RefreshReason::Explicit);
    sim.advance(sim.due_in());
    assert!(matches!(
        sim.poll().unwrap().target,
        RefreshTarget::Broker { .. }
    ));
}

// ------------------------------------------------------------------- epochs

#[test]
fn a_leader_epoch_never_moves_backwards() {
    let mut sim = Sim::started(exact());
    assert_eq!(sim.snapshot().leader("t", 0).unwrap().epoch, Some(5));
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    // A lagging broker names the old leader at epoch 4.
    sim.answer(&t0(2, 4));
    let snapshot = sim.snapshot();
    let leader = snapshot.leader("t", 0).unwrap();
    assert_eq!((leader.broker.node_id, leader.epoch), (1, Some(5)));
    // ... and another refresh is asked for, after the minimum interval.
    assert!(sim.policy.is_refresh_pending());
    assert_eq!(sim.due_in(), 100 * MS);
    sim.advance(100 * MS);
    assert_eq!(sim.answer(&t0(3, 6)).reason, RefreshReason::Incomplete);
    let leader = sim
        .snapshot()
        .leader("t", 0)
        .map(|l| (l.broker.node_id, l.epoch));
    assert_eq!(leader, Some((3, Some(6))));
    assert!(!sim.policy.is_refresh_pending());
    // The same epoch again is fine (no new refresh asked for).
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    sim.answer(&t0(3, 6));
    assert!(!sim.policy.is_refresh_pending());
}

#[test]
fn a_recreated_topic_starts_its_epochs_afresh() {
    let mut sim = Sim::started(exact());
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    let recreated = response(
        &[1, 2, 3],
        vec![wire_topic("t", 2, vec![wire_partition(0, 3, 0)])],
    );
    sim.answer(&recreated);
    let snapshot = sim.snapshot();
    let leader = snapshot.leader("t", 0).unwrap();
    assert_eq!((leader.broker.node_id, leader.epoch), (3, Some(0)));
    assert!(snapshot.topic_by_id(Uuid::from_u128(1)).is_none());
    assert_eq!(snapshot.topic_by_id(Uuid::from_u128(2)).unwrap().name, "t");
    assert!(!sim.policy.is_refresh_pending());
}

#[test]
fn epochs_below_metadata_v9_are_not_trusted() {
    let mut sim = Sim::new(exact());
    sim.answer_at(8, &t0(1, 5));
    assert_eq!(sim.snapshot().leader("t", 0).unwrap().epoch, None);
}

// ------------------------------------------------------------------- hints

#[test]
fn a_newer_leader_hint_moves_the_partition_without_a_refresh() {
    let mut sim = Sim::started(exact());
    let before = sim.snapshot();
    let hints = LeaderHints::new(
        vec![LeaderHint::new(TopicKey::Name("t".into()), 0, 4, 6)],
        vec![Broker::new(4, "127.0.0.1", 9094, Some("r".into()))],
    );
    assert_eq!(sim.policy.apply_leader_hints(&hints), [("t".to_owned(), 0)]);
    let after = sim.snapshot();
    assert_eq!(after.version(), before.version() + 1);
    let leader = after.leader("t", 0).unwrap();
    assert_eq!((leader.broker.node_id, leader.epoch), (4, Some(6)));
    assert_eq!(leader.broker.address(), "127.0.0.1:9094");
    // The rest of the partition is kept.
    assert_eq!(after.partition("t", 0).unwrap().replicas, [1, 2, 3]);
    assert!(!sim.policy.is_refreshing() && !sim.policy.is_refresh_pending());
    // By topic id, and to a broker the snapshot already knows.
    let hints = LeaderHints::new(
        vec![LeaderHint::new(TopicKey::Id(Uuid::from_u128(1)), 0, 2, 7)],
        vec![],
    );
    assert_eq!(sim.policy.apply_leader_hints(&hints).len(), 1);
    assert_eq!(sim.snapshot().leader("t", 0).unwrap().broker.node_id, 2);
    // A later refresh with the older epoch does not undo it.
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    sim.answer(&t0(1, 5));
    assert_eq!(sim.snapshot().leader("t", 0).unwrap().epoch, Some(7));
}

#[test]
fn an_older_or_unusable_leader_hint_is_ignored() {
    let mut sim = Sim::started(exact());
    let before = sim.snapshot();
    for hint in [
        // Same epoch, older epoch.
        LeaderHint::new(TopicKey::Name("t".into()), 0, 2, 5),
        LeaderHint::new(TopicKey::Name("t".into()), 0, 2, 4),
        // Unknown leader (no endpoint), unknown partition, topic, topic id.
        LeaderHint::new(TopicKey::Name("t".into()), 0, 9, 6),
        LeaderHint::new(TopicKey::Name("t".into()), 1, 2, 6),
        LeaderHint::new(TopicKey::Name("u".into()), 0, 2, 6),
        LeaderHint::new(TopicKey::Id(Uuid::from_u128(9)), 0, 2, 6),
        // Negative epoch.
        LeaderHint::new(TopicKey::Name("t".into()), 0, 2, -1),
    ] {
        let hints = LeaderHints::new(vec![hint.clone()], vec![]);
        assert!(sim.policy.apply_leader_hints(&hints).is_empty(), "{hint:?}");
        assert_eq!(sim.snapshot(), before, "{hint:?}");
    }
}

// ------------------------------------------------------------------- partial data

#[test]
fn a_topic_error_keeps_the_previous_data_and_retries_after_the_backoff() {
    let mut sim = Sim::started(exact().interest(Interest::topics(["t"])));
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    // A broker that does not know the topic (yet).
    let lagging = response(
        &[1, 2, 3],
        vec![wire_topic_error("t", ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)],
    );
    sim.answer(&lagging);
    let snapshot = sim.snapshot();
    let topic = snapshot.topic("t").unwrap();
    assert_eq!(topic.error, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(topic.id, Some(Uuid::from_u128(1)));
    assert_eq!(snapshot.leader("t", 0).unwrap().epoch, Some(5));
    assert!(sim.policy.is_refresh_pending());
    // Still lagging: the backoff grows.
    let mut waits = Vec::new();
    for _ in 0..4 {
        waits.push(sim.due_in().as_millis());
        sim.advance(sim.due_in());
        assert_eq!(sim.answer(&lagging).reason, RefreshReason::Incomplete);
    }
    assert_eq!(waits, [100, 200, 400, 800]);
    sim.advance(sim.due_in());
    sim.answer(&t0(1, 5));
    assert_eq!(sim.snapshot().topic("t").unwrap().error, ErrorCode::NONE);
    assert!(!sim.policy.is_refresh_pending());
}

#[test]
fn a_topic_the_broker_does_not_know_yet_is_listed_with_its_error() {
    let mut sim = Sim::new(exact().interest(Interest::topics(["new"])));
    let answer = response(
        &[1],
        vec![wire_topic_error("new", ErrorCode::LEADER_NOT_AVAILABLE)],
    );
    assert_eq!(sim.answer(&answer).topics, Some(vec!["new".to_owned()]));
    let topic = sim.snapshot().topic("new").unwrap().clone();
    assert_eq!(topic.error, ErrorCode::LEADER_NOT_AVAILABLE);
    assert_eq!(topic.partition_count(), 0);
    assert!(sim.policy.is_refresh_pending());
    // A topic error that no refresh fixes asks for none.
    let mut sim = Sim::new(exact().interest(Interest::topics(["secret"])));
    sim.answer(&response(
        &[1],
        vec![wire_topic_error(
            "secret",
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
        )],
    ));
    assert!(!sim.policy.is_refresh_pending());
}

#[test]
fn a_partition_without_a_leader_asks_for_another_refresh() {
    let mut sim = Sim::new(exact());
    let mut answer = t0(-1, 6);
    answer.topics[0].partitions[0].error_code = ErrorCode::LEADER_NOT_AVAILABLE.code();
    sim.answer(&answer);
    assert_eq!(sim.snapshot().leader("t", 0), None);
    let p = sim.snapshot().partition("t", 0).unwrap().clone();
    assert_eq!(
        (p.leader_id, p.error),
        (None, ErrorCode::LEADER_NOT_AVAILABLE)
    );
    assert!(sim.policy.is_refresh_pending());
}

#[test]
fn inconsistent_broker_input_does_not_panic() {
    let mut sim = Sim::new(exact());
    let mut answer = response(
        &[1, 2],
        vec![
            wire_topic(
                "t",
                1,
                vec![
                    wire_partition(0, 7, 1),
                    wire_partition(0, 1, 2),
                    wire_partition(-3, 1, 1),
                ],
            ),
            // The same topic twice: the first wins.
            wire_topic("t", 1, vec![]),
            // No name, no id.
            MetadataResponseTopic {
                name: None,
                ..Default::default()
            },
        ],
    );
    answer.brokers[1].port = -1;
    answer.controller_id = -1;
    sim.answer(&answer);
    let snapshot = sim.snapshot();
    // The broker with a bad port is left out; its leadership has no leader.
    assert_eq!(
        snapshot.brokers().map(|b| b.node_id).collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(snapshot.controller_id(), None);
    let partitions: Vec<i32> = snapshot
        .topic("t")
        .unwrap()
        .partitions()
        .iter()
        .map(|p| p.partition)
        .collect();
    assert_eq!(partitions, [-3, 0]);
    assert_eq!(snapshot.leader("t", 0).unwrap().epoch, Some(2));
    assert_eq!(snapshot.topics().len(), 1);

    // An answer with no usable broker keeps the ones known, and asks again.
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    let mut answer = response(&[], vec![]);
    answer.brokers.push(MetadataResponseBroker {
        node_id: 5,
        host: String::new(),
        port: 1,
        ..Default::default()
    });
    sim.answer(&answer);
    assert_eq!(sim.snapshot().brokers().len(), 1);
    assert!(sim.policy.is_refresh_pending());
}

#[test]
fn a_leader_missing_from_the_broker_list_asks_for_another_refresh() {
    let mut sim = Sim::new(exact());
    sim.answer(&response(
        &[1],
        vec![wire_topic("t", 1, vec![wire_partition(0, 3, 1)])],
    ));
    assert_eq!(sim.snapshot().leader("t", 0), None);
    assert!(sim.policy.is_refresh_pending());
}

// ------------------------------------------------------------------- interest

#[test]
fn interest_adds_topics_with_a_refresh_and_drops_them_at_once() {
    let mut sim = Sim::started(exact().interest(Interest::topics(["t"])));
    sim.advance(Duration::from_secs(1));
    assert!(!sim.policy.add_topics(["t"]));
    assert!(sim.poll().is_none());
    assert!(sim.policy.add_topics(["u"]));
    let request = sim.poll().unwrap();
    assert_eq!(request.reason, RefreshReason::NewTopics);
    assert_eq!(request.topics, Some(vec!["t".to_owned(), "u".to_owned()]));
    let both = response(
        &[1, 2, 3],
        vec![
            wire_topic("t", 1, vec![wire_partition(0, 1, 5)]),
            wire_topic("u", 2, vec![wire_partition(0, 2, 1)]),
            // Not of interest: ignored.
            wire_topic("v", 3, vec![wire_partition(0, 2, 1)]),
        ],
    );
    sim.policy.handle_response(request.id, 12, &both, sim.now);
    assert_eq!(sim.snapshot().topics().len(), 2);
    let version = sim.snapshot().version();
    sim.policy.remove_topics(["t"]);
    assert!(sim.snapshot().topic("t").is_none());
    assert_eq!(sim.snapshot().version(), version + 1);
    assert!(!sim.policy.is_refresh_pending());
    // A topic of interest the answer leaves out is kept.
    sim.advance(Duration::from_secs(1));
    sim.policy.request_refresh(RefreshReason::Explicit);
    sim.answer(&response(&[1, 2, 3], vec![]));
    assert!(sim.snapshot().topic("u").is_some());

    sim.policy.set_interest(Interest::All);
    assert!(sim.policy.is_refresh_pending());
    sim.advance(Duration::from_secs(1));
    let request = sim.answer(&t0(1, 5));
    assert_eq!(request.topics, None);
    // Every topic: the answer is the whole list, so `u` is gone.
    assert_eq!(
        sim.snapshot()
            .topics()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>(),
        ["t"]
    );
}

#[test]
fn requests_are_built_for_the_negotiated_version() {
    let mut sim = Sim::new(exact());
    let all = sim.poll().unwrap();
    assert_eq!(all.to_request(12).topics, None);
    assert_eq!(all.to_request(1).topics, None);
    assert_eq!(all.to_request(0).topics, Some(vec![]));
    assert!(!all.to_request(12).allow_auto_topic_creation);
    assert!(all.to_request(3).allow_auto_topic_creation);
    let mut sim = Sim::new(
        exact()
            .interest(Interest::topics(["a", "b"]))
            .allow_auto_topic_creation(true),
    );
    let some = sim.poll().unwrap().to_request(12);
    let names: Vec<_> = some
        .topics
        .unwrap()
        .into_iter()
        .map(|t| t.name.unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(some.allow_auto_topic_creation);
}
