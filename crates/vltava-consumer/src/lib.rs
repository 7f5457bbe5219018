//! `vltava-consumer`: Vltava's consumer, layer 5 on the consuming side.
//!
//! Work in progress. Present so far:
//!
//! - [`fetch_session`], the KIP-227 fetch session bookkeeping, sans-IO:
//!   which partitions a Fetch request must name (all of them in a full
//!   fetch, only what changed in an incremental one, the forgotten ones
//!   apart), and what the broker's answer does to the session.
//! - [`Consumer`] for assigned partitions: a fetcher task keeps one fetch
//!   in flight per leader (each with its session), resets positions by
//!   the policy (ListOffsets), buffers within `buffer_bytes`, follows
//!   leader changes (metadata refresh, KIP-951 hints); `poll` hands out
//!   records as views of the fetched batches, skipping control batches and,
//!   under read_committed, aborted transactions.
//!
//! Still to come: group subscription and commits (on `vltava-group`),
//! position validation with OffsetForLeaderEpoch (KIP-320), a `Stream`.
//!
//! What it does not do: no group membership (that is `vltava-group`), no
//! producing.

mod config;
mod consumer;
mod error;
pub mod fetch_session;
mod fetcher;
mod record;

pub use config::{ConsumerConfig, Isolation, OffsetReset};
pub use consumer::Consumer;
pub use error::ConsumeError;
pub use record::{ConsumerRecord, Fetches};

pub use vltava_meta::TopicPartition;
