//! The KIP-848 member (`group.protocol=consumer`): [`ConsumerMember`], a
//! sans-IO state machine speaking ConsumerGroupHeartbeat.
//!
//! It does no I/O and reads no clock. It takes responses, transport
//! failures, topic names and `now: Instant` in (`handle_*`, [`ack_revoked`]),
//! and hands out what to send, what to tell the application and when to
//! come back ([`poll_action`], [`poll_event`], [`deadline`]). Its tests drive
//! it with scripted responses and hand-advanced `Instant`s.
//!
//! # The protocol, as this member speaks it
//!
//! - **Joining.** The member id is a UUID the client makes (KIP-1082) from 16
//!   bytes the caller passes in (random in production, fixed in tests); it
//!   is kept for the life of the member, across fencing and rejoins, as the
//!   Java client keeps it. The first heartbeat carries epoch 0 and every
//!   field: subscribed topic names, rebalance timeout
//!   ([`GroupConfig::rebalance_timeout`](crate::GroupConfig), Java's
//!   `max.poll.interval.ms`), server assignor (`remote_assignor`; none: the
//!   broker's default), instance id (static membership), rack, and the
//!   owned partitions (none). Later heartbeats send only what changed since
//!   the last one (the protocol's nulls), except the instance id, which is
//!   sent every time as Java does. After any failed heartbeat the next one
//!   is complete again, since the broker may not have seen the last one.
//! - **Heartbeats** follow the interval the broker announces in each
//!   answer (the configured `heartbeat_interval` only until the first
//!   answer). One heartbeat is in flight at a time. A heartbeat goes out at
//!   once, without waiting for the interval, when the owned partitions or
//!   the subscription changed since the last one.
//! - **Reconciliation.** The broker sends a target assignment by topic id.
//!   Ids are resolved to names through metadata the driver hands in
//!   ([`handle_metadata`], [`handle_snapshot`]); partitions of unknown ids
//!   wait (and a [`MetadataWanted::TopicIds`] is asked for). Revocation
//!   comes first: a [`GroupEvent::Revoked`](crate::GroupEvent::Revoked) for the owned partitions the
//!   target no longer holds, then nothing more until the driver calls
//!   [`ack_revoked`] (after committing their offsets). Then the partitions
//!   of the latest target not owned yet are assigned
//!   ([`GroupEvent::Assigned`](crate::GroupEvent::Assigned)), and the next heartbeat, sent at once,
//!   reports the owned partitions. A target that arrives mid-reconciliation
//!   is reconciled against when the acknowledgement comes, so the member
//!   never takes a partition the latest target does not hold.
//! - **Leaving** ([`leave`]): the owned partitions are revoked first (same
//!   acknowledgement), then a heartbeat with epoch -1 (dynamic member) or
//!   -2 (static member, which the broker keeps for its session timeout) is
//!   handed out, and the member is [`Outcome::Left`]. Its answer is not
//!   awaited (as Java, the leave is sent once).
//!
//! # Failures
//!
//! [`vltava_net::Recovery`] classifies every error code and transport
//! error; this member maps the classes onto the recovery table of the
//! design:
//!
//! | what | class | what the member does |
//! |---|---|---|
//! | `NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE` | find coordinator | forget the coordinator, FindCoordinator again after the backoff; member id, epoch and partitions kept |
//! | refused dial, dial or request timeout, lost connection | unreachable | the same, and ask for a metadata refresh |
//! | `COORDINATOR_LOAD_IN_PROGRESS`, `REQUEST_TIMED_OUT`, `STALE_MEMBER_EPOCH`... | retry | heartbeat the same coordinator again after the backoff (as Java); membership kept |
//! | `UNKNOWN_MEMBER_ID`, `FENCED_MEMBER_EPOCH` | rejoin | [`GroupEvent::Lost`](crate::GroupEvent::Lost) for the owned partitions (nothing to commit), rejoin at epoch 0 with the same member id, at once |
//! | `UNSUPPORTED_VERSION`, or ConsumerGroupHeartbeat unsupported by the broker | - | [`Outcome::FallBackToClassic`]: the driver builds a classic member |
//! | `GROUP_AUTHORIZATION_FAILED`, `INVALID_REQUEST`, `GROUP_MAX_SIZE_REACHED`, `UNSUPPORTED_ASSIGNOR`, `UNRELEASED_INSTANCE_ID`, `FENCED_INSTANCE_ID`, unknown codes, authentication or TLS refusals | fatal | [`GroupEvent::Lost`](crate::GroupEvent::Lost) for the owned partitions, then [`Outcome::Failed`] with a typed [`MemberError`]; no more requests |
//!
//! Every retriable failure is reported as a [`GroupEvent::SessionError`](crate::GroupEvent::SessionError)
//! saying when the member tries again, and the member never gives up on
//! one: the wait grows exponentially from `retry_backoff` up to
//! `retry_backoff_max`, with ±20% jitter (seeded, so tests are
//! deterministic), and goes back to the start after a successful
//! heartbeat. `STALE_MEMBER_EPOCH` is a commit's error under KIP-848 (an
//! OffsetCommit sent with an epoch the member has since left behind): the
//! offsets step should retry such a commit with [`member_epoch`].
//!
//! **No client-side session timeout.** KIP-848 has no session timeout
//! setting on the client: the broker decides it. Like the Java client
//! (`AsyncKafkaConsumer`), this member does not declare itself fenced when
//! heartbeats fail for longer than the broker's session timeout; it keeps
//! its member id, epoch and partitions, keeps looking for the coordinator,
//! and gives the partitions up (as lost) only when the broker answers
//! `UNKNOWN_MEMBER_ID` or `FENCED_MEMBER_EPOCH`. Commits made meanwhile for
//! partitions the group gave to another member are refused by the broker
//! (stale or unknown member), so nothing is committed wrongly; records
//! processed meanwhile are the documented duplicates. The poll timer
//! (`max.poll.interval.ms`: leave when the application stops polling) is
//! the consumer's business, on top of [`leave`].
//!
//! Stale answers never change anything: an answer whose id is not the one
//! in flight (an older request, a request from before a rejoin or a
//! coordinator change) is ignored (`handle_*` returns `false`), and a
//! successful heartbeat answer with an epoch older than the member's is
//! ignored but for its timing.
//!
//! Subscribing by regular expression (ConsumerGroupHeartbeat v1) is not
//! supported: that version is unstable in the specs this client carries,
//! so the request always fits v0.
//!
//! # Driving it
//!
//! The tokio driver (not written yet) runs a loop of this shape:
//!
//! ```text
//! let mut member = ConsumerMember::new(&config, topics, random_bytes(), random_seed())?;
//! loop {
//!     let now = Instant::now();
//!     while let Some(action) = member.poll_action(now) {
//!         match action {
//!             // Any broker; answer with handle_find_coordinator / handle_failure.
//!             Action::FindCoordinator(call) => spawn_find(call.id, call.to_request(version)),
//!             // To call.coordinator, on the group connection; answer with
//!             // handle_heartbeat / handle_failure (NetError::UnsupportedApi
//!             // included: the member turns it into the classic fallback).
//!             Action::Heartbeat(call) => spawn_heartbeat(call.id, call.coordinator, call.request),
//!             // Ask vltava-meta; give the names back with handle_snapshot.
//!             Action::RefreshMetadata(wanted) => metadata.request_refresh(..),
//!         }
//!     }
//!     while let Some(event) = member.poll_event() {
//!         // Revoked: commit, then member.ack_revoked(now). Lost: drop, no commit.
//!         deliver(event);
//!     }
//!     if let Some(outcome) = member.outcome() {
//!         break; // Left, Failed(error), or FallBackToClassic: build a classic member.
//!     }
//!     select! {
//!         _ = sleep_until(member.deadline(now)) => {}
//!         (id, answer) = heartbeats.next() => member.handle_heartbeat(id, &answer, Instant::now()),
//!         (id, answer) = finds.next() => member.handle_find_coordinator(id, &answer, Instant::now()),
//!         (id, error) = failures.next() => member.handle_failure(id, &error, Instant::now()),
//!         snapshot = metadata.changed() => member.handle_snapshot(&snapshot),
//!         _ = app.revoked_done() => member.ack_revoked(),
//!         _ = app.close() => member.leave(),
//!     }
//! }
//! ```
//!
//! [`ack_revoked`]: ConsumerMember::ack_revoked
//! [`poll_action`]: ConsumerMember::poll_action
//! [`poll_event`]: ConsumerMember::poll_event
//! [`deadline`]: ConsumerMember::deadline
//! [`handle_metadata`]: ConsumerMember::handle_metadata
//! [`handle_snapshot`]: ConsumerMember::handle_snapshot
//! [`leave`]: ConsumerMember::leave
//! [`member_epoch`]: ConsumerMember::member_epoch

mod member;

pub use member::{
    Action, ConsumerMember, Coordinator, FindCoordinatorCall, HeartbeatCall, LEAVE_EPOCH,
    MemberError, MemberState, MetadataWanted, Outcome, RequestId, STATIC_LEAVE_EPOCH,
};

#[cfg(test)]
mod tests;
