//! The OpenConnect driver: runs the open-source `openconnect` client as a child that vpnmon waits
//! on (never `--background`), one process per tunnel.
//!
//! - The password goes to `--passwd-on-stdin`, never on the command line. `--non-inter` makes a
//!   second password prompt after `Login failed.` an error instead of a loop, and makes an
//!   unverifiable certificate a failure instead of a question.
//! - The tunnel is configured by a small connect script vpnmon writes itself (no DNS or resolver
//!   changes; it sets the address and the routes the gateway pushes). The script reports on
//!   openconnect's stdout when configuration finished, so "open" means `Configured as …`, the
//!   script done, and the tun device present.
//! - close() sends SIGINT (openconnect logs off), waits, kills after a grace period, and confirms
//!   the tun device is gone.

use super::{Credentials, OpenInfo, VpnClient, VpnError, VpnErrorKind, DEFAULT_VPN_TIMEOUT};
use crate::settings::Settings;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long openconnect gets to log off after SIGINT before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The same after Ctrl-C: everything must be gone within a second.
const CANCEL_GRACE: Duration = Duration::from_millis(500);
/// How long the tun device may take to disappear after openconnect exited.
const TUN_GONE_WAIT: Duration = Duration::from_millis(500);
/// How often waits look at the child, the output and the cancel token.
const POLL: Duration = Duration::from_millis(20);
/// Lines of client output kept for the diagnostic block.
const KEEP_LINES: usize = 30;
/// The marker the connect script prints on stdout.
const SCRIPT_MARK: &str = "vpnmon-script:";

/// `--vpn-timeout` (declared with the AnyConnect options; it applies to every driver).
fn vpn_timeout(settings: &Settings) -> Duration {
    settings
        .cli
        .anyconnect
        .vpn_timeout
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_VPN_TIMEOUT)
}

/// The connect script: sets up the tun device and the pushed routes, prints the marker.
/// Split-include routes go through the tunnel; with none (a full tunnel) the gateway keeps its
/// route and everything else goes through the tunnel.
const SCRIPT: &str = r#"#!/bin/sh
# Written by vpnmon for openconnect --script; removed when vpnmon exits.
rc=0
case "$reason" in
connect)
  {
    ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1300}" &&
    ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
  } || rc=1
  n=${CISCO_SPLIT_INC:-0}
  i=0
  while [ "$rc" = 0 ] && [ "$i" -lt "$n" ]; do
    eval "a=\$CISCO_SPLIT_INC_${i}_ADDR m=\$CISCO_SPLIT_INC_${i}_MASKLEN"
    ip route replace "$a/$m" dev "$TUNDEV" || rc=1
    i=$((i+1))
  done
  if [ "$rc" = 0 ] && [ "$n" = 0 ]; then
    via=$(ip route get "$VPNGATEWAY" | sed -n '1{s/^[^ ]* //;s/ uid .*//;p}')
    { ip route replace "$VPNGATEWAY/32" $via &&
      ip route replace 0.0.0.0/1 dev "$TUNDEV" &&
      ip route replace 128.0.0.0/1 dev "$TUNDEV"; } || rc=1
  fi
  ;;
disconnect)
  if [ "${CISCO_SPLIT_INC:-0}" = 0 ] && [ -n "$VPNGATEWAY" ]; then
    ip route del "$VPNGATEWAY/32" 2>/dev/null
  fi
  ;;
esac
echo "vpnmon-script: $reason $rc"
exit $rc
"#;

/// The OpenConnect driver.
pub struct OpenConnect {
    program: PathBuf,
    servercert: Option<String>,
    cafile: Option<PathBuf>,
    no_dtls: bool,
    timeout: Duration,
    interface: String,
    script: Option<ScriptFile>,
    session: Option<Session>,
}

/// The connect script on disk, removed on drop.
struct ScriptFile(PathBuf);

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running openconnect.
struct Session {
    child: Child,
    lines: Receiver<String>,
    tail: VecDeque<String>,
    /// The Ctrl-C token of the open, so close() can hurry after a cancel.
    cancel: CancellationToken,
}

impl Session {
    fn note(&mut self, line: String) {
        if self.tail.len() == KEEP_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
    fn diagnostics(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
    fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.note(l);
        }
    }
}

impl OpenConnect {
    pub fn from_settings(settings: &Settings) -> OpenConnect {
        let o = &settings.cli.openconnect;
        OpenConnect {
            program: o
                .openconnect
                .clone()
                .unwrap_or_else(|| PathBuf::from("openconnect")),
            servercert: o.servercert.clone().filter(|s| !s.trim().is_empty()),
            cafile: o.cafile.clone(),
            no_dtls: o.no_dtls.unwrap_or(false),
            timeout: vpn_timeout(settings),
            interface: interface_name(std::process::id()),
            script: None,
            session: None,
        }
    }

    /// The tun device name this driver asks openconnect for.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    fn write_script(&mut self) -> Result<PathBuf, VpnError> {
        if let Some(s) = &self.script {
            return Ok(s.0.clone());
        }
        let path =
            std::env::temp_dir().join(format!("vpnmon-openconnect-{}.sh", std::process::id()));
        let write = || -> std::io::Result<()> {
            let _ = std::fs::remove_file(&path);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o700);
            }
            let mut f = opts.open(&path)?;
            f.write_all(SCRIPT.as_bytes())?;
            f.sync_all()
        };
        write().map_err(|e| {
            VpnError::new(
                VpnErrorKind::Other,
                format!(
                    "cannot write the openconnect connect script {}: {e}",
                    path.display()
                ),
            )
        })?;
        self.script = Some(ScriptFile(path.clone()));
        Ok(path)
    }

    fn command(&self, gateway: &str, username: &str, script: &Path) -> Command {
        let mut c = Command::new(&self.program);
        c.arg("--non-inter")
            .arg("--passwd-on-stdin")
            .arg("--interface")
            .arg(&self.interface)
            .arg("--script")
            .arg(script);
        if !username.is_empty() {
            c.arg("--user").arg(username);
        }
        if let Some(pin) = &self.servercert {
            c.arg("--servercert").arg(pin);
        }
        if let Some(ca) = &self.cafile {
            c.arg("--cafile").arg(ca);
        }
        if self.no_dtls {
            c.arg("--no-dtls");
        }
        c.arg("--").arg(gateway);
        c.env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn tun_present(&self) -> bool {
        crate::platform::net::interface_present(&self.interface)
    }

    /// Ends the session: SIGINT, wait up to `grace`, kill, reap. Returns how it exited (None if
    /// it had to be killed) and whether it had already exited before.
    fn stop(&mut self, grace: Duration) -> (Option<ExitStatus>, bool) {
        let Some(s) = self.session.as_mut() else {
            return (None, false);
        };
        if let Ok(Some(st)) = s.child.try_wait() {
            s.drain();
            return (Some(st), true);
        }
        crate::platform::process::interrupt(&s.child);
        let deadline = Instant::now() + grace;
        loop {
            s.drain();
            if let Ok(Some(st)) = s.child.try_wait() {
                return (Some(st), false);
            }
            if Instant::now() >= deadline {
                break;
            }
            if s.cancel.is_cancelled() && deadline > Instant::now() + CANCEL_GRACE {
                // Ctrl-C while logging off: do not wait the full grace.
                let short = Instant::now() + CANCEL_GRACE;
                while Instant::now() < short {
                    if let Ok(Some(st)) = s.child.try_wait() {
                        return (Some(st), false);
                    }
                    std::thread::sleep(POLL);
                }
                break;
            }
            std::thread::sleep(POLL);
        }
        let _ = s.child.kill();
        let _ = s.child.wait();
        s.drain();
        (None, false)
    }

    fn wait_tun_gone(&self) -> bool {
        let deadline = Instant::now() + TUN_GONE_WAIT;
        while self.tun_present() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }

    /// Stops a failed or cancelled open and returns `err` with the client's last lines.
    fn abort(&mut self, err: VpnError, grace: Duration) -> VpnError {
        self.stop(grace);
        let diag = self
            .session
            .take()
            .map(|s| s.diagnostics())
            .unwrap_or_default();
        self.wait_tun_gone();
        if err.diagnostics.is_empty() {
            err.with_diagnostics(diag)
        } else {
            err
        }
    }
}

/// `vpnmon<pid>`, within the 15 bytes Linux allows.
fn interface_name(pid: u32) -> String {
    let mut s = format!("vpnmon{pid}");
    s.truncate(15);
    s
}

/// Reads `r` line by line (also a last line without newline) into `tx`, password-masked.
fn pump(r: impl Read + Send + 'static, tx: mpsc::Sender<String>, secret: super::Secret) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = secret.mask(line.trim_end_matches(['\r', '\n']));
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// What a line of openconnect's output means for an open in progress.
#[derive(Debug, PartialEq)]
enum Seen {
    Nothing,
    Configured(String),
    ScriptDone(bool),
    Failure(VpnErrorKind, &'static str),
}

fn classify(line: &str) -> Seen {
    let l = line.trim();
    if let Some(rest) = l.strip_prefix(SCRIPT_MARK) {
        let mut it = rest.split_whitespace();
        return match (it.next(), it.next()) {
            (Some("connect"), Some(rc)) => Seen::ScriptDone(rc == "0"),
            _ => Seen::Nothing,
        };
    }
    if l.starts_with("Configured as ") {
        return Seen::Configured(l.to_string());
    }
    let low = l.to_ascii_lowercase();
    // `Server certificate verify failed: signer not found` also appears on pinned connections
    // that succeed; only the client's own rejection counts.
    let table: &[(&str, VpnErrorKind, &'static str)] = &[
        (
            "login failed",
            VpnErrorKind::LoginFailed,
            "login failed (wrong username or password)",
        ),
        (
            "failed verification",
            VpnErrorKind::Certificate,
            "the gateway's certificate could not be verified (give --servercert or --cafile)",
        ),
        (
            "error in the certificate",
            VpnErrorKind::Certificate,
            "the gateway's certificate could not be verified (give --servercert or --cafile)",
        ),
        (
            "connection refused",
            VpnErrorKind::Unreachable,
            "connection refused by the gateway",
        ),
        (
            "no route to host",
            VpnErrorKind::Unreachable,
            "no route to the gateway",
        ),
        (
            "network is unreachable",
            VpnErrorKind::Unreachable,
            "no route to the gateway (network unreachable)",
        ),
        (
            "connection timed out",
            VpnErrorKind::Timeout,
            "the gateway did not answer (connection timed out)",
        ),
        (
            "getaddrinfo failed",
            VpnErrorKind::Unreachable,
            "cannot resolve the gateway's name",
        ),
        (
            "user input required in non-interactive mode",
            VpnErrorKind::Unsupported,
            "the gateway asks for more than a username and password",
        ),
        (
            "set up tun device failed",
            VpnErrorKind::Other,
            "openconnect cannot create its tun device (needs root and /dev/net/tun)",
        ),
        (
            "failed to open tun device",
            VpnErrorKind::Other,
            "openconnect cannot create its tun device (needs root and /dev/net/tun)",
        ),
    ];
    for (needle, kind, reason) in table {
        if low.contains(needle) {
            return Seen::Failure(*kind, reason);
        }
    }
    Seen::Nothing
}

impl VpnClient for OpenConnect {
    fn label(&self) -> &str {
        "OpenConnect"
    }

    fn check(&mut self) -> Result<(), VpnError> {
        if find_program(&self.program).is_none() {
            return Err(VpnError::new(
                VpnErrorKind::ClientMissing,
                format!(
                    "the openconnect program '{}' was not found; install the openconnect package or give its path with --openconnect PATH",
                    self.program.display()
                ),
            ));
        }
        if let Some(ca) = &self.cafile {
            if !ca.is_file() {
                return Err(VpnError::new(
                    VpnErrorKind::Other,
                    format!(
                        "--cafile {}: no such file; give the CA certificate (PEM) of the gateway",
                        ca.display()
                    ),
                ));
            }
        }
        self.write_script().map(|_| ())
    }

    fn open(
        &mut self,
        gateway: &str,
        credentials: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<OpenInfo, VpnError> {
        if self.session.is_some() {
            self.close()?;
        }
        if cancel.is_cancelled() {
            return Err(VpnError::cancelled());
        }
        let script = self.write_script()?;
        let mut cmd = self.command(gateway, &credentials.username, &script);
        let mut child = cmd.spawn().map_err(|e| {
            VpnError::new(
                VpnErrorKind::ClientMissing,
                format!("cannot start {}: {e}", self.program.display()),
            )
        })?;
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            pump(out, tx.clone(), credentials.password.clone());
        }
        if let Some(err) = child.stderr.take() {
            pump(err, tx, credentials.password.clone());
        }
        // The password, then end of input: a second prompt after `Login failed.` fails at once.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("{}\n", credentials.password.expose()).as_bytes());
        }
        self.session = Some(Session {
            child,
            lines: rx,
            tail: VecDeque::new(),
            cancel: cancel.clone(),
        });

        let deadline = Instant::now() + self.timeout;
        let mut configured: Option<String> = None;
        let mut failure: Option<(VpnErrorKind, &'static str)> = None;
        loop {
            if cancel.is_cancelled() {
                return Err(self.abort(VpnError::cancelled(), CANCEL_GRACE));
            }
            if Instant::now() >= deadline {
                let e = VpnError::new(
                    VpnErrorKind::Timeout,
                    format!(
                        "openconnect did not bring the tunnel up within {} s",
                        self.timeout.as_secs_f64()
                    ),
                );
                return Err(self.abort(e, CANCEL_GRACE));
            }
            let Some(s) = self.session.as_mut() else {
                return Err(VpnError::new(
                    VpnErrorKind::Other,
                    "openconnect session lost",
                ));
            };
            match s.lines.recv_timeout(POLL) {
                Ok(line) => {
                    let seen = classify(&line);
                    s.note(line);
                    match seen {
                        Seen::Configured(l) => configured = Some(l),
                        Seen::ScriptDone(true) => {
                            if configured.is_some()
                                && crate::platform::net::interface_present(&self.interface)
                            {
                                let detail = configured.map(|c| {
                                    format!(
                                        "{} on {}",
                                        c.trim_start_matches("Configured as ")
                                            .split(',')
                                            .next()
                                            .unwrap_or(""),
                                        self.interface
                                    )
                                });
                                return Ok(OpenInfo { detail });
                            }
                            let e = VpnError::new(
                                VpnErrorKind::Other,
                                format!(
                                    "openconnect's connect script finished but the tun device {} is missing",
                                    self.interface
                                ),
                            );
                            return Err(self.abort(e, CLOSE_GRACE));
                        }
                        Seen::ScriptDone(false) => {
                            let e = VpnError::new(
                                VpnErrorKind::Other,
                                "the connect script could not configure the tunnel",
                            );
                            return Err(self.abort(e, CLOSE_GRACE));
                        }
                        Seen::Failure(kind, reason) => {
                            // Keep the first, most specific one; the client exits by itself.
                            failure.get_or_insert((kind, reason));
                        }
                        Seen::Nothing => {}
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Both pipes closed: the client has exited (or is about to).
                    std::thread::sleep(POLL);
                }
            }
            let s = self.session.as_mut();
            if let Some(s) = s {
                if let Ok(Some(st)) = s.child.try_wait() {
                    // Collect what it printed last before judging.
                    let until = Instant::now() + Duration::from_millis(200);
                    while Instant::now() < until {
                        match s.lines.recv_timeout(POLL) {
                            Ok(l) => {
                                if let Seen::Failure(k, r) = classify(&l) {
                                    failure.get_or_insert((k, r));
                                }
                                s.note(l);
                            }
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                    let e = match failure {
                        Some((k, r)) => VpnError::new(k, r),
                        None => VpnError::new(
                            VpnErrorKind::ClientDied,
                            format!("openconnect exited ({st}) before the tunnel was up"),
                        ),
                    };
                    return Err(self.abort(e, CANCEL_GRACE));
                }
            }
        }
    }

    fn close(&mut self) -> Result<(), VpnError> {
        if self.session.is_none() {
            return Ok(());
        }
        let (status, had_exited) = self.stop(CLOSE_GRACE);
        let diag = self
            .session
            .take()
            .map(|s| s.diagnostics())
            .unwrap_or_default();
        let gone = self.wait_tun_gone();
        if had_exited {
            let how = status.map(|s| s.to_string()).unwrap_or_default();
            return Err(VpnError::new(
                VpnErrorKind::ClientDied,
                format!("the tunnel had already dropped (openconnect exited, {how})"),
            )
            .with_diagnostics(diag));
        }
        if status.is_none() {
            return Err(VpnError::new(
                VpnErrorKind::Timeout,
                "openconnect did not log off in time and was killed",
            )
            .with_diagnostics(diag));
        }
        if !gone {
            return Err(VpnError::new(
                VpnErrorKind::Other,
                format!(
                    "the tun device {} is still present after openconnect exited",
                    self.interface
                ),
            )
            .with_diagnostics(diag));
        }
        Ok(())
    }
}

impl Drop for OpenConnect {
    fn drop(&mut self) {
        if self.session.is_some() {
            self.stop(CANCEL_GRACE);
        }
    }
}

/// The program as given if it holds a path separator, else the first match on PATH.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return crate::platform::process::is_executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| crate::platform::process::is_executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_name_fits_linux_limit() {
        assert_eq!(interface_name(42), "vpnmon42");
        assert_eq!(interface_name(4_000_000_000).len(), 15);
    }

    #[test]
    fn classifies_openconnect_lines() {
        assert_eq!(
            classify("Server certificate verify failed: signer not found"),
            Seen::Nothing,
            "appears on successful pinned connections too"
        );
        assert!(matches!(
            classify("Certificate from VPN server \"198.18.1.1\" failed verification."),
            Seen::Failure(VpnErrorKind::Certificate, _)
        ));
        assert!(matches!(
            classify("Login failed."),
            Seen::Failure(VpnErrorKind::LoginFailed, _)
        ));
        assert!(matches!(
            classify("Failed to connect to 198.18.1.2:443: Connection refused"),
            Seen::Failure(VpnErrorKind::Unreachable, _)
        ));
        assert_eq!(
            classify("Configured as 198.18.100.130, with SSL connected and DTLS disabled"),
            Seen::Configured(
                "Configured as 198.18.100.130, with SSL connected and DTLS disabled".into()
            )
        );
        assert_eq!(classify("vpnmon-script: connect 0"), Seen::ScriptDone(true));
        assert_eq!(
            classify("vpnmon-script: connect 1"),
            Seen::ScriptDone(false)
        );
        assert_eq!(classify("vpnmon-script: disconnect 0"), Seen::Nothing);
    }

    #[test]
    fn missing_program_is_a_clear_start_up_error() {
        let mut oc = OpenConnect {
            program: PathBuf::from("/nonexistent/openconnect"),
            servercert: None,
            cafile: None,
            no_dtls: false,
            timeout: DEFAULT_VPN_TIMEOUT,
            interface: interface_name(1),
            script: None,
            session: None,
        };
        let e = oc.check().unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::ClientMissing);
        assert!(e.reason.contains("--openconnect PATH"), "{}", e.reason);
        assert!(find_program(Path::new("sh")).is_some());
    }
}
