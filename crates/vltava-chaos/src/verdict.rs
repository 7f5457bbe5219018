//! The account of a run, computed from the journal and the producer's
//! record of what it wrote, and the verdict against the scenario's pass
//! criteria.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::journal::{Entry, What, Who};
use crate::produce::Produced;

/// How many duplicates a scenario allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// None at all.
    None,
    /// Only redeliveries of records not yet committed when they were read
    /// again (the at-least-once window).
    InWindow,
}

/// From when recovery is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverFrom {
    /// The fault starting.
    FaultStart,
    /// The broker being back (the fault healed).
    Healed,
}

/// A scenario's pass criteria.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The duplicates allowed.
    pub duplicates: Duplicates,
    /// Whether the group must not rebalance once settled.
    pub no_rebalance: bool,
    /// From when recovery is measured.
    pub recover_from: RecoverFrom,
    /// The longest recovery allowed, if the scenario bounds it.
    pub recovery_within: Option<Duration>,
    /// When the limit assumes the cluster fails over (moves the dead
    /// broker's leaders) within this time of the fault: the broker session
    /// timeout, after which the controller fences a broker it has not
    /// heard from. A failover that came later (a controller slowed down by
    /// a loaded machine fences late) extends the limit by as much: that
    /// time is Kafka's, and the limit is on what the client does once
    /// the cluster has moved.
    pub failover_within: Option<Duration>,
    /// Whether the members must have reported non-fatal errors (the
    /// outage must be visible to the application).
    pub errors_reported: bool,
}

/// The account of a run.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Records the producer sent.
    pub sent: usize,
    /// Records the broker acknowledged.
    pub acked: usize,
    /// Records delivered to members (counting redeliveries).
    pub deliveries: usize,
    /// Acknowledged records never consumed: (partition, offset).
    pub lost: Vec<(i32, i64)>,
    /// Redeliveries.
    pub duplicates: usize,
    /// Redeliveries of records that were already committed when read again.
    pub duplicates_outside_window: usize,
    /// The largest number of redeliveries of one partition in one burst.
    pub worst_duplicate_burst: usize,
    /// Consumed records whose value is not the sequence number written at
    /// that offset (or does not parse).
    pub mismatched: usize,
    /// Commits that went backwards: (partition, from, to).
    pub commit_regressions: Vec<(i32, i64, i64)>,
    /// Commits observed.
    pub commits: usize,
    /// Each remaining member's partitions at the end.
    pub final_assignment: BTreeMap<usize, Vec<i32>>,
    /// What is wrong with the final assignment, if anything.
    pub assignment_problem: Option<String>,
    /// Rebalances once the group settled (bursts of assignment changes).
    pub rebalances: usize,
    /// Recovery time per fault, in order (`None`: never recovered).
    pub recoveries: Vec<(String, Option<Duration>)>,
    /// The producer's part of each recovery: until every partition had
    /// acknowledged a record sent after the reference moment.
    pub produce_recoveries: Vec<Option<Duration>>,
    /// Per fault, when the watcher first saw a leader move after it (and
    /// before the next fault), from the same reference moment: the
    /// cluster's failover. `None`: no leader moved.
    pub failovers: Vec<Option<Duration>>,
    /// Non-fatal errors reported to the application.
    pub errors: usize,
    /// A few distinct non-fatal errors, for the report.
    pub error_samples: Vec<String>,
    /// Fatal errors reported to the application.
    pub fatal: Vec<String>,
    /// How long the members took to reach lag 0 once the producer stopped.
    pub drain: Option<Duration>,
}

impl Account {
    /// The worst recovery time (`None` if there was no fault, or one never recovered).
    pub fn worst_recovery(&self) -> Option<Duration> {
        if self.recoveries.iter().any(|(_, r)| r.is_none()) {
            return None;
        }
        self.recoveries.iter().filter_map(|(_, r)| *r).max()
    }
}

/// Computes the account. `drained_at` is when the members were told to
/// close (the final assignment is the one before it); `drain` how long
/// reaching lag 0 took, if it was reached.
pub fn account(
    entries: &[Entry],
    produced: &Produced,
    partitions: i32,
    expect: &Expect,
    drained_at: Duration,
    drain: Option<Duration>,
) -> Account {
    let mut a = Account {
        sent: produced.sent.len(),
        acked: produced.acked().count(),
        drain,
        ..Account::default()
    };
    let written: HashMap<(i32, i64), u64> = produced
        .acked()
        .filter_map(|s| Some(((s.partition, s.offset?), s.seq)))
        .collect();
    let sent_at: HashMap<u64, Duration> = produced.sent.iter().map(|s| (s.seq, s.at)).collect();

    // Committed offsets over time, per partition.
    let mut commits: BTreeMap<i32, Vec<(Duration, i64)>> = BTreeMap::new();
    for e in entries {
        if let What::Committed { partition, offset } = e.what {
            let history = commits.entry(partition).or_default();
            if let Some(&(_, last)) = history.last()
                && offset < last
            {
                a.commit_regressions.push((partition, last, offset));
            }
            history.push((e.at, offset));
            a.commits += 1;
        }
    }
    let committed_at = |partition: i32, at: Duration| -> Option<i64> {
        let history = commits.get(&partition)?;
        let i = history.partition_point(|&(t, _)| t <= at);
        i.checked_sub(1).map(|i| history[i].1)
    };

    // Deliveries, duplicates, mismatches.
    let mut times: HashMap<(i32, i64), u32> = HashMap::new();
    let mut bursts: HashMap<i32, (Duration, usize)> = HashMap::new();
    for e in entries {
        let What::Consumed {
            partition,
            offset,
            seq,
        } = e.what
        else {
            continue;
        };
        a.deliveries += 1;
        if let Some(&expected) = written.get(&(partition, offset))
            && expected != seq
        {
            a.mismatched += 1;
        }
        if seq == u64::MAX {
            a.mismatched += 1;
        }
        let n = times.entry((partition, offset)).or_default();
        *n += 1;
        if *n > 1 {
            a.duplicates += 1;
            if committed_at(partition, e.at).is_some_and(|c| offset < c) {
                a.duplicates_outside_window += 1;
            }
            // Redeliveries of a partition within 5 s of each other are one burst.
            let burst = bursts.entry(partition).or_insert((e.at, 0));
            if e.at.saturating_sub(burst.0) > Duration::from_secs(5) {
                *burst = (e.at, 0);
            }
            burst.0 = e.at;
            burst.1 += 1;
            a.worst_duplicate_burst = a.worst_duplicate_burst.max(burst.1);
        }
    }
    a.lost = written
        .keys()
        .filter(|k| !times.contains_key(k))
        .copied()
        .collect();
    a.lost.sort_unstable();

    // The final assignment, and rebalances after the group settled.
    let settled = entries
        .iter()
        .find(|e| e.what == What::Settled)
        .map(|e| e.at);
    let owned = assignment(entries, drained_at);
    let mut last_change: Option<Duration> = None;
    for e in entries.iter().filter(|e| e.at <= drained_at) {
        let changed = match &e.what {
            What::Assigned(p) | What::Revoked(p) | What::Lost(p) => !p.is_empty(),
            _ => false,
        };
        if changed && matches!(e.who, Who::Member(_)) && settled.is_some_and(|s| e.at > s) {
            if last_change.is_none_or(|t| e.at.saturating_sub(t) > Duration::from_secs(3)) {
                a.rebalances += 1;
            }
            last_change = Some(e.at);
        }
    }
    a.final_assignment = owned
        .iter()
        .map(|(m, p)| (*m, p.iter().copied().collect()))
        .collect();
    a.assignment_problem = assignment_problem(&a.final_assignment, partitions);

    // Recovery: per fault, from its start or from the broker being back,
    // until every partition has delivered a record sent after that moment.
    let mut first_after: Vec<(Duration, i32, Duration)> = Vec::new();
    for e in entries {
        if let What::Consumed { partition, seq, .. } = e.what
            && let Some(&sent) = sent_at.get(&seq)
        {
            first_after.push((sent, partition, e.at));
        }
    }
    first_after.sort_unstable();
    for e in entries {
        let reference = match (&e.what, expect.recover_from) {
            (What::Fault(text), RecoverFrom::FaultStart) => text,
            (What::Healed(text), RecoverFrom::Healed) => text,
            _ => continue,
        };
        let from = e.at;
        let start = first_after.partition_point(|&(sent, _, _)| sent < from);
        let mut seen: BTreeMap<i32, Duration> = BTreeMap::new();
        for &(_, partition, consumed) in &first_after[start..] {
            let t = seen.entry(partition).or_insert(consumed);
            *t = (*t).min(consumed);
        }
        let recovery = (seen.len() == partitions as usize).then(|| {
            seen.values()
                .map(|&t| t.saturating_sub(from))
                .max()
                .unwrap_or_default()
        });
        a.recoveries.push((reference.clone(), recovery));
        let next_fault = entries
            .iter()
            .filter(|n| n.at > from && matches!(n.what, What::Fault(_)))
            .map(|n| n.at)
            .next();
        a.failovers.push(
            entries
                .iter()
                .filter(|n| n.at >= from && next_fault.is_none_or(|t| n.at < t))
                .find(|n| matches!(n.what, What::LeadersMoved { .. }))
                .map(|n| n.at.saturating_sub(from)),
        );
        let mut acked: BTreeMap<i32, Duration> = BTreeMap::new();
        for sent in produced.sent.iter().filter(|s| s.at >= from) {
            if let Some(at) = sent.acked_at {
                let t = acked.entry(sent.partition).or_insert(at);
                *t = (*t).min(at);
            }
        }
        let ms = |m: &BTreeMap<i32, Duration>| {
            m.iter()
                .map(|(p, t)| format!("p{p}:{:.1}", t.saturating_sub(from).as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        tracing::info!(
            target: "vltava_chaos",
            fault = %reference,
            acked = %ms(&acked),
            consumed = %ms(&seen),
            "recovery per partition (seconds after the fault)"
        );
        a.produce_recoveries
            .push((acked.len() == partitions as usize).then(|| {
                acked
                    .values()
                    .map(|&t| t.saturating_sub(from))
                    .max()
                    .unwrap_or_default()
            }));
    }

    for e in entries {
        if let (Who::Member(_), What::Error { fatal, text }) = (e.who, &e.what) {
            if *fatal {
                a.fatal.push(text.clone());
            } else {
                a.errors += 1;
                let kind: String = text.chars().take(48).collect();
                if a.error_samples.len() < 4
                    && !a.error_samples.iter().any(|s| s.starts_with(&kind))
                {
                    a.error_samples.push(text.clone());
                }
            }
        }
    }
    a
}

/// Each member's partitions as its events up to `until` say, for the
/// members still there (not closed, not crashed).
pub fn assignment(entries: &[Entry], until: Duration) -> BTreeMap<usize, BTreeSet<i32>> {
    let mut owned: BTreeMap<usize, BTreeSet<i32>> = BTreeMap::new();
    let mut gone: BTreeSet<usize> = BTreeSet::new();
    for e in entries.iter().filter(|e| e.at <= until) {
        let Who::Member(m) = e.who else { continue };
        match &e.what {
            What::Joined { .. } => {
                owned.entry(m).or_default();
            }
            What::Assigned(p) => owned.entry(m).or_default().extend(p),
            What::Revoked(p) | What::Lost(p) => {
                let set = owned.entry(m).or_default();
                for p in p {
                    set.remove(p);
                }
            }
            What::Left | What::Crashed => {
                gone.insert(m);
            }
            _ => {}
        }
    }
    owned.retain(|m, _| !gone.contains(m));
    owned
}

/// What is wrong with a final assignment: a partition owned twice or by
/// nobody, or an idle member while there are enough partitions.
pub fn assignment_problem(owners: &BTreeMap<usize, Vec<i32>>, partitions: i32) -> Option<String> {
    let mut count: BTreeMap<i32, usize> = BTreeMap::new();
    for p in owners.values().flatten() {
        *count.entry(*p).or_default() += 1;
    }
    let twice: Vec<i32> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(p, _)| *p)
        .collect();
    let missing: Vec<i32> = (0..partitions).filter(|p| !count.contains_key(p)).collect();
    let idle: Vec<usize> = owners
        .iter()
        .filter(|(_, p)| p.is_empty())
        .map(|(m, _)| *m)
        .collect();
    let mut problems = Vec::new();
    if !twice.is_empty() {
        problems.push(format!("owned twice: {twice:?}"));
    }
    if !missing.is_empty() {
        problems.push(format!("owned by nobody: {missing:?}"));
    }
    if !idle.is_empty() && partitions as usize >= owners.len() {
        problems.push(format!("idle members: {idle:?}"));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// What fails the scenario's criteria (empty: it passed).
pub fn judge(a: &Account, expect: &Expect) -> Vec<String> {
    let mut failures = Vec::new();
    if !a.lost.is_empty() {
        let sample: Vec<String> = a
            .lost
            .iter()
            .take(5)
            .map(|(p, o)| format!("p{p}@{o}"))
            .collect();
        failures.push(format!(
            "{} records lost (e.g. {})",
            a.lost.len(),
            sample.join(", ")
        ));
    }
    if a.drain.is_none() {
        failures.push("the members did not reach lag 0 before the deadline".to_owned());
    }
    if a.mismatched > 0 {
        failures.push(format!(
            "{} records read with a value that is not what was written there",
            a.mismatched
        ));
    }
    match expect.duplicates {
        Duplicates::None if a.duplicates > 0 => {
            failures.push(format!("{} duplicates (none allowed)", a.duplicates));
        }
        _ if a.duplicates_outside_window > 0 => failures.push(format!(
            "{} duplicates of records already committed",
            a.duplicates_outside_window
        )),
        _ => {}
    }
    if !a.commit_regressions.is_empty() {
        failures.push(format!(
            "commits went backwards: {:?}",
            &a.commit_regressions[..a.commit_regressions.len().min(5)]
        ));
    }
    if let Some(problem) = &a.assignment_problem {
        failures.push(format!("final assignment: {problem}"));
    }
    if expect.no_rebalance && a.rebalances > 0 {
        failures.push(format!("{} rebalances (none allowed)", a.rebalances));
    }
    for (i, (fault, recovery)) in a.recoveries.iter().enumerate() {
        let failover = a.failovers.get(i).copied().flatten();
        let limit = expect
            .recovery_within
            .map(|limit| match (expect.failover_within, failover) {
                (Some(expected), Some(took)) => limit + took.saturating_sub(expected),
                _ => limit,
            });
        match (recovery, limit) {
            (None, _) => failures.push(format!("never recovered from `{fault}`")),
            (Some(r), Some(limit)) if *r > limit => failures.push(format!(
                "recovery from `{fault}` took {:.1} s (limit {:.1} s{})",
                r.as_secs_f64(),
                limit.as_secs_f64(),
                failover.map_or(String::new(), |f| format!(
                    "; leaders moved {:.1} s after it",
                    f.as_secs_f64()
                ))
            )),
            _ => {}
        }
    }
    if expect.errors_reported && a.errors == 0 {
        failures.push("the outage was not reported to the application".to_owned());
    }
    if !a.fatal.is_empty() {
        failures.push(format!(
            "{} fatal errors, e.g. {}",
            a.fatal.len(),
            a.fatal[0]
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::produce::Sent;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn entry(ms: u64, who: Who, what: What) -> Entry {
        Entry {
            at: at(ms),
            who,
            what,
        }
    }

    fn consumed(ms: u64, m: usize, partition: i32, offset: i64, seq: u64) -> Entry {
        entry(
            ms,
            Who::Member(m),
            What::Consumed {
                partition,
                offset,
                seq,
            },
        )
    }

    fn expect() -> Expect {
        Expect {
            duplicates: Duplicates::InWindow,
            no_rebalance: false,
            recover_from: RecoverFrom::Healed,
            recovery_within: Some(Duration::from_secs(5)),
            failover_within: None,
            errors_reported: false,
        }
    }

    /// Two partitions, records 0..4 written alternately, at 100 ms apart.
    fn produced() -> Produced {
        Produced {
            sent: (0..4)
                .map(|seq| Sent {
                    seq,
                    partition: (seq % 2) as i32,
                    at: at(seq * 100),
                    offset: Some((seq / 2) as i64),
                    acked_at: None,
                })
                .collect(),
            failed: Vec::new(),
        }
    }

    #[test]
    fn a_clean_run_passes_and_a_missing_record_is_lost() {
        let mut entries = vec![
            entry(0, Who::Member(1), What::Assigned(vec![0, 1])),
            entry(10, Who::Runner, What::Settled),
            consumed(50, 1, 0, 0, 0),
            consumed(150, 1, 1, 0, 1),
            consumed(250, 1, 0, 1, 2),
            consumed(350, 1, 1, 1, 3),
        ];
        let a = account(&entries, &produced(), 2, &expect(), at(1000), Some(at(1)));
        assert!(
            judge(&a, &expect()).is_empty(),
            "{:?}",
            judge(&a, &expect())
        );
        assert_eq!((a.acked, a.deliveries, a.duplicates), (4, 4, 0));

        entries.remove(4);
        let a = account(&entries, &produced(), 2, &expect(), at(1000), Some(at(1)));
        assert_eq!(a.lost, vec![(0, 1)]);
        assert!(judge(&a, &expect())[0].contains("1 records lost"));
    }

    #[test]
    fn duplicates_below_the_committed_offset_are_outside_the_window() {
        let entries = vec![
            entry(0, Who::Member(1), What::Assigned(vec![0, 1])),
            consumed(50, 1, 0, 0, 0),
            consumed(150, 1, 1, 0, 1),
            consumed(250, 1, 0, 1, 2),
            consumed(350, 1, 1, 1, 3),
            // p1@1 read again before any commit: inside the window.
            consumed(360, 1, 1, 1, 3),
            entry(
                400,
                Who::Observer,
                What::Committed {
                    partition: 0,
                    offset: 2,
                },
            ),
            // p0@0 read again after offset 2 was committed: outside.
            consumed(500, 1, 0, 0, 0),
        ];
        let a = account(&entries, &produced(), 2, &expect(), at(1000), Some(at(1)));
        assert_eq!((a.duplicates, a.duplicates_outside_window), (2, 1));
        let failures = judge(&a, &expect());
        assert!(
            failures.iter().any(|f| f.contains("already committed")),
            "{failures:?}"
        );

        let strict = Expect {
            duplicates: Duplicates::None,
            ..expect()
        };
        assert!(
            judge(&a, &strict)
                .iter()
                .any(|f| f.contains("none allowed"))
        );
    }

    #[test]
    fn commits_going_backwards_and_a_bad_final_assignment_fail() {
        let entries = vec![
            entry(0, Who::Member(1), What::Assigned(vec![0, 1])),
            entry(0, Who::Member(2), What::Assigned(vec![1])),
            entry(0, Who::Member(3), What::Assigned(vec![])),
            entry(
                100,
                Who::Observer,
                What::Committed {
                    partition: 0,
                    offset: 5,
                },
            ),
            entry(
                200,
                Who::Observer,
                What::Committed {
                    partition: 0,
                    offset: 3,
                },
            ),
        ];
        let a = account(
            &entries,
            &Produced::default(),
            3,
            &expect(),
            at(1000),
            Some(at(1)),
        );
        assert_eq!(a.commit_regressions, vec![(0, 5, 3)]);
        let problem = a.assignment_problem.clone().unwrap();
        assert!(problem.contains("owned twice: [1]"), "{problem}");
        assert!(problem.contains("owned by nobody: [2]"), "{problem}");
        assert!(problem.contains("idle members: [3]"), "{problem}");
    }

    #[test]
    fn rebalances_after_settling_are_counted_in_bursts_and_crashed_members_drop_out() {
        let entries = vec![
            entry(0, Who::Member(1), What::Assigned(vec![0])),
            entry(0, Who::Member(2), What::Assigned(vec![1])),
            entry(100, Who::Runner, What::Settled),
            entry(1000, Who::Member(2), What::Crashed),
            entry(5000, Who::Member(1), What::Revoked(vec![0])),
            entry(5500, Who::Member(1), What::Assigned(vec![0, 1])),
            entry(20000, Who::Member(1), What::Lost(vec![0, 1])),
            entry(21000, Who::Member(1), What::Assigned(vec![0, 1])),
        ];
        let a = account(
            &entries,
            &Produced::default(),
            2,
            &expect(),
            at(30000),
            Some(at(1)),
        );
        assert_eq!(a.rebalances, 2);
        assert_eq!(a.final_assignment, BTreeMap::from([(1, vec![0, 1])]));
        assert_eq!(a.assignment_problem, None);
    }

    #[test]
    fn recovery_is_measured_until_every_partition_delivers_a_record_sent_after_the_fault() {
        let mut entries = vec![
            entry(0, Who::Member(1), What::Assigned(vec![0, 1])),
            entry(120, Who::Runner, What::Healed("node 1 back".to_owned())),
            consumed(130, 1, 0, 0, 0),
            // Records 2 (p0, sent at 200) and 3 (p1, sent at 300).
            consumed(2200, 1, 0, 1, 2),
            consumed(9300, 1, 1, 1, 3),
        ];
        let a = account(&entries, &produced(), 2, &expect(), at(10000), Some(at(1)));
        assert_eq!(
            a.recoveries,
            vec![("node 1 back".to_owned(), Some(at(9180)))]
        );
        assert!(
            judge(&a, &expect())
                .iter()
                .any(|f| f.contains("limit 5.0 s"))
        );

        entries.pop();
        let a = account(&entries, &produced(), 2, &expect(), at(10000), Some(at(1)));
        assert_eq!(a.recoveries[0].1, None);
        assert!(
            judge(&a, &expect())
                .iter()
                .any(|f| f.contains("never recovered"))
        );
    }

    #[test]
    fn a_failover_later_than_expected_extends_the_limit_by_its_lateness_only() {
        // The fault at 150 ms, recovery measured from it; the limit (5 s)
        // assumes the cluster fails over within 1 s.
        let expect = Expect {
            recover_from: RecoverFrom::FaultStart,
            failover_within: Some(Duration::from_secs(1)),
            ..expect()
        };
        let moved = |ms| {
            entry(
                ms,
                Who::Runner,
                What::LeadersMoved {
                    partitions: vec![1],
                    from: 1,
                    to: 2,
                },
            )
        };
        let run = |moved_at: u64| {
            let entries = vec![
                entry(0, Who::Member(1), What::Assigned(vec![0, 1])),
                consumed(50, 1, 0, 0, 0),
                consumed(120, 1, 1, 0, 1),
                entry(150, Who::Runner, What::Fault("kill -9 node 1".to_owned())),
                moved(moved_at),
                consumed(250, 1, 0, 1, 2),
                // Record 3 (p1, sent at 300) consumed 6.05 s after the fault.
                consumed(6200, 1, 1, 1, 3),
            ];
            let a = account(&entries, &produced(), 2, &expect, at(10000), Some(at(1)));
            (a.failovers.clone(), judge(&a, &expect))
        };
        // Failed over on time (0.9 s): the limit stays 5 s, and 6.05 s fails.
        let (failovers, failures) = run(1050);
        assert_eq!(failovers, vec![Some(at(900))]);
        assert!(
            failures.iter().any(|f| f.contains("limit 5.0 s")),
            "{failures:?}"
        );
        // Failed over 1.5 s late (2.5 s): the limit is 6.5 s, and 6.05 s passes.
        let (failovers, failures) = run(2650);
        assert_eq!(failovers, vec![Some(at(2500))]);
        assert!(failures.is_empty(), "{failures:?}");
        // Without a failover allowance the same run fails.
        let entries = vec![
            entry(0, Who::Member(1), What::Assigned(vec![0, 1])),
            consumed(50, 1, 0, 0, 0),
            consumed(120, 1, 1, 0, 1),
            entry(150, Who::Runner, What::Fault("kill -9 node 1".to_owned())),
            moved(2650),
            consumed(250, 1, 0, 1, 2),
            consumed(6200, 1, 1, 1, 3),
        ];
        let strict = Expect {
            failover_within: None,
            ..expect.clone()
        };
        let a = account(&entries, &produced(), 2, &strict, at(10000), Some(at(1)));
        assert!(judge(&a, &strict).iter().any(|f| f.contains("limit 5.0 s")));
    }
}
