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
//! [`BrokerPool`] keeps connections to many brokers: dialled on first use,
//! one per broker and [`Purpose`] (control, group, fetch, produce, so a
//! fetch the broker holds never delays a heartbeat), replaced when they
//! close, redialled with capped exponential backoff and jitter, closed when
//! idle. [`Recovery`] is the one place that says what a failure means:
//! retry, broker unreachable, refresh metadata, find the coordinator,
//! rejoin, or fatal; [`NetError::is_retriable`] and every layer above ask it.
//!
//! What it deliberately does not do: no metadata (which broker leads what is
//! `vltava-meta`'s business), no retry loop (errors say what they mean; the
//! layers above decide when to try again), no group or fetch logic. A
//! [`Connection`] never reconnects: a closed one stays closed, and the pool
//! dials a new one.

mod config;
mod connection;
mod error;
mod frame;
mod pool;
mod recovery;
mod versions;

pub use config::ConnectionConfig;
pub use connection::Connection;
pub use error::{DisconnectReason, NetError};
pub use pool::{BrokerPool, PoolConfig, Purpose};
pub use recovery::Recovery;
pub use versions::{ApiVersions, client_range};
