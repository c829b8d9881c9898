//! The OpenConnect dialog: one openconnect child per tunnel, on the driver thread (which lives as
//! long as the driver, so the child's parent-death signal fires only when vpnmon ends).

use super::script::{clean_up_stale, interface_name, ScriptFile};
use super::strings::*;
use super::OpenConnectConfig;
use crate::vpn::session::{
    program, ChildGuard, Deadline, Driver, Ending, Got, Inbox, Lines, SourceId, Transcript,
    CANCEL_GRACE,
};
use crate::vpn::{CloseInfo, Credentials, OpenInfo, Secret, VpnError, VpnErrorKind};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long openconnect gets to log off after SIGINT before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long the tun device may take to disappear after openconnect exited.
const TUN_GONE_WAIT: Duration = Duration::from_millis(500);
/// The same after Ctrl-C (grace + this stay under a second).
const CANCEL_TUN_GONE_WAIT: Duration = Duration::from_millis(250);
/// How often the tun device is looked for while it should go (no event for that here).
const TUN_RECHECK: Duration = Duration::from_millis(20);
/// How long an openconnect that exited during the open may take to finish its output.
const LAST_WORDS: Duration = Duration::from_millis(200);

/// What a line of openconnect's output means for an open in progress.
#[derive(Debug, PartialEq)]
pub(super) enum Seen {
    Nothing,
    Configured(String),
    ScriptDone(bool),
    Failure(VpnErrorKind, &'static str),
}

pub(super) fn classify(line: &str) -> Seen {
    let l = line.trim();
    if let Some(rest) = l.strip_prefix(SCRIPT_MARK) {
        let mut it = rest.split_whitespace();
        return match (it.next(), it.next()) {
            (Some(REASON_CONNECT), Some(rc)) => Seen::ScriptDone(rc == "0"),
            _ => Seen::Nothing,
        };
    }
    if l.starts_with(CONFIGURED_AS) {
        return Seen::Configured(l.to_string());
    }
    let low = l.to_ascii_lowercase();
    for (needle, kind, reason) in FAILURES {
        if low.contains(needle) {
            return Seen::Failure(*kind, reason);
        }
    }
    Seen::Nothing
}

/// What a running openconnect wrote, and what that says about the session.
pub(super) struct Output {
    /// stdout (0) and stderr (1): each its own lines.
    streams: [(SourceId, Lines); 2],
    pub(super) open_streams: usize,
    shown: Transcript,
    /// Times the connect script was run with `attempt-reconnect` (the tunnel dropped) and with
    /// `reconnect` (openconnect brought it back).
    pub(super) drops: u32,
    pub(super) reconnects: u32,
}

impl Output {
    /// Takes input; returns the complete lines it brought.
    pub(super) fn take(&mut self, got: Got) -> Vec<String> {
        let Got::Output(id, bytes) = got else {
            return Vec::new();
        };
        let Some(n) = self.streams.iter().position(|(s, _)| *s == id) else {
            return Vec::new();
        };
        let lines = &mut self.streams[n].1;
        if bytes.is_empty() {
            lines.finish();
            self.shown.end(n);
            self.open_streams = self.open_streams.saturating_sub(1);
        } else {
            lines.feed(&bytes);
            self.shown.feed(n, &bytes);
        }
        let mut out = Vec::new();
        while let Some(l) = self.streams[n].1.pop() {
            self.note(&l);
            out.push(l);
        }
        out
    }

    fn note(&mut self, line: &str) {
        if let Some(rest) = line.trim().strip_prefix(SCRIPT_MARK) {
            match rest.split_whitespace().next() {
                Some(REASON_ATTEMPT_RECONNECT) => self.drops += 1,
                Some(REASON_RECONNECT) => self.reconnects += 1,
                _ => {}
            }
        }
    }

    /// What is already there, without waiting.
    fn take_ready(&mut self, inbox: &mut Inbox) {
        while let Some(g) = inbox.ready() {
            self.take(g);
        }
    }
}

/// A running openconnect.
pub(super) struct Session {
    pub(super) guard: ChildGuard<Child>,
    pub(super) out: Output,
}

impl Session {
    /// Starts `cmd` (stdout and stderr piped) under the guard, reading its output.
    pub(super) fn start(
        mut cmd: Command,
        inbox: &mut Inbox,
        password: &Secret,
    ) -> std::io::Result<Session> {
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        // From here the guard ends the child on every path.
        let guard = ChildGuard::new(child, inbox);
        let mut streams = [(0, Lines::default()), (0, Lines::default())];
        let mut open_streams = 0;
        for (slot, pipe) in streams.iter_mut().zip([
            stdout.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            stderr.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]) {
            match pipe {
                Some(p) => {
                    slot.0 = inbox.attach(p)?;
                    open_streams += 1;
                }
                // Never heard from.
                None => slot.0 = inbox.new_source(),
            }
        }
        Ok(Session {
            guard,
            out: Output {
                streams,
                open_streams,
                shown: Transcript::new(password),
                drops: 0,
                reconnects: 0,
            },
        })
    }
}

/// The driver state on its thread.
pub struct Dialog {
    pub(super) program: PathBuf,
    pub(super) servercert: Option<String>,
    pub(super) cafile: Option<PathBuf>,
    pub(super) no_dtls: bool,
    pub(super) timeout: Duration,
    pub(super) interface: String,
    pub(super) script: Option<ScriptFile>,
    pub(super) session: Option<Session>,
    /// Stale openconnects the start-up check ended, said with the first open (the console).
    pub(super) stale_note: Option<String>,
}

/// No limit of the caller's own.
fn unlimited() -> Deadline {
    Deadline::after(Duration::MAX)
}

impl Dialog {
    /// A failed open names the stale openconnects the start-up clean-up ended (first in its
    /// diagnostics, said once like on a success): that they were ended may be why it failed.
    /// A cancelled open keeps the note (its diagnostics are not shown).
    fn noting_stale(&mut self, mut e: VpnError) -> VpnError {
        if e.kind != VpnErrorKind::Cancelled {
            if let Some(n) = self.stale_note.take() {
                e.diagnostics.insert(0, n);
            }
        }
        e
    }

    /// The open; a success carries the stale clean-up's note itself.
    fn open_tunnel(
        &mut self,
        inbox: &mut Inbox,
        gateway: &str,
        credentials: &Credentials,
    ) -> Result<OpenInfo, VpnError> {
        if self.session.is_some() {
            self.close(inbox, unlimited())?;
        }
        if inbox.cancelled() {
            return Err(VpnError::cancelled());
        }
        let script = self.write_script()?;
        let cmd = self.command(gateway, &credentials.username, &script);
        let mut session = Session::start(cmd, inbox, &credentials.password).map_err(|e| {
            VpnError::new(
                VpnErrorKind::ClientMissing,
                format!("cannot start {}: {e}", self.program.display()),
            )
        })?;
        // The password, then end of input: a second prompt after `Login failed.` fails at once.
        if let Some(mut stdin) = session.guard.process().stdin.take() {
            let _ = stdin.write_all(format!("{}\n", credentials.password.expose()).as_bytes());
        }
        self.session = Some(session);

        let mut deadline = Deadline::after(self.timeout);
        let mut configured: Option<String> = None;
        let mut failure: Option<(VpnErrorKind, &'static str)> = None;
        loop {
            if inbox.cancelled() {
                return Err(self.abort(inbox, VpnError::cancelled(), CANCEL_GRACE));
            }
            if deadline.expired() {
                let e = VpnError::new(
                    VpnErrorKind::Timeout,
                    format!(
                        "openconnect did not bring the tunnel up within {} s",
                        self.timeout.as_secs_f64()
                    ),
                );
                return Err(self.abort(inbox, e, CANCEL_GRACE));
            }
            let Some(s) = self.session.as_mut() else {
                return Err(VpnError::new(
                    VpnErrorKind::Other,
                    "openconnect session lost",
                ));
            };
            if s.guard.status().is_some() {
                return Err(self.exited_during_open(inbox, failure));
            }
            // Both pipes closed: it has exited or is about to (where its exit is no event, look
            // at it now and then).
            let step = if s.out.open_streams == 0 {
                s.guard.recheck()
            } else {
                None
            };
            let lines = match inbox.wait_at_most(&mut deadline, step) {
                Got::Cancelled | Got::Timeout | Got::Exited(_) => continue,
                g => s.out.take(g),
            };
            for line in lines {
                match classify(&line) {
                    Seen::Configured(l) => configured = Some(l),
                    Seen::ScriptDone(true) => {
                        let present = crate::platform::net::interface_present(&self.interface);
                        if configured.is_some() && present {
                            let detail = configured.map(|c| {
                                let text = format!(
                                    "{} on {}",
                                    c.trim_start_matches(CONFIGURED_AS)
                                        .split(',')
                                        .next()
                                        .unwrap_or(""),
                                    self.interface
                                );
                                s.out.shown.redact(&text)
                            });
                            // Said once, with the first open after the clean-up.
                            let detail = match (detail, self.stale_note.take()) {
                                (Some(d), Some(n)) => Some(format!("{d}; {n}")),
                                (d, n) => d.or(n),
                            };
                            return Ok(OpenInfo { detail });
                        }
                        let e = VpnError::new(
                            VpnErrorKind::Other,
                            format!(
                                "openconnect's connect script finished but the tun device {} is missing",
                                self.interface
                            ),
                        );
                        return Err(self.abort(inbox, e, CLOSE_GRACE));
                    }
                    Seen::ScriptDone(false) => {
                        let e = VpnError::new(
                            VpnErrorKind::Other,
                            "the connect script could not configure the tunnel",
                        );
                        return Err(self.abort(inbox, e, CLOSE_GRACE));
                    }
                    Seen::Failure(kind, reason) => {
                        // Keep the first, most specific one; the client exits by itself.
                        failure.get_or_insert((kind, reason));
                    }
                    Seen::Nothing => {}
                }
            }
        }
    }

    fn write_script(&mut self) -> Result<PathBuf, VpnError> {
        if let Some(s) = &self.script {
            return Ok(s.path().to_path_buf());
        }
        let s = ScriptFile::write().map_err(|e| VpnError::new(VpnErrorKind::Other, e))?;
        let p = s.path().to_path_buf();
        self.script = Some(s);
        Ok(p)
    }

    pub(super) fn command(&self, gateway: &str, username: &str, script: &Path) -> Command {
        let mut c = Command::new(&self.program);
        c.arg(OPT_NON_INTERACTIVE)
            .arg(OPT_PASSWORD_ON_STDIN)
            .arg(OPT_INTERFACE)
            .arg(&self.interface)
            .arg(OPT_SCRIPT)
            .arg(script);
        if !username.is_empty() {
            c.arg(OPT_USER).arg(username);
        }
        if let Some(pin) = &self.servercert {
            c.arg(OPT_SERVERCERT).arg(pin);
        }
        if let Some(ca) = &self.cafile {
            c.arg(OPT_CAFILE).arg(ca);
        }
        if self.no_dtls {
            c.arg(OPT_NO_DTLS);
        }
        c.arg("--").arg(gateway);
        // The passwords must not be inherited by openconnect, its script or a wrapper
        // (/proc/PID/environ); the VPN password goes through stdin only.
        crate::platform::process::without_secrets(&mut c);
        c.env(ENV_LOCALE.0, ENV_LOCALE.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group (a terminal's Ctrl-C reaches only vpnmon, which logs off in
        // order), and ended when vpnmon dies.
        crate::platform::process::isolate(&mut c);
        c
    }

    fn tun_present(&self) -> bool {
        crate::platform::net::interface_present(&self.interface)
    }

    fn wait_tun_gone(&self, within: Duration) -> bool {
        let d = Deadline::after(within);
        while self.tun_present() {
            if d.expired() {
                return false;
            }
            std::thread::sleep(TUN_RECHECK.min(d.remaining()));
        }
        true
    }

    fn tun_still_present(&self) -> VpnError {
        VpnError::new(
            VpnErrorKind::Other,
            format!(
                "the tun device {} is still present after openconnect exited",
                self.interface
            ),
        )
    }

    /// Stops a failed or cancelled open and returns `err` with the client's last lines.
    fn abort(&mut self, inbox: &mut Inbox, err: VpnError, grace: Duration) -> VpnError {
        let Some(mut s) = self.session.take() else {
            return err;
        };
        let mut d = Deadline::after(grace);
        let out = &mut s.out;
        s.guard.stop(inbox, &mut d, |g| {
            out.take(g);
        });
        s.out.take_ready(inbox);
        self.wait_tun_gone(if inbox.cancelled() {
            CANCEL_TUN_GONE_WAIT
        } else {
            TUN_GONE_WAIT
        });
        if err.diagnostics.is_empty() {
            err.with_diagnostics(s.out.shown.diagnostics())
        } else {
            err
        }
    }

    /// close() proper; also says whether Ctrl-C came before the end.
    fn close_session(
        &mut self,
        inbox: &mut Inbox,
        outer: Deadline,
    ) -> (bool, Result<(), VpnError>) {
        let Some(mut s) = self.session.take() else {
            return (inbox.cancelled(), Ok(()));
        };
        // A cancel, before or during the log-off, cuts it to the grace.
        let mut d = Deadline::after(CLOSE_GRACE).within(outer);
        let out = &mut s.out;
        let ending = s.guard.stop(inbox, &mut d, |g| {
            out.take(g);
        });
        s.out.take_ready(inbox);
        let cancelled = inbox.cancelled();
        let gone = self.wait_tun_gone(if cancelled {
            CANCEL_TUN_GONE_WAIT
        } else {
            TUN_GONE_WAIT
        });
        let diag = s.out.shown.diagnostics();
        match ending {
            Ending::AlreadyExited(st) => {
                let e = VpnError::new(
                    VpnErrorKind::ClientDied,
                    format!("the tunnel had already dropped (openconnect exited, {st})"),
                );
                return (cancelled, Err(e.with_diagnostics(diag)));
            }
            Ending::Killed => {
                let e = VpnError::new(
                    VpnErrorKind::Timeout,
                    "openconnect did not log off in time and was killed",
                );
                return (cancelled, Err(e.with_diagnostics(diag)));
            }
            Ending::Exited(_) => {}
        }
        if !gone {
            return (
                cancelled,
                Err(self.tun_still_present().with_diagnostics(diag)),
            );
        }
        if s.out.drops > 0 {
            let reason = if s.out.reconnects >= s.out.drops {
                DROPPED_RECONNECTED
            } else {
                DROPPED_NOT_RECONNECTED
            };
            let e = VpnError::new(VpnErrorKind::Other, reason);
            return (cancelled, Err(e.with_diagnostics(diag)));
        }
        (cancelled, Ok(()))
    }

    /// After the child exited during the open: its last words, then the reason.
    fn exited_during_open(
        &mut self,
        inbox: &mut Inbox,
        mut failure: Option<(VpnErrorKind, &'static str)>,
    ) -> VpnError {
        let Some(s) = self.session.as_mut() else {
            return VpnError::new(VpnErrorKind::Other, "openconnect session lost");
        };
        let mut last = Deadline::after(LAST_WORDS);
        while s.out.open_streams > 0 && !last.expired() {
            match inbox.wait(&mut last) {
                Got::Cancelled | Got::Timeout | Got::Exited(_) => {}
                g => {
                    for l in s.out.take(g) {
                        if let Seen::Failure(k, r) = classify(&l) {
                            failure.get_or_insert((k, r));
                        }
                    }
                }
            }
        }
        let st = s
            .guard
            .status()
            .map(|st| st.to_string())
            .unwrap_or_default();
        let e = match failure {
            Some((k, r)) => VpnError::new(k, r),
            None => VpnError::new(
                VpnErrorKind::ClientDied,
                format!("openconnect exited ({st}) before the tunnel was up"),
            ),
        };
        self.abort(inbox, e, CANCEL_GRACE)
    }
}

impl Driver for Dialog {
    type Config = OpenConnectConfig;
    const LABEL: &'static str = "OpenConnect";

    fn new(cfg: OpenConnectConfig) -> Dialog {
        Dialog {
            program: cfg.program,
            servercert: cfg.servercert.filter(|s| !s.trim().is_empty()),
            cafile: cfg.cafile,
            no_dtls: cfg.no_dtls,
            timeout: cfg.timeout,
            interface: interface_name(std::process::id()),
            script: None,
            session: None,
            stale_note: None,
        }
    }

    fn check(&mut self, _inbox: &mut Inbox) -> Result<(), VpnError> {
        let Some(found) = program::find(&self.program) else {
            return Err(VpnError::new(
                VpnErrorKind::ClientMissing,
                format!(
                    "the openconnect program '{}' was not found; install the openconnect package or give its path with --openconnect PATH",
                    self.program.display()
                ),
            ));
        };
        if let Some(ca) = &self.cafile {
            if !ca.is_file() {
                return Err(VpnError::new(
                    VpnErrorKind::Other,
                    format!(
                        "--cafile {}: no such file; give the CA certificate (PEM) of the gateway",
                        ca.display()
                    ),
                ));
            }
        }
        let ended = clean_up_stale(&found);
        if !ended.is_empty() {
            self.stale_note = Some(format!(
                "ended stale openconnect programs: {}",
                ended
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.write_script().map(|_| ())
    }

    fn open(
        &mut self,
        inbox: &mut Inbox,
        gateway: &str,
        credentials: &Credentials,
    ) -> Result<OpenInfo, VpnError> {
        self.open_tunnel(inbox, gateway, credentials)
            .map_err(|e| self.noting_stale(e))
    }

    fn close(&mut self, inbox: &mut Inbox, deadline: Deadline) -> Result<CloseInfo, VpnError> {
        self.close_tunnel(inbox, deadline)
            .map(|()| CloseInfo::default())
    }
}

impl Dialog {
    fn close_tunnel(&mut self, inbox: &mut Inbox, deadline: Deadline) -> Result<(), VpnError> {
        if self.session.is_none() {
            // Also the retry after a close cut short by Ctrl-C: Ok only if the device is gone.
            if self.tun_present() && !self.wait_tun_gone(TUN_GONE_WAIT) {
                return Err(self.tun_still_present());
            }
            return Ok(());
        }
        let (cancelled, r) = self.close_session(inbox, deadline);
        match r {
            // Cut short by Ctrl-C (killed after the short grace, or openconnect already ended by
            // the signal): not a result about the gateway. The monitor retries close() at the end.
            Err(e) if cancelled => Err(VpnError {
                kind: VpnErrorKind::Cancelled,
                ..e
            }),
            r => r,
        }
    }
}
