//! SASL authentication: [`Sasl`] (a mechanism and its credentials), the
//! exchange [`Connection::connect`](crate::Connection::connect) runs right
//! after the ApiVersions handshake, and [`SaslSession`], what it leaves.
//!
//! The exchange is Kafka's since 1.0 (KIP-152): SaslHandshake (v1) names
//! the mechanism, then SaslAuthenticate requests carry the mechanism's
//! messages until the mechanism is done. Each mechanism is a small sans-IO
//! state machine (`plain.rs`, `scram.rs`, `oauth.rs`) that takes the
//! broker's bytes and hands back the next message; this file drives them
//! over a [`Connection`] and turns every failure into a typed,
//! non-retriable [`NetError`].

mod oauth;
mod plain;
mod scram;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use vltava_wire::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use vltava_wire::{ApiKey, ErrorCode};

use crate::connection::Connection;
use crate::error::NetError;

use oauth::{OAuthBearerClient, TokenCallback};
pub use oauth::{OAuthBearerToken, TokenError};
use scram::{ScramClient, ScramHash};

/// SASL authentication of a connection: a mechanism and its credentials.
///
/// ```
/// use vltava_net::{ConnectionConfig, OAuthBearerToken, Sasl};
///
/// let scram = ConnectionConfig::new().sasl(Sasl::scram_sha_512("alice", "alice-secret"));
/// let oauth = ConnectionConfig::new().sasl(Sasl::oauthbearer(|| async {
///     // Fetch a token from the identity provider here.
///     Ok(OAuthBearerToken::new("eyJhbGciOi..."))
/// }));
/// ```
///
/// Passwords and tokens are never printed by `Debug`.
#[derive(Clone)]
pub struct Sasl {
    mechanism: Mechanism,
}

#[derive(Clone)]
enum Mechanism {
    Plain {
        username: String,
        password: String,
    },
    Scram {
        hash: ScramHash,
        username: String,
        password: String,
    },
    OAuthBearer(TokenCallback),
}

impl Sasl {
    /// `PLAIN` (RFC 4616): the password crosses the wire as it is, so use it
    /// only over TLS or on a trusted network.
    pub fn plain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            mechanism: Mechanism::Plain {
                username: username.into(),
                password: password.into(),
            },
        }
    }

    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677): the password never crosses the
    /// wire, and the broker has to prove that it knows the credentials too.
    pub fn scram_sha_256(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::scram(ScramHash::Sha256, username.into(), password.into())
    }

    /// `SCRAM-SHA-512`, like [`Sasl::scram_sha_256`] with SHA-512.
    pub fn scram_sha_512(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::scram(ScramHash::Sha512, username.into(), password.into())
    }

    fn scram(hash: ScramHash, username: String, password: String) -> Self {
        Self {
            mechanism: Mechanism::Scram {
                hash,
                username,
                password,
            },
        }
    }

    /// `OAUTHBEARER` (RFC 7628, KIP-255) with a token from `callback`,
    /// called once for every new connection. It returns a bearer token
    /// (and, optionally, SASL extensions) or an error, which fails the
    /// connection with [`NetError::Authentication`].
    pub fn oauthbearer<F, Fut>(callback: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<OAuthBearerToken, TokenError>> + Send + 'static,
    {
        Self {
            mechanism: Mechanism::OAuthBearer(TokenCallback::new(move || {
                Box::pin(callback()) as oauth::TokenFuture
            })),
        }
    }

    /// [`Sasl::oauthbearer`] with a callback that returns at once (a token
    /// the application keeps fresh itself). It runs on the connecting task,
    /// so it must not block for long.
    pub fn oauthbearer_sync<F>(callback: F) -> Self
    where
        F: Fn() -> Result<OAuthBearerToken, TokenError> + Send + Sync + 'static,
    {
        Self {
            mechanism: Mechanism::OAuthBearer(TokenCallback::new(move || {
                let token = callback();
                Box::pin(std::future::ready(token)) as oauth::TokenFuture
            })),
        }
    }

    /// The mechanism's name as Kafka's `sasl.mechanism` spells it:
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub fn mechanism(&self) -> &'static str {
        match &self.mechanism {
            Mechanism::Plain { .. } => "PLAIN",
            Mechanism::Scram { hash, .. } => hash.mechanism(),
            Mechanism::OAuthBearer(_) => "OAUTHBEARER",
        }
    }

    /// Starts the mechanism's exchange: its state machine and first message.
    async fn start(&self) -> Result<(Exchange, Vec<u8>), String> {
        Ok(match &self.mechanism {
            Mechanism::Plain { username, password } => (
                Exchange::Plain,
                plain::initial_response(username, password)?,
            ),
            Mechanism::Scram {
                hash,
                username,
                password,
            } => {
                let client = ScramClient::new(*hash, username, password)?;
                let first = client.client_first();
                (Exchange::Scram(client), first)
            }
            Mechanism::OAuthBearer(callback) => {
                let token = callback
                    .call()
                    .await
                    .map_err(|e| format!("the token callback failed: {e}"))?;
                let (client, first) = OAuthBearerClient::start(&token)?;
                (Exchange::OAuthBearer(client), first)
            }
        })
    }
}

impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Sasl");
        debug.field("mechanism", &self.mechanism());
        match &self.mechanism {
            Mechanism::Plain { username, .. } | Mechanism::Scram { username, .. } => {
                debug.field("username", username);
            }
            Mechanism::OAuthBearer(_) => {}
        }
        debug.finish_non_exhaustive()
    }
}

/// What a successful SASL authentication left: the mechanism, and how long
/// the broker lets the session live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslSession {
    mechanism: &'static str,
    session_lifetime: Option<Duration>,
}

impl SaslSession {
    /// The mechanism that authenticated the connection.
    pub fn mechanism(&self) -> &'static str {
        self.mechanism
    }

    /// The session lifetime the broker announced in its last
    /// SaslAuthenticate response (v1+, KIP-368), `None` when it set none
    /// (`connections.max.reauth.ms` unset, or SaslAuthenticate v0).
    ///
    /// When it runs out, the broker closes the connection at its next
    /// request. This client does not re-authenticate a live connection
    /// (KIP-368) yet: requests then fail with a retriable
    /// [`NetError::Disconnected`] and a new connection authenticates anew.
    pub fn session_lifetime(&self) -> Option<Duration> {
        self.session_lifetime
    }
}

/// A mechanism's state machine, between two SaslAuthenticate round trips.
enum Exchange {
    /// PLAIN is done once the broker accepts its only message.
    Plain,
    Scram(ScramClient),
    OAuthBearer(OAuthBearerClient),
}

/// What a mechanism does with the broker's answer to its last message.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Send these bytes in the next SaslAuthenticate request.
    Respond(Vec<u8>),
    /// Authenticated.
    Done,
}

impl Exchange {
    /// Takes the broker's bytes (the broker accepted the last message).
    fn next(&mut self, challenge: &[u8]) -> Result<Step, String> {
        match self {
            Self::Plain => Ok(Step::Done),
            Self::Scram(client) => client.next(challenge),
            Self::OAuthBearer(client) => client.next(challenge),
        }
    }
}

/// No mechanism here needs more round trips than this (SCRAM needs two).
const MAX_ROUNDS: usize = 4;

/// Authenticates `connection`, fresh from its ApiVersions handshake, with
/// `sasl`: SaslHandshake, then SaslAuthenticate until the mechanism is done.
/// Nothing else is sent meanwhile: the connection is not handed out yet.
pub(crate) async fn authenticate(
    connection: &Connection,
    sasl: &Sasl,
) -> Result<SaslSession, NetError> {
    let mechanism = sasl.mechanism();
    let failed = |message: String| NetError::Authentication {
        broker: connection.broker().to_owned(),
        mechanism: mechanism.to_owned(),
        message,
    };
    // SaslHandshake v0 means the pre-1.0 framing (bare SASL tokens, no
    // SaslAuthenticate), which this client does not speak.
    let handshake_version = connection.version_for(ApiKey::SaslHandshake)?;
    if handshake_version < 1 {
        return Err(failed(
            "the broker speaks only SaslHandshake v0 (Kafka before 1.0), which this client does not support".to_owned(),
        ));
    }
    let authenticate_version = connection.version_for(ApiKey::SaslAuthenticate)?;
    let handshake = connection
        .send_at(
            handshake_version,
            SaslHandshakeRequest {
                mechanism: mechanism.to_owned(),
            },
        )
        .await?;
    match ErrorCode::from(handshake.error_code) {
        ErrorCode::NONE => {}
        ErrorCode::UNSUPPORTED_SASL_MECHANISM => {
            return Err(NetError::SaslMechanismNotEnabled {
                broker: connection.broker().to_owned(),
                mechanism: mechanism.to_owned(),
                enabled: handshake.mechanisms,
            });
        }
        code => return Err(failed(format!("SaslHandshake was answered with {code}"))),
    }

    let (mut exchange, mut message) = sasl.start().await.map_err(failed)?;
    for _ in 0..MAX_ROUNDS {
        let response = connection
            .send_at(
                authenticate_version,
                SaslAuthenticateRequest {
                    auth_bytes: Bytes::from(message),
                    ..Default::default()
                },
            )
            .await?;
        let code = ErrorCode::from(response.error_code);
        if code.is_err() {
            let message = match response.error_message.filter(|m| !m.is_empty()) {
                Some(said) => format!("{said} ({code:?})"),
                None => code.to_string(),
            };
            return Err(failed(message));
        }
        match exchange.next(&response.auth_bytes).map_err(failed)? {
            Step::Respond(next) => message = next,
            Step::Done => {
                return Ok(SaslSession {
                    mechanism,
                    session_lifetime: u64::try_from(response.session_lifetime_ms)
                        .ok()
                        .filter(|&ms| ms > 0)
                        .map(Duration::from_millis),
                });
            }
        }
    }
    Err(failed(format!(
        "the broker still asked for more after {MAX_ROUNDS} rounds"
    )))
}

#[cfg(test)]
mod tests;
