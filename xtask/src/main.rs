//! `cargo xtask`: Vltava's workflows, one subcommand each.

mod codegen;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

Commands:
  codegen [--check] [--specs DIR]   generate vltava-wire's messages from Kafka's JSON specs
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{HELP}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "codegen" => codegen::run(rest),
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
