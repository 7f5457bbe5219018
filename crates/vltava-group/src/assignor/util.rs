//! What the assignors share: Java's string order, Java's member order, and
//! the clean-up of the input (duplicate members, unknown topics).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::MemberSubscription;
use crate::TopicPartition;

/// `String.compareTo` in Java: UTF-16 code units, not bytes. It differs from
/// Rust's byte order only for characters above U+FFFF against U+E000..U+FFFF,
/// but mixed groups must sort the same way.
pub(crate) fn java_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java's `MemberInfo` order (range, roundrobin): members with a group
/// instance id first, by instance id; then the others by member id. The
/// member id breaks the (invalid) tie of two equal instance ids.
pub(crate) fn member_info_cmp(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y).then_with(|| java_cmp(&a.member_id, &b.member_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(&a.member_id, &b.member_id),
    }
}

/// Java's order of topic-partitions: topic (Java string order), then partition.
pub(crate) fn tp_cmp(a: &TopicPartition, b: &TopicPartition) -> Ordering {
    java_cmp(&a.topic, &b.topic).then(a.partition.cmp(&b.partition))
}

/// The members, each member id once (the first occurrence wins: the
/// coordinator never sends a member twice, so a repeat is ignored).
pub(crate) fn unique_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut seen = BTreeSet::new();
    members
        .iter()
        .filter(|m| seen.insert(m.member_id.as_str()))
        .collect()
}

/// The number of partitions of `topic` that can be assigned: partition ids
/// are `i32`, so a count above `i32::MAX` is cut there.
pub(crate) fn partition_count(partitions: &BTreeMap<String, u32>, topic: &str) -> i32 {
    partitions
        .get(topic)
        .map_or(0, |&n| i32::try_from(n).unwrap_or(i32::MAX))
}

/// The topics `member` subscribes to that exist and have partitions, each once.
pub(crate) fn subscribed_topics<'a>(
    partitions: &BTreeMap<String, u32>,
    member: &'a MemberSubscription,
) -> BTreeSet<&'a str> {
    member
        .topics
        .iter()
        .map(String::as_str)
        .filter(|t| partition_count(partitions, t) > 0)
        .collect()
}

/// An empty entry for every member, as the trait promises.
pub(crate) fn empty_assignment(
    members: &[&MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_order_is_utf16_order() {
        // U+1F600 sorts after U+FF61 in bytes (F0.. > EF..) but before it in
        // UTF-16 (its surrogate pair starts with 0xD83D < 0xFF61).
        assert_eq!("\u{1F600}".cmp("\u{FF61}"), Ordering::Greater);
        assert_eq!(java_cmp("\u{1F600}", "\u{FF61}"), Ordering::Less);
        assert_eq!(java_cmp("a", "b"), Ordering::Less);
        assert_eq!(java_cmp("ab", "a"), Ordering::Greater);
    }
}
