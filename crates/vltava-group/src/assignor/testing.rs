//! Builders for the assignors' unit tests.

use std::collections::BTreeMap;

use super::MemberSubscription;
use crate::TopicPartition;

/// A dynamic member subscribed to `topics`, owning nothing.
pub(crate) fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        member_id: id.to_owned(),
        group_instance_id: None,
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        owned_partitions: Vec::new(),
        generation: -1,
        rack: None,
    }
}

/// A static member (with a group instance id).
pub(crate) fn static_member(id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        group_instance_id: Some(instance.to_owned()),
        ..member(id, topics)
    }
}

/// A member owning `owned` from `generation`.
pub(crate) fn owning(
    id: &str,
    topics: &[&str],
    owned: &[(&str, i32)],
    generation: i32,
) -> MemberSubscription {
    MemberSubscription {
        owned_partitions: tps(owned),
        generation,
        ..member(id, topics)
    }
}

/// Topic to partition count.
pub(crate) fn parts(topics: &[(&str, u32)]) -> BTreeMap<String, u32> {
    topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

/// Topic-partitions.
pub(crate) fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    list.iter()
        .map(|(t, p)| TopicPartition::new(*t, *p))
        .collect()
}
