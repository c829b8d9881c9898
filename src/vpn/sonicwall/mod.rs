//! SonicWall Connect Tunnel: drives the vendor's command-line client `startct` through a
//! pseudo-terminal (`startct -s GATEWAY -r REALM -y TIMEOUT`). Its texts are in `strings.rs`,
//! the dialog in `dialog.rs`; the machinery (driver thread, transcript, child guard, deadlines)
//! is `vpn::session`.

mod cleanup;
mod dialog;
mod strings;

use super::session::{program, DriverThread};
use super::{VpnError, VpnErrorKind};
use std::path::PathBuf;
use std::time::Duration;

pub use strings::STANDARD_PLACES;

/// The SonicWall driver as the monitor holds it: its dialog runs on a thread of its own.
pub type SonicWall = DriverThread<dialog::Dialog>;

/// The driver's resolved configuration (built by `settings`, or by a config file's site). The
/// gateway, username and password are the site's (`Site::vpnurlip`, `Site::credentials`), as for
/// every driver: they reach the driver with each `open`, so they are not repeated here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SonicWallConfig {
    /// The `startct` program (`--startct`); `None` looks in the standard places.
    pub startct: Option<PathBuf>,
    /// The authentication realm (`-r`, `--realm`); `None` leaves `-r` out (the client's default).
    pub realm: Option<String>,
    /// The number typed at the numbered choice ending `your choice [1]:` (`--sonicwall-choice`).
    pub choice: u32,
    /// Given to startct as `-y SECONDS` and how long vpnmon waits for `CONNECT` (`--vpn-timeout`).
    pub timeout: Duration,
}

impl Default for SonicWallConfig {
    fn default() -> Self {
        SonicWallConfig {
            startct: None,
            realm: None,
            choice: DEFAULT_CHOICE,
            timeout: super::DEFAULT_VPN_TIMEOUT,
        }
    }
}

/// The answer to the numbered choice when none is configured (the client's own default `[1]`).
pub const DEFAULT_CHOICE: u32 = 1;

/// The client program: `--startct` (a path), else the first standard place that holds it.
pub fn find_program(opts: &SonicWallConfig) -> Result<PathBuf, VpnError> {
    if let Some(p) = &opts.startct {
        return program::at(p).ok_or_else(|| {
            VpnError::new(
                VpnErrorKind::ClientMissing,
                format!(
                    "the SonicWall client given with --startct was not found: {}; check the path",
                    p.display()
                ),
            )
        });
    }
    program::first_of(STANDARD_PLACES).ok_or_else(|| {
        VpnError::new(
            VpnErrorKind::ClientMissing,
            format!(
                "cannot find SonicWall Connect Tunnel's command-line client startct; looked in: {}; install it or give its path with --startct PATH (or use --vpnclient none)",
                STANDARD_PLACES.join(", ")
            ),
        )
    })
}
