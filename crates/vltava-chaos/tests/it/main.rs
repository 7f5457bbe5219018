//! The quick tier of the reliability suite, as `cargo xtask test` runs it:
//! each of the nine scenarios once, on a 3-node cluster of its own, with one
//! group protocol per scenario chosen in rotation by the day (so every
//! pair runs every three days). `cargo xtask chaos --full` runs them all.
//!
//! A failing run prints its account and the command that repeats it.

use std::time::Instant;

use vltava_chaos::{Client, RunOptions, Settings, report};
use vltava_testkit::{ClusterConfig, OwnedCluster};

#[test]
fn the_quick_tier_passes_every_scenario() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-chaos-quick");
    let cluster =
        OwnedCluster::start(ClusterConfig::new(dir).nodes(3)).unwrap_or_else(|e| panic!("{e}"));
    let day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 86_400) as usize);
    let started = Instant::now();
    let mut failed = Vec::new();
    for (scenario, protocol) in report::quick_tier(day) {
        let options = RunOptions {
            scenario,
            protocol,
            client: Client::Vltava,
            settings: Settings::default(),
            echo: false,
            journal_dir: Some(
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaos-journals"),
            ),
            soak: std::time::Duration::ZERO,
        };
        match vltava_chaos::run(&cluster, &options) {
            Ok(report) => {
                eprintln!("{}", report.summary());
                if !report.passed() {
                    failed.push(format!(
                        "{scenario} [{protocol}]: {} (repeat: cargo xtask chaos --scenario {} --protocol {protocol})",
                        report.failures.join("; "),
                        scenario.number()
                    ));
                }
            }
            Err(e) => failed.push(format!("{scenario} [{protocol}] could not run: {e}")),
        }
    }
    eprintln!("quick tier: {:.0} s", started.elapsed().as_secs_f64());
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
}
