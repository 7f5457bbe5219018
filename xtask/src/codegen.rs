//! `cargo xtask codegen`: generates `vltava-wire`'s message types from Kafka's JSON specs.
//!
//! Reads `../shared/kafka-protocol/message/*.json` (relative to the workspace
//! root; `--specs DIR` or `VLTAVA_KAFKA_SPECS` point elsewhere), writes one
//! module per spec plus `mod.rs`, `api_key.rs` and `bodies.rs` into
//! `crates/vltava-wire/src/generated/`, each formatted by `rustfmt`. With
//! `--check` nothing is written: the run fails, listing the files, if what is
//! committed differs from what the specs give (including stale extra files).

mod emit;
mod index;
mod names;
mod spec;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the output goes, relative to the workspace root.
const OUTPUT_DIR: &str = "crates/vltava-wire/src/generated";

/// Where the specs are, relative to the workspace root, unless overridden.
const DEFAULT_SPECS_DIR: &str = "../shared/kafka-protocol/message";

/// The environment variable that overrides the specs directory.
const SPECS_ENV: &str = "VLTAVA_KAFKA_SPECS";

/// Runs `cargo xtask codegen [--check] [--specs DIR]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut check = false;
    let mut specs_arg = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--specs" => {
                let dir = args.next().ok_or("--specs needs a directory")?;
                specs_arg = Some(PathBuf::from(dir));
            }
            other => match other.strip_prefix("--specs=") {
                Some(dir) => specs_arg = Some(PathBuf::from(dir)),
                None => {
                    return Err(format!(
                        "unknown codegen argument `{other}` (expected --check, --specs DIR)"
                    ));
                }
            },
        }
    }
    let root = workspace_root();
    let specs_dir = specs_arg
        .or_else(|| std::env::var_os(SPECS_ENV).map(PathBuf::from))
        .unwrap_or_else(|| root.join(DEFAULT_SPECS_DIR));
    if !specs_dir.is_dir() {
        if check {
            println!(
                "codegen --check: no Kafka specs at {}, skipping the check",
                specs_dir.display()
            );
            return Ok(());
        }
        return Err(format!(
            "no Kafka specs at {} (pass --specs DIR or set {SPECS_ENV})",
            specs_dir.display()
        ));
    }

    let specs = spec::load_dir(&specs_dir)?;
    let files = generate(&specs)?;
    let files = format_all(&root, files)?;
    let out_dir = root.join(OUTPUT_DIR);
    if check {
        check_files(&out_dir, &files)
    } else {
        write_files(&out_dir, &files)
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Every generated file's name and unformatted text.
fn generate(specs: &[spec::Spec]) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    for spec in specs {
        let (name, text) = emit::message_module(spec).map_err(|e| format!("{}: {e}", spec.name))?;
        if files.insert(name.clone(), text).is_some() {
            return Err(format!("two specs map to {name}"));
        }
    }
    for (name, text) in [
        ("mod.rs", index::mod_rs(specs)),
        ("api_key.rs", index::api_key_rs(specs)?),
        ("bodies.rs", index::bodies_rs(specs)?),
    ] {
        if files.insert(name.to_owned(), text).is_some() {
            return Err(format!("a spec maps to {name}"));
        }
    }
    Ok(files)
}

/// Formats every file by piping it through `rustfmt --edition 2024`, a few at a time.
fn format_all(
    root: &Path,
    files: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let files: Vec<(String, String)> = files.into_iter().collect();
    let chunk = files.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|chunk| {
                let rustfmt = &rustfmt;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, text)| {
                            let formatted = format_one(rustfmt, root, text)
                                .map_err(|e| format!("formatting {name}: {e}"))?;
                            Ok((name.clone(), formatted))
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        let mut out = BTreeMap::new();
        for handle in handles {
            let chunk = handle
                .join()
                .map_err(|_| "a rustfmt worker panicked".to_owned())??;
            out.extend(chunk);
        }
        Ok(out)
    })
}

fn format_one(rustfmt: &std::ffi::OsStr, root: &Path, text: &str) -> Result<String, String> {
    let mut child = Command::new(rustfmt)
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    // Write from another thread so a full stdout pipe cannot deadlock us.
    let input = text.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt writer panicked".to_owned())?
        .map_err(|e| format!("writing to rustfmt: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| "rustfmt wrote invalid UTF-8".to_owned())
}

/// The files currently in the output directory.
fn existing_files(out_dir: &Path) -> Result<Vec<String>, String> {
    if !out_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    let entries =
        std::fs::read_dir(out_dir).map_err(|e| format!("reading {}: {e}", out_dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", out_dir.display()))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn check_files(out_dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    let mut drift = Vec::new();
    for (name, text) in files {
        match std::fs::read_to_string(out_dir.join(name)) {
            Ok(current) if current == *text => {}
            Ok(_) => drift.push(format!("  {name}: differs")),
            Err(_) => drift.push(format!("  {name}: missing")),
        }
    }
    for name in existing_files(out_dir)? {
        if !files.contains_key(&name) {
            drift.push(format!("  {name}: stale, no spec generates it"));
        }
    }
    if drift.is_empty() {
        println!(
            "codegen --check: {} generated files match the specs",
            files.len()
        );
        Ok(())
    } else {
        Err(format!(
            "generated code in {} is out of date; run `cargo xtask codegen`:\n{}",
            out_dir.display(),
            drift.join("\n")
        ))
    }
}

fn write_files(out_dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    std::fs::create_dir_all(out_dir).map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let mut written = 0;
    for (name, text) in files {
        let path = out_dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|current| current == *text) {
            continue;
        }
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        written += 1;
    }
    let mut removed = 0;
    for name in existing_files(out_dir)? {
        if !files.contains_key(&name) {
            let path = out_dir.join(&name);
            std::fs::remove_file(&path)
                .map_err(|e| format!("removing stale {}: {e}", path.display()))?;
            removed += 1;
        }
    }
    println!(
        "codegen: {} files in {} ({written} written, {removed} stale removed)",
        files.len(),
        out_dir.display()
    );
    Ok(())
}
