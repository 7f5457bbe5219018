//! A group consume through a broker restart, on a 3-node cluster of the
//! test's own: the coordinator is stopped and started again while records
//! are produced; stderr shows the session errors and the recovery with
//! timestamps, and every record produced is printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vltava_testkit::{ClusterConfig, OwnedCluster};

use vltava_testkit::Cluster;

use crate::{interrupt, run, wait_output};

/// The binary for this test's cluster, patient: the cluster is new, and
/// one of its nodes goes away.
fn vltava(cluster: &Cluster) -> std::process::Command {
    let mut command = crate::vltava(cluster);
    command.args(["--timeout", "60s"]);
    command
}

/// Lines read so far from a pipe, by a thread of their own.
fn collect(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_group_consume_rides_through_a_coordinator_restart_and_loses_nothing() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vltava-cli-restart");
    let cluster =
        OwnedCluster::start(ClusterConfig::new(dir).nodes(3)).unwrap_or_else(|e| panic!("{e}"));
    let topic = "restart";
    let group = "cli-restart";
    run(
        vltava(&cluster).args(["topics", "create", topic, "-p", "3", "-r", "3"]),
        b"",
    )
    .ok();
    run(
        vltava(&cluster).args(["produce", "-t", topic, "--count", "3000", "--size", "20"]),
        b"",
    )
    .ok();

    let mut consumer = vltava(&cluster)
        .args([
            "consume", "-t", topic, "-g", group, "--from", "earliest", "-f", "%p %o %v",
        ])
        .args(["--session-timeout", "10s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(consumer.stdout.take().unwrap());
    let stderr = collect(consumer.stderr.take().unwrap());
    wait_for("the first 3000 records", Duration::from_secs(60), || {
        stdout.lock().unwrap().len() >= 3000
    });

    // Stop the group's coordinator, produce while it is down, start it again.
    let coordinator = cluster.group_coordinator(group).unwrap();
    cluster.stop(coordinator).unwrap();
    run(
        vltava(&cluster).args(["produce", "-t", topic, "--count", "2000", "--size", "20"]),
        b"",
    )
    .ok();
    wait_for("a session error on stderr", Duration::from_secs(30), || {
        stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("session error"))
    });
    cluster.start_node(coordinator).unwrap();
    run(
        vltava(&cluster).args(["produce", "-t", topic, "--count", "1000", "--size", "20"]),
        b"",
    )
    .ok();

    wait_for("every record", Duration::from_secs(90), || {
        let seen: BTreeSet<String> = stdout.lock().unwrap().iter().cloned().collect();
        seen.len() >= 6000
    });
    wait_for("the recovery on stderr", Duration::from_secs(30), || {
        stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("session recovered"))
    });
    interrupt(&consumer);
    let closed = wait_output(consumer, Duration::from_secs(60));
    assert_eq!(closed.code, 0, "{:?}", stderr.lock().unwrap());

    // Nothing lost: every offset of every partition up to its end, once at least.
    let lines = stdout.lock().unwrap().clone();
    let mut seen: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for line in &lines {
        let mut parts = line.splitn(3, ' ');
        let p: i32 = parts.next().unwrap().parse().unwrap();
        let o: i64 = parts.next().unwrap().parse().unwrap();
        seen.entry(p).or_default().insert(o);
    }
    let total: usize = seen.values().map(BTreeSet::len).sum();
    assert_eq!(total, 6000, "distinct records printed");
    for (p, offsets) in &seen {
        let last = *offsets.iter().next_back().unwrap();
        assert_eq!(offsets.len() as i64, last + 1, "partition {p} has a gap");
    }
    let duplicates = lines.len() - total;
    eprintln!("{} lines, {duplicates} duplicates", lines.len());

    // stderr: timestamped events, the errors, the new coordinator, the recovery, the close.
    let events = stderr.lock().unwrap().clone();
    for line in &events {
        let stamp = line.split(' ').next().unwrap();
        assert!(
            stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "no timestamp: {line}"
        );
        assert!(!line.contains("panicked"), "{line}");
    }
    let has = |text: &str| events.iter().filter(|l| l.contains(text)).count();
    assert!(has("joined as member") >= 1, "{events:#?}");
    assert!(has("assigned restart-") >= 1, "{events:#?}");
    assert!(has("session error") >= 1, "{events:#?}");
    assert!(has("coordinator is node") >= 2, "{events:#?}");
    assert!(has("session recovered") >= 1, "{events:#?}");
    assert_eq!(has("committed and left the group"), 1, "{events:#?}");

    // The close committed everything printed: no lag is left.
    let lag = run(vltava(&cluster).args(["groups", "lag", group]), b"").ok();
    assert!(lag.stdout.contains("total lag 0"), "{}", lag.stdout);
}
