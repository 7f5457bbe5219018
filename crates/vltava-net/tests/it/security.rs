//! TLS and SASL against the shared cluster's `SSL` and `SASL_PLAINTEXT`
//! listeners (every testkit cluster has them).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vltava_net::{Connection, ConnectionConfig, NetError, OAuthBearerToken, Sasl};
use vltava_testkit::{Cluster, Listener, SASL_PASSWORD, SASL_USERNAME};
use vltava_wire::messages::MetadataRequest;

use crate::shared_cluster;

/// How long any connection attempt here may take before the test fails.
const BOUND: Duration = Duration::from_secs(30);

/// The first node's address on `listener`.
fn first_on(cluster: &Cluster, listener: Listener) -> String {
    let node = cluster.node_ids()[0];
    cluster
        .listener_addr(node, listener)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string()
}

async fn connect(broker: &str, config: ConnectionConfig) -> Result<Connection, NetError> {
    let config = config.client_id("vltava-net-it-security");
    tokio::time::timeout(BOUND, Connection::connect(broker, config))
        .await
        .unwrap_or_else(|_| panic!("connecting to {broker} took more than {BOUND:?}"))
}

/// Sends Metadata and checks the brokers it lists are advertised on the
/// listener the request came through.
async fn metadata_through(cluster: &Cluster, connection: &Connection, listener: Listener) {
    let metadata = connection
        .send(MetadataRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(metadata.cluster_id.as_deref(), Some(cluster.cluster_id()));
    assert_eq!(metadata.brokers.len(), cluster.node_ids().len());
    for broker in &metadata.brokers {
        let expected = cluster
            .listener_addr(broker.node_id as u32, listener)
            .unwrap();
        assert_eq!(broker.port, i32::from(expected.port()), "{listener}");
    }
}

/// Connects to the SASL_PLAINTEXT listener with `sasl`, checks the session
/// and that Metadata then works. `lifetime` is the session lifetime the
/// broker is expected to announce (at most that, a little less).
async fn authenticates(sasl: Sasl, lifetime: Option<Duration>) {
    let cluster = shared_cluster();
    let broker = first_on(&cluster, Listener::SaslPlaintext);
    let mechanism = sasl.mechanism();
    let connection = connect(&broker, ConnectionConfig::new().sasl(sasl))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let session = connection.sasl_session().expect("authenticated");
    assert_eq!(session.mechanism(), mechanism);
    match (session.session_lifetime(), lifetime) {
        (None, None) => {}
        (Some(got), Some(max)) => assert!(
            got <= max && got > max - Duration::from_secs(60),
            "{got:?} for at most {max:?}"
        ),
        (got, expected) => panic!("session lifetime {got:?}, expected {expected:?}"),
    }
    metadata_through(&cluster, &connection, Listener::SaslPlaintext).await;
}

#[tokio::test]
async fn plain_authenticates_and_metadata_works() {
    authenticates(Sasl::plain(SASL_USERNAME, SASL_PASSWORD), None).await;
}

#[tokio::test]
async fn scram_sha_256_authenticates_and_metadata_works() {
    authenticates(Sasl::scram_sha_256(SASL_USERNAME, SASL_PASSWORD), None).await;
}

#[tokio::test]
async fn scram_sha_512_authenticates_and_metadata_works() {
    authenticates(Sasl::scram_sha_512(SASL_USERNAME, SASL_PASSWORD), None).await;
}

/// An unsecured JWT (`alg: none`), which Kafka's default OAUTHBEARER
/// validator accepts: `sub`, `iat` and `exp` in seconds, no signature.
fn unsecured_jwt(subject: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let claims = format!(r#"{{"sub":"{subject}","iat":{now},"exp":{}}}"#, now + 3600);
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims))
}

#[tokio::test]
async fn oauthbearer_authenticates_with_a_token_from_the_callback() {
    // The broker ends the session when the token expires (in an hour),
    // and says so even with connections.max.reauth.ms unset.
    let sasl =
        Sasl::oauthbearer(|| async { Ok(OAuthBearerToken::new(unsecured_jwt(SASL_USERNAME))) });
    authenticates(sasl, Some(Duration::from_secs(3600))).await;
}

#[tokio::test]
async fn oauthbearer_with_an_expired_token_is_refused_with_the_brokers_reason() {
    let cluster = shared_cluster();
    let broker = first_on(&cluster, Listener::SaslPlaintext);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"x","iat":1000,"exp":2000}"#);
    let expired = format!("{header}.{claims}.");
    let sasl = Sasl::oauthbearer_sync(move || Ok(OAuthBearerToken::new(expired.clone())));
    let error = connect(&broker, ConnectionConfig::new().sasl(sasl))
        .await
        .unwrap_err();
    eprintln!("{error}");
    // Kafka answers an error challenge, the client acknowledges it, and
    // the broker's refusal carries the challenge.
    assert!(
        matches!(&error, NetError::Authentication { mechanism, message, .. }
            if mechanism == "OAUTHBEARER" && message.contains("invalid_token")),
        "{error:?}"
    );
    assert!(!error.is_retriable());
}

/// Connects with a wrong password and checks the error: typed, not
/// retriable, naming the mechanism and the broker, and prompt.
async fn wrong_password_is_refused(sasl: Sasl) {
    let cluster = shared_cluster();
    let broker = first_on(&cluster, Listener::SaslPlaintext);
    let mechanism = sasl.mechanism();
    let started = Instant::now();
    let error = connect(&broker, ConnectionConfig::new().sasl(sasl))
        .await
        .unwrap_err();
    let took = started.elapsed();
    eprintln!("{error}");
    let NetError::Authentication {
        broker: named,
        mechanism: said,
        message,
    } = &error
    else {
        panic!("expected NetError::Authentication, got {error:?}")
    };
    assert_eq!(named, &broker);
    assert_eq!(said, mechanism);
    assert!(message.contains("SASL_AUTHENTICATION_FAILED"), "{message}");
    assert!(!error.is_retriable(), "{error}");
    let shown = error.to_string();
    assert!(
        shown.contains(mechanism) && shown.contains(&broker),
        "{shown}"
    );
    assert!(!shown.contains("not-the-password"), "{shown}");
    // The broker delays a failed authentication by 100 ms
    // (connection.failed.authentication.delay.ms); nothing retried.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn plain_with_a_wrong_password_is_a_prompt_non_retriable_authentication_error() {
    wrong_password_is_refused(Sasl::plain(SASL_USERNAME, "not-the-password")).await;
}

#[tokio::test]
async fn scram_sha_256_with_a_wrong_password_is_a_prompt_non_retriable_authentication_error() {
    wrong_password_is_refused(Sasl::scram_sha_256(SASL_USERNAME, "not-the-password")).await;
}

#[tokio::test]
async fn scram_sha_512_with_an_unknown_user_is_a_prompt_non_retriable_authentication_error() {
    wrong_password_is_refused(Sasl::scram_sha_512("nobody", "not-the-password")).await;
}

#[tokio::test]
async fn sasl_on_the_plaintext_listener_is_a_clear_error() {
    let cluster = shared_cluster();
    let broker = first_on(&cluster, Listener::Plaintext);
    let sasl = Sasl::plain(SASL_USERNAME, SASL_PASSWORD);
    let error = connect(&broker, ConnectionConfig::new().sasl(sasl))
        .await
        .unwrap_err();
    eprintln!("{error}");
    assert!(
        matches!(&error, NetError::Authentication { message, .. } if message.contains("ILLEGAL_SASL_STATE")),
        "{error:?}"
    );
    assert!(!error.is_retriable());
}

/// TLS to the `SSL` listener (feature `tls`).
#[cfg(feature = "tls")]
mod tls {
    use std::time::Duration;

    use vltava_net::{ConnectionConfig, NetError, TlsConfig};
    use vltava_testkit::security::untrusted_ca_pem;
    use vltava_testkit::{Cluster, Listener};

    use super::{connect, first_on, metadata_through};
    use crate::shared_cluster;

    fn trusting_the_test_ca(cluster: &Cluster) -> TlsConfig {
        let pem = cluster.ca_pem().unwrap_or_else(|e| panic!("{e}"));
        TlsConfig::from_ca_pem(pem).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn ssl_trusting_the_test_ca_serves_metadata() {
        let cluster = shared_cluster();
        let broker = first_on(&cluster, Listener::Ssl);
        let connection = connect(
            &broker,
            ConnectionConfig::new().tls(trusting_the_test_ca(&cluster)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(connection.sasl_session().is_none());
        assert!(connection.api_versions().len() > 40);
        metadata_through(&cluster, &connection, Listener::Ssl).await;
    }

    #[tokio::test]
    async fn ssl_with_an_untrusted_ca_fails_with_a_non_retriable_tls_error() {
        let cluster = shared_cluster();
        let broker = first_on(&cluster, Listener::Ssl);
        let untrusted = TlsConfig::from_ca_pem(untrusted_ca_pem().unwrap()).unwrap();
        let error = connect(&broker, ConnectionConfig::new().tls(untrusted))
            .await
            .unwrap_err();
        eprintln!("{error}");
        assert!(matches!(error, NetError::Tls { .. }), "{error:?}");
        assert!(!error.is_retriable(), "{error}");
        assert_eq!(error.broker(), Some(broker.as_str()));
        let shown = error.to_string();
        assert!(shown.contains("certificate"), "{shown}");
    }

    #[tokio::test]
    async fn tls_to_a_plaintext_listener_fails_without_hanging() {
        let cluster = shared_cluster();
        let broker = first_on(&cluster, Listener::Plaintext);
        let config = ConnectionConfig::new()
            .tls(trusting_the_test_ca(&cluster))
            .dial_timeout(Duration::from_secs(5));
        let error = connect(&broker, config).await.unwrap_err();
        assert!(
            matches!(
                error,
                NetError::Tls { .. } | NetError::DialTimeout { .. } | NetError::Disconnected { .. }
            ),
            "{error:?}"
        );
    }
}
