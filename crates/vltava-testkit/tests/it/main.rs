//! Integration tests of the testkit against real Kafka brokers.

mod lifecycle;
mod shared;
