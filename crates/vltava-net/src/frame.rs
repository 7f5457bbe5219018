//! Kafka's framing: every request and response is a big-endian `int32` size
//! followed by that many bytes. Reading checks the size against a maximum
//! before allocating anything.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use vltava_wire::Segments;

/// The connection's write buffer: frames' pieces smaller than this are
/// gathered in it, larger ones are written from where they are (and a
/// request's `bytes` fields this large are not copied into its frame).
pub(crate) const WRITE_BUFFER: usize = 64 * 1024;

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
    // Read into the buffer's spare capacity: a frame of a fetch answer is
    // megabytes, and zeroing it first cost as much as a tenth of a
    // consumer's time at 1 KB per record. `take` keeps every read inside
    // this frame.
    let mut frame = BytesMut::with_capacity(size);
    let mut rest = reader.take(size as u64);
    while frame.len() < size {
        if rest.read_buf(&mut frame).await? == 0 {
            return Err(FrameError::Eof);
        }
    }
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
pub(crate) fn finish_request(buf: &mut impl Frame) -> Option<()> {
    let size = i32::try_from(buf.len() - SIZE_PREFIX).ok()?;
    buf.head_mut()[..SIZE_PREFIX].copy_from_slice(&size.to_be_bytes());
    Some(())
}

/// An encoded request: in one buffer, or in pieces whose first holds the
/// size prefix and the header.
pub(crate) trait Frame {
    /// The bytes of the whole frame.
    fn len(&self) -> usize;
    /// The first piece.
    fn head_mut(&mut self) -> &mut BytesMut;
}

impl Frame for BytesMut {
    fn len(&self) -> usize {
        BytesMut::len(self)
    }
    fn head_mut(&mut self) -> &mut BytesMut {
        self
    }
}

impl Frame for Segments {
    fn len(&self) -> usize {
        Segments::len(self)
    }
    fn head_mut(&mut self) -> &mut BytesMut {
        Segments::head_mut(self)
    }
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
    async fn frames_arriving_in_pieces_are_read_whole_and_never_into_the_next() {
        // Two frames back to back, written a few bytes at a time: each read
        // ends at its frame's last byte, whatever the pieces.
        let (mut tx, mut rx) = tokio::io::duplex(7);
        let mut wire = Vec::new();
        for (id, body) in [(1_i32, vec![0xab; 300]), (2, vec![0xcd; 5])] {
            wire.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
            wire.extend_from_slice(&id.to_be_bytes());
            wire.extend_from_slice(&body);
        }
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in wire.chunks(3) {
                tx.write_all(piece).await.unwrap();
            }
        });
        let first = read_frame(&mut rx, 1 << 20).await.unwrap();
        assert_eq!(first.len(), 304);
        assert_eq!(response_correlation_id(&first), 1);
        assert!(first[4..].iter().all(|b| *b == 0xab));
        let second = read_frame(&mut rx, 1 << 20).await.unwrap();
        assert_eq!(&second[..], &[0, 0, 0, 2, 0xcd, 0xcd, 0xcd, 0xcd, 0xcd]);
        writer.await.unwrap();
        assert!(matches!(
            read_frame(&mut rx, 1 << 20).await,
            Err(FrameError::Eof)
        ));
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
