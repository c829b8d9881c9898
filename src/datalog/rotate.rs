//! Rotation: when the datalog starts a new file, and how the old ones are moved aside. It happens
//! only before a cycle's write, so a cycle's rows always land in one file and no row is lost or
//! written twice; every step can be repeated after a failure (a file held busy, a kill).

use chrono::{DateTime, Local};
use std::path::{Path, PathBuf};

/// Where "now" comes from, so rotation can be tested under a fake clock.
pub trait Clock: Send {
    fn now(&self) -> DateTime<Local>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Local> {
        Local::now()
    }
}

/// When the datalog starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Start a new file when the next cycle's rows would make the file larger than this.
    pub max_size: Option<u64>,
    /// How many rotated files (`.1` newest … `.N` oldest) to keep.
    pub keep: u32,
    /// One file per local day.
    pub daily: bool,
}

/// The file of day `at` for a daily datalog: the date before the extension
/// (`vpnmon_datalog.csv` → `vpnmon_datalog-2026-11-22.csv`).
pub fn daily_path(base: &Path, at: DateTime<Local>) -> PathBuf {
    dated_path(base, &day_of(at))
}

/// The day `at` as daily file names carry it (`2026-11-22`).
pub fn day_of(at: DateTime<Local>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// The daily datalog file of `date` (`YYYY-MM-DD`).
pub fn dated_path(base: &Path, date: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}-{date}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{date}"),
    };
    base.with_file_name(name)
}

/// The `n`th rotated file of `path` (`vpnmon_datalog.csv.1`).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Where the live file waits during a size rotation (`vpnmon_datalog.csv.rotating`).
pub fn rotating_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".rotating");
    PathBuf::from(s)
}

/// Renames a file; replaceable so tests can make a rename "busy".
pub type RenameFn = dyn FnMut(&Path, &Path) -> std::io::Result<()> + Send;

/// Moves the live file `path` aside to `path.1` (older ones shift to `.2`, … dropping what falls
/// beyond `keep`). Safe to repeat after any step failed (a file held busy by another program):
/// the live file is first renamed to `path.rotating`, which either happens or changes nothing;
/// then [`finish_rotation`] frees `.1` and moves it there.
pub fn rotate_files(path: &Path, keep: u32, rename: &mut RenameFn) -> std::io::Result<()> {
    if keep == 0 {
        return remove_if_exists(path);
    }
    rename(path, &rotating_path(path))?;
    finish_rotation(path, keep, rename)
}

/// Completes a rotation whose live file already waits as `path.rotating` (moved aside by
/// [`rotate_files`] in this try, an earlier busy try, or a run that was killed meanwhile).
/// Nothing to do when there is no `.rotating`.
pub fn finish_rotation(path: &Path, keep: u32, rename: &mut RenameFn) -> std::io::Result<()> {
    let rotating = rotating_path(path);
    if !rotating.exists() {
        return Ok(());
    }
    if keep == 0 {
        return remove_if_exists(&rotating);
    }
    // Shift only up to the first free slot, so a repeated try (after a shift step failed) finds
    // the gap it left and deletes nothing more; only when `.1` … `.keep` all exist is `.keep`
    // dropped.
    let gap = match (1..=keep).find(|&i| !rotated_path(path, i).exists()) {
        Some(i) => i,
        None => {
            remove_if_exists(&rotated_path(path, keep))?;
            keep
        }
    };
    for i in (1..gap).rev() {
        rename(&rotated_path(path, i), &rotated_path(path, i + 1))?;
    }
    rename(&rotating, &rotated_path(path, 1))
}

fn remove_if_exists(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
