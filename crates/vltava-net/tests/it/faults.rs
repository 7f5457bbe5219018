//! Broker faults on a cluster of our own (the shared one serves other tests
//! concurrently): a paused broker times requests out, a kill -9 fails every
//! request in flight at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use vltava_net::{Connection, ConnectionConfig, NetError};
use vltava_testkit::{ClusterConfig, OwnedCluster};
use vltava_wire::messages::MetadataRequest;

#[tokio::test]
async fn pausing_times_requests_out_and_killing_fails_them_at_once() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-net-kill");
    let cluster =
        OwnedCluster::start(ClusterConfig::new(dir).nodes(1)).unwrap_or_else(|e| panic!("{e}"));
    let node = 1;
    let broker = cluster.broker_addr(node).unwrap().to_string();
    // A request timeout far longer than the test, so failing by timeout
    // could not pass for failing at once.
    let config = ConnectionConfig::new().request_timeout(Duration::from_secs(120));
    let connection = Arc::new(
        Connection::connect(&broker, config.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );

    let impatient = Connection::connect(
        &broker,
        ConnectionConfig::new().request_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    // Frozen, the broker keeps its socket open and answers nothing, so the
    // requests are certainly in flight when it dies.
    cluster.pause(node).unwrap();
    let error = impatient
        .send(MetadataRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::Timeout { .. }), "{error}");
    assert!(error.is_retriable());
    assert!(!impatient.is_closed());
    let mut requests = JoinSet::new();
    for _ in 0..5 {
        let connection = connection.clone();
        requests.spawn(async move { connection.send(MetadataRequest::default()).await });
    }
    // Let the writer put them on the wire.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.kill(node).unwrap();
    let killed = Instant::now();

    let mut failed = 0;
    while let Some(joined) = requests.join_next().await {
        let error = joined.unwrap().unwrap_err();
        assert!(error.is_retriable(), "{error}");
        assert!(matches!(error, NetError::Disconnected { .. }), "{error}");
        assert_eq!(error.broker(), Some(broker.as_str()));
        assert!(
            error.to_string().starts_with(&format!(
                "connection to {broker} closed with 5 requests in flight"
            )),
            "{error}"
        );
        failed += 1;
    }
    assert_eq!(failed, 5);
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "took {:?}",
        killed.elapsed()
    );
    assert!(connection.is_closed());

    // A dead broker refuses new connections, retriably.
    let error = Connection::connect(&broker, config.clone())
        .await
        .unwrap_err();
    assert!(error.is_retriable(), "{error}");

    // Once restarted, a new connection works again.
    cluster.start_node(node).unwrap();
    let connection = Connection::connect(&broker, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    connection
        .send(MetadataRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
