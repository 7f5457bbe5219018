//! [`RefreshPolicy`]: the sans-IO state machine that owns the metadata
//! snapshot and decides when to refresh it, from which broker, and what a
//! response (or a KIP-951 leader hint) changes.
//!
//! It does no I/O and reads no clock: every call that depends on time takes
//! `now: Instant`. The driver ([`MetadataClient`](crate::MetadataClient))
//! asks [`RefreshPolicy::poll_refresh`] for work, sends the request, and
//! hands back [`RefreshPolicy::handle_response`] or
//! [`RefreshPolicy::handle_failure`]; between refreshes it sleeps until
//! [`RefreshPolicy::deadline`].
//!
//! The rules:
//!
//! - One refresh at a time. The next starts no sooner than the backoff after
//!   the previous one ended: `refresh_backoff` after a clean answer, growing
//!   exponentially (with jitter, capped at `refresh_backoff_max`) after
//!   consecutive failures or answers that still need another refresh.
//! - A refresh is due when one was asked for (explicitly, by an error code
//!   that needs it, by a transport failure, by new topics of interest, or by
//!   an answer that was incomplete), or when the metadata is `max_age` old.
//! - A partition's leader epoch never moves backwards: an answer carrying an
//!   older epoch than the cache holds keeps the cached partition and asks for
//!   another refresh (unless the topic id changed: a re-created topic starts
//!   its epochs afresh). An answer without epochs (Metadata below v9, whose
//!   epochs Kafka does not trust either) replaces the partition and forgets
//!   its epoch, as the Java client does.
//! - A topic that comes back with an error keeps its previous partitions;
//!   an error that calls for fresh metadata (`UNKNOWN_TOPIC_OR_PARTITION`
//!   from a broker that does not know a new topic yet,
//!   `LEADER_NOT_AVAILABLE`, ...) asks for another refresh after the backoff.
//! - Brokers: a known broker that has not failed since the last successful
//!   refresh is asked, never-failed ones first (in turn), then the least
//!   recently failed. When every known broker has failed since then, the
//!   bootstrap list is tried again, resolved anew by the driver.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vltava_wire::messages::metadata_request::MetadataRequestTopic;
use vltava_wire::messages::metadata_response::MetadataResponsePartition;
use vltava_wire::messages::{MetadataRequest, MetadataResponse};
use vltava_wire::{ErrorCode, Uuid};

use crate::config::{Interest, MetadataConfig};
use crate::hints::{LeaderHints, TopicKey};
use crate::model::{Broker, MetadataSnapshot, PartitionMetadata, TopicMetadata};

/// Identifies one refresh handed out by [`RefreshPolicy::poll_refresh`].
/// Ids grow: a refresh with a higher id started later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefreshId(pub u64);

/// Why a refresh was asked for (for logs and tests; every reason is handled
/// the same way).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshReason {
    /// Nothing is known yet.
    Startup,
    /// A caller asked for it.
    Explicit,
    /// Another layer saw an error code that calls for fresh metadata.
    Error {
        /// The topic the error concerned.
        topic: String,
        /// The partition the error concerned.
        partition: i32,
        /// The error code.
        code: ErrorCode,
    },
    /// A request to a broker failed at the transport.
    TransportFailure {
        /// The broker's address.
        broker: String,
    },
    /// Topics were added to the interest.
    NewTopics,
    /// The last answer lacked something (an older epoch, a topic error that
    /// calls for a refresh, a leader that is not among the brokers).
    Incomplete,
    /// The previous attempt failed.
    Retry,
    /// The metadata reached its maximum age.
    MaxAge,
}

impl fmt::Display for RefreshReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Startup => f.write_str("startup"),
            Self::Explicit => f.write_str("requested"),
            Self::Error {
                topic,
                partition,
                code,
            } => write!(f, "{code} on {topic}-{partition}"),
            Self::TransportFailure { broker } => write!(f, "transport failure with {broker}"),
            Self::NewTopics => f.write_str("new topics of interest"),
            Self::Incomplete => f.write_str("the last answer was incomplete"),
            Self::Retry => f.write_str("the last attempt failed"),
            Self::MaxAge => f.write_str("maximum age reached"),
        }
    }
}

/// Where to send a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTarget {
    /// A known broker.
    Broker {
        /// Its node id.
        node_id: i32,
        /// Its address, `host:port`.
        address: String,
    },
    /// The bootstrap list, `host:port` entries to resolve again (DNS) and
    /// try in order until one answers.
    Bootstrap(Vec<String>),
}

/// A refresh to perform: the driver sends [`RefreshRequest::to_request`]
/// to the [`RefreshRequest::target`] and reports the outcome with the id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshRequest {
    /// The id to hand back with the outcome.
    pub id: RefreshId,
    /// Where to send it.
    pub target: RefreshTarget,
    /// Why.
    pub reason: RefreshReason,
    /// The topics to ask for; `None` for every topic.
    pub topics: Option<Vec<String>>,
    /// Whether to let the broker auto-create the topics.
    pub allow_auto_topic_creation: bool,
}

impl RefreshRequest {
    /// The Metadata request to send at `version` (the version negotiated
    /// with the broker). "Every topic" is a null list from v1 on and an
    /// empty list at v0; below v4 the request cannot refuse auto-creation.
    pub fn to_request(&self, version: i16) -> MetadataRequest {
        let topics = match &self.topics {
            None if version >= 1 => None,
            None => Some(Vec::new()),
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
        };
        MetadataRequest {
            topics,
            allow_auto_topic_creation: version < 4 || self.allow_auto_topic_creation,
            ..Default::default()
        }
    }
}

/// The refresh in flight.
#[derive(Debug)]
struct InFlight {
    id: RefreshId,
    target: RefreshTarget,
    reason: RefreshReason,
}

/// The sans-IO metadata cache and refresh policy. See the [module
/// docs](self) for the rules it follows.
#[derive(Debug)]
pub struct RefreshPolicy {
    config: MetadataConfig,
    bootstrap: Vec<String>,
    interest: Interest,
    snapshot: Arc<MetadataSnapshot>,
    /// A refresh was asked for and has not started yet.
    pending: Option<RefreshReason>,
    in_flight: Option<InFlight>,
    next_id: u64,
    /// When the last attempt ended (answered or failed).
    last_attempt_end: Option<Instant>,
    /// When the last attempt that got an answer ended.
    last_success: Option<Instant>,
    /// Consecutive failed attempts.
    failures: u32,
    /// Consecutive answers that asked for another refresh.
    incomplete: u32,
    /// The backoff after the last attempt, fixed when it ended.
    backoff: Duration,
    /// When each broker last failed.
    broker_failures: HashMap<i32, Instant>,
    /// Turns among equally good brokers.
    rotation: usize,
    /// xorshift64* state for the jitter.
    rng: u64,
}

impl RefreshPolicy {
    /// A policy that knows nothing yet and will first ask the bootstrap
    /// brokers (`host:port` entries). `seed` feeds the backoff jitter (any
    /// value; the driver uses a random one so that clients spread out).
    pub fn new(config: MetadataConfig, bootstrap: Vec<String>, seed: u64) -> Self {
        let interest = config.interest.clone();
        Self {
            backoff: config.refresh_backoff,
            config,
            bootstrap,
            interest,
            snapshot: Arc::new(MetadataSnapshot::empty()),
            pending: Some(RefreshReason::Startup),
            in_flight: None,
            next_id: 0,
            last_attempt_end: None,
            last_success: None,
            failures: 0,
            incomplete: 0,
            broker_failures: HashMap::new(),
            rotation: 0,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> &Arc<MetadataSnapshot> {
        &self.snapshot
    }

    /// The configuration.
    pub fn config(&self) -> &MetadataConfig {
        &self.config
    }

    /// The bootstrap list.
    pub fn bootstrap(&self) -> &[String] {
        &self.bootstrap
    }

    /// The topics followed.
    pub fn interest(&self) -> &Interest {
        &self.interest
    }

    /// The id the next refresh will get: a refresh with this id or a
    /// higher one starts after this call.
    pub fn next_refresh_id(&self) -> RefreshId {
        RefreshId(self.next_id)
    }

    /// Whether a refresh is in flight.
    pub fn is_refreshing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether a refresh has been asked for and not started yet.
    pub fn is_refresh_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The backoff that applies after the last attempt.
    pub fn current_backoff(&self) -> Duration {
        self.backoff
    }

    // ---------------------------------------------------------------- triggers

    /// Asks for a refresh. It starts once the backoff allows, and never
    /// while another is in flight (it then starts after that one).
    pub fn request_refresh(&mut self, reason: RefreshReason) {
        if self.pending.is_none() {
            self.pending = Some(reason);
        }
    }

    /// Reports an error code another layer got for `topic`'s `partition`.
    /// Asks for a refresh, and returns `true`, when the code calls for one
    /// ([`ErrorCode::needs_metadata_refresh`]).
    pub fn report_error(&mut self, topic: &str, partition: i32, code: ErrorCode) -> bool {
        if !code.needs_metadata_refresh() {
            return false;
        }
        self.request_refresh(RefreshReason::Error {
            topic: topic.to_owned(),
            partition,
            code,
        });
        true
    }

    /// Reports that a request to the broker at `address` failed at the
    /// transport (refused, reset, timed out). The broker is avoided for
    /// refreshes until a refresh succeeds, and a refresh is asked for.
    pub fn report_transport_failure(&mut self, address: &str, now: Instant) {
        if let Some(broker) = self.snapshot.broker_at(address) {
            self.broker_failures.insert(broker.node_id, now);
        }
        self.request_refresh(RefreshReason::TransportFailure {
            broker: address.to_owned(),
        });
    }

    // ---------------------------------------------------------------- interest

    /// Follows these topics from now on. Topics no longer of interest leave
    /// the snapshot at once; new ones ask for a refresh.
    pub fn set_interest(&mut self, interest: Interest) {
        let grows = match (&self.interest, &interest) {
            (Interest::All, _) => false,
            (Interest::Topics(_), Interest::All) => true,
            (Interest::Topics(old), Interest::Topics(new)) => !new.is_subset(old),
        };
        self.interest = interest;
        if grows {
            self.request_refresh(RefreshReason::NewTopics);
        }
        self.drop_uninteresting_topics();
    }

    /// Adds topics to follow; asks for a refresh if any is new. Returns
    /// whether any was new. (No effect with [`Interest::All`].)
    pub fn add_topics<I, S>(&mut self, topics: I) -> bool
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let Interest::Topics(current) = &mut self.interest else {
            return false;
        };
        let mut added = false;
        for topic in topics {
            added |= current.insert(topic.into());
        }
        if added {
            self.request_refresh(RefreshReason::NewTopics);
        }
        added
    }

    /// Stops following topics; they leave the snapshot at once. (No effect
    /// with [`Interest::All`].)
    pub fn remove_topics<I, S>(&mut self, topics: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let Interest::Topics(current) = &mut self.interest else {
            return;
        };
        for topic in topics {
            current.remove(topic.as_ref());
        }
        self.drop_uninteresting_topics();
    }

    fn drop_uninteresting_topics(&mut self) {
        if self
            .snapshot
            .topics
            .keys()
            .all(|name| self.interest.contains(name))
        {
            return;
        }
        let mut next = (*self.snapshot).clone();
        next.topics.retain(|name, _| self.interest.contains(name));
        self.publish(next);
    }

    // ---------------------------------------------------------------- timing

    /// When the next refresh is due: the driver sleeps until then (or until
    /// a trigger) and calls [`RefreshPolicy::poll_refresh`]. `None` while a
    /// refresh is in flight (its outcome comes first). A deadline at or
    /// before `now` means "now".
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        let allowed = self.last_attempt_end.map_or(now, |end| end + self.backoff);
        let wanted = match (&self.pending, self.last_success) {
            (None, Some(success)) => success + self.config.max_age,
            _ => now,
        };
        Some(allowed.max(wanted))
    }

    /// The refresh to perform now, if one is due: never while another is in
    /// flight, never sooner than the backoff after the last one ended.
    pub fn poll_refresh(&mut self, now: Instant) -> Option<RefreshRequest> {
        if self.deadline(now)? > now {
            return None;
        }
        let reason = self.pending.take().unwrap_or(RefreshReason::MaxAge);
        let target = self.choose_target();
        let id = RefreshId(self.next_id);
        self.next_id += 1;
        self.in_flight = Some(InFlight {
            id,
            target: target.clone(),
            reason: reason.clone(),
        });
        let topics = match &self.interest {
            Interest::All => None,
            Interest::Topics(topics) => Some(topics.iter().cloned().collect()),
        };
        Some(RefreshRequest {
            id,
            target,
            reason,
            topics,
            allow_auto_topic_creation: self.config.allow_auto_topic_creation,
        })
    }

    /// Whether `node_id` failed after the last successful refresh.
    fn failed_since_success(&self, node_id: i32) -> bool {
        self.broker_failures
            .get(&node_id)
            .is_some_and(|&failed| self.last_success.is_none_or(|success| failed >= success))
    }

    fn choose_target(&mut self) -> RefreshTarget {
        let candidates: Vec<&Broker> = self
            .snapshot
            .brokers()
            .filter(|b| !self.failed_since_success(b.node_id))
            .collect();
        let never_failed: Vec<&Broker> = candidates
            .iter()
            .copied()
            .filter(|b| !self.broker_failures.contains_key(&b.node_id))
            .collect();
        let chosen = if never_failed.is_empty() {
            // Every candidate failed once, before the last success: the
            // least recently failed one.
            candidates
                .iter()
                .copied()
                .min_by_key(|b| (self.broker_failures.get(&b.node_id), b.node_id))
        } else {
            let broker = never_failed[self.rotation % never_failed.len()];
            self.rotation = self.rotation.wrapping_add(1);
            Some(broker)
        };
        match chosen {
            Some(broker) => RefreshTarget::Broker {
                node_id: broker.node_id,
                address: broker.address(),
            },
            None => RefreshTarget::Bootstrap(self.bootstrap.clone()),
        }
    }

    /// Fixes the backoff after an attempt: the minimum interval after a
    /// clean answer; after `n` consecutive failures or incomplete answers,
    /// `refresh_backoff * 2^(n-1)` with jitter, within
    /// `refresh_backoff..=refresh_backoff_max`.
    fn fix_backoff(&mut self) {
        let base = self.config.refresh_backoff;
        let max = self.config.refresh_backoff_max.max(base);
        let n = self.failures.max(self.incomplete);
        self.backoff = if n <= 1 {
            base
        } else {
            let exp = base.saturating_mul(1u32 << (n - 1).min(31));
            let jitter = self.config.backoff_jitter.clamp(0.0, 1.0);
            // A factor in [1 - jitter, 1 + jitter).
            let factor = 1.0 + jitter * (2.0 * self.next_unit() - 1.0);
            exp.mul_f64(factor).clamp(base, max)
        };
    }

    /// A number in `[0, 1)` (xorshift64*).
    fn next_unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let bits = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        bits as f64 / (1u64 << 53) as f64
    }

    // ---------------------------------------------------------------- outcomes

    /// The refresh `id` failed (no answer: dial, disconnect, timeout, or
    /// every bootstrap address failed). The broker is avoided until a
    /// refresh succeeds; another attempt follows after the backoff.
    /// Returns `false` (and changes nothing) if `id` is not in flight.
    pub fn handle_failure(&mut self, id: RefreshId, now: Instant) -> bool {
        let Some(in_flight) = self.take_in_flight(id) else {
            return false;
        };
        if let RefreshTarget::Broker { node_id, .. } = in_flight.target {
            self.broker_failures.insert(node_id, now);
        }
        self.failures = self.failures.saturating_add(1);
        self.last_attempt_end = Some(now);
        self.fix_backoff();
        // Whatever asked for it still wants it.
        self.pending = Some(match in_flight.reason {
            RefreshReason::MaxAge | RefreshReason::Retry => RefreshReason::Retry,
            reason => reason,
        });
        true
    }

    /// Takes the answer to refresh `id`, sent at Metadata `version`, and
    /// makes a new snapshot from it. Returns the new snapshot, or `None`
    /// (and changes nothing) if `id` is not in flight.
    pub fn handle_response(
        &mut self,
        id: RefreshId,
        version: i16,
        response: &MetadataResponse,
        now: Instant,
    ) -> Option<Arc<MetadataSnapshot>> {
        self.take_in_flight(id)?;
        let (next, incomplete) = self.merge(version, response);
        self.publish(next);
        self.failures = 0;
        self.last_success = Some(now);
        self.last_attempt_end = Some(now);
        if incomplete {
            self.incomplete = self.incomplete.saturating_add(1);
            self.request_refresh(RefreshReason::Incomplete);
        } else {
            self.incomplete = 0;
        }
        self.fix_backoff();
        Some(self.snapshot.clone())
    }

    fn take_in_flight(&mut self, id: RefreshId) -> Option<InFlight> {
        if self.in_flight.as_ref().is_some_and(|f| f.id == id) {
            self.in_flight.take()
        } else {
            None
        }
    }

    /// The snapshot a response makes, and whether it asks for another refresh.
    fn merge(&self, version: i16, response: &MetadataResponse) -> (MetadataSnapshot, bool) {
        let old = &self.snapshot;
        let mut next = MetadataSnapshot {
            version: old.version,
            cluster_id: response
                .cluster_id
                .clone()
                .or_else(|| old.cluster_id.clone()),
            controller_id: (response.controller_id >= 0).then_some(response.controller_id),
            brokers: response
                .brokers
                .iter()
                .filter_map(|b| Broker::from_wire(b.node_id, &b.host, b.port, b.rack.as_deref()))
                .map(|b| (b.node_id, b))
                .collect(),
            topics: Default::default(),
            topic_ids: Default::default(),
        };
        let mut incomplete = false;
        if next.brokers.is_empty() {
            // No usable broker in the answer: keep the ones we had rather
            // than lose every way back to the cluster.
            next.brokers = old.brokers.clone();
            incomplete = true;
        }
        // Kafka trusts the leader epochs of Metadata v9+ only.
        let reliable_epochs = version >= 9;

        // Start from what we knew, for the topics still of interest: a full
        // answer about every topic then drops topics it no longer lists.
        if let Interest::Topics(_) = self.interest {
            next.topics = old
                .topics
                .iter()
                .filter(|(name, _)| self.interest.contains(name))
                .map(|(name, topic)| (name.clone(), topic.clone()))
                .collect();
        }
        let mut seen = BTreeSet::new();
        for t in &response.topics {
            let id = (t.topic_id != Uuid::ZERO).then_some(t.topic_id);
            let name = match (&t.name, id) {
                (Some(name), _) => name.clone(),
                // v10+ names may be null for a topic asked for by id.
                (None, Some(id)) => match old.topic_by_id(id) {
                    Some(known) => known.name.clone(),
                    None => continue,
                },
                (None, None) => continue,
            };
            if !self.interest.contains(&name) || !seen.insert(name.clone()) {
                continue;
            }
            let previous = old.topics.get(&name);
            let code = ErrorCode::from(t.error_code);
            if code.is_err() {
                // Partial data: keep what we knew about the topic.
                incomplete |= code.needs_metadata_refresh();
                let topic = match previous {
                    Some(previous) => {
                        let mut kept = TopicMetadata::clone(previous);
                        kept.error = code;
                        kept
                    }
                    None => TopicMetadata::new(name.clone(), id, t.is_internal, code, Vec::new()),
                };
                next.topics.insert(name, Arc::new(topic));
                continue;
            }
            // A different id: the topic was deleted and created again, and
            // its epochs start afresh.
            let recreated =
                matches!((previous.and_then(|p| p.id), id), (Some(a), Some(b)) if a != b);
            let mut partitions = Vec::with_capacity(t.partitions.len());
            for p in &t.partitions {
                let fresh = partition_from_wire(p, reliable_epochs);
                let cached = previous
                    .filter(|_| !recreated)
                    .and_then(|prev| prev.partition(p.partition_index));
                let older = match (cached.and_then(|c| c.leader_epoch), fresh.leader_epoch) {
                    (Some(cached_epoch), Some(epoch)) => epoch < cached_epoch,
                    _ => false,
                };
                if older {
                    // Never backwards: keep ours, ask again.
                    incomplete = true;
                    partitions.extend(cached.cloned());
                    continue;
                }
                incomplete |= fresh.error.needs_metadata_refresh()
                    || fresh
                        .leader_id
                        .is_some_and(|leader| !next.brokers.contains_key(&leader));
                partitions.push(fresh);
            }
            let topic = TopicMetadata::new(name.clone(), id, t.is_internal, code, partitions);
            next.topics.insert(name, Arc::new(topic));
        }
        (next, incomplete)
    }

    /// Applies KIP-951 leader hints: a partition moves to the hinted leader
    /// when the hint's epoch is newer than the cached one (or the cache has
    /// none), the partition is cached, and the leader's endpoint is known
    /// (from the hints or the snapshot). Hinted endpoints replace the cached
    /// ones. Returns the partitions that moved; when any did, a new
    /// snapshot was made (no refresh needed for them).
    pub fn apply_leader_hints(&mut self, hints: &LeaderHints) -> Vec<(String, i32)> {
        let mut brokers = self.snapshot.brokers.clone();
        for endpoint in &hints.endpoints {
            brokers.insert(endpoint.node_id, endpoint.clone());
        }
        let mut topics = self.snapshot.topics.clone();
        let mut moved = Vec::new();
        for hint in &hints.leaders {
            let name = match &hint.topic {
                TopicKey::Name(name) => name.clone(),
                TopicKey::Id(id) => match self.snapshot.topic_by_id(*id) {
                    Some(topic) => topic.name.clone(),
                    None => continue,
                },
            };
            let Some(topic) = topics.get(&name) else {
                continue;
            };
            let Some(cached) = topic.partition(hint.partition) else {
                continue;
            };
            let newer = cached
                .leader_epoch
                .is_none_or(|epoch| hint.leader_epoch > epoch);
            if !newer || hint.leader_epoch < 0 || !brokers.contains_key(&hint.leader_id) {
                continue;
            }
            let updated = PartitionMetadata {
                leader_id: Some(hint.leader_id),
                leader_epoch: Some(hint.leader_epoch),
                ..cached.clone()
            };
            let topic = Arc::new(topic.with_partition(updated));
            topics.insert(name.clone(), topic);
            moved.push((name, hint.partition));
        }
        if !moved.is_empty() {
            let mut next = (*self.snapshot).clone();
            next.brokers = brokers;
            next.topics = topics;
            self.publish(next);
        }
        moved
    }

    /// Installs `next` as the snapshot, one version newer.
    fn publish(&mut self, mut next: MetadataSnapshot) {
        next.version = self.snapshot.version + 1;
        next.index_ids();
        self.snapshot = Arc::new(next);
    }
}

fn partition_from_wire(p: &MetadataResponsePartition, reliable_epochs: bool) -> PartitionMetadata {
    PartitionMetadata {
        partition: p.partition_index,
        leader_id: (p.leader_id >= 0).then_some(p.leader_id),
        leader_epoch: (reliable_epochs && p.leader_epoch >= 0).then_some(p.leader_epoch),
        replicas: p.replica_nodes.clone(),
        isr: p.isr_nodes.clone(),
        offline_replicas: p.offline_replicas.clone(),
        error: ErrorCode::from(p.error_code),
    }
}

#[cfg(test)]
mod tests;
