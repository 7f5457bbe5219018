//! Property tests of the built-in assignors: random topics with random
//! partition counts, 1-10 members with random subscriptions, random
//! previous ownership.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use vltava_group::TopicPartition;
use vltava_group::assignor::{
    Assignor, CooperativeStickyAssignor, MemberSubscription, RangeAssignor, RoundRobinAssignor,
    StickyAssignor,
};

type Assignment = BTreeMap<String, Vec<TopicPartition>>;

const TOPICS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// Topic to partition count: 1-5 topics, 0-12 partitions each.
fn topics() -> impl Strategy<Value = BTreeMap<String, u32>> {
    prop::collection::vec(0u32..=12, 1..=TOPICS.len()).prop_map(|counts| {
        TOPICS
            .iter()
            .zip(counts)
            .map(|(t, n)| ((*t).to_owned(), n))
            .collect()
    })
}

/// 1-10 members with distinct ids in a random order, some static.
fn member_shells() -> impl Strategy<Value = Vec<MemberSubscription>> {
    prop::collection::vec((0u8..5, prop::option::of(0u8..5)), 1..=10).prop_map(|shells| {
        shells
            .into_iter()
            .enumerate()
            .map(|(i, (prefix, instance))| MemberSubscription {
                member_id: format!("{prefix}-{i}"),
                group_instance_id: instance.map(|x| format!("i{x}-{i}")),
                topics: Vec::new(),
                owned_partitions: Vec::new(),
                generation: -1,
                rack: None,
            })
            .collect()
    })
}

fn all_partitions(partitions: &BTreeMap<String, u32>) -> Vec<TopicPartition> {
    partitions
        .iter()
        .flat_map(|(t, &n)| (0..n as i32).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}

/// A group: topics, members with random subscriptions (possibly naming a
/// topic that does not exist) and random claims: each partition owned by
/// nobody or a random member, plus random second claims, generations 1-3.
fn group() -> impl Strategy<Value = (BTreeMap<String, u32>, Vec<MemberSubscription>)> {
    (topics(), member_shells()).prop_flat_map(|(partitions, members)| {
        let n = members.len();
        let all = all_partitions(&partitions);
        let subs = prop::collection::vec(prop::collection::vec(any::<bool>(), TOPICS.len() + 1), n);
        let owners = prop::collection::vec(prop::option::of(0..n), all.len());
        let extra = prop::collection::vec((0..all.len().max(1), 0..n), 0..4);
        let gens = prop::collection::vec(1i32..=3, n);
        (
            Just(partitions),
            Just(members),
            Just(all),
            subs,
            owners,
            extra,
            gens,
        )
            .prop_map(
                |(partitions, mut members, all, subs, owners, extra, gens)| {
                    for (m, (sub, generation)) in members.iter_mut().zip(subs.into_iter().zip(gens))
                    {
                        m.topics = TOPICS
                            .iter()
                            .chain(&["ghost"])
                            .zip(sub)
                            .filter(|(_, on)| *on)
                            .map(|(t, _)| (*t).to_owned())
                            .collect();
                        m.generation = generation;
                    }
                    for (tp, owner) in all.iter().zip(owners) {
                        if let Some(o) = owner {
                            members[o].owned_partitions.push(tp.clone());
                        }
                    }
                    for (p, o) in extra {
                        if let Some(tp) = all.get(p) {
                            members[o].owned_partitions.push(tp.clone());
                        }
                    }
                    (partitions, members)
                },
            )
    })
}

/// The same, but every member subscribes to every topic and the claims are
/// clean (one owner at most, one generation).
fn equal_group() -> impl Strategy<Value = (BTreeMap<String, u32>, Vec<MemberSubscription>)> {
    (topics(), member_shells()).prop_flat_map(|(partitions, members)| {
        let n = members.len();
        let all = all_partitions(&partitions);
        let owners = prop::collection::vec(prop::option::of(0..n), all.len());
        (Just(partitions), Just(members), Just(all), owners).prop_map(
            |(partitions, mut members, all, owners)| {
                for m in &mut members {
                    m.topics = partitions.keys().cloned().collect();
                    m.generation = 7;
                }
                for (tp, owner) in all.iter().zip(owners) {
                    if let Some(o) = owner {
                        members[o].owned_partitions.push(tp.clone());
                    }
                }
                (partitions, members)
            },
        )
    })
}

/// The partitions some member could be given.
fn assignable(
    partitions: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> BTreeSet<TopicPartition> {
    all_partitions(partitions)
        .into_iter()
        .filter(|tp| members.iter().any(|m| m.topics.contains(&tp.topic)))
        .collect()
}

/// Every member has an entry; every partition given is assignable, given
/// once, to a member subscribed to its topic. Returns the partitions given.
fn check_valid(
    partitions: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
    got: &Assignment,
) -> Result<BTreeSet<TopicPartition>, TestCaseError> {
    let ids: BTreeSet<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    prop_assert_eq!(got.keys().map(String::as_str).collect::<BTreeSet<_>>(), ids);
    let possible = assignable(partitions, members);
    let mut seen = BTreeSet::new();
    for (id, list) in got {
        let m = members.iter().find(|m| &m.member_id == id).unwrap();
        for tp in list {
            prop_assert!(possible.contains(tp), "{tp} does not exist");
            prop_assert!(
                m.topics.contains(&tp.topic),
                "{id} got {tp} without subscribing"
            );
            prop_assert!(seen.insert(tp.clone()), "{tp} given twice");
        }
    }
    Ok(seen)
}

fn check_complete(
    partitions: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
    got: &Assignment,
) -> Result<(), TestCaseError> {
    let given = check_valid(partitions, members, got)?;
    prop_assert_eq!(given, assignable(partitions, members));
    Ok(())
}

fn counts(got: &Assignment) -> (usize, usize) {
    let sizes = got.values().map(Vec::len);
    (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0))
}

/// No partition could move straight to an eligible member with two fewer.
fn check_no_single_improving_move(
    members: &[MemberSubscription],
    got: &Assignment,
) -> Result<(), TestCaseError> {
    for (from, list) in got {
        for (to, other) in got {
            if list.len() >= other.len() + 2 {
                let m = members.iter().find(|m| &m.member_id == to).unwrap();
                prop_assert!(
                    !list.iter().any(|tp| m.topics.contains(&tp.topic)),
                    "{from} ({}) could give to {to} ({})",
                    list.len(),
                    other.len()
                );
            }
        }
    }
    Ok(())
}

/// The winner of each claim: the only claimant with the highest generation.
fn winners(members: &[MemberSubscription]) -> BTreeMap<TopicPartition, Option<&str>> {
    let mut claims: BTreeMap<TopicPartition, Vec<&MemberSubscription>> = BTreeMap::new();
    for m in members {
        for tp in &m.owned_partitions {
            let list = claims.entry(tp.clone()).or_default();
            if !list.iter().any(|x| x.member_id == m.member_id) {
                list.push(m);
            }
        }
    }
    claims
        .into_iter()
        .map(|(tp, list)| {
            let top = list.iter().map(|m| m.generation).max();
            let at_top: Vec<_> = list.iter().filter(|m| Some(m.generation) == top).collect();
            let w = (at_top.len() == 1).then(|| at_top[0].member_id.as_str());
            (tp, w)
        })
        .collect()
}

/// The minimum number of owned partitions a balanced assignment must take
/// from their owners, when every member subscribes to every topic and the
/// claims are clean: the `total % n` members that may hold one more are
/// best the largest owners.
fn min_moves(partitions: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> usize {
    let total = all_partitions(partitions).len();
    let n = members.len();
    let (q, r) = (total / n, total % n);
    let mut owned: Vec<usize> = members.iter().map(|m| m.owned_partitions.len()).collect();
    owned.sort_unstable_by(|a, b| b.cmp(a));
    let kept: usize = owned
        .iter()
        .enumerate()
        .map(|(i, &o)| o.min(if i < r { q + 1 } else { q }))
        .sum();
    owned.iter().sum::<usize>() - kept
}

/// Owned partitions that are not in their owner's new assignment.
fn moved(members: &[MemberSubscription], got: &Assignment) -> usize {
    members
        .iter()
        .map(|m| {
            let new = &got[&m.member_id];
            m.owned_partitions
                .iter()
                .filter(|tp| !new.contains(tp))
                .count()
        })
        .sum()
}

/// The members after a rebalance: each owns what it was given, one
/// generation later (what a cooperative member sends next).
fn next_round(members: &[MemberSubscription], got: &Assignment) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| MemberSubscription {
            owned_partitions: got[&m.member_id].clone(),
            generation: 8,
            ..m.clone()
        })
        .collect()
}

/// 512 cases, or `PROPTEST_CASES` when set (for long runs).
fn config() -> ProptestConfig {
    match std::env::var("PROPTEST_CASES") {
        Ok(_) => ProptestConfig::default(),
        Err(_) => ProptestConfig::with_cases(512),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn range_assigns_everything_once_and_balances_per_topic((partitions, members) in group()) {
        let got = RangeAssignor.assign(&partitions, &members);
        check_complete(&partitions, &members, &got)?;
        for topic in partitions.keys() {
            let per_member: Vec<usize> = members
                .iter()
                .filter(|m| m.topics.contains(topic))
                .map(|m| got[&m.member_id].iter().filter(|tp| &tp.topic == topic).count())
                .collect();
            let (lo, hi) = (per_member.iter().min(), per_member.iter().max());
            if let (Some(lo), Some(hi)) = (lo, hi) {
                prop_assert!(hi - lo <= 1, "{topic}: {per_member:?}");
            }
        }
    }

    #[test]
    fn roundrobin_assigns_everything_once((partitions, members) in group()) {
        let got = RoundRobinAssignor.assign(&partitions, &members);
        check_complete(&partitions, &members, &got)?;
    }

    #[test]
    fn roundrobin_balances_equal_subscriptions((partitions, members) in equal_group()) {
        let got = RoundRobinAssignor.assign(&partitions, &members);
        check_complete(&partitions, &members, &got)?;
        let (lo, hi) = counts(&got);
        prop_assert!(hi - lo <= 1, "{lo}..{hi}");
    }

    #[test]
    fn sticky_assigns_everything_once_and_cannot_be_improved((partitions, members) in group()) {
        let got = StickyAssignor.assign(&partitions, &members);
        check_complete(&partitions, &members, &got)?;
        check_no_single_improving_move(&members, &got)?;
        // Stable: run on its own result, nothing changes.
        let again = StickyAssignor.assign(&partitions, &next_round(&members, &got));
        prop_assert_eq!(again, got);
    }

    #[test]
    fn sticky_balances_and_moves_only_what_balance_needs((partitions, members) in equal_group()) {
        let got = StickyAssignor.assign(&partitions, &members);
        check_complete(&partitions, &members, &got)?;
        let (lo, hi) = counts(&got);
        prop_assert!(hi - lo <= 1, "{lo}..{hi}");
        prop_assert_eq!(moved(&members, &got), min_moves(&partitions, &members));
    }

    #[test]
    fn cooperative_never_hands_over_a_claimed_partition((partitions, members) in group()) {
        let got = CooperativeStickyAssignor.assign(&partitions, &members);
        let given = check_valid(&partitions, &members, &got)?;
        let winners = winners(&members);
        for (id, list) in &got {
            for tp in list {
                let others_claim = members
                    .iter()
                    .any(|m| &m.member_id != id && m.owned_partitions.contains(tp));
                prop_assert!(
                    !others_claim || winners.get(tp) == Some(&Some(id.as_str())),
                    "{tp} handed to {id} while another member claims it"
                );
            }
        }
        // What is missing is missing only because someone claims it.
        for tp in assignable(&partitions, &members).difference(&given) {
            prop_assert!(winners.contains_key(tp), "{tp} missing but unclaimed");
        }
        // After the follow-up rebalance everything is assigned, and the
        // result cannot be improved by a single move.
        let round2 = next_round(&members, &got);
        let got2 = CooperativeStickyAssignor.assign(&partitions, &round2);
        let round3 = next_round(&round2, &got2);
        let got3 = CooperativeStickyAssignor.assign(&partitions, &round3);
        check_complete(&partitions, &members, &got3)?;
        check_no_single_improving_move(&members, &got3)?;
    }

    #[test]
    fn cooperative_balances_and_moves_only_what_balance_needs((partitions, members) in equal_group()) {
        let got = CooperativeStickyAssignor.assign(&partitions, &members);
        check_valid(&partitions, &members, &got)?;
        prop_assert_eq!(moved(&members, &got), min_moves(&partitions, &members));
        // One follow-up rebalance hands out what was held back: complete,
        // within 1, and nothing more moves.
        let round2 = next_round(&members, &got);
        let got2 = CooperativeStickyAssignor.assign(&partitions, &round2);
        check_complete(&partitions, &members, &got2)?;
        let (lo, hi) = counts(&got2);
        prop_assert!(hi - lo <= 1, "{lo}..{hi}");
        prop_assert_eq!(moved(&round2, &got2), 0);
    }

    #[test]
    fn members_joining_and_leaving_move_only_what_balance_needs(
        (partitions, members) in equal_group(),
        leave in prop::collection::vec(any::<bool>(), 10),
        join in 0usize..4,
    ) {
        for assignor in [&StickyAssignor as &dyn Assignor, &CooperativeStickyAssignor] {
            let fresh: Vec<_> = members
                .iter()
                .map(|m| MemberSubscription { owned_partitions: Vec::new(), ..m.clone() })
                .collect();
            let before = assignor.assign(&partitions, &fresh);
            let mut after: Vec<_> = next_round(&fresh, &before)
                .into_iter()
                .zip(&leave)
                .filter(|(_, l)| !**l)
                .map(|(m, _)| m)
                .collect();
            for j in 0..join {
                after.push(MemberSubscription {
                    member_id: format!("new-{j}"),
                    group_instance_id: None,
                    topics: partitions.keys().cloned().collect(),
                    owned_partitions: Vec::new(),
                    generation: -1,
                    rack: None,
                });
            }
            if after.is_empty() {
                continue;
            }
            let got = assignor.assign(&partitions, &after);
            check_valid(&partitions, &after, &got)?;
            // Partitions taken from members who stay: exactly the minimum.
            prop_assert_eq!(
                moved(&after, &got),
                min_moves(&partitions, &after),
                "{}", assignor.name()
            );
        }
    }
}
