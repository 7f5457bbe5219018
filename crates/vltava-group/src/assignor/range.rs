//! [`RangeAssignor`]: `range`, the Java consumer's default first choice.
//!
//! Topic by topic, the members subscribed to the topic are put in Java's
//! member order (members with a group instance id first, by instance id,
//! then the others by member id, comparing strings as Java does) and the
//! topic's partitions, in order, are cut into contiguous ranges: with `n`
//! members and `p` partitions, each gets `p / n` and the first `p % n` get
//! one more. So member 0 of 3 on a 7-partition topic gets 0, 1, 2; member 1
//! gets 3, 4; member 2 gets 5, 6.
//!
//! Guarantees: every partition of a subscribed topic goes to exactly one
//! member subscribed to it; per topic, the counts differ by at most one.
//! Across topics the first members get every extra partition, so the total
//! can be uneven (that is the range assignor, in Java too). Owned
//! partitions are ignored: eager protocol.
//!
//! Differences from Java: none in the assignment. Rack-aware assignment
//! (KIP-881) is not done: with racks the Java assignor may give other
//! partitions, so a group whose members set `client.rack` gets the
//! non-rack-aware result when a Vltava member leads.

use std::collections::BTreeMap;

use super::util::{empty_assignment, member_info_cmp, subscribed_topics, unique_members};
use super::{Assignor, MemberSubscription, RebalanceProtocol};
use crate::TopicPartition;

/// The `range` assignor. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, u32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let members = unique_members(members);
        let mut out = empty_assignment(&members);
        let subscriptions: Vec<_> = members
            .iter()
            .map(|m| subscribed_topics(partitions, m))
            .collect();
        for topic in partitions.keys() {
            let count = super::util::partition_count(partitions, topic);
            let mut consumers: Vec<&MemberSubscription> = members
                .iter()
                .zip(&subscriptions)
                .filter(|(_, topics)| topics.contains(topic.as_str()))
                .map(|(m, _)| *m)
                .collect();
            if consumers.is_empty() || count <= 0 {
                continue;
            }
            consumers.sort_by(|a, b| member_info_cmp(a, b));
            // `consumers` is not empty and holds at most `members.len()`
            // entries; partition ids fit in i32, so these do too.
            let n = i32::try_from(consumers.len()).unwrap_or(i32::MAX);
            let (per_member, extra) = (count / n, count % n);
            for (i, member) in (0..).zip(&consumers) {
                let start = per_member * i + i.min(extra);
                let len = per_member + i32::from(i < extra);
                if let Some(list) = out.get_mut(&member.member_id) {
                    list.extend(
                        (start..start + len).map(|p| TopicPartition::new(topic.clone(), p)),
                    );
                }
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
    fn seven_partitions_three_members_is_3_2_2_in_member_id_order() {
        let members = [
            member("c", &["t"]),
            member("a", &["t"]),
            member("b", &["t"]),
        ];
        let got = RangeAssignor.assign(&parts(&[("t", 7)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1), ("t", 2)]));
        assert_eq!(got["b"], tps(&[("t", 3), ("t", 4)]));
        assert_eq!(got["c"], tps(&[("t", 5), ("t", 6)]));
    }

    #[test]
    fn extra_partitions_of_every_topic_go_to_the_first_member() {
        // Java's classic example: two members, two topics of 3 partitions:
        // C0 gets t0p0, t0p1, t1p0, t1p1; C1 gets t0p2, t1p2.
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = RangeAssignor.assign(&parts(&[("t0", 3), ("t1", 3)]), &members);
        assert_eq!(
            got["C0"],
            tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)])
        );
        assert_eq!(got["C1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn static_members_sort_by_instance_id_and_before_dynamic_ones() {
        // Member ids would put "a" first; instance ids put "z"'s owner
        // ("i-1") before "a"'s ("i-2"), and the dynamic "0" last.
        let members = [
            static_member("a", "i-2", &["t"]),
            static_member("z", "i-1", &["t"]),
            member("0", &["t"]),
        ];
        let got = RangeAssignor.assign(&parts(&[("t", 4)]), &members);
        assert_eq!(got["z"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["a"], tps(&[("t", 2)]));
        assert_eq!(got["0"], tps(&[("t", 3)]));
    }

    #[test]
    fn each_topic_is_ranged_over_its_own_subscribers() {
        let members = [
            member("a", &["t1"]),
            member("b", &["t1", "t2"]),
            member("c", &["t2", "nope"]),
        ];
        let got = RangeAssignor.assign(&parts(&[("t1", 3), ("t2", 2), ("other", 5)]), &members);
        assert_eq!(got["a"], tps(&[("t1", 0), ("t1", 1)]));
        assert_eq!(got["b"], tps(&[("t1", 2), ("t2", 0)]));
        assert_eq!(got["c"], tps(&[("t2", 1)]));
    }

    #[test]
    fn more_members_than_partitions_leaves_the_last_ones_empty() {
        let members = [
            member("a", &["t"]),
            member("b", &["t"]),
            member("c", &["t"]),
        ];
        let got = RangeAssignor.assign(&parts(&[("t", 2)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0)]));
        assert_eq!(got["b"], tps(&[("t", 1)]));
        assert_eq!(got["c"], vec![]);
    }
}
