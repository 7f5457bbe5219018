//! [`CooperativeStickyAssignor`]: `cooperative-sticky` (KIP-429).
//!
//! It runs the sticky algorithm (see [`super::sticky`] for its balance and
//! stickiness guarantees and its ownership rules) over the members' owned
//! partitions and generations from their subscriptions (protocol v1+), then
//! follows the cooperative protocol: a partition is never handed directly
//! from one owner to another in one rebalance. A partition that the
//! algorithm gives to member X is held back (left unassigned this round)
//! when another member claims it in its owned partitions and X is not the
//! claim's winner (the only claimant with the highest generation). Its
//! owner sees it missing from its assignment and revokes it; the follow-up
//! rebalance, which the revoking member asks for, assigns it, and since the
//! target is then the least loaded eligible member it normally lands where
//! the first round meant it to go.
//!
//! Guarantees: every partition of a subscribed topic goes to at most one
//! member subscribed to it; a partition is missing only while someone else
//! still claims it. No member is given a partition that another member
//! claims, unless it wins the claim itself.
//!
//! Differences from Java: Java's rule (CooperativeStickyAssignor) holds a
//! partition back when its new owner did not list it and some other member
//! does; a member that listed it with a *stale* generation, losing the claim
//! to a newer owner, may get it straight away in Java. Here it is held back
//! too, so two members never consume it at once; it costs one more
//! rebalance in that rare case. Rack-aware assignment (KIP-881) is not done.

use std::collections::BTreeMap;

use super::sticky::StickyPlan;
use super::{Assignor, MemberSubscription, RebalanceProtocol};
use crate::TopicPartition;

/// The `cooperative-sticky` assignor. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, u32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut plan = StickyPlan::compute(partitions, members);
        for (x, set) in plan.assigned.iter_mut().enumerate() {
            set.retain(|tp| {
                let claimed_by_other = plan
                    .claimants
                    .get(tp)
                    .is_some_and(|list| list.iter().any(|&y| y != x));
                !claimed_by_other || plan.winner.get(tp) == Some(&x)
            });
        }
        plan.into_assignment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::testing::{member, owning, parts, tps};

    #[test]
    fn a_joining_member_gets_moved_partitions_only_in_the_next_round() {
        let p = parts(&[("t", 6)]);
        let round1 = [
            owning("a", &["t"], &[("t", 0), ("t", 1), ("t", 2)], 4),
            owning("b", &["t"], &[("t", 3), ("t", 4), ("t", 5)], 4),
            member("c", &["t"]),
        ];
        let got = CooperativeStickyAssignor.assign(&p, &round1);
        // t-2 and t-5 are to move to c: held back, so a and b revoke them.
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["b"], tps(&[("t", 3), ("t", 4)]));
        assert_eq!(got["c"], vec![]);

        let round2 = [
            owning("a", &["t"], &[("t", 0), ("t", 1)], 5),
            owning("b", &["t"], &[("t", 3), ("t", 4)], 5),
            owning("c", &["t"], &[], 5),
        ];
        let got = CooperativeStickyAssignor.assign(&p, &round2);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["b"], tps(&[("t", 3), ("t", 4)]));
        assert_eq!(got["c"], tps(&[("t", 2), ("t", 5)]));
    }

    #[test]
    fn a_leaving_members_partitions_move_at_once() {
        // b left: nobody claims its partitions, so they are assigned now.
        let members = [
            owning("a", &["t"], &[("t", 0), ("t", 1)], 4),
            owning("c", &["t"], &[("t", 4), ("t", 5)], 4),
        ];
        let got = CooperativeStickyAssignor.assign(&parts(&[("t", 6)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0), ("t", 1), ("t", 2)]));
        assert_eq!(got["c"], tps(&[("t", 3), ("t", 4), ("t", 5)]));
    }

    #[test]
    fn doubly_claimed_partitions_wait_until_both_owners_let_go() {
        // a and b both claim t-1 in generation 4: void, held back from both.
        let members = [
            owning("a", &["t"], &[("t", 0), ("t", 1)], 4),
            owning("b", &["t"], &[("t", 1), ("t", 2)], 4),
        ];
        let got = CooperativeStickyAssignor.assign(&parts(&[("t", 4)]), &members);
        assert!(
            !got.values()
                .flatten()
                .any(|tp| *tp == TopicPartition::new("t", 1))
        );
        // t-1 was dealt to a (tie on load, a first), then held back; t-3
        // went to b.
        assert_eq!(got["a"], tps(&[("t", 0)]));
        assert_eq!(got["b"], tps(&[("t", 2), ("t", 3)]));
    }

    #[test]
    fn the_newer_claim_keeps_its_partition_the_stale_one_does_not_get_it() {
        // t-0: a (gen 6) wins over b (gen 5): a keeps it. t-1 is claimed by
        // b only (stale, uncontested): b keeps it.
        let members = [
            owning("a", &["t"], &[("t", 0)], 6),
            owning("b", &["t"], &[("t", 0), ("t", 1)], 5),
        ];
        let got = CooperativeStickyAssignor.assign(&parts(&[("t", 2)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0)]));
        assert_eq!(got["b"], tps(&[("t", 1)]));
    }

    #[test]
    fn an_unsubscribed_topic_is_revoked_before_it_moves() {
        // a dropped u from its subscription but still lists u-0.
        let members = [
            owning("a", &["t"], &[("t", 0), ("u", 0)], 3),
            owning("b", &["t", "u"], &[("t", 1)], 3),
        ];
        let got = CooperativeStickyAssignor.assign(&parts(&[("t", 2), ("u", 1)]), &members);
        assert_eq!(got["a"], tps(&[("t", 0)]));
        assert_eq!(got["b"], tps(&[("t", 1)]));
    }
}
