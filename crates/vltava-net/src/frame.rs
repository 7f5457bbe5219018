//! Kafka's framing: every request and response is a big-endian `int32` size
//! followed by that many bytes. Reading checks the size against a maximum
//! before allocating anything.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the size prefix in front of every frame.
pub(crate) const SIZE_PREFIX: usize = 4;

/// Where the correlation id sits in an encoded request, size prefix
/// included: after the size, the API key (`int16`) and the API version
/// (`int16`). Every request header version starts this way.
pub(crate) const REQUEST_CORRELATION_ID_OFFSET: usize = SIZE_PREFIX + 4;

/// Why no frame could be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The stream ended.
    Eof,
    /// Reading failed.
    Io(io::Error),
    /// The peer announced more than the maximum. `correlation_id` is the
    /// id that followed the size, when it could be read.
    TooLarge {
        size: u64,
        correlation_id: Option<i32>,
    },
    /// The size is negative, or too small to hold a correlation id.
    Malformed(&'static str),
}

impl From<io::Error> for FrameError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            Self::Eof
        } else {
            Self::Io(error)
        }
    }
}

/// Reads one frame (without its size prefix). The frame is allocated only
/// after its size has been checked against `max_frame_size`.
///
/// Not cancellation safe: only the connection's reader task calls it.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_size: usize,
) -> Result<Bytes, FrameError> {
    let size = reader.read_i32().await?;
    let Ok(size) = usize::try_from(size) else {
        return Err(FrameError::Malformed("negative frame size"));
    };
    if size > max_frame_size {
        // Read the correlation id that follows, so that the error can go to
        // the request the frame answers; the rest of the frame is never read.
        let correlation_id = reader.read_i32().await.ok();
        return Err(FrameError::TooLarge {
            size: size as u64,
            correlation_id,
        });
    }
    if size < 4 {
        return Err(FrameError::Malformed(
            "frame too short to hold a correlation id",
        ));
    }
    let mut frame = BytesMut::zeroed(size);
    reader.read_exact(&mut frame).await?;
    Ok(frame.freeze())
}

/// The correlation id at the front of a response frame (checked to be there).
pub(crate) fn response_correlation_id(frame: &[u8]) -> i32 {
    match frame {
        [a, b, c, d, ..] => i32::from_be_bytes([*a, *b, *c, *d]),
        _ => -1,
    }
}

/// A buffer with room for the size prefix, to encode a request into.
pub(crate) fn request_buffer() -> BytesMut {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    buf
}

/// Writes the size prefix of a request encoded after [`request_buffer`]'s
/// placeholder. Returns `None` if the frame is too large for an `int32`.
pub(crate) fn finish_request(buf: &mut BytesMut) -> Option<()> {
    let size = i32::try_from(buf.len() - SIZE_PREFIX).ok()?;
    buf[..SIZE_PREFIX].copy_from_slice(&size.to_be_bytes());
    Some(())
}

/// Overwrites the correlation id of an encoded request.
pub(crate) fn set_correlation_id(buf: &mut BytesMut, correlation_id: i32) {
    buf[REQUEST_CORRELATION_ID_OFFSET..REQUEST_CORRELATION_ID_OFFSET + 4]
        .copy_from_slice(&correlation_id.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_a_frame_and_its_correlation_id() {
        let bytes: &[u8] = &[0, 0, 0, 6, 0, 0, 0, 42, 7, 8];
        let frame = read_frame(&mut &bytes[..], 100).await.unwrap();
        assert_eq!(&frame[..], &[0, 0, 0, 42, 7, 8]);
        assert_eq!(response_correlation_id(&frame), 42);
    }

    #[tokio::test]
    async fn a_2_gib_frame_is_refused_before_allocating() {
        // 0x7fff_ffff bytes announced, correlation id 9, and nothing else.
        let bytes: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 9];
        match read_frame(&mut &bytes[..], 1 << 20).await {
            Err(FrameError::TooLarge {
                size,
                correlation_id,
            }) => {
                assert_eq!(size, 0x7fff_ffff);
                assert_eq!(correlation_id, Some(9));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn negative_and_short_sizes_are_malformed() {
        let negative: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(
            read_frame(&mut &negative[..], 100).await,
            Err(FrameError::Malformed(_))
        ));
        let short: &[u8] = &[0, 0, 0, 2, 1, 2];
        assert!(matches!(
            read_frame(&mut &short[..], 100).await,
            Err(FrameError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn end_of_stream_is_eof_at_and_inside_a_frame() {
        let empty: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut &empty[..], 100).await,
            Err(FrameError::Eof)
        ));
        let cut: &[u8] = &[0, 0, 0, 8, 0, 0, 0, 1];
        assert!(matches!(
            read_frame(&mut &cut[..], 100).await,
            Err(FrameError::Eof)
        ));
    }

    #[test]
    fn request_buffer_gets_its_size_and_correlation_id() {
        let mut buf = request_buffer();
        buf.put_slice(&[0, 3, 0, 12, 0, 0, 0, 0, 0xff, 0xff]);
        finish_request(&mut buf).unwrap();
        set_correlation_id(&mut buf, 0x0102_0304);
        assert_eq!(
            &buf[..],
            &[0, 0, 0, 10, 0, 3, 0, 12, 1, 2, 3, 4, 0xff, 0xff]
        );
    }
}
