//! `vltava groups list|describe|delete|lag`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;

use vltava::{Admin, GroupDescription, GroupType, ListGroupsOptions, OffsetSpec, TopicPartition};

use crate::cli::{GroupsArgs, GroupsCommand};
use crate::connect::Settings;
use crate::error::CliError;
use crate::output::print_lines;
use crate::produce::interrupted_signal;
use crate::table::Table;
use crate::time::stamp;

pub(crate) async fn run(settings: &Settings, args: GroupsArgs) -> Result<(), CliError> {
    match args.command {
        GroupsCommand::List { state } => {
            let connected = settings.connect().await?;
            let mut options = ListGroupsOptions::new();
            for s in state {
                options = options.state(s);
            }
            let groups = connected.admin.list_groups(&options).await?;
            let mut table = Table::new(["GROUP", "STATE", "TYPE", "PROTOCOL"]);
            for g in groups {
                table.row(vec![
                    g.group_id,
                    g.state.unwrap_or_else(|| "-".to_owned()),
                    g.group_type.as_ref().map_or("-".to_owned(), type_name),
                    if g.protocol_type.is_empty() {
                        "-".to_owned()
                    } else {
                        g.protocol_type
                    },
                ]);
            }
            print_lines(table.lines())
        }
        GroupsCommand::Describe { group } => {
            check_group(&group)?;
            let connected = settings.connect().await?;
            let d = connected.admin.describe_group(&group).await?;
            if is_dead(&d) {
                return Err(no_such_group(&group));
            }
            let mut lines = vec![format!(
                "group {}  state {}  type {}  protocol {}  assignor {}  coordinator {}{}",
                d.group_id,
                d.state,
                type_name(&d.group_type),
                dash(&d.protocol_type),
                dash(&d.assignor),
                d.coordinator,
                d.group_epoch
                    .map(|e| format!("  epoch {e}"))
                    .unwrap_or_default()
            )];
            let mut table = Table::new(["MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT"]);
            for m in &d.members {
                table.row(vec![
                    m.member_id.clone(),
                    dash(&m.client_id),
                    dash(&m.client_host),
                    m.assignment
                        .as_ref()
                        .map_or("-".to_owned(), assignment_text),
                ]);
            }
            if table.len() == 0 {
                lines.push("no members".to_owned());
            } else {
                lines.extend(table.lines());
            }
            print_lines(lines)
        }
        GroupsCommand::Delete { groups } => {
            for g in &groups {
                check_group(g)?;
            }
            let connected = settings.connect().await?;
            let names: Vec<&str> = groups.iter().map(String::as_str).collect();
            let results = connected.admin.delete_groups(&names).await?;
            let mut first = None;
            for (group, result) in results {
                match result {
                    Ok(()) => eprintln!("deleted group `{group}`"),
                    Err(e) if first.is_none() => first = Some(CliError::from(e)),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            first.map_or(Ok(()), Err)
        }
        GroupsCommand::Lag {
            group,
            watch,
            interval,
        } => {
            check_group(&group)?;
            let connected = settings.connect().await?;
            if !watch {
                let lines = lag_lines(&connected.admin, &group).await?;
                return print_lines(lines);
            }
            watch_lag(&connected.admin, &group, interval).await
        }
    }
}

fn check_group(group: &str) -> Result<(), CliError> {
    if group.is_empty() {
        return Err(CliError::usage("the group id is empty"));
    }
    Ok(())
}

fn dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

fn type_name(t: &GroupType) -> String {
    match t {
        GroupType::Classic => "classic".to_owned(),
        GroupType::Consumer => "consumer".to_owned(),
        GroupType::Share => "share".to_owned(),
        GroupType::Other(name) => name.clone(),
        _ => "other".to_owned(),
    }
}

fn is_dead(d: &GroupDescription) -> bool {
    d.state == "Dead" && d.members.is_empty()
}

fn no_such_group(group: &str) -> CliError {
    CliError::refused(format!(
        "group `{group}` does not exist; check its name (`vltava groups list`)"
    ))
}

fn assignment_text(assignment: &BTreeMap<String, Vec<i32>>) -> String {
    if assignment.is_empty() {
        return "-".to_owned();
    }
    assignment
        .iter()
        .map(|(topic, partitions)| {
            let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
            format!("{topic}:{}", list.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One row of the lag table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LagRow {
    pub(crate) tp: TopicPartition,
    pub(crate) committed: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) member: Option<(String, String, String)>,
}

impl LagRow {
    /// `end - committed`, when both are known.
    pub(crate) fn lag(&self) -> Option<i64> {
        Some((self.end? - self.committed?).max(0))
    }
}

/// The group's lag: per partition it owns or has committed, the committed
/// offset, the end offset, the lag and the member that owns it; plus the
/// header line.
async fn lag_lines(admin: &Admin, group: &str) -> Result<Vec<String>, CliError> {
    let description = admin.describe_group(group).await?;
    let committed = admin.list_group_offsets(group).await?;
    if is_dead(&description) && committed.is_empty() {
        return Err(no_such_group(group));
    }
    let mut owners: BTreeMap<TopicPartition, (String, String, String)> = BTreeMap::new();
    for m in &description.members {
        for (topic, partitions) in m.assignment.iter().flatten() {
            for &p in partitions {
                owners.insert(
                    TopicPartition::new(topic.clone(), p),
                    (
                        m.member_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                    ),
                );
            }
        }
    }
    let partitions: BTreeSet<TopicPartition> =
        committed.keys().chain(owners.keys()).cloned().collect();
    let asked: Vec<(TopicPartition, OffsetSpec)> = partitions
        .iter()
        .map(|tp| (tp.clone(), OffsetSpec::Latest))
        .collect();
    let ends = if asked.is_empty() {
        BTreeMap::new()
    } else {
        admin.list_offsets(&asked).await?
    };
    let rows: Vec<LagRow> = partitions
        .into_iter()
        .map(|tp| LagRow {
            committed: committed.get(&tp).map(|c| c.offset),
            end: ends
                .get(&tp)
                .and_then(|r| r.as_ref().ok())
                .and_then(|o| o.offset),
            member: owners.get(&tp).cloned(),
            tp,
        })
        .collect();
    let total: i64 = rows.iter().filter_map(LagRow::lag).sum();
    let mut lines = vec![format!(
        "group {group}  state {}  members {}  total lag {total}",
        description.state,
        description.members.len()
    )];
    lines.extend(lag_table(&rows).lines());
    Ok(lines)
}

fn lag_table(rows: &[LagRow]) -> Table {
    let mut table = Table::new([
        "TOPIC",
        "PARTITION",
        "COMMITTED",
        "END",
        "LAG",
        "MEMBER",
        "CLIENT-ID",
        "HOST",
    ]);
    let show = |v: Option<i64>| v.map_or("-".to_owned(), |v| v.to_string());
    for row in rows {
        let (member, client, host) = row
            .member
            .clone()
            .unwrap_or_else(|| ("-".to_owned(), "-".to_owned(), "-".to_owned()));
        table.row(vec![
            row.tp.topic.clone(),
            row.tp.partition.to_string(),
            show(row.committed),
            show(row.end),
            show(row.lag()),
            member,
            dash(&client),
            dash(&host),
        ]);
    }
    table
}

/// Redraws the lag table every `interval` until Ctrl-C; a failed refresh
/// is shown and retried, never the end (the point is to watch a group
/// through a broker restart).
async fn watch_lag(
    admin: &Admin,
    group: &str,
    interval: std::time::Duration,
) -> Result<(), CliError> {
    let terminal = std::io::stdout().is_terminal();
    let interrupt = interrupted_signal();
    tokio::pin!(interrupt);
    loop {
        let mut lines = Vec::new();
        if terminal {
            // Home and clear: the table stays in place.
            lines.push("\x1b[H\x1b[2J".to_owned());
        }
        lines.push(format!(
            "{}  every {}  (Ctrl-C to stop)",
            stamp(),
            humantime::format_duration(interval)
        ));
        match lag_lines(admin, group).await {
            Ok(table) => lines.extend(table),
            Err(e) => lines.push(format!("{}  (retrying)", e.line())),
        }
        if !terminal {
            lines.push(String::new());
        }
        print_lines(lines)?;
        tokio::select! {
            () = &mut interrupt => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_end_minus_committed_and_unknown_without_either() {
        let row = |committed, end| LagRow {
            tp: TopicPartition::new("t", 0),
            committed,
            end,
            member: None,
        };
        assert_eq!(row(Some(3), Some(10)).lag(), Some(7));
        assert_eq!(row(Some(12), Some(10)).lag(), Some(0));
        assert_eq!(row(None, Some(10)).lag(), None);
        let lines = lag_table(&[row(Some(3), Some(10))]).lines();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].starts_with("t      0          3          10   7    -"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn assignments_print_by_topic() {
        let a = BTreeMap::from([("a".to_owned(), vec![0, 2]), ("b".to_owned(), vec![1])]);
        assert_eq!(assignment_text(&a), "a:0,2 b:1");
        assert_eq!(assignment_text(&BTreeMap::new()), "-");
    }
}
