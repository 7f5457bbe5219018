//! Client-side assignors for the classic protocol: the group leader runs
//! one over every member's subscription.

use std::collections::BTreeMap;

use crate::TopicPartition;

mod builtin;
pub mod cooperative_sticky;
pub mod range;
pub mod roundrobin;
pub mod sticky;
#[cfg(test)]
mod testing;
mod util;

pub use builtin::{BUILTIN_ASSIGNORS, by_name};
pub use cooperative_sticky::CooperativeStickyAssignor;
pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;
pub use sticky::{StickyAssignor, StickyUserData};

/// How an assignor rebalances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RebalanceProtocol {
    /// Every member gives up every partition at each rebalance.
    Eager,
    /// Members give up only the partitions that move (KIP-429); a second
    /// rebalance hands them to their new owners.
    Cooperative,
}

/// One member's subscription, as the leader sees it in JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id.
    pub member_id: String,
    /// The static instance id, if any (assignors order by it when set).
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The partitions it owns now (sticky assignors keep them).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation its owned partitions are from (`-1`: unknown).
    pub generation: i32,
    /// Its rack, if known.
    pub rack: Option<String>,
}

/// A client-side assignor.
pub trait Assignor: Send + Sync {
    /// The protocol name in JoinGroup (`range`, `roundrobin`, `sticky`,
    /// `cooperative-sticky`).
    fn name(&self) -> &'static str;

    /// Eager or cooperative.
    fn rebalance_protocol(&self) -> RebalanceProtocol;

    /// Assigns every partition of the subscribed topics (`partitions`:
    /// topic to partition count) to exactly one subscribed member. Every
    /// member gets an entry, possibly empty.
    fn assign(
        &self,
        partitions: &BTreeMap<String, u32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>>;
}
