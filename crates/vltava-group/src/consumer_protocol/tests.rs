//! Scripted responses and hand-advanced `Instant`s: no network, no clock.

use std::io;
use std::time::{Duration, Instant};

use vltava_net::{DisconnectReason, NetError};
use vltava_wire::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedTopic;
use vltava_wire::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions as WireTopic,
};
use vltava_wire::messages::find_coordinator_response::Coordinator as WireCoordinator;
use vltava_wire::messages::{ConsumerGroupHeartbeatResponse, FindCoordinatorResponse};
use vltava_wire::{ApiKey, ErrorCode, Uuid, VersionRange};

use super::*;
use crate::{GroupConfig, GroupEvent, GroupProtocol, MemberIdentity, TopicPartition};

const ORDERS: Uuid = Uuid::from_u128(0x1111);
const PAYMENTS: Uuid = Uuid::from_u128(0x2222);
const BYTES: [u8; 16] = [7; 16];
const SEED: u64 = 42;

fn config() -> GroupConfig {
    let mut config = GroupConfig::new("g");
    config.protocol = GroupProtocol::Consumer;
    config
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn ok(
    epoch: i32,
    interval_ms: i32,
    target: Option<&[(Uuid, &[i32])]>,
) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        member_epoch: epoch,
        heartbeat_interval_ms: interval_ms,
        assignment: target.map(|topics| WireAssignment {
            topic_partitions: topics
                .iter()
                .map(|(id, partitions)| WireTopic {
                    topic_id: *id,
                    partitions: partitions.to_vec(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn err(code: ErrorCode) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        error_code: code.code(),
        error_message: Some(format!("scripted {code}")),
        member_epoch: -1,
        ..Default::default()
    }
}

fn found(node_id: i32, port: i32) -> FindCoordinatorResponse {
    FindCoordinatorResponse {
        node_id,
        host: "127.0.0.1".into(),
        port,
        ..Default::default()
    }
}

fn refused() -> NetError {
    NetError::Dial {
        broker: "127.0.0.1:9093".into(),
        source: io::Error::from(io::ErrorKind::ConnectionRefused),
    }
}

fn disconnected() -> NetError {
    NetError::Disconnected {
        broker: "127.0.0.1:9093".into(),
        in_flight: 1,
        reason: DisconnectReason::PeerClosed,
    }
}

fn timed_out() -> NetError {
    NetError::Timeout {
        broker: "127.0.0.1:9093".into(),
        api_key: ApiKey::ConsumerGroupHeartbeat,
        timeout: Duration::from_secs(30),
    }
}

fn owned(topics: &[(Uuid, &[i32])]) -> Option<Vec<OwnedTopic>> {
    Some(
        topics
            .iter()
            .map(|(id, partitions)| OwnedTopic {
                topic_id: *id,
                partitions: partitions.to_vec(),
                ..Default::default()
            })
            .collect(),
    )
}

/// A member and its simulated clock.
struct Sim {
    m: ConsumerMember,
    now: Instant,
}

impl Sim {
    fn new(config: GroupConfig) -> Self {
        let m = ConsumerMember::new(&config, ["orders", "payments"], BYTES, SEED).unwrap();
        Self {
            m,
            now: Instant::now(),
        }
    }

    /// A member that knows the names of both topics.
    fn with_names(config: GroupConfig) -> Self {
        let mut sim = Self::new(config);
        sim.m
            .handle_metadata([(ORDERS, "orders"), (PAYMENTS, "payments")]);
        sim
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn action(&mut self) -> Option<Action> {
        self.m.poll_action(self.now)
    }

    fn expect_find(&mut self) -> FindCoordinatorCall {
        match self.action() {
            Some(Action::FindCoordinator(call)) => call,
            other => panic!("expected a coordinator lookup, got {other:?}"),
        }
    }

    fn expect_heartbeat(&mut self) -> HeartbeatCall {
        match self.action() {
            Some(Action::Heartbeat(call)) => *call,
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }

    fn find(&mut self, node_id: i32) {
        let call = self.expect_find();
        let port = 9090 + node_id;
        assert!(
            self.m
                .handle_find_coordinator(call.id, &found(node_id, port), self.now)
        );
        assert_eq!(
            self.m.poll_event(),
            Some(GroupEvent::CoordinatorChanged {
                node_id,
                address: format!("127.0.0.1:{port}"),
            })
        );
    }

    fn answer(&mut self, call: &HeartbeatCall, response: ConsumerGroupHeartbeatResponse) {
        assert!(self.m.handle_heartbeat(call.id, &response, self.now));
    }

    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.m.poll_event()).collect()
    }

    /// Finds coordinator 1 and joins at `epoch` with `target`; returns
    /// the events of the join.
    fn join(&mut self, epoch: i32, target: &[(Uuid, &[i32])]) -> Vec<GroupEvent> {
        self.find(1);
        let call = self.expect_heartbeat();
        assert_eq!(call.request.member_epoch, 0);
        self.answer(&call, ok(epoch, 3000, Some(target)));
        self.events()
    }

    /// Joins at `epoch` owning `target` (names known), with the heartbeat
    /// that reports it answered: a stable member.
    fn stable(config: GroupConfig, epoch: i32, target: &[(Uuid, &[i32])]) -> Self {
        let mut sim = Self::with_names(config);
        sim.join(epoch, target);
        if !target.is_empty() {
            let report = sim.expect_heartbeat();
            sim.answer(&report, ok(epoch, 3000, None));
        }
        assert_eq!(sim.m.state(), MemberState::Stable);
        assert_eq!(sim.action(), None);
        sim
    }

    /// The next regular heartbeat.
    fn next_heartbeat(&mut self) -> HeartbeatCall {
        self.advance(self.m.heartbeat_interval());
        self.expect_heartbeat()
    }

    /// Drains the actions due now, answering lookups with coordinator
    /// `node_id`, until a heartbeat comes out.
    fn heartbeat_after_recovery(&mut self, node_id: i32) -> HeartbeatCall {
        loop {
            match self.action() {
                Some(Action::RefreshMetadata(_)) => {}
                Some(Action::FindCoordinator(call)) => {
                    let port = 9090 + node_id;
                    assert!(self.m.handle_find_coordinator(
                        call.id,
                        &found(node_id, port),
                        self.now
                    ));
                }
                Some(Action::Heartbeat(call)) => return *call,
                None => {
                    let deadline = self.m.deadline(self.now).expect("a deadline");
                    assert!(deadline > self.now, "nothing to do at the deadline");
                    self.now = deadline;
                }
            }
        }
    }
}

fn retry_in(event: &GroupEvent) -> Duration {
    match event {
        GroupEvent::SessionError { retry_in, .. } => *retry_in,
        other => panic!("expected a session error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- joining

#[test]
fn first_join_sends_every_field_at_epoch_zero_and_takes_the_assignment() {
    let mut config = config();
    config.remote_assignor = Some("uniform".into());
    config.group_instance_id = Some("instance-1".into());
    config.rack = Some("rack-a".into());
    config.rebalance_timeout = Duration::from_secs(120);
    let mut sim = Sim::with_names(config);
    assert_eq!(sim.m.state(), MemberState::Joining);

    let lookup = sim.expect_find();
    assert_eq!(lookup.to_request(3).key, "g");
    assert_eq!(lookup.to_request(4).coordinator_keys, vec!["g".to_owned()]);
    // One lookup at a time.
    assert_eq!(sim.action(), None);
    assert!(
        sim.m
            .handle_find_coordinator(lookup.id, &found(1, 9091), sim.now)
    );
    assert_eq!(sim.m.coordinator().unwrap().address, "127.0.0.1:9091");

    let join = sim.expect_heartbeat();
    let member_id = ConsumerMember::member_id_from_bytes(BYTES);
    assert_eq!(join.coordinator.node_id, 1);
    assert!(!join.leaving);
    let r = &join.request;
    assert_eq!(r.group_id, "g");
    assert_eq!(r.member_id, member_id);
    assert_eq!(r.member_id.len(), 22);
    assert_eq!(r.member_epoch, 0);
    assert_eq!(r.instance_id.as_deref(), Some("instance-1"));
    assert_eq!(r.rack_id.as_deref(), Some("rack-a"));
    assert_eq!(r.rebalance_timeout_ms, 120_000);
    assert_eq!(
        r.subscribed_topic_names,
        Some(vec!["orders".to_owned(), "payments".to_owned()])
    );
    assert_eq!(r.server_assignor.as_deref(), Some("uniform"));
    assert_eq!(r.topic_partitions, Some(Vec::new()));
    assert_eq!(r.subscribed_topic_regex, None);
    // One heartbeat at a time.
    assert_eq!(sim.action(), None);
    assert_eq!(sim.m.deadline(sim.now), None);

    sim.answer(&join, ok(1, 3000, Some(&[(ORDERS, &[1, 0])])));
    assert_eq!(
        sim.events(),
        vec![
            GroupEvent::CoordinatorChanged {
                node_id: 1,
                address: "127.0.0.1:9091".into()
            },
            GroupEvent::Joined {
                identity: MemberIdentity {
                    member_id: member_id.clone(),
                    generation: 1
                },
                protocol: GroupProtocol::Consumer,
                assignor: "uniform".into(),
            },
            GroupEvent::Assigned(vec![tp("orders", 0), tp("orders", 1)]),
        ]
    );
    assert_eq!(sim.m.member_epoch(), 1);
    assert_eq!(sim.m.assignment(), vec![tp("orders", 0), tp("orders", 1)]);

    // The owned partitions are reported at once, and only what changed.
    let report = sim.expect_heartbeat();
    let r = &report.request;
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.member_id, member_id);
    assert_eq!(r.topic_partitions, owned(&[(ORDERS, &[0, 1])]));
    assert_eq!(r.instance_id.as_deref(), Some("instance-1"));
    assert_eq!(r.subscribed_topic_names, None);
    assert_eq!(r.rebalance_timeout_ms, -1);
    assert_eq!(r.server_assignor, None);
    assert_eq!(r.rack_id, None);
    sim.answer(&report, ok(1, 3000, None));
    assert_eq!(sim.m.state(), MemberState::Stable);
    assert_eq!(sim.events(), vec![]);
}

#[test]
fn later_heartbeats_send_only_what_changed() {
    let mut sim = Sim::stable(config(), 3, &[(ORDERS, &[0])]);
    let hb = sim.next_heartbeat();
    let r = &hb.request;
    assert_eq!((r.member_epoch, r.member_id.len()), (3, 22));
    assert_eq!(r.subscribed_topic_names, None);
    assert_eq!(r.topic_partitions, None);
    assert_eq!(r.rebalance_timeout_ms, -1);
    assert_eq!(r.server_assignor, None);
    assert_eq!(r.instance_id, None);
    sim.answer(&hb, ok(3, 3000, None));

    // A new subscription goes out at once, alone.
    sim.m.subscribe(["orders"]);
    let hb = sim.expect_heartbeat();
    assert_eq!(
        hb.request.subscribed_topic_names,
        Some(vec!["orders".to_owned()])
    );
    assert_eq!(hb.request.topic_partitions, None);
    sim.answer(&hb, ok(3, 3000, None));
    assert_eq!(sim.action(), None);
}

#[test]
fn the_broker_default_assignor_is_reported_as_server() {
    let mut sim = Sim::with_names(config());
    let events = sim.join(1, &[]);
    assert!(events.contains(&GroupEvent::Joined {
        identity: MemberIdentity {
            member_id: ConsumerMember::member_id_from_bytes(BYTES),
            generation: 1
        },
        protocol: GroupProtocol::Consumer,
        assignor: "server".into(),
    }));
    // An empty target: nothing assigned, stable, and the join heartbeat
    // already reported the (empty) owned partitions.
    assert_eq!(sim.m.state(), MemberState::Stable);
    assert!(!events.iter().any(|e| matches!(e, GroupEvent::Assigned(_))));
}

#[test]
fn the_heartbeat_interval_comes_from_the_broker() {
    let mut config = config();
    config.heartbeat_interval = Duration::from_secs(3);
    let mut sim = Sim::with_names(config);
    sim.find(1);
    let join = sim.expect_heartbeat();
    sim.answer(&join, ok(1, 5000, Some(&[])));
    assert_eq!(sim.m.heartbeat_interval(), Duration::from_secs(5));
    let answered = sim.now;
    assert_eq!(
        sim.m.deadline(sim.now),
        Some(answered + Duration::from_secs(5))
    );
    sim.advance(Duration::from_millis(4999));
    assert_eq!(sim.action(), None);
    sim.advance(Duration::from_millis(1));
    let hb = sim.expect_heartbeat();

    // A shorter interval is honoured from the next one on.
    sim.answer(&hb, ok(1, 1000, None));
    sim.advance(Duration::from_millis(999));
    assert_eq!(sim.action(), None);
    sim.advance(Duration::from_millis(1));
    let hb = sim.expect_heartbeat();

    // An answer without a usable interval keeps the last one.
    sim.answer(&hb, ok(1, 0, None));
    assert_eq!(sim.m.heartbeat_interval(), Duration::from_secs(1));
    sim.advance(Duration::from_millis(1000));
    sim.expect_heartbeat();
}

// ---------------------------------------------------------------- reconciliation

#[test]
fn a_target_that_revokes_and_assigns_revokes_first_and_waits_for_the_acknowledgement() {
    let mut sim = Sim::stable(config(), 4, &[(ORDERS, &[0, 1])]);
    let hb = sim.next_heartbeat();
    sim.answer(&hb, ok(5, 3000, Some(&[(ORDERS, &[1]), (PAYMENTS, &[0])])));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 0)])]
    );
    // Still owned until the application lets go; nothing assigned yet.
    assert_eq!(sim.m.assignment(), vec![tp("orders", 0), tp("orders", 1)]);
    assert_eq!(sim.m.state(), MemberState::Reconciling);
    assert_eq!(sim.action(), None);

    // Heartbeats go on meanwhile, reporting nothing new.
    let hb = sim.next_heartbeat();
    assert_eq!(hb.request.member_epoch, 5);
    assert_eq!(hb.request.topic_partitions, None);
    sim.answer(&hb, ok(5, 3000, None));
    assert_eq!(sim.events(), vec![]);

    assert!(sim.m.ack_revoked());
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Assigned(vec![tp("payments", 0)])]
    );
    assert_eq!(sim.m.assignment(), vec![tp("orders", 1), tp("payments", 0)]);
    // Reported at once, without waiting for the interval.
    let report = sim.expect_heartbeat();
    assert_eq!(
        report.request.topic_partitions,
        owned(&[(ORDERS, &[1]), (PAYMENTS, &[0])])
    );
    sim.answer(&report, ok(6, 3000, None));
    assert_eq!(sim.m.state(), MemberState::Stable);
    assert_eq!(sim.m.member_epoch(), 6);
    // Nothing more to acknowledge.
    assert!(!sim.m.ack_revoked());
}

#[test]
fn a_target_that_only_revokes_reports_the_revocation_at_once() {
    let mut sim = Sim::stable(config(), 4, &[(ORDERS, &[0, 1])]);
    let hb = sim.next_heartbeat();
    sim.answer(&hb, ok(4, 3000, Some(&[(ORDERS, &[1])])));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 0)])]
    );
    assert!(sim.m.ack_revoked());
    assert_eq!(sim.events(), vec![]);
    let report = sim.expect_heartbeat();
    assert_eq!(report.request.topic_partitions, owned(&[(ORDERS, &[1])]));
}

#[test]
fn a_target_that_changes_mid_revocation_is_the_one_reconciled() {
    let mut sim = Sim::stable(config(), 4, &[(ORDERS, &[0, 1])]);
    let hb = sim.next_heartbeat();
    sim.answer(&hb, ok(5, 3000, Some(&[(ORDERS, &[1]), (PAYMENTS, &[0])])));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 0)])]
    );
    // Before the acknowledgement, the broker takes orders-1 away too.
    let hb = sim.next_heartbeat();
    sim.answer(&hb, ok(6, 3000, Some(&[(PAYMENTS, &[0])])));
    assert_eq!(sim.events(), vec![]);

    assert!(sim.m.ack_revoked());
    // Revoke first again: payments-0 waits until orders-1 is given up.
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 1)])]
    );
    assert_eq!(sim.m.assignment(), vec![tp("orders", 1)]);
    assert!(sim.m.ack_revoked());
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Assigned(vec![tp("payments", 0)])]
    );
    assert_eq!(sim.m.assignment(), vec![tp("payments", 0)]);
}

#[test]
fn unknown_topic_ids_wait_for_metadata() {
    let mut sim = Sim::new(config());
    sim.m.handle_metadata([(PAYMENTS, "payments")]);
    let events = sim.join(1, &[(ORDERS, &[0]), (PAYMENTS, &[1])]);
    // The known topic is assigned; the unknown one waits.
    assert_eq!(
        events.last(),
        Some(&GroupEvent::Assigned(vec![tp("payments", 1)]))
    );
    assert_eq!(sim.m.state(), MemberState::Reconciling);
    assert_eq!(
        sim.action(),
        Some(Action::RefreshMetadata(MetadataWanted::TopicIds(vec![
            ORDERS
        ])))
    );
    let report = sim.expect_heartbeat();
    assert_eq!(report.request.topic_partitions, owned(&[(PAYMENTS, &[1])]));
    sim.answer(&report, ok(1, 3000, None));
    // Still unknown after a heartbeat: asked again, once.
    assert_eq!(
        sim.action(),
        Some(Action::RefreshMetadata(MetadataWanted::TopicIds(vec![
            ORDERS
        ])))
    );
    assert_eq!(sim.action(), None);
    // Metadata without the topic changes nothing.
    sim.m.handle_metadata([(Uuid::from_u128(0x9999), "other")]);
    assert_eq!(sim.events(), vec![]);
    assert_eq!(sim.action(), None);

    sim.m.handle_metadata([(ORDERS, "orders")]);
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Assigned(vec![tp("orders", 0)])]
    );
    assert_eq!(sim.m.assignment(), vec![tp("orders", 0), tp("payments", 1)]);
    let report = sim.expect_heartbeat();
    assert_eq!(
        report.request.topic_partitions,
        owned(&[(ORDERS, &[0]), (PAYMENTS, &[1])])
    );
    sim.answer(&report, ok(2, 3000, None));
    assert_eq!(sim.m.state(), MemberState::Stable);
}

#[test]
fn a_metadata_snapshot_resolves_names_too() {
    let mut sim = Sim::new(config());
    sim.join(1, &[(ORDERS, &[2])]);
    assert_eq!(sim.m.assignment(), vec![]);
    let snapshot = vltava_meta::MetadataSnapshot::empty();
    sim.m.handle_snapshot(&snapshot);
    assert_eq!(sim.m.assignment(), vec![]);
    sim.m.handle_metadata(vec![(ORDERS, "orders".to_owned())]);
    assert_eq!(sim.m.assignment(), vec![tp("orders", 2)]);
}

// ---------------------------------------------------------------- coordinator trouble

#[test]
fn coordinator_moves_keep_the_membership() {
    for code in [
        ErrorCode::NOT_COORDINATOR,
        ErrorCode::COORDINATOR_NOT_AVAILABLE,
    ] {
        let mut sim = Sim::stable(config(), 7, &[(ORDERS, &[0])]);
        let id = sim.m.member_id().to_owned();
        let hb = sim.next_heartbeat();
        sim.answer(&hb, err(code));
        let events = sim.events();
        assert_eq!(events.len(), 1, "{code}: {events:?}");
        let wait = retry_in(&events[0]);
        assert!(wait > Duration::ZERO, "{code}");
        assert_eq!(sim.m.coordinator(), None, "{code}");
        assert_eq!((sim.m.member_epoch(), sim.m.member_id()), (7, id.as_str()));
        assert_eq!(sim.m.assignment(), vec![tp("orders", 0)]);

        // Looked up again after the backoff, not before.
        assert_eq!(sim.action(), None, "{code}");
        assert_eq!(sim.m.deadline(sim.now), Some(sim.now + wait));
        sim.advance(wait);
        sim.find(2);
        // The new coordinator hears everything again, same member, same epoch.
        let hb = sim.expect_heartbeat();
        assert_eq!(hb.coordinator.node_id, 2);
        assert_eq!(hb.request.member_epoch, 7);
        assert_eq!(hb.request.member_id, id);
        assert_eq!(hb.request.topic_partitions, owned(&[(ORDERS, &[0])]));
        assert!(hb.request.subscribed_topic_names.is_some());
        sim.answer(&hb, ok(7, 3000, None));
        assert_eq!(sim.events(), vec![], "{code}");
        assert_eq!(sim.m.state(), MemberState::Stable);
    }
}

#[test]
fn a_loading_coordinator_is_asked_again_after_the_backoff() {
    let mut sim = Sim::stable(config(), 7, &[(ORDERS, &[0])]);
    let hb = sim.next_heartbeat();
    sim.answer(&hb, err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS));
    let events = sim.events();
    assert_eq!(events.len(), 1);
    let wait = retry_in(&events[0]);
    // Recovery says retry: same coordinator, no lookup.
    assert_eq!(sim.m.coordinator().map(|c| c.node_id), Some(1));
    assert_eq!(sim.action(), None);
    sim.advance(wait);
    let hb = sim.expect_heartbeat();
    assert_eq!(hb.coordinator.node_id, 1);
    assert_eq!(hb.request.member_epoch, 7);
    assert_eq!(hb.request.topic_partitions, owned(&[(ORDERS, &[0])]));
    sim.answer(&hb, ok(7, 3000, None));
    assert_eq!(sim.m.assignment(), vec![tp("orders", 0)]);
    assert_eq!(sim.events(), vec![]);
}

#[test]
fn a_transport_error_while_stable_finds_the_coordinator_again_and_refreshes_metadata() {
    for error in [disconnected(), timed_out(), refused()] {
        let mut sim = Sim::stable(config(), 2, &[(ORDERS, &[0, 1])]);
        let hb = sim.next_heartbeat();
        assert!(sim.m.handle_failure(hb.id, &error, sim.now));
        let events = sim.events();
        assert_eq!(events.len(), 1, "{error}");
        let wait = retry_in(&events[0]);
        assert_eq!(sim.m.coordinator(), None);
        assert_eq!(
            sim.action(),
            Some(Action::RefreshMetadata(MetadataWanted::Cluster)),
            "{error}"
        );
        assert_eq!(sim.action(), None);
        sim.advance(wait);
        sim.find(1);
        let hb = sim.expect_heartbeat();
        assert_eq!(hb.request.member_epoch, 2);
        sim.answer(&hb, ok(2, 3000, None));
        assert_eq!(sim.m.assignment(), vec![tp("orders", 0), tp("orders", 1)]);
        assert_eq!(sim.events(), vec![]);
    }
}

#[test]
fn coordinator_trouble_mid_reconciliation_keeps_the_membership_and_the_revocation() {
    enum Trouble {
        Code(ErrorCode),
        Net(fn() -> NetError),
    }
    for trouble in [
        Trouble::Code(ErrorCode::NOT_COORDINATOR),
        Trouble::Code(ErrorCode::COORDINATOR_NOT_AVAILABLE),
        Trouble::Code(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS),
        Trouble::Net(disconnected),
        Trouble::Net(refused),
    ] {
        let mut sim = Sim::stable(config(), 4, &[(ORDERS, &[0, 1])]);
        let hb = sim.next_heartbeat();
        sim.answer(&hb, ok(5, 3000, Some(&[(ORDERS, &[1]), (PAYMENTS, &[0])])));
        assert_eq!(
            sim.events(),
            vec![GroupEvent::Revoked(vec![tp("orders", 0)])]
        );

        let hb = sim.next_heartbeat();
        match &trouble {
            Trouble::Code(code) => sim.answer(&hb, err(*code)),
            Trouble::Net(error) => assert!(sim.m.handle_failure(hb.id, &error(), sim.now)),
        }
        let events = sim.events();
        assert_eq!(events.len(), 1, "{events:?}");
        retry_in(&events[0]);
        assert_eq!(sim.m.member_epoch(), 5);

        // The application finishes its revocation during the outage.
        assert!(sim.m.ack_revoked());
        assert_eq!(
            sim.events(),
            vec![GroupEvent::Assigned(vec![tp("payments", 0)])]
        );

        let hb = sim.heartbeat_after_recovery(1);
        assert_eq!(hb.request.member_epoch, 5);
        assert_eq!(
            hb.request.topic_partitions,
            owned(&[(ORDERS, &[1]), (PAYMENTS, &[0])])
        );
        sim.answer(&hb, ok(6, 3000, None));
        let events = sim.events();
        assert!(
            !events.iter().any(|e| matches!(e, GroupEvent::Lost(_))),
            "{events:?}"
        );
        assert_eq!(sim.m.state(), MemberState::Stable);
    }
}

// ---------------------------------------------------------------- fencing

#[test]
fn unknown_member_and_fenced_epoch_lose_the_partitions_and_rejoin_at_epoch_zero() {
    for code in [ErrorCode::UNKNOWN_MEMBER_ID, ErrorCode::FENCED_MEMBER_EPOCH] {
        let mut sim = Sim::stable(config(), 5, &[(ORDERS, &[0]), (PAYMENTS, &[3])]);
        let id = sim.m.member_id().to_owned();
        let hb = sim.next_heartbeat();
        sim.answer(&hb, err(code));
        assert_eq!(
            sim.events(),
            vec![GroupEvent::Lost(vec![tp("orders", 0), tp("payments", 3)])],
            "{code}"
        );
        assert_eq!(sim.m.assignment(), vec![]);
        assert_eq!(sim.m.member_epoch(), 0);
        assert_eq!(sim.m.state(), MemberState::Joining);

        // Rejoin at once, same member id, every field, nothing owned.
        let join = sim.expect_heartbeat();
        assert_eq!(join.request.member_epoch, 0, "{code}");
        assert_eq!(join.request.member_id, id, "{code}");
        assert_eq!(join.request.topic_partitions, Some(Vec::new()));
        assert!(join.request.subscribed_topic_names.is_some());
        assert_eq!(join.request.rebalance_timeout_ms, 300_000);
        sim.answer(&join, ok(8, 3000, Some(&[(ORDERS, &[0])])));
        assert_eq!(
            sim.events(),
            vec![
                GroupEvent::Joined {
                    identity: MemberIdentity {
                        member_id: id.clone(),
                        generation: 8
                    },
                    protocol: GroupProtocol::Consumer,
                    assignor: "server".into(),
                },
                GroupEvent::Assigned(vec![tp("orders", 0)]),
            ],
            "{code}"
        );
    }
}

#[test]
fn fenced_mid_revocation_loses_everything_and_ignores_the_late_acknowledgement() {
    // The Revoked event not taken yet: it turns into the Lost.
    let mut sim = Sim::stable(config(), 4, &[(ORDERS, &[0, 1])]);
    let hb = sim.next_heartbeat();
    sim.answer(&hb, ok(5, 3000, Some(&[(ORDERS, &[1])])));
    let hb = sim.next_heartbeat();
    sim.answer(&hb, err(ErrorCode::FENCED_MEMBER_EPOCH));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Lost(vec![tp("orders", 0), tp("orders", 1)])]
    );
    assert!(!sim.m.ack_revoked());
    assert_eq!(sim.m.assignment(), vec![]);

    // The Revoked event already taken: then the Lost.
    let mut sim = Sim::stable(config(), 4, &[(ORDERS, &[0, 1])]);
    let hb = sim.next_heartbeat();
    sim.answer(&hb, ok(5, 3000, Some(&[(ORDERS, &[1])])));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 0)])]
    );
    let hb = sim.next_heartbeat();
    sim.answer(&hb, err(ErrorCode::UNKNOWN_MEMBER_ID));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Lost(vec![tp("orders", 0), tp("orders", 1)])]
    );
    assert!(!sim.m.ack_revoked());
    // The rejoin starts from nothing.
    let join = sim.expect_heartbeat();
    assert_eq!(join.request.member_epoch, 0);
    assert_eq!(join.request.topic_partitions, Some(Vec::new()));
}

#[test]
fn fenced_while_joining_backs_off() {
    let mut sim = Sim::with_names(config());
    sim.find(1);
    let join = sim.expect_heartbeat();
    sim.answer(&join, err(ErrorCode::UNKNOWN_MEMBER_ID));
    assert_eq!(sim.events(), vec![]);
    assert_eq!(sim.action(), None);
    let deadline = sim.m.deadline(sim.now).unwrap();
    assert!(deadline > sim.now);
    sim.now = deadline;
    assert_eq!(sim.expect_heartbeat().request.member_epoch, 0);
}

// ---------------------------------------------------------------- never giving up

#[test]
fn connection_refused_forever_backs_off_up_to_the_cap_and_recovers() {
    let mut config = config();
    config.retry_backoff = Duration::from_millis(100);
    config.retry_backoff_max = Duration::from_secs(1);
    let mut sim = Sim::with_names(config.clone());
    let mut waits = Vec::new();
    let mut refreshes = 0;
    for attempt in 0..30 {
        // Every other attempt, the coordinator is found but refuses the
        // heartbeat; otherwise the lookup itself is refused.
        let id = loop {
            match sim.action() {
                Some(Action::RefreshMetadata(MetadataWanted::Cluster)) => refreshes += 1,
                Some(Action::FindCoordinator(call)) if attempt % 2 == 1 => {
                    assert!(
                        sim.m
                            .handle_find_coordinator(call.id, &found(1, 9091), sim.now)
                    );
                }
                Some(Action::FindCoordinator(call)) => break call.id,
                Some(Action::Heartbeat(call)) => {
                    assert_eq!(call.request.member_epoch, 0);
                    break call.id;
                }
                other => panic!("attempt {attempt}: unexpected {other:?}"),
            }
        };
        assert!(sim.m.handle_failure(id, &refused(), sim.now));
        let events: Vec<GroupEvent> = sim
            .events()
            .into_iter()
            .filter(|e| !matches!(e, GroupEvent::CoordinatorChanged { .. }))
            .collect();
        assert_eq!(events.len(), 1, "attempt {attempt}: {events:?}");
        let GroupEvent::SessionError { cause, retry_in } = &events[0] else {
            panic!("attempt {attempt}: {events:?}");
        };
        assert!(
            cause.contains("refused") || cause.contains("connect"),
            "{cause}"
        );
        waits.push(*retry_in);
        assert!(sim.m.outcome().is_none());
        assert_eq!(sim.m.state(), MemberState::Joining);
        // Nothing before the wait is over.
        assert_eq!(
            sim.action(),
            Some(Action::RefreshMetadata(MetadataWanted::Cluster))
        );
        refreshes += 1;
        assert_eq!(sim.action(), None);
        sim.advance(*retry_in);
    }
    assert_eq!(refreshes, 30, "a metadata refresh between attempts");
    let max = Duration::from_secs(1);
    assert!(waits.iter().all(|w| *w <= max), "{waits:?}");
    assert!(waits[0] >= Duration::from_millis(80) && waits[0] < Duration::from_millis(120));
    for pair in waits[..5].windows(2) {
        assert!(pair[1] > pair[0], "growing: {waits:?}");
    }
    assert!(
        waits[5..].iter().all(|w| *w >= max.mul_f64(0.8)),
        "{waits:?}"
    );
    // The jitter is seeded: the same seed waits the same.
    let mut again = Sim::with_names(config);
    let call = again.expect_find();
    again.m.handle_failure(call.id, &refused(), again.now);
    assert_eq!(retry_in(&again.events()[0]), waits[0]);

    // The broker comes back.
    let hb = sim.heartbeat_after_recovery(1);
    assert_eq!(hb.request.member_epoch, 0);
    sim.answer(&hb, ok(1, 3000, Some(&[(ORDERS, &[0])])));
    let events = sim.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::Joined { .. })),
        "{events:?}"
    );
    assert_eq!(sim.m.assignment(), vec![tp("orders", 0)]);
    // And the backoff starts over.
    let hb = sim.expect_heartbeat();
    assert!(sim.m.handle_failure(hb.id, &refused(), sim.now));
    let wait = retry_in(&sim.events()[0]);
    assert!(wait < Duration::from_millis(120), "{wait:?}");
}

// ---------------------------------------------------------------- the end

#[test]
fn fatal_codes_end_the_member_with_a_typed_error_and_no_more_requests() {
    for code in [
        ErrorCode::GROUP_AUTHORIZATION_FAILED,
        ErrorCode::INVALID_REQUEST,
        ErrorCode::GROUP_MAX_SIZE_REACHED,
        ErrorCode::UNSUPPORTED_ASSIGNOR,
        ErrorCode::UNRELEASED_INSTANCE_ID,
        ErrorCode::FENCED_INSTANCE_ID,
        ErrorCode::from_code(9999),
    ] {
        let mut sim = Sim::stable(config(), 3, &[(ORDERS, &[0])]);
        let hb = sim.next_heartbeat();
        sim.answer(&hb, err(code));
        assert_eq!(
            sim.events(),
            vec![GroupEvent::Lost(vec![tp("orders", 0)])],
            "{code}"
        );
        let Some(Outcome::Failed(error)) = sim.m.outcome().cloned() else {
            panic!("{code}: {:?}", sim.m.outcome());
        };
        assert_eq!(error.code(), Some(code));
        assert!(error.to_string().contains(&code.to_string()), "{error}");
        assert!(error.to_string().contains("`g`"), "{error}");
        assert_eq!(sim.m.state(), MemberState::Finished);
        sim.advance(Duration::from_secs(3600));
        assert_eq!(sim.action(), None, "{code}");
        assert_eq!(sim.m.deadline(sim.now), None);
        assert!(!sim.m.handle_heartbeat(hb.id, &ok(3, 3000, None), sim.now));
    }
}

#[test]
fn fatal_lookup_and_transport_errors_end_the_member_too() {
    let mut sim = Sim::new(config());
    let call = sim.expect_find();
    let refused_lookup = FindCoordinatorResponse {
        error_code: ErrorCode::GROUP_AUTHORIZATION_FAILED.code(),
        node_id: -1,
        ..Default::default()
    };
    assert!(
        sim.m
            .handle_find_coordinator(call.id, &refused_lookup, sim.now)
    );
    assert!(matches!(
        sim.m.outcome(),
        Some(Outcome::Failed(MemberError::Broker {
            code: ErrorCode::GROUP_AUTHORIZATION_FAILED,
            ..
        }))
    ));
    assert_eq!(sim.action(), None);
    assert_eq!(sim.events(), vec![]);

    let mut sim = Sim::new(config());
    sim.find(1);
    let join = sim.expect_heartbeat();
    let denied = NetError::Authentication {
        broker: "127.0.0.1:9091".into(),
        mechanism: "PLAIN".into(),
        message: "Authentication failed".into(),
    };
    assert!(sim.m.handle_failure(join.id, &denied, sim.now));
    let Some(Outcome::Failed(error @ MemberError::Transport { .. })) = sim.m.outcome() else {
        panic!("{:?}", sim.m.outcome());
    };
    assert_eq!(error.code(), None);
    assert_eq!(sim.action(), None);
}

#[test]
fn an_unsupported_heartbeat_falls_back_to_classic() {
    // The broker answers UNSUPPORTED_VERSION.
    let mut sim = Sim::new(config());
    sim.find(1);
    let join = sim.expect_heartbeat();
    sim.answer(&join, err(ErrorCode::UNSUPPORTED_VERSION));
    assert!(matches!(
        sim.m.outcome(),
        Some(Outcome::FallBackToClassic { .. })
    ));
    assert_eq!(sim.action(), None);
    assert_eq!(sim.events(), vec![]);

    // The connection says the broker lacks the API (ApiVersions).
    let mut sim = Sim::new(config());
    sim.find(1);
    let join = sim.expect_heartbeat();
    let missing = NetError::UnsupportedApi {
        broker: "127.0.0.1:9091".into(),
        api_key: ApiKey::ConsumerGroupHeartbeat,
        ours: VersionRange::new(0, 0),
        theirs: None,
    };
    assert!(sim.m.handle_failure(join.id, &missing, sim.now));
    let Some(Outcome::FallBackToClassic { reason }) = sim.m.outcome() else {
        panic!("{:?}", sim.m.outcome());
    };
    assert!(reason.contains("ConsumerGroupHeartbeat"), "{reason}");
    assert_eq!(sim.action(), None);

    // The driver says so itself.
    let mut sim = Sim::new(config());
    sim.m
        .heartbeat_unsupported("ApiVersions lists no ConsumerGroupHeartbeat");
    assert!(matches!(
        sim.m.outcome(),
        Some(Outcome::FallBackToClassic { .. })
    ));
    assert_eq!(sim.action(), None);

    // Another API missing is not a reason to fall back: it is fatal.
    let mut sim = Sim::new(config());
    let call = sim.expect_find();
    let missing = NetError::UnsupportedApi {
        broker: "127.0.0.1:9091".into(),
        api_key: ApiKey::FindCoordinator,
        ours: VersionRange::new(0, 6),
        theirs: None,
    };
    assert!(sim.m.handle_failure(call.id, &missing, sim.now));
    assert!(matches!(sim.m.outcome(), Some(Outcome::Failed(_))));
}

#[test]
fn a_dynamic_member_revokes_then_leaves_with_epoch_minus_one() {
    let mut sim = Sim::stable(config(), 9, &[(ORDERS, &[0])]);
    sim.m.leave();
    assert_eq!(sim.m.state(), MemberState::Leaving);
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 0)])]
    );
    // Nothing leaves before the application let go.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.action(), None);
    assert!(sim.m.ack_revoked());
    let leave = sim.expect_heartbeat();
    assert!(leave.leaving);
    assert_eq!(leave.request.member_epoch, LEAVE_EPOCH);
    assert_eq!(leave.request.member_id, sim.m.member_id());
    assert_eq!(leave.request.instance_id, None);
    assert_eq!(sim.events(), vec![GroupEvent::Left]);
    assert_eq!(sim.m.outcome(), Some(&Outcome::Left));
    assert_eq!(sim.action(), None);
    // Its answer is not needed.
    assert!(!sim.m.handle_heartbeat(leave.id, &ok(-1, 0, None), sim.now));
}

#[test]
fn a_static_member_leaves_with_epoch_minus_two() {
    let mut config = config();
    config.group_instance_id = Some("instance-1".into());
    let mut sim = Sim::stable(config, 9, &[]);
    sim.m.leave();
    // Nothing owned: nothing to revoke.
    let leave = sim.expect_heartbeat();
    assert_eq!(leave.request.member_epoch, STATIC_LEAVE_EPOCH);
    assert_eq!(leave.request.instance_id.as_deref(), Some("instance-1"));
    assert_eq!(sim.events(), vec![GroupEvent::Left]);
}

#[test]
fn leaving_mid_revocation_revokes_the_rest_after_the_acknowledgement() {
    let mut sim = Sim::stable(config(), 4, &[(ORDERS, &[0, 1])]);
    let hb = sim.next_heartbeat();
    sim.answer(&hb, ok(5, 3000, Some(&[(ORDERS, &[1]), (PAYMENTS, &[0])])));
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 0)])]
    );
    sim.m.leave();
    assert!(sim.m.ack_revoked());
    // Nothing assigned on the way out; the rest is revoked.
    assert_eq!(
        sim.events(),
        vec![GroupEvent::Revoked(vec![tp("orders", 1)])]
    );
    assert!(sim.m.ack_revoked());
    let leave = sim.expect_heartbeat();
    assert_eq!(leave.request.member_epoch, LEAVE_EPOCH);
    assert_eq!(sim.events(), vec![GroupEvent::Left]);
}

#[test]
fn leaving_before_joining_ends_at_once() {
    let mut sim = Sim::new(config());
    sim.m.leave();
    assert_eq!(sim.events(), vec![GroupEvent::Left]);
    assert_eq!(sim.m.outcome(), Some(&Outcome::Left));
    assert_eq!(sim.action(), None);
}

// ---------------------------------------------------------------- stale answers

#[test]
fn stale_answers_never_change_state() {
    let mut sim = Sim::stable(config(), 5, &[(ORDERS, &[0])]);
    let hb = sim.next_heartbeat();
    // An answer to a request that is not in flight.
    let bogus = RequestId(hb.id.0 + 100);
    assert!(
        !sim.m
            .handle_heartbeat(bogus, &ok(9, 3000, Some(&[(PAYMENTS, &[0])])), sim.now)
    );
    assert!(
        !sim.m
            .handle_heartbeat(bogus, &err(ErrorCode::FENCED_MEMBER_EPOCH), sim.now)
    );
    assert!(!sim.m.handle_failure(bogus, &refused(), sim.now));
    assert!(
        !sim.m
            .handle_find_coordinator(bogus, &found(3, 9093), sim.now)
    );
    assert_eq!(sim.events(), vec![]);
    assert_eq!(
        (sim.m.member_epoch(), sim.m.assignment()),
        (5, vec![tp("orders", 0)])
    );

    // An answer for an older epoch than the member's: ignored.
    sim.answer(&hb, ok(4, 3000, Some(&[(PAYMENTS, &[0])])));
    assert_eq!(sim.events(), vec![]);
    assert_eq!(
        (sim.m.member_epoch(), sim.m.assignment()),
        (5, vec![tp("orders", 0)])
    );
    assert_eq!(sim.m.state(), MemberState::Stable);

    // A heartbeat that timed out, answered late after the member moved on.
    let lost_in_transit = sim.next_heartbeat();
    assert!(
        sim.m
            .handle_failure(lost_in_transit.id, &timed_out(), sim.now)
    );
    sim.events();
    let hb = sim.heartbeat_after_recovery(1);
    sim.answer(&hb, err(ErrorCode::FENCED_MEMBER_EPOCH));
    assert_eq!(
        sim.events(),
        vec![
            GroupEvent::CoordinatorChanged {
                node_id: 1,
                address: "127.0.0.1:9091".into()
            },
            GroupEvent::Lost(vec![tp("orders", 0)])
        ]
    );
    let rejoin = sim.expect_heartbeat();
    assert_eq!(rejoin.request.member_epoch, 0);
    // Answers to the requests from before the rejoin change nothing.
    for old in [lost_in_transit.id, hb.id] {
        assert!(
            !sim.m
                .handle_heartbeat(old, &ok(6, 3000, Some(&[(ORDERS, &[0])])), sim.now)
        );
        assert!(!sim.m.handle_failure(old, &refused(), sim.now));
    }
    assert_eq!(sim.events(), vec![]);
    assert_eq!((sim.m.member_epoch(), sim.m.assignment()), (0, vec![]));
    assert_eq!(sim.m.state(), MemberState::Joining);
    // The rejoin itself is taken.
    sim.answer(&rejoin, ok(6, 3000, Some(&[(PAYMENTS, &[1])])));
    assert_eq!(sim.m.assignment(), vec![tp("payments", 1)]);
}

// ---------------------------------------------------------------- odd input

#[test]
fn broker_nonsense_never_panics_nor_assigns_garbage() {
    // Unusable coordinators: retried, never used.
    for (node_id, port) in [(-1, 9092), (1, 0), (1, 70_000), (1, -5)] {
        let mut sim = Sim::new(config());
        let call = sim.expect_find();
        assert!(
            sim.m
                .handle_find_coordinator(call.id, &found(node_id, port), sim.now)
        );
        assert_eq!(sim.m.coordinator(), None);
        retry_in(&sim.events()[0]);
    }
    let mut sim = Sim::new(config());
    let call = sim.expect_find();
    let no_host = FindCoordinatorResponse {
        node_id: 1,
        port: 9092,
        ..Default::default()
    };
    sim.m.handle_find_coordinator(call.id, &no_host, sim.now);
    assert_eq!(sim.m.coordinator(), None);

    // Negative partitions and the null topic id are dropped; the largest
    // interval is fine; an empty member id in the answer keeps ours.
    let mut sim = Sim::with_names(config());
    sim.find(1);
    let join = sim.expect_heartbeat();
    let mut answer = ok(
        1,
        i32::MAX,
        Some(&[(ORDERS, &[-1, 0, i32::MIN]), (Uuid::ZERO, &[0])]),
    );
    answer.member_id = Some(String::new());
    sim.answer(&join, answer);
    assert_eq!(sim.m.assignment(), vec![tp("orders", 0)]);
    assert_eq!(
        sim.m.member_id(),
        ConsumerMember::member_id_from_bytes(BYTES)
    );
    let report = sim.expect_heartbeat();
    sim.answer(&report, ok(1, -7, None));
    assert_eq!(
        sim.m.heartbeat_interval(),
        Duration::from_millis(i32::MAX as u64)
    );

    // A join answered with no usable epoch: still joining, after a backoff.
    let mut sim = Sim::with_names(config());
    sim.find(1);
    let join = sim.expect_heartbeat();
    sim.answer(&join, ok(-3, 3000, Some(&[(ORDERS, &[0])])));
    assert_eq!(sim.m.state(), MemberState::Joining);
    assert_eq!(sim.m.assignment(), vec![]);
    assert_eq!(sim.events(), vec![]);
    assert_eq!(sim.action(), None);
    let deadline = sim.m.deadline(sim.now).unwrap();
    sim.now = deadline;
    assert_eq!(sim.expect_heartbeat().request.member_epoch, 0);
}

#[test]
fn a_batched_lookup_answer_is_read_for_this_group() {
    let mut sim = Sim::new(config());
    let call = sim.expect_find();
    let answer = FindCoordinatorResponse {
        coordinators: vec![
            WireCoordinator {
                key: "other".into(),
                node_id: 9,
                host: "10.0.0.9".into(),
                port: 9092,
                ..Default::default()
            },
            WireCoordinator {
                key: "g".into(),
                node_id: 2,
                host: "127.0.0.1".into(),
                port: 9092,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    assert!(sim.m.handle_find_coordinator(call.id, &answer, sim.now));
    assert_eq!(sim.m.coordinator().unwrap().address, "127.0.0.1:9092");
    assert_eq!(sim.m.coordinator().unwrap().node_id, 2);
}

#[test]
fn member_ids_are_deterministic_and_well_formed() {
    let a = ConsumerMember::member_id_from_bytes([0xff; 16]);
    assert_eq!(a, ConsumerMember::member_id_from_bytes([0xff; 16]));
    assert_eq!(a.len(), 22);
    assert!(!a.starts_with('-'));
    let zero = ConsumerMember::member_id_from_bytes([0; 16]);
    assert_ne!(zero, Uuid::ZERO.to_string());
    assert_ne!(zero, Uuid::from_u128(1).to_string());
    assert_ne!(a, ConsumerMember::member_id_from_bytes([0xfe; 16]));
}

#[test]
fn an_invalid_configuration_is_refused() {
    let error = ConsumerMember::new(&GroupConfig::new(""), ["t"], BYTES, SEED).unwrap_err();
    assert!(matches!(error, MemberError::Config(_)));
    assert!(error.to_string().contains("group id"));
}

// ---------------------------------------------------------------- any script

mod any_script {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const TOPICS: [(Uuid, &str); 3] = [
        (ORDERS, "orders"),
        (PAYMENTS, "payments"),
        (Uuid::from_u128(0x3333), "refunds"),
    ];

    const CODES: [ErrorCode; 9] = [
        ErrorCode::NOT_COORDINATOR,
        ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode::UNKNOWN_MEMBER_ID,
        ErrorCode::FENCED_MEMBER_EPOCH,
        ErrorCode::STALE_MEMBER_EPOCH,
        ErrorCode::REQUEST_TIMED_OUT,
        ErrorCode::NETWORK_EXCEPTION,
        ErrorCode::UNKNOWN_TOPIC_ID,
    ];

    #[derive(Debug, Clone)]
    enum Step {
        Advance(u64),
        Poll,
        HeartbeatOk {
            epoch_step: i32,
            interval_ms: i32,
            target: Option<Vec<(usize, Vec<i32>)>>,
        },
        HeartbeatError(usize),
        HeartbeatFails,
        LookupOk(i32),
        LookupFails,
        StaleAnswer,
        Ack,
        Names(usize),
        Leave,
    }

    fn step() -> impl Strategy<Value = Step> {
        let target = proptest::option::of(proptest::collection::vec(
            (0..3usize, proptest::collection::vec(-1..4i32, 0..4)),
            0..3,
        ));
        prop_oneof![
            3 => (0..5000u64).prop_map(Step::Advance),
            6 => Just(Step::Poll),
            6 => (-1..3i32, -10..6000i32, target).prop_map(|(epoch_step, interval_ms, target)| {
                Step::HeartbeatOk { epoch_step, interval_ms, target }
            }),
            2 => (0..CODES.len()).prop_map(Step::HeartbeatError),
            1 => Just(Step::HeartbeatFails),
            3 => (-1..3i32).prop_map(Step::LookupOk),
            1 => Just(Step::LookupFails),
            1 => Just(Step::StaleAnswer),
            3 => Just(Step::Ack),
            1 => (0..3usize).prop_map(Step::Names),
            1 => (0..40u8).prop_map(|n| if n == 0 { Step::Leave } else { Step::Poll }),
        ]
    }

    proptest! {
        /// Whatever the broker and the network do (retriable trouble and
        /// fencing only), the member never panics, keeps its member id,
        /// never gives up, and owns nothing but what the latest accepted
        /// target holds, apart from partitions still being revoked.
        #[test]
        fn the_member_only_owns_what_the_latest_target_holds(
            steps in proptest::collection::vec(step(), 1..120),
        ) {
            let mut sim = Sim::new(config());
            sim.m.handle_metadata(TOPICS[..2].iter().map(|(id, name)| (*id, *name)));
            let id = sim.m.member_id().to_owned();
            let mut heartbeat: Option<HeartbeatCall> = None;
            let mut lookup: Option<RequestId> = None;
            let mut old: Vec<RequestId> = Vec::new();
            // The latest target the member took, by name.
            let mut target: BTreeSet<TopicPartition> = BTreeSet::new();
            let mut revoking: BTreeSet<TopicPartition> = BTreeSet::new();
            // Partitions a target dropped while a revocation was waiting
            // for its acknowledgement: as in the Java client, that target
            // is reconciled (and they are revoked) once the current
            // revocation is done, so until then they are still owned.
            let mut queued: BTreeSet<TopicPartition> = BTreeSet::new();
            #[derive(Clone, Copy)]
            enum StepKind {
                Poll,
                Other,
            }
            let mut left = false;
            for step in steps {
                let step_kind = if matches!(step, Step::Poll) { StepKind::Poll } else { StepKind::Other };
                match step {
                    Step::Advance(ms) => sim.advance(Duration::from_millis(ms)),
                    Step::Poll => {
                        while let Some(action) = sim.action() {
                            match action {
                                Action::FindCoordinator(call) => lookup = Some(call.id),
                                Action::Heartbeat(call) => {
                                    prop_assert_eq!(&call.request.member_id, &id);
                                    if let Some(previous) = heartbeat.replace(*call) {
                                        old.push(previous.id);
                                    }
                                }
                                Action::RefreshMetadata(_) => {}
                            }
                        }
                    }
                    Step::HeartbeatOk { epoch_step, interval_ms, target: t } => {
                        if let Some(call) = heartbeat.take() {
                            old.push(call.id);
                            let epoch = sim.m.member_epoch().max(0) + epoch_step;
                            let wire: Option<Vec<(Uuid, Vec<i32>)>> = t.map(|t| {
                                t.into_iter().map(|(i, ps)| (TOPICS[i].0, ps)).collect()
                            });
                            let as_slices: Option<Vec<(Uuid, &[i32])>> = wire
                                .as_ref()
                                .map(|w| w.iter().map(|(id, ps)| (*id, ps.as_slice())).collect());
                            let response = ok(epoch, interval_ms, as_slices.as_deref());
                            let before = sim.m.member_epoch();
                            sim.m.handle_heartbeat(call.id, &response, sim.now);
                            let taken = epoch > 0 && epoch >= before && sim.m.member_epoch() == epoch;
                            if let (true, Some(w)) = (taken, wire) {
                                let owned_now: BTreeSet<TopicPartition> =
                                    sim.m.assignment().into_iter().collect();
                                if !revoking.is_empty() {
                                    queued.extend(owned_now.iter().cloned());
                                }
                                target = w
                                    .iter()
                                    .flat_map(|(id, ps)| {
                                        let name = TOPICS.iter().find(|t| t.0 == *id).unwrap().1;
                                        ps.iter().filter(|p| **p >= 0).map(move |p| tp(name, *p))
                                    })
                                    .collect();
                            }
                        }
                    }
                    Step::HeartbeatError(i) => {
                        if let Some(call) = heartbeat.take() {
                            old.push(call.id);
                            sim.m.handle_heartbeat(call.id, &err(CODES[i]), sim.now);
                        }
                    }
                    Step::HeartbeatFails => {
                        if let Some(call) = heartbeat.take() {
                            old.push(call.id);
                            sim.m.handle_failure(call.id, &refused(), sim.now);
                        }
                    }
                    Step::LookupOk(node_id) => {
                        if let Some(id) = lookup.take() {
                            old.push(id);
                            sim.m.handle_find_coordinator(id, &found(node_id, 9092), sim.now);
                        }
                    }
                    Step::LookupFails => {
                        if let Some(id) = lookup.take() {
                            old.push(id);
                            sim.m.handle_failure(id, &disconnected(), sim.now);
                        }
                    }
                    Step::StaleAnswer => {
                        if let Some(stale) = old.first().copied() {
                            let live = heartbeat.as_ref().map(|c| c.id);
                            if Some(stale) != live && Some(stale) != lookup {
                                let before = (sim.m.member_epoch(), sim.m.assignment());
                                prop_assert!(!sim.m.handle_heartbeat(stale, &ok(99, 1, Some(&[(ORDERS, &[3])])), sim.now));
                                prop_assert!(!sim.m.handle_failure(stale, &refused(), sim.now));
                                prop_assert_eq!(before, (sim.m.member_epoch(), sim.m.assignment()));
                            }
                        }
                    }
                    Step::Ack => {
                        if sim.m.ack_revoked() {
                            revoking.clear();
                        }
                    }
                    Step::Names(i) => sim.m.handle_metadata([(TOPICS[i].0, TOPICS[i].1)]),
                    Step::Leave => sim.m.leave(),
                }
                while let Some(event) = sim.m.poll_event() {
                    match event {
                        GroupEvent::Revoked(ps) => revoking.extend(ps),
                        GroupEvent::Lost(_) => {
                            revoking.clear();
                            target.clear();
                            queued.clear();
                        }
                        GroupEvent::Left => left = true,
                        _ => {}
                    }
                }
                if sim.m.member_epoch() <= 0 {
                    target.clear();
                }
                let owned_now: BTreeSet<TopicPartition> = sim.m.assignment().into_iter().collect();
                queued.retain(|tp| {
                    owned_now.contains(tp) && !target.contains(tp) && !revoking.contains(tp)
                });
                // Once the revocation in progress is acknowledged and the
                // member ran again, what it queued is being revoked.
                if matches!(step_kind, StepKind::Poll) && revoking.is_empty() && !left {
                    prop_assert!(
                        queued.is_empty(),
                        "{:?} stayed owned after the revocation before them ended",
                        queued
                    );
                }
                for owned in &owned_now {
                    prop_assert!(
                        target.contains(owned) || revoking.contains(owned) || queued.contains(owned),
                        "{} is owned, but neither in the target {:?}, being revoked {:?}, nor waiting for the revocation in progress {:?}",
                        owned, target, revoking, queued
                    );
                }
                prop_assert_eq!(sim.m.member_id(), id.as_str());
                match sim.m.outcome() {
                    None => prop_assert!(!left),
                    Some(Outcome::Left) => prop_assert!(left),
                    Some(other) => prop_assert!(false, "gave up: {:?}", other),
                }
            }
        }
    }
}
