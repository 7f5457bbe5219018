//! What a record's [`Delivery`] waits on: the outcome of its batch, set
//! once for every record of the batch, as the Java client's futures share
//! their batch's `ProduceRequestResult`. A record costs a reference count
//! and its place in the batch, not a channel of its own; a delivery that
//! is awaited also leaves its waker.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::error::ProduceError;
use crate::record::{RecordMetadata, TopicPartition};

/// Where a batch was written: its base offset (`-1` when unknown: acks 0,
/// or a duplicate the broker no longer remembers) and the broker's append
/// time if the topic uses it.
#[derive(Debug, Clone, Copy)]
struct Written {
    base_offset: i64,
    log_append_time: Option<i64>,
}

/// A batch's outcome, shared by its records' deliveries.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    tp: TopicPartition,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    result: Option<Result<Written, ProduceError>>,
    /// The wakers of the deliveries awaited so far, each at the index its
    /// delivery remembers.
    wakers: Vec<Option<Waker>>,
}

impl BatchOutcome {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The batch's side: sets the outcome once. Dropped unset (the producer
/// went away with the batch), it fails every record with
/// [`ProduceError::Closed`].
#[derive(Debug)]
pub(crate) struct OutcomeSender {
    outcome: Arc<BatchOutcome>,
}

impl OutcomeSender {
    /// A new outcome for a batch of `tp`.
    pub(crate) fn new(tp: TopicPartition) -> Self {
        Self {
            outcome: Arc::new(BatchOutcome {
                tp,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The delivery of the record at `offset_delta` with `timestamp`.
    pub(crate) fn delivery(&self, offset_delta: i32, timestamp: i64) -> Delivery {
        Delivery {
            outcome: self.outcome.clone(),
            offset_delta,
            timestamp,
            waker: None,
        }
    }

    /// The batch was written at `base_offset` (`-1` when unknown).
    pub(crate) fn written(self, base_offset: i64, log_append_time: Option<i64>) {
        self.finish(Ok(Written {
            base_offset,
            log_append_time,
        }));
    }

    /// The batch failed with `error`.
    pub(crate) fn failed(self, error: ProduceError) {
        self.finish(Err(error));
    }

    fn finish(&self, result: Result<Written, ProduceError>) {
        let wakers = {
            let mut state = self.outcome.lock();
            if state.result.is_some() {
                return;
            }
            state.result = Some(result);
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl Drop for OutcomeSender {
    fn drop(&mut self) {
        // A no-op when the outcome was set.
        self.finish(Err(ProduceError::Closed));
    }
}

/// The outcome of one record: where it was written, or why not.
#[derive(Debug)]
#[must_use = "a delivery says whether the record was written"]
pub struct Delivery {
    outcome: Arc<BatchOutcome>,
    offset_delta: i32,
    timestamp: i64,
    /// This delivery's slot among the batch's wakers, once polled.
    waker: Option<usize>,
}

impl Future for Delivery {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.outcome.lock();
        match &state.result {
            Some(Ok(written)) => {
                let tp = &this.outcome.tp;
                Poll::Ready(Ok(RecordMetadata {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: if written.base_offset < 0 {
                        -1
                    } else {
                        written.base_offset + i64::from(this.offset_delta)
                    },
                    timestamp: written.log_append_time.unwrap_or(this.timestamp),
                }))
            }
            Some(Err(error)) => Poll::Ready(Err(error.clone())),
            None => {
                match this.waker {
                    Some(slot) => match &mut state.wakers[slot] {
                        Some(waker) => waker.clone_from(cx.waker()),
                        empty => *empty = Some(cx.waker().clone()),
                    },
                    None => {
                        this.waker = Some(state.wakers.len());
                        state.wakers.push(Some(cx.waker().clone()));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        // A delivery given up no longer needs waking.
        if let Some(slot) = self.waker {
            let mut state = self.outcome.lock();
            if let Some(waker) = state.wakers.get_mut(slot) {
                *waker = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Wake;

    use super::*;

    /// Counts its wakes.
    struct Counter(std::sync::atomic::AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn poll(delivery: &mut Delivery, waker: &Waker) -> Poll<Result<RecordMetadata, ProduceError>> {
        Pin::new(delivery).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn every_record_gets_its_own_offset_and_awaited_ones_are_woken_once() {
        let sender = OutcomeSender::new(TopicPartition::new("t", 2));
        let mut first = sender.delivery(0, 10);
        let mut second = sender.delivery(1, 11);
        let third = sender.delivery(2, 12);
        let counter = Arc::new(Counter(Default::default()));
        let waker = Waker::from(counter.clone());
        assert!(poll(&mut first, &waker).is_pending());
        assert!(poll(&mut first, &waker).is_pending());
        assert!(poll(&mut second, &waker).is_pending());
        drop(third);
        sender.written(100, None);
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        let Poll::Ready(Ok(a)) = poll(&mut first, &waker) else {
            panic!("first not ready")
        };
        let Poll::Ready(Ok(b)) = poll(&mut second, &waker) else {
            panic!("second not ready")
        };
        assert_eq!(
            (a.topic.as_str(), a.partition, a.offset, a.timestamp),
            ("t", 2, 100, 10)
        );
        assert_eq!((b.offset, b.timestamp), (101, 11));
    }

    #[test]
    fn log_append_time_and_unknown_offsets_are_reported_as_such() {
        let sender = OutcomeSender::new(TopicPartition::new("t", 0));
        let mut delivery = sender.delivery(3, 10);
        sender.written(-1, Some(999));
        let waker = Waker::noop();
        let Poll::Ready(Ok(written)) = poll(&mut delivery, waker) else {
            panic!("not ready")
        };
        assert_eq!((written.offset, written.timestamp), (-1, 999));
    }

    #[test]
    fn a_batch_dropped_unsettled_fails_its_records_as_closed() {
        let sender = OutcomeSender::new(TopicPartition::new("t", 0));
        let mut delivery = sender.delivery(0, 10);
        let counter = Arc::new(Counter(Default::default()));
        assert!(poll(&mut delivery, &Waker::from(counter.clone())).is_pending());
        drop(sender);
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(matches!(
            poll(&mut delivery, Waker::noop()),
            Poll::Ready(Err(ProduceError::Closed))
        ));
    }

    #[test]
    fn a_failed_batch_fails_every_record_with_its_error() {
        let sender = OutcomeSender::new(TopicPartition::new("t", 0));
        let mut deliveries: Vec<Delivery> = (0..3).map(|i| sender.delivery(i, 10)).collect();
        sender.failed(ProduceError::Aborted);
        for delivery in &mut deliveries {
            assert!(matches!(
                poll(delivery, Waker::noop()),
                Poll::Ready(Err(ProduceError::Aborted))
            ));
        }
    }
}
