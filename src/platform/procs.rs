//! Processes by executable path and user where there is no /proc (Windows, macOS): the
//! `sysinfo` crate reads them (Windows: the process image path and the user SID of its token).

use super::process::Copy;
use std::path::{Path, PathBuf};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

/// A path as compared: on Windows without the `\\?\` prefix that canonicalising adds, and in
/// lower case (file names there are case-insensitive).
fn comparable(p: &Path) -> String {
    let s = p.to_string_lossy();
    if super::WINDOWS {
        s.strip_prefix(r"\\?\").unwrap_or(&s).to_lowercase()
    } else {
        s.into_owned()
    }
}

/// Processes whose executable is one of `programs`, run by this user (on Unix as root: by any
/// user; on Windows always the same user SID), never this process. A process whose executable
/// or user cannot be read is left out.
pub fn copies_of(programs: &[PathBuf]) -> Vec<Copy> {
    let wanted: Vec<String> = super::process::canonical(programs)
        .iter()
        .map(|p| comparable(p))
        .collect();
    processes(|exe| wanted.contains(&comparable(exe)))
}

/// Every process of this user (on Unix as root: of any user), never this process, with its
/// executable and command line.
pub fn own_processes() -> Vec<Copy> {
    processes(|_| true)
}

/// The processes of this user (as `copies_of`) whose executable `wanted` accepts.
fn processes(wanted: impl Fn(&Path) -> bool) -> Vec<Copy> {
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing()
            .with_exe(UpdateKind::Always)
            .with_user(UpdateKind::Always)
            .with_cmd(UpdateKind::Always),
    );
    let me = sysinfo::get_current_pid().ok();
    let my_user = me
        .and_then(|p| sys.process(p))
        .and_then(|p| p.user_id())
        .cloned();
    let any_user = !super::WINDOWS && my_user.as_ref().is_some_and(|u| u.to_string() == "0");
    sys.processes()
        .iter()
        .filter(|(pid, _)| Some(**pid) != me)
        .filter_map(|(pid, p)| {
            if !any_user && (my_user.is_none() || p.user_id() != my_user.as_ref()) {
                return None;
            }
            let exe = p.exe()?;
            if !wanted(exe) {
                return None;
            }
            Some(Copy {
                pid: pid.as_u32(),
                path: exe.to_path_buf(),
                args: p
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
            })
        })
        .collect()
}

/// Ends the process `pid` at once; false when it could not be.
pub fn kill_pid(pid: u32) -> bool {
    let mut sys = System::new();
    let pid = Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(pid).is_some_and(|p| p.kill())
}
