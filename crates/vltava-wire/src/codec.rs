//! Kafka's primitive encodings, and the machinery the generated message code is
//! made of.
//!
//! Decoding: the primitives (big-endian integers, unsigned varints, length
//! prefixes) are `nom` parsers over complete input; [`Reader`] runs them over
//! one frame and turns sub-slices into zero-copy [`Bytes`]. Encoding: every
//! value writes itself into a [`Sink`], which is either a `BytesMut` or a
//! [`SizeCounter`], so one generated `write` function both sizes and encodes.
//!
//! The [`Field`] trait is implemented by every wire type: integers, `bool`,
//! `f64`, [`Uuid`], `String`, [`Bytes`] (`bytes` and `records`), `Vec<T>`
//! (arrays), `Option<T>` (nullable values) and every generated struct.

use bytes::{Bytes, BytesMut};
use nom::Parser;

use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::protocol::{RawTaggedField, Uuid};

/// How one value is encoded: the message version, whether this value uses
/// the compact (flexible) encodings, whether it may be null here, and whether
/// it is the value of a tagged field (which changes how a null struct is
/// marked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx {
    pub(crate) version: i16,
    pub(crate) flexible: bool,
    pub(crate) nullable: bool,
    pub(crate) tagged: bool,
}

impl Ctx {
    pub(crate) fn new(version: i16, flexible: bool) -> Self {
        Self {
            version,
            flexible,
            nullable: false,
            tagged: false,
        }
    }

    /// The value may be null.
    pub(crate) fn nullable(self) -> Self {
        self.nullable_if(true)
    }

    /// The value may be null if `nullable` (the field's nullable versions
    /// are a part of its present versions).
    pub(crate) fn nullable_if(self, nullable: bool) -> Self {
        Self { nullable, ..self }
    }

    /// The value sits in a tagged field.
    #[allow(
        dead_code,
        reason = "generated for nullable struct fields that are tagged; no current spec has one"
    )]
    pub(crate) fn tagged(self) -> Self {
        Self {
            tagged: true,
            ..self
        }
    }

    /// The value uses the classic encodings even in flexible versions (a
    /// field with `"flexibleVersions": "none"`, like the request header's
    /// client ID).
    pub(crate) fn classic(self) -> Self {
        Self {
            flexible: false,
            ..self
        }
    }

    /// The context of a struct's fields or an array's elements.
    fn inner(self) -> Self {
        Self {
            nullable: false,
            tagged: false,
            ..self
        }
    }
}

/// `nom`'s error type for the wire parsers.
#[derive(Debug)]
pub(crate) struct WireError(DecodeErrorKind);

impl<'a> nom::error::ParseError<&'a [u8]> for WireError {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        // Every parser checks its length first, so this only backs that up.
        WireError(DecodeErrorKind::Truncated {
            needed: input.len() + 1,
            remaining: input.len(),
        })
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// The result of a wire parser.
pub(crate) type PResult<'a, T> = nom::IResult<&'a [u8], T, WireError>;

fn fail<T>(kind: DecodeErrorKind) -> Result<T, nom::Err<WireError>> {
    Err(nom::Err::Error(WireError(kind)))
}

/// Fails with the exact shortfall unless `input` holds `needed` bytes.
fn ensure(input: &[u8], needed: usize) -> Result<(), nom::Err<WireError>> {
    if input.len() < needed {
        fail(DecodeErrorKind::Truncated {
            needed,
            remaining: input.len(),
        })
    } else {
        Ok(())
    }
}

macro_rules! fixed_width_parsers {
    ($($name:ident: $ty:ty = $nom:ident;)*) => {$(
        /// A big-endian
        #[doc = concat!("`", stringify!($ty), "`.")]
        pub(crate) fn $name(input: &[u8]) -> PResult<'_, $ty> {
            ensure(input, size_of::<$ty>())?;
            nom::number::complete::$nom(input)
        }
    )*};
}

fixed_width_parsers! {
    int8: i8 = be_i8;
    int16: i16 = be_i16;
    uint16: u16 = be_u16;
    int32: i32 = be_i32;
    uint32: u32 = be_u32;
    int64: i64 = be_i64;
    float64: f64 = be_f64;
}

/// `n` raw bytes.
pub(crate) fn take(n: usize) -> impl Fn(&[u8]) -> PResult<'_, &[u8]> {
    move |input| {
        ensure(input, n)?;
        nom::bytes::complete::take(n).parse(input)
    }
}

/// An unsigned varint of at most 5 bytes that fits 32 bits (Kafka's
/// `readUnsignedVarint`, which rejects longer ones).
pub(crate) fn uvarint(input: &[u8]) -> PResult<'_, u32> {
    let mut value = 0u32;
    for (i, &byte) in input.iter().enumerate().take(5) {
        if i == 4 && byte > 0x0f {
            return fail(DecodeErrorKind::InvalidVarint);
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((&input[i + 1..], value));
        }
    }
    if input.len() >= 5 {
        fail(DecodeErrorKind::InvalidVarint)
    } else {
        fail(DecodeErrorKind::Truncated {
            needed: input.len() + 1,
            remaining: input.len(),
        })
    }
}

/// A compact length: an unsigned varint of length + 1, 0 meaning null.
pub(crate) fn compact_length(input: &[u8]) -> PResult<'_, Option<usize>> {
    let (rest, n) = uvarint(input)?;
    Ok((rest, n.checked_sub(1).map(|len| len as usize)))
}

/// A classic `int16` length (strings): -1 means null.
pub(crate) fn int16_length(input: &[u8]) -> PResult<'_, Option<usize>> {
    let (rest, n) = int16(input)?;
    match n {
        -1 => Ok((rest, None)),
        n if n < 0 => fail(DecodeErrorKind::InvalidLength(n.into())),
        n => Ok((rest, Some(n as usize))),
    }
}

/// A classic `int32` length (bytes, records, arrays): -1 means null.
pub(crate) fn int32_length(input: &[u8]) -> PResult<'_, Option<usize>> {
    let (rest, n) = int32(input)?;
    match n {
        -1 => Ok((rest, None)),
        n if n < 0 => fail(DecodeErrorKind::InvalidLength(n.into())),
        n => Ok((rest, Some(n as usize))),
    }
}

/// A cursor over one complete frame. Sub-slices it hands out as [`Bytes`]
/// share the frame's buffer.
pub(crate) struct Reader<'a> {
    src: &'a Bytes,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(src: &'a Bytes) -> Self {
        Self { src, rest: src }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::new(DecodeErrorKind::TrailingBytes(n))),
        }
    }

    /// Runs a wire parser on the unread bytes.
    pub(crate) fn parse<T>(
        &mut self,
        mut parser: impl Parser<&'a [u8], Output = T, Error = WireError>,
    ) -> Result<T, DecodeError> {
        match parser.parse(self.rest) {
            Ok((rest, value)) => {
                self.rest = rest;
                Ok(value)
            }
            Err(nom::Err::Error(WireError(kind)) | nom::Err::Failure(WireError(kind))) => {
                Err(DecodeError::new(kind))
            }
            // Complete-input parsers never ask for more.
            Err(nom::Err::Incomplete(_)) => Err(DecodeError::new(DecodeErrorKind::Truncated {
                needed: self.rest.len() + 1,
                remaining: self.rest.len(),
            })),
        }
    }

    /// Reads the spec field `name`; errors name it in their path.
    pub(crate) fn field<T: Field>(
        &mut self,
        name: &'static str,
        cx: Ctx,
    ) -> Result<T, DecodeError> {
        // A `match` rather than `map_err`: this is instantiated for every
        // field type, and a closure would add a function to each instance.
        match T::read(self, cx) {
            Ok(value) => Ok(value),
            Err(error) => Err(error.in_field(name)),
        }
    }

    /// `len` bytes as a zero-copy slice of the frame.
    fn bytes(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        let slice = self.parse(take(len))?;
        Ok(self.src.slice_ref(slice))
    }

    /// A length or count prefix: compact in flexible versions, else `int32`
    /// (or `int16` for strings).
    fn length(&mut self, cx: Ctx, classic16: bool) -> Result<Option<usize>, DecodeError> {
        if cx.flexible {
            self.parse(compact_length)
        } else if classic16 {
            self.parse(int16_length)
        } else {
            self.parse(int32_length)
        }
    }

    /// Reads a tagged-field section. `known` decodes the fields the spec
    /// knows (returning `Ok(false)` for a tag it does not know); the rest are
    /// returned verbatim.
    pub(crate) fn tagged_fields(
        &mut self,
        known: &mut dyn FnMut(&mut Reader<'a>, u32) -> Result<bool, DecodeError>,
    ) -> Result<Vec<RawTaggedField>, DecodeError> {
        let count = self.parse(uvarint)? as usize;
        // Each field takes at least a tag byte and a size byte.
        check_count(count, 2, self.remaining())?;
        let mut unknown = Vec::new();
        for _ in 0..count {
            let tag = self.parse(uvarint)?;
            let size = self.parse(uvarint)? as usize;
            let value = self.parse(take(size))?;
            let mut field = Reader {
                src: self.src,
                rest: value,
            };
            if known(&mut field, tag)? {
                if field.remaining() != 0 {
                    return Err(DecodeError::new(DecodeErrorKind::TaggedFieldSize {
                        tag,
                        declared: size,
                        used: size - field.remaining(),
                    }));
                }
            } else {
                unknown.push(RawTaggedField {
                    tag,
                    data: self.src.slice_ref(value),
                });
            }
        }
        Ok(unknown)
    }

    /// Reads a tagged-field section of a struct without known tagged fields.
    pub(crate) fn unknown_tagged_fields(&mut self) -> Result<Vec<RawTaggedField>, DecodeError> {
        self.tagged_fields(&mut |_, _| Ok(false))
    }
}

/// Fails unless `count` values of at least `min_len` bytes each can fit in
/// `remaining` bytes: no count is trusted before anything is allocated for it.
fn check_count(count: usize, min_len: usize, remaining: usize) -> Result<(), DecodeError> {
    let needed = count.saturating_mul(min_len.max(1));
    if needed > remaining {
        Err(DecodeError::new(DecodeErrorKind::Truncated {
            needed,
            remaining,
        }))
    } else {
        Ok(())
    }
}

/// Where encoded bytes go: a buffer, or a counter that only adds up lengths.
pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);

    /// Appends the bytes of a `bytes` or `records` field, which a sink that
    /// can (a [`Segments`]) keeps as a reference instead of copying.
    fn put_shared(&mut self, bytes: &Bytes) {
        self.put(bytes);
    }

    /// Writes the spec field `name`; errors name it in their path.
    fn field<T: Field>(&mut self, name: &'static str, value: &T, cx: Ctx) -> Result<(), EncodeError>
    where
        Self: Sized,
    {
        match value.write(self, cx) {
            Ok(()) => Ok(()),
            Err(error) => Err(error.in_field(name)),
        }
    }

    /// Starts a tagged-field section: `known` lists the spec's tags for this
    /// struct in ascending order, each with whether it is written in this
    /// version; `unknown` are the raw fields to merge in by tag order.
    fn tagged_fields<'u>(
        &mut self,
        known: &[(u32, bool)],
        unknown: &'u [RawTaggedField],
    ) -> Result<TaggedFields<'u>, EncodeError>
    where
        Self: Sized,
    {
        let mut previous = None;
        for field in unknown {
            let reason = if previous.is_some_and(|p| p >= field.tag) {
                Some("is not in strictly ascending order")
            } else if known.iter().any(|&(tag, _)| tag == field.tag) {
                Some("the spec gives to a known field")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(EncodeError::new(EncodeErrorKind::InvalidTaggedField {
                    tag: field.tag,
                    reason,
                }));
            }
            previous = Some(field.tag);
        }
        let count = known.iter().filter(|&&(_, present)| present).count() + unknown.len();
        put_uvarint(self, u32_len(count)?);
        Ok(TaggedFields { unknown })
    }

    /// Writes the tagged-field section of a struct without known tagged fields.
    fn unknown_tagged_fields(&mut self, unknown: &[RawTaggedField]) -> Result<(), EncodeError>
    where
        Self: Sized,
    {
        self.tagged_fields(&[], unknown)?.finish(self)
    }
}

impl Sink for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A [`Sink`] that counts bytes instead of writing them; and of those,
/// the ones of `bytes` fields of at least `share_from` bytes, which a
/// [`Segments`] with that threshold does not copy.
#[derive(Debug)]
pub(crate) struct SizeCounter {
    len: usize,
    shared: usize,
    share_from: usize,
}

impl Default for SizeCounter {
    fn default() -> Self {
        Self {
            len: 0,
            shared: 0,
            share_from: usize::MAX,
        }
    }
}

impl SizeCounter {
    /// A counter that tells apart what a [`Segments`] with `share_from` shares.
    pub(crate) fn sharing_from(share_from: usize) -> Self {
        Self {
            share_from,
            ..Self::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bytes counted that a [`Segments`] would copy.
    pub(crate) fn copied(&self) -> usize {
        self.len - self.shared
    }
}

impl Sink for SizeCounter {
    fn put(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }

    fn put_shared(&mut self, bytes: &Bytes) {
        self.len += bytes.len();
        if bytes.len() >= self.share_from {
            self.shared += bytes.len();
        }
    }
}

/// An encoded message in pieces, for vectored writes: what the encoder
/// wrote, and between it, without a copy, the `bytes` and `records` fields
/// of at least a threshold's size (a produce request's record batches).
/// Built by [`encode_request_segments`](crate::encode_request_segments).
///
/// The first piece, the head, stays mutable: a transport writes its size
/// prefix and correlation id there.
#[derive(Debug)]
pub struct Segments {
    head: BytesMut,
    rest: Vec<Bytes>,
    current: BytesMut,
    share_from: usize,
}

impl Segments {
    /// Pieces that start with `head` (whatever the caller put in front of
    /// the message, such as a size placeholder), sharing fields of at least
    /// `share_from` bytes.
    pub fn new(head: BytesMut, share_from: usize) -> Segments {
        Segments {
            head,
            rest: Vec::new(),
            current: BytesMut::new(),
            share_from: share_from.max(1),
        }
    }

    /// The first piece: everything up to the first shared field.
    pub fn head(&self) -> &BytesMut {
        &self.head
    }

    /// The first piece, to patch in place.
    pub fn head_mut(&mut self) -> &mut BytesMut {
        &mut self.head
    }

    /// The bytes of every piece together.
    pub fn len(&self) -> usize {
        self.head.len() + self.rest.iter().map(Bytes::len).sum::<usize>() + self.current.len()
    }

    /// Whether there is no byte at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces in order, the head first; none is empty but the head.
    pub fn into_parts(mut self) -> Vec<Bytes> {
        let mut parts = Vec::with_capacity(self.rest.len() + 2);
        parts.push(self.head.freeze());
        parts.append(&mut self.rest);
        if !self.current.is_empty() {
            parts.push(self.current.freeze());
        }
        parts
    }

    /// Makes room for `additional` more copied bytes.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.current_mut().reserve(additional);
    }

    /// Where copied bytes go now: the head until a field was shared.
    fn current_mut(&mut self) -> &mut BytesMut {
        if self.rest.is_empty() {
            &mut self.head
        } else {
            &mut self.current
        }
    }

    /// The copied bytes written so far (for undoing a failed write).
    fn mark(&self) -> (usize, usize, usize) {
        (self.head.len(), self.rest.len(), self.current.len())
    }

    fn undo(&mut self, (head, rest, current): (usize, usize, usize)) {
        self.head.truncate(head);
        self.rest.truncate(rest);
        self.current.truncate(current);
    }
}

impl Sink for Segments {
    fn put(&mut self, bytes: &[u8]) {
        self.current_mut().extend_from_slice(bytes);
    }

    fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() < self.share_from {
            self.put(bytes);
            return;
        }
        if !self.current.is_empty() {
            // What was written since the last shared field; the rest of
            // the buffer's room stays with `current` for what follows.
            self.rest.push(self.current.split().freeze());
        }
        self.rest.push(bytes.clone());
    }
}

/// Encodes `message` at `cx` into `segments`; on error, `segments` is left
/// as it was.
pub(crate) fn write_segments<M: Field>(
    message: &M,
    segments: &mut Segments,
    cx: Ctx,
) -> Result<(), EncodeError> {
    let mut counter = SizeCounter::sharing_from(segments.share_from);
    message.write(&mut counter, cx)?;
    let mark = segments.mark();
    segments.reserve(counter.copied());
    let written = message.write(segments, cx);
    if written.is_err() {
        segments.undo(mark);
    }
    written
}

/// Writes an unsigned varint.
pub(crate) fn put_uvarint<S: Sink>(s: &mut S, mut value: u32) {
    let mut buf = [0u8; 5];
    let mut len = 0;
    while value >= 0x80 {
        buf[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    buf[len] = value as u8;
    s.put(&buf[..=len]);
}

fn u32_len(len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| {
        EncodeError::new(EncodeErrorKind::TooLong {
            len,
            max: u32::MAX as usize,
        })
    })
}

/// Writes a length or count prefix (`None` for null): compact in flexible
/// versions, else `int16` for strings and `int32` for the rest.
fn put_length<S: Sink>(
    s: &mut S,
    len: Option<usize>,
    cx: Ctx,
    max: usize,
) -> Result<(), EncodeError> {
    if let Some(len) = len.filter(|&len| len > max) {
        return Err(EncodeError::new(EncodeErrorKind::TooLong { len, max }));
    }
    match (cx.flexible, max <= i16::MAX as usize, len) {
        (true, _, None) => put_uvarint(s, 0),
        // `max` is at most `i32::MAX`, so `len + 1` fits a `u32`.
        (true, _, Some(len)) => put_uvarint(s, len as u32 + 1),
        (false, true, len) => s.put(&len.map_or(-1, |len| len as i16).to_be_bytes()),
        (false, false, len) => s.put(&len.map_or(-1, |len| len as i32).to_be_bytes()),
    }
    Ok(())
}

/// The tagged-field section being written; see [`Sink::tagged_fields`].
pub(crate) struct TaggedFields<'u> {
    unknown: &'u [RawTaggedField],
}

impl TaggedFields<'_> {
    /// Writes the unknown fields whose tags sort before `tag`.
    fn flush_below<S: Sink>(&mut self, s: &mut S, tag: u64) -> Result<(), EncodeError> {
        while let Some((field, rest)) = self
            .unknown
            .split_first()
            .filter(|(field, _)| u64::from(field.tag) < tag)
        {
            put_uvarint(s, field.tag);
            put_uvarint(s, u32_len(field.data.len())?);
            s.put(&field.data);
            self.unknown = rest;
        }
        Ok(())
    }

    /// Writes the known tagged field `name` with `tag` (after any unknown
    /// fields with lower tags).
    pub(crate) fn field<S: Sink, T: Field>(
        &mut self,
        s: &mut S,
        tag: u32,
        name: &'static str,
        value: &T,
        cx: Ctx,
    ) -> Result<(), EncodeError> {
        self.flush_below(s, tag.into())?;
        let mut size = SizeCounter::default();
        if let Err(error) = value.write(&mut size, cx) {
            return Err(error.in_field(name));
        }
        put_uvarint(s, tag);
        put_uvarint(s, u32_len(size.len())?);
        s.field(name, value, cx)
    }

    /// Writes the remaining unknown fields.
    pub(crate) fn finish<S: Sink>(mut self, s: &mut S) -> Result<(), EncodeError> {
        self.flush_below(s, u64::MAX)
    }
}

/// Checks a field that the version being encoded cannot carry: fine if it
/// holds its default, an error otherwise. (Fields the spec marks `ignorable`
/// are not checked; the generated code just leaves them out.)
pub(crate) fn absent(name: &'static str, is_default: bool) -> Result<(), EncodeError> {
    if is_default {
        Ok(())
    } else {
        Err(EncodeError::new(EncodeErrorKind::UnsupportedField).in_field(name))
    }
}

/// Checks that no unknown tagged fields are set in a version without tagged fields.
pub(crate) fn no_tagged_fields(unknown: &[RawTaggedField]) -> Result<(), EncodeError> {
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(EncodeError::new(EncodeErrorKind::TaggedFieldsNotSupported))
    }
}

/// A value with a wire encoding.
pub(crate) trait Field: Sized {
    /// Reads a non-null value.
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError>;

    /// Writes the value.
    fn write<S: Sink>(&self, s: &mut S, cx: Ctx) -> Result<(), EncodeError>;

    /// The fewest bytes a value takes, to bound array counts by the input.
    fn min_len(cx: Ctx) -> usize;

    /// Reads a value that may be null. The default is the encoding of a
    /// nullable struct: an `int8` marker (-1 null, else present), or an
    /// unsigned varint (0 null) inside a tagged field.
    fn read_nullable(r: &mut Reader<'_>, cx: Ctx) -> Result<Option<Self>, DecodeError> {
        let present = if cx.tagged {
            r.parse(uvarint)? > 0
        } else {
            r.parse(int8)? >= 0
        };
        if present {
            Self::read(r, cx.inner()).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Writes a value that may be null; see [`Field::read_nullable`].
    fn write_nullable<S: Sink>(
        value: Option<&Self>,
        s: &mut S,
        cx: Ctx,
    ) -> Result<(), EncodeError> {
        match (value, cx.tagged) {
            (None, false) => s.put(&[0xff]),
            (None, true) => s.put(&[0]),
            (Some(_), _) => s.put(&[1]),
        }
        value.map_or(Ok(()), |value| value.write(s, cx.inner()))
    }
}

macro_rules! fixed_width_fields {
    ($($ty:ty => $parser:ident;)*) => {$(
        impl Field for $ty {
            fn read(r: &mut Reader<'_>, _cx: Ctx) -> Result<Self, DecodeError> {
                r.parse($parser)
            }

            fn write<S: Sink>(&self, s: &mut S, _cx: Ctx) -> Result<(), EncodeError> {
                s.put(&self.to_be_bytes());
                Ok(())
            }

            fn min_len(_cx: Ctx) -> usize {
                size_of::<$ty>()
            }
        }
    )*};
}

fixed_width_fields! {
    i8 => int8;
    i16 => int16;
    u16 => uint16;
    i32 => int32;
    u32 => uint32;
    i64 => int64;
    f64 => float64;
}

impl Field for bool {
    fn read(r: &mut Reader<'_>, _cx: Ctx) -> Result<Self, DecodeError> {
        // Like Kafka's readers: any non-zero byte is true.
        Ok(r.parse(int8)? != 0)
    }

    fn write<S: Sink>(&self, s: &mut S, _cx: Ctx) -> Result<(), EncodeError> {
        s.put(&[u8::from(*self)]);
        Ok(())
    }

    fn min_len(_cx: Ctx) -> usize {
        1
    }
}

impl Field for Uuid {
    fn read(r: &mut Reader<'_>, _cx: Ctx) -> Result<Self, DecodeError> {
        let bytes = r.parse(take(16))?;
        let mut uuid = [0; 16];
        uuid.copy_from_slice(bytes);
        Ok(Uuid(uuid))
    }

    fn write<S: Sink>(&self, s: &mut S, _cx: Ctx) -> Result<(), EncodeError> {
        s.put(&self.0);
        Ok(())
    }

    fn min_len(_cx: Ctx) -> usize {
        16
    }
}

/// Strings: `int16` length or compact length, then UTF-8. Kafka caps both
/// forms at `i16::MAX` bytes.
const STRING_MAX: usize = i16::MAX as usize;

/// Byte strings, records and arrays: `int32` length or compact length.
const BYTES_MAX: usize = i32::MAX as usize;

fn null_error<T>() -> Result<T, DecodeError> {
    Err(DecodeError::new(DecodeErrorKind::UnexpectedNull))
}

impl Field for String {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        match Self::read_nullable(r, cx)? {
            Some(value) => Ok(value),
            None => null_error(),
        }
    }

    fn write<S: Sink>(&self, s: &mut S, cx: Ctx) -> Result<(), EncodeError> {
        Self::write_nullable(Some(self), s, cx)
    }

    fn min_len(cx: Ctx) -> usize {
        if cx.flexible { 1 } else { 2 }
    }

    fn read_nullable(r: &mut Reader<'_>, cx: Ctx) -> Result<Option<Self>, DecodeError> {
        let Some(len) = r.length(cx, true)? else {
            return Ok(None);
        };
        if len > STRING_MAX {
            return Err(DecodeError::new(DecodeErrorKind::InvalidLength(len as i64)));
        }
        let bytes = r.parse(take(len))?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Some(text.to_owned())),
            Err(_) => Err(DecodeError::new(DecodeErrorKind::InvalidUtf8)),
        }
    }

    fn write_nullable<S: Sink>(
        value: Option<&Self>,
        s: &mut S,
        cx: Ctx,
    ) -> Result<(), EncodeError> {
        put_length(s, value.map(String::len), cx, STRING_MAX)?;
        if let Some(value) = value {
            s.put(value.as_bytes());
        }
        Ok(())
    }
}

impl Field for Bytes {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        match Self::read_nullable(r, cx)? {
            Some(value) => Ok(value),
            None => null_error(),
        }
    }

    fn write<S: Sink>(&self, s: &mut S, cx: Ctx) -> Result<(), EncodeError> {
        Self::write_nullable(Some(self), s, cx)
    }

    fn min_len(cx: Ctx) -> usize {
        if cx.flexible { 1 } else { 4 }
    }

    fn read_nullable(r: &mut Reader<'_>, cx: Ctx) -> Result<Option<Self>, DecodeError> {
        match r.length(cx, false)? {
            Some(len) => r.bytes(len).map(Some),
            None => Ok(None),
        }
    }

    fn write_nullable<S: Sink>(
        value: Option<&Self>,
        s: &mut S,
        cx: Ctx,
    ) -> Result<(), EncodeError> {
        put_length(s, value.map(Bytes::len), cx, BYTES_MAX)?;
        if let Some(value) = value {
            s.put_shared(value);
        }
        Ok(())
    }
}

impl<T: Field> Field for Vec<T> {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        match Self::read_nullable(r, cx)? {
            Some(value) => Ok(value),
            None => null_error(),
        }
    }

    fn write<S: Sink>(&self, s: &mut S, cx: Ctx) -> Result<(), EncodeError> {
        Self::write_nullable(Some(self), s, cx)
    }

    fn min_len(cx: Ctx) -> usize {
        if cx.flexible { 1 } else { 4 }
    }

    fn read_nullable(r: &mut Reader<'_>, cx: Ctx) -> Result<Option<Self>, DecodeError> {
        let Some(count) = r.length(cx, false)? else {
            return Ok(None);
        };
        let element = cx.inner();
        check_count(count, T::min_len(element), r.remaining())?;
        let mut values = Vec::with_capacity(count);
        // Arrays are instantiated for every element type, so these loops
        // stay plain: adapters and closures multiply the code to compile.
        for index in 0..count {
            match T::read(r, element) {
                Ok(value) => values.push(value),
                Err(error) => return Err(error.at_index(index)),
            }
        }
        Ok(Some(values))
    }

    fn write_nullable<S: Sink>(
        value: Option<&Self>,
        s: &mut S,
        cx: Ctx,
    ) -> Result<(), EncodeError> {
        let Some(values) = value else {
            return put_length(s, None, cx, BYTES_MAX);
        };
        put_length(s, Some(values.len()), cx, BYTES_MAX)?;
        let element = cx.inner();
        let mut index = 0;
        while let Some(value) = values.get(index) {
            if let Err(error) = value.write(s, element) {
                return Err(error.at_index(index));
            }
            index += 1;
        }
        Ok(())
    }
}

impl<T: Field> Field for Option<T> {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        if cx.nullable {
            T::read_nullable(r, cx)
        } else {
            T::read(r, cx.inner()).map(Some)
        }
    }

    fn write<S: Sink>(&self, s: &mut S, cx: Ctx) -> Result<(), EncodeError> {
        match (self, cx.nullable) {
            (_, true) => T::write_nullable(self.as_ref(), s, cx),
            (Some(value), false) => value.write(s, cx.inner()),
            (None, false) => Err(EncodeError::new(EncodeErrorKind::NullNotAllowed)),
        }
    }

    fn min_len(cx: Ctx) -> usize {
        if cx.nullable { 1 } else { T::min_len(cx) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<T: Field>(bytes: &[u8], cx: Ctx) -> Result<(T, usize), DecodeError> {
        let src = Bytes::copy_from_slice(bytes);
        let mut r = Reader::new(&src);
        let value = T::read(&mut r, cx)?;
        Ok((value, r.remaining()))
    }

    fn encode<T: Field>(value: &T, cx: Ctx) -> Result<Vec<u8>, EncodeError> {
        let mut counter = SizeCounter::default();
        value.write(&mut counter, cx)?;
        let mut buf = BytesMut::new();
        value.write(&mut buf, cx)?;
        assert_eq!(
            counter.len(),
            buf.len(),
            "size pass and write pass disagree"
        );
        Ok(buf.to_vec())
    }

    const CLASSIC: Ctx = Ctx {
        version: 0,
        flexible: false,
        nullable: false,
        tagged: false,
    };
    const FLEXIBLE: Ctx = Ctx {
        flexible: true,
        ..CLASSIC
    };

    #[test]
    fn uvarint_edge_cases() {
        let cases: &[(u32, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (0x7f, &[0x7f]),
            (0x80, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (0x3fff, &[0xff, 0x7f]),
            (0x4000, &[0x80, 0x80, 0x01]),
            (0x0fff_ffff, &[0xff, 0xff, 0xff, 0x7f]),
            (0x1000_0000, &[0x80, 0x80, 0x80, 0x80, 0x01]),
            (u32::MAX, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(value, bytes) in cases {
            let mut buf = BytesMut::new();
            put_uvarint(&mut buf, value);
            assert_eq!(&buf[..], bytes, "encoding {value}");
            let (rest, decoded) = uvarint(bytes).unwrap();
            assert_eq!(decoded, value);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn uvarint_rejects_overlong_and_truncated_input() {
        // A sixth byte would be needed: too long.
        assert!(matches!(
            uvarint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(nom::Err::Error(WireError(DecodeErrorKind::InvalidVarint)))
        ));
        // The fifth byte carries bits beyond 32.
        assert!(matches!(
            uvarint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(nom::Err::Error(WireError(DecodeErrorKind::InvalidVarint)))
        ));
        assert!(matches!(
            uvarint(&[0x80, 0x80]),
            Err(nom::Err::Error(WireError(DecodeErrorKind::Truncated {
                needed: 3,
                remaining: 2
            })))
        ));
        assert!(matches!(
            uvarint(&[]),
            Err(nom::Err::Error(WireError(DecodeErrorKind::Truncated {
                needed: 1,
                remaining: 0
            })))
        ));
        // Non-minimal encodings are accepted, like Kafka's reader does.
        assert_eq!(uvarint(&[0x80, 0x00]).unwrap().1, 0);
    }

    #[test]
    fn integers_are_big_endian() {
        assert_eq!(encode(&0x0102_0304i32, CLASSIC).unwrap(), [1, 2, 3, 4]);
        assert_eq!(encode(&-2i16, CLASSIC).unwrap(), [0xff, 0xfe]);
        assert_eq!(encode(&u16::MAX, CLASSIC).unwrap(), [0xff, 0xff]);
        assert_eq!(
            decode::<i64>(&[0, 0, 0, 0, 0, 0, 1, 0], CLASSIC).unwrap(),
            (256, 0)
        );
        assert_eq!(encode(&1.5f64, CLASSIC).unwrap(), 1.5f64.to_be_bytes());
        let truncated = decode::<i32>(&[1, 2, 3], CLASSIC).unwrap_err();
        assert_eq!(
            truncated.kind(),
            &DecodeErrorKind::Truncated {
                needed: 4,
                remaining: 3
            }
        );
    }

    #[test]
    fn bool_reads_any_non_zero_byte_as_true() {
        assert!(!decode::<bool>(&[0], CLASSIC).unwrap().0);
        assert!(decode::<bool>(&[2], CLASSIC).unwrap().0);
        assert_eq!(encode(&true, CLASSIC).unwrap(), [1]);
    }

    #[test]
    fn classic_and_compact_strings() {
        let text = String::from("héllo");
        assert_eq!(encode(&text, CLASSIC).unwrap(), b"\x00\x06h\xc3\xa9llo");
        assert_eq!(encode(&text, FLEXIBLE).unwrap(), b"\x07h\xc3\xa9llo");
        assert_eq!(
            decode::<String>(b"\x07h\xc3\xa9llo", FLEXIBLE).unwrap().0,
            text
        );
        assert_eq!(encode(&String::new(), FLEXIBLE).unwrap(), [1]);
        assert_eq!(encode(&String::new(), CLASSIC).unwrap(), [0, 0]);
    }

    #[test]
    fn null_strings_bytes_and_arrays() {
        let nullable = CLASSIC.nullable();
        let compact_nullable = FLEXIBLE.nullable();
        assert_eq!(encode(&None::<String>, nullable).unwrap(), [0xff, 0xff]);
        assert_eq!(encode(&None::<String>, compact_nullable).unwrap(), [0]);
        assert_eq!(encode(&None::<Bytes>, nullable).unwrap(), [0xff; 4]);
        assert_eq!(encode(&None::<Bytes>, compact_nullable).unwrap(), [0]);
        assert_eq!(encode(&None::<Vec<i32>>, nullable).unwrap(), [0xff; 4]);
        assert_eq!(encode(&None::<Vec<i32>>, compact_nullable).unwrap(), [0]);
        assert_eq!(
            decode::<Option<String>>(&[0], compact_nullable).unwrap().0,
            None
        );
        assert_eq!(
            decode::<Option<Bytes>>(&[0xff; 4], nullable).unwrap().0,
            None
        );
        // Null where the version does not allow it, both ways.
        let error = decode::<Option<String>>(&[0], FLEXIBLE).unwrap_err();
        assert_eq!(error.kind(), &DecodeErrorKind::UnexpectedNull);
        let error = decode::<String>(&[0xff, 0xff], CLASSIC).unwrap_err();
        assert_eq!(error.kind(), &DecodeErrorKind::UnexpectedNull);
        let error = encode(&None::<String>, FLEXIBLE).unwrap_err();
        assert_eq!(error.kind(), &EncodeErrorKind::NullNotAllowed);
    }

    #[test]
    fn invalid_lengths_are_rejected() {
        let error = decode::<String>(&[0xff, 0xfe], CLASSIC).unwrap_err();
        assert_eq!(error.kind(), &DecodeErrorKind::InvalidLength(-2));
        let error = decode::<Bytes>(&[0x80, 0, 0, 0], CLASSIC).unwrap_err();
        assert_eq!(
            error.kind(),
            &DecodeErrorKind::InvalidLength(i32::MIN.into())
        );
        // Compact strings longer than i16::MAX are invalid, as in Kafka.
        let error = decode::<String>(&[0x81, 0x80, 0x02], FLEXIBLE).unwrap_err();
        assert_eq!(error.kind(), &DecodeErrorKind::InvalidLength(0x8000));
        let error = decode::<String>(&[0x03, 0xff, 0xfe], FLEXIBLE).unwrap_err();
        assert_eq!(error.kind(), &DecodeErrorKind::InvalidUtf8);
        let too_long = "x".repeat(STRING_MAX + 1);
        let error = encode(&too_long, FLEXIBLE).unwrap_err();
        assert_eq!(
            error.kind(),
            &EncodeErrorKind::TooLong {
                len: STRING_MAX + 1,
                max: STRING_MAX
            }
        );
    }

    #[test]
    fn bytes_are_zero_copy_slices_of_the_frame() {
        let src = Bytes::from_static(b"\x04abc!");
        let mut r = Reader::new(&src);
        let value = Bytes::read(&mut r, FLEXIBLE).unwrap();
        assert_eq!(&value[..], b"abc");
        assert_eq!(value.as_ptr(), src[1..].as_ptr());
    }

    #[test]
    fn array_counts_are_checked_before_allocating() {
        // 2^31 - 1 int32 elements announced, 4 bytes present.
        let error = decode::<Vec<i32>>(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1], CLASSIC).unwrap_err();
        assert_eq!(
            error.kind(),
            &DecodeErrorKind::Truncated {
                needed: 4 * (i32::MAX as usize),
                remaining: 4
            }
        );
        let (values, rest) = decode::<Vec<i32>>(&[0x03, 0, 0, 0, 1, 0, 0, 0, 2], FLEXIBLE).unwrap();
        assert_eq!((values, rest), (vec![1, 2], 0));
        let error = decode::<Vec<i32>>(&[0x03, 0, 0, 0, 1, 0, 0, 0, 2, 9], FLEXIBLE)
            .map(|(_, rest)| rest)
            .unwrap();
        assert_eq!(error, 1);
    }

    #[test]
    fn array_errors_carry_the_element_index() {
        let error = decode::<Vec<String>>(&[0x03, 0x02, b'a', 0x05, b'b'], FLEXIBLE).unwrap_err();
        assert_eq!(error.field_path(), "[1]");
    }

    #[test]
    fn tagged_fields_keep_unknown_tags_and_check_known_sizes() {
        // Two fields: tag 0 (known, int32), tag 5 (unknown, 2 bytes).
        let src = Bytes::from_static(&[2, 0, 4, 0, 0, 0, 7, 5, 2, 0xaa, 0xbb]);
        let mut r = Reader::new(&src);
        let mut known = 0i32;
        let unknown = r
            .tagged_fields(&mut |r, tag| match tag {
                0 => {
                    known = r.field("Known", FLEXIBLE)?;
                    Ok(true)
                }
                _ => Ok(false),
            })
            .unwrap();
        assert_eq!(known, 7);
        assert_eq!(
            unknown,
            [RawTaggedField {
                tag: 5,
                data: Bytes::from_static(&[0xaa, 0xbb])
            }]
        );
        // Write them back, merged by tag order.
        let mut buf = BytesMut::new();
        let mut tags = buf.tagged_fields(&[(0, true)], &unknown).unwrap();
        tags.field(&mut buf, 0, "Known", &known, FLEXIBLE).unwrap();
        tags.finish(&mut buf).unwrap();
        assert_eq!(&buf[..], &src[..]);

        // A known field whose declared size is larger than its value.
        let src = Bytes::from_static(&[1, 0, 5, 0, 0, 0, 7, 0]);
        let mut r = Reader::new(&src);
        let error = r
            .tagged_fields(&mut |r, _| r.field::<i32>("Known", FLEXIBLE).map(|_| true))
            .unwrap_err();
        assert_eq!(
            error.kind(),
            &DecodeErrorKind::TaggedFieldSize {
                tag: 0,
                declared: 5,
                used: 4
            }
        );
    }

    #[test]
    fn unknown_tags_must_be_ascending_and_not_known() {
        let field = |tag| RawTaggedField {
            tag,
            data: Bytes::new(),
        };
        let mut buf = BytesMut::new();
        let error = buf.tagged_fields(&[], &[field(3), field(3)]).err().unwrap();
        assert!(matches!(
            error.kind(),
            EncodeErrorKind::InvalidTaggedField { tag: 3, .. }
        ));
        let error = buf.tagged_fields(&[(3, false)], &[field(3)]).err().unwrap();
        assert!(matches!(
            error.kind(),
            EncodeErrorKind::InvalidTaggedField { tag: 3, .. }
        ));
        assert!(no_tagged_fields(&[field(1)]).is_err());
    }

    #[test]
    fn nullable_struct_markers() {
        // A nullable "struct" stands in with `Vec<i8>`'s default-marker cousin:
        // use a one-field wrapper to exercise the provided methods.
        #[derive(Debug, PartialEq)]
        struct One(i8);
        impl Field for One {
            fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
                r.field("X", cx).map(One)
            }
            fn write<S: Sink>(&self, s: &mut S, cx: Ctx) -> Result<(), EncodeError> {
                s.field("X", &self.0, cx)
            }
            fn min_len(_cx: Ctx) -> usize {
                1
            }
        }
        let nullable = CLASSIC.nullable();
        assert_eq!(encode(&None::<One>, nullable).unwrap(), [0xff]);
        assert_eq!(encode(&Some(One(5)), nullable).unwrap(), [1, 5]);
        assert_eq!(encode(&None::<One>, nullable.tagged()).unwrap(), [0]);
        assert_eq!(decode::<Option<One>>(&[0xff], nullable).unwrap().0, None);
        assert_eq!(
            decode::<Option<One>>(&[1, 5], nullable).unwrap().0,
            Some(One(5))
        );
        assert_eq!(
            decode::<Option<One>>(&[0], nullable.tagged()).unwrap().0,
            None
        );
        // Not nullable in this version: no marker at all.
        assert_eq!(encode(&Some(One(5)), CLASSIC).unwrap(), [5]);
    }
}
