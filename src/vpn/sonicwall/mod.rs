//! SonicWall Connect Tunnel: drives the vendor's command-line client `startct` through a
//! pseudo-terminal (`startct -s GATEWAY -r REALM -y TIMEOUT`). Its texts are in `strings.rs`,
//! the dialog in `dialog.rs`; the machinery (driver thread, transcript, child guard, deadlines)
//! is `vpn::session`.

use std::path::PathBuf;
use std::time::Duration;

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
