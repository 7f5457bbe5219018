//! `vltava topics list|describe|create|delete|alter-config`.

use std::collections::BTreeMap;

use vltava::{ConfigChange, ErrorCode, NewTopic};

use crate::cli::{TopicsArgs, TopicsCommand};
use crate::connect::{Settings, check_topic_name};
use crate::error::CliError;
use crate::output::print_lines;
use crate::produce::parse_pairs;
use crate::table::Table;

pub(crate) async fn run(settings: &Settings, args: TopicsArgs) -> Result<(), CliError> {
    match args.command {
        TopicsCommand::List { internal, long } => {
            let connected = settings.connect().await?;
            let topics = connected.admin.list_topics(internal).await?;
            if !long {
                return print_lines(topics.iter().map(|t| t.name.as_str()));
            }
            let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
            let described = if names.is_empty() {
                BTreeMap::new()
            } else {
                connected.admin.describe_topics(&names).await?
            };
            let mut table = Table::new(["TOPIC", "PARTITIONS", "REPLICATION", "ID"]);
            for topic in &topics {
                let (partitions, rf) = match described.get(&topic.name) {
                    Some(Ok(d)) => (
                        d.partitions.len().to_string(),
                        d.replication_factor()
                            .map_or("-".to_owned(), |r| r.to_string()),
                    ),
                    _ => ("-".to_owned(), "-".to_owned()),
                };
                table.row(vec![
                    topic.name.clone(),
                    partitions,
                    rf,
                    topic.id.map_or("-".to_owned(), |id| id.to_string()),
                ]);
            }
            print_lines(table.lines())
        }
        TopicsCommand::Describe {
            topics,
            all_configs,
        } => {
            for topic in &topics {
                check_topic_name(topic)?;
            }
            let connected = settings.connect().await?;
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let described = connected.admin.describe_topics(&names).await?;
            let mut lines = Vec::new();
            let mut failed: Vec<&vltava::AdminError> = Vec::new();
            for topic in &topics {
                let d = match described.get(topic) {
                    Some(Ok(d)) => d,
                    Some(Err(e)) => {
                        failed.push(e);
                        continue;
                    }
                    None => continue,
                };
                if !lines.is_empty() {
                    lines.push(String::new());
                }
                lines.push(format!(
                    "topic {}  id {}  partitions {}  replication {}{}",
                    d.name,
                    d.id.map_or("-".to_owned(), |id| id.to_string()),
                    d.partitions.len(),
                    d.replication_factor()
                        .map_or("-".to_owned(), |r| r.to_string()),
                    if d.is_internal { "  internal" } else { "" }
                ));
                let mut table =
                    Table::new(["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE"]);
                let ids = |v: &[i32]| {
                    if v.is_empty() {
                        "-".to_owned()
                    } else {
                        v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
                    }
                };
                for p in &d.partitions {
                    table.row(vec![
                        p.partition.to_string(),
                        p.leader.map_or("none".to_owned(), |l| l.to_string()),
                        p.leader_epoch.map_or("-".to_owned(), |e| e.to_string()),
                        ids(&p.replicas),
                        ids(&p.isr),
                        ids(&p.offline_replicas),
                    ]);
                }
                lines.extend(table.lines().into_iter().map(|l| format!("  {l}")));
                let shown: Vec<_> = d
                    .configs
                    .iter()
                    .filter(|(_, c)| all_configs || !c.is_default())
                    .collect();
                if shown.is_empty() {
                    lines.push("  configs: all default".to_owned());
                } else {
                    lines.push(if all_configs {
                        "  configs:".to_owned()
                    } else {
                        "  configs set on the topic:".to_owned()
                    });
                    for (name, c) in shown {
                        let value = if c.sensitive {
                            "(sensitive)".to_owned()
                        } else {
                            c.value.clone().unwrap_or_else(|| "(null)".to_owned())
                        };
                        lines.push(format!("    {name}={value}"));
                    }
                }
            }
            print_lines(lines)?;
            // Each failure on a line of its own; the last one is the exit's.
            let last = failed.pop();
            for e in failed {
                eprintln!("error: {e}");
            }
            match last {
                Some(e) => Err(CliError::new(crate::error::admin_kind(e), e.to_string())),
                None => Ok(()),
            }
        }
        TopicsCommand::Create {
            topic,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
        } => {
            check_topic_name(&topic)?;
            if partitions.is_some_and(|p| p < 1) {
                return Err(CliError::usage("--partitions must be at least 1"));
            }
            if replication_factor.is_some_and(|r| r < 1) {
                return Err(CliError::usage("--replication-factor must be at least 1"));
            }
            let configs = parse_pairs(&configs, "--config")?;
            let connected = settings.connect().await?;
            let mut new = NewTopic::with_defaults(&topic);
            new.partitions = partitions;
            new.replication_factor = replication_factor;
            for (k, v) in configs {
                new = new.config(k, v);
            }
            match connected.admin.create_topic(new).await {
                Ok(created) => {
                    eprintln!(
                        "created topic `{topic}`{}",
                        match (created.partitions, created.replication_factor) {
                            (Some(p), Some(r)) => format!(
                                " with {p} partition{}, replication factor {r}",
                                if p == 1 { "" } else { "s" }
                            ),
                            _ => String::new(),
                        }
                    );
                    Ok(())
                }
                Err(e) if if_not_exists && e.code() == Some(ErrorCode::TOPIC_ALREADY_EXISTS) => {
                    eprintln!("topic `{topic}` exists already");
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
        TopicsCommand::Delete { topics, if_exists } => {
            for topic in &topics {
                check_topic_name(topic)?;
            }
            let connected = settings.connect().await?;
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let results = connected.admin.delete_topics(&names).await?;
            let mut first = None;
            for (topic, result) in results {
                match result {
                    Ok(()) => eprintln!("deleted topic `{topic}`"),
                    Err(e)
                        if if_exists && e.code() == Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION) =>
                    {
                        eprintln!("topic `{topic}` does not exist");
                    }
                    Err(e) => {
                        if first.is_none() {
                            first = Some(CliError::from(e));
                        } else {
                            eprintln!("error: {e}");
                        }
                    }
                }
            }
            first.map_or(Ok(()), Err)
        }
        TopicsCommand::AlterConfig {
            topic,
            set,
            delete,
            append,
            subtract,
            validate_only,
        } => {
            check_topic_name(&topic)?;
            let mut changes = Vec::new();
            for (k, v) in parse_pairs(&set, "--set")? {
                changes.push(ConfigChange::set(k, v));
            }
            for k in delete {
                changes.push(ConfigChange::delete(k));
            }
            for (k, v) in parse_pairs(&append, "--append")? {
                changes.push(ConfigChange::append(k, v));
            }
            for (k, v) in parse_pairs(&subtract, "--subtract")? {
                changes.push(ConfigChange::subtract(k, v));
            }
            if changes.is_empty() {
                return Err(CliError::usage(
                    "no change given: use --set, --delete, --append or --subtract",
                ));
            }
            let count = changes.len();
            let connected = settings.connect().await?;
            let mut results = connected
                .admin
                .alter_topic_configs(&BTreeMap::from([(topic.clone(), changes)]), validate_only)
                .await?;
            results.remove(&topic).unwrap_or(Ok(()))?;
            eprintln!(
                "{} {count} config change{} of topic `{topic}`",
                if validate_only {
                    "validated"
                } else {
                    "applied"
                },
                if count == 1 { "" } else { "s" }
            );
            Ok(())
        }
    }
}
