//! [`RecordStream`]: the consumer's records as a `futures_core::Stream`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use crate::error::ConsumeError;
use crate::record::{ConsumerRecord, Fetches};
use crate::{Consumer, TopicPartition};

/// How long one poll under the stream waits before it polls again (an
/// empty poll yields nothing; the stream just polls again).
const STREAM_POLL: Duration = Duration::from_secs(1);

type PollFuture<'a> = Pin<Box<dyn Future<Output = Fetches> + Send + 'a>>;

/// The records of a [`Consumer`], one at a time, as a
/// [`futures_core::Stream`] of `Result<ConsumerRecord, ConsumeError>`
/// (from [`Consumer::stream`]).
///
/// - It polls the consumer ([`Consumer::poll`]) when it has nothing left
///   to yield, so everything `poll` does happens as the stream is read:
///   group events are applied, revocations committed, auto-commit runs.
///   Records come in the order `poll` returns them.
/// - Errors: each error a poll reports comes as an `Err` item. Non-fatal
///   ones ([`ConsumeError::is_fatal`] is false: a broker restarting, the
///   coordinator moving) come first, before that poll's records, and the
///   stream goes on after them: the client is already recovering. Fatal
///   ones come after that poll's records, and the stream ends after the
///   first (returns `None`); the consumer itself may still be usable (a
///   `seek` past a corrupt batch), and a new stream can be taken from it.
///   The stream also ends when the consumer is stopped or closed.
/// - Group events do not come through the stream: take them from
///   [`Consumer::events`] (a broadcast receiver), which sees every event
///   the stream's polls apply.
/// - At-least-once: a poll happens only when every record of the previous
///   one was taken, so auto-commit (which commits what earlier polls
///   handed out) commits only records the application has taken and moved
///   past. Records a dropped stream still held were never seen by the
///   application: dropping the stream moves their partitions' positions
///   back to the first of them, so nothing is skipped.
///
/// ```no_run
/// use vltava_consumer::{Consumer, ConsumeError};
///
/// # async fn run(consumer: Consumer) -> Result<(), ConsumeError> {
/// let mut records = consumer.stream();
/// // `next` is the stream's own (the same as `StreamExt::next`).
/// while let Some(item) = records.next().await {
///     match item {
///         Ok(record) => println!("{}@{}", record.partition, record.offset),
///         Err(e) if e.is_fatal() => return Err(e), // the stream ends after it
///         Err(e) => eprintln!("recovering: {e}"),
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct RecordStream<'a> {
    consumer: &'a Consumer,
    pending: VecDeque<Result<ConsumerRecord, ConsumeError>>,
    poll: Option<PollFuture<'a>>,
    ended: bool,
}

impl Consumer {
    /// The consumer's records as a [`Stream`]; see [`RecordStream`] for
    /// how errors, group events and commits go with it.
    pub fn stream(&self) -> RecordStream<'_> {
        RecordStream {
            consumer: self,
            pending: VecDeque::new(),
            poll: None,
            ended: false,
        }
    }
}

impl RecordStream<'_> {
    /// The next item: what `StreamExt::next` (of `futures` or
    /// `tokio-stream`) gives, without either crate. `None` once the stream
    /// has ended. Cancellation safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Option<Result<ConsumerRecord, ConsumeError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Queues what a poll returned: non-fatal errors, records, fatal errors.
    fn queue(&mut self, fetches: Fetches) {
        let (fatal, recoverable): (Vec<ConsumeError>, Vec<ConsumeError>) =
            fetches.errors.into_iter().partition(ConsumeError::is_fatal);
        self.pending.extend(recoverable.into_iter().map(Err));
        for (_, records) in fetches.partitions {
            self.pending.extend(records.into_iter().map(Ok));
        }
        self.pending.extend(fatal.into_iter().map(Err));
    }
}

impl Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord, ConsumeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if let Some(item) = this.pending.pop_front() {
                if matches!(&item, Err(e) if e.is_fatal()) {
                    this.ended = true;
                    // Whatever came after it is dropped; records among it
                    // are given back by `Drop`.
                }
                return Poll::Ready(Some(item));
            }
            if this.consumer.shared.closed.load(Ordering::Acquire) {
                this.ended = true;
                return Poll::Ready(None);
            }
            let consumer = this.consumer;
            let poll = this
                .poll
                .get_or_insert_with(|| Box::pin(consumer.poll(STREAM_POLL)));
            match poll.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(fetches) => {
                    this.poll = None;
                    this.queue(fetches);
                }
            }
        }
    }
}

impl Drop for RecordStream<'_> {
    /// Records handed out by a poll and not yielded yet go back: their
    /// partitions are sought to the first of them.
    fn drop(&mut self) {
        let mut first: Vec<(TopicPartition, i64)> = Vec::new();
        for record in self.pending.iter().filter_map(|item| item.as_ref().ok()) {
            let tp = TopicPartition::new(record.topic.as_ref(), record.partition);
            if !first.iter().any(|(t, _)| *t == tp) {
                first.push((tp, record.offset));
            }
        }
        for (tp, offset) in first {
            self.consumer.seek(&tp, offset);
        }
    }
}

impl std::fmt::Debug for RecordStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream")
            .field("pending", &self.pending.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
