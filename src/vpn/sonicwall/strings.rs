//! Every text of SonicWall Connect Tunnel's command-line client (`startct`) the driver types,
//! waits for or recognises, and the names of the processes and files it leaves behind. The
//! dialog logic is in `dialog.rs`; the clean-up rules in `cleanup.rs`.
//!
//! Source: the project's reference transcripts (../shared/reference/vpn-client-transcripts.md)
//! and EpMonitoring's dialog. Texts the reference does not give (how a refused login reads) are
//! marked as assumptions; the dialog does not depend on them alone.

use crate::vpn::VpnErrorKind;

/// Where the installers put `startct` (EpMonitoring ran `/usr/bin/startct`; the installer's
/// own folder is `/usr/local/Aventail`).
pub const STANDARD_PLACES: &[&str] = &[
    "/usr/bin/startct",
    "/usr/local/bin/startct",
    "/usr/local/Aventail/startct",
];

// ---- The command line and what is typed -------------------------------------------------------

/// `-s GATEWAY`
pub const ARG_SERVER: &str = "-s";
/// `-r REALM`
pub const ARG_REALM: &str = "-r";
/// `-y SECONDS`: the client's own timeout.
pub const ARG_TIMEOUT: &str = "-y";

// (`status`, answered `Connected` while the tunnel is up, is not used: see dialog.rs.)
/// Leaves the client, which takes the tunnel down.
pub const CMD_QUIT: &str = "quit";

// ---- Prompts and answers read ---------------------------------------------------------------

pub const PROMPT_USERNAME: &str = "Username:";
pub const PROMPT_PASSWORD: &str = "Password:";
/// The end of the numbered choice (`… your choice [1]:`); the number in brackets is the client's
/// default and may differ.
pub const PROMPT_CHOICE: &str = "your choice";

/// The tunnel is up (a word of its own on a line).
pub const CONNECTED: &str = "CONNECT";

/// Texts that end an open, with the kind and the reason shown. The first is the reference's;
/// the login texts are assumptions (a second `Username:` or `Password:` is recognised as a
/// refused login whatever the client printed before it).
pub const FAILURES: &[(&str, VpnErrorKind, &str)] = &[
    (
        "Another instance of this Application is running",
        VpnErrorKind::ClientBusy,
        "another instance of the SonicWall client is running (and is not one vpnmon may end)",
    ),
    (
        "Authentication failed",
        VpnErrorKind::LoginFailed,
        "login failed (wrong username or password)",
    ),
    (
        "Login failed",
        VpnErrorKind::LoginFailed,
        "login failed (wrong username or password)",
    ),
];

// ---- What the client leaves behind ------------------------------------------------------------

/// The installer's folder (`startct`, `AvConnect`, the Java part beneath it).
pub const INSTALL_DIR: &str = "/usr/local/Aventail";
/// The tunnel helper `startct` starts, in the client's install folder.
pub const AV_CONNECT: &str = "AvConnect";
/// The Java part of the client: a `java` whose command line names this jar.
pub const JAVA: &str = "java";
pub const SNWL_JAR: &str = "SnwlConnect.jar";

/// The resolver file the client rewrites while connected.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The client's rewrite mentions the vendor (compared ignoring case).
pub const RESOLV_MARK: &str = "sonicwall";
/// Regenerates the resolver file from its sources (Debian's resolvconf, openresolv).
pub const RESOLVCONF: &str = "resolvconf";
pub const RESOLVCONF_UPDATE: &str = "-u";
