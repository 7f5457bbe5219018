//! Building a magic-2 record batch (any codec), for the producer and for tests.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::TimestampType;
use super::record::{ControlRecord, EndTxnMarker};
use super::varint::{varint_len, varlong_len, write_varint, write_varlong};
use super::{RecordsError, attributes, layout};
use crate::compression::{self, Compression};

/// A header to write: Kafka header keys are strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    /// The key.
    pub key: &'a str,
    /// The value, `None` for null.
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordHeader<'a> {
    /// A header with a value.
    pub fn new(key: &'a str, value: &'a [u8]) -> RecordHeader<'a> {
        RecordHeader {
            key,
            value: Some(value),
        }
    }
}

/// Collects records and writes them as one magic-2 batch.
///
/// Set the batch-wide fields first (they take and return the builder), then
/// [`append`](Self::append) records, then [`build`](Self::build) or
/// [`finish`](Self::finish). Records are encoded as they are appended into
/// one uncompressed buffer, which leaves room for the batch header in front
/// and which building compresses with the chosen codec; the CRC32C is
/// computed last. [`build`](Self::build) can be called more than once;
/// [`finish`](Self::finish) consumes the builder and, uncompressed, hands
/// over its buffer without copying the records.
///
/// ```
/// use bytes::BytesMut;
/// use vltava_wire::compression::Compression;
/// use vltava_wire::records::{RecordBatchBuilder, RecordHeader};
///
/// let mut builder = RecordBatchBuilder::new(Compression::Zstd)
///     .base_offset(0)
///     .producer(4000, 0, 17);
/// builder.append(1_700_000_000_000, None, Some(b"hello"), &[RecordHeader::new("trace", b"1")])?;
/// builder.append(1_700_000_000_001, Some(b"k"), None, &[])?;
/// let mut out = BytesMut::new();
/// let written = builder.build(&mut out)?;
/// assert_eq!(written, out.len());
/// # Ok::<(), vltava_wire::records::RecordsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RecordBatchBuilder {
    compression: Compression,
    compression_level: Option<i32>,
    timestamp_type: TimestampType,
    transactional: bool,
    control: bool,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    delete_horizon_ms: Option<i64>,
    /// Set by the first record (or the delete horizon).
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    last_offset_delta: Option<i32>,
    record_count: i32,
    /// `HEADER_LEN` bytes of room for the header, then the records.
    records: Vec<u8>,
}

impl RecordBatchBuilder {
    /// An empty batch of `compression`, at base offset 0, without a producer
    /// id (`-1`, `-1`, `-1`), leader epoch `-1`, create-time timestamps.
    pub fn new(compression: Compression) -> RecordBatchBuilder {
        RecordBatchBuilder {
            compression,
            compression_level: None,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
            control: false,
            base_offset: 0,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            delete_horizon_ms: None,
            base_timestamp: None,
            max_timestamp: -1,
            last_offset_delta: None,
            record_count: 0,
            records: vec![0; layout::HEADER_LEN],
        }
    }

    /// The codec's level (see [`compression::compress_with_level`]).
    pub fn compression_level(mut self, level: Option<i32>) -> RecordBatchBuilder {
        self.compression_level = level;
        self
    }

    /// The offset of the first record (a producer writes 0; the broker
    /// assigns the real one).
    pub fn base_offset(mut self, base_offset: i64) -> RecordBatchBuilder {
        self.base_offset = base_offset;
        self
    }

    /// The partition leader epoch field (`-1` from producers).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> RecordBatchBuilder {
        self.partition_leader_epoch = epoch;
        self
    }

    /// The idempotent producer's id, epoch and the sequence of the first
    /// record.
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> RecordBatchBuilder {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn transactional(mut self, transactional: bool) -> RecordBatchBuilder {
        self.transactional = transactional;
        self
    }

    /// Marks the batch as holding control records.
    pub fn control(mut self, control: bool) -> RecordBatchBuilder {
        self.control = control;
        self
    }

    /// What the timestamps mean (the broker writes log-append time).
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> RecordBatchBuilder {
        self.timestamp_type = timestamp_type;
        self
    }

    /// Sets the delete horizon (as the log cleaner does): the base timestamp
    /// becomes `delete_horizon_ms` and attribute bit 6 is set. Set it before
    /// appending: record timestamps are stored as deltas from it.
    pub fn delete_horizon_ms(mut self, delete_horizon_ms: i64) -> RecordBatchBuilder {
        if self.record_count == 0 {
            self.delete_horizon_ms = Some(delete_horizon_ms);
            self.base_timestamp = Some(delete_horizon_ms);
        }
        self
    }

    /// Appends a record at the next offset; returns its offset delta.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<i32, RecordsError> {
        let offset_delta = match self.last_offset_delta {
            None => 0,
            Some(last) => last
                .checked_add(1)
                .ok_or(RecordsError::InvalidAppend("offset delta past i32::MAX"))?,
        };
        self.append_at(offset_delta, timestamp, key, value, headers)?;
        Ok(offset_delta)
    }

    /// Appends a record at `offset_delta` from the base offset, which must be
    /// larger than the previous record's (gaps are how compacted batches
    /// look).
    pub fn append_at(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<(), RecordsError> {
        if offset_delta < 0
            || self
                .last_offset_delta
                .is_some_and(|last| offset_delta <= last)
        {
            return Err(RecordsError::InvalidAppend(
                "offset deltas must be non-negative and increasing",
            ));
        }
        if self.record_count == i32::MAX {
            return Err(RecordsError::InvalidAppend("more than i32::MAX records"));
        }
        let key_len = nullable_len(key, "key longer than i32::MAX bytes")?;
        let value_len = nullable_len(value, "value longer than i32::MAX bytes")?;
        let header_count = i32::try_from(headers.len())
            .map_err(|_| RecordsError::InvalidAppend("more than i32::MAX headers"))?;
        let mut headers_len = 0usize;
        for header in headers {
            let key_len = i32::try_from(header.key.len()).map_err(|_| {
                RecordsError::InvalidAppend("header key longer than i32::MAX bytes")
            })?;
            let value_len = nullable_len(header.value, "header value longer than i32::MAX bytes")?;
            headers_len = headers_len
                .saturating_add(field_len(key_len))
                .saturating_add(field_len(value_len));
        }

        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        let timestamp_delta = timestamp.wrapping_sub(base_timestamp);

        let body_len = 1
            + varlong_len(timestamp_delta)
            + varint_len(offset_delta)
            + field_len(key_len)
            + field_len(value_len)
            + varint_len(header_count)
            + headers_len;
        let body_len = i32::try_from(body_len)
            .map_err(|_| RecordsError::InvalidAppend("record longer than i32::MAX bytes"))?;

        let out = &mut self.records;
        out.reserve(body_len as usize + 5);
        write_varint(out, body_len);
        out.push(0); // record attributes: unused
        write_varlong(out, timestamp_delta);
        write_varint(out, offset_delta);
        write_field(out, key_len, key);
        write_field(out, value_len, value);
        write_varint(out, header_count);
        for header in headers {
            // Both lengths were checked to fit an i32 above.
            write_field(out, header.key.len() as i32, Some(header.key.as_bytes()));
            write_field(
                out,
                header.value.map_or(-1, |v| v.len() as i32),
                header.value,
            );
        }

        self.max_timestamp = if self.record_count == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        self.last_offset_delta = Some(offset_delta);
        self.record_count += 1;
        Ok(())
    }

    /// Appends a transaction marker (COMMIT or ABORT) at the next offset; the
    /// batch must be a [control](Self::control) batch.
    pub fn append_end_txn_marker(
        &mut self,
        timestamp: i64,
        marker: EndTxnMarker,
    ) -> Result<i32, RecordsError> {
        if !self.control {
            return Err(RecordsError::InvalidAppend(
                "a transaction marker needs a control batch",
            ));
        }
        let key = ControlRecord::key_bytes(marker.result.control_type());
        let value = marker.value_bytes();
        self.append(timestamp, Some(&key), Some(&value), &[])
    }

    /// Makes room for at least `bytes` more bytes of records, so that
    /// appending them does not grow the buffer step by step (a producer
    /// that knows how large its batches get reserves that at once).
    pub fn reserve(&mut self, bytes: usize) {
        self.records.reserve(bytes);
    }

    /// The bytes of records the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.records.capacity() - layout::HEADER_LEN
    }

    /// How many records have been appended.
    pub fn record_count(&self) -> usize {
        self.record_count as usize
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The size of the batch if it were not compressed: header and records.
    /// A producer compares this with `batch.size`.
    pub fn uncompressed_size(&self) -> usize {
        self.records.len()
    }

    /// Writes the batch to the end of `out`; returns how many bytes it took.
    pub fn build(&self, out: &mut BytesMut) -> Result<usize, RecordsError> {
        let records = &self.records[layout::HEADER_LEN..];
        let compressed;
        let payload: &[u8] = match self.compression {
            Compression::None => records,
            codec => {
                let mut buffer = Vec::new();
                compression::compress_with_level(
                    codec,
                    self.compression_level,
                    records,
                    &mut buffer,
                )?;
                compressed = buffer;
                &compressed
            }
        };
        let header = self.header(payload.len())?;
        let start = out.len();
        out.reserve(header.len() + payload.len());
        out.put_slice(&header);
        out.put_slice(payload);
        write_crc(&mut out[start..]);
        Ok(header.len() + payload.len())
    }

    /// The batch, in one buffer of its own. Uncompressed, that buffer is
    /// the one the records were appended to, with the header written into
    /// the room left in front: the records are not copied. Compressed, the
    /// records are compressed into a new buffer, after room for the header.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use vltava_wire::compression::Compression;
    /// use vltava_wire::records::RecordBatchBuilder;
    ///
    /// let mut builder = RecordBatchBuilder::new(Compression::None).producer(7, 0, 0);
    /// builder.append(1_700_000_000_000, None, Some(b"hello"), &[])?;
    /// let mut built = BytesMut::new();
    /// builder.build(&mut built)?;
    /// assert_eq!(builder.finish()?, built);
    /// # Ok::<(), vltava_wire::records::RecordsError>(())
    /// ```
    pub fn finish(mut self) -> Result<Bytes, RecordsError> {
        let mut batch = match self.compression {
            Compression::None => std::mem::take(&mut self.records),
            codec => {
                let records = &self.records[layout::HEADER_LEN..];
                let mut out = Vec::with_capacity(layout::HEADER_LEN + records.len() / 2);
                out.resize(layout::HEADER_LEN, 0);
                compression::compress_with_level(codec, self.compression_level, records, &mut out)?;
                out
            }
        };
        let header = self.header(batch.len() - layout::HEADER_LEN)?;
        batch[..layout::HEADER_LEN].copy_from_slice(&header);
        write_crc(&mut batch);
        Ok(Bytes::from(batch))
    }

    /// The header of a batch whose records take `payload_len` bytes, with
    /// its CRC left at zero.
    fn header(&self, payload_len: usize) -> Result<[u8; layout::HEADER_LEN], RecordsError> {
        let size = layout::HEADER_LEN + payload_len;
        let length = i32::try_from(size - layout::LOG_OVERHEAD)
            .map_err(|_| RecordsError::InvalidAppend("batch longer than i32::MAX bytes"))?;

        let mut attributes = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= attributes::TIMESTAMP_TYPE;
        }
        if self.transactional {
            attributes |= attributes::TRANSACTIONAL;
        }
        if self.control {
            attributes |= attributes::CONTROL;
        }
        if self.delete_horizon_ms.is_some() {
            attributes |= attributes::DELETE_HORIZON;
        }

        let mut header = [0u8; layout::HEADER_LEN];
        let mut out = &mut header[..];
        out.put_i64(self.base_offset);
        out.put_i32(length);
        out.put_i32(self.partition_leader_epoch);
        out.put_i8(2);
        out.put_u32(0); // the CRC, once the rest is written
        out.put_i16(attributes);
        out.put_i32(self.last_offset_delta.unwrap_or(0));
        out.put_i64(self.base_timestamp.unwrap_or(-1));
        out.put_i64(self.max_timestamp);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.base_sequence);
        out.put_i32(self.record_count);
        debug_assert!(out.is_empty());
        Ok(header)
    }
}

/// Computes a whole batch's CRC32C (attributes to the end) and writes it.
pub(super) fn write_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[layout::ATTRIBUTES..]);
    batch[layout::CRC..layout::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
}

/// The wire length of an optional field: `-1` for null.
fn nullable_len(field: Option<&[u8]>, too_long: &'static str) -> Result<i32, RecordsError> {
    match field {
        None => Ok(-1),
        Some(bytes) => {
            i32::try_from(bytes.len()).map_err(|_| RecordsError::InvalidAppend(too_long))
        }
    }
}

/// The encoded size of a varint-length-prefixed field.
fn field_len(len: i32) -> usize {
    varint_len(len) + len.max(0) as usize
}

fn write_field(out: &mut Vec<u8>, len: i32, bytes: Option<&[u8]>) {
    write_varint(out, len);
    if let Some(bytes) = bytes {
        out.extend_from_slice(bytes);
    }
}
