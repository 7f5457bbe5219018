//! `vltava produce`: lines of stdin or a file (optionally `key SEP value`),
//! JSON lines, or synthetic records, each reported if it is not delivered.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use vltava::{Acks, Compression, Delivery, ProduceError, Producer, ProducerConfig, ProducerRecord};

use crate::cli::{AcksArg, Codec, ProduceArgs};
use crate::connect::{Settings, check_topic_name};
use crate::error::{CliError, produce_kind};
use crate::format::parse_json_record;

/// What the records are made of.
enum Source {
    /// Lines read by a thread of their own (stdin may block forever).
    Lines(mpsc::Receiver<std::io::Result<Vec<u8>>>),
    /// `count` records of `size` bytes.
    Synthetic { count: u64, size: usize },
}

/// How a record's number is shown in a failure report.
fn label(synthetic: bool, n: u64) -> String {
    if synthetic {
        format!("record {n}")
    } else {
        format!("line {n}")
    }
}

pub(crate) async fn run(settings: &Settings, args: ProduceArgs) -> Result<(), CliError> {
    check_topic_name(&args.topic)?;
    let headers = parse_pairs(&args.headers, "--header")?;
    if let Some(sep) = &args.key_separator
        && sep.is_empty()
    {
        return Err(CliError::usage("--key-separator must not be empty"));
    }
    let synthetic = args.count.is_some();
    let mut source = match args.count {
        Some(count) => Source::Synthetic {
            count,
            size: args.size.unwrap_or(100),
        },
        None => Source::Lines(read_lines(args.input.clone())?),
    };
    let connected = settings.connect().await?;
    let partitions = connected.partitions(&args.topic).await?;
    if let Some(p) = args.partition
        && !partitions.contains(&p)
    {
        return Err(CliError::usage(format!(
            "--partition {p}: topic `{}` has partitions 0 to {}",
            args.topic,
            partitions.len().saturating_sub(1)
        )));
    }
    let config = producer_config(
        settings,
        args.acks,
        args.compression,
        args.linger.unwrap_or(Duration::from_millis(5)),
        None,
    );
    let producer = Producer::with_metadata(connected.meta.clone(), config)?;

    let total = match &source {
        Source::Synthetic { count, .. } => Some(*count),
        Source::Lines(_) => None,
    };
    let progress = progress_bar(total, args.quiet);
    let (deliveries, pending) = mpsc::unbounded_channel::<(u64, Delivery)>();
    let reporter = tokio::spawn(report(pending, progress.clone(), synthetic));

    let started = Instant::now();
    let mut sent = 0u64;
    let mut refused_early = 0u64;
    let mut first_error: Option<ProduceError> = None;
    let mut bad_input: Option<CliError> = None;
    let mut interrupted = false;
    let interrupt = interrupted_signal();
    tokio::pin!(interrupt);
    loop {
        let n = sent + refused_early + 1;
        let next = tokio::select! {
            biased;
            () = &mut interrupt => { interrupted = true; break; }
            next = next_record(&mut source, n) => next,
        };
        let (key, value, record_headers, timestamp) = match next {
            None => break,
            Some(Err(error)) => {
                bad_input = Some(error);
                break;
            }
            Some(Ok(Input::Line(line))) => {
                let parsed = if args.json {
                    let text = String::from_utf8_lossy(&line);
                    parse_json_record(&text)
                        .map(|r| (r.key, r.value, r.headers, r.timestamp))
                        .map_err(|e| format!("{}: {e}", label(false, n)))
                } else {
                    split_line(&line, args.key_separator.as_deref())
                        .map(|(k, v)| (k, Some(v), Vec::new(), None))
                        .map_err(|e| format!("{}: {e}", label(false, n)))
                };
                match parsed {
                    Ok(parts) => parts,
                    Err(message) => {
                        progress.suspend(|| eprintln!("error: {message}"));
                        refused_early += 1;
                        continue;
                    }
                }
            }
            Some(Ok(Input::Value(value))) => (None, Some(value), Vec::new(), None),
        };
        let mut record = ProducerRecord::new(args.topic.clone(), Bytes::new());
        record.key = key;
        record.value = value;
        record.headers = record_headers;
        record.headers.extend(
            headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone())))),
        );
        record.timestamp = timestamp;
        record.partition = args.partition;
        let send = tokio::select! {
            biased;
            () = &mut interrupt => { interrupted = true; break; }
            send = producer.send(record) => send,
        };
        match send {
            Ok(delivery) => {
                sent += 1;
                let _ = deliveries.send((n, delivery));
            }
            Err(error) => {
                progress.suspend(|| eprintln!("error: {}: {error}", label(synthetic, n)));
                refused_early += 1;
                let stop = matches!(
                    error,
                    ProduceError::Blocked { .. }
                        | ProduceError::Closed
                        | ProduceError::Fenced(_)
                        | ProduceError::InvalidConfig(_)
                ) || matches!(&error, ProduceError::Net(e) if !e.is_retriable());
                first_error.get_or_insert(error);
                if stop {
                    break;
                }
            }
        }
    }
    drop(deliveries);
    producer.flush().await;
    let outcome = reporter
        .await
        .map_err(|e| CliError::internal(format!("the delivery reporter failed: {e}")))?;
    progress.finish_and_clear();
    let delivered = outcome.delivered;
    let failed = outcome.failed + refused_early;
    let elapsed = started.elapsed();
    if !args.quiet {
        eprintln!(
            "produced {delivered} record{} to `{}` in {:.2?} ({:.0} records/s){}",
            if delivered == 1 { "" } else { "s" },
            args.topic,
            elapsed,
            delivered as f64 / elapsed.as_secs_f64().max(1e-9),
            if failed > 0 {
                format!("; {failed} failed")
            } else {
                String::new()
            }
        );
    }
    if let Some(error) = bad_input {
        return Err(error);
    }
    if interrupted {
        return Err(CliError::interrupted());
    }
    if failed > 0 {
        let error = outcome.first_error.or(first_error);
        let kind = error
            .as_ref()
            .map_or(crate::error::Kind::Refused, produce_kind);
        return Err(CliError::new(
            kind,
            format!(
                "{failed} of {} records were not delivered{}",
                delivered + failed,
                error
                    .map(|e| format!("; the first: {e}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// The producer's configuration for the CLI's flags.
pub(crate) fn producer_config(
    settings: &Settings,
    acks: AcksArg,
    codec: Codec,
    linger: Duration,
    batch_size: Option<usize>,
) -> ProducerConfig {
    let mut config = ProducerConfig::new()
        .connection(settings.connection.clone())
        .acks(match acks {
            AcksArg::Zero => Acks::None,
            AcksArg::One => Acks::Leader,
            AcksArg::All => Acks::All,
        })
        .compression(compression(codec))
        .linger(linger)
        .max_block(settings.timeout);
    if let Some(bytes) = batch_size {
        config = config.batch_size(bytes);
    }
    config
}

pub(crate) fn compression(codec: Codec) -> Compression {
    match codec {
        Codec::None => Compression::None,
        Codec::Gzip => Compression::Gzip,
        Codec::Snappy => Compression::Snappy,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => Compression::Zstd,
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM; never if they cannot be watched.
pub(crate) async fn interrupted_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// One input item.
enum Input {
    /// A line (without its line ending).
    Line(Vec<u8>),
    /// A synthetic value.
    Value(Bytes),
}

async fn next_record(source: &mut Source, n: u64) -> Option<Result<Input, CliError>> {
    match source {
        Source::Lines(lines) => match lines.recv().await? {
            Ok(line) => Some(Ok(Input::Line(line))),
            Err(e) => Some(Err(CliError::io(format!("reading the input: {e}")))),
        },
        Source::Synthetic { count, size } => {
            (n <= *count).then(|| Ok(Input::Value(synthetic_value(n, *size))))
        }
    }
}

/// `size` bytes: the record's number, then dots.
pub(crate) fn synthetic_value(n: u64, size: usize) -> Bytes {
    let mut value = n.to_string().into_bytes();
    value.resize(size, b'.');
    Bytes::from(value)
}

/// Splits `line` at the first `separator` into key and value.
fn split_line(line: &[u8], separator: Option<&str>) -> Result<(Option<Bytes>, Bytes), String> {
    let Some(sep) = separator else {
        return Ok((None, Bytes::copy_from_slice(line)));
    };
    let sep = sep.as_bytes();
    let at = line
        .windows(sep.len())
        .position(|w| w == sep)
        .ok_or_else(|| {
            format!(
                "no key separator `{}` in the line",
                String::from_utf8_lossy(sep)
            )
        })?;
    Ok((
        Some(Bytes::copy_from_slice(&line[..at])),
        Bytes::copy_from_slice(&line[at + sep.len()..]),
    ))
}

/// Parses `KEY=VALUE` pairs of a repeatable flag.
pub(crate) fn parse_pairs(pairs: &[String], flag: &str) -> Result<Vec<(String, String)>, CliError> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| CliError::usage(format!("{flag} `{pair}`: expected KEY=VALUE")))
        })
        .collect()
}

/// Reads lines of `path` (stdin when `None`) on a thread of its own; lines
/// lose their `\n` or `\r\n`, as Java's console producer reads them.
fn read_lines(
    path: Option<std::path::PathBuf>,
) -> Result<mpsc::Receiver<std::io::Result<Vec<u8>>>, CliError> {
    let input: Box<dyn Read + Send> = match &path {
        Some(path) => Box::new(std::fs::File::open(path).map_err(|e| {
            CliError::io(format!("opening the input file {}: {e}", path.display()))
        })?),
        None => Box::new(std::io::stdin()),
    };
    let (lines, receiver) = mpsc::channel(1024);
    std::thread::Builder::new()
        .name("vltava-input".to_owned())
        .spawn(move || {
            let mut reader = BufReader::with_capacity(256 * 1024, input);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                        }
                        if lines.blocking_send(Ok(line)).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = lines.blocking_send(Err(e));
                        break;
                    }
                }
            }
        })
        .map_err(|e| CliError::internal(format!("starting the input reader: {e}")))?;
    Ok(receiver)
}

/// A progress bar on stderr when it is a terminal (and not `--quiet`):
/// a bar for a known count, a counter otherwise, both with the rate.
pub(crate) fn progress_bar(total: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} records  {per_sec:0}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{spinner} {human_pos} records  {per_sec:0}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// What the reporter saw.
struct Outcome {
    delivered: u64,
    failed: u64,
    first_error: Option<ProduceError>,
}

/// Awaits each delivery in turn, printing each failure with its record.
async fn report(
    mut pending: mpsc::UnboundedReceiver<(u64, Delivery)>,
    progress: ProgressBar,
    synthetic: bool,
) -> Outcome {
    let mut outcome = Outcome {
        delivered: 0,
        failed: 0,
        first_error: None,
    };
    while let Some((n, delivery)) = pending.recv().await {
        match delivery.await {
            Ok(_) => {
                outcome.delivered += 1;
                progress.inc(1);
            }
            Err(error) => {
                outcome.failed += 1;
                progress.suspend(|| eprintln!("error: {}: {error}", label(synthetic, n)));
                outcome.first_error.get_or_insert(error);
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_first_separator() {
        let (k, v) = split_line(b"user:1:paid", Some(":")).unwrap();
        assert_eq!(k.as_deref(), Some(&b"user"[..]));
        assert_eq!(&v[..], b"1:paid");
        let (k, v) = split_line(b"no key", None).unwrap();
        assert_eq!(k, None);
        assert_eq!(&v[..], b"no key");
        assert!(split_line(b"no sep", Some("::")).is_err());
    }

    #[test]
    fn pairs_need_a_key_and_an_equals_sign() {
        let pairs = parse_pairs(&["a=1".into(), "b=x=y".into()], "-H").unwrap();
        assert_eq!(
            pairs,
            [("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
        assert!(parse_pairs(&["novalue".into()], "-H").is_err());
        assert!(parse_pairs(&["=v".into()], "-H").is_err());
    }

    #[test]
    fn synthetic_values_have_the_size_asked_for() {
        assert_eq!(&synthetic_value(42, 6)[..], b"42....");
        assert_eq!(synthetic_value(123_456, 3).len(), 3);
    }
}
