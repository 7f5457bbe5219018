//! Node processes: spawning detached, pid files, liveness and signals.
//!
//! A node's pid file is the only link between a cluster and its processes,
//! so that any process can drive a cluster another one started. A pid file
//! is trusted only while the pid is alive, is not a zombie, and its command
//! line still names the node's own config file; anything else is stale (a
//! crashed run, or a pid the kernel has since given to another program) and
//! is removed.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};

use crate::error::{IoContext, Result};

/// What a process looks like from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Gone, a zombie, or not ours.
    Dead,
    /// Running (or sleeping).
    Running,
    /// Stopped by SIGSTOP.
    Paused,
}

/// Children this process spawned, kept so they can be reaped: a killed child
/// stays a zombie until its parent waits for it.
fn children() -> &'static Mutex<HashMap<u32, Child>> {
    static CHILDREN: OnceLock<Mutex<HashMap<u32, Child>>> = OnceLock::new();
    CHILDREN.get_or_init(Default::default)
}

/// Reaps every child of ours that has exited, `pid` among them. All of
/// them, not only `pid`: a node that was killed and started again has a new
/// pid, and nothing asks about the old one again, so a long run of faults
/// (a soak) would otherwise leave one zombie per restart.
fn reap_exited() {
    let mut children = children().lock().unwrap_or_else(|e| e.into_inner());
    children.retain(|_, child| !matches!(child.try_wait(), Ok(Some(_))));
}

/// Spawns `command` in its own process group (so a terminal's Ctrl-C does
/// not reach the brokers) and returns its pid.
pub(crate) fn spawn_detached(mut command: Command) -> Result<u32> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let child = command
        .spawn()
        .context(|| format!("starting {command:?}"))?;
    let pid = child.id();
    reap_exited();
    children()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pid, child);
    Ok(pid)
}

/// Whether `pid` is alive and its command line contains `marker`.
pub(crate) fn liveness(pid: u32, marker: &str) -> Liveness {
    reap_exited();
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Liveness::Dead;
    };
    // The state follows the command name in parentheses, which may itself contain spaces.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .unwrap_or("X");
    if matches!(state, "Z" | "X" | "x") {
        return Liveness::Dead;
    }
    let Some(cmdline) = read_cmdline(pid) else {
        return Liveness::Dead;
    };
    if !String::from_utf8_lossy(&cmdline).contains(marker) {
        return Liveness::Dead;
    }
    if state == "T" || state == "t" {
        Liveness::Paused
    } else {
        Liveness::Running
    }
}

/// Reads a process's command line. Right after a spawn the child may still
/// be inside exec, when the kernel shows an empty command line; a short wait
/// tells that window apart from a process that really has none.
fn read_cmdline(pid: u32) -> Option<Vec<u8>> {
    for _ in 0..50 {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        if !cmdline.is_empty() {
            return Some(cmdline);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

/// Sends `signal` to `pid`. A process that is already gone is not an error.
pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Reads a pid file; a missing or unreadable one is `None`.
pub(crate) fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes a pid file.
pub(crate) fn write_pid(path: &Path, pid: u32) -> Result<()> {
    std::fs::write(path, format!("{pid}\n")).context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the kernel still has an entry for `pid` (a zombie has one).
    fn has_entry(pid: u32) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn asking_about_one_child_reaps_every_child_that_exited() {
        let zombie = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        };
        // Another test of this crate that spawns or asks about a process
        // reaps every exited child too (what made this test wait in vain
        // once, in `cargo xtask test`): an attempt whose children it
        // reaped first proves nothing, and the test tries again.
        for _ in 0..20 {
            let first = spawn_detached(Command::new("true")).expect("spawn true");
            let second = spawn_detached(Command::new("true")).expect("spawn true");
            // Both exit at once; until reaped they stay zombies.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let seen = loop {
                if !has_entry(first) || !has_entry(second) {
                    break false;
                }
                if zombie(first) && zombie(second) {
                    break true;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the children did not exit"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            };
            if !seen {
                continue;
            }
            // Asking about the first (as a restarted node's new pid is
            // asked about, never its old one) reaps the second too.
            assert_eq!(liveness(first, "true"), Liveness::Dead);
            assert!(!has_entry(first), "the child asked about was not reaped");
            assert!(!has_entry(second), "the other exited child was not reaped");
            return;
        }
        panic!("in 20 attempts, another test always reaped the children first");
    }
}
