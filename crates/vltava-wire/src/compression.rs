//! Record batch compression: gzip, snappy, lz4 and zstd, with a hard bound on decompressed size.
//!
//! Kafka compresses the records of a batch as one unit; the codec is named by
//! bits 0-2 of the batch attributes ([`Compression`]). This module turns such
//! a payload into bytes and back. It is plain functions over byte slices: no
//! I/O, no state but a reusable zstd context per thread.
//!
//! # A bound on every decompression
//!
//! A few bytes of compressed input can describe gigabytes of output. Every
//! decompression here takes a [`DecompressionLimit`] and enforces it *while*
//! decompressing, never after: output is produced in steps and the step that
//! would pass the limit fails with [`CompressionError::LimitExceeded`].
//! Sizes that a format declares up front (snappy's preamble, lz4's and zstd's
//! content size, gzip's trailer) are only used as allocation hints after
//! being checked against the limit and against what the input can expand to.
//! One allocation is sized by the input beyond that: libzstd allocates the
//! window a frame asks for. It is capped at the larger of the limit and
//! libzstd's own default cap (128 MiB), so that frames written at any Kafka
//! compression level decode; the pages are only touched as output is
//! written, which the limit bounds.
//!
//! # The formats Kafka writes, and which crates read them
//!
//! | codec | wire format | crate | why |
//! |---|---|---|---|
//! | gzip | RFC 1952 gzip, one member (several are accepted) | `flate2`, pure-Rust `miniz_oxide` backend | the standard Rust deflate crate (rust-lang); no C toolchain, no unsafe in the backend. `zlib-rs` (also pure Rust, faster) is a one-line feature switch if gzip decoding ever shows up in a profile; gzip is the slowest Kafka codec whichever backend runs it. |
//! | snappy | Java writes the *xerial* framing: the 8-byte magic `\x82SNAPPY\0`, a big-endian `i32` version and compatible version, then chunks of [big-endian `i32` length, raw snappy block]; librdkafka and others may write one raw block | `snap` (BurntSushi), raw block API | pure Rust, maintained, as fast as the C++ reference; the xerial framing is 30 lines done here, which also lets us size the output exactly before decompressing. Reading detects the framing by its magic. |
//! | lz4 | the standard LZ4 *frame* format (Java's magic-1/2 writer is a standard frame; magic 0 writers computed the header checksum wrongly) | `lz4_flex`, block API for reading, frame encoder for writing | pure Rust and the fastest safe lz4 in Rust. The frame container is parsed here so that blocks decompress straight into the one output buffer (no copy through the crate's frame buffers) and the magic-0 checksum bug needs no special case. |
//! | zstd | standard zstd frames | `zstd` (binds the reference C libzstd, built from source by `zstd-sys`) | decompression speed: libzstd decodes 2-3.5x faster than the pure-Rust `ruzstd`, and `ruzstd`'s encoder offers only its fastest levels at a worse ratio. Kafka's heaviest users pick zstd, so the fetch path follows the reference implementation. The cost is a C compiler at build time (no system library is needed). |
//!
//! # What is not checked, and why
//!
//! Record batches carry a CRC32C (magic 2) or CRC32 (magic 0/1) over every
//! compressed byte, checked before anything is decompressed. The xxHash32
//! checksums inside an lz4 frame (header, optional block and content
//! checksums) would check the same bytes again at the cost of another pass
//! over them, so they are skipped. This is also what lets magic-0 lz4 data,
//! whose header checksum Kafka computed wrongly, decode without a special case.

use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};

/// The compression codec of a record batch: bits 0-2 of its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Compression {
    /// No compression (0).
    #[default]
    None = 0,
    /// gzip (1).
    Gzip = 1,
    /// snappy (2); written with the xerial framing that the Java client uses.
    Snappy = 2,
    /// lz4 frame format (3).
    Lz4 = 3,
    /// zstd (4); only valid in magic-2 batches.
    Zstd = 4,
}

impl Compression {
    /// Every codec, in attribute order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec for an attribute value (0-4), or `None` for 5-7, which Kafka
    /// does not define.
    pub const fn from_id(id: u8) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The attribute value (bits 0-2).
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The name Kafka's `compression.type` setting uses.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most bytes one decompression may produce (per batch, or per legacy
/// wrapper message).
///
/// The default, 64 MiB, is far above any batch a Kafka producer writes by
/// default (`batch.size` 16 KiB, `max.request.size` 1 MiB) yet keeps a hostile
/// or corrupt batch from taking more memory than that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecompressionLimit {
    max_bytes: usize,
}

impl DecompressionLimit {
    /// 64 MiB.
    pub const DEFAULT: DecompressionLimit = DecompressionLimit::new(64 * 1024 * 1024);

    /// A limit of `max_bytes` decompressed bytes.
    pub const fn new(max_bytes: usize) -> DecompressionLimit {
        DecompressionLimit { max_bytes }
    }

    /// The most bytes a decompression may produce.
    pub const fn max_bytes(self) -> usize {
        self.max_bytes
    }
}

impl Default for DecompressionLimit {
    fn default() -> Self {
        DecompressionLimit::DEFAULT
    }
}

/// Why compressing or decompressing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// The output would pass the [`DecompressionLimit`].
    #[error(
        "{codec} data decompresses to more than the limit of {limit} bytes; \
         raise the decompression limit if such batches are expected"
    )]
    LimitExceeded {
        /// The codec being decompressed.
        codec: Compression,
        /// The limit in force.
        limit: usize,
    },
    /// The input is not valid data of the codec (truncated or corrupt).
    #[error("corrupt {codec} data: {reason}")]
    Corrupt {
        /// The codec being decompressed.
        codec: Compression,
        /// What was wrong, in the codec's words.
        reason: String,
    },
    /// A compression level outside the codec's range.
    #[error("compression level {level} is out of range for {codec} ({range})")]
    InvalidLevel {
        /// The codec.
        codec: Compression,
        /// The level asked for.
        level: i32,
        /// The range the codec accepts.
        range: &'static str,
    },
    /// The codec failed to compress (out of memory in the C library).
    #[error("{codec} compression failed: {reason}")]
    CompressFailed {
        /// The codec.
        codec: Compression,
        /// What the codec said.
        reason: String,
    },
}

fn corrupt(codec: Compression, reason: impl fmt::Display) -> CompressionError {
    CompressionError::Corrupt {
        codec,
        reason: reason.to_string(),
    }
}

/// Compresses `input` with `codec` at the codec's default level, appending
/// the result to `out`. Snappy is written with the xerial framing, as the
/// Java client does; [`Compression::None`] copies.
pub fn compress(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    compress_with_level(codec, None, input, out)
}

/// Compresses like [`compress`], at `level` when one is given. Levels exist
/// for gzip (1-9, default 6) and zstd (-131072 to 22, default 3, as in Kafka);
/// snappy and lz4 have none and ignore it.
pub fn compress_with_level(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip_compress(level, input, out),
        Compression::Snappy => {
            xerial_compress(input, out);
            Ok(())
        }
        Compression::Lz4 => lz4_compress(input, out),
        Compression::Zstd => zstd_compress(level, input, out),
    }
}

/// Compresses `input` as one raw snappy block (no xerial framing), appending
/// to `out`. Kafka readers accept both; the Java client writes xerial.
pub fn compress_raw_snappy(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let start = out.len();
    out.resize(start + snap::raw::max_compress_len(input.len()), 0);
    let written = snap::raw::Encoder::new()
        .compress(input, &mut out[start..])
        .map_err(|e| CompressionError::CompressFailed {
            codec: Compression::Snappy,
            reason: e.to_string(),
        })?;
    out.truncate(start + written);
    Ok(())
}

/// Decompresses `input`, a whole payload of `codec`, into a new buffer of at
/// most `limit` bytes.
///
/// Snappy input may be xerial-framed or one raw block; lz4 and zstd input may
/// hold several frames, gzip several members, decoded one after the other.
/// Empty input is an error for every codec but [`Compression::None`]: each
/// format has a header.
pub fn decompress(
    codec: Compression,
    input: &[u8],
    limit: DecompressionLimit,
) -> Result<Vec<u8>, CompressionError> {
    let limit = limit.max_bytes();
    if codec != Compression::None && input.is_empty() {
        return Err(corrupt(codec, "no data"));
    }
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(CompressionError::LimitExceeded { codec, limit });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => gzip_decompress(input, limit),
        Compression::Snappy => snappy_decompress(input, limit),
        Compression::Lz4 => lz4_decompress(input, limit),
        Compression::Zstd => zstd_decompress(input, limit),
    }
}

// ---------------------------------------------------------------- gzip

/// The most a deflate stream can expand: 258 bytes per 2 bits, about 1032:1.
const GZIP_MAX_RATIO: usize = 1032;

fn gzip_compress(
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let level = match level {
        None => flate2::Compression::default(),
        Some(level @ 1..=9) => flate2::Compression::new(level.unsigned_abs()),
        Some(level) => {
            return Err(CompressionError::InvalidLevel {
                codec: Compression::Gzip,
                level,
                range: "1 to 9",
            });
        }
    };
    let failed = |e: std::io::Error| CompressionError::CompressFailed {
        codec: Compression::Gzip,
        reason: e.to_string(),
    };
    let mut encoder = flate2::write::GzEncoder::new(out, level);
    encoder.write_all(input).map_err(failed)?;
    encoder.finish().map_err(failed)?;
    Ok(())
}

fn gzip_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    // The trailer's ISIZE is the size of the last member modulo 2^32: a good
    // hint for the usual single member, never trusted beyond what the input
    // can expand to or the limit.
    let declared = input
        .len()
        .checked_sub(4)
        .map(|at| le_u32(&input[at..]) as usize)
        .unwrap_or(0);
    let hint = declared
        .min(input.len().saturating_mul(GZIP_MAX_RATIO))
        .min(limit);
    read_capped(
        flate2::bufread::MultiGzDecoder::new(input),
        Compression::Gzip,
        hint,
        limit,
    )
}

/// Reads `reader` to its end into a new buffer, failing as soon as more than
/// `limit` bytes come out.
fn read_capped<R: Read>(
    reader: R,
    codec: Compression,
    hint: usize,
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::with_capacity(hint);
    // One byte past the limit tells "exactly the limit" from "more".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(CompressionError::LimitExceeded { codec, limit });
    }
    Ok(out)
}

// ---------------------------------------------------------------- snappy

/// The magic that opens xerial snappy-java's stream format.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Magic, version (`i32`), compatible version (`i32`).
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size; Kafka does not change it.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// The version and minimum compatible version snappy-java writes.
const XERIAL_VERSION: i32 = 1;

fn xerial_compress(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(
        XERIAL_HEADER_LEN
            + input.len().div_ceil(XERIAL_BLOCK_SIZE) * 4
            + snap::raw::max_compress_len(input.len()),
    );
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        let length_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
        // A chunk of at most 32 KiB is far below snappy's 4 GiB input limit,
        // and the output was sized by max_compress_len: this cannot fail.
        let written = encoder.compress(chunk, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
        let written = u32::try_from(written).unwrap_or(u32::MAX);
        out[length_at..start].copy_from_slice(&written.to_be_bytes());
    }
}

fn snappy_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Snappy;
    let snap_error = |e: snap::Error| corrupt(codec, e);
    if !input.starts_with(XERIAL_MAGIC) {
        // One raw block. Its preamble states the exact output size; snappy
        // cannot expand more than 6:1 per byte of copy op, so this is checked
        // against the limit before anything is allocated.
        let size = snap::raw::decompress_len(input).map_err(snap_error)?;
        if size > limit {
            return Err(CompressionError::LimitExceeded { codec, limit });
        }
        let mut out = vec![0; size];
        let written = snap::raw::Decoder::new()
            .decompress(input, &mut out)
            .map_err(snap_error)?;
        out.truncate(written);
        return Ok(out);
    }

    // Pass 1: walk the chunks, check their framing and add up their sizes.
    let chunks = || XerialChunks { input, pos: 0 };
    let mut total = 0usize;
    for chunk in chunks() {
        let size = snap::raw::decompress_len(chunk?).map_err(snap_error)?;
        total = total.saturating_add(size);
        if total > limit {
            return Err(CompressionError::LimitExceeded { codec, limit });
        }
    }
    // Pass 2: decompress each chunk straight into its place.
    let mut out = vec![0; total];
    let mut decoder = snap::raw::Decoder::new();
    let mut at = 0;
    for chunk in chunks() {
        let written = decoder
            .decompress(chunk?, &mut out[at..])
            .map_err(snap_error)?;
        at += written;
    }
    out.truncate(at);
    Ok(out)
}

/// The raw snappy blocks of a xerial stream. Handles concatenated streams (a
/// header again where a chunk length is expected), as snappy-java does.
struct XerialChunks<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for XerialChunks<'a> {
    type Item = Result<&'a [u8], CompressionError>;

    fn next(&mut self) -> Option<Self::Item> {
        let codec = Compression::Snappy;
        loop {
            let rest = &self.input[self.pos..];
            if rest.is_empty() {
                return None;
            }
            if rest.starts_with(XERIAL_MAGIC) {
                if rest.len() < XERIAL_HEADER_LEN {
                    self.pos = self.input.len();
                    return Some(Err(corrupt(codec, "truncated xerial header")));
                }
                self.pos += XERIAL_HEADER_LEN;
                continue;
            }
            if rest.len() < 4 {
                self.pos = self.input.len();
                return Some(Err(corrupt(codec, "truncated xerial chunk length")));
            }
            let length = be_u32(rest) as usize;
            if length > rest.len() - 4 {
                self.pos = self.input.len();
                return Some(Err(corrupt(
                    codec,
                    format_args!(
                        "xerial chunk of {length} bytes but only {} remain",
                        rest.len() - 4
                    ),
                )));
            }
            self.pos += 4 + length;
            if length == 0 {
                continue;
            }
            return Some(Ok(&rest[4..4 + length]));
        }
    }
}

// ---------------------------------------------------------------- lz4

const LZ4_FRAME_MAGIC: u32 = 0x184D_2204;
const LZ4_SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
const LZ4_SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
/// How far back a block of a linked frame may look.
const LZ4_WINDOW: usize = 64 * 1024;
/// The most an lz4 block can expand: each extra length byte adds 255.
const LZ4_MAX_RATIO: usize = 255;
/// What an lz4 block of record data usually expands to, at most.
const LZ4_TYPICAL_RATIO: usize = 4;

fn lz4_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    // What the Java client writes: 64 KiB independent blocks, no checksums
    // but the header's, no content size.
    let info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max64KB)
        .block_mode(lz4_flex::frame::BlockMode::Independent);
    let failed = |e: &dyn fmt::Display| CompressionError::CompressFailed {
        codec: Compression::Lz4,
        reason: e.to_string(),
    };
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
    encoder.write_all(input).map_err(|e| failed(&e))?;
    encoder.finish().map_err(|e| failed(&e))?;
    Ok(())
}

/// A cursor over an lz4 payload that turns running out into a typed error.
struct Lz4Input<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Lz4Input<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CompressionError> {
        let rest = &self.input[self.pos..];
        if rest.len() < n {
            return Err(corrupt(
                Compression::Lz4,
                format_args!("truncated {what}: needs {n} bytes, {} remain", rest.len()),
            ));
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    fn u32(&mut self, what: &str) -> Result<u32, CompressionError> {
        self.take(4, what).map(le_u32)
    }

    fn is_empty(&self) -> bool {
        self.pos == self.input.len()
    }
}

fn lz4_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Lz4;
    let mut input = Lz4Input { input, pos: 0 };
    // `out[..produced]` is output; `out[produced..]` is zeroed room that the
    // next block decompresses into, grown geometrically so that each byte is
    // zeroed once.
    let mut out: Vec<u8> = Vec::new();
    let mut produced = 0usize;
    while !input.is_empty() {
        let magic = input.u32("frame magic")?;
        if magic & LZ4_SKIPPABLE_MASK == LZ4_SKIPPABLE_MAGIC {
            let length = input.u32("skippable frame length")? as usize;
            input.take(length, "skippable frame")?;
            continue;
        }
        if magic != LZ4_FRAME_MAGIC {
            return Err(corrupt(
                codec,
                format_args!("bad frame magic {magic:#010x}"),
            ));
        }
        let descriptor = input.take(2, "frame descriptor")?;
        let (flags, block_descriptor) = (descriptor[0], descriptor[1]);
        if flags >> 6 != 0b01 {
            return Err(corrupt(codec, "unsupported frame version"));
        }
        if flags & 0b10 != 0 || block_descriptor & 0b1000_1111 != 0 {
            return Err(corrupt(codec, "reserved frame descriptor bits are set"));
        }
        let independent_blocks = flags & 0b0010_0000 != 0;
        let has_block_checksums = flags & 0b0001_0000 != 0;
        let has_content_size = flags & 0b0000_1000 != 0;
        let has_content_checksum = flags & 0b0000_0100 != 0;
        if flags & 0b0000_0001 != 0 {
            return Err(corrupt(codec, "frames with a dictionary are not supported"));
        }
        let max_block = match block_descriptor >> 4 {
            4 => 64 * 1024,
            5 => 256 * 1024,
            6 => 1024 * 1024,
            7 => 4 * 1024 * 1024,
            other => return Err(corrupt(codec, format_args!("bad block size id {other}"))),
        };
        if has_content_size {
            let declared = input.take(8, "content size")?;
            let declared = u64::from_le_bytes(declared.try_into().unwrap_or_default());
            let hint = usize::try_from(declared)
                .unwrap_or(usize::MAX)
                .min(limit - produced)
                .min(input.input.len().saturating_mul(LZ4_MAX_RATIO));
            out.reserve(hint.saturating_sub(out.len() - produced));
        }
        // The header checksum byte: not checked (see the module docs).
        input.take(1, "header checksum")?;
        let frame_start = produced;
        loop {
            let word = input.u32("block size")?;
            if word == 0 {
                if has_content_checksum {
                    input.take(4, "content checksum")?;
                }
                break;
            }
            let stored = word & 0x8000_0000 != 0;
            let length = (word & 0x7FFF_FFFF) as usize;
            if length > max_block {
                return Err(corrupt(
                    codec,
                    format_args!("block of {length} bytes exceeds the frame's {max_block}"),
                ));
            }
            let block = input.take(length, "block")?;
            if has_block_checksums {
                input.take(4, "block checksum")?;
            }
            let left = limit - produced;
            if stored {
                if length > left {
                    return Err(CompressionError::LimitExceeded { codec, limit });
                }
                grow_zeroed(&mut out, produced + length, limit);
                out[produced..produced + length].copy_from_slice(block);
                produced += length;
                continue;
            }
            let natural_room =
                max_block.min(length.saturating_mul(LZ4_MAX_RATIO).saturating_add(64));
            let full_room = natural_room.min(left);
            // Most blocks expand 2-4x: try a room of that size first, so that
            // a small batch does not zero a whole 64 KiB (to 4 MiB) block's
            // room; a block that expands more is decompressed again into
            // all the room it can need.
            let mut room =
                full_room.min(length.saturating_mul(LZ4_TYPICAL_RATIO).saturating_add(64));
            loop {
                grow_zeroed(&mut out, produced + room, limit);
                let result = if independent_blocks || produced == frame_start {
                    lz4_block(block, &mut out[produced..produced + room])
                } else {
                    let (history, rest) = out.split_at_mut(produced);
                    let window = &history[frame_start.max(produced.saturating_sub(LZ4_WINDOW))..];
                    lz4_linked_block(block, &mut rest[..room], window)
                };
                match result {
                    Ok(written) => {
                        produced += written;
                        break;
                    }
                    Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => {
                        if room < full_room {
                            room = full_room;
                        } else if full_room < natural_room {
                            return Err(CompressionError::LimitExceeded { codec, limit });
                        } else {
                            return Err(corrupt(
                                codec,
                                "block expands past its frame's block size",
                            ));
                        }
                    }
                    Err(e) => return Err(corrupt(codec, e)),
                }
            }
        }
    }
    out.truncate(produced);
    Ok(out)
}

/// Decompresses one independent lz4 block into `out`.
///
/// Kept out of line on purpose: inlined into the frame parser (itself inlined
/// into [`decompress`] with every other codec), the block decoder's small
/// fixed-size match copies were left as calls to `copy_within` and `memmove`;
/// in a function of its own they compile to a few moves each. That alone took
/// the lz4 case of the fetch bench from 497 to 411 µs (the bare `lz4_flex`
/// frame decoder: 385 µs).
#[inline(never)]
fn lz4_block(block: &[u8], out: &mut [u8]) -> Result<usize, lz4_flex::block::DecompressError> {
    lz4_flex::block::decompress_into(block, out)
}

/// Decompresses one block of a linked lz4 frame into `out`, with `window`,
/// the output before it, as its dictionary. Out of line like [`lz4_block`].
#[inline(never)]
fn lz4_linked_block(
    block: &[u8],
    out: &mut [u8],
    window: &[u8],
) -> Result<usize, lz4_flex::block::DecompressError> {
    lz4_flex::block::decompress_into_with_dict(block, out, window)
}

/// Makes `out.len()` at least `needed` (which is at most `limit`), zeroing
/// new room in geometric steps, capped at `limit`.
fn grow_zeroed(out: &mut Vec<u8>, needed: usize, limit: usize) {
    if out.len() < needed {
        let doubled = out.len().saturating_mul(2).min(limit);
        out.resize(needed.max(doubled), 0);
    }
}

// ---------------------------------------------------------------- zstd

/// Kafka's default `compression.zstd.level`.
const ZSTD_DEFAULT_LEVEL: i32 = 3;
/// The most a zstd frame can expand: a 4-byte RLE block stands for up to
/// 128 KiB.
const ZSTD_MAX_RATIO: usize = 32 * 1024;
/// libzstd's own default bound on a frame's window (128 MiB).
const ZSTD_WINDOW_LOG_FLOOR: u32 = 27;
/// The largest window log libzstd accepts on 32-bit targets (1 GiB).
const ZSTD_WINDOW_LOG_CEILING: u32 = 30;

fn zstd_compress(
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let level = level.unwrap_or(ZSTD_DEFAULT_LEVEL);
    if !(-131_072..=22).contains(&level) {
        return Err(CompressionError::InvalidLevel {
            codec: Compression::Zstd,
            level,
            range: "-131072 to 22",
        });
    }
    // bulk compression writes the content size into the frame header, which
    // lets the reader allocate exactly once.
    let compressed =
        zstd::bulk::compress(input, level).map_err(|e| CompressionError::CompressFailed {
            codec: Compression::Zstd,
            reason: e.to_string(),
        })?;
    if out.is_empty() {
        *out = compressed;
    } else {
        out.extend_from_slice(&compressed);
    }
    Ok(())
}

thread_local! {
    /// A decompression context per thread: creating one allocates its
    /// tables and, per frame, a window; reusing it makes each batch cheap.
    static ZSTD_CONTEXT: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { RefCell::new(None) };
}

fn zstd_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    ZSTD_CONTEXT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = zstd::zstd_safe::DCtx::try_create();
        }
        match slot.as_mut() {
            Some(context) => zstd_decompress_with(context, input, limit),
            None => Err(corrupt(
                Compression::Zstd,
                "libzstd could not allocate a decompression context",
            )),
        }
    })
}

fn zstd_decompress_with(
    context: &mut zstd::zstd_safe::DCtx<'static>,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    use zstd::zstd_safe::{DParameter, InBuffer, OutBuffer, ResetDirective, get_error_name};
    let codec = Compression::Zstd;
    let zstd_error = |code: usize| corrupt(codec, get_error_name(code));

    // Forget whatever a failed earlier call left behind.
    context
        .reset(ResetDirective::SessionOnly)
        .map_err(zstd_error)?;
    // A frame states its window size, which libzstd then allocates: bound it
    // by the limit, but never below libzstd's own default, so that data
    // written at any Kafka compression level decodes.
    let window_log = usize::BITS - limit.saturating_sub(1).leading_zeros();
    let window_log = window_log.clamp(ZSTD_WINDOW_LOG_FLOOR, ZSTD_WINDOW_LOG_CEILING);
    context
        .set_parameter(DParameter::WindowLogMax(window_log))
        .map_err(zstd_error)?;

    // Fast path: the first frame states its size (as bulk compression
    // writes it) and the input can expand that far. Decompress in one shot
    // into a buffer of exactly that size.
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(input) {
        let declared = usize::try_from(declared).unwrap_or(usize::MAX);
        if declared > limit {
            return Err(CompressionError::LimitExceeded { codec, limit });
        }
        if declared <= input.len().saturating_mul(ZSTD_MAX_RATIO) {
            let mut out = Vec::with_capacity(declared);
            if context.decompress(&mut out, input).is_ok() {
                return Ok(out);
            }
            // More frames than the first one declared, or corrupt data: the
            // streaming path below tells which.
            context
                .reset(ResetDirective::SessionOnly)
                .map_err(zstd_error)?;
        }
    }

    let mut out: Vec<u8> = Vec::with_capacity(input.len().saturating_mul(4).min(limit));
    let mut source = InBuffer::around(input);
    loop {
        if out.len() == out.capacity() {
            // One byte past the limit tells "exactly the limit" from "more".
            let room = out.capacity().max(4096).min(limit + 1 - out.len());
            if room == 0 {
                return Err(CompressionError::LimitExceeded { codec, limit });
            }
            out.reserve_exact(room);
        }
        let (read_before, written_before) = (source.pos(), out.len());
        let hint = {
            let position = out.len();
            let mut sink = OutBuffer::around_pos(&mut out, position);
            context
                .decompress_stream(&mut sink, &mut source)
                .map_err(zstd_error)?
        };
        if out.len() > limit {
            return Err(CompressionError::LimitExceeded { codec, limit });
        }
        let all_read = source.pos() == input.len();
        if hint == 0 && all_read {
            return Ok(out);
        }
        let stalled = source.pos() == read_before && out.len() == written_before;
        if (all_read && out.len() < out.capacity()) || stalled {
            return Err(corrupt(codec, "truncated frame"));
        }
    }
}

// ---------------------------------------------------------------- helpers

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: words with a counter.
        let mut data = Vec::with_capacity(len);
        let mut i = 0u32;
        while data.len() < len {
            data.extend_from_slice(format!("record-{i} value ").as_bytes());
            i = i.wrapping_mul(2_654_435_761).wrapping_add(7) % 1000;
        }
        data.truncate(len);
        data
    }

    fn round_trip(codec: Compression, data: &[u8]) {
        let mut compressed = Vec::new();
        compress(codec, data, &mut compressed).unwrap();
        let back = decompress(codec, &compressed, DecompressionLimit::DEFAULT).unwrap();
        assert_eq!(back, data, "{codec}, {} bytes", data.len());
    }

    #[test]
    fn every_codec_round_trips_every_size() {
        for codec in Compression::ALL {
            for len in [0, 1, 2, 17, 1000, 32 * 1024, 32 * 1024 + 1, 200_000] {
                round_trip(codec, &sample(len));
            }
        }
    }

    #[test]
    fn incompressible_data_round_trips() {
        let mut state = 0x1234_5678u32;
        let noise: Vec<u8> = (0..150_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        for codec in Compression::ALL {
            round_trip(codec, &noise);
        }
    }

    #[test]
    fn codec_ids_match_kafka_attributes() {
        for codec in Compression::ALL {
            assert_eq!(Compression::from_id(codec.id()), Some(codec));
        }
        assert_eq!(Compression::from_id(4), Some(Compression::Zstd));
        for id in 5..=7 {
            assert_eq!(Compression::from_id(id), None);
        }
    }

    #[test]
    fn snappy_writes_the_xerial_framing_java_writes() {
        let data = sample(70_000);
        let mut compressed = Vec::new();
        compress(Compression::Snappy, &data, &mut compressed).unwrap();
        assert_eq!(&compressed[..8], b"\x82SNAPPY\x00");
        assert_eq!(&compressed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // Three 32 KiB chunks, each a big-endian length and a raw block.
        let chunks: Vec<&[u8]> = XerialChunks {
            input: &compressed,
            pos: 0,
        }
        .collect::<Result<_, _>>()
        .unwrap();
        assert_eq!(chunks.len(), 3);
        let first = snap::raw::Decoder::new().decompress_vec(chunks[0]).unwrap();
        assert_eq!(first, &data[..32 * 1024]);
    }

    #[test]
    fn raw_snappy_is_read_too() {
        let data = sample(10_000);
        let mut compressed = Vec::new();
        compress_raw_snappy(&data, &mut compressed).unwrap();
        assert_ne!(&compressed[..8], XERIAL_MAGIC);
        let back = decompress(
            Compression::Snappy,
            &compressed,
            DecompressionLimit::DEFAULT,
        );
        assert_eq!(back.unwrap(), data);
    }

    #[test]
    fn concatenated_xerial_streams_are_read_whole() {
        let (a, b) = (sample(5000), sample(7000));
        let mut compressed = Vec::new();
        compress(Compression::Snappy, &a, &mut compressed).unwrap();
        compress(Compression::Snappy, &b, &mut compressed).unwrap();
        let back = decompress(
            Compression::Snappy,
            &compressed,
            DecompressionLimit::DEFAULT,
        );
        assert_eq!(back.unwrap(), [a, b].concat());
    }

    #[test]
    fn lz4_writes_a_standard_frame_with_64k_independent_blocks() {
        let mut compressed = Vec::new();
        compress(Compression::Lz4, &sample(100), &mut compressed).unwrap();
        assert_eq!(&compressed[..4], &LZ4_FRAME_MAGIC.to_le_bytes());
        // FLG: version 01, independent blocks; BD: 64 KiB.
        assert_eq!(compressed[4], 0b0110_0000);
        assert_eq!(compressed[5], 0b0100_0000);
        // lz4_flex's own frame decoder (which checks the header checksum)
        // reads it.
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&compressed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, sample(100));
    }

    #[test]
    fn lz4_frames_of_other_writers_are_read() {
        let data = sample(300_000);
        let infos = [
            // Linked blocks, checksums everywhere, content size: the
            // reference lz4 tool's defaults plus every option.
            lz4_flex::frame::FrameInfo::new()
                .block_mode(lz4_flex::frame::BlockMode::Linked)
                .block_checksums(true)
                .content_checksum(true)
                .content_size(Some(data.len() as u64)),
            lz4_flex::frame::FrameInfo::new().block_size(lz4_flex::frame::BlockSize::Max256KB),
            lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max4MB)
                .block_mode(lz4_flex::frame::BlockMode::Linked),
        ];
        for info in infos {
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(&data).unwrap();
            let mut compressed = encoder.finish().unwrap();
            // Two frames back to back, with a skippable frame between.
            let single = compressed.clone();
            compressed.extend_from_slice(&0x184D_2A5Fu32.to_le_bytes());
            compressed.extend_from_slice(&3u32.to_le_bytes());
            compressed.extend_from_slice(b"abc");
            compressed.extend_from_slice(&single);
            let back = decompress(Compression::Lz4, &compressed, DecompressionLimit::DEFAULT);
            assert_eq!(back.unwrap(), [&data[..], &data[..]].concat());
        }
    }

    #[test]
    fn lz4_with_a_wrong_header_checksum_as_magic_0_wrote_is_read() {
        let data = sample(1000);
        let mut compressed = Vec::new();
        compress(Compression::Lz4, &data, &mut compressed).unwrap();
        compressed[6] ^= 0x5A;
        let back = decompress(Compression::Lz4, &compressed, DecompressionLimit::DEFAULT);
        assert_eq!(back.unwrap(), data);
    }

    #[test]
    fn zstd_frames_without_a_content_size_are_read() {
        // What zstd-jni's stream writes (the Java client): no content size.
        let data = sample(300_000);
        let compressed = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&compressed),
            Ok(None)
        ));
        let back = decompress(Compression::Zstd, &compressed, DecompressionLimit::DEFAULT);
        assert_eq!(back.unwrap(), data);
        // And two frames back to back, the first stating its size.
        let mut two = Vec::new();
        compress(Compression::Zstd, &data[..1000], &mut two).unwrap();
        two.extend_from_slice(&compressed);
        let back = decompress(Compression::Zstd, &two, DecompressionLimit::DEFAULT);
        assert_eq!(back.unwrap(), [&data[..1000], &data[..]].concat());
    }

    #[test]
    fn gzip_with_several_members_is_read() {
        let (a, b) = (sample(3000), sample(5000));
        let mut compressed = Vec::new();
        compress(Compression::Gzip, &a, &mut compressed).unwrap();
        compress(Compression::Gzip, &b, &mut compressed).unwrap();
        let back = decompress(Compression::Gzip, &compressed, DecompressionLimit::DEFAULT);
        assert_eq!(back.unwrap(), [a, b].concat());
    }

    #[test]
    fn the_limit_is_enforced_for_every_codec_and_exact_size_passes() {
        let data = vec![0u8; 1 << 20];
        for codec in Compression::ALL {
            let mut compressed = Vec::new();
            compress(codec, &data, &mut compressed).unwrap();
            let exact = decompress(codec, &compressed, DecompressionLimit::new(data.len()));
            assert_eq!(exact.unwrap().len(), data.len(), "{codec}");
            for limit in [0, 1, 1000, data.len() - 1] {
                let result = decompress(codec, &compressed, DecompressionLimit::new(limit));
                assert_eq!(
                    result,
                    Err(CompressionError::LimitExceeded { codec, limit }),
                    "{codec} limit {limit}"
                );
            }
        }
    }

    #[test]
    fn the_limit_holds_for_zstd_and_lz4_frames_that_hide_their_size() {
        // A 16 MiB zstd bomb without a content size: must stop at the limit.
        let zeros = vec![0u8; 16 << 20];
        let bomb = zstd::stream::encode_all(&zeros[..], 3).unwrap();
        assert!(bomb.len() < 64 * 1024);
        let limit = DecompressionLimit::new(1 << 20);
        assert_eq!(
            decompress(Compression::Zstd, &bomb, limit),
            Err(CompressionError::LimitExceeded {
                codec: Compression::Zstd,
                limit: 1 << 20
            })
        );
        let mut lz4 = Vec::new();
        compress(Compression::Lz4, &zeros, &mut lz4).unwrap();
        assert!(matches!(
            decompress(Compression::Lz4, &lz4, limit),
            Err(CompressionError::LimitExceeded { .. })
        ));
    }

    #[test]
    fn a_zstd_frame_that_lies_about_its_size_is_an_error() {
        let data = sample(5000);
        let mut compressed = Vec::new();
        compress(Compression::Zstd, &data, &mut compressed).unwrap();
        // Frame header descriptor: a 2-byte content size (stored minus 256)
        // right after it, single segment, no dictionary.
        let descriptor = compressed[4];
        assert_eq!(descriptor >> 6, 1);
        assert_eq!(descriptor & 0b0010_0011, 0b0010_0000);
        for claimed in [1000u16, 4999, 5001, 60_000] {
            let mut lying = compressed.clone();
            lying[5..7].copy_from_slice(&(claimed - 256).to_le_bytes());
            assert!(
                decompress(Compression::Zstd, &lying, DecompressionLimit::DEFAULT).is_err(),
                "claimed {claimed}"
            );
        }
    }

    #[test]
    fn truncated_input_is_an_error_at_every_length() {
        let data = sample(40_000);
        for codec in Compression::ALL {
            if codec == Compression::None {
                continue;
            }
            let mut compressed = Vec::new();
            compress(codec, &data, &mut compressed).unwrap();
            for cut in 0..compressed.len() {
                let result = decompress(codec, &compressed[..cut], DecompressionLimit::DEFAULT);
                // A cut at an xerial chunk boundary, or after a whole lz4
                // frame's blocks, can leave valid but shorter data; it must
                // never be the whole thing.
                if let Ok(back) = result {
                    assert!(
                        back.len() < data.len() && data.starts_with(&back),
                        "{codec} cut at {cut}"
                    );
                    assert!(
                        matches!(codec, Compression::Snappy),
                        "{codec} cut at {cut} decoded"
                    );
                }
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9E37_79B9u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for codec in Compression::ALL {
            let mut valid = Vec::new();
            compress(codec, &sample(5000), &mut valid).unwrap();
            for _ in 0..2000 {
                let mut input = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let at = next() as usize % input.len();
                    input[at] = next() as u8;
                }
                let _ = decompress(codec, &input, DecompressionLimit::new(1 << 20));
            }
            for len in 0..64 {
                let input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = decompress(codec, &input, DecompressionLimit::new(1 << 20));
            }
        }
    }

    #[test]
    fn levels_are_checked() {
        let mut out = Vec::new();
        assert!(compress_with_level(Compression::Gzip, Some(10), b"x", &mut out).is_err());
        assert!(compress_with_level(Compression::Gzip, Some(0), b"x", &mut out).is_err());
        assert!(compress_with_level(Compression::Zstd, Some(23), b"x", &mut out).is_err());
        for level in [1, 9] {
            let mut out = Vec::new();
            compress_with_level(Compression::Gzip, Some(level), b"abc", &mut out).unwrap();
            assert_eq!(
                decompress(Compression::Gzip, &out, DecompressionLimit::DEFAULT).unwrap(),
                b"abc"
            );
        }
        for level in [-5, 1, 19] {
            let mut out = Vec::new();
            compress_with_level(Compression::Zstd, Some(level), b"abc", &mut out).unwrap();
            assert_eq!(
                decompress(Compression::Zstd, &out, DecompressionLimit::DEFAULT).unwrap(),
                b"abc"
            );
        }
    }

    #[test]
    fn compress_appends_to_what_is_there() {
        for codec in Compression::ALL {
            let mut out = b"prefix".to_vec();
            compress(codec, b"hello hello hello", &mut out).unwrap();
            assert_eq!(&out[..6], b"prefix");
            let back = decompress(codec, &out[6..], DecompressionLimit::DEFAULT).unwrap();
            assert_eq!(back, b"hello hello hello");
        }
    }
}
