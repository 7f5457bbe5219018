//! [`ProduceError`]: why a record was not produced.

use std::sync::Arc;
use std::time::Duration;

use vltava_net::NetError;
use vltava_wire::ErrorCode;

use crate::record::TopicPartition;

/// Why a record (or the producer) failed. Cheap to clone: every record of
/// a failed batch gets a copy.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The producer's settings do not go together, or it cannot start.
    #[error("invalid producer configuration: {0}")]
    InvalidConfig(String),
    /// The record cannot be encoded (e.g. more than i32::MAX bytes).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// The record is larger than the producer's maximum request size.
    #[error("the record takes {size} bytes, more than max_request_size ({max} bytes)")]
    RecordTooLarge {
        /// The record's size in a batch.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Waiting for buffer memory or for the topic's metadata took longer
    /// than `max_block`.
    #[error("waited {waited:?} for {what} (max_block); is the cluster reachable?")]
    Blocked {
        /// What was waited for.
        what: &'static str,
        /// How long.
        waited: Duration,
    },
    /// The record was not acknowledged within the delivery timeout; the
    /// last error met on the way is attached.
    #[error("{tp}: not acknowledged within the delivery timeout of {timeout:?}{}", last.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    DeliveryTimeout {
        /// The partition.
        tp: TopicPartition,
        /// The delivery timeout.
        timeout: Duration,
        /// The last retriable error, if any.
        last: Option<Arc<ProduceError>>,
    },
    /// The broker refused the batch with an error that retrying cannot fix.
    #[error("{tp}: the broker refused the records: {code}{}", message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Broker {
        /// The partition.
        tp: TopicPartition,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// A transport error (kept for the delivery timeout's report, or fatal
    /// ones such as authentication).
    #[error(transparent)]
    Net(Arc<NetError>),
    /// Another producer with the same transactional id took over, or the
    /// producer id was fenced: this producer can no longer send.
    #[error("the producer was fenced: {0}")]
    Fenced(ErrorCode),
    /// The transaction coordinator refused a transactional step.
    #[error("{operation} failed: {code}")]
    Transaction {
        /// The coordinator's error code.
        code: ErrorCode,
        /// The request that failed (`AddPartitionsToTxn`, `EndTxn`, ...).
        operation: &'static str,
    },
    /// A call that does not fit the producer's state (e.g. a transactional
    /// call on a producer without a transactional id, or `send` outside a
    /// transaction).
    #[error("invalid producer state: {0}")]
    InvalidState(&'static str),
    /// The record's transaction was aborted before it was sent.
    #[error("the transaction was aborted before the record was sent")]
    Aborted,
    /// The producer was closed before the record was sent.
    #[error("the producer is closed")]
    Closed,
}

impl ProduceError {
    /// Whether the application may send the record again and expect it to
    /// work: a delivery timeout or a transport error; not an invalid
    /// record, a refusal, a fenced or closed producer.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::DeliveryTimeout { .. } | Self::Blocked { .. } => true,
            Self::Net(error) => error.is_retriable(),
            Self::InvalidRecord(_)
            | Self::InvalidConfig(_)
            | Self::RecordTooLarge { .. }
            | Self::Broker { .. }
            | Self::Fenced(_)
            | Self::Transaction { .. }
            | Self::InvalidState(_)
            | Self::Aborted
            | Self::Closed => false,
        }
    }
}

impl From<NetError> for ProduceError {
    fn from(error: NetError) -> Self {
        Self::Net(Arc::new(error))
    }
}
