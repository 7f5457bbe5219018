//! SASL `SCRAM-SHA-256` and `SCRAM-SHA-512` (RFC 5802, RFC 7677), client
//! side, without channel binding (GS2 header `n,,`), as Kafka speaks them.
//!
//! ```text
//! client-first  n,,n=<user>,r=<client nonce>
//! server-first  r=<client nonce + server nonce>,s=<salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<client proof>
//! server-final  v=<server signature>          (or e=<error>)
//! ```
//!
//! The server's signature is verified (in constant time): a broker that
//! does not know the credentials does not authenticate the client.
//! Passwords are used as UTF-8 bytes without SASLprep, like the Java client.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::Step;

/// The fewest iterations accepted: the Java client's minimum for both
/// mechanisms.
const MIN_ITERATIONS: u32 = 4096;
/// The most iterations accepted. Kafka itself refuses credentials with more
/// than 16384; the cap keeps a hostile broker from making the client hash
/// for minutes.
const MAX_ITERATIONS: u32 = 65_536;
/// Random bytes in a client nonce (base64-encoded on the wire).
const NONCE_BYTES: usize = 24;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    pub(super) fn mechanism(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub(super) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    pub(super) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => mac::<Hmac<Sha256>>(key, data)
                .finalize()
                .into_bytes()
                .to_vec(),
            Self::Sha512 => mac::<Hmac<Sha512>>(key, data)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// Whether `expected` is HMAC(key, data), compared in constant time.
    fn verify_hmac(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        match self {
            Self::Sha256 => mac::<Hmac<Sha256>>(key, data)
                .verify_slice(expected)
                .is_ok(),
            Self::Sha512 => mac::<Hmac<Sha512>>(key, data)
                .verify_slice(expected)
                .is_ok(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of this hash.
    pub(super) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            Self::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// An HMAC over `data`. HMAC takes keys of any length, so `new_from_slice`
/// cannot fail.
fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> M {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac
}

/// The client side of one SCRAM exchange.
pub(super) struct ScramClient {
    hash: ScramHash,
    password: String,
    client_nonce: String,
    /// `n=<user>,r=<client nonce>`, part of the AuthMessage.
    client_first_bare: String,
    state: State,
}

enum State {
    /// client-first is out; the server-first message comes next.
    FirstSent,
    /// client-final is out; the server-final must carry the signature
    /// HMAC(ServerKey, AuthMessage).
    FinalSent {
        server_key: Vec<u8>,
        auth_message: String,
    },
    Done,
}

impl ScramClient {
    /// A client with a fresh nonce from the operating system's CSPRNG.
    pub(super) fn new(hash: ScramHash, username: &str, password: &str) -> Result<Self, String> {
        let mut bytes = [0u8; NONCE_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("no random bytes for the client nonce: {e}"))?;
        Self::with_nonce(hash, username, password, BASE64.encode(bytes))
    }

    /// A client with the given nonce (printable ASCII, no comma).
    fn with_nonce(
        hash: ScramHash,
        username: &str,
        password: &str,
        client_nonce: String,
    ) -> Result<Self, String> {
        if username.is_empty() {
            return Err("the username is empty".to_owned());
        }
        let client_first_bare = format!("n={},r={client_nonce}", escape_username(username));
        Ok(Self {
            hash,
            password: password.to_owned(),
            client_nonce,
            client_first_bare,
            state: State::FirstSent,
        })
    }

    /// The client-first message: GS2 header (no channel binding, no
    /// authorization id) and the bare message.
    pub(super) fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Takes the broker's server-first or server-final message.
    pub(super) fn next(&mut self, challenge: &[u8]) -> Result<Step, String> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::FirstSent => {
                let (final_message, server_key, auth_message) = self.client_final(challenge)?;
                self.state = State::FinalSent {
                    server_key,
                    auth_message,
                };
                Ok(Step::Respond(final_message))
            }
            State::FinalSent {
                server_key,
                auth_message,
            } => {
                self.verify_server_final(challenge, &server_key, &auth_message)?;
                Ok(Step::Done)
            }
            State::Done => Err("the broker sent a message after the exchange ended".to_owned()),
        }
    }

    /// Computes client-final from server-first, and the ServerKey and
    /// AuthMessage that server-final's signature is checked with.
    fn client_final(&self, server_first: &[u8]) -> Result<(Vec<u8>, Vec<u8>, String), String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "malformed server-first-message: not UTF-8".to_owned())?;
        let first = parse_server_first(server_first, &self.client_nonce)?;
        let hash = self.hash;
        let salted = hash.salted_password(self.password.as_bytes(), &first.salt, first.iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.hash(&client_key);
        // c=biws: base64 of the GS2 header `n,,`.
        let without_proof = format!("c=biws,r={}", first.nonce);
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hash.hmac(&salted, b"Server Key");
        let message = format!("{without_proof},p={}", BASE64.encode(proof));
        Ok((message.into_bytes(), server_key, auth_message))
    }

    fn verify_server_final(
        &self,
        server_final: &[u8],
        server_key: &[u8],
        auth_message: &str,
    ) -> Result<(), String> {
        let server_final = std::str::from_utf8(server_final)
            .map_err(|_| "malformed server-final-message: not UTF-8".to_owned())?;
        let first = server_final.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(format!("the broker refused the client proof: {error}"));
        }
        let Some(signature) = first.strip_prefix("v=") else {
            return Err(format!(
                "malformed server-final-message: expected `v=` or `e=`, got `{}`",
                shorten(server_final)
            ));
        };
        let signature = BASE64.decode(signature).map_err(|_| {
            "malformed server-final-message: the signature is not base64".to_owned()
        })?;
        if !self
            .hash
            .verify_hmac(server_key, auth_message.as_bytes(), &signature)
        {
            return Err(
                "the broker's server signature is wrong: it does not know these credentials (is something else answering?)"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// What server-first carries.
#[derive(Debug)]
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

/// Parses `[m=ext,]r=<nonce>,s=<salt>,i=<iterations>[,ext...]`.
fn parse_server_first<'a>(message: &'a str, client_nonce: &str) -> Result<ServerFirst<'a>, String> {
    let malformed = |what: &str| {
        format!(
            "malformed server-first-message ({what}): `{}`",
            shorten(message)
        )
    };
    if let Some(error) = message.strip_prefix("e=") {
        return Err(format!("the broker refused: {error}"));
    }
    let mut attributes = message.split(',');
    let mut next = |key: &str| {
        attributes
            .next()
            .and_then(|a| a.strip_prefix(key))
            .ok_or_else(|| malformed(&format!("no `{key}` where expected")))
    };
    if message.starts_with("m=") {
        return Err(malformed("a mandatory extension this client does not know"));
    }
    let nonce = next("r=")?;
    let salt = next("s=")?;
    let iterations = next("i=")?;
    if nonce.len() <= client_nonce.len() || !nonce.starts_with(client_nonce) {
        return Err(malformed("the nonce does not extend the client's"));
    }
    if !nonce.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed("the nonce holds unprintable characters"));
    }
    let salt = BASE64
        .decode(salt)
        .map_err(|_| malformed("the salt is not base64"))?;
    if salt.is_empty() {
        return Err(malformed("the salt is empty"));
    }
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| malformed("the iteration count is not a number"))?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(malformed(&format!(
            "{iterations} iterations, outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
        )));
    }
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// RFC 5802 `saslname`: `=` as `=3D` and `,` as `=2C`.
fn escape_username(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// At most 100 characters of a broker's message, for an error.
fn shorten(message: &str) -> String {
    match message.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &message[..cut]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user `user`, password `pencil`.
    const RFC7677_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const RFC7677_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc7677_client() -> ScramClient {
        ScramClient::with_nonce(
            ScramHash::Sha256,
            "user",
            "pencil",
            RFC7677_CLIENT_NONCE.to_owned(),
        )
        .unwrap()
    }

    #[test]
    fn scram_sha_256_matches_the_rfc_7677_example() {
        let mut client = rfc7677_client();
        assert_eq!(
            client.client_first(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec()
        );
        let Step::Respond(client_final) = client.next(RFC7677_SERVER_FIRST.as_bytes()).unwrap()
        else {
            panic!("expected client-final")
        };
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            RFC7677_CLIENT_FINAL
        );
        assert_eq!(
            client.next(RFC7677_SERVER_FINAL.as_bytes()).unwrap(),
            Step::Done
        );
        // Nothing is accepted after the end.
        assert!(client.next(b"v=").is_err());
    }

    #[test]
    fn a_wrong_server_signature_fails() {
        let mut client = rfc7677_client();
        client.next(RFC7677_SERVER_FIRST.as_bytes()).unwrap();
        // The RFC's signature with its first byte changed.
        let forged = "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        let error = client.next(forged.as_bytes()).unwrap_err();
        assert!(error.contains("server signature is wrong"), "{error}");
    }

    #[test]
    fn a_server_final_error_is_reported() {
        let mut client = rfc7677_client();
        client.next(RFC7677_SERVER_FIRST.as_bytes()).unwrap();
        let error = client.next(b"e=invalid-proof").unwrap_err();
        assert!(error.contains("invalid-proof"), "{error}");
    }

    #[test]
    fn the_rfc_5802_flow_end_to_end_with_a_simulated_server() {
        // A server computing its side from the same password (RFC 5802
        // section 3), for both hashes, with a random client nonce.
        for hash in [ScramHash::Sha256, ScramHash::Sha512] {
            let mut client = ScramClient::new(hash, "us=er,x", "päss").unwrap();
            let first = String::from_utf8(client.client_first()).unwrap();
            let bare = first.strip_prefix("n,,").unwrap();
            assert!(bare.starts_with("n=us=3Der=2Cx,r="), "{bare}");
            let client_nonce = bare.split(",r=").nth(1).unwrap();
            assert_eq!(client_nonce.len(), 32);

            let salt = b"0123456789abcdef";
            let server_first = format!("r={client_nonce}srvNONCE,s={},i=4096", BASE64.encode(salt));
            let Step::Respond(client_final) = client.next(server_first.as_bytes()).unwrap() else {
                panic!("expected client-final")
            };
            let client_final = String::from_utf8(client_final).unwrap();
            let (without_proof, proof) = client_final.split_once(",p=").unwrap();
            assert_eq!(without_proof, format!("c=biws,r={client_nonce}srvNONCE"));

            // The server's check: ClientKey = proof XOR ClientSignature,
            // and H(ClientKey) must be the StoredKey.
            let salted = hash.salted_password("päss".as_bytes(), salt, 4096);
            let stored_key = hash.hash(&hash.hmac(&salted, b"Client Key"));
            let auth_message = format!("{bare},{server_first},{without_proof}");
            let signature = hash.hmac(&stored_key, auth_message.as_bytes());
            let client_key: Vec<u8> = BASE64
                .decode(proof)
                .unwrap()
                .iter()
                .zip(&signature)
                .map(|(p, s)| p ^ s)
                .collect();
            assert_eq!(hash.hash(&client_key), stored_key, "{hash:?}");
            assert!(hash.verify_hmac(&stored_key, auth_message.as_bytes(), &signature));

            let server_key = hash.hmac(&salted, b"Server Key");
            let server_signature = hash.hmac(&server_key, auth_message.as_bytes());
            let server_final = format!("v={}", BASE64.encode(server_signature));
            assert_eq!(client.next(server_final.as_bytes()).unwrap(), Step::Done);
        }
    }

    #[test]
    fn malformed_server_first_messages_are_typed_errors() {
        let salt = "W22ZaJ0SNY7soEsUEjb6gQ==";
        let n = RFC7677_CLIENT_NONCE;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"\xff\xfe".to_vec(), "UTF-8"),
            (b"".to_vec(), "`r=`"),
            (format!("s={salt},r={n}x,i=4096").into_bytes(), "`r=`"),
            (format!("r={n}x,i=4096").into_bytes(), "`s=`"),
            (format!("r={n}x,s={salt}").into_bytes(), "`i=`"),
            (format!("r=other,s={salt},i=4096").into_bytes(), "nonce"),
            (format!("r={n},s={salt},i=4096").into_bytes(), "nonce"),
            (format!("r={n}x,s=!!!,i=4096").into_bytes(), "base64"),
            (format!("r={n}x,s=,i=4096").into_bytes(), "empty"),
            (format!("r={n}x,s={salt},i=many").into_bytes(), "number"),
            (format!("r={n}x,s={salt},i=1").into_bytes(), "iterations"),
            (
                format!("r={n}x,s={salt},i=4000000000").into_bytes(),
                "iterations",
            ),
            (format!("r={n}x,s={salt},i=-1").into_bytes(), "number"),
            (
                format!("m=ext,r={n}x,s={salt},i=4096").into_bytes(),
                "mandatory",
            ),
            (b"e=unknown-user".to_vec(), "unknown-user"),
        ];
        for (message, expected) in cases {
            let mut client = rfc7677_client();
            let error = client.next(&message).unwrap_err();
            assert!(
                error.contains(expected),
                "{:?}: {error}",
                String::from_utf8_lossy(&message)
            );
        }
    }

    #[test]
    fn malformed_server_final_messages_are_typed_errors() {
        for (message, expected) in [
            (&b"\xff"[..], "UTF-8"),
            (b"", "expected `v=`"),
            (b"x=abc", "expected `v=`"),
            (b"v=***", "base64"),
            (b"v=", "signature is wrong"),
            (b"v=AAAA", "signature is wrong"),
        ] {
            let mut client = rfc7677_client();
            client.next(RFC7677_SERVER_FIRST.as_bytes()).unwrap();
            let error = client.next(message).unwrap_err();
            assert!(error.contains(expected), "{message:?}: {error}");
        }
    }

    #[test]
    fn long_broker_messages_are_shortened_in_errors() {
        let long = "x".repeat(10_000);
        let mut client = rfc7677_client();
        let error = client.next(long.as_bytes()).unwrap_err();
        assert!(error.len() < 300, "{}", error.len());
    }

    #[test]
    fn nonces_differ_between_clients() {
        let a = ScramClient::new(ScramHash::Sha512, "u", "p").unwrap();
        let b = ScramClient::new(ScramHash::Sha512, "u", "p").unwrap();
        assert_ne!(a.client_nonce, b.client_nonce);
        assert!(!a.client_nonce.contains(','));
    }
}
