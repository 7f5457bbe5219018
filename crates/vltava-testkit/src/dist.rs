//! Apache Kafka's broker jars, fetched from Maven Central with `mvn` into a cache that outlives runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, IoContext, Result};

/// The pinned Kafka version tests run against: the newest 4.x Maven Central serves.
pub const DEFAULT_KAFKA_VERSION: &str = "4.4.0";

/// The pinned 3.9.x version of the compatibility tier.
pub const COMPAT_KAFKA_VERSION: &str = "3.9.2";

/// The name of the marker written once a version's jars are complete.
const COMPLETE_MARKER: &str = ".complete";

/// One Kafka version's jars on disk: the broker, its tools and their runtime dependencies.
#[derive(Debug, Clone)]
pub struct Distribution {
    version: String,
    libs: PathBuf,
}

impl Distribution {
    /// Returns the jars of `version`, fetching them with `mvn` on first use.
    ///
    /// The jars go to `<cache>/kafka/<version>/libs`, where `<cache>` is
    /// `$VLTAVA_CACHE_DIR`, else `$XDG_CACHE_HOME/vltava`, else
    /// `~/.cache/vltava`. Once a version is complete, later calls run no
    /// `mvn` at all.
    pub fn fetch(version: &str) -> Result<Self> {
        if let Some(cached) = Self::cached(version)? {
            return Ok(cached);
        }
        let home = cache_dir()?.join("kafka").join(version);
        let libs = home.join("libs");
        std::fs::create_dir_all(&home).context(|| format!("creating {}", home.display()))?;
        // A per-process staging folder, renamed into place at the end, so two
        // concurrent first runs cannot see each other's half-copied jars.
        let staging = home.join(format!("libs.partial.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        let pom = home.join(format!("pom.{}.xml", std::process::id()));
        std::fs::write(&pom, pom_xml(version)).context(|| format!("writing {}", pom.display()))?;
        let copied = mvn(
            version,
            &[
                "-f",
                path_str(&pom)?,
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                &format!("-DoutputDirectory={}", path_str(&staging)?),
            ],
        );
        let _ = std::fs::remove_file(&pom);
        copied?;
        add_log_binding(version, &staging)?;
        if std::fs::rename(&staging, &libs).is_err() {
            // Another process finished first; its copy is as good as ours.
            let _ = std::fs::remove_dir_all(&staging);
        }
        std::fs::write(home.join(COMPLETE_MARKER), version)
            .context(|| format!("writing {}", home.display()))?;
        Ok(Self {
            version: version.to_owned(),
            libs,
        })
    }

    /// Returns the jars of `version` if the cache holds them complete; never runs `mvn`.
    pub fn cached(version: &str) -> Result<Option<Self>> {
        let home = cache_dir()?.join("kafka").join(version);
        Ok(home.join(COMPLETE_MARKER).exists().then(|| Self {
            version: version.to_owned(),
            libs: home.join("libs"),
        }))
    }

    /// The Kafka version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The folder that holds every jar.
    pub fn libs(&self) -> &Path {
        &self.libs
    }

    /// The Java class path: every jar in [`Distribution::libs`].
    pub fn classpath(&self) -> String {
        format!("{}/*", self.libs.display())
    }

    /// The major version number (3 or 4).
    pub fn major(&self) -> u32 {
        major_of(&self.version)
    }

    /// Runs one of Kafka's own command-line tools (its main class) and returns what it printed.
    ///
    /// `class` is a Java main class such as `org.apache.kafka.tools.TopicCommand`.
    pub fn run_tool(&self, class: &str, args: &[&str]) -> Result<String> {
        let output = self
            .tool_command(class)
            .args(args)
            .output()
            .context(|| format!("running java {class}"))?;
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        if output.status.success() {
            Ok(text)
        } else {
            Err(Error::Broker(format!(
                "{class} {} failed ({}):\n{}",
                args.join(" "),
                output.status,
                tail(&text, 30)
            )))
        }
    }
}

impl Distribution {
    /// A `java` command that runs `class` (one of Kafka's command-line tools)
    /// with these jars, a small heap and fast start-up; add its arguments
    /// and run it. For tools that read stdin, such as the console producer.
    pub fn tool_command(&self, class: &str) -> Command {
        let mut command = Command::new(java());
        command
            .args(["-Xmx512m", "-XX:TieredStopAtLevel=1", "-cp"])
            .arg(self.classpath())
            .arg(class);
        command
    }
}

/// The `java` binary: `$JAVA_HOME/bin/java` when set, else `java` from `PATH`.
pub(crate) fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if !home.is_empty() => Path::new(&home).join("bin").join("java"),
        _ => PathBuf::from("java"),
    }
}

pub(crate) fn major_of(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(0)
}

/// The cache folder that outlives runs.
fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("VLTAVA_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("vltava"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("vltava")),
        None => Err(Error::Usage(
            "no cache folder: set VLTAVA_CACHE_DIR (or HOME)".into(),
        )),
    }
}

fn pom_xml(version: &str) -> String {
    format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.vltava</groupId>
  <artifactId>kafka-broker-{version}</artifactId>
  <version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"#
    )
}

/// Kafka 4 logs through SLF4J to Log4j 2 but its POMs do not carry the
/// bridge (the distribution tarball adds it), so without this the broker's
/// log would be empty. Kafka 3 ships its reload4j binding as a dependency.
fn add_log_binding(version: &str, libs: &Path) -> Result<()> {
    let entries: Vec<String> = std::fs::read_dir(libs)
        .context(|| format!("listing {}", libs.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if entries
        .iter()
        .any(|name| name.starts_with("slf4j-reload4j") || name.starts_with("log4j-slf4j"))
    {
        return Ok(());
    }
    let Some(log4j) = entries.iter().find_map(|name| {
        name.strip_prefix("log4j-core-")
            .and_then(|rest| rest.strip_suffix(".jar"))
    }) else {
        return Ok(());
    };
    let bridge = if entries.iter().any(|name| name.starts_with("slf4j-api-1.")) {
        "log4j-slf4j-impl"
    } else {
        "log4j-slf4j2-impl"
    };
    mvn(
        version,
        &[
            "dependency:copy",
            &format!("-Dartifact=org.apache.logging.log4j:{bridge}:{log4j}"),
            &format!("-DoutputDirectory={}", path_str(libs)?),
        ],
    )
}

fn mvn(version: &str, args: &[&str]) -> Result<()> {
    let output = Command::new("mvn")
        .args(["-B", "-q"])
        .args(args)
        .output()
        .map_err(|e| Error::Fetch {
            version: version.to_owned(),
            output: format!("could not run mvn: {e}"),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(Error::Fetch {
        version: version.to_owned(),
        output: tail(&text, 20),
    })
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::Usage(format!("path is not UTF-8: {}", path.display())))
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
