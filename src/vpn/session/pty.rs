//! A client on a pseudo-terminal (expectrl's session), as a [`Process`] for the child guard. The
//! OS-specific side is in `crate::platform::pty`.

use super::child::Process;
use crate::platform::pty::OsSession;
use expectrl::{ControlCode, Expect};
use std::process::Command;

pub struct Pty {
    session: OsSession,
}

impl Pty {
    /// Starts `cmd` on a new pseudo-terminal; returns it and a reader of what it writes.
    pub fn spawn(cmd: Command) -> std::io::Result<(Pty, impl std::io::Read + Send + 'static)> {
        let cmd = crate::platform::pty::spawnable(cmd);
        let mut session =
            OsSession::spawn(cmd).map_err(|e| std::io::Error::other(e.to_string()))?;
        let output = crate::platform::pty::output(&mut session)?;
        Ok((Pty { session }, output))
    }

    /// Types `text` and Enter.
    pub fn send_line(&mut self, text: &str) -> std::io::Result<()> {
        self.session
            .send_line(text)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

impl Process for Pty {
    /// How it ended, in words ("the client exited with status 1").
    type Status = String;

    fn pid(&self) -> Option<u32> {
        crate::platform::pty::pid(&self.session)
    }

    fn try_status(&mut self) -> Option<String> {
        crate::platform::pty::exit_text(&self.session)
    }

    /// Ctrl-C typed into its terminal (as a person would).
    fn interrupt(&mut self) {
        let _ = self.session.send(ControlCode::EndOfText);
    }

    fn kill_and_reap(&mut self) {
        crate::platform::pty::kill_and_reap(&mut self.session);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::vpn::session::{ChildGuard, Deadline, Ending, Got, Inbox};
    use std::time::{Duration, Instant};
    use tokio_util::sync::CancellationToken;

    #[test]
    fn a_terminal_client_is_read_interrupted_with_ctrl_c_and_reaped() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("echo ready; exec sleep 30");
        let (pty, output) = Pty::spawn(cmd).unwrap();
        let pid = pty.pid().unwrap();
        let mut guard = ChildGuard::new(pty, &mut inbox);
        let source = inbox.attach(output).unwrap();
        let mut seen = Vec::new();
        let mut d = Deadline::after(Duration::from_secs(5));
        while !String::from_utf8_lossy(&seen).contains("ready") {
            match inbox.wait(&mut d) {
                Got::Output(id, b) if id == source => seen.extend(b),
                Got::Timeout => panic!("no output: {seen:?}"),
                _ => {}
            }
        }
        // Ctrl-C typed into its terminal ends `sleep` (the terminal's foreground process).
        let t = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(5));
        let end = guard.stop(&mut inbox, &mut d, |_| {});
        assert!(matches!(end, Ending::Exited(_)), "{end:?}");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert!(!crate::platform::process::is_alive(pid), "not reaped");
    }
}
