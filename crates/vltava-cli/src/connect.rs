//! Connection settings (flags, then the environment, then the config
//! file) and the connection itself: one metadata cache and connection pool
//! that the admin client, the producer and the consumer of a command share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vltava::net::{Sasl, TlsConfig};
use vltava::{
    Admin, AdminConfig, BrokerPool, ConnectionConfig, Interest, MetaError, MetadataClient,
    MetadataConfig, PoolConfig,
};

use crate::cli::ConnectionArgs;
use crate::error::{CliError, Kind, meta_kind, set_brokers_hint};

/// The environment variable with the bootstrap brokers.
pub(crate) const BROKERS_ENV: &str = "VLTAVA_BROKERS";
/// The environment variable with the config file's path.
pub(crate) const CONFIG_ENV: &str = "VLTAVA_CONFIG";
/// The environment variable with the SASL password.
pub(crate) const PASSWORD_ENV: &str = "VLTAVA_SASL_PASSWORD";

/// Everything needed to connect, resolved.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) brokers: String,
    pub(crate) connection: ConnectionConfig,
    pub(crate) timeout: Duration,
}

/// The config file's settings, by key.
#[derive(Debug, Default, PartialEq, Eq)]
struct FileSettings {
    path: Option<PathBuf>,
    values: BTreeMap<String, String>,
}

/// The keys a config file may set (Java's names, or librdkafka's where Java
/// has none: `ssl.ca.location`, `sasl.username`, `sasl.password`).
const KNOWN_KEYS: [&str; 7] = [
    "bootstrap.servers",
    "security.protocol",
    "ssl.ca.location",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "client.id",
];

impl Settings {
    /// Resolves the flags, the environment and the config file.
    pub(crate) fn resolve(args: &ConnectionArgs) -> Result<Self, CliError> {
        let file = load_file(args.config_file.as_deref())?;
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (brokers, source) = if let Some(b) = &args.brokers {
            (b.clone(), "--brokers".to_owned())
        } else if let Some(b) = env(BROKERS_ENV) {
            (b, format!("the {BROKERS_ENV} environment variable"))
        } else if let Some(b) = file.values.get("bootstrap.servers") {
            (b.clone(), file.describe())
        } else {
            return Err(CliError::usage(format!(
                "no brokers given: use --brokers HOST:PORT, set {BROKERS_ENV}, or put bootstrap.servers in the config file ({})",
                default_config_path().map_or_else(
                    || format!("--config-file or {CONFIG_ENV}"),
                    |p| p.display().to_string()
                )
            )));
        };
        let brokers = brokers.trim().to_owned();
        set_brokers_hint(&brokers, &source);

        let protocol = file
            .values
            .get("security.protocol")
            .map(|p| p.to_ascii_uppercase());
        if let Some(p) = &protocol
            && !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&p.as_str())
        {
            return Err(CliError::usage(format!(
                "{}: security.protocol `{p}` is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                file.describe()
            )));
        }
        let ca = args
            .tls_ca
            .clone()
            .or_else(|| file.values.get("ssl.ca.location").map(PathBuf::from));
        let tls_on =
            args.tls || ca.is_some() || matches!(protocol.as_deref(), Some("SSL" | "SASL_SSL"));
        let mechanism = args
            .sasl_mechanism
            .clone()
            .or_else(|| file.values.get("sasl.mechanism").cloned());
        let username = args
            .sasl_username
            .clone()
            .or_else(|| file.values.get("sasl.username").cloned());
        let password = args
            .sasl_password
            .clone()
            .or_else(|| env(PASSWORD_ENV))
            .or_else(|| file.values.get("sasl.password").cloned());
        let sasl_on = mechanism.is_some()
            || username.is_some()
            || matches!(protocol.as_deref(), Some("SASL_PLAINTEXT" | "SASL_SSL"));

        let mut connection = ConnectionConfig::new().client_id(
            args.client_id
                .clone()
                .or_else(|| file.values.get("client.id").cloned())
                .unwrap_or_else(|| "vltava-cli".to_owned()),
        );
        if tls_on {
            connection = connection.tls(tls_config(ca.as_deref())?);
        }
        if sasl_on {
            connection = connection.sasl(sasl(mechanism, username, password)?);
        }
        let timeout = args.timeout.unwrap_or(Duration::from_secs(30));
        if timeout.is_zero() {
            return Err(CliError::usage("--timeout must be more than 0"));
        }
        Ok(Self {
            brokers,
            connection,
            timeout,
        })
    }

    /// Connects: a metadata cache over a fresh pool, refreshed once, so that
    /// a cluster that cannot be reached is reported before anything else.
    pub(crate) async fn connect(&self) -> Result<Connected, CliError> {
        let pool = BrokerPool::new(PoolConfig::new(self.connection.clone()));
        let config = MetadataConfig::new()
            .interest(Interest::topics(Vec::<String>::new()))
            .refresh_timeout(self.timeout);
        let meta = MetadataClient::new(&self.brokers, pool, config)?;
        first_refresh(&meta, self.timeout).await?;
        let admin = Admin::with_metadata(
            meta.clone(),
            AdminConfig::new()
                .api_timeout(self.timeout)
                .propagation_timeout(self.timeout),
        );
        Ok(Connected {
            meta,
            admin,
            settings: self.clone(),
        })
    }
}

/// A connected command's clients.
pub(crate) struct Connected {
    pub(crate) meta: MetadataClient,
    pub(crate) admin: Admin,
    pub(crate) settings: Settings,
}

impl Connected {
    /// The partitions of `topic`, or a clear error if it does not exist.
    pub(crate) async fn partitions(&self, topic: &str) -> Result<Vec<i32>, CliError> {
        check_topic_name(topic)?;
        self.meta.add_topics([topic]);
        let deadline = Instant::now() + self.settings.timeout;
        // A topic created a moment ago may not be on every broker yet: it
        // is unknown only when three answers in a row say so.
        let mut unknown = 0;
        loop {
            let snapshot = self.meta.refresh().await?;
            match snapshot.topic(topic) {
                Some(t) if t.error.is_ok() && t.partition_count() > 0 => {
                    return Ok(t.partitions().iter().map(|p| p.partition).collect());
                }
                Some(t)
                    if t.error == vltava::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION && unknown < 2 =>
                {
                    unknown += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(t) if t.error == vltava::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
                    return Err(CliError::refused(format!(
                        "topic `{topic}` does not exist; check its name (`vltava topics list`) or create it (`vltava topics create {topic}`)"
                    )));
                }
                Some(t) if t.error.is_err() && !t.error.is_retriable() => {
                    return Err(CliError::refused(format!(
                        "topic `{topic}`: the brokers answered {}",
                        t.error
                    )));
                }
                _ if Instant::now() >= deadline => {
                    return Err(CliError::new(
                        Kind::Unreachable,
                        format!(
                            "the brokers did not describe topic `{topic}` within {:?}",
                            self.settings.timeout
                        ),
                    ));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn check_topic_name(topic: &str) -> Result<(), CliError> {
    let valid = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "`{topic}` is not a valid topic name: use 1 to 249 letters, digits, '.', '_' and '-'"
        )))
    }
}

/// Waits for the first successful metadata refresh, within `timeout`; gives
/// up sooner when three attempts in a row failed (a wrong address or port
/// fails the same way each time).
async fn first_refresh(meta: &MetadataClient, timeout: Duration) -> Result<(), CliError> {
    let refresh = meta.refresh();
    tokio::pin!(refresh);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::select! {
            result = &mut refresh => return result.map(|_| ()).map_err(CliError::from),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let stats = meta.stats();
        let failing = stats.succeeded == 0 && stats.failed >= 3;
        if failing || tokio::time::Instant::now() >= deadline {
            let last = meta.last_failure();
            return Err(match last {
                Some(error) => {
                    let kind = meta_kind(&error);
                    let kind = if kind == Kind::Security {
                        kind
                    } else {
                        Kind::Unreachable
                    };
                    CliError::new(kind, cause_text(&error))
                }
                None => CliError::new(
                    Kind::Unreachable,
                    format!("no broker answered within {timeout:?}"),
                ),
            });
        }
    }
}

/// The innermost useful text of a metadata failure: the broker's own error
/// rather than "no bootstrap address answered" around it.
fn cause_text(error: &Arc<MetaError>) -> String {
    match error.as_ref() {
        MetaError::BootstrapFailed { last, .. } => last.to_string(),
        other => other.to_string(),
    }
}

fn tls_config(ca: Option<&Path>) -> Result<TlsConfig, CliError> {
    if let Some(path) = ca {
        return TlsConfig::from_ca_pem_file(path).map_err(|e| {
            CliError::new(Kind::Security, format!("--tls-ca {}: {e}", path.display()))
        });
    }
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    for certificate in found.certs {
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(certificate);
    }
    if roots.is_empty() {
        return Err(CliError::new(
            Kind::Security,
            "--tls: the system has no trusted CA certificates; give a CA file with --tls-ca",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConfig::new(Arc::new(client)))
}

fn sasl(
    mechanism: Option<String>,
    username: Option<String>,
    password: Option<String>,
) -> Result<Sasl, CliError> {
    let mechanism = mechanism.unwrap_or_else(|| "PLAIN".to_owned());
    let Some(username) = username else {
        return Err(CliError::usage(format!(
            "SASL {mechanism} needs a user name: --sasl-username"
        )));
    };
    let Some(password) = password else {
        return Err(CliError::usage(format!(
            "SASL {mechanism} needs a password: --sasl-password or {PASSWORD_ENV}"
        )));
    };
    match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(Sasl::plain(username, password)),
        "SCRAM-SHA-256" => Ok(Sasl::scram_sha_256(username, password)),
        "SCRAM-SHA-512" => Ok(Sasl::scram_sha_512(username, password)),
        other => Err(CliError::usage(format!(
            "SASL mechanism `{other}` is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
        ))),
    }
}

/// `$XDG_CONFIG_HOME/vltava/config`, else `~/.config/vltava/config`.
fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("vltava").join("config"))
}

/// Reads the config file: the one named (flag, then environment), which
/// must exist, else the default one if it exists.
fn load_file(flag: Option<&Path>) -> Result<FileSettings, CliError> {
    let named = flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let path = match named {
        Some(path) => path,
        None => match default_config_path() {
            Some(path) if path.is_file() => path,
            _ => return Ok(FileSettings::default()),
        },
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::usage(format!("reading the config file {}: {e}", path.display())))?;
    parse_file(&path, &text)
}

/// Parses `key=value` lines (also `key: value`); `#` and `!` start comments.
fn parse_file(path: &Path, text: &str) -> Result<FileSettings, CliError> {
    let mut values = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let at = |what: String| {
            CliError::usage(format!(
                "config file {} line {}: {what}",
                path.display(),
                i + 1
            ))
        };
        let Some((key, value)) = line.split_once(['=', ':']) else {
            return Err(at(format!("`{line}` is not key=value")));
        };
        let key = key.trim();
        let key = match key {
            "brokers" | "metadata.broker.list" => "bootstrap.servers",
            "sasl.mechanisms" => "sasl.mechanism",
            other => other,
        };
        if !KNOWN_KEYS.contains(&key) {
            return Err(at(format!(
                "unknown setting `{key}` (known: {})",
                KNOWN_KEYS.join(", ")
            )));
        }
        values.insert(key.to_owned(), value.trim().to_owned());
    }
    Ok(FileSettings {
        path: Some(path.to_path_buf()),
        values,
    })
}

impl FileSettings {
    fn describe(&self) -> String {
        self.path.as_ref().map_or_else(
            || "the config file".to_owned(),
            |p| format!("the config file {}", p.display()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_take_java_and_librdkafka_names() {
        let parsed = parse_file(
            Path::new("c"),
            "# a comment\nbootstrap.servers = a:1,b:2\nsasl.mechanisms=PLAIN\n\n! also a comment\nclient.id: me\n",
        )
        .unwrap();
        assert_eq!(parsed.values["bootstrap.servers"], "a:1,b:2");
        assert_eq!(parsed.values["sasl.mechanism"], "PLAIN");
        assert_eq!(parsed.values["client.id"], "me");
    }

    #[test]
    fn config_file_errors_name_the_line() {
        let error =
            parse_file(Path::new("c"), "bootstrap.servers=a:1\nssl.keystore=x\n").unwrap_err();
        assert!(
            error
                .line()
                .contains("line 2: unknown setting `ssl.keystore`"),
            "{}",
            error.line()
        );
        let error = parse_file(Path::new("c"), "nonsense\n").unwrap_err();
        assert!(error.line().contains("line 1"), "{}", error.line());
    }

    #[test]
    fn topic_names_follow_kafkas_rule() {
        assert!(check_topic_name("orders.v2_x-1").is_ok());
        for bad in ["", ".", "..", "has space", "slash/", &"x".repeat(250)] {
            assert!(check_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sasl_needs_credentials_and_a_known_mechanism() {
        assert!(sasl(None, None, None).is_err());
        assert!(sasl(Some("GSSAPI".into()), Some("u".into()), Some("p".into())).is_err());
        let ok = sasl(
            Some("scram-sha-512".into()),
            Some("u".into()),
            Some("p".into()),
        )
        .unwrap();
        assert_eq!(ok.mechanism(), "SCRAM-SHA-512");
    }
}
