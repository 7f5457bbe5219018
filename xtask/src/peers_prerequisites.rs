//! What building each peer of `cargo xtask bench peers` needs beyond cargo,
//! checked before anything is built, so that a fresh clone learns at once
//! which peers will be left out and what to install for them.

use std::path::Path;
use std::process::{Command, Stdio};

/// Checks what building `client`'s peer needs; the error says what is
/// missing and what to install.
pub(crate) fn check(client: &str, root: &Path) -> Result<(), String> {
    let peers = root.join("benches/peers");
    match client {
        "vltava" => Ok(()),
        "franz-go" => go(&peers.join("franz-go/go.mod")),
        "rdkafka" => {
            for (tool, arg, what) in [
                ("cmake", "--version", "cmake"),
                ("make", "--version", "make"),
                ("cc", "--version", "a C compiler (cc)"),
                ("c++", "--version", "a C++ compiler (c++)"),
            ] {
                runs(tool, arg).map_err(|e| {
                    format!(
                        "rdkafka-sys builds librdkafka from source with CMake: it needs cmake, \
                         make and a C and C++ compiler; {what} is missing ({e})"
                    )
                })?;
            }
            openssl_headers()
        }
        "java" => {
            java_version(17)?;
            runs("mvn", "-v").map_err(|e| format!("Maven builds the Java peer: install mvn ({e})"))
        }
        "krafka" | "confluent-kafka" => {
            rust_version(&peers.join(client).join("Cargo.toml"))?;
            runs("cc", "--version").map_err(|e| {
                format!(
                    "{client}'s dependencies compile C (ring, zstd-sys): install a C compiler ({e})"
                )
            })
        }
        other => Err(format!("unknown client `{other}`")),
    }
}

/// Whether `tool ARG` can be started at all (its exit status is not asked).
fn runs(tool: &str, arg: &str) -> Result<(), String> {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(drop)
        .map_err(|e| format!("`{tool}`: {e}"))
}

/// The first line of `program ARGS`' output (stdout, then stderr). With
/// `GOTOOLCHAIN=local`, `go` reports the installed toolchain and never
/// downloads the one a go.mod asks for; other programs ignore it.
fn first_line(program: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .env("GOTOOLCHAIN", "local")
        .output()
        .map_err(|e| format!("`{}`: {e}", program.display()))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// A version's leading numbers: `1.26.0` and `go1.26` give `[1, 26, 0]`
/// and `[1, 26]`; anything after the numbers is ignored.
fn version_numbers(text: &str) -> Vec<u64> {
    let start = text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(text.len());
    text[start..]
        .split('.')
        .map_while(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Whether version `have` is at least `need` (missing parts count as 0).
fn at_least(have: &[u64], need: &[u64]) -> bool {
    for i in 0..have.len().max(need.len()) {
        let (h, n) = (
            have.get(i).copied().unwrap_or(0),
            need.get(i).copied().unwrap_or(0),
        );
        if h != n {
            return h > n;
        }
    }
    true
}

/// Go at least the version `go.mod` names. The installed toolchain is
/// asked (`GOTOOLCHAIN=local`), so the check never downloads a newer one.
fn go(go_mod: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(go_mod)
        .map_err(|e| format!("reading {}: {e}", go_mod.display()))?;
    let need = text
        .lines()
        .find_map(|l| l.strip_prefix("go "))
        .map(str::trim)
        .ok_or_else(|| format!("{} names no Go version", go_mod.display()))?;
    let have = first_line(Path::new("go"), &["env", "GOVERSION"])
        .map_err(|e| format!("Go builds the franz-go peer: install Go {need} or later ({e})"))?;
    if at_least(&version_numbers(&have), &version_numbers(need)) {
        Ok(())
    } else {
        Err(format!(
            "the franz-go peer's go.mod needs Go {need} or later, and `go` is {have}: install Go {need} or later"
        ))
    }
}

/// A JDK of at least `major` (`$JAVA_HOME/bin/java` when set).
fn java_version(major: u64) -> Result<(), String> {
    let java = crate::peers::java();
    let line = first_line(&java, &["-version"])
        .map_err(|e| format!("the Java peer needs a JDK {major} or later ({e})"))?;
    // `openjdk version "17.0.15" 2025-04-15`, or `java version "1.8.0_402"`.
    let quoted = line.split('"').nth(1).unwrap_or(&line);
    let numbers = version_numbers(quoted);
    let have = match numbers.as_slice() {
        [1, minor, ..] => *minor,
        [first, ..] => *first,
        [] => 0,
    };
    if have >= major {
        Ok(())
    } else {
        Err(format!(
            "the Java peer needs a JDK {major} or later, and `{}` is `{line}`",
            java.display()
        ))
    }
}

/// rustc at least the `rust-version` of a peer's Cargo.toml (what its
/// dependencies need).
fn rust_version(manifest: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("reading {}: {e}", manifest.display()))?;
    let Some(need) = text.lines().find_map(|l| {
        let value = l.strip_prefix("rust-version")?.trim().strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned())
    }) else {
        return Ok(());
    };
    let have = first_line(Path::new("rustc"), &["--version"])?;
    if at_least(&version_numbers(&have), &version_numbers(&need)) {
        Ok(())
    } else {
        Err(format!(
            "{} needs Rust {need} or later, and this is {have}: `rustup update`",
            manifest.display()
        ))
    }
}

/// OpenSSL's headers, which libcurl's build (and so the rdkafka peer's)
/// needs: where `OPENSSL_DIR` or `OPENSSL_INCLUDE_DIR` says, else where the
/// C compiler finds them.
fn openssl_headers() -> Result<(), String> {
    const WHY: &str = "the rdkafka peer builds libcurl (librdkafka's CMake build includes its \
                       header), which links OpenSSL: install OpenSSL's headers (libssl-dev, \
                       openssl-devel) or set OPENSSL_DIR";
    let dir = std::env::var_os("OPENSSL_INCLUDE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("OPENSSL_DIR").map(|d| Path::new(&d).join("include")));
    if let Some(dir) = dir {
        return if dir.join("openssl/ssl.h").is_file() {
            Ok(())
        } else {
            Err(format!("no openssl/ssl.h under {}; {WHY}", dir.display()))
        };
    }
    let mut child = Command::new("cc")
        .args(["-E", "-x", "c", "-o", "/dev/null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("`cc`: {e}; {WHY}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"#include <openssl/ssl.h>\n");
    }
    match child.wait() {
        Ok(status) if status.success() => Ok(()),
        _ => Err(format!("the C compiler finds no <openssl/ssl.h>; {WHY}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_their_numbers() {
        assert_eq!(version_numbers("go1.26.8"), [1, 26, 8]);
        assert_eq!(version_numbers("1.26.0"), [1, 26, 0]);
        assert_eq!(
            version_numbers("rustc 1.95.0 (59807616e 2026-04-14)"),
            [1, 95, 0]
        );
        assert_eq!(version_numbers("go1.27rc1"), [1, 27]);
        assert!(at_least(&[1, 26, 8], &[1, 26, 0]));
        assert!(at_least(&[1, 26], &[1, 26, 0]));
        assert!(!at_least(&[1, 25, 9], &[1, 26, 0]));
        assert!(at_least(&[1, 100, 0], &[1, 95]));
    }

    #[test]
    fn the_peers_manifests_name_what_the_checks_read() {
        let root = crate::workspace_root();
        let go_mod = std::fs::read_to_string(root.join("benches/peers/franz-go/go.mod")).unwrap();
        let need = go_mod.lines().find_map(|l| l.strip_prefix("go ")).unwrap();
        assert!(version_numbers(need).len() >= 2, "go.mod: go {need}");
        assert!(
            crate::peers::HELP.contains(&format!("({need})")),
            "the help names the go.mod's Go version ({need})"
        );
        for peer in ["krafka", "confluent-kafka"] {
            let manifest =
                std::fs::read_to_string(root.join("benches/peers").join(peer).join("Cargo.toml"))
                    .unwrap();
            assert!(
                manifest.lines().any(|l| l.starts_with("rust-version")),
                "{peer}'s Cargo.toml names its rust-version"
            );
        }
    }
}
