//! Any response, chosen by (API key, version) from the first four input bytes, decoded from the rest.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vltava_wire::ApiKey;

fuzz_target!(|data: &[u8]| {
    let Some((selector, frame)) = data.split_first_chunk::<4>() else {
        return;
    };
    // The key is picked modulo the known keys so that every input exercises a decoder.
    let key = ApiKey::ALL[usize::from(u16::from_be_bytes([selector[0], selector[1]])) % ApiKey::ALL.len()];
    let version = i16::from_be_bytes([selector[2], selector[3]]);
    let _ = vltava_wire::decode_response_body(key, version, &Bytes::copy_from_slice(frame));
});
