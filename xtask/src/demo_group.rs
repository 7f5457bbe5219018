//! The mission, live: a producer and a group of 3 consumers on the local
//! cluster while the group coordinator restarts and a partition leader is
//! killed (-9); a timeline of what the members reported, and a final
//! account of what was produced, consumed, lost and duplicated, with the
//! rebalances and recovery times. It is the reliability suite's runner
//! (`vltava-chaos`) with the demo's own fault script, so the demo and the
//! suite count the same way.

use vltava_chaos::scenario::Scenario;
use vltava_chaos::{Client, Protocol, RunOptions, Settings};
use vltava_testkit::Cluster;

pub(crate) fn run(cluster: &Cluster) -> Result<(), String> {
    let settings = Settings::default();
    println!(
        "\nthe mission: a group of {} consumers reads a topic of {} partitions (RF 3) while a producer writes {} records/s;\nthe group coordinator restarts, then a partition leader is killed (-9) and started again.\ntimeline (times since the start; each kind of reported error is shown once in a row):",
        settings.members, settings.partitions, settings.rate
    );
    let options = RunOptions {
        scenario: Scenario::Mission,
        protocol: Protocol::CooperativeSticky,
        client: Client::Vltava,
        settings,
        echo: true,
        journal_dir: None,
        soak: std::time::Duration::ZERO,
    };
    let report = vltava_chaos::run(cluster, &options)?;
    let a = &report.account;
    println!("\nfinal account");
    println!("  produced (acknowledged) {:>8}", a.acked);
    println!("  consumed (deliveries)   {:>8}", a.deliveries);
    println!("  lost                    {:>8}", a.lost.len());
    println!(
        "  duplicates              {:>8}   (read again after a rebalance: processed, not yet committed; {} of them of records already committed)",
        a.duplicates, a.duplicates_outside_window
    );
    println!("  rebalances              {:>8}", a.rebalances);
    for ((fault, recovery), producer) in a.recoveries.iter().zip(&a.produce_recoveries) {
        let seconds = |d: Option<std::time::Duration>| {
            d.map_or("never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
        };
        println!(
            "  recovery from `{fault}`: every partition consumed again after {} (the producer's part: {})",
            seconds(*recovery),
            seconds(*producer)
        );
    }
    println!(
        "  errors reported         {:>8} non-fatal, {} fatal",
        a.errors,
        a.fatal.len()
    );
    println!(
        "  commits                 {:>8} observed, {} backwards",
        a.commits,
        a.commit_regressions.len()
    );
    if report.passed() {
        println!("\nnothing lost; the consumers were never recreated.");
        Ok(())
    } else {
        Err(format!(
            "the mission failed: {}",
            report.failures.join("; ")
        ))
    }
}
