//! Scripted tests of [`ClassicMember`]: responses written by hand, time
//! advanced by hand. No network, no tokio.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vltava_net::{NetError, Recovery};
use vltava_wire::messages::find_coordinator_response::Coordinator as WireCoordinator;
use vltava_wire::messages::join_group_response::JoinGroupResponseMember;
use vltava_wire::messages::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse,
    SyncGroupResponse,
};
use vltava_wire::{ApiKey, ErrorCode, VersionRange};

use super::*;
use crate::assignor::{Assignor, MemberSubscription, RebalanceProtocol};
use crate::protocol::{self, Assignment, Subscription};
use crate::{GroupConfig, GroupEvent, TopicPartition};

// ------------------------------------------------------------------ fixtures

/// Round robin over every partition of every topic, in order, among the
/// members subscribed to the topic (sorted by member id).
struct TestAssignor {
    name: &'static str,
    protocol: RebalanceProtocol,
}

impl Assignor for TestAssignor {
    fn name(&self) -> &'static str {
        self.name
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, u32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut out: BTreeMap<String, Vec<TopicPartition>> = members
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        let mut turn = 0usize;
        for (topic, count) in partitions {
            let mut subscribed: Vec<&str> = members
                .iter()
                .filter(|m| m.topics.contains(topic))
                .map(|m| m.member_id.as_str())
                .collect();
            subscribed.sort_unstable();
            if subscribed.is_empty() {
                continue;
            }
            for p in 0..*count as i32 {
                let member = subscribed[turn % subscribed.len()];
                turn += 1;
                out.get_mut(member)
                    .unwrap()
                    .push(TopicPartition::new(topic.clone(), p));
            }
        }
        out
    }
}

const EAGER: &str = "test-eager";
const COOP: &str = "test-coop";

fn config() -> GroupConfig {
    let mut c = GroupConfig::new("g");
    c.session_timeout = Duration::from_secs(10);
    c.heartbeat_interval = Duration::from_secs(3);
    c.retry_backoff = Duration::from_millis(100);
    c.retry_backoff_max = Duration::from_secs(1);
    c
}

fn member_with(config: GroupConfig, protocol: RebalanceProtocol) -> ClassicMember {
    let name = match protocol {
        RebalanceProtocol::Cooperative => COOP,
        _ => EAGER,
    };
    let assignor: Arc<dyn Assignor> = Arc::new(TestAssignor { name, protocol });
    let mut m = ClassicMember::new(config, vec![assignor], 42).unwrap();
    m.subscribe(["t"]);
    m
}

fn eager() -> ClassicMember {
    member_with(config(), RebalanceProtocol::Eager)
}

fn coop() -> ClassicMember {
    member_with(config(), RebalanceProtocol::Cooperative)
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn find_ok(node_id: i32) -> GroupResponse {
    GroupResponse::FindCoordinator(FindCoordinatorResponse {
        coordinators: vec![WireCoordinator {
            key: "g".into(),
            node_id,
            host: "127.0.0.1".into(),
            port: 9092 + node_id,
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn find_err(code: ErrorCode) -> GroupResponse {
    GroupResponse::FindCoordinator(FindCoordinatorResponse {
        coordinators: vec![WireCoordinator {
            key: "g".into(),
            node_id: -1,
            error_code: code.code(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn join_ok(generation: i32, member_id: &str, leader: &str, protocol: &str) -> JoinGroupResponse {
    JoinGroupResponse {
        generation_id: generation,
        protocol_type: Some("consumer".into()),
        protocol_name: Some(protocol.into()),
        leader: leader.into(),
        member_id: member_id.into(),
        ..Default::default()
    }
}

fn join_err(code: ErrorCode) -> GroupResponse {
    GroupResponse::JoinGroup(JoinGroupResponse {
        error_code: code.code(),
        ..Default::default()
    })
}

fn sync_ok(partitions: &[TopicPartition]) -> GroupResponse {
    GroupResponse::SyncGroup(SyncGroupResponse {
        assignment: assignment_bytes(partitions),
        ..Default::default()
    })
}

fn sync_err(code: ErrorCode) -> GroupResponse {
    GroupResponse::SyncGroup(SyncGroupResponse {
        error_code: code.code(),
        ..Default::default()
    })
}

fn hb(code: ErrorCode) -> GroupResponse {
    GroupResponse::Heartbeat(HeartbeatResponse {
        error_code: code.code(),
        ..Default::default()
    })
}

fn refused() -> NetError {
    NetError::Dial {
        broker: "127.0.0.1:9093".into(),
        source: io::Error::from(io::ErrorKind::ConnectionRefused),
    }
}

fn member_meta(topics: &[&str], owned: &[TopicPartition], generation: i32) -> Bytes {
    let subscription = Subscription {
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        owned_partitions: owned.to_vec(),
        generation,
        ..Subscription::default()
    };
    protocol::encode_subscription(&subscription, protocol::SUBSCRIPTION_VERSION).unwrap()
}

/// An assignment as the leader writes it in SyncGroup.
fn assignment_bytes(partitions: &[TopicPartition]) -> Bytes {
    let assignment = Assignment {
        partitions: partitions.to_vec(),
        user_data: None,
    };
    protocol::encode_assignment(&assignment, protocol::ASSIGNMENT_VERSION).unwrap()
}

/// The partitions of an assignment the leader wrote, sorted.
fn read_assignment(bytes: &Bytes) -> Vec<TopicPartition> {
    let (_, assignment) = protocol::decode_assignment(bytes).unwrap();
    let mut partitions = assignment.partitions;
    partitions.sort();
    partitions
}

/// A subscription a member wrote in JoinGroup.
fn read_subscription(bytes: &Bytes) -> Subscription {
    protocol::decode_subscription(bytes).unwrap().1
}

fn drain(m: &mut ClassicMember) -> Vec<GroupEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn next(m: &mut ClassicMember, now: Instant, api: ApiKey) -> OutboundRequest {
    let out = m
        .poll_request(now)
        .unwrap_or_else(|| panic!("expected {api}, got nothing (state {:?})", m.state()));
    assert_eq!(out.request.api_key(), api, "{out:?}");
    out
}

fn join_body(out: &OutboundRequest) -> &vltava_wire::messages::JoinGroupRequest {
    match &out.request {
        GroupRequest::JoinGroup(r) => r,
        other => panic!("not a JoinGroup: {other:?}"),
    }
}

fn sync_body(out: &OutboundRequest) -> &vltava_wire::messages::SyncGroupRequest {
    match &out.request {
        GroupRequest::SyncGroup(r) => r,
        other => panic!("not a SyncGroup: {other:?}"),
    }
}

fn is_session_error(e: &GroupEvent) -> bool {
    matches!(e, GroupEvent::SessionError { .. })
}

fn lost_or_revoked(events: &[GroupEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, GroupEvent::Lost(_) | GroupEvent::Revoked(_)))
}

/// Finds coordinator 1, joins as follower `m1` in `generation` and gets
/// `assignment`. Returns the time after the SyncGroup answer.
fn join_follower(
    m: &mut ClassicMember,
    now: Instant,
    generation: i32,
    assignment: &[TopicPartition],
) -> Instant {
    let protocol = match m.rebalance_protocol() {
        RebalanceProtocol::Cooperative => COOP,
        _ => EAGER,
    };
    if m.coordinator().is_none() {
        let find = next(m, now, ApiKey::FindCoordinator);
        assert_eq!(find.target, Target::AnyBroker);
        assert!(m.handle_response(now, find.id, find_ok(1)));
    }
    let join = next(m, now, ApiKey::JoinGroup);
    let r = join_ok(generation, "m1", "leader-elsewhere", protocol);
    assert!(m.handle_response(now, join.id, GroupResponse::JoinGroup(r)));
    let sync = next(m, now, ApiKey::SyncGroup);
    assert!(sync_body(&sync).assignments.is_empty());
    assert!(m.handle_response(now, sync.id, sync_ok(assignment)));
    assert_eq!(m.state(), MemberState::Stable);
    now
}

// --------------------------------------------------------------- joining

#[test]
fn a_follower_finds_the_coordinator_joins_syncs_and_heartbeats() {
    let t0 = Instant::now();
    let mut m = eager();
    assert_eq!(m.state(), MemberState::Joining);
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    assert_eq!(find.target, Target::AnyBroker);
    let shaped = find.request.for_version(3);
    match shaped {
        GroupRequest::FindCoordinator(r) => {
            assert_eq!(r.key, "g");
            assert!(r.coordinator_keys.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(m.poll_request(t0).is_none(), "one request at a time");
    m.handle_response(t0, find.id, find_ok(1));
    let coordinator = m.coordinator().unwrap().clone();
    assert_eq!(coordinator.address, "127.0.0.1:9093");

    let join = next(&mut m, t0, ApiKey::JoinGroup);
    assert_eq!(join.target, Target::Coordinator(coordinator.clone()));
    let body = join_body(&join);
    assert_eq!(body.member_id, "");
    assert_eq!(body.protocol_type, "consumer");
    assert_eq!(body.session_timeout_ms, 10_000);
    assert_eq!(body.protocols.len(), 1);
    assert_eq!(body.protocols[0].name, EAGER);
    let sub = read_subscription(&body.protocols[0].metadata);
    assert_eq!(sub.topics, vec!["t".to_owned()]);
    assert_eq!(sub.generation, -1);

    m.handle_response(
        t0,
        join.id,
        GroupResponse::JoinGroup(join_ok(5, "m1", "m0", EAGER)),
    );
    assert_eq!(m.state(), MemberState::Syncing);
    assert!(!m.is_leader());
    assert!(!m.needs_metadata(), "a follower needs no partition counts");
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    assert_eq!(sync_body(&sync).generation_id, 5);
    assert_eq!(sync_body(&sync).member_id, "m1");
    m.handle_response(t0, sync.id, sync_ok(&[tp("t", 1), tp("t", 0)]));

    assert_eq!(
        drain(&mut m),
        vec![
            GroupEvent::CoordinatorChanged {
                node_id: 1,
                address: "127.0.0.1:9093".into()
            },
            GroupEvent::Joined {
                identity: crate::MemberIdentity {
                    member_id: "m1".into(),
                    generation: 5
                },
                protocol: crate::GroupProtocol::Classic,
                assignor: EAGER.into(),
            },
            GroupEvent::Assigned(vec![tp("t", 0), tp("t", 1)]),
        ]
    );
    assert_eq!(m.assignment(), &[tp("t", 0), tp("t", 1)]);
    assert_eq!(m.generation(), 5);
    assert_eq!(m.member_id(), "m1");

    // Heartbeats: not before the interval.
    let t1 = t0 + Duration::from_secs(3);
    assert_eq!(m.poll_timeout(), Some(t1));
    assert!(m.poll_request(t1 - Duration::from_millis(1)).is_none());
    let hb1 = next(&mut m, t1, ApiKey::Heartbeat);
    assert_eq!(hb1.generation, 5);
    assert!(m.handle_response(t1 + Duration::from_millis(200), hb1.id, hb(ErrorCode::NONE)));
    // The next one is an interval after the previous one was sent.
    let t2 = t1 + Duration::from_secs(3);
    assert_eq!(m.poll_timeout(), Some(t2));
    assert!(m.poll_request(t2 - Duration::from_millis(1)).is_none());
    next(&mut m, t2, ApiKey::Heartbeat);
    assert!(drain(&mut m).is_empty());
}

#[test]
fn the_leader_assigns_every_member_and_waits_for_partition_counts_it_lacks() {
    let t0 = Instant::now();
    let mut m = eager();
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    let mut r = join_ok(1, "m1", "m1", EAGER);
    r.members = vec![
        JoinGroupResponseMember {
            member_id: "m1".into(),
            metadata: member_meta(&["t"], &[], -1),
            ..Default::default()
        },
        JoinGroupResponseMember {
            member_id: "m2".into(),
            metadata: member_meta(&["t", "u"], &[], -1),
            ..Default::default()
        },
    ];
    m.handle_response(t0, join.id, GroupResponse::JoinGroup(r));
    assert!(m.is_leader());
    // No counts yet: ask, and send nothing until they come.
    assert!(m.needs_metadata());
    assert_eq!(m.metadata_topics(), vec!["t".to_owned(), "u".to_owned()]);
    assert!(m.poll_request(t0).is_none());
    m.handle_metadata(t0, [("t", 2u32), ("u", 1)]);
    assert!(!m.needs_metadata());
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    let body = sync_body(&sync);
    let got: BTreeMap<String, Vec<TopicPartition>> = body
        .assignments
        .iter()
        .map(|a| (a.member_id.clone(), read_assignment(&a.assignment)))
        .collect();
    assert_eq!(got["m1"], vec![tp("t", 0)]);
    assert_eq!(got["m2"], vec![tp("t", 1), tp("u", 0)]);
    assert_eq!(body.protocol_name.as_deref(), Some(EAGER));

    m.handle_response(t0, sync.id, sync_ok(&got["m1"]));
    assert_eq!(m.assignment(), &[tp("t", 0)]);

    // A group topic that grows makes the stable leader rejoin.
    m.handle_metadata(t0, [("t", 2u32), ("u", 1)]);
    assert_eq!(m.state(), MemberState::Stable);
    drain(&mut m);
    m.handle_metadata(t0, [("u", 3u32)]);
    assert_eq!(m.state(), MemberState::Joining);
    assert_eq!(drain(&mut m), vec![GroupEvent::Revoked(vec![tp("t", 0)])]);
}

#[test]
fn a_leader_with_counts_known_assigns_at_once() {
    let t0 = Instant::now();
    let mut m = eager();
    m.handle_metadata(t0, [("t", 3u32)]);
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    let mut r = join_ok(1, "m1", "m1", EAGER);
    r.members = vec![JoinGroupResponseMember {
        member_id: "m1".into(),
        metadata: member_meta(&["t"], &[], -1),
        ..Default::default()
    }];
    m.handle_response(t0, join.id, GroupResponse::JoinGroup(r));
    assert!(!m.needs_metadata());
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    let a = &sync_body(&sync).assignments;
    assert_eq!(a.len(), 1);
    assert_eq!(
        read_assignment(&a[0].assignment),
        vec![tp("t", 0), tp("t", 1), tp("t", 2)]
    );
}

#[test]
fn member_id_required_rejoins_at_once_with_the_given_id() {
    let t0 = Instant::now();
    let mut m = eager();
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    let r = JoinGroupResponse {
        error_code: ErrorCode::MEMBER_ID_REQUIRED.code(),
        member_id: "given-id".into(),
        ..Default::default()
    };
    m.handle_response(t0, join.id, GroupResponse::JoinGroup(r));
    // At once: no backoff, no error event.
    let again = next(&mut m, t0, ApiKey::JoinGroup);
    assert_eq!(join_body(&again).member_id, "given-id");
    assert_eq!(m.member_id(), "given-id");
    assert!(!drain(&mut m).iter().any(is_session_error));
}

#[test]
fn an_unknown_protocol_chosen_by_the_coordinator_is_fatal() {
    let t0 = Instant::now();
    let mut m = eager();
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    m.handle_response(
        t0,
        join.id,
        GroupResponse::JoinGroup(join_ok(1, "m1", "m1", "range")),
    );
    assert_eq!(m.state(), MemberState::Failed);
    assert!(matches!(
        m.error(),
        Some(ClassicError::UnknownProtocol { protocol, .. }) if protocol == "range"
    ));
    assert!(m.poll_request(t0).is_none());
}

// ------------------------------------------------------- coordinator moves

/// How the coordinator goes away in a scripted test.
#[derive(Debug, Clone, Copy)]
enum Move {
    Code(ErrorCode),
    Transport,
}

const MOVES: [Move; 3] = [
    Move::Code(ErrorCode::NOT_COORDINATOR),
    Move::Code(ErrorCode::COORDINATOR_NOT_AVAILABLE),
    Move::Transport,
];

fn deliver(m: &mut ClassicMember, now: Instant, out: &OutboundRequest, how: Move) {
    let handled = match (how, out.request.api_key()) {
        (Move::Transport, _) => m.handle_failure(now, out.id, &refused()),
        (Move::Code(code), ApiKey::Heartbeat) => m.handle_response(now, out.id, hb(code)),
        (Move::Code(code), ApiKey::JoinGroup) => m.handle_response(now, out.id, join_err(code)),
        (Move::Code(code), ApiKey::SyncGroup) => m.handle_response(now, out.id, sync_err(code)),
        (how, api) => panic!("no script for {how:?} on {api}"),
    };
    assert!(handled);
}

#[test]
fn a_coordinator_move_while_stable_keeps_membership_and_resumes_heartbeats() {
    for how in MOVES {
        let t0 = Instant::now();
        let mut m = eager();
        let t = join_follower(&mut m, t0, 3, &[tp("t", 0)]);
        drain(&mut m);
        let t1 = t + Duration::from_secs(3);
        let beat = next(&mut m, t1, ApiKey::Heartbeat);
        deliver(&mut m, t1, &beat, how);

        assert!(m.coordinator().is_none(), "{how:?}");
        assert_eq!(m.state(), MemberState::Stable, "{how:?}");
        assert_eq!(
            m.needs_metadata(),
            matches!(how, Move::Transport),
            "{how:?}"
        );
        let events = drain(&mut m);
        assert!(!lost_or_revoked(&events), "{how:?}: {events:?}");
        let retry_in = match events.as_slice() {
            [GroupEvent::SessionError { retry_in, cause }] => {
                assert!(cause.contains("Heartbeat"), "{cause}");
                *retry_in
            }
            other => panic!("{how:?}: {other:?}"),
        };
        assert_eq!(m.poll_timeout(), Some(t1 + retry_in));
        assert!(
            m.poll_request(t1 + retry_in - Duration::from_millis(1))
                .is_none()
        );

        let t2 = t1 + retry_in;
        let find = next(&mut m, t2, ApiKey::FindCoordinator);
        assert_eq!(find.target, Target::AnyBroker);
        m.handle_response(t2, find.id, find_ok(2));
        // Back within the session timeout: heartbeat at once, same member,
        // same generation; no rejoin.
        let beat = next(&mut m, t2, ApiKey::Heartbeat);
        match &beat.request {
            GroupRequest::Heartbeat(r) => {
                assert_eq!((r.member_id.as_str(), r.generation_id), ("m1", 3));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            beat.target,
            Target::Coordinator(m.coordinator().unwrap().clone())
        );
        assert_eq!(m.coordinator().unwrap().node_id, 2);
        m.handle_response(t2, beat.id, hb(ErrorCode::NONE));
        assert_eq!(m.assignment(), &[tp("t", 0)]);
        let events = drain(&mut m);
        assert!(!lost_or_revoked(&events), "{how:?}: {events:?}");
        assert!(matches!(
            events.as_slice(),
            [GroupEvent::CoordinatorChanged { node_id: 2, .. }]
        ));
    }
}

#[test]
fn a_coordinator_move_mid_rebalance_rejoins_with_the_same_member_id() {
    for api in [ApiKey::JoinGroup, ApiKey::SyncGroup] {
        for how in MOVES {
            let t0 = Instant::now();
            let mut m = coop();
            let t = join_follower(&mut m, t0, 3, &[tp("t", 0)]);
            // A rebalance starts.
            let beat = next(&mut m, t + Duration::from_secs(3), ApiKey::Heartbeat);
            let t1 = t + Duration::from_secs(3);
            m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
            drain(&mut m);
            let join = next(&mut m, t1, ApiKey::JoinGroup);
            let out = if api == ApiKey::JoinGroup {
                join
            } else {
                m.handle_response(
                    t1,
                    join.id,
                    GroupResponse::JoinGroup(join_ok(4, "m1", "other", COOP)),
                );
                next(&mut m, t1, ApiKey::SyncGroup)
            };
            deliver(&mut m, t1, &out, how);
            assert!(m.coordinator().is_none(), "{api} {how:?}");
            assert_eq!(m.state(), MemberState::Joining, "{api} {how:?}");
            let events = drain(&mut m);
            assert!(!lost_or_revoked(&events), "{api} {how:?}: {events:?}");
            assert!(events.iter().any(is_session_error));

            let t2 = t1 + Duration::from_secs(1);
            let find = next(&mut m, t2, ApiKey::FindCoordinator);
            m.handle_response(t2, find.id, find_ok(2));
            let rejoin = next(&mut m, t2, ApiKey::JoinGroup);
            let body = join_body(&rejoin);
            assert_eq!(body.member_id, "m1", "{api} {how:?}");
            let sub = read_subscription(&body.protocols[0].metadata);
            // Cooperative: still owns its partition while rebalancing.
            assert_eq!(sub.owned_partitions, vec![tp("t", 0)], "{api} {how:?}");
            assert_eq!(m.assignment(), &[tp("t", 0)]);
        }
    }
}

#[test]
fn coordinator_load_in_progress_retries_the_same_coordinator_after_a_backoff() {
    let t0 = Instant::now();
    let mut m = eager();
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    m.handle_response(
        t0,
        join.id,
        join_err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS),
    );
    assert_eq!(m.coordinator().unwrap().node_id, 1);
    assert!(!m.needs_metadata());
    let events = drain(&mut m);
    assert!(matches!(
        events.as_slice(),
        [GroupEvent::CoordinatorChanged { .. }, GroupEvent::SessionError { retry_in, .. }]
            if *retry_in == Duration::from_millis(100)
    ));
    assert!(m.poll_request(t0 + Duration::from_millis(99)).is_none());
    let again = next(&mut m, t0 + Duration::from_millis(100), ApiKey::JoinGroup);
    assert_eq!(
        again.target,
        Target::Coordinator(m.coordinator().unwrap().clone())
    );

    // While stable: the heartbeat is retried, no FindCoordinator.
    let mut m = eager();
    let t = join_follower(&mut m, t0, 1, &[tp("t", 0)]);
    let t1 = t + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS));
    assert!(m.coordinator().is_some());
    next(&mut m, t1 + Duration::from_millis(100), ApiKey::Heartbeat);
}

// ------------------------------------------------------- membership lost

#[test]
fn unknown_member_id_loses_the_partitions_resets_the_member_id_and_rejoins() {
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0), tp("t", 1)]);
    drain(&mut m);
    let t1 = t + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::UNKNOWN_MEMBER_ID));
    assert_eq!(
        drain(&mut m),
        vec![GroupEvent::Lost(vec![tp("t", 0), tp("t", 1)])]
    );
    assert!(m.assignment().is_empty());
    assert_eq!(m.generation(), -1);
    assert_eq!(m.member_id(), "");
    // At once, same coordinator.
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    let body = join_body(&join);
    assert_eq!(body.member_id, "");
    let sub = read_subscription(&body.protocols[0].metadata);
    assert!(sub.owned_partitions.is_empty());
    assert_eq!(sub.generation, -1);
    m.handle_response(
        t1,
        join.id,
        GroupResponse::JoinGroup(join_ok(5, "m9", "x", EAGER)),
    );
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    m.handle_response(t1, sync.id, sync_ok(&[tp("t", 1)]));
    assert_eq!(m.member_id(), "m9");
    assert_eq!(m.assignment(), &[tp("t", 1)]);
}

#[test]
fn illegal_generation_loses_the_partitions_keeps_the_member_id_and_rejoins() {
    for api in [ApiKey::Heartbeat, ApiKey::SyncGroup] {
        let t0 = Instant::now();
        let mut m = coop();
        let t = join_follower(&mut m, t0, 3, &[tp("t", 0)]);
        drain(&mut m);
        let t1 = t + Duration::from_secs(3);
        let out = next(&mut m, t1, ApiKey::Heartbeat);
        if api == ApiKey::Heartbeat {
            m.handle_response(t1, out.id, hb(ErrorCode::ILLEGAL_GENERATION));
        } else {
            m.handle_response(t1, out.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
            let join = next(&mut m, t1, ApiKey::JoinGroup);
            m.handle_response(
                t1,
                join.id,
                GroupResponse::JoinGroup(join_ok(4, "m1", "x", COOP)),
            );
            let sync = next(&mut m, t1, ApiKey::SyncGroup);
            m.handle_response(t1, sync.id, sync_err(ErrorCode::ILLEGAL_GENERATION));
        }
        assert_eq!(
            drain(&mut m),
            vec![GroupEvent::Lost(vec![tp("t", 0)])],
            "{api}"
        );
        assert_eq!(m.generation(), -1);
        assert_eq!(m.member_id(), "m1");
        let join = next(&mut m, t1, ApiKey::JoinGroup);
        assert_eq!(join_body(&join).member_id, "m1");
    }
}

// ------------------------------------------------------------- rebalance

#[test]
fn rebalance_in_progress_eager_revokes_everything_before_rejoining() {
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0), tp("t", 1)]);
    drain(&mut m);
    let t1 = t + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
    assert_eq!(
        drain(&mut m),
        vec![GroupEvent::Revoked(vec![tp("t", 0), tp("t", 1)])]
    );
    assert!(m.assignment().is_empty());
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    assert_eq!(join_body(&join).member_id, "m1", "membership kept");
    let sub = read_subscription(&join_body(&join).protocols[0].metadata);
    assert_eq!(sub.generation, 3);
    assert!(sub.owned_partitions.is_empty());
    // REBALANCE_IN_PROGRESS on the JoinGroup itself: join again at once.
    m.handle_response(t1, join.id, join_err(ErrorCode::REBALANCE_IN_PROGRESS));
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    m.handle_response(
        t1,
        join.id,
        GroupResponse::JoinGroup(join_ok(4, "m1", "x", EAGER)),
    );
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    m.handle_response(t1, sync.id, sync_ok(&[tp("t", 1)]));
    let events = drain(&mut m);
    assert_eq!(events.last(), Some(&GroupEvent::Assigned(vec![tp("t", 1)])));
    assert!(!events.iter().any(|e| matches!(e, GroupEvent::Revoked(_))));
    assert_eq!(m.state(), MemberState::Stable);
}

#[test]
fn a_held_join_still_finds_a_coordinator_that_died_during_the_revocation() {
    // Found by the reliability suite (scenario 8, eager): the coordinator
    // was killed while the application committed an eager revocation.
    // With the JoinGroup held back, the member sent nothing at all: the
    // commit kept asking the dead coordinator, and the member, never
    // rejoining, kept its partitions in the application's eyes while the
    // group gave them to another member.
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0), tp("t", 1)]);
    drain(&mut m);
    let t1 = t + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
    assert_eq!(
        drain(&mut m),
        vec![GroupEvent::Revoked(vec![tp("t", 0), tp("t", 1)])]
    );
    // The application revokes (commits): no JoinGroup meanwhile, and no
    // wake-up for one.
    m.hold_join(true);
    assert_eq!(m.poll_request(t1), None);
    assert!(
        m.poll_timeout().is_none_or(|at| at > t1),
        "{:?}",
        m.poll_timeout()
    );
    // Its commit finds coordinator 1 gone: another address is not ours
    // and changes nothing; ours is looked up again, though still held.
    m.coordinator_unavailable(t1, "127.0.0.1:9999", "OffsetCommit failed");
    assert_eq!(m.poll_request(t1), None);
    assert!(drain(&mut m).is_empty());
    m.coordinator_unavailable(t1, "127.0.0.1:9093", "OffsetCommit failed");
    match drain(&mut m).as_slice() {
        [GroupEvent::SessionError { cause, retry_in }] => {
            assert!(
                cause.contains("OffsetCommit failed; finding the coordinator again"),
                "{cause}"
            );
            assert_eq!(*retry_in, Duration::ZERO);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.poll_timeout(), Some(t1));
    let find = next(&mut m, t1, ApiKey::FindCoordinator);
    assert_eq!(find.target, Target::AnyBroker);
    assert!(m.handle_response(t1, find.id, find_ok(2)));
    assert_eq!(m.coordinator().map(|c| c.node_id), Some(2));
    assert_eq!(m.poll_request(t1), None, "the JoinGroup is still held");
    // Revocation done: the JoinGroup goes to the new coordinator, with
    // the membership kept.
    m.hold_join(false);
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    assert_eq!(join_body(&join).member_id, "m1");
    match &join.target {
        Target::Coordinator(c) => assert_eq!(c.node_id, 2),
        other => panic!("{other:?}"),
    }
    assert!(!lost_or_revoked(&drain(&mut m)));
}

#[test]
fn rebalance_in_progress_cooperative_revokes_only_what_moves_and_rejoins_once() {
    let t0 = Instant::now();
    let mut m = coop();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0), tp("t", 1)]);
    drain(&mut m);
    let t1 = t + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
    assert!(
        drain(&mut m).is_empty(),
        "nothing revoked before the assignment"
    );
    assert_eq!(m.assignment(), &[tp("t", 0), tp("t", 1)]);
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    let sub = read_subscription(&join_body(&join).protocols[0].metadata);
    assert_eq!(sub.owned_partitions, vec![tp("t", 0), tp("t", 1)]);
    m.handle_response(
        t1,
        join.id,
        GroupResponse::JoinGroup(join_ok(4, "m1", "x", COOP)),
    );
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    // t-1 moves away; t-2 is new.
    m.handle_response(t1, sync.id, sync_ok(&[tp("t", 0), tp("t", 2)]));
    let events = drain(&mut m);
    assert_eq!(
        events[1..],
        [
            GroupEvent::Revoked(vec![tp("t", 1)]),
            GroupEvent::Assigned(vec![tp("t", 2)]),
        ]
    );
    // Something was revoked: rejoin once, owning what is left.
    assert_eq!(m.state(), MemberState::Joining);
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    let sub = read_subscription(&join_body(&join).protocols[0].metadata);
    assert_eq!(sub.owned_partitions, vec![tp("t", 0), tp("t", 2)]);
    assert_eq!(sub.generation, 4);
    m.handle_response(
        t1,
        join.id,
        GroupResponse::JoinGroup(join_ok(5, "m1", "x", COOP)),
    );
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    m.handle_response(t1, sync.id, sync_ok(&[tp("t", 0), tp("t", 2)]));
    let events = drain(&mut m);
    assert_eq!(events[1..], [GroupEvent::Assigned(vec![])]);
    // Nothing revoked this time: stable, heartbeating.
    assert_eq!(m.state(), MemberState::Stable);
    next(&mut m, t1 + Duration::from_secs(3), ApiKey::Heartbeat);
}

#[test]
fn a_cooperative_leader_never_hands_a_partition_straight_to_another_owner() {
    let t0 = Instant::now();
    let mut m = coop();
    m.handle_metadata(t0, [("t", 2u32)]);
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    // m2 owns both partitions from generation 1; round robin would give
    // t-0 to m1 now.
    let mut r = join_ok(2, "m1", "m1", COOP);
    r.members = vec![
        JoinGroupResponseMember {
            member_id: "m1".into(),
            metadata: member_meta(&["t"], &[], -1),
            ..Default::default()
        },
        JoinGroupResponseMember {
            member_id: "m2".into(),
            metadata: member_meta(&["t"], &[tp("t", 0), tp("t", 1)], 1),
            ..Default::default()
        },
    ];
    m.handle_response(t0, join.id, GroupResponse::JoinGroup(r));
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    let got: BTreeMap<String, Vec<TopicPartition>> = sync_body(&sync)
        .assignments
        .iter()
        .map(|a| (a.member_id.clone(), read_assignment(&a.assignment)))
        .collect();
    assert_eq!(got["m1"], vec![], "t-0 waits for m2 to revoke it");
    assert_eq!(got["m2"], vec![tp("t", 1)]);
}

#[test]
fn a_subscription_change_rejoins_revoking_the_dropped_topics_cooperatively() {
    let t0 = Instant::now();
    let mut m = coop();
    m.subscribe(["t", "u"]);
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0), tp("u", 0)]);
    drain(&mut m);
    m.subscribe(["u"]);
    assert_eq!(drain(&mut m), vec![GroupEvent::Revoked(vec![tp("t", 0)])]);
    assert_eq!(m.assignment(), &[tp("u", 0)]);
    let join = next(&mut m, t, ApiKey::JoinGroup);
    assert_eq!(join_body(&join).member_id, "m1");
}

// ------------------------------------------------------ join impossible

#[test]
fn connection_refused_forever_backs_off_capped_asks_for_metadata_then_recovers() {
    let t0 = Instant::now();
    let mut m = eager();
    let mut now = t0;
    let mut waits = Vec::new();
    for round in 0..10 {
        // FindCoordinator names node 1, whose port refuses connections.
        let find = next(&mut m, now, ApiKey::FindCoordinator);
        m.handle_response(now, find.id, find_ok(1));
        let join = next(&mut m, now, ApiKey::JoinGroup);
        m.handle_failure(now, join.id, &refused());
        assert!(m.needs_metadata(), "round {round}");
        assert_eq!(m.state(), MemberState::Joining);
        let events = drain(&mut m);
        let retry_in = events
            .iter()
            .find_map(|e| match e {
                GroupEvent::SessionError { retry_in, cause } => {
                    assert!(cause.contains("could not connect"), "{cause}");
                    Some(*retry_in)
                }
                _ => None,
            })
            .unwrap();
        assert!(
            m.poll_request(now + retry_in - Duration::from_millis(1))
                .is_none()
        );
        m.handle_metadata(now, [("t", 1u32)]);
        assert!(!m.needs_metadata());
        waits.push(retry_in);
        now += retry_in;
    }
    assert_eq!(waits[0], Duration::from_millis(100));
    for pair in waits.windows(2) {
        assert!(pair[1] >= pair[0], "{waits:?}");
    }
    assert!(
        waits[1] > waits[0] && waits[2] > waits[1] && waits[3] > waits[2],
        "{waits:?}"
    );
    assert!(
        waits.iter().all(|w| *w <= Duration::from_secs(1)),
        "{waits:?}"
    );
    assert_eq!(waits[9], Duration::from_secs(1), "capped: {waits:?}");
    assert_ne!(m.state(), MemberState::Failed);

    // The coordinator answers at last.
    let t = join_follower(&mut m, now, 1, &[tp("t", 0)]);
    assert_eq!(m.assignment(), &[tp("t", 0)]);
    // The failure count starts over after a success.
    let beat = next(&mut m, t + Duration::from_secs(3), ApiKey::Heartbeat);
    m.handle_failure(t + Duration::from_secs(3), beat.id, &refused());
    let events = drain(&mut m);
    assert!(events.iter().any(|e| matches!(
        e,
        GroupEvent::SessionError { retry_in, .. } if *retry_in == Duration::from_millis(100)
    )));
}

#[test]
fn no_coordinator_found_forever_keeps_retrying_and_asks_for_metadata() {
    let t0 = Instant::now();
    let mut m = eager();
    let mut now = t0;
    let mut waits = Vec::new();
    for round in 0..8 {
        let find = next(&mut m, now, ApiKey::FindCoordinator);
        if round % 2 == 0 {
            m.handle_response(now, find.id, find_err(ErrorCode::COORDINATOR_NOT_AVAILABLE));
        } else {
            m.handle_failure(now, find.id, &refused());
        }
        assert!(m.needs_metadata());
        let retry_in = match drain(&mut m).as_slice() {
            [GroupEvent::SessionError { retry_in, .. }] => *retry_in,
            other => panic!("{other:?}"),
        };
        waits.push(retry_in);
        now += retry_in;
    }
    assert!(waits.windows(2).all(|w| w[1] >= w[0]), "{waits:?}");
    assert_eq!(*waits.last().unwrap(), Duration::from_secs(1));
    join_follower(&mut m, now, 1, &[]);
}

#[test]
fn the_backoff_jitter_is_deterministic_for_a_seed() {
    let run = |seed: u64| {
        let assignor: Arc<dyn Assignor> = Arc::new(TestAssignor {
            name: EAGER,
            protocol: RebalanceProtocol::Eager,
        });
        let mut m = ClassicMember::new(config(), vec![assignor], seed).unwrap();
        m.subscribe(["t"]);
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..4 {
            let find = next(&mut m, now, ApiKey::FindCoordinator);
            m.handle_failure(now, find.id, &refused());
            let Some(GroupEvent::SessionError { retry_in, .. }) = m.poll_event() else {
                panic!()
            };
            waits.push(retry_in);
            now += retry_in;
        }
        waits
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

// ------------------------------------------------------ session expiry

#[test]
fn no_heartbeat_for_the_session_timeout_keeps_the_membership_and_finds_the_coordinator_again() {
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0)]);
    drain(&mut m);
    let deadline = t + Duration::from_secs(10);
    // The coordinator goes away and is not found again for longer than
    // the session timeout (every node of the cluster is down).
    let mut now = t + Duration::from_secs(3);
    let beat = next(&mut m, now, ApiKey::Heartbeat);
    m.handle_failure(now, beat.id, &refused());
    let mut lookups = 0;
    while now < deadline + Duration::from_secs(5) {
        now = m.poll_timeout().unwrap();
        m.handle_timeout(now);
        // The session deadline passing only schedules the next lookup.
        if let Some(find) = m.poll_request(now) {
            assert_eq!(find.request.api_key(), ApiKey::FindCoordinator);
            m.handle_response(now, find.id, find_err(ErrorCode::COORDINATOR_NOT_AVAILABLE));
            lookups += 1;
        }
    }
    assert!(lookups > 5, "{lookups} lookups");
    // As the Java client: nothing is lost on the client's own clock.
    let events = drain(&mut m);
    assert!(
        !events.iter().any(|e| matches!(e, GroupEvent::Lost(_))),
        "{events:?}"
    );
    assert!(events.iter().any(is_session_error));
    assert_eq!(m.assignment(), &[tp("t", 0)]);
    assert_eq!(m.generation(), 3);
    // The cluster is back and the coordinator loaded the group: the member
    // heartbeats in its generation rather than joining again.
    now = m.poll_timeout().unwrap();
    let find = next(&mut m, now, ApiKey::FindCoordinator);
    m.handle_response(now, find.id, find_ok(1));
    now = m.poll_timeout().unwrap();
    let beat = next(&mut m, now, ApiKey::Heartbeat);
    m.handle_response(now, beat.id, hb(ErrorCode::NONE));
    assert_eq!(m.state(), MemberState::Stable);
    assert!(
        drain(&mut m)
            .iter()
            .all(|e| !matches!(e, GroupEvent::Lost(_)))
    );
    // A coordinator that did expire the session says so: lost, then rejoin.
    now = m.poll_timeout().unwrap();
    let beat = next(&mut m, now, ApiKey::Heartbeat);
    m.handle_response(now, beat.id, hb(ErrorCode::UNKNOWN_MEMBER_ID));
    assert_eq!(drain(&mut m), vec![GroupEvent::Lost(vec![tp("t", 0)])]);
    assert_eq!(m.generation(), -1);
}

#[test]
fn a_heartbeat_unanswered_for_the_session_timeout_is_abandoned() {
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0)]);
    drain(&mut m);
    let t1 = t + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    assert_eq!(m.poll_timeout(), Some(t + Duration::from_secs(10)));
    m.handle_timeout(t + Duration::from_secs(10));
    let events = drain(&mut m);
    assert!(events.iter().all(is_session_error), "{events:?}");
    assert!(m.coordinator().is_none());
    // Its late answer changes nothing; the membership stays.
    assert!(!m.handle_response(t + Duration::from_secs(11), beat.id, hb(ErrorCode::NONE)));
    assert_eq!(m.generation(), 3);
    assert_eq!(m.assignment(), &[tp("t", 0)]);
    // The next request is a lookup of the coordinator.
    next(&mut m, t + Duration::from_secs(11), ApiKey::FindCoordinator);
}

#[test]
fn a_join_held_by_the_coordinator_does_not_expire_the_session() {
    let t0 = Instant::now();
    let mut m = coop();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0)]);
    drain(&mut m);
    let beat = next(&mut m, t + Duration::from_secs(3), ApiKey::Heartbeat);
    m.handle_response(t, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
    let join = next(&mut m, t + Duration::from_secs(3), ApiKey::JoinGroup);
    // The coordinator holds the JoinGroup for a minute.
    let late = t + Duration::from_secs(60);
    m.handle_timeout(late);
    assert_eq!(m.assignment(), &[tp("t", 0)]);
    assert!(m.handle_response(
        late,
        join.id,
        GroupResponse::JoinGroup(join_ok(4, "m1", "x", COOP))
    ));
    assert!(
        !drain(&mut m)
            .iter()
            .any(|e| matches!(e, GroupEvent::Lost(_)))
    );
}

// ------------------------------------------------------------- fatal

#[test]
fn fatal_errors_end_the_member_with_a_typed_error_and_no_more_requests() {
    let cases = [
        (
            ApiKey::FindCoordinator,
            ErrorCode::GROUP_AUTHORIZATION_FAILED,
        ),
        (ApiKey::JoinGroup, ErrorCode::GROUP_AUTHORIZATION_FAILED),
        (ApiKey::JoinGroup, ErrorCode::INVALID_SESSION_TIMEOUT),
        (ApiKey::JoinGroup, ErrorCode::INCONSISTENT_GROUP_PROTOCOL),
        (ApiKey::JoinGroup, ErrorCode::GROUP_MAX_SIZE_REACHED),
        (ApiKey::JoinGroup, ErrorCode::FENCED_INSTANCE_ID),
        (ApiKey::JoinGroup, ErrorCode::UNSUPPORTED_VERSION),
        (ApiKey::SyncGroup, ErrorCode::FENCED_INSTANCE_ID),
        (ApiKey::SyncGroup, ErrorCode::GROUP_AUTHORIZATION_FAILED),
        (ApiKey::Heartbeat, ErrorCode::FENCED_INSTANCE_ID),
        (ApiKey::Heartbeat, ErrorCode::GROUP_AUTHORIZATION_FAILED),
    ];
    for (api, code) in cases {
        let t0 = Instant::now();
        let mut c = config();
        c.group_instance_id = Some("instance-1".into());
        let mut m = member_with(c, RebalanceProtocol::Eager);
        let mut now = t0;
        let out = match api {
            ApiKey::FindCoordinator => next(&mut m, now, api),
            ApiKey::Heartbeat => {
                now = join_follower(&mut m, t0, 1, &[tp("t", 0)]) + Duration::from_secs(3);
                next(&mut m, now, api)
            }
            _ => {
                let find = next(&mut m, now, ApiKey::FindCoordinator);
                m.handle_response(now, find.id, find_ok(1));
                let join = next(&mut m, now, ApiKey::JoinGroup);
                if api == ApiKey::JoinGroup {
                    join
                } else {
                    m.handle_response(
                        now,
                        join.id,
                        GroupResponse::JoinGroup(join_ok(1, "m1", "x", EAGER)),
                    );
                    next(&mut m, now, api)
                }
            }
        };
        drain(&mut m);
        let response = match api {
            ApiKey::FindCoordinator => find_err(code),
            ApiKey::JoinGroup => join_err(code),
            ApiKey::SyncGroup => sync_err(code),
            _ => hb(code),
        };
        assert!(m.handle_response(now, out.id, response));
        assert_eq!(m.state(), MemberState::Failed, "{api} {code}");
        match m.error() {
            Some(ClassicError::Rejected {
                api: a, code: c, ..
            }) => assert_eq!((*a, *c), (api, code)),
            other => panic!("{api} {code}: {other:?}"),
        }
        let events = drain(&mut m);
        if api == ApiKey::Heartbeat {
            assert_eq!(events, vec![GroupEvent::Lost(vec![tp("t", 0)])]);
        } else {
            assert!(events.is_empty(), "{events:?}");
        }
        for later in [now, now + Duration::from_secs(60)] {
            m.handle_timeout(later);
            assert!(m.poll_request(later).is_none(), "{api} {code}");
        }
        assert_eq!(m.poll_timeout(), None);
        m.leave(now);
        assert!(drain(&mut m).is_empty(), "a failed member does not leave");
    }
}

#[test]
fn a_fatal_transport_error_ends_the_member() {
    let t0 = Instant::now();
    let mut m = eager();
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    let error = NetError::UnsupportedVersion {
        broker: "127.0.0.1:9093".into(),
        api_key: ApiKey::JoinGroup,
        version: 9,
        theirs: VersionRange::new(0, 4),
    };
    assert!(m.handle_failure(t0, join.id, &error));
    assert!(matches!(
        m.error(),
        Some(ClassicError::Transport {
            api: ApiKey::JoinGroup,
            ..
        })
    ));
    assert!(m.poll_request(t0 + Duration::from_secs(5)).is_none());
    assert!(m.error().unwrap().to_string().contains("group `g`"));
}

#[test]
fn retriable_classes_never_end_the_member() {
    for recovery in [
        Recovery::Retry,
        Recovery::Unreachable,
        Recovery::RefreshMetadata,
        Recovery::FindCoordinator,
        Recovery::Rejoin,
    ] {
        let t0 = Instant::now();
        let mut m = eager();
        let t = join_follower(&mut m, t0, 1, &[tp("t", 0)]);
        let beat = next(&mut m, t + Duration::from_secs(3), ApiKey::Heartbeat);
        assert!(m.handle_failure_class(t, beat.id, recovery, "scripted"));
        assert_ne!(m.state(), MemberState::Failed, "{recovery:?}");
        assert!(m.poll_timeout().is_some(), "{recovery:?}");
    }
}

// ------------------------------------------------------------- leaving

#[test]
fn a_dynamic_member_revokes_then_sends_leave_group() {
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 2, &[tp("t", 0)]);
    drain(&mut m);
    let beat = next(&mut m, t + Duration::from_secs(3), ApiKey::Heartbeat);
    m.leave(t + Duration::from_secs(3));
    assert_eq!(m.state(), MemberState::Leaving);
    assert_eq!(drain(&mut m), vec![GroupEvent::Revoked(vec![tp("t", 0)])]);
    let leave = next(&mut m, t + Duration::from_secs(3), ApiKey::LeaveGroup);
    match leave.request.for_version(2) {
        GroupRequest::LeaveGroup(r) => {
            assert_eq!(r.member_id, "m1");
            assert!(r.members.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // The heartbeat's answer came too late to matter.
    assert!(!m.handle_response(t, beat.id, hb(ErrorCode::NONE)));
    assert!(m.handle_response(
        t,
        leave.id,
        GroupResponse::LeaveGroup(LeaveGroupResponse::default())
    ));
    assert_eq!(drain(&mut m), vec![GroupEvent::Left]);
    assert_eq!(m.state(), MemberState::Left);
    assert!(m.poll_request(t + Duration::from_secs(60)).is_none());
}

#[test]
fn a_leave_group_that_fails_still_leaves() {
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 2, &[]);
    drain(&mut m);
    m.leave(t);
    let leave = next(&mut m, t, ApiKey::LeaveGroup);
    m.handle_failure(t, leave.id, &refused());
    assert_eq!(drain(&mut m), vec![GroupEvent::Left]);
    assert!(m.poll_request(t + Duration::from_secs(10)).is_none());
}

#[test]
fn a_static_member_leaves_without_leave_group() {
    let t0 = Instant::now();
    let mut c = config();
    c.group_instance_id = Some("instance-1".into());
    let mut m = member_with(c, RebalanceProtocol::Eager);
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    assert_eq!(
        join_body(&join).group_instance_id.as_deref(),
        Some("instance-1")
    );
    m.handle_response(
        t0,
        join.id,
        GroupResponse::JoinGroup(join_ok(1, "m1", "x", EAGER)),
    );
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    assert_eq!(
        sync_body(&sync).group_instance_id.as_deref(),
        Some("instance-1")
    );
    m.handle_response(t0, sync.id, sync_ok(&[tp("t", 0)]));
    drain(&mut m);
    m.leave(t0);
    assert_eq!(
        drain(&mut m),
        vec![GroupEvent::Revoked(vec![tp("t", 0)]), GroupEvent::Left]
    );
    assert_eq!(m.state(), MemberState::Left);
    assert!(m.poll_request(t0).is_none());
    assert!(m.poll_request(t0 + Duration::from_secs(60)).is_none());
}

// ------------------------------------------------------------- stale

#[test]
fn stale_answers_never_change_the_state() {
    let t0 = Instant::now();
    let mut m = eager();
    let t = join_follower(&mut m, t0, 3, &[tp("t", 0)]);
    drain(&mut m);
    let t1 = t + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    // A wrong id, a wrong API: ignored.
    assert!(!m.handle_response(
        t1,
        RequestId(beat.id.0 + 100),
        hb(ErrorCode::UNKNOWN_MEMBER_ID)
    ));
    assert!(!m.handle_response(t1, beat.id, sync_err(ErrorCode::ILLEGAL_GENERATION)));
    assert!(!m.handle_failure(t1, RequestId(9999), &refused()));
    assert_eq!(m.generation(), 3);
    assert!(m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS)));
    drain(&mut m);

    // A new generation.
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    m.handle_response(
        t1,
        join.id,
        GroupResponse::JoinGroup(join_ok(4, "m1", "x", EAGER)),
    );
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    m.handle_response(t1, sync.id, sync_ok(&[tp("t", 1)]));
    drain(&mut m);
    // Answers to generation 3's requests arrive late: nothing changes.
    for (id, response) in [
        (beat.id, hb(ErrorCode::ILLEGAL_GENERATION)),
        (beat.id, hb(ErrorCode::UNKNOWN_MEMBER_ID)),
        (join.id, join_err(ErrorCode::UNKNOWN_MEMBER_ID)),
        (sync.id, sync_ok(&[tp("t", 9)])),
    ] {
        assert!(!m.handle_response(t1, id, response));
    }
    assert_eq!(m.generation(), 4);
    assert_eq!(m.member_id(), "m1");
    assert_eq!(m.assignment(), &[tp("t", 1)]);
    assert!(drain(&mut m).is_empty());

    // A JoinGroup abandoned by a subscription change is ignored too.
    m.subscribe(["u"]);
    let join5 = next(&mut m, t1, ApiKey::JoinGroup);
    m.subscribe(["t"]);
    drain(&mut m);
    assert!(!m.handle_response(
        t1,
        join5.id,
        GroupResponse::JoinGroup(join_ok(5, "m1", "x", EAGER))
    ));
    assert_eq!(m.generation(), 4);
}

// ---------------------------------------------------- hostile answers

#[test]
fn malformed_broker_answers_do_not_panic_or_end_the_member() {
    let t0 = Instant::now();
    let mut m = eager();
    // A coordinator with no usable address: find again after a backoff.
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(
        t0,
        find.id,
        GroupResponse::FindCoordinator(FindCoordinatorResponse {
            node_id: 1,
            host: String::new(),
            port: 0,
            ..Default::default()
        }),
    );
    assert!(m.coordinator().is_none());
    assert!(drain(&mut m).iter().any(is_session_error));
    let now = t0 + Duration::from_secs(1);
    // v0-3 shape with the top-level fields.
    let find = next(&mut m, now, ApiKey::FindCoordinator);
    m.handle_response(
        now,
        find.id,
        GroupResponse::FindCoordinator(FindCoordinatorResponse {
            node_id: 3,
            host: "::1".into(),
            port: 9095,
            ..Default::default()
        }),
    );
    assert_eq!(m.coordinator().unwrap().address, "[::1]:9095");

    // The leader gets garbage subscriptions: that member gets nothing.
    m.handle_metadata(now, [("t", 2u32)]);
    let join = next(&mut m, now, ApiKey::JoinGroup);
    let mut r = join_ok(1, "m1", "m1", EAGER);
    r.members = vec![
        JoinGroupResponseMember {
            member_id: "m1".into(),
            metadata: member_meta(&["t"], &[], -1),
            ..Default::default()
        },
        JoinGroupResponseMember {
            member_id: "bad".into(),
            metadata: Bytes::from_static(&[0, 1, 0xff, 0xff, 0xff]),
            ..Default::default()
        },
    ];
    m.handle_response(now, join.id, GroupResponse::JoinGroup(r));
    let sync = next(&mut m, now, ApiKey::SyncGroup);
    assert_eq!(sync_body(&sync).assignments.len(), 2);
    // A garbage assignment: rejoin after a backoff, membership kept.
    m.handle_response(
        now,
        sync.id,
        GroupResponse::SyncGroup(SyncGroupResponse {
            assignment: Bytes::from_static(&[0, 0, 0, 0, 0, 7, b'x']),
            ..Default::default()
        }),
    );
    assert_eq!(m.state(), MemberState::Joining);
    assert!(drain(&mut m).iter().any(is_session_error));
    let join = next(&mut m, now + Duration::from_secs(1), ApiKey::JoinGroup);
    assert_eq!(join_body(&join).member_id, "m1");
}

// ------------------------------------------------ assignors and metadata

/// A member offering the built-in assignors `names`, subscribed to `t`.
fn member_offering(names: &[&str]) -> ClassicMember {
    let assignors: Vec<Arc<dyn Assignor>> = names
        .iter()
        .map(|n| Arc::from(crate::assignor::by_name(n).unwrap()))
        .collect();
    let mut m = ClassicMember::new(config(), assignors, 42).unwrap();
    m.subscribe(["t"]);
    m
}

/// The metadata a member sends for `assignor` (by its protocol name).
fn protocol_metadata(out: &OutboundRequest, assignor: &str) -> Subscription {
    let entry = join_body(out)
        .protocols
        .iter()
        .find(|p| p.name == assignor)
        .unwrap_or_else(|| panic!("no `{assignor}` entry in {out:?}"));
    read_subscription(&entry.metadata)
}

/// A member's metadata as an eager sticky member writes it: nothing owned,
/// its last assignment and generation in the user data.
fn sticky_meta(last: Option<&[TopicPartition]>, generation: i32) -> Bytes {
    let subscription = Subscription {
        topics: vec!["t".to_owned()],
        user_data: protocol::subscription_user_data("sticky", last, generation),
        generation,
        ..Subscription::default()
    };
    protocol::encode_subscription(&subscription, protocol::SUBSCRIPTION_VERSION).unwrap()
}

fn sync_assignments(out: &OutboundRequest) -> BTreeMap<String, Vec<TopicPartition>> {
    sync_body(out)
        .assignments
        .iter()
        .map(|a| (a.member_id.clone(), read_assignment(&a.assignment)))
        .collect()
}

#[test]
fn an_eager_sticky_member_rejoins_claiming_its_last_assignment_in_user_data() {
    let t0 = Instant::now();
    let mut m = member_offering(&["sticky"]);
    assert_eq!(m.rebalance_protocol(), RebalanceProtocol::Eager);
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    // Before any assignment there is nothing to claim (Java writes none).
    let first = protocol_metadata(&join, "sticky");
    assert_eq!(first.user_data, None);
    m.handle_response(
        t0,
        join.id,
        GroupResponse::JoinGroup(join_ok(3, "m1", "m0", "sticky")),
    );
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    m.handle_response(t0, sync.id, sync_ok(&[tp("t", 2), tp("t", 0)]));
    drain(&mut m);

    // A rebalance: eager, so everything is revoked before the rejoin...
    let t1 = t0 + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
    assert_eq!(
        drain(&mut m),
        vec![GroupEvent::Revoked(vec![tp("t", 0), tp("t", 2)])]
    );
    assert!(m.assignment().is_empty());
    // ...and the JoinGroup still claims them, with their generation, in
    // the StickyAssignor user data.
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    let sub = protocol_metadata(&join, "sticky");
    assert!(sub.owned_partitions.is_empty(), "eager: nothing owned now");
    let data = crate::assignor::StickyUserData::decode(sub.user_data.as_deref().unwrap()).unwrap();
    assert_eq!(data.partitions, vec![tp("t", 0), tp("t", 2)]);
    assert_eq!(data.generation, Some(3));
    // What a sticky leader makes of it.
    let seen = sub.to_member("sticky", "m1", None);
    assert_eq!(seen.owned_partitions, vec![tp("t", 0), tp("t", 2)]);
    assert_eq!(seen.generation, 3);

    // The next assignment replaces the claim; a lost membership keeps it
    // (as Java's StickyAssignor: the leader weighs it by its generation).
    m.handle_response(
        t1,
        join.id,
        GroupResponse::JoinGroup(join_ok(4, "m1", "m0", "sticky")),
    );
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    m.handle_response(t1, sync.id, sync_ok(&[tp("t", 1)]));
    let t2 = t1 + Duration::from_secs(3);
    let beat = next(&mut m, t2, ApiKey::Heartbeat);
    m.handle_response(t2, beat.id, hb(ErrorCode::ILLEGAL_GENERATION));
    assert!(drain(&mut m).contains(&GroupEvent::Lost(vec![tp("t", 1)])));
    let join = next(&mut m, t2, ApiKey::JoinGroup);
    let sub = protocol_metadata(&join, "sticky");
    assert_eq!(sub.generation, -1, "the membership's generation is gone");
    let seen = sub.to_member("sticky", "m1", None);
    assert_eq!(
        (seen.owned_partitions, seen.generation),
        (vec![tp("t", 1)], 4)
    );
}

#[test]
fn a_sticky_leader_keeps_partitions_where_the_members_user_data_says_they_were() {
    let t0 = Instant::now();
    let mut m = member_offering(&["sticky"]);
    m.handle_metadata(t0, [("t", 6u32)]);
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    // Claims no assignor would make from scratch (range: 0-1, 2-3, 4-5;
    // sticky without claims: 0/3, 1/4, 2/5).
    let claims = [
        ("m1", vec![tp("t", 0), tp("t", 5)]),
        ("m2", vec![tp("t", 1), tp("t", 3)]),
        ("m3", vec![tp("t", 2), tp("t", 4)]),
    ];
    let members = |with_new: bool| {
        let mut members: Vec<JoinGroupResponseMember> = claims
            .iter()
            .map(|(id, last)| JoinGroupResponseMember {
                member_id: (*id).into(),
                metadata: sticky_meta(Some(last), 7),
                ..Default::default()
            })
            .collect();
        if with_new {
            members.push(JoinGroupResponseMember {
                member_id: "m4".into(),
                metadata: sticky_meta(None, -1),
                ..Default::default()
            });
        }
        members
    };
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    let mut r = join_ok(8, "m1", "m1", "sticky");
    r.members = members(false);
    m.handle_response(t0, join.id, GroupResponse::JoinGroup(r));
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    let got = sync_assignments(&sync);
    for (id, last) in &claims {
        assert_eq!(&got[*id], last, "{id} keeps what it had");
    }
    m.handle_response(t0, sync.id, sync_ok(&got["m1"]));

    // A fourth member joins: each of the others gives up only what balance
    // needs (6 over 4: two keep 2, two get 1), and only to the newcomer.
    let t1 = t0 + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    let mut r = join_ok(9, "m1", "m1", "sticky");
    r.members = members(true);
    m.handle_response(t1, join.id, GroupResponse::JoinGroup(r));
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    let got = sync_assignments(&sync);
    let mut moved = 0;
    for (id, last) in &claims {
        assert!(
            got[*id].iter().all(|p| last.contains(p)),
            "{id} got a partition it did not own: {got:?}"
        );
        moved += last.len() - got[*id].len();
    }
    assert_eq!(moved, 1, "one partition moves to the newcomer: {got:?}");
    assert_eq!(got["m4"].len(), 1);
    let mut every: Vec<TopicPartition> = got.values().flatten().cloned().collect();
    every.sort();
    assert_eq!(every, (0..6).map(|p| tp("t", p)).collect::<Vec<_>>());
}

#[test]
fn a_member_listing_several_assignors_sends_each_its_metadata_and_uses_the_chosen_one() {
    let t0 = Instant::now();
    let mut m = member_offering(&["cooperative-sticky", "range"]);
    // Range is eager: so is the member, as Java.
    assert_eq!(m.rebalance_protocol(), RebalanceProtocol::Eager);
    m.handle_metadata(t0, [("t", 4u32)]);
    let find = next(&mut m, t0, ApiKey::FindCoordinator);
    m.handle_response(t0, find.id, find_ok(1));
    let join = next(&mut m, t0, ApiKey::JoinGroup);
    let names: Vec<&str> = join_body(&join)
        .protocols
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["cooperative-sticky", "range"],
        "in order of preference"
    );
    let coop = protocol_metadata(&join, "cooperative-sticky");
    let range = protocol_metadata(&join, "range");
    assert_eq!(coop.topics, vec!["t".to_owned()]);
    assert_eq!(range.topics, vec!["t".to_owned()]);
    assert_eq!(coop.user_data.as_deref(), Some(&(-1i32).to_be_bytes()[..]));
    assert_eq!(range.user_data, None);

    // The coordinator picks range: the leader assigns with range, from the
    // range metadata the coordinator hands it.
    let range_meta = |owned: &[TopicPartition]| {
        let subscription = Subscription {
            topics: vec!["t".to_owned()],
            owned_partitions: owned.to_vec(),
            ..Subscription::default()
        };
        protocol::encode_subscription(&subscription, protocol::SUBSCRIPTION_VERSION).unwrap()
    };
    let mut r = join_ok(2, "m1", "m1", "range");
    r.members = ["m1", "m2"]
        .iter()
        .map(|id| JoinGroupResponseMember {
            member_id: (*id).into(),
            metadata: range_meta(&[]),
            ..Default::default()
        })
        .collect();
    m.handle_response(t0, join.id, GroupResponse::JoinGroup(r));
    let sync = next(&mut m, t0, ApiKey::SyncGroup);
    assert_eq!(sync_body(&sync).protocol_name.as_deref(), Some("range"));
    let got = sync_assignments(&sync);
    // Range's answer; cooperative-sticky's would be 0/2 and 1/3.
    assert_eq!(got["m1"], vec![tp("t", 0), tp("t", 1)]);
    assert_eq!(got["m2"], vec![tp("t", 2), tp("t", 3)]);
    m.handle_response(t0, sync.id, sync_ok(&got["m1"]));
    assert!(drain(&mut m).iter().any(|e| matches!(
        e,
        GroupEvent::Joined { assignor, .. } if assignor == "range"
    )));
    assert_eq!(m.protocol(), Some("range"));

    // At the next join each entry carries what it carries now: the
    // cooperative-sticky one the generation of the last assignment.
    let t1 = t0 + Duration::from_secs(3);
    let beat = next(&mut m, t1, ApiKey::Heartbeat);
    m.handle_response(t1, beat.id, hb(ErrorCode::REBALANCE_IN_PROGRESS));
    let join = next(&mut m, t1, ApiKey::JoinGroup);
    let coop = protocol_metadata(&join, "cooperative-sticky");
    assert_eq!(coop.user_data.as_deref(), Some(&2i32.to_be_bytes()[..]));
    assert_eq!(coop.generation, 2);
    assert_eq!(protocol_metadata(&join, "range").user_data, None);

    // This time the coordinator picks cooperative-sticky: a follower takes
    // it, and reports it.
    m.handle_response(
        t1,
        join.id,
        GroupResponse::JoinGroup(join_ok(3, "m1", "m2", "cooperative-sticky")),
    );
    let sync = next(&mut m, t1, ApiKey::SyncGroup);
    assert_eq!(
        sync_body(&sync).protocol_name.as_deref(),
        Some("cooperative-sticky")
    );
    m.handle_response(t1, sync.id, sync_ok(&[tp("t", 3)]));
    assert!(drain(&mut m).iter().any(|e| matches!(
        e,
        GroupEvent::Joined { assignor, .. } if assignor == "cooperative-sticky"
    )));
}
