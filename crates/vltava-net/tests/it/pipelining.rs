//! Many requests in flight on one connection, and dropped request futures.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::task::JoinSet;

use crate::{connect_to_shared, metadata_for, topic_named};

#[tokio::test]
async fn a_hundred_pipelined_requests_are_all_answered_correctly() {
    let (_cluster, connection) = connect_to_shared().await;
    let connection = Arc::new(connection);
    let mut requests = JoinSet::new();
    for i in 0..100 {
        let connection = connection.clone();
        requests.spawn(async move {
            let topic = format!("vltava-net-it-pipelined-{i}");
            let response = connection.send(metadata_for(&topic)).await;
            (topic, response)
        });
    }
    let mut answered = 0;
    while let Some(joined) = requests.join_next().await {
        let (topic, response) = joined.unwrap();
        let response = response.unwrap_or_else(|e| panic!("{topic}: {e}"));
        assert_eq!(topic_named(&response), Some(topic.as_str()));
        answered += 1;
    }
    assert_eq!(answered, 100);
    assert!(!connection.is_closed());
}

#[tokio::test]
async fn dropped_request_futures_leave_later_requests_correct() {
    let (_cluster, connection) = connect_to_shared().await;
    for round in 0..10 {
        // Queued (polled once), then dropped before its answer comes.
        let abandoned = format!("vltava-net-it-abandoned-{round}");
        assert!(poll_once_then_drop(connection.send(metadata_for(&abandoned))).await);
        let topic = format!("vltava-net-it-after-drop-{round}");
        let response = connection
            .send(metadata_for(&topic))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(topic_named(&response), Some(topic.as_str()));
    }
    assert!(!connection.is_closed());
}

/// Polls `future` once, so that its request is queued, then drops it.
/// Returns whether it was still pending. (A zero timeout would not do: the
/// timer may only fire after a fast loopback answer has come.)
async fn poll_once_then_drop(future: impl Future) -> bool {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await
}
