//! The AnyConnect dialog: drives Cisco's CLI through a pseudo-terminal on the driver thread.
//!
//! The tunnel belongs to Cisco's agent, not to the CLI: leaving or killing the CLI does not end
//! it, so every path that may have started a tunnel ends with `disconnect`.

use super::strings::*;
use super::AnyConnectConfig;
use crate::vpn::session::{
    pace, ChildGuard, Deadline, Driver, Got, Inbox, Lines, OnCancel, Process, Pty, SourceId,
    Transcript, CANCEL_GRACE,
};
use crate::vpn::{CloseInfo, Credentials, OpenInfo, Secret, VpnError, VpnErrorKind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a fresh client may take to show its prompt when recovering after a Ctrl-C.
const RECOVER_GRACE: Duration = Duration::from_secs(2);
/// How long the CLI may take to leave after `exit`.
const EXIT_WAIT: Duration = Duration::from_secs(2);
/// How long to wait for notices after a prompt that came before them.
const SETTLE: Duration = Duration::from_secs(2);
/// How long a client whose output ended may take to exit before we say so without its status.
const EXIT_STATUS_WAIT: Duration = Duration::from_millis(300);

/// Prompts (the text at the end of output that waits for an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prompt {
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

pub(super) fn prompt_of(tail: &str) -> Option<Prompt> {
    let t = tail.trim_end();
    if t.ends_with(PROMPT_VPN) {
        return Some(Prompt::Vpn);
    }
    if PROMPTS_SECOND_FACTOR.iter().any(|p| t.ends_with(p)) {
        return Some(Prompt::SecondFactor);
    }
    if t.ends_with(PROMPT_PASSWORD) {
        return Some(Prompt::Password);
    }
    let bracketed = |label: &str| {
        t.ends_with(label)
            || (t.ends_with(']')
                && t.rfind('[')
                    .is_some_and(|i| t[..i].trim_end().ends_with(label)))
    };
    if bracketed(PROMPT_USERNAME) {
        return Some(Prompt::Username);
    }
    if bracketed(PROMPT_GROUP) {
        return Some(Prompt::Group);
    }
    if t.ends_with(PROMPT_YES_NO) {
        return Some(if t.ends_with(PROMPT_BANNER) {
            Prompt::Banner
        } else if t.ends_with(PROMPT_CONNECT_ANYWAY) {
            Prompt::ConnectAnyway
        } else if t.ends_with(PROMPT_BLOCK_UNTRUSTED) {
            Prompt::BlockUntrusted
        } else {
            Prompt::OtherYesNo
        });
    }
    None
}

// ---- The client on its terminal -------------------------------------------------------------

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

/// What the client wrote so far.
struct Output {
    source: SourceId,
    lines: Lines,
    shown: Transcript,
    eof: bool,
}

impl Output {
    fn take(&mut self, got: Got) {
        // Output of an earlier client, and exits (the guard asks for those), are not ours.
        if let Got::Output(id, bytes) = got {
            if id != self.source || self.eof {
                return;
            }
            if bytes.is_empty() {
                self.eof = true;
                self.shown.end(0);
            } else {
                self.lines.feed(&bytes);
                self.shown.feed(0, &bytes);
            }
        }
    }
}

struct Cli {
    guard: ChildGuard<Pty>,
    out: Output,
    /// The client waits at its `VPN>` prompt: the last prompt was `VPN>` and nothing was typed
    /// since (notices it prints after the prompt do not change that).
    at_prompt: bool,
}

impl Cli {
    fn spawn(program: &Path, inbox: &mut Inbox, password: &Secret) -> Result<Cli, VpnError> {
        let failed = |e: std::io::Error| {
            VpnError::new(
                VpnErrorKind::ClientMissing,
                format!(
                    "cannot start the Cisco VPN client {}: {e}",
                    program.display()
                ),
            )
        };
        let mut cmd = Command::new(program);
        crate::platform::process::without_secrets(&mut cmd);
        let (pty, output) = Pty::spawn(cmd).map_err(failed)?;
        // From here the guard ends the client on every path.
        let guard = ChildGuard::new(pty, inbox);
        let source = inbox.attach(output).map_err(failed)?;
        Ok(Cli {
            guard,
            out: Output {
                source,
                lines: Lines::default(),
                shown: Transcript::new(password),
                eof: false,
            },
            at_prompt: false,
        })
    }

    /// The next line or prompt, waiting until `deadline`. With `stop_on_cancel` a cancel stops
    /// the wait at once; without, it only cuts the deadline to its grace (`Stop::Timeout` then
    /// means "cancelled and the grace ran out").
    fn next(
        &mut self,
        inbox: &mut Inbox,
        deadline: &mut Deadline,
        stop_on_cancel: bool,
    ) -> Result<Event, Stop> {
        loop {
            if let Some(l) = self.out.lines.pop() {
                // A prompt the client wrote notices after (Secure Client 5: `VPN>   >> notice:
                // Ready to connect.`): the prompt, then the rest as a line of its own.
                if let Some(rest) = l.trim_start().strip_prefix(PROMPT_VPN) {
                    if !rest.trim().is_empty() {
                        self.out.lines.unpop(rest.to_string());
                    }
                    self.at_prompt = true;
                    return Ok(Event::Prompt(Prompt::Vpn));
                }
                return Ok(Event::Line(l));
            }
            if let Some(p) = prompt_of(&self.out.lines.tail()) {
                self.out.lines.clear_tail();
                self.at_prompt = p == Prompt::Vpn;
                return Ok(Event::Prompt(p));
            }
            if self.out.eof {
                return Err(Stop::Died(self.how_it_ended(inbox)));
            }
            if stop_on_cancel && inbox.cancelled() {
                return Err(Stop::Cancelled);
            }
            if deadline.expired() {
                return Err(Stop::Timeout);
            }
            match inbox.wait(deadline) {
                Got::Cancelled | Got::Timeout => {}
                g => self.out.take(g),
            }
        }
    }

    /// Waits for the `VPN>` prompt, handing each line to `on_line`.
    fn until_prompt(
        &mut self,
        inbox: &mut Inbox,
        deadline: &mut Deadline,
        stop_on_cancel: bool,
        mut on_line: impl FnMut(&str),
    ) -> Result<(), Stop> {
        loop {
            match self.next(inbox, deadline, stop_on_cancel)? {
                Event::Line(l) => on_line(&l),
                Event::Prompt(Prompt::Vpn) => return Ok(()),
                Event::Prompt(_) => {}
            }
        }
    }

    /// The pacing pause before a command (what the client writes meanwhile is kept); false
    /// when cancelled.
    fn pause(&mut self, inbox: &mut Inbox, d: Duration) -> bool {
        let out = &mut self.out;
        pace(inbox, out.source, d, OnCancel::Stop, |g| out.take(g))
    }

    /// The pacing pause before a command that takes a tunnel down or leaves the client: a
    /// cancel does not end it (a client that drops fast input would lose the command), it only
    /// bounds it to one delay. `deadline`, once cut by a cancel to its grace, is pushed out by
    /// the time the pause took, so the grace is left for the client's answer.
    fn pause_to_stop(&mut self, inbox: &mut Inbox, d: Duration, deadline: &mut Deadline) {
        let t = Instant::now();
        let out = &mut self.out;
        pace(inbox, out.source, d, OnCancel::WaitOut, |g| out.take(g));
        if deadline.is_cut() {
            deadline.extend(t.elapsed());
        }
    }

    fn send(&mut self, text: &str) -> Result<(), Stop> {
        self.at_prompt = false;
        self.guard
            .process()
            .send_line(text)
            .map_err(|e| Stop::Died(format!("the client stopped reading its input ({e})")))
    }

    fn how_it_ended(&mut self, inbox: &mut Inbox) -> String {
        let mut d = Deadline::after(EXIT_STATUS_WAIT);
        let out = &mut self.out;
        self.guard
            .wait_exit(inbox, &mut d, |g| out.take(g))
            .unwrap_or_else(|| "the client's output ended".to_string())
    }

    fn diagnostics(&self) -> Vec<String> {
        self.out.shown.diagnostics()
    }

    /// Ends the client process at once and reaps it.
    fn kill(mut self) {
        self.guard.kill();
    }
}

// ---- The driver ---------------------------------------------------------------------------

/// What is ended before an open: other copies of this client (a CLI left running, another
/// vpnmon's) and the product's window from the same install folder — by executable path, and
/// the platform keeps to this user's processes (as root any user's). Never the agent daemon.
fn programs_to_end(client: &Path) -> Vec<PathBuf> {
    let mut programs = vec![client.to_path_buf()];
    let dirs = [
        client.parent().map(Path::to_path_buf),
        std::fs::canonicalize(client)
            .ok()
            .and_then(|c| c.parent().map(Path::to_path_buf)),
    ];
    for dir in dirs.into_iter().flatten() {
        let ui = dir.join(ui_program());
        if !programs.contains(&ui) {
            programs.push(ui);
        }
    }
    programs.retain(|p| {
        !p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(AGENT_DAEMON))
    });
    programs
}

pub struct Dialog {
    opts: AnyConnectConfig,
    program: Option<PathBuf>,
    cli: Option<Cli>,
    /// A tunnel may be up (the agent's state), so a `disconnect` is owed.
    maybe_up: bool,
    /// The password was typed in the running connect: from then on the agent may bring the
    /// tunnel up whatever the CLI has printed (or vpnmon has read) so far.
    password_typed: bool,
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

/// No limit of the caller's own.
fn unlimited() -> Deadline {
    Deadline::after(Duration::MAX)
}

impl Dialog {
    fn program(&mut self) -> Result<PathBuf, VpnError> {
        if let Some(p) = &self.program {
            return Ok(p.clone());
        }
        let p = super::find_program(&self.opts)?;
        self.program = Some(p.clone());
        Ok(p)
    }

    fn fail(&self, cli: &Cli, kind: VpnErrorKind, reason: impl Into<String>) -> VpnError {
        VpnError::new(kind, reason).with_diagnostics(cli.diagnostics())
    }

    fn stop_error(&self, cli: &Cli, inbox: &Inbox, stop: Stop, during: &str) -> VpnError {
        match stop {
            Stop::Cancelled => VpnError::cancelled().with_diagnostics(cli.diagnostics()),
            // A timeout after a cancel is a grace period that ran out.
            Stop::Timeout if inbox.cancelled() => {
                VpnError::cancelled().with_diagnostics(cli.diagnostics())
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
    fn command(&self, cli: &mut Cli, inbox: &mut Inbox, text: &str) -> Result<(), Stop> {
        if !cli.pause(inbox, self.opts.delay) {
            return Err(Stop::Cancelled);
        }
        cli.send(text)
    }

    /// Starts the client and waits for its first prompt until `deadline`; tells whether its
    /// banner says a tunnel is up. A cancel stops the wait at once (`stop_on_cancel`), or only
    /// cuts the deadline to its grace (when the client is started to disconnect).
    fn start(
        &mut self,
        inbox: &mut Inbox,
        mut deadline: Deadline,
        stop_on_cancel: bool,
    ) -> Result<(Cli, bool), VpnError> {
        let program = self.program()?;
        let mut cli = Cli::spawn(&program, inbox, &self.password)?;
        let mut up = false;
        let mut busy = None;
        let r = cli.until_prompt(inbox, &mut deadline, stop_on_cancel, |l| {
            if l.contains(STATE_CONNECTED) {
                up = true;
            } else if l.contains(STATE) {
                up = false;
            }
            if let Some(f) = FAILURES.iter().find(|f| l.contains(f.0)) {
                busy.get_or_insert((f.1, f.2));
            }
        });
        if let Err(stop) = r {
            let e = self.stop_error(&cli, inbox, stop, "after it started");
            cli.kill();
            return Err(e);
        }
        if let Some((kind, reason)) = busy {
            let e = self.fail(&cli, kind, reason);
            self.finish(cli, inbox);
            return Err(e);
        }
        Ok((cli, up))
    }

    /// `disconnect` until the client says Disconnected and shows its prompt; bounded by the
    /// timeout (and `outer`), or once cancelled by the grace plus the pacing pauses: a stop
    /// still paces each command (so a client that drops fast input takes it and the tunnel goes
    /// down), and a cancel cuts the waits for answers short instead of abandoning the
    /// disconnect.
    fn disconnect(
        &mut self,
        cli: &mut Cli,
        inbox: &mut Inbox,
        outer: Deadline,
    ) -> Result<(), VpnError> {
        let mut deadline = Deadline::after(self.opts.timeout).within(outer);
        for cmd in [CMD_DISCONNECT, CMD_STATE, CMD_STATE] {
            cli.pause_to_stop(inbox, self.opts.delay, &mut deadline);
            if let Err(stop) = cli.send(cmd) {
                return Err(self.stop_error(cli, inbox, stop, "while disconnecting"));
            }
            let mut down = false;
            loop {
                match cli.next(inbox, &mut deadline, false) {
                    Ok(Event::Line(l)) => {
                        if l.contains(STATE_DISCONNECTED) {
                            down = true;
                        } else if l.contains(STATE) {
                            down = false;
                        }
                    }
                    Ok(Event::Prompt(Prompt::Vpn)) => break,
                    Ok(Event::Prompt(_)) => {}
                    Err(stop) => {
                        return Err(self.stop_error(cli, inbox, stop, "while disconnecting"))
                    }
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

    /// Leaves the CLI with `exit` (paced like every command, also in a stop; a short wait, cut
    /// to the grace on a cancel), then makes sure the process is gone.
    fn finish(&self, mut cli: Cli, inbox: &mut Inbox) {
        if !cli.out.eof {
            cli.pause_to_stop(inbox, self.opts.delay, &mut unlimited());
        }
        if !cli.out.eof && cli.send(CMD_EXIT).is_ok() {
            let mut end = Deadline::after(EXIT_WAIT);
            while !cli.out.eof && !end.expired() {
                match inbox.wait(&mut end) {
                    Got::Cancelled | Got::Timeout => {}
                    g => cli.out.take(g),
                }
                cli.out.lines.drop_lines();
            }
        }
        cli.kill();
    }

    /// Disconnects (when a tunnel may be up) and leaves the client.
    fn shut_down(
        &mut self,
        mut cli: Cli,
        inbox: &mut Inbox,
        outer: Deadline,
    ) -> Result<(), VpnError> {
        let r = self.disconnect(&mut cli, inbox, outer);
        if r.is_err() && inbox.cancelled() {
            // Stopped and the client did not finish in its grace: no more waiting.
            cli.kill();
        } else {
            self.finish(cli, inbox);
        }
        r
    }

    /// A fresh client only to take down a tunnel the agent may still hold (after the CLI died
    /// or was killed mid-connect).
    fn recover(&mut self, inbox: &mut Inbox, outer: Deadline) -> Result<(), VpnError> {
        let gave_up = || {
            VpnError::new(
                VpnErrorKind::Timeout,
                format!(
                    "the VPN client did not answer within {} s after Control-C; the tunnel may still be up",
                    RECOVER_GRACE.as_secs()
                ),
            )
        };
        if self.unanswered_after_cancel && inbox.cancelled() {
            return Err(gave_up());
        }
        // After a Ctrl-C (also one that comes while waiting) only a short look: the disconnect
        // sent before the kill usually did it.
        let patience = Deadline::after(self.opts.timeout)
            .with_grace(RECOVER_GRACE)
            .within(outer);
        let (cli, up) = match self.start(inbox, patience, false) {
            Ok(r) => r,
            Err(e) if e.kind == VpnErrorKind::Cancelled => {
                self.unanswered_after_cancel = true;
                return Err(gave_up().with_diagnostics(e.diagnostics));
            }
            Err(e) => return Err(e),
        };
        if up || self.maybe_up {
            self.shut_down(cli, inbox, outer)
        } else {
            self.maybe_up = false;
            self.finish(cli, inbox);
            Ok(())
        }
    }

    /// `recover` after a failed open; when it fails too, says so in the open's diagnostics.
    fn recover_noting(&mut self, inbox: &mut Inbox, e: &mut VpnError) {
        if let Err(r) = self.recover(inbox, unlimited()) {
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
        inbox: &mut Inbox,
        gateway: &str,
        credentials: &Credentials,
    ) -> Result<Outcome, Stop> {
        let host = if gateway.contains(char::is_whitespace) {
            format!("\"{gateway}\"")
        } else {
            gateway.to_string()
        };
        self.password_typed = false;
        self.command(cli, inbox, &format!("{CMD_CONNECT} {host}"))?;
        let mut deadline = Deadline::after(self.opts.timeout);
        let mut connected = false;
        let mut connected_to = None;
        let mut failure: Option<(VpnErrorKind, &str)> = None;
        let mut cert = false;
        let mut usernames = 0;
        loop {
            match cli.next(inbox, &mut deadline, true)? {
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
                    let mut settle = Deadline::after(SETTLE).within(deadline);
                    while !cli.out.lines.has_lines()
                        && cli.out.lines.tail_is_empty()
                        && !cli.out.eof
                    {
                        if inbox.cancelled() {
                            return Err(Stop::Cancelled);
                        }
                        if settle.expired() {
                            return Ok(Outcome::Failed(self.fail(
                                cli,
                                VpnErrorKind::Other,
                                "the VPN client returned to its prompt without connecting",
                            )));
                        }
                        match inbox.wait(&mut settle) {
                            Got::Cancelled | Got::Timeout => {}
                            g => cli.out.take(g),
                        }
                    }
                }
                Event::Prompt(Prompt::Group) => {
                    let g = self.opts.group.clone().unwrap_or_default();
                    self.command(cli, inbox, &g)?;
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
                    self.command(cli, inbox, &credentials.username)?;
                }
                Event::Prompt(Prompt::Password) => {
                    self.password_typed = true;
                    self.command(cli, inbox, credentials.password.expose())?;
                }
                Event::Prompt(Prompt::SecondFactor) => {
                    return Ok(Outcome::Failed(self.fail(
                        cli,
                        VpnErrorKind::Unsupported,
                        "the gateway asks for a second factor (passcode/answer) vpnmon cannot give",
                    )));
                }
                Event::Prompt(Prompt::Banner) => self.command(cli, inbox, YES)?,
                Event::Prompt(Prompt::ConnectAnyway) | Event::Prompt(Prompt::BlockUntrusted) => {
                    cert = true;
                    let a = if self.opts.accept_untrusted_cert {
                        YES
                    } else {
                        NO
                    };
                    self.command(cli, inbox, a)?;
                }
                Event::Prompt(Prompt::OtherYesNo) => self.command(cli, inbox, NO)?,
            }
        }
    }

    /// After a Ctrl-C: never type into a question (a `disconnect` at `Username:` would become
    /// the user name). Away from the `VPN>` prompt the client gets the Ctrl-C byte in its
    /// terminal; at the prompt (also one it returns to within the grace) it gets `disconnect`,
    /// paced (the grace is extended by the pause); after the grace it is killed.
    fn abandon(&mut self, mut cli: Cli, inbox: &mut Inbox) {
        let mut end = Deadline::after(CANCEL_GRACE);
        let waiting_at_prompt = cli.at_prompt && cli.out.lines.tail_is_empty();
        if !cli.out.eof && !waiting_at_prompt {
            cli.guard.process().interrupt();
            loop {
                match cli.next(inbox, &mut end, false) {
                    Ok(Event::Prompt(Prompt::Vpn)) => break,
                    Ok(Event::Prompt(_)) => cli.at_prompt = false,
                    Ok(Event::Line(l)) => {
                        if l.contains(STATE_CONNECTING) || l.contains(STATE_CONNECTED) {
                            self.maybe_up = true;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        if !cli.out.eof && cli.at_prompt {
            end.cancel();
            cli.pause_to_stop(inbox, self.opts.delay, &mut end);
        }
        if !cli.out.eof && cli.at_prompt && cli.send(CMD_DISCONNECT).is_ok() {
            while let Ok(ev) = cli.next(inbox, &mut end, false) {
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

impl Driver for Dialog {
    type Config = AnyConnectConfig;
    const LABEL: &'static str = "Cisco AnyConnect";

    fn new(opts: AnyConnectConfig) -> Dialog {
        Dialog {
            opts,
            program: None,
            cli: None,
            maybe_up: false,
            password_typed: false,
            password: Secret::default(),
            unanswered_after_cancel: false,
        }
    }

    fn check(&mut self, _inbox: &mut Inbox) -> Result<(), VpnError> {
        self.program().map(|_| ())
    }

    fn open(
        &mut self,
        inbox: &mut Inbox,
        gateway: &str,
        credentials: &Credentials,
    ) -> Result<OpenInfo, VpnError> {
        self.password = credentials.password.clone();
        self.unanswered_after_cancel = false;
        if let Some(cli) = self.cli.take() {
            // Left from an earlier open that was not closed.
            let _ = self.shut_down(cli, inbox, unlimited());
        }
        let ended = match self.program() {
            Ok(p) => crate::platform::process::end_copies_of(&programs_to_end(&p)),
            Err(e) => return Err(e),
        };
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
            .start(inbox, Deadline::after(self.opts.timeout), true)
            .map_err(with_note)?;
        if up {
            self.maybe_up = true;
            if let Err(e) = self.disconnect(&mut cli, inbox, unlimited()) {
                self.finish(cli, inbox);
                return Err(with_note(e));
            }
        }
        match self.connect(&mut cli, inbox, gateway, credentials) {
            Ok(Outcome::Connected(to)) => {
                // The name comes from the client's output: the redaction rule applies.
                let mut detail = to.map(|t| cli.out.shown.redact(&format!("Connected to {t}")));
                self.cli = Some(cli);
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
                if cli.at_prompt && cli.out.lines.tail_is_empty() && !cli.out.eof {
                    let _ = self.shut_down(cli, inbox, unlimited());
                } else {
                    cli.kill();
                    if self.maybe_up {
                        self.recover_noting(inbox, &mut e);
                    }
                }
                Err(with_note(e))
            }
            Err(Stop::Cancelled) => {
                // A Ctrl-C after the password: the tunnel may be coming up even if its
                // `state: Connecting` is still unread (seen on a loaded machine: the stop came
                // before that line was taken, and the tunnel stayed up). So the close owes a
                // disconnect (a fresh client, `recover`), as after any sign of a tunnel.
                if self.password_typed {
                    self.maybe_up = true;
                }
                self.abandon(cli, inbox);
                Err(VpnError::cancelled())
            }
            Err(stop) => {
                let mut e = self.stop_error(&cli, inbox, stop, "while connecting");
                cli.kill();
                if self.maybe_up {
                    self.recover_noting(inbox, &mut e);
                }
                Err(with_note(e))
            }
        }
    }

    fn close(&mut self, inbox: &mut Inbox, deadline: Deadline) -> Result<CloseInfo, VpnError> {
        if let Some(cli) = self.cli.take() {
            return self
                .shut_down(cli, inbox, deadline)
                .map(|()| CloseInfo::default());
        }
        if self.maybe_up {
            return self.recover(inbox, deadline).map(|()| CloseInfo::default());
        }
        Ok(CloseInfo::default())
    }
}

impl Drop for Dialog {
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
}
