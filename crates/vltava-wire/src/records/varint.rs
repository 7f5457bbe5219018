//! Kafka's zigzag varints (`varint` = 32-bit, `varlong` = 64-bit), read and written.
//!
//! Readers take the buffer and a position, and return `None` when the buffer
//! ends first or the encoding is longer than the type allows, so the caller
//! names the field in its error. A one-byte fast path sits inline; Java's
//! `ByteUtils.readVarint` is the reference: at most 5 (10) bytes, bits past
//! the 32nd (64th) ignored.

/// Reads an unsigned LEB128 value of at most 5 bytes. One- and two-byte
/// values (lengths below 8 KiB, small deltas: nearly every field of a
/// record) take the inline path.
#[inline(always)]
fn read_unsigned32(buf: &[u8], pos: &mut usize) -> Option<u32> {
    let start = *pos;
    let first = *buf.get(start)?;
    if first < 0x80 {
        *pos = start + 1;
        return Some(u32::from(first));
    }
    let second = *buf.get(start + 1)?;
    if second < 0x80 {
        *pos = start + 2;
        return Some(u32::from(first & 0x7F) | u32::from(second) << 7);
    }
    read_unsigned32_long(buf, pos)
}

#[inline(never)]
fn read_unsigned32_long(buf: &[u8], pos: &mut usize) -> Option<u32> {
    let start = *pos;
    let mut value = 0u32;
    for i in 0..5 {
        let byte = *buf.get(start + i)?;
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte < 0x80 {
            *pos = start + i + 1;
            return Some(value);
        }
    }
    None
}

/// Reads an unsigned LEB128 value of at most 10 bytes, with the same
/// inline path.
#[inline(always)]
fn read_unsigned64(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let start = *pos;
    let first = *buf.get(start)?;
    if first < 0x80 {
        *pos = start + 1;
        return Some(u64::from(first));
    }
    let second = *buf.get(start + 1)?;
    if second < 0x80 {
        *pos = start + 2;
        return Some(u64::from(first & 0x7F) | u64::from(second) << 7);
    }
    read_unsigned64_long(buf, pos)
}

#[inline(never)]
fn read_unsigned64_long(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let start = *pos;
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *buf.get(start + i)?;
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte < 0x80 {
            *pos = start + i + 1;
            return Some(value);
        }
    }
    None
}

/// Reads an unsigned LEB128 value of at most 5 bytes from the front of
/// `rest`, advancing it: the cursor form of the hot path.
///
/// When two bytes remain (every field of a record but its last), one- and
/// two-byte values are read with a single bounds check; this cut record
/// iteration by about 15 instructions a record. Otherwise (and for longer
/// values) the bytes are read one at a time, with the same results.
#[inline(always)]
pub(crate) fn read_raw32(rest: &mut &[u8]) -> Option<u32> {
    if let Some((&[first, second], tail)) = rest.split_first_chunk::<2>() {
        if first < 0x80 {
            *rest = &rest[1..];
            return Some(u32::from(first));
        }
        if second < 0x80 {
            *rest = tail;
            return Some(u32::from(first & 0x7F) | u32::from(second) << 7);
        }
    }
    let (&first, tail) = rest.split_first()?;
    if first < 0x80 {
        *rest = tail;
        return Some(u32::from(first));
    }
    let (&second, tail) = tail.split_first()?;
    if second < 0x80 {
        *rest = tail;
        return Some(u32::from(first & 0x7F) | u32::from(second) << 7);
    }
    let mut pos = 0;
    let value = read_unsigned32_long(rest, &mut pos)?;
    *rest = &rest[pos..];
    Some(value)
}

/// Reads an unsigned LEB128 value of at most 10 bytes from the front of
/// `rest`, advancing it, with the same two-byte fast path.
#[inline(always)]
pub(crate) fn read_raw64(rest: &mut &[u8]) -> Option<u64> {
    if let Some((&[first, second], tail)) = rest.split_first_chunk::<2>() {
        if first < 0x80 {
            *rest = &rest[1..];
            return Some(u64::from(first));
        }
        if second < 0x80 {
            *rest = tail;
            return Some(u64::from(first & 0x7F) | u64::from(second) << 7);
        }
    }
    let (&first, tail) = rest.split_first()?;
    if first < 0x80 {
        *rest = tail;
        return Some(u64::from(first));
    }
    let (&second, tail) = tail.split_first()?;
    if second < 0x80 {
        *rest = tail;
        return Some(u64::from(first & 0x7F) | u64::from(second) << 7);
    }
    let mut pos = 0;
    let value = read_unsigned64_long(rest, &mut pos)?;
    *rest = &rest[pos..];
    Some(value)
}

/// Undoes the zigzag encoding of a `varint`.
#[inline(always)]
pub(crate) fn zigzag32(raw: u32) -> i32 {
    (raw >> 1) as i32 ^ -((raw & 1) as i32)
}

/// Undoes the zigzag encoding of a `varlong`.
#[inline(always)]
pub(crate) fn zigzag64(raw: u64) -> i64 {
    (raw >> 1) as i64 ^ -((raw & 1) as i64)
}

/// Reads a zigzag `varint`.
#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    read_unsigned32(buf, pos).map(zigzag32)
}

/// Reads a zigzag `varlong`.
#[inline(always)]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    read_unsigned64(buf, pos).map(zigzag64)
}

/// Appends a zigzag `varint`.
pub(crate) fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Appends a zigzag `varlong`.
pub(crate) fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn write_unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The encoded size of a zigzag `varint`.
pub(crate) fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(((value << 1) ^ (value >> 31)) as u32))
}

/// The encoded size of a zigzag `varlong`.
pub(crate) fn varlong_len(value: i64) -> usize {
    unsigned_len(((value << 1) ^ (value >> 63)) as u64)
}

fn unsigned_len(value: u64) -> usize {
    // 1 byte per started group of 7 bits, and 1 for zero.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings_match_kafka() {
        // Values and bytes from Kafka's ByteUtilsTest.
        let cases: [(i32, &[u8]); 6] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7E]),
            (-64, &[0x7F]),
            (64, &[0x80, 0x01]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Some(value));
            assert_eq!(pos, bytes.len());
        }
        let mut out = Vec::new();
        write_varint(&mut out, i32::MIN);
        assert_eq!(out, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
        out.clear();
        write_varlong(&mut out, i64::MIN);
        assert_eq!(
            out,
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
    }

    #[test]
    fn too_long_or_truncated_is_none() {
        let mut pos = 0;
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos),
            None
        );
        assert_eq!(read_varint(&[0x80, 0x80], &mut pos), None);
        assert_eq!(read_varint(&[], &mut pos), None);
        assert_eq!(read_varlong(&[0x80; 10], &mut pos), None);
        assert_eq!(read_varlong(&[0x80; 11], &mut pos), None);
        assert_eq!(pos, 0);
    }

    proptest! {
        #[test]
        fn varint_round_trips(value: i32) {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            prop_assert_eq!(out.len(), varint_len(value));
            let mut pos = 0;
            prop_assert_eq!(read_varint(&out, &mut pos), Some(value));
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn cursor_reads_match_indexed_reads(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            // The cursor readers' fast paths against the indexed readers, on
            // every length, including values cut short and too long.
            let mut pos = 0;
            let mut rest = &bytes[..];
            prop_assert_eq!(read_raw32(&mut rest), read_unsigned32(&bytes, &mut pos));
            prop_assert_eq!(bytes.len() - rest.len(), pos);
            let mut pos = 0;
            let mut rest = &bytes[..];
            prop_assert_eq!(read_raw64(&mut rest), read_unsigned64(&bytes, &mut pos));
            prop_assert_eq!(bytes.len() - rest.len(), pos);
        }

        #[test]
        fn varlong_round_trips(value: i64) {
            let mut out = Vec::new();
            write_varlong(&mut out, value);
            prop_assert_eq!(out.len(), varlong_len(value));
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&out, &mut pos), Some(value));
            prop_assert_eq!(pos, out.len());
        }
    }
}
