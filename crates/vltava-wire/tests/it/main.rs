//! Integration tests of `vltava-wire`'s message codec, one binary with a
//! module per concern.

mod frames;
mod fuzz_corpus;
mod golden;
mod known_bytes;
mod properties;
mod rules;
mod support;
