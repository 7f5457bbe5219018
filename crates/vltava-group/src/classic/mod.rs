//! The classic group protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup):
//! [`ClassicMember`], a sans-IO state machine.
//!
//! It does no I/O and reads no clock: every call that depends on time
//! takes `now: Instant`. Inputs are [`ClassicMember::subscribe`],
//! [`ClassicMember::handle_response`] (typed answers, matched to their
//! request by [`RequestId`]), [`ClassicMember::handle_failure`] (a
//! transport error, classified by [`vltava_net::Recovery`]),
//! [`ClassicMember::handle_metadata`] (partition counts),
//! [`ClassicMember::leave`] and [`ClassicMember::handle_timeout`]. Outputs
//! are [`ClassicMember::poll_request`] (what to send and to whom; the
//! driver picks the version), [`ClassicMember::poll_event`],
//! [`ClassicMember::poll_timeout`] and [`ClassicMember::needs_metadata`].
//!
//! # Driving it
//!
//! ```text
//! let mut member = ClassicMember::new(config, assignors, rand::random())?;
//! member.subscribe(["orders"]);
//! loop {
//!     let now = Instant::now();
//!     member.handle_timeout(now);
//!     // Events first: a Revoked event is acted on (offsets committed)
//!     // before the JoinGroup that follows it goes out.
//!     while let Some(event) = member.poll_event() {
//!         app.on_group_event(event).await;
//!     }
//!     if let Some(error) = member.error() {
//!         return Err(error.clone());
//!     }
//!     if member.needs_metadata() {
//!         let counts = metadata.refresh(member.metadata_topics()).await;
//!         member.handle_metadata(Instant::now(), counts);
//!     }
//!     if let Some(out) = member.poll_request(now) {
//!         in_flight.push(send(out.target, out.request, out.id)); // for_version() inside
//!     }
//!     select! {
//!         (id, result) = in_flight.next() => match result {
//!             Ok(response) => { member.handle_response(Instant::now(), id, response); }
//!             Err(net_error) => { member.handle_failure(Instant::now(), id, &net_error); }
//!         },
//!         _ = sleep_until(member.poll_timeout()) => {}
//!         _ = shutdown.recv() => member.leave(Instant::now()),
//!     }
//! }
//! ```
//!
//! # The rules
//!
//! - **One request at a time.** A request is handed out only when none is
//!   in flight and no backoff runs. An answer whose request the member no
//!   longer waits for (an older id, a request abandoned by a rejoin, a
//!   leave or a session expiry, a Heartbeat or SyncGroup of an older
//!   generation) is ignored: `handle_response` returns `false` and
//!   nothing changes.
//! - **Joining.** FindCoordinator (any broker), JoinGroup, SyncGroup,
//!   then Heartbeat every `heartbeat_interval` from the send time of the
//!   previous one. A `MEMBER_ID_REQUIRED` answer (KIP-394) is retried at
//!   once with the member id it carries. The leader runs the assignor the
//!   group chose over every member's subscription; it waits for partition
//!   counts ([`ClassicMember::needs_metadata`]) when it lacks some, and
//!   rejoins when a group topic's partition count changes later.
//! - **Coordinator trouble** (`NOT_COORDINATOR`,
//!   `COORDINATOR_NOT_AVAILABLE`, a transport failure): the coordinator is
//!   forgotten and found again after a backoff; member id, generation and
//!   assignment are kept, so a stable member resumes heartbeating with no
//!   rebalance, and a member in the middle of a rebalance joins again with
//!   the same id. `COORDINATOR_LOAD_IN_PROGRESS` (and other plain retriable
//!   codes) retry the same request at the same coordinator after a backoff.
//!   FindCoordinator failures and transport failures ask for a metadata
//!   refresh. Every such failure is reported as
//!   [`GroupEvent::SessionError`](crate::GroupEvent::SessionError) with the
//!   wait before the next try; retriable failures never end the member.
//! - **Backoff.** `retry_backoff * 2^(n-1)` after `n` consecutive
//!   failures, with ±20% jitter (from the seed), within
//!   `retry_backoff..=retry_backoff_max`. The count restarts at a
//!   successful JoinGroup, SyncGroup or Heartbeat, not at a FindCoordinator
//!   that names a coordinator which then refuses connections.
//! - **Membership lost** (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`): the
//!   partitions are lost (a `Lost` event: nothing may be committed for
//!   them), the generation is reset (and the member id too for
//!   `UNKNOWN_MEMBER_ID`, as Java), and the member rejoins at once.
//!   The same happens when nothing was heard from the coordinator for the
//!   session timeout outside a JoinGroup/SyncGroup it holds (the
//!   coordinator is then forgotten as well).
//! - **Rebalance** (`REBALANCE_IN_PROGRESS`, a subscription change):
//!   eager revokes every partition before joining; cooperative (KIP-429)
//!   keeps them, revokes after SyncGroup only those no longer assigned,
//!   and rejoins once when it revoked any. The cooperative leader never
//!   hands a partition straight from one owner to another in one
//!   rebalance.
//! - **Leaving.** Partitions are revoked; a dynamic member sends
//!   LeaveGroup (once, whatever its outcome), a static member
//!   (`group_instance_id`, KIP-345) does not, as Java.
//! - **Fatal** (`GROUP_AUTHORIZATION_FAILED`, `FENCED_INSTANCE_ID`,
//!   `INVALID_SESSION_TIMEOUT`, `INCONSISTENT_GROUP_PROTOCOL`,
//!   `GROUP_MAX_SIZE_REACHED`, `UNSUPPORTED_VERSION`, a fatal transport
//!   error, every code `Recovery` calls fatal): partitions are lost, the
//!   member ends with a [`ClassicError`] and sends nothing more.
//! - **Assignors and their metadata.** JoinGroup lists one protocol per
//!   assignor, in order of preference, each with its own subscription
//!   ([`crate::protocol`]): the topics, the partitions owned now, the
//!   generation, the rack, and the assignor's user data as Java writes it.
//!   `sticky` (eager) carries the member's last assignment and its
//!   generation there, remembered through the revocation before a rejoin;
//!   `cooperative-sticky` carries its generation. The coordinator picks
//!   one protocol for the group; the leader reads every member's metadata
//!   for that one ([`crate::protocol::Subscription::to_member`]), so the
//!   sticky assignors see who owned what.

mod member;

#[cfg(test)]
mod tests;

pub use member::{
    ClassicError, ClassicMember, Coordinator, GroupRequest, GroupResponse, MemberState,
    OutboundRequest, RequestId, Target,
};
