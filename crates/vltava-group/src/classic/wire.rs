//! Minimal, private encode/decode of the consumer protocol's embedded
//! messages: the subscription a member puts in JoinGroup and the assignment
//! the leader puts in SyncGroup. Each is a 2-byte version then the struct
//! (Java's `ConsumerProtocol`).
//!
//! Kept small and isolated on purpose: the crate's own consumer-protocol
//! codec replaces these four functions when it lands.

use bytes::{BufMut, Bytes, BytesMut};
use vltava_wire::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use vltava_wire::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use vltava_wire::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use vltava_wire::{DecodeErrorKind, Message};

use crate::TopicPartition;
use crate::assignor::MemberSubscription;

/// The subscription version written (3: owned partitions, generation, rack).
const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version written.
const ASSIGNMENT_VERSION: i16 = 3;

/// The subscription part of a member's JoinGroup metadata.
pub(super) fn encode_subscription(
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
    rack: Option<&str>,
) -> Bytes {
    let message = ConsumerProtocolSubscription {
        topics: topics.to_vec(),
        user_data: None,
        owned_partitions: group_by_topic(owned)
            .into_iter()
            .map(|(topic, partitions)| OwnedTopic { topic, partitions })
            .collect(),
        generation_id: generation,
        rack_id: rack.map(str::to_owned),
    };
    encode_versioned(&message, SUBSCRIPTION_VERSION)
}

/// A member's subscription from its JoinGroup metadata; `None` when the
/// bytes are not a consumer-protocol subscription.
pub(super) fn decode_subscription(
    member_id: &str,
    group_instance_id: Option<&str>,
    bytes: &Bytes,
) -> Option<MemberSubscription> {
    let message: ConsumerProtocolSubscription = decode_versioned(bytes)?;
    Some(MemberSubscription {
        member_id: member_id.to_owned(),
        group_instance_id: group_instance_id.map(str::to_owned),
        topics: message.topics,
        owned_partitions: message
            .owned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions
                    .into_iter()
                    .map(move |p| TopicPartition::new(topic.clone(), p))
            })
            .collect(),
        generation: message.generation_id,
        rack: message.rack_id,
    })
}

/// The assignment the leader sends for one member.
pub(super) fn encode_assignment(partitions: &[TopicPartition]) -> Bytes {
    let message = ConsumerProtocolAssignment {
        assigned_partitions: group_by_topic(partitions)
            .into_iter()
            .map(|(topic, partitions)| AssignedTopic { topic, partitions })
            .collect(),
        user_data: None,
    };
    encode_versioned(&message, ASSIGNMENT_VERSION)
}

/// The partitions of a SyncGroup assignment; empty bytes are an empty
/// assignment (what the coordinator sends a member the leader left out).
/// `None` when the bytes are not a consumer-protocol assignment.
pub(super) fn decode_assignment(bytes: &Bytes) -> Option<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let message: ConsumerProtocolAssignment = decode_versioned(bytes)?;
    let mut partitions: Vec<TopicPartition> = message
        .assigned_partitions
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions
                .into_iter()
                .map(move |p| TopicPartition::new(topic.clone(), p))
        })
        .collect();
    partitions.sort();
    partitions.dedup();
    Some(partitions)
}

fn group_by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut grouped: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for tp in partitions {
        grouped.entry(&tp.topic).or_default().push(tp.partition);
    }
    grouped
        .into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort_unstable();
            partitions.dedup();
            (topic.to_owned(), partitions)
        })
        .collect()
}

fn encode_versioned<M: Message>(message: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    // Every field we set exists at `version`; an error cannot happen, and
    // if it did, an empty body would be refused by the peers rather than
    // panicking here.
    if message.encode(&mut buf, version).is_err() {
        buf.truncate(2);
    }
    buf.freeze()
}

/// Decodes a versioned embedded message. A version newer than this client
/// knows is read with the newest known layout and what follows is ignored,
/// as Java does (the spec promises that newer versions only append).
fn decode_versioned<M: Message>(bytes: &Bytes) -> Option<M> {
    if bytes.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version < M::VERSIONS.min {
        return None;
    }
    let newer = version > M::VERSIONS.max;
    let version = version.min(M::VERSIONS.max);
    let body = bytes.slice(2..);
    match M::decode(&body, version) {
        Ok(message) => Some(message),
        Err(error) if newer => match error.kind() {
            DecodeErrorKind::TrailingBytes(extra) if *extra <= body.len() => {
                M::decode(&body.slice(..body.len() - extra), version).ok()
            }
            _ => None,
        },
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips_with_owned_partitions_generation_and_rack() {
        let owned = vec![TopicPartition::new("b", 1), TopicPartition::new("a", 0)];
        let bytes = encode_subscription(&["a".into(), "b".into()], &owned, 7, Some("r1"));
        let sub = decode_subscription("m", Some("i"), &bytes).unwrap();
        assert_eq!(sub.topics, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            sub.owned_partitions,
            vec![TopicPartition::new("a", 0), TopicPartition::new("b", 1)]
        );
        assert_eq!(sub.generation, 7);
        assert_eq!(sub.rack.as_deref(), Some("r1"));
        assert_eq!(sub.group_instance_id.as_deref(), Some("i"));
    }

    #[test]
    fn assignment_round_trips_and_empty_bytes_are_empty() {
        let parts = vec![TopicPartition::new("a", 2), TopicPartition::new("a", 0)];
        let bytes = encode_assignment(&parts);
        assert_eq!(
            decode_assignment(&bytes).unwrap(),
            vec![TopicPartition::new("a", 0), TopicPartition::new("a", 2)]
        );
        assert_eq!(decode_assignment(&Bytes::new()).unwrap(), vec![]);
    }

    #[test]
    fn garbage_and_truncation_decode_to_none_without_panicking() {
        let bytes = encode_subscription(&["a".into()], &[], 1, None);
        for end in 0..bytes.len() {
            assert!(decode_subscription("m", None, &bytes.slice(..end)).is_none());
        }
        assert!(decode_assignment(&Bytes::from_static(&[0xff, 0xff, 1])).is_none());
        assert!(decode_assignment(&Bytes::from_static(&[0, 0, 0, 0, 0, 9])).is_none());
    }

    #[test]
    fn a_newer_version_is_read_with_the_newest_layout_and_its_tail_ignored() {
        let mut raw = BytesMut::new();
        raw.extend_from_slice(&encode_assignment(&[TopicPartition::new("t", 4)]));
        raw[0..2].copy_from_slice(&9i16.to_be_bytes());
        raw.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            decode_assignment(&raw.freeze()).unwrap(),
            vec![TopicPartition::new("t", 4)]
        );
    }
}
