//! `vltava-chaos`: the reliability suite. Dev-only, like the testkit; never
//! a dependency of a library crate.
//!
//! It proves the project's main claim against real broker failures: a
//! consumer group of 3 members on a 3-node Kafka cluster
//! ([`vltava_testkit`]) reads a topic of 12 partitions (RF 3,
//! `min.insync.replicas=2`) that an idempotent producer writes numbered
//! records to at a steady rate, while a scenario kills, stops, pauses and
//! restarts nodes and members. Everything that happens goes to a
//! [`journal::Journal`]; the [`verdict`] is computed from it alone:
//!
//! - **lost**: acknowledged but never consumed. Must be 0.
//! - **duplicates**: redeliveries, and whether each was of a record not yet
//!   committed when it was read again (the at-least-once window).
//! - **commits**: per partition, never backwards (read by an observer with
//!   an admin client of its own, so franz-go's commits are checked alike).
//! - **final assignment**: every partition exactly once, no idle member.
//! - **rebalances** once the group settled, **recovery time** per fault,
//!   and the **errors** the client surfaced (non-fatal only).
//!
//! The [`scenario`]s are issue 8's nine, each with its pass criteria; each
//! runs with three [`settings::Protocol`]s (classic cooperative-sticky,
//! classic eager range, KIP-848) and with vltava members or franz-go
//! members (a small Go program driven through a line protocol, see
//! `franz-go/README.md`), so the two compare side by side.
//!
//! Entry points: [`run::run`] for one scenario; `cargo xtask chaos` for the
//! tiers and the report in `docs/reliability.md`; the quick tier runs in
//! `cargo xtask test` as this crate's integration test.
//!
//! What it does not do: inject network faults other than through the
//! processes (no packet loss, no partitions between brokers), or judge
//! throughput; the benches do that.

mod eos;
pub mod journal;
pub mod member;
pub mod observe;
pub mod produce;
pub mod report;
pub mod run;
pub mod scenario;
pub mod settings;
pub mod verdict;

pub use member::Client;
pub use run::{RunOptions, RunReport, run};
pub use scenario::Scenario;
pub use settings::{Protocol, Settings};
