//! `vltava`: the facade of Vltava, a pure-Rust Apache Kafka client, at the
//! top of its layers.
//!
//! It is the crate applications depend on. Today it holds the admin client,
//! [`Admin`], and re-exports what a user of the layers below needs: the
//! [`Producer`] with its configuration and records, the [`Consumer`] of
//! assigned partitions, the metadata cache ([`MetadataClient`]), the
//! transport's configuration and errors, and Kafka's error codes
//! ([`ErrorCode`]). The layers themselves are re-exported whole as
//! [`wire`], [`net`], [`meta`], [`group`], [`producer`] and [`consumer`].
//!
//! ```no_run
//! use vltava::{Admin, AdminConfig, NewTopic, OffsetSpec, Producer, ProducerConfig, ProducerRecord};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let bootstrap = "127.0.0.1:9092";
//! let admin = Admin::new(bootstrap, AdminConfig::new())?;
//! // Waits until the brokers' metadata shows the topic: producing may start at once.
//! admin.create_topic(NewTopic::new("orders", 3, 3)).await?;
//!
//! let producer = Producer::new(bootstrap, ProducerConfig::new())?;
//! producer.send(ProducerRecord::new("orders", "paid")).await?.await?;
//! producer.close().await;
//!
//! for (partition, end) in admin.topic_offsets("orders", OffsetSpec::Latest).await? {
//!     println!("orders-{partition}: {:?}", end.offset);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What the admin client does: topics (create with configs, delete, list,
//! describe with configs, alter configs, add partitions), the cluster (id,
//! controller, brokers with racks, feature flags), offsets (earliest,
//! latest, by timestamp, max timestamp) and groups (list, describe classic and KIP-848 groups,
//! committed offsets, lag, delete). Each request goes where it belongs
//! (any broker, the group's coordinator, the partition's leader), and
//! retriable failures are retried with capped backoff within one timeout
//! per call. Calls about many topics or groups answer for each separately.
//!
//! The [`Consumer`] reads assigned partitions ([`Consumer::assign`]) or
//! joins a group ([`Consumer::subscribe`]); [`exactly_once`] ties a group
//! consumer's offsets to a producer transaction. Examples are in the
//! crate's `examples/` folder.
//!
//! What this crate does not do yet: there is no `Client` (one handle
//! sharing connections and metadata between producer, consumer and admin).
//! Until then, share one [`MetadataClient`] between
//! [`Producer::with_metadata`], [`Consumer::with_metadata`] (or
//! [`Consumer::with_group`]) and [`Admin::with_metadata`]. The admin client
//! alters no broker configs, ACLs, quotas, reassignments or group offsets
//! (topic configs it does, with [`Admin::alter_topic_config`]), and it
//! never waits for more than the brokers' metadata after a topic change.

mod admin;
pub mod exactly_once;

pub use admin::{
    Admin, AdminConfig, AdminError, ClusterDescription, CommittedOffset, ConfigChange, ConfigEntry,
    ConfigSource, CreateTopicsOptions, CreatedTopic, FeatureMetadata, FinalizedFeature,
    GroupDescription, GroupLag, GroupListing, GroupMember, GroupType, ListGroupsOptions,
    ListedOffset, NewTopic, OffsetSpec, PartitionDescription, PartitionLag, SupportedFeature,
    TopicDescription, TopicListing,
};

pub use vltava_consumer::{
    ConsumeError, Consumer, ConsumerConfig, ConsumerRecord, Fetches, Isolation, OffsetReset,
};
pub use vltava_group::{GroupConfig, GroupEvent, GroupProtocol};
pub use vltava_meta::{
    Broker, Interest, MetaError, MetadataClient, MetadataConfig, MetadataSnapshot,
};
pub use vltava_net::{BrokerPool, ConnectionConfig, NetError, PoolConfig, Purpose, Recovery};
pub use vltava_producer::{
    Acks, ConsumerGroupMetadata, Delivery, ProduceError, Producer, ProducerConfig, ProducerRecord,
    RecordMetadata, TopicPartition,
};
pub use vltava_wire::{Compression, ErrorCode, Uuid};

/// The wire codec, layer 1 (`vltava-wire`): generated messages, record batches, error codes.
pub use vltava_wire as wire;

/// The transport, layer 2 (`vltava-net`): connections, the broker pool, failure classes.
pub use vltava_net as net;

/// The metadata cache, layer 3 (`vltava-meta`).
pub use vltava_meta as meta;

/// Group membership, layer 4 (`vltava-group`).
pub use vltava_group as group;

/// The producer (`vltava-producer`).
pub use vltava_producer as producer;

/// The consumer (`vltava-consumer`).
pub use vltava_consumer as consumer;
