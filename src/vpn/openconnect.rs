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
//! - openconnect runs in its own process group (a terminal's Ctrl-C reaches only vpnmon, which
//!   then logs off in order) and, on Linux, with a parent-death signal (SIGTERM: openconnect
//!   logs off and runs the disconnect script) so that a vpnmon killed without clean-up (kill -9,
//!   a second Ctrl-C) does not leave a tunnel behind. The signal fires when the *thread* that
//!   forked the child ends, so children are forked by a thread the driver owns for its lifetime.
//!   check() also ends openconnects and removes scripts left by a vpnmon that no longer runs.
//! - A tunnel that drops while up and that openconnect reconnects by itself (`attempt-reconnect`,
//!   `reconnect` through the script) is reported: the close is a Fail with that reason.

use super::{Credentials, OpenInfo, VpnClient, VpnError, VpnErrorKind, DEFAULT_VPN_TIMEOUT};
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
/// The same after Ctrl-C (grace + this + polling stay under a second).
const CANCEL_TUN_GONE_WAIT: Duration = Duration::from_millis(250);
/// Prefix of the private directory holding the connect script: `vpnmon-oc-<pid>-<random>`.
const SCRIPT_DIR_PREFIX: &str = "vpnmon-oc-";
/// What the tunnel dropping during a session is reported as.
const DROPPED_RECONNECTED: &str = "the tunnel dropped during the cycle and openconnect reconnected";
const DROPPED_NOT_RECONNECTED: &str =
    "the tunnel dropped during the cycle and openconnect had not reconnected";
/// How often waits look at the child, the output and the cancel token.
const POLL: Duration = Duration::from_millis(20);
/// Lines of client output kept for the diagnostic block.
const KEEP_LINES: usize = 30;
/// The marker the connect script prints on stdout.
const SCRIPT_MARK: &str = "vpnmon-script:";

/// The driver's resolved configuration (built by `settings`).
#[derive(Debug, Clone)]
pub struct OpenConnectConfig {
    /// The openconnect program (`--openconnect`), looked up on PATH when it has no slash.
    pub program: PathBuf,
    /// `--servercert pin-sha256:…`
    pub servercert: Option<String>,
    /// `--cafile`
    pub cafile: Option<PathBuf>,
    /// `--openconnect-no-dtls`
    pub no_dtls: bool,
    /// How long to wait for the tunnel before giving up (`--vpn-timeout`).
    pub timeout: Duration,
}

impl Default for OpenConnectConfig {
    fn default() -> Self {
        OpenConnectConfig {
            program: PathBuf::from("openconnect"),
            servercert: None,
            cafile: None,
            no_dtls: false,
            timeout: DEFAULT_VPN_TIMEOUT,
        }
    }
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
    spawner: Option<Spawner>,
}

/// The connect script in its private (0700, random name) directory; both removed on drop.
struct ScriptFile {
    dir: PathBuf,
    path: PathBuf,
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// A thread that forks the children and lives as long as the driver, so that the children's
/// parent-death signal (tied to the forking thread on Linux) fires only when vpnmon ends.
struct Spawner {
    tx: Option<mpsc::Sender<SpawnRequest>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spawner {
    fn start() -> std::io::Result<Spawner> {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let thread = std::thread::Builder::new()
            .name("openconnect-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        Ok(Spawner {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        let (reply, answer) = mpsc::channel();
        let gone = || std::io::Error::other("the spawner thread ended");
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send((cmd, reply))
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running openconnect.
struct Session {
    child: Child,
    lines: Receiver<String>,
    tail: VecDeque<String>,
    /// The Ctrl-C token of the open, so close() can hurry after a cancel.
    cancel: CancellationToken,
    /// Times the connect script was run with `attempt-reconnect` (the tunnel dropped) and with
    /// `reconnect` (openconnect brought it back).
    drops: u32,
    reconnects: u32,
}

impl Session {
    fn note(&mut self, line: String) {
        if let Some(rest) = line.trim().strip_prefix(SCRIPT_MARK) {
            match rest.split_whitespace().next() {
                Some("attempt-reconnect") => self.drops += 1,
                Some("reconnect") => self.reconnects += 1,
                _ => {}
            }
        }
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
    pub fn new(cfg: OpenConnectConfig) -> OpenConnect {
        OpenConnect {
            program: cfg.program,
            servercert: cfg.servercert.filter(|s| !s.trim().is_empty()),
            cafile: cfg.cafile,
            no_dtls: cfg.no_dtls,
            timeout: cfg.timeout,
            interface: interface_name(std::process::id()),
            script: None,
            session: None,
            spawner: None,
        }
    }

    /// The tun device name this driver asks openconnect for.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    fn write_script(&mut self) -> Result<PathBuf, VpnError> {
        if let Some(s) = &self.script {
            return Ok(s.path.clone());
        }
        let base = script_base_dir().ok_or_else(|| {
            VpnError::new(
                VpnErrorKind::Other,
                format!(
                    "the temporary directory {} holds characters a shell would interpret, and /tmp is not usable; set TMPDIR to a plain path (letters, digits, / . _ -)",
                    std::env::temp_dir().display()
                ),
            )
        })?;
        let err = |what: &Path, e: std::io::Error| {
            VpnError::new(
                VpnErrorKind::Other,
                format!(
                    "cannot write the openconnect connect script {}: {e}",
                    what.display()
                ),
            )
        };
        let dir = make_private_dir(&base).map_err(|e| err(&base, e))?;
        let path = dir.join("connect.sh");
        let write = || -> std::io::Result<()> {
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
        let file = ScriptFile {
            dir,
            path: path.clone(),
        };
        write().map_err(|e| err(&path, e))?;
        self.script = Some(file);
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
        // The passwords must not be inherited by openconnect, its script or a wrapper
        // (/proc/PID/environ); the VPN password goes through stdin only.
        crate::platform::process::without_secrets(&mut c);
        c.env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Its own process group: a terminal's Ctrl-C goes to vpnmon only, which logs off.
            c.process_group(0);
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            let parent = std::process::id();
            // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
            unsafe {
                c.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // vpnmon died between fork and prctl: do not start at all.
                    if libc::getppid() as u32 != parent {
                        return Err(std::io::Error::other("vpnmon exited"));
                    }
                    Ok(())
                });
            }
        }
        c
    }

    fn spawn(&mut self, cmd: Command) -> std::io::Result<Child> {
        if self.spawner.is_none() {
            self.spawner = Some(Spawner::start()?);
        }
        match &self.spawner {
            Some(s) => s.spawn(cmd),
            None => Err(std::io::Error::other("no spawner thread")),
        }
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

    fn wait_tun_gone(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
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
        let (diag, cancelled) = self
            .session
            .take()
            .map(|s| (s.diagnostics(), s.cancel.is_cancelled()))
            .unwrap_or_default();
        self.wait_tun_gone(if cancelled {
            CANCEL_TUN_GONE_WAIT
        } else {
            TUN_GONE_WAIT
        });
        if err.diagnostics.is_empty() {
            err.with_diagnostics(diag)
        } else {
            err
        }
    }
}

/// Whether openconnect can be given `p` as `--script` unquoted: it runs the script through
/// `/bin/sh -c`, so spaces or shell metacharacters would break or be interpreted.
fn shell_safe(p: &Path) -> bool {
    p.to_str().is_some_and(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    })
}

/// Where the script's private directory goes: the temporary directory if its path is shell-safe,
/// else /tmp.
fn script_base_dir() -> Option<PathBuf> {
    let tmp = std::env::temp_dir();
    if !cfg!(unix) || shell_safe(&tmp) {
        return Some(tmp);
    }
    let fallback = PathBuf::from("/tmp");
    (cfg!(unix) && fallback.is_dir()).then_some(fallback)
}

/// 64 unpredictable bits (the kernel's random source; a hash of the time as a fallback).
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_ne_bytes(b);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Creates `base/vpnmon-oc-<pid>-<random>` with mode 0700 (never reusing an existing entry).
fn make_private_dir(base: &Path) -> std::io::Result<PathBuf> {
    let mut last = None;
    for _ in 0..16 {
        let dir = base.join(format!(
            "{SCRIPT_DIR_PREFIX}{}-{:016x}",
            std::process::id(),
            random_u64()
        ));
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        match b.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
}

/// The vpnmon pid in an openconnect command line's `--interface vpnmon<pid>`.
fn interface_owner(args: &[String]) -> Option<u32> {
    let name = args.iter().enumerate().find_map(|(i, a)| {
        if a == "--interface" || a == "-i" {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix("--interface=")
        }
    })?;
    name.strip_prefix("vpnmon")?.parse().ok()
}

/// The vpnmon pid in a script entry's name: `vpnmon-oc-<pid>-<random>` or the older
/// `vpnmon-openconnect-<pid>.sh`.
fn script_owner(file_name: &str) -> Option<u32> {
    if let Some(rest) = file_name.strip_prefix(SCRIPT_DIR_PREFIX) {
        return rest.split_once('-')?.0.parse().ok();
    }
    file_name
        .strip_prefix("vpnmon-openconnect-")?
        .strip_suffix(".sh")?
        .parse()
        .ok()
}

/// Ends openconnects and removes connect scripts left by a vpnmon that no longer runs (killed
/// without clean-up, before the parent-death signal existed or where there is none).
fn clean_up_stale() {
    let me = std::process::id();
    let stale = |n: u32| n != me && !crate::platform::process::is_alive(n);
    let mut ended = Vec::new();
    for (pid, args) in crate::platform::process::list_named("openconnect") {
        if interface_owner(&args).is_some_and(stale) {
            crate::platform::process::interrupt_pid(pid);
            ended.push(pid);
        }
    }
    // Let them log off and run the disconnect script before it is removed.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until && ended.iter().any(|p| crate::platform::process::is_alive(*p)) {
        std::thread::sleep(POLL);
    }
    let mut bases = vec![std::env::temp_dir()];
    if cfg!(unix) && !bases.iter().any(|b| b == Path::new("/tmp")) {
        bases.push(PathBuf::from("/tmp"));
    }
    for base in bases {
        let Ok(dir) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(owner) = name.to_str().and_then(script_owner) else {
                continue;
            };
            if !stale(owner) {
                continue;
            }
            // Only our own entries, never through a link.
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                // SAFETY: geteuid has no preconditions.
                if meta.uid() != unsafe { libc::geteuid() } {
                    continue;
                }
            }
            if meta.is_dir() {
                let _ = std::fs::remove_dir_all(entry.path());
            } else if meta.is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
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
        clean_up_stale();
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
        let cmd = self.command(gateway, &credentials.username, &script);
        let mut child = self.spawn(cmd).map_err(|e| {
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
            drops: 0,
            reconnects: 0,
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
            // Also the retry after a close cut short by Ctrl-C: Ok only if the device is gone.
            if self.tun_present() && !self.wait_tun_gone(TUN_GONE_WAIT) {
                return Err(VpnError::new(
                    VpnErrorKind::Other,
                    format!(
                        "the tun device {} is still present after openconnect exited",
                        self.interface
                    ),
                ));
            }
            return Ok(());
        }
        let (cancelled, r) = self.close_session();
        match r {
            // Cut short by Ctrl-C (killed after the short grace, or openconnect already ended by
            // the signal): not a result about the gateway. The monitor retries close() at the end.
            Err(e) if cancelled => Err(VpnError {
                kind: VpnErrorKind::Cancelled,
                ..e
            }),
            r => r,
        }
    }
}

impl OpenConnect {
    /// close() proper; also says whether Ctrl-C came before the end.
    fn close_session(&mut self) -> (bool, Result<(), VpnError>) {
        let cancelled = self
            .session
            .as_ref()
            .is_some_and(|s| s.cancel.is_cancelled());
        let (status, had_exited) = self.stop(if cancelled { CANCEL_GRACE } else { CLOSE_GRACE });
        let (diag, drops, reconnects, cancelled) = self
            .session
            .take()
            .map(|s| {
                (
                    s.diagnostics(),
                    s.drops,
                    s.reconnects,
                    s.cancel.is_cancelled(),
                )
            })
            .unwrap_or_default();
        let gone = self.wait_tun_gone(if cancelled {
            CANCEL_TUN_GONE_WAIT
        } else {
            TUN_GONE_WAIT
        });
        if had_exited {
            let how = status.map(|s| s.to_string()).unwrap_or_default();
            let e = VpnError::new(
                VpnErrorKind::ClientDied,
                format!("the tunnel had already dropped (openconnect exited, {how})"),
            );
            return (cancelled, Err(e.with_diagnostics(diag)));
        }
        if status.is_none() {
            let e = VpnError::new(
                VpnErrorKind::Timeout,
                "openconnect did not log off in time and was killed",
            );
            return (cancelled, Err(e.with_diagnostics(diag)));
        }
        if !gone {
            let e = VpnError::new(
                VpnErrorKind::Other,
                format!(
                    "the tun device {} is still present after openconnect exited",
                    self.interface
                ),
            );
            return (cancelled, Err(e.with_diagnostics(diag)));
        }
        if drops > 0 {
            let reason = if reconnects >= drops {
                DROPPED_RECONNECTED
            } else {
                DROPPED_NOT_RECONNECTED
            };
            let e = VpnError::new(VpnErrorKind::Other, reason);
            return (cancelled, Err(e.with_diagnostics(diag)));
        }
        (cancelled, Ok(()))
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
        let mut oc = test_driver("/nonexistent/openconnect", &interface_name(1));
        let e = oc.check().unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::ClientMissing);
        assert!(e.reason.contains("--openconnect PATH"), "{}", e.reason);
        assert!(find_program(Path::new("sh")).is_some());
    }

    /// A driver with default options for `program` and tun device `interface`, nothing open.
    fn test_driver(program: &str, interface: &str) -> OpenConnect {
        OpenConnect {
            program: PathBuf::from(program),
            servercert: None,
            cafile: None,
            no_dtls: false,
            timeout: DEFAULT_VPN_TIMEOUT,
            interface: interface.to_string(),
            script: None,
            session: None,
            spawner: None,
        }
    }

    /// A driver whose session is `sh -c SCRIPT` (standing in for openconnect), with `cancel`.
    fn with_child(script: &str, cancel: &CancellationToken) -> OpenConnect {
        // No such device: the tun check passes at once.
        let mut oc = test_driver("sh", "vpnmonnone0");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = oc.spawn(cmd).unwrap();
        let (tx, rx) = mpsc::channel();
        pump(
            child.stdout.take().unwrap(),
            tx,
            super::super::Secret::new("pw"),
        );
        oc.session = Some(Session {
            child,
            lines: rx,
            tail: VecDeque::new(),
            cancel: cancel.clone(),
            drops: 0,
            reconnects: 0,
        });
        oc
    }

    #[test]
    fn a_drop_and_reconnect_during_the_session_fails_the_close() {
        let cancel = CancellationToken::new();
        let mut oc = with_child(
            "echo 'vpnmon-script: attempt-reconnect 0'; echo 'vpnmon-script: reconnect 0'; \
             echo ready; exec sleep 30",
            &cancel,
        );
        // Wait until the lines are out (the child then only sleeps).
        let until = Instant::now() + Duration::from_secs(5);
        while oc.session.as_ref().unwrap().tail.len() < 3 {
            assert!(Instant::now() < until, "no output from the child");
            let s = oc.session.as_mut().unwrap();
            if let Ok(l) = s.lines.recv_timeout(POLL) {
                s.note(l);
            }
        }
        let e = oc.close().unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Other);
        assert_eq!(e.reason, DROPPED_RECONNECTED);

        let mut oc = with_child(
            "echo 'vpnmon-script: attempt-reconnect 0'; exec sleep 30",
            &cancel,
        );
        let until = Instant::now() + Duration::from_secs(5);
        while oc.session.as_ref().unwrap().drops == 0 {
            assert!(Instant::now() < until, "no output from the child");
            oc.session.as_mut().unwrap().drain();
            std::thread::sleep(POLL);
        }
        assert_eq!(oc.close().unwrap_err().reason, DROPPED_NOT_RECONNECTED);

        let mut oc = with_child("exec sleep 30", &cancel);
        assert_eq!(oc.close(), Ok(()));
    }

    #[test]
    fn a_close_cut_short_by_ctrl_c_is_cancelled_not_a_failure() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        // Ignores SIGINT: killed after the short grace.
        let mut oc = with_child("trap '' INT; while :; do sleep 0.05; done", &cancel);
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        let e = oc.close().unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Cancelled, "{e:?}");
        assert!(e.reason.contains("killed"), "{}", e.reason);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // Already gone (the signal reached it too).
        let mut oc = with_child("exit 1", &cancel);
        let until = Instant::now() + Duration::from_secs(5);
        while !matches!(oc.session.as_mut().unwrap().child.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < until);
            std::thread::sleep(POLL);
        }
        let e = oc.close().unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Cancelled, "{e:?}");
        assert!(e.reason.contains("already dropped"), "{}", e.reason);
        // Nothing left to close: the retry at the end is Ok.
        assert_eq!(oc.close(), Ok(()));
    }

    #[test]
    fn a_close_with_nothing_open_still_checks_the_device() {
        let cancel = CancellationToken::new();
        let mut oc = with_child("exit 0", &cancel);
        oc.session = None;
        assert_eq!(oc.close(), Ok(()));
        // A device that stays (lo exists everywhere): not confirmed.
        oc.interface = "lo".into();
        let e = oc.close().unwrap_err();
        assert!(e.reason.contains("still present"), "{}", e.reason);
    }

    #[test]
    fn the_password_is_not_in_the_childs_environment() {
        let oc = test_driver("openconnect", &interface_name(1));
        let c = oc.command("gw", "u", Path::new("/x.sh"));
        let removed: Vec<_> = c
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(
            removed.contains(&"VPNMON_PASSWORD".to_string()),
            "{removed:?}"
        );
        assert!(
            removed.contains(&"VPNMON_SMTP_PASSWORD".to_string()),
            "{removed:?}"
        );
    }

    #[test]
    fn script_dirs_are_private_random_and_shell_safe() {
        let base = tempfile::tempdir().unwrap();
        let a = make_private_dir(base.path()).unwrap();
        let b = make_private_dir(base.path()).unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(script_owner(name), Some(std::process::id()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert!(shell_safe(Path::new("/tmp/vpnmon-oc-12-00ff/connect.sh")));
        for bad in [
            "/tmp/my dir",
            "/tmp/a;b",
            "/tmp/$(x)",
            "/tmp/'q'",
            "/tmp/a\\b",
            "",
        ] {
            assert!(!shell_safe(Path::new(bad)), "{bad:?}");
        }
    }

    #[test]
    fn owners_of_stale_things() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            interface_owner(&args(&["openconnect", "--interface", "vpnmon4242", "gw"])),
            Some(4242)
        );
        assert_eq!(
            interface_owner(&args(&["openconnect", "--interface=vpnmon7"])),
            Some(7)
        );
        assert_eq!(
            interface_owner(&args(&["openconnect", "--interface", "tun0"])),
            None
        );
        assert_eq!(script_owner("vpnmon-oc-99-0123abcd"), Some(99));
        assert_eq!(script_owner("vpnmon-openconnect-98.sh"), Some(98));
        assert_eq!(script_owner("vpnmon-other-1"), None);
    }

    #[test]
    fn stale_scripts_of_dead_vpnmons_are_removed() {
        // A pid that is surely not running: a child that has exited and been reaped.
        let mut c = Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        let dead = c.id();
        let tmp = std::env::temp_dir();
        let stale = tmp.join(format!("{SCRIPT_DIR_PREFIX}{dead}-{:016x}", random_u64()));
        let legacy = tmp.join(format!("vpnmon-openconnect-{dead}.sh"));
        let mine = make_private_dir(&tmp).unwrap();
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("connect.sh"), "").unwrap();
        std::fs::write(&legacy, "").unwrap();
        clean_up_stale();
        let (s, l, m) = (stale.exists(), legacy.exists(), mine.exists());
        let _ = std::fs::remove_dir_all(&mine);
        let _ = std::fs::remove_dir_all(&stale);
        let _ = std::fs::remove_file(&legacy);
        assert!(!s && !l, "stale script left");
        assert!(m, "a live vpnmon's script was removed");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_stale_openconnect_of_a_dead_vpnmon_is_interrupted() {
        let mut c = Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        let dead = c.id();
        // A stand-in named openconnect (a script's process name is its file name), ended by
        // SIGINT; one for a live vpnmon (this process) must be left alone.
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("openconnect");
        std::fs::write(
            &prog,
            "#!/bin/sh\ntrap 'exit 0' INT\nwhile :; do sleep 0.05; done\n",
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let start = |owner: u32| {
            Command::new(&prog)
                .arg("--interface")
                .arg(interface_name(owner))
                .spawn()
                .unwrap()
        };
        let mut stale = start(dead);
        let mut live = start(std::process::id());
        let shown = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "openconnect")
        };
        let until = Instant::now() + Duration::from_secs(5);
        while !(shown(stale.id()) && shown(live.id())) {
            assert!(Instant::now() < until, "stand-ins never showed their name");
            std::thread::sleep(POLL);
        }
        clean_up_stale();
        let until = Instant::now() + Duration::from_secs(5);
        let ended = loop {
            if let Ok(Some(_)) = stale.try_wait() {
                break true;
            }
            if Instant::now() >= until {
                break false;
            }
            std::thread::sleep(POLL);
        };
        let live_running = matches!(live.try_wait(), Ok(None));
        let _ = stale.kill();
        let _ = live.kill();
        let _ = stale.wait();
        let _ = live.wait();
        assert!(ended, "the dead vpnmon's openconnect was not ended");
        assert!(live_running, "a live vpnmon's openconnect was ended");
    }
}
