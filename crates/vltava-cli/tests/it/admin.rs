//! `topics`, `groups list|describe|delete`, `cluster` and `bench`,
//! checked against the testkit's own view of the cluster.

use crate::{create_topic, run, shared_cluster, unique, vltava};

#[test]
fn topics_are_created_listed_described_altered_and_deleted() {
    let cluster = shared_cluster();
    let topic = unique("cli-topic");
    let created = run(
        vltava(&cluster).args([
            "topics",
            "create",
            &topic,
            "-p",
            "4",
            "-r",
            "2",
            "--config",
            "retention.ms=3600000",
        ]),
        b"",
    )
    .ok();
    assert!(
        created.stderr.contains("4 partitions"),
        "{}",
        created.stderr
    );
    let again = run(
        vltava(&cluster).args(["topics", "create", &topic, "-p", "4"]),
        b"",
    )
    .fails_with(1);
    assert!(
        again.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        again.stderr
    );
    run(
        vltava(&cluster).args(["topics", "create", &topic, "--if-not-exists"]),
        b"",
    )
    .ok();
    assert_eq!(
        cluster
            .metadata()
            .unwrap()
            .topics
            .iter()
            .find(|t| t.name == topic)
            .unwrap()
            .partitions
            .len(),
        4
    );

    let listed = run(vltava(&cluster).args(["topics", "list"]), b"").ok();
    assert!(
        listed.lines().contains(&topic.as_str()),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("__consumer_offsets"));
    let long = run(vltava(&cluster).args(["topics", "list", "-l"]), b"").ok();
    let row = long
        .lines()
        .into_iter()
        .find(|l| l.starts_with(&topic))
        .unwrap()
        .to_owned();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..3], ["4", "2"], "{row}");

    let described = run(vltava(&cluster).args(["topics", "describe", &topic]), b"").ok();
    assert!(
        described.stdout.contains("partitions 4  replication 2"),
        "{}",
        described.stdout
    );
    assert!(
        described.stdout.contains("retention.ms=3600000"),
        "{}",
        described.stdout
    );
    assert_eq!(
        described
            .lines()
            .iter()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        4
    );

    run(
        vltava(&cluster).args([
            "topics",
            "alter-config",
            &topic,
            "--set",
            "retention.ms=7200000",
            "--append",
            "cleanup.policy=compact",
        ]),
        b"",
    )
    .ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let d = run(vltava(&cluster).args(["topics", "describe", &topic]), b"").ok();
        if d.stdout.contains("retention.ms=7200000")
            && d.stdout.contains("cleanup.policy=delete,compact")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change never showed: {}",
            d.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let invalid = run(
        vltava(&cluster).args([
            "topics",
            "alter-config",
            &topic,
            "--set",
            "retention.ms=soon",
        ]),
        b"",
    )
    .fails_with(1);
    assert!(
        invalid.stderr.contains("INVALID_CONFIG"),
        "{}",
        invalid.stderr
    );

    run(vltava(&cluster).args(["topics", "delete", &topic]), b"").ok();
    assert!(
        cluster
            .metadata()
            .unwrap()
            .topics
            .iter()
            .all(|t| t.name != topic)
    );
    run(vltava(&cluster).args(["topics", "delete", &topic]), b"").fails_with(1);
    run(
        vltava(&cluster).args(["topics", "delete", &topic, "--if-exists"]),
        b"",
    )
    .ok();
}

#[test]
fn cluster_shows_the_brokers_the_version_and_the_features() {
    let cluster = shared_cluster();
    let shown = run(vltava(&cluster).args(["cluster", "--apis"]), b"").ok();
    assert!(
        shown
            .stdout
            .contains(&format!("cluster id   {}", cluster.cluster_id())),
        "{}",
        shown.stdout
    );
    for node in cluster.node_ids() {
        let address = cluster.broker_addr(node).unwrap().to_string();
        assert!(
            shown.stdout.contains(&address),
            "{address} missing: {}",
            shown.stdout
        );
    }
    // 4.4.0 -> "kafka        4.4 (from ...)".
    let release: Vec<&str> = cluster.kafka_version().split('.').take(2).collect();
    assert!(
        shown
            .stdout
            .contains(&format!("kafka        {} ", release.join("."))),
        "{}",
        shown.stdout
    );
    // The metadata.version levels are named as Kafka's own FeatureCommand names them.
    let by_kafka = cluster
        .distribution()
        .run_tool(
            "org.apache.kafka.tools.FeatureCommand",
            &["--bootstrap-server", &cluster.bootstrap(), "describe"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let line = by_kafka
        .lines()
        .find(|l| l.contains("Feature: metadata.version"))
        .unwrap_or_else(|| panic!("{by_kafka}"));
    let level = |name: &str| {
        line.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let ours = shown
        .lines()
        .into_iter()
        .find(|l| l.starts_with("metadata.version"))
        .unwrap_or_else(|| panic!("{}", shown.stdout))
        .to_owned();
    for name in [
        "FinalizedVersionLevel:",
        "SupportedMinVersion:",
        "SupportedMaxVersion:",
    ] {
        let release = level(name);
        assert!(
            ours.contains(&format!("({release})")),
            "{release} not in {ours}"
        );
    }
    let produce = shown
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Produce "))
        .expect("a Produce row")
        .to_owned();
    assert!(
        produce.split_whitespace().last().unwrap().starts_with('v'),
        "{produce}"
    );
}

#[test]
fn groups_are_listed_described_and_deleted() {
    let cluster = shared_cluster();
    let topic = unique("cli-groups");
    let group = unique("cli-group");
    create_topic(&cluster, &topic, 2, 1);
    run(
        vltava(&cluster).args(["produce", "-t", &topic, "--count", "20"]),
        b"",
    )
    .ok();
    let consumed = run(
        vltava(&cluster).args([
            "consume", "-t", &topic, "-g", &group, "--from", "earliest", "-c", "20",
        ]),
        b"",
    )
    .ok();
    assert_eq!(consumed.lines().len(), 20);
    assert!(
        consumed.stderr.contains("committed and left the group"),
        "{}",
        consumed.stderr
    );

    let listed = run(vltava(&cluster).args(["groups", "list"]), b"").ok();
    let row = listed
        .lines()
        .into_iter()
        .find(|l| l.starts_with(&group))
        .unwrap_or_else(|| panic!("{}", listed.stdout))
        .to_owned();
    assert!(row.contains("Empty"), "{row}");
    let described = run(vltava(&cluster).args(["groups", "describe", &group]), b"").ok();
    assert!(
        described.stdout.contains("state Empty"),
        "{}",
        described.stdout
    );
    assert!(
        described.stdout.contains("no members"),
        "{}",
        described.stdout
    );

    run(vltava(&cluster).args(["groups", "delete", &group]), b"").ok();
    let gone = run(vltava(&cluster).args(["groups", "describe", &group]), b"").fails_with(1);
    assert!(gone.stderr.contains("does not exist"), "{}", gone.stderr);
    let twice = run(vltava(&cluster).args(["groups", "delete", &group]), b"").fails_with(1);
    assert!(
        twice.stderr.contains("GROUP_ID_NOT_FOUND"),
        "{}",
        twice.stderr
    );
}

#[test]
fn bench_produces_and_consumes_with_figures() {
    let cluster = shared_cluster();
    let topic = unique("cli-bench");
    create_topic(&cluster, &topic, 3, 1);
    let produced = run(
        vltava(&cluster).args([
            "bench", "produce", "-t", &topic, "--count", "20000", "--size", "64", "-z", "lz4",
        ]),
        b"",
    )
    .ok();
    assert!(
        produced
            .stdout
            .contains("produced   20000 records of 64 bytes"),
        "{}",
        produced.stdout
    );
    let rate: f64 = produced
        .lines()
        .into_iter()
        .find_map(|l| l.strip_prefix("records/s"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(rate > 0.0);
    let consumed = run(
        vltava(&cluster).args(["bench", "consume", "-t", &topic]),
        b"",
    )
    .ok();
    assert!(
        consumed.stdout.contains("consumed   20000 records"),
        "{}",
        consumed.stdout
    );
    let empty = unique("cli-bench-empty");
    create_topic(&cluster, &empty, 1, 1);
    run(
        vltava(&cluster).args(["bench", "consume", "-t", &empty]),
        b"",
    )
    .fails_with(1);
}
