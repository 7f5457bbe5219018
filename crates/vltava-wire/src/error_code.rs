//! Kafka error codes: every code the protocol defines, in one table, as an open type.
//!
//! A broker answers with an `int16` error code in almost every response. The
//! meaning of each code, its name and whether a client may retry it come from
//! Apache Kafka's `org.apache.kafka.common.protocol.Errors` enum (the trunk
//! table, codes -1 through 136): a code is *retriable* when the Java exception
//! it maps to extends `RetriableException`, and it asks for a *metadata
//! refresh* when that exception extends `InvalidMetadataException` (itself a
//! `RetriableException`).
//!
//! [`ErrorCode`] is a newtype over the wire value, not a closed enum: a code
//! that this build has never heard of (a newer broker) is kept as it is,
//! reported as [`ErrorCode::is_known`] `false`, and treated as not retriable,
//! which is also what the Java client does (it maps an unknown code to
//! `UNKNOWN_SERVER_ERROR`). The known codes are associated constants, so they
//! can be used in `match` patterns:
//!
//! ```
//! use vltava_wire::ErrorCode;
//!
//! let code = ErrorCode::from(16);
//! match code {
//!     ErrorCode::NONE => {}
//!     ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => {
//!         assert!(code.is_retriable());
//!     }
//!     other => panic!("unexpected {other}"),
//! }
//! ```

use std::fmt;

/// How a client should treat one error code (one column of the table).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `NONE`: no error.
    Ok,
    /// Not retriable: sending the same request again gives the same answer.
    Fatal,
    /// Retriable (`RetriableException`).
    Retry,
    /// Retriable after a metadata refresh (`InvalidMetadataException`).
    Meta,
}

/// Defines [`ErrorCode`]'s constants and its lookups from one table.
///
/// Each row is `CONST = code, Class, "description";`. The name the
/// protocol uses is the constant's own name, so it cannot drift from it.
macro_rules! kafka_error_codes {
    ($( $name:ident = $code:literal, $class:ident, $description:literal; )+) => {
        impl ErrorCode {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($code), "). ", $description)]
                pub const $name: ErrorCode = ErrorCode($code);
            )+

            /// Every code Kafka defines, in the order of its `Errors` table
            /// (ascending code).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),+];

            /// One table row: name, class, description, or `None` for an
            /// unknown code.
            const fn row(self) -> Option<(&'static str, Class, &'static str)> {
                match self.0 {
                    $( $code => Some((stringify!($name), Class::$class, $description)), )+
                    _ => None,
                }
            }
        }
    };
}

/// A Kafka protocol error code, known or not.
///
/// Converting from and to `i16` is lossless for every value, so a code read
/// from the wire can always be written back unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(i16);

impl ErrorCode {
    /// The error code for a wire value (any value; unknown ones are kept).
    pub const fn from_code(code: i16) -> ErrorCode {
        ErrorCode(code)
    }

    /// The wire value.
    pub const fn code(self) -> i16 {
        self.0
    }

    /// Whether Kafka defines this code (as of the table this build carries).
    pub const fn is_known(self) -> bool {
        self.row().is_some()
    }

    /// Kafka's name for the code, such as `"NOT_COORDINATOR"`, or
    /// `"UNKNOWN_ERROR_CODE"` for a code this build does not know.
    pub const fn name(self) -> &'static str {
        match self.row() {
            Some((name, _, _)) => name,
            None => "UNKNOWN_ERROR_CODE",
        }
    }

    /// Kafka's description of the code (empty for [`ErrorCode::NONE`]), or a
    /// generic text for an unknown code.
    pub const fn description(self) -> &'static str {
        match self.row() {
            Some((_, _, description)) => description,
            None => "An error code that this client version does not know.",
        }
    }

    /// Whether sending the request again may succeed: the Java exception for
    /// this code extends `RetriableException`. `false` for `NONE` and for
    /// unknown codes.
    pub const fn is_retriable(self) -> bool {
        matches!(self.row(), Some((_, Class::Retry | Class::Meta, _)))
    }

    /// Whether the client should refresh its metadata before retrying: the
    /// Java exception for this code extends `InvalidMetadataException`
    /// (leader moved, unknown topic, ...). Every such code is also
    /// [retriable](Self::is_retriable).
    pub const fn needs_metadata_refresh(self) -> bool {
        matches!(self.row(), Some((_, Class::Meta, _)))
    }

    /// Whether this is [`ErrorCode::NONE`], the code for success.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Whether this is any code but [`ErrorCode::NONE`].
    pub const fn is_err(self) -> bool {
        self.0 != 0
    }

    /// `Ok(())` for [`ErrorCode::NONE`], `Err(self)` for every other code,
    /// so that a response's error code can be used with `?`.
    pub const fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }
}

impl Default for ErrorCode {
    /// [`ErrorCode::NONE`].
    fn default() -> Self {
        ErrorCode::NONE
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return f.write_str("NONE (0): no error");
        }
        match self.row() {
            Some((name, _, description)) => write!(f, "{name} ({}): {description}", self.0),
            None => write!(
                f,
                "unknown Kafka error code {} (newer than this client; not retried)",
                self.0
            ),
        }
    }
}

impl std::error::Error for ErrorCode {}

// The table: org.apache.kafka.common.protocol.Errors (Apache Kafka trunk).
// Class: Meta = the exception extends InvalidMetadataException, Retry = it
// extends RetriableException, Fatal = neither.
kafka_error_codes! {
    UNKNOWN_SERVER_ERROR = -1, Fatal, "The server experienced an unexpected error when processing the request.";
    NONE = 0, Ok, "";
    OFFSET_OUT_OF_RANGE = 1, Fatal, "The requested offset is not within the range of offsets maintained by the server.";
    CORRUPT_MESSAGE = 2, Retry, "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.";
    UNKNOWN_TOPIC_OR_PARTITION = 3, Meta, "This server does not host this topic-partition.";
    INVALID_FETCH_SIZE = 4, Fatal, "The requested fetch size is invalid.";
    LEADER_NOT_AVAILABLE = 5, Meta, "There is no leader for this topic-partition as we are in the middle of a leadership election.";
    NOT_LEADER_OR_FOLLOWER = 6, Meta, "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.";
    REQUEST_TIMED_OUT = 7, Retry, "The request timed out.";
    BROKER_NOT_AVAILABLE = 8, Fatal, "The broker is not available.";
    REPLICA_NOT_AVAILABLE = 9, Meta, "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition.";
    MESSAGE_TOO_LARGE = 10, Fatal, "The request included a message larger than the max message size the server will accept.";
    STALE_CONTROLLER_EPOCH = 11, Fatal, "The controller moved to another broker.";
    OFFSET_METADATA_TOO_LARGE = 12, Fatal, "The metadata field of the offset request was too large.";
    NETWORK_EXCEPTION = 13, Meta, "The server disconnected before a response was received.";
    COORDINATOR_LOAD_IN_PROGRESS = 14, Retry, "The coordinator is loading and hence can't process requests.";
    COORDINATOR_NOT_AVAILABLE = 15, Retry, "The coordinator is not available.";
    NOT_COORDINATOR = 16, Retry, "This is not the correct coordinator.";
    INVALID_TOPIC_EXCEPTION = 17, Fatal, "The request attempted to perform an operation on an invalid topic.";
    RECORD_LIST_TOO_LARGE = 18, Fatal, "The request included message batch larger than the configured segment size on the server.";
    NOT_ENOUGH_REPLICAS = 19, Retry, "Messages are rejected since there are fewer in-sync replicas than required.";
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20, Retry, "Messages are written to the log, but to fewer in-sync replicas than required.";
    INVALID_REQUIRED_ACKS = 21, Fatal, "Produce request specified an invalid value for required acks.";
    ILLEGAL_GENERATION = 22, Fatal, "Specified group generation id is not valid.";
    INCONSISTENT_GROUP_PROTOCOL = 23, Fatal, "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.";
    INVALID_GROUP_ID = 24, Fatal, "The group id is invalid.";
    UNKNOWN_MEMBER_ID = 25, Fatal, "The coordinator is not aware of this member.";
    INVALID_SESSION_TIMEOUT = 26, Fatal, "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).";
    REBALANCE_IN_PROGRESS = 27, Fatal, "The group is rebalancing, so a rejoin is needed.";
    INVALID_COMMIT_OFFSET_SIZE = 28, Fatal, "The committing offset data size is not valid.";
    TOPIC_AUTHORIZATION_FAILED = 29, Fatal, "Topic authorization failed.";
    GROUP_AUTHORIZATION_FAILED = 30, Fatal, "Group authorization failed.";
    CLUSTER_AUTHORIZATION_FAILED = 31, Fatal, "Cluster authorization failed.";
    INVALID_TIMESTAMP = 32, Fatal, "The timestamp of the message is out of acceptable range.";
    UNSUPPORTED_SASL_MECHANISM = 33, Fatal, "The broker does not support the requested SASL mechanism.";
    ILLEGAL_SASL_STATE = 34, Fatal, "Request is not valid given the current SASL state.";
    UNSUPPORTED_VERSION = 35, Fatal, "The version of API is not supported.";
    TOPIC_ALREADY_EXISTS = 36, Fatal, "Topic with this name already exists.";
    INVALID_PARTITIONS = 37, Fatal, "Number of partitions is below 1.";
    INVALID_REPLICATION_FACTOR = 38, Fatal, "Replication factor is below 1 or larger than the number of available brokers.";
    INVALID_REPLICA_ASSIGNMENT = 39, Fatal, "Replica assignment is invalid.";
    INVALID_CONFIG = 40, Fatal, "Configuration is invalid.";
    NOT_CONTROLLER = 41, Retry, "This is not the correct controller for this cluster.";
    INVALID_REQUEST = 42, Fatal, "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.";
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43, Fatal, "The message format version on the broker does not support the request.";
    POLICY_VIOLATION = 44, Fatal, "Request parameters do not satisfy the configured policy.";
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45, Fatal, "The broker received an out of order sequence number.";
    DUPLICATE_SEQUENCE_NUMBER = 46, Fatal, "The broker received a duplicate sequence number.";
    INVALID_PRODUCER_EPOCH = 47, Fatal, "Producer attempted to produce with an old epoch.";
    INVALID_TXN_STATE = 48, Fatal, "The producer attempted a transactional operation in an invalid state.";
    INVALID_PRODUCER_ID_MAPPING = 49, Fatal, "The producer attempted to use a producer id which is not currently assigned to its transactional id.";
    INVALID_TRANSACTION_TIMEOUT = 50, Fatal, "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms).";
    CONCURRENT_TRANSACTIONS = 51, Retry, "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.";
    TRANSACTION_COORDINATOR_FENCED = 52, Fatal, "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.";
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53, Fatal, "Transactional Id authorization failed.";
    SECURITY_DISABLED = 54, Fatal, "Security features are disabled.";
    OPERATION_NOT_ATTEMPTED = 55, Fatal, "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest.";
    KAFKA_STORAGE_ERROR = 56, Meta, "Disk error when trying to access log file on the disk.";
    LOG_DIR_NOT_FOUND = 57, Fatal, "The user-specified log directory is not found in the broker config.";
    SASL_AUTHENTICATION_FAILED = 58, Fatal, "SASL Authentication failed.";
    UNKNOWN_PRODUCER_ID = 59, Fatal, "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception.";
    REASSIGNMENT_IN_PROGRESS = 60, Fatal, "A partition reassignment is in progress.";
    DELEGATION_TOKEN_AUTH_DISABLED = 61, Fatal, "Delegation Token feature is not enabled.";
    DELEGATION_TOKEN_NOT_FOUND = 62, Fatal, "Delegation Token is not found on server.";
    DELEGATION_TOKEN_OWNER_MISMATCH = 63, Fatal, "Specified Principal is not valid Owner/Renewer.";
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64, Fatal, "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.";
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65, Fatal, "Delegation Token authorization failed.";
    DELEGATION_TOKEN_EXPIRED = 66, Fatal, "Delegation Token is expired.";
    INVALID_PRINCIPAL_TYPE = 67, Fatal, "Supplied principalType is not supported.";
    NON_EMPTY_GROUP = 68, Fatal, "The group is not empty.";
    GROUP_ID_NOT_FOUND = 69, Fatal, "The group id does not exist.";
    FETCH_SESSION_ID_NOT_FOUND = 70, Retry, "The fetch session ID was not found.";
    INVALID_FETCH_SESSION_EPOCH = 71, Retry, "The fetch session epoch is invalid.";
    LISTENER_NOT_FOUND = 72, Meta, "There is no listener on the leader broker that matches the listener on which metadata request was processed.";
    TOPIC_DELETION_DISABLED = 73, Fatal, "Topic deletion is disabled.";
    FENCED_LEADER_EPOCH = 74, Meta, "The leader epoch in the request is older than the epoch on the broker.";
    UNKNOWN_LEADER_EPOCH = 75, Retry, "The leader epoch in the request is newer than the epoch on the broker.";
    UNSUPPORTED_COMPRESSION_TYPE = 76, Fatal, "The requesting client does not support the compression type of given partition.";
    STALE_BROKER_EPOCH = 77, Fatal, "Broker epoch has changed.";
    OFFSET_NOT_AVAILABLE = 78, Retry, "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.";
    MEMBER_ID_REQUIRED = 79, Fatal, "The group member needs to have a valid member id before actually entering a consumer group.";
    PREFERRED_LEADER_NOT_AVAILABLE = 80, Meta, "The preferred leader was not available.";
    GROUP_MAX_SIZE_REACHED = 81, Fatal, "The group has reached its maximum size.";
    FENCED_INSTANCE_ID = 82, Fatal, "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.";
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83, Meta, "Eligible topic partition leaders are not available.";
    ELECTION_NOT_NEEDED = 84, Meta, "Leader election not needed for topic partition.";
    NO_REASSIGNMENT_IN_PROGRESS = 85, Fatal, "No partition reassignment is in progress.";
    GROUP_SUBSCRIBED_TO_TOPIC = 86, Fatal, "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.";
    INVALID_RECORD = 87, Fatal, "This record has failed the validation on broker and hence will be rejected.";
    UNSTABLE_OFFSET_COMMIT = 88, Retry, "There are unstable offsets that need to be cleared.";
    THROTTLING_QUOTA_EXCEEDED = 89, Retry, "The throttling quota has been exceeded.";
    PRODUCER_FENCED = 90, Fatal, "There is a newer producer with the same transactionalId which fences the current one.";
    RESOURCE_NOT_FOUND = 91, Fatal, "A request illegally referred to a resource that does not exist.";
    DUPLICATE_RESOURCE = 92, Fatal, "A request illegally referred to the same resource twice.";
    UNACCEPTABLE_CREDENTIAL = 93, Fatal, "Requested credential would not meet criteria for acceptability.";
    INCONSISTENT_VOTER_SET = 94, Fatal, "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters.";
    INVALID_UPDATE_VERSION = 95, Fatal, "The given update version was invalid.";
    FEATURE_UPDATE_FAILED = 96, Fatal, "Unable to update finalized features due to an unexpected server error.";
    PRINCIPAL_DESERIALIZATION_FAILURE = 97, Fatal, "Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup.";
    SNAPSHOT_NOT_FOUND = 98, Fatal, "Requested snapshot was not found.";
    POSITION_OUT_OF_RANGE = 99, Fatal, "Requested position is not greater than or equal to zero, and less than the size of the snapshot.";
    UNKNOWN_TOPIC_ID = 100, Meta, "This server does not host this topic ID.";
    DUPLICATE_BROKER_REGISTRATION = 101, Fatal, "This broker ID is already in use.";
    BROKER_ID_NOT_REGISTERED = 102, Fatal, "The given broker ID was not registered.";
    INCONSISTENT_TOPIC_ID = 103, Meta, "The log's topic ID did not match the topic ID in the request.";
    INCONSISTENT_CLUSTER_ID = 104, Fatal, "The clusterId in the request does not match that found on the server.";
    TRANSACTIONAL_ID_NOT_FOUND = 105, Fatal, "The transactionalId could not be found.";
    FETCH_SESSION_TOPIC_ID_ERROR = 106, Retry, "The fetch session encountered inconsistent topic ID usage.";
    INELIGIBLE_REPLICA = 107, Fatal, "The new ISR contains at least one ineligible replica.";
    NEW_LEADER_ELECTED = 108, Fatal, "The AlterPartition request successfully updated the partition state but the leader has changed.";
    OFFSET_MOVED_TO_TIERED_STORAGE = 109, Fatal, "The requested offset is moved to tiered storage.";
    FENCED_MEMBER_EPOCH = 110, Fatal, "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.";
    UNRELEASED_INSTANCE_ID = 111, Fatal, "The instance ID is still used by another member in the consumer group. That member must leave first.";
    UNSUPPORTED_ASSIGNOR = 112, Fatal, "The assignor or its version range is not supported by the consumer group.";
    STALE_MEMBER_EPOCH = 113, Fatal, "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.";
    MISMATCHED_ENDPOINT_TYPE = 114, Fatal, "The request was sent to an endpoint of the wrong type.";
    UNSUPPORTED_ENDPOINT_TYPE = 115, Fatal, "This endpoint type is not supported yet.";
    UNKNOWN_CONTROLLER_ID = 116, Fatal, "This controller ID is not known.";
    UNKNOWN_SUBSCRIPTION_ID = 117, Fatal, "Client sent a push telemetry request with an invalid or outdated subscription ID.";
    TELEMETRY_TOO_LARGE = 118, Fatal, "Client sent a push telemetry request larger than the maximum size the broker will accept.";
    INVALID_REGISTRATION = 119, Fatal, "The controller has considered the broker registration to be invalid.";
    TRANSACTION_ABORTABLE = 120, Fatal, "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.";
    INVALID_RECORD_STATE = 121, Fatal, "The record state is invalid. The acknowledgement of delivery could not be completed.";
    SHARE_SESSION_NOT_FOUND = 122, Retry, "The share session was not found.";
    INVALID_SHARE_SESSION_EPOCH = 123, Retry, "The share session epoch is invalid.";
    FENCED_STATE_EPOCH = 124, Fatal, "The share coordinator rejected the request because the share-group state epoch did not match.";
    INVALID_VOTER_KEY = 125, Fatal, "The voter key doesn't match the receiving replica's key.";
    DUPLICATE_VOTER = 126, Fatal, "The voter is already part of the set of voters.";
    VOTER_NOT_FOUND = 127, Fatal, "The voter is not part of the set of voters.";
    INVALID_REGULAR_EXPRESSION = 128, Fatal, "The regular expression is not valid.";
    REBOOTSTRAP_REQUIRED = 129, Fatal, "Client metadata is stale. The client should rebootstrap to obtain new metadata.";
    STREAMS_INVALID_TOPOLOGY = 130, Fatal, "The supplied topology is invalid.";
    STREAMS_INVALID_TOPOLOGY_EPOCH = 131, Fatal, "The supplied topology epoch is invalid.";
    STREAMS_TOPOLOGY_FENCED = 132, Fatal, "The supplied topology epoch is outdated.";
    SHARE_SESSION_LIMIT_REACHED = 133, Retry, "The limit of share sessions has been reached.";
    GROUP_DELETION_FAILED = 134, Fatal, "DeleteGroups could not complete; see the error message on the per-group result for details.";
    STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED = 135, Fatal, "The broker could not process the topology description update; see the error message for details.";
    CONTROLLER_ID_NOT_REGISTERED = 136, Fatal, "The given controller ID was not registered.";
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_from_minus_one_to_the_newest_is_in_the_table_once() {
        let codes: Vec<i16> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let expected: Vec<i16> = (-1..=136).collect();
        assert_eq!(codes, expected);
    }

    #[test]
    fn from_and_into_round_trip_for_every_code_and_every_i16() {
        for &code in ErrorCode::ALL {
            let raw: i16 = code.into();
            assert_eq!(ErrorCode::from(raw), code);
            assert_eq!(ErrorCode::from_code(raw).code(), raw);
            assert!(code.is_known());
            assert_ne!(code.name(), "UNKNOWN_ERROR_CODE");
        }
        for raw in i16::MIN..=i16::MAX {
            assert_eq!(i16::from(ErrorCode::from(raw)), raw);
        }
    }

    #[test]
    fn names_are_unique_and_upper_snake_case() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert!(names.iter().all(|n| {
            n.bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        }));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn known_codes_match_kafka() {
        let cases = [
            (
                ErrorCode::UNKNOWN_SERVER_ERROR,
                -1,
                "UNKNOWN_SERVER_ERROR",
                false,
            ),
            (ErrorCode::NONE, 0, "NONE", false),
            (
                ErrorCode::OFFSET_OUT_OF_RANGE,
                1,
                "OFFSET_OUT_OF_RANGE",
                false,
            ),
            (ErrorCode::CORRUPT_MESSAGE, 2, "CORRUPT_MESSAGE", true),
            (
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
                6,
                "NOT_LEADER_OR_FOLLOWER",
                true,
            ),
            (ErrorCode::REQUEST_TIMED_OUT, 7, "REQUEST_TIMED_OUT", true),
            (
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                14,
                "COORDINATOR_LOAD_IN_PROGRESS",
                true,
            ),
            (
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                15,
                "COORDINATOR_NOT_AVAILABLE",
                true,
            ),
            (ErrorCode::NOT_COORDINATOR, 16, "NOT_COORDINATOR", true),
            (
                ErrorCode::ILLEGAL_GENERATION,
                22,
                "ILLEGAL_GENERATION",
                false,
            ),
            (ErrorCode::UNKNOWN_MEMBER_ID, 25, "UNKNOWN_MEMBER_ID", false),
            (
                ErrorCode::REBALANCE_IN_PROGRESS,
                27,
                "REBALANCE_IN_PROGRESS",
                false,
            ),
            (
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                29,
                "TOPIC_AUTHORIZATION_FAILED",
                false,
            ),
            (ErrorCode::NOT_CONTROLLER, 41, "NOT_CONTROLLER", true),
            (
                ErrorCode::CONCURRENT_TRANSACTIONS,
                51,
                "CONCURRENT_TRANSACTIONS",
                true,
            ),
            (
                ErrorCode::KAFKA_STORAGE_ERROR,
                56,
                "KAFKA_STORAGE_ERROR",
                true,
            ),
            (
                ErrorCode::FENCED_LEADER_EPOCH,
                74,
                "FENCED_LEADER_EPOCH",
                true,
            ),
            (
                ErrorCode::UNKNOWN_LEADER_EPOCH,
                75,
                "UNKNOWN_LEADER_EPOCH",
                true,
            ),
            (ErrorCode::PRODUCER_FENCED, 90, "PRODUCER_FENCED", false),
            (ErrorCode::UNKNOWN_TOPIC_ID, 100, "UNKNOWN_TOPIC_ID", true),
            (
                ErrorCode::FENCED_MEMBER_EPOCH,
                110,
                "FENCED_MEMBER_EPOCH",
                false,
            ),
            (
                ErrorCode::STALE_MEMBER_EPOCH,
                113,
                "STALE_MEMBER_EPOCH",
                false,
            ),
            (
                ErrorCode::TRANSACTION_ABORTABLE,
                120,
                "TRANSACTION_ABORTABLE",
                false,
            ),
            (
                ErrorCode::REBOOTSTRAP_REQUIRED,
                129,
                "REBOOTSTRAP_REQUIRED",
                false,
            ),
            (
                ErrorCode::SHARE_SESSION_LIMIT_REACHED,
                133,
                "SHARE_SESSION_LIMIT_REACHED",
                true,
            ),
            (
                ErrorCode::CONTROLLER_ID_NOT_REGISTERED,
                136,
                "CONTROLLER_ID_NOT_REGISTERED",
                false,
            ),
        ];
        for (code, raw, name, retriable) in cases {
            assert_eq!(code.code(), raw, "{name}");
            assert_eq!(ErrorCode::from(raw), code, "{name}");
            assert_eq!(code.name(), name);
            assert_eq!(code.is_retriable(), retriable, "{name}");
        }
    }

    #[test]
    fn metadata_refresh_codes_are_the_invalid_metadata_ones_and_are_retriable() {
        let refresh: Vec<i16> = ErrorCode::ALL
            .iter()
            .filter(|c| c.needs_metadata_refresh())
            .map(|c| c.code())
            .collect();
        assert_eq!(refresh, [3, 5, 6, 9, 13, 56, 72, 74, 80, 83, 84, 100, 103]);
        assert!(
            ErrorCode::ALL
                .iter()
                .filter(|c| c.needs_metadata_refresh())
                .all(|c| c.is_retriable())
        );
        assert!(!ErrorCode::NOT_COORDINATOR.needs_metadata_refresh());
    }

    #[test]
    fn unknown_codes_are_kept_and_not_retriable() {
        for raw in [-2, 137, 500, i16::MIN, i16::MAX] {
            let code = ErrorCode::from(raw);
            assert_eq!(code.code(), raw);
            assert!(!code.is_known());
            assert!(!code.is_retriable());
            assert!(!code.needs_metadata_refresh());
            assert_eq!(code.name(), "UNKNOWN_ERROR_CODE");
            assert_eq!(code.into_result(), Err(code));
            assert!(code.to_string().contains(&raw.to_string()));
        }
    }

    #[test]
    fn none_is_ok_and_everything_else_is_an_error() {
        assert!(ErrorCode::NONE.is_ok());
        assert_eq!(ErrorCode::NONE.into_result(), Ok(()));
        assert_eq!(ErrorCode::default(), ErrorCode::NONE);
        assert!(!ErrorCode::NONE.is_retriable());
        for &code in ErrorCode::ALL.iter().filter(|c| **c != ErrorCode::NONE) {
            assert!(code.is_err());
            assert_eq!(code.into_result(), Err(code));
            assert!(!code.description().is_empty(), "{code:?}");
        }
    }

    #[test]
    fn display_and_debug_name_the_code() {
        assert_eq!(
            ErrorCode::NOT_COORDINATOR.to_string(),
            "NOT_COORDINATOR (16): This is not the correct coordinator."
        );
        assert_eq!(
            format!("{:?}", ErrorCode::NOT_COORDINATOR),
            "NOT_COORDINATOR(16)"
        );
        assert_eq!(
            format!("{:?}", ErrorCode::from(999)),
            "UNKNOWN_ERROR_CODE(999)"
        );
    }

    #[test]
    fn constants_work_as_match_patterns() {
        let describe = |code: ErrorCode| match code {
            ErrorCode::NONE => "ok",
            ErrorCode::NOT_COORDINATOR => "find the coordinator again",
            _ => "other",
        };
        assert_eq!(describe(ErrorCode::from(16)), "find the coordinator again");
        assert_eq!(describe(ErrorCode::from(0)), "ok");
        assert_eq!(describe(ErrorCode::from(3)), "other");
    }
}
