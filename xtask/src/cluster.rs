//! `cargo xtask cluster`: a local Kafka cluster for development and tests.

use std::path::PathBuf;
use std::time::Instant;

use vltava_testkit::{CLUSTER_DIR_ENV, Cluster, ClusterConfig, Listener, NodeState};

use crate::flags::Flags;

pub(crate) const HELP: &str = "\
cargo xtask cluster <action>

Actions:
  up [--nodes N] [--kafka VERSION]   start a cluster (default 3 nodes, Kafka 4.4.0) and print its bootstrap
  down                               end every node process of the cluster
  status                             each node's state and whether it serves metadata
  stop N | kill N                    SIGTERM (clean, waits) | SIGKILL a node
  pause N | resume N                 SIGSTOP | SIGCONT a node
  start N | restart N                start a stopped node | stop and start it, waiting until it serves

The cluster lives in $VLTAVA_CLUSTER_DIR, default .vltava/cluster in the workspace.
Kafka's jars are cached in $VLTAVA_CACHE_DIR, default ~/.cache/vltava.
";

/// The folder of the development cluster.
pub(crate) fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CLUSTER_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    crate::workspace_root().join(".vltava").join("cluster")
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut flags = Flags::new(args);
    let Some(action) = flags.positional() else {
        return Err(format!("which action?\n\n{HELP}"));
    };
    let dir = default_dir();
    match action.as_str() {
        "up" => {
            let nodes = flags.value("--nodes")?.map(|n| parse_num(&n)).transpose()?;
            let kafka = flags.value("--kafka")?;
            flags.finish()?;
            let cluster = up(dir, nodes, kafka)?;
            println!("{}", cluster.bootstrap());
            Ok(())
        }
        "down" => {
            flags.finish()?;
            match Cluster::attach(&dir) {
                Ok(cluster) => cluster.down().map_err(|e| e.to_string()),
                Err(_) => {
                    eprintln!("no cluster in {}", dir.display());
                    Ok(())
                }
            }
        }
        "status" => {
            flags.finish()?;
            let cluster = Cluster::attach(&dir).map_err(|e| e.to_string())?;
            println!(
                "cluster {} (Kafka {}) in {}",
                cluster.cluster_id(),
                cluster.kafka_version(),
                cluster.dir().display()
            );
            println!("bootstrap {}", cluster.bootstrap());
            for listener in [Listener::SaslPlaintext, Listener::Ssl] {
                if let Ok(bootstrap) = cluster.bootstrap_for(listener) {
                    println!("{listener} {bootstrap}");
                }
            }
            println!("ca {}", cluster.ca_pem_path().display());
            for node in cluster.status() {
                println!(
                    "node {}  {:<8} pid {:<8} {}  {}",
                    node.id,
                    node.state.to_string(),
                    node.pid
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "-".into()),
                    node.address,
                    if node.serves_metadata {
                        "serves metadata"
                    } else {
                        "not serving"
                    }
                );
            }
            Ok(())
        }
        "stop" | "kill" | "pause" | "resume" | "start" | "restart" => {
            let node = flags
                .positional()
                .ok_or_else(|| format!("`cluster {action}` needs a node id"))
                .and_then(|n| parse_num(&n))?;
            flags.finish()?;
            let cluster = Cluster::attach(&dir).map_err(|e| e.to_string())?;
            let started = Instant::now();
            let result = match action.as_str() {
                "stop" => cluster.stop(node),
                "kill" => cluster.kill(node),
                "pause" => cluster.pause(node),
                "resume" => cluster.resume(node),
                "start" => cluster.start_node(node),
                _ => cluster.restart(node),
            };
            result.map_err(|e| e.to_string())?;
            eprintln!("node {node}: {action} done in {:.1?}", started.elapsed());
            Ok(())
        }
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown action `{other}`\n\n{HELP}")),
    }
}

/// Returns the running cluster in `dir`, or starts one. The bool says whether it was started here.
pub(crate) fn up_or_attach(
    dir: PathBuf,
    nodes: Option<u32>,
    kafka: Option<String>,
) -> Result<(Cluster, bool), String> {
    if let Ok(cluster) = Cluster::attach(&dir) {
        let states: Vec<NodeState> = cluster.status().iter().map(|n| n.state).collect();
        if states.iter().any(|s| *s != NodeState::Stopped) {
            if let Some(version) = &kafka {
                if version != cluster.kafka_version() {
                    return Err(format!(
                        "a Kafka {} cluster already runs in {}; `cargo xtask cluster down` first",
                        cluster.kafka_version(),
                        dir.display()
                    ));
                }
            }
            // Bring back any node a previous run left stopped or paused.
            for status in cluster.status() {
                let result = match status.state {
                    NodeState::Stopped => cluster.start_node(status.id),
                    NodeState::Paused => cluster.resume(status.id),
                    NodeState::Running => Ok(()),
                };
                result.map_err(|e| e.to_string())?;
            }
            cluster.wait_ready().map_err(|e| e.to_string())?;
            eprintln!("reusing the cluster in {}", cluster.dir().display());
            return Ok((cluster, false));
        }
    }
    let mut config = ClusterConfig::new(dir);
    if let Some(nodes) = nodes {
        config = config.nodes(nodes);
    }
    if let Some(version) = kafka {
        config = config.kafka_version(version);
    }
    eprintln!(
        "starting {} Kafka {} node(s) in {}",
        config.nodes,
        config.kafka_version,
        config.dir.display()
    );
    let started = Instant::now();
    let cluster = Cluster::start(config).map_err(|e| e.to_string())?;
    eprintln!("cluster ready in {:.1?}", started.elapsed());
    Ok((cluster, true))
}

fn up(dir: PathBuf, nodes: Option<u32>, kafka: Option<String>) -> Result<Cluster, String> {
    let (cluster, _) = up_or_attach(dir, nodes, kafka)?;
    eprintln!("export {CLUSTER_DIR_ENV}={}", cluster.dir().display());
    Ok(cluster)
}

fn parse_num(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}
