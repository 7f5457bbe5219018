//! TLS to brokers through rustls (feature `tls`, on by default): [`TlsConfig`]
//! and the client handshake that [`Connection::connect`] runs between the
//! TCP dial and the ApiVersions handshake.
//!
//! The crypto provider is rustls's `ring` one, named explicitly rather than
//! taken from the process default, so a program that also links rustls with
//! `aws-lc-rs` does not make [`TlsConfig::from_ca_pem`] ambiguous.
//!
//! [`Connection::connect`]: crate::Connection::connect

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::NetError;

/// How a [`Connection`](crate::Connection) speaks TLS: a rustls
/// [`ClientConfig`] (trusted roots, client certificate, protocol versions),
/// shared by every connection that uses it.
///
/// The server name checked against the broker's certificate is the host of
/// the broker address given to [`Connection::connect`]: a DNS name or an IP
/// address (then the certificate needs an IP subject alternative name).
///
/// ```no_run
/// use vltava_net::{ConnectionConfig, TlsConfig};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = TlsConfig::from_ca_pem_file("ca.pem")?;
/// let config = ConnectionConfig::new().tls(tls);
/// # Ok(())
/// # }
/// ```
///
/// For a client certificate (mutual TLS), other roots or a custom verifier,
/// build the [`ClientConfig`] yourself and hand it to [`TlsConfig::new`].
///
/// [`Connection::connect`]: crate::Connection::connect
#[derive(Clone)]
pub struct TlsConfig {
    client: Arc<ClientConfig>,
}

impl TlsConfig {
    /// Uses a caller-built rustls configuration as it is.
    pub fn new(client: Arc<ClientConfig>) -> Self {
        Self { client }
    }

    /// Trusts the certificates of a PEM bundle (one or more `CERTIFICATE`
    /// blocks; anything else in it is ignored) and nothing else, with no
    /// client certificate, TLS 1.2 and 1.3, rustls's `ring` provider.
    pub fn from_ca_pem(pem: impl AsRef<[u8]>) -> Result<Self, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(pem.as_ref()) {
            let certificate =
                certificate.map_err(|e| TlsConfigError(format!("unreadable PEM: {e}")))?;
            roots
                .add(certificate)
                .map_err(|e| TlsConfigError(format!("unusable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(TlsConfigError(
                "the PEM bundle holds no CERTIFICATE block".to_owned(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsConfigError(format!("no protocol version: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self::new(Arc::new(client)))
    }

    /// [`TlsConfig::from_ca_pem`] with the bundle read from a file.
    pub fn from_ca_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| TlsConfigError(format!("reading {}: {e}", path.display())))?;
        Self::from_ca_pem(pem)
    }

    /// The rustls configuration.
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.client
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn_protocols", &self.client.alpn_protocols.len())
            .field(
                "client_auth",
                &self.client.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

/// A [`TlsConfig`] could not be built: the PEM bundle is unreadable, holds
/// no certificate, or holds one rustls cannot use.
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsConfigError(String);

/// Runs the client side of the TLS handshake on a dialled stream, within
/// `timeout`. The server name is `broker`'s host.
pub(crate) async fn handshake(
    config: &TlsConfig,
    broker: &str,
    stream: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, NetError> {
    let name = server_name(broker).map_err(|source| NetError::Tls {
        broker: broker.to_owned(),
        source,
    })?;
    let connector = TlsConnector::from(config.client.clone());
    match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(NetError::Tls {
            broker: broker.to_owned(),
            source,
        }),
        Err(_) => Err(NetError::DialTimeout {
            broker: broker.to_owned(),
            timeout,
        }),
    }
}

/// The server name of a `host:port` broker address: `[::1]:9093` and
/// `127.0.0.1:9093` give IP addresses, `kafka-1.example:9093` a DNS name.
fn server_name(broker: &str) -> io::Result<ServerName<'static>> {
    let host = host_of(broker);
    ServerName::try_from(host.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{host}` is not a valid TLS server name: {e}"),
        )
    })
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
fn host_of(broker: &str) -> &str {
    if let Some(rest) = broker.strip_prefix('[') {
        if let Some((host, _)) = rest.split_once(']') {
            return host;
        }
    }
    match broker.rsplit_once(':') {
        // A bare IPv6 address without a port has several colons.
        Some((host, _)) if !host.contains(':') => host,
        Some(_) if broker.parse::<std::net::Ipv6Addr>().is_ok() => broker,
        Some((host, _)) => host,
        None => broker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_broker_host() {
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("kafka-1.example.com:9093"), "kafka-1.example.com");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
        assert!(matches!(
            server_name("127.0.0.1:9093").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:9093").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("localhost:9093").unwrap(),
            ServerName::DnsName(_)
        ));
        let error = server_name("bad host!:9093").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        let error = TlsConfig::from_ca_pem("not a certificate").unwrap_err();
        assert!(error.to_string().contains("no CERTIFICATE"), "{error}");
        let garbled = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(TlsConfig::from_ca_pem(garbled).is_err());
        let error = TlsConfig::from_ca_pem_file("/nonexistent/ca.pem").unwrap_err();
        assert!(error.to_string().contains("reading"), "{error}");
    }

    #[test]
    fn tls_errors_are_retriable_only_on_io() {
        let refused = NetError::Tls {
            broker: "b:1".into(),
            source: io::Error::new(io::ErrorKind::InvalidData, "invalid peer certificate"),
        };
        assert!(!refused.is_retriable());
        let reset = NetError::Tls {
            broker: "b:1".into(),
            source: io::Error::from(io::ErrorKind::ConnectionReset),
        };
        assert!(reset.is_retriable());
        assert_eq!(reset.broker(), Some("b:1"));
    }
}
