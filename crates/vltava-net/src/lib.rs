//! `vltava-net`: Vltava's transport to Kafka brokers, layer 2, on tokio.
//!
//! It builds on [`vltava_wire`], the codec, and adds what a byte stream
//! needs: Kafka's length-prefixed frames (with a maximum size checked before
//! anything is allocated), correlation ids, pipelining (many requests in
//! flight on one connection, answered in any order), a timeout per request,
//! and the ApiVersions handshake (KIP-511) that fixes which version of each
//! API a connection speaks.
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
//! What it deliberately does not do: no metadata (which broker leads what is
//! `vltava-meta`'s business), no retry policy (errors say whether they are
//! retriable; the layers above decide), no group or fetch logic, and no
//! reconnecting: a closed [`Connection`] stays closed. TLS, SASL and a pool
//! of connections per broker are still to come.

mod config;
mod connection;
mod error;
mod frame;
mod sasl;
#[cfg(feature = "tls")]
mod tls;
mod versions;

pub use config::ConnectionConfig;
pub use connection::Connection;
pub use error::{DisconnectReason, NetError};
pub use sasl::{OAuthBearerToken, Sasl, SaslSession, TokenError};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsConfigError};
pub use versions::{ApiVersions, client_range};
