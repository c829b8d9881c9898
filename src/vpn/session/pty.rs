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
    pub fn spawn(cmd: Command) -> std::io::Result<(Pty, std::fs::File)> {
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
