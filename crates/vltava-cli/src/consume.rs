//! `vltava consume`: records to stdout in a template or as JSON lines;
//! in a group, the group's events to stderr with timestamps; Ctrl-C (or
//! SIGTERM) commits what was printed and leaves the group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vltava::{
    ConsumeError, Consumer, ConsumerConfig, GroupConfig, GroupEvent, GroupProtocol, Isolation,
    OffsetReset, OffsetSpec, TopicPartition,
};

use crate::cli::{ConsumeArgs, GroupProtocolArg};
use crate::connect::{Connected, Settings, check_topic_name};
use crate::error::{CliError, consume_kind};
use crate::format::{Format, Start, parse_start};
use crate::output::{Out, WriteStop};
use crate::produce::interrupted_signal;
use crate::time::stamp;

/// How long one poll waits: also how soon a Ctrl-C is acted on.
const POLL: Duration = Duration::from_millis(250);

pub(crate) async fn run(settings: &Settings, args: ConsumeArgs) -> Result<(), CliError> {
    for topic in &args.topics {
        check_topic_name(topic)?;
    }
    let format = if args.json {
        Format::Json
    } else {
        Format::template(args.format.as_deref().unwrap_or("%v"))?
    };
    let start = args.from.as_deref().map(parse_start).transpose()?;
    if args.group.is_some() && !matches!(start, None | Some(Start::Earliest | Start::Latest)) {
        return Err(CliError::usage(
            "in a group (-g), --from can only be earliest or latest: partitions start at the group's committed offsets",
        ));
    }
    if let Some(p) = args.partitions.iter().find(|p| **p < 0) {
        return Err(CliError::usage(format!(
            "--partition {p}: partitions start at 0"
        )));
    }
    if args.count == Some(0) {
        return Ok(());
    }
    let connected = settings.connect().await?;
    let mut partitions = Vec::new();
    for topic in &args.topics {
        let known = connected.partitions(topic).await?;
        if args.partitions.is_empty() {
            partitions.extend(known.iter().map(|&p| TopicPartition::new(topic.clone(), p)));
        } else {
            for &p in &args.partitions {
                if !known.contains(&p) {
                    return Err(CliError::usage(format!(
                        "--partition {p}: topic `{topic}` has partitions 0 to {}",
                        known.len().saturating_sub(1)
                    )));
                }
                partitions.push(TopicPartition::new(topic.clone(), p));
            }
        }
    }

    let reset = match (start, &args.group) {
        (Some(Start::Latest), _) | (None, Some(_)) => OffsetReset::Latest,
        _ => OffsetReset::Earliest,
    };
    let max_records = args.count.map_or(500, |c| c.min(500) as usize);
    let config = ConsumerConfig::new()
        .connection(settings.connection.clone())
        .offset_reset(reset)
        .max_poll_records(max_records)
        .isolation(if args.read_committed {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        });
    let consumer = match &args.group {
        Some(group) => {
            let mut group_config = GroupConfig::new(group.clone());
            group_config.protocol = match args.group_protocol {
                GroupProtocolArg::Classic => GroupProtocol::Classic,
                GroupProtocolArg::Consumer => GroupProtocol::Consumer,
            };
            if let Some(session) = args.session_timeout {
                group_config.session_timeout = session;
                group_config.heartbeat_interval = group_config.heartbeat_interval.min(session / 3);
            }
            group_config
                .validate()
                .map_err(|e| CliError::usage(format!("group `{group}`: {e}")))?;
            Consumer::with_group(
                connected.meta.clone(),
                config,
                group_config,
                args.topics.clone(),
            )?
        }
        None => {
            let consumer = Consumer::with_metadata(connected.meta.clone(), config);
            consumer.assign(partitions.clone());
            seek_to_start(&connected, &consumer, &partitions, start).await?;
            consumer
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            interrupted_signal().await;
            stop.store(true, Ordering::Release);
            // A second Ctrl-C does not wait for the clean close.
            interrupted_signal().await;
            eprintln!("interrupted again: exiting without closing");
            std::process::exit(i32::from(crate::error::EXIT_INTERRUPTED));
        });
    }
    let mut session = Session::new(args.group.clone());
    let mut out = Out::new();
    let mut printed = 0u64;
    let mut buffer = Vec::with_capacity(64 * 1024);
    let ended: Result<(), CliError> = loop {
        if stop.load(Ordering::Acquire) {
            break Ok(());
        }
        let fetches = consumer.poll(POLL).await;
        session.events(&fetches.events);
        if let Some(fatal) = session.errors(&fetches.errors, &fetches.events) {
            break Err(CliError::new(consume_kind(&fatal), fatal.to_string()));
        }
        buffer.clear();
        let mut cut = Vec::new();
        for (tp, records) in &fetches.partitions {
            let left = args.count.map_or(u64::MAX, |c| c - printed);
            let take = records
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            for record in &records[..take] {
                format.write(record, &mut buffer);
            }
            printed += take as u64;
            if take < records.len() {
                cut.push((tp.clone(), records[take].offset));
            }
        }
        // Records handed out but not printed are not committed: their
        // partitions go back to the first of them.
        for (tp, offset) in &cut {
            consumer.seek(tp, *offset);
        }
        let written = out.write(&buffer).and_then(|()| out.flush());
        if written.is_err() {
            // Not (all) written: nothing of this poll counts as printed.
            for (tp, records) in &fetches.partitions {
                if let Some(first) = records.first() {
                    consumer.seek(tp, first.offset);
                }
            }
        }
        match written {
            Ok(()) => {}
            Err(WriteStop::Closed) => break Ok(()),
            Err(WriteStop::Failed(e)) => break Err(e),
        }
        if args.count.is_some_and(|c| printed >= c) {
            break Ok(());
        }
        if args.exit_at_end && at_end(&consumer) {
            break Ok(());
        }
    };
    let closed = consumer.close().await;
    if let Some(group) = &args.group {
        match &closed {
            Ok(()) => eprintln!("{} group {group}: committed and left the group", stamp()),
            Err(e) => eprintln!("{} group {group}: closing failed: {e}", stamp()),
        }
    }
    ended?;
    closed.map_err(CliError::from)
}

/// Whether every assigned partition has been read to its high watermark.
fn at_end(consumer: &Consumer) -> bool {
    let assignment = consumer.assignment();
    !assignment.is_empty() && assignment.iter().all(|tp| consumer.lag(tp) == Some(0))
}

/// Sets the starting offsets of assigned partitions (earliest and latest
/// are the reset policy's job).
async fn seek_to_start(
    connected: &Connected,
    consumer: &Consumer,
    partitions: &[TopicPartition],
    start: Option<Start>,
) -> Result<(), CliError> {
    let ask = |spec: OffsetSpec| -> Vec<(TopicPartition, OffsetSpec)> {
        partitions.iter().map(|tp| (tp.clone(), spec)).collect()
    };
    let offsets = |spec| async move {
        let listed = connected.admin.list_offsets(&ask(spec)).await?;
        let mut out = BTreeMap::new();
        for (tp, result) in listed {
            out.insert(tp, result?.offset);
        }
        Ok::<_, CliError>(out)
    };
    match start {
        None | Some(Start::Earliest | Start::Latest) => {}
        Some(Start::Offset(offset)) => {
            for tp in partitions {
                consumer.seek(tp, offset);
            }
        }
        Some(Start::FromEnd(back)) => {
            let earliest = offsets(OffsetSpec::Earliest).await?;
            let latest = offsets(OffsetSpec::Latest).await?;
            for tp in partitions {
                let end = latest.get(tp).copied().flatten().unwrap_or(0);
                let first = earliest.get(tp).copied().flatten().unwrap_or(0);
                consumer.seek(tp, end.saturating_sub(back).max(first));
            }
        }
        Some(Start::Time(ms)) => {
            let at = offsets(OffsetSpec::Timestamp(ms)).await?;
            let latest = offsets(OffsetSpec::Latest).await?;
            for tp in partitions {
                // No record at or after the time: start at the end.
                let offset = at
                    .get(tp)
                    .copied()
                    .flatten()
                    .or_else(|| latest.get(tp).copied().flatten())
                    .unwrap_or(0);
                consumer.seek(tp, offset);
            }
        }
    }
    Ok(())
}

/// What stderr has been told of the group session.
struct Session {
    group: Option<String>,
    /// Since when, and how many, session errors without a recovery.
    trouble: Option<(Instant, u32)>,
    /// When the member found its coordinator or joined again after
    /// session errors: it has recovered once no error follows for
    /// [`RECOVERED_AFTER`].
    recovering: Option<Instant>,
}

/// How long a session must go without errors to count as recovered.
const RECOVERED_AFTER: Duration = Duration::from_secs(1);

impl Session {
    fn new(group: Option<String>) -> Self {
        Self {
            group,
            trouble: None,
            recovering: None,
        }
    }

    fn say(&self, text: &str) {
        match &self.group {
            Some(group) => eprintln!("{} group {group}: {text}", stamp()),
            None => eprintln!("{} {text}", stamp()),
        }
    }

    /// Prints each group event, and a recovery once the session has gone
    /// [`RECOVERED_AFTER`] without errors after a coordinator was found
    /// again or the member joined again.
    fn events(&mut self, events: &[GroupEvent]) {
        for event in events {
            self.say(&describe_event(event));
            match event {
                GroupEvent::SessionError { .. } => {
                    self.trouble.get_or_insert((Instant::now(), 0)).1 += 1;
                    self.recovering = None;
                }
                GroupEvent::Joined { .. }
                | GroupEvent::Assigned(_)
                | GroupEvent::CoordinatorChanged { .. }
                    if self.trouble.is_some() =>
                {
                    self.recovering.get_or_insert_with(Instant::now);
                }
                _ => {}
            }
        }
        if let Some(at) = self.recovering
            && at.elapsed() >= RECOVERED_AFTER
            && let Some((since, errors)) = self.trouble.take()
        {
            self.recovering = None;
            self.say(&format!(
                "session recovered: no session error for {} s, after {errors} session error{} in {:.1} s",
                RECOVERED_AFTER.as_secs(),
                if errors == 1 { "" } else { "s" },
                (at - since).as_secs_f64()
            ));
        }
    }

    /// Prints each error once (a session error already printed as an event
    /// is not repeated); returns the first fatal one.
    fn errors(&self, errors: &[ConsumeError], events: &[GroupEvent]) -> Option<ConsumeError> {
        let session_texts: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                GroupEvent::SessionError { cause, retry_in } => {
                    Some(format!("{cause}; retrying in {} ms", retry_in.as_millis()))
                }
                _ => None,
            })
            .collect();
        let mut fatal = None;
        for error in errors {
            if let ConsumeError::Group {
                message,
                fatal: false,
                ..
            } = error
                && session_texts.contains(message)
            {
                continue;
            }
            if error.is_fatal() {
                fatal.get_or_insert_with(|| error.clone());
            } else {
                self.say(&format!("warning: {error}"));
            }
        }
        fatal
    }
}

fn partition_list(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<String> = partitions
        .iter()
        .map(|tp| format!("{}-{}", tp.topic, tp.partition))
        .collect();
    names.join(", ")
}

/// One line for a group event.
fn describe_event(event: &GroupEvent) -> String {
    match event {
        GroupEvent::Joined {
            identity,
            protocol,
            assignor,
        } => format!(
            "joined as member {} (generation {}, {} protocol, assignor {})",
            identity.member_id,
            identity.generation,
            match protocol {
                GroupProtocol::Classic => "classic",
                GroupProtocol::Consumer => "consumer (KIP-848)",
                _ => "another",
            },
            if assignor.is_empty() { "-" } else { assignor }
        ),
        GroupEvent::Assigned(p) => format!("assigned {}", partition_list(p)),
        GroupEvent::Revoked(p) => format!("revoked {} (offsets committed)", partition_list(p)),
        GroupEvent::Lost(p) => format!(
            "lost {} (the membership expired or was fenced; nothing committed for them)",
            partition_list(p)
        ),
        GroupEvent::CoordinatorChanged { node_id, address } => {
            format!("coordinator is node {node_id} at {address}")
        }
        GroupEvent::SessionError { cause, retry_in } => format!(
            "session error: {cause}; retrying in {} ms",
            retry_in.as_millis()
        ),
        GroupEvent::FellBackToClassic { reason } => {
            format!("the coordinator does not speak KIP-848 ({reason}); using the classic protocol")
        }
        GroupEvent::Left => "left the group".to_owned(),
        _ => "an event this version of vltava does not describe".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_sentences() {
        let tp = TopicPartition::new("t", 1);
        assert_eq!(
            describe_event(&GroupEvent::Assigned(vec![
                tp.clone(),
                TopicPartition::new("t", 2)
            ])),
            "assigned t-1, t-2"
        );
        assert!(describe_event(&GroupEvent::Lost(vec![tp])).starts_with("lost t-1"));
        assert_eq!(
            describe_event(&GroupEvent::SessionError {
                cause: "coordinator 127.0.0.1:9 refused the connection".into(),
                retry_in: Duration::from_millis(400),
            }),
            "session error: coordinator 127.0.0.1:9 refused the connection; retrying in 400 ms"
        );
    }

    #[test]
    fn session_errors_are_not_printed_twice() {
        let session = Session::new(Some("g".into()));
        let events = [GroupEvent::SessionError {
            cause: "c".into(),
            retry_in: Duration::from_millis(5),
        }];
        let errors = [ConsumeError::Group {
            group: "g".into(),
            message: "c; retrying in 5 ms".into(),
            fatal: false,
        }];
        assert!(session.errors(&errors, &events).is_none());
        let fatal = [ConsumeError::Group {
            group: "g".into(),
            message: "GROUP_AUTHORIZATION_FAILED".into(),
            fatal: true,
        }];
        assert!(session.errors(&fatal, &events).is_some());
    }
}
