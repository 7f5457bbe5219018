//! End-to-end tests of the `vltava` binary against a real Apache Kafka
//! cluster (`VLTAVA_CLUSTER_DIR`; without it they fail with instructions):
//! each test runs the built binary as a user would, and checks its stdout,
//! its stderr and its exit code.

mod admin;
mod errors;
mod lag;
mod restart;
mod roundtrip;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vltava_testkit::Cluster;
pub(crate) use vltava_testkit::unique_name as unique;

fn shared_cluster() -> Cluster {
    Cluster::from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// A home folder without a vltava config file, so that none is read.
fn empty_home() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vltava-cli-home");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary, with no connection settings from the environment.
fn bare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vltava"));
    command
        .env_remove("VLTAVA_BROKERS")
        .env_remove("VLTAVA_CONFIG")
        .env_remove("VLTAVA_SASL_PASSWORD")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", empty_home());
    command
}

/// The binary, pointed at `cluster`.
fn vltava(cluster: &Cluster) -> Command {
    let mut command = bare();
    command.arg("--brokers").arg(cluster.bootstrap());
    command
}

/// What a finished run printed, and its exit code.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Panics with everything printed unless the run exited 0.
    fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "exit {}: {}{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Checks a failure: this exit code, and one `error:` line on stderr
    /// with no panic and no debug dump in it.
    fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(errors.len(), 1, "not one line: {:?}", self.stderr);
        assert!(errors[0].starts_with("error: "), "{}", errors[0]);
        for dump in [
            "panicked",
            "RUST_BACKTRACE",
            "Error {",
            "Some(",
            "Os {",
            "kind:",
        ] {
            assert!(!self.stderr.contains(dump), "a debug dump: {}", self.stderr);
        }
        self
    }

    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs `command` to its end (at most 3 minutes), feeding it `stdin`.
fn run(command: &mut Command, stdin: &[u8]) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the vltava binary runs");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = wait_output(child, Duration::from_secs(180));
    feeder.join().unwrap();
    output
}

/// Waits for `child` to end (killing it after `limit`) and collects its output.
fn wait_output(mut child: Child, limit: Duration) -> Run {
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("vltava ran for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        String::from_utf8_lossy(&h.map(|h| h.join().unwrap()).unwrap_or_default()).into_owned()
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: text(stdout),
        stderr: text(stderr),
    }
}

fn reader(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        all
    })
}

/// Sends SIGINT, as Ctrl-C does.
fn interrupt(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    let sent = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(sent, 0, "kill -INT {pid}");
}

/// Creates a topic with the CLI.
fn create_topic(cluster: &Cluster, topic: &str, partitions: i32, replication: i16) {
    run(
        vltava(cluster)
            .args(["topics", "create", topic, "-p"])
            .arg(partitions.to_string())
            .arg("-r")
            .arg(replication.to_string()),
        b"",
    )
    .ok();
}
