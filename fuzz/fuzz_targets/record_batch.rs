//! The records of a fetch response: every batch (magic 0, 1 or 2), decompressed
//! under a 1 MiB limit, every record's key, value and headers touched.
//!
//! CRC checks are off: with them on, almost every mutation dies at the
//! checksum and the fuzzer never reaches the decompressors or the record
//! parser. Those must be safe on any bytes anyway, as with `check.crcs=false`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vltava_wire::{DecompressionLimit, RecordBatches};

fuzz_target!(|data: &[u8]| {
    let limit = DecompressionLimit::new(1 << 20);
    for batch in RecordBatches::new(Bytes::copy_from_slice(data)).verify_crc(false) {
        let Ok(batch) = batch else { break };
        let Ok(records) = batch.records(limit) else { continue };
        for record in records.iter() {
            let Ok(record) = record else { break };
            std::hint::black_box((record.offset(), record.timestamp(), record.key(), record.value()));
            for header in record.headers() {
                let Ok(header) = header else { break };
                std::hint::black_box((header.key(), header.value()));
            }
        }
    }
});
