//! Decoding fetched data ahead of the application: each partition's answer
//! has its batches' CRCs checked and compressed batches decompressed once,
//! on tokio's blocking pool while the application works through the records
//! before it, instead of on the thread that polls.
//!
//! Only the first [`DECODE_AHEAD`] bytes of the fetched data waiting for
//! `poll` are decoded ahead, which bounds the memory that decompressed
//! records take beyond what the application holds. Whatever was not decoded
//! ahead (no runtime, or the application caught up) is decoded by `poll`,
//! outside the consumer's lock; the result is the same either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use vltava_wire::records::{BatchRecords, RecordsError};
use vltava_wire::{Batch, DecompressionLimit, RecordBatches};

/// The fetched bytes, from the front of the queue, decoded ahead of
/// `poll`: 4 MiB, a few answers of `max_partition_fetch_bytes` (1 MiB by
/// default), or about one poll of 1 KB records.
pub(crate) const DECODE_AHEAD: usize = 2 * 1024 * 1024;

/// One partition's answer, decoded: its batches, CRC checked, each with
/// its records (decompressed, or the decompression's error), up to the
/// first batch that failed its checks.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) batches: Vec<PreparedBatch>,
    /// Why the batches stop short of the end of the data, if they do
    /// because one was damaged (a partial last batch is no error).
    pub(crate) error: Option<RecordsError>,
}

/// A batch and its records.
#[derive(Debug)]
pub(crate) struct PreparedBatch {
    pub(crate) batch: Batch,
    pub(crate) records: Result<BatchRecords, RecordsError>,
}

/// The decoding of one answer: done once, by whoever comes first (the
/// blocking pool or `poll`); its copies share it.
#[derive(Debug)]
pub(crate) struct Preparation {
    records: Bytes,
    /// Batches that end before this offset are never read, so not decoded.
    from: i64,
    check_crcs: bool,
    done: OnceLock<Prepared>,
    scheduled: AtomicBool,
}

impl Preparation {
    pub(crate) fn new(records: Bytes, from: i64, check_crcs: bool) -> Arc<Self> {
        Arc::new(Self {
            records,
            from,
            check_crcs,
            done: OnceLock::new(),
            scheduled: AtomicBool::new(false),
        })
    }

    /// The decoded answer, decoding it now if nobody has (or waiting for
    /// the one decoding it).
    pub(crate) fn get(&self) -> &Prepared {
        self.done
            .get_or_init(|| prepare(&self.records, self.from, self.check_crcs))
    }

    /// Whether it was decoded already.
    pub(crate) fn is_done(&self) -> bool {
        self.done.get().is_some()
    }

    /// Decodes it on tokio's blocking pool, once, if there is a runtime.
    pub(crate) fn schedule(self: &Arc<Self>) {
        if self.is_done() || self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let this = Arc::clone(self);
            drop(runtime.spawn_blocking(move || {
                this.get();
            }));
        }
    }
}

fn prepare(records: &Bytes, from: i64, check_crcs: bool) -> Prepared {
    let mut batches = Vec::new();
    for batch in RecordBatches::new(records.clone()).verify_crc(check_crcs) {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                return Prepared {
                    batches,
                    error: Some(error),
                };
            }
        };
        if batch.last_offset() < from {
            continue;
        }
        let records = batch.records(DecompressionLimit::DEFAULT);
        batches.push(PreparedBatch { batch, records });
    }
    Prepared {
        batches,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::BytesMut;
    use vltava_wire::{Compression, RecordBatchBuilder};

    use super::*;

    /// Batches of `per_batch` zstd records each, at consecutive offsets.
    fn batches(count: usize, per_batch: usize) -> BytesMut {
        let mut out = BytesMut::new();
        for b in 0..count {
            let mut builder =
                RecordBatchBuilder::new(Compression::Zstd).base_offset((b * per_batch) as i64);
            for i in 0..per_batch {
                builder
                    .append(0, None, Some(format!("value {b}/{i}").as_bytes()), &[])
                    .unwrap();
            }
            builder.build(&mut out).unwrap();
        }
        out
    }

    #[test]
    fn batches_are_decoded_from_the_one_holding_the_fetch_offset() {
        let data = batches(3, 10).freeze();
        let prepared = Preparation::new(data, 12, true);
        let done = prepared.get();
        assert!(done.error.is_none());
        let lasts: Vec<i64> = done.batches.iter().map(|b| b.batch.last_offset()).collect();
        assert_eq!(lasts, [19, 29]);
        let records = done.batches[0].records.as_ref().unwrap();
        assert_eq!(records.len(), 10);
    }

    #[test]
    fn a_damaged_batch_ends_the_batches_with_its_error() {
        let mut data = batches(3, 10);
        let second = data.len() * 2 / 3 - 1;
        data[second] ^= 0xff; // inside the second batch's compressed records
        let prepared = Preparation::new(data.freeze(), 0, true);
        let done = prepared.get();
        assert_eq!(done.batches.len(), 1);
        assert!(
            matches!(
                done.error,
                Some(RecordsError::CrcMismatch {
                    base_offset: 10,
                    ..
                })
            ),
            "{:?}",
            done.error
        );
    }

    #[test]
    fn a_scheduled_answer_is_decoded_on_the_blocking_pool_once() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let prepared = Preparation::new(batches(4, 50).freeze(), 0, true);
        runtime.block_on(async {
            prepared.schedule();
            prepared.schedule(); // once is enough
        });
        // Nobody here asks for it: the pool decodes it by itself.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !prepared.is_done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(prepared.is_done());
        assert_eq!(prepared.get().batches.len(), 4);
    }

    #[test]
    fn without_a_runtime_nothing_is_scheduled_and_poll_decodes() {
        let prepared = Preparation::new(batches(2, 5).freeze(), 0, true);
        prepared.schedule();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!prepared.is_done());
        assert_eq!(prepared.get().batches.len(), 2);
        assert!(prepared.is_done());
    }
}
