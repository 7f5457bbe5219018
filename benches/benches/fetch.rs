//! The fetch path: decode a 1 MiB FetchResponse and touch every record's key
//! and value, per codec; and the bare decompressors on the same bytes.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vltava_benches::{
    CountingAllocator, FETCH_VERSION, allocations, fetch_record_count, fetch_response,
};
use vltava_wire::messages::FetchResponse;
use vltava_wire::{Batch, Compression, DecompressionLimit, RecordBatches};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Decodes the frame, checks every batch's CRC, decompresses, and touches
/// every record's key and value. Returns the record count and a checksum.
fn consume(frame: &Bytes) -> (usize, usize) {
    let (_, body) = vltava_wire::decode_response::<FetchResponse>(FETCH_VERSION, frame)
        .expect("the frame decodes");
    let (mut count, mut sum) = (0usize, 0usize);
    for topic in &body.responses {
        for partition in &topic.partitions {
            let Some(records) = partition.records.clone() else {
                continue;
            };
            for batch in RecordBatches::new(records) {
                let batch = batch.expect("the batch decodes");
                let records = batch.records(DecompressionLimit::DEFAULT).expect("records");
                for record in records.iter() {
                    let record = record.expect("the record decodes");
                    sum += record.key().map_or(0, |k| k[0] as usize)
                        + record.value().map_or(0, |v| v[v.len() - 1] as usize);
                    count += 1;
                }
            }
        }
    }
    (count, sum)
}

/// The compressed payload of every batch (the bytes after the 61-byte batch header).
fn payloads(frame: &Bytes) -> Vec<Bytes> {
    let (_, body) = vltava_wire::decode_response::<FetchResponse>(FETCH_VERSION, frame).unwrap();
    let records = body.responses[0].partitions[0].records.clone().unwrap();
    RecordBatches::new(records)
        .map(|b| match b.unwrap() {
            Batch::V2(batch) => batch.as_bytes().slice(61..),
            Batch::Legacy(_) => unreachable!("the benches write magic 2"),
        })
        .collect()
}

/// The codec's own crate, called directly on one batch payload: the floor
/// that decoding a compressed batch is measured against.
fn bare_decompress(codec: Compression, payload: &[u8], out: &mut Vec<u8>) {
    use std::io::Read;
    out.clear();
    match codec {
        Compression::None => out.extend_from_slice(payload),
        Compression::Gzip => {
            flate2::read::GzDecoder::new(payload)
                .read_to_end(out)
                .unwrap();
        }
        Compression::Snappy => {
            // xerial framing: 16-byte header, then [u32 BE length, raw block]*.
            let mut rest = &payload[16..];
            let mut decoder = snap::raw::Decoder::new();
            while rest.len() >= 4 {
                let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                let block = &rest[4..4 + len];
                let start = out.len();
                out.resize(start + snap::raw::decompress_len(block).unwrap(), 0);
                decoder.decompress(block, &mut out[start..]).unwrap();
                rest = &rest[4 + len..];
            }
        }
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(payload)
                .read_to_end(out)
                .unwrap();
        }
        Compression::Zstd => {
            // The fastest way to call libzstd: one shot into a buffer of the
            // frame's declared size (the builder writes it), with a reused
            // context, rather than the slower streaming decoder.
            thread_local! {
                static ZSTD: std::cell::RefCell<zstd::bulk::Decompressor<'static>> =
                    std::cell::RefCell::new(zstd::bulk::Decompressor::new().unwrap());
            }
            let size = zstd::zstd_safe::get_frame_content_size(payload)
                .ok()
                .flatten()
                .expect("the builder declares the content size") as usize;
            out.reserve(size);
            ZSTD.with(|z| z.borrow_mut().decompress_to_buffer(payload, out).unwrap());
        }
    }
}

fn fetch_decode(c: &mut Criterion) {
    let records = fetch_record_count();
    let mut group = c.benchmark_group("fetch_decode");
    group.throughput(Throughput::Elements(records as u64));
    for codec in Compression::ALL {
        let frame = fetch_response(codec, records);
        assert_eq!(consume(&frame).0, records);
        // Allocations per record, outside the timed loop.
        let before = allocations();
        let rounds = 10;
        for _ in 0..rounds {
            black_box(consume(&frame));
        }
        let per_record = (allocations() - before) as f64 / (rounds * records) as f64;
        println!(
            "fetch_decode/{}: {records} records, {} frame bytes, {per_record:.4} allocations per record",
            codec.name(),
            frame.len()
        );
        group.bench_function(codec.name(), |b| b.iter(|| consume(black_box(&frame))));
    }
    group.finish();
}

fn bare_decompressors(c: &mut Criterion) {
    let records = fetch_record_count();
    let mut group = c.benchmark_group("bare_decompress");
    group.throughput(Throughput::Elements(records as u64));
    for codec in Compression::ALL
        .into_iter()
        .filter(|c| *c != Compression::None)
    {
        let payloads = payloads(&fetch_response(codec, records));
        let mut out = Vec::with_capacity(64 << 10);
        group.bench_function(codec.name(), |b| {
            b.iter(|| {
                for payload in &payloads {
                    bare_decompress(codec, black_box(payload), &mut out);
                    black_box(&out);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fetch_decode, bare_decompressors);
criterion_main!(benches);
