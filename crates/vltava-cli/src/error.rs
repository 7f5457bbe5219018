//! [`CliError`]: every way a command fails, as one line on stderr and an
//! exit code. Library errors are classified here, by variant, never by
//! their text; the line is the library's own message (which says what
//! failed) plus what to check.

use std::process::ExitCode;
use std::sync::OnceLock;

use vltava::{AdminError, ConsumeError, MetaError, NetError, ProduceError};

/// Exit code: the cluster refused the request, or records were not delivered.
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Exit code: bad usage.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: the cluster could not be reached.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: TLS or SASL failed.
pub(crate) const EXIT_SECURITY: u8 = 4;
/// Exit code: a local file, stdin or stdout failed.
pub(crate) const EXIT_IO: u8 = 5;
/// Exit code: a bug.
pub(crate) const EXIT_INTERNAL: u8 = 70;
/// Exit code: interrupted.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// What kind of failure, which decides the exit code and the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Refused,
    Usage,
    Unreachable,
    Security,
    Io,
    Internal,
    Interrupted,
    /// Nothing failed: clap printed the help or the version.
    Done,
    /// Bad usage, already printed (clap's help for a missing command).
    Printed,
}

/// A command's failure: a kind and a one-line message.
#[derive(Debug)]
pub(crate) struct CliError {
    kind: Kind,
    message: String,
}

/// Where the brokers came from, for the hint of connection errors; set once
/// the settings are resolved.
static BROKERS_HINT: OnceLock<String> = OnceLock::new();

/// Records which brokers were asked and where that list came from.
pub(crate) fn set_brokers_hint(brokers: &str, source: &str) {
    let _ = BROKERS_HINT.set(format!("the brokers `{brokers}` (from {source})"));
}

impl CliError {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(Kind::Refused, message)
    }

    pub(crate) fn io(message: impl Into<String>) -> Self {
        Self::new(Kind::Io, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }

    pub(crate) fn interrupted() -> Self {
        Self::new(Kind::Interrupted, "interrupted")
    }

    /// The line printed for it: the message, then what to check.
    pub(crate) fn line(&self) -> String {
        let hint = match self.kind {
            Kind::Unreachable => format!(
                "; check {} and that the cluster is up",
                BROKERS_HINT
                    .get()
                    .map_or("--brokers", String::as_str)
            ),
            Kind::Security => "; check the TLS (--tls, --tls-ca) and SASL (--sasl-mechanism, --sasl-username, --sasl-password) settings".to_owned(),
            Kind::Usage if !self.message.contains("--help") => "; see --help".to_owned(),
            Kind::Internal => "; this is a bug in vltava, please report it".to_owned(),
            _ => String::new(),
        };
        let line = format!("error: {}{hint}", self.message);
        // One line, always: messages that quote broker text may hold newlines.
        line.replace(['\n', '\r'], " ")
    }

    /// Prints the line on stderr.
    pub(crate) fn report(&self) {
        if !matches!(self.kind, Kind::Interrupted | Kind::Done | Kind::Printed) {
            eprintln!("{}", self.line());
        }
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.kind {
            Kind::Refused => EXIT_REFUSED,
            Kind::Usage | Kind::Printed => EXIT_USAGE,
            Kind::Done => 0,
            Kind::Unreachable => EXIT_UNREACHABLE,
            Kind::Security => EXIT_SECURITY,
            Kind::Io => EXIT_IO,
            Kind::Internal => EXIT_INTERNAL,
            Kind::Interrupted => EXIT_INTERRUPTED,
        })
    }
}

/// The kind of a transport error.
pub(crate) fn net_kind(error: &NetError) -> Kind {
    match error {
        NetError::Dial { .. }
        | NetError::DialTimeout { .. }
        | NetError::Disconnected { .. }
        | NetError::Timeout { .. }
        | NetError::Handshake { .. } => Kind::Unreachable,
        NetError::Tls { .. }
        | NetError::Authentication { .. }
        | NetError::SaslMechanismNotEnabled { .. } => Kind::Security,
        _ => Kind::Refused,
    }
}

/// The kind of a metadata error.
pub(crate) fn meta_kind(error: &MetaError) -> Kind {
    match error {
        MetaError::Net(e) => net_kind(e),
        MetaError::InvalidBootstrap(_) | MetaError::NoBootstrap => Kind::Usage,
        MetaError::Resolve { .. } => Kind::Unreachable,
        MetaError::BootstrapFailed { last, .. } => meta_kind(last),
        MetaError::RefreshTimeout { last, .. } => last
            .as_deref()
            .map_or(Kind::Unreachable, meta_kind)
            .max_unreachable(),
        _ => Kind::Internal,
    }
}

/// The kind of an admin error.
pub(crate) fn admin_kind(error: &AdminError) -> Kind {
    match error {
        AdminError::Net(e) => net_kind(e),
        AdminError::Meta(e) => meta_kind(e),
        AdminError::Timeout { last, .. } => last
            .as_deref()
            .map_or(Kind::Unreachable, admin_kind)
            .max_unreachable(),
        AdminError::LeaderUnreachable { .. } => Kind::Unreachable,
        AdminError::InvalidArgument(_) => Kind::Usage,
        _ => Kind::Refused,
    }
}

/// The kind of a producer error.
pub(crate) fn produce_kind(error: &ProduceError) -> Kind {
    match error {
        ProduceError::InvalidConfig(_) => Kind::Usage,
        ProduceError::Blocked { .. } => Kind::Unreachable,
        ProduceError::Net(e) => net_kind(e),
        _ => Kind::Refused,
    }
}

/// The kind of a (fatal) consumer error.
pub(crate) fn consume_kind(error: &ConsumeError) -> Kind {
    match error {
        ConsumeError::Broker { source, .. } => net_kind(source),
        ConsumeError::Meta(e) => meta_kind(e),
        _ => Kind::Refused,
    }
}

impl Kind {
    /// A timeout is "unreachable" unless its last error says the cluster
    /// answered and refused the credentials.
    fn max_unreachable(self) -> Kind {
        if self == Kind::Security {
            Kind::Security
        } else {
            Kind::Unreachable
        }
    }
}

impl From<AdminError> for CliError {
    fn from(error: AdminError) -> Self {
        Self::new(admin_kind(&error), error.to_string())
    }
}

impl From<MetaError> for CliError {
    fn from(error: MetaError) -> Self {
        Self::new(meta_kind(&error), error.to_string())
    }
}

impl From<ProduceError> for CliError {
    fn from(error: ProduceError) -> Self {
        Self::new(produce_kind(&error), error.to_string())
    }
}

impl From<ConsumeError> for CliError {
    fn from(error: ConsumeError) -> Self {
        Self::new(consume_kind(&error), error.to_string())
    }
}

impl CliError {
    /// A flag error as one line (clap's first paragraph, without its usage
    /// block); `--help` and `--version` are printed in full here and end
    /// as [`Kind::Done`] (exit 0), help for a missing command as usage.
    pub(crate) fn from_clap(error: &clap::Error) -> Self {
        use clap::error::ErrorKind;
        match error.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = error.print();
                if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    Self::new(Kind::Printed, "")
                } else {
                    Self::new(Kind::Done, "")
                }
            }
            _ => {
                let rendered = error.render().to_string();
                // The first paragraph: the error and what it lists (missing
                // arguments, possible values), without the usage block.
                let paragraph: Vec<&str> = rendered
                    .lines()
                    .skip_while(|l| l.trim().is_empty())
                    .take_while(|l| !l.trim().is_empty())
                    .map(str::trim)
                    .collect();
                let joined = paragraph.join(" ");
                let first = if joined.is_empty() {
                    "invalid arguments"
                } else {
                    joined.as_str()
                };
                let first = first.strip_prefix("error: ").unwrap_or(first);
                let tip = rendered
                    .lines()
                    .map(str::trim)
                    .find_map(|l| l.strip_prefix("tip: "))
                    .map(|t| format!("; {t}"))
                    .unwrap_or_default();
                Self::usage(format!("{first}{tip}; see --help"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn lines_are_one_line_with_what_to_check() {
        let error = CliError::refused("the broker said:\nno");
        assert_eq!(error.line(), "error: the broker said: no");
        let usage = CliError::usage("`x` is not a number");
        assert_eq!(usage.line(), "error: `x` is not a number; see --help");
        assert_eq!(usage.exit_code(), ExitCode::from(2));
    }

    #[test]
    fn transport_errors_are_classified_by_variant() {
        let refused = NetError::Dial {
            broker: "127.0.0.1:1".into(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(net_kind(&refused), Kind::Unreachable);
        let auth = NetError::Authentication {
            broker: "b:1".into(),
            mechanism: "PLAIN".into(),
            message: "bad".into(),
        };
        assert_eq!(net_kind(&auth), Kind::Security);
        let wrapped = MetaError::BootstrapFailed {
            tried: 1,
            last: Box::new(MetaError::Net(auth)),
        };
        assert_eq!(meta_kind(&wrapped), Kind::Security);
        let timeout = AdminError::Timeout {
            op: "listing".into(),
            timeout: std::time::Duration::from_secs(1),
            last: Some(Box::new(AdminError::Net(refused))),
        };
        assert_eq!(admin_kind(&timeout), Kind::Unreachable);
        assert_eq!(
            admin_kind(&AdminError::InvalidArgument("x".into())),
            Kind::Usage
        );
    }
}
