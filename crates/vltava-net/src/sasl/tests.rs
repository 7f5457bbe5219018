//! The SASL exchange driven over an in-memory pipe by a scripted broker:
//! request order, versions, error mapping and the session lifetime.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use vltava_wire::messages::api_versions_response::ApiVersion;
use vltava_wire::messages::{
    ApiVersionsResponse, RequestBody, RequestHeader, SaslAuthenticateResponse,
    SaslHandshakeResponse,
};
use vltava_wire::{ApiKey, ErrorCode, Response};

use super::*;
use crate::config::ConnectionConfig;
use crate::frame;

const BROKER: &str = "fake-broker:9092";

struct FakeBroker {
    reader: ReadHalf<DuplexStream>,
    writer: WriteHalf<DuplexStream>,
}

impl FakeBroker {
    async fn next_request(&mut self) -> (RequestHeader, RequestBody) {
        let frame = frame::read_frame(&mut self.reader, 1 << 20)
            .await
            .expect("a request frame");
        vltava_wire::decode_request(&frame).expect("a valid request")
    }

    async fn respond<R: Response>(&mut self, header: &RequestHeader, body: &R) {
        let mut buf = frame::request_buffer();
        vltava_wire::encode_response(
            header.correlation_id,
            header.request_api_version,
            body,
            &mut buf,
        )
        .unwrap();
        frame::finish_request(&mut buf).unwrap();
        self.writer.write_all(&buf).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    /// Answers the ApiVersions handshake with a Kafka 4-like table.
    async fn api_versions(&mut self) {
        let (header, body) = self.next_request().await;
        assert!(matches!(body, RequestBody::ApiVersions(_)), "{body:?}");
        let table = [
            (ApiKey::ApiVersions, 0, 4),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::SaslHandshake, 1, 1),
            (ApiKey::SaslAuthenticate, 0, 2),
        ];
        let response = ApiVersionsResponse {
            api_keys: table
                .iter()
                .map(|&(key, min, max)| ApiVersion {
                    api_key: key.as_i16(),
                    min_version: min,
                    max_version: max,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        self.respond(&header, &response).await;
    }

    /// Reads a SaslHandshake request and answers `code` with `mechanisms`.
    async fn sasl_handshake(&mut self, code: ErrorCode, mechanisms: &[&str]) -> String {
        let (header, body) = self.next_request().await;
        let RequestBody::SaslHandshake(request) = body else {
            panic!("expected SaslHandshake, got {body:?}")
        };
        assert_eq!(header.request_api_version, 1);
        let response = SaslHandshakeResponse {
            error_code: code.code(),
            mechanisms: mechanisms.iter().map(|m| (*m).to_owned()).collect(),
        };
        self.respond(&header, &response).await;
        request.mechanism
    }

    /// Reads a SaslAuthenticate request; returns its bytes and header.
    async fn sasl_authenticate(&mut self) -> (RequestHeader, Vec<u8>) {
        let (header, body) = self.next_request().await;
        let RequestBody::SaslAuthenticate(request) = body else {
            panic!("expected SaslAuthenticate, got {body:?}")
        };
        assert_eq!(header.request_api_version, 2);
        (header, request.auth_bytes.to_vec())
    }

    async fn accept(&mut self, header: &RequestHeader, bytes: &[u8], lifetime_ms: i64) {
        let response = SaslAuthenticateResponse {
            auth_bytes: Bytes::copy_from_slice(bytes),
            session_lifetime_ms: lifetime_ms,
            ..Default::default()
        };
        self.respond(header, &response).await;
    }

    async fn refuse(&mut self, header: &RequestHeader, message: &str) {
        let response = SaslAuthenticateResponse {
            error_code: ErrorCode::SASL_AUTHENTICATION_FAILED.code(),
            error_message: Some(message.to_owned()),
            ..Default::default()
        };
        self.respond(header, &response).await;
    }
}

/// Runs `Connection::over` with `sasl` against `script`.
async fn run<F>(sasl: Sasl, script: impl FnOnce(FakeBroker) -> F) -> Result<Connection, NetError>
where
    F: Future<Output = ()>,
{
    let (client, server) = tokio::io::duplex(1 << 16);
    let (client_reader, client_writer) = tokio::io::split(client);
    let (reader, writer) = tokio::io::split(server);
    let broker = FakeBroker { reader, writer };
    let config = ConnectionConfig::new()
        .sasl(sasl)
        .request_timeout(Duration::from_secs(5));
    let (connection, ()) = tokio::join!(
        Connection::over(BROKER.to_owned(), client_reader, client_writer, config),
        script(broker)
    );
    connection
}

#[tokio::test]
async fn plain_sends_its_message_after_the_handshakes_and_keeps_the_lifetime() {
    let connection = run(Sasl::plain("alice", "secret"), |mut broker| async move {
        broker.api_versions().await;
        assert_eq!(
            broker.sasl_handshake(ErrorCode::NONE, &["PLAIN"]).await,
            "PLAIN"
        );
        let (header, bytes) = broker.sasl_authenticate().await;
        assert_eq!(bytes, b"\0alice\0secret");
        broker.accept(&header, b"", 3_600_000).await;
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let session = connection.sasl_session().unwrap();
    assert_eq!(session.mechanism(), "PLAIN");
    assert_eq!(session.session_lifetime(), Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn refused_credentials_are_a_non_retriable_authentication_error() {
    let error = run(Sasl::plain("alice", "wrong"), |mut broker| async move {
        broker.api_versions().await;
        broker.sasl_handshake(ErrorCode::NONE, &["PLAIN"]).await;
        let (header, _) = broker.sasl_authenticate().await;
        broker
            .refuse(
                &header,
                "Authentication failed: Invalid username or password",
            )
            .await;
    })
    .await
    .unwrap_err();
    let NetError::Authentication {
        broker,
        mechanism,
        message,
    } = &error
    else {
        panic!("expected Authentication, got {error:?}")
    };
    assert_eq!(broker, BROKER);
    assert_eq!(mechanism, "PLAIN");
    assert!(
        message.contains("Invalid username or password"),
        "{message}"
    );
    assert!(message.contains("SASL_AUTHENTICATION_FAILED"), "{message}");
    assert!(!error.is_retriable());
    let shown = error.to_string();
    assert!(shown.contains(BROKER) && shown.contains("PLAIN"), "{shown}");
    assert!(!shown.contains("wrong"), "the password leaked: {shown}");
}

#[tokio::test]
async fn a_mechanism_the_broker_does_not_enable_lists_the_enabled_ones() {
    let error = run(Sasl::scram_sha_512("alice", "x"), |mut broker| async move {
        broker.api_versions().await;
        let asked = broker
            .sasl_handshake(
                ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                &["PLAIN", "SCRAM-SHA-256"],
            )
            .await;
        assert_eq!(asked, "SCRAM-SHA-512");
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&error, NetError::SaslMechanismNotEnabled { mechanism, enabled, .. }
            if mechanism == "SCRAM-SHA-512" && enabled == &["PLAIN", "SCRAM-SHA-256"]),
        "{error:?}"
    );
    assert!(!error.is_retriable());
    assert!(
        error.to_string().contains("PLAIN, SCRAM-SHA-256"),
        "{error}"
    );
}

/// The broker side of SCRAM-SHA-256 for `password`, with a server
/// signature forged when `forge` is set.
async fn scram_broker(mut broker: FakeBroker, password: &str, forge: bool) {
    let hash = ScramHash::Sha256;
    broker.api_versions().await;
    broker
        .sasl_handshake(ErrorCode::NONE, &["SCRAM-SHA-256"])
        .await;
    let (header, first) = broker.sasl_authenticate().await;
    let first = String::from_utf8(first).unwrap();
    let bare = first.strip_prefix("n,,").unwrap().to_owned();
    let nonce = bare.split(",r=").nth(1).unwrap().to_owned();
    let salt = b"salt-of-the-earth";
    let server_first = format!("r={nonce}SRV,s={},i=4096", BASE64.encode(salt));
    broker.accept(&header, server_first.as_bytes(), 0).await;
    let (header, last) = broker.sasl_authenticate().await;
    let last = String::from_utf8(last).unwrap();
    let (without_proof, _) = last.split_once(",p=").unwrap();
    let salted = hash.salted_password(password.as_bytes(), salt, 4096);
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let mut signature = hash.hmac(&hash.hmac(&salted, b"Server Key"), auth_message.as_bytes());
    if forge {
        signature[0] ^= 1;
    }
    let server_final = format!("v={}", BASE64.encode(signature));
    broker.accept(&header, server_final.as_bytes(), 0).await;
}

#[tokio::test]
async fn scram_runs_two_rounds_and_checks_the_server_signature() {
    let connection = run(Sasl::scram_sha_256("alice", "secret"), |broker| {
        scram_broker(broker, "secret", false)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let session = connection.sasl_session().unwrap();
    assert_eq!(session.mechanism(), "SCRAM-SHA-256");
    assert_eq!(session.session_lifetime(), None);

    let error = run(Sasl::scram_sha_256("alice", "secret"), |broker| {
        scram_broker(broker, "secret", true)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&error, NetError::Authentication { message, .. } if message.contains("server signature")),
        "{error:?}"
    );
    assert!(!error.is_retriable());
}

#[tokio::test]
async fn a_malformed_server_first_message_is_an_error_not_a_panic() {
    let error = run(
        Sasl::scram_sha_512("alice", "secret"),
        |mut broker| async move {
            broker.api_versions().await;
            broker
                .sasl_handshake(ErrorCode::NONE, &["SCRAM-SHA-512"])
                .await;
            let (header, _) = broker.sasl_authenticate().await;
            broker.accept(&header, b"r=,s=,i=\xff", 0).await;
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, NetError::Authentication { mechanism, message, .. }
            if mechanism == "SCRAM-SHA-512" && message.contains("malformed server-first")),
        "{error:?}"
    );
}

#[tokio::test]
async fn oauthbearer_asks_the_callback_and_acknowledges_an_error_challenge() {
    let sasl = Sasl::oauthbearer(|| async {
        Ok(OAuthBearerToken::new("header.payload.").extension("traceId", "t1"))
    });
    let connection = run(sasl.clone(), |mut broker| async move {
        broker.api_versions().await;
        broker
            .sasl_handshake(ErrorCode::NONE, &["OAUTHBEARER"])
            .await;
        let (header, first) = broker.sasl_authenticate().await;
        assert_eq!(
            first,
            b"n,,\x01auth=Bearer header.payload.\x01traceId=t1\x01\x01"
        );
        broker.accept(&header, b"", 0).await;
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        connection.sasl_session().unwrap().mechanism(),
        "OAUTHBEARER"
    );

    // An invalid token: the broker's JSON challenge, the client's \x01,
    // then the broker's refusal, which is what the error carries.
    let error = run(sasl, |mut broker| async move {
        broker.api_versions().await;
        broker
            .sasl_handshake(ErrorCode::NONE, &["OAUTHBEARER"])
            .await;
        let (header, _) = broker.sasl_authenticate().await;
        broker
            .accept(&header, br#"{"status":"invalid_token"}"#, 0)
            .await;
        let (header, ack) = broker.sasl_authenticate().await;
        assert_eq!(ack, b"\x01");
        broker
            .refuse(&header, "Authentication failed: invalid_token")
            .await;
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&error, NetError::Authentication { message, .. } if message.contains("invalid_token")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_failing_token_callback_fails_before_anything_is_authenticated() {
    let sasl = Sasl::oauthbearer_sync(|| Err("the identity provider is down".into()));
    let error = run(sasl, |mut broker| async move {
        broker.api_versions().await;
        broker
            .sasl_handshake(ErrorCode::NONE, &["OAUTHBEARER"])
            .await;
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&error, NetError::Authentication { message, .. }
            if message.contains("token callback failed: the identity provider is down")),
        "{error:?}"
    );
}

#[test]
fn debug_never_shows_a_password() {
    for sasl in [
        Sasl::plain("alice", "hunter2"),
        Sasl::scram_sha_256("alice", "hunter2"),
        Sasl::oauthbearer_sync(|| Ok(OAuthBearerToken::new("hunter2"))),
    ] {
        let shown = format!("{sasl:?} {:?}", ConnectionConfig::new().sasl(sasl.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(sasl.mechanism()), "{shown}");
    }
}
