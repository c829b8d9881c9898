//! The few OS-specific bits. Everything else is portable.

pub mod net;
pub mod pty;

use tokio_util::sync::CancellationToken;

/// Cancels `cancel` on the first Ctrl-C (SIGINT) or SIGTERM (and SIGHUP on Unix, when the
/// terminal goes away); a second one exits at once with status 130.
pub fn watch_signals(cancel: CancellationToken) {
    // Registered now, not at the watcher task's first poll: a stop in the first moments of a
    // run must be caught (not the signal's default action) and not lost.
    let mut stops = StopSignals::register();
    tokio::spawn(async move {
        stops.recv().await;
        cancel.cancel();
        stops.recv().await;
        eprintln!("---- vpnmon stopped at once (second Control-C) ----");
        std::process::exit(130);
    });
}

/// SIGINT, SIGTERM and SIGHUP, each registered once for the whole run.
#[cfg(unix)]
struct StopSignals(Vec<tokio::signal::unix::Signal>);

#[cfg(unix)]
impl StopSignals {
    fn register() -> StopSignals {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ];
        StopSignals(kinds.into_iter().filter_map(|k| signal(k).ok()).collect())
    }

    async fn recv(&mut self) {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        futures::future::select_all(self.0.iter_mut().map(|s| Box::pin(s.recv()))).await;
    }
}

#[cfg(windows)]
struct StopSignals;

#[cfg(windows)]
impl StopSignals {
    fn register() -> StopSignals {
        StopSignals
    }

    async fn recv(&mut self) {
        wait_for_stop().await
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

/// Runs `f` (which opens the audio device) with alsa-lib's complaints about a missing device
/// (~20 lines) captured for this thread instead of written to the user's terminal. Other
/// threads' output to stderr is untouched.
#[cfg(target_os = "linux")]
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    // Each call starts an empty capture buffer; what alsa-lib says there is dropped.
    let _captured = alsa::Output::local_error_handler();
    f()
}

#[cfg(not(target_os = "linux"))]
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Whether an I/O error means another program holds the file (Windows' sharing and lock
/// violations; elsewhere such a file shows as permission denied).
pub fn is_sharing_violation(e: &std::io::Error) -> bool {
    // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
    cfg!(windows) && matches!(e.raw_os_error(), Some(32) | Some(33))
}
