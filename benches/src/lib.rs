//! Shared inputs for Vltava's criterion benchmarks: realistic fetch
//! responses and record payloads, and an allocation-counting allocator.
//!
//! Not a library anyone depends on; it exists so the benches in `benches/`
//! build their inputs the same way.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use vltava_wire::messages::{
    FetchResponse,
    fetch_response::{FetchableTopicResponse, PartitionData},
};
use vltava_wire::{Compression, RecordBatchBuilder};

/// Records per batch, about what the Java producer's 16 KiB `batch.size` holds
/// of 100-byte records.
pub const RECORDS_PER_BATCH: usize = 128;
/// Value size of every record.
pub const VALUE_SIZE: usize = 100;
/// Uncompressed record bytes per fetch response: 1 MiB.
pub const FETCH_BYTES: usize = 1 << 20;
/// The Fetch version the benches decode.
pub const FETCH_VERSION: i16 = 12;

/// A global allocator that counts allocations, to report allocations per record.
pub struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made so far by this process.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// A deterministic 100-byte value that compresses like typical JSON events
/// (roughly 2-4x), so codec figures are not flattered by repeated bytes.
pub fn value(i: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "\"user\":",
        "\"id\":",
        "\"event\":",
        "\"click\"",
        "\"view\"",
        "\"ts\":",
        "\"page\":",
        "\"/home\"",
        "\"/cart\"",
        "true",
        "false",
        "\"ok\"",
        ",",
        "{",
        "}",
        "\"region\":",
    ];
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(VALUE_SIZE);
    while out.len() < VALUE_SIZE {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state % 3 == 0 {
            out.extend_from_slice((state % 100_000).to_string().as_bytes());
        } else {
            out.extend_from_slice(WORDS[(state % 16) as usize].as_bytes());
        }
    }
    out.truncate(VALUE_SIZE);
    out
}

/// The record key of record `i`: 8 bytes.
pub fn key(i: usize) -> Vec<u8> {
    format!("k{:07}", i % 10_000_000).into_bytes()
}

/// Record batches holding `records` records, `RECORDS_PER_BATCH` each, with `codec`.
pub fn batches(codec: Compression, records: usize) -> Bytes {
    let mut out = BytesMut::new();
    let mut offset = 0usize;
    while offset < records {
        let n = RECORDS_PER_BATCH.min(records - offset);
        let mut builder = RecordBatchBuilder::new(codec)
            .base_offset(offset as i64)
            .producer(1000, 0, offset as i32);
        for i in offset..offset + n {
            let (k, v) = (key(i), value(i));
            builder
                .append(1_700_000_000_000 + i as i64, Some(&k), Some(&v), &[])
                .expect("the builder takes the record");
        }
        builder.build(&mut out).expect("the batch encodes");
        offset += n;
    }
    out.freeze()
}

/// Records in a 1 MiB fetch: 1 MiB of uncompressed record bytes.
pub fn fetch_record_count() -> usize {
    // A record of an 8-byte key and a 100-byte value takes about 122 bytes in a batch.
    let one = batches(Compression::None, RECORDS_PER_BATCH).len() / RECORDS_PER_BATCH;
    FETCH_BYTES / one
}

/// A FetchResponse frame (response header v1 + body, no size prefix) at
/// [`FETCH_VERSION`], one partition of `records` records with `codec`.
pub fn fetch_response(codec: Compression, records: usize) -> Bytes {
    let body = FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "bench".into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: records as i64,
                last_stable_offset: records as i64,
                log_start_offset: 0,
                records: Some(batches(codec, records)),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut frame = BytesMut::new();
    vltava_wire::encode_response(7, FETCH_VERSION, &body, &mut frame)
        .expect("the response encodes");
    frame.freeze()
}

/// The broker of the benches that need one: the cluster named by
/// `VLTAVA_CLUSTER_DIR` if it is set (`cargo xtask cluster up`), else a
/// one-node cluster started in `target/` and taken down when this is dropped.
pub struct BenchCluster {
    cluster: Option<vltava_testkit::Cluster>,
    owned: Option<vltava_testkit::OwnedCluster>,
}

impl BenchCluster {
    /// Attaches to the cluster of `VLTAVA_CLUSTER_DIR`, or starts one.
    pub fn get() -> Self {
        match vltava_testkit::Cluster::from_env() {
            Ok(cluster) => Self {
                cluster: Some(cluster),
                owned: None,
            },
            Err(_) => {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/vltava-bench-cluster");
                eprintln!(
                    "no VLTAVA_CLUSTER_DIR: starting a one-node cluster in {}",
                    dir.display()
                );
                let config = vltava_testkit::ClusterConfig::new(dir).nodes(1);
                Self {
                    cluster: None,
                    owned: Some(
                        vltava_testkit::OwnedCluster::start(config)
                            .unwrap_or_else(|e| panic!("{e}")),
                    ),
                }
            }
        }
    }
}

impl std::ops::Deref for BenchCluster {
    type Target = vltava_testkit::Cluster;

    fn deref(&self) -> &vltava_testkit::Cluster {
        match (&self.cluster, &self.owned) {
            (Some(cluster), _) => cluster,
            (None, Some(owned)) => owned,
            (None, None) => unreachable!("a BenchCluster holds one cluster"),
        }
    }
}

/// Whether the command line names benchmarks (cargo bench's filter) none
/// of which is `group`: benches that need a cluster then skip starting one.
pub fn filtered_out(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    !filters.is_empty()
        && !filters
            .iter()
            .any(|f| group.contains(f.as_str()) || f.contains(group))
}
