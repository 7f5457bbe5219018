//! Any request frame, decoded as a broker would: header first, then the body it names.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vltava_wire::decode_request(&Bytes::copy_from_slice(data));
});
