//! The journal: everything a scenario saw, in order, with the time since it
//! started. The verdict is computed from it alone, so a run's account can
//! always be traced back to what happened.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Who wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Who {
    /// The runner: faults, phases.
    Runner,
    /// The sequence producer.
    Producer,
    /// A group member, by its index (the first is 1).
    Member(usize),
    /// The committed-offset observer (an admin client of its own).
    Observer,
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::Runner => f.write_str("runner"),
            Who::Producer => f.write_str("producer"),
            Who::Member(m) => write!(f, "member {m}"),
            Who::Observer => f.write_str("observer"),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A member processed a record.
    Consumed {
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// The sequence number the producer wrote in it.
        seq: u64,
    },
    /// A member joined a generation (classic) or got a member epoch (KIP-848).
    Joined {
        /// The generation or epoch.
        generation: i32,
    },
    /// Partitions added to a member.
    Assigned(Vec<i32>),
    /// Partitions revoked from a member.
    Revoked(Vec<i32>),
    /// Partitions a member lost.
    Lost(Vec<i32>),
    /// A member found its coordinator.
    Coordinator(i32),
    /// An error the client surfaced to the application.
    Error {
        /// Whether the client called it fatal.
        fatal: bool,
        /// What it said.
        text: String,
    },
    /// The group's committed offset of a partition, as the observer read it.
    Committed {
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
    },
    /// The group settled: every partition assigned, faults may start.
    Settled,
    /// A fault began.
    Fault(String),
    /// The fault's broker is back (or the fault ended): recovery is
    /// measured from here when the scenario says so.
    Healed(String),
    /// The watcher saw partitions' leader move (the cluster failing over).
    LeadersMoved {
        /// The partitions.
        partitions: Vec<i32>,
        /// The node that led them.
        from: i32,
        /// The node that leads them now (`-1`: none).
        to: i32,
    },
    /// A step of the scenario that is neither (e.g. a member joining).
    Step(String),
    /// A member closed cleanly (committed and left).
    Left,
    /// A member crashed (dropped without closing).
    Crashed,
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Since the scenario started.
    pub at: Duration,
    /// Who wrote it.
    pub who: Who,
    /// What happened.
    pub what: What,
}

/// The journal of one scenario run. Shared by every task of the run.
#[derive(Debug)]
pub struct Journal {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
    echo: bool,
    /// The kind of the last error echoed per writer: a retry loop's
    /// hundredth identical report is not printed.
    last_echoed: Mutex<std::collections::HashMap<Who, String>>,
}

impl Journal {
    /// An empty journal starting now; `echo` prints the timeline (not the
    /// records) as it is written.
    pub fn new(echo: bool) -> Self {
        Self {
            start: Instant::now(),
            entries: Mutex::new(Vec::new()),
            echo,
            last_echoed: Mutex::default(),
        }
    }

    /// Time since the start.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Writes an entry.
    pub fn write(&self, who: Who, what: What) {
        let at = self.now();
        if !matches!(what, What::Consumed { .. } | What::Committed { .. }) {
            tracing::info!(
                target: "vltava_chaos",
                at = %format!("{:.3}s", at.as_secs_f64()),
                "{who} {}",
                describe(&what)
            );
        }
        if self.echo && !matches!(what, What::Consumed { .. } | What::Committed { .. }) {
            let mut last = self
                .last_echoed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let repeated = match &what {
                What::Error { text, .. } => {
                    let kind: String = text.chars().take(60).collect();
                    last.insert(who, kind.clone()).as_deref() == Some(kind.as_str())
                }
                _ => {
                    last.remove(&who);
                    false
                }
            };
            if !repeated {
                eprintln!(
                    "  [{:>6.1}s] {who:<9} {}",
                    at.as_secs_f64(),
                    describe(&what)
                );
            }
        }
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Entry { at, who, what });
    }

    /// Writes many records consumed by `member` at once.
    pub fn consumed(&self, member: usize, records: impl IntoIterator<Item = (i32, i64, u64)>) {
        let at = self.now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.extend(records.into_iter().map(|(partition, offset, seq)| Entry {
            at,
            who: Who::Member(member),
            what: What::Consumed {
                partition,
                offset,
                seq,
            },
        }));
    }

    /// How many entries there are so far.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether there is no entry yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the entries from index `from` on (what came since a
    /// caller last looked), so that watching the journal does not copy it
    /// whole each time.
    pub fn entries_from(&self, from: usize) -> Vec<Entry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(from..)
            .map(<[Entry]>::to_vec)
            .unwrap_or_default()
    }

    /// A copy of every entry so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One line of timeline for an entry.
pub fn describe(what: &What) -> String {
    match what {
        What::Consumed {
            partition,
            offset,
            seq,
        } => format!("consumed p{partition}@{offset} (#{seq})"),
        What::Joined { generation } => format!("joined, generation/epoch {generation}"),
        What::Assigned(p) => format!("assigned {}", partitions(p)),
        What::Revoked(p) => format!("revoked {}", partitions(p)),
        What::Lost(p) => format!("LOST {}", partitions(p)),
        What::Coordinator(node) => format!("coordinator is node {node}"),
        What::Error { fatal: true, text } => format!("FATAL error: {text}"),
        What::Error { fatal: false, text } => format!("reported: {text}"),
        What::Committed { partition, offset } => format!("committed p{partition}@{offset}"),
        What::Settled => "the group settled".to_owned(),
        What::Fault(text) => format!("FAULT {text}"),
        What::Healed(text) => format!("healed: {text}"),
        What::LeadersMoved {
            partitions: moved,
            from,
            to,
        } => format!(
            "leader of {} moved from node {from} to {}",
            partitions(moved),
            if *to < 0 {
                "none".to_owned()
            } else {
                format!("node {to}")
            }
        ),
        What::Step(text) => text.clone(),
        What::Left => "closed (committed, left)".to_owned(),
        What::Crashed => "CRASHED (dropped without closing)".to_owned(),
    }
}

/// `p0,p3,p7`, or `nothing`.
pub fn partitions(p: &[i32]) -> String {
    if p.is_empty() {
        return "nothing".to_owned();
    }
    p.iter()
        .map(|p| format!("p{p}"))
        .collect::<Vec<_>>()
        .join(",")
}
