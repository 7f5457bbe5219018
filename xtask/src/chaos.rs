//! `cargo xtask chaos`: the reliability suite (crate `vltava-chaos`) on a
//! 3-node cluster of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vltava_chaos::report;
use vltava_chaos::{Client, Protocol, RunOptions, RunReport, Scenario, Settings};
use vltava_testkit::{ClusterConfig, OwnedCluster};

use crate::flags::Flags;

pub(crate) const HELP: &str = "\
cargo xtask chaos [--full | --soak MINUTES] [OPTIONS]

The reliability suite: a group of 3 consumers reads a 12-partition topic (RF 3,
min.insync.replicas=2) that an idempotent producer writes numbered records to,
while nodes of a 3-node cluster are killed, stopped, paused and restarted. Each
run checks: 0 lost, duplicates only within the uncommitted window (or none),
commits never backwards, a valid final assignment, rebalances, recovery time,
and that only non-fatal errors reached the application.

Tiers:
  (default)          the quick tier: each scenario once, one protocol each, in
                     rotation by day (also the last step of
                     `cargo xtask test`)
  --full             every scenario with every protocol
  --soak MINUTES     random faults (kill, stop, pause, restart of random nodes,
                     every 10 to 20 s) for MINUTES, with the same checks

Options:
  --scenario N[,N]   only these scenarios (1-9)
  --protocol P[,P]   these protocols (each with every scenario chosen):
                     cooperative-sticky, eager-range, kip-848
  --client C         vltava (default), franz-go, or both (franz-go needs Go; its
                     member is built from crates/vltava-chaos/franz-go)
  --runs N           run the tier N times (default 1)
  --report FILE      write the table of this run between the markers of FILE
                     (docs/reliability.md)
  --quiet            no live timeline, only each run's account
  --trace FILTER     write the clients' tracing events to
                     target/vltava-chaos-trace.log, with the timeline beside
                     them; FILTER as `vltava_producer=debug,vltava_meta=debug`
                     or a level (`debug`)
  --kafka VERSION    the Kafka version of the cluster

Scenarios:
  1 rolling clean restart of all 3 nodes, twice      6 a member crashes while a node restarts
  2 kill -9 the coordinator, back after 5 s          7 members join and leave while a node restarts
  3 kill -9 a leader (not the coordinator), 5 s      8 the coordinator killed mid-rebalance
  4 every node killed for 10 s                       9 exactly-once through 1 and 2 (vltava only)
  5 SIGSTOP the coordinator longer than the request timeout
";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut flags = Flags::new(args);
    if flags.switch("--help") || flags.switch("-h") {
        print!("{HELP}");
        return Ok(());
    }
    let full = flags.switch("--full");
    let soak = flags
        .value("--soak")?
        .map(|m| {
            m.parse::<u64>()
                .map_err(|_| format!("--soak takes minutes, not `{m}`"))
        })
        .transpose()?;
    let scenarios = flags
        .value("--scenario")?
        .map(|list| {
            list.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .ok()
                        .and_then(Scenario::from_number)
                        .ok_or_else(|| format!("no scenario `{n}` (1-9)"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let protocols = flags
        .value("--protocol")?
        .map(|list| {
            list.split(',')
                .map(|p| {
                    Protocol::parse(p.trim()).ok_or_else(|| {
                        format!("no protocol `{p}` (cooperative-sticky, eager-range, kip-848)")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let client = flags.value("--client")?.unwrap_or_else(|| "vltava".into());
    let runs: usize = flags
        .value("--runs")?
        .map(|n| {
            n.parse()
                .map_err(|_| format!("--runs takes a number, not `{n}`"))
        })
        .transpose()?
        .unwrap_or(1);
    let report_file = flags.value("--report")?.map(PathBuf::from);
    let quiet = flags.switch("--quiet");
    let kafka = flags.value("--kafka")?;
    let trace = flags.value("--trace")?;
    flags.finish()?;
    if let Some(filter) = trace {
        install_trace(&filter)?;
    }
    if full && soak.is_some() {
        return Err("--full and --soak are separate tiers; pick one".into());
    }

    let client_flag = client.clone();
    let clients = match client.as_str() {
        "vltava" => vec![Client::Vltava],
        "franz-go" => vec![Client::FranzGo(build_franz_go()?)],
        "both" => vec![Client::Vltava, Client::FranzGo(build_franz_go()?)],
        other => return Err(format!("no client `{other}` (vltava, franz-go, both)")),
    };

    let cluster = start_cluster(kafka)?;
    let started = Instant::now();
    if let Some(minutes) = soak {
        let mut failed = false;
        for client in &clients {
            let protocol = protocols
                .as_ref()
                .and_then(|p| p.first().copied())
                .unwrap_or(Protocol::CooperativeSticky);
            let options = RunOptions {
                scenario: Scenario::Soak,
                protocol,
                client: client.clone(),
                settings: Settings::default(),
                echo: !quiet,
                journal_dir: Some(journal_dir()),
                soak: Duration::from_secs(minutes * 60),
            };
            let report = vltava_chaos::run(&cluster, &options)?;
            println!("{}", report.summary());
            failed |= !report.passed();
        }
        return if failed {
            Err("the soak failed".into())
        } else {
            Ok(())
        };
    }

    // Naming protocols picks from every pair; otherwise the tier decides.
    let tier = if full || protocols.is_some() {
        report::full_tier()
    } else {
        report::quick_tier(day())
    };
    let plan: Vec<(Scenario, Protocol)> = tier
        .into_iter()
        .filter(|(s, _)| scenarios.as_ref().is_none_or(|list| list.contains(s)))
        .filter(|(_, p)| protocols.as_ref().is_none_or(|list| list.contains(p)))
        .collect();
    if plan.is_empty() {
        return Err("nothing to run: no scenario of this tier matches the filters".into());
    }
    let mut reports: Vec<RunReport> = Vec::new();
    for round in 1..=runs {
        for (scenario, protocol) in &plan {
            for client in &clients {
                if scenario == &Scenario::ExactlyOnce && client != &Client::Vltava {
                    continue;
                }
                println!(
                    "\n== round {round}/{runs}: {scenario} [{protocol} / {}]",
                    client.name()
                );
                let options = RunOptions {
                    scenario: *scenario,
                    protocol: *protocol,
                    client: client.clone(),
                    settings: Settings::default(),
                    echo: !quiet,
                    journal_dir: Some(journal_dir()),
                    soak: Duration::ZERO,
                };
                let report = vltava_chaos::run(&cluster, &options)
                    .map_err(|e| format!("{scenario} [{protocol}]: {e}"))?;
                println!("{}", report.summary());
                reports.push(report);
                // The table so far, so an interrupted tier still leaves its figures.
                if let Some(file) = &report_file {
                    let table = report::table(&reports);
                    write_report(file, &table, full, &client_flag, runs, false)?;
                }
            }
        }
    }
    let table = report::table(&reports);
    println!(
        "\n{} runs in {:.0} s\n\n{table}",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(file) = report_file {
        write_report(&file, &table, full, &client_flag, runs, true)?;
        println!("wrote the table into {}", file.display());
    }
    // The suite judges vltava; franz-go's runs are there to compare with
    // (their failures are in the table, and do not fail the command).
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| r.client == "vltava" && !r.passed())
        .map(|r| format!("{} [{} / {}]", r.scenario, r.protocol, r.client))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} runs failed: {}",
            failed.len(),
            failed.join("; ")
        ))
    }
}

/// Where each run's journal goes: `target/chaos-journals`.
fn journal_dir() -> PathBuf {
    crate::workspace_root()
        .join("target")
        .join("chaos-journals")
}

/// Sends tracing events that `filter` lets through to
/// `target/vltava-chaos-trace.log` (the timeline's entries are events of
/// target `vltava_chaos` at info, so they sit among them).
fn install_trace(filter: &str) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    let targets: tracing_subscriber::filter::Targets = format!("vltava_chaos=info,{filter}")
        .parse()
        .map_err(|e| format!("--trace `{filter}`: {e}"))?;
    let path = crate::workspace_root()
        .join("target")
        .join("vltava-chaos-trace.log");
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_timer(tracing_subscriber::fmt::time::Uptime::default())
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .finish()
        .with(targets);
    tracing_subscriber::util::SubscriberInitExt::try_init(subscriber)
        .map_err(|e| format!("installing the trace subscriber: {e}"))?;
    eprintln!("tracing events go to {}", path.display());
    Ok(())
}

/// Days since the Unix epoch: the quick tier's rotation.
fn day() -> usize {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 86_400) as usize)
}

/// A fresh 3-node cluster in `target/vltava-chaos-cluster`, down when dropped.
fn start_cluster(kafka: Option<String>) -> Result<OwnedCluster, String> {
    let dir = crate::workspace_root()
        .join("target")
        .join("vltava-chaos-cluster");
    if let Ok(old) = vltava_testkit::Cluster::attach(&dir) {
        let _ = old.down();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = ClusterConfig::new(&dir).nodes(3);
    if let Some(version) = kafka {
        config = config.kafka_version(version);
    }
    eprintln!("starting a 3-node cluster in {}", dir.display());
    OwnedCluster::start(config).map_err(|e| e.to_string())
}

/// Builds the franz-go member into `target/peers/chaos-member`.
fn build_franz_go() -> Result<PathBuf, String> {
    let root = crate::workspace_root();
    let source = root.join("crates/vltava-chaos/franz-go");
    let program = root.join("target/peers/chaos-member");
    let status = Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(&program)
        .arg(".")
        .current_dir(&source)
        .status()
        .map_err(|e| {
            format!("running go (install Go 1.24 or later for the franz-go member): {e}")
        })?;
    if !status.success() {
        return Err(format!("go build in {} failed", source.display()));
    }
    Ok(program)
}

const BEGIN: &str = "<!-- chaos-table:begin -->";
const END: &str = "<!-- chaos-table:end -->";

/// Replaces what lies between the markers of `file` with the table.
fn write_report(
    file: &Path,
    table: &str,
    full: bool,
    client: &str,
    runs: usize,
    complete: bool,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{} has no `{BEGIN}` ... `{END}` markers",
            file.display()
        ));
    };
    let command = format!(
        "cargo xtask chaos {}--client {client} --runs {runs} --report {}",
        if full { "--full " } else { "" },
        file.display()
    );
    let status = if complete {
        String::new()
    } else {
        " (under way: the runs so far)".to_owned()
    };
    let new = format!(
        "{}{BEGIN}\n\nProduced by `{command}`{status}.\n\n{table}\n{}",
        &text[..begin],
        &text[end..]
    );
    std::fs::write(file, new).map_err(|e| format!("{}: {e}", file.display()))
}
