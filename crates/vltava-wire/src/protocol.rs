//! The traits every generated message implements, the value types messages share
//! (`Uuid`, `RawTaggedField`, `VersionRange`), and the framing of a request or
//! response body behind its header.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::codec::{Ctx, Field, Reader, Segments, SizeCounter, write_segments};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::generated::{ApiKey, RequestBody, RequestHeader, ResponseBody, ResponseHeader};

/// A contiguous range of protocol versions, both ends inclusive.
///
/// An empty range (`min > max`, e.g. [`VersionRange::NONE`]) stands for the
/// spec's `"none"`; an open range (`"9+"`) has `max == i16::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The lowest version in the range.
    pub min: i16,
    /// The highest version in the range (`i16::MAX` when open-ended).
    pub max: i16,
}

impl VersionRange {
    /// The empty range: no version at all.
    pub const NONE: Self = Self { min: 0, max: -1 };

    /// The versions `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        Self { min, max }
    }

    /// Whether `version` is in the range.
    pub const fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// Whether the range holds no version.
    pub const fn is_empty(self) -> bool {
        self.min > self.max
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("none")
        } else if self.max == i16::MAX {
            write!(f, "{}+", self.min)
        } else if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// A Kafka UUID (topic IDs, directory IDs, client instance IDs): 16 bytes.
///
/// Displays the way Kafka does, as 22 characters of URL-safe base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, Kafka's "no UUID".
    pub const ZERO: Self = Self([0; 16]);

    /// The UUID with these 128 bits (most significant first).
    pub const fn from_u128(bits: u128) -> Self {
        Self(bits.to_be_bytes())
    }

    /// The UUID's 128 bits (most significant first).
    pub const fn as_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bits = self.as_u128();
        // 128 bits are 21 full sextets and 2 bits left over, padded with 4 zero bits.
        let mut out = [0u8; 22];
        for (i, c) in out.iter_mut().enumerate() {
            let shift = 128 - 6 * (i as i32 + 1);
            let sextet = if shift >= 0 {
                (bits >> shift) & 0x3f
            } else {
                (bits << -shift) & 0x3f
            };
            *c = ALPHABET[sextet as usize];
        }
        // The alphabet is ASCII, so this never fails.
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

/// A tagged field that the spec of the decoded version does not know, kept
/// verbatim so that it survives a decode/encode round trip.
///
/// When encoding, unknown tags must be strictly ascending and must not reuse
/// a tag the spec gives to a known field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawTaggedField {
    /// The tag.
    pub tag: u32,
    /// The field's encoded value, without the tag and size prefixes.
    pub data: Bytes,
}

pub(crate) mod sealed {
    /// Only generated messages implement [`super::Message`].
    pub trait Sealed {}
}

/// A message from Kafka's specs: a request or response body, a header, or a
/// data struct such as `ConsumerProtocolSubscription`.
///
/// See the crate docs for the rules decode and encode follow.
pub trait Message:
    Sized + Clone + fmt::Debug + Default + PartialEq + Send + Sync + 'static + sealed::Sealed
{
    /// The spec name, e.g. `FetchRequest`.
    const NAME: &'static str;
    /// The versions the spec defines (`validVersions`).
    const VERSIONS: VersionRange;
    /// The versions that use compact encodings and tagged fields
    /// (`flexibleVersions`); may be [`VersionRange::NONE`].
    const FLEXIBLE_VERSIONS: VersionRange;

    /// Decodes a complete message at `version`. Every byte of `buf` must
    /// belong to the message: trailing bytes are an error. `bytes` and
    /// `records` fields come back as slices of `buf`, without copying.
    fn decode(buf: &Bytes, version: i16) -> Result<Self, DecodeError>;

    /// The exact number of bytes [`Message::encode`] writes at `version`.
    /// Fails for the same reasons `encode` would.
    fn encoded_len(&self, version: i16) -> Result<usize, EncodeError>;

    /// Appends the message, encoded at `version`, to `buf`, reserving exactly
    /// the space it needs first. On error `buf` is left as it was.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;

    /// Appends the message, encoded at `version`, to `segments`, which
    /// keeps large `bytes` and `records` fields as references instead of
    /// copying them. On error `segments` is left as it was.
    fn encode_segments(&self, segments: &mut Segments, version: i16) -> Result<(), EncodeError>;

    /// Builds an arbitrary value that `version` can carry from a seed of bytes
    /// (an empty seed gives the default). Used by the `proptest` strategies.
    #[cfg(feature = "proptest")]
    #[doc(hidden)]
    fn from_seed(seed: &[u8], version: i16) -> Self;
}

/// A request body; names its API key and its response type.
pub trait Request: Message {
    /// The request's API key.
    const API_KEY: ApiKey;
    /// The response a broker sends back.
    type Response: Response<Request = Self>;
}

/// A response body; names its API key and its request type.
pub trait Response: Message {
    /// The response's API key.
    const API_KEY: ApiKey;
    /// The request this answers.
    type Request: Request<Response = Self>;

    /// How long, in milliseconds, the broker throttled this client for a
    /// quota violation (0 when it did not, and for responses that carry no
    /// throttle time). Since KIP-219 the broker answers at once and then
    /// ignores the connection for this long; a client should hold back its
    /// next requests as long.
    fn throttle_time_ms(&self) -> i32 {
        0
    }
}

/// The request header version for a request of `api_key` at `api_version`:
/// 2 in flexible versions, 1 otherwise, and 0 for ControlledShutdown v0
/// (whose header has no client ID).
pub const fn request_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if matches!(api_key, ApiKey::ControlledShutdown) && api_version == 0 {
        0
    } else if api_key.flexible_versions().contains(api_version) {
        2
    } else {
        1
    }
}

/// The response header version for a response of `api_key` at `api_version`:
/// 1 in flexible versions, 0 otherwise, and always 0 for ApiVersions (KIP-511:
/// a client must be able to read it before it knows which versions the broker
/// speaks).
pub const fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if matches!(api_key, ApiKey::ApiVersions) {
        0
    } else if api_key.flexible_versions().contains(api_version) {
        1
    } else {
        0
    }
}

impl RequestHeader {
    /// The header for a request of type `R` at `api_version`.
    pub fn for_request<R: Request>(
        api_version: i16,
        correlation_id: i32,
        client_id: Option<&str>,
    ) -> Self {
        Self {
            request_api_key: R::API_KEY.as_i16(),
            request_api_version: api_version,
            correlation_id,
            client_id: client_id.map(str::to_owned),
            ..Self::default()
        }
    }
}

/// The header version `header` is encoded at for a body of type `R`, or an
/// error if the header's API key is not `R`'s.
fn request_header_version_for<R: Request>(header: &RequestHeader) -> Result<i16, EncodeError> {
    let version = header.request_api_version;
    if header.request_api_key != R::API_KEY.as_i16() {
        return Err(EncodeError::new(EncodeErrorKind::ApiKeyMismatch {
            header_api_key: header.request_api_key,
            body_api_key: R::API_KEY.as_i16(),
        })
        .in_message(R::NAME, version));
    }
    Ok(request_header_version(R::API_KEY, version))
}

/// Appends a request to `buf`: `header`, at the header version its API key and
/// version call for, then `body` at `header.request_api_version`. There is no
/// size prefix; framing belongs to the transport. Fails if the header's API
/// key is not `R`'s.
pub fn encode_request<R: Request>(
    header: &RequestHeader,
    body: &R,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let version = header.request_api_version;
    let header_version = request_header_version_for::<R>(header)?;
    encode_pair(header, header_version, body, version, buf)
}

/// [`encode_request`] into [`Segments`]: the header and the body's small
/// fields are copied, and its `bytes` and `records` fields of at least the
/// segments' threshold are shared, so that a transport writes a produce
/// request's record batches straight from the producer's buffers.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use vltava_wire::messages::{ProduceRequest, RequestHeader};
/// use vltava_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
/// use vltava_wire::{Segments, encode_request, encode_request_segments};
///
/// let batch = Bytes::from(vec![7u8; 100_000]);
/// let body = ProduceRequest {
///     acks: -1,
///     timeout_ms: 30_000,
///     topic_data: vec![TopicProduceData {
///         name: "t".into(),
///         partition_data: vec![PartitionProduceData {
///             index: 0,
///             records: Some(batch.clone()),
///             ..Default::default()
///         }],
///         ..Default::default()
///     }],
///     ..Default::default()
/// };
/// let header = RequestHeader::for_request::<ProduceRequest>(9, 1, Some("app"));
/// let mut segments = Segments::new(BytesMut::new(), 64 * 1024);
/// encode_request_segments(&header, &body, &mut segments)?;
/// let parts = segments.into_parts();
/// assert_eq!(parts[1].as_ptr(), batch.as_ptr()); // shared, not copied
///
/// let mut whole = BytesMut::new();
/// encode_request(&header, &body, &mut whole)?;
/// assert_eq!(parts.concat(), whole);
/// # Ok::<(), vltava_wire::EncodeError>(())
/// ```
pub fn encode_request_segments<R: Request>(
    header: &RequestHeader,
    body: &R,
    segments: &mut Segments,
) -> Result<(), EncodeError> {
    let version = header.request_api_version;
    let header_version = request_header_version_for::<R>(header)?;
    let before = segments.head().len();
    header.encode_segments(segments, header_version)?;
    if let Err(error) = body.encode_segments(segments, version) {
        segments.head_mut().truncate(before);
        return Err(error);
    }
    Ok(())
}

/// Appends a response to `buf`: a header with `correlation_id` at the header
/// version `(R::API_KEY, api_version)` calls for, then `body`. No size prefix.
pub fn encode_response<R: Response>(
    correlation_id: i32,
    api_version: i16,
    body: &R,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let header = ResponseHeader {
        correlation_id,
        ..ResponseHeader::default()
    };
    let header_version = response_header_version(R::API_KEY, api_version);
    encode_pair(&header, header_version, body, api_version, buf)
}

/// Decodes a response frame (without its size prefix) to a request of type
/// `R::Request` sent at `api_version`: the header, then the body, which must
/// end exactly where the frame does.
pub fn decode_response<R: Response>(
    api_version: i16,
    frame: &Bytes,
) -> Result<(ResponseHeader, R), DecodeError> {
    let header_version = response_header_version(R::API_KEY, api_version);
    let (header, header_len) = decode_header::<ResponseHeader>(frame, header_version)?;
    let body = R::decode(&frame.slice(header_len..), api_version)?;
    Ok((header, body))
}

/// Decodes a header at the front of `frame`, returning it and its length.
fn decode_header<H: Message + Field>(
    frame: &Bytes,
    version: i16,
) -> Result<(H, usize), DecodeError> {
    let mut reader = Reader::new(frame);
    let header = read_message::<H>(&mut reader, version)?;
    Ok((header, frame.len() - reader.remaining()))
}

/// Decodes a response frame when the API key is only known at run time.
pub fn decode_response_body(
    api_key: ApiKey,
    api_version: i16,
    frame: &Bytes,
) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let mut reader = Reader::new(frame);
    let header_version = response_header_version(api_key, api_version);
    let header = read_message::<ResponseHeader>(&mut reader, header_version)?;
    let body = ResponseBody::read(api_key, &mut reader, api_version)?;
    reader
        .finish()
        .map_err(|e| e.in_message(body.name(), api_version))?;
    Ok((header, body))
}

/// Decodes a request frame (without its size prefix), as a broker would: reads
/// the API key and version at the front of every request header, then the
/// header at the right version, then the body.
pub fn decode_request(frame: &Bytes) -> Result<(RequestHeader, RequestBody), DecodeError> {
    let (api_key, api_version) = match frame.get(..4) {
        Some(&[k0, k1, v0, v1]) => (i16::from_be_bytes([k0, k1]), i16::from_be_bytes([v0, v1])),
        _ => {
            return Err(DecodeError::new(DecodeErrorKind::Truncated {
                needed: 4,
                remaining: frame.len(),
            })
            .in_message(RequestHeader::NAME, 0));
        }
    };
    let api_key = ApiKey::try_from(api_key).map_err(|e| {
        DecodeError::new(DecodeErrorKind::UnknownApiKey(e.0)).in_message(RequestHeader::NAME, 0)
    })?;
    let mut reader = Reader::new(frame);
    let header_version = request_header_version(api_key, api_version);
    let header = read_message::<RequestHeader>(&mut reader, header_version)?;
    let body = RequestBody::read(api_key, &mut reader, api_version)?;
    reader
        .finish()
        .map_err(|e| e.in_message(body.name(), api_version))?;
    Ok((header, body))
}

/// Encodes a header then a body into `buf`, each reserving exactly its size.
fn encode_pair<H: Message + Field, B: Message>(
    header: &H,
    header_version: i16,
    body: &B,
    version: i16,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = buf.len();
    encode_message(header, buf, header_version)?;
    if let Err(error) = body.encode(buf, version) {
        buf.truncate(start);
        return Err(error);
    }
    Ok(())
}

// The entry points below are instantiated once per message type, so they
// stay thin: everything that does not depend on the type is in the plain
// functions they call.

/// The context of a top-level message at `version`, if the message has it.
fn message_context(
    versions: VersionRange,
    flexible: VersionRange,
    version: i16,
) -> Result<Ctx, VersionRange> {
    if versions.contains(version) {
        Ok(Ctx::new(version, flexible.contains(version)))
    } else {
        Err(versions)
    }
}

fn decode_context(
    name: &'static str,
    versions: VersionRange,
    flexible: VersionRange,
    version: i16,
) -> Result<Ctx, DecodeError> {
    message_context(versions, flexible, version).map_err(|supported| {
        DecodeError::new(DecodeErrorKind::UnsupportedVersion { supported })
            .in_message(name, version)
    })
}

fn encode_context(
    name: &'static str,
    versions: VersionRange,
    flexible: VersionRange,
    version: i16,
) -> Result<Ctx, EncodeError> {
    message_context(versions, flexible, version).map_err(|supported| {
        EncodeError::new(EncodeErrorKind::UnsupportedVersion { supported })
            .in_message(name, version)
    })
}

/// Reads a message at `version` from `reader`, leaving what follows it.
pub(crate) fn read_message<M: Message + Field>(
    reader: &mut Reader<'_>,
    version: i16,
) -> Result<M, DecodeError> {
    let cx = decode_context(M::NAME, M::VERSIONS, M::FLEXIBLE_VERSIONS, version)?;
    match M::read(reader, cx) {
        Ok(message) => Ok(message),
        Err(error) => Err(error.in_message(M::NAME, version)),
    }
}

/// [`Message::decode`] for every generated message.
pub(crate) fn decode_message<M: Message + Field>(
    buf: &Bytes,
    version: i16,
) -> Result<M, DecodeError> {
    let mut reader = Reader::new(buf);
    let message = read_message::<M>(&mut reader, version)?;
    finish_message(&reader, M::NAME, version)?;
    Ok(message)
}

fn finish_message(
    reader: &Reader<'_>,
    name: &'static str,
    version: i16,
) -> Result<(), DecodeError> {
    reader.finish().map_err(|e| e.in_message(name, version))
}

/// [`Message::encoded_len`] for every generated message.
pub(crate) fn encoded_len_message<M: Message + Field>(
    message: &M,
    version: i16,
) -> Result<usize, EncodeError> {
    let cx = encode_context(M::NAME, M::VERSIONS, M::FLEXIBLE_VERSIONS, version)?;
    let mut counter = SizeCounter::default();
    match message.write(&mut counter, cx) {
        Ok(()) => Ok(counter.len()),
        Err(error) => Err(error.in_message(M::NAME, version)),
    }
}

/// [`Message::encode`] for every generated message.
pub(crate) fn encode_message<M: Message + Field>(
    message: &M,
    buf: &mut BytesMut,
    version: i16,
) -> Result<(), EncodeError> {
    let len = encoded_len_message(message, version)?;
    let cx = Ctx::new(version, M::FLEXIBLE_VERSIONS.contains(version));
    let start = buf.len();
    buf.reserve(len);
    let written = message.write(buf, cx);
    finish_encode(buf, start, len, written, M::NAME, version)
}

/// [`Message::encode_segments`] for every generated message.
pub(crate) fn encode_segments_message<M: Message + Field>(
    message: &M,
    segments: &mut Segments,
    version: i16,
) -> Result<(), EncodeError> {
    let cx = encode_context(M::NAME, M::VERSIONS, M::FLEXIBLE_VERSIONS, version)?;
    write_segments(message, segments, cx).map_err(|error| error.in_message(M::NAME, version))
}

/// Undoes a failed write; checks a successful one against its size.
fn finish_encode(
    buf: &mut BytesMut,
    start: usize,
    len: usize,
    written: Result<(), EncodeError>,
    name: &'static str,
    version: i16,
) -> Result<(), EncodeError> {
    if let Err(error) = written {
        buf.truncate(start);
        return Err(error.in_message(name, version));
    }
    debug_assert_eq!(
        buf.len() - start,
        len,
        "{name} v{version}: encoded_len disagrees with encode"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_range_display_and_contains() {
        assert_eq!(VersionRange::new(0, 11).to_string(), "0-11");
        assert_eq!(VersionRange::new(9, i16::MAX).to_string(), "9+");
        assert_eq!(VersionRange::new(3, 3).to_string(), "3");
        assert_eq!(VersionRange::NONE.to_string(), "none");
        assert!(VersionRange::NONE.is_empty());
        assert!(!VersionRange::NONE.contains(0));
        assert!(VersionRange::new(9, i16::MAX).contains(i16::MAX));
        assert!(!VersionRange::new(0, 11).contains(-1));
    }

    #[test]
    fn uuid_displays_as_kafka_base64() {
        assert_eq!(Uuid::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        // Kafka's Uuid.METADATA_TOPIC_ID is (0, 1): "AAAAAAAAAAAAAAAAAAAAAQ".
        assert_eq!(Uuid::from_u128(1).to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(
            Uuid::from_u128(u128::MAX).to_string(),
            "_____________________w"
        );
    }
}
