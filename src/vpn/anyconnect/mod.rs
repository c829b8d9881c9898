//! Cisco AnyConnect / Secure Client: drives the vendor's command-line client (`vpncli.exe`,
//! `vpn`) through a pseudo-terminal. Its texts are in `strings.rs`, the dialog in `dialog.rs`;
//! the machinery (driver thread, transcript, child guard, deadlines) is `vpn::session`.

mod dialog;
mod strings;

use super::session::{program, DriverThread};
use super::{VpnError, VpnErrorKind};
use std::path::PathBuf;
use std::time::Duration;

pub use strings::standard_places;

/// The AnyConnect driver as the monitor holds it: its dialog runs on a thread of its own.
pub type AnyConnect = DriverThread<dialog::Dialog>;

/// The driver's resolved configuration (built by `settings`).
#[derive(Debug, Clone)]
pub struct AnyConnectConfig {
    /// `--vpncli`; `None` looks in the standard places.
    pub vpncli: Option<PathBuf>,
    pub group: Option<String>,
    pub accept_untrusted_cert: bool,
    /// How long to wait for the client before giving up (`--vpn-timeout`).
    pub timeout: Duration,
    /// The pause before each command typed into vpncli (`--vpncli-delay`).
    pub delay: Duration,
}

impl Default for AnyConnectConfig {
    fn default() -> Self {
        AnyConnectConfig {
            vpncli: None,
            group: None,
            accept_untrusted_cert: false,
            timeout: super::DEFAULT_VPN_TIMEOUT,
            delay: DEFAULT_VPNCLI_DELAY,
        }
    }
}

/// The pause between commands the original used (vpncli dropped faster input).
pub const DEFAULT_VPNCLI_DELAY: Duration = Duration::from_millis(500);

/// The client program: `--vpncli` (a path), else the first standard place that holds it.
pub fn find_program(opts: &AnyConnectConfig) -> Result<PathBuf, VpnError> {
    if let Some(p) = &opts.vpncli {
        return program::at(p).ok_or_else(|| {
            VpnError::new(
                VpnErrorKind::ClientMissing,
                format!(
                    "the Cisco VPN client given with --vpncli was not found: {}; check the path",
                    p.display()
                ),
            )
        });
    }
    program::first_of(standard_places()).ok_or_else(|| {
        VpnError::new(
            VpnErrorKind::ClientMissing,
            format!(
                "cannot find the Cisco AnyConnect / Secure Client command-line client; looked in: {}; install it or give its path with --vpncli PATH (or use --vpnclient none)",
                standard_places().join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_missing_client_names_every_place_tried() {
        let opts = AnyConnectConfig::default();
        if standard_places().iter().any(|p| Path::new(p).exists()) {
            crate::test_skip::skip(
                "a_missing_client_names_every_place_tried",
                "a Cisco client is installed",
            );
            return;
        }
        let e = find_program(&opts).unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::ClientMissing);
        for p in standard_places() {
            assert!(e.reason.contains(p), "{p} missing in {}", e.reason);
        }
        assert!(!e.reason.contains('\n'));
        let opts = AnyConnectConfig {
            vpncli: Some(PathBuf::from("/nonexistent/vpn")),
            ..AnyConnectConfig::default()
        };
        let e = find_program(&opts).unwrap_err();
        assert!(e.reason.contains("--vpncli") && e.reason.contains("/nonexistent/vpn"));
    }
}
