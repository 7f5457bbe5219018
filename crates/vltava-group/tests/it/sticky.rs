//! An eager `sticky` group on the shared cluster: each member revokes
//! everything before it rejoins, so only the StickyAssignor user data (its
//! last assignment and generation) tells the leader who owned what. When a
//! member leaves, comes back, or a fourth joins, the members that stayed
//! keep their partitions except what balance takes from them.

use std::collections::BTreeSet;
use std::time::Duration;

use vltava_group::{GroupEvent, TopicPartition};

use crate::{Running, TestGroup, Topic, classic_config, settle, shared_cluster, unique};

const PARTITIONS: i32 = 12;

fn owned(member: &Running) -> BTreeSet<TopicPartition> {
    member.member.assignment().into_iter().collect()
}

/// Checks that each member that stayed (`before`, `now`) kept as many of
/// its partitions as balance allows: all of them when its share grew or
/// stayed, its new share's worth (and nothing new) when it shrank.
fn kept_what_balance_allows(step: &str, stayed: &[(BTreeSet<TopicPartition>, &Running)]) {
    for (i, (before, member)) in stayed.iter().enumerate() {
        let now = owned(member);
        let kept = before.intersection(&now).count();
        assert_eq!(
            kept,
            before.len().min(now.len()),
            "{step}: member {i} had {before:?}, has {now:?}: {} of its partitions moved that balance did not need to move",
            before.len().min(now.len()) - kept
        );
    }
}

fn balanced(step: &str, members: &[&Running]) {
    let sizes: Vec<usize> = members.iter().map(|m| owned(m).len()).collect();
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max - min <= 1, "{step}: unbalanced {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eager_sticky_group_moves_only_what_balance_needs() {
    let cluster = shared_cluster();
    let topic = Topic::create(&cluster, &unique("sticky"), PARTITIONS).await;
    let group_id = unique("sticky-group");
    let group = TestGroup::new(&cluster.bootstrap(), &group_id, &topic);
    let config = || classic_config(&group_id, "sticky", Duration::from_secs(6));
    let all = topic.all();
    let limit = Duration::from_secs(40);

    let a = group.member(config());
    let b = group.member(config());
    let c = group.member(config());
    settle(&[&a, &b, &c], &all, limit, true).await;
    balanced("three members", &[&a, &b, &c]);

    // One leaves: the two others keep their 4 and take 2 of its each.
    let (a0, b0) = (owned(&a), owned(&b));
    c.leave().await;
    settle(&[&a, &b], &all, limit, true).await;
    balanced("after a member left", &[&a, &b]);
    kept_what_balance_allows("after a member left", &[(a0, &a), (b0, &b)]);

    // It comes back (a new member id): each gives it 2 of its 6, keeps 4.
    let (a1, b1) = (owned(&a), owned(&b));
    let c = group.member(config());
    settle(&[&a, &b, &c], &all, limit, true).await;
    balanced("after it came back", &[&a, &b, &c]);
    kept_what_balance_allows("after it came back", &[(a1, &a), (b1, &b)]);

    // A fourth joins: each of the three gives it 1 of its 4, keeps 3.
    let (a2, b2, c2) = (owned(&a), owned(&b), owned(&c));
    let d = group.member(config());
    settle(&[&a, &b, &c, &d], &all, limit, true).await;
    balanced("after a fourth joined", &[&a, &b, &c, &d]);
    kept_what_balance_allows("after a fourth joined", &[(a2, &a), (b2, &b), (c2, &c)]);

    // Eager all along: every rebalance revoked everything first.
    for m in [&a, &b] {
        assert!(
            m.events().iter().any(|e| matches!(
                e,
                GroupEvent::Revoked(r) if r.len() >= 4
            )),
            "no eager revocation seen: {:?}",
            m.events()
        );
        assert!(
            m.events().iter().all(|e| match e {
                GroupEvent::Joined { assignor, .. } => assignor == "sticky",
                _ => true,
            }),
            "{:?}",
            m.events()
        );
    }
    eprintln!("{}", group.finish(&[&a, &b, &c, &d]).await);
    for m in [a, b, c, d] {
        m.leave().await;
    }
}
