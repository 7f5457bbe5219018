//! `vltava-consumer`: Vltava's consumer, layer 5 on the consuming side.
//!
//! Present so far:
//!
//! - [`fetch_session`], the KIP-227 fetch session bookkeeping, sans-IO:
//!   which partitions a Fetch request must name (all of them in a full
//!   fetch, only what changed in an incremental one, the forgotten ones
//!   apart), and what the broker's answer does to the session.
//! - [`Consumer`], of assigned partitions ([`Consumer::assign`]) or of a
//!   group ([`Consumer::subscribe`]): a fetcher task keeps one fetch in
//!   flight per leader (each with its session), fetching a broker again
//!   once everything it answered was handed out; resets positions by the
//!   policy (ListOffsets); buffers within `buffer_bytes`; follows leader
//!   changes (metadata refresh, KIP-951 hints); backs off a partition
//!   answered with a retriable error (`retry_backoff`, doubling up to
//!   `retry_backoff_max`, KIP-580) while its broker's other partitions
//!   are fetched, until a new leader or an answer without error.
//!   Positions are validated (KIP-320) as the Java client and franz-go
//!   do: after a leader change (a newer leader epoch in the metadata) and
//!   after a start or a seek at an offset that carries a leader epoch
//!   (committed offsets do), an
//!   OffsetForLeaderEpoch request asks the leader where the epoch of the
//!   last record read ends in its log before the partition is fetched
//!   again; a Fetch answer's diverging epoch says the same. A log
//!   truncated below the position moves it back to where the logs agree
//!   ([`ConsumeError::Truncated`], not fatal), or, with reset policy
//!   `None`, stops the partition with [`ConsumeError::LogTruncation`]
//!   (Java's `LogTruncationException`). `poll` hands out records as
//!   views of the fetched batches, skipping control batches and, under
//!   read_committed, aborted transactions. Fetched answers are decoded
//!   (CRC checks, decompression) once, ahead of `poll`, on tokio's
//!   blocking pool for the first 2 MiB buffered (as franz-go and
//!   librdkafka decode on their fetch goroutines and broker threads; the
//!   Java client decodes in `poll`), and by `poll` for the rest. In a
//!   group, `poll` also applies the group's events: partitions start at
//!   the committed offsets, a revocation commits first, a loss commits
//!   nothing, and auto-commit commits only what earlier polls handed out
//!   (at-least-once).
//!
//! - [`ConsumerBuilder`] ([`Consumer::builder`]): every setting, with
//!   its Java name and default in its docs, checked at `build`
//!   ([`ConfigError`]); a group subscription to topics or to a regex
//!   ([`ConsumerBuilder::subscribe_pattern`], matched on the client
//!   against the metadata and followed as topics come and go).
//! - Offsets: [`Consumer::commit`] (the positions), [`Consumer::committed`]
//!   (what the group has, OffsetFetch with `require_stable`), and marks
//!   ([`Consumer::mark`], [`Consumer::commit_marked`];
//!   [`ConsumerConfig::commit_marks`] makes auto-commit, revocation and
//!   `close` commit marks only, as franz-go's `AutoCommitMarks`).
//! - [`Consumer::stream`], a `futures_core::Stream` of records
//!   ([`RecordStream`]), with group events on the side
//!   ([`Consumer::events`]).
//! - Figures: [`Consumer::metrics`], and the same through the `metrics`
//!   facade (names in [`metrics`]); `tracing` events on the recovery
//!   paths (a broker backing off, leaders moving, the position moving
//!   back after a log truncation). No recorder and no subscriber is
//!   installed by the library.
//!
//! Behind the `bench-internals` feature, a hidden `bench_internals`
//! module drives the path from a decoded Fetch answer to `poll`'s records
//! by hand, for the benches; it is not an API.
//!
//! What it does not do: the group protocol itself (that is
//! `vltava-group`'s `GroupMember`, which the consumer drives), no
//! producing.

#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_internals;
mod builder;
mod config;
mod consumer;
mod error;
pub mod fetch_session;
mod fetcher;
pub mod metrics;
mod prepare;
mod record;
mod stream;

pub use builder::{ConfigError, ConsumerBuilder};
pub use config::{ConsumerConfig, Isolation, OffsetReset};
pub use consumer::Consumer;
pub use error::ConsumeError;
pub use metrics::{ConsumerMetrics, FetchRate};
pub use record::{ConsumerRecord, Fetches};
pub use stream::RecordStream;
pub use vltava_group::offsets::CommitOffset;
pub use vltava_group::{GroupEvent, GroupProtocol, Subscription, TopicPattern};

pub use vltava_meta::TopicPartition;
