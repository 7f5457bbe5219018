//! KIP-227 incremental fetch sessions, sans-IO.
//!
//! A broker can remember what a client fetches, so that each Fetch
//! request names only the partitions whose fetch parameters changed and
//! each answer carries only the partitions with news. [`FetchSession`]
//! keeps the client's side of one session with one broker:
//!
//! - The first request is *full*: session id 0, epoch 0, every partition.
//!   If the broker answers with a session id, later requests are
//!   *incremental*: that id, the next epoch, the partitions added or
//!   changed, and the partitions dropped in `forgotten_topics_data`.
//! - What the broker knows changes only when it answers: a request that
//!   fails leaves the session as it was, and the next request starts over
//!   with a full fetch (the broker may or may not have seen it).
//! - FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH and
//!   FETCH_SESSION_TOPIC_ID_ERROR end the session: the next request is full.
//! - A broker that answers a full fetch with session id 0 keeps no session
//!   (its cache is full): every request stays full, and each tries to
//!   open one again, as the Java client does.
//!
//! Epochs count 1, 2, ... up to `i32::MAX` and wrap to 1 (0 opens a
//! session, -1 closes one).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use vltava_wire::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use vltava_wire::messages::{FetchRequest, FetchResponse};
use vltava_wire::{ErrorCode, Uuid};

use crate::TopicPartition;

/// The epoch of a request that opens a session (or fetches without one).
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a request that closes the session.
pub const FINAL_EPOCH: i32 = -1;

/// What the client asks of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionFetch {
    /// The offset to fetch from.
    pub fetch_offset: i64,
    /// The leader epoch the client believes current (KIP-320), for the
    /// broker to fence a stale leader; `None` to skip the check.
    pub current_leader_epoch: Option<i32>,
    /// The epoch of the last record fetched (KIP-595 divergence checks);
    /// `None` when unknown.
    pub last_fetched_epoch: Option<i32>,
    /// The most bytes to return for the partition.
    pub max_bytes: i32,
}

impl PartitionFetch {
    fn to_wire(self, partition: i32) -> FetchPartition {
        FetchPartition {
            partition,
            current_leader_epoch: self.current_leader_epoch.unwrap_or(-1),
            fetch_offset: self.fetch_offset,
            last_fetched_epoch: self.last_fetched_epoch.unwrap_or(-1),
            log_start_offset: -1,
            partition_max_bytes: self.max_bytes,
            ..Default::default()
        }
    }
}

/// The session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No session: the next request is full.
    Closed,
    /// A session the broker opened.
    Open { id: i32, epoch: i32 },
}

/// A request built and not yet answered.
#[derive(Debug)]
struct InFlight {
    full: bool,
    /// The broker's view if the request succeeds.
    next: BTreeMap<TopicPartition, PartitionFetch>,
}

/// The client's side of one fetch session with one broker.
#[derive(Debug)]
pub struct FetchSession {
    state: State,
    /// What the broker holds for the session (as of its last answer).
    known: BTreeMap<TopicPartition, PartitionFetch>,
    in_flight: Option<InFlight>,
}

/// What a request needs from the session, to be put in a [`FetchRequest`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionRequest {
    /// The session id to send.
    pub session_id: i32,
    /// The session epoch to send.
    pub session_epoch: i32,
    /// Whether the request names every partition.
    pub full: bool,
    /// The partitions to name.
    pub topics: Vec<FetchTopic>,
    /// The partitions to drop from the session.
    pub forgotten: Vec<ForgottenTopic>,
}

impl SessionRequest {
    /// Fills the session fields of `request` (leaving the limits, isolation
    /// level and the rest to the caller).
    pub fn apply(self, request: &mut FetchRequest) {
        request.session_id = self.session_id;
        request.session_epoch = self.session_epoch;
        request.topics = self.topics;
        request.forgotten_topics_data = self.forgotten;
    }
}

/// What an answer did to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOutcome {
    /// The session goes on (or was opened).
    Continued,
    /// The broker keeps no session for us: the next request is full.
    Sessionless,
    /// The broker ended the session with an error: the next request is
    /// full. The answer holds no partition data.
    Reset(ErrorCode),
}

impl Default for FetchSession {
    fn default() -> Self {
        Self::new()
    }
}

impl FetchSession {
    /// A session not yet opened.
    pub fn new() -> Self {
        Self {
            state: State::Closed,
            known: BTreeMap::new(),
            in_flight: None,
        }
    }

    /// The open session's id, if any.
    pub fn id(&self) -> Option<i32> {
        match self.state {
            State::Open { id, .. } => Some(id),
            State::Closed => None,
        }
    }

    /// Builds the next request for `wanted` (every partition the client
    /// wants from this broker now). `topic_ids` names topics by id for
    /// Fetch v13+; topics without an id are named by name (older
    /// versions). At most one request may be outstanding.
    pub fn build(
        &mut self,
        wanted: &BTreeMap<TopicPartition, PartitionFetch>,
        topic_ids: &HashMap<String, Uuid>,
    ) -> SessionRequest {
        let (session_id, session_epoch, full) = match self.state {
            State::Closed => (0, INITIAL_EPOCH, true),
            State::Open { id, epoch } => (id, epoch, false),
        };
        let named: Vec<(&TopicPartition, &PartitionFetch)> = if full {
            wanted.iter().collect()
        } else {
            wanted
                .iter()
                .filter(|(tp, fetch)| self.known.get(*tp) != Some(*fetch))
                .collect()
        };
        let forgotten: BTreeSet<&TopicPartition> = if full {
            BTreeSet::new()
        } else {
            self.known
                .keys()
                .filter(|tp| !wanted.contains_key(*tp))
                .collect()
        };
        let topic_id = |topic: &str| topic_ids.get(topic).copied().unwrap_or_default();
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (tp, fetch) in named {
            let partition = fetch.to_wire(tp.partition);
            match topics.last_mut() {
                Some(t) if t.topic == tp.topic => t.partitions.push(partition),
                _ => topics.push(FetchTopic {
                    topic: tp.topic.clone(),
                    topic_id: topic_id(&tp.topic),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let mut forgotten_topics: Vec<ForgottenTopic> = Vec::new();
        for tp in forgotten {
            match forgotten_topics.last_mut() {
                Some(t) if t.topic == tp.topic => t.partitions.push(tp.partition),
                _ => forgotten_topics.push(ForgottenTopic {
                    topic: tp.topic.clone(),
                    topic_id: topic_id(&tp.topic),
                    partitions: vec![tp.partition],
                    ..Default::default()
                }),
            }
        }
        self.in_flight = Some(InFlight {
            full,
            next: wanted.clone(),
        });
        SessionRequest {
            session_id,
            session_epoch,
            full,
            topics,
            forgotten: forgotten_topics,
        }
    }

    /// Takes the broker's answer to the last request built.
    pub fn handle_response(&mut self, response: &FetchResponse) -> SessionOutcome {
        let Some(sent) = self.in_flight.take() else {
            return SessionOutcome::Continued;
        };
        let code = ErrorCode::from(response.error_code);
        if matches!(
            code,
            ErrorCode::FETCH_SESSION_ID_NOT_FOUND
                | ErrorCode::INVALID_FETCH_SESSION_EPOCH
                | ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR
        ) {
            self.close();
            return SessionOutcome::Reset(code);
        }
        if code.is_err() {
            // Another top-level error (e.g. throttled or unsupported): the
            // session state is unknown; start over.
            self.close();
            return SessionOutcome::Reset(code);
        }
        if sent.full {
            if response.session_id == 0 {
                self.close();
                return SessionOutcome::Sessionless;
            }
            self.state = State::Open {
                id: response.session_id,
                epoch: 1,
            };
        } else if let State::Open { id, epoch } = self.state {
            self.state = State::Open {
                id,
                epoch: next_epoch(epoch),
            };
        }
        self.known = sent.next;
        SessionOutcome::Continued
    }

    /// The last request got no answer (the connection failed or it timed
    /// out): the broker may have moved the session on or not, so the next
    /// request is full.
    pub fn handle_failure(&mut self) {
        self.in_flight = None;
        self.close();
    }

    /// Forgets the session (the next request is full).
    pub fn close(&mut self) {
        self.state = State::Closed;
        self.known.clear();
    }
}

/// The epoch after `epoch`: 1, 2, ... `i32::MAX`, then 1 again.
fn next_epoch(epoch: i32) -> i32 {
    if (1..i32::MAX).contains(&epoch) {
        epoch + 1
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, p: i32) -> TopicPartition {
        TopicPartition::new(topic, p)
    }

    fn at(offset: i64) -> PartitionFetch {
        PartitionFetch {
            fetch_offset: offset,
            current_leader_epoch: Some(0),
            last_fetched_epoch: None,
            max_bytes: 1 << 20,
        }
    }

    fn wanted(list: &[(&str, i32, i64)]) -> BTreeMap<TopicPartition, PartitionFetch> {
        list.iter().map(|&(t, p, o)| (tp(t, p), at(o))).collect()
    }

    fn ids() -> HashMap<String, Uuid> {
        HashMap::from([
            ("a".to_owned(), Uuid::from_u128(1)),
            ("b".to_owned(), Uuid::from_u128(2)),
        ])
    }

    fn answer(session_id: i32) -> FetchResponse {
        FetchResponse {
            session_id,
            ..Default::default()
        }
    }

    fn named(request: &SessionRequest) -> Vec<(String, i32, i64)> {
        request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.topic.clone(), p.partition, p.fetch_offset))
            })
            .collect()
    }

    #[test]
    fn the_first_request_is_full_and_opens_a_session() {
        let mut s = FetchSession::new();
        let r = s.build(&wanted(&[("a", 0, 5), ("a", 1, 7), ("b", 0, 0)]), &ids());
        assert!(r.full);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
        assert_eq!(named(&r).len(), 3);
        assert_eq!(r.topics[0].topic_id, Uuid::from_u128(1));
        assert_eq!(s.handle_response(&answer(77)), SessionOutcome::Continued);
        assert_eq!(s.id(), Some(77));
    }

    #[test]
    fn incremental_requests_name_only_what_changed_and_forget_what_went() {
        let mut s = FetchSession::new();
        s.build(&wanted(&[("a", 0, 5), ("a", 1, 7), ("b", 0, 0)]), &ids());
        s.handle_response(&answer(77));
        // a-0 advanced, a-1 unchanged, b-0 dropped, b-1 added.
        let r = s.build(&wanted(&[("a", 0, 9), ("a", 1, 7), ("b", 1, 3)]), &ids());
        assert!(!r.full);
        assert_eq!((r.session_id, r.session_epoch), (77, 1));
        assert_eq!(named(&r), [("a".to_owned(), 0, 9), ("b".to_owned(), 1, 3)]);
        assert_eq!(r.forgotten.len(), 1);
        assert_eq!(
            (
                r.forgotten[0].topic.as_str(),
                r.forgotten[0].partitions.as_slice()
            ),
            ("b", &[0][..])
        );
        s.handle_response(&answer(77));
        // Nothing changed: an empty incremental request, epoch 2.
        let r = s.build(&wanted(&[("a", 0, 9), ("a", 1, 7), ("b", 1, 3)]), &ids());
        assert!(named(&r).is_empty() && r.forgotten.is_empty());
        assert_eq!(r.session_epoch, 2);
    }

    #[test]
    fn session_errors_reset_to_a_full_fetch() {
        for code in [
            ErrorCode::FETCH_SESSION_ID_NOT_FOUND,
            ErrorCode::INVALID_FETCH_SESSION_EPOCH,
            ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR,
        ] {
            let mut s = FetchSession::new();
            s.build(&wanted(&[("a", 0, 5)]), &ids());
            s.handle_response(&answer(5));
            s.build(&wanted(&[("a", 0, 6)]), &ids());
            let error = FetchResponse {
                error_code: code.code(),
                session_id: 0,
                ..Default::default()
            };
            assert_eq!(s.handle_response(&error), SessionOutcome::Reset(code));
            let r = s.build(&wanted(&[("a", 0, 6), ("a", 1, 0)]), &ids());
            assert!(r.full, "{code}");
            assert_eq!((r.session_id, r.session_epoch), (0, 0));
            assert_eq!(named(&r).len(), 2);
        }
    }

    #[test]
    fn a_failed_request_leaves_what_the_broker_knows_unknown_so_the_next_is_full() {
        let mut s = FetchSession::new();
        s.build(&wanted(&[("a", 0, 5)]), &ids());
        s.handle_response(&answer(5));
        s.build(&wanted(&[("a", 0, 6)]), &ids());
        s.handle_failure();
        let r = s.build(&wanted(&[("a", 0, 6)]), &ids());
        assert!(r.full);
        assert_eq!(s.id(), None);
    }

    #[test]
    fn a_broker_without_room_for_a_session_gets_full_fetches() {
        let mut s = FetchSession::new();
        s.build(&wanted(&[("a", 0, 5)]), &ids());
        assert_eq!(s.handle_response(&answer(0)), SessionOutcome::Sessionless);
        let r = s.build(&wanted(&[("a", 0, 5)]), &ids());
        assert!(r.full && r.session_id == 0 && r.session_epoch == INITIAL_EPOCH);
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(1), 2);
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(0), 1);
    }

    #[test]
    fn topics_without_an_id_are_named_by_name() {
        let mut s = FetchSession::new();
        let r = s.build(&wanted(&[("c", 0, 1)]), &ids());
        assert_eq!(r.topics[0].topic, "c");
        assert_eq!(r.topics[0].topic_id, Uuid::default());
        let mut request = FetchRequest::default();
        r.apply(&mut request);
        assert_eq!(request.topics.len(), 1);
        assert_eq!(request.session_epoch, 0);
    }
}
