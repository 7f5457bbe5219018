//! The produce path: encode a batch of 100-byte records, per codec.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vltava_benches::{RECORDS_PER_BATCH, key, value};
use vltava_wire::{Compression, RecordBatchBuilder};

fn produce_encode(c: &mut Criterion) {
    let records: Vec<(Vec<u8>, Vec<u8>)> =
        (0..RECORDS_PER_BATCH).map(|i| (key(i), value(i))).collect();
    let mut group = c.benchmark_group("produce_encode");
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    for codec in Compression::ALL {
        let mut out = BytesMut::with_capacity(64 << 10);
        group.bench_function(codec.name(), |b| {
            b.iter(|| {
                out.clear();
                let mut builder = RecordBatchBuilder::new(codec).producer(1000, 0, 0);
                for (i, (k, v)) in records.iter().enumerate() {
                    builder
                        .append(1_700_000_000_000 + i as i64, Some(k), Some(v), &[])
                        .unwrap();
                }
                builder.build(&mut out).unwrap();
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, produce_encode);
criterion_main!(benches);
