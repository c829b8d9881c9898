//! The Connect Tunnel dialog: drives `startct` through a pseudo-terminal on the driver thread.
//!
//! The tunnel lives as long as `startct` (and the helpers it starts) runs: unlike Cisco's agent,
//! nothing keeps it once they are gone. So the close is `quit`, then the client's exit is
//! awaited, then no process of the client may be left (any is ended), and the resolver file it
//! may have rewritten is checked. "Gone" means exactly that: the process exited and none of its
//! helpers runs. (`status` is not asked: a client that answers `Connected` proves nothing about
//! the moment after `quit`.)

use super::cleanup::{self, GONE_WITHIN};
use super::strings::*;
use super::{find_program, SonicWallConfig};
use crate::vpn::session::{
    ChildGuard, Deadline, Driver, Ending, Got, Inbox, Lines, Pty, SourceId, Transcript,
    CANCEL_GRACE,
};
use crate::vpn::{CloseInfo, Credentials, OpenInfo, Secret, VpnError, VpnErrorKind};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How long a client whose output ended may take to exit before we say so without its status.
const EXIT_STATUS_WAIT: Duration = Duration::from_millis(300);

/// Prompts (the text at the end of output that waits for an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prompt {
    Username,
    Password,
    Choice,
}

pub(super) fn prompt_of(tail: &str) -> Option<Prompt> {
    let t = tail.trim_end();
    if t.ends_with(PROMPT_USERNAME) {
        return Some(Prompt::Username);
    }
    if t.ends_with(PROMPT_PASSWORD) {
        return Some(Prompt::Password);
    }
    if t.ends_with(':') && t.to_lowercase().contains(PROMPT_CHOICE) {
        return Some(Prompt::Choice);
    }
    None
}

/// Whether a line says the tunnel is up: `CONNECT` as a word of its own.
pub(super) fn is_connected(line: &str) -> bool {
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == CONNECTED)
}

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
        // Exits (the guard asks for those) and output of an earlier client are not ours.
        if let Got::Output(id, bytes) = got {
            if id != self.source || self.eof {
                return;
            }
            if bytes.is_empty() {
                self.eof = true;
                self.lines.finish();
                self.shown.end(0);
            } else {
                self.lines.feed(&bytes);
                self.shown.feed(0, &bytes);
            }
        }
    }
}

/// The running `startct`: the guard that ends it and what it wrote.
struct Client {
    guard: ChildGuard<Pty>,
    out: Output,
}

impl Client {
    fn spawn(cmd: Command, inbox: &mut Inbox, password: &Secret) -> Result<Client, String> {
        let (pty, output) = Pty::spawn(cmd).map_err(|e| e.to_string())?;
        // From here the guard ends the client on every path.
        let guard = ChildGuard::new(pty, inbox);
        let source = inbox.attach(output).map_err(|e| e.to_string())?;
        Ok(Client {
            guard,
            out: Output {
                source,
                lines: Lines::default(),
                shown: Transcript::new(password),
                eof: false,
            },
        })
    }

    /// The next line or prompt, waiting until `deadline`; a cancel stops the wait at once.
    fn next(&mut self, inbox: &mut Inbox, deadline: &mut Deadline) -> Result<Event, Stop> {
        loop {
            if let Some(l) = self.out.lines.pop() {
                return Ok(Event::Line(l));
            }
            if let Some(p) = prompt_of(&self.out.lines.tail()) {
                self.out.lines.clear_tail();
                return Ok(Event::Prompt(p));
            }
            if self.out.eof {
                return Err(Stop::Died(self.how_it_ended(inbox)));
            }
            if inbox.cancelled() {
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

    fn send(&mut self, text: &str) -> Result<(), Stop> {
        self.guard
            .process()
            .send_line(text)
            .map_err(|e| Stop::Died(format!("the client stopped reading its input ({e})")))
    }

    fn how_it_ended(&mut self, inbox: &mut Inbox) -> String {
        let mut d = Deadline::after(EXIT_STATUS_WAIT);
        self.wait_exit(inbox, &mut d)
            .unwrap_or_else(|| "the client's output ended".to_string())
    }

    /// Waits until it exits (its output is kept), by `deadline`.
    fn wait_exit(&mut self, inbox: &mut Inbox, deadline: &mut Deadline) -> Option<String> {
        let out = &mut self.out;
        self.guard.wait_exit(inbox, deadline, |g| out.take(g))
    }

    /// Ctrl-C into its terminal, then until `deadline`, then kill; true when it left by itself.
    fn stop(&mut self, inbox: &mut Inbox, deadline: &mut Deadline) -> bool {
        let out = &mut self.out;
        !matches!(
            self.guard.stop(inbox, deadline, |g| out.take(g)),
            Ending::Killed
        )
    }

    fn diagnostics(&self) -> Vec<String> {
        self.out.shown.diagnostics()
    }
}

pub struct Dialog {
    opts: SonicWallConfig,
    program: Option<PathBuf>,
    client: Option<Client>,
    password: Secret,
    /// The resolver file before the open, to put back if the client leaves it rewritten.
    saved_resolv: Option<Vec<u8>>,
}

impl Dialog {
    fn program(&mut self) -> Result<PathBuf, VpnError> {
        if let Some(p) = &self.program {
            return Ok(p.clone());
        }
        let p = find_program(&self.opts)?;
        self.program = Some(p.clone());
        Ok(p)
    }

    fn command(&self, program: &PathBuf, gateway: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg(ARG_SERVER).arg(gateway);
        if let Some(r) = &self.opts.realm {
            cmd.arg(ARG_REALM).arg(r);
        }
        cmd.arg(ARG_TIMEOUT)
            .arg(self.opts.timeout.as_secs().max(1).to_string());
        crate::platform::process::without_secrets(&mut cmd);
        cmd
    }

    fn fail(client: &Client, kind: VpnErrorKind, reason: impl Into<String>) -> VpnError {
        VpnError::new(kind, reason).with_diagnostics(client.diagnostics())
    }

    /// The login dialogue up to `CONNECT`.
    fn connect(
        &mut self,
        client: &mut Client,
        inbox: &mut Inbox,
        credentials: &Credentials,
    ) -> Result<Result<(), VpnError>, Stop> {
        let mut deadline = Deadline::after(self.opts.timeout);
        let (mut usernames, mut passwords) = (0, 0);
        let mut failure: Option<(VpnErrorKind, &str)> = None;
        loop {
            let ev = match client.next(inbox, &mut deadline) {
                Ok(ev) => ev,
                // The client said why before it left: that is the reason.
                Err(Stop::Died(_)) if failure.is_some() => {
                    let (kind, reason) = failure.unwrap_or((VpnErrorKind::Other, ""));
                    return Ok(Err(Self::fail(client, kind, reason)));
                }
                Err(stop) => return Err(stop),
            };
            match ev {
                Event::Line(l) => {
                    if is_connected(&l) {
                        return Ok(Ok(()));
                    }
                    if let Some(f) = FAILURES.iter().find(|f| l.contains(f.0)) {
                        failure.get_or_insert((f.1, f.2));
                        if f.1 == VpnErrorKind::ClientBusy {
                            return Ok(Err(Self::fail(client, f.1, f.2)));
                        }
                    }
                }
                Event::Prompt(Prompt::Username) => {
                    usernames += 1;
                    if usernames > 1 {
                        return Ok(Err(Self::fail(
                            client,
                            VpnErrorKind::LoginFailed,
                            "login failed (wrong username or password): the client asked for the username again",
                        )));
                    }
                    client.send(&credentials.username)?;
                }
                Event::Prompt(Prompt::Password) => {
                    passwords += 1;
                    if passwords > 1 {
                        return Ok(Err(Self::fail(
                            client,
                            VpnErrorKind::LoginFailed,
                            "login failed (wrong username or password): the client asked for the password again",
                        )));
                    }
                    client.send(credentials.password.expose())?;
                }
                Event::Prompt(Prompt::Choice) => {
                    client.send(&self.opts.choice.to_string())?;
                }
            }
        }
    }

    /// Ends a client that will not be used (Ctrl-C into its terminal, the grace, kill) and what
    /// it started (after a Ctrl-C waiting only the grace for those to go).
    fn abandon(&mut self, mut client: Client, inbox: &mut Inbox) {
        let mut d = Deadline::after(CANCEL_GRACE);
        client.stop(inbox, &mut d);
        drop(client);
        if let Ok(p) = self.program() {
            let wait = if inbox.cancelled() {
                CANCEL_GRACE
            } else {
                GONE_WITHIN
            };
            cleanup::end_leftovers(&p, inbox, wait);
        }
    }

    /// After the client: the resolver file, and a note for the record.
    fn after_client(&mut self, inbox: &mut Inbox) -> Option<String> {
        let saved = self.saved_resolv.take();
        cleanup::repair_resolv_conf(saved.as_deref(), inbox)
    }

    fn open_inner(
        &mut self,
        inbox: &mut Inbox,
        gateway: &str,
        credentials: &Credentials,
    ) -> Result<OpenInfo, VpnError> {
        let program = self.program()?;
        // Left-overs of an earlier session (another vpnmon's, a crashed one's) would make the
        // client refuse ("Another instance …") or hold the old tunnel.
        let (ended, left) = cleanup::end_leftovers(&program, inbox, GONE_WITHIN);
        if inbox.cancelled() {
            return Err(VpnError::cancelled());
        }
        let ended_note =
            cleanup::ended_note("ended left-over SonicWall client programs", &ended, &left);
        if !left.is_empty() {
            return Err(VpnError::new(
                VpnErrorKind::ClientBusy,
                ended_note.unwrap_or_default(),
            ));
        }
        let with_note = |mut e: VpnError| {
            if let Some(n) = &ended_note {
                e.diagnostics.insert(0, n.clone());
            }
            e
        };
        self.saved_resolv = cleanup::save_resolv_conf();
        let mut client = Client::spawn(self.command(&program, gateway), inbox, &self.password)
            .map_err(|e| {
                with_note(VpnError::new(
                    VpnErrorKind::ClientMissing,
                    format!(
                        "cannot start the SonicWall client {}: {e}",
                        program.display()
                    ),
                ))
            })?;
        match self.connect(&mut client, inbox, credentials) {
            Ok(Ok(())) => {
                self.client = Some(client);
                Ok(OpenInfo { detail: ended_note })
            }
            Ok(Err(e)) => {
                self.abandon(client, inbox);
                Err(with_note(e))
            }
            Err(Stop::Cancelled) => {
                self.abandon(client, inbox);
                Err(VpnError::cancelled())
            }
            Err(Stop::Timeout) => {
                let e = Self::fail(
                    &client,
                    VpnErrorKind::Timeout,
                    format!(
                        "the SonicWall client did not connect within {} s",
                        self.opts.timeout.as_secs()
                    ),
                );
                self.abandon(client, inbox);
                Err(with_note(e))
            }
            Err(Stop::Died(how)) => {
                let e = Self::fail(
                    &client,
                    VpnErrorKind::ClientDied,
                    format!("{how} while connecting"),
                );
                self.abandon(client, inbox);
                Err(with_note(e))
            }
        }
    }
}

impl Driver for Dialog {
    type Config = SonicWallConfig;
    const LABEL: &'static str = "SonicWall Connect Tunnel";

    fn new(opts: SonicWallConfig) -> Dialog {
        Dialog {
            opts,
            program: None,
            client: None,
            password: Secret::default(),
            saved_resolv: None,
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
        if let Some(c) = self.client.take() {
            // Left from an earlier open that was not closed.
            self.abandon(c, inbox);
        }
        let r = self.open_inner(inbox, gateway, credentials);
        match r {
            Err(mut e) if e.kind != VpnErrorKind::Cancelled => {
                if let Some(note) = self.after_client(inbox) {
                    e.reason = format!("{}; {note}", e.reason);
                }
                Err(e)
            }
            r => r,
        }
    }

    fn close(&mut self, inbox: &mut Inbox, deadline: Deadline) -> Result<CloseInfo, VpnError> {
        // Nothing open (a failed open tidied after itself): the resolver file is not vpnmon's
        // business then, it may be another session's.
        let Some(mut client) = self.client.take() else {
            return Ok(CloseInfo::default());
        };
        let mut notes = Vec::new();
        let mut failure = None;
        let mut wait = Deadline::after(self.opts.timeout).within(deadline);
        if client.out.eof || client.guard.status().is_some() {
            let how = client.how_it_ended(inbox);
            failure = Some(Self::fail(
                &client,
                VpnErrorKind::ClientDied,
                format!("the tunnel dropped before the close: {how}"),
            ));
        } else if client.send(CMD_QUIT).is_err() || client.wait_exit(inbox, &mut wait).is_none() {
            let cancelled = inbox.cancelled();
            let mut grace = Deadline::after(CANCEL_GRACE);
            let left = client.stop(inbox, &mut grace);
            if !cancelled {
                failure = Some(Self::fail(
                    &client,
                    VpnErrorKind::Timeout,
                    format!(
                        "the SonicWall client did not leave within {} s of `{CMD_QUIT}`; it was {}",
                        self.opts.timeout.as_secs(),
                        if left { "interrupted" } else { "killed" }
                    ),
                ));
            }
        }
        drop(client);
        // The tunnel is gone when none of the client's processes is left.
        if let Ok(p) = self.program() {
            let wait = if inbox.cancelled() {
                CANCEL_GRACE
            } else {
                GONE_WITHIN
            };
            let (ended, left) = cleanup::end_leftovers(&p, inbox, wait);
            if let Some(n) = cleanup::ended_note(
                "ended what the SonicWall client left running",
                &ended,
                &left,
            ) {
                notes.push(n);
            }
        }
        if let Some(n) = self.after_client(inbox) {
            notes.push(n);
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        match failure {
            Some(mut e) => {
                if let Some(n) = note {
                    e.reason = format!("{}; {n}", e.reason);
                }
                Err(e)
            }
            None => Ok(CloseInfo { detail: note }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_recognised() {
        let cases: &[(&str, Option<Prompt>)] = &[
            ("Username: ", Some(Prompt::Username)),
            ("Password:", Some(Prompt::Password)),
            ("Enter your choice [1]: ", Some(Prompt::Choice)),
            (" your choice [2]:", Some(Prompt::Choice)),
            ("1. realm-a", None),
            ("Username", None),
        ];
        for (t, want) in cases {
            assert_eq!(prompt_of(t), *want, "{t:?}");
        }
        assert!(is_connected("CONNECT"));
        assert!(is_connected("  CONNECT  "));
        assert!(!is_connected("CONNECTING"));
        assert!(!is_connected("Connected"));
    }
}
