//! `cargo xtask`: Vltava's workflows, one subcommand each.

mod bench;
mod chaos;
mod cluster;
mod codegen;
mod demo;
mod demo_group;
mod fixtures;
mod flags;
mod fuzz;
mod peers;
mod peers_chart;
mod peers_prerequisites;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

Commands:
  test [--kafka VERSION]            the project's test command: fmt, codegen check, clippy, then every
                                    test against a local Kafka cluster (started, or reused if one runs)
  demo                              the main job on a local cluster
  chaos [--full | --soak MINUTES]   the reliability suite: a consumer group through broker failures
  cluster <action>                  a local Kafka cluster: up, down, status, stop/kill/pause/resume/start/restart N
  codegen [--check] [--specs DIR]   generate vltava-wire's messages from Kafka's JSON specs
  fixtures [--out DIR]              capture golden response frames from a real broker
  fuzz [--target T] [--seconds S]   run the cargo-fuzz targets (--seed rewrites the seed corpus)
  bench [--quick] [FILTER]          the criterion benchmarks (fetch path and its parts, consumer poll,
                                    decompressors, produce)
  bench peers [OPTIONS]             vltava side by side with franz-go, librdkafka, the Java client,
                                    krafka and confluent-kafka

`cargo xtask <command> --help` tells more.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{HELP}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "codegen" => codegen::run(rest),
        "cluster" => cluster::run(rest),
        "test" => test::run(rest),
        "demo" => demo::run(rest),
        "fixtures" => fixtures::run(rest),
        "fuzz" => fuzz::run(rest),
        "bench" => bench::run(rest),
        "chaos" => chaos::run(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace's top folder.
pub(crate) fn workspace_root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().map(PathBuf::from).unwrap_or(xtask)
}

/// Runs `cargo` with `args` in the workspace, failing with `what` on a non-zero exit.
pub(crate) fn cargo(args: &[&str], envs: &[(&str, String)], what: &str) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = std::process::Command::new(cargo)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}
