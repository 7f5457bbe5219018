//! The transport's error type, [`NetError`], and why a connection closed.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use vltava_wire::{ApiKey, DecodeError, EncodeError, ErrorCode, VersionRange};

use crate::recovery::Recovery;

/// Everything that can go wrong while talking to one broker.
///
/// Each variant that concerns a broker names it; [`NetError::broker`]
/// returns it. [`NetError::is_retriable`] says whether the same request may
/// succeed on a new connection or a little later; the transport itself
/// never retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The TCP connection could not be opened.
    #[error("could not connect to {broker}: {source}")]
    Dial {
        /// The broker's address.
        broker: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Opening the TCP connection took longer than the dial timeout.
    #[error("connecting to {broker} timed out after {timeout:?}")]
    DialTimeout {
        /// The broker's address.
        broker: String,
        /// The dial timeout that ran out.
        timeout: Duration,
    },
    /// The connection closed, or was already closed, before the response came.
    #[error("connection to {broker} closed with {in_flight} requests in flight: {reason}")]
    Disconnected {
        /// The broker's address.
        broker: String,
        /// Requests still waiting for an answer when it closed (requests
        /// whose caller had already given up are not counted).
        in_flight: usize,
        /// Why it closed.
        reason: DisconnectReason,
    },
    /// The broker announced a response larger than the configured maximum
    /// frame size. Nothing was allocated for it; the connection is closed,
    /// because the stream cannot be resynchronised without reading it.
    #[error(
        "{broker} announced a {api_key} response of {size} bytes, more than the maximum frame size of {max} bytes; raise `max_frame_size` or ask for less"
    )]
    FrameTooLarge {
        /// The broker's address.
        broker: String,
        /// The API of the request the frame answered.
        api_key: ApiKey,
        /// The size the broker announced.
        size: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A request was not answered within the request timeout. The connection
    /// stays usable: a late answer is read and discarded.
    #[error("{api_key} request to {broker} timed out after {timeout:?}")]
    Timeout {
        /// The broker's address.
        broker: String,
        /// The API of the request.
        api_key: ApiKey,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// No version of the API is known to both this client and the broker.
    #[error(
        "{broker} does not support {api_key} at any version this client speaks (ours: {ours}, the broker's: {})",
        theirs.map_or_else(|| "none".to_owned(), |r| r.to_string())
    )]
    UnsupportedApi {
        /// The broker's address.
        broker: String,
        /// The API asked for.
        api_key: ApiKey,
        /// The versions this client can encode (latest unstable version excluded).
        ours: VersionRange,
        /// The versions the broker announced, if it announced the API at all.
        theirs: Option<VersionRange>,
    },
    /// [`Connection::send_at`](crate::Connection::send_at) asked for a version
    /// the broker did not announce.
    #[error("{broker} does not support {api_key} v{version} (it supports {theirs})")]
    UnsupportedVersion {
        /// The broker's address.
        broker: String,
        /// The API asked for.
        api_key: ApiKey,
        /// The version asked for.
        version: i16,
        /// The versions the broker announced (`none` if it did not list the API).
        theirs: VersionRange,
    },
    /// The broker answered the ApiVersions handshake with an error.
    #[error("ApiVersions handshake with {broker} failed: {code}")]
    Handshake {
        /// The broker's address.
        broker: String,
        /// The broker's error code.
        code: ErrorCode,
    },
    /// The TLS handshake failed. Retriable only when it failed on I/O (the
    /// connection dropped or was reset half-way); a certificate the client
    /// does not trust, a certificate that does not name the broker, a
    /// broker host that is no valid server name, or no protocol version
    /// both sides speak is not, since a new connection would fail the same
    /// way. The source is an `io::Error` whose inner error, when rustls
    /// refused the handshake, is a `rustls::Error`.
    #[error("TLS handshake with {broker} failed: {source}")]
    Tls {
        /// The broker's address.
        broker: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// SASL authentication failed: the broker refused the credentials (its
    /// own message says why), the broker's answers were malformed or did
    /// not prove that it knows the credentials (SCRAM's server signature),
    /// or the client could not build its message (an OAUTHBEARER token
    /// callback that failed). Never retriable: the same credentials would
    /// fail the same way, and retrying could lock the account.
    #[error("SASL {mechanism} authentication with {broker} failed: {message}")]
    Authentication {
        /// The broker's address.
        broker: String,
        /// The SASL mechanism, as Kafka names it (`SCRAM-SHA-256`, ...).
        mechanism: String,
        /// What went wrong: the broker's error message when it sent one.
        message: String,
    },
    /// The broker does not enable the SASL mechanism asked for on this
    /// listener. Not retriable.
    #[error(
        "{broker} does not enable SASL mechanism {mechanism} on this listener; it enables: {}",
        if enabled.is_empty() { "none".to_owned() } else { enabled.join(", ") }
    )]
    SaslMechanismNotEnabled {
        /// The broker's address.
        broker: String,
        /// The mechanism asked for.
        mechanism: String,
        /// The mechanisms the broker enables, as it listed them.
        enabled: Vec<String>,
    },
    /// An encoded request does not fit in a Kafka frame (2 GiB).
    #[error("{api_key} request to {broker} is {size} bytes, too large for a Kafka frame")]
    RequestTooLarge {
        /// The broker's address.
        broker: String,
        /// The API of the request.
        api_key: ApiKey,
        /// The encoded size.
        size: usize,
    },
    /// The request cannot be sent the way it was asked for.
    #[error("{api_key} request refused: {reason}")]
    InvalidRequest {
        /// The API of the request.
        api_key: ApiKey,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A request could not be encoded.
    #[error("encoding a request failed: {0}")]
    Encode(#[from] EncodeError),
    /// A response could not be decoded.
    #[error("decoding a response failed: {0}")]
    Decode(#[from] DecodeError),
}

impl NetError {
    /// Whether the request may succeed if sent again, on this connection or
    /// on a new one to the same broker: dial failures, disconnects, timeouts
    /// and handshake errors the broker marks retriable.
    ///
    /// Codec errors, unsupported versions, oversized frames, failed
    /// authentication and TLS certificate or protocol errors are not: the
    /// same request would fail the same way. A TLS handshake that failed on
    /// I/O is.
    pub fn is_retriable(&self) -> bool {
        self.recovery().is_retriable()
    }

    /// What the client does about this error; see [`Recovery`], the one
    /// place that classifies failures.
    pub fn recovery(&self) -> Recovery {
        Recovery::of_net(self)
    }

    /// The broker the error concerns, if any (codec errors name none).
    pub fn broker(&self) -> Option<&str> {
        match self {
            Self::Dial { broker, .. }
            | Self::DialTimeout { broker, .. }
            | Self::Disconnected { broker, .. }
            | Self::FrameTooLarge { broker, .. }
            | Self::Timeout { broker, .. }
            | Self::UnsupportedApi { broker, .. }
            | Self::UnsupportedVersion { broker, .. }
            | Self::Handshake { broker, .. }
            | Self::Tls { broker, .. }
            | Self::Authentication { broker, .. }
            | Self::SaslMechanismNotEnabled { broker, .. }
            | Self::RequestTooLarge { broker, .. } => Some(broker),
            Self::InvalidRequest { .. } | Self::Encode(_) | Self::Decode(_) => None,
        }
    }
}

/// Why a connection closed. Cheap to clone: every request in flight gets a copy.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The broker closed the connection (end of stream).
    #[error("the broker closed the connection")]
    PeerClosed,
    /// Reading or writing failed.
    #[error("{0}")]
    Io(Arc<io::Error>),
    /// The broker announced a frame larger than the maximum frame size.
    #[error("the broker announced a frame of {size} bytes, more than the maximum of {max}")]
    FrameTooLarge {
        /// The size announced.
        size: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The broker sent a frame that is not a response: too short to hold a
    /// correlation id, or negative in size.
    #[error("the broker sent a malformed frame: {0}")]
    MalformedFrame(&'static str),
    /// The broker answered a correlation id that no request used: the
    /// stream can no longer be trusted.
    #[error("the broker answered correlation id {0}, which no request used")]
    UnknownCorrelationId(i32),
    /// The [`Connection`](crate::Connection) was dropped.
    #[error("the connection was dropped by the client")]
    ClientClosed,
}
