//! `groups lag`: the numbers after a known amount is produced and
//! consumed, the owner of each partition while a member runs, and
//! `--watch` until Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{create_topic, interrupt, run, shared_cluster, unique, vltava, wait_output};

/// The lag table's rows: (partition, committed, end, lag, member, host).
fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("TOPIC"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn lag_shows_committed_end_and_lag_after_a_known_amount() {
    let cluster = shared_cluster();
    let topic = unique("cli-lag");
    let group = unique("cli-lag-group");
    create_topic(&cluster, &topic, 2, 1);
    let lines = |n: usize| (0..n).map(|i| format!("r{i}\n")).collect::<String>();
    run(
        vltava(&cluster).args(["produce", "-t", &topic, "-p", "0"]),
        lines(60).as_bytes(),
    )
    .ok();
    run(
        vltava(&cluster).args(["produce", "-t", &topic, "-p", "1"]),
        lines(40).as_bytes(),
    )
    .ok();
    run(
        vltava(&cluster).args([
            "consume", "-t", &topic, "-g", &group, "--from", "earliest", "-c", "70",
        ]),
        b"",
    )
    .ok();

    let shown = run(vltava(&cluster).args(["groups", "lag", &group]), b"").ok();
    assert!(
        shown.stdout.starts_with(&format!(
            "group {group}  state Empty  members 0  total lag 30"
        )),
        "{}",
        shown.stdout
    );
    let table = rows(&shown.stdout);
    assert_eq!(table.len(), 2, "{}", shown.stdout);
    let mut committed = 0;
    for (row, end) in table.iter().zip([60, 40]) {
        assert_eq!(row[0], topic);
        let c: i64 = row[2].parse().unwrap();
        assert_eq!(row[3], end.to_string());
        assert_eq!(row[4], (end - c).to_string(), "{row:?}");
        assert_eq!(row[5], "-", "no member owns it");
        committed += c;
    }
    assert_eq!(committed, 70, "{}", shown.stdout);

    // Produce 5 more to partition 1: its lag grows by 5.
    run(
        vltava(&cluster).args(["produce", "-t", &topic, "-p", "1"]),
        lines(5).as_bytes(),
    )
    .ok();
    let shown = run(vltava(&cluster).args(["groups", "lag", &group]), b"").ok();
    assert!(shown.stdout.contains("total lag 35"), "{}", shown.stdout);

    // A running member owns both partitions, and reads them to the end.
    let member = vltava(&cluster)
        .args(["consume", "-t", &topic, "-g", &group, "-f", "%p %o"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let owned = loop {
        let shown = run(vltava(&cluster).args(["groups", "lag", &group]), b"").ok();
        let table = rows(&shown.stdout);
        if table.len() == 2 && table.iter().all(|r| r[4] == "0" && r[5] != "-") {
            break table;
        }
        assert!(
            Instant::now() < deadline,
            "never owned and caught up: {}",
            shown.stdout
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(owned[0][5], owned[1][5], "one member owns both");
    assert_eq!(owned[0][7], "/127.0.0.1", "{owned:?}");

    // --watch redraws until Ctrl-C, then exits 0.
    let mut watch = vltava(&cluster)
        .args(["groups", "lag", &group, "--watch", "--interval", "200ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut tables = 0;
    let mut out = BufReader::new(watch.stdout.take().unwrap());
    let mut line = String::new();
    while tables < 3 && out.read_line(&mut line).unwrap() > 0 {
        if line.starts_with(&format!("group {group}")) {
            tables += 1;
        }
        line.clear();
    }
    assert_eq!(tables, 3);
    interrupt(&watch);
    let watched = wait_output(watch, Duration::from_secs(10));
    assert_eq!(watched.code, 0, "{}", watched.stderr);

    interrupt(&member);
    let stopped = wait_output(member, Duration::from_secs(30));
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert_eq!(
        stopped.stdout.lines().count(),
        35,
        "the member read what was left"
    );
    assert!(
        stopped.stderr.contains("committed and left the group"),
        "{}",
        stopped.stderr
    );
    let shown = run(vltava(&cluster).args(["groups", "lag", &group]), b"").ok();
    assert!(shown.stdout.contains("total lag 0"), "{}", shown.stdout);
}
