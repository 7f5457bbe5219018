//! The bootstrap list: entries are resolved (DNS) and tried in order, and
//! the client goes back to them, resolved anew, when every known broker
//! has failed.

use std::time::Duration;

use vltava_meta::{MetadataConfig, RefreshTarget};

use crate::{CLUSTER, client, shared_cluster};

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn every_known_broker_failing_sends_the_client_back_to_the_bootstrap_list() {
    let _shared = CLUSTER.read().await;
    let cluster = shared_cluster();
    let port = cluster.broker_addr(cluster.node_ids()[0]).unwrap().port();
    // A dead entry first, then a name to resolve.
    let bootstrap = format!("127.0.0.1:{},localhost:{port}", dead_port());
    let config = MetadataConfig::new().refresh_backoff(Duration::from_millis(50));
    let client = client(&bootstrap, &[], config);
    let snapshot = client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snapshot.brokers().len(), cluster.node_ids().len());
    let stats = client.stats();
    assert_eq!(stats.bootstrap_attempts, 1, "{stats:?}");
    assert!(
        matches!(stats.last_target, Some(RefreshTarget::Bootstrap(_))),
        "{stats:?}"
    );

    // Known brokers now: the next refresh asks one of them.
    client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    let stats = client.stats();
    assert!(
        matches!(stats.last_target, Some(RefreshTarget::Broker { .. })),
        "{stats:?}"
    );

    // Every known broker fails (as the other layers report it): the client
    // resolves the bootstrap list again and gets fresh metadata from it.
    let before = client.snapshot().version();
    for broker in snapshot.brokers() {
        client.report_transport_failure(&broker.address());
    }
    let after = client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(after.version() > before);
    assert_eq!(after.brokers().len(), cluster.node_ids().len());
    let stats = client.stats();
    assert_eq!(stats.bootstrap_attempts, 2, "{stats:?}");
    assert_eq!(
        stats.last_target,
        Some(RefreshTarget::Bootstrap(vec![
            format!("127.0.0.1:{}", bootstrap_dead(&bootstrap)),
            format!("localhost:{port}"),
        ]))
    );
    // And once it answered, known brokers are used again.
    client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        client.stats().last_target,
        Some(RefreshTarget::Broker { .. })
    ));
}

#[tokio::test]
async fn a_bootstrap_list_where_nothing_answers_fails_with_the_reason() {
    let bootstrap = format!("127.0.0.1:{}", dead_port());
    let config = MetadataConfig::new().refresh_timeout(Duration::from_secs(2));
    let client = client(&bootstrap, &[], config);
    let error = client.refresh().await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("no metadata refresh succeeded"), "{text}");
    assert!(text.contains("no bootstrap address answered"), "{text}");
    assert!(text.contains(&bootstrap), "{text}");
    assert!(error.is_retriable());
    assert!(client.stats().failed >= 1);
    assert!(client.snapshot().is_empty());
}

/// The dead port of a bootstrap string built above.
fn bootstrap_dead(bootstrap: &str) -> &str {
    bootstrap
        .split(',')
        .next()
        .and_then(|e| e.rsplit_once(':'))
        .map(|(_, port)| port)
        .unwrap()
}
