//! Describing the cluster.

use crate::{admin, shared_cluster};

#[tokio::test]
async fn describe_cluster_matches_the_clusters_nodes_and_id() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let described = admin
        .describe_cluster()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<u32> = described.brokers.iter().map(|b| b.node_id as u32).collect();
    assert_eq!(ids, cluster.node_ids());
    assert_eq!(described.cluster_id.as_deref(), Some(cluster.cluster_id()));
    for broker in &described.brokers {
        let expected = cluster.broker_addr(broker.node_id as u32).unwrap();
        assert_eq!(broker.address(), expected.to_string());
        assert_eq!(broker.rack, None, "the testkit sets no racks");
    }
    // KRaft names a live broker as the controller.
    let controller = described.controller.expect("a controller");
    assert!(cluster.node_ids().contains(&(controller.node_id as u32)));
}

#[tokio::test]
async fn features_show_the_metadata_version_the_cluster_runs_at() {
    let cluster = shared_cluster();
    let admin = admin(&cluster);
    let features = admin
        .describe_features()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addresses: Vec<String> = cluster
        .node_ids()
        .iter()
        .map(|&n| cluster.broker_addr(n).unwrap().to_string())
        .collect();
    assert!(addresses.contains(&features.broker), "{}", features.broker);
    // Every KRaft cluster (Kafka 3.3+) runs at a metadata.version, within
    // the range the broker's software supports.
    let finalized = features.finalized["metadata.version"];
    let supported = features.supported["metadata.version"];
    assert!(finalized.max_level >= 7, "{finalized:?}");
    assert!(
        supported.min_version <= finalized.max_level
            && finalized.max_level <= supported.max_version,
        "{finalized:?} outside {supported:?}"
    );
    assert!(features.finalized_epoch.is_some_and(|e| e >= 0));
    // Kafka's own FeatureCommand reports the same ranges and levels
    // (it names metadata.version levels by release, the others by number).
    let output = cluster
        .distribution()
        .run_tool(
            "org.apache.kafka.tools.FeatureCommand",
            &["--bootstrap-server", &cluster.bootstrap(), "describe"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut compared = 0;
    for line in output.lines().filter(|l| l.starts_with("Feature: ")) {
        let field = |name: &str| {
            line.split_whitespace()
                .skip_while(|w| *w != name)
                .nth(1)
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .to_owned()
        };
        let name = field("Feature:");
        if name == "metadata.version" {
            continue;
        }
        let supported = features.supported[&name];
        assert_eq!(
            field("SupportedMaxVersion:"),
            supported.max_version.to_string(),
            "{line}"
        );
        assert_eq!(
            field("SupportedMinVersion:"),
            supported.min_version.to_string(),
            "{line}"
        );
        // The tool shows 0 for a feature that is not finalized.
        let finalized = features.finalized.get(&name).map_or(0, |f| f.max_level);
        assert_eq!(
            field("FinalizedVersionLevel:"),
            finalized.to_string(),
            "{line}"
        );
        compared += 1;
    }
    assert!(compared >= 2, "{output}");
}
