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

pub(crate) const HELP: &str = "\
cargo xtask bench peers [OPTIONS]

Consumes, then produces, the same records with vltava, franz-go, rust-rdkafka
(librdkafka) and the Java client (kafka-clients), one process each, on a local
one-node Kafka cluster, and writes a markdown report and a chart (SVG) of
records/s and CPU per client, codec and mode.

Consume: the topic of each codec is written once (by vltava's producer), then
read whole from the earliest offset by each client in turn, the order rotated
every run. Produce: each client writes RECORDS records, acks=all, idempotent,
to a fresh topic (deleted after the run).

Options:
  --records N        records per topic (default 10000000)
  --value-size B     bytes per value (default 100; e.g. 1024 for the 1 KB variant)
  --codecs LIST      none,lz4,zstd (default all three)
  --partitions P     partitions per topic (default 3)
  --runs N           runs per client, codec and mode (default 5)
  --clients LIST     vltava,franz-go,rdkafka,java (default all)
  --mode MODE        consume, produce or both (default both)
  --linger-ms MS     producers' linger (default 5)
  --batch-bytes B    producers' batch size (default 65536)
  --timeout S        a client run that takes longer is killed and reported (default 600)
  --out FILE         the report (default target/peers/report.md)
  --chart FILE       the chart, SVG (default: the report's path with .svg)
  --keep-cluster     leave the cluster up at the end

Builds every peer first, cached under target/peers/: `go build` (franz-go,
modules from the Go proxy), `cargo build --release --manifest-path
benches/peers/rdkafka/Cargo.toml` (librdkafka from source: needs cmake and a
C/C++ compiler), `mvn package` (kafka-clients from Maven Central). A peer that
cannot be built is reported and left out; the others run.
The cluster lives in target/vltava-peers-cluster and is reused across runs.
";

/// The clients, in their default order.
const ALL_CLIENTS: [&str; 4] = ["vltava", "franz-go", "rdkafka", "java"];
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
    linger_ms: u64,
    batch_bytes: usize,
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
            linger_ms: parse("--linger-ms", flags.value("--linger-ms")?, 5)?,
            batch_bytes: parse("--batch-bytes", flags.value("--batch-bytes")?, 65_536)?,
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

/// Whether `tool` runs (`tool ARG`), for a clear message when it is missing.
fn require(tool: &str, arg: &str, why: &str) -> Result<(), String> {
    match Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("`{tool}` is not available ({e}); {why}")),
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
            require(
                "go",
                "version",
                "install Go (1.24 or later) to build the franz-go peer",
            )?;
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
        "rdkafka" => {
            require(
                "cmake",
                "--version",
                "rdkafka-sys builds librdkafka with CMake: install cmake",
            )?;
            require(
                "c++",
                "--version",
                "librdkafka needs a C and C++ compiler: install g++",
            )?;
            let dir = peers.join("rdkafka");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut command = Command::new(cargo);
            command
                .args(["build", "--release", "--locked", "--manifest-path"])
                .arg(root.join("benches/peers/rdkafka/Cargo.toml"))
                .env("CARGO_TARGET_DIR", &dir);
            build_step(
                command,
                "cargo build --release --manifest-path benches/peers/rdkafka/Cargo.toml",
            )?;
            Peer {
                name: name.into(),
                program: dir.join("release").join("rdkafka-peer"),
                prefix: Vec::new(),
                version: String::new(),
            }
        }
        "java" => {
            require("java", "-version", "install a JDK (17 or later)")?;
            require("mvn", "-v", "install Maven to build the Java peer")?;
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
fn java() -> PathBuf {
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

/// One run's result: the settings the client printed, and its measure.
struct RunOutput {
    settings: Vec<String>,
    measure: Measure,
}

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
        measure: Measure {
            records: field("records")?,
            bytes: field("bytes")?,
            elapsed: Duration::from_nanos(field("elapsed_ns")?.max(1)),
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            max_rss_kib: usage.ru_maxrss as u64,
        },
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
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = Options::parse(args)? else {
        return Ok(());
    };
    let target = target_dir();
    let started = Instant::now();
    let load_before = load_average();

    // 1. Build every peer; one that cannot be built is reported and left out.
    let mut peers = Vec::new();
    let mut unavailable = Vec::new();
    for name in &options.clients {
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
    let produce_args = |topic: &str, codec: &str| -> Vec<String> {
        vec![
            "produce".into(),
            bootstrap.clone(),
            topic.into(),
            records.clone(),
            values.display().to_string(),
            options.value_size.to_string(),
            codec.into(),
            options.linger_ms.to_string(),
            options.batch_bytes.to_string(),
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
                    peers[vltava].command(&produce_args(&topic, codec)),
                    options.timeout,
                )
                .map_err(|e| format!("writing the consume topic: {e}"))?;
                eprintln!(
                    "  written in {:.1?} ({:.0} records/s)",
                    fill.measure.elapsed,
                    fill.measure.records_per_s()
                );
                let mut table = Table::default();
                for run in 0..options.runs {
                    for i in 0..peers.len() {
                        let peer = &peers[(i + run) % peers.len()];
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
                        let topic = format!("peers-produce-{codec}-{}-{run}-{nanos}", peer.name);
                        cluster
                            .create_topic(&topic, options.partitions, 1)
                            .map_err(|e| e.to_string())?;
                        record_run(
                            &mut table,
                            &mut settings,
                            peer,
                            "produce",
                            codec,
                            run,
                            run_child(peer.command(&produce_args(&topic, codec)), options.timeout),
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
    let subtitle = format!(
        "Kafka on one node, {} partition(s); acks=all, idempotent, linger {} ms, batch {} B; \
         bars: median, whiskers: min–max; {} cores, load average {load_before} at the start, {load_after} at the end",
        options.partitions,
        options.linger_ms,
        options.batch_bytes,
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
        Ok(output) => {
            let m = &output.measure;
            eprintln!(
                "{mode} {codec} run {} {:<9} {:>10.0} records/s {:>7.1} MB/s  {:>6.2} CPU s/1M  {:>6.0} MiB",
                run + 1,
                peer.name,
                m.records_per_s(),
                m.mb_per_s(),
                m.cpu_per_million(),
                m.rss_mib()
            );
            settings
                .entry((peer.name.clone(), mode))
                .or_insert(output.settings);
            table
                .measures
                .entry(peer.name.clone())
                .or_default()
                .push(output.measure);
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
        "- Consume: each codec's topic is written once by vltava's producer, then each client reads it whole from the earliest offset with assigned partitions (no group), touching every value. records/s and MB/s (of values) from the first record to the last."
    );
    let _ = writeln!(
        out,
        "- Produce: each client writes to a fresh topic, acks=all, idempotent, linger {} ms, batch {} bytes, after one warm-up record; records/s and MB/s from the first send to the last acknowledgement.",
        options.linger_ms, options.batch_bytes
    );
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
        let first = why.lines().next().unwrap_or_default();
        let _ = writeln!(out, "- **{name} left out**: {first}");
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
            let Some(measures) = table.measures.get(&peer.name) else {
                let _ = writeln!(out, "| {} | no successful run | | | | | |", peer.name);
                continue;
            };
            let (rate, rate_text) = cell(measures.iter().map(Measure::records_per_s).collect(), 0);
            let (_, mb_text) = cell(measures.iter().map(Measure::mb_per_s).collect(), 1);
            let (cpu, cpu_text) = cell(measures.iter().map(Measure::cpu_per_million).collect(), 2);
            let (_, rss_text) = cell(measures.iter().map(Measure::rss_mib).collect(), 0);
            let ratio = |ours: Option<f64>, theirs: f64| match ours {
                Some(ours) if peer.name != "vltava" => format!("{:.2}", ours / theirs),
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
