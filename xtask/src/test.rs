//! `cargo xtask test`: the project's test command.

use std::time::Instant;

use vltava_testkit::CLUSTER_DIR_ENV;

use crate::flags::Flags;

pub(crate) const HELP: &str = "\
cargo xtask test [--kafka VERSION] [--keep-cluster] [--no-chaos] [-- CARGO-TEST-ARGS]

Runs, in order, stopping at the first failure:
  1. cargo fmt --check
  2. cargo xtask codegen --check (skipped, and said so, when the specs are absent)
  3. cargo clippy --workspace --all-targets -- -D warnings
  4. starts a local Kafka cluster (or reuses the one running in $VLTAVA_CLUSTER_DIR,
     default .vltava/cluster) and runs `cargo test --workspace` against it
     (all but vltava-chaos)
  5. takes down the cluster if it started it (--keep-cluster leaves it up)
  6. the reliability suite's quick tier (`cargo test -p vltava-chaos`: each of
     the nine scenarios once on a 3-node cluster of its own, 8-15 minutes),
     after the shared cluster is down so the two never share the machine

--kafka VERSION runs against another Kafka version (e.g. 3.9.2, the compatibility tier),
in a cluster of its own (and skips the quick tier, which runs on the default version).
--no-chaos skips step 6; so do CARGO-TEST-ARGS (they pick tests to run).
";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut flags = Flags::new(args);
    if flags.switch("--help") || flags.switch("-h") {
        print!("{HELP}");
        return Ok(());
    }
    let kafka = flags.value("--kafka")?;
    let keep = flags.switch("--keep-cluster");
    let no_chaos = flags.switch("--no-chaos");
    let mut passthrough = flags.rest();
    if passthrough.first().map(String::as_str) == Some("--") {
        passthrough.remove(0);
    } else if let Some(arg) = passthrough.first() {
        return Err(format!("unexpected argument `{arg}`\n\n{HELP}"));
    }
    let run_chaos = !no_chaos && kafka.is_none() && passthrough.is_empty();
    let started = Instant::now();

    crate::cargo(
        &["fmt", "--all", "--", "--check"],
        &[],
        "cargo fmt --check (run `cargo fmt --all`)",
    )?;
    eprintln!("$ cargo xtask codegen --check");
    crate::codegen::run(&["--check".to_owned()])?;
    crate::cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
        "cargo clippy",
    )?;
    crate::cargo(
        &["build", "--workspace", "--tests"],
        &[],
        "building the tests",
    )?;

    let dir = match &kafka {
        Some(version) => crate::workspace_root()
            .join(".vltava")
            .join(format!("cluster-{version}")),
        None => crate::cluster::default_dir(),
    };
    let (cluster, started_here) = crate::cluster::up_or_attach(dir, None, kafka)?;
    let envs = [
        (CLUSTER_DIR_ENV, cluster.dir().display().to_string()),
        ("VLTAVA_BOOTSTRAP", cluster.bootstrap()),
    ];
    // Every test binary runs even after a failure, so one run shows every failure.
    // The reliability suite runs last, on a cluster of its own (its faults
    // kill nodes), after this cluster is down: its recovery limits are
    // measured in seconds, and six brokers on a small machine would be
    // measuring the machine.
    let mut test_args = vec![
        "test",
        "--workspace",
        "--exclude",
        "vltava-chaos",
        "--no-fail-fast",
    ];
    test_args.extend(passthrough.iter().map(String::as_str));
    let tested = crate::cargo(&test_args, &envs, "the tests");
    if started_here && !keep {
        eprintln!("taking down the cluster this run started");
        if let Err(e) = cluster.down() {
            eprintln!("warning: could not take the cluster down: {e}");
        }
    }
    tested?;
    if run_chaos {
        crate::cargo(
            &["test", "-p", "vltava-chaos", "--", "--nocapture"],
            &[],
            "the reliability suite's quick tier (a failure prints the command that repeats it)",
        )?;
    } else {
        eprintln!("the reliability suite's quick tier was skipped (`cargo xtask chaos` runs it)");
    }
    eprintln!("all checks passed in {:.0?}", started.elapsed());
    Ok(())
}
