//! Properties of every generated message at every version, one test per
//! message (from `for_each_message!`):
//!
//! - `roundtrip::*`: arbitrary values (proptest, shrinking the seed they are
//!   built from) encode to exactly `encoded_len` bytes, the same in pieces
//!   (`encode_segments`), decode back equal, and re-encode to the same bytes;
//! - `truncation::*`: every strict prefix of a valid encoding fails to decode
//!   with `Truncated`, without panicking;
//! - `garbage::*`: random bytes and mutated encodings never make decoding
//!   panic.

use bytes::{Bytes, BytesMut};
use proptest::prelude::any;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use vltava_wire::{DecodeErrorKind, Message, Segments, testing};

use crate::support::Noise;

/// Proptest cases per message version. There are about 1,300 message
/// versions, so this keeps the whole suite to seconds.
const CASES: u32 = 64;

/// The longest seed a round-trip case draws.
const SEED_LEN: usize = 384;

/// Encodes, checks the size, decodes, compares, and re-encodes.
fn roundtrip<M: Message>(value: &M, version: i16) -> Result<Bytes, String> {
    let len = value
        .encoded_len(version)
        .map_err(|e| format!("encoded_len failed: {e}\nvalue: {value:?}"))?;
    let mut buf = BytesMut::new();
    value
        .encode(&mut buf, version)
        .map_err(|e| format!("encode failed: {e}\nvalue: {value:?}"))?;
    if buf.len() != len {
        return Err(format!(
            "encoded_len said {len} bytes, encode wrote {}\nvalue: {value:?}",
            buf.len()
        ));
    }
    let bytes = buf.freeze();
    // In pieces, sharing every `bytes` field (the smallest threshold): the
    // same bytes, in order.
    let mut segments = Segments::new(BytesMut::new(), 1);
    value
        .encode_segments(&mut segments, version)
        .map_err(|e| format!("encode_segments failed: {e}\nvalue: {value:?}"))?;
    if segments.len() != len || segments.into_parts().concat() != bytes {
        return Err(format!(
            "encode_segments wrote other bytes than encode\nvalue: {value:?}"
        ));
    }
    let decoded = M::decode(&bytes, version)
        .map_err(|e| format!("decode failed: {e}\nvalue: {value:?}\nbytes: {bytes:?}"))?;
    if decoded != *value {
        return Err(format!(
            "decoded value differs\nvalue:   {value:?}\ndecoded: {decoded:?}"
        ));
    }
    let mut again = BytesMut::new();
    decoded
        .encode(&mut again, version)
        .map_err(|e| format!("re-encode failed: {e}"))?;
    if again != bytes {
        return Err("re-encoding the decoded value gave different bytes".to_owned());
    }
    Ok(bytes)
}

/// Runs `check` on proptest-drawn seeds. One instance of the proptest
/// machinery serves every message type, which keeps compile times down.
fn run_seeds(what: &str, check: &dyn Fn(&[u8]) -> Result<(), String>) {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let seeds = proptest::collection::vec(any::<u8>(), 0..=SEED_LEN);
    if let Err(error) = runner.run(&seeds, |seed| check(&seed).map_err(TestCaseError::fail)) {
        panic!("{what}: {error}");
    }
}

fn check_roundtrip<M: Message>() {
    for version in M::VERSIONS.min..=M::VERSIONS.max {
        let default = M::default();
        if let Err(error) = roundtrip(&default, version) {
            panic!("{} v{version}, default value: {error}", M::NAME);
        }
        run_seeds(&format!("{} v{version}", M::NAME), &|seed| {
            roundtrip(&testing::from_seed::<M>(seed, version), version).map(drop)
        });
    }
}

fn check_truncation<M: Message>() {
    for version in M::VERSIONS.min..=M::VERSIONS.max {
        let mut noise = Noise::new(u64::from(version as u16) + 1);
        let seeds = [Vec::new(), noise.bytes(96), noise.bytes(160)];
        for seed in &seeds {
            let value = testing::from_seed::<M>(seed, version);
            let bytes = roundtrip(&value, version)
                .unwrap_or_else(|e| panic!("{} v{version}: {e}", M::NAME));
            for cut in 0..bytes.len() {
                match M::decode(&bytes.slice(..cut), version) {
                    Err(error) if matches!(error.kind(), DecodeErrorKind::Truncated { .. }) => {}
                    Err(error) => panic!(
                        "{} v{version}: cut at {cut} of {}: expected Truncated, got {error}",
                        M::NAME,
                        bytes.len()
                    ),
                    Ok(decoded) => panic!(
                        "{} v{version}: cut at {cut} of {} decoded: {decoded:?}",
                        M::NAME,
                        bytes.len()
                    ),
                }
            }
        }
    }
}

fn check_garbage<M: Message>() {
    for version in M::VERSIONS.min..=M::VERSIONS.max {
        let mut noise = Noise::new(0x5eed ^ u64::from(version as u16));
        // Random bytes.
        for len in 0..48 {
            let input = Bytes::from(noise.bytes(len));
            if let Ok(value) = M::decode(&input, version) {
                let _ = value.encoded_len(version);
            }
        }
        // A valid encoding with a few bytes changed.
        let value = testing::from_seed::<M>(&noise.bytes(128), version);
        let mut buf = BytesMut::new();
        value.encode(&mut buf, version).unwrap();
        if buf.is_empty() {
            continue;
        }
        for _ in 0..32 {
            let mut input = buf.to_vec();
            for _ in 0..=noise.next_u64() % 3 {
                let at = (noise.next_u64() % input.len() as u64) as usize;
                input[at] = noise.next_u64() as u8;
            }
            if let Ok(value) = M::decode(&Bytes::from(input), version) {
                let _ = value.encoded_len(version);
            }
        }
    }
}

macro_rules! per_message_tests {
    ($check:ident: $(($module:ident, $ty:path)),* $(,)?) => {
        $(
            #[test]
            fn $module() {
                super::$check::<$ty>();
            }
        )*
    };
}

macro_rules! roundtrip_tests {
    ($($message:tt)*) => { per_message_tests!(check_roundtrip: $($message)*); };
}

macro_rules! truncation_tests {
    ($($message:tt)*) => { per_message_tests!(check_truncation: $($message)*); };
}

macro_rules! garbage_tests {
    ($($message:tt)*) => { per_message_tests!(check_garbage: $($message)*); };
}

mod roundtrip {
    vltava_wire::for_each_message!(roundtrip_tests);
}

mod truncation {
    vltava_wire::for_each_message!(truncation_tests);
}

mod garbage {
    vltava_wire::for_each_message!(garbage_tests);
}

/// The public strategy works with proptest's own macros too.
mod strategy {
    use proptest::prelude::*;
    use vltava_wire::Message;
    use vltava_wire::messages::FetchResponse;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn fetch_response_v16(response in vltava_wire::testing::arbitrary::<FetchResponse>(16)) {
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, 16).unwrap();
            prop_assert_eq!(FetchResponse::decode(&buf.freeze(), 16).unwrap(), response);
        }
    }
}
