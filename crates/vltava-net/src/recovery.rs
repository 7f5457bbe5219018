//! [`Recovery`]: the one place that decides what a failure means, for
//! transport errors ([`NetError`]) and Kafka error codes ([`ErrorCode`]) alike.
//!
//! Every layer above asks this module instead of matching codes itself, so
//! that "is this retriable?" has one answer in the whole client. Kafka
//! codes start from the retriable flags of `vltava-wire`'s table (Java's
//! `RetriableException` and `InvalidMetadataException`); the coordinator and
//! group-membership codes, which Java handles case by case in its consumer
//! coordinator, get classes of their own here.

use std::io;

use vltava_wire::ErrorCode;

use crate::error::NetError;

/// What the client does about a failure. Every class but [`Recovery::Fatal`]
/// is one the client recovers from by itself: the application hears of it
/// as information, never as the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Recovery {
    /// Send the same request again after a backoff, to the same broker
    /// (`REQUEST_TIMED_OUT`, `COORDINATOR_LOAD_IN_PROGRESS`, throttling...).
    Retry,
    /// The broker could not be reached or stopped answering (refused dial,
    /// dial or request timeout, connection lost): back off, refresh
    /// metadata (it may have gone or moved), then retry; the pool redials.
    Unreachable,
    /// The cluster moved under the request (`NOT_LEADER_OR_FOLLOWER`,
    /// `UNKNOWN_TOPIC_OR_PARTITION`, `LEADER_NOT_AVAILABLE`,
    /// `FENCED_LEADER_EPOCH`...): refresh metadata, then retry at the leader
    /// it names.
    RefreshMetadata,
    /// The group coordinator moved or is gone (`NOT_COORDINATOR`,
    /// `COORDINATOR_NOT_AVAILABLE`): find it again, then retry.
    FindCoordinator,
    /// The group no longer knows this member as it was
    /// (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`, `FENCED_MEMBER_EPOCH`,
    /// `REBALANCE_IN_PROGRESS`...): rejoin the group.
    Rejoin,
    /// Retrying cannot help: bad credentials, an unsupported version, a
    /// request the broker refuses. Reported to the application.
    Fatal,
}

impl Recovery {
    /// What a Kafka error code in a response means; `None` for
    /// [`ErrorCode::NONE`]. Codes this client does not know are fatal, as
    /// in the Java client (`UnknownServerException`).
    pub fn of_code(code: ErrorCode) -> Option<Self> {
        if code.is_ok() {
            return None;
        }
        Some(match code {
            ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => {
                Self::FindCoordinator
            }
            ErrorCode::UNKNOWN_MEMBER_ID
            | ErrorCode::ILLEGAL_GENERATION
            | ErrorCode::FENCED_MEMBER_EPOCH
            | ErrorCode::REBALANCE_IN_PROGRESS
            | ErrorCode::MEMBER_ID_REQUIRED
            | ErrorCode::UNKNOWN_SUBSCRIPTION_ID => Self::Rejoin,
            // KIP-848: the heartbeat carries a newer epoch back; resend.
            ErrorCode::STALE_MEMBER_EPOCH => Self::Retry,
            // The broker lost the connection to another node on our behalf.
            ErrorCode::NETWORK_EXCEPTION => Self::Unreachable,
            code if code.needs_metadata_refresh() => Self::RefreshMetadata,
            code if code.is_retriable() => Self::Retry,
            _ => Self::Fatal,
        })
    }

    /// What a transport error means.
    pub fn of_net(error: &NetError) -> Self {
        match error {
            NetError::Dial { .. }
            | NetError::DialTimeout { .. }
            | NetError::Disconnected { .. }
            | NetError::Timeout { .. } => Self::Unreachable,
            // The handshake is answered by the broker itself; its code says
            // the rest (e.g. a retriable one while it starts up).
            NetError::Handshake { code, .. } => Self::of_code(*code).unwrap_or(Self::Fatal),
            // rustls's refusals (certificates, names, protocol) reach us as
            // `InvalidData`, a bad server name as `InvalidInput`; anything
            // else is the socket failing mid-handshake.
            NetError::Tls { source, .. } => match source.kind() {
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => Self::Fatal,
                _ => Self::Unreachable,
            },
            // The same credentials fail the same way; retrying could lock
            // the account.
            NetError::Authentication { .. } | NetError::SaslMechanismNotEnabled { .. } => {
                Self::Fatal
            }
            NetError::FrameTooLarge { .. }
            | NetError::UnsupportedApi { .. }
            | NetError::UnsupportedVersion { .. }
            | NetError::RequestTooLarge { .. }
            | NetError::InvalidRequest { .. }
            | NetError::Encode(_)
            | NetError::Decode(_) => Self::Fatal,
        }
    }

    /// Whether the client recovers by itself: every class but [`Recovery::Fatal`].
    pub fn is_retriable(self) -> bool {
        !matches!(self, Self::Fatal)
    }

    /// Whether the failure calls for fresh metadata before the next try.
    pub fn refreshes_metadata(self) -> bool {
        matches!(self, Self::RefreshMetadata | Self::Unreachable)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vltava_wire::ApiKey;

    use super::*;
    use crate::error::DisconnectReason;

    const BROKER: &str = "127.0.0.1:9092";

    #[test]
    fn no_error_needs_no_recovery() {
        assert_eq!(Recovery::of_code(ErrorCode::NONE), None);
    }

    #[test]
    fn the_issues_refresh_triggers_refresh_metadata() {
        for code in [
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::LEADER_NOT_AVAILABLE,
            ErrorCode::FENCED_LEADER_EPOCH,
            ErrorCode::UNKNOWN_TOPIC_ID,
        ] {
            let class = Recovery::of_code(code).unwrap();
            assert_eq!(class, Recovery::RefreshMetadata, "{code}");
            assert!(class.is_retriable() && class.refreshes_metadata());
        }
    }

    #[test]
    fn retriable_codes_retry_as_they_are() {
        for code in [
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::NOT_ENOUGH_REPLICAS,
            ErrorCode::UNKNOWN_LEADER_EPOCH,
            ErrorCode::STALE_MEMBER_EPOCH,
        ] {
            let class = Recovery::of_code(code).unwrap();
            assert_eq!(class, Recovery::Retry, "{code}");
            assert!(class.is_retriable() && !class.refreshes_metadata());
        }
    }

    #[test]
    fn coordinator_codes_find_the_coordinator_again() {
        for code in [
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ] {
            assert_eq!(
                Recovery::of_code(code),
                Some(Recovery::FindCoordinator),
                "{code}"
            );
        }
    }

    #[test]
    fn membership_codes_rejoin() {
        for code in [
            ErrorCode::UNKNOWN_MEMBER_ID,
            ErrorCode::ILLEGAL_GENERATION,
            ErrorCode::FENCED_MEMBER_EPOCH,
            ErrorCode::REBALANCE_IN_PROGRESS,
            ErrorCode::MEMBER_ID_REQUIRED,
        ] {
            let class = Recovery::of_code(code).unwrap();
            assert_eq!(class, Recovery::Rejoin, "{code}");
            assert!(class.is_retriable());
        }
    }

    #[test]
    fn fatal_codes_and_unknown_codes_are_fatal() {
        for code in [
            ErrorCode::SASL_AUTHENTICATION_FAILED,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            ErrorCode::UNSUPPORTED_VERSION,
            ErrorCode::INVALID_REQUEST,
            ErrorCode::UNRELEASED_INSTANCE_ID,
            ErrorCode::from_code(9999),
        ] {
            let class = Recovery::of_code(code).unwrap();
            assert_eq!(class, Recovery::Fatal, "{code}");
            assert!(!class.is_retriable());
        }
    }

    #[test]
    fn every_known_code_has_one_class_agreeing_with_the_table() {
        for raw in -1..=200 {
            let code = ErrorCode::from_code(raw);
            let Some(class) = Recovery::of_code(code) else {
                assert!(code.is_ok());
                continue;
            };
            // The table's retriable codes are never fatal here.
            if code.is_retriable() {
                assert!(class.is_retriable(), "{code} is retriable in the table");
            }
            if code.needs_metadata_refresh() {
                assert!(class.refreshes_metadata(), "{code} needs a refresh");
            }
        }
    }

    #[test]
    fn transport_failures_are_unreachable_and_refresh_metadata() {
        let errors = [
            NetError::Dial {
                broker: BROKER.into(),
                source: io::Error::from(io::ErrorKind::ConnectionRefused),
            },
            NetError::DialTimeout {
                broker: BROKER.into(),
                timeout: Duration::from_secs(1),
            },
            NetError::Disconnected {
                broker: BROKER.into(),
                in_flight: 3,
                reason: DisconnectReason::PeerClosed,
            },
            NetError::Timeout {
                broker: BROKER.into(),
                api_key: ApiKey::Fetch,
                timeout: Duration::from_secs(30),
            },
        ];
        for error in errors {
            assert_eq!(Recovery::of_net(&error), Recovery::Unreachable, "{error}");
            assert!(error.is_retriable(), "{error}");
            assert!(Recovery::of_net(&error).refreshes_metadata());
        }
    }

    #[test]
    fn handshake_errors_follow_their_code() {
        let retriable = NetError::Handshake {
            broker: BROKER.into(),
            code: ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        };
        assert_eq!(Recovery::of_net(&retriable), Recovery::Retry);
        let fatal = NetError::Handshake {
            broker: BROKER.into(),
            code: ErrorCode::INVALID_REQUEST,
        };
        assert_eq!(Recovery::of_net(&fatal), Recovery::Fatal);
        assert!(!fatal.is_retriable());
    }

    #[test]
    fn security_failures_are_fatal_but_a_broken_tls_socket_is_not() {
        let refused = NetError::Authentication {
            broker: BROKER.into(),
            mechanism: "SCRAM-SHA-512".into(),
            message: "Authentication failed".into(),
        };
        assert_eq!(Recovery::of_net(&refused), Recovery::Fatal);
        let certificate = NetError::Tls {
            broker: BROKER.into(),
            source: io::Error::new(io::ErrorKind::InvalidData, "unknown issuer"),
        };
        assert_eq!(Recovery::of_net(&certificate), Recovery::Fatal);
        let reset = NetError::Tls {
            broker: BROKER.into(),
            source: io::Error::from(io::ErrorKind::ConnectionReset),
        };
        assert_eq!(Recovery::of_net(&reset), Recovery::Unreachable);
        assert!(reset.is_retriable() && !certificate.is_retriable() && !refused.is_retriable());
    }

    #[test]
    fn request_shape_errors_are_fatal() {
        let errors = [
            NetError::FrameTooLarge {
                broker: BROKER.into(),
                api_key: ApiKey::Fetch,
                size: 1 << 31,
                max: 1 << 20,
            },
            NetError::UnsupportedVersion {
                broker: BROKER.into(),
                api_key: ApiKey::Fetch,
                version: 99,
                theirs: vltava_wire::VersionRange::new(0, 17),
            },
            NetError::InvalidRequest {
                api_key: ApiKey::Produce,
                reason: "test",
            },
        ];
        for error in errors {
            assert_eq!(Recovery::of_net(&error), Recovery::Fatal, "{error}");
            assert!(!error.is_retriable(), "{error}");
        }
    }
}
