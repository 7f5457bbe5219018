//! `cargo xtask bench peers`: vltava side by side with franz-go, rust-rdkafka
//! (librdkafka) and the Java client, each a small program of its own
//! (`benches/src/bin/vltava_peer.rs`, `benches/peers/*`), run as a child
//! process against one local broker and measured from outside: its own
//! first-to-last-record time, and the CPU time and peak RSS the kernel
//! reports for the child (`wait4`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::flags::Flags;
use crate::peers_prerequisites;

pub(crate) const HELP: &str = "\
cargo xtask bench peers [OPTIONS]

Consumes, then produces, the same records with vltava, franz-go, rust-rdkafka
(librdkafka), the Java client (kafka-clients), krafka and confluent-kafka (the
two pure-Rust peers), one process each, on a local one-node Kafka cluster, and
writes a markdown report and a chart (SVG) of records/s and CPU per client,
codec and mode.

Consume: the topic of each codec is written once (by vltava's producer), then
read whole from the earliest offset by each client in turn, the order rotated
every run. Produce: each client writes RECORDS records, acks=all, idempotent,
to a fresh topic (deleted after the run), with its own recommended linger and
batch size (the report lists them and their sources).

Options:
  --records N        records per topic (default 10000000)
  --value-size B     bytes per value (default 100; e.g. 1024 for the 1 KB variant)
  --codecs LIST      none,lz4,zstd (default all three)
  --partitions P     partitions per topic (default 3)
  --runs N           runs per client, codec and mode (default 5)
  --clients LIST     vltava,franz-go,rdkafka,java,krafka,confluent-kafka (default all)
  --mode MODE        consume, produce or both (default both)
  --linger-ms MS     one linger for every producer (default: each client's recommended)
  --batch-bytes B    one batch size for every producer (default: each client's recommended)
  --timeout S        a client run that takes longer is killed and reported (default 600)
  --out FILE         the report (default target/peers/report.md)
  --chart FILE       the chart, SVG (default: the report's path with .svg)
  --keep-cluster     leave the cluster up at the end

Builds every peer first, cached under target/peers/, after checking what each
build needs; a peer whose prerequisites are missing, or whose build fails, is
reported and left out, and the others run:
  franz-go         Go at least the version benches/peers/franz-go/go.mod names
                   (1.26.0); modules from the Go proxy
  rdkafka          cmake, make, a C and C++ compiler and OpenSSL's headers
                   (librdkafka and, for its CMake build, libcurl are built from
                   source by rdkafka-sys; curl links OpenSSL); crates.io
  java             a JDK 17 or later and Maven; kafka-clients from Maven Central
  krafka,          Rust at least the rust-version of their Cargo.toml (1.95) and
  confluent-kafka  a C compiler (ring, zstd-sys); crates.io
The cluster lives in target/vltava-peers-cluster and is reused across runs.
";

/// The clients, in their default order.
const ALL_CLIENTS: [&str; 6] = [
    "vltava",
    "franz-go",
    "rdkafka",
    "java",
    "krafka",
    "confluent-kafka",
];
const ALL_CODECS: [&str; 3] = ["none", "lz4", "zstd"];
/// Values written to the values file; the producers cycle through them.
const DISTINCT_VALUES: usize = 1024;

struct Options {
    records: u64,
    value_size: usize,
    codecs: Vec<String>,
    partitions: i32,
    runs: usize,
    clients: Vec<String>,
    consume: bool,
    produce: bool,
    /// `--linger-ms`: one linger for every producer instead of each one's own.
    linger_ms: Option<u64>,
    /// `--batch-bytes`: one batch size for every producer instead of each one's own.
    batch_bytes: Option<usize>,
    timeout: Duration,
    out: PathBuf,
    chart: PathBuf,
    keep_cluster: bool,
}

fn parse<T: std::str::FromStr>(name: &str, text: Option<String>, default: T) -> Result<T, String> {
    match text {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("{name}: `{text}` is not a number")),
    }
}

fn optional<T: std::str::FromStr>(name: &str, text: Option<String>) -> Result<Option<T>, String> {
    text.map(|text| {
        text.parse()
            .map_err(|_| format!("{name}: `{text}` is not a number"))
    })
    .transpose()
}

fn list(name: &str, text: Option<String>, all: &[&str]) -> Result<Vec<String>, String> {
    let Some(text) = text else {
        return Ok(all.iter().map(|s| s.to_string()).collect());
    };
    let items: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).collect();
    for item in &items {
        if !all.contains(&item.as_str()) {
            return Err(format!("{name}: `{item}` is not one of {}", all.join(", ")));
        }
    }
    Ok(items)
}

impl Options {
    fn parse(args: &[String]) -> Result<Option<Self>, String> {
        let mut flags = Flags::new(args);
        if flags.switch("--help") || flags.switch("-h") {
            print!("{HELP}");
            return Ok(None);
        }
        let mode = flags.value("--mode")?.unwrap_or_else(|| "both".into());
        let (consume, produce) = match mode.as_str() {
            "both" => (true, true),
            "consume" => (true, false),
            "produce" => (false, true),
            other => return Err(format!("--mode: `{other}` is not consume, produce or both")),
        };
        let out = flags
            .value("--out")?
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("peers").join("report.md"));
        let chart = flags
            .value("--chart")?
            .map(PathBuf::from)
            .unwrap_or_else(|| out.with_extension("svg"));
        let options = Self {
            records: parse("--records", flags.value("--records")?, 10_000_000)?,
            value_size: parse("--value-size", flags.value("--value-size")?, 100)?,
            codecs: list("--codecs", flags.value("--codecs")?, &ALL_CODECS)?,
            partitions: parse("--partitions", flags.value("--partitions")?, 3)?,
            runs: parse("--runs", flags.value("--runs")?, 5)?,
            clients: list("--clients", flags.value("--clients")?, &ALL_CLIENTS)?,
            consume,
            produce,
            linger_ms: optional("--linger-ms", flags.value("--linger-ms")?)?,
            batch_bytes: optional("--batch-bytes", flags.value("--batch-bytes")?)?,
            timeout: Duration::from_secs(parse("--timeout", flags.value("--timeout")?, 600)?),
            out,
            chart,
            keep_cluster: flags.switch("--keep-cluster"),
        };
        flags.finish()?;
        if options.records == 0 || options.value_size == 0 || options.runs == 0 {
            return Err("--records, --value-size and --runs must be above 0".into());
        }
        if options.partitions < 1 {
            return Err("--partitions must be at least 1".into());
        }
        Ok(Some(options))
    }
}

/// A producer's linger and batch size, and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Batching {
    linger_ms: u64,
    batch_bytes: usize,
    source: &'static str,
}

/// Each client's recommended linger and batch size for throughput: its own
/// documented throughput settings where it has them, else its defaults.
/// The Java client's defaults (Kafka 4.x) are `linger.ms` 5 and
/// `batch.size` 16384; Confluent's throughput guide raises them, and
/// confluent-kafka, whose defaults and keys are the Java client's and
/// which documents no throughput settings of its own, takes the same row.
/// vltava's defaults are the Java client's too; its throughput settings
/// are `ProducerConfig::for_throughput`.
fn recommended_batching(client: &str) -> Batching {
    const JAVA_THROUGHPUT: &str = "the Java client's defaults (Kafka 4.x: linger.ms 5, batch.size 16384) \
        with Confluent's throughput recommendation (\"How to optimize a Kafka producer for \
        throughput\": batch.size 100000-200000, linger.ms 10-100), the low end of each";
    match client {
        "java" => Batching {
            linger_ms: 10,
            batch_bytes: 100_000,
            source: JAVA_THROUGHPUT,
        },
        "vltava" => Batching {
            linger_ms: 10,
            batch_bytes: 1_000_000,
            source: "vltava's throughput settings (`ProducerConfig::for_throughput`: batch.size \
                1000000, linger.ms 10, max.request.size 4 MiB; its defaults are the Java \
                client's, 16 KiB, 5 ms and 1 MiB)",
        },
        "confluent-kafka" => Batching {
            linger_ms: 10,
            batch_bytes: 100_000,
            source: "a translation of the Java client, with its keys and defaults (linger.ms 5, \
                batch.size 16384) and no throughput settings of its own: the Java client's row",
        },
        "franz-go" => Batching {
            linger_ms: 10,
            batch_bytes: 1_000_012,
            source: "franz-go's defaults (v1.22: ProducerLinger 10 ms since v1.20, 0 before; \
                ProducerBatchMaxBytes 1000012)",
        },
        "rdkafka" => Batching {
            linger_ms: 5,
            batch_bytes: 1_000_000,
            source: "librdkafka's defaults (2.12: linger.ms 5, batch.size 1000000, \
                batch.num.messages 10000)",
        },
        "krafka" => Batching {
            linger_ms: 50,
            batch_bytes: 1 << 20,
            source: "krafka's \"High Throughput Producer\" profile (its configuration guide: \
                batch_size 1 MiB, linger 50 ms; its defaults are 16 KiB and 5 ms)",
        },
        _ => Batching {
            linger_ms: 5,
            batch_bytes: 16_384,
            source: "no recommendation known for this client: the Java client's defaults",
        },
    }
}

impl Options {
    /// What `client`'s producer uses: its recommended settings, each
    /// replaced by `--linger-ms` or `--batch-bytes` when given.
    fn batching(&self, client: &str) -> Batching {
        let recommended = recommended_batching(client);
        match (self.linger_ms, self.batch_bytes) {
            (None, None) => recommended,
            (linger_ms, batch_bytes) => Batching {
                linger_ms: linger_ms.unwrap_or(recommended.linger_ms),
                batch_bytes: batch_bytes.unwrap_or(recommended.batch_bytes),
                source: match (linger_ms, batch_bytes) {
                    (Some(_), Some(_)) => "--linger-ms and --batch-bytes, for every client",
                    (Some(_), None) => {
                        "--linger-ms for every client; the batch size its recommended one"
                    }
                    _ => "--batch-bytes for every client; the linger its recommended one",
                },
            },
        }
    }
}

/// The linger and batch size of the producer that writes the consume
/// topics (vltava's), whatever the producers' settings: the topics' batches
/// are the same from one run of the command to the next.
const FILL_BATCHING: (u64, usize) = (5, 65_536);

/// The target folder: `$CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => crate::workspace_root().join(dir),
        None => crate::workspace_root().join("target"),
    }
}

/// A peer ready to run: its command line before the mode's arguments.
struct Peer {
    name: String,
    program: PathBuf,
    prefix: Vec<OsString>,
    version: String,
}

impl Peer {
    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.prefix).args(args);
        command
    }
}

/// Runs a build step, returning the tail of its output on failure.
fn build_step(mut command: Command, what: &str) -> Result<(), String> {
    eprintln!("$ {what}");
    let output = command
        .output()
        .map_err(|e| format!("could not run {what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = text.lines().collect();
    Err(format!(
        "{what} failed ({}):\n{}",
        output.status,
        lines[lines.len().saturating_sub(25)..].join("\n")
    ))
}

fn build(name: &str, target: &Path) -> Result<Peer, String> {
    let root = crate::workspace_root();
    let peers = target.join("peers");
    std::fs::create_dir_all(&peers).map_err(|e| format!("creating {}: {e}", peers.display()))?;
    let peer = match name {
        "vltava" => {
            crate::cargo(
                &[
                    "build",
                    "--release",
                    "-p",
                    "vltava-benches",
                    "--bin",
                    "vltava-peer",
                ],
                &[],
                "building vltava-peer",
            )?;
            Peer {
                name: name.into(),
                program: target.join("release").join("vltava-peer"),
                prefix: Vec::new(),
                version: String::new(),
            }
        }
        "franz-go" => {
            let program = peers.join("franz-go-peer");
            let mut command = Command::new("go");
            command
                .args(["build", "-trimpath", "-o"])
                .arg(&program)
                .arg(".")
                .current_dir(root.join("benches/peers/franz-go"));
            build_step(command, "go build (benches/peers/franz-go)")?;
            Peer {
                name: name.into(),
                program,
                prefix: Vec::new(),
                version: String::new(),
            }
        }
        "rdkafka" | "krafka" | "confluent-kafka" => {
            // A Cargo project of its own (excluded from the workspace),
            // built with its committed Cargo.lock into its own folder.
            let dir = peers.join(name);
            let manifest = format!("benches/peers/{name}/Cargo.toml");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut command = Command::new(cargo);
            command
                .args(["build", "--release", "--locked", "--manifest-path"])
                .arg(root.join(&manifest))
                .env("CARGO_TARGET_DIR", &dir);
            build_step(
                command,
                &format!("cargo build --release --manifest-path {manifest}"),
            )?;
            Peer {
                name: name.into(),
                program: dir.join("release").join(format!("{name}-peer")),
                prefix: Vec::new(),
                version: String::new(),
            }
        }
        "java" => {
            let dir = peers.join("java");
            let lib = dir.join("lib");
            let mut command = Command::new("mvn");
            command
                .args(["-B", "-q", "-f"])
                .arg(root.join("benches/peers/java/pom.xml"))
                .arg(format!("-Dpeer.build.dir={}", dir.display()))
                .args([
                    "package",
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                ])
                .arg(format!("-DoutputDirectory={}", lib.display()));
            build_step(command, "mvn package (benches/peers/java)")?;
            let classpath = format!(
                "{}:{}/*",
                dir.join("java-peer-1.jar").display(),
                lib.display()
            );
            Peer {
                name: name.into(),
                program: java(),
                prefix: ["-Xms256m", "-Xmx1g", "-cp"]
                    .into_iter()
                    .map(OsString::from)
                    .chain([OsString::from(classpath)])
                    .chain([OsString::from("dev.vltava.peers.Peer")])
                    .collect(),
                version: String::new(),
            }
        }
        other => return Err(format!("unknown client `{other}`")),
    };
    let output = peer
        .command(&["version".into()])
        .output()
        .map_err(|e| format!("running {} version: {e}", peer.program.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} version failed: {}",
            peer.name,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(Peer { version, ..peer })
}

/// `$JAVA_HOME/bin/java` when set, else `java`.
pub(crate) fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if !home.is_empty() => Path::new(&home).join("bin").join("java"),
        _ => PathBuf::from("java"),
    }
}

/// What one client process did.
#[derive(Debug, Clone)]
struct Measure {
    records: u64,
    bytes: u64,
    elapsed: Duration,
    cpu: Duration,
    max_rss_kib: u64,
}

impl Measure {
    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / 1e6
    }
    fn cpu_per_million(&self) -> f64 {
        self.cpu.as_secs_f64() / self.records as f64 * 1e6
    }
    fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }
}

/// One run's result: the settings the client printed, and its measure or
/// why it could not do what was asked.
struct RunOutput {
    settings: Vec<String>,
    measure: Result<Measure, Unsupported>,
}

/// What a client said it cannot do (an `UNSUPPORTED why` line, exit 0):
/// a codec it cannot write, a setting it lacks. Reported, not a failure.
#[derive(Debug, Clone)]
struct Unsupported(String);

/// Runs one client process to its end or `timeout`, measuring it with `wait4`.
fn run_child(mut command: Command, timeout: Duration) -> Result<RunOutput, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let mut killed = false;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child, with valid pointers.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            break (status, usage);
        }
        if rc < 0 {
            return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
        }
        if !killed && Instant::now() >= deadline {
            // SAFETY: signals our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The child is reaped by wait4 above; `child` must not wait again.
    drop(child);
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let tail = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    };
    if killed {
        return Err(format!(
            "killed after the {timeout:?} timeout; last output:\n{}",
            tail(&stderr)
        ));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!(
            "failed (wait status {status}):\n{}",
            tail(&format!("{stdout}{stderr}"))
        ));
    }
    let settings: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("SETTING "))
        .map(str::to_owned)
        .collect();
    if let Some(why) = stdout.lines().find_map(|l| l.strip_prefix("UNSUPPORTED ")) {
        return Ok(RunOutput {
            settings,
            measure: Err(Unsupported(why.to_owned())),
        });
    }
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("printed no RESULT line:\n{}", tail(&stdout)))?;
    let fields: BTreeMap<&str, u64> = result
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect();
    let field = |name: &str| {
        fields
            .get(name)
            .copied()
            .ok_or_else(|| format!("RESULT line without {name}: {result}"))
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(RunOutput {
        settings,
        measure: Ok(Measure {
            records: field("records")?,
            bytes: field("bytes")?,
            elapsed: Duration::from_nanos(field("elapsed_ns")?.max(1)),
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            max_rss_kib: usage.ru_maxrss as u64,
        }),
    })
}

/// The values every producer cycles through: `vltava_benches::value`'s
/// JSON-like text, `DISTINCT_VALUES` of `size` bytes each, in one file.
fn write_values(size: usize, path: &Path) -> Result<(), String> {
    let mut data = Vec::with_capacity(DISTINCT_VALUES * size);
    for i in 0..DISTINCT_VALUES {
        let mut value = Vec::with_capacity(size + 100);
        let mut j = i;
        while value.len() < size {
            value.extend_from_slice(&vltava_benches::value(j));
            j += DISTINCT_VALUES;
        }
        value.truncate(size);
        data.extend_from_slice(&value);
    }
    std::fs::write(path, data).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Every result of one (mode, codec), per client.
#[derive(Default)]
struct Table {
    measures: BTreeMap<String, Vec<Measure>>,
    failures: Vec<String>,
    /// Clients that cannot do this (mode, codec), and why: not run again.
    unsupported: BTreeMap<String, String>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = Options::parse(args)? else {
        return Ok(());
    };
    let target = target_dir();
    let started = Instant::now();
    let load_before = load_average();

    // 1. Check what every peer's build needs, then build them; a peer whose
    // prerequisites are missing, or whose build fails, is reported and left out.
    let mut peers = Vec::new();
    let mut unavailable = Vec::new();
    let mut buildable = Vec::new();
    for name in &options.clients {
        match peers_prerequisites::check(name, &crate::workspace_root()) {
            Ok(()) => buildable.push(name.clone()),
            Err(e) => {
                eprintln!("warning: {name} is left out: {e}");
                unavailable.push((name.clone(), e));
            }
        }
    }
    for name in &buildable {
        match build(name, &target) {
            Ok(peer) => {
                eprintln!("{name}: {} ({})", peer.version, peer.program.display());
                peers.push(peer);
            }
            Err(e) => {
                eprintln!("warning: {name} is left out: {e}");
                unavailable.push((name.clone(), e));
            }
        }
    }
    let Some(vltava) = peers.iter().position(|p| p.name == "vltava") else {
        return Err("vltava-peer could not be built; nothing to compare".into());
    };

    // 2. The cluster: one node, reused across runs.
    let dir = target.join("vltava-peers-cluster");
    let (cluster, started_here) = crate::cluster::up_or_attach(dir, Some(1), None)?;
    let bootstrap = cluster.bootstrap();
    let values = target
        .join("peers")
        .join(format!("values-{}.bin", options.value_size));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let records = options.records.to_string();
    let partitions = options.partitions.to_string();
    let produce_args = |topic: &str, codec: &str, (linger_ms, batch_bytes): (u64, usize)| {
        vec![
            "produce".to_owned(),
            bootstrap.clone(),
            topic.into(),
            records.clone(),
            values.display().to_string(),
            options.value_size.to_string(),
            codec.into(),
            linger_ms.to_string(),
            batch_bytes.to_string(),
        ]
    };
    let mut settings: BTreeMap<(String, &str), Vec<String>> = BTreeMap::new();
    let mut tables: Vec<((&str, String), Table)> = Vec::new();
    let result = (|| -> Result<(), String> {
        write_values(options.value_size, &values)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let _entered = runtime.enter();
        let admin = vltava::Admin::new(&bootstrap, vltava::AdminConfig::new())
            .map_err(|e| format!("admin client: {e}"))?;
        if options.consume {
            for codec in &options.codecs {
                let topic = format!("peers-consume-{codec}-{nanos}");
                cluster
                    .create_topic(&topic, options.partitions, 1)
                    .map_err(|e| e.to_string())?;
                eprintln!(
                    "writing {} records of {} bytes ({codec}) to {topic} with vltava",
                    options.records, options.value_size
                );
                let fill = run_child(
                    peers[vltava].command(&produce_args(&topic, codec, FILL_BATCHING)),
                    options.timeout,
                )
                .and_then(|fill| fill.measure.map_err(|Unsupported(why)| why))
                .map_err(|e| format!("writing the consume topic: {e}"))?;
                eprintln!(
                    "  written in {:.1?} ({:.0} records/s)",
                    fill.elapsed,
                    fill.records_per_s()
                );
                let mut table = Table::default();
                for run in 0..options.runs {
                    for i in 0..peers.len() {
                        let peer = &peers[(i + run) % peers.len()];
                        if table.unsupported.contains_key(&peer.name) {
                            continue;
                        }
                        let args = vec![
                            "consume".to_owned(),
                            bootstrap.clone(),
                            topic.clone(),
                            partitions.clone(),
                            records.clone(),
                        ];
                        record_run(
                            &mut table,
                            &mut settings,
                            peer,
                            "consume",
                            codec,
                            run,
                            run_child(peer.command(&args), options.timeout),
                        );
                    }
                }
                runtime
                    .block_on(admin.delete_topic(&topic))
                    .map_err(|e| format!("deleting {topic}: {e}"))?;
                tables.push((("consume", codec.clone()), table));
            }
        }
        if options.produce {
            for codec in &options.codecs {
                let mut table = Table::default();
                for run in 0..options.runs {
                    for i in 0..peers.len() {
                        let peer = &peers[(i + run) % peers.len()];
                        if table.unsupported.contains_key(&peer.name) {
                            continue;
                        }
                        let topic = format!("peers-produce-{codec}-{}-{run}-{nanos}", peer.name);
                        let batching = options.batching(&peer.name);
                        cluster
                            .create_topic(&topic, options.partitions, 1)
                            .map_err(|e| e.to_string())?;
                        // The broker's log of the run before (a gigabyte at
                        // 1 KB a record) is written back to disk now, not
                        // in the middle of this client's run.
                        write_back_dirty_pages();
                        record_run(
                            &mut table,
                            &mut settings,
                            peer,
                            "produce",
                            codec,
                            run,
                            run_child(
                                peer.command(&produce_args(
                                    &topic,
                                    codec,
                                    (batching.linger_ms, batching.batch_bytes),
                                )),
                                options.timeout,
                            ),
                        );
                        runtime
                            .block_on(admin.delete_topic(&topic))
                            .map_err(|e| format!("deleting {topic}: {e}"))?;
                    }
                }
                tables.push((("produce", codec.clone()), table));
            }
        }
        Ok(())
    })();
    let kafka_version = cluster.kafka_version().to_owned();
    if started_here && !options.keep_cluster {
        eprintln!("taking down the cluster this run started");
        if let Err(e) = cluster.down() {
            eprintln!("warning: could not take the cluster down: {e}");
        }
    }
    result?;

    let load_after = load_average();
    let report = report(
        &options,
        args,
        &peers,
        &unavailable,
        &kafka_version,
        &tables,
        &settings,
        (load_before.clone(), load_after.clone()),
        started.elapsed(),
    );
    if let Some(parent) = options.out.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(&options.out, &report)
        .map_err(|e| format!("writing {}: {e}", options.out.display()))?;
    println!("{report}");
    eprintln!("report written to {}", options.out.display());
    if let Some(parent) = options.chart.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    chart(&options, &peers, &tables, (load_before, load_after))?;
    eprintln!("chart written to {}", options.chart.display());
    Ok(())
}

/// Writes every dirty page of the machine back to disk (`sync(2)`) and
/// waits for it.
fn write_back_dirty_pages() {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// The run's chart: medians with min–max whiskers per client and codec,
/// records/s above, CPU below, one column per mode.
fn chart(
    options: &Options,
    peers: &[Peer],
    tables: &[((&str, String), Table)],
    (load_before, load_after): (String, String),
) -> Result<(), String> {
    use crate::peers_chart::{Bar, Metric, Panel};
    let mut panels: Vec<Panel> = Vec::new();
    for ((mode, codec), table) in tables {
        for metric in [Metric::RecordsPerSecond, Metric::CpuPerMillion] {
            let value: fn(&Measure) -> f64 = match metric {
                Metric::RecordsPerSecond => Measure::records_per_s,
                Metric::CpuPerMillion => Measure::cpu_per_million,
            };
            let bars = table
                .measures
                .iter()
                .map(|(client, measures)| {
                    let (median, min, max) = median_min_max(measures.iter().map(value).collect());
                    Bar {
                        client: client.clone(),
                        median,
                        min,
                        max,
                    }
                })
                .collect();
            let index = match panels
                .iter()
                .position(|p| p.mode == *mode && p.metric == metric)
            {
                Some(index) => index,
                None => {
                    panels.push(Panel {
                        mode: (*mode).to_owned(),
                        metric,
                        codecs: Vec::new(),
                    });
                    panels.len() - 1
                }
            };
            panels[index].codecs.push((codec.clone(), bars));
        }
    }
    let clients: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    let date = tool_version("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let title = format!(
        "cargo xtask bench peers, {date}: {} records of {} B per run, {} run(s)",
        group(options.records as f64, 0),
        options.value_size,
        options.runs
    );
    let batching = match (options.linger_ms, options.batch_bytes) {
        (None, None) => "each producer's recommended linger and batch (in the report)".to_owned(),
        (Some(linger_ms), Some(batch_bytes)) => {
            format!("linger {linger_ms} ms, batch {batch_bytes} B")
        }
        (Some(linger_ms), None) => format!("linger {linger_ms} ms, each producer's batch"),
        (None, Some(batch_bytes)) => format!("batch {batch_bytes} B, each producer's linger"),
    };
    let subtitle = format!(
        "Kafka on one node, {} partition(s); acks=all, idempotent, {batching}; \
         bars: median, whiskers: min–max; {} cores, load average {load_before} at the start, {load_after} at the end",
        options.partitions,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    crate::peers_chart::write(&options.chart, &title, &subtitle, &clients, &panels)
}

fn record_run(
    table: &mut Table,
    settings: &mut BTreeMap<(String, &'static str), Vec<String>>,
    peer: &Peer,
    mode: &'static str,
    codec: &str,
    run: usize,
    result: Result<RunOutput, String>,
) {
    match result {
        Ok(RunOutput {
            settings: printed,
            measure: Ok(measure),
        }) => {
            let m = &measure;
            eprintln!(
                "{mode} {codec} run {} {:<15} {:>10.0} records/s {:>7.1} MB/s  {:>6.2} CPU s/1M  {:>6.0} MiB",
                run + 1,
                peer.name,
                m.records_per_s(),
                m.mb_per_s(),
                m.cpu_per_million(),
                m.rss_mib()
            );
            settings.entry((peer.name.clone(), mode)).or_insert(printed);
            table
                .measures
                .entry(peer.name.clone())
                .or_default()
                .push(measure);
        }
        Ok(RunOutput {
            settings: printed,
            measure: Err(Unsupported(why)),
        }) => {
            eprintln!("{mode} {codec}: {} cannot: {why}", peer.name);
            settings.entry((peer.name.clone(), mode)).or_insert(printed);
            table.unsupported.insert(peer.name.clone(), why);
        }
        Err(e) => {
            eprintln!("warning: {mode} {codec} run {} {}: {e}", run + 1, peer.name);
            let first = e.lines().next().unwrap_or_default().to_owned();
            table
                .failures
                .push(format!("{} run {}: {first}", peer.name, run + 1));
        }
    }
}

/// `/proc/loadavg`'s first three figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn tool_version(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|| "not found".into())
}

fn median_min_max(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// `median (min–max)` with `decimals`.
fn cell(values: Vec<f64>, decimals: usize) -> (f64, String) {
    let (median, min, max) = median_min_max(values);
    let text = format!(
        "{} ({}–{})",
        group(median, decimals),
        group(min, decimals),
        group(max, decimals)
    );
    (median, text)
}

/// A number with thousands separators when it has no decimals.
fn group(value: f64, decimals: usize) -> String {
    if decimals > 0 {
        return format!("{value:.decimals$}");
    }
    let digits = format!("{value:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn report(
    options: &Options,
    args: &[String],
    peers: &[Peer],
    unavailable: &[(String, String)],
    kafka_version: &str,
    tables: &[((&str, String), Table)],
    settings: &BTreeMap<(String, &str), Vec<String>>,
    (load_before, load_after): (String, String),
    took: Duration,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let date = tool_version("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let _ = writeln!(out, "### Side by side: run of {date}\n");
    let _ = writeln!(
        out,
        "```sh\ncargo xtask bench peers {}\n```\n",
        args.join(" ")
    );
    let _ = writeln!(
        out,
        "- Machine: {} cores ({}), {}; load average {load_before} at the start, {load_after} at the end; the run took {:.0?}.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        memory(),
        took
    );
    let _ = writeln!(
        out,
        "- Broker: Apache Kafka {kafka_version}, one node (the testkit's, on 127.0.0.1), topics of {} partition(s), replication 1.",
        options.partitions
    );
    let _ = writeln!(
        out,
        "- Records: {} per run, values of {} bytes (`vltava_benches::value` JSON-like text, {DISTINCT_VALUES} distinct values), no keys.",
        group(options.records as f64, 0),
        options.value_size
    );
    let _ = writeln!(
        out,
        "- Runs: {} per client, codec and mode; the order of the clients rotates every run. Each figure is the median (min–max) over the runs.",
        options.runs
    );
    let _ = writeln!(
        out,
        "- Consume: each codec's topic is written once by vltava's producer (linger {} ms, batches of up to {} bytes), then each client reads it whole from the earliest offset with assigned partitions (no group), touching every value. records/s and MB/s (of values) from the first record to the last.",
        FILL_BATCHING.0, FILL_BATCHING.1
    );
    if options.produce {
        let _ = writeln!(
            out,
            "- Produce: each client writes to a fresh topic, acks=all, idempotent, after one warm-up record; records/s and MB/s from the first send to the last acknowledgement. Before each run the machine's dirty pages are written back (`sync`), so that no client's run pays for writing back the broker's log of the run before it. Each producer's linger and batch size:"
        );
        for peer in peers {
            let b = options.batching(&peer.name);
            let _ = writeln!(
                out,
                "  - {}: linger {} ms, batch {} bytes: {}",
                peer.name, b.linger_ms, b.batch_bytes, b.source
            );
        }
    }
    let _ = writeln!(
        out,
        "- CPU s/1M: user + system CPU seconds of the whole client process (start-up, JIT and connection set-up included) per million records; peak RSS: the process's `ru_maxrss`. Both from `wait4` on the child."
    );
    let _ = writeln!(out, "- Versions:");
    for peer in peers {
        let _ = writeln!(out, "  - {}: {}", peer.name, peer.version);
    }
    let _ = writeln!(
        out,
        "  - toolchains: {}; {}; {}",
        tool_version("rustc", &["--version"]),
        tool_version("go", &["version"]),
        tool_version(&java().display().to_string(), &["-version"])
    );
    for (name, why) in unavailable {
        // The first line says what failed; for a build, its first error
        // line says why (the whole tail is in the command's output).
        let first = why.lines().next().unwrap_or_default();
        match why
            .lines()
            .skip(1)
            .find(|l| l.trim_start().starts_with("error"))
        {
            Some(error) => {
                let _ = writeln!(out, "- **{name} left out**: {first} {}", error.trim());
            }
            None => {
                let _ = writeln!(out, "- **{name} left out**: {first}");
            }
        }
    }
    let vltava_median = |table: &Table, f: fn(&Measure) -> f64| {
        table
            .measures
            .get("vltava")
            .map(|m| median_min_max(m.iter().map(f).collect()).0)
    };
    for ((mode, codec), table) in tables {
        let _ = writeln!(out, "\n#### {mode}, {codec}\n");
        let _ = writeln!(
            out,
            "| client | records/s | MB/s | CPU s/1M records | peak RSS MiB | vltava/peer records/s | vltava/peer CPU |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        let vltava_rate = vltava_median(table, Measure::records_per_s);
        let vltava_cpu = vltava_median(table, Measure::cpu_per_million);
        for peer in peers {
            if let Some(why) = table.unsupported.get(&peer.name) {
                let _ = writeln!(out, "| {} | cannot: {why} | | | | | |", peer.name);
                continue;
            }
            let Some(measures) = table.measures.get(&peer.name) else {
                let _ = writeln!(out, "| {} | no successful run | | | | | |", peer.name);
                continue;
            };
            let (rate, rate_text) = cell(measures.iter().map(Measure::records_per_s).collect(), 0);
            let (_, mb_text) = cell(measures.iter().map(Measure::mb_per_s).collect(), 1);
            let (cpu, cpu_text) = cell(measures.iter().map(Measure::cpu_per_million).collect(), 2);
            let (_, rss_text) = cell(measures.iter().map(Measure::rss_mib).collect(), 0);
            let ratio = |ours: Option<f64>, theirs: f64| match ours {
                Some(ours) if peer.name != "vltava" => format!("{:.3}", ours / theirs),
                _ => "—".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {rate_text} | {mb_text} | {cpu_text} | {rss_text} | {} | {} |",
                peer.name,
                ratio(vltava_rate, rate),
                ratio(vltava_cpu, cpu)
            );
        }
        for failure in &table.failures {
            let _ = writeln!(out, "\nFailed: {failure}");
        }
    }
    let _ = writeln!(
        out,
        "\nvltava/peer records/s above 1: vltava is faster; vltava/peer CPU below 1: vltava uses less CPU per record.\n"
    );
    let verdicts = targets(tables);
    if !verdicts.is_empty() {
        let _ = writeln!(
            out,
            "#### Against issue 9's targets\n\nRatios of the medians, vltava/peer, unrounded to three decimals (more where three would hide the side of the limit). Each target is set against the peer best at it.\n"
        );
        for verdict in verdicts {
            let _ = writeln!(out, "- {verdict}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "<details><summary>Every client's settings, as it printed them</summary>\n"
    );
    for ((name, mode), lines) in settings {
        let _ = writeln!(out, "- {name}, {mode}: {}", lines.join("; "));
    }
    let _ = writeln!(out, "\n</details>");
    out
}

/// One of issue 9's targets: what is compared, whether the peer best at
/// it is the highest or the lowest, and the limit on vltava/peer.
struct Target {
    mode: &'static str,
    what: &'static str,
    value: fn(&Measure) -> f64,
    /// The best peer has the highest value (records/s), else the lowest.
    higher_is_better: bool,
    limit: f64,
    /// Met when vltava/peer is at least `limit`, else when at most it.
    at_least: bool,
    /// Met only strictly beyond `limit`.
    strict: bool,
    /// Compared with this peer only (the issue names it), not the best.
    peer: Option<&'static str>,
}

/// Issue 9's targets: consuming, at least the records/s of the fastest
/// peer, at most half the CPU per record of the peer using the least, and
/// a peak RSS no higher than franz-go's; producing (acks=all,
/// idempotent), at least the fastest peer's records/s.
const TARGETS: [Target; 4] = [
    Target {
        mode: "consume",
        what: "records/s at least the fastest peer's",
        value: Measure::records_per_s,
        higher_is_better: true,
        limit: 1.0,
        at_least: true,
        strict: false,
        peer: None,
    },
    Target {
        mode: "consume",
        what: "CPU per record at most half the lowest peer's",
        value: Measure::cpu_per_million,
        higher_is_better: false,
        limit: 0.5,
        at_least: false,
        strict: false,
        peer: None,
    },
    Target {
        mode: "consume",
        what: "peak RSS no higher than franz-go's",
        value: Measure::rss_mib,
        higher_is_better: false,
        limit: 1.0,
        at_least: false,
        strict: false,
        peer: Some("franz-go"),
    },
    Target {
        mode: "produce",
        what: "records/s at least the fastest peer's",
        value: Measure::records_per_s,
        higher_is_better: true,
        limit: 1.0,
        at_least: true,
        strict: false,
        peer: None,
    },
];

/// A ratio to three decimals, or more (up to six) while three would print
/// it as the limit it is not.
fn ratio_text(ratio: f64, limit: f64) -> String {
    for decimals in 3..=6 {
        let text = format!("{ratio:.decimals$}");
        if ratio == limit || text != format!("{limit:.decimals$}") {
            return text;
        }
    }
    format!("{ratio:.6}")
}

/// One line per target and codec that vltava and a peer both ran: met or
/// missed, against which peer, with the ratio of the medians.
fn targets(tables: &[((&str, String), Table)]) -> Vec<String> {
    let median = |measures: &[Measure], value: fn(&Measure) -> f64| {
        median_min_max(measures.iter().map(value).collect()).0
    };
    let mut lines = Vec::new();
    for target in &TARGETS {
        for ((mode, codec), table) in tables {
            if *mode != target.mode {
                continue;
            }
            let Some(ours) = table.measures.get("vltava") else {
                continue;
            };
            let ours = median(ours, target.value);
            let best = table
                .measures
                .iter()
                .filter(|(client, _)| client.as_str() != "vltava")
                .filter(|(client, _)| target.peer.is_none_or(|p| client.as_str() == p))
                .map(|(client, measures)| (client, median(measures, target.value)))
                .reduce(|best, next| {
                    let better = if target.higher_is_better {
                        next.1 > best.1
                    } else {
                        next.1 < best.1
                    };
                    if better { next } else { best }
                });
            let Some((peer, theirs)) = best else {
                continue;
            };
            let ratio = ours / theirs;
            let met = match (target.at_least, target.strict) {
                (true, false) => ratio >= target.limit,
                (true, true) => ratio > target.limit,
                (false, false) => ratio <= target.limit,
                (false, true) => ratio < target.limit,
            };
            lines.push(format!(
                "{mode}, {codec}: {} ({peer}): **{}**, vltava/{peer} {}",
                target.what,
                if met { "met" } else { "missed" },
                ratio_text(ratio, target.limit)
            ));
        }
    }
    lines
}

fn memory() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map(|kib| format!("{:.0} GiB of memory", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown memory".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(records_per_s: f64, cpu_per_million: f64, rss_mib: f64) -> Measure {
        Measure {
            records: 1_000_000,
            bytes: 100_000_000,
            elapsed: Duration::from_secs_f64(1e6 / records_per_s),
            cpu: Duration::from_secs_f64(cpu_per_million),
            max_rss_kib: (rss_mib * 1024.0) as u64,
        }
    }

    fn table(rows: &[(&str, f64, f64, f64)]) -> Table {
        let mut table = Table::default();
        for &(client, rate, cpu, rss) in rows {
            table
                .measures
                .insert(client.into(), vec![measure(rate, cpu, rss)]);
        }
        table
    }

    #[test]
    fn each_target_is_met_or_missed_against_the_peer_best_at_it() {
        let tables = vec![
            (
                ("consume", "zstd".to_owned()),
                table(&[
                    ("vltava", 5_000_000.0, 0.1775, 15.0),
                    ("franz-go", 3_500_000.0, 0.35, 77.0),
                    // The lowest RSS, but the RSS target is franz-go's.
                    ("java", 2_600_000.0, 0.57, 10.0),
                ]),
            ),
            (
                ("produce", "none".to_owned()),
                table(&[
                    ("vltava", 1_800_000.0, 0.42, 38.0),
                    ("franz-go", 2_200_000.0, 0.40, 39.0),
                ]),
            ),
        ];
        let lines = targets(&tables);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(
            lines[0].starts_with("consume, zstd: records/s"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("(franz-go): **met**, vltava/franz-go 1.429"));
        // 0.1775 / 0.35 = 0.50714...: three decimals tell it from 0.5.
        assert!(
            lines[1].contains("**missed**, vltava/franz-go 0.507"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("peak RSS") && lines[2].contains("(franz-go): **met**"),
            "{}",
            lines[2]
        );
        assert!(lines[3].starts_with("produce, none"));
        assert!(
            lines[3].contains("**missed**, vltava/franz-go 0.818"),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn a_ratio_next_to_its_limit_gets_the_decimals_that_tell_them_apart() {
        assert_eq!(ratio_text(0.514_2, 0.5), "0.514");
        assert_eq!(ratio_text(0.500_04, 0.5), "0.50004");
        assert_eq!(ratio_text(0.5, 0.5), "0.500");
        assert_eq!(ratio_text(0.999_7, 1.0), "0.9997");
    }

    #[test]
    fn producers_take_their_own_settings_unless_overridden() {
        let mut options = Options::parse(&[]).unwrap().unwrap();
        assert_eq!(options.batching("rdkafka").linger_ms, 5);
        assert_eq!(options.batching("rdkafka").batch_bytes, 1_000_000);
        assert_eq!(options.batching("franz-go").batch_bytes, 1_000_012);
        assert_eq!(options.batching("krafka").linger_ms, 50);
        for client in ALL_CLIENTS {
            assert_ne!(
                recommended_batching(client).source,
                recommended_batching("no such client").source,
                "{client} has settings of its own"
            );
        }
        options.linger_ms = Some(7);
        let b = options.batching("krafka");
        assert_eq!((b.linger_ms, b.batch_bytes), (7, 1 << 20));
        options.batch_bytes = Some(65_536);
        let b = options.batching("java");
        assert_eq!((b.linger_ms, b.batch_bytes), (7, 65_536));
    }
}
