//! The few OS-specific bits. Everything else is portable.

pub mod net;
pub mod pty;

use tokio_util::sync::CancellationToken;

/// Cancels `cancel` on the first Ctrl-C (SIGINT) or SIGTERM (and SIGHUP on Unix, when the
/// terminal goes away); a second one exits at once with status 130.
pub fn watch_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        wait_for_stop().await;
        cancel.cancel();
        wait_for_stop().await;
        eprintln!("---- vpnmon stopped at once (second Control-C) ----");
        std::process::exit(130);
    });
}

#[cfg(unix)]
async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

#[cfg(windows)]
async fn wait_for_stop() {
    use tokio::signal::windows;
    let mut close = windows::ctrl_close().ok();
    let mut brk = windows::ctrl_break().ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match close.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match brk.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

pub mod process;

/// Runs `f` with file descriptor 2 pointed at /dev/null, so ALSA's ~20 lines of complaints about
/// a missing device stay off the user's terminal. Only around the device open; anything another
/// thread writes to stderr in those milliseconds is lost too (vpnmon writes its messages to
/// stdout, except with `--json`, where they go to stderr).
#[cfg(unix)]
pub fn quiet_stderr<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return f();
    };
    use std::io::Write;
    let _ = std::io::stderr().flush();
    // SAFETY: dup/dup2/close on descriptors we own or on 2, restored before returning.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 {
        return f();
    }
    unsafe { libc::dup2(null.as_raw_fd(), 2) };
    let out = f();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    out
}

#[cfg(not(unix))]
pub fn quiet_stderr<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Whether an I/O error means another program holds the file (Windows' sharing and lock
/// violations; elsewhere such a file shows as permission denied).
pub fn is_sharing_violation(e: &std::io::Error) -> bool {
    // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
    cfg!(windows) && matches!(e.raw_os_error(), Some(32) | Some(33))
}
