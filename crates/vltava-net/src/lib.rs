//! `vltava-net`: Vltava's transport to Kafka brokers, layer 2, on tokio.
//!
//! It builds on [`vltava_wire`], the codec, and adds what a byte stream
//! needs: Kafka's length-prefixed frames (with a maximum size checked before
//! anything is allocated), correlation ids, pipelining (many requests in
//! flight on one connection, answered in any order), a timeout per request,
//! the ApiVersions handshake (KIP-511) that fixes which version of each
//! API a connection speaks, TLS and SASL authentication.
//!
//! ```no_run
//! use vltava_net::{Connection, ConnectionConfig};
//! use vltava_wire::messages::MetadataRequest;
//!
//! # async fn run() -> Result<(), vltava_net::NetError> {
//! let conn = Connection::connect("127.0.0.1:9092", ConnectionConfig::new()).await?;
//! // Sent at the highest Metadata version both sides speak.
//! let metadata = conn.send(MetadataRequest::default()).await?;
//! println!("{} brokers", metadata.brokers.len());
//! # Ok(())
//! # }
//! ```
//!
//! Every request future is cancellation safe: dropping it never
//! desynchronises the connection, and a late response is read and
//! discarded. When a connection dies, every request in flight fails at once
//! with a retriable [`NetError::Disconnected`] that names the broker.
//!
//! [`BrokerPool`] keeps connections to many brokers: dialled on first use,
//! one per broker and [`Purpose`] (control, group, fetch, produce, so a
//! fetch the broker holds never delays a heartbeat), replaced when they
//! close, redialled with capped exponential backoff and jitter, closed when
//! idle. [`Recovery`] is the one place that says what a failure means:
//! retry, broker unreachable, refresh metadata, find the coordinator,
//! rejoin, or fatal; [`NetError::is_retriable`] and every layer above ask it.
//!
//! # Security
//!
//! A connection opens in this order: TCP dial, then the TLS handshake if
//! [`ConnectionConfig::tls`] is set, then the ApiVersions handshake, then
//! SASL authentication if [`ConnectionConfig::sasl`] is set. Only then is
//! the [`Connection`] handed out, so no other request is ever sent on an
//! unauthenticated connection. Both combine: TLS and SASL is Kafka's
//! `SASL_SSL`.
//!
//! - **TLS** (cargo feature `tls`, on by default) through rustls with its
//!   `ring` provider. [`TlsConfig::from_ca_pem`] trusts a PEM CA bundle;
//!   [`TlsConfig::new`] takes any `Arc<rustls::ClientConfig>` (client
//!   certificates, other roots, custom verifiers). The broker's certificate
//!   must name the host of the address connected to, a DNS name or an IP
//!   address. A certificate or protocol failure is a non-retriable
//!   [`NetError::Tls`]; I/O failing mid-handshake is retriable.
//! - **SASL** ([`Sasl`]): `PLAIN`, `SCRAM-SHA-256` and `SCRAM-SHA-512`
//!   (RFC 5802/7677: the broker's server signature is verified), and
//!   `OAUTHBEARER` (RFC 7628) with a token from an async or sync callback
//!   of the application's, with optional SASL extensions. SaslHandshake v1
//!   then SaslAuthenticate, at the versions negotiated. Refused credentials
//!   are a non-retriable [`NetError::Authentication`] that carries the
//!   broker's message; a mechanism the listener does not enable is a
//!   non-retriable [`NetError::SaslMechanismNotEnabled`] listing those it
//!   does. [`Connection::sasl_session`] keeps the session lifetime the
//!   broker announced (SaslAuthenticate v1+).
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use vltava_net::{Connection, ConnectionConfig, Sasl, TlsConfig};
//!
//! let config = ConnectionConfig::new()
//!     .tls(TlsConfig::from_ca_pem_file("ca.pem")?)
//!     .sasl(Sasl::scram_sha_512("alice", "alice-secret"));
//! let conn = Connection::connect("kafka-1.example.com:9093", config).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Not done yet: re-authenticating a live connection before its session
//! expires (KIP-368; the broker then closes it and a new connection
//! authenticates anew), GSSAPI (Kerberos), delegation tokens over SCRAM
//! (`tokenauth`), SASLprep of SCRAM passwords (the Java client does none
//! either), and refreshing a token inside a connection.
//!
//! What it deliberately does not do: no metadata (which broker leads what is
//! `vltava-meta`'s business), no retry loop (errors say what they mean; the
//! layers above decide when to try again), no group or fetch logic. A
//! [`Connection`] never reconnects: a closed one stays closed, and the pool
//! dials a new one.

mod backoff;
mod config;
mod connection;
mod error;
mod frame;
mod pool;
mod recovery;
mod sasl;
#[cfg(feature = "tls")]
mod tls;
mod versions;

pub use backoff::{Backoff, Jitter};
pub use config::ConnectionConfig;
pub use connection::{Connection, PendingResponse};
pub use error::{DisconnectReason, NetError};
pub use pool::{BrokerPool, PoolConfig, Purpose};
pub use recovery::Recovery;
pub use sasl::{OAuthBearerToken, Sasl, SaslSession, TokenError};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsConfigError};
pub use versions::{ApiVersions, client_range};
