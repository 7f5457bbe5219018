//! One record as a view into its batch's buffer, its headers (parsed on demand) and control records.

use std::fmt;

use bytes::Bytes;

use super::RecordsError;
use super::varint::read_varint;

/// One record: a view into the buffer of its batch (the batch's own bytes, or
/// the batch's decompressed records).
///
/// Reading a record allocates nothing: the key, value and header bytes are
/// slices of that buffer, and headers are parsed only when
/// [`headers`](Record::headers) is iterated. To keep a key or value past the
/// batch's lifetime without copying, take it as [`Bytes`]
/// ([`key_bytes`](Record::key_bytes), [`value_bytes`](Record::value_bytes),
/// [`into_owned`](Record::into_owned)): that shares the buffer.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub(super) source: &'a Bytes,
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    pub(super) key: Option<&'a [u8]>,
    pub(super) value: Option<&'a [u8]>,
    pub(super) headers: &'a [u8],
    pub(super) header_count: u32,
    pub(super) attributes: i8,
    pub(super) control: bool,
}

impl<'a> Record<'a> {
    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp in milliseconds since the epoch: the producer's
    /// create time, or the broker's append time when the batch's
    /// [`timestamp_type`](super::RecordBatch::timestamp_type) says so. `-1`
    /// when there is none (magic 0).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The key, `None` for a null key.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value, `None` for a null value (a tombstone on a compacted topic).
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The key as [`Bytes`] sharing the batch's buffer (no copy).
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.map(|key| self.source.slice_ref(key))
    }

    /// The value as [`Bytes`] sharing the batch's buffer (no copy).
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|value| self.source.slice_ref(value))
    }

    /// The headers, parsed as they are iterated.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            source: self.source,
            data: self.headers,
            pos: 0,
            remaining: self.header_count,
        }
    }

    /// How many headers the record declares.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The record's attribute byte (unused by Kafka so far: always 0 in
    /// magic 2; the message attributes in magic 0/1).
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    /// Whether the record is a control record (its batch is a control batch).
    pub fn is_control(&self) -> bool {
        self.control
    }

    /// Parses the key of a control record: its version and type.
    pub fn control_record(&self) -> Result<ControlRecord, RecordsError> {
        if !self.control {
            return Err(RecordsError::InvalidControlRecord("not a control record"));
        }
        ControlRecord::parse_key(self.key)
    }

    /// Parses a transaction marker (a COMMIT or ABORT control record).
    pub fn end_txn_marker(&self) -> Result<EndTxnMarker, RecordsError> {
        let control = self.control_record()?;
        EndTxnMarker::parse_value(control.kind, self.value)
    }

    /// The record detached from the batch's lifetime: key, value and headers
    /// as [`Bytes`] sharing the batch's buffer. Allocates only for the list of
    /// headers, when there are any.
    pub fn into_owned(self) -> Result<OwnedRecord, RecordsError> {
        let headers = if self.header_count == 0 {
            Vec::new()
        } else {
            self.headers()
                .map(|header| header.map(|h| h.to_owned_header()))
                .collect::<Result<_, _>>()?
        };
        Ok(OwnedRecord {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key_bytes(),
            value: self.value_bytes(),
            headers,
        })
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &self.key.map(Bytes::copy_from_slice))
            .field("value", &self.value.map(Bytes::copy_from_slice))
            .field("header_count", &self.header_count)
            .field("control", &self.control)
            .finish()
    }
}

/// A record that owns its data (shared, zero-copy, with its batch's buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    /// The record's offset in its partition.
    pub offset: i64,
    /// The record's timestamp (see [`Record::timestamp`]).
    pub timestamp: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value.
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<OwnedHeader>,
}

/// A header that owns its data (shared with its batch's buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedHeader {
    /// The header key: UTF-8 when the producer followed Kafka's rules, not
    /// checked here.
    pub key: Bytes,
    /// The header value, `None` for null.
    pub value: Option<Bytes>,
}

/// One record header: a view into the batch's buffer.
#[derive(Clone, Copy)]
pub struct Header<'a> {
    source: &'a Bytes,
    key: &'a [u8],
    value: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// The key's bytes. Kafka's clients write UTF-8 keys; see
    /// [`key_str`](Header::key_str).
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The key as text, or the UTF-8 error for a key that is not.
    pub fn key_str(&self) -> Result<&'a str, std::str::Utf8Error> {
        std::str::from_utf8(self.key)
    }

    /// The value, `None` for null.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The key as [`Bytes`] sharing the batch's buffer.
    pub fn key_bytes(&self) -> Bytes {
        self.source.slice_ref(self.key)
    }

    /// The value as [`Bytes`] sharing the batch's buffer.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|value| self.source.slice_ref(value))
    }

    /// The header detached from the batch's lifetime (no copy).
    pub fn to_owned_header(&self) -> OwnedHeader {
        OwnedHeader {
            key: self.key_bytes(),
            value: self.value_bytes(),
        }
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("key", &String::from_utf8_lossy(self.key))
            .field("value", &self.value.map(Bytes::copy_from_slice))
            .finish()
    }
}

/// The headers of a record, parsed one at a time.
///
/// Yields an error, then ends, when the header bytes are malformed or do not
/// match the declared count.
#[derive(Clone, Debug)]
pub struct Headers<'a> {
    source: &'a Bytes,
    data: &'a [u8],
    pos: usize,
    remaining: u32,
}

impl<'a> Headers<'a> {
    fn parse_one(&mut self) -> Result<Header<'a>, RecordsError> {
        let data = self.data;
        let key_len = read_varint(data, &mut self.pos).ok_or(RecordsError::Truncated {
            what: "header key length",
        })?;
        let key_len = usize::try_from(key_len).map_err(|_| RecordsError::InvalidField {
            what: "header key length",
            value: i64::from(key_len),
        })?;
        let key = take(data, &mut self.pos, key_len, "header key")?;
        let value_len = read_varint(data, &mut self.pos).ok_or(RecordsError::Truncated {
            what: "header value length",
        })?;
        let value = take_nullable(data, &mut self.pos, value_len, "header value")?;
        Ok(Header {
            source: self.source,
            key,
            value,
        })
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Result<Header<'a>, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            if self.pos < self.data.len() {
                let remaining = self.data.len() - self.pos;
                self.pos = self.data.len();
                return Some(Err(RecordsError::TrailingBytes {
                    what: "record headers",
                    remaining,
                }));
            }
            return None;
        }
        self.remaining -= 1;
        let header = self.parse_one();
        if header.is_err() {
            self.remaining = 0;
            self.pos = self.data.len();
        }
        Some(header)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.remaining as usize;
        (remaining.min(1), Some(remaining + 1))
    }
}

impl std::iter::FusedIterator for Headers<'_> {}

/// Takes `len` bytes at `pos`, or fails naming `what`.
#[inline(always)]
pub(super) fn take<'a>(
    data: &'a [u8],
    pos: &mut usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], RecordsError> {
    let start = *pos;
    if len > data.len() - start {
        return Err(RecordsError::Truncated { what });
    }
    *pos = start + len;
    Ok(&data[start..start + len])
}

/// Takes a length-prefixed field whose length `-1` means null.
#[inline(always)]
pub(super) fn take_nullable<'a>(
    data: &'a [u8],
    pos: &mut usize,
    len: i32,
    what: &'static str,
) -> Result<Option<&'a [u8]>, RecordsError> {
    if len < 0 {
        if len == -1 {
            return Ok(None);
        }
        return Err(RecordsError::InvalidField {
            what,
            value: i64::from(len),
        });
    }
    take(data, pos, len as usize, what).map(Some)
}

/// The type of a control record (the `type` field of its key): an open set,
/// like [`ErrorCode`](crate::ErrorCode).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecordType(i16);

impl ControlRecordType {
    /// A transaction was aborted.
    pub const ABORT: ControlRecordType = ControlRecordType(0);
    /// A transaction was committed.
    pub const COMMIT: ControlRecordType = ControlRecordType(1);
    /// KRaft: the leader changed.
    pub const LEADER_CHANGE: ControlRecordType = ControlRecordType(2);
    /// KRaft: a snapshot starts.
    pub const SNAPSHOT_HEADER: ControlRecordType = ControlRecordType(3);
    /// KRaft: a snapshot ends.
    pub const SNAPSHOT_FOOTER: ControlRecordType = ControlRecordType(4);
    /// KRaft: the kraft.version feature.
    pub const KRAFT_VERSION: ControlRecordType = ControlRecordType(5);
    /// KRaft: the set of voters.
    pub const KRAFT_VOTERS: ControlRecordType = ControlRecordType(6);

    /// The type for a wire value (unknown values are kept).
    pub const fn from_code(code: i16) -> ControlRecordType {
        ControlRecordType(code)
    }

    /// The wire value.
    pub const fn code(self) -> i16 {
        self.0
    }

    /// Kafka's name for the type, `"UNKNOWN"` for one this build does not know.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "ABORT",
            1 => "COMMIT",
            2 => "LEADER_CHANGE",
            3 => "SNAPSHOT_HEADER",
            4 => "SNAPSHOT_FOOTER",
            5 => "KRAFT_VERSION",
            6 => "KRAFT_VOTERS",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Debug for ControlRecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// The key of a control record: `version: int16, type: int16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRecord {
    /// The key's version (0 so far; later versions keep this prefix).
    pub version: i16,
    /// What the control record marks.
    pub kind: ControlRecordType,
}

impl ControlRecord {
    /// The size of a version-0 key.
    pub(super) const KEY_LEN: usize = 4;

    fn parse_key(key: Option<&[u8]>) -> Result<ControlRecord, RecordsError> {
        let key = key.ok_or(RecordsError::InvalidControlRecord("null key"))?;
        if key.len() < Self::KEY_LEN {
            return Err(RecordsError::InvalidControlRecord(
                "key shorter than 4 bytes",
            ));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(RecordsError::InvalidControlRecord("negative key version"));
        }
        Ok(ControlRecord {
            version,
            kind: ControlRecordType(i16::from_be_bytes([key[2], key[3]])),
        })
    }

    /// The version-0 key bytes of a control record of `kind`.
    pub(super) fn key_bytes(kind: ControlRecordType) -> [u8; 4] {
        let [a, b] = 0i16.to_be_bytes();
        let [c, d] = kind.0.to_be_bytes();
        [a, b, c, d]
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionResult {
    /// The transaction's records are visible to `read_committed` consumers.
    Commit,
    /// The transaction's records are to be skipped by `read_committed`
    /// consumers.
    Abort,
}

impl TransactionResult {
    /// The control record type that marks this result.
    pub const fn control_type(self) -> ControlRecordType {
        match self {
            TransactionResult::Commit => ControlRecordType::COMMIT,
            TransactionResult::Abort => ControlRecordType::ABORT,
        }
    }
}

/// A transaction marker: the control record a transaction coordinator writes
/// to each partition when a transaction ends. Its value is
/// `version: int16, coordinator_epoch: int32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// Commit or abort.
    pub result: TransactionResult,
    /// The epoch of the coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The size of a version-0 value.
    const VALUE_LEN: usize = 6;

    fn parse_value(
        kind: ControlRecordType,
        value: Option<&[u8]>,
    ) -> Result<EndTxnMarker, RecordsError> {
        let result = match kind {
            ControlRecordType::COMMIT => TransactionResult::Commit,
            ControlRecordType::ABORT => TransactionResult::Abort,
            _ => {
                return Err(RecordsError::InvalidControlRecord(
                    "not a COMMIT or ABORT marker",
                ));
            }
        };
        let value = value.ok_or(RecordsError::InvalidControlRecord("null marker value"))?;
        if value.len() < Self::VALUE_LEN {
            return Err(RecordsError::InvalidControlRecord(
                "marker value shorter than 6 bytes",
            ));
        }
        // Like Java, a newer version is read as version 0, whose fields it
        // starts with; a negative one is corruption.
        if i16::from_be_bytes([value[0], value[1]]) < 0 {
            return Err(RecordsError::InvalidControlRecord(
                "negative marker value version",
            ));
        }
        Ok(EndTxnMarker {
            result,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        })
    }

    /// The version-0 value bytes.
    pub(super) fn value_bytes(&self) -> [u8; 6] {
        let mut value = [0u8; 6];
        value[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        value
    }
}
