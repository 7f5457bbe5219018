//! SASL `OAUTHBEARER` (RFC 7628, Kafka's KIP-255): the application's token
//! callback, and the client side of the exchange.
//!
//! The client's first message is `n,,` `\x01auth=Bearer <token>` then each
//! extension as `\x01key=value`, then `\x01\x01`: the GS2 header with no
//! authorization id, as the Java client sends it. The broker accepts it
//! with an empty challenge; or it answers a JSON error challenge, to which
//! the client must answer a lone `\x01` before the broker fails the
//! exchange with its error (RFC 7628 section 3.2.3).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Step;

/// The error an OAUTHBEARER token callback returns.
pub type TokenError = Box<dyn std::error::Error + Send + Sync>;

/// What the callback's future resolves to.
pub(super) type TokenFuture =
    Pin<Box<dyn Future<Output = Result<OAuthBearerToken, TokenError>> + Send>>;

/// The application's token callback, shared by every connection.
#[derive(Clone)]
pub(super) struct TokenCallback(Arc<dyn Fn() -> TokenFuture + Send + Sync>);

impl TokenCallback {
    pub(super) fn new(callback: impl Fn() -> TokenFuture + Send + Sync + 'static) -> Self {
        Self(Arc::new(callback))
    }

    pub(super) fn call(&self) -> TokenFuture {
        (self.0)()
    }
}

/// A bearer token for `OAUTHBEARER`, with optional SASL extensions
/// (KIP-342), as a token callback returns it.
///
/// ```
/// use vltava_net::OAuthBearerToken;
///
/// let token = OAuthBearerToken::new("eyJhbGciOi...").extension("traceId", "123");
/// assert_eq!(token.extensions(), [("traceId".to_owned(), "123".to_owned())]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    value: String,
    extensions: Vec<(String, String)>,
}

impl OAuthBearerToken {
    /// A token (for Kafka, usually a JWT) with no extensions.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            extensions: Vec::new(),
        }
    }

    /// Adds a SASL extension. Keys are letters only and not `auth`; values
    /// are printable ASCII, space, tab, CR or LF (RFC 7628). Others fail
    /// the connection with [`NetError::Authentication`](crate::NetError).
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((key.into(), value.into()));
        self
    }

    /// The token.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The SASL extensions, in the order they are sent.
    pub fn extensions(&self) -> &[(String, String)] {
        &self.extensions
    }
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"<redacted>")
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// The client side, after its first message.
#[derive(Debug)]
pub(super) enum OAuthBearerClient {
    /// The first message is out.
    Sent,
    /// The broker answered an error challenge, and the client its `\x01`:
    /// the broker must now fail the exchange.
    ErrorAcknowledged(String),
}

/// Separates the key-value pairs of the message (`kvsep`).
const SEPARATOR: u8 = 0x01;

impl OAuthBearerClient {
    /// Builds the client's first message for `token`.
    pub(super) fn start(token: &OAuthBearerToken) -> Result<(Self, Vec<u8>), String> {
        Ok((Self::Sent, initial_response(token)?))
    }

    /// Takes the broker's bytes after it accepted the last message.
    pub(super) fn next(&mut self, challenge: &[u8]) -> Result<Step, String> {
        match self {
            Self::Sent if challenge.is_empty() => Ok(Step::Done),
            Self::Sent => {
                // An error challenge: a JSON object such as
                // {"status":"invalid_token"}. Acknowledge it; the broker
                // then fails the exchange with its own message.
                *self = Self::ErrorAcknowledged(String::from_utf8_lossy(challenge).into_owned());
                Ok(Step::Respond(vec![SEPARATOR]))
            }
            Self::ErrorAcknowledged(error) => Err(format!(
                "the broker sent the error challenge {error} but then did not fail the exchange"
            )),
        }
    }
}

/// `n,,\x01auth=Bearer <token>\x01[key=value\x01]...\x01`.
fn initial_response(token: &OAuthBearerToken) -> Result<Vec<u8>, String> {
    // RFC 6750's b64token is a subset of this; the broker judges the rest.
    if token.value.is_empty() || !token.value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the token callback returned an empty token, or one with characters a bearer token cannot hold".to_owned(),
        );
    }
    let mut message = Vec::with_capacity(token.value.len() + 32);
    message.extend_from_slice(b"n,,");
    message.push(SEPARATOR);
    message.extend_from_slice(b"auth=Bearer ");
    message.extend_from_slice(token.value.as_bytes());
    message.push(SEPARATOR);
    for (key, value) in &token.extensions {
        check_extension(key, value)?;
        message.extend_from_slice(key.as_bytes());
        message.push(b'=');
        message.extend_from_slice(value.as_bytes());
        message.push(SEPARATOR);
    }
    message.push(SEPARATOR);
    Ok(message)
}

/// RFC 7628: `key = 1*(ALPHA)`, `value = *(VCHAR / SP / HTAB / CR / LF)`;
/// `auth` is the token's own key.
fn check_extension(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "SASL extension key `{key}` is not made of letters only"
        ));
    }
    if key == "auth" {
        return Err("SASL extension key `auth` is reserved for the token".to_owned());
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Err(format!(
            "the value of SASL extension `{key}` holds characters RFC 7628 does not allow"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_message_follows_rfc_7628() {
        let (_, message) = OAuthBearerClient::start(&OAuthBearerToken::new("abc.def.")).unwrap();
        assert_eq!(message, b"n,,\x01auth=Bearer abc.def.\x01\x01".to_vec());
    }

    #[test]
    fn extensions_follow_the_token() {
        let token = OAuthBearerToken::new("t0k")
            .extension("traceId", "a b")
            .extension("logicalCluster", "lkc-1");
        let (_, message) = OAuthBearerClient::start(&token).unwrap();
        assert_eq!(
            message,
            b"n,,\x01auth=Bearer t0k\x01traceId=a b\x01logicalCluster=lkc-1\x01\x01".to_vec()
        );
    }

    #[test]
    fn bad_tokens_and_extensions_are_refused() {
        for token in [
            OAuthBearerToken::new(""),
            OAuthBearerToken::new("has space"),
            OAuthBearerToken::new("ctl\x01"),
            OAuthBearerToken::new("t").extension("auth", "x"),
            OAuthBearerToken::new("t").extension("bad-key", "x"),
            OAuthBearerToken::new("t").extension("", "x"),
            OAuthBearerToken::new("t").extension("k", "v\x01"),
        ] {
            assert!(OAuthBearerClient::start(&token).is_err(), "{token:?}");
        }
    }

    #[test]
    fn an_empty_challenge_ends_it_and_an_error_challenge_is_acknowledged() {
        let (mut client, _) = OAuthBearerClient::start(&OAuthBearerToken::new("t")).unwrap();
        assert_eq!(client.next(b"").unwrap(), Step::Done);

        let (mut client, _) = OAuthBearerClient::start(&OAuthBearerToken::new("t")).unwrap();
        let json = br#"{"status":"invalid_token"}"#;
        assert_eq!(client.next(json).unwrap(), Step::Respond(vec![0x01]));
        // A broker that then pretends success is an error, not a success.
        let error = client.next(b"").unwrap_err();
        assert!(error.contains("invalid_token"), "{error}");
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", OAuthBearerToken::new("secret-token"));
        assert!(!shown.contains("secret-token"), "{shown}");
    }
}
