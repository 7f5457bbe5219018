//! Tiers and the report: which runs a tier makes, and the table of
//! `docs/reliability.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::run::RunReport;
use crate::scenario::Scenario;
use crate::settings::Protocol;

/// The quick tier: each scenario once, with one protocol chosen in
/// rotation. `turn` shifts the rotation (the tier uses the day number, so
/// that every pair runs every three days).
pub fn quick_tier(turn: usize) -> Vec<(Scenario, Protocol)> {
    Scenario::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, Protocol::ALL[(i + turn) % Protocol::ALL.len()]))
        .collect()
}

/// The full tier: every scenario with every protocol.
pub fn full_tier() -> Vec<(Scenario, Protocol)> {
    Scenario::ALL
        .iter()
        .flat_map(|s| Protocol::ALL.iter().map(move |p| (*s, *p)))
        .collect()
}

/// Figures of the runs of one scenario, protocol and client.
#[derive(Debug, Default, Clone)]
struct Row {
    runs: usize,
    passed: usize,
    records: usize,
    lost: usize,
    duplicates: usize,
    worst_duplicates: usize,
    rebalances: usize,
    worst_recovery: Option<Duration>,
    /// When the leaders moved in the run and fault of the worst recovery.
    worst_failover: Option<Duration>,
    never_recovered: bool,
}

fn rows(reports: &[RunReport]) -> BTreeMap<(Scenario, Protocol, &'static str), Row> {
    let mut rows: BTreeMap<(Scenario, Protocol, &'static str), Row> = BTreeMap::new();
    for r in reports {
        let row = rows.entry((r.scenario, r.protocol, r.client)).or_default();
        let a = &r.account;
        row.runs += 1;
        row.passed += usize::from(r.passed());
        row.records += a.acked;
        row.lost += a.lost.len();
        row.duplicates += a.duplicates;
        row.worst_duplicates = row.worst_duplicates.max(a.duplicates);
        row.rebalances = row.rebalances.max(a.rebalances);
        if a.recoveries.iter().any(|(_, r)| r.is_none()) {
            row.never_recovered = true;
        }
        for (i, (_, recovery)) in a.recoveries.iter().enumerate() {
            if let Some(r) = *recovery
                && row.worst_recovery.is_none_or(|w| r > w)
            {
                row.worst_recovery = Some(r);
                row.worst_failover = a.failovers.get(i).copied().flatten();
            }
        }
    }
    rows
}

fn recovery(row: &Row) -> String {
    if row.never_recovered {
        return "never".to_owned();
    }
    match (row.worst_recovery, row.worst_failover) {
        (None, _) => "-".to_owned(),
        (Some(r), None) => format!("{:.1} s", r.as_secs_f64()),
        (Some(r), Some(f)) => format!(
            "{:.1} s (leaders moved at {:.1} s)",
            r.as_secs_f64(),
            f.as_secs_f64()
        ),
    }
}

/// The markdown table: one row per scenario and protocol, vltava's figures
/// and, when franz-go ran, franz-go's beside them.
pub fn table(reports: &[RunReport]) -> String {
    let rows = rows(reports);
    let with_franz = reports.iter().any(|r| r.client == "franz-go");
    let mut out = String::from(
        "| scenario | protocol | runs (passed) | records | lost | duplicates (worst run) | rebalances (most) | worst recovery |",
    );
    if with_franz {
        out.push_str(" franz-go runs (passed) | franz-go lost | franz-go duplicates (worst run) | franz-go rebalances | franz-go worst recovery |");
    }
    out.push('\n');
    out.push_str("|---|---|---|---|---|---|---|---|");
    if with_franz {
        out.push_str("---|---|---|---|---|");
    }
    out.push('\n');
    let mut keys: Vec<(Scenario, Protocol)> = rows.keys().map(|(s, p, _)| (*s, *p)).collect();
    keys.dedup();
    for (s, p) in keys {
        let cell = |client| rows.get(&(s, p, client));
        let line = match cell("vltava") {
            Some(v) => format!(
                "| {s} | {p} | {} ({}) | {} | {} | {} ({}) | {} | {} |",
                v.runs,
                v.passed,
                v.records,
                v.lost,
                v.duplicates,
                v.worst_duplicates,
                v.rebalances,
                recovery(v)
            ),
            None => format!("| {s} | {p} | - | - | - | - | - | - |"),
        };
        out.push_str(&line);
        if with_franz {
            match cell("franz-go") {
                Some(f) => out.push_str(&format!(
                    " {} ({}) | {} | {} ({}) | {} | {} |",
                    f.runs,
                    f.passed,
                    f.lost,
                    f.duplicates,
                    f.worst_duplicates,
                    f.rebalances,
                    recovery(f)
                )),
                None => out.push_str(" - | - | - | - | - |"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_tier_runs_every_scenario_once_and_rotates_protocols() {
        let day0 = quick_tier(0);
        let day1 = quick_tier(1);
        assert_eq!(day0.len(), 9);
        assert!(
            Scenario::ALL
                .iter()
                .all(|s| day0.iter().any(|(x, _)| x == s))
        );
        assert!(
            day0.iter()
                .zip(&day1)
                .all(|(a, b)| a.0 == b.0 && a.1 != b.1)
        );
        // Over three turns every pair runs.
        let mut pairs: Vec<_> = (0..3).flat_map(quick_tier).collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), full_tier().len());
    }
}
