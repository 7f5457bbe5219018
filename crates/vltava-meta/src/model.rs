//! The cluster as the client knows it: [`MetadataSnapshot`], an immutable
//! value shared as `Arc`, made of [`Broker`]s, [`TopicMetadata`] and
//! [`PartitionMetadata`].
//!
//! A snapshot is built from a Metadata response by the
//! [`RefreshPolicy`](crate::RefreshPolicy) (or from an older snapshot and a
//! KIP-951 leader hint); nothing in it is ever mutated afterwards. Topics are
//! kept behind their own `Arc`, so a new snapshot that changes one topic
//! shares every other topic with the old one.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use vltava_wire::{ErrorCode, Uuid};

/// One broker of the cluster, as a Metadata response (or a KIP-951 node
/// endpoint) describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Broker {
    /// The broker's node id.
    pub node_id: i32,
    /// The host name or address it advertises.
    pub host: String,
    /// The port it advertises.
    pub port: u16,
    /// Its rack, if the broker has one configured.
    pub rack: Option<String>,
}

impl Broker {
    /// A broker description.
    pub fn new(node_id: i32, host: impl Into<String>, port: u16, rack: Option<String>) -> Self {
        Self {
            node_id,
            host: host.into(),
            port,
            rack,
        }
    }

    /// Builds a broker from wire values, or `None` when the port is not a
    /// TCP port (negative or above 65535): such a broker cannot be reached,
    /// and is left out rather than trusted.
    pub(crate) fn from_wire(
        node_id: i32,
        host: &str,
        port: i32,
        rack: Option<&str>,
    ) -> Option<Self> {
        let port = u16::try_from(port).ok().filter(|&p| p != 0)?;
        if host.is_empty() {
            return None;
        }
        Some(Self::new(node_id, host, port, rack.map(str::to_owned)))
    }

    /// The address to connect to, `host:port` (`[host]:port` for an IPv6
    /// literal), as [`vltava_net`] takes it.
    pub fn address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "broker {} at {}", self.node_id, self.address())
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionMetadata {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id, or `None` when there is no leader (the broker
    /// answered `-1`, e.g. during an election).
    pub leader_id: Option<i32>,
    /// The leader epoch, or `None` when unknown (brokers older than
    /// Metadata v9 do not send a reliable one).
    pub leader_epoch: Option<i32>,
    /// Every replica's node id.
    pub replicas: Vec<i32>,
    /// The in-sync replicas' node ids.
    pub isr: Vec<i32>,
    /// The offline replicas' node ids.
    pub offline_replicas: Vec<i32>,
    /// The partition's error code in the response it came from
    /// ([`ErrorCode::NONE`] when there was none).
    pub error: ErrorCode,
}

/// One topic: its id, whether it is internal, its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicMetadata {
    /// The topic's name.
    pub name: String,
    /// The topic id (Metadata v10+ from a broker that has ids), `None`
    /// when the broker sent none.
    pub id: Option<Uuid>,
    /// Whether it is one of Kafka's internal topics (`__consumer_offsets`, ...).
    pub is_internal: bool,
    /// The topic-level error code of the latest response that named this
    /// topic ([`ErrorCode::NONE`] when there was none). When it is an error,
    /// the partitions are those of the last response without one (empty if
    /// there never was one): a refresh that fails for one topic does not
    /// throw away what was known about it.
    pub error: ErrorCode,
    /// The partitions, sorted by index, without duplicates.
    partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// A topic with these partitions (sorted by index; for a duplicated
    /// index, the last one wins).
    pub(crate) fn new(
        name: String,
        id: Option<Uuid>,
        is_internal: bool,
        error: ErrorCode,
        mut partitions: Vec<PartitionMetadata>,
    ) -> Self {
        // Stable sort, then keep the last of each run of equal indexes.
        partitions.sort_by_key(|p| p.partition);
        let mut deduped: Vec<PartitionMetadata> = Vec::with_capacity(partitions.len());
        for p in partitions {
            match deduped.last_mut() {
                Some(last) if last.partition == p.partition => *last = p,
                _ => deduped.push(p),
            }
        }
        Self {
            name,
            id,
            is_internal,
            error,
            partitions: deduped,
        }
    }

    /// The partitions, sorted by index.
    pub fn partitions(&self) -> &[PartitionMetadata] {
        &self.partitions
    }

    /// One partition, if the topic has it.
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        self.partitions
            .binary_search_by_key(&partition, |p| p.partition)
            .ok()
            .map(|i| &self.partitions[i])
    }

    /// How many partitions are known.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// Replaces one partition (or adds it), keeping the order.
    pub(crate) fn with_partition(&self, partition: PartitionMetadata) -> Self {
        let mut topic = self.clone();
        match topic
            .partitions
            .binary_search_by_key(&partition.partition, |p| p.partition)
        {
            Ok(i) => topic.partitions[i] = partition,
            Err(i) => topic.partitions.insert(i, partition),
        }
        topic
    }
}

/// The leader of a partition: the broker, and the epoch of its leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Leader<'a> {
    /// The leading broker (its address is [`Broker::address`]).
    pub broker: &'a Broker,
    /// The leader epoch, `None` when the broker did not send one.
    pub epoch: Option<i32>,
}

/// An immutable picture of the cluster: brokers, controller, cluster id and
/// the topics of interest. Shared as `Arc<MetadataSnapshot>`.
///
/// Lookups never panic on inconsistent broker input: a partition whose
/// leader id names no known broker has no [`MetadataSnapshot::leader`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    pub(crate) version: u64,
    pub(crate) cluster_id: Option<String>,
    pub(crate) controller_id: Option<i32>,
    pub(crate) brokers: BTreeMap<i32, Broker>,
    pub(crate) topics: BTreeMap<String, Arc<TopicMetadata>>,
    pub(crate) topic_ids: HashMap<Uuid, String>,
}

impl MetadataSnapshot {
    /// The empty snapshot a client starts from (version 0: nothing known yet).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The snapshot's version: 0 for the empty one, then one more for every
    /// snapshot the policy makes (a refresh or an applied leader hint).
    /// Within one policy, a higher version is a newer snapshot.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether nothing is known yet (no broker has answered).
    pub fn is_empty(&self) -> bool {
        self.brokers.is_empty() && self.topics.is_empty()
    }

    /// The cluster id, when the broker sent one (Metadata v2+).
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The controller id the broker named, if any. In KRaft clusters this
    /// is a random live broker, not the active controller (Kafka hides the
    /// controller from clients).
    pub fn controller_id(&self) -> Option<i32> {
        self.controller_id
    }

    /// The broker [`MetadataSnapshot::controller_id`] names, if it is known.
    pub fn controller(&self) -> Option<&Broker> {
        self.controller_id.and_then(|id| self.brokers.get(&id))
    }

    /// Every known broker, by node id.
    pub fn brokers(&self) -> impl ExactSizeIterator<Item = &Broker> {
        self.brokers.values()
    }

    /// One broker by node id.
    pub fn broker(&self, node_id: i32) -> Option<&Broker> {
        self.brokers.get(&node_id)
    }

    /// The broker listening at `address` (`host:port`, as [`Broker::address`] writes it).
    pub fn broker_at(&self, address: &str) -> Option<&Broker> {
        self.brokers.values().find(|b| b.address() == address)
    }

    /// Every known topic, by name.
    pub fn topics(&self) -> impl ExactSizeIterator<Item = &Arc<TopicMetadata>> {
        self.topics.values()
    }

    /// One topic by name.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    /// One topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&Arc<TopicMetadata>> {
        self.topic_ids
            .get(&id)
            .and_then(|name| self.topics.get(name))
    }

    /// One partition of a topic.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topics.get(topic)?.partition(partition)
    }

    /// The leader of `topic`'s `partition`: its broker and epoch. `None`
    /// when the partition is unknown, has no leader, or its leader is not
    /// among the known brokers.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<Leader<'_>> {
        let p = self.partition(topic, partition)?;
        let broker = self.brokers.get(&p.leader_id?)?;
        Some(Leader {
            broker,
            epoch: p.leader_epoch,
        })
    }

    /// The partitions whose leader (node id) in `newer` differs from this
    /// snapshot's, as `topic-partition` (for logs).
    pub(crate) fn leaders_moved(&self, newer: &MetadataSnapshot) -> Vec<String> {
        let mut moved = Vec::new();
        for (name, topic) in &newer.topics {
            let Some(old) = self.topics.get(name) else {
                continue;
            };
            if Arc::ptr_eq(old, topic) {
                continue;
            }
            for p in topic.partitions() {
                let before = old.partition(p.partition).and_then(|o| o.leader_id);
                if before.is_some() && before != p.leader_id {
                    moved.push(format!("{name}-{}", p.partition));
                }
            }
        }
        moved
    }

    /// Rebuilds the id index after the topics changed.
    pub(crate) fn index_ids(&mut self) {
        self.topic_ids = self
            .topics
            .values()
            .filter_map(|t| Some((t.id?, t.name.clone())))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(index: i32, leader: Option<i32>) -> PartitionMetadata {
        PartitionMetadata {
            partition: index,
            leader_id: leader,
            leader_epoch: Some(3),
            replicas: vec![1, 2],
            isr: vec![1],
            offline_replicas: vec![],
            error: ErrorCode::NONE,
        }
    }

    #[test]
    fn lookups_find_leaders_topics_and_brokers() {
        let mut snapshot = MetadataSnapshot::empty();
        assert!(snapshot.is_empty());
        snapshot
            .brokers
            .insert(1, Broker::new(1, "127.0.0.1", 9092, None));
        let id = Uuid::from_u128(7);
        let topic = TopicMetadata::new(
            "t".into(),
            Some(id),
            false,
            ErrorCode::NONE,
            vec![partition(1, Some(9)), partition(0, Some(1))],
        );
        snapshot.topics.insert("t".into(), Arc::new(topic));
        snapshot.index_ids();
        snapshot.controller_id = Some(5);

        let leader = snapshot.leader("t", 0).unwrap();
        assert_eq!(leader.broker.address(), "127.0.0.1:9092");
        assert_eq!(leader.epoch, Some(3));
        // Leader 9 is no known broker: no leader, and no panic.
        assert_eq!(snapshot.leader("t", 1), None);
        assert_eq!(snapshot.partition("t", 1).unwrap().leader_id, Some(9));
        assert_eq!(snapshot.leader("t", 2), None);
        assert_eq!(snapshot.leader("u", 0), None);
        assert_eq!(snapshot.topic_by_id(id).unwrap().name, "t");
        assert!(snapshot.topic_by_id(Uuid::from_u128(8)).is_none());
        assert_eq!(snapshot.controller(), None);
        assert_eq!(snapshot.broker_at("127.0.0.1:9092").unwrap().node_id, 1);
        let partitions: Vec<i32> = snapshot
            .topic("t")
            .unwrap()
            .partitions()
            .iter()
            .map(|p| p.partition)
            .collect();
        assert_eq!(partitions, [0, 1]);
    }

    #[test]
    fn leaders_moved_names_partitions_whose_leader_changed() {
        let snapshot_with = |leaders: [Option<i32>; 3]| {
            let mut snapshot = MetadataSnapshot::empty();
            let partitions = leaders
                .iter()
                .enumerate()
                .map(|(i, &leader)| partition(i as i32, leader))
                .collect();
            let topic = TopicMetadata::new("t".into(), None, false, ErrorCode::NONE, partitions);
            snapshot.topics.insert("t".into(), Arc::new(topic));
            snapshot
        };
        let before = snapshot_with([Some(1), Some(2), None]);
        // p0 moved, p1 stayed, p2 got its first leader (not a move).
        let after = snapshot_with([Some(3), Some(2), Some(1)]);
        assert_eq!(before.leaders_moved(&after), ["t-0"]);
        assert!(before.leaders_moved(&before).is_empty());
        assert!(MetadataSnapshot::empty().leaders_moved(&after).is_empty());
    }

    #[test]
    fn duplicate_partitions_keep_the_last() {
        let mut second = partition(0, Some(2));
        second.leader_epoch = Some(9);
        let topic = TopicMetadata::new(
            "t".into(),
            None,
            false,
            ErrorCode::NONE,
            vec![partition(0, Some(1)), second.clone()],
        );
        assert_eq!(topic.partitions(), [second]);
    }

    #[test]
    fn broker_addresses_and_invalid_ports() {
        assert_eq!(Broker::new(1, "::1", 9092, None).address(), "[::1]:9092");
        assert_eq!(Broker::new(1, "[::1]", 9092, None).address(), "[::1]:9092");
        assert_eq!(
            Broker::new(1, "kafka-1", 9092, None).address(),
            "kafka-1:9092"
        );
        assert!(Broker::from_wire(1, "h", -1, None).is_none());
        assert!(Broker::from_wire(1, "h", 70_000, None).is_none());
        assert!(Broker::from_wire(1, "", 9092, None).is_none());
        let b = Broker::from_wire(1, "h", 9092, Some("r1")).unwrap();
        assert_eq!(b.rack.as_deref(), Some("r1"));
    }
}
