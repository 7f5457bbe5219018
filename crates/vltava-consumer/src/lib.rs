//! `vltava-consumer`: Vltava's consumer, layer 5 on the consuming side.
//!
//! Work in progress. Present so far: [`fetch_session`], the KIP-227 fetch
//! session bookkeeping, sans-IO: which partitions a Fetch request must
//! name (all of them in a full fetch, only what changed in an incremental
//! one, the forgotten ones apart), and what the broker's answer does to
//! the session. The fetcher that drives it, positions, offset resets and
//! the high-level consumer follow.
//!
//! What it does not do: no group membership (that is `vltava-group`), no
//! producing.

pub mod fetch_session;

pub use vltava_meta::TopicPartition;
