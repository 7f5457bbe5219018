//! `vltava-group`: Vltava's consumer group membership, layer 4.
//!
//! Work in progress. It will hold the member state machines of the
//! classic protocol (JoinGroup/SyncGroup/Heartbeat) and of KIP-848
//! (ConsumerGroupHeartbeat), sans-IO, driven by scripted responses and
//! simulated time in their tests; the client-side assignors; offset
//! commits that never move backwards; and the tokio driver that runs a
//! member over `vltava-net` and `vltava-meta`.
//!
//! Present so far: the configuration ([`GroupConfig`]), the events a
//! member reports ([`GroupEvent`]), the assignors (`range`, `roundrobin`,
//! `sticky`, `cooperative-sticky` in [`assignor`]) and the consumer
//! protocol codec for subscriptions and assignments ([`protocol`]), the
//! sans-IO members of the classic protocol ([`classic::ClassicMember`])
//! and of KIP-848 ([`ConsumerMember`], in [`consumer_protocol`]) (their
//! tokio driver comes later), and committed offsets
//! ([`offsets::CommitTracker`]: commits never move backwards, late answers
//! never rewind, lost partitions are never committed).
//!
//! What it does not do: no fetching and no record handling (that is
//! `vltava-consumer`), no producing.

pub mod assignor;
pub mod classic;
mod config;
pub mod consumer_protocol;
mod driver;
mod event;
pub mod offsets;
pub mod protocol;

pub use classic::ClassicMember;
pub use config::{GroupConfig, GroupProtocol};
pub use consumer_protocol::ConsumerMember;
pub use driver::{DriverOptions, GroupError, GroupMember};
pub use event::{GroupEvent, MemberIdentity};
pub use vltava_meta::TopicPartition;
