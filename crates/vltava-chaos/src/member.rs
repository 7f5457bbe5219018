//! Group members: vltava consumers in this process (each with its own
//! connections), or franz-go members as child processes speaking a line
//! protocol. Both write what they do to the journal the same way.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vltava::group::{GroupConfig, GroupEvent, GroupProtocol};
use vltava::{Consumer, ConsumerConfig, OffsetReset};

use crate::journal::{Journal, What, Who};
use crate::settings::{Protocol, Settings};

/// How a member is told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    /// Commit, leave the group, stop.
    Close,
    /// Stop at once: no commit, no LeaveGroup (a crashed process).
    Crash,
}

/// One running member.
#[derive(Debug)]
pub struct Member {
    index: usize,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Vltava {
        control: watch::Sender<Control>,
        task: JoinHandle<()>,
    },
    FranzGo {
        child: Box<tokio::process::Child>,
        stdin: Option<tokio::process::ChildStdin>,
        reader: JoinHandle<()>,
    },
}

/// Which client the members are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// vltava's `Consumer`, in this process.
    Vltava,
    /// franz-go, as the `chaos-member` program at this path.
    FranzGo(PathBuf),
}

impl Client {
    /// Its name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Client::Vltava => "vltava",
            Client::FranzGo(_) => "franz-go",
        }
    }
}

/// What a member needs to know.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// The group.
    pub group: String,
    /// The protocol.
    pub protocol: Protocol,
    /// Timeouts and intervals.
    pub settings: Settings,
}

impl Member {
    /// Starts member `index` of `client` kind.
    pub async fn start(
        index: usize,
        client: &Client,
        spec: &MemberSpec,
        journal: Arc<Journal>,
    ) -> Result<Self, String> {
        let inner = match client {
            Client::Vltava => start_vltava(index, spec, journal)?,
            Client::FranzGo(program) => start_franz_go(index, program, spec, journal)?,
        };
        Ok(Self { index, inner })
    }

    /// Its index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Commits, leaves the group and waits (bounded) until it has.
    pub async fn close(self, journal: &Journal) {
        match self.inner {
            Inner::Vltava { control, task } => {
                let _ = control.send(Control::Close);
                if tokio::time::timeout(Duration::from_secs(60), task)
                    .await
                    .is_err()
                {
                    journal.write(
                        Who::Member(self.index),
                        What::Error {
                            fatal: true,
                            text: "close did not finish within 60 s".to_owned(),
                        },
                    );
                }
            }
            Inner::FranzGo {
                mut child,
                mut stdin,
                reader,
            } => {
                if let Some(mut stdin) = stdin.take() {
                    let _ = stdin.write_all(b"close\n").await;
                    let _ = stdin.shutdown().await;
                }
                match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
                    Ok(_) => {
                        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
                    }
                    Err(_) => {
                        let _ = child.kill().await;
                        journal.write(
                            Who::Member(self.index),
                            What::Error {
                                fatal: true,
                                text: "close did not finish within 60 s; killed".to_owned(),
                            },
                        );
                    }
                }
            }
        }
    }

    /// Ends the member as a crash would: no commit, no LeaveGroup.
    pub async fn crash(self, journal: &Journal) {
        match self.inner {
            Inner::Vltava { control, task } => {
                let _ = control.send(Control::Crash);
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
            Inner::FranzGo {
                mut child, reader, ..
            } => {
                let _ = child.kill().await;
                reader.abort();
                journal.write(Who::Member(self.index), What::Crashed);
            }
        }
    }
}

/// The consumer and group settings of a vltava member.
pub fn vltava_configs(spec: &MemberSpec) -> (ConsumerConfig, GroupConfig) {
    let s = &spec.settings;
    let mut connection = vltava::net::ConnectionConfig::new();
    connection.request_timeout = s.request_timeout;
    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .auto_commit(Some(s.auto_commit))
        .connection(connection);
    let mut group = GroupConfig::new(spec.group.as_str());
    group.session_timeout = s.session_timeout;
    group.heartbeat_interval = s.heartbeat_interval;
    group.rebalance_timeout = s.rebalance_timeout;
    match spec.protocol {
        Protocol::CooperativeSticky => {
            group.protocol = GroupProtocol::Classic;
            group.assignors = vec!["cooperative-sticky".to_owned()];
        }
        Protocol::EagerRange => {
            group.protocol = GroupProtocol::Classic;
            group.assignors = vec!["range".to_owned()];
        }
        Protocol::Consumer => group.protocol = GroupProtocol::Consumer,
    }
    (config, group)
}

fn start_vltava(index: usize, spec: &MemberSpec, journal: Arc<Journal>) -> Result<Inner, String> {
    let (config, group) = vltava_configs(spec);
    let consumer = Consumer::subscribe(&spec.bootstrap, config, group, [spec.topic.as_str()])
        .map_err(|e| format!("member {index}: {e}"))?;
    let (control, mut watch) = watch::channel(Control::Run);
    let task = tokio::spawn(async move {
        let who = Who::Member(index);
        loop {
            let order = *watch.borrow_and_update();
            match order {
                Control::Run => {}
                Control::Close => {
                    if let Err(e) = consumer.close().await {
                        journal.write(
                            who,
                            What::Error {
                                fatal: e.is_fatal(),
                                text: format!("close: {e}"),
                            },
                        );
                    }
                    journal.write(who, What::Left);
                    return;
                }
                Control::Crash => {
                    drop(consumer);
                    journal.write(who, What::Crashed);
                    return;
                }
            }
            let fetches = tokio::select! {
                f = consumer.poll(Duration::from_millis(200)) => f,
                _ = watch.changed() => continue,
            };
            note_events_and_errors(&journal, who, &fetches);
            journal.consumed(
                index,
                fetches
                    .records()
                    .map(|r| (r.partition, r.offset, seq_of(r.value.as_deref()))),
            );
        }
    });
    Ok(Inner::Vltava { control, task })
}

/// Writes what a poll reported besides records: group events and errors.
pub(crate) fn note_events_and_errors(journal: &Journal, who: Who, fetches: &vltava::Fetches) {
    for event in &fetches.events {
        if let Some(what) = event_entry(event) {
            journal.write(who, what);
        }
    }
    for error in &fetches.errors {
        journal.write(
            who,
            What::Error {
                fatal: error.is_fatal(),
                text: error.to_string(),
            },
        );
    }
}

/// The journal entry for a group event (`None` for those the verdict does
/// not use).
pub fn event_entry(event: &GroupEvent) -> Option<What> {
    let numbers = |tps: &[vltava::TopicPartition]| {
        let mut p: Vec<i32> = tps.iter().map(|tp| tp.partition).collect();
        p.sort_unstable();
        p
    };
    Some(match event {
        GroupEvent::Joined { identity, .. } => What::Joined {
            generation: identity.generation,
        },
        GroupEvent::Assigned(tps) => What::Assigned(numbers(tps)),
        GroupEvent::Revoked(tps) => What::Revoked(numbers(tps)),
        GroupEvent::Lost(tps) => What::Lost(numbers(tps)),
        GroupEvent::CoordinatorChanged { node_id, .. } => What::Coordinator(*node_id),
        GroupEvent::SessionError { cause, retry_in } => What::Error {
            fatal: false,
            text: format!("{cause} (retrying in {} ms)", retry_in.as_millis()),
        },
        _ => return None,
    })
}

/// The sequence number a record's value carries (`u64::MAX` if it does
/// not parse, which the verdict reports).
pub fn seq_of(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

fn start_franz_go(
    index: usize,
    program: &PathBuf,
    spec: &MemberSpec,
    journal: Arc<Journal>,
) -> Result<Inner, String> {
    let s = &spec.settings;
    let protocol = match spec.protocol {
        Protocol::CooperativeSticky => "cooperative-sticky",
        Protocol::EagerRange => "range",
        Protocol::Consumer => "consumer",
    };
    let mut child = tokio::process::Command::new(program)
        .args(["--brokers", &spec.bootstrap])
        .args(["--topic", &spec.topic])
        .args(["--group", &spec.group])
        .args(["--protocol", protocol])
        .args([
            "--session-timeout-ms",
            &s.session_timeout.as_millis().to_string(),
        ])
        .args([
            "--heartbeat-ms",
            &s.heartbeat_interval.as_millis().to_string(),
        ])
        .args([
            "--rebalance-timeout-ms",
            &s.rebalance_timeout.as_millis().to_string(),
        ])
        .args(["--auto-commit-ms", &s.auto_commit.as_millis().to_string()])
        .args(["--name", &format!("member-{index}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", program.display()))?;
    let stdin = child.stdin.take();
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| "the franz-go member has no stdout".to_owned())?;
    let reader = tokio::spawn(async move {
        let who = Who::Member(index);
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match parse_line(&line) {
                Some(Line::Record(p, o, seq)) => journal.consumed(index, [(p, o, seq)]),
                Some(Line::Other(what)) => journal.write(who, what),
                Some(Line::Skip) => {}
                None => journal.write(
                    who,
                    What::Error {
                        fatal: true,
                        text: format!("unreadable line from the franz-go member: {line}"),
                    },
                ),
            }
        }
    });
    Ok(Inner::FranzGo {
        child: Box::new(child),
        stdin,
        reader,
    })
}

enum Line {
    Record(i32, i64, u64),
    Other(What),
    Skip,
}

/// One line of the franz-go member: `<ms> <kind> <fields...>`.
fn parse_line(line: &str) -> Option<Line> {
    let mut fields = line.splitn(3, ' ');
    let _ms = fields.next()?;
    let kind = fields.next()?;
    let rest = fields.next().unwrap_or("");
    let list = |s: &str| -> Option<Vec<i32>> {
        if s.trim() == "-" || s.trim().is_empty() {
            return Some(Vec::new());
        }
        s.trim().split(',').map(|p| p.parse().ok()).collect()
    };
    Some(match kind {
        "R" => {
            let mut f = rest.splitn(3, ' ');
            let p = f.next()?.parse().ok()?;
            let o = f.next()?.parse().ok()?;
            let seq = seq_of(f.next().map(str::as_bytes));
            Line::Record(p, o, seq)
        }
        // Commits are read by the observer, for both clients alike.
        "C" => Line::Skip,
        "J" => Line::Other(What::Joined {
            generation: rest.split(' ').next()?.parse().ok()?,
        }),
        "A" => Line::Other(What::Assigned(list(rest)?)),
        "V" => Line::Other(What::Revoked(list(rest)?)),
        "L" => Line::Other(What::Lost(list(rest)?)),
        "E" => {
            let (fatal, text) = rest.split_once(' ').unwrap_or((rest, ""));
            Line::Other(What::Error {
                fatal: fatal == "1",
                text: text.to_owned(),
            })
        }
        "X" => Line::Other(What::Left),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn franz_go_lines_parse_and_nonsense_does_not() {
        assert!(matches!(
            parse_line("1700000000000 R 3 42 1017"),
            Some(Line::Record(3, 42, 1017))
        ));
        assert!(matches!(
            parse_line("1 A 0,4,8"),
            Some(Line::Other(What::Assigned(p))) if p == vec![0, 4, 8]
        ));
        assert!(matches!(
            parse_line("1 V -"),
            Some(Line::Other(What::Revoked(p))) if p.is_empty()
        ));
        assert!(matches!(
            parse_line("1 E 0 unable to dial: connection refused"),
            Some(Line::Other(What::Error { fatal: false, text })) if text == "unable to dial: connection refused"
        ));
        assert!(parse_line("1 A 0,x").is_none());
        assert!(parse_line("garbage").is_none());
        assert!(parse_line("1 R 3").is_none());
    }

    #[test]
    fn sequence_numbers_parse_and_bad_values_are_marked() {
        assert_eq!(seq_of(Some(b"123")), 123);
        assert_eq!(seq_of(Some(b"abc")), u64::MAX);
        assert_eq!(seq_of(None), u64::MAX);
    }
}
