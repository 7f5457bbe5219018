//! `vltava-meta`: Vltava's metadata cache, layer 3.
//!
//! It knows the cluster, and only the cluster: its brokers (node id, host,
//! port, rack), the controller and cluster ids, and for each topic of
//! interest its id, whether it is internal, and each partition's leader,
//! leader epoch, replicas, in-sync and offline replicas and error code. It
//! keeps that picture fresh, and it answers "who leads `orders`-3, at which
//! epoch, and where do I connect to it?".
//!
//! It has two parts, in the sans-IO shape of the whole client:
//!
//! - [`RefreshPolicy`], a plain state machine with no I/O and no clock: it
//!   owns the current [`MetadataSnapshot`], takes Metadata responses,
//!   failures, error codes other layers saw, KIP-951 leader hints and
//!   `now: Instant`, and hands out the next refresh to make (which broker,
//!   which topics) and when. Its unit tests use simulated time.
//! - [`MetadataClient`], the thin tokio driver: it runs the policy in a
//!   background task over a [`vltava_net::BrokerPool`], resolves the
//!   bootstrap list (DNS) when the policy falls back to it, and publishes
//!   each snapshot on a `tokio::sync::watch` channel.
//!
//! Snapshots are immutable and shared as `Arc`; reading the current one is
//! a clone of an `Arc`.
//!
//! ```no_run
//! use vltava_meta::{Interest, MetadataClient, MetadataConfig};
//! use vltava_net::{BrokerPool, PoolConfig};
//!
//! # async fn run() -> Result<(), vltava_meta::MetaError> {
//! let pool = BrokerPool::new(PoolConfig::default());
//! let config = MetadataConfig::new().interest(Interest::topics(["orders"]));
//! let client = MetadataClient::new("127.0.0.1:9092", pool, config)?;
//! let snapshot = client.refresh().await?;
//! if let Some(leader) = snapshot.leader("orders", 0) {
//!     println!("orders-0: {} at epoch {:?}", leader.broker.address(), leader.epoch);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The invariants: a partition's leader epoch never moves backwards; the
//! policy never starts a refresh sooner than the minimum interval after the
//! previous one ended, and never two at once; a topic that comes back with
//! an error keeps what was known of it.
//!
//! What it deliberately does not do: no group logic (coordinators are
//! `vltava-group`'s business), no fetching or producing, no offsets. It
//! does not connect to leaders on anyone's behalf: other layers read the
//! snapshot, talk to brokers themselves through the pool, and report back
//! the errors and leader hints they see. It does hold the two plain
//! types the layers above share and that would otherwise need a common
//! home: [`TopicPartition`] and [`CommitOffset`] (an offset with its
//! leader epoch and metadata, which the group commits and the producer
//! commits in transactions).

mod client;
mod commit_offset;
mod config;
mod error;
mod hints;
mod model;
pub mod policy;
mod topic_partition;

pub use client::{MetadataClient, RefreshStats, parse_bootstrap};
pub use commit_offset::CommitOffset;
pub use config::{Interest, MetadataConfig};
pub use error::MetaError;
pub use hints::{LeaderHint, LeaderHints, TopicKey};
pub use model::{Broker, Leader, MetadataSnapshot, PartitionMetadata, TopicMetadata};
pub use policy::{RefreshId, RefreshPolicy, RefreshReason, RefreshRequest, RefreshTarget};
pub use topic_partition::TopicPartition;
