//! A cluster of KRaft nodes in a folder: configs, storage, processes, readiness and faults.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dist::{self, Distribution};
use crate::error::{Error, IoContext, Result};
use crate::probe::{self, MetadataInfo, PartitionInfo};
use crate::process::{self, Liveness};
use crate::security::{self, Listener};

/// The environment variable through which tests find the running cluster's folder.
pub const CLUSTER_DIR_ENV: &str = "VLTAVA_CLUSTER_DIR";

const STATE_FILE: &str = "cluster.json";
/// The CA certificate that clients of the `SSL` listener trust.
const CA_FILE: &str = "ca.pem";
/// The brokers' PEM keystore: private key and certificate chain.
const KEYSTORE_FILE: &str = "broker-keystore.pem";
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(200);
/// How long a clean stop (SIGTERM) may take before it is reported as failed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `down` lets nodes shut down cleanly before killing them.
const DOWN_GRACE: Duration = Duration::from_secs(20);

/// How to build a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The folder that holds everything: configs, data, logs, pid files.
    pub dir: PathBuf,
    /// Number of nodes, each a combined broker and controller (a voter).
    pub nodes: u32,
    /// The Kafka version, fetched from Maven Central on first use.
    pub kafka_version: String,
    /// Broker settings added to (or replacing) the defaults.
    pub broker_overrides: Vec<(String, String)>,
    /// Maximum JVM heap of each node, as `-Xmx` takes it.
    pub heap: String,
    /// How long to wait for the cluster to become ready.
    pub ready_timeout: Duration,
}

impl ClusterConfig {
    /// Three nodes of [`crate::DEFAULT_KAFKA_VERSION`] in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            nodes: 3,
            kafka_version: crate::DEFAULT_KAFKA_VERSION.to_owned(),
            broker_overrides: Vec::new(),
            heap: "768m".to_owned(),
            ready_timeout: Duration::from_secs(120),
        }
    }

    /// Sets the number of nodes.
    pub fn nodes(mut self, nodes: u32) -> Self {
        self.nodes = nodes;
        self
    }

    /// Sets the Kafka version.
    pub fn kafka_version(mut self, version: impl Into<String>) -> Self {
        self.kafka_version = version.into();
        self
    }

    /// Adds a broker setting.
    pub fn broker_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.broker_overrides.push((key.into(), value.into()));
        self
    }
}

/// What is known of a cluster, written to `cluster.json` so other processes can attach.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    kafka_version: String,
    cluster_id: String,
    heap: String,
    nodes: Vec<NodeSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeSpec {
    id: u32,
    broker_port: u16,
    controller_port: u16,
    /// The `SASL_PLAINTEXT` listener; absent in a cluster started before
    /// the testkit had one.
    #[serde(default)]
    sasl_port: Option<u16>,
    /// The `SSL` listener; absent likewise.
    #[serde(default)]
    ssl_port: Option<u16>,
}

/// Whether a node's process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// The process runs.
    Running,
    /// The process is stopped by SIGSTOP.
    Paused,
    /// No process.
    Stopped,
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeState::Running => "running",
            NodeState::Paused => "paused",
            NodeState::Stopped => "stopped",
        })
    }
}

/// One node as `status` sees it.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// The node id.
    pub id: u32,
    /// Whether its process runs.
    pub state: NodeState,
    /// The pid, when a process runs.
    pub pid: Option<u32>,
    /// The broker listener.
    pub address: SocketAddr,
    /// Whether it answered a metadata request just now.
    pub serves_metadata: bool,
}

/// A Kafka cluster on 127.0.0.1, started here or attached to through its folder.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    state: State,
    dist: Distribution,
    ready_timeout: Duration,
}

impl Cluster {
    /// Fetches Kafka if needed, formats a new cluster in `config.dir`, starts
    /// every node and waits until all brokers are registered and serve metadata.
    ///
    /// Fails if a node of a cluster in that folder still runs.
    pub fn start(config: ClusterConfig) -> Result<Self> {
        if config.nodes == 0 {
            return Err(Error::Usage("a cluster needs at least one node".into()));
        }
        if let Ok(existing) = Self::attach(&config.dir) {
            if existing
                .status_quick()
                .iter()
                .any(|(_, s)| *s != NodeState::Stopped)
            {
                return Err(Error::Usage(format!(
                    "a cluster already runs in {}; attach to it or take it down first",
                    config.dir.display()
                )));
            }
        }
        let dist = Distribution::fetch(&config.kafka_version)?;
        if config.dir.exists() {
            std::fs::remove_dir_all(&config.dir)
                .context(|| format!("clearing {}", config.dir.display()))?;
        }
        std::fs::create_dir_all(&config.dir)
            .context(|| format!("creating {}", config.dir.display()))?;
        let dir = config
            .dir
            .canonicalize()
            .context(|| format!("resolving {}", config.dir.display()))?;

        let ports = free_ports(4 * config.nodes as usize)?;
        let nodes: Vec<NodeSpec> = ports
            .chunks_exact(4)
            .zip(1..)
            .map(|(ports, id)| NodeSpec {
                id,
                broker_port: ports[0],
                controller_port: ports[1],
                sasl_port: Some(ports[2]),
                ssl_port: Some(ports[3]),
            })
            .collect();
        let state = State {
            kafka_version: config.kafka_version.clone(),
            cluster_id: new_cluster_id()?,
            heap: config.heap.clone(),
            nodes,
        };
        let cluster = Self {
            dir,
            state,
            dist,
            ready_timeout: config.ready_timeout,
        };
        let certificates = security::certificates()?;
        for (file, pem) in [
            (CA_FILE, &certificates.ca),
            (KEYSTORE_FILE, &certificates.keystore),
        ] {
            let path = cluster.dir.join(file);
            std::fs::write(&path, pem).context(|| format!("writing {}", path.display()))?;
        }
        cluster.write_configs(&config.broker_overrides)?;
        cluster.format_storage()?;
        let json = serde_json::to_string_pretty(&cluster.state).expect("state serialises");
        std::fs::write(cluster.dir.join(STATE_FILE), json)
            .context(|| format!("writing {}", cluster.dir.join(STATE_FILE).display()))?;

        for node in cluster.node_ids() {
            cluster.spawn(node)?;
        }
        cluster.wait_serving(&cluster.node_ids())?;
        Ok(cluster)
    }

    /// Attaches to the cluster described in `dir` (started by any process).
    pub fn attach(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            Error::NoCluster(format!(
                "no Kafka cluster in {} (no {STATE_FILE}); start one with `cargo xtask cluster up`",
                dir.display()
            ))
        })?;
        let state: State = serde_json::from_str(&text)
            .map_err(|e| Error::NoCluster(format!("{} is unreadable: {e}", path.display())))?;
        let dist = Distribution::fetch(&state.kafka_version)?;
        let dir = dir
            .canonicalize()
            .context(|| format!("resolving {}", dir.display()))?;
        Ok(Self {
            dir,
            state,
            dist,
            ready_timeout: Duration::from_secs(120),
        })
    }

    /// Attaches to the cluster named by `VLTAVA_CLUSTER_DIR`, and checks that it serves.
    ///
    /// Integration tests call this; without the variable it fails with a
    /// message that says how to start a cluster.
    pub fn from_env() -> Result<Self> {
        let dir = cluster_dir_from(std::env::var_os(CLUSTER_DIR_ENV))?;
        let cluster = Self::attach(dir)?;
        cluster.metadata().map_err(|e| {
            Error::NoCluster(format!(
                "the cluster in {} does not answer ({e}); is it up? `cargo xtask cluster status`",
                cluster.dir.display()
            ))
        })?;
        Ok(cluster)
    }

    /// The cluster's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Kafka version the cluster runs.
    pub fn kafka_version(&self) -> &str {
        &self.state.kafka_version
    }

    /// The Kafka jars the cluster runs, also useful for Kafka's own command-line tools.
    pub fn distribution(&self) -> &Distribution {
        &self.dist
    }

    /// The KRaft cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.state.cluster_id
    }

    /// The node ids, 1 to N.
    pub fn node_ids(&self) -> Vec<u32> {
        self.state.nodes.iter().map(|n| n.id).collect()
    }

    /// The bootstrap string: every broker listener, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.state
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.broker_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The bootstrap string of one kind of client listener: every node's,
    /// comma-separated. `Listener::Plaintext` gives [`Cluster::bootstrap`].
    ///
    /// Fails for a security listener of a cluster started by an older
    /// testkit, which had none.
    pub fn bootstrap_for(&self, listener: Listener) -> Result<String> {
        let addrs = self
            .node_ids()
            .into_iter()
            .map(|node| self.listener_addr(node, listener).map(|a| a.to_string()))
            .collect::<Result<Vec<_>>>()?;
        Ok(addrs.join(","))
    }

    /// A node's client listener of one kind.
    pub fn listener_addr(&self, node: u32, listener: Listener) -> Result<SocketAddr> {
        let spec = self.spec(node)?;
        let port = match listener {
            Listener::Plaintext => Some(spec.broker_port),
            Listener::SaslPlaintext => spec.sasl_port,
            Listener::Ssl => spec.ssl_port,
        };
        let port = port.ok_or_else(|| {
            Error::Usage(format!(
                "the cluster in {} has no {listener} listener (started by an older testkit);                  restart it with `cargo xtask cluster down` and `up`",
                self.dir.display()
            ))
        })?;
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The PEM of the CA that signed the brokers' certificate (served on
    /// the `SSL` listener): what a TLS client of this cluster trusts.
    pub fn ca_pem(&self) -> Result<String> {
        let path = self.ca_pem_path();
        std::fs::read_to_string(&path).context(|| format!("reading {}", path.display()))
    }

    /// Where [`Cluster::ca_pem`] is read from, for tools that want a file.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.join(CA_FILE)
    }

    /// A node's broker listener (`PLAINTEXT`).
    pub fn broker_addr(&self, node: u32) -> Result<SocketAddr> {
        Ok(SocketAddr::from((
            [127, 0, 0, 1],
            self.spec(node)?.broker_port,
        )))
    }

    /// A node's log file.
    pub fn node_log(&self, node: u32) -> PathBuf {
        self.node_dir(node).join("server.log")
    }

    /// Starts a stopped node and waits until it is registered and serves
    /// metadata. A node that already runs is left alone.
    pub fn start_node(&self, node: u32) -> Result<()> {
        self.spec(node)?;
        if self.liveness(node) == Liveness::Dead {
            self.spawn(node)?;
        }
        self.wait_until(&format!("node {node} to serve metadata"), || {
            self.check_alive(node)?;
            Ok(self.serves_as_registered(node))
        })
    }

    /// Starts several stopped nodes at once and waits until each serves
    /// metadata. Needed after the whole cluster went down: a lone KRaft
    /// node cannot register until a majority of the controllers is back,
    /// so starting nodes one by one (each waiting) never finishes.
    pub fn start_nodes(&self, nodes: &[u32]) -> Result<()> {
        for &node in nodes {
            self.spec(node)?;
            if self.liveness(node) == Liveness::Dead {
                self.spawn(node)?;
            }
        }
        for &node in nodes {
            self.wait_until(&format!("node {node} to serve metadata"), || {
                self.check_alive(node)?;
                Ok(self.serves_as_registered(node))
            })?;
        }
        Ok(())
    }

    /// Stops a node cleanly (SIGTERM) and waits until its process has exited.
    pub fn stop(&self, node: u32) -> Result<()> {
        let Some(pid) = self.live_pid(node)? else {
            return Ok(());
        };
        process::signal(pid, libc::SIGTERM);
        // A paused process would hold the signal until it is continued.
        process::signal(pid, libc::SIGCONT);
        self.wait_exit(node, pid, STOP_TIMEOUT)
    }

    /// Kills a node (SIGKILL, as `kill -9`) and waits until its process is gone.
    pub fn kill(&self, node: u32) -> Result<()> {
        let Some(pid) = self.live_pid(node)? else {
            return Ok(());
        };
        process::signal(pid, libc::SIGKILL);
        self.wait_exit(node, pid, Duration::from_secs(10))
    }

    /// Freezes a node (SIGSTOP): its sockets stay open but nothing answers.
    pub fn pause(&self, node: u32) -> Result<()> {
        let pid = self.require_pid(node)?;
        process::signal(pid, libc::SIGSTOP);
        self.wait_until(&format!("node {node} to pause"), || {
            Ok(self.liveness(node) == Liveness::Paused)
        })
    }

    /// Thaws a paused node (SIGCONT).
    pub fn resume(&self, node: u32) -> Result<()> {
        let pid = self.require_pid(node)?;
        process::signal(pid, libc::SIGCONT);
        self.wait_until(&format!("node {node} to resume"), || {
            Ok(self.liveness(node) == Liveness::Running)
        })
    }

    /// Stops a node cleanly and starts it again.
    pub fn restart(&self, node: u32) -> Result<()> {
        self.stop(node)?;
        self.start_node(node)
    }

    /// Each node's state, pid and whether it answers metadata.
    pub fn status(&self) -> Vec<NodeStatus> {
        self.state
            .nodes
            .iter()
            .map(|spec| {
                let (state, pid) = match self.live(spec.id) {
                    (Liveness::Running, pid) => (NodeState::Running, pid),
                    (Liveness::Paused, pid) => (NodeState::Paused, pid),
                    (Liveness::Dead, _) => (NodeState::Stopped, None),
                };
                let address = SocketAddr::from(([127, 0, 0, 1], spec.broker_port));
                let serves_metadata = state == NodeState::Running
                    && probe::metadata(address, Some(&[]), Duration::from_secs(1)).is_ok();
                NodeStatus {
                    id: spec.id,
                    state,
                    pid,
                    address,
                    serves_metadata,
                }
            })
            .collect()
    }

    /// Ends every node process of this cluster, and nothing else: SIGTERM,
    /// then SIGKILL for any node still there after a grace period.
    pub fn down(&self) -> Result<()> {
        let mut pids = Vec::new();
        for node in self.node_ids() {
            if let Some(pid) = self.live_pid(node)? {
                process::signal(pid, libc::SIGTERM);
                process::signal(pid, libc::SIGCONT);
                pids.push((node, pid));
            }
        }
        let deadline = Instant::now() + DOWN_GRACE;
        while Instant::now() < deadline
            && pids
                .iter()
                .any(|&(node, _)| self.liveness(node) != Liveness::Dead)
        {
            std::thread::sleep(POLL);
        }
        for (node, pid) in pids {
            if self.liveness(node) != Liveness::Dead {
                process::signal(pid, libc::SIGKILL);
            }
            self.wait_exit(node, pid, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// Waits until every running node serves metadata and sees every running node registered.
    pub fn wait_ready(&self) -> Result<()> {
        let running: Vec<u32> = self
            .node_ids()
            .into_iter()
            .filter(|&n| self.liveness(n) != Liveness::Dead)
            .collect();
        if running.is_empty() {
            return Err(Error::Usage("no node of the cluster is running".into()));
        }
        self.wait_serving(&running)
    }

    /// Waits until each of `nodes` serves metadata listing all of them; fails
    /// at once, with its log, if one of them exits.
    fn wait_serving(&self, nodes: &[u32]) -> Result<()> {
        self.wait_until("every running node to serve metadata", || {
            for &node in nodes {
                self.check_alive(node)?;
            }
            Ok(nodes.iter().all(|&n| self.sees_all(n, nodes)))
        })
    }

    /// Metadata (brokers and every topic) from the first running node that answers.
    pub fn metadata(&self) -> Result<MetadataInfo> {
        self.metadata_for(None)
    }

    /// Creates a topic and waits until every running broker knows a leader for each partition.
    pub fn create_topic(&self, name: &str, partitions: i32, replication_factor: i16) -> Result<()> {
        self.create_topic_with_configs(name, partitions, replication_factor, &[])
    }

    /// Creates a topic with topic configs (e.g. `min.insync.replicas`), and waits for its leaders.
    pub fn create_topic_with_configs(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let (code, message) = self.any_node(|addr| {
            probe::create_topic(
                addr,
                name,
                partitions,
                replication_factor,
                configs,
                Duration::from_secs(30),
            )
        })?;
        // 36: TOPIC_ALREADY_EXISTS. Anything else but 0 is a real failure.
        if code != 0 && code != 36 {
            return Err(Error::Broker(format!(
                "creating topic `{name}` failed with error code {code}: {}",
                message.unwrap_or_default()
            )));
        }
        self.wait_until(&format!("topic `{name}` to have leaders"), || {
            let running: Vec<u32> = self
                .node_ids()
                .into_iter()
                .filter(|&n| self.liveness(n) == Liveness::Running)
                .collect();
            Ok(running.iter().all(|&node| {
                let Ok(addr) = self.broker_addr(node) else {
                    return false;
                };
                probe::metadata(addr, Some(&[name]), PROBE_TIMEOUT).is_ok_and(|m| {
                    m.topics.iter().any(|t| {
                        t.error_code == 0
                            && t.partitions.len() == partitions as usize
                            && t.partitions.iter().all(|p| p.leader >= 0)
                    })
                })
            }))
        })
    }

    /// `topic`'s `partition` (leader, replicas, ISR) as the brokers see it now.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<PartitionInfo> {
        let metadata = self.metadata_for(Some(&[topic]))?;
        metadata
            .topics
            .into_iter()
            .find(|t| t.name == topic)
            .and_then(|t| t.partitions.into_iter().find(|p| p.partition == partition))
            .ok_or_else(|| Error::Broker(format!("no metadata for {topic}/{partition}")))
    }

    /// The node that leads `topic`'s `partition`, as the brokers see it now.
    pub fn partition_leader(&self, topic: &str, partition: i32) -> Result<u32> {
        self.partition(topic, partition)
            .ok()
            .filter(|p| p.leader >= 0)
            .map(|p| p.leader as u32)
            .ok_or_else(|| Error::Broker(format!("no leader known for {topic}/{partition}")))
    }

    /// The node that coordinates `group`, waiting while the coordinator is being elected.
    pub fn group_coordinator(&self, group: &str) -> Result<u32> {
        let mut found = None;
        self.wait_until(&format!("a coordinator for group `{group}`"), || {
            let (code, node) =
                self.any_node(|addr| probe::find_group_coordinator(addr, group, PROBE_TIMEOUT))?;
            // 14 COORDINATOR_LOAD_IN_PROGRESS, 15 COORDINATOR_NOT_AVAILABLE: retriable.
            match code {
                0 if node >= 0 => {
                    found = Some(node as u32);
                    Ok(true)
                }
                0 | 14 | 15 => Ok(false),
                other => Err(Error::Broker(format!(
                    "FindCoordinator for `{group}` failed with error code {other}"
                ))),
            }
        })?;
        Ok(found.expect("set when the wait succeeds"))
    }

    // ---- internals ----

    fn spec(&self, node: u32) -> Result<&NodeSpec> {
        self.state
            .nodes
            .iter()
            .find(|n| n.id == node)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no node {node}: nodes are 1 to {}",
                    self.state.nodes.len()
                ))
            })
    }

    fn node_dir(&self, node: u32) -> PathBuf {
        self.dir.join(format!("node-{node}"))
    }

    fn config_path(&self, node: u32) -> PathBuf {
        self.node_dir(node).join("server.properties")
    }

    fn pid_path(&self, node: u32) -> PathBuf {
        self.node_dir(node).join("pid")
    }

    /// The node's process state and pid; removes a stale pid file.
    fn live(&self, node: u32) -> (Liveness, Option<u32>) {
        let pid_path = self.pid_path(node);
        let Some(pid) = process::read_pid(&pid_path) else {
            return (Liveness::Dead, None);
        };
        let marker = self.config_path(node);
        match process::liveness(pid, &marker.to_string_lossy()) {
            Liveness::Dead => {
                let _ = std::fs::remove_file(&pid_path);
                (Liveness::Dead, None)
            }
            alive => (alive, Some(pid)),
        }
    }

    fn liveness(&self, node: u32) -> Liveness {
        self.live(node).0
    }

    fn status_quick(&self) -> Vec<(u32, NodeState)> {
        self.node_ids()
            .into_iter()
            .map(|n| {
                let state = match self.liveness(n) {
                    Liveness::Running => NodeState::Running,
                    Liveness::Paused => NodeState::Paused,
                    Liveness::Dead => NodeState::Stopped,
                };
                (n, state)
            })
            .collect()
    }

    fn live_pid(&self, node: u32) -> Result<Option<u32>> {
        self.spec(node)?;
        Ok(self.live(node).1)
    }

    fn require_pid(&self, node: u32) -> Result<u32> {
        self.live_pid(node)?
            .ok_or_else(|| Error::Usage(format!("node {node} is not running")))
    }

    fn wait_exit(&self, node: u32, pid: u32, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.liveness(node) != Liveness::Dead {
            if Instant::now() > deadline {
                return Err(
                    self.node_error(node, format!("(pid {pid}) did not exit within {timeout:?}"))
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.pid_path(node));
        Ok(())
    }

    fn check_alive(&self, node: u32) -> Result<()> {
        match self.liveness(node) {
            Liveness::Dead => Err(self.node_error(node, "exited".into())),
            _ => Ok(()),
        }
    }

    fn node_error(&self, node: u32, what: String) -> Error {
        let log = self.node_log(node);
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&log) {
            let _ = file.read_to_string(&mut text);
        }
        Error::Node {
            node,
            what,
            log_tail: dist::tail(&text, 40),
            log,
        }
    }

    /// Whether `node` answers metadata and lists itself among the brokers.
    fn serves_as_registered(&self, node: u32) -> bool {
        self.sees_all(node, &[node])
    }

    /// Whether `node` answers metadata listing every node in `expected`.
    fn sees_all(&self, node: u32, expected: &[u32]) -> bool {
        let Ok(addr) = self.broker_addr(node) else {
            return false;
        };
        match probe::metadata(addr, Some(&[]), PROBE_TIMEOUT) {
            Ok(m) => expected
                .iter()
                .all(|&id| m.brokers.iter().any(|b| b.node_id == id as i32)),
            Err(_) => false,
        }
    }

    fn metadata_for(&self, topics: Option<&[&str]>) -> Result<MetadataInfo> {
        self.any_node(|addr| probe::metadata(addr, topics, PROBE_TIMEOUT))
    }

    /// Runs `request` against each running node in turn until one answers.
    fn any_node<T>(&self, mut request: impl FnMut(SocketAddr) -> Result<T>) -> Result<T> {
        let mut last = None;
        for node in self.node_ids() {
            if self.liveness(node) != Liveness::Running {
                continue;
            }
            match request(self.broker_addr(node)?) {
                Ok(answer) => return Ok(answer),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Broker("no node of the cluster is running".into())))
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if done()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "waited {:?} for {what}; node logs are in {}",
                    self.ready_timeout,
                    self.dir.display()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    fn spawn(&self, node: u32) -> Result<()> {
        let _ = std::fs::remove_file(self.pid_path(node));
        let log_path = self.node_log(node);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .context(|| format!("opening {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .context(|| "duplicating a log handle".into())?;
        let mut command = self.java();
        command
            .arg("kafka.Kafka")
            .arg(self.config_path(node))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let pid = process::spawn_detached(command)?;
        process::write_pid(&self.pid_path(node), pid)
    }

    fn java(&self) -> Command {
        let mut command = Command::new(dist::java());
        command
            .arg(format!("-Xmx{}", self.state.heap))
            .arg("-Xms128m")
            .args([
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true",
            ])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                self.dir.join("log4j.properties").display()
            ))
            .arg("-cp")
            .arg(self.dist.classpath());
        command
    }

    fn write_configs(&self, overrides: &[(String, String)]) -> Result<()> {
        let n = self.state.nodes.len();
        let voters = self
            .state
            .nodes
            .iter()
            .map(|s| format!("{}@127.0.0.1:{}", s.id, s.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let keystore = self.dir.join(KEYSTORE_FILE).display().to_string();
        let rf = n.min(3).to_string();
        let min_isr = n.min(2).to_string();
        for spec in &self.state.nodes {
            let node_dir = self.node_dir(spec.id);
            std::fs::create_dir_all(node_dir.join("data"))
                .context(|| format!("creating {}", node_dir.display()))?;
            // Clients: PLAINTEXT, SASL_PLAINTEXT and SSL. Brokers and
            // controllers talk among themselves over plaintext listeners.
            let client_listeners = [
                (Listener::Plaintext, Some(spec.broker_port)),
                (Listener::SaslPlaintext, spec.sasl_port),
                (Listener::Ssl, spec.ssl_port),
            ]
            .into_iter()
            .filter_map(|(listener, port)| Some(format!("{listener}://127.0.0.1:{}", port?)))
            .collect::<Vec<_>>()
            .join(",");
            let mut settings: Vec<(String, String)> = vec![
                ("process.roles", "broker,controller".to_owned()),
                ("node.id", spec.id.to_string()),
                ("controller.quorum.voters", voters.clone()),
                (
                    "listeners",
                    format!(
                        "{client_listeners},CONTROLLER://127.0.0.1:{}",
                        spec.controller_port
                    ),
                ),
                ("advertised.listeners", client_listeners),
                (
                    "listener.security.protocol.map",
                    "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"
                        .to_owned(),
                ),
                ("controller.listener.names", "CONTROLLER".to_owned()),
                ("inter.broker.listener.name", "PLAINTEXT".to_owned()),
                ("log.dirs", node_dir.join("data").display().to_string()),
                ("num.network.threads", "2".to_owned()),
                ("num.io.threads", "4".to_owned()),
                ("num.partitions", "1".to_owned()),
                ("default.replication.factor", rf.clone()),
                ("min.insync.replicas", min_isr.clone()),
                ("offsets.topic.replication.factor", rf.clone()),
                ("offsets.topic.num.partitions", "12".to_owned()),
                ("transaction.state.log.replication.factor", rf.clone()),
                ("transaction.state.log.min.isr", min_isr.clone()),
                ("transaction.state.log.num.partitions", "12".to_owned()),
                ("auto.create.topics.enable", "false".to_owned()),
                ("unclean.leader.election.enable", "false".to_owned()),
                // Groups: no initial delay, and short (but realistic) session bounds
                // so tests can use sessions of a few seconds.
                ("group.initial.rebalance.delay.ms", "0".to_owned()),
                ("group.min.session.timeout.ms", "1000".to_owned()),
                ("group.max.session.timeout.ms", "300000".to_owned()),
                ("group.consumer.min.session.timeout.ms", "3000".to_owned()),
                ("group.consumer.session.timeout.ms", "10000".to_owned()),
                ("group.consumer.min.heartbeat.interval.ms", "500".to_owned()),
                ("group.consumer.heartbeat.interval.ms", "1000".to_owned()),
                // Brokers: a dead node is fenced after 6 s instead of 9 s.
                ("broker.session.timeout.ms", "6000".to_owned()),
                ("broker.heartbeat.interval.ms", "1000".to_owned()),
                ("controlled.shutdown.enable", "true".to_owned()),
                ("log.segment.bytes", (64 << 20).to_string()),
                ("log.retention.check.interval.ms", "300000".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .chain(security::broker_settings(&keystore))
            .collect();
            for (key, value) in overrides {
                match settings.iter_mut().find(|(k, _)| k == key) {
                    Some(slot) => slot.1 = value.clone(),
                    None => settings.push((key.clone(), value.clone())),
                }
            }
            let mut text = String::from("# Written by vltava-testkit.\n");
            for (key, value) in &settings {
                text.push_str(&format!("{key}={value}\n"));
            }
            std::fs::write(self.config_path(spec.id), text)
                .context(|| format!("writing {}", self.config_path(spec.id).display()))?;
        }
        std::fs::write(self.dir.join("log4j2.properties"), LOG4J2)
            .context(|| "writing log4j2.properties".into())?;
        std::fs::write(self.dir.join("log4j.properties"), LOG4J1)
            .context(|| "writing log4j.properties".into())?;
        Ok(())
    }

    /// Formats every node's storage, in parallel (each is a JVM start).
    fn format_storage(&self) -> Result<()> {
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .node_ids()
                .into_iter()
                .map(|node| {
                    scope.spawn(move || {
                        let config = self.config_path(node);
                        let output = self
                            .java()
                            .args([
                                "-XX:TieredStopAtLevel=1",
                                "kafka.tools.StorageTool",
                                "format",
                            ])
                            // `=` form: a cluster id may start with `-`.
                            .arg(format!("--cluster-id={}", self.state.cluster_id))
                            .arg(format!("--config={}", config.display()))
                            // The SCRAM users of the SASL_PLAINTEXT listener.
                            .args(security::scram_format_args())
                            .output()
                            .context(|| "running kafka.tools.StorageTool".into())?;
                        if output.status.success() {
                            return Ok(());
                        }
                        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
                        text.push_str(&String::from_utf8_lossy(&output.stderr));
                        let log = self.node_dir(node).join("format.log");
                        let _ = std::fs::write(&log, &text);
                        Err(Error::Node {
                            node,
                            what: format!("storage could not be formatted ({})", output.status),
                            log,
                            log_tail: dist::tail(&text, 30),
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("format thread does not panic"))
                .collect()
        });
        results.into_iter().collect()
    }
}

const LOG4J2: &str = "\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
";

const LOG4J1: &str = "\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
";

/// The cluster folder named by the environment variable's value, or an error that says what to do.
fn cluster_dir_from(value: Option<std::ffi::OsString>) -> Result<PathBuf> {
    match value.filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Err(Error::NoCluster(format!(
            "this test needs a running Kafka cluster and {CLUSTER_DIR_ENV} is not set.\n\
             Run the tests with `cargo xtask test` (it starts one), or start one with \
             `cargo xtask cluster up` and set {CLUSTER_DIR_ENV} to the folder it names."
        ))),
    }
}

/// Distinct free loopback ports. All listeners are held until every port is
/// chosen, so the list has no repeats.
fn free_ports(count: usize) -> Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").context(|| "finding a free port".into()))
        .collect::<Result<_>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr().context(|| "reading a port".into())?.port()))
        .collect()
}

/// A KRaft cluster id: 16 random bytes in unpadded URL-safe base64, as `kafka-storage random-uuid` makes.
fn new_cluster_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context(|| "reading /dev/urandom".into())?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits = 0u32;
    let mut nbits = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_characters_and_differ() {
        let a = new_cluster_id().unwrap();
        let b = new_cluster_id().unwrap();
        assert_eq!(a.len(), 22);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn a_missing_cluster_variable_says_how_to_start_a_cluster() {
        let error = cluster_dir_from(None).unwrap_err().to_string();
        assert!(error.contains(CLUSTER_DIR_ENV), "{error}");
        assert!(error.contains("cargo xtask test"), "{error}");
        assert!(error.contains("cargo xtask cluster up"), "{error}");
        assert!(cluster_dir_from(Some("".into())).is_err());
        assert_eq!(
            cluster_dir_from(Some("/some/dir".into())).unwrap(),
            PathBuf::from("/some/dir")
        );
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(6).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
    }
}

/// A cluster that a test started for itself and that goes down when this
/// handle is dropped, however the test ends (an assertion failing
/// included). Derefs to [`Cluster`].
///
/// ```no_run
/// use vltava_testkit::{ClusterConfig, OwnedCluster};
///
/// let cluster = OwnedCluster::start(ClusterConfig::new("target/my-test-cluster").nodes(1))?;
/// cluster.kill(1)?; // the shared cluster's other users never see this
/// # Ok::<(), vltava_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct OwnedCluster(Cluster);

impl OwnedCluster {
    /// Starts a cluster (see [`Cluster::start`]) owned by this handle.
    pub fn start(config: ClusterConfig) -> Result<Self> {
        Cluster::start(config).map(Self)
    }
}

impl std::ops::Deref for OwnedCluster {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.0
    }
}

impl Drop for OwnedCluster {
    fn drop(&mut self) {
        if let Err(e) = self.0.down() {
            eprintln!("taking down {}: {e}", self.0.dir().display());
        }
    }
}
