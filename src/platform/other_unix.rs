//! Unix without Linux's /proc (macOS, the BSDs): processes by name through `pkill -x`, no
//! process listing, no forced receive buffer. Everything Unix has in common comes from
//! `unix.rs`.

pub use super::unix::*;

use super::process::{without_secrets, Ended};
use std::os::fd::BorrowedFd;
use std::process::{Command, Stdio};

/// Only Linux can force the buffer past its limit; the plain `SO_RCVBUF` that follows applies.
pub fn force_rcvbuf(_fd: BorrowedFd<'_>, _want: usize) {}

/// No parent-death signal here: a killed vpnmon's child is found by the stale clean-up.
pub fn end_with_parent(_cmd: &mut std::process::Command) {}

/// No ALSA here: the device is opened as it is.
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Ends (SIGKILL) every process whose name is exactly one of `names`, through `pkill -x`
/// (whole names only). Returns the names of which at least one was signalled (no pids).
pub fn kill_by_exact_name(names: &[&str]) -> Vec<Ended> {
    let mut ended = Vec::new();
    for name in names {
        // `pkill -x` matches the whole process name only; status 0 means one was signalled.
        let ok = without_secrets(&mut Command::new("pkill"))
            .args(["-KILL", "-x", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            ended.push(Ended {
                name: name.to_string(),
                pid: None,
            });
        }
    }
    ended
}

/// No process listing here: none are found, which only means no stale clean-up.
pub fn list_named(_name: &str) -> Vec<(u32, Vec<String>)> {
    Vec::new()
}

/// Exits of children cannot be awaited here without reaping them: callers check every few ms.
pub fn can_await_exit() -> bool {
    false
}

/// See `can_await_exit`.
pub fn await_exit(_pid: u32) -> bool {
    false
}
