//! Epoch and sequence handling of the idempotent producer: when it bumps
//! its epoch and renumbers, and when it must not.

use std::time::{Duration, Instant};

use vltava_net::ConnectionConfig;
use vltava_producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use vltava_wire::ErrorCode;

use crate::scripted::broker::{
    Answer, BatchView, Event, Log, PRODUCER_ID, Reply, ScriptedBroker, TOPIC, Written,
};
use crate::scripted::{TEST_LIMIT, TIMESTAMP, config, send, settle, settle_ok, values, within};

/// What each InitProducerId asked for: (producer id, epoch).
fn asked(log: &Log) -> Vec<(i64, i16)> {
    log.inits
        .iter()
        .map(|call| (call.asked_id, call.asked_epoch))
        .collect()
}

/// A written batch of partition 0.
fn written(offset: i64, epoch: i16, base_sequence: i32, values: Vec<Vec<u8>>) -> Written {
    Written {
        partition: 0,
        offset,
        producer_id: PRODUCER_ID,
        epoch,
        base_sequence,
        values,
    }
}

/// The arrival of the InitProducerId that bumped the epoch, after checking
/// that no Produce request of the old epoch was on the wire then: every
/// one arrived and was answered before.
fn bump_after_the_wire_drained(log: &Log) -> u64 {
    assert_eq!(asked(log), [(-1, -1), (PRODUCER_ID, 0)], "{log:#?}");
    assert_eq!(log.inits[1].answered, (ErrorCode::NONE, PRODUCER_ID, 1));
    let bump = log.inits[1].arrived;
    for (i, call) in log.produces.iter().enumerate() {
        if call.batches.iter().any(|b| b.view.epoch == 0) {
            let answered = call.answered.expect("every epoch-0 request answered");
            assert!(
                call.arrived < bump && answered < bump,
                "Produce request {i} of epoch 0 was on the wire during the bump: {log:#?}"
            );
        }
    }
    bump
}

/// OUT_OF_ORDER_SEQUENCE_NUMBER for the partition's first batch, with
/// nothing earlier pending, while the batch behind it is on the wire: the
/// producer waits for that one's answer too, bumps the epoch of its
/// producer id, and sends both again under the new epoch from sequence 0.
#[tokio::test]
async fn out_of_order_with_nothing_earlier_pending_bumps_the_epoch_and_renumbers() {
    let script = Box::new(|b: &BatchView| {
        if (b.epoch, b.base_sequence, b.seen_before) == (0, 0, 0) {
            // Answered once the batch behind it is on the wire.
            Reply::refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER).after_next_request()
        } else {
            Reply::write()
        }
    });
    let broker = ScriptedBroker::start(1, script).await;
    within(TEST_LIMIT, async {
        let producer = Producer::new(broker.address(), config(4)).unwrap();
        let deliveries = send(&producer, 0..8).await;
        let offsets = settle_ok(&producer, deliveries).await;
        assert_eq!(offsets, (0..8).collect::<Vec<i64>>());

        let log = broker.log();
        // The two batches were on the wire together under epoch 0: the
        // second arrived before the first was answered; the first was
        // refused, the second then had a gap in front of it.
        let first = &log.produces[0];
        let second = &log.produces[1];
        assert_eq!(
            (
                first.batches[0].view.epoch,
                first.batches[0].view.base_sequence
            ),
            (0, 0)
        );
        assert_eq!(
            (
                second.batches[0].view.epoch,
                second.batches[0].view.base_sequence
            ),
            (0, 4)
        );
        assert!(
            second.arrived < first.answered.unwrap(),
            "the second batch was not sent while the first was on the wire: {log:#?}"
        );
        assert_eq!(
            second.batches[0].answered,
            Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        bump_after_the_wire_drained(&log);
        // Renumbered under epoch 1 from 0, each value written once, in order.
        assert_eq!(
            log.written,
            [
                written(0, 1, 0, values(0..4)),
                written(4, 1, 4, values(4..8)),
            ],
            "{log:#?}"
        );
        let stats = producer.stats();
        assert_eq!((stats.producer_id, stats.producer_epoch), (PRODUCER_ID, 1));
        assert_eq!(stats.acknowledged, 8);
    })
    .await;
}

/// UNKNOWN_PRODUCER_ID (the broker lost the producer's state after the
/// first batch was written) for the next batch, with nothing earlier
/// pending: the same recovery, the first batch is not written again.
#[tokio::test]
async fn unknown_producer_id_bumps_the_epoch_and_renumbers() {
    let script = Box::new(|b: &BatchView| {
        if b.epoch == 0 && b.base_sequence > 0 {
            Reply::refuse(ErrorCode::UNKNOWN_PRODUCER_ID)
        } else {
            Reply::write()
        }
    });
    let broker = ScriptedBroker::start(1, script).await;
    within(TEST_LIMIT, async {
        let producer = Producer::new(broker.address(), config(4)).unwrap();
        let first = send(&producer, 0..4).await;
        assert_eq!(settle_ok(&producer, first).await, [0, 1, 2, 3]);
        let second = send(&producer, 4..8).await;
        assert_eq!(settle_ok(&producer, second).await, [4, 5, 6, 7]);

        let log = broker.log();
        let refused: Vec<_> = log
            .batches()
            .filter(|(_, b)| b.answered == Some(ErrorCode::UNKNOWN_PRODUCER_ID))
            .map(|(_, b)| (b.view.epoch, b.view.base_sequence, b.view.values.clone()))
            .collect();
        assert_eq!(refused, [(0, 4, values(4..8))]);
        bump_after_the_wire_drained(&log);
        assert_eq!(
            log.written,
            [
                written(0, 0, 0, values(0..4)),
                written(4, 1, 0, values(4..8)),
            ],
            "{log:#?}"
        );
    })
    .await;
}

/// OUT_OF_ORDER_SEQUENCE_NUMBER for a batch behind one being retried
/// (NOT_LEADER_OR_FOLLOWER): only a consequence of the first refusal, so
/// no epoch bump; both go again with their own sequences, in order, and
/// the first one's retry goes out alone.
#[tokio::test]
async fn out_of_order_behind_a_retried_batch_retries_in_order_without_a_bump() {
    let script = Box::new(|b: &BatchView| {
        if (b.epoch, b.base_sequence, b.seen_before) == (0, 0, 0) {
            // Answered once the batch behind it is on the wire; the broker's
            // own check then refuses that one as out of order.
            Reply::refuse(ErrorCode::NOT_LEADER_OR_FOLLOWER).after_next_request()
        } else {
            Reply::write()
        }
    });
    let broker = ScriptedBroker::start(1, script).await;
    within(TEST_LIMIT, async {
        let producer = Producer::new(broker.address(), config(4)).unwrap();
        let deliveries = send(&producer, 0..8).await;
        assert_eq!(
            settle_ok(&producer, deliveries).await,
            (0..8).collect::<Vec<i64>>()
        );

        let log = broker.log();
        assert_eq!(asked(&log), [(-1, -1)], "no epoch bump: {log:#?}");
        // Every attempt of a batch has its first attempt's bytes.
        let attempts = |sequence: i32| -> Vec<(usize, &crate::scripted::broker::Received)> {
            log.batches()
                .filter(|(_, b)| b.view.base_sequence == sequence)
                .collect()
        };
        let (first, second) = (attempts(0), attempts(4));
        for batch in first.iter().chain(&second) {
            assert_eq!(batch.1.view.epoch, 0);
        }
        assert_eq!(first.len(), 2, "{log:#?}");
        assert_eq!(second.len(), 2, "{log:#?}");
        assert_eq!(first[0].1.bytes, first[1].1.bytes);
        assert_eq!(second[0].1.bytes, second[1].1.bytes);
        assert_eq!(
            second[0].1.answered,
            Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // Both were on the wire together the first time.
        assert!(log.produces[second[0].0].arrived < log.produces[first[0].0].answered.unwrap());
        // The first batch's retry went out alone: alone in its request, and
        // no Produce request arrived until it was answered.
        let retry = &log.produces[first[1].0];
        assert_eq!(retry.batches.len(), 1);
        let retry_answered = retry.answered.unwrap();
        for (i, call) in log.produces.iter().enumerate() {
            assert!(
                i == first[1].0 || call.arrived < retry.arrived || call.arrived > retry_answered,
                "request {i} went out with the first batch's retry: {log:#?}"
            );
        }
        // The second batch went again only after the first was written.
        assert!(log.produces[second[1].0].arrived > retry_answered);
        assert_eq!(
            log.written,
            [
                written(0, 0, 0, values(0..4)),
                written(4, 0, 4, values(4..8)),
            ],
            "{log:#?}"
        );
    })
    .await;
}

/// A retriable error: the same bytes (producer id, epoch, sequence) go
/// again. A batch the broker wrote but answered with an error comes back
/// as DUPLICATE_SEQUENCE_NUMBER when resent, which counts as written.
#[tokio::test]
async fn retriable_errors_resend_the_same_bytes_and_a_duplicate_is_a_success() {
    let script = Box::new(|b: &BatchView| match (b.base_sequence, b.seen_before) {
        (0, 0) => Reply::refuse(ErrorCode::NOT_ENOUGH_REPLICAS),
        (4, 0) => Reply::from(Answer::WriteAndRefuse(
            ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        )),
        _ => Reply::write(),
    });
    let broker = ScriptedBroker::start(1, script).await;
    within(TEST_LIMIT, async {
        let producer = Producer::new(broker.address(), config(4)).unwrap();
        let first = send(&producer, 0..4).await;
        assert_eq!(settle_ok(&producer, first).await, [0, 1, 2, 3]);
        let second = send(&producer, 4..8).await;
        // Written, but the broker no longer says where: offsets unknown.
        assert_eq!(settle_ok(&producer, second).await, [-1, -1, -1, -1]);

        let log = broker.log();
        let batches: Vec<_> = log.batches().map(|(_, b)| b).collect();
        let summary: Vec<_> = batches
            .iter()
            .map(|b| {
                (
                    b.view.producer_id,
                    b.view.epoch,
                    b.view.base_sequence,
                    b.answered,
                    b.written,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    PRODUCER_ID,
                    0,
                    0,
                    Some(ErrorCode::NOT_ENOUGH_REPLICAS),
                    false
                ),
                (PRODUCER_ID, 0, 0, Some(ErrorCode::NONE), true),
                (
                    PRODUCER_ID,
                    0,
                    4,
                    Some(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
                    true
                ),
                (
                    PRODUCER_ID,
                    0,
                    4,
                    Some(ErrorCode::DUPLICATE_SEQUENCE_NUMBER),
                    false
                ),
            ],
            "{log:#?}"
        );
        assert_eq!(batches[0].bytes, batches[1].bytes);
        assert_eq!(batches[2].bytes, batches[3].bytes);
        assert_eq!(asked(&log), [(-1, -1)], "no epoch bump");
        assert_eq!(log.values(0), values(0..8));
    })
    .await;
}

/// A batch refused for good (INVALID_RECORD): its records fail with the
/// broker's code; the partition's later batches, on the wire or waiting,
/// are renumbered under a bumped epoch and written.
#[tokio::test]
async fn a_fatal_batch_error_fails_its_records_and_renumbers_the_rest() {
    let script = Box::new(|b: &BatchView| {
        if (b.epoch, b.base_sequence) == (0, 0) {
            Reply::refuse(ErrorCode::INVALID_RECORD).after_next_request()
        } else {
            Reply::write()
        }
    });
    let broker = ScriptedBroker::start(1, script).await;
    within(TEST_LIMIT, async {
        let producer = Producer::new(broker.address(), config(4)).unwrap();
        let deliveries = send(&producer, 0..12).await;
        let outcomes = settle(&producer, deliveries).await;
        for outcome in &outcomes[..4] {
            match outcome {
                Err(ProduceError::Broker { tp, code, .. }) => {
                    assert_eq!((tp.topic.as_str(), tp.partition), (TOPIC, 0));
                    assert_eq!(*code, ErrorCode::INVALID_RECORD);
                }
                other => panic!("expected INVALID_RECORD, got {other:?}"),
            }
        }
        let offsets: Vec<i64> = outcomes[4..]
            .iter()
            .map(|o| o.as_ref().unwrap().offset)
            .collect();
        assert_eq!(offsets, (0..8).collect::<Vec<i64>>());

        let log = broker.log();
        assert!(
            log.produces[1].arrived < log.produces[0].answered.unwrap(),
            "the batch behind was not on the wire with the refused one: {log:#?}"
        );
        bump_after_the_wire_drained(&log);
        assert_eq!(
            log.written,
            [
                written(0, 1, 0, values(4..8)),
                written(4, 1, 4, values(8..12)),
            ],
            "{log:#?}"
        );
        assert_eq!(producer.stats().failed, 4);
    })
    .await;
}

/// A broker that never answers: the record fails with DeliveryTimeout
/// once its delivery timeout passes, not only when the longer request
/// timeout does. The request still counts as on the wire until that
/// request timeout ends it: only then does the producer bump its epoch
/// (sequences never start over under a request that may still be
/// written), and it goes on once the broker answers again.
#[tokio::test]
async fn an_unanswered_request_fails_at_the_delivery_timeout_and_the_producer_goes_on() {
    let mut broker = ScriptedBroker::start(1, Box::new(|_: &BatchView| Reply::write())).await;
    let delivery_timeout = Duration::from_millis(800);
    let request_timeout = Duration::from_secs(3);
    let producer_config = ProducerConfig::new()
        .linger(Duration::ZERO)
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .delivery_timeout(delivery_timeout)
        .connection(ConnectionConfig::new().request_timeout(request_timeout));
    within(TEST_LIMIT, async {
        let producer = Producer::new(broker.address(), producer_config).unwrap();
        broker.hold_produce(true);
        let record = ProducerRecord::new(TOPIC, "lost")
            .partition(0)
            .timestamp(TIMESTAMP);
        let sent = Instant::now();
        let delivery = producer.send(record).await.unwrap();
        let held = loop {
            match broker.next_event(Duration::from_secs(10)).await {
                Event::ProduceHeld(i) => break i,
                Event::ProduceAnswered(i) => panic!("request {i} answered while holding"),
                Event::InitProducerId(_) => {}
            }
        };
        let outcome = within(Duration::from_secs(10), delivery).await;
        let waited = sent.elapsed();
        match outcome {
            Err(ProduceError::DeliveryTimeout { tp, timeout, .. }) => {
                assert_eq!(
                    (tp.topic.as_str(), tp.partition, timeout),
                    (TOPIC, 0, delivery_timeout)
                );
            }
            other => panic!("expected DeliveryTimeout, got {other:?}"),
        }
        assert!(
            waited >= delivery_timeout && waited < request_timeout,
            "failed after {waited:?}"
        );

        // The broker answers again; the producer bumps its epoch once the
        // unanswered request has timed out, not before.
        broker.hold_produce(false);
        let bump = match broker.next_event(Duration::from_secs(10)).await {
            Event::InitProducerId(call) => call,
            other => panic!("expected the epoch bump first, got {other:?}"),
        };
        assert!(
            sent.elapsed() >= request_timeout,
            "bumped after {:?}, with request {held} still on the wire",
            sent.elapsed()
        );
        assert_eq!(
            (bump.asked_id, bump.asked_epoch, bump.answered),
            (PRODUCER_ID, 0, (ErrorCode::NONE, PRODUCER_ID, 1))
        );
        let record = ProducerRecord::new(TOPIC, "after")
            .partition(0)
            .timestamp(TIMESTAMP);
        let delivery = producer.send(record).await.unwrap();
        let written_at = within(Duration::from_secs(10), delivery).await.unwrap();
        assert_eq!(written_at.offset, 0);

        let log = broker.log();
        assert_eq!(asked(&log), [(-1, -1), (PRODUCER_ID, 0)], "{log:#?}");
        assert_eq!(
            log.written,
            [written(0, 1, 0, vec![b"after".to_vec()])],
            "{log:#?}"
        );
    })
    .await;
}
