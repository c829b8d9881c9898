//! Every text of Cisco's CLI (`vpncli.exe`, `vpn`) the driver types, waits for or recognises,
//! with what each means. The dialog logic is in `dialog.rs`.

use crate::vpn::VpnErrorKind;

/// Where the installers put the CLI, newest product first.
pub fn standard_places() -> &'static [&'static str] {
    if crate::platform::WINDOWS {
        &[
            r"C:\Program Files (x86)\Cisco\Cisco Secure Client\vpncli.exe",
            r"C:\Program Files (x86)\Cisco\Cisco AnyConnect Secure Mobility Client\vpncli.exe",
        ]
    } else {
        &[
            "/opt/cisco/secureclient/bin/vpn",
            "/opt/cisco/anyconnect/bin/vpn",
        ]
    }
}

/// The product's window (GUI), in the CLI's install folder: it must not run while the CLI is
/// driven ("Another AnyConnect application is running"), so a copy of it is ended before an open.
pub fn ui_program() -> &'static str {
    if crate::platform::WINDOWS {
        "vpnui.exe"
    } else {
        "vpnui"
    }
}

/// The agent daemon (it holds the tunnel; the CLI and the GUI talk to it): never ended.
pub const AGENT_DAEMON: &str = "vpnagentd";

// ---- Commands and answers typed -----------------------------------------------------------

pub const CMD_CONNECT: &str = "connect";
pub const CMD_DISCONNECT: &str = "disconnect";
pub const CMD_STATE: &str = "state";
pub const CMD_EXIT: &str = "exit";
pub const YES: &str = "y";
pub const NO: &str = "n";

// ---- What it prints -----------------------------------------------------------------------

pub const STATE: &str = "state:";
pub const STATE_CONNECTED: &str = "state: Connected";
pub const STATE_CONNECTING: &str = "state: Connecting";
pub const STATE_DISCONNECTED: &str = "state: Disconnected";
pub const CONNECTED_TO: &str = "Connected to ";

/// Failure texts the CLI prints, with what they mean. The first that matches a line wins; a
/// later specific one replaces the generic "attempt has failed".
pub const FAILURES: &[(&str, VpnErrorKind, &str)] = &[
    (
        "Another AnyConnect application is running",
        VpnErrorKind::ClientBusy,
        "another AnyConnect application is running (close the Cisco Secure Client window)",
    ),
    (
        "unsuccessful domain name resolution",
        VpnErrorKind::Unreachable,
        "the gateway's name could not be resolved",
    ),
    (
        "Unable to contact",
        VpnErrorKind::Unreachable,
        "the gateway could not be contacted",
    ),
    (
        "Connection attempt has timed out",
        VpnErrorKind::Timeout,
        "the connection attempt timed out (check Internet connectivity)",
    ),
    (
        "client driver encountered an error",
        VpnErrorKind::Other,
        "the VPN client driver reported an error (restart the computer)",
    ),
    (
        "authentication type is not supported",
        VpnErrorKind::Unsupported,
        "the gateway needs a sign-in the CLI cannot do (single sign-on)",
    ),
    (
        "Please try connecting again",
        VpnErrorKind::Other,
        "the client asked to try connecting again",
    ),
    (
        "Connection attempt has failed",
        VpnErrorKind::Other,
        "the connection attempt failed",
    ),
];
pub const GENERIC_FAILURE: &str = "Connection attempt has failed";
pub const LOGIN_FAILED: &[&str] = &["Login failed", "Authentication failed"];
pub const CERT_UNTRUSTED: &[&str] = &["cannot verify server", "cannot verify the VPN server"];

// ---- Prompts (the text at the end of output that waits for an answer) -----------------------

pub const PROMPT_VPN: &str = "VPN>";
/// Second-factor prompts; looked for before `Password:` (`Second Password:` ends like it).
pub const PROMPTS_SECOND_FACTOR: &[&str] = &["Second Password:", "Passcode:", "Answer:"];
pub const PROMPT_PASSWORD: &str = "Password:";
/// Username and group prompts may be followed by the previous answer in brackets.
pub const PROMPT_USERNAME: &str = "Username:";
pub const PROMPT_GROUP: &str = "Group:";
pub const PROMPT_YES_NO: &str = "[y/n]:";
pub const PROMPT_BANNER: &str = "accept? [y/n]:";
pub const PROMPT_CONNECT_ANYWAY: &str = "Connect Anyway? [y/n]:";
pub const PROMPT_BLOCK_UNTRUSTED: &str = "blocks untrusted connections? [y/n]:";
