//! The testkit's error type.

use std::path::PathBuf;

/// Everything that can go wrong while fetching, starting or driving a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `mvn` could not fetch Kafka's jars.
    #[error(
        "could not fetch Apache Kafka {version} with mvn (is Maven installed and Maven Central reachable?):\n{output}"
    )]
    Fetch {
        /// The Kafka version asked for.
        version: String,
        /// What mvn printed, last lines.
        output: String,
    },
    /// A node did not start, or did not become ready in time.
    #[error("kafka node {node} {what}; last lines of {}:\n{log_tail}", log.display())]
    Node {
        /// The node id.
        node: u32,
        /// What went wrong.
        what: String,
        /// The node's log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },
    /// No cluster was found where one was expected.
    #[error("{0}")]
    NoCluster(String),
    /// A request to a broker failed or was answered with an error.
    #[error("{0}")]
    Broker(String),
    /// Waiting for a condition ran out of time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The caller asked for something that does not exist.
    #[error("{0}")]
    Usage(String),
}

/// The testkit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what(),
            source,
        })
    }
}
