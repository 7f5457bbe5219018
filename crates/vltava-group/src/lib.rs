//! `vltava-group`: Vltava's consumer group membership, layer 4.
//!
//! It builds on `vltava-net` (the broker pool, [`vltava_net::Recovery`])
//! and `vltava-meta` (the metadata client), and holds:
//!
//! - the configuration ([`GroupConfig`]) and the events a member reports
//!   ([`GroupEvent`]);
//! - the member state machines, sans-IO, driven by scripted responses and
//!   simulated time in their tests: the classic protocol
//!   ([`classic::ClassicMember`]: JoinGroup/SyncGroup/Heartbeat) and
//!   KIP-848 ([`ConsumerMember`], in [`consumer_protocol`]:
//!   ConsumerGroupHeartbeat);
//! - the client-side assignors (`range`, `roundrobin`, `sticky`,
//!   `cooperative-sticky` in [`assignor`]) and the consumer protocol codec
//!   for subscriptions and assignments ([`protocol`]);
//! - committed offsets ([`offsets::CommitTracker`]: commits never move
//!   backwards, late answers never rewind, lost partitions are never
//!   committed);
//! - [`GroupMember`], the tokio driver that runs one member over the
//!   broker pool and the metadata client: events in order and one at a
//!   time ([`GroupMember::next_event`]), revocations acknowledged by the
//!   application before the member goes on ([`GroupMember::ack_revoked`]),
//!   commits and offset reads as the member's current identity
//!   ([`GroupMember::commit`], [`GroupMember::committed`]), a bounded
//!   [`GroupMember::leave`]. Retriable failures never end it; they come as
//!   [`GroupEvent::SessionError`]. A member subscribes to topics or to a
//!   regex ([`Subscription`], [`GroupMember::with_subscription`]), matched
//!   against the metadata on the client and followed as topics come and
//!   go. A KIP-848 member whose coordinator does
//!   not speak ConsumerGroupHeartbeat goes on as a classic member
//!   ([`GroupEvent::FellBackToClassic`]).
//!
//! ```no_run
//! use vltava_group::{GroupConfig, GroupEvent, GroupMember};
//! use vltava_meta::{MetadataClient, MetadataConfig};
//! use vltava_net::{BrokerPool, PoolConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = BrokerPool::new(PoolConfig::default());
//! let meta = MetadataClient::new("127.0.0.1:9092", pool, MetadataConfig::new())?;
//! let member = GroupMember::new(meta, GroupConfig::new("billing"), ["orders"])?;
//! while let Some(event) = member.next_event().await {
//!     if let GroupEvent::Revoked(_) = event {
//!         // commit what was processed of them here; then:
//!         member.ack_revoked();
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What it does not do: no fetching and no record handling (that is
//! `vltava-consumer`), no producing.

pub mod assignor;
pub mod classic;
mod config;
pub mod consumer_protocol;
pub mod driver;
mod event;
pub mod offsets;
pub mod protocol;
mod subscription;

pub use classic::ClassicMember;
pub use config::{GroupConfig, GroupProtocol};
pub use consumer_protocol::ConsumerMember;
pub use driver::{DriverOptions, GroupError, GroupMember, Pending, PendingCommit, PendingOffsets};
pub use event::{GroupEvent, MemberIdentity};
pub use subscription::{Subscription, TopicPattern};
pub use vltava_meta::TopicPartition;
