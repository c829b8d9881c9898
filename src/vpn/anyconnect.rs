//! Cisco AnyConnect / Secure Client: drives the vendor's command-line client (`vpncli.exe`,
//! `vpn`) through a pseudo-terminal with expectrl's sync API. Every vendor text the driver
//! matches or types is in this file.
//!
//! The CLI is read with short non-blocking polls (≤ 100 ms) so a cancel is seen at once. The
//! tunnel belongs to Cisco's agent, not to the CLI: leaving or killing the CLI does not end it,
//! so every path that may have started a tunnel ends with `disconnect`.

use super::{Credentials, OpenInfo, Secret, VpnClient, VpnError, VpnErrorKind};
use crate::platform::pty::{exit_text, kill_child, wait_readable, OsSession};
use expectrl::Expect;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

// ---- Vendor facts -------------------------------------------------------------------------

/// Where the installers put the CLI, newest product first.
#[cfg(windows)]
pub const STANDARD_PLACES: &[&str] = &[
    r"C:\Program Files (x86)\Cisco\Cisco Secure Client\vpncli.exe",
    r"C:\Program Files (x86)\Cisco\Cisco AnyConnect Secure Mobility Client\vpncli.exe",
];
#[cfg(not(windows))]
pub const STANDARD_PLACES: &[&str] = &[
    "/opt/cisco/secureclient/bin/vpn",
    "/opt/cisco/anyconnect/bin/vpn",
];

/// Programs of the product that must not run while we drive the CLI (exact process names; the
/// GUI, and other copies of the CLI).
#[cfg(windows)]
pub const OTHER_INSTANCES: &[&str] = &["vpnui", "vpncli"];
#[cfg(not(windows))]
pub const OTHER_INSTANCES: &[&str] = &["vpnui", "vpn", "vpncli"];

const PROMPT: &str = "VPN>";
const CMD_CONNECT: &str = "connect";
const CMD_DISCONNECT: &str = "disconnect";
const CMD_STATE: &str = "state";
const CMD_EXIT: &str = "exit";
const STATE_CONNECTED: &str = "state: Connected";
const STATE_CONNECTING: &str = "state: Connecting";
const STATE_DISCONNECTED: &str = "state: Disconnected";
const CONNECTED_TO: &str = "Connected to ";

/// Failure texts the CLI prints, with what they mean. The first that matches a line wins; a
/// later specific one replaces the generic "attempt has failed".
const FAILURES: &[(&str, VpnErrorKind, &str)] = &[
    (
        "Another AnyConnect application is running",
        VpnErrorKind::ClientBusy,
        "another AnyConnect application is running (close the Cisco Secure Client window)",
    ),
    (
        "unsuccessful domain name resolution",
        VpnErrorKind::Unreachable,
        "the gateway's name could not be resolved",
    ),
    (
        "Unable to contact",
        VpnErrorKind::Unreachable,
        "the gateway could not be contacted",
    ),
    (
        "Connection attempt has timed out",
        VpnErrorKind::Timeout,
        "the connection attempt timed out (check Internet connectivity)",
    ),
    (
        "client driver encountered an error",
        VpnErrorKind::Other,
        "the VPN client driver reported an error (restart the computer)",
    ),
    (
        "authentication type is not supported",
        VpnErrorKind::Unsupported,
        "the gateway needs a sign-in the CLI cannot do (single sign-on)",
    ),
    (
        "Please try connecting again",
        VpnErrorKind::Other,
        "the client asked to try connecting again",
    ),
    (
        "Connection attempt has failed",
        VpnErrorKind::Other,
        "the connection attempt failed",
    ),
];
const GENERIC_FAILURE: &str = "Connection attempt has failed";
const LOGIN_FAILED: &[&str] = &["Login failed", "Authentication failed"];
const CERT_UNTRUSTED: &[&str] = &["cannot verify server", "cannot verify the VPN server"];

/// Prompts (the text at the end of output that waits for an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    Vpn,
    Group,
    Username,
    Password,
    SecondFactor,
    Banner,
    ConnectAnyway,
    BlockUntrusted,
    OtherYesNo,
}

fn prompt_of(tail: &str) -> Option<Prompt> {
    let t = tail.trim_end();
    if t.ends_with(PROMPT) {
        return Some(Prompt::Vpn);
    }
    // Second-factor prompts before `Password:` (`Second Password:` ends like it).
    for p in ["Second Password:", "Passcode:", "Answer:"] {
        if t.ends_with(p) {
            return Some(Prompt::SecondFactor);
        }
    }
    if t.ends_with("Password:") {
        return Some(Prompt::Password);
    }
    let bracketed = |label: &str| {
        t.ends_with(label)
            || (t.ends_with(']')
                && t.rfind('[')
                    .is_some_and(|i| t[..i].trim_end().ends_with(label)))
    };
    if bracketed("Username:") {
        return Some(Prompt::Username);
    }
    if bracketed("Group:") {
        return Some(Prompt::Group);
    }
    if t.ends_with("[y/n]:") {
        return Some(if t.ends_with("accept? [y/n]:") {
            Prompt::Banner
        } else if t.ends_with("Connect Anyway? [y/n]:") {
            Prompt::ConnectAnyway
        } else if t.ends_with("blocks untrusted connections? [y/n]:") {
            Prompt::BlockUntrusted
        } else {
            Prompt::OtherYesNo
        });
    }
    None
}

// ---- Settings -------------------------------------------------------------------------------

/// The driver's resolved configuration (built by `settings`).
#[derive(Debug, Clone)]
pub struct AnyConnectConfig {
    /// `--vpncli`; `None` looks in the standard places.
    pub vpncli: Option<PathBuf>,
    pub group: Option<String>,
    pub accept_untrusted_cert: bool,
    /// How long to wait for the client before giving up (`--vpn-timeout`).
    pub timeout: Duration,
    /// The pause before each command typed into vpncli (`--vpncli-delay`).
    pub delay: Duration,
}

impl Default for AnyConnectConfig {
    fn default() -> Self {
        AnyConnectConfig {
            vpncli: None,
            group: None,
            accept_untrusted_cert: false,
            timeout: super::DEFAULT_VPN_TIMEOUT,
            delay: DEFAULT_VPNCLI_DELAY,
        }
    }
}

/// The pause between commands the original used (vpncli dropped faster input).
pub const DEFAULT_VPNCLI_DELAY: Duration = Duration::from_millis(500);
/// How long a cancelled step may still take before the client is killed.
const CANCEL_GRACE: Duration = Duration::from_millis(300);
/// How long a fresh client may take to show its prompt when recovering after a Ctrl-C.
const RECOVER_GRACE: Duration = Duration::from_secs(2);
/// One poll of the client's output.
const POLL: Duration = Duration::from_millis(100);
/// Lines kept for the diagnostic block.
const DIAG_LINES: usize = 25;

// ---- The pseudo-terminal session ------------------------------------------------------------

/// Why waiting for the client stopped without the awaited text.
#[derive(Debug)]
enum Stop {
    Timeout,
    Cancelled,
    /// The client's output ended; the text says how it ended.
    Died(String),
}

enum Event {
    Line(String),
    Prompt(Prompt),
}

struct Cli {
    session: OsSession,
    /// Bytes of the line still being written.
    tail: Vec<u8>,
    /// Complete lines not yet handed out.
    queue: VecDeque<String>,
    /// The last lines, for diagnostics.
    recent: VecDeque<String>,
    eof: bool,
    /// The last event was the `VPN>` prompt.
    at_prompt: bool,
    /// The client's exit status was collected.
    reaped: bool,
}

// SAFETY: on Windows the session holds raw Win32 handles and pointers (pseudo-console, process
// and thread handles, the start-up attribute list), which any thread may use. A `Cli` is owned by
// one driver and used only through `&mut`, so never from two threads at once.
#[cfg(windows)]
unsafe impl Send for Cli {}

impl Cli {
    fn spawn(program: &Path) -> Result<Cli, VpnError> {
        let mut cmd = Command::new(program);
        crate::platform::process::without_secrets(&mut cmd);
        let session = OsSession::spawn(cmd).map_err(|e| {
            VpnError::new(
                VpnErrorKind::ClientMissing,
                format!(
                    "cannot start the Cisco VPN client {}: {e}",
                    program.display()
                ),
            )
        })?;
        Ok(Cli {
            session,
            tail: Vec::new(),
            queue: VecDeque::new(),
            recent: VecDeque::new(),
            eof: false,
            at_prompt: false,
            reaped: false,
        })
    }

    fn remember(&mut self, line: String) {
        if self.recent.len() == DIAG_LINES {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    /// Reads what the client wrote, waiting at most `wait` for the first byte.
    fn pump(&mut self, wait: Duration) {
        if self.eof {
            std::thread::sleep(wait.min(Duration::from_millis(10)));
            return;
        }
        wait_readable(&self.session, wait);
        let mut buf = [0u8; 4096];
        loop {
            match self.session.try_read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    for &b in &buf[..n] {
                        match b {
                            b'\n' => {
                                let raw = String::from_utf8_lossy(&self.tail).into_owned();
                                self.tail.clear();
                                self.queue.push_back(raw.trim_end().to_string());
                                // Kept untrimmed: the password is masked before any trimming
                                // (one ending in a space, echoed at a line's end, would
                                // otherwise lose the space and escape the mask).
                                self.remember(raw);
                            }
                            b'\r' => {}
                            _ => self.tail.push(b),
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO once the client has gone and the terminal's other side is closed.
                Err(_) => {
                    self.eof = true;
                    break;
                }
            }
        }
    }

    /// The next line or prompt, waiting until `deadline`; `cancel` is checked at every poll.
    fn next(&mut self, deadline: Instant, cancel: &CancellationToken) -> Result<Event, Stop> {
        loop {
            if let Some(l) = self.queue.pop_front() {
                self.at_prompt = false;
                return Ok(Event::Line(l));
            }
            let tail = String::from_utf8_lossy(&self.tail).into_owned();
            if let Some(p) = prompt_of(&tail) {
                self.tail.clear();
                self.remember(tail);
                self.at_prompt = p == Prompt::Vpn;
                return Ok(Event::Prompt(p));
            }
            if self.eof {
                return Err(Stop::Died(self.how_it_ended()));
            }
            if cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Stop::Timeout);
            }
            self.pump((deadline - now).min(POLL));
        }
    }

    /// Like `next`, but with `grace` a cancel does not stop the wait: it only brings the deadline
    /// forward to `grace` from when it is seen (`Stop::Timeout` then means "cancelled and the
    /// grace ran out"). Without `grace` a cancel stops the wait at once.
    fn next_within(
        &mut self,
        deadline: &mut Instant,
        cancel: &CancellationToken,
        grace: Option<Duration>,
    ) -> Result<Event, Stop> {
        let Some(grace) = grace else {
            return self.next(*deadline, cancel);
        };
        let never = CancellationToken::new();
        loop {
            let watch = if cancel.is_cancelled() {
                *deadline = (*deadline).min(Instant::now() + grace);
                &never
            } else {
                cancel
            };
            match self.next(*deadline, watch) {
                Err(Stop::Cancelled) => continue,
                r => return r,
            }
        }
    }

    /// Waits for the `VPN>` prompt, handing each line to `on_line` (`grace` as in `next_within`).
    fn until_prompt(
        &mut self,
        mut deadline: Instant,
        cancel: &CancellationToken,
        grace: Option<Duration>,
        mut on_line: impl FnMut(&str),
    ) -> Result<(), Stop> {
        loop {
            match self.next_within(&mut deadline, cancel, grace)? {
                Event::Line(l) => on_line(&l),
                Event::Prompt(Prompt::Vpn) => return Ok(()),
                Event::Prompt(_) => {}
            }
        }
    }

    /// Waits `d` (the client's output waits in the terminal); false when cancelled.
    fn pause(&mut self, d: Duration, cancel: &CancellationToken) -> bool {
        let end = Instant::now() + d;
        loop {
            if cancel.is_cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(POLL / 5));
        }
    }

    fn send(&mut self, text: &str) -> Result<(), Stop> {
        self.session
            .send_line(text)
            .map_err(|e| Stop::Died(format!("the client stopped reading its input ({e})")))
    }

    fn how_it_ended(&mut self) -> String {
        let end = Instant::now() + Duration::from_millis(300);
        loop {
            if let Some(s) = exit_text(&self.session) {
                // The status was collected: the pid may be reused, never signal it again.
                self.reaped = true;
                return s;
            }
            if Instant::now() >= end {
                return "the client's output ended".to_string();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn diagnostics(&self, password: &Secret) -> Vec<String> {
        let tail = String::from_utf8_lossy(&self.tail);
        masked_lines(
            self.recent
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(tail.as_ref())),
            password,
        )
    }

    /// Ends the client process at once and reaps it.
    fn kill(self) {
        kill_child(self.session, self.reaped);
    }
}

/// The client's lines for the diagnostic block: the password masked first, then trimmed, blank
/// lines left out. Besides the exact password, its trimmed form is masked too, for a client that
/// trims what it echoes.
fn masked_lines<'a>(lines: impl Iterator<Item = &'a str>, password: &Secret) -> Vec<String> {
    let exact = password.expose();
    let trimmed = exact.trim();
    lines
        .map(|l| {
            let mut m = password.mask(l);
            if !trimmed.is_empty() && trimmed != exact {
                m = m.replace(trimmed, "********");
            }
            m.trim_end().to_string()
        })
        .filter(|l| !l.trim().is_empty())
        .collect()
}

// ---- The driver ---------------------------------------------------------------------------

pub struct AnyConnect {
    opts: AnyConnectConfig,
    program: Option<PathBuf>,
    cli: Option<Cli>,
    /// A tunnel may be up (the agent's state), so a `disconnect` is owed.
    maybe_up: bool,
    /// The cancel token of the last open, so close() can hurry after a Ctrl-C.
    cancel: CancellationToken,
    password: Secret,
    /// After a Ctrl-C a fresh client did not answer within its grace: later close() calls of the
    /// same stop give up at once instead of waiting for another one.
    unanswered_after_cancel: bool,
}

/// How the connect dialogue went.
enum Outcome {
    Connected(Option<String>),
    Failed(VpnError),
}

impl AnyConnect {
    pub fn new(opts: AnyConnectConfig) -> AnyConnect {
        AnyConnect {
            opts,
            program: None,
            cli: None,
            maybe_up: false,
            cancel: CancellationToken::new(),
            password: Secret::default(),
            unanswered_after_cancel: false,
        }
    }

    /// The client program: `--vpncli`, else the first standard place that exists.
    pub fn find_program(opts: &AnyConnectConfig) -> Result<PathBuf, VpnError> {
        if let Some(p) = &opts.vpncli {
            if p.is_file() {
                return Ok(p.clone());
            }
            return Err(VpnError::new(
                VpnErrorKind::ClientMissing,
                format!(
                    "the Cisco VPN client given with --vpncli was not found: {}; check the path",
                    p.display()
                ),
            ));
        }
        STANDARD_PLACES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                VpnError::new(
                    VpnErrorKind::ClientMissing,
                    format!(
                        "cannot find the Cisco AnyConnect / Secure Client command-line client; looked in: {}; install it or give its path with --vpncli PATH (or use --vpnclient none)",
                        STANDARD_PLACES.join(", ")
                    ),
                )
            })
    }

    fn program(&mut self) -> Result<PathBuf, VpnError> {
        if let Some(p) = &self.program {
            return Ok(p.clone());
        }
        let p = Self::find_program(&self.opts)?;
        self.program = Some(p.clone());
        Ok(p)
    }

    fn fail(&self, cli: &Cli, kind: VpnErrorKind, reason: impl Into<String>) -> VpnError {
        VpnError::new(kind, reason).with_diagnostics(cli.diagnostics(&self.password))
    }

    fn stop_error(&self, cli: &Cli, stop: Stop, during: &str) -> VpnError {
        match stop {
            Stop::Cancelled => {
                VpnError::cancelled().with_diagnostics(cli.diagnostics(&self.password))
            }
            // A timeout after a cancel is a grace period that ran out.
            Stop::Timeout if self.cancel.is_cancelled() => {
                VpnError::cancelled().with_diagnostics(cli.diagnostics(&self.password))
            }
            Stop::Timeout => self.fail(
                cli,
                VpnErrorKind::Timeout,
                format!(
                    "the VPN client did not answer within {} s {during}",
                    self.opts.timeout.as_secs()
                ),
            ),
            Stop::Died(how) => self.fail(cli, VpnErrorKind::ClientDied, format!("{how} {during}")),
        }
    }

    /// Types a command after the pacing delay.
    fn command(&self, cli: &mut Cli, text: &str, cancel: &CancellationToken) -> Result<(), Stop> {
        if !cli.pause(self.opts.delay, cancel) {
            return Err(Stop::Cancelled);
        }
        cli.send(text)
    }

    /// Starts the client and waits for its first prompt, at most `patience`; tells whether its
    /// banner says a tunnel is up. A cancel stops the wait at once, or with `grace` only brings
    /// the deadline forward to `grace` from then (used when the client is started to disconnect).
    fn start(
        &mut self,
        cancel: &CancellationToken,
        patience: Duration,
        grace: Option<Duration>,
    ) -> Result<(Cli, bool), VpnError> {
        let program = self.program()?;
        let mut cli = Cli::spawn(&program)?;
        let deadline = Instant::now() + patience;
        let mut up = false;
        let mut busy = None;
        let r = cli.until_prompt(deadline, cancel, grace, |l| {
            if l.contains(STATE_CONNECTED) {
                up = true;
            } else if l.contains("state:") {
                up = false;
            }
            if let Some(f) = FAILURES.iter().find(|f| l.contains(f.0)) {
                busy.get_or_insert((f.1, f.2));
            }
        });
        if let Err(stop) = r {
            let e = self.stop_error(&cli, stop, "after it started");
            cli.kill();
            return Err(e);
        }
        if let Some((kind, reason)) = busy {
            let e = self.fail(&cli, kind, reason);
            self.finish(cli, cancel);
            return Err(e);
        }
        Ok((cli, up))
    }

    /// `disconnect` until the client says Disconnected and shows its prompt; bounded by the
    /// timeout, or by a short grace once cancelled (a cancel, also one that comes during the
    /// pacing pauses, cuts the wait short instead of abandoning the disconnect).
    fn disconnect(&mut self, cli: &mut Cli, cancel: &CancellationToken) -> Result<(), VpnError> {
        let mut deadline = Instant::now()
            + if cancel.is_cancelled() {
                CANCEL_GRACE * 2
            } else {
                self.opts.timeout
            };
        for cmd in [CMD_DISCONNECT, CMD_STATE, CMD_STATE] {
            // The pause ends early on a cancel; the command is sent at once then.
            cli.pause(self.opts.delay, cancel);
            if let Err(stop) = cli.send(cmd) {
                return Err(self.stop_error(cli, stop, "while disconnecting"));
            }
            let mut down = false;
            loop {
                match cli.next_within(&mut deadline, cancel, Some(CANCEL_GRACE)) {
                    Ok(Event::Line(l)) => {
                        if l.contains(STATE_DISCONNECTED) {
                            down = true;
                        } else if l.contains("state:") {
                            down = false;
                        }
                    }
                    Ok(Event::Prompt(Prompt::Vpn)) => break,
                    Ok(Event::Prompt(_)) => {}
                    Err(stop) => return Err(self.stop_error(cli, stop, "while disconnecting")),
                }
            }
            if down {
                self.maybe_up = false;
                return Ok(());
            }
        }
        Err(self.fail(
            cli,
            VpnErrorKind::Other,
            "the VPN client did not confirm the disconnect",
        ))
    }

    /// Leaves the CLI with `exit` (a short wait, cut to a grace on a cancel), then makes sure the
    /// process is gone.
    fn finish(&self, mut cli: Cli, cancel: &CancellationToken) {
        if !cli.eof && cli.send(CMD_EXIT).is_ok() {
            let mut end = Instant::now() + Duration::from_secs(2);
            while !cli.eof {
                let now = Instant::now();
                if cancel.is_cancelled() {
                    end = end.min(now + CANCEL_GRACE);
                }
                if now >= end {
                    break;
                }
                cli.pump((end - now).min(POLL));
                cli.queue.clear();
            }
        }
        cli.kill();
    }

    /// Disconnects (when a tunnel may be up) and leaves the client.
    fn shut_down(&mut self, mut cli: Cli, cancel: &CancellationToken) -> Result<(), VpnError> {
        let r = self.disconnect(&mut cli, cancel);
        if r.is_err() && cancel.is_cancelled() {
            // Stopped and the client did not finish in its grace: no more waiting.
            cli.kill();
        } else {
            self.finish(cli, cancel);
        }
        r
    }

    /// A fresh client only to take down a tunnel the agent may still hold (after the CLI died
    /// or was killed mid-connect).
    fn recover(&mut self, cancel: &CancellationToken) -> Result<(), VpnError> {
        let gave_up = || {
            VpnError::new(
                VpnErrorKind::Timeout,
                format!(
                    "the VPN client did not answer within {} s after Control-C; the tunnel may still be up",
                    RECOVER_GRACE.as_secs()
                ),
            )
        };
        if self.unanswered_after_cancel && cancel.is_cancelled() {
            return Err(gave_up());
        }
        // After a Ctrl-C (also one that comes while waiting) only a short look: the disconnect
        // sent before the kill usually did it.
        let (cli, up) = match self.start(cancel, self.opts.timeout, Some(RECOVER_GRACE)) {
            Ok(r) => r,
            Err(e) if e.kind == VpnErrorKind::Cancelled => {
                self.unanswered_after_cancel = true;
                return Err(gave_up().with_diagnostics(e.diagnostics));
            }
            Err(e) => return Err(e),
        };
        if up || self.maybe_up {
            self.shut_down(cli, cancel)
        } else {
            self.maybe_up = false;
            self.finish(cli, cancel);
            Ok(())
        }
    }

    /// `recover` after a failed open; when it fails too, says so in the open's diagnostics.
    fn recover_noting(&mut self, cancel: &CancellationToken, e: &mut VpnError) {
        if let Err(r) = self.recover(cancel) {
            e.diagnostics.push(format!(
                "taking the tunnel down afterwards failed: {}",
                r.reason
            ));
        }
    }

    /// The connect dialogue, from `connect HOST` to the prompt that follows its end.
    fn connect(
        &mut self,
        cli: &mut Cli,
        gateway: &str,
        credentials: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<Outcome, Stop> {
        let host = if gateway.contains(char::is_whitespace) {
            format!("\"{gateway}\"")
        } else {
            gateway.to_string()
        };
        self.command(cli, &format!("{CMD_CONNECT} {host}"), cancel)?;
        let deadline = Instant::now() + self.opts.timeout;
        let mut connected = false;
        let mut connected_to = None;
        let mut failure: Option<(VpnErrorKind, &str)> = None;
        let mut cert = false;
        let mut usernames = 0;
        loop {
            let ev = cli.next(deadline, cancel)?;
            match ev {
                Event::Line(l) => {
                    if l.contains(STATE_CONNECTING) || l.contains(STATE_CONNECTED) {
                        self.maybe_up = true;
                    }
                    if l.contains(STATE_CONNECTED) {
                        connected = true;
                    }
                    if let Some(i) = l.find(CONNECTED_TO) {
                        let name = l[i + CONNECTED_TO.len()..].trim().trim_end_matches('.');
                        connected_to = Some(name.to_string());
                    }
                    if LOGIN_FAILED.iter().any(|t| l.contains(t)) {
                        return Ok(Outcome::Failed(self.fail(
                            cli,
                            VpnErrorKind::LoginFailed,
                            "login failed (wrong username or password)",
                        )));
                    }
                    if CERT_UNTRUSTED.iter().any(|t| l.contains(t)) {
                        cert = true;
                    }
                    if let Some(f) = FAILURES.iter().find(|f| l.contains(f.0)) {
                        let generic = f.0 == GENERIC_FAILURE;
                        if failure.is_none() || !generic {
                            failure = Some(if generic && cert {
                                (
                                    VpnErrorKind::Certificate,
                                    "the gateway's certificate cannot be verified (untrusted source); use --accept-untrusted-cert to connect anyway",
                                )
                            } else {
                                (f.1, f.2)
                            });
                        }
                    }
                }
                Event::Prompt(Prompt::Vpn) => {
                    if connected {
                        return Ok(Outcome::Connected(connected_to));
                    }
                    if let Some((kind, reason)) = failure {
                        return Ok(Outcome::Failed(self.fail(cli, kind, reason)));
                    }
                    // Some builds print the prompt before their notices: wait briefly for more.
                    let settle = (Instant::now() + Duration::from_secs(2)).min(deadline);
                    while cli.queue.is_empty() && cli.tail.is_empty() && !cli.eof {
                        if cancel.is_cancelled() {
                            return Err(Stop::Cancelled);
                        }
                        let now = Instant::now();
                        if now >= settle {
                            return Ok(Outcome::Failed(self.fail(
                                cli,
                                VpnErrorKind::Other,
                                "the VPN client returned to its prompt without connecting",
                            )));
                        }
                        cli.pump((settle - now).min(POLL));
                    }
                }
                Event::Prompt(Prompt::Group) => {
                    let g = self.opts.group.clone().unwrap_or_default();
                    self.command(cli, &g, cancel)?;
                }
                Event::Prompt(Prompt::Username) => {
                    usernames += 1;
                    if usernames > 1 {
                        return Ok(Outcome::Failed(self.fail(
                            cli,
                            VpnErrorKind::LoginFailed,
                            "login failed (the client asked for the username again)",
                        )));
                    }
                    self.command(cli, &credentials.username, cancel)?;
                }
                Event::Prompt(Prompt::Password) => {
                    self.command(cli, credentials.password.expose(), cancel)?;
                }
                Event::Prompt(Prompt::SecondFactor) => {
                    return Ok(Outcome::Failed(self.fail(
                        cli,
                        VpnErrorKind::Unsupported,
                        "the gateway asks for a second factor (passcode/answer) vpnmon cannot give",
                    )));
                }
                Event::Prompt(Prompt::Banner) => self.command(cli, "y", cancel)?,
                Event::Prompt(Prompt::ConnectAnyway) | Event::Prompt(Prompt::BlockUntrusted) => {
                    cert = true;
                    let a = if self.opts.accept_untrusted_cert {
                        "y"
                    } else {
                        "n"
                    };
                    self.command(cli, a, cancel)?;
                }
                Event::Prompt(Prompt::OtherYesNo) => self.command(cli, "n", cancel)?,
            }
        }
    }

    /// After a Ctrl-C: `disconnect` at once, a short grace, then kill.
    fn abandon(&mut self, mut cli: Cli) {
        if !cli.eof && cli.send(CMD_DISCONNECT).is_ok() {
            let end = Instant::now() + CANCEL_GRACE;
            let never = CancellationToken::new();
            while let Ok(ev) = cli.next(end, &never) {
                match ev {
                    Event::Line(l) if l.contains(STATE_DISCONNECTED) => self.maybe_up = false,
                    Event::Prompt(Prompt::Vpn) if !self.maybe_up => break,
                    _ => {}
                }
            }
        }
        cli.kill();
    }
}

impl VpnClient for AnyConnect {
    fn label(&self) -> &str {
        "Cisco AnyConnect"
    }

    fn check(&mut self) -> Result<(), VpnError> {
        self.program().map(|_| ())
    }

    fn open(
        &mut self,
        gateway: &str,
        credentials: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<OpenInfo, VpnError> {
        self.cancel = cancel.clone();
        self.password = credentials.password.clone();
        self.unanswered_after_cancel = false;
        if let Some(cli) = self.cli.take() {
            // Left from an earlier open that was not closed.
            let _ = self.shut_down(cli, cancel);
        }
        let ended = crate::platform::process::kill_by_exact_name(OTHER_INSTANCES);
        let ended_note = (!ended.is_empty()).then(|| {
            format!(
                "ended other Cisco client programs: {}",
                ended
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        let with_note = |mut e: VpnError| {
            if let Some(n) = &ended_note {
                e.diagnostics.insert(0, n.clone());
            }
            e
        };
        let (mut cli, up) = self
            .start(cancel, self.opts.timeout, None)
            .map_err(with_note)?;
        if up {
            self.maybe_up = true;
            if let Err(e) = self.disconnect(&mut cli, cancel) {
                self.finish(cli, cancel);
                return Err(with_note(e));
            }
        }
        match self.connect(&mut cli, gateway, credentials, cancel) {
            Ok(Outcome::Connected(to)) => {
                self.cli = Some(cli);
                let mut detail = to.map(|t| format!("Connected to {t}"));
                if let Some(n) = ended_note {
                    detail = Some(match detail {
                        Some(d) => format!("{d}; {n}"),
                        None => n,
                    });
                }
                Ok(OpenInfo { detail })
            }
            Ok(Outcome::Failed(mut e)) => {
                // At the prompt the client can disconnect itself; at a question it cannot.
                if cli.at_prompt && cli.tail.is_empty() && !cli.eof {
                    let _ = self.shut_down(cli, cancel);
                } else {
                    cli.kill();
                    if self.maybe_up {
                        self.recover_noting(cancel, &mut e);
                    }
                }
                Err(with_note(e))
            }
            Err(Stop::Cancelled) => {
                self.abandon(cli);
                Err(VpnError::cancelled())
            }
            Err(stop) => {
                let mut e = self.stop_error(&cli, stop, "while connecting");
                cli.kill();
                if self.maybe_up {
                    self.recover_noting(cancel, &mut e);
                }
                Err(with_note(e))
            }
        }
    }

    fn close(&mut self) -> Result<(), VpnError> {
        let cancel = self.cancel.clone();
        if let Some(cli) = self.cli.take() {
            return self.shut_down(cli, &cancel);
        }
        if self.maybe_up {
            return self.recover(&cancel);
        }
        Ok(())
    }
}

impl Drop for AnyConnect {
    fn drop(&mut self) {
        if let Some(cli) = self.cli.take() {
            cli.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_recognised() {
        let cases: &[(&str, Option<Prompt>)] = &[
            ("VPN> ", Some(Prompt::Vpn)),
            ("Username: [previous-user] ", Some(Prompt::Username)),
            ("Username: ", Some(Prompt::Username)),
            ("    Group: [VPN] ", Some(Prompt::Group)),
            ("Password: ", Some(Prompt::Password)),
            ("Second Password: ", Some(Prompt::SecondFactor)),
            ("Passcode: ", Some(Prompt::SecondFactor)),
            ("Answer: ", Some(Prompt::SecondFactor)),
            ("accept? [y/n]: ", Some(Prompt::Banner)),
            ("Connect Anyway? [y/n]: ", Some(Prompt::ConnectAnyway)),
            (
                "Change the setting that blocks untrusted connections? [y/n]: ",
                Some(Prompt::BlockUntrusted),
            ),
            (
                "Always trust this server and import the certificate? [y/n]: ",
                Some(Prompt::OtherYesNo),
            ),
            ("Username: [previ", None),
            ("  >> notice: Contacting", None),
        ];
        for (t, want) in cases {
            assert_eq!(prompt_of(t), *want, "{t:?}");
        }
    }

    #[test]
    fn a_password_ending_in_a_space_is_masked_at_a_line_end() {
        let pw = Secret::new("Pw-7f3k9Zq ");
        let lines = [
            "  >> notice: you typed Pw-7f3k9Zq ",
            "  >> notice: password Pw-7f3k9Zq  received",
            "trimmed echo Pw-7f3k9Zq",
            "   ",
            "VPN> ",
        ];
        let got = masked_lines(lines.iter().copied(), &pw);
        assert_eq!(
            got,
            vec![
                "  >> notice: you typed ********",
                "  >> notice: password ******** received",
                "trimmed echo ********",
                "VPN>",
            ]
        );
        // An ordinary password is masked exactly, other text is kept.
        let got = masked_lines(
            ["a secret b", "secrets"].into_iter(),
            &Secret::new("secret"),
        );
        assert_eq!(got, vec!["a ******** b", "********s"]);
    }

    #[test]
    fn a_missing_client_names_every_place_tried() {
        let opts = AnyConnectConfig::default();
        if STANDARD_PLACES.iter().any(|p| Path::new(p).exists()) {
            eprintln!(
                "SKIPPED a_missing_client_names_every_place_tried: a Cisco client is installed"
            );
            return;
        }
        let e = AnyConnect::find_program(&opts).unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::ClientMissing);
        for p in STANDARD_PLACES {
            assert!(e.reason.contains(p), "{p} missing in {}", e.reason);
        }
        assert!(!e.reason.contains('\n'));
    }
}
