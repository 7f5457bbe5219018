//! The security listeners every test cluster has beside `PLAINTEXT`, the
//! test credentials they accept, and the test certificates behind `SSL`.
//!
//! Each node listens three times for clients (inter-broker and controller
//! traffic stay on plaintext listeners of their own):
//!
//! | [`Listener`] | Kafka security protocol | what it asks of a client |
//! |---|---|---|
//! | `Plaintext` | `PLAINTEXT` | nothing |
//! | `SaslPlaintext` | `SASL_PLAINTEXT` | SASL: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER` |
//! | `Ssl` | `SSL` | TLS, trusting [`Cluster::ca_pem`](crate::Cluster::ca_pem); no client certificate |
//!
//! `PLAIN` and both SCRAM mechanisms accept [`SASL_USERNAME`] with
//! [`SASL_PASSWORD`] (the SCRAM credentials are written at format time).
//! `OAUTHBEARER` uses Kafka's default validator of *unsecured* JWTs
//! (`{"alg":"none"}`, a `sub` claim, `iat` and `exp` in seconds): fine for
//! tests, never for production.
//!
//! The certificates are made at `up` by `rcgen`: a CA, and one broker
//! certificate it signs with the subject alternative names IP `127.0.0.1`
//! and DNS `localhost`, which every node serves.

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::{Error, Result};

/// The user that `PLAIN`, `SCRAM-SHA-256` and `SCRAM-SHA-512` accept.
pub const SASL_USERNAME: &str = "vltava-test";
/// [`SASL_USERNAME`]'s password, for every mechanism.
pub const SASL_PASSWORD: &str = "vltava-test-secret";
/// The SASL mechanisms the `SASL_PLAINTEXT` listener enables.
pub const SASL_MECHANISMS: [&str; 4] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// A client listener of every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listener {
    /// `PLAINTEXT`: no TLS, no authentication (what [`Cluster::bootstrap`](crate::Cluster::bootstrap) names).
    Plaintext,
    /// `SASL_PLAINTEXT`: SASL authentication with [`SASL_MECHANISMS`], no TLS.
    SaslPlaintext,
    /// `SSL`: TLS with the cluster's test certificate, no client certificate.
    Ssl,
}

impl Listener {
    /// The listener's name (and security protocol) in the broker config.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Plaintext => "PLAINTEXT",
            Listener::SaslPlaintext => "SASL_PLAINTEXT",
            Listener::Ssl => "SSL",
        }
    }
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A cluster's test certificates, in PEM.
pub(crate) struct Certificates {
    /// The CA certificate clients trust.
    pub(crate) ca: String,
    /// The broker's private key (PKCS#8, unencrypted), its certificate and
    /// the CA's: a Kafka `PEM` keystore file.
    pub(crate) keystore: String,
}

/// Makes a CA and a broker certificate for 127.0.0.1 and localhost.
pub(crate) fn certificates() -> Result<Certificates> {
    let (ca_params, ca_key, ca_pem) = new_ca("Vltava test CA")?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(cert_error)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(cert_error)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "vltava test broker");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let certificate = params.signed_by(&key, &issuer).map_err(cert_error)?;
    let keystore = format!("{}{}{ca_pem}", key.serialize_pem(), certificate.pem());
    Ok(Certificates {
        ca: ca_pem,
        keystore,
    })
}

/// A fresh CA certificate in PEM that no test cluster trusts: for tests
/// that a client refuses a broker whose certificate it cannot verify.
pub fn untrusted_ca_pem() -> Result<String> {
    Ok(new_ca("Vltava untrusted test CA")?.2)
}

fn new_ca(name: &str) -> Result<(CertificateParams, KeyPair, String)> {
    let key = KeyPair::generate().map_err(cert_error)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key).map_err(cert_error)?.pem();
    Ok((params, key, pem))
}

fn cert_error(error: rcgen::Error) -> Error {
    Error::Usage(format!("generating test certificates: {error}"))
}

/// The broker settings of the security listeners, for one node. `keystore`
/// is the path of the PEM keystore file.
pub(crate) fn broker_settings(keystore: &str) -> Vec<(String, String)> {
    let sasl = "listener.name.sasl_plaintext";
    let mut settings = vec![
        (
            format!("{sasl}.sasl.enabled.mechanisms"),
            SASL_MECHANISMS.join(","),
        ),
        (
            format!("{sasl}.plain.sasl.jaas.config"),
            format!(
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 user_{SASL_USERNAME}=\"{SASL_PASSWORD}\";"
            ),
        ),
        (
            format!("{sasl}.oauthbearer.sasl.jaas.config"),
            // The claim is for the broker's own login, which it never uses
            // here; the validator is Kafka's default, for unsecured JWTs.
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"vltava-broker\";"
                .to_owned(),
        ),
        (
            "listener.name.ssl.ssl.keystore.type".to_owned(),
            "PEM".to_owned(),
        ),
        (
            "listener.name.ssl.ssl.keystore.location".to_owned(),
            keystore.to_owned(),
        ),
        (
            "listener.name.ssl.ssl.client.auth".to_owned(),
            "none".to_owned(),
        ),
    ];
    for scram in ["scram-sha-256", "scram-sha-512"] {
        settings.push((
            format!("{sasl}.{scram}.sasl.jaas.config"),
            "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_owned(),
        ));
    }
    settings
}

/// The `kafka-storage format` arguments that create the SCRAM credentials.
pub(crate) fn scram_format_args() -> Vec<String> {
    ["SCRAM-SHA-256", "SCRAM-SHA-512"]
        .iter()
        .flat_map(|mechanism| {
            [
                "--add-scram".to_owned(),
                format!("{mechanism}=[name={SASL_USERNAME},password={SASL_PASSWORD}]"),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_pem_with_a_key_and_a_chain() {
        let certs = certificates().unwrap();
        assert_eq!(certs.ca.matches("BEGIN CERTIFICATE").count(), 1);
        assert_eq!(certs.keystore.matches("BEGIN PRIVATE KEY").count(), 1);
        assert_eq!(certs.keystore.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(certs.keystore.ends_with(&certs.ca));
        assert_ne!(untrusted_ca_pem().unwrap(), certs.ca);
    }

    #[test]
    fn scram_credentials_name_the_test_user() {
        let args = scram_format_args();
        assert_eq!(args.len(), 4);
        assert_eq!(
            args[1],
            format!("SCRAM-SHA-256=[name={SASL_USERNAME},password={SASL_PASSWORD}]")
        );
    }
}
