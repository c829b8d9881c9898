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

/// Permissions for a private directory or script (0700) where the OS has modes; `None` elsewhere
/// (the user's profile directory is private there).
#[cfg(unix)]
pub fn private_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
pub fn private_permissions() -> Option<std::fs::Permissions> {
    None
}

/// Whether a file belongs to the user vpnmon runs as (true where files have no owner id).
#[cfg(unix)]
pub fn owned_by_me(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == nix::unistd::geteuid().as_raw()
}

#[cfg(not(unix))]
pub fn owned_by_me(_meta: &std::fs::Metadata) -> bool {
    true
}
