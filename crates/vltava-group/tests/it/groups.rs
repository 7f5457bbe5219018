//! Groups of 1 to 5 members over 12 partitions on the shared cluster:
//! members join one by one, then leave one by one; after each settle every
//! partition has exactly one owner, and at no moment do two members own
//! the same partition. Members that list different assignors end up on the
//! one they have in common.

use std::time::{Duration, Instant};

use vltava_group::{GroupConfig, GroupEvent, GroupProtocol};

use crate::{
    Running, TestGroup, Topic, classic_config, consumer_config, settle, shared_cluster, unique,
};

const PARTITIONS: i32 = 12;
const MEMBERS: usize = 5;

async fn join_and_leave(prefix: &str, config: impl Fn(&str) -> GroupConfig) {
    let cluster = shared_cluster();
    let topic = Topic::create(&cluster, &unique(prefix), PARTITIONS).await;
    let group_id = unique(&format!("{prefix}-group"));
    let group = TestGroup::new(&cluster.bootstrap(), &group_id, &topic);
    let all = topic.all();
    let limit = Duration::from_secs(40);
    let mut members: Vec<Running> = Vec::new();
    let mut settles = Vec::new();
    for _ in 0..MEMBERS {
        members.push(group.member(config(&group_id)));
        let refs: Vec<&Running> = members.iter().collect();
        settles.push(settle(&refs, &all, limit, true).await);
    }
    let sizes: Vec<usize> = members
        .iter()
        .map(|m| m.member.assignment().len())
        .collect();
    assert!(
        sizes.iter().all(|n| (2..=3).contains(n)),
        "unbalanced: {sizes:?}"
    );
    while members.len() > 1 {
        let leaving = members.remove(0);
        let started = Instant::now();
        leaving.leave().await;
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "leave took {:?}",
            started.elapsed()
        );
        let refs: Vec<&Running> = members.iter().collect();
        settles.push(settle(&refs, &all, limit, true).await);
    }
    eprintln!("{prefix}: settle times {settles:?}");
    let last = members.pop().unwrap();
    assert_eq!(last.member.assignment().len(), PARTITIONS as usize);
    let events = last.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::Joined { .. }))
    );
    assert!(
        !events.iter().any(|e| matches!(e, GroupEvent::Lost(_))),
        "a clean join/leave loses nothing: {events:?}"
    );
    let log = last.log.clone();
    last.leave().await;
    let last_event = log.lock().unwrap().last().map(|(_, e)| e.clone());
    assert_eq!(last_event, Some(GroupEvent::Left));
    eprintln!("{prefix}: {}", group.finish(&[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_range_group_of_one_to_five_members_keeps_one_owner_per_partition() {
    join_and_leave("classic-range", |group| {
        classic_config(group, "range", Duration::from_secs(6))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_cooperative_sticky_group_of_one_to_five_members_keeps_one_owner_per_partition() {
    join_and_leave("classic-coop", |group| {
        classic_config(group, "cooperative-sticky", Duration::from_secs(6))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_group_of_one_to_five_members_keeps_one_owner_per_partition() {
    join_and_leave("kip848", consumer_config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reports_joined_assigned_revoked_and_left_in_order() {
    let cluster = shared_cluster();
    let topic = Topic::create(&cluster, &unique("order"), 4).await;
    let group_id = unique("order-group");
    let group = TestGroup::new(&cluster.bootstrap(), &group_id, &topic);
    let member = group.member(classic_config(&group_id, "range", Duration::from_secs(6)));
    settle(&[&member], &topic.all(), Duration::from_secs(30), true).await;
    assert_eq!(member.member.protocol(), GroupProtocol::Classic);
    let identity = member.member.identity();
    assert!(!identity.member_id.is_empty() && identity.generation > 0);
    // Long enough for a few background commits before the closing one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = member.log.clone();
    member.leave().await;
    let events: Vec<GroupEvent> = log.lock().unwrap().iter().map(|(_, e)| e.clone()).collect();
    assert!(
        matches!(
            events.first(),
            Some(GroupEvent::CoordinatorChanged { .. } | GroupEvent::SessionError { .. })
        ),
        "{events:?}"
    );
    let kinds: Vec<&str> = events
        .iter()
        // A fresh cluster answers COORDINATOR_NOT_AVAILABLE until it has
        // created `__consumer_offsets`: session errors may come first.
        .filter(|e| {
            !matches!(
                e,
                GroupEvent::SessionError { .. } | GroupEvent::CoordinatorChanged { .. }
            )
        })
        .map(|e| match e {
            GroupEvent::Joined { .. } => "joined",
            GroupEvent::Assigned(_) => "assigned",
            GroupEvent::Revoked(_) => "revoked",
            GroupEvent::Left => "left",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["joined", "assigned", "revoked", "left"],
        "{events:?}"
    );
    eprintln!("{}", group.finish(&[]).await);
}

/// The generation and assignor of each `Joined` event of `member`, in order.
fn joins(member: &Running) -> Vec<(i32, String)> {
    member
        .events()
        .into_iter()
        .filter_map(|e| match e {
            GroupEvent::Joined {
                identity, assignor, ..
            } => Some((identity.generation, assignor)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_listing_different_assignors_all_use_the_one_they_share() {
    let cluster = shared_cluster();
    let topic = Topic::create(&cluster, &unique("assignors"), 12).await;
    let group_id = unique("assignors-group");
    let group = TestGroup::new(&cluster.bootstrap(), &group_id, &topic);
    // Each list is in the member's order of preference; `range` is the only
    // assignor all three list, and nobody's first choice.
    let lists: [&[&str]; 3] = [
        &["sticky", "range"],
        &["roundrobin", "range", "sticky"],
        &["cooperative-sticky", "range"],
    ];
    let config = |assignors: &[&str]| {
        let mut config = classic_config(&group_id, "range", Duration::from_secs(6));
        config.assignors = assignors.iter().map(|a| (*a).to_owned()).collect();
        config
    };
    let mut members: Vec<Running> = Vec::new();
    for list in lists {
        members.push(group.member(config(list)));
        let refs: Vec<&Running> = members.iter().collect();
        settle(&refs, &topic.all(), Duration::from_secs(40), true).await;
    }
    // The first member alone picked its own first choice; from the third
    // on, the group can only agree on what every member lists.
    let first = joins(&members[0]);
    assert_eq!(
        first.first().map(|(_, a)| a.as_str()),
        Some("sticky"),
        "{first:?}"
    );
    let (third_joined, _) = joins(&members[2])[0].clone();
    for (member, list) in members.iter().zip(lists) {
        let all = joins(member);
        let since: Vec<&(i32, String)> = all.iter().filter(|(g, _)| *g >= third_joined).collect();
        assert!(
            !since.is_empty() && since.iter().all(|(_, a)| a == "range"),
            "member listing {list:?}: from generation {third_joined} on it joined with {since:?} (all its joins: {all:?})"
        );
    }
    // Range over 12 partitions and 3 members: 4 contiguous partitions each.
    for member in &members {
        let partitions: Vec<i32> = member
            .member
            .assignment()
            .iter()
            .map(|tp| tp.partition)
            .collect();
        assert_eq!(partitions.len(), 4, "{partitions:?}");
        assert_eq!(
            partitions[3] - partitions[0],
            3,
            "range gives a block: {partitions:?}"
        );
    }
    let report = group.finish(&members.iter().collect::<Vec<_>>()).await;
    eprintln!("{report}");
    for member in members {
        member.leave().await;
    }
}
