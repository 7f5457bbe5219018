//! The consumer protocol of the classic group protocol: what a member puts
//! in JoinGroup as its protocol metadata ([`Subscription`]), what the leader
//! puts in SyncGroup for each member ([`Assignment`]), and which assignor the
//! group uses.
//!
//! Both are Kafka's `ConsumerProtocolSubscription` and
//! `ConsumerProtocolAssignment` (versions 0-3), written after a 2-byte
//! big-endian version, as the Java client does. Encoding writes the version
//! asked for (the newest, 3, unless the caller picks another); fields that
//! version cannot carry are left out, as in Java (owned partitions need v1,
//! the generation v2, the rack v3).
//!
//! Decoding never panics; bad bytes are a [`ProtocolError`]. A version newer
//! than the newest known is read as the newest known, ignoring what follows
//! its fields: Kafka's rule, which is why a new version may only append
//! fields. Like Java, bytes after the fields of a known version are ignored
//! too.
//!
//! The eager `sticky` and the `cooperative-sticky` assignors also carry
//! Java-compatible user data: [`subscription_user_data`] writes it,
//! [`Subscription::to_member`] reads it into the
//! [`MemberSubscription`] the assignor sees.

use bytes::{BufMut, Bytes, BytesMut};
use vltava_wire::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, consumer_protocol_assignment,
    consumer_protocol_subscription,
};
use vltava_wire::{DecodeError, DecodeErrorKind, EncodeError, Message};

use crate::TopicPartition;
use crate::assignor::{MemberSubscription, StickyUserData};

/// The newest `ConsumerProtocolSubscription` version known, and the one to write.
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The newest `ConsumerProtocolAssignment` version known, and the one to write.
pub const ASSIGNMENT_VERSION: i16 = 3;

/// Reading or writing the consumer protocol failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Fewer than 2 bytes: not even the version is there.
    #[error("the {what} is {len} bytes long, too short for its 2-byte version")]
    MissingVersion {
        /// `subscription` or `assignment`.
        what: &'static str,
        /// The length of the input.
        len: usize,
    },
    /// A negative version on the wire, or a version to write that does not exist.
    #[error("the {what} has version {version}, which does not exist (known: 0-3)")]
    UnsupportedVersion {
        /// `subscription` or `assignment`.
        what: &'static str,
        /// The version.
        version: i16,
    },
    /// The bytes after the version are not a valid message of that version.
    #[error("cannot read the {what} (version {version}): {source}")]
    Decode {
        /// `subscription` or `assignment`.
        what: &'static str,
        /// The version written in front of it.
        version: i16,
        /// What the codec found wrong.
        #[source]
        source: DecodeError,
    },
    /// The message cannot be written (e.g. a string too long).
    #[error("cannot write the {what}: {source}")]
    Encode {
        /// `subscription` or `assignment`.
        what: &'static str,
        /// What the codec found wrong.
        #[source]
        source: EncodeError,
    },
    /// An assignor's user data is malformed.
    #[error("the {assignor} assignor's user data is malformed: {why}")]
    UserData {
        /// The assignor's protocol name.
        assignor: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

/// A member's subscription: the protocol metadata it sends in JoinGroup for
/// each assignor it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The assignor's user data (see [`subscription_user_data`]).
    pub user_data: Option<Bytes>,
    /// The partitions it owns now (v1+; cooperative members list them,
    /// eager members have revoked everything before they join).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation it owns them from (v2+; `-1`: unknown).
    pub generation: i32,
    /// Its rack, `client.rack` (v3+).
    pub rack: Option<String>,
}

impl Default for Subscription {
    fn default() -> Self {
        Self {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation: -1,
            rack: None,
        }
    }
}

impl Subscription {
    /// What the assignor `assignor` sees of this member: owned partitions and
    /// generation as the Java assignor of that name reads them.
    ///
    /// - `sticky`: from the StickyAssignor user data (its last assignment
    ///   and generation), ignoring `owned_partitions`, which an eager member
    ///   sends empty; no or malformed user data: nothing owned, generation -1.
    /// - `cooperative-sticky`: `owned_partitions`; the generation field, or
    ///   when it is unknown (v0/v1 data) the generation in the 4-byte user
    ///   data older clients write (-1 if there is none).
    /// - anything else: `owned_partitions` and the generation field.
    ///
    /// An empty rack is no rack, as in Java.
    pub fn to_member(
        &self,
        assignor: &str,
        member_id: impl Into<String>,
        group_instance_id: Option<String>,
    ) -> MemberSubscription {
        let (owned_partitions, generation) = match assignor {
            "sticky" => match self.user_data.as_deref() {
                None | Some([]) => (Vec::new(), -1),
                Some(data) => StickyUserData::decode(data)
                    .map(|d| (d.partitions, d.generation.unwrap_or(-1)))
                    .unwrap_or((Vec::new(), -1)),
            },
            "cooperative-sticky" if self.generation < 0 => {
                let generation = self
                    .user_data
                    .as_deref()
                    .and_then(|d| d.first_chunk::<4>())
                    .map_or(-1, |g| i32::from_be_bytes(*g));
                (self.owned_partitions.clone(), generation)
            }
            _ => (self.owned_partitions.clone(), self.generation),
        };
        MemberSubscription {
            member_id: member_id.into(),
            group_instance_id,
            topics: self.topics.clone(),
            owned_partitions,
            generation,
            rack: self.rack.clone().filter(|r| !r.is_empty()),
        }
    }
}

/// The user data a member writes in its subscription for `assignor`, as the
/// Java assignor of that name does:
///
/// - `sticky`: its last assignment and that assignment's generation
///   ([`StickyUserData`] v1), or none before its first assignment
///   (`last_assignment` is `None`);
/// - `cooperative-sticky`: its generation as 4 bytes, for older leaders that
///   read it there;
/// - anything else: none.
pub fn subscription_user_data(
    assignor: &str,
    last_assignment: Option<&[TopicPartition]>,
    generation: i32,
) -> Option<Bytes> {
    match assignor {
        "sticky" => last_assignment.map(|partitions| {
            StickyUserData {
                partitions: partitions.to_vec(),
                generation: Some(generation),
            }
            .encode()
        }),
        "cooperative-sticky" => Some(Bytes::copy_from_slice(&generation.to_be_bytes())),
        _ => None,
    }
}

/// Writes `subscription` at `version` (0-3), after the 2-byte version.
pub fn encode_subscription(
    subscription: &Subscription,
    version: i16,
) -> Result<Bytes, ProtocolError> {
    let msg = ConsumerProtocolSubscription {
        topics: subscription.topics.clone(),
        user_data: subscription.user_data.clone(),
        owned_partitions: group_by_topic(&subscription.owned_partitions)
            .map(
                |(topic, partitions)| consumer_protocol_subscription::TopicPartition {
                    topic,
                    partitions,
                },
            )
            .collect(),
        generation_id: subscription.generation,
        rack_id: subscription.rack.clone(),
    };
    encode_versioned("subscription", &msg, version)
}

/// Reads a subscription: the version on the wire and the subscription.
pub fn decode_subscription(bytes: &Bytes) -> Result<(i16, Subscription), ProtocolError> {
    let (version, msg) = decode_versioned::<ConsumerProtocolSubscription>("subscription", bytes)?;
    let subscription = Subscription {
        topics: msg.topics,
        user_data: msg.user_data,
        owned_partitions: msg
            .owned_partitions
            .into_iter()
            .flat_map(|tp| ungroup(tp.topic, tp.partitions))
            .collect(),
        generation: msg.generation_id,
        rack: msg.rack_id,
    };
    Ok((version, subscription))
}

/// A member's assignment, as the leader sends it in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The partitions assigned to the member.
    pub partitions: Vec<TopicPartition>,
    /// The assignor's user data (none for the built-in assignors).
    pub user_data: Option<Bytes>,
}

/// Writes `assignment` at `version` (0-3), after the 2-byte version.
/// Partitions are grouped by topic, topics in order.
pub fn encode_assignment(assignment: &Assignment, version: i16) -> Result<Bytes, ProtocolError> {
    let msg = ConsumerProtocolAssignment {
        assigned_partitions: group_by_topic(&assignment.partitions)
            .map(
                |(topic, partitions)| consumer_protocol_assignment::TopicPartition {
                    topic,
                    partitions,
                },
            )
            .collect(),
        user_data: assignment.user_data.clone(),
    };
    encode_versioned("assignment", &msg, version)
}

/// Reads an assignment: the version on the wire and the assignment.
///
/// Empty input is an empty assignment (version 0): the coordinator sends
/// that to a member the leader gave nothing, and so does Java's reader.
pub fn decode_assignment(bytes: &Bytes) -> Result<(i16, Assignment), ProtocolError> {
    if bytes.is_empty() {
        return Ok((0, Assignment::default()));
    }
    let (version, msg) = decode_versioned::<ConsumerProtocolAssignment>("assignment", bytes)?;
    let assignment = Assignment {
        partitions: msg
            .assigned_partitions
            .into_iter()
            .flat_map(|tp| ungroup(tp.topic, tp.partitions))
            .collect(),
        user_data: msg.user_data,
    };
    Ok((version, assignment))
}

/// The assignor the coordinator picks for a group from each member's list
/// of assignors (most preferred first): among the assignors every member
/// lists, each member votes for the first of its own list, and the one with
/// the most votes wins. `None` when no assignor is common to all (the
/// coordinator refuses such a member with `INCONSISTENT_GROUP_PROTOCOL`).
///
/// On a tie the coordinator's choice is not specified; this picks the tied
/// one the first member prefers. A member must use the protocol name the
/// JoinGroup response gives; this predicts it (tests, diagnostics).
pub fn select_assignor<S: AsRef<str>>(members: &[Vec<S>]) -> Option<&str> {
    let (first, rest) = members.split_first()?;
    let candidates: Vec<&str> = first
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| rest.iter().all(|m| m.iter().any(|q| q.as_ref() == *p)))
        .collect();
    let mut votes = vec![0usize; candidates.len()];
    for member in members {
        let vote = member
            .iter()
            .find_map(|p| candidates.iter().position(|c| *c == p.as_ref()));
        if let Some(i) = vote {
            votes[i] += 1;
        }
    }
    // `max_by_key` keeps the last maximum; iterate in reverse so the first
    // member's earliest preference wins a tie.
    (0..candidates.len())
        .rev()
        .max_by_key(|&i| votes[i])
        .map(|i| candidates[i])
}

/// Partitions grouped by topic, topics in order, partitions as given.
fn group_by_topic(partitions: &[TopicPartition]) -> impl Iterator<Item = (String, Vec<i32>)> {
    let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(t, p)| (t.to_owned(), p))
        .collect::<Vec<_>>()
        .into_iter()
}

fn ungroup(topic: String, partitions: Vec<i32>) -> impl Iterator<Item = TopicPartition> {
    partitions
        .into_iter()
        .map(move |p| TopicPartition::new(topic.clone(), p))
}

fn encode_versioned<M: Message>(
    what: &'static str,
    msg: &M,
    version: i16,
) -> Result<Bytes, ProtocolError> {
    if !M::VERSIONS.contains(version) {
        return Err(ProtocolError::UnsupportedVersion { what, version });
    }
    let len = msg
        .encoded_len(version)
        .map_err(|source| ProtocolError::Encode { what, source })?;
    let mut buf = BytesMut::with_capacity(2 + len);
    buf.put_i16(version);
    msg.encode(&mut buf, version)
        .map_err(|source| ProtocolError::Encode { what, source })?;
    Ok(buf.freeze())
}

fn decode_versioned<M: Message>(
    what: &'static str,
    bytes: &Bytes,
) -> Result<(i16, M), ProtocolError> {
    let Some(head) = bytes.first_chunk::<2>() else {
        return Err(ProtocolError::MissingVersion {
            what,
            len: bytes.len(),
        });
    };
    let version = i16::from_be_bytes(*head);
    if version < 0 {
        return Err(ProtocolError::UnsupportedVersion { what, version });
    }
    let read_as = version.min(M::VERSIONS.max);
    let body = bytes.slice(2..);
    let error = |source| ProtocolError::Decode {
        what,
        version,
        source,
    };
    match M::decode(&body, read_as) {
        Ok(msg) => Ok((version, msg)),
        Err(e) => match *e.kind() {
            // Fields a newer version appended, or bytes Java would not look at.
            DecodeErrorKind::TrailingBytes(n) if n <= body.len() => {
                M::decode(&body.slice(..body.len() - n), read_as)
                    .map(|msg| (version, msg))
                    .map_err(error)
            }
            _ => Err(error(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect()
    }

    fn full_subscription() -> Subscription {
        Subscription {
            topics: vec!["b".into(), "a".into()],
            user_data: Some(Bytes::from_static(b"\x00\x01ud")),
            owned_partitions: tps(&[("a", 0), ("a", 2), ("b", 1)]),
            generation: 42,
            rack: Some("r1".into()),
        }
    }

    #[test]
    fn subscription_round_trips_at_every_version_with_what_it_carries() {
        let full = full_subscription();
        for version in 0..=SUBSCRIPTION_VERSION {
            let bytes = encode_subscription(&full, version).unwrap();
            assert_eq!(bytes[..2], version.to_be_bytes());
            let (v, got) = decode_subscription(&bytes).unwrap();
            assert_eq!(v, version);
            let mut expected = full.clone();
            if version < 1 {
                expected.owned_partitions.clear();
            }
            if version < 2 {
                expected.generation = -1;
            }
            if version < 3 {
                expected.rack = None;
            }
            assert_eq!(got, expected, "version {version}");
        }
    }

    #[test]
    fn subscription_v0_matches_java_bytes() {
        // Java's ConsumerProtocol.serializeSubscription(v0) of topics [t],
        // no user data: version 0, array(1) of string "t", null bytes.
        let sub = Subscription {
            topics: vec!["t".into()],
            ..Subscription::default()
        };
        let bytes = encode_subscription(&sub, 0).unwrap();
        assert_eq!(
            &bytes[..],
            &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn assignment_round_trips_at_every_version() {
        let a = Assignment {
            partitions: tps(&[("a", 3), ("a", 1), ("z", 0)]),
            user_data: Some(Bytes::from_static(b"x")),
        };
        for version in 0..=ASSIGNMENT_VERSION {
            let bytes = encode_assignment(&a, version).unwrap();
            assert_eq!(decode_assignment(&bytes).unwrap(), (version, a.clone()));
        }
        assert_eq!(
            decode_assignment(&Bytes::new()).unwrap(),
            (0, Assignment::default())
        );
    }

    #[test]
    fn newer_versions_are_read_as_the_newest_known() {
        let full = full_subscription();
        let v3 = encode_subscription(&full, 3).unwrap();
        let mut v9 = BytesMut::new();
        v9.put_i16(9);
        v9.put_slice(&v3[2..]);
        v9.put_slice(b"fields of v4 to v9");
        let (v, got) = decode_subscription(&v9.freeze()).unwrap();
        assert_eq!((v, got), (9, full));

        let a = Assignment {
            partitions: tps(&[("t", 1)]),
            user_data: None,
        };
        let v3 = encode_assignment(&a, 3).unwrap();
        let mut v4 = BytesMut::new();
        v4.put_i16(4);
        v4.put_slice(&v3[2..]);
        v4.put_i32(7);
        assert_eq!(decode_assignment(&v4.freeze()).unwrap(), (4, a));
    }

    #[test]
    fn bad_versions_are_errors() {
        assert!(matches!(
            encode_subscription(&Subscription::default(), 4),
            Err(ProtocolError::UnsupportedVersion { version: 4, .. })
        ));
        assert!(matches!(
            encode_assignment(&Assignment::default(), -1),
            Err(ProtocolError::UnsupportedVersion { version: -1, .. })
        ));
        assert!(matches!(
            decode_subscription(&Bytes::from_static(&[
                0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff
            ])),
            Err(ProtocolError::UnsupportedVersion { version: -1, .. })
        ));
        assert!(matches!(
            decode_subscription(&Bytes::from_static(&[0])),
            Err(ProtocolError::MissingVersion { len: 1, .. })
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let sub = encode_subscription(&full_subscription(), 3).unwrap();
        for cut in 0..sub.len() {
            assert!(
                decode_subscription(&sub.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
        let a = Assignment {
            partitions: tps(&[("a", 3), ("z", 0)]),
            user_data: Some(Bytes::from_static(b"x")),
        };
        let bytes = encode_assignment(&a, 1).unwrap();
        // Empty input is the empty assignment; every other cut is an error.
        for cut in 1..bytes.len() {
            assert!(
                decode_assignment(&bytes.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn member_view_follows_each_java_assignor() {
        let last = tps(&[("t", 0), ("t", 3)]);
        let mut sub = Subscription {
            topics: vec!["t".into()],
            user_data: subscription_user_data("sticky", Some(&last), 8),
            owned_partitions: Vec::new(),
            generation: 8,
            rack: Some(String::new()),
        };
        let m = sub.to_member("sticky", "m", Some("i".into()));
        assert_eq!(
            (m.owned_partitions.clone(), m.generation),
            (last.clone(), 8)
        );
        assert_eq!(m.rack, None);
        assert_eq!(m.group_instance_id.as_deref(), Some("i"));

        // sticky without user data, or with garbage: owns nothing.
        sub.user_data = None;
        assert_eq!(sub.to_member("sticky", "m", None).owned_partitions, vec![]);
        sub.user_data = Some(Bytes::from_static(&[1, 2, 3]));
        let m = sub.to_member("sticky", "m", None);
        assert_eq!((m.owned_partitions, m.generation), (vec![], -1));

        // cooperative-sticky: owned partitions and the generation field,
        // or the 4-byte user data when the field is unknown.
        sub.owned_partitions = last.clone();
        sub.user_data = subscription_user_data("cooperative-sticky", None, 5);
        assert_eq!(sub.to_member("cooperative-sticky", "m", None).generation, 8);
        sub.generation = -1;
        let m = sub.to_member("cooperative-sticky", "m", None);
        assert_eq!((m.owned_partitions, m.generation), (last.clone(), 5));
        sub.user_data = Some(Bytes::from_static(&[0, 1]));
        assert_eq!(
            sub.to_member("cooperative-sticky", "m", None).generation,
            -1
        );

        assert_eq!(subscription_user_data("range", Some(&last), 1), None);
        assert_eq!(subscription_user_data("sticky", None, 1), None);
    }

    #[test]
    fn the_coordinator_picks_the_most_voted_common_assignor() {
        let lists = vec![
            vec!["cooperative-sticky", "range"],
            vec!["range", "cooperative-sticky"],
            vec!["range", "roundrobin", "cooperative-sticky"],
        ];
        assert_eq!(select_assignor(&lists), Some("range"));
        // roundrobin is not common, so the votes are sticky 1, range 1: a
        // tie goes to the first member's choice.
        let lists = vec![
            vec!["roundrobin", "sticky", "range"],
            vec!["range", "sticky"],
        ];
        assert_eq!(select_assignor(&lists), Some("sticky"));
        let lists = vec![vec!["range", "sticky"], vec!["sticky", "range"]];
        assert_eq!(select_assignor(&lists), Some("range"));
        let lists = vec![vec!["range"], vec!["roundrobin"]];
        assert_eq!(select_assignor(&lists), None);
        assert_eq!(select_assignor::<&str>(&[]), None);
    }
}
