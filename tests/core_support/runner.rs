//! The one way the tests run a program (vpnmon, or a helper such as `ip` or a lab script):
//! spawned with its stdout and stderr read line by line as they come, a deadline on every wait,
//! waits for an event (a line, the exit) instead of sleeps, signals by pid, and the child always
//! killed and reaped on drop (also when a test panics).
//!
//! The exit is noticed by a thread blocked in `waitid(…, WNOWAIT)`, which does not reap: the
//! child stays ours (its pid cannot be reused) until `Running` reaps it, so a signal sent by pid
//! never reaches another process.

use nix::sys::signal::{self, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;
use std::borrow::BorrowMut;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The vpnmon binary under test.
pub fn vpnmon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vpnmon"))
}

/// A vpnmon command in `dir`: no backtraces (errors are compared), no password from the test's
/// own environment. Arguments are the caller's.
pub fn vpnmon(dir: &Path) -> Command {
    let mut c = Command::new(vpnmon_bin());
    c.current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("VPNMON_PASSWORD")
        .env_remove("VPNMON_SMTP_PASSWORD");
    c
}

/// `vpnmon` in `dir` answering pings from the built-in fake (`--debug-fake-ping`), so the test
/// runs for any user.
pub fn vpnmon_fake_ping(dir: &Path) -> Command {
    let mut c = vpnmon(dir);
    c.arg("--debug-fake-ping");
    c
}

/// A temporary folder holding the targets file `t.csv`, and vpnmon in it (the fake prober, no
/// VPN client, no delay between cycles: `--vpnclient none --targets t.csv --delay 0`). The
/// caller adds the cycles, the datalog and the rest.
#[allow(dead_code)]
pub fn without_vpn_in_temp(targets: &str) -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), targets).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--vpnclient", "none", "--targets", "t.csv", "--delay", "0"]);
    (dir, c)
}

/// One output stream's lines, each as written (with its line end): those a wait has looked at,
/// and those still to come.
struct Lines {
    rx: Receiver<String>,
    seen: Vec<String>,
    closed: bool,
}

/// What `Lines::next` found.
pub enum Next {
    Line(String),
    /// Nothing within the time given.
    Timeout,
    /// The stream ended (the program and everything it started closed it).
    Closed,
}

impl Lines {
    fn read(r: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(r);
            loop {
                let mut raw = Vec::new();
                match r.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(String::from_utf8_lossy(&raw).into_owned()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
            closed: false,
        }
    }

    fn none() -> Lines {
        let (_, rx) = channel();
        Lines {
            rx,
            seen: Vec::new(),
            closed: true,
        }
    }

    fn next(&mut self, within: Duration) -> Next {
        if self.closed {
            return Next::Closed;
        }
        match self.rx.recv_timeout(within) {
            Ok(raw) => {
                let line = strip(&raw).to_string();
                self.seen.push(raw);
                Next::Line(line)
            }
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                Next::Closed
            }
        }
    }

    /// Waits for a line for which `want` holds; panics with what was seen at the deadline.
    fn wait(&mut self, what: &str, within: Duration, want: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + within;
        loop {
            match self.next(end.saturating_duration_since(Instant::now())) {
                Next::Line(l) if want(&l) => return l,
                Next::Line(_) => {}
                Next::Timeout => panic!("no {what} within {within:?}; saw:\n{}", self.text()),
                Next::Closed => panic!("no {what} before the output ended; saw:\n{}", self.text()),
            }
        }
    }

    /// Takes every line already read, without waiting.
    fn take_ready(&mut self) {
        while !self.closed {
            match self.rx.try_recv() {
                Ok(l) => self.seen.push(l),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => self.closed = true,
            }
        }
    }

    /// Everything read so far, byte for byte.
    fn text(&self) -> String {
        self.seen.concat()
    }

    /// Takes the rest until the stream ends, or until `end` (a grandchild may hold the pipe).
    fn take_rest(&mut self, end: Instant) {
        while let Next::Line(_) = self.next(end.saturating_duration_since(Instant::now())) {}
    }
}

/// A line without its line end.
fn strip(raw: &str) -> &str {
    let l = raw.strip_suffix('\n').unwrap_or(raw);
    l.strip_suffix('\r').unwrap_or(l)
}

/// How a program ended, with everything it printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// From the last signal the test sent (or from the start) to the exit.
    pub took: Duration,
    /// Everything it wrote, byte for byte (as UTF-8, lossily).
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Asserts that no test cycle began (an error found at start-up, before any VPN opens).
    #[track_caller]
    #[allow(dead_code)]
    pub fn assert_no_cycle_started(&self, what: &str) {
        assert!(
            !self.stdout.contains("Start vpnmon test cycle"),
            "{what}: a cycle started:\n{}",
            self.stdout
        );
    }

    /// The first stdout line containing `needle`; panics with the whole output otherwise.
    pub fn line_with(&self, needle: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "no line with {needle:?} in:\n{}\n--- stderr:\n{}",
                    self.stdout, self.stderr
                )
            })
    }
}

/// A running program. Killed (SIGKILL, by pid) and reaped on drop unless it was waited for.
pub struct Running {
    child: Child,
    pid: Pid,
    exited: Receiver<()>,
    status: Option<ExitStatus>,
    out: Lines,
    err: Lines,
    started: Instant,
    signalled: Option<Instant>,
}

impl Running {
    /// Spawns `cmd` with stdin from /dev/null and both outputs read line by line.
    pub fn spawn(mut cmd: impl BorrowMut<Command>) -> Running {
        let cmd = cmd.borrow_mut();
        Running::try_spawn(&mut *cmd).unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
    }

    /// `spawn` with stdin from `input` (an open file), for programs that read it.
    pub fn spawn_with_stdin(mut cmd: impl BorrowMut<Command>, input: std::fs::File) -> Running {
        let cmd = cmd.borrow_mut();
        Running::try_spawn_from(&mut *cmd, Stdio::from(input))
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
    }

    /// `spawn`, or why the program could not be started.
    pub fn try_spawn(cmd: impl BorrowMut<Command>) -> std::io::Result<Running> {
        Running::try_spawn_from(cmd, Stdio::null())
    }

    fn try_spawn_from(mut cmd: impl BorrowMut<Command>, stdin: Stdio) -> std::io::Result<Running> {
        let cmd = cmd.borrow_mut();
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let out = child.stdout.take().map_or_else(Lines::none, Lines::read);
        let err = child.stderr.take().map_or_else(Lines::none, Lines::read);
        let pid = Pid::from_raw(child.id() as i32);
        let (tx, exited) = channel();
        std::thread::spawn(move || {
            // Waits for the exit without reaping (WNOWAIT): the pid stays this child's.
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
            while let Err(nix::errno::Errno::EINTR) = waitid(Id::Pid(pid), flags) {}
            let _ = tx.send(());
        });
        Ok(Running {
            child,
            pid,
            exited,
            status: None,
            out,
            err,
            started: Instant::now(),
            signalled: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, waiting at most `within`.
    pub fn next_line(&mut self, within: Duration) -> Next {
        self.out.next(within)
    }

    /// Waits for a stdout line containing `needle`; panics with what was seen at the deadline.
    pub fn wait_line(&mut self, needle: &str, within: Duration) -> String {
        self.out
            .wait(&format!("line with {needle:?}"), within, |l| {
                l.contains(needle)
            })
    }

    /// Waits for a stdout line containing every one of `needles`.
    pub fn wait_line_with_all(&mut self, needles: &[&str], within: Duration) -> String {
        self.out
            .wait(&format!("line with {needles:?}"), within, |l| {
                needles.iter().all(|n| l.contains(n))
            })
    }

    /// Waits for a stderr line for which `want` holds.
    pub fn wait_stderr_line(
        &mut self,
        what: &str,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        self.err.wait(what, within, want)
    }

    /// Sends `sig` to the program (by its pid, which is still ours: it is reaped only here).
    pub fn signal(&mut self, sig: Signal) {
        if self.status.is_none() {
            signal::kill(self.pid, sig).unwrap_or_else(|e| panic!("kill {sig}: {e}"));
            self.signalled = Some(Instant::now());
        }
    }

    /// Sends `sig` to the program's process group (as a terminal's Ctrl-C does); the program
    /// must lead its own group (`CommandExt::process_group(0)`).
    pub fn signal_group(&mut self, sig: Signal) {
        if self.status.is_none() {
            signal::killpg(self.pid, sig).unwrap_or_else(|e| panic!("killpg {sig}: {e}"));
            self.signalled = Some(Instant::now());
        }
    }

    /// Whether the program has ended (without waiting).
    pub fn has_exited(&mut self) -> bool {
        self.status.is_some() || self.exited.try_recv().is_ok() && self.reap().is_some()
    }

    fn reap(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = Some(self.child.wait().expect("reap the child"));
        }
        self.status
    }

    /// Waits for the exit; `None` if it did not come within `within`.
    pub fn try_wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.exited.recv_timeout(within) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => return None,
            }
        }
        self.reap()
    }

    /// Waits for the exit; at the deadline kills the program and fails the test.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        match self.try_wait_exit(within) {
            Some(st) => st,
            None => {
                self.kill();
                panic!(
                    "the program did not exit within {within:?} (killed); stdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                )
            }
        }
    }

    /// Time from the last signal sent (or from the start) to now.
    pub fn since_signal(&self) -> Duration {
        self.signalled.unwrap_or(self.started).elapsed()
    }

    /// Waits for the exit (killing the program and failing the test at the deadline), then for
    /// the rest of its output.
    pub fn finish(mut self, within: Duration) -> Finished {
        let status = self.wait_exit(within);
        let took = self.since_signal();
        let end = Instant::now() + Duration::from_secs(5);
        self.out.take_rest(end);
        self.err.take_rest(end);
        Finished {
            status,
            code: status.code(),
            took,
            stdout: self.out.text(),
            stderr: self.err.text(),
        }
    }

    /// `finish` that gives `None` instead of failing when the deadline passes (the program is
    /// killed and reaped).
    pub fn finish_within(mut self, within: Duration) -> Option<Finished> {
        self.try_wait_exit(within)?;
        Some(self.finish(Duration::ZERO))
    }

    /// Stops reading stdout, as `vpnmon … | head -1` does after its line: the pipe is closed
    /// when the program next writes a line (read by no one), and writes after it fail.
    pub fn close_stdout(&mut self) {
        self.out = Lines::none();
    }

    /// SIGKILL and reap now.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = signal::kill(self.pid, Signal::SIGKILL);
            self.reap();
        }
    }

    /// Stdout so far (the lines already read; waits for nothing).
    pub fn stdout(&mut self) -> String {
        self.out.take_ready();
        self.out.text()
    }

    /// Stderr so far (waits for nothing).
    pub fn stderr(&mut self) -> String {
        self.err.take_ready();
        self.err.text()
    }
}

impl Running {
    /// Stdout so far, then stderr so far (waits for nothing): all it said, for the password
    /// checks.
    pub fn text(&mut self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to its end (killed, and the test failed, after `within`).
pub fn run(cmd: impl BorrowMut<Command>, within: Duration) -> Finished {
    Running::spawn(cmd).finish(within)
}
