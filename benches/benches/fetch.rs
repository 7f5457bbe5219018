//! The fetch path: decode a 1 MiB FetchResponse and touch every record's key
//! and value, per codec; the bare decompressors on the same bytes; and the
//! same path in parts, each alone: the FetchResponse decode, the walk over
//! the batches with their CRC checked, vltava-wire's decompression, and the
//! iteration over already decompressed records. (Above the codec, what the
//! consumer does per record is the `poll` bench.)

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vltava_benches::{
    CountingAllocator, FETCH_VERSION, allocations, fetch_record_count, fetch_response,
};
use vltava_wire::messages::FetchResponse;
use vltava_wire::records::BatchRecords;
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

/// The codecs the parts of the path are measured with: those of `cargo
/// xtask bench peers`.
const PART_CODECS: [Compression; 3] = [Compression::None, Compression::Lz4, Compression::Zstd];

/// Prints `name`'s allocations per record, counted over 10 calls of `run`
/// outside the timed loop.
fn print_allocations(name: &str, records: usize, mut run: impl FnMut()) {
    let before = allocations();
    let rounds = 10;
    for _ in 0..rounds {
        run();
    }
    let per_record = (allocations() - before) as f64 / (rounds * records) as f64;
    println!("{name}: {records} records, {per_record:.4} allocations per record");
}

/// The partition's record batches, as the decoded response holds them.
fn partition_records(frame: &Bytes) -> Bytes {
    let (_, body) = vltava_wire::decode_response::<FetchResponse>(FETCH_VERSION, frame).unwrap();
    body.responses[0].partitions[0].records.clone().unwrap()
}

/// The FetchResponse decode alone: the frame into topics and partitions,
/// the records left as one `Bytes` (a view of the frame) per partition.
fn response_decode(c: &mut Criterion) {
    let records = fetch_record_count();
    let mut group = c.benchmark_group("fetch_response_decode");
    group.throughput(Throughput::Elements(records as u64));
    for codec in PART_CODECS {
        let frame = fetch_response(codec, records);
        let decode = |frame: &Bytes| {
            let (_, body) = vltava_wire::decode_response::<FetchResponse>(FETCH_VERSION, frame)
                .expect("the frame decodes");
            body.responses[0].partitions[0]
                .records
                .as_ref()
                .map_or(0, Bytes::len)
        };
        print_allocations(
            &format!("fetch_response_decode/{}", codec.name()),
            records,
            || {
                black_box(decode(&frame));
            },
        );
        group.bench_function(codec.name(), |b| b.iter(|| decode(black_box(&frame))));
    }
    group.finish();
}

/// The walk over a partition's batches alone: each batch's header read and
/// its CRC32C checked, nothing decompressed.
fn batch_walk(c: &mut Criterion) {
    let records = fetch_record_count();
    let mut group = c.benchmark_group("batch_walk");
    group.throughput(Throughput::Elements(records as u64));
    for codec in PART_CODECS {
        let data = partition_records(&fetch_response(codec, records));
        let walk = |data: &Bytes| {
            let mut last = 0;
            for batch in RecordBatches::new(data.clone()) {
                last = batch.expect("the batch decodes").last_offset();
            }
            last
        };
        print_allocations(&format!("batch_walk/{}", codec.name()), records, || {
            black_box(walk(&data));
        });
        group.bench_function(codec.name(), |b| b.iter(|| walk(black_box(&data))));
    }
    group.finish();
}

/// vltava-wire's decompression alone: each batch's records into one new
/// buffer (`Batch::records`), on batches already walked.
fn decompress(c: &mut Criterion) {
    let records = fetch_record_count();
    let mut group = c.benchmark_group("decompress");
    group.throughput(Throughput::Elements(records as u64));
    for codec in [Compression::Lz4, Compression::Zstd] {
        let data = partition_records(&fetch_response(codec, records));
        let batches: Vec<Batch> = RecordBatches::new(data).map(Result::unwrap).collect();
        let decompress_all = |batches: &[Batch]| {
            let mut bytes = 0;
            for batch in batches {
                bytes += batch
                    .records(DecompressionLimit::DEFAULT)
                    .expect("the batch decompresses")
                    .data()
                    .len();
            }
            bytes
        };
        print_allocations(&format!("decompress/{}", codec.name()), records, || {
            black_box(decompress_all(&batches));
        });
        group.bench_function(codec.name(), |b| {
            b.iter(|| decompress_all(black_box(&batches)))
        });
    }
    group.finish();
}

/// The iteration over records alone: every record of batches already
/// decompressed read, its key and value touched.
fn record_iteration(c: &mut Criterion) {
    let records = fetch_record_count();
    let mut group = c.benchmark_group("record_iteration");
    group.throughput(Throughput::Elements(records as u64));
    for codec in PART_CODECS {
        let data = partition_records(&fetch_response(codec, records));
        let decompressed: Vec<BatchRecords> = RecordBatches::new(data)
            .map(|b| b.unwrap().records(DecompressionLimit::DEFAULT).unwrap())
            .collect();
        let iterate = |decompressed: &[BatchRecords]| {
            let (mut count, mut sum) = (0usize, 0usize);
            for batch in decompressed {
                for record in batch.iter() {
                    let record = record.expect("the record decodes");
                    sum += record.key().map_or(0, |k| k[0] as usize)
                        + record.value().map_or(0, |v| v[v.len() - 1] as usize);
                    count += 1;
                }
            }
            (count, sum)
        };
        assert_eq!(iterate(&decompressed).0, records);
        print_allocations(
            &format!("record_iteration/{}", codec.name()),
            records,
            || {
                black_box(iterate(&decompressed));
            },
        );
        group.bench_function(codec.name(), |b| {
            b.iter(|| iterate(black_box(&decompressed)))
        });
    }
    group.finish();
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

criterion_group!(
    benches,
    fetch_decode,
    bare_decompressors,
    response_decode,
    batch_walk,
    decompress,
    record_iteration
);
criterion_main!(benches);
