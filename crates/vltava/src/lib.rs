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
//! consumer's offsets to a producer transaction, and rewinds the consumer
//! to its committed offsets after an abort
//! ([`exactly_once::rewind_to_committed`]). Examples are in the crate's
//! `examples/` folder.
//!
//! # The consumer in five minutes
//!
//! Build one with [`Consumer::builder`]: the bootstrap brokers, a group
//! and what it subscribes to (topics, or a regex), and any setting whose
//! default (the Java client's) does not suit; each setting's docs on
//! [`ConsumerBuilder`] give its Java name and default, and
//! `docs/configuration.md` has them in one table. `build` refuses bad
//! values with a typed [`ConfigError`]. The consumer fetches ahead in
//! the background; [`Consumer::poll`] hands out what arrived, applies the
//! group's events (partitions start at the committed offsets; revoked
//! ones are committed before they go) and reports errors. A broker
//! restarting is never fatal: it shows as non-fatal errors
//! ([`ConsumeError::is_fatal`] is false) while the client recovers. After
//! a leader change the position is validated against the new leader's log
//! (OffsetForLeaderEpoch, as the Java client does): a log an unclean
//! election truncated below it is reported ([`ConsumeError::Truncated`],
//! or, with [`OffsetReset::None`], the fatal
//! [`ConsumeError::LogTruncation`] until a `seek`). [`Consumer::pause`]
//! and [`Consumer::resume`] stop and restart partitions in place;
//! [`Consumer::close`] is bounded even with every broker down.
//!
//! **A group, auto-commit.** By default `poll` commits every 5 s what
//! earlier polls handed out: records are committed once the application
//! came back for more (at-least-once).
//!
//! ```no_run
//! use std::time::Duration;
//! use vltava::{Consumer, OffsetReset};
//!
//! # async fn run() -> Result<(), vltava::ConsumeError> {
//! let consumer = Consumer::builder("127.0.0.1:9092")
//!     .group_id("billing")
//!     .subscribe(["orders"])
//!     .auto_offset_reset(OffsetReset::Earliest)
//!     .build()?;
//! loop {
//!     let fetches = consumer.poll(Duration::from_secs(1)).await;
//!     for error in &fetches.errors {
//!         if error.is_fatal() {
//!             consumer.close().await?;
//!             return Err(error.clone());
//!         }
//!         eprintln!("recovering: {error}"); // a broker restarting, ...
//!     }
//!     for record in fetches.records() {
//!         println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//!     }
//! #   break;
//! }
//! # consumer.close().await
//! # }
//! ```
//!
//! **Manual commits.** Turn auto-commit off and commit when the work is
//! done: [`Consumer::commit`] commits the positions of everything `poll`
//! handed out (it never moves an offset backwards), and
//! [`Consumer::committed`] reads what the group has.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use vltava::{Consumer, TopicPartition};
//! # async fn run() -> Result<(), vltava::ConsumeError> {
//! let consumer = Consumer::builder("127.0.0.1:9092")
//!     .group_id("billing")
//!     .subscribe(["orders"])
//!     .enable_auto_commit(false)
//!     .build()?;
//! let fetches = consumer.poll(Duration::from_secs(1)).await;
//! for record in fetches.records() { /* store it */ }
//! consumer.commit().await?;
//! let committed = consumer.committed(&[TopicPartition::new("orders", 0)]).await?;
//! println!("orders-0 committed at {:?}", committed.values().next());
//! consumer.close().await // commits, leaves the group, stops
//! # }
//! ```
//!
//! **Marks**, for records finished out of order or later than the next
//! poll: [`Consumer::mark`] each record once it is done, and commit the
//! marks with [`Consumer::commit_marked`], or let the consumer do it with
//! [`ConsumerBuilder::auto_commit_marks`] (auto-commit, revocation and
//! `close` then commit marks only, as franz-go's `AutoCommitMarks`). A
//! mark never moves back.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use vltava::Consumer;
//! # async fn run() -> Result<(), vltava::ConsumeError> {
//! let consumer = Consumer::builder("127.0.0.1:9092")
//!     .group_id("billing")
//!     .subscribe_pattern("orders-.*") // every topic named orders-..., new ones too
//!     .auto_commit_marks(true)
//!     .build()?;
//! let fetches = consumer.poll(Duration::from_secs(1)).await;
//! for record in fetches.records() {
//!     // ... hand it to a worker; when the worker is done:
//!     consumer.mark(record);
//! }
//! consumer.commit_marked().await?; // or wait for the next auto-commit
//! # Ok(())
//! # }
//! ```
//!
//! **A stream.** [`Consumer::stream`] is a [`Stream`](https://docs.rs/futures-core/0.3/futures_core/stream/trait.Stream.html) of
//! `Result<ConsumerRecord, ConsumeError>` ([`RecordStream`]): non-fatal
//! errors come as items and the stream goes on; after a fatal one it
//! ends. Group events come on the side, from [`Consumer::events`].
//!
//! ```no_run
//! # use vltava::{Consumer, GroupEvent};
//! # async fn run(consumer: Consumer) -> Result<(), vltava::ConsumeError> {
//! let mut events = consumer.events();
//! tokio::spawn(async move {
//!     while let Ok(event) = events.recv().await {
//!         if let GroupEvent::Assigned(partitions) = event {
//!             println!("now reading {partitions:?}");
//!         }
//!     }
//! });
//! let mut records = consumer.stream();
//! while let Some(item) = records.next().await {
//!     match item {
//!         Ok(record) => println!("{}@{}", record.partition, record.offset),
//!         Err(e) if e.is_fatal() => return Err(e),
//!         Err(e) => eprintln!("recovering: {e}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! **What it is doing.** [`Consumer::metrics`] is a snapshot of its
//! figures (records and bytes fetched, fetch requests and errors,
//! rebalances, partitions lost, errors, commits, lag); the same figures
//! go to the [`metrics`](https://docs.rs/metrics) facade for applications
//! that install a recorder (names in `docs/configuration.md`). Recovery
//! (coordinator lookups, rejoins with their backoff, lost sessions,
//! leader changes, reconnects) is told through [`tracing`](https://docs.rs/tracing)
//! spans and events; the library installs no subscriber and no recorder.
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
    CommitOffset, ConfigError, ConsumeError, Consumer, ConsumerBuilder, ConsumerConfig,
    ConsumerMetrics, ConsumerRecord, FetchRate, Fetches, Isolation, OffsetReset, RecordStream,
};
pub use vltava_group::{GroupConfig, GroupEvent, GroupProtocol, Subscription, TopicPattern};
pub use vltava_meta::{
    Broker, Interest, MetaError, MetadataClient, MetadataConfig, MetadataSnapshot,
};
pub use vltava_net::{
    BrokerPool, ConnectionConfig, NetError, PoolConfig, Purpose, Recovery, Sasl, TlsConfig,
};
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
