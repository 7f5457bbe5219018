//! `vltava-producer`: Vltava's producer, layer 5 on the producing side.
//!
//! It builds on `vltava-meta` (which broker leads each partition) and
//! `vltava-net` (connections), and adds what producing needs: records
//! gathered into one batch per partition (`batch_size`, `linger`),
//! compressed with any codec, placed by the Java client's murmur2 for
//! keyed records and a sticky partition for the others; a bounded buffer
//! with backpressure; acks 0, 1 or all; and idempotence, on by default:
//! a producer id and a sequence per partition, so that retries after a
//! broker restart neither lose, duplicate nor reorder records. The
//! defaults are the Java client's; [`ProducerConfig::for_throughput`]
//! batches up to a megabyte, as librdkafka and franz-go do by default,
//! and sends requests of up to 4 MiB.
//!
//! How it works: [`Producer::send`] appends to the accumulator
//! (`accumulator.rs`, plain data); one sender task (`sender.rs`) takes
//! ready batches, groups them by leader into Produce requests on the
//! pool's produce connections, and handles the answers; a batch's records
//! are copied once, into its buffer, which goes to the socket as it is
//! (uncompressed) or compressed once; `idempotence.rs` keeps the
//! sequences and says when they must start over.
//!
//! Transactions (`txn.rs`): with a `transactional_id`, records and
//! consumed offsets are committed or aborted together, and a newer
//! producer with the same id fences this one.
//!
//! What it does not do: no consuming, no group membership.

mod accumulator;
mod config;
mod error;
mod idempotence;
mod outcome;
pub mod partitioner;
mod producer;
mod record;
mod sender;
mod txn;

pub use config::{Acks, ProducerConfig};
pub use error::ProduceError;
pub use outcome::Delivery;
pub use producer::{Producer, ProducerStats};
pub use record::{CommitOffset, ProducerRecord, RecordMetadata, TopicPartition};
pub use txn::ConsumerGroupMetadata;
