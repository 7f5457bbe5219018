//! Not an API (feature `bench-internals`, no semver promise): the
//! consumer's path from a decoded Fetch answer to the records `poll` hands
//! out, driven by hand, without a broker, a runtime or a clock, for
//! `vltava-benches` to measure what the consumer costs per record above
//! the codec.
//!
//! [`PollPath`] holds the state the fetcher and `poll` share and calls the
//! same functions they do: [`PollPath::handle_fetch`] is what the fetcher
//! does with a Fetch answer (buffer each partition's records, or move or
//! stop it), [`PollPath::poll`] what `Consumer::poll` does once data is
//! buffered (decode into records, advance positions, count). The I/O
//! around them (sending the request, waking `poll`, reporting moved
//! leaders to the metadata cache) is the driver's and is left out.

use std::collections::HashMap;

use vltava_wire::messages::FetchResponse;

use crate::TopicPartition;
use crate::config::ConsumerConfig;
use crate::consumer::{account, take_buffered};
use crate::fetcher::{State, buffer_fetch};
use crate::metrics::Stats;
use crate::record::Fetches;

/// The consumer's buffer and positions, fed by hand (see the module docs).
pub struct PollPath {
    state: State,
    config: ConsumerConfig,
    stats: Stats,
}

impl std::fmt::Debug for PollPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollPath")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl PollPath {
    /// A consumer of `partitions` (assigned, no group), each at the given
    /// position, with `config`.
    pub fn new(
        config: ConsumerConfig,
        partitions: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> Self {
        let mut state = State::default();
        for (tp, position) in partitions {
            state.partitions.entry(tp).or_default().position = Some(position);
        }
        let stats = Stats::new(config.connection.client_id.as_deref().unwrap_or_default());
        Self {
            state,
            config,
            stats,
        }
    }

    /// As `Consumer::seek`: `tp`'s next record is `offset`, and data
    /// fetched before is stale. `false` if `tp` is not assigned.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        let Some(p) = self.state.partitions.get_mut(tp) else {
            return false;
        };
        p.position = Some(offset);
        p.last_epoch = None;
        p.generation += 1;
        true
    }

    /// What the fetcher does with `response`, a full Fetch answer to a
    /// request for every assigned partition at its position: buffers the
    /// records for `poll` (or moves or stops partitions, on errors).
    pub fn handle_fetch(&mut self, response: FetchResponse) {
        let asked: Vec<(TopicPartition, u64, i64)> = self
            .state
            .partitions
            .iter()
            .filter_map(|(tp, p)| Some((tp.clone(), p.generation, p.position?)))
            .collect();
        buffer_fetch(
            &mut self.state,
            &self.config,
            &self.stats,
            &asked,
            &HashMap::new(),
            response,
            false,
            std::time::Instant::now(),
            &vltava_net::Jitter::new(),
        );
    }

    /// What `Consumer::poll` returns once data is buffered: at most
    /// `max_poll_records` records, each partition's in offset order, and
    /// the errors met; positions advance past them.
    pub fn poll(&mut self) -> Fetches {
        let fetches = take_buffered(&mut self.state, &self.config);
        account(&self.state, &self.stats, &fetches);
        fetches
    }

    /// `tp`'s position: the next offset `poll` returns.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.state.partitions.get(tp)?.position
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use vltava_wire::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use vltava_wire::{Compression, RecordBatchBuilder};

    use super::*;

    fn answer(tp: &TopicPartition, records: usize) -> FetchResponse {
        let mut builder = RecordBatchBuilder::new(Compression::Lz4);
        for i in 0..records {
            builder
                .append(
                    i as i64,
                    Some(&b"k"[..]),
                    Some(format!("v{i}").as_bytes()),
                    &[],
                )
                .unwrap();
        }
        let mut batches = BytesMut::new();
        builder.build(&mut batches).unwrap();
        FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: tp.topic.clone(),
                partitions: vec![PartitionData {
                    partition_index: tp.partition,
                    high_watermark: records as i64,
                    records: Some(batches.freeze()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn records_before_a_damaged_batch_come_out_then_the_error_at_its_offset() {
        let tp = TopicPartition::new("t", 0);
        let mut response = answer(&tp, 20);
        let first = response.responses[0].partitions[0].records.clone().unwrap();
        // A second batch (offsets 20..40) whose CRC does not match.
        let mut second = BytesMut::new();
        let mut builder = RecordBatchBuilder::new(Compression::Lz4).base_offset(20);
        for i in 0..20 {
            builder.append(i, None, Some(&b"v"[..]), &[]).unwrap();
        }
        builder.build(&mut second).unwrap();
        let last = second.len() - 1;
        second[last] ^= 0x55;
        let mut both = BytesMut::from(&first[..]);
        both.extend_from_slice(&second);
        response.responses[0].partitions[0].records = Some(both.freeze());
        response.responses[0].partitions[0].high_watermark = 40;

        let config = ConsumerConfig::new().max_poll_records(15);
        let mut path = PollPath::new(config, [(tp.clone(), 0)]);
        path.handle_fetch(response);
        // Cut by max_poll_records, the first batch comes out whole over two
        // polls; the error comes with the rest of it, at the damaged
        // batch's offset, and the position stops there.
        let polled = path.poll();
        assert_eq!((polled.record_count(), polled.errors.len()), (15, 0));
        let polled = path.poll();
        assert_eq!(polled.record_count(), 5);
        assert!(
            matches!(
                polled.errors.as_slice(),
                [crate::ConsumeError::Corrupt { offset: 20, .. }]
            ),
            "{:?}",
            polled.errors
        );
        assert_eq!(path.position(&tp), Some(20));
    }

    #[test]
    fn records_keep_their_headers_and_records_without_have_none() {
        let tp = TopicPartition::new("t", 0);
        let mut builder = RecordBatchBuilder::new(Compression::None);
        let trace = vltava_wire::records::RecordHeader {
            key: "trace",
            value: Some(&b"abc"[..]),
        };
        let null = vltava_wire::records::RecordHeader {
            key: "gone",
            value: None,
        };
        builder.append(0, None, Some(&b"plain"[..]), &[]).unwrap();
        builder
            .append(0, None, Some(&b"with"[..]), &[trace, null])
            .unwrap();
        builder.append(0, None, Some(&b"plain"[..]), &[]).unwrap();
        let mut batches = BytesMut::new();
        builder.build(&mut batches).unwrap();
        let mut response = answer(&tp, 0);
        response.responses[0].partitions[0].records = Some(batches.freeze());
        response.responses[0].partitions[0].high_watermark = 3;

        let mut path = PollPath::new(ConsumerConfig::new(), [(tp.clone(), 0)]);
        path.handle_fetch(response);
        let polled = path.poll();
        let headers: Vec<_> = polled.records().map(|r| r.headers.clone()).collect();
        assert_eq!(
            headers,
            [
                vec![],
                vec![
                    ("trace".to_owned(), Some(Bytes::from_static(b"abc"))),
                    ("gone".to_owned(), None),
                ],
                vec![],
            ]
        );
    }

    #[test]
    fn a_fetch_answer_comes_out_of_poll_as_records_in_max_poll_records_slices() {
        let tp = TopicPartition::new("t", 0);
        let config = ConsumerConfig::new().max_poll_records(30);
        let mut path = PollPath::new(config, [(tp.clone(), 0)]);
        path.handle_fetch(answer(&tp, 50));
        let first = path.poll();
        assert_eq!(first.record_count(), 30);
        assert_eq!(path.position(&tp), Some(30));
        let second = path.poll();
        assert_eq!(second.record_count(), 20);
        let offsets: Vec<i64> = second.records().map(|r| r.offset).collect();
        assert_eq!(offsets, (30..50).collect::<Vec<_>>());
        assert_eq!(path.position(&tp), Some(50));
        assert!(path.poll().is_empty());

        // A seek back, and the same answer again, hands the records out again.
        assert!(path.seek(&tp, 0));
        path.handle_fetch(answer(&tp, 50));
        assert_eq!(path.poll().record_count(), 30);
    }
}
