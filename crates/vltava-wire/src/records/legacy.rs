//! Legacy message sets (magic 0 and 1), read so that old data stays readable.
//!
//! Before Kafka 0.11 a partition held messages, not batches:
//!
//! ```text
//! offset: int64  messageSize: int32
//! crc: uint32           CRC32 (IEEE) of everything after it
//! magic: int8           0 or 1
//! attributes: int8      bits 0-2 compression, bit 3 timestamp type (magic 1)
//! timestamp: int64      magic 1 only
//! key: bytes            int32 length, -1 for null
//! value: bytes          int32 length, -1 for null
//! ```
//!
//! A compressed message is a *wrapper*: its value is a compressed message set
//! of inner messages. In a magic-1 wrapper, the inner offsets are relative
//! (0, 1, ...) and the wrapper's offset is that of the last inner message; in
//! a magic-0 wrapper the inner offsets are absolute. A wrapper whose timestamp
//! type is log-append time gives its timestamp to every inner message.
//! Inner messages are never compressed again.

use std::fmt;

use bytes::Bytes;

use super::batch::{BatchRecords, Layout, TimestampType};
use super::record::{Record, take, take_nullable};
use super::{RecordsError, be, layout};
use crate::compression::{self, Compression, DecompressionLimit};

const ATTRIBUTE_COMPRESSION_MASK: i8 = 0x07;
const ATTRIBUTE_TIMESTAMP_TYPE: i8 = 0x08;
/// crc, magic, attributes, key length, value length.
const MIN_MESSAGE_SIZE_V0: usize = 4 + 1 + 1 + 4 + 4;
/// ... and a timestamp.
const MIN_MESSAGE_SIZE_V1: usize = MIN_MESSAGE_SIZE_V0 + 8;

/// The smallest `messageSize` for a magic, or `None` for one that is not
/// 0 or 1.
pub(super) fn min_message_size(magic: i8) -> Option<usize> {
    match magic {
        0 => Some(MIN_MESSAGE_SIZE_V0),
        1 => Some(MIN_MESSAGE_SIZE_V1),
        _ => None,
    }
}

/// One legacy message as it lies in its buffer.
struct RawMessage<'a> {
    offset: i64,
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    /// What the CRC covers: magic to the end.
    checked: &'a [u8],
}

impl RawMessage<'_> {
    fn computed_crc(&self) -> u32 {
        crc32fast::hash(self.checked)
    }
}

/// Parses the message (offset and size included) at `pos`, leaving `pos`
/// after it.
fn parse_message<'a>(data: &'a [u8], pos: &mut usize) -> Result<RawMessage<'a>, RecordsError> {
    let head = take(data, pos, layout::LOG_OVERHEAD, "legacy message header")?;
    let offset = be::i64_at(head, 0);
    let size = be::i32_at(head, layout::LENGTH);
    let invalid_size = RecordsError::InvalidBatchLength {
        base_offset: offset,
        length: i64::from(size),
    };
    let size = usize::try_from(size).map_err(|_| invalid_size.clone())?;
    if size < MIN_MESSAGE_SIZE_V0 {
        return Err(invalid_size);
    }
    let message = take(data, pos, size, "legacy message")?;
    let crc = be::u32_at(message, 0);
    let magic = message[4] as i8;
    let min_size = min_message_size(magic).ok_or(RecordsError::UnknownMagic {
        base_offset: offset,
        magic,
    })?;
    if size < min_size {
        return Err(invalid_size);
    }
    let attributes = message[5] as i8;
    let mut at = 6;
    let timestamp = if magic == 1 {
        at += 8;
        be::i64_at(message, 6)
    } else {
        -1
    };
    let key_len = be::i32_at(take(message, &mut at, 4, "legacy message key length")?, 0);
    let key = take_nullable(message, &mut at, key_len, "legacy message key")?;
    let value_len = be::i32_at(take(message, &mut at, 4, "legacy message value length")?, 0);
    let value = take_nullable(message, &mut at, value_len, "legacy message value")?;
    if at != message.len() {
        return Err(RecordsError::TrailingBytes {
            what: "legacy message",
            remaining: message.len() - at,
        });
    }
    Ok(RawMessage {
        offset,
        crc,
        magic,
        attributes,
        timestamp,
        key,
        value,
        checked: &message[4..],
    })
}

/// Reads one message of a message set as a record (for [`super::Records`]).
pub(super) fn read_message<'a>(
    source: &'a Bytes,
    pos: &mut usize,
    offset_base: i64,
    log_append_time: Option<i64>,
    check_crc: bool,
    wrapper_offset: i64,
) -> Result<Record<'a>, RecordsError> {
    let message = parse_message(source, pos)?;
    if check_crc {
        let computed = message.computed_crc();
        if computed != message.crc {
            return Err(RecordsError::CrcMismatch {
                base_offset: message.offset,
                stored: message.crc,
                computed,
            });
        }
    }
    if message.attributes & ATTRIBUTE_COMPRESSION_MASK != 0 {
        return Err(RecordsError::InvalidLegacyMessage {
            offset: wrapper_offset,
            reason: "a compressed message inside a compressed message",
        });
    }
    Ok(Record {
        source,
        offset: offset_base.wrapping_add(message.offset),
        timestamp: log_append_time.unwrap_or(message.timestamp),
        key: message.key,
        value: message.value,
        headers: &[],
        header_count: 0,
        attributes: message.attributes,
        control: false,
    })
}

/// One legacy (magic 0 or 1) message: a record of its own, or a compressed
/// wrapper around a message set. Its bytes are one zero-copy [`Bytes`].
#[derive(Clone)]
pub struct LegacyBatch {
    bytes: Bytes,
    offset: i64,
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    compression: Compression,
    /// Where the value lies in `bytes`, if not null.
    value: Option<(usize, usize)>,
}

impl LegacyBatch {
    /// Decodes one whole message (exactly its bytes) and checks its CRC32.
    pub fn decode(bytes: Bytes) -> Result<LegacyBatch, RecordsError> {
        let batch = LegacyBatch::decode_without_crc_check(bytes)?;
        batch.verify_crc()?;
        Ok(batch)
    }

    /// Decodes one whole message without checking its CRC.
    pub fn decode_without_crc_check(bytes: Bytes) -> Result<LegacyBatch, RecordsError> {
        let mut pos = 0;
        let message = parse_message(&bytes, &mut pos)?;
        if pos != bytes.len() {
            return Err(RecordsError::TrailingBytes {
                what: "legacy message",
                remaining: bytes.len() - pos,
            });
        }
        let codec_id = (message.attributes & ATTRIBUTE_COMPRESSION_MASK) as u8;
        let compression =
            Compression::from_id(codec_id).ok_or(RecordsError::UnknownCompression {
                base_offset: message.offset,
                id: codec_id,
            })?;
        let base = bytes.as_ptr() as usize;
        let value = message
            .value
            .map(|value| (value.as_ptr() as usize - base, value.len()));
        let RawMessage {
            offset,
            crc,
            magic,
            attributes,
            timestamp,
            ..
        } = message;
        Ok(LegacyBatch {
            offset,
            crc,
            magic,
            attributes,
            timestamp,
            compression,
            value,
            bytes,
        })
    }

    /// Checks the stored CRC32 against the bytes from the magic to the end.
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let computed = crc32fast::hash(&self.bytes[layout::LOG_OVERHEAD + 4..]);
        if computed != self.crc {
            return Err(RecordsError::CrcMismatch {
                base_offset: self.offset,
                stored: self.crc,
                computed,
            });
        }
        Ok(())
    }

    /// The records: this message itself, or the inner messages of a
    /// wrapper, decompressed into one new buffer of at most `limit` bytes.
    pub fn records(&self, limit: DecompressionLimit) -> Result<BatchRecords, RecordsError> {
        if self.compression == Compression::None {
            return Ok(BatchRecords {
                data: self.bytes.clone(),
                count: 1,
                layout: Layout::Legacy {
                    offset_base: 0,
                    log_append_time: None,
                    check_crc: false,
                    wrapper_offset: self.offset,
                },
            });
        }
        let invalid = |reason| RecordsError::InvalidLegacyMessage {
            offset: self.offset,
            reason,
        };
        let value = self
            .value()
            .ok_or(invalid("a compressed message without a value"))?;
        let inner = compression::decompress(self.compression, value, limit)
            .map(Bytes::from)
            .map_err(|source| RecordsError::Decompression {
                base_offset: self.offset,
                source,
            })?;
        // Walk the inner set once: check its framing, count the messages and
        // find the last inner offset, which anchors relative offsets.
        let mut pos = 0;
        let mut count = 0u32;
        let mut last_inner_offset = 0;
        while pos < inner.len() {
            last_inner_offset = parse_message(&inner, &mut pos)?.offset;
            count = count.saturating_add(1);
        }
        let offset_base = if self.magic >= 1 {
            let base = self.offset.wrapping_sub(last_inner_offset);
            if base < 0 || last_inner_offset < 0 {
                return Err(invalid(
                    "inner offsets that do not fit the wrapper's offset",
                ));
            }
            base
        } else {
            0
        };
        Ok(BatchRecords {
            data: inner,
            count,
            layout: Layout::Legacy {
                offset_base,
                log_append_time: (self.timestamp_type() == Some(TimestampType::LogAppendTime))
                    .then_some(self.timestamp),
                check_crc: true,
                wrapper_offset: self.offset,
            },
        })
    }

    /// The message's offset; for a wrapper, the offset of its last inner
    /// message.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The offset of the last record: [`offset`](Self::offset).
    pub fn last_offset(&self) -> i64 {
        self.offset
    }

    /// The offset after this message: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.offset.wrapping_add(1)
    }

    /// 0 or 1.
    pub fn magic(&self) -> i8 {
        self.magic
    }

    /// The stored CRC32.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The raw attribute bits.
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    /// The codec of a wrapper, [`Compression::None`] for a plain message.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// What the timestamp means; `None` for magic 0, which has none.
    pub fn timestamp_type(&self) -> Option<TimestampType> {
        match (self.magic, self.attributes & ATTRIBUTE_TIMESTAMP_TYPE != 0) {
            (0, _) => None,
            (_, true) => Some(TimestampType::LogAppendTime),
            (_, false) => Some(TimestampType::CreateTime),
        }
    }

    /// The timestamp (magic 1), `-1` for magic 0.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The message value: a record's value, or a wrapper's compressed set.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.map(|(at, len)| &self.bytes[at..at + len])
    }

    /// The size of the message in bytes, offset and size fields included.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The message's bytes, exactly as on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The message's bytes, exactly as on the wire.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

impl fmt::Debug for LegacyBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyBatch")
            .field("offset", &self.offset)
            .field("magic", &self.magic)
            .field("compression", &self.compression)
            .field("timestamp", &self.timestamp)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Writers of legacy messages, for tests: Kafka no longer writes them.
#[cfg(test)]
pub(super) mod write {
    use super::*;

    /// Appends one message.
    pub(crate) fn message(
        out: &mut Vec<u8>,
        offset: i64,
        magic: i8,
        attributes: i8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        let mut body = vec![magic as u8, attributes as u8];
        if magic == 1 {
            body.extend_from_slice(&timestamp.to_be_bytes());
        }
        for field in [key, value] {
            match field {
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(bytes) => {
                    body.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    body.extend_from_slice(bytes);
                }
            }
        }
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out.extend_from_slice(&body);
    }

    /// Appends a compressed wrapper around `inner` (a message set), as the
    /// broker stored it: `offset` is the last inner message's absolute
    /// offset.
    pub(crate) fn wrapper(
        out: &mut Vec<u8>,
        offset: i64,
        magic: i8,
        codec: Compression,
        timestamp_type: TimestampType,
        timestamp: i64,
        inner: &[u8],
    ) {
        let mut compressed = Vec::new();
        compression::compress(codec, inner, &mut compressed).unwrap();
        let mut attributes = codec.id() as i8;
        if timestamp_type == TimestampType::LogAppendTime {
            attributes |= ATTRIBUTE_TIMESTAMP_TYPE;
        }
        message(
            out,
            offset,
            magic,
            attributes,
            timestamp,
            None,
            Some(&compressed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::write;
    use super::*;

    type Row = (i64, i64, Option<Vec<u8>>, Option<Vec<u8>>);

    fn rows(records: &BatchRecords) -> Vec<Row> {
        records
            .iter()
            .map(|r| {
                let r = r.unwrap();
                (
                    r.offset(),
                    r.timestamp(),
                    r.key().map(<[u8]>::to_vec),
                    r.value().map(<[u8]>::to_vec),
                )
            })
            .collect()
    }

    #[test]
    fn plain_messages_of_both_magics_decode() {
        for magic in [0, 1] {
            let mut out = Vec::new();
            write::message(&mut out, 42, magic, 0, 1234, Some(b"k"), Some(b"v"));
            let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
            assert_eq!(batch.magic(), magic);
            assert_eq!(batch.offset(), 42);
            assert_eq!(batch.next_offset(), 43);
            let expected_ts = if magic == 1 { 1234 } else { -1 };
            assert_eq!(batch.timestamp(), expected_ts);
            let records = batch.records(DecompressionLimit::DEFAULT).unwrap();
            assert_eq!(
                rows(&records),
                [(42, expected_ts, Some(b"k".to_vec()), Some(b"v".to_vec()))]
            );
        }
    }

    #[test]
    fn null_key_and_value_decode() {
        let mut out = Vec::new();
        write::message(&mut out, 7, 1, 0, 5, None, None);
        let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
        let records = batch.records(DecompressionLimit::DEFAULT).unwrap();
        assert_eq!(rows(&records), [(7, 5, None, None)]);
    }

    #[test]
    fn magic_1_wrappers_use_relative_inner_offsets() {
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut inner = Vec::new();
            // Relative offsets with a gap (compaction removed offset 1).
            for (relative, value) in [(0, "a"), (2, "b"), (3, "c")] {
                write::message(
                    &mut inner,
                    relative,
                    1,
                    0,
                    100 + relative,
                    None,
                    Some(value.as_bytes()),
                );
            }
            let mut out = Vec::new();
            // Absolute offsets 1000, 1002, 1003: the wrapper holds 1003.
            write::wrapper(
                &mut out,
                1003,
                1,
                codec,
                TimestampType::CreateTime,
                999,
                &inner,
            );
            let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
            assert_eq!(batch.compression(), codec);
            let records = batch.records(DecompressionLimit::DEFAULT).unwrap();
            assert_eq!(records.len(), 3);
            assert_eq!(
                rows(&records),
                [
                    (1000, 100, None, Some(b"a".to_vec())),
                    (1002, 102, None, Some(b"b".to_vec())),
                    (1003, 103, None, Some(b"c".to_vec())),
                ],
                "{codec}"
            );
        }
    }

    #[test]
    fn magic_0_wrappers_use_absolute_inner_offsets() {
        let mut inner = Vec::new();
        write::message(&mut inner, 500, 0, 0, 0, Some(b"k"), Some(b"x"));
        write::message(&mut inner, 501, 0, 0, 0, None, Some(b"y"));
        let mut out = Vec::new();
        write::wrapper(
            &mut out,
            501,
            0,
            Compression::Gzip,
            TimestampType::CreateTime,
            0,
            &inner,
        );
        let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
        assert_eq!(batch.timestamp_type(), None);
        let records = batch.records(DecompressionLimit::DEFAULT).unwrap();
        assert_eq!(
            rows(&records),
            [
                (500, -1, Some(b"k".to_vec()), Some(b"x".to_vec())),
                (501, -1, None, Some(b"y".to_vec())),
            ]
        );
    }

    #[test]
    fn log_append_time_wrappers_give_their_timestamp_to_inner_messages() {
        let mut inner = Vec::new();
        write::message(&mut inner, 0, 1, 0, 1, None, Some(b"a"));
        write::message(&mut inner, 1, 1, 0, 2, None, Some(b"b"));
        let mut out = Vec::new();
        write::wrapper(
            &mut out,
            11,
            1,
            Compression::Snappy,
            TimestampType::LogAppendTime,
            777,
            &inner,
        );
        let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
        assert_eq!(batch.timestamp_type(), Some(TimestampType::LogAppendTime));
        let records = batch.records(DecompressionLimit::DEFAULT).unwrap();
        let times: Vec<i64> = records.iter().map(|r| r.unwrap().timestamp()).collect();
        assert_eq!(times, [777, 777]);
    }

    #[test]
    fn nested_compression_and_bad_inner_crcs_are_errors() {
        let mut innermost = Vec::new();
        write::message(&mut innermost, 0, 1, 0, 0, None, Some(b"a"));
        let mut inner = Vec::new();
        write::wrapper(
            &mut inner,
            0,
            1,
            Compression::Gzip,
            TimestampType::CreateTime,
            0,
            &innermost,
        );
        let mut out = Vec::new();
        write::wrapper(
            &mut out,
            0,
            1,
            Compression::Gzip,
            TimestampType::CreateTime,
            0,
            &inner,
        );
        let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
        let records = batch.records(DecompressionLimit::DEFAULT).unwrap();
        assert!(matches!(
            records.iter().next(),
            Some(Err(RecordsError::InvalidLegacyMessage { .. }))
        ));

        let mut inner = Vec::new();
        write::message(&mut inner, 0, 1, 0, 0, None, Some(b"abc"));
        let last = inner.len() - 1;
        inner[last] ^= 1;
        let mut out = Vec::new();
        write::wrapper(
            &mut out,
            0,
            1,
            Compression::Gzip,
            TimestampType::CreateTime,
            0,
            &inner,
        );
        let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
        let records = batch.records(DecompressionLimit::DEFAULT).unwrap();
        assert!(matches!(
            records.iter().next(),
            Some(Err(RecordsError::CrcMismatch { .. }))
        ));
    }

    #[test]
    fn inner_offsets_past_the_wrapper_are_an_error() {
        let mut inner = Vec::new();
        write::message(&mut inner, 5, 1, 0, 0, None, Some(b"a"));
        let mut out = Vec::new();
        write::wrapper(
            &mut out,
            3,
            1,
            Compression::Gzip,
            TimestampType::CreateTime,
            0,
            &inner,
        );
        let batch = LegacyBatch::decode(Bytes::from(out)).unwrap();
        assert!(matches!(
            batch.records(DecompressionLimit::DEFAULT),
            Err(RecordsError::InvalidLegacyMessage { .. })
        ));
    }

    #[test]
    fn every_truncation_and_every_covered_byte_flip_is_an_error() {
        let mut out = Vec::new();
        write::message(&mut out, 3, 1, 0, 9, Some(b"key"), Some(b"value"));
        for cut in 0..out.len() {
            assert!(LegacyBatch::decode(Bytes::copy_from_slice(&out[..cut])).is_err());
        }
        // The offset (0..8) is not covered by the CRC; everything else is.
        for at in 8..out.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut bad = out.clone();
                bad[at] ^= flip;
                assert!(
                    LegacyBatch::decode(Bytes::from(bad)).is_err(),
                    "flip {flip:#x} at {at}"
                );
            }
        }
    }
}
