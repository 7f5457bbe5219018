//! Property tests of the consumer protocol codec: round trips at every
//! version, and arbitrary or damaged bytes give a value or an error, never
//! a panic.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use vltava_group::TopicPartition;
use vltava_group::assignor::StickyUserData;
use vltava_group::protocol::{
    ASSIGNMENT_VERSION, Assignment, SUBSCRIPTION_VERSION, Subscription, decode_assignment,
    decode_subscription, encode_assignment, encode_subscription,
};

/// Partitions in the canonical order the codec writes (grouped by topic,
/// topics sorted, partitions as given within a topic).
fn partitions() -> impl Strategy<Value = Vec<TopicPartition>> {
    prop::collection::btree_map(
        "[a-z.\\-_]{1,8}",
        prop::collection::vec(any::<i32>(), 0..5),
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .flat_map(|(t, ps)| {
                ps.into_iter()
                    .map(move |p| TopicPartition::new(t.clone(), p))
            })
            .collect()
    })
}

fn subscription() -> impl Strategy<Value = Subscription> {
    (
        prop::collection::vec("\\PC{0,12}", 0..5),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
        partitions(),
        any::<i32>(),
        prop::option::of("\\PC{0,8}"),
    )
        .prop_map(
            |(topics, user_data, owned_partitions, generation, rack)| Subscription {
                topics,
                user_data: user_data.map(Bytes::from),
                owned_partitions,
                generation,
                rack,
            },
        )
}

fn assignment() -> impl Strategy<Value = Assignment> {
    (
        partitions(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
    )
        .prop_map(|(partitions, user_data)| Assignment {
            partitions,
            user_data: user_data.map(Bytes::from),
        })
}

proptest! {
    #[test]
    fn subscriptions_round_trip_at_every_version(sub in subscription(), version in 0..=SUBSCRIPTION_VERSION) {
        let bytes = encode_subscription(&sub, version).unwrap();
        let (v, got) = decode_subscription(&bytes).unwrap();
        prop_assert_eq!(v, version);
        let mut expected = sub;
        if version < 1 { expected.owned_partitions.clear(); }
        if version < 2 { expected.generation = -1; }
        if version < 3 { expected.rack = None; }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn assignments_round_trip_at_every_version(a in assignment(), version in 0..=ASSIGNMENT_VERSION) {
        let bytes = encode_assignment(&a, version).unwrap();
        prop_assert_eq!(decode_assignment(&bytes).unwrap(), (version, a));
    }

    #[test]
    fn newer_versions_read_as_the_newest(sub in subscription(), version in 4i16..=i16::MAX, tail in prop::collection::vec(any::<u8>(), 0..8)) {
        let v3 = encode_subscription(&sub, 3).unwrap();
        let mut newer = BytesMut::new();
        newer.put_i16(version);
        newer.put_slice(&v3[2..]);
        newer.put_slice(&tail);
        prop_assert_eq!(decode_subscription(&newer.freeze()).unwrap(), (version, sub));
    }

    #[test]
    fn sticky_user_data_round_trips(partitions in partitions(), generation in prop::option::of(any::<i32>())) {
        let data = StickyUserData { partitions, generation };
        let got = StickyUserData::decode(&data.encode()).unwrap();
        prop_assert_eq!(got.partitions, data.partitions);
        prop_assert_eq!(got.generation, Some(generation.unwrap_or(-1)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let bytes = Bytes::from(bytes);
        let _ = decode_subscription(&bytes);
        let _ = decode_assignment(&bytes);
        let _ = StickyUserData::decode(&bytes);
    }

    #[test]
    fn damaged_messages_never_panic(sub in subscription(), a in assignment(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let sub_bytes = encode_subscription(&sub, 3).unwrap();
        let a_bytes = encode_assignment(&a, 3).unwrap();
        for bytes in [&sub_bytes, &a_bytes] {
            let mut damaged = bytes.to_vec();
            let i = at.index(damaged.len());
            damaged[i] = byte;
            let damaged = Bytes::from(damaged);
            let _ = decode_subscription(&damaged);
            let _ = decode_assignment(&damaged);
        }
        // Cut short (but not empty, which is the empty assignment): an error.
        let short = sub_bytes.slice(..cut.index(sub_bytes.len()).max(1));
        prop_assert!(decode_subscription(&short).is_err());
        let short = a_bytes.slice(..cut.index(a_bytes.len()).max(1));
        prop_assert!(decode_assignment(&short).is_err());
    }
}
