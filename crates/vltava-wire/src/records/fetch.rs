//! Walking the batches of a fetch response's records bytes, with a partial last batch reported, not failed.

use bytes::Bytes;

use super::batch::{BatchRecords, RecordBatch};
use super::legacy::{LegacyBatch, min_message_size};
use super::{RecordsError, be, layout};
use crate::compression::{Compression, DecompressionLimit};

/// One batch of a fetch response: a magic-2 batch, or a legacy message.
#[derive(Clone, Debug)]
pub enum Batch {
    /// A magic-2 record batch.
    V2(RecordBatch),
    /// A magic-0 or magic-1 message (possibly a compressed wrapper).
    Legacy(LegacyBatch),
}

impl Batch {
    /// The records of the batch: see [`RecordBatch::records`] and
    /// [`LegacyBatch::records`].
    pub fn records(&self, limit: DecompressionLimit) -> Result<BatchRecords, RecordsError> {
        match self {
            Batch::V2(batch) => batch.records(limit),
            Batch::Legacy(batch) => batch.records(limit),
        }
    }

    /// 0, 1 or 2.
    pub fn magic(&self) -> i8 {
        match self {
            Batch::V2(batch) => batch.magic(),
            Batch::Legacy(batch) => batch.magic(),
        }
    }

    /// The offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        match self {
            Batch::V2(batch) => batch.last_offset(),
            Batch::Legacy(batch) => batch.last_offset(),
        }
    }

    /// The offset after the batch: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The codec of the batch's records.
    pub fn compression(&self) -> Compression {
        match self {
            Batch::V2(batch) => batch.compression(),
            Batch::Legacy(batch) => batch.compression(),
        }
    }

    /// Whether the batch holds control records (never for legacy messages).
    pub fn is_control(&self) -> bool {
        matches!(self, Batch::V2(batch) if batch.is_control())
    }

    /// Whether the batch belongs to a transaction (never for legacy
    /// messages).
    pub fn is_transactional(&self) -> bool {
        matches!(self, Batch::V2(batch) if batch.is_transactional())
    }

    /// The batch's bytes, exactly as on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        match self {
            Batch::V2(batch) => batch.as_bytes(),
            Batch::Legacy(batch) => batch.as_bytes(),
        }
    }

    /// The magic-2 batch, if it is one.
    pub fn as_v2(&self) -> Option<&RecordBatch> {
        match self {
            Batch::V2(batch) => Some(batch),
            Batch::Legacy(_) => None,
        }
    }
}

/// The batch that the input ends in the middle of.
///
/// A broker fills a fetch response up to the fetch size and may cut the last
/// batch short; the consumer fetches it whole next time, from
/// [`base_offset`](Self::base_offset) (or the next offset it wants). This is
/// no error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialBatch {
    /// The batch's offset field, when its first 8 bytes arrived. For a legacy
    /// wrapper this is its last offset.
    pub base_offset: Option<i64>,
    /// The bytes of the batch that arrived.
    pub available: usize,
    /// The size of the whole batch, when its length field arrived.
    pub needed: Option<usize>,
}

/// Iterates the batches of a Fetch response partition's `records` bytes.
///
/// Each item is a whole [`Batch`], a zero-copy slice of the input whose CRC
/// has been checked (unless [`verify_crc`](Self::verify_crc) turned that
/// off). A corrupt batch (bad CRC, length or magic) yields an error, after
/// which the iteration ends: the bytes after it cannot be trusted to start a
/// batch. A batch cut off at the end of the input ends the iteration and is
/// reported by [`partial`](Self::partial).
#[derive(Clone, Debug)]
pub struct RecordBatches {
    bytes: Bytes,
    pos: usize,
    verify_crc: bool,
    partial: Option<PartialBatch>,
    failed: bool,
}

impl RecordBatches {
    /// Iterates the batches in `bytes`, checking each one's CRC.
    pub fn new(bytes: Bytes) -> RecordBatches {
        RecordBatches {
            bytes,
            pos: 0,
            verify_crc: true,
            partial: None,
            failed: false,
        }
    }

    /// Whether to check each batch's CRC (Kafka's `check.crcs`, on by
    /// default).
    pub fn verify_crc(mut self, verify: bool) -> RecordBatches {
        self.verify_crc = verify;
        self
    }

    /// The batch the input was cut in the middle of, once the iteration has
    /// reached it.
    pub fn partial(&self) -> Option<PartialBatch> {
        self.partial
    }

    /// How many bytes of the input the batches returned so far take: after
    /// an error, where the corrupt batch starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn next_batch(&mut self) -> Option<Result<Batch, RecordsError>> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let base_offset = (rest.len() >= 8).then(|| be::i64_at(rest, layout::BASE_OFFSET));
        if rest.len() < layout::LOG_OVERHEAD {
            self.partial = Some(PartialBatch {
                base_offset,
                available: rest.len(),
                needed: None,
            });
            return None;
        }
        let offset = base_offset.unwrap_or(-1);
        let length = be::i32_at(rest, layout::LENGTH);
        let invalid_length = RecordsError::InvalidBatchLength {
            base_offset: offset,
            length: i64::from(length),
        };
        let Ok(length) = usize::try_from(length) else {
            return Some(Err(invalid_length));
        };
        // The magic decides the smallest valid length; before it arrives,
        // only the smallest of all (a magic-0 message) can be checked.
        let min_length = match rest.get(layout::MAGIC).map(|&m| m as i8) {
            None => min_message_size(0).unwrap_or(0),
            Some(2) => layout::HEADER_LEN - layout::LOG_OVERHEAD,
            Some(magic) => match min_message_size(magic) {
                Some(min) => min,
                None => {
                    return Some(Err(RecordsError::UnknownMagic {
                        base_offset: offset,
                        magic,
                    }));
                }
            },
        };
        if length < min_length {
            return Some(Err(invalid_length));
        }
        let size = layout::LOG_OVERHEAD + length;
        if size > rest.len() {
            self.partial = Some(PartialBatch {
                base_offset,
                available: rest.len(),
                needed: Some(size),
            });
            return None;
        }
        let batch_bytes = self.bytes.slice(self.pos..self.pos + size);
        let magic = rest[layout::MAGIC];
        let batch = if magic == 2 {
            let batch = if self.verify_crc {
                RecordBatch::decode(batch_bytes)
            } else {
                RecordBatch::decode_without_crc_check(batch_bytes)
            };
            batch.map(Batch::V2)
        } else {
            let batch = if self.verify_crc {
                LegacyBatch::decode(batch_bytes)
            } else {
                LegacyBatch::decode_without_crc_check(batch_bytes)
            };
            batch.map(Batch::Legacy)
        };
        if batch.is_ok() {
            self.pos += size;
        }
        Some(batch)
    }
}

impl Iterator for RecordBatches {
    type Item = Result<Batch, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_batch();
        // Nothing after a corrupt batch can be trusted to start a batch.
        self.failed = matches!(next, Some(Err(_)));
        next
    }
}

impl std::iter::FusedIterator for RecordBatches {}
