//! The seam between the monitor and the vendor clients: `VpnClient`, its typed errors, and each
//! driver's config. Drivers know prompts and error texts; they never print, beep or make
//! records. Which driver a site uses is decided in `run` (the composition root).
//!
//! - `session/`: what every driver shares (transcript and the one redaction rule, deadlines,
//!   the child guard, the driver thread, program lookup).
//! - `<vendor>/`: one folder per client, its strings in `strings.rs`, its dialog beside them.
//!   A new driver is such a folder plus a line in `run::driver_for`.

use std::fmt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub mod anyconnect;
#[cfg(test)]
pub mod fake;
pub mod openconnect;
pub mod session;
pub mod sonicwall;

pub use session::Deadline;

/// A password that never shows itself in `Debug`/logs. Use `expose()` only where it is typed
/// into a client. A client's output is masked by `session::Redaction` (the one rule).
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

/// Facts about a close that succeeded: what had to be tidied after the client (a resolver file
/// it left rewritten, processes it left running), for the console and the record's reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseInfo {
    pub detail: Option<String>,
}

/// A vendor VPN client driver, as the monitor sees it.
///
/// The drivers run on threads of their own (`session::DriverThread`); these calls send them a
/// request and await the reply together with `cancel`. When `cancel` fires, a driver leaves no
/// tunnel or process behind within `session::CANCEL_GRACE` (plus the pacing pauses the commands
/// that take a tunnel down still need, see `session::pace`) and returns
/// `VpnErrorKind::Cancelled`.
#[async_trait::async_trait]
pub trait VpnClient: Send {
    /// A short name for messages ("Cisco AnyConnect", "OpenConnect").
    fn label(&self) -> &str;

    /// Start-up check (client program present, options consistent). Called once before the
    /// first cycle so a missing client is reported at once, not at the first cycle.
    async fn check(&mut self) -> Result<(), VpnError> {
        Ok(())
    }

    /// Opens a tunnel to `gateway`. On error nothing may be left running.
    async fn open(
        &mut self,
        gateway: &str,
        credentials: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<OpenInfo, VpnError>;

    /// Closes the tunnel; safe to call at any time (nothing open → Ok). Finishes by `deadline`
    /// (and the driver's own, shorter step limits); a cancel, also one that came before, cuts
    /// the waits to the grace, and a close cut short by it returns `Cancelled`.
    async fn close(
        &mut self,
        deadline: Deadline,
        cancel: &CancellationToken,
    ) -> Result<CloseInfo, VpnError>;
}

/// The longest a close may take in all, for callers without a limit of their own: above every
/// driver's own step limits with the default `--vpn-timeout`.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(300);

/// Which driver to use (`--vpnclient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VpnClientKind {
    /// Ping the targets directly, without opening a VPN.
    None,
    /// Cisco AnyConnect / Secure Client command-line client.
    Anyconnect,
    /// The open-source openconnect client.
    Openconnect,
    /// SonicWall Connect Tunnel's command-line client (startct).
    Sonicwall,
}

impl VpnClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VpnClientKind::None => "none",
            VpnClientKind::Anyconnect => "anyconnect",
            VpnClientKind::Openconnect => "openconnect",
            VpnClientKind::Sonicwall => "sonicwall",
        }
    }
}

/// Default patience for a client that does not answer (the original's 2 minutes).
pub const DEFAULT_VPN_TIMEOUT: Duration = Duration::from_secs(120);
