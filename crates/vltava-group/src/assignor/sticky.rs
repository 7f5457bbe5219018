//! [`StickyAssignor`]: `sticky` (eager), and the sticky algorithm it shares
//! with [`CooperativeStickyAssignor`](super::CooperativeStickyAssignor).
//!
//! # What it guarantees
//!
//! - Every partition of a subscribed topic goes to exactly one member
//!   subscribed to it.
//! - Balance: no partition could be handed along a chain of members, each
//!   subscribed to the topic of the partition it receives, from a member to
//!   one with at least two fewer partitions. When every member subscribes to
//!   the same topics this means the counts differ by at most one.
//! - Stickiness: a member keeps the partitions it validly owned (see below)
//!   unless balance needs them elsewhere. When every member subscribes to the
//!   same topics, the number of owned partitions that change owner is the
//!   minimum any balanced assignment needs. Run again on its own result, the
//!   assignor changes nothing.
//! - Deterministic: the same input gives the same output (members in member
//!   id order, in Java string order).
//!
//! # Ownership
//!
//! A member's claims are its `owned_partitions` with its `generation`. For
//! `sticky` the group driver fills both from the Java StickyAssignor user
//! data (see [`crate::protocol`]), because an eager member revokes
//! everything before it rejoins and sends no owned partitions. A claim
//! counts if its topic still exists, the partition is in range and the
//! member still subscribes to the topic. When several members claim a
//! partition, the highest generation wins (Java's rule for claims from
//! different generations); if the highest generation is claimed by more than
//! one member, nobody keeps the partition (Java's rule for two owners in the
//! same generation) and it is assigned afresh. A stale generation alone does
//! not void a claim that nobody contests (as in Java).
//!
//! # The algorithm
//!
//! Valid claims are kept. The other partitions are handed out one by one,
//! those with the fewest eligible members first, each to the eligible member
//! with the fewest partitions (ties: member order). Then, while some member
//! can pass a partition along a chain of eligible members to a member with at
//! least two fewer partitions, the partitions move one hop each along the
//! shortest such chain, preferring partitions the giver did not own before.
//! Each step lowers the sum of squared counts, so it ends.
//!
//! # Differences from Java
//!
//! The guarantees are Java's; the exact partitions are not always the same
//! ones Java's AbstractStickyAssignor would pick (it keeps the first owned
//! partitions in list order and balances in another order), which does not
//! matter for a group: only the leader assigns. With different subscriptions
//! Java's general algorithm balances greedily; this one finds chains, so it
//! can be more balanced where Java is not. Rack-aware assignment (KIP-881) is
//! not done: racks are ignored.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::{BufMut, Bytes, BytesMut};

use super::util::{java_cmp, partition_count, subscribed_topics, tp_cmp, unique_members};
use super::{Assignor, MemberSubscription, RebalanceProtocol};
use crate::TopicPartition;

/// The `sticky` assignor (eager). See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, u32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        StickyPlan::compute(partitions, members).into_assignment()
    }
}

/// The result of the sticky algorithm, with what the cooperative variant
/// needs to hold back partitions that change owner.
#[derive(Debug)]
pub(crate) struct StickyPlan {
    /// Member ids, in member order.
    pub(crate) members: Vec<String>,
    /// Per member (same index): its partitions.
    pub(crate) assigned: Vec<BTreeSet<TopicPartition>>,
    /// Every partition someone claims (even invalidly), with the claimants.
    pub(crate) claimants: HashMap<TopicPartition, Vec<usize>>,
    /// The partitions whose claim was won by one member (highest generation,
    /// uncontested), with that member, whether or not it still subscribes.
    pub(crate) winner: HashMap<TopicPartition, usize>,
}

impl StickyPlan {
    /// Runs the sticky algorithm.
    pub(crate) fn compute(
        partitions: &BTreeMap<String, u32>,
        members: &[MemberSubscription],
    ) -> Self {
        let mut members = unique_members(members);
        members.sort_by(|a, b| java_cmp(&a.member_id, &b.member_id));
        let n = members.len();
        let eligible: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|m| subscribed_topics(partitions, m))
            .collect();

        // Claims: highest generation wins; a tie at the top voids the claim.
        let mut claimants: HashMap<TopicPartition, Vec<usize>> = HashMap::new();
        for (i, m) in members.iter().enumerate() {
            for tp in &m.owned_partitions {
                let list = claimants.entry(tp.clone()).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        let mut winner = HashMap::new();
        for (tp, list) in &claimants {
            let top = list.iter().map(|&i| members[i].generation).max();
            let mut at_top = list.iter().filter(|&&i| Some(members[i].generation) == top);
            if let (Some(&w), None) = (at_top.next(), at_top.next()) {
                winner.insert(tp.clone(), w);
            }
        }

        let mut state = State {
            assigned: vec![BTreeSet::new(); n],
            held: vec![HashMap::new(); n],
            owned_before: vec![BTreeSet::new(); n],
            eligible: &eligible,
        };

        // 1. Keep valid claims.
        for (tp, &w) in &winner {
            let valid = tp.partition >= 0
                && tp.partition < partition_count(partitions, &tp.topic)
                && eligible[w].contains(tp.topic.as_str());
            if valid {
                state.owned_before[w].insert(tp.clone());
                state.give(w, tp.clone());
            }
        }

        // 2. Hand out the rest: fewest eligible members first, then Java's
        //    topic-partition order; each to the least loaded eligible member.
        let mut eligible_count: BTreeMap<&str, usize> = BTreeMap::new();
        for topics in &eligible {
            for t in topics {
                *eligible_count.entry(t).or_default() += 1;
            }
        }
        let mut free: Vec<TopicPartition> = eligible_count
            .keys()
            .flat_map(|t| (0..partition_count(partitions, t)).map(|p| TopicPartition::new(*t, p)))
            .filter(|tp| !state.is_held(tp))
            .collect();
        free.sort_by(|a, b| {
            eligible_count[a.topic.as_str()]
                .cmp(&eligible_count[b.topic.as_str()])
                .then_with(|| tp_cmp(a, b))
        });
        for tp in free {
            let target = (0..n)
                .filter(|&i| eligible[i].contains(tp.topic.as_str()))
                .min_by_key(|&i| (state.assigned[i].len(), i));
            if let Some(i) = target {
                state.give(i, tp);
            }
        }

        // 3. Balance along chains of eligible members.
        while state.balance_step() {}

        Self {
            members: members.iter().map(|m| m.member_id.clone()).collect(),
            assigned: state.assigned,
            claimants,
            winner,
        }
    }

    /// The assignment, each member's partitions in topic-partition order.
    pub(crate) fn into_assignment(self) -> BTreeMap<String, Vec<TopicPartition>> {
        self.members
            .into_iter()
            .zip(self.assigned)
            .map(|(m, set)| (m, set.into_iter().collect()))
            .collect()
    }
}

/// The assignment under construction.
struct State<'a> {
    assigned: Vec<BTreeSet<TopicPartition>>,
    /// Per member: topic to the number of its partitions of that topic.
    held: Vec<HashMap<String, usize>>,
    /// Per member: the valid claims it kept in step 1.
    owned_before: Vec<BTreeSet<TopicPartition>>,
    eligible: &'a [BTreeSet<&'a str>],
}

impl State<'_> {
    fn is_held(&self, tp: &TopicPartition) -> bool {
        self.assigned.iter().any(|s| s.contains(tp))
    }

    fn give(&mut self, member: usize, tp: TopicPartition) {
        *self.held[member].entry(tp.topic.clone()).or_default() += 1;
        self.assigned[member].insert(tp);
    }

    fn take(&mut self, member: usize, tp: &TopicPartition) {
        if let Some(c) = self.held[member].get_mut(&tp.topic) {
            *c -= 1;
            if *c == 0 {
                self.held[member].remove(&tp.topic);
            }
        }
        self.assigned[member].remove(tp);
    }

    /// Whether `from` holds a partition `to` may take.
    fn can_pass(&self, from: usize, to: usize) -> bool {
        self.held[from]
            .keys()
            .any(|t| self.eligible[to].contains(t.as_str()))
    }

    /// Moves partitions along one improving chain; false when there is none.
    fn balance_step(&mut self) -> bool {
        let n = self.assigned.len();
        let mut sources: Vec<usize> = (0..n).collect();
        sources.sort_by_key(|&i| (Reverse(self.assigned[i].len()), i));
        for src in sources {
            let load = self.assigned[src].len();
            if load < 2 {
                return false;
            }
            if let Some(path) = self.chain_from(src, load - 2) {
                for hop in path.windows(2) {
                    self.pass(hop[0], hop[1]);
                }
                return true;
            }
        }
        false
    }

    /// The shortest chain from `src` to the least loaded member reachable
    /// with at most `max_load` partitions.
    fn chain_from(&self, src: usize, max_load: usize) -> Option<Vec<usize>> {
        let n = self.assigned.len();
        let mut parent = vec![usize::MAX; n];
        parent[src] = src;
        let mut queue = VecDeque::from([src]);
        let mut best: Option<usize> = None;
        while let Some(u) = queue.pop_front() {
            let reached: Vec<usize> = (0..n)
                .filter(|&v| parent[v] == usize::MAX && self.can_pass(u, v))
                .collect();
            for v in reached {
                parent[v] = u;
                queue.push_back(v);
                let load = self.assigned[v].len();
                if load <= max_load && best.is_none_or(|b| load < self.assigned[b].len()) {
                    best = Some(v);
                }
            }
        }
        // Back from the target to `src` along the BFS tree: at most n hops.
        let mut path = vec![best?];
        for _ in 0..n {
            match path.last() {
                Some(&last) if last != src => path.push(parent[last]),
                _ => break,
            }
        }
        path.reverse();
        (path.first() == Some(&src)).then_some(path)
    }

    /// Moves one partition from `from` to `to`: one `from` did not own
    /// before if there is one, else its last eligible one.
    fn pass(&mut self, from: usize, to: usize) {
        let eligible = &self.eligible[to];
        let candidates = || {
            self.assigned[from]
                .iter()
                .rev()
                .filter(|tp| eligible.contains(tp.topic.as_str()))
        };
        let pick = candidates()
            .find(|tp| !self.owned_before[from].contains(*tp))
            .or_else(|| candidates().next())
            .cloned();
        if let Some(tp) = pick {
            self.take(from, &tp);
            self.give(to, tp);
        }
    }
}

/// The user data the Java StickyAssignor (eager) writes in a member's
/// subscription: the member's last assignment and its generation
/// (`StickyAssignorUserData` v1; v0 has no generation). No version prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The partitions the member was last assigned.
    pub partitions: Vec<TopicPartition>,
    /// The generation of that assignment (`None` in v0 data).
    pub generation: Option<i32>,
}

impl StickyUserData {
    /// Encodes as v1 (what Java writes): an array of (topic, partitions),
    /// topics in order, then the generation (`-1` when `None`).
    pub fn encode(&self) -> Bytes {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &self.partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let mut buf = BytesMut::new();
        put_len_i32(&mut buf, by_topic.len());
        for (topic, parts) in by_topic {
            let bytes = topic.as_bytes();
            // A topic name is at most 249 bytes; anything longer could not
            // be written by Java either, so it is cut at the i16 limit.
            let len = bytes.len().min(i16::MAX as usize);
            buf.put_i16(len as i16);
            buf.put_slice(&bytes[..len]);
            put_len_i32(&mut buf, parts.len());
            for p in parts {
                buf.put_i32(p);
            }
        }
        buf.put_i32(self.generation.unwrap_or(-1));
        buf.freeze()
    }

    /// Decodes v1 or v0 data the way Java does: the generation is read when
    /// four more bytes follow the partitions; anything after it is ignored.
    /// Malformed data is an error (Java then treats the member as owning
    /// nothing, with generation -1; [`crate::protocol`] does the same).
    pub fn decode(data: &[u8]) -> Result<Self, crate::protocol::ProtocolError> {
        let bad = |why: &'static str| crate::protocol::ProtocolError::UserData {
            assignor: "sticky",
            why,
        };
        let mut r = data;
        let topics = read_count(&mut r).ok_or(bad("truncated topic count"))?;
        let mut partitions = Vec::new();
        for _ in 0..topics {
            let len = read_i16(&mut r).ok_or(bad("truncated topic name"))?;
            let len = usize::try_from(len).map_err(|_| bad("negative topic length"))?;
            if r.len() < len {
                return Err(bad("truncated topic name"));
            }
            let (name, rest) = r.split_at(len);
            let topic = std::str::from_utf8(name).map_err(|_| bad("topic is not UTF-8"))?;
            r = rest;
            let count = read_count(&mut r).ok_or(bad("truncated partition count"))?;
            for _ in 0..count {
                let p = read_i32(&mut r).ok_or(bad("truncated partition"))?;
                partitions.push(TopicPartition::new(topic, p));
            }
        }
        let generation = read_i32(&mut r);
        Ok(Self {
            partitions,
            generation,
        })
    }
}

fn put_len_i32(buf: &mut BytesMut, len: usize) {
    buf.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

fn read_i16(r: &mut &[u8]) -> Option<i16> {
    let (head, rest) = r.split_first_chunk::<2>()?;
    *r = rest;
    Some(i16::from_be_bytes(*head))
}

fn read_i32(r: &mut &[u8]) -> Option<i32> {
    let (head, rest) = r.split_first_chunk::<4>()?;
    *r = rest;
    Some(i32::from_be_bytes(*head))
}

/// An array count, checked against what remains (each element takes at
/// least 2 bytes), so a bad count never makes a huge loop.
fn read_count(r: &mut &[u8]) -> Option<usize> {
    let n = usize::try_from(read_i32(r)?).ok()?;
    (n.checked_mul(2)? <= r.len()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::testing::{member, owning, parts, tps};

    #[test]
    fn fresh_assignment_deals_in_member_id_order() {
        // Like Java's constrained fresh assignment: 3 members, 7 partitions:
        // a: 0, 3, 6; b: 1, 4; c: 2, 5.
        let members = [
            member("c", &["t"]),
            member("a", &["t"]),
            member("b", &["t"]),
        ];
        let got = StickyAssignor.assign(&parts(&[("t", 7)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 3), ("t", 6)]));
        assert_eq!(got["b"], tps(&[("t", 1), ("t", 4)]));
        assert_eq!(got["c"], tps(&[("t", 2), ("t", 5)]));
    }

    #[test]
    fn a_joining_member_takes_only_what_balance_needs() {
        // a owned 0-2, b owned 3-5; c joins: each gives one.
        let members = [
            owning("a", &["t"], &[("t", 0), ("t", 1), ("t", 2)], 4),
            owning("b", &["t"], &[("t", 3), ("t", 4), ("t", 5)], 4),
            member("c", &["t"]),
        ];
        let got = StickyAssignor.assign(&parts(&[("t", 6)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["b"], tps(&[("t", 3), ("t", 4)]));
        assert_eq!(got["c"], tps(&[("t", 2), ("t", 5)]));
    }

    #[test]
    fn a_leaving_members_partitions_are_spread_and_the_rest_stay() {
        let members = [
            owning("a", &["t"], &[("t", 0), ("t", 3)], 4),
            owning("c", &["t"], &[("t", 2), ("t", 5)], 4),
        ];
        let got = StickyAssignor.assign(&parts(&[("t", 6)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1), ("t", 3)]));
        assert_eq!(got["c"], tps(&[("t", 2), ("t", 4), ("t", 5)]));
    }

    #[test]
    fn higher_generation_wins_and_same_generation_claims_are_void() {
        // t-0: a (gen 5) beats b (gen 3). t-1: b and c both gen 3, but c
        // loses to nobody: a does not claim it; b and c tie -> void, assigned
        // afresh. t-2: only c, stale but uncontested -> kept.
        let members = [
            owning("a", &["t"], &[("t", 0)], 5),
            owning("b", &["t"], &[("t", 0), ("t", 1)], 3),
            owning("c", &["t"], &[("t", 1), ("t", 2)], 3),
        ];
        let plan = StickyPlan::compute(&parts(&[("t", 3)]), &members);
        assert_eq!(plan.winner.get(&TopicPartition::new("t", 0)), Some(&0));
        assert_eq!(plan.winner.get(&TopicPartition::new("t", 1)), None);
        assert_eq!(plan.winner.get(&TopicPartition::new("t", 2)), Some(&2));
        let got = plan.into_assignment();
        assert_eq!(got["a"], tps(&[("t", 0)]));
        assert_eq!(got["b"], tps(&[("t", 1)]));
        assert_eq!(got["c"], tps(&[("t", 2)]));
    }

    #[test]
    fn claims_on_unsubscribed_or_missing_partitions_are_dropped() {
        let members = [
            owning(
                "a",
                &["t"],
                &[("u", 0), ("t", 9), ("t", -1), ("gone", 0)],
                1,
            ),
            member("b", &["t", "u"]),
        ];
        // Nothing a claims is valid: u-0 (a does not subscribe to u), t-9
        // and t--1 (out of range), gone-0 (no such topic). u-0 goes first
        // (one eligible member), then t-0 and t-1 to the least loaded.
        let got = StickyAssignor.assign(&parts(&[("t", 2), ("u", 1)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["b"], tps(&[("u", 0)]));
    }

    #[test]
    fn chains_balance_what_single_moves_cannot() {
        // a subscribes to t and owns all 4 of its partitions; b subscribes
        // to t and u and owns u's 2; c subscribes to u only. c cannot take
        // from a directly: twice, a passes a t partition to b and b passes
        // a u partition to c, ending 2/2/2.
        let members = [
            owning("a", &["t"], &[("t", 0), ("t", 1), ("t", 2), ("t", 3)], 2),
            owning("b", &["t", "u"], &[("u", 0), ("u", 1)], 2),
            member("c", &["u"]),
        ];
        let got = StickyAssignor.assign(&parts(&[("t", 4), ("u", 2)]), &members);
        assert_eq!(got["a"].len(), 2);
        assert_eq!(got["b"].len(), 2);
        assert_eq!(got["c"].len(), 2);
        assert!(got["c"].iter().all(|tp| tp.topic == "u"));
    }

    #[test]
    fn user_data_round_trips_and_reads_v0() {
        let data = StickyUserData {
            partitions: tps(&[("a", 1), ("a", 2), ("b", 0)]),
            generation: Some(7),
        };
        let bytes = data.encode();
        assert_eq!(StickyUserData::decode(&bytes).unwrap(), data);
        // v0: the same without the trailing generation.
        let v0 = &bytes[..bytes.len() - 4];
        let got = StickyUserData::decode(v0).unwrap();
        assert_eq!(got.partitions, data.partitions);
        assert_eq!(got.generation, None);
    }

    #[test]
    fn user_data_matches_java_bytes() {
        // Java's STICKY_ASSIGNOR_USER_DATA_V1 for [t-0, t-2], generation 3:
        // array(1) { string "t", array(2) { 0, 2 } }, int32 3.
        let data = StickyUserData {
            partitions: tps(&[("t", 0), ("t", 2)]),
            generation: Some(3),
        };
        let expected: &[u8] = &[
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3,
        ];
        assert_eq!(&data.encode()[..], expected);
    }

    #[test]
    fn bad_user_data_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0, 0, 0],
            &[0, 0, 0, 1],
            &[0x7f, 0xff, 0xff, 0xff, 0, 1],
            &[0, 0, 0, 1, 0xff, 0xff],
            &[0, 0, 0, 1, 0, 5, b'a'],
            &[0, 0, 0, 1, 0, 1, 0xff, 0, 0, 0, 0],
            &[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 9, 0, 0],
            &[0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(StickyUserData::decode(bad).is_err(), "{bad:?}");
        }
    }
}
