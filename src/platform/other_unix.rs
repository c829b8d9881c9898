//! Unix without Linux's /proc (macOS, the BSDs): processes by executable path and user through
//! sysinfo (`procs.rs`), no forced receive buffer. Everything Unix has in common comes from
//! `unix.rs`.

pub use super::unix::*;

use std::os::fd::BorrowedFd;

/// Only Linux can force the buffer past its limit; the plain `SO_RCVBUF` that follows applies.
pub fn force_rcvbuf(_fd: BorrowedFd<'_>, _want: usize) {}

/// No socket filter here: a raw socket reads and drops what is not an echo reply.
pub fn filter_echo_replies(_fd: BorrowedFd<'_>) {}

/// The kernel writes the IP headers here (IP_HDRINCL wants some fields in host order).
pub fn own_ip_header(_fd: BorrowedFd<'_>) -> Option<u8> {
    None
}

/// No parent-death signal here: a killed vpnmon's child is found by the stale clean-up.
pub fn end_with_parent(_cmd: &mut std::process::Command) {}

/// No ALSA here: the device is opened as it is.
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    f()
}

pub use super::procs::{copies_of, kill_pid, own_processes};

/// Exits of children cannot be awaited here without reaping them: callers check every few ms.
pub fn can_await_exit() -> bool {
    false
}

/// See `can_await_exit`.
pub fn await_exit(_pid: u32) -> bool {
    false
}
