//! Magic-2 record batches: header fields, CRC32C check, and the zero-allocation record iterator.

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::record::{Record, take, take_nullable};
use super::varint::{read_raw32, read_raw64, read_varint, read_varlong, zigzag32, zigzag64};
use super::{RecordsError, attributes, be, layout};
use crate::compression::{self, Compression, DecompressionLimit};

/// What a batch's timestamps mean: attribute bit 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer when it created each record.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch: every record of the
    /// batch has the batch's max timestamp.
    LogAppendTime,
}

/// One magic-2 record batch: its header fields, and its bytes as one
/// zero-copy [`Bytes`] (usually a slice of a fetch response).
///
/// The header is parsed when the batch is decoded; the records are read by
/// [`records`](RecordBatch::records).
#[derive(Clone)]
pub struct RecordBatch {
    bytes: Bytes,
    base_offset: i64,
    partition_leader_epoch: i32,
    crc: u32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: u32,
    compression: Compression,
}

impl RecordBatch {
    /// Decodes one whole batch (exactly its bytes, no more, no less) and
    /// checks its CRC32C.
    pub fn decode(bytes: Bytes) -> Result<RecordBatch, RecordsError> {
        let batch = RecordBatch::decode_without_crc_check(bytes)?;
        batch.verify_crc()?;
        Ok(batch)
    }

    /// Decodes one whole batch without checking its CRC (Kafka's
    /// `check.crcs=false`). Structure is still checked.
    pub fn decode_without_crc_check(bytes: Bytes) -> Result<RecordBatch, RecordsError> {
        let b = &bytes[..];
        if b.len() < layout::HEADER_LEN {
            let base_offset = if b.len() >= 8 { be::i64_at(b, 0) } else { -1 };
            return Err(RecordsError::InvalidBatchLength {
                base_offset,
                length: b.len() as i64 - layout::LOG_OVERHEAD as i64,
            });
        }
        let base_offset = be::i64_at(b, layout::BASE_OFFSET);
        let length = be::i32_at(b, layout::LENGTH);
        if i64::from(length) != (b.len() - layout::LOG_OVERHEAD) as i64 {
            return Err(RecordsError::InvalidBatchLength {
                base_offset,
                length: i64::from(length),
            });
        }
        let magic = b[layout::MAGIC] as i8;
        if magic != 2 {
            return Err(RecordsError::UnknownMagic { base_offset, magic });
        }
        let attributes = be::i16_at(b, layout::ATTRIBUTES);
        let codec_id = (attributes & attributes::COMPRESSION_MASK) as u8;
        let compression =
            Compression::from_id(codec_id).ok_or(RecordsError::UnknownCompression {
                base_offset,
                id: codec_id,
            })?;
        let record_count = be::i32_at(b, layout::RECORDS_COUNT);
        let record_count = u32::try_from(record_count).map_err(|_| RecordsError::InvalidField {
            what: "record count",
            value: i64::from(record_count),
        })?;
        Ok(RecordBatch {
            base_offset,
            partition_leader_epoch: be::i32_at(b, layout::PARTITION_LEADER_EPOCH),
            crc: be::u32_at(b, layout::CRC),
            attributes,
            last_offset_delta: be::i32_at(b, layout::LAST_OFFSET_DELTA),
            base_timestamp: be::i64_at(b, layout::BASE_TIMESTAMP),
            max_timestamp: be::i64_at(b, layout::MAX_TIMESTAMP),
            producer_id: be::i64_at(b, layout::PRODUCER_ID),
            producer_epoch: be::i16_at(b, layout::PRODUCER_EPOCH),
            base_sequence: be::i32_at(b, layout::BASE_SEQUENCE),
            record_count,
            compression,
            bytes,
        })
    }

    /// The batch's bytes with another producer id, epoch, base sequence and
    /// transactional flag, and its CRC32C computed again: what an
    /// idempotent producer sends once its id was reset. The records are
    /// copied unchanged (compressed ones are not compressed again).
    ///
    /// ```
    /// use vltava_wire::compression::Compression;
    /// use vltava_wire::records::{RecordBatch, RecordBatchBuilder};
    ///
    /// let mut builder = RecordBatchBuilder::new(Compression::Lz4).producer(7, 0, 40);
    /// builder.append(1_700_000_000_000, None, Some(b"hello"), &[])?;
    /// let batch = RecordBatch::decode(builder.finish()?)?;
    /// let moved = RecordBatch::decode(batch.with_producer_state(8, 1, 0, false))?;
    /// assert_eq!((moved.producer_id(), moved.producer_epoch(), moved.base_sequence()), (8, 1, 0));
    /// # Ok::<(), vltava_wire::records::RecordsError>(())
    /// ```
    pub fn with_producer_state(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        transactional: bool,
    ) -> Bytes {
        let mut bytes = BytesMut::from(&self.bytes[..]);
        let mut attributes = self.attributes & !attributes::TRANSACTIONAL;
        if transactional {
            attributes |= attributes::TRANSACTIONAL;
        }
        bytes[layout::ATTRIBUTES..layout::ATTRIBUTES + 2]
            .copy_from_slice(&attributes.to_be_bytes());
        bytes[layout::PRODUCER_ID..layout::PRODUCER_ID + 8]
            .copy_from_slice(&producer_id.to_be_bytes());
        bytes[layout::PRODUCER_EPOCH..layout::PRODUCER_EPOCH + 2]
            .copy_from_slice(&producer_epoch.to_be_bytes());
        bytes[layout::BASE_SEQUENCE..layout::BASE_SEQUENCE + 4]
            .copy_from_slice(&base_sequence.to_be_bytes());
        super::builder::write_crc(&mut bytes);
        bytes.freeze()
    }

    /// Checks the stored CRC32C against the bytes from the attributes to the
    /// end.
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let computed = crc32c::crc32c(&self.bytes[layout::ATTRIBUTES..]);
        if computed != self.crc {
            return Err(RecordsError::CrcMismatch {
                base_offset: self.base_offset,
                stored: self.crc,
                computed,
            });
        }
        Ok(())
    }

    /// The records, decompressed into one new buffer if the batch is
    /// compressed (at most `limit` bytes), or sliced from the batch if not.
    pub fn records(&self, limit: DecompressionLimit) -> Result<BatchRecords, RecordsError> {
        let payload = self.bytes.slice(layout::RECORDS..);
        let data = match self.compression {
            Compression::None => payload,
            codec => compression::decompress(codec, &payload, limit)
                .map(Bytes::from)
                .map_err(|source| RecordsError::Decompression {
                    base_offset: self.base_offset,
                    source,
                })?,
        };
        let log_append_time =
            (self.timestamp_type() == TimestampType::LogAppendTime).then_some(self.max_timestamp);
        Ok(BatchRecords {
            data,
            count: self.record_count,
            layout: Layout::V2 {
                base_offset: self.base_offset,
                base_timestamp: self.base_timestamp,
                log_append_time,
                control: self.is_control(),
            },
        })
    }

    /// The offset of the first record (before compaction).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The offset of the last record (before compaction): the batch covers
    /// `base_offset()..=last_offset()`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset after the batch: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// `lastOffsetDelta`.
    pub fn last_offset_delta(&self) -> i32 {
        self.last_offset_delta
    }

    /// The epoch of the leader that appended the batch (`-1` from producers).
    pub fn partition_leader_epoch(&self) -> i32 {
        self.partition_leader_epoch
    }

    /// Always 2.
    pub fn magic(&self) -> i8 {
        2
    }

    /// The stored CRC32C.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The raw attribute bits.
    pub fn attributes(&self) -> i16 {
        self.attributes
    }

    /// The codec of the records (attribute bits 0-2).
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// What the timestamps mean (attribute bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & attributes::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & attributes::TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records such as transaction markers
    /// (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & attributes::CONTROL != 0
    }

    /// Whether the base timestamp is a delete horizon set by the log cleaner
    /// (attribute bit 6).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & attributes::DELETE_HORIZON != 0
    }

    /// The time after which the cleaner may drop the batch's tombstones and
    /// markers, when [`has_delete_horizon`](Self::has_delete_horizon).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then_some(self.base_timestamp)
    }

    /// `baseTimestamp`: the first record's timestamp, or the delete horizon.
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// `maxTimestamp`: the largest record timestamp, or the log append time.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// The producer id (`-1` without idempotence).
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// The producer epoch (`-1` without idempotence).
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// The sequence number of the first record (`-1` without idempotence).
    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }

    /// The sequence number of the last record (`-1` without idempotence);
    /// sequences wrap from `i32::MAX` to 0, as in Kafka.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last.rem_euclid(i64::from(i32::MAX) + 1)) as i32
    }

    /// The record count the batch declares (not trusted for anything but
    /// ending the iteration).
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// The size of the batch in bytes, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The batch's bytes, exactly as on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The batch's bytes, exactly as on the wire.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

impl fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset)
            .field("last_offset_delta", &self.last_offset_delta)
            .field("record_count", &self.record_count)
            .field("size", &self.bytes.len())
            .field("compression", &self.compression)
            .field("timestamp_type", &self.timestamp_type())
            .field("transactional", &self.is_transactional())
            .field("control", &self.is_control())
            .field("producer_id", &self.producer_id)
            .field("producer_epoch", &self.producer_epoch)
            .field("base_sequence", &self.base_sequence)
            .field("partition_leader_epoch", &self.partition_leader_epoch)
            .finish()
    }
}

/// How the records of a [`BatchRecords`] are laid out.
#[derive(Clone, Copy, Debug)]
pub(super) enum Layout {
    /// Magic-2 records (varint fields, deltas from the batch header).
    V2 {
        base_offset: i64,
        base_timestamp: i64,
        log_append_time: Option<i64>,
        control: bool,
    },
    /// A legacy message set (magic 0/1 messages, each with its own offset
    /// and CRC32).
    Legacy {
        /// Added to each message's offset (magic-1 wrappers: inner offsets
        /// are relative); 0 when offsets are absolute.
        offset_base: i64,
        /// The wrapper's log append time, which replaces inner timestamps.
        log_append_time: Option<i64>,
        /// Whether each message's CRC32 is to be checked (inner messages of
        /// a wrapper; a lone message was checked as a batch).
        check_crc: bool,
        /// The wrapper's offset, for errors.
        wrapper_offset: i64,
    },
}

/// The records of one batch: one buffer (a slice of the batch, or the
/// batch's decompressed records) and how to read it. Iterate it by
/// reference ([`iter`](BatchRecords::iter), or `for record in &records`).
#[derive(Clone, Debug)]
pub struct BatchRecords {
    pub(super) data: Bytes,
    pub(super) count: u32,
    pub(super) layout: Layout,
}

impl BatchRecords {
    /// An iterator over the records, as views into [`data`](Self::data).
    pub fn iter(&self) -> Records<'_> {
        Records {
            source: &self.data,
            data: &self.data,
            pos: 0,
            remaining: self.count,
            layout: self.layout,
        }
    }

    /// The number of records the batch declares (magic 2) or holds (legacy).
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The buffer the records are views into.
    pub fn data(&self) -> &Bytes {
        &self.data
    }
}

impl<'a> IntoIterator for &'a BatchRecords {
    type Item = Result<Record<'a>, RecordsError>;
    type IntoIter = Records<'a>;

    fn into_iter(self) -> Records<'a> {
        self.iter()
    }
}

/// An iterator over the records of a batch, yielding views.
///
/// It yields exactly the declared number of records; if the bytes run out
/// first, or bytes are left over after them, it yields an error and ends.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    source: &'a Bytes,
    data: &'a [u8],
    pos: usize,
    remaining: u32,
    layout: Layout,
}

impl<'a> Records<'a> {
    /// Ends the iteration with `error`.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: RecordsError) -> Option<Result<Record<'a>, RecordsError>> {
        self.remaining = 0;
        self.pos = self.data.len();
        Some(Err(error))
    }

    /// After the last declared record: nothing, or the bytes left over.
    #[cold]
    #[inline(never)]
    fn finish(&mut self) -> Option<Result<Record<'a>, RecordsError>> {
        let left = self.data.len() - self.pos;
        if left == 0 {
            return None;
        }
        self.fail(RecordsError::TrailingBytes {
            what: "last record",
            remaining: left,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return self.finish();
        }
        self.remaining -= 1;
        match self.layout {
            Layout::V2 {
                base_offset,
                base_timestamp,
                log_append_time,
                control,
            } => {
                let Some(fields) = parse_v2_record(self.data, self.pos) else {
                    let error = v2_record_error(self.data, self.pos);
                    return self.fail(error);
                };
                self.pos = fields.end;
                Some(Ok(Record {
                    source: self.source,
                    offset: base_offset.wrapping_add(i64::from(fields.offset_delta)),
                    timestamp: match log_append_time {
                        None => base_timestamp.wrapping_add(fields.timestamp_delta),
                        Some(time) => time,
                    },
                    key: fields.key,
                    value: fields.value,
                    headers: fields.headers,
                    header_count: fields.header_count,
                    attributes: fields.attributes,
                    control,
                }))
            }
            Layout::Legacy {
                offset_base,
                log_append_time,
                check_crc,
                wrapper_offset,
            } => match super::legacy::read_message(
                self.source,
                &mut self.pos,
                offset_base,
                log_append_time,
                check_crc,
                wrapper_offset,
            ) {
                Ok(record) => Some(Ok(record)),
                Err(error) => self.fail(error),
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.remaining as usize;
        (remaining.min(1), Some(remaining.saturating_add(1)))
    }
}

impl std::iter::FusedIterator for Records<'_> {}

/// The fields of one magic-2 record.
struct V2Fields<'a> {
    end: usize,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: u32,
}

/// The hot path: parses the record at `pos`, or says only that it cannot
/// ([`v2_record_error`] then says why). It reads through a shrinking slice
/// and decodes lengths without the zigzag arithmetic (an even raw value is a
/// length, 1 is null, any other odd value is a negative length).
#[inline(always)]
fn parse_v2_record(data: &[u8], pos: usize) -> Option<V2Fields<'_>> {
    let mut rest = data.get(pos..)?;
    let length = read_length(&mut rest)?;
    if length > rest.len() {
        return None;
    }
    let (record, after) = rest.split_at(length);
    let end = data.len() - after.len();
    let (&attributes, mut record) = record.split_first()?;
    let timestamp_delta = zigzag64(read_raw64(&mut record)?);
    let offset_delta = zigzag32(read_raw32(&mut record)?);
    let key = read_nullable(&mut record)?;
    let value = read_nullable(&mut record)?;
    let header_count = read_raw32(&mut record)?;
    // Headers are parsed on demand; check now what is cheap: a count no
    // larger than the bytes can hold (each header takes 2 bytes or more), and
    // no stray bytes after a record without headers.
    if header_count == 0 {
        if !record.is_empty() {
            return None;
        }
    } else if header_count & 1 != 0 || (header_count >> 1) as usize > record.len() / 2 {
        return None;
    }
    Some(V2Fields {
        end,
        attributes: attributes as i8,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers: record,
        header_count: header_count >> 1,
    })
}

/// A non-negative varint length.
#[inline(always)]
fn read_length(rest: &mut &[u8]) -> Option<usize> {
    let raw = read_raw32(rest)?;
    if raw & 1 != 0 {
        return None;
    }
    Some((raw >> 1) as usize)
}

/// A varint-length-prefixed field, `-1` for null.
#[inline(always)]
fn read_nullable<'a>(rest: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let raw = read_raw32(rest)?;
    if raw & 1 != 0 {
        return (raw == 1).then_some(None);
    }
    let length = (raw >> 1) as usize;
    if length > rest.len() {
        return None;
    }
    let (field, tail) = rest.split_at(length);
    *rest = tail;
    Some(Some(field))
}

/// Why the record at `pos` does not parse: the slow path, re-reading it
/// field by field to name the culprit.
#[cold]
#[inline(never)]
fn v2_record_error(data: &[u8], mut pos: usize) -> RecordsError {
    let mut check = || -> Result<(), RecordsError> {
        let length = read_varint(data, &mut pos).ok_or(RecordsError::Truncated {
            what: "record length",
        })?;
        let length = usize::try_from(length).map_err(|_| RecordsError::InvalidField {
            what: "record length",
            value: i64::from(length),
        })?;
        let record = take(data, &mut pos, length, "record")?;
        let mut at = 0;
        take(record, &mut at, 1, "record attributes")?;
        read_varlong(record, &mut at).ok_or(RecordsError::Truncated {
            what: "record timestamp delta",
        })?;
        read_varint(record, &mut at).ok_or(RecordsError::Truncated {
            what: "record offset delta",
        })?;
        for what in ["record key", "record value"] {
            let length = read_varint(record, &mut at).ok_or(RecordsError::Truncated { what })?;
            take_nullable(record, &mut at, length, what)?;
        }
        let count = read_varint(record, &mut at).ok_or(RecordsError::Truncated {
            what: "record header count",
        })?;
        let headers = record.len() - at;
        if count == 0 && headers > 0 {
            return Err(RecordsError::TrailingBytes {
                what: "record",
                remaining: headers,
            });
        }
        Err(RecordsError::InvalidField {
            what: "record header count",
            value: i64::from(count),
        })
    };
    match check() {
        Err(error) => error,
        // Unreachable while the two parsers agree; still an error, not a
        // panic.
        Ok(()) => RecordsError::Truncated { what: "record" },
    }
}
