//! `vltava`: the command-line tool of Vltava, a pure-Rust Apache Kafka
//! client, on top of the `vltava` facade (its `Admin`, `Producer` and
//! `Consumer`, sharing one metadata cache and one connection pool).
//!
//! `main` parses the flags (clap), resolves the connection settings
//! (flags, environment, config file), runs one command on a tokio runtime
//! and turns whatever went wrong into one line on stderr and a documented
//! exit code ([`error`]). It never prints a panic or a debug dump: a panic
//! hook prints one line and the process exits with code 70.
//!
//! What it does not do: Kafka's ACLs, quotas, reassignments, transactions
//! or group offset resets; no Avro or schema registry.

mod bench;
mod cli;
mod cluster;
mod connect;
mod consume;
mod error;
mod format;
mod groups;
mod output;
mod produce;
mod table;
mod time;
mod topics;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error ({}{at}); this is a bug in vltava, please report it",
            what.replace('\n', " ")
        );
    }));
    let outcome = std::panic::catch_unwind(|| match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(e) => Err(CliError::from_clap(&e)),
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            e.report();
            e.exit_code()
        }
        // The hook has printed the one line already.
        Err(_) => ExitCode::from(error::EXIT_INTERNAL),
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let settings = connect::Settings::resolve(&cli.connection)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(format!("starting the async runtime: {e}")))?;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Produce(args) => produce::run(&settings, args).await,
            Command::Consume(args) => consume::run(&settings, args).await,
            Command::Topics(args) => topics::run(&settings, args).await,
            Command::Groups(args) => groups::run(&settings, args).await,
            Command::Cluster(args) => cluster::run(&settings, args).await,
            Command::Bench(args) => bench::run(&settings, args).await,
        }
    });
    // Background tasks (metadata refresh, idle connections) and a thread
    // blocked reading stdin are not waited for.
    runtime.shutdown_background();
    result
}
