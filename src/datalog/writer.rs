//! Writing a cycle's rows so that a cycle is in the file whole or not at all, across a kill, a
//! power loss and a full disk: each append goes through the [`journal`] (written and synced
//! first, the datalog appended and synced, the journal removed; a journal found later is
//! finished), and a failed append is cut back to the length before it.
//!
//! The file side runs on a thread of its own that owns the file operations; the async monitor
//! hands it a cycle and awaits the answer together with the stop token. A datalog that cannot
//! take a cycle now (in use by another program, a full disk, made read-only mid-run) does not
//! stop the monitor: the cycle's rows are kept in memory (up to [`MAX_HELD_ROWS`], oldest
//! dropped first) and written, in order, before the next cycle's rows. Only a datalog that can
//! never be written is fatal, and that is found by [`DatalogWriter::start`] before the first
//! cycle.

use super::journal::{self, Entry, Found, Target};
use super::rotate::{self, Clock, RenameFn, Rotation, SystemClock};
use super::schema::{file_header, file_rows};
use super::{DatalogConfig, DatalogFormat};
use crate::error::io_reason;
use crate::record::Record;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Tries for a file in use by another program, and the pause between them. The original
/// waited 5 x 15 s, stopping the monitor for a minute; as the rows are now kept in memory and
/// written with the next cycle, a short wait that outlasts a save or a virus scan is enough
/// and monitoring goes on.
pub const TRIES: u32 = 3;
pub const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How many rows are kept in memory while the datalog cannot take them (about 2 MB of rows:
/// 500 cycles of 200 targets). Beyond it the oldest cycles are dropped, and said so.
pub const MAX_HELD_ROWS: usize = 100_000;

/// Writes bytes to the open datalog at its current position; replaceable so tests can make a
/// write fail (a full disk) part way.
pub type AppendFn = dyn FnMut(&mut File, &[u8]) -> std::io::Result<()> + Send;
/// Where the datalog's messages go (standard error by default).
pub type SayFn = dyn FnMut(&str) + Send;

/// Why the datalog cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DatalogError {
    /// Found at start-up, before the first cycle: the file can never be written.
    #[error("Cannot write the vpnmon datalog file {path} ({reason}); {advice}")]
    Unwritable {
        path: PathBuf,
        reason: String,
        advice: String,
    },
    /// Rows kept in memory that the last try at the end could not write either.
    #[error("The vpnmon datalog file {path} could not be written when vpnmon ended ({reason}); {lost}; {ends}")]
    NotWritten {
        path: PathBuf,
        reason: String,
        lost: Lost,
        ends: Ends,
    },
    /// The writer thread could not be started or ended unexpectedly.
    #[error("The vpnmon datalog writer for {path} is not running ({reason}); {lost}")]
    Writer {
        path: PathBuf,
        reason: String,
        lost: Lost,
    },
}

/// Rows that were not written: `the 4 rows of cycle 7 were not written`, or of several cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    pub first: u64,
    pub last: u64,
    pub cycles: usize,
    pub rows: usize,
}

impl Lost {
    /// The rows of one cycle's records (not empty).
    pub fn of(records: &[Record]) -> Lost {
        let c = records.first().map_or(0, |r| r.cycle);
        Lost {
            first: c,
            last: c,
            cycles: 1,
            rows: records.len(),
        }
    }

    /// The rows of several cycles, oldest first.
    fn of_cycles<'a>(cycles: impl IntoIterator<Item = &'a Arc<Vec<Record>>>) -> Lost {
        let mut l = Lost {
            first: 0,
            last: 0,
            cycles: 0,
            rows: 0,
        };
        for c in cycles {
            let n = c.first().map_or(0, |r| r.cycle);
            if l.cycles == 0 {
                l.first = n;
            }
            l.last = n;
            l.cycles += 1;
            l.rows += c.len();
        }
        l
    }

    /// `cycle 7`, `cycles 5 to 7`, or `3 cycles (5 … 9)` when some in between were dropped.
    fn cycles_text(&self) -> String {
        if self.cycles == 1 {
            format!("cycle {}", self.first)
        } else if self.last >= self.first && self.last - self.first + 1 == self.cycles as u64 {
            format!("cycles {} to {}", self.first, self.last)
        } else {
            format!(
                "{} cycles (from {} to {})",
                self.cycles, self.first, self.last
            )
        }
    }

    fn rows_text(&self) -> String {
        plural(self.rows, "row")
    }
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let were = if self.rows == 1 { "was" } else { "were" };
        write!(
            f,
            "the {} of {} {were} not written",
            self.rows_text(),
            self.cycles_text()
        )
    }
}

/// The last cycle of this run that is in the datalog, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ends(pub Option<u64>);

impl std::fmt::Display for Ends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(c) => write!(f, "the datalog ends at cycle {c}"),
            None => write!(f, "no row of this run is in the datalog"),
        }
    }
}

/// What kind of failure an I/O error is, in the words the messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Held by another program: a lock (another vpnmon, `flock`), a sharing violation (a
    /// spreadsheet on Windows).
    InUse,
    PermissionDenied,
    ReadOnly,
    NoSpace,
    Other,
}

/// Classifies a datalog I/O error.
pub fn problem(e: &std::io::Error) -> Problem {
    if e.kind() == std::io::ErrorKind::WouldBlock || crate::platform::is_sharing_violation(e) {
        return Problem::InUse;
    }
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        return Problem::PermissionDenied;
    }
    #[cfg(unix)]
    {
        use nix::errno::Errno;
        match e.raw_os_error().map(Errno::from_raw) {
            Some(Errno::EROFS) => return Problem::ReadOnly,
            Some(Errno::ENOSPC) | Some(Errno::EDQUOT) => return Problem::NoSpace,
            Some(Errno::EPERM) | Some(Errno::EACCES) => return Problem::PermissionDenied,
            _ => {}
        }
    }
    #[cfg(windows)]
    {
        // ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL; ERROR_WRITE_PROTECT.
        match e.raw_os_error() {
            Some(39) | Some(112) => return Problem::NoSpace,
            Some(19) => return Problem::ReadOnly,
            _ => {}
        }
    }
    Problem::Other
}

#[cfg(unix)]
fn is_eperm(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EPERM as i32)
}

#[cfg(not(unix))]
fn is_eperm(_e: &std::io::Error) -> bool {
    false
}

/// The reason for messages: `in use by another program (…)`, `permission denied`, …
pub fn reason(e: &std::io::Error) -> String {
    match problem(e) {
        Problem::InUse => format!("in use by another program ({})", io_reason(e)),
        // EPERM where the mode allows writing: an attribute (immutable, append-only) forbids
        // it; vpnmon must be able to cut a failed write back, which append-only forbids.
        Problem::PermissionDenied if is_eperm(e) => {
            "operation not permitted (an immutable or append-only file? see lsattr)".into()
        }
        Problem::PermissionDenied => "permission denied".into(),
        Problem::ReadOnly => "read-only file system".into(),
        Problem::NoSpace => "no space left on device".into(),
        Problem::Other => io_reason(e),
    }
}

/// The error a lock held by another program gives (unix; Windows reports a sharing violation
/// itself).
#[cfg(any(unix, test))]
fn locked() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::WouldBlock, "locked")
}

/// An open datalog file, locked against other writers that honour locks (another vpnmon,
/// `flock(1)`) until dropped. On Windows the open itself fails with a sharing violation while
/// another program holds the file.
struct Locked {
    #[cfg(unix)]
    file: nix::fcntl::Flock<File>,
    #[cfg(not(unix))]
    file: File,
}

impl Locked {
    fn open(p: &Path, create: bool) -> std::io::Result<Locked> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .open(p)?;
        #[cfg(unix)]
        {
            use nix::fcntl::{Flock, FlockArg};
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(file) => Ok(Locked { file }),
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(locked()),
                Err((_, e)) => Err(std::io::Error::from(e)),
            }
        }
        #[cfg(not(unix))]
        {
            Ok(Locked { file })
        }
    }

    fn file(&mut self) -> &mut File {
        &mut self.file
    }
}

/// Whether the file's last byte is something other than a line end (`len` > 0).
fn ends_mid_line(f: &mut File, len: u64) -> std::io::Result<bool> {
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut b = [0u8];
    f.read_exact(&mut b)?;
    Ok(b[0] != b'\n')
}

/// A failed append whose cut-back failed too: the journal stays and finishes the cycle.
#[derive(Debug)]
struct JournalKept(std::io::Error);

impl std::fmt::Display for JournalKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", io_reason(&self.0))
    }
}

impl std::error::Error for JournalKept {}

fn default_append(f: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    f.write_all(bytes)
}

/// The file side: the path, format and rotation, the rows kept in memory, and the file
/// operations. Lives on the writer thread once the first cycle is written.
struct FileWriter {
    path: PathBuf,
    format: DatalogFormat,
    rotation: Rotation,
    clock: Box<dyn Clock>,
    tries: u32,
    retry_delay: Duration,
    max_held_rows: usize,
    say: Box<SayFn>,
    /// Replaceable so tests can make a write fail part way.
    append: Box<AppendFn>,
    /// Replaceable so tests can make a rename "busy".
    rename: Box<RenameFn>,
    /// Cycles not yet written, oldest first.
    /// Each cycle's records as the monitor's report holds them (shared, not copied).
    held: VecDeque<Arc<Vec<Record>>>,
    /// The last cycle of this run in the datalog.
    last_written: Option<u64>,
}

impl FileWriter {
    /// The file the next cycle goes to (today's file when rotating daily).
    fn current(&self) -> (PathBuf, Target) {
        if self.rotation.daily {
            // EpMonitoring's result files are per UTC day.
            let day = if self.format == DatalogFormat::Epmon {
                self.clock.now().naive_utc().format("%Y-%m-%d").to_string()
            } else {
                rotate::day_of(self.clock.now())
            };
            (rotate::dated_path(&self.path, &day), Target::Day(day))
        } else {
            (self.path.clone(), Target::Live)
        }
    }

    fn target_path(&self, t: &Target) -> PathBuf {
        match t {
            Target::Live => self.path.clone(),
            Target::Day(d) => rotate::dated_path(&self.path, d),
        }
    }

    fn journal(&self) -> PathBuf {
        journal::journal_path(&self.path)
    }

    /// A datalog whose last line has no line end (written by another program, an older
    /// vpnmon, or cut by a power loss outside vpnmon's journal) is finished with a line end
    /// before anything is appended, so no row is glued onto the fragment: the fragment stays
    /// in the file as the one line `vpnmon report` skips and names, nothing is deleted.
    /// Returns the new length.
    fn finish_line(&mut self, p: &Path, f: &mut File, len: u64) -> std::io::Result<u64> {
        if !ends_mid_line(f, len)? {
            return Ok(len);
        }
        f.seek(SeekFrom::Start(len))?;
        f.write_all(b"\n")?;
        f.sync_data()?;
        (self.say)(&format!(
            "Datalog file {} ended in the middle of a line (not written by vpnmon's journal: another program, an older vpnmon, or a power loss); vpnmon ended that line with a line end so its rows start on a line of their own; `vpnmon report` skips the incomplete line",
            p.display()
        ));
        Ok(len + 1)
    }

    /// Finishes a journaled append left by a kill or a power loss (or a failed clean-up), or
    /// discards a journal cut short while it was written.
    fn recover(&mut self) -> std::io::Result<()> {
        let jp = self.journal();
        let entry = match journal::read(&jp)? {
            Found::None => {
                // An empty journal is removed quietly; a missing one costs one failed open.
                if jp.exists() {
                    journal::remove(&jp)?;
                }
                return Ok(());
            }
            Found::Torn => {
                journal::remove(&jp)?;
                (self.say)(&format!(
                    "Datalog journal {} was cut short while it was written (vpnmon was killed or the power failed); the cycle it held had not reached the datalog and was discarded",
                    jp.display()
                ));
                return Ok(());
            }
            Found::Entry(e) => e,
        };
        let p = self.target_path(&entry.target);
        let mut l = Locked::open(&p, true)?;
        let f = l.file();
        let len = f.metadata()?.len();
        let lost = Lost {
            first: entry.first_cycle,
            last: entry.last_cycle,
            cycles: (entry.last_cycle.saturating_sub(entry.first_cycle) + 1) as usize,
            rows: entry.rows,
        };
        let what = format!("the {} of {}", lost.rows_text(), lost.cycles_text());
        // What is already there after the recorded length: a prefix of the journaled bytes
        // (the append was cut, or done) is kept and only the rest written, so the file never
        // shrinks even when this recovery is itself interrupted; anything else is cut.
        let there = len.saturating_sub(entry.offset);
        let mut tail = Vec::new();
        if len >= entry.offset && there <= entry.bytes.len() as u64 {
            f.seek(SeekFrom::Start(entry.offset))?;
            f.take(there).read_to_end(&mut tail)?;
        }
        let (from, at, how) = if len < entry.offset {
            // Someone else shortened the file meanwhile: nothing of ours to roll back.
            let at = self.finish_line(&p, f, len)?;
            let how = "the file was shorter than recorded (changed by another program); appended them at its end".to_string();
            (0, at, how)
        } else if tail.len() as u64 == there && entry.bytes.starts_with(&tail) {
            let how = if there == entry.bytes.len() as u64 {
                "they had been written whole".to_string()
            } else {
                format!(
                    "{there} of their {} bytes had been written; wrote the rest",
                    entry.bytes.len()
                )
            };
            (tail.len(), len, how)
        } else {
            f.set_len(entry.offset)?;
            let how = format!("cut the {there} bytes after them and wrote them again whole");
            (0, entry.offset, how)
        };
        let f = l.file();
        f.seek(SeekFrom::Start(at))?;
        f.write_all(&entry.bytes[from..])?;
        f.sync_data()?;
        drop(l);
        journal::remove(&jp)?;
        (self.say)(&format!(
            "Datalog file {}: finished an append that was interrupted (vpnmon was killed or the power failed): {what}; {how}",
            p.display()
        ));
        Ok(())
    }

    /// One try at appending one cycle's rows in one journaled write. On failure the datalog
    /// is as before the try (cut back to its length before the write).
    fn commit(&mut self, cycle: &[Record]) -> std::io::Result<()> {
        if self.is_device() {
            // `/dev/null` or a terminal: a stream, nothing to journal, rotate or sync (and no
            // journal file next to it, which would be a file in /dev).
            let mut f = OpenOptions::new().append(true).open(&self.path)?;
            return f.write_all(file_rows(self.format, cycle).as_bytes());
        }
        self.recover()?;
        let (p, target) = self.current();
        let Rotation { max_size, keep, .. } = self.rotation;
        rotate::finish_rotation(&p, keep, self.rename.as_mut())?;
        let text = file_rows(self.format, cycle);
        let size = match std::fs::metadata(&p) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if let Some(max) = max_size {
            if size > 0 && size + text.len() as u64 > max {
                rotate::rotate_files(&p, keep, self.rename.as_mut())?;
            }
        }
        let existed = p.exists();
        let mut l = Locked::open(&p, true)?;
        if !existed {
            journal::sync_dir(&p)?;
        }
        let len = l.file().metadata()?.len();
        let len = self.finish_line(&p, l.file(), len)?;
        // The rows' own buffer (a large sweep's rows are megabytes: not copied again).
        let bytes = if len == 0 {
            let mut b = file_header(self.format).into_bytes();
            b.extend_from_slice(text.as_bytes());
            b
        } else {
            text.into_bytes()
        };
        let lost = Lost::of(cycle);
        let entry = Entry {
            target,
            offset: len,
            first_cycle: lost.first,
            last_cycle: lost.last,
            rows: lost.rows,
            bytes,
        };
        let jp = self.journal();
        if let Err(e) = journal::write(&jp, &entry) {
            // Its append never began: the datalog is untouched.
            let _ = journal::remove(&jp);
            return Err(e);
        }
        let f = l.file();
        let appended = f
            .seek(SeekFrom::Start(len))
            .and_then(|_| (self.append)(f, &entry.bytes))
            .and_then(|()| f.sync_data());
        if let Err(e) = appended {
            // Cut back to the length before the write; if that fails too, the journal stays
            // and the next try (or start) finishes the append, so the cycle is not kept.
            if f.set_len(len).and_then(|()| f.sync_data()).is_ok() {
                let _ = journal::remove(&jp);
            } else {
                return Err(std::io::Error::other(JournalKept(e)));
            }
            return Err(e);
        }
        drop(l);
        // The append is synced: a journal that could not be removed is finished harmlessly
        // (the same bytes written again in place) by the next try.
        let _ = journal::remove(&jp);
        Ok(())
    }

    /// The datalog is a character device (`/dev/null`, a terminal).
    fn is_device(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| crate::input::is_char_device(&m))
    }

    /// Drops the oldest cycles kept in memory beyond the bound (said so); called when a write
    /// failed, so nothing is dropped that could have been written.
    fn bound(&mut self) {
        let mut total: usize = self.held.iter().map(|c| c.len()).sum();
        while total > self.max_held_rows && self.held.len() > 1 {
            let Some(old) = self.held.pop_front() else {
                break;
            };
            total -= old.len();
            let lost = Lost::of(&old);
            (self.say)(&format!(
                "Datalog file {}: more than {} rows kept in memory; dropped the oldest: {lost} and are lost",
                self.path.display(),
                self.max_held_rows
            ));
        }
    }

    /// Writes the held cycles oldest first, each in its own journaled write; returns how many
    /// were written, and the error that stopped it.
    fn drain(&mut self) -> (Vec<Arc<Vec<Record>>>, Option<std::io::Error>) {
        let mut done = Vec::new();
        while let Some(c) = self.held.pop_front() {
            match self.commit(&c) {
                Ok(()) => {
                    self.last_written = c.first().map(|r| r.cycle);
                    done.push(c);
                }
                Err(e) => {
                    match e.get_ref().and_then(|i| i.downcast_ref::<JournalKept>()) {
                        // The journal holds it and finishes it with the next try.
                        Some(_) => {}
                        None => self.held.push_front(c),
                    }
                    return (done, Some(e));
                }
            }
        }
        (done, None)
    }

    /// Writes the held cycles and this one (none for no records), retrying a file in use by
    /// another program `tries` times; what cannot be written stays in memory and is said.
    /// `cancel` says whether the run was stopped (one try only); `stop` ends the pause between
    /// tries at once.
    fn write_cycle(
        &mut self,
        records: Arc<Vec<Record>>,
        cancel: &CancellationToken,
        stop: &mpsc::Receiver<()>,
    ) -> Result<(), DatalogError> {
        // The report's records, shared (not copied): a sweep's records are the run's largest
        // allocation.
        let now = (!records.is_empty()).then(|| Lost::of(&records));
        if !records.is_empty() {
            self.held.push_back(records);
        }
        let mut attempt = 1;
        let mut stopped = false;
        loop {
            let (done, err) = self.drain();
            self.say_written(&done, now, err.is_none());
            let Some(e) = err else {
                return Ok(());
            };
            let cur = self.current().0;
            let in_use = problem(&e) == Problem::InUse;
            if in_use && attempt < self.tries && !stopped && !cancel.is_cancelled() {
                (self.say)(&format!(
                    "Datalog file {} is {}; retrying in {} s (try {} of {})",
                    cur.display(),
                    reason(&e),
                    self.retry_delay.as_secs(),
                    attempt + 1,
                    self.tries
                ));
                if !matches!(
                    stop.recv_timeout(self.retry_delay),
                    Err(mpsc::RecvTimeoutError::Timeout)
                ) {
                    stopped = true;
                }
                attempt += 1;
                continue;
            }
            let not_now = match now {
                Some(l)
                    if self.held.back().and_then(|c| c.first()).map(|r| r.cycle)
                        == Some(l.first) =>
                {
                    format!("{l}; ")
                }
                _ => String::new(),
            };
            self.bound();
            let held = Lost::of_cycles(&self.held);
            (self.say)(&format!(
                "Datalog file {} cannot be written ({}): {not_now}{}; {} ({}) kept in memory, to be written with the next cycle",
                cur.display(),
                reason(&e),
                Ends(self.last_written),
                plural(held.cycles, "cycle"),
                held.rows_text(),
            ));
            return Ok(());
        }
    }

    /// Says which cycles kept from before were written (`now` is the cycle being written, if
    /// any; `None` at the end).
    fn say_written(&mut self, done: &[Arc<Vec<Record>>], now: Option<Lost>, all: bool) {
        let earlier: Vec<&Arc<Vec<Record>>> = done
            .iter()
            .filter(|c| now.is_none_or(|n| c.first().map(|r| r.cycle) != Some(n.first)))
            .collect();
        if earlier.is_empty() {
            return;
        }
        let l = Lost::of_cycles(earlier);
        let when = match now {
            Some(n) if all => format!("before cycle {}", n.first),
            Some(_) => "(the rest could not be written)".to_string(),
            None => "at the end".to_string(),
        };
        let cur = self.current().0;
        (self.say)(&format!(
            "Datalog file {}: wrote {} kept in memory ({} of {}) {when}",
            cur.display(),
            plural(l.cycles, "held cycle"),
            l.rows_text(),
            l.cycles_text(),
        ));
    }

    /// The last try at the end for rows still kept in memory.
    fn finish(&mut self) -> Result<(), DatalogError> {
        let (done, err) = self.drain();
        self.say_written(&done, None, true);
        let Some(e) = err else {
            return Ok(());
        };
        let lost = Lost::of_cycles(&self.held);
        self.held.clear();
        if lost.cycles == 0 {
            // Left in the journal, which the next start finishes.
            let m = format!(
                "Datalog file {} could not be written when vpnmon ended ({}); the last cycle waits in {} and is written at the next start",
                self.current().0.display(),
                reason(&e),
                self.journal().display()
            );
            (self.say)(&m);
            return Ok(());
        }
        Err(DatalogError::NotWritten {
            path: self.current().0,
            reason: reason(&e),
            lost,
            ends: Ends(self.last_written),
        })
    }

    /// The start-up check, before the first cycle: a journal left by a kill is finished, a
    /// last line without a line end is ended, and a datalog that can never be written (its
    /// folder does not exist, it is a folder, permission denied, a read-only file system) is
    /// an error. A file in use by another program or a full disk is only said: the monitor
    /// keeps its rows in memory until they can be written.
    fn start(&mut self) -> Result<(), DatalogError> {
        let (p, _) = self.current();
        let unwritable = |reason: String, advice: &str| DatalogError::Unwritable {
            path: p.clone(),
            reason,
            advice: advice.to_string(),
        };
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(unwritable(
                    format!("{} is not a folder", dir.display()),
                    "choose another --datalog",
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unwritable(
                    format!("its folder {} does not exist", dir.display()),
                    "create the folder or choose another --datalog",
                ))
            }
            Err(e) => return Err(unwritable(reason(&e), "check the folder's permissions")),
        }
        if p.is_dir() {
            return Err(unwritable(
                "it is a folder".into(),
                "choose a file name with --datalog",
            ));
        }
        // A path that cannot even be looked at (`file.txt/d.csv`: not a folder; a loop of
        // links; a name too long) can never be written either.
        if let Err(e) = std::fs::symlink_metadata(&p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(unwritable(reason(&e), "choose another --datalog"));
            }
        }
        if let Ok(m) = std::fs::metadata(&self.path) {
            if crate::input::is_char_device(&m) {
                // `--datalog /dev/null`: written as a stream (see `commit`).
                return match OpenOptions::new().append(true).open(&self.path) {
                    Ok(_) => Ok(()),
                    Err(e) => Err(unwritable(reason(&e), "choose another --datalog")),
                };
            }
            if !m.is_file() {
                // A FIFO could block every write, a block device is a disk: neither is a log.
                return Err(unwritable(
                    format!(
                        "it is {}, not a regular file",
                        crate::input::kind_of(&m.file_type())
                    ),
                    "choose a regular file with --datalog (or /dev/null for no datalog)",
                ));
            }
        }
        let fatal = |e: &std::io::Error| {
            matches!(problem(e), Problem::PermissionDenied | Problem::ReadOnly)
        };
        let advice = |e: &std::io::Error| {
            match problem(e) {
            Problem::ReadOnly => "its file system is mounted read-only; choose a datalog on a writable one with --datalog",
            Problem::PermissionDenied if is_eperm(e) => "remove the attribute (chattr -i -a) or choose another --datalog",
            _ => "make the file and its folder writable for this user, or choose another --datalog; vpnmon checks this before the first cycle",
        }
        };
        if let Err(e) = self.recover() {
            if fatal(&e) {
                return Err(unwritable(reason(&e), advice(&e)));
            }
            (self.say)(&format!(
                "Datalog file {}: an interrupted append could not be finished yet ({}); it will be tried again before the first cycle's rows",
                p.display(),
                reason(&e)
            ));
        }
        // The journal must be creatable next to the datalog: a folder that is not writable
        // would fail every cycle.
        let jp = self.journal();
        if !jp.exists() {
            if let Err(e) = OpenOptions::new().write(true).create_new(true).open(&jp) {
                if fatal(&e) {
                    return Err(unwritable(reason(&e), advice(&e)));
                }
            }
            let _ = journal::remove(&jp);
        }
        if p.exists() {
            match Locked::open(&p, false) {
                Ok(mut l) => {
                    let f = l.file();
                    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                    if let Err(e) = self.finish_line(&p, l.file(), len) {
                        (self.say)(&format!(
                            "Datalog file {}: cannot end its last line ({}); tried again before the first cycle's rows",
                            p.display(),
                            reason(&e)
                        ));
                    }
                }
                Err(e) if fatal(&e) => return Err(unwritable(reason(&e), advice(&e))),
                Err(e) => (self.say)(&format!(
                    "Datalog file {} cannot be written now ({}); vpnmon monitors anyway and keeps the rows in memory until it can",
                    p.display(),
                    reason(&e)
                )),
            }
        }
        Ok(())
    }
}

enum Job {
    /// One cycle's rows.
    Cycle {
        records: Arc<Vec<Record>>,
        cancel: CancellationToken,
        stop: mpsc::Receiver<()>,
        reply: oneshot::Sender<Result<(), DatalogError>>,
    },
    /// The last try for rows kept in memory.
    Finish {
        reply: oneshot::Sender<Result<(), DatalogError>>,
    },
}

/// The datalog writer: configured here, then (from the first cycle on) a thread that owns the
/// file operations. Dropping it ends the thread once its cycle is written.
pub struct DatalogWriter {
    path: PathBuf,
    /// The file side while it is being configured, before the first write moves it to its
    /// thread.
    file: Option<Box<FileWriter>>,
    /// The thread's job queue, once started.
    jobs: Option<mpsc::Sender<Job>>,
}

impl DatalogWriter {
    pub fn new(path: &Path) -> DatalogWriter {
        DatalogWriter {
            path: path.to_path_buf(),
            file: Some(Box::new(FileWriter {
                path: path.to_path_buf(),
                format: DatalogFormat::Vpnmon,
                rotation: Rotation::default(),
                clock: Box::new(SystemClock),
                tries: TRIES,
                retry_delay: RETRY_DELAY,
                max_held_rows: MAX_HELD_ROWS,
                // Not `eprintln!`: a closed stderr must not turn a notice into a panic.
                say: Box::new(|s| {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "{s}");
                }),
                append: Box::new(default_append),
                rename: Box::new(|from, to| std::fs::rename(from, to)),
                held: VecDeque::new(),
                last_written: None,
            })),
            jobs: None,
        }
    }

    /// The writer the settings ask for (`--datalog-format`, `--datalog-max-size`, …).
    pub fn from_config(cfg: &DatalogConfig) -> DatalogWriter {
        DatalogWriter::new(&cfg.path)
            .with_format(cfg.format)
            .with_rotation(cfg.rotation)
    }

    /// Changes the file side's configuration; only before the first write.
    fn configure(mut self, f: impl FnOnce(&mut FileWriter)) -> Self {
        if let Some(file) = self.file.as_deref_mut() {
            f(file);
        }
        self
    }

    pub fn with_format(self, format: DatalogFormat) -> Self {
        self.configure(|f| f.format = format)
    }

    pub fn with_rotation(self, rotation: Rotation) -> Self {
        self.configure(|f| f.rotation = rotation)
    }

    pub fn with_clock(self, clock: Box<dyn Clock>) -> Self {
        self.configure(|f| f.clock = clock)
    }

    /// Where the datalog's messages go (standard error by default).
    pub fn with_messages(self, say: Box<SayFn>) -> Self {
        self.configure(|f| f.say = say)
    }

    /// Tries for a file in use and the pause between them (default [`TRIES`],
    /// [`RETRY_DELAY`]).
    pub fn with_retries(self, tries: u32, retry_delay: Duration) -> Self {
        self.configure(|f| {
            f.tries = tries;
            f.retry_delay = retry_delay;
        })
    }

    /// How many rows may be kept in memory (default [`MAX_HELD_ROWS`]).
    pub fn with_max_held_rows(self, rows: usize) -> Self {
        self.configure(|f| f.max_held_rows = rows)
    }

    #[cfg(test)]
    pub(crate) fn with_append(self, append: Box<AppendFn>) -> Self {
        self.configure(|f| f.append = append)
    }

    #[cfg(test)]
    pub(crate) fn with_rename(self, rename: Box<RenameFn>) -> Self {
        self.configure(|f| f.rename = rename)
    }

    /// The start-up check, before the first cycle opens a VPN: finishes an append a kill
    /// left, ends a last line that has no line end, and fails only for a datalog that can
    /// never be written. Only before the first write.
    pub fn start(&mut self) -> Result<(), DatalogError> {
        match self.file.as_deref_mut() {
            Some(f) => f.start(),
            None => Ok(()),
        }
    }

    /// The writer thread's queue, started on first use.
    fn jobs(&mut self) -> Result<&mpsc::Sender<Job>, String> {
        if self.jobs.is_none() {
            let Some(mut file) = self.file.take() else {
                return Err("it could not be started".into());
            };
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("vpnmon-datalog".into())
                .spawn(move || {
                    for job in rx {
                        match job {
                            Job::Cycle {
                                records,
                                cancel,
                                stop,
                                reply,
                            } => {
                                let _ = reply.send(file.write_cycle(records, &cancel, &stop));
                            }
                            Job::Finish { reply } => {
                                let _ = reply.send(file.finish());
                            }
                        }
                    }
                })
                .map_err(|e| format!("it could not be started: {}", io_reason(&e)))?;
            self.jobs = Some(tx);
        }
        self.jobs
            .as_ref()
            .ok_or_else(|| "it could not be started".to_string())
    }

    /// Writes one cycle's rows, after any kept in memory (nothing for no records). Waits
    /// briefly while the file is in use; a stop (`cancel`) ends the wait at once with one last
    /// try. Rows that cannot be written are kept in memory and said; the error is only for a
    /// writer thread that is gone.
    pub async fn write(
        &mut self,
        records: &Arc<Vec<Record>>,
        cancel: &CancellationToken,
    ) -> Result<(), DatalogError> {
        if records.is_empty() {
            return Ok(());
        }
        let lost = Lost::of(records);
        let (stop_tx, stop_rx) = mpsc::channel();
        let (reply_tx, mut reply) = oneshot::channel();
        let job = Job::Cycle {
            records: Arc::clone(records),
            cancel: cancel.clone(),
            stop: stop_rx,
            reply: reply_tx,
        };
        self.send(job, lost)?;
        let answer = tokio::select! {
            biased;
            r = &mut reply => r,
            () = cancel.cancelled() => {
                // Ends the writer's pause between tries at once: one last try, then its answer.
                let _ = stop_tx.send(());
                reply.await
            }
        };
        answer.unwrap_or_else(|_| Err(self.gone("it ended unexpectedly", lost)))
    }

    fn gone(&self, reason: &str, lost: Lost) -> DatalogError {
        DatalogError::Writer {
            path: self.path.clone(),
            reason: reason.to_string(),
            lost,
        }
    }

    fn send(&mut self, job: Job, lost: Lost) -> Result<(), DatalogError> {
        let sent = match self.jobs() {
            Ok(jobs) => jobs.send(job).is_ok(),
            Err(reason) => return Err(self.gone(&reason, lost)),
        };
        if !sent {
            return Err(self.gone("it ended unexpectedly", lost));
        }
        Ok(())
    }

    /// The last try for rows kept in memory, when vpnmon ends; the error says exactly which
    /// rows were lost.
    pub async fn flush_held(&mut self) -> Result<(), DatalogError> {
        if let Some(f) = self.file.as_deref_mut() {
            // No cycle was ever handed over: nothing is held.
            return f.finish();
        }
        let (reply_tx, reply) = oneshot::channel();
        let none = Lost {
            first: 0,
            last: 0,
            cycles: 0,
            rows: 0,
        };
        // A thread that is gone was said with the cycle that found it.
        if self.send(Job::Finish { reply: reply_tx }, none).is_err() {
            return Ok(());
        }
        reply.await.unwrap_or(Ok(()))
    }

    /// [`DatalogWriter::write`] for callers outside an async runtime (tools, tests); it blocks
    /// the calling thread, so the monitor awaits `write` instead.
    pub fn write_cycle(
        &mut self,
        records: &[Record],
        cancel: &CancellationToken,
    ) -> Result<(), DatalogError> {
        futures::executor::block_on(self.write(&Arc::new(records.to_vec()), cancel))
    }

    /// [`DatalogWriter::flush_held`] outside an async runtime.
    pub fn flush_held_blocking(&mut self) -> Result<(), DatalogError> {
        futures::executor::block_on(self.flush_held())
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::datalog::rotate::{rotated_path, rotating_path};
    use crate::datalog::schema::tests::rec;
    use crate::datalog::schema::{format_record, format_row, rows, JsonRecord, EXTENDED_HEADER};
    use crate::record::{Test, Verdict};
    use chrono::{DateTime, Local, TimeZone};

    #[test]
    fn write_creates_then_appends_and_an_unwritable_path_keeps_the_rows_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let mut s = DatalogWriter::new(&p);
        s.start().unwrap();
        let c = CancellationToken::new();
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        s.write_cycle(&cycle_records(1, 1, at), &c).unwrap();
        s.write_cycle(&cycle_records(2, 1, at), &c).unwrap();
        let rows: String = [cycle_records(1, 1, at), cycle_records(2, 1, at)]
            .iter()
            .flatten()
            .map(format_row)
            .collect();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), rows);
        assert!(!journal::journal_path(&p).exists());
        // A folder as the datalog: fatal at start-up, before any cycle.
        let e = DatalogWriter::new(dir.path()).start().unwrap_err();
        assert!(matches!(e, DatalogError::Unwritable { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "Cannot write the vpnmon datalog file {} (it is a folder); choose a file name with --datalog",
                dir.path().display()
            )
        );
        let e = DatalogWriter::new(&dir.path().join("no/such/d.csv"))
            .start()
            .unwrap_err();
        assert!(
            e.to_string().contains("(its folder ") && e.to_string().contains("does not exist)"),
            "{e}"
        );
        // Found only mid-run (the path became a folder): the rows are kept in memory, said,
        // and the last try at the end names exactly what was lost.
        let (mut s, said) = collecting(DatalogWriter::new(dir.path()));
        s.write_cycle(&cycle_records(7, 3, at), &c).unwrap();
        s.write_cycle(&cycle_records(8, 0, at), &c).unwrap();
        let said = said.lock().unwrap().clone();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].contains(": the 4 rows of cycle 7 were not written; no row of this run is in the datalog; 1 cycle (4 rows) kept in memory, to be written with the next cycle"),
            "{said:?}"
        );
        assert!(
            said[1].contains(": the 1 row of cycle 8 was not written; no row of this run is in the datalog; 2 cycles (5 rows) kept in memory"),
            "{said:?}"
        );
        let e = s.flush_held_blocking().unwrap_err();
        assert!(matches!(e, DatalogError::NotWritten { .. }), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("the 5 rows of cycles 7 to 8 were not written; no row of this run is in the datalog"),
            "{e}"
        );
    }

    /// What a kill leaves at every moment of a journaled write, and what start-up makes of it:
    /// the journal cut anywhere (discarded, the datalog untouched), the append cut anywhere
    /// (rolled back and written whole), the append done but the journal not yet removed
    /// (written again in place, not twice). Every format, and a file ending mid-line.
    #[test]
    fn start_finishes_or_discards_what_a_kill_left_in_every_format() {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        for format in [
            DatalogFormat::Vpnmon,
            DatalogFormat::Extended,
            DatalogFormat::Jsonl,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("d.csv");
            let c = CancellationToken::new();
            let mut s = DatalogWriter::new(&p).with_format(format);
            s.write_cycle(&cycle_records(1, 2, at), &c).unwrap();
            let before = std::fs::read(&p).unwrap();
            let second = rows(format, &cycle_records(2, 2, at)).into_bytes();
            let entry = Entry {
                target: Target::Live,
                offset: before.len() as u64,
                first_cycle: 2,
                last_cycle: 2,
                rows: 3,
                bytes: second.clone(),
            };
            let whole = [before.clone(), second.clone()].concat();
            let jp = journal::journal_path(&p);
            let encoded = journal::encode(&entry);
            // Killed while writing the journal: discarded, the datalog as it was.
            for cut in [0, 5, encoded.len() / 2, encoded.len() - 1] {
                std::fs::write(&jp, &encoded[..cut]).unwrap();
                let (mut s, said) = collecting(DatalogWriter::new(&p).with_format(format));
                s.start().unwrap();
                assert_eq!(
                    std::fs::read(&p).unwrap(),
                    before,
                    "{format:?} journal cut at {cut}"
                );
                assert!(!jp.exists());
                let said = said.lock().unwrap();
                if cut == 0 {
                    // Created, nothing written: removed quietly.
                    assert!(said.is_empty(), "{said:?}");
                } else {
                    assert!(
                        said[0].contains("was cut short while it was written"),
                        "{said:?}"
                    );
                }
            }
            // Killed during or after the append: the cycle is in the file whole, once.
            for cut in [0, 1, second.len() / 2, second.len() - 1, second.len()] {
                std::fs::write(&p, &whole[..before.len() + cut]).unwrap();
                std::fs::write(&jp, &encoded).unwrap();
                let (mut s, said) = collecting(DatalogWriter::new(&p).with_format(format));
                s.start().unwrap();
                assert_eq!(
                    std::fs::read(&p).unwrap(),
                    whole,
                    "{format:?} append cut at {cut}"
                );
                assert!(!jp.exists());
                let said = said.lock().unwrap();
                assert!(said[0].contains("finished an append that was interrupted (vpnmon was killed or the power failed): the 3 rows of cycle 2;"), "{said:?}");
            }
            // Something else after the recorded length (not the journaled bytes): cut, then
            // the cycle written whole.
            std::fs::write(&p, [&before[..], b"garbage from elsewhere\n"].concat()).unwrap();
            std::fs::write(&jp, &encoded).unwrap();
            let (mut s, said) = collecting(DatalogWriter::new(&p).with_format(format));
            s.start().unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), whole, "{format:?} garbage");
            assert!(
                said.lock().unwrap()[0]
                    .ends_with("cut the 23 bytes after them and wrote them again whole"),
                "{said:?}"
            );
            // Another tool left a line without its end: it is ended, never glued onto.
            std::fs::write(&p, [&whole[..], b"49,2026/12/01,21:43:43,Tar"].concat()).unwrap();
            let (mut s, said) = collecting(DatalogWriter::new(&p).with_format(format));
            s.start().unwrap();
            s.write_cycle(&cycle_records(3, 0, at), &c).unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.ends_with(&format!(
                    "49,2026/12/01,21:43:43,Tar\n{}",
                    rows(format, &cycle_records(3, 0, at))
                )),
                "{text}"
            );
            assert_eq!(said.lock().unwrap().len(), 1, "{said:?}");
            assert!(said.lock().unwrap()[0].contains("ended in the middle of a line"));
        }
    }

    /// A write cut short by a full disk is cut back: the file holds whole cycles only, the
    /// rows are kept and written once space is free, nothing glued onto a fragment.
    #[test]
    fn a_full_disk_mid_write_is_cut_back_and_the_rows_written_later() {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f2 = full.clone();
        let (mut s, said) = collecting(DatalogWriter::new(&p));
        s = s.with_append(Box::new(move |f, bytes| {
            if f2.load(std::sync::atomic::Ordering::SeqCst) {
                f.write_all(&bytes[..bytes.len() - 7])?;
                Err(std::io::Error::from_raw_os_error(28))
            } else {
                default_append(f, bytes)
            }
        }));
        let c = CancellationToken::new();
        s.write_cycle(&cycle_records(48, 3, at), &c).unwrap();
        full.store(true, std::sync::atomic::Ordering::SeqCst);
        s.write_cycle(&cycle_records(49, 19, at), &c).unwrap();
        let one: String = cycle_records(48, 3, at).iter().map(format_row).collect();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), one);
        #[cfg(unix)]
        assert!(
            said.lock().unwrap()[0].ends_with("cannot be written (no space left on device): the 20 rows of cycle 49 were not written; the datalog ends at cycle 48; 1 cycle (20 rows) kept in memory, to be written with the next cycle"),
            "{said:?}"
        );
        full.store(false, std::sync::atomic::Ordering::SeqCst);
        s.write_cycle(&cycle_records(50, 1, at), &c).unwrap();
        let all: String = [48, 49, 50]
            .iter()
            .zip([3, 19, 1])
            .flat_map(|(&c, n)| cycle_records(c, n, at))
            .map(|r| format_row(&r))
            .collect();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), all);
        assert!(said.lock().unwrap()[1]
            .ends_with("wrote 1 held cycle kept in memory (20 rows of cycle 49) before cycle 50"));
    }

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct FakeClock(std::sync::Arc<std::sync::Mutex<DateTime<Local>>>);

    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Local> {
            *self.0.lock().unwrap()
        }
    }

    impl FakeClock {
        fn at(t: DateTime<Local>) -> FakeClock {
            FakeClock(std::sync::Arc::new(std::sync::Mutex::new(t)))
        }
        fn set(&self, t: DateTime<Local>) {
            *self.0.lock().unwrap() = t;
        }
    }

    /// The records of cycle `c`: a gateway ping and `n` targets, stamped `at`.
    fn cycle_records(c: u64, n: usize, at: DateTime<Local>) -> Vec<Record> {
        let mut v = vec![Record {
            cycle: c,
            at,
            ..rec(Test::VpnPing, Verdict::Good, "gw.example", "VPN Gateway")
        }];
        for i in 0..n {
            v.push(Record {
                cycle: c,
                at,
                ..rec(
                    Test::TargetPing,
                    if (c as usize + i).is_multiple_of(7) {
                        Verdict::Fail
                    } else {
                        Verdict::Good
                    },
                    &format!("10.0.0.{i}"),
                    &format!("Host {i}"),
                )
            });
        }
        v
    }

    /// All files in `dir`, each file's rows grouped by cycle number.
    fn rows_in(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
        out.sort();
        out
    }

    fn assert_whole_cycles(text: &str, format: DatalogFormat) {
        // Each file holds whole cycles: every cycle number's rows are contiguous and complete.
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for l in text.lines() {
            if l.starts_with("cycle,") {
                continue;
            }
            let c = match format {
                DatalogFormat::Jsonl => serde_json::from_str::<JsonRecord>(l)
                    .unwrap()
                    .cycle
                    .to_string(),
                _ => l.split(',').next().unwrap().to_string(),
            };
            *counts.entry(c).or_default() += 1;
        }
        assert!(counts.values().all(|&n| n == 4), "{counts:?}");
    }

    #[test]
    fn size_rotation_keeps_whole_cycles_and_loses_or_duplicates_nothing() {
        for format in [
            DatalogFormat::Vpnmon,
            DatalogFormat::Extended,
            DatalogFormat::Jsonl,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("vpnmon_datalog.csv");
            let clock = FakeClock::at(Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap());
            let max = 1200; // a jsonl cycle with its site fields fits
            let mut s = DatalogWriter::new(&p)
                .with_format(format)
                .with_rotation(Rotation {
                    max_size: Some(max),
                    keep: 100,
                    daily: false,
                })
                .with_clock(Box::new(clock.clone()));
            let c = CancellationToken::new();
            let mut expected = String::new();
            for cycle in 1..=40u64 {
                let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
                    + chrono::Duration::minutes(30 * cycle as i64);
                clock.set(at);
                let recs = cycle_records(cycle, 3, at);
                expected.extend(recs.iter().map(|r| format_record(format, r)));
                s.write_cycle(&recs, &c).unwrap();
            }
            let files = rows_in(dir.path());
            assert!(
                files.len() > 3,
                "{format:?}: expected several files, got {}",
                files.len()
            );
            // Oldest first: .N … .1, then the current file.
            let mut ordered: Vec<&(String, String)> = files.iter().collect();
            let rank = |name: &str| -> i64 {
                name.rsplit('.')
                    .next()
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            ordered.sort_by_key(|(n, _)| -rank(n));
            let mut joined = String::new();
            for (name, text) in &ordered {
                assert!(text.len() as u64 <= max, "{name} is {} bytes", text.len());
                assert_whole_cycles(text, format);
                if format == DatalogFormat::Extended {
                    assert!(text.starts_with(EXTENDED_HEADER), "{name} lacks the header");
                    joined.push_str(&text[EXTENDED_HEADER.len()..]);
                } else {
                    joined.push_str(text);
                }
            }
            assert_eq!(joined, expected, "{format:?}");
        }
    }

    #[test]
    fn size_rotation_drops_only_beyond_keep() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let mut s = DatalogWriter::new(&p).with_rotation(Rotation {
            max_size: Some(300),
            keep: 2,
            daily: false,
        });
        let c = CancellationToken::new();
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        for cycle in 1..=20 {
            s.write_cycle(&cycle_records(cycle, 3, at), &c).unwrap();
        }
        let names: Vec<String> = rows_in(dir.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["d.csv", "d.csv.1", "d.csv.2"]);
        // The newest rows are in d.csv, the ones before in .1, then .2, contiguous.
        let last = std::fs::read_to_string(&p).unwrap();
        let one = std::fs::read_to_string(rotated_path(&p, 1)).unwrap();
        let two = std::fs::read_to_string(rotated_path(&p, 2)).unwrap();
        let first_cycle = |t: &str| t.split(',').next().unwrap().parse::<u64>().unwrap();
        let last_cycle = |t: &str| {
            t.lines()
                .last()
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(last_cycle(&last), 20);
        assert_eq!(last_cycle(&one) + 1, first_cycle(&last));
        assert_eq!(last_cycle(&two) + 1, first_cycle(&one));
    }

    #[test]
    fn daily_rotation_puts_each_cycle_in_its_days_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vpnmon_datalog.csv");
        let start = Local.with_ymd_and_hms(2024, 3, 1, 20, 0, 0).unwrap();
        let clock = FakeClock::at(start);
        let mut s = DatalogWriter::new(&p)
            .with_rotation(Rotation {
                max_size: None,
                keep: 5,
                daily: true,
            })
            .with_clock(Box::new(clock.clone()));
        let c = CancellationToken::new();
        let mut per_day: std::collections::BTreeMap<String, String> = Default::default();
        // Every 50 minutes for three days; the rows are stamped 20 minutes before the write, so
        // a cycle that starts before midnight and ends after it goes whole into the new day.
        for cycle in 1..=90u64 {
            let end = start + chrono::Duration::minutes(50 * cycle as i64);
            clock.set(end);
            let recs = cycle_records(cycle, 3, end - chrono::Duration::minutes(20));
            per_day
                .entry(format!("vpnmon_datalog-{}.csv", end.format("%Y-%m-%d")))
                .or_default()
                .extend(recs.iter().map(format_row));
            s.write_cycle(&recs, &c).unwrap();
        }
        let files: std::collections::BTreeMap<String, String> =
            rows_in(dir.path()).into_iter().collect();
        assert_eq!(files, per_day);
        assert_eq!(files.len(), 4);
        for text in files.values() {
            assert_whole_cycles(text, DatalogFormat::Vpnmon);
        }
    }

    /// An error as a busy file gives it (a lock held by another program).
    fn busy() -> std::io::Error {
        locked()
    }

    type Said = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

    fn collecting(s: DatalogWriter) -> (DatalogWriter, Said) {
        let said = Said::default();
        let s2 = said.clone();
        let s = s.with_messages(Box::new(move |m| s2.lock().unwrap().push(m.to_string())));
        (s, said)
    }

    #[test]
    fn busy_file_is_retried_then_written_or_kept_in_memory() {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        for (busy_times, ok) in [(2, true), (3, false)] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("d.csv");
            let mut left = busy_times;
            let (mut s, said) = collecting(DatalogWriter::new(&p));
            s = s.with_append(Box::new(move |f, bytes| {
                if left > 0 {
                    left -= 1;
                    // Part of the bytes first, as a write cut short does.
                    f.write_all(&bytes[..bytes.len() / 2])?;
                    Err(busy())
                } else {
                    default_append(f, bytes)
                }
            }));
            s = s.with_retries(TRIES, Duration::from_millis(10));
            let recs = cycle_records(3, 3, at);
            s.write_cycle(&recs, &CancellationToken::new()).unwrap();
            let rows: String = recs.iter().map(format_row).collect();
            {
                let said = said.lock().unwrap();
                assert!(
                    said[0].ends_with(
                        "is in use by another program (locked); retrying in 0 s (try 2 of 3)"
                    ),
                    "{}",
                    said[0]
                );
                if ok {
                    assert_eq!(std::fs::read_to_string(&p).unwrap(), rows);
                    assert_eq!(said.len(), 2, "{said:?}");
                } else {
                    assert_eq!(said.len(), 3, "3 tries, 2 retries, then kept: {said:?}");
                    assert!(
                        said[2].ends_with("cannot be written (in use by another program (locked)): the 4 rows of cycle 3 were not written; no row of this run is in the datalog; 1 cycle (4 rows) kept in memory, to be written with the next cycle"),
                        "{}", said[2]
                    );
                    // Cut back: nothing of the cycle is in the file.
                    assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
                }
            }
            if !ok {
                // The next cycle writes the kept one first, and says so.
                let next = cycle_records(4, 1, at);
                s.write_cycle(&next, &CancellationToken::new()).unwrap();
                let all: String = recs.iter().chain(&next).map(format_row).collect();
                assert_eq!(std::fs::read_to_string(&p).unwrap(), all);
                let said = said.lock().unwrap();
                assert!(
                    said[3].ends_with(
                        ": wrote 1 held cycle kept in memory (4 rows of cycle 3) before cycle 4"
                    ),
                    "{said:?}"
                );
            }
            assert!(!journal::journal_path(&p).exists());
        }
    }

    /// A stop (Ctrl-C) during the wait for a busy file ends the wait at once with one last try;
    /// if the file is still busy, the rows are kept for the last try at the end, whose error
    /// says which rows were lost.
    #[test]
    fn a_stop_while_busy_ends_the_wait_with_one_last_try() {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::Arc;
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        for free_on_last_try in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("d.csv");
            let cancel = CancellationToken::new();
            let c2 = cancel.clone();
            let mut s = DatalogWriter::new(&p).with_messages(Box::new(move |_| c2.cancel()));
            let calls = Arc::new(AtomicU32::new(0));
            let calls2 = calls.clone();
            s = s.with_append(Box::new(move |f, bytes| {
                let n = calls2.fetch_add(1, Ordering::SeqCst) + 1;
                if free_on_last_try && n == 2 {
                    default_append(f, bytes)
                } else {
                    Err(busy())
                }
            }));
            // Far longer than the test may take: only the stop can end the wait.
            s = s.with_retries(TRIES, Duration::from_secs(600));
            let recs = cycle_records(12, 2, at);
            let started = std::time::Instant::now();
            s.write_cycle(&recs, &cancel).unwrap();
            assert!(started.elapsed() < Duration::from_secs(30));
            assert_eq!(
                calls.load(Ordering::SeqCst),
                2,
                "the first try and one last"
            );
            let r = s.flush_held_blocking();
            if free_on_last_try {
                r.unwrap();
                let rows: String = recs.iter().map(format_row).collect();
                assert_eq!(std::fs::read_to_string(&p).unwrap(), rows);
            } else {
                let e = r.unwrap_err();
                assert_eq!(calls.load(Ordering::SeqCst), 3, "and the one at the end");
                assert!(matches!(e, DatalogError::NotWritten { .. }), "{e:?}");
                assert_eq!(
                    e.to_string(),
                    format!("The vpnmon datalog file {} could not be written when vpnmon ended (in use by another program (locked)); the 3 rows of cycle 12 were not written; no row of this run is in the datalog", p.display())
                );
            }
        }
        // Already stopped before the write (the cycle was cut short by Ctrl-C): one try only.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let (mut s, said) = collecting(DatalogWriter::new(&p));
        let mut tries = 0;
        s = s.with_append(Box::new(move |_, _| {
            tries += 1;
            assert!(tries <= 2, "one try now, one at the end");
            Err(busy())
        }));
        let cancel = CancellationToken::new();
        cancel.cancel();
        s.write_cycle(&cycle_records(5, 0, at), &cancel).unwrap();
        assert_eq!(said.lock().unwrap().len(), 1, "{said:?}");
        let e = s.flush_held_blocking().unwrap_err();
        assert!(
            e.to_string()
                .contains("the 1 row of cycle 5 was not written"),
            "{e}"
        );
    }

    /// More rows than the bound kept in memory: the oldest cycles are dropped, said so, and
    /// the rest written in order once the file takes them.
    #[test]
    fn the_rows_kept_in_memory_are_bounded_oldest_dropped_first() {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let busy_now = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let b2 = busy_now.clone();
        let (mut s, said) = collecting(DatalogWriter::new(&p).with_max_held_rows(10));
        s = s.with_retries(1, Duration::ZERO);
        s = s.with_append(Box::new(move |f, bytes| {
            if b2.load(std::sync::atomic::Ordering::SeqCst) {
                Err(std::io::Error::from_raw_os_error(28))
            } else {
                default_append(f, bytes)
            }
        }));
        let c = CancellationToken::new();
        for cycle in 1..=4 {
            s.write_cycle(&cycle_records(cycle, 3, at), &c).unwrap();
        }
        busy_now.store(false, std::sync::atomic::Ordering::SeqCst);
        s.write_cycle(&cycle_records(5, 3, at), &c).unwrap();
        let said = said.lock().unwrap().clone();
        #[cfg(unix)]
        assert!(said[0].contains("cannot be written (no space left on device): the 4 rows of cycle 1 were not written"), "{said:?}");
        let dropped: Vec<&String> = said.iter().filter(|l| l.contains("dropped")).collect();
        assert_eq!(dropped.len(), 2, "{said:?}");
        assert!(dropped[0].ends_with(": more than 10 rows kept in memory; dropped the oldest: the 4 rows of cycle 1 were not written and are lost"), "{said:?}");
        assert!(
            dropped[1].contains("the 4 rows of cycle 2 were not written and are lost"),
            "{said:?}"
        );
        assert!(
            said.last().unwrap().ends_with(
                "wrote 2 held cycles kept in memory (8 rows of cycles 3 to 4) before cycle 5"
            ),
            "{said:?}"
        );
        let rows: String = (3..=5)
            .flat_map(|c| cycle_records(c, 3, at))
            .map(|r| format_row(&r))
            .collect();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), rows);
    }

    /// Writes cycles 1..=`cycles` (3 targets each) to `p` with a size limit of 300 bytes,
    /// calling `before(cycle)` before each; returns the rows of all cycles, oldest first, and
    /// the cycles whose rows were kept in memory (said in `said`) instead of written at once.
    fn rotate_run(
        s: &mut DatalogWriter,
        said: &Said,
        cycles: u64,
        mut before: impl FnMut(u64),
    ) -> (String, Vec<u64>) {
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        let c = CancellationToken::new();
        let (mut all, mut kept) = (String::new(), Vec::new());
        for cycle in 1..=cycles {
            before(cycle);
            let recs = cycle_records(cycle, 3, at);
            let n = said.lock().unwrap().len();
            s.write_cycle(&recs, &c).unwrap();
            if said.lock().unwrap()[n..]
                .iter()
                .any(|l| l.contains("kept in memory, to be written"))
            {
                kept.push(cycle);
            }
            all.extend(recs.iter().map(format_row));
        }
        (all, kept)
    }

    /// The datalog's files joined oldest first (`.N` … `.1`, the live file).
    fn joined(p: &Path, keep: u32) -> String {
        let mut out = String::new();
        for i in (1..=keep).rev() {
            out.push_str(&std::fs::read_to_string(rotated_path(p, i)).unwrap_or_default());
        }
        out + &std::fs::read_to_string(p).unwrap_or_default()
    }

    /// A rename made busy (a spreadsheet holding the live file, or an old rotated one) any
    /// number of times below the tries: the files come out exactly as with no busy rename at
    /// all, so no rotated file and no row is lost or written twice.
    #[test]
    fn busy_renames_while_rotating_lose_no_file_and_no_row() {
        use std::sync::{Arc, Mutex};
        let rotation = Rotation {
            max_size: Some(300),
            keep: 3,
            daily: false,
        };
        let base_dir = tempfile::tempdir().unwrap();
        let base_p = base_dir.path().join("d.csv");
        let (mut base, base_said) = collecting(DatalogWriter::new(&base_p).with_rotation(rotation));
        let (base_rows, failed) = rotate_run(&mut base, &base_said, 30, |_| {});
        assert!(failed.is_empty());
        let baseline = rows_in(base_dir.path());
        assert_eq!(baseline.len(), 4, "{baseline:?}");
        assert!(base_rows.ends_with(&joined(&base_p, 3)));
        for victim in ["live", "rotating", "shift .1", "shift .2"] {
            for busy_n in [1u32, 2, 4] {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("d.csv");
                let left = Arc::new(Mutex::new(0u32));
                let hits = Arc::new(Mutex::new(0u32));
                let (l2, h2, p2) = (left.clone(), hits.clone(), p.clone());
                let (mut s, said) = collecting(DatalogWriter::new(&p).with_rotation(rotation));
                // More tries than busy renames: every cycle is written in its turn.
                s = s.with_retries(5, Duration::ZERO);
                s = s.with_rename(Box::new(move |from, to| {
                    let target = match victim {
                        "live" => p2.clone(),
                        "rotating" => rotating_path(&p2),
                        "shift .1" => rotated_path(&p2, 1),
                        _ => rotated_path(&p2, 2),
                    };
                    let mut left = l2.lock().unwrap();
                    if from == target && *left > 0 {
                        *left -= 1;
                        *h2.lock().unwrap() += 1;
                        return Err(busy());
                    }
                    std::fs::rename(from, to)
                }));
                // Busy from cycle 10 on, when all of .1 … .3 exist.
                let (rows, failed) = rotate_run(&mut s, &said, 30, |c| {
                    if c >= 10 {
                        *left.lock().unwrap() = busy_n;
                    }
                });
                let what = format!("{victim} busy {busy_n} times");
                assert!(failed.is_empty(), "{what}: {failed:?}");
                assert!(*hits.lock().unwrap() >= busy_n * 3, "{what}: never busy");
                assert!(!said.lock().unwrap().is_empty(), "{what}");
                assert_eq!(rows, base_rows, "{what}");
                assert_eq!(rows_in(dir.path()), baseline, "{what}");
            }
        }
    }

    /// A rotation given up while busy (or cut by a kill) leaves `.rotating`; the next write
    /// finishes it first, so that file lands in `.1` in order and nothing is lost.
    #[test]
    fn a_rotation_left_half_done_is_finished_by_the_next_write() {
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let keep = 100;
        let busy_cycles = Arc::new(Mutex::new(false));
        let b2 = busy_cycles.clone();
        let rp = rotating_path(&p);
        let (mut s, said) = collecting(DatalogWriter::new(&p).with_rotation(Rotation {
            max_size: Some(300),
            keep,
            daily: false,
        }));
        s = s.with_retries(TRIES, Duration::ZERO);
        // The final rename (`.rotating` → `.1`) is busy through every try of cycle 12.
        s = s.with_rename(Box::new(move |from, to| {
            if *b2.lock().unwrap() && from == rp {
                return Err(busy());
            }
            std::fs::rename(from, to)
        }));
        let (rows, failed) = rotate_run(&mut s, &said, 30, |c| {
            *busy_cycles.lock().unwrap() = c == 12;
            if c == 13 {
                // What the failed cycle left behind.
                assert!(rotating_path(&p).exists());
            }
        });
        // Cycle 12 was kept in memory and written, in order, before cycle 13.
        assert_eq!(failed, [12]);
        assert!(!rotating_path(&p).exists());
        let at = Local.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
        let expected: String = (1..=30u64)
            .flat_map(|c| cycle_records(c, 3, at))
            .map(|r| format_row(&r))
            .collect();
        assert_eq!(rows, expected);
        assert_eq!(joined(&p, keep), expected);
        for (name, text) in rows_in(dir.path()) {
            assert!(text.len() <= 300, "{name}");
            assert_whole_cycles(&text, DatalogFormat::Vpnmon);
        }

        // Left by a kill between the first rename and the shift: finished on the next write.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(rotated_path(&p, 1), "old\n").unwrap();
        std::fs::write(rotating_path(&p), "newer\n").unwrap();
        let mut s = DatalogWriter::new(&p).with_rotation(Rotation {
            max_size: Some(10_000),
            keep: 5,
            daily: false,
        });
        let recs = cycle_records(1, 0, at);
        s.write_cycle(&recs, &CancellationToken::new()).unwrap();
        assert_eq!(
            rows_in(dir.path()),
            [
                ("d.csv".to_string(), format_row(&recs[0])),
                ("d.csv.1".to_string(), "newer\n".to_string()),
                ("d.csv.2".to_string(), "old\n".to_string()),
            ]
        );
    }
}
