//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` and writes their seed corpus.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use vltava_wire::ApiKey;

use crate::flags::Flags;

pub(crate) const HELP: &str = "\
cargo xtask fuzz [--target T] [--seconds S] [--seed]

Runs each fuzz target (response, request, record_batch, consumer_protocol), or only T, for S
seconds (default 60), and fails if any finds a crash. Installs cargo-fuzz
when missing. --seed rewrites the committed seed corpus from the golden
fixtures in crates/vltava-wire/tests/fixtures and exits.
";

const TARGETS: [&str; 4] = ["response", "request", "record_batch", "consumer_protocol"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut flags = Flags::new(args);
    if flags.switch("--help") {
        print!("{HELP}");
        return Ok(());
    }
    let seed_only = flags.switch("--seed");
    let target = flags.value("--target")?;
    let seconds: u64 = match flags.value("--seconds")? {
        Some(s) => s
            .parse()
            .map_err(|_| format!("--seconds: `{s}` is not a number"))?,
        None => 60,
    };
    flags.finish()?;
    let fuzz_dir = crate::workspace_root().join("fuzz");
    if seed_only {
        return write_seeds(&fuzz_dir);
    }
    let targets: Vec<&str> = match &target {
        Some(t) if TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => {
            return Err(format!(
                "no fuzz target `{t}`; targets: {}",
                TARGETS.join(", ")
            ));
        }
        None => TARGETS.to_vec(),
    };
    ensure_cargo_fuzz()?;
    let nightly = has_nightly();
    let mut failed = Vec::new();
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .map_err(|e| format!("creating {}: {e}", corpus.display()))?;
        let mut command = Command::new("cargo");
        if nightly {
            command.arg("+nightly");
        } else {
            // The stable toolchain ships the sanitizer runtimes; this unlocks the flags.
            command.env("RUSTC_BOOTSTRAP", "1");
        }
        command
            .args(["fuzz", "run", target])
            .arg(&corpus)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=2048",
                "-print_final_stats=1",
            ])
            .current_dir(&fuzz_dir);
        eprintln!("$ cargo fuzz run {target} -- -max_total_time={seconds}");
        let started = Instant::now();
        let status = command
            .status()
            .map_err(|e| format!("could not run cargo fuzz: {e}"))?;
        eprintln!(
            "{target}: {} after {:.0?}",
            if status.success() {
                "no crash"
            } else {
                "FAILED"
            },
            started.elapsed()
        );
        if !status.success() {
            failed.push(target);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz target(s) {} found a crash; the input is in fuzz/artifacts/<target>/",
            failed.join(", ")
        ))
    }
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    eprintln!("installing cargo-fuzz");
    crate::cargo(
        &["install", "cargo-fuzz", "--locked"],
        &[],
        "cargo install cargo-fuzz",
    )
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        })
}

/// Writes `fuzz/corpus/<target>/seed-*` from the golden fixtures.
fn write_seeds(fuzz_dir: &Path) -> Result<(), String> {
    let fixtures = crate::workspace_root().join("crates/vltava-wire/tests/fixtures");
    let read = |path: PathBuf| {
        std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))
    };
    let mut written = 0;
    for entry in list(&fixtures)? {
        let Some((name, key, version)) = describe(&entry) else {
            continue;
        };
        let frame = read(fixtures.join(&entry))?;
        // response: key index and version, then the frame.
        let index = ApiKey::ALL.iter().position(|k| *k == key).expect("listed") as u16;
        let mut seed = index.to_be_bytes().to_vec();
        seed.extend_from_slice(&version.to_be_bytes());
        seed.extend_from_slice(&frame);
        save(fuzz_dir, "response", &name, &seed)?;
        written += 1;
        // request: the frame that asked for it.
        let request = fixtures.join("requests").join(&entry);
        if request.exists() {
            save(fuzz_dir, "request", &name, &read(request)?)?;
            written += 1;
        }
        // record_batch: the records of a fetch response.
        if key == ApiKey::Fetch {
            let records = fetch_records(&frame, version)?;
            save(fuzz_dir, "record_batch", &name, &records)?;
            written += 1;
        }
    }
    written += consumer_protocol_seeds(fuzz_dir)?;
    eprintln!(
        "wrote {written} seeds under {}",
        fuzz_dir.join("corpus").display()
    );
    Ok(())
}

/// Seeds for `consumer_protocol`: subscriptions and assignments at every
/// version, and sticky user data, as the group layer writes them.
fn consumer_protocol_seeds(fuzz_dir: &Path) -> Result<usize, String> {
    use vltava::TopicPartition;
    use vltava::group::assignor::StickyUserData;
    use vltava::group::protocol::{
        Assignment, Subscription, encode_assignment, encode_subscription,
    };

    let owned = vec![
        TopicPartition::new("orders", 0),
        TopicPartition::new("orders", 3),
    ];
    let subscription = Subscription {
        topics: vec!["orders".into(), "payments".into()],
        user_data: Some(bytes::Bytes::from_static(b"\x00\x00\x00\x07")),
        owned_partitions: owned.clone(),
        generation: 7,
        rack: Some("rack-a".into()),
    };
    let assignment = Assignment {
        partitions: owned.clone(),
        user_data: None,
    };
    let mut written = 0;
    for version in 0..=3i16 {
        let mut seed = vec![0u8];
        seed.extend_from_slice(
            &encode_subscription(&subscription, version).map_err(|e| e.to_string())?,
        );
        save(
            fuzz_dir,
            "consumer_protocol",
            &format!("subscription_v{version}"),
            &seed,
        )?;
        let mut seed = vec![1u8];
        seed.extend_from_slice(
            &encode_assignment(&assignment, version).map_err(|e| e.to_string())?,
        );
        save(
            fuzz_dir,
            "consumer_protocol",
            &format!("assignment_v{version}"),
            &seed,
        )?;
        written += 2;
    }
    let sticky = StickyUserData {
        partitions: owned,
        generation: Some(7),
    };
    let mut seed = vec![2u8];
    seed.extend_from_slice(&sticky.encode());
    save(fuzz_dir, "consumer_protocol", "sticky_user_data", &seed)?;
    Ok(written + 1)
}

fn list(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| {
            format!(
                "listing {}: {e} (capture with `cargo xtask fixtures`)",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    names.sort();
    Ok(names)
}

/// `fetch_v12_zstd.bin` -> ("fetch_v12_zstd", Fetch, 12).
fn describe(file: &str) -> Option<(String, ApiKey, i16)> {
    let name = file.strip_suffix(".bin")?;
    let (api, rest) = name.rsplit_once("_v")?;
    let version: i16 = rest.split('_').next()?.parse().ok()?;
    let key = match api {
        "api_versions" => ApiKey::ApiVersions,
        "metadata" => ApiKey::Metadata,
        "find_coordinator" => ApiKey::FindCoordinator,
        "join_group" => ApiKey::JoinGroup,
        "fetch" => ApiKey::Fetch,
        _ => return None,
    };
    Some((name.to_owned(), key, version))
}

fn fetch_records(frame: &[u8], version: i16) -> Result<Vec<u8>, String> {
    use vltava_wire::messages::FetchResponse;
    let (_, body) = vltava_wire::decode_response::<FetchResponse>(
        version,
        &bytes::Bytes::copy_from_slice(frame),
    )
    .map_err(|e| e.to_string())?;
    Ok(body
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .and_then(|p| p.records.clone())
        .map(|r| r.to_vec())
        .unwrap_or_default())
}

fn save(fuzz_dir: &Path, target: &str, name: &str, data: &[u8]) -> Result<(), String> {
    let dir = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(format!("seed-{name}"));
    std::fs::write(&path, data).map_err(|e| format!("writing {}: {e}", path.display()))
}
