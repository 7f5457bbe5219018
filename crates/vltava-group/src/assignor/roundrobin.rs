//! [`RoundRobinAssignor`]: `roundrobin`.
//!
//! Every partition of every subscribed topic, sorted by topic (Java string
//! order) then partition, is dealt in turn to the members in Java's member
//! order (members with a group instance id first, by instance id, then the
//! others by member id). A member not subscribed to a partition's topic is
//! skipped for that partition; the turn stays with it, as in Java's
//! circular iterator.
//!
//! Guarantees: every partition of a subscribed topic goes to exactly one
//! member subscribed to it; when all members subscribe to the same topics
//! the counts differ by at most one. With different subscriptions the
//! result can be uneven (as in Java). Owned partitions are ignored: eager
//! protocol.
//!
//! Differences from Java: none in the assignment. A topic in `partitions`
//! that no member subscribes to is left out (Java never sees one).

use std::collections::{BTreeMap, BTreeSet};

use super::util::{
    empty_assignment, java_cmp, member_info_cmp, partition_count, subscribed_topics, unique_members,
};
use super::{Assignor, MemberSubscription, RebalanceProtocol};
use crate::TopicPartition;

/// The `roundrobin` assignor. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, u32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut members = unique_members(members);
        let mut out = empty_assignment(&members);
        members.sort_by(|a, b| member_info_cmp(a, b));
        let subscriptions: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|m| subscribed_topics(partitions, m))
            .collect();
        let mut topics: Vec<&str> = subscriptions.iter().flatten().copied().collect();
        topics.sort_by(|a, b| java_cmp(a, b));
        topics.dedup();

        let n = members.len();
        let mut turn = 0;
        for topic in topics {
            for partition in 0..partition_count(partitions, topic) {
                // The topic comes from a subscription, so some member takes it
                // within one round.
                let Some(next) = (0..n)
                    .map(|k| (turn + k) % n)
                    .find(|&i| subscriptions[i].contains(topic))
                else {
                    break;
                };
                if let Some(list) = out.get_mut(&members[next].member_id) {
                    list.push(TopicPartition::new(topic, partition));
                }
                turn = (next + 1) % n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::testing::{member, parts, static_member, tps};

    #[test]
    fn deals_sorted_partitions_to_sorted_members() {
        // Java's example: C0 and C1 on t0 and t1 of 3 partitions each:
        // C0 gets t0p0, t0p2, t1p1; C1 gets t0p1, t1p0, t1p2.
        let members = [member("C1", &["t1", "t0"]), member("C0", &["t0", "t1"])];
        let got = RoundRobinAssignor.assign(&parts(&[("t0", 3), ("t1", 3)]), &members);
        assert_eq!(got["C0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(got["C1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
    }

    #[test]
    fn skips_members_not_subscribed_and_keeps_their_turn() {
        // Java's example with different subscriptions: C0 on t0; C1 on t0,
        // t1; C2 on t0, t1, t2 (t0: 1, t1: 2, t2: 3 partitions).
        // C0: t0p0; C1: t1p0; C2: t1p1, t2p0, t2p1, t2p2.
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let got = RoundRobinAssignor.assign(&parts(&[("t0", 1), ("t1", 2), ("t2", 3)]), &members);
        assert_eq!(got["C0"], tps(&[("t0", 0)]));
        assert_eq!(got["C1"], tps(&[("t1", 0)]));
        assert_eq!(
            got["C2"],
            tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)])
        );
    }

    #[test]
    fn static_members_come_first_by_instance_id() {
        let members = [
            member("a", &["t"]),
            static_member("b", "i-2", &["t"]),
            static_member("c", "i-1", &["t"]),
        ];
        let got = RoundRobinAssignor.assign(&parts(&[("t", 4)]), &members);
        assert_eq!(got["c"], tps(&[("t", 0), ("t", 3)]));
        assert_eq!(got["b"], tps(&[("t", 1)]));
        assert_eq!(got["a"], tps(&[("t", 2)]));
    }

    #[test]
    fn members_without_topics_get_an_empty_entry() {
        let members = [member("a", &["t"]), member("b", &["gone"])];
        let got = RoundRobinAssignor.assign(&parts(&[("t", 2)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["b"], vec![]);
    }
}
