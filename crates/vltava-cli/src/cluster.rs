//! `vltava cluster`: the cluster id, the brokers, the controller, the Kafka
//! version (from the `metadata.version` feature) and the features; with
//! `--apis`, every API with the broker's versions and the one vltava uses.

use vltava::net::{Purpose, client_range};
use vltava::wire::ApiKey;

use crate::cli::ClusterArgs;
use crate::connect::Settings;
use crate::error::CliError;
use crate::output::print_lines;
use crate::table::Table;

/// `metadata.version` levels (KIP-778) and the release each belongs to,
/// as Kafka's `MetadataVersion` names them. Level 1 is 3.0-IV1.
const METADATA_VERSIONS: [&str; 33] = [
    "3.0-IV1", "3.1-IV0", "3.2-IV0", "3.3-IV0", "3.3-IV1", "3.3-IV2", "3.3-IV3", "3.4-IV0",
    "3.5-IV0", "3.5-IV1", "3.5-IV2", "3.6-IV0", "3.6-IV1", "3.6-IV2", "3.7-IV0", "3.7-IV1",
    "3.7-IV2", "3.7-IV3", "3.7-IV4", "3.8-IV0", "3.9-IV0", "4.0-IV0", "4.0-IV1", "4.0-IV2",
    "4.0-IV3", "4.1-IV0", "4.1-IV1", "4.2-IV0", "4.2-IV1", "4.3-IV0", "4.4-IV0", "4.4-IV1",
    "4.4-IV2",
];

/// The name of a `metadata.version` level (`4.4-IV2`), if this build knows it.
pub(crate) fn metadata_version_name(level: i16) -> Option<&'static str> {
    let index = usize::try_from(level).ok()?.checked_sub(1)?;
    METADATA_VERSIONS.get(index).copied()
}

/// The Kafka release of the brokers' software, from the highest
/// `metadata.version` it supports: `4.4`; or what can be said without it.
pub(crate) fn kafka_release(supported_max: Option<i16>) -> String {
    match supported_max {
        None => {
            "before 3.3, or ZooKeeper mode (the brokers announce no metadata.version)".to_owned()
        }
        Some(level) => match metadata_version_name(level) {
            Some(name) => name.split('-').next().unwrap_or(name).to_owned(),
            None => format!(
                "newer than {} (metadata.version level {level})",
                METADATA_VERSIONS[METADATA_VERSIONS.len() - 1]
                    .split('-')
                    .next()
                    .unwrap_or_default()
            ),
        },
    }
}

fn level_text(name: &str, level: i16) -> String {
    match (name, metadata_version_name(level)) {
        ("metadata.version", Some(release)) => format!("{level} ({release})"),
        _ => level.to_string(),
    }
}

pub(crate) async fn run(settings: &Settings, args: ClusterArgs) -> Result<(), CliError> {
    let connected = settings.connect().await?;
    let cluster = connected.admin.describe_cluster().await?;
    let features = connected.admin.describe_features().await?;
    let supported_mv = features
        .supported
        .get("metadata.version")
        .map(|f| f.max_version);
    let mut lines = vec![
        format!(
            "cluster id   {}",
            cluster.cluster_id.as_deref().unwrap_or("-")
        ),
        format!(
            "controller   {}",
            cluster
                .controller
                .as_ref()
                .map_or("-".to_owned(), |b| format!(
                    "node {} at {}",
                    b.node_id,
                    b.address()
                ))
        ),
        format!(
            "kafka        {} (from {})",
            kafka_release(supported_mv),
            features.broker
        ),
        String::new(),
    ];
    let mut brokers = Table::new(["BROKER", "ADDRESS", "RACK", "CONTROLLER"]);
    for b in &cluster.brokers {
        let controller = cluster
            .controller
            .as_ref()
            .is_some_and(|c| c.node_id == b.node_id);
        brokers.row(vec![
            b.node_id.to_string(),
            b.address(),
            b.rack.clone().unwrap_or_else(|| "-".to_owned()),
            if controller { "yes" } else { "" }.to_owned(),
        ]);
    }
    lines.extend(brokers.lines());
    lines.push(String::new());
    let mut table = Table::new(["FEATURE", "FINALIZED", "SUPPORTED"]);
    let names: std::collections::BTreeSet<&String> = features
        .finalized
        .keys()
        .chain(features.supported.keys())
        .collect();
    for name in names {
        table.row(vec![
            name.clone(),
            features
                .finalized
                .get(name)
                .map_or("-".to_owned(), |f| level_text(name, f.max_level)),
            features.supported.get(name).map_or("-".to_owned(), |s| {
                format!(
                    "{} to {}",
                    level_text(name, s.min_version),
                    level_text(name, s.max_version)
                )
            }),
        ]);
    }
    if table.len() == 0 {
        lines.push("no feature flags (brokers before Kafka 2.4)".to_owned());
    } else {
        lines.extend(table.lines());
    }

    let connection = connected
        .meta
        .pool()
        .connection(&features.broker, Purpose::Control)
        .await
        .map_err(vltava::AdminError::from)?;
    let versions = connection.api_versions();
    let usable = ApiKey::ALL
        .iter()
        .filter(|k| versions.negotiate(**k).is_some())
        .count();
    lines.push(String::new());
    lines.push(format!(
        "apis         {} announced by {}, {usable} usable by vltava{}",
        versions.len(),
        features.broker,
        if args.apis {
            ""
        } else {
            " (--apis lists them)"
        }
    ));
    if args.apis {
        let mut apis = Table::new(["API", "KEY", "BROKER", "VLTAVA", "USES"]);
        for key in ApiKey::ALL {
            let Some(theirs) = versions.broker_range(key) else {
                continue;
            };
            let ours = client_range(key);
            apis.row(vec![
                key.name().to_owned(),
                key.as_i16().to_string(),
                format!("{}-{}", theirs.min, theirs.max),
                format!("{}-{}", ours.min, ours.max),
                versions
                    .negotiate(key)
                    .map_or("none".to_owned(), |v| format!("v{v}")),
            ]);
        }
        lines.extend(apis.lines());
    }
    print_lines(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_versions_name_their_release() {
        assert_eq!(metadata_version_name(1), Some("3.0-IV1"));
        assert_eq!(metadata_version_name(7), Some("3.3-IV3"));
        assert_eq!(metadata_version_name(21), Some("3.9-IV0"));
        assert_eq!(metadata_version_name(25), Some("4.0-IV3"));
        assert_eq!(metadata_version_name(0), None);
        assert_eq!(metadata_version_name(-1), None);
        assert_eq!(kafka_release(Some(21)), "3.9");
        assert_eq!(kafka_release(Some(33)), "4.4");
        assert!(kafka_release(Some(99)).starts_with("newer than 4.4"));
        assert!(kafka_release(None).contains("before 3.3"));
    }
}
