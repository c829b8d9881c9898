//! systemd's notify protocol (Type=notify) through the `sd-notify` crate: READY after the
//! start-up checks, STATUS with the last cycle's summary, WATCHDOG pings while the loop is
//! alive, STOPPING at the end. Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.

use super::Liveness;
use std::time::Duration;

/// Start-up is done: the first cycle is about to run.
pub fn ready() {
    #[cfg(unix)]
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
}

/// A line for `systemctl status`.
pub fn status(line: &str) {
    #[cfg(unix)]
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(line)]);
    #[cfg(not(unix))]
    let _ = line;
}

pub fn stopping() {
    #[cfg(unix)]
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
}

pub fn reloading() {
    #[cfg(unix)]
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
}

/// The watchdog interval systemd asks for ($WATCHDOG_USEC for this pid), if any.
pub fn watchdog_interval() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut usec = 0;
        if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
            return Some(Duration::from_micros(usec));
        }
    }
    None
}

/// Pings the watchdog at half its interval while `live` says the loop is alive, so systemd
/// restarts a vpnmon whose loop hangs. Must run inside the tokio runtime.
pub fn spawn_watchdog(live: Liveness) {
    let Some(every) = watchdog_interval() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every / 2);
        loop {
            tick.tick().await;
            if live.alive() {
                #[cfg(unix)]
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
    });
}
