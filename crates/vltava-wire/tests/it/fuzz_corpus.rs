//! The fuzz targets' seed corpus, run as ordinary tests: the same three calls
//! as `fuzz/fuzz_targets/*.rs`, so every committed input (and any crash input
//! saved beside the seeds) is checked on every `cargo xtask test`, without
//! a nightly toolchain.

use std::path::PathBuf;

use bytes::Bytes;
use vltava_wire::{ApiKey, DecompressionLimit, RecordBatches};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no seeds in {}", dir.display());
    inputs
}

#[test]
fn response_seeds_decode_as_the_responses_they_were_captured_as() {
    for (name, data) in inputs("response") {
        let (selector, frame) = data.split_at(4);
        let key = ApiKey::ALL
            [usize::from(u16::from_be_bytes([selector[0], selector[1]])) % ApiKey::ALL.len()];
        let version = i16::from_be_bytes([selector[2], selector[3]]);
        let decoded =
            vltava_wire::decode_response_body(key, version, &Bytes::copy_from_slice(frame));
        assert!(decoded.is_ok(), "{name}: {decoded:?}");
    }
}

#[test]
fn request_seeds_decode_as_requests() {
    for (name, data) in inputs("request") {
        let decoded = vltava_wire::decode_request(&Bytes::from(data));
        assert!(decoded.is_ok(), "{name}: {:?}", decoded.err());
    }
}

#[test]
fn record_batch_seeds_yield_records_without_error() {
    for (name, data) in inputs("record_batch") {
        let mut count = 0;
        let mut batches = RecordBatches::new(Bytes::from(data));
        for batch in &mut batches {
            let batch = batch.unwrap_or_else(|e| panic!("{name}: {e}"));
            let records = batch.records(DecompressionLimit::new(1 << 20)).unwrap();
            for record in records.iter() {
                let record = record.unwrap_or_else(|e| panic!("{name}: {e}"));
                for header in record.headers() {
                    header.unwrap_or_else(|e| panic!("{name}: {e}"));
                }
                count += 1;
            }
        }
        assert!(count > 0, "{name}: no records");
    }
}
