//! The metadata layer's error type, [`MetaError`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use vltava_net::NetError;

/// Everything that can go wrong in the metadata layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// A request to a broker failed in the transport.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A bootstrap entry is not `host:port`.
    #[error("invalid bootstrap address `{0}`: expected host:port")]
    InvalidBootstrap(String),
    /// The bootstrap list is empty.
    #[error("the bootstrap list is empty: give at least one host:port")]
    NoBootstrap,
    /// A bootstrap name did not resolve (DNS).
    #[error("resolving bootstrap address `{address}` failed: {source}")]
    Resolve {
        /// The bootstrap entry.
        address: String,
        /// What the resolver said.
        #[source]
        source: io::Error,
    },
    /// No bootstrap address answered (each one's failure is logged in the
    /// last error of the attempt).
    #[error("no bootstrap address answered ({tried} tried); last error: {last}")]
    BootstrapFailed {
        /// How many resolved addresses were tried.
        tried: usize,
        /// The last failure.
        #[source]
        last: Box<MetaError>,
    },
    /// `refresh()` saw no successful refresh within the refresh timeout.
    #[error(
        "no metadata refresh succeeded within {waited:?}{}; the client keeps retrying in the background",
        last.as_ref().map(|e| format!(" (last failure: {e})")).unwrap_or_default()
    )]
    RefreshTimeout {
        /// How long it waited.
        waited: Duration,
        /// The last failed attempt's error, if an attempt failed.
        #[source]
        last: Option<Arc<MetaError>>,
    },
    /// The client's background task is gone (the runtime is shutting down).
    #[error("the metadata client has stopped")]
    Closed,
    /// `MetadataClient::new` was called outside a tokio runtime.
    #[error("the metadata client needs a tokio runtime: create it from within one")]
    NoRuntime,
}

impl MetaError {
    /// Whether trying again later may succeed: transport errors the
    /// transport marks retriable, resolution and bootstrap failures, and
    /// refresh timeouts. Invalid configuration is not.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Net(e) => e.is_retriable(),
            Self::Resolve { .. } | Self::BootstrapFailed { .. } | Self::RefreshTimeout { .. } => {
                true
            }
            Self::InvalidBootstrap(_) | Self::NoBootstrap | Self::Closed | Self::NoRuntime => false,
        }
    }
}
