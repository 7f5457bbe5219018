//! What the consumer does per record above the codec: a decoded 1 MiB
//! FetchResponse (the `fetch` bench's) handed to the consumer's buffer as
//! the fetcher does, then `poll`'s work (decoding the batches from the
//! position on, one `ConsumerRecord` per record, positions advanced, the
//! figures counted), and every record's key and value touched, as an
//! application would. No broker, runtime or clock: the consumer's
//! `bench_internals::PollPath` (feature `bench-internals`) drives the same
//! functions the fetcher and `poll` call.
//!
//! Compare with `fetch_decode` (the codec's whole path for the same frame,
//! FetchResponse decode included) and `record_iteration` (records read
//! from batches already decompressed): `consumer_poll` minus
//! `fetch_decode` plus `fetch_response_decode` is the consumer's own cost.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use vltava_benches::{
    CountingAllocator, FETCH_VERSION, allocations, fetch_record_count, fetch_response,
};
use vltava_consumer::bench_internals::PollPath;
use vltava_consumer::{ConsumerConfig, TopicPartition};
use vltava_wire::Compression;
use vltava_wire::messages::FetchResponse;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The settings of vltava's side of `cargo xtask bench peers`: one poll
/// takes the whole 8,886-record fetch.
const MAX_POLL_RECORDS: usize = 10_000;

/// One fetch through the consumer: the answer buffered, polled out, every
/// record's key and value touched. Returns the record count and a checksum.
fn fetch_and_poll(
    path: &mut PollPath,
    tp: &TopicPartition,
    response: FetchResponse,
) -> (usize, usize) {
    // The records start over at offset 0 every round.
    path.seek(tp, 0);
    path.handle_fetch(response);
    let (mut count, mut sum) = (0usize, 0usize);
    loop {
        let fetches = path.poll();
        if fetches.is_empty() {
            break;
        }
        for record in fetches.records() {
            sum += record.key.as_ref().map_or(0, |k| k[0] as usize)
                + record.value.as_ref().map_or(0, |v| v[v.len() - 1] as usize);
            count += 1;
        }
    }
    (count, sum)
}

fn consumer_poll(c: &mut Criterion) {
    let records = fetch_record_count();
    let tp = TopicPartition::new("bench", 0);
    let mut group = c.benchmark_group("consumer_poll");
    group.throughput(Throughput::Elements(records as u64));
    for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let (_, response) = vltava_wire::decode_response::<FetchResponse>(
            FETCH_VERSION,
            &fetch_response(codec, records),
        )
        .expect("the frame decodes");
        let config = ConsumerConfig::new().max_poll_records(MAX_POLL_RECORDS);
        let mut path = PollPath::new(config, [(tp.clone(), 0)]);
        assert_eq!(fetch_and_poll(&mut path, &tp, response.clone()).0, records);
        // Allocations per record, outside the timed loop; the answers are
        // cloned first (the fetcher owns the one it decoded), so only the
        // consumer's own allocations are counted.
        let rounds = 10;
        let answers: Vec<FetchResponse> = (0..rounds).map(|_| response.clone()).collect();
        let before = allocations();
        for answer in answers {
            black_box(fetch_and_poll(&mut path, &tp, answer));
        }
        let per_record = (allocations() - before) as f64 / (rounds * records) as f64;
        println!(
            "consumer_poll/{}: {records} records, {per_record:.4} allocations per record",
            codec.name()
        );
        group.bench_function(codec.name(), |b| {
            b.iter_batched(
                || response.clone(),
                |answer| fetch_and_poll(&mut path, &tp, answer),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, consumer_poll);
criterion_main!(benches);
