//! The seam between the monitor and the vendor clients: `VpnClient`, its typed errors, and each
//! driver's config. Drivers know prompts and error texts; they never print, beep or make
//! records. Which driver a site uses is decided in `run` (the composition root).

use std::fmt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub mod anyconnect;
#[cfg(test)]
pub mod fake;
pub mod openconnect;

/// A password that never shows itself in `Debug`/logs. Use `expose()` only where it is typed
/// into a client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Replaces every occurrence of the secret in `text` with asterisks (for diagnostics that
    /// quote a client's output).
    pub fn mask(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "********")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"********\""
        })
    }
}

/// VPN account credentials.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// Why an open or close did not succeed. The reason is for people; the kind is for code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpnErrorKind {
    /// The client program cannot be found or started.
    ClientMissing,
    /// Another instance of the product is running and could not be ended.
    ClientBusy,
    LoginFailed,
    /// The gateway's certificate could not be verified.
    Certificate,
    /// Name resolution, refused connection, no route.
    Unreachable,
    /// The client or gateway did not answer in time.
    Timeout,
    /// The client needs an answer we cannot give (second factor, SSO).
    Unsupported,
    /// The client exited or crashed unexpectedly.
    ClientDied,
    /// Stopped by Ctrl-C/SIGTERM.
    Cancelled,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnError {
    pub kind: VpnErrorKind,
    /// One line a person understands, e.g. "login failed (wrong username or password)".
    pub reason: String,
    /// The client's last lines, already password-masked, for the diagnostic block.
    pub diagnostics: Vec<String>,
}

impl VpnError {
    pub fn new(kind: VpnErrorKind, reason: impl Into<String>) -> VpnError {
        VpnError {
            kind,
            reason: reason.into(),
            diagnostics: Vec::new(),
        }
    }
    pub fn with_diagnostics(mut self, lines: Vec<String>) -> VpnError {
        self.diagnostics = lines;
        self
    }
    pub fn cancelled() -> VpnError {
        VpnError::new(VpnErrorKind::Cancelled, "stopped by Control-C")
    }
}

impl fmt::Display for VpnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for VpnError {}

/// Facts about a tunnel that opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenInfo {
    /// Free text such as "Connected to vpn.example.org" or "tun0 198.18.100.5".
    pub detail: Option<String>,
}

/// A vendor VPN client driver.
///
/// The methods block (PTY work); the monitor calls them off the async workers. Implementations
/// must watch `cancel` at least every ~100 ms while they wait and, when it fires, leave no tunnel
/// or process behind and return `VpnErrorKind::Cancelled`.
pub trait VpnClient: Send {
    /// A short name for messages ("Cisco AnyConnect", "OpenConnect").
    fn label(&self) -> &str;

    /// Start-up check (client program present, options consistent). Called once before the
    /// first cycle so a missing client is reported at once, not at the first cycle.
    fn check(&mut self) -> Result<(), VpnError> {
        Ok(())
    }

    /// Opens a tunnel to `gateway`. On error nothing may be left running.
    fn open(
        &mut self,
        gateway: &str,
        credentials: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<OpenInfo, VpnError>;

    /// Closes the tunnel; safe to call at any time (nothing open → Ok). Bounded by the driver's
    /// own grace periods; it must finish even after a cancel.
    fn close(&mut self) -> Result<(), VpnError>;
}

/// Which driver to use (`--vpnclient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VpnClientKind {
    /// Ping the targets directly, without opening a VPN.
    None,
    /// Cisco AnyConnect / Secure Client command-line client.
    Anyconnect,
    /// The open-source openconnect client.
    Openconnect,
}

impl VpnClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VpnClientKind::None => "none",
            VpnClientKind::Anyconnect => "anyconnect",
            VpnClientKind::Openconnect => "openconnect",
        }
    }
}

/// Default patience for a client that does not answer (the original's 2 minutes).
pub const DEFAULT_VPN_TIMEOUT: Duration = Duration::from_secs(120);
