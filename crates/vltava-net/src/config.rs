//! [`ConnectionConfig`]: client id, limits, timeouts and security of one connection.

use std::time::Duration;

use crate::sasl::Sasl;
#[cfg(feature = "tls")]
use crate::tls::TlsConfig;

/// How a [`Connection`](crate::Connection) identifies itself, what it
/// allows and how it secures itself (TLS, SASL).
///
/// ```
/// use std::time::Duration;
/// use vltava_net::ConnectionConfig;
///
/// let config = ConnectionConfig::new()
///     .client_id("billing")
///     .request_timeout(Duration::from_secs(10));
/// assert_eq!(config.max_frame_size, 100 * 1024 * 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// The client id sent in every request header (`None`: a null client id).
    pub client_id: Option<String>,
    /// The client software name sent in ApiVersions v3+ (KIP-511). Brokers
    /// reject names outside `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
    pub client_software_name: String,
    /// The client software version sent in ApiVersions v3+, same alphabet.
    pub client_software_version: String,
    /// The largest response frame accepted. A broker announcing more closes
    /// the connection with a typed error, before anything is allocated.
    pub max_frame_size: usize,
    /// How long a request may wait for its response.
    pub request_timeout: Duration,
    /// How long opening the connection may take: the TCP dial, and the TLS
    /// handshake when there is one (each gets the whole timeout).
    pub dial_timeout: Duration,
    /// How many requests may wait for their responses at once; more wait
    /// for a free slot (within their request timeout). Bounds the memory a
    /// slow broker can make a connection hold.
    pub max_in_flight: usize,
    /// TLS, when set: the stream is encrypted from the first byte (Kafka's
    /// `SSL` and `SASL_SSL` listeners). `None`: plaintext.
    #[cfg(feature = "tls")]
    pub tls: Option<TlsConfig>,
    /// SASL authentication, when set: run on every new connection right
    /// after the ApiVersions handshake, before the connection is handed out
    /// (Kafka's `SASL_PLAINTEXT` and `SASL_SSL` listeners).
    pub sasl: Option<Sasl>,
}

impl ConnectionConfig {
    /// The defaults: client id `vltava`, software `vltava` at this crate's
    /// version, 100 MiB frames, 30 s request timeout, 10 s dial timeout, 64
    /// requests in flight.
    pub fn new() -> Self {
        Self {
            client_id: Some("vltava".to_owned()),
            client_software_name: "vltava".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_frame_size: 100 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            dial_timeout: Duration::from_secs(10),
            max_in_flight: 64,
            #[cfg(feature = "tls")]
            tls: None,
            sasl: None,
        }
    }

    /// Sets the client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the largest response frame accepted.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets how long a request may wait for its response.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long opening the connection (TCP, then TLS) may take.
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// Sets how many requests may be in flight at once (at least 1).
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// Speaks TLS (`SSL` or, with [`ConnectionConfig::sasl`], `SASL_SSL`).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Authenticates with SASL (`SASL_PLAINTEXT` or, with
    /// [`ConnectionConfig::tls`], `SASL_SSL`).
    pub fn sasl(mut self, sasl: Sasl) -> Self {
        self.sasl = Some(sasl);
        self
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self::new()
    }
}
