//! The OS-specific side of driving a client through a pseudo-terminal (expectrl's session):
//! waiting for output, how the client ended, ending it.

use std::time::Duration;

pub use expectrl::session::OsSession;

/// Waits until the client's terminal has output to read, at most `wait`.
#[cfg(unix)]
pub fn wait_readable(session: &OsSession, wait: Duration) {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: session.get_stream().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd on a descriptor the session owns for the duration of the call.
    unsafe {
        libc::poll(&mut fds, 1, ms);
    }
}

#[cfg(windows)]
pub fn wait_readable(_session: &OsSession, wait: Duration) {
    std::thread::sleep(wait.min(Duration::from_millis(20)));
}

/// How the client ended, once it has (`None` while it runs).
#[cfg(unix)]
pub fn exit_text(session: &OsSession) -> Option<String> {
    use expectrl::process::unix::WaitStatus;
    match session.get_process().status() {
        Ok(WaitStatus::Exited(_, 0)) => Some("the client ended its output and exited".into()),
        Ok(WaitStatus::Exited(_, c)) => Some(format!("the client exited with status {c}")),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("the client crashed ({sig:?})")),
        Ok(WaitStatus::StillAlive) => None,
        Ok(_) => None,
        Err(_) => Some("the client's output ended".into()),
    }
}

#[cfg(windows)]
pub fn exit_text(session: &OsSession) -> Option<String> {
    if session.get_process().is_alive() {
        return None;
    }
    Some(match session.get_process().wait(Some(0)) {
        Ok(0) => "the client ended its output and exited".into(),
        Ok(c) => format!("the client exited with status {c:#x}"),
        Err(_) => "the client's output ended".into(),
    })
}

/// Ends the client at once and reaps it (unless its status was already collected).
#[cfg(unix)]
pub fn kill_child(mut session: OsSession, reaped: bool) {
    if reaped {
        return;
    }
    let pid = session.get_process().pid().as_raw();
    // SAFETY: signals our own child, which we have not reaped yet.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let _ = session.get_process_mut().wait();
}

#[cfg(windows)]
pub fn kill_child(mut session: OsSession, _reaped: bool) {
    // Closing the pseudo-console alone does not end the program: terminate it, then wait.
    if session.get_process().is_alive() {
        let _ = session.get_process_mut().exit(1);
        let _ = session.get_process().wait(Some(2000));
    }
}

/// A reader of what the client writes to its terminal, for a reader thread (the session itself
/// is only written to).
#[cfg(unix)]
pub fn output(session: &mut OsSession) -> std::io::Result<std::fs::File> {
    // A duplicate of the terminal's master side, in blocking mode.
    session
        .get_process()
        .get_raw_handle()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(windows)]
pub fn output(session: &mut OsSession) -> std::io::Result<std::fs::File> {
    session
        .get_process_mut()
        .output()
        .map(std::fs::File::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The client's process id.
#[cfg(unix)]
pub fn pid(session: &OsSession) -> Option<u32> {
    u32::try_from(session.get_process().pid().as_raw()).ok()
}

#[cfg(windows)]
pub fn pid(session: &OsSession) -> Option<u32> {
    Some(session.get_process().pid())
}

/// Ends the client at once and reaps it (the caller knows its status was not collected yet).
#[cfg(unix)]
pub fn kill_and_reap(session: &mut OsSession) {
    use nix::sys::signal::{kill, Signal};
    if let Some(pid) = pid(session).and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = session.get_process_mut().wait();
}

#[cfg(windows)]
pub fn kill_and_reap(session: &mut OsSession) {
    // Closing the pseudo-console alone does not end the program: terminate it, then wait.
    if session.get_process().is_alive() {
        let _ = session.get_process_mut().exit(1);
        let _ = session.get_process().wait(Some(2000));
    }
}
