//! The command line: every command, flag and help text (clap's derive API).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, as `--help` and the README list them.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0    success (consume: also when stopped by Ctrl-C after a clean close)
  1    the cluster refused the request (unknown topic, topic exists, group not empty,
       not authorized...) or some records were not delivered
  2    bad usage: unknown flag, bad value, bad config file, no brokers given
  3    the cluster could not be reached (address, port, DNS, timeout)
  4    TLS or SASL failed (certificate, credentials, mechanism)
  5    a local file, stdin or stdout failed
  70   internal error (a bug in vltava)
  130  interrupted (Ctrl-C) before the command finished";

const CONNECTION_HELP: &str = "\
Connection settings come from the flags, else the environment (VLTAVA_BROKERS,
VLTAVA_SASL_PASSWORD), else the config file (--config-file, VLTAVA_CONFIG, or
~/.config/vltava/config if it exists): Java-style `key=value` lines with
bootstrap.servers, security.protocol, ssl.ca.location, sasl.mechanism,
sasl.username, sasl.password and client.id.";

/// `vltava`: a Kafka command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "vltava",
    version,
    about = "Produce, consume, and look after topics, consumer groups and the cluster of Apache Kafka.",
    after_help = format!("{CONNECTION_HELP}\n\n{EXIT_CODES}"),
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How to reach the cluster; every command takes these.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ConnectionArgs {
    /// Bootstrap brokers, comma-separated HOST:PORT [env: VLTAVA_BROKERS]
    #[arg(short = 'b', long, global = true, value_name = "HOST:PORT,...")]
    pub(crate) brokers: Option<String>,
    /// Config file of `key=value` lines [env: VLTAVA_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config_file: Option<PathBuf>,
    /// Speak TLS to the brokers, trusting the system's CAs (or --tls-ca)
    #[arg(long, global = true)]
    pub(crate) tls: bool,
    /// Trust the CA certificates of this PEM file (implies --tls)
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    #[arg(long, global = true, value_name = "MECHANISM")]
    pub(crate) sasl_mechanism: Option<String>,
    /// SASL user name
    #[arg(long, global = true, value_name = "USER")]
    pub(crate) sasl_username: Option<String>,
    /// SASL password [env: VLTAVA_SASL_PASSWORD]
    #[arg(long, global = true, value_name = "PASSWORD")]
    pub(crate) sasl_password: Option<String>,
    /// Client id the brokers see [default: vltava-cli]
    #[arg(long, global = true, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// How long a cluster call may take, retries included [default: 30s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Produce records: lines of stdin or a file, JSON lines, or synthetic records
    #[command(after_help = EXIT_CODES)]
    Produce(ProduceArgs),
    /// Consume records, from partitions or in a consumer group
    #[command(after_help = format!("{FORMAT_HELP}\n\n{FROM_HELP}\n\n{EXIT_CODES}"))]
    Consume(ConsumeArgs),
    /// List, describe, create, delete topics and change their configs
    #[command(after_help = EXIT_CODES)]
    Topics(TopicsArgs),
    /// List, describe, delete consumer groups; show their lag
    #[command(after_help = EXIT_CODES)]
    Groups(GroupsArgs),
    /// Show the brokers, the controller, the Kafka version and the features
    #[command(after_help = EXIT_CODES)]
    Cluster(ClusterArgs),
    /// A quick throughput check of producing or consuming
    #[command(after_help = EXIT_CODES)]
    Bench(BenchArgs),
}

/// Compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Codec {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// Acknowledgement levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AcksArg {
    /// No acknowledgement (offsets unknown, idempotence off).
    #[value(name = "0")]
    Zero,
    /// The leader alone.
    #[value(name = "1")]
    One,
    /// Every in-sync replica.
    All,
}

/// `vltava produce`.
#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// The topic to produce to
    #[arg(short, long)]
    pub(crate) topic: String,
    /// Read records from this file instead of stdin
    #[arg(short = 'i', long, value_name = "FILE", conflicts_with = "count")]
    pub(crate) input: Option<PathBuf>,
    /// Split each line at the first SEP into key and value
    #[arg(short = 'K', long, value_name = "SEP", conflicts_with = "json")]
    pub(crate) key_separator: Option<String>,
    /// Read JSON lines ({"key":..,"value":..,"headers":..,"timestamp":..}), as `consume --json` writes them
    #[arg(long)]
    pub(crate) json: bool,
    /// Add a header to every record (repeatable)
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE")]
    pub(crate) headers: Vec<String>,
    /// Produce to this partition (default: by key, or sticky for keyless records)
    #[arg(short, long)]
    pub(crate) partition: Option<i32>,
    /// Compression codec
    #[arg(short = 'z', long, value_enum, default_value = "none")]
    pub(crate) compression: Codec,
    /// Acknowledgements to wait for
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) acks: AcksArg,
    /// Generate N synthetic records instead of reading input
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// The size in bytes of each synthetic record's value [default: 100]
    #[arg(long, value_name = "BYTES", requires = "count")]
    pub(crate) size: Option<usize>,
    /// How long a batch waits for more records [default: 5ms]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) linger: Option<Duration>,
    /// No summary line on stderr
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

pub(crate) const FORMAT_HELP: &str = "\
Output format (-f): a template, each record printed with a newline after it
(unless the template ends with \\n):
  %t topic   %p partition   %o offset   %T timestamp (ms)   %k key   %v value
  %h headers (k=v,k=v)   %K key length   %S value length   %% a percent sign
  \\n newline   \\t tab   \\\\ backslash
A null key or value prints as nothing (its length as -1). --json writes one JSON
object per record instead: topic, partition, offset, timestamp, key, value,
headers; a key or value that is not UTF-8 is base64 with \"key_encoding\" or
\"value_encoding\": \"base64\".";

pub(crate) const FROM_HELP: &str = "\
Starting point (--from):
  earliest | latest                   the first record still kept | only new records
  N                                   offset N of every partition
  -N                                  N records before the end of every partition
  @MS                                 the first record at or after MS (ms since the epoch)
  2024-05-01T12:00:00Z                the first record at or after this time (UTC)
  now-15m                             the first record of the last 15 minutes
In a group (-g), partitions start at the group's committed offsets, and --from
(earliest or latest only) is where partitions without one start.";

/// `vltava consume`.
#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// The topic to consume (repeatable)
    #[arg(short, long = "topic", required = true)]
    pub(crate) topics: Vec<String>,
    /// Consume in this consumer group: partitions are assigned by the group
    /// and offsets committed; group events are printed to stderr
    #[arg(short, long)]
    pub(crate) group: Option<String>,
    /// Only these partitions (repeatable; not in a group)
    #[arg(short, long = "partition", conflicts_with = "group")]
    pub(crate) partitions: Vec<i32>,
    /// Where to start (see below) [default: earliest without a group, latest in one]
    #[arg(long, value_name = "WHERE", allow_hyphen_values = true)]
    pub(crate) from: Option<String>,
    /// Stop after N records
    #[arg(short = 'c', long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// Stop when every partition has been read to its end
    #[arg(short = 'e', long)]
    pub(crate) exit_at_end: bool,
    /// Output template (see below) [default: %v]
    #[arg(short = 'f', long, value_name = "TEMPLATE", conflicts_with = "json")]
    pub(crate) format: Option<String>,
    /// Write JSON lines
    #[arg(long)]
    pub(crate) json: bool,
    /// Group protocol: classic, or consumer (KIP-848)
    #[arg(long, value_enum, default_value = "classic")]
    pub(crate) group_protocol: GroupProtocolArg,
    /// Read only committed records of transactions
    #[arg(long)]
    pub(crate) read_committed: bool,
    /// Group session timeout (classic protocol)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) session_timeout: Option<Duration>,
}

/// Group protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GroupProtocolArg {
    /// JoinGroup/SyncGroup, assignment by the group's leader.
    Classic,
    /// KIP-848, assignment by the coordinator.
    Consumer,
}

/// `vltava topics`.
#[derive(Debug, Args)]
pub(crate) struct TopicsArgs {
    #[command(subcommand)]
    pub(crate) command: TopicsCommand,
}

/// `vltava topics ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// List the topics, one name a line
    List {
        /// Include Kafka's internal topics
        #[arg(long)]
        internal: bool,
        /// Also show partition count and replication factor
        #[arg(short, long)]
        long: bool,
    },
    /// Show a topic's partitions, leaders, replicas and configs
    Describe {
        /// The topics
        #[arg(required = true)]
        topics: Vec<String>,
        /// Show every config, defaults included
        #[arg(long)]
        all_configs: bool,
    },
    /// Create a topic
    Create {
        /// The topic
        topic: String,
        /// Partitions [default: the brokers' num.partitions]
        #[arg(short, long)]
        partitions: Option<i32>,
        /// Replication factor [default: the brokers' default.replication.factor]
        #[arg(short, long)]
        replication_factor: Option<i16>,
        /// A topic config (repeatable)
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Succeed if the topic exists already
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Delete topics
    Delete {
        /// The topics
        #[arg(required = true)]
        topics: Vec<String>,
        /// Succeed if a topic does not exist
        #[arg(long)]
        if_exists: bool,
    },
    /// Change a topic's configs; the others keep their values
    AlterConfig {
        /// The topic
        topic: String,
        /// Set a config (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove the topic's value: back to the default (repeatable)
        #[arg(long, value_name = "KEY")]
        delete: Vec<String>,
        /// Add to a list config (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        append: Vec<String>,
        /// Remove from a list config (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        subtract: Vec<String>,
        /// Only check the changes
        #[arg(long)]
        validate_only: bool,
    },
}

/// `vltava groups`.
#[derive(Debug, Args)]
pub(crate) struct GroupsArgs {
    #[command(subcommand)]
    pub(crate) command: GroupsCommand,
}

/// `vltava groups ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List the groups with their state and type
    List {
        /// Only groups in this state (Stable, Empty, ...; repeatable)
        #[arg(long)]
        state: Vec<String>,
    },
    /// Show a group's state, protocol, coordinator and members
    Describe {
        /// The group
        group: String,
    },
    /// Delete groups (they must have no members) and their offsets
    Delete {
        /// The groups
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Per partition: committed offset, end offset, lag, owner member and host
    Lag {
        /// The group
        group: String,
        /// Refresh the table until Ctrl-C
        #[arg(short, long)]
        watch: bool,
        /// How often --watch refreshes
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
        interval: Duration,
    },
}

/// `vltava cluster`.
#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    /// Also list every API with the broker's versions and the one vltava uses
    #[arg(long)]
    pub(crate) apis: bool,
}

/// `vltava bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    pub(crate) command: BenchCommand,
}

/// `vltava bench ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Produce synthetic records as fast as the cluster takes them
    Produce {
        /// The topic (it must exist)
        #[arg(short, long)]
        topic: String,
        /// How many records
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Each record's value size in bytes
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Compression codec
        #[arg(short = 'z', long, value_enum, default_value = "none")]
        compression: Codec,
        /// Acknowledgements to wait for
        #[arg(long, value_enum, default_value = "all")]
        acks: AcksArg,
        /// How long a batch waits for more records
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5ms")]
        linger: Duration,
        /// Batch size in bytes
        #[arg(long, default_value_t = 64 * 1024)]
        batch_size: usize,
    },
    /// Read a topic from the start as fast as possible
    Consume {
        /// The topic
        #[arg(short, long)]
        topic: String,
        /// Stop after this many records [default: everything up to the end]
        #[arg(long)]
        count: Option<u64>,
    },
}

/// Parses `500ms`, `2s`, `1m`, `1h30m` (humantime's syntax).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 500ms, 2s or 1m ({e})"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_documents_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(help.contains("130  interrupted"), "{help}");
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let cli = Cli::try_parse_from(["vltava", "topics", "list", "-b", "h:1"]).unwrap();
        assert_eq!(cli.connection.brokers.as_deref(), Some("h:1"));
        let cli = Cli::try_parse_from(["vltava", "--brokers", "h:2", "cluster"]).unwrap();
        assert_eq!(cli.connection.brokers.as_deref(), Some("h:2"));
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(Cli::try_parse_from(["vltava", "consume"]).is_err());
        assert!(Cli::try_parse_from(["vltava", "produce", "-t", "x", "--acks", "2"]).is_err());
        assert!(Cli::try_parse_from(["vltava", "produce", "-t", "x", "--size", "9"]).is_err());
        assert!(
            Cli::try_parse_from(["vltava", "consume", "-t", "x", "-g", "g", "-p", "1"]).is_err()
        );
        assert!(Cli::try_parse_from(["vltava", "--timeout", "soon", "cluster"]).is_err());
    }

    #[test]
    fn negative_from_values_are_values() {
        let cli = Cli::try_parse_from(["vltava", "consume", "-t", "x", "--from", "-10"]).unwrap();
        let Command::Consume(args) = cli.command else {
            panic!("not consume");
        };
        assert_eq!(args.from.as_deref(), Some("-10"));
    }
}
