//! The consumer protocol bytes a group member reads from other members
//! and the coordinator: subscriptions (JoinGroup metadata), assignments
//! (SyncGroup) and the sticky assignor's user data. The first byte picks
//! the decoder; a decoded value is encoded again and must decode to the
//! same value (partitions compared as a set: encoding groups them by topic).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vltava_group::assignor::StickyUserData;
use vltava_group::protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let bytes = Bytes::copy_from_slice(rest);
    match which % 3 {
        0 => {
            if let Ok((version, subscription)) = decode_subscription(&bytes) {
                let again = encode_subscription(&subscription, version.clamp(0, 3))
                    .expect("a decoded subscription encodes");
                let (_, decoded) = decode_subscription(&again).expect("and decodes again");
                assert_eq!(decoded.topics, subscription.topics);
            }
        }
        1 => {
            if let Ok((version, assignment)) = decode_assignment(&bytes) {
                let again = encode_assignment(&assignment, version.clamp(0, 3))
                    .expect("a decoded assignment encodes");
                let (_, decoded) = decode_assignment(&again).expect("and decodes again");
                // Encoding groups partitions by topic, so a topic that came
                // in two entries comes back as one: compare as sets.
                let mut before = assignment.partitions.clone();
                let mut after = decoded.partitions.clone();
                before.sort();
                after.sort();
                assert_eq!(after, before);
                assert_eq!(decoded.user_data, assignment.user_data);
            }
        }
        _ => {
            if let Ok(user_data) = StickyUserData::decode(rest) {
                std::hint::black_box(user_data.encode());
            }
        }
    }
});
