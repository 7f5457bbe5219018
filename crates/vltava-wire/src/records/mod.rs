//! Record batches: decoding a fetch response's records bytes lazily, and building batches to produce.
//!
//! # Reading a fetch response
//!
//! A partition's `records` field in a Fetch response is a run of batches:
//! magic-2 [`RecordBatch`]es, or for old data, magic-0/1 messages
//! ([`LegacyBatch`]). [`RecordBatches`] walks them; each item is a [`Batch`],
//! a zero-copy slice of the response bytes whose checksum has been checked.
//! A batch's [`records`](Batch::records) are decompressed (once, into one
//! buffer per batch) or sliced, and iterated as [`Record`] views: nothing is
//! allocated per record.
//!
//! ```
//! use bytes::BytesMut;
//! use vltava_wire::compression::{Compression, DecompressionLimit};
//! use vltava_wire::records::{RecordBatchBuilder, RecordBatches, RecordsError};
//!
//! # fn main() -> Result<(), RecordsError> {
//! // What a producer sends (and a broker hands back in a fetch).
//! let mut builder = RecordBatchBuilder::new(Compression::Lz4).base_offset(100);
//! builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
//! let mut fetched = BytesMut::new();
//! builder.build(&mut fetched)?;
//!
//! let mut batches = RecordBatches::new(fetched.freeze());
//! for batch in &mut batches {
//!     let batch = batch?; // a corrupt batch is an error
//!     let records = batch.records(DecompressionLimit::default())?;
//!     for record in &records {
//!         let record = record?;
//!         assert_eq!(record.offset(), 100);
//!         assert_eq!(record.value(), Some(&b"value"[..]));
//!         let _owned = record.value_bytes(); // a zero-copy `Bytes`
//!     }
//! }
//! // The broker cuts the last batch at the fetch size: that is no error.
//! assert!(batches.partial().is_none());
//! # Ok(())
//! # }
//! ```
//!
//! # The magic-2 layout
//!
//! ```text
//! baseOffset: int64            } not covered by the CRC
//! batchLength: int32           }  (length of everything after this field)
//! partitionLeaderEpoch: int32  }
//! magic: int8 (= 2)            }
//! crc: uint32                  CRC32C of everything after it
//! attributes: int16            bits 0-2 compression, 3 timestamp type,
//!                              4 transactional, 5 control, 6 delete horizon
//! lastOffsetDelta: int32
//! baseTimestamp: int64
//! maxTimestamp: int64
//! producerId: int64
//! producerEpoch: int16
//! baseSequence: int32
//! recordsCount: int32
//! records: [Record]            compressed as a whole when bits 0-2 say so
//!
//! Record:
//! length: varint  attributes: int8  timestampDelta: varlong
//! offsetDelta: varint  keyLength: varint  key  valueLength: varint  value
//! headersCount: varint  [headerKeyLength: varint  headerKey
//!                        headerValueLength: varint  headerValue]
//! ```
//!
//! # Robustness
//!
//! No input makes a decoder panic. Every length is checked against the bytes
//! that remain before it is used, and no buffer is sized from a count the
//! input declares (a record count may lie; it only bounds the iteration).
//! Anything malformed is a typed [`RecordsError`], except a batch cut off at
//! the end of the input, which is a [`PartialBatch`] notice.

mod batch;
mod builder;
mod fetch;
mod legacy;
mod record;
mod varint;

pub use batch::{BatchRecords, RecordBatch, Records, TimestampType};
pub use builder::{RecordBatchBuilder, RecordHeader};
pub use fetch::{Batch, PartialBatch, RecordBatches};
pub use legacy::LegacyBatch;
pub use record::{
    ControlRecord, ControlRecordType, EndTxnMarker, Header, Headers, OwnedHeader, OwnedRecord,
    Record, TransactionResult,
};

use crate::compression::CompressionError;

/// Why a record batch, message or record could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// A batch's stored checksum does not match its bytes.
    #[error(
        "record batch at offset {base_offset} failed its CRC check (stored {stored:#010x}, \
         computed {computed:#010x}): the data is corrupt; fetch it again"
    )]
    CrcMismatch {
        /// The offset field of the batch or message.
        base_offset: i64,
        /// The checksum stored in the batch.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// The magic byte is not 0, 1 or 2.
    #[error("record batch at offset {base_offset} has unknown magic {magic}: the data is corrupt")]
    UnknownMagic {
        /// The offset field of the batch.
        base_offset: i64,
        /// The magic byte found.
        magic: i8,
    },
    /// A batch length that no batch can have (too small for its header, or
    /// negative), or one that disagrees with the bytes given.
    #[error(
        "record batch at offset {base_offset} has invalid length {length}: the data is corrupt"
    )]
    InvalidBatchLength {
        /// The offset field of the batch.
        base_offset: i64,
        /// The length found.
        length: i64,
    },
    /// The batch names a compression codec Kafka does not define (5-7).
    #[error("record batch at offset {base_offset} uses unknown compression codec {id}")]
    UnknownCompression {
        /// The offset field of the batch.
        base_offset: i64,
        /// Bits 0-2 of the attributes.
        id: u8,
    },
    /// A field runs past the end of its batch or record.
    #[error("truncated {what}: the record batch is corrupt")]
    Truncated {
        /// The field.
        what: &'static str,
    },
    /// A field holds a value its type forbids (a negative length or count).
    #[error("invalid {what} {value}: the record batch is corrupt")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// The value found.
        value: i64,
    },
    /// Bytes are left over where a structure should end.
    #[error("{remaining} bytes left over after the {what}: the record batch is corrupt")]
    TrailingBytes {
        /// What should have ended.
        what: &'static str,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A legacy wrapper message holds compressed inner messages, or inner
    /// offsets that do not fit its own.
    #[error("invalid legacy message set at offset {offset}: {reason}")]
    InvalidLegacyMessage {
        /// The wrapper message's offset.
        offset: i64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A control record whose key or value is malformed, or a record asked
    /// for as a control record that is not one.
    #[error("invalid control record: {0}")]
    InvalidControlRecord(&'static str),
    /// Decompressing the batch's records failed.
    #[error("record batch at offset {base_offset}: {source}")]
    Decompression {
        /// The offset field of the batch or wrapper message.
        base_offset: i64,
        /// Why.
        #[source]
        source: CompressionError,
    },
    /// Building a batch: a record does not fit the batch (offset delta out of
    /// order or past `i32`, a key or value longer than `i32::MAX`, ...).
    #[error("cannot add the record to the batch: {0}")]
    InvalidAppend(&'static str),
    /// Building a batch: compressing it failed.
    #[error("cannot build the record batch: {0}")]
    Compression(#[from] CompressionError),
}

/// Offsets of the magic-2 batch header fields (Kafka's `DefaultRecordBatch`).
mod layout {
    pub(super) const BASE_OFFSET: usize = 0;
    pub(super) const LENGTH: usize = 8;
    /// Everything before this is the log overhead: offset and length.
    pub(super) const LOG_OVERHEAD: usize = 12;
    pub(super) const PARTITION_LEADER_EPOCH: usize = 12;
    pub(super) const MAGIC: usize = 16;
    pub(super) const CRC: usize = 17;
    pub(super) const ATTRIBUTES: usize = 21;
    pub(super) const LAST_OFFSET_DELTA: usize = 23;
    pub(super) const BASE_TIMESTAMP: usize = 27;
    pub(super) const MAX_TIMESTAMP: usize = 35;
    pub(super) const PRODUCER_ID: usize = 43;
    pub(super) const PRODUCER_EPOCH: usize = 51;
    pub(super) const BASE_SEQUENCE: usize = 53;
    pub(super) const RECORDS_COUNT: usize = 57;
    pub(super) const RECORDS: usize = 61;
    /// The header size: the smallest magic-2 batch.
    pub(super) const HEADER_LEN: usize = RECORDS;
}

/// Attribute bits of a magic-2 batch.
mod attributes {
    pub(super) const COMPRESSION_MASK: i16 = 0x07;
    pub(super) const TIMESTAMP_TYPE: i16 = 0x08;
    pub(super) const TRANSACTIONAL: i16 = 0x10;
    pub(super) const CONTROL: i16 = 0x20;
    pub(super) const DELETE_HORIZON: i16 = 0x40;
}

/// Big-endian reads at fixed offsets of a slice already checked to be long
/// enough.
mod be {
    pub(super) fn i16_at(b: &[u8], at: usize) -> i16 {
        i16::from_be_bytes([b[at], b[at + 1]])
    }
    pub(super) fn i32_at(b: &[u8], at: usize) -> i32 {
        i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    pub(super) fn i64_at(b: &[u8], at: usize) -> i64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&b[at..at + 8]);
        i64::from_be_bytes(bytes)
    }
}

#[cfg(test)]
mod tests;
