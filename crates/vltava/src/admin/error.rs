//! [`AdminError`]: why an admin call failed.

use std::time::Duration;

use vltava_meta::MetaError;
use vltava_net::{NetError, Recovery};
use vltava_wire::ErrorCode;

/// Why an admin call, or one topic's, partition's or group's part of it,
/// failed.
///
/// [`AdminError::code`] is the Kafka error code when a broker answered
/// with one; [`AdminError::topic`], [`AdminError::partition`] and
/// [`AdminError::group`] say what it concerns. [`AdminError::is_retriable`]
/// says whether the same call may succeed later; the admin client has
/// already retried such errors until its timeout before returning them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// A request failed in the transport (after the client's own retries).
    #[error(transparent)]
    Net(#[from] NetError),
    /// The metadata layer failed (bootstrap, DNS, refresh).
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The broker refused the call for a topic.
    #[error("{op} topic `{topic}` failed: {code}{}{}", detail(message), hint(*code))]
    Topic {
        /// What was being done (`"creating"`, `"deleting"`, ...).
        op: &'static str,
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// The broker refused the call for one partition.
    #[error("{op} `{topic}`-{partition} failed: {code}{}", hint(*code))]
    Partition {
        /// What was being done.
        op: &'static str,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The broker's error code.
        code: ErrorCode,
    },
    /// The broker (or the group's coordinator) refused the call for a group.
    #[error("{op} group `{group}` failed: {code}{}{}", detail(message), hint(*code))]
    Group {
        /// What was being done.
        op: &'static str,
        /// The group.
        group: String,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// A partition's leader could not be reached; the client refreshes
    /// metadata and retries until its timeout.
    #[error(
        "{op} `{topic}`-{partition}: its leader at {broker} could not be reached ({reason}); retrying after a metadata refresh"
    )]
    LeaderUnreachable {
        /// What was being done.
        op: &'static str,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The leader's address.
        broker: String,
        /// The transport's error, as text.
        reason: String,
    },
    /// A broker refused a call that concerns no single topic or group
    /// (listing groups, describing the cluster).
    #[error("{op} failed: {code}{}{}", detail(message), hint(*code))]
    Broker {
        /// What was being done.
        op: &'static str,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// The call did not succeed within the admin client's timeout
    /// (`api_timeout`, Java's `default.api.timeout.ms`); the last error met
    /// while retrying is attached.
    #[error("{op} did not succeed within {timeout:?}{}; check that the cluster is reachable, or raise the admin timeout", last.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    Timeout {
        /// What was being done.
        op: String,
        /// The timeout that ran out.
        timeout: Duration,
        /// The last retriable error, if there was one.
        #[source]
        last: Option<Box<AdminError>>,
    },
    /// The topic was created or deleted, but the brokers' metadata did not
    /// show it within the wait: producing or consuming right away may meet
    /// `UNKNOWN_TOPIC_OR_PARTITION` for a while.
    #[error(
        "{op} topic `{topic}` succeeded, but the brokers' metadata did not show it within {waited:?}; the change may still be propagating"
    )]
    NotPropagated {
        /// `"creating"` or `"deleting"`.
        op: &'static str,
        /// The topic.
        topic: String,
        /// How long it waited.
        waited: Duration,
    },
    /// An answer did not mention something that was asked about.
    #[error("{op}: the broker's answer did not mention {what}; retrying may help")]
    Incomplete {
        /// What was being done.
        op: &'static str,
        /// What was missing.
        what: String,
    },
    /// The brokers do not support what was asked for (e.g. the max-timestamp
    /// offset before ListOffsets v7, or a state filter before ListGroups v4).
    #[error("{0}; the brokers are too old for it")]
    Unsupported(String),
    /// The call's arguments are not valid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn detail(message: &Option<String>) -> String {
    message
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!(" ({m})"))
        .unwrap_or_default()
}

/// What to do about a code, where the code alone does not say it.
fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::TOPIC_ALREADY_EXISTS => "; pick another name, or delete the topic first",
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => "; check the topic's name, or create it first",
        ErrorCode::INVALID_REPLICATION_FACTOR => {
            "; the replication factor cannot exceed the number of brokers"
        }
        ErrorCode::INVALID_PARTITIONS => "; a topic needs at least one partition",
        ErrorCode::INVALID_CONFIG => "; check the topic config's name and value",
        ErrorCode::NON_EMPTY_GROUP => "; stop the group's consumers first",
        ErrorCode::GROUP_ID_NOT_FOUND => "; check the group's name",
        ErrorCode::TOPIC_AUTHORIZATION_FAILED
        | ErrorCode::GROUP_AUTHORIZATION_FAILED
        | ErrorCode::CLUSTER_AUTHORIZATION_FAILED => "; the client's principal lacks an ACL for it",
        _ => "",
    }
}

impl AdminError {
    /// Whether the same call may succeed if made again later: transport
    /// and metadata errors their layers mark retriable, Kafka codes that
    /// [`Recovery`] does not call fatal, timeouts and incomplete answers.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Net(e) => e.is_retriable(),
            Self::Meta(e) => e.is_retriable(),
            Self::Topic { code, .. }
            | Self::Partition { code, .. }
            | Self::Group { code, .. }
            | Self::Broker { code, .. } => {
                Recovery::of_code(*code).is_some_and(Recovery::is_retriable)
            }
            Self::Timeout { .. } | Self::Incomplete { .. } | Self::LeaderUnreachable { .. } => true,
            Self::NotPropagated { .. } | Self::Unsupported(_) | Self::InvalidArgument(_) => false,
        }
    }

    /// What a client does about this error (see [`Recovery`]); `None` for
    /// errors that are not about the cluster (invalid arguments).
    pub fn recovery(&self) -> Option<Recovery> {
        match self {
            Self::Net(e) => Some(e.recovery()),
            Self::Meta(MetaError::Net(e)) => Some(e.recovery()),
            Self::Meta(e) => Some(if e.is_retriable() {
                Recovery::Unreachable
            } else {
                Recovery::Fatal
            }),
            Self::Topic { code, .. }
            | Self::Partition { code, .. }
            | Self::Group { code, .. }
            | Self::Broker { code, .. } => Recovery::of_code(*code),
            Self::Timeout { .. } | Self::Incomplete { .. } => Some(Recovery::Retry),
            Self::LeaderUnreachable { .. } => Some(Recovery::Unreachable),
            Self::NotPropagated { .. } | Self::Unsupported(_) => Some(Recovery::Fatal),
            Self::InvalidArgument(_) => None,
        }
    }

    /// The Kafka error code a broker answered with, if this error is one
    /// (for a timeout: the last error's code).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Topic { code, .. }
            | Self::Partition { code, .. }
            | Self::Group { code, .. }
            | Self::Broker { code, .. } => Some(*code),
            Self::Net(NetError::Handshake { code, .. }) => Some(*code),
            Self::Timeout { last, .. } => last.as_ref().and_then(|e| e.code()),
            _ => None,
        }
    }

    /// The topic the error concerns, if any.
    pub fn topic(&self) -> Option<&str> {
        match self {
            Self::Topic { topic, .. }
            | Self::Partition { topic, .. }
            | Self::LeaderUnreachable { topic, .. }
            | Self::NotPropagated { topic, .. } => Some(topic),
            Self::Timeout { last, .. } => last.as_ref().and_then(|e| e.topic()),
            _ => None,
        }
    }

    /// The partition the error concerns, if it concerns one.
    pub fn partition(&self) -> Option<i32> {
        match self {
            Self::Partition { partition, .. } | Self::LeaderUnreachable { partition, .. } => {
                Some(*partition)
            }
            Self::Timeout { last, .. } => last.as_ref().and_then(|e| e.partition()),
            _ => None,
        }
    }

    /// The group the error concerns, if any.
    pub fn group(&self) -> Option<&str> {
        match self {
            Self::Group { group, .. } => Some(group),
            Self::Timeout { last, .. } => last.as_ref().and_then(|e| e.group()),
            _ => None,
        }
    }

    /// The broker (`host:port`) the error concerns, if a transport error names one.
    pub fn broker(&self) -> Option<&str> {
        match self {
            Self::Net(e) | Self::Meta(MetaError::Net(e)) => e.broker(),
            Self::LeaderUnreachable { broker, .. } => Some(broker),
            Self::Timeout { last, .. } => last.as_ref().and_then(|e| e.broker()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_errors_name_the_topic_the_code_and_what_to_do() {
        let error = AdminError::Topic {
            op: "creating",
            topic: "orders".into(),
            code: ErrorCode::TOPIC_ALREADY_EXISTS,
            message: Some("Topic 'orders' already exists.".into()),
        };
        let text = error.to_string();
        assert!(
            text.starts_with("creating topic `orders` failed: TOPIC_ALREADY_EXISTS (36)"),
            "{text}"
        );
        assert!(text.contains("delete the topic first"), "{text}");
        assert_eq!(error.code(), Some(ErrorCode::TOPIC_ALREADY_EXISTS));
        assert_eq!(error.topic(), Some("orders"));
        assert!(!error.is_retriable());
    }

    #[test]
    fn coordinator_errors_are_retriable_and_timeouts_carry_the_last_one() {
        let error = AdminError::Group {
            op: "describing",
            group: "g".into(),
            code: ErrorCode::NOT_COORDINATOR,
            message: None,
        };
        assert!(error.is_retriable());
        assert_eq!(error.recovery(), Some(Recovery::FindCoordinator));
        let timeout = AdminError::Timeout {
            op: "describing group `g`".into(),
            timeout: Duration::from_secs(60),
            last: Some(Box::new(error)),
        };
        assert_eq!(timeout.code(), Some(ErrorCode::NOT_COORDINATOR));
        assert_eq!(timeout.group(), Some("g"));
        assert!(
            timeout
                .to_string()
                .contains("last error: describing group `g` failed: NOT_COORDINATOR")
        );
    }

    #[test]
    fn invalid_arguments_are_not_retriable() {
        let error = AdminError::InvalidArgument("no topics".into());
        assert!(!error.is_retriable());
        assert_eq!(error.recovery(), None);
        assert_eq!(error.code(), None);
    }
}
