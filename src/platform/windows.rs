//! Windows: console control events, sharing violations, raw ICMP, ConPTY sessions, and other
//! stale copies of the client ended by image path and user (sysinfo, `procs.rs`).

use super::pty::OsSession;

// ---- signals ------------------------------------------------------------------------------

/// Ctrl-C, Ctrl-Break and the console window closing, each registered once for the whole run.
pub struct StopSignals {
    c: Option<tokio::signal::windows::CtrlC>,
    close: Option<tokio::signal::windows::CtrlClose>,
    brk: Option<tokio::signal::windows::CtrlBreak>,
}

impl StopSignals {
    /// Installs the handlers now (must run inside the tokio runtime).
    pub fn register() -> StopSignals {
        use tokio::signal::windows;
        StopSignals {
            c: windows::ctrl_c().ok(),
            close: windows::ctrl_close().ok(),
            brk: windows::ctrl_break().ok(),
        }
    }

    /// The next stop signal.
    pub async fn recv(&mut self) -> super::StopSignal {
        use super::StopSignal;
        tokio::select! {
            _ = async { match self.c.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => StopSignal::Interrupt,
            _ = async { match self.close.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => StopSignal::Close,
            _ = async { match self.brk.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => StopSignal::Break,
        }
    }
}

/// Windows has no SIGHUP: a reload never comes.
pub struct ReloadSignals;

impl ReloadSignals {
    pub fn register() -> ReloadSignals {
        ReloadSignals
    }
    pub async fn recv(&mut self) {
        std::future::pending().await
    }
}

/// The Windows process list shows command lines to other users only as an administrator; not
/// warned about.
pub fn other_users_present() -> bool {
    false
}

/// Windows files get their access from the folder's ACL: not checked here.
pub fn shared_mode(path: &std::path::Path) -> std::io::Result<Option<u32>> {
    std::fs::metadata(path).map(|_| None)
}

// ---- files and audio ----------------------------------------------------------------------

/// Whether an I/O error means another program holds the file (an editor or a virus scanner
/// with the datalog open).
pub fn is_sharing_violation(e: &std::io::Error) -> bool {
    // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
    matches!(e.raw_os_error(), Some(32) | Some(33))
}

/// New files get their permissions from the folder on Windows: nothing to set.
pub fn ordinary_file_permissions() -> Option<std::fs::Permissions> {
    None
}

/// No Unix modes on Windows: a new file or folder inherits the folder's access list.
pub fn owner_only_permissions() -> Option<std::fs::Permissions> {
    None
}

/// Ownership is not compared on Windows: everything in the user's temporary folder counts.
pub fn owned_by_me(_meta: &std::fs::Metadata) -> bool {
    true
}

/// Windows' audio stack writes nothing to the console: the device is opened as it is.
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    f()
}

// ---- net ----------------------------------------------------------------------------------

/// What to do when no ICMP socket may be opened.
pub const ICMP_PERMISSION_HINT: &str =
    "run vpnmon as administrator (ICMP needs a raw socket on Windows)";

/// Plain words for the network errors a ping can meet: the system's own.
pub fn io_words(e: &std::io::Error) -> String {
    crate::error::io_reason(e)
}

/// Windows keeps large default buffers for raw sockets; nothing to raise.
pub fn raise_rcvbuf(_socket: &surge_ping::AsyncSocket, want: usize) -> usize {
    want
}

/// One datagram that has already arrived, without waiting (through tokio here: the Windows
/// sweep is the fallback behind the ICMP API prober).
pub fn recv_now(
    socket: &surge_ping::AsyncSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<std::net::IpAddr>)> {
    socket
        .try_recv_from(buf)
        .map(|(n, from)| (n, Some(from.ip())))
}

/// The kernel writes the IP headers on Windows.
pub fn include_ip_header(_socket: &surge_ping::AsyncSocket) -> Option<u8> {
    None
}

/// No socket filter on Windows: the sweep reads and drops what is not an echo reply.
pub fn only_echo_replies(_socket: &surge_ping::AsyncSocket) {}

/// Tunnel interfaces are not looked up by name on Windows.
pub fn interface_present(_name: &str) -> bool {
    false
}

// ---- pty ----------------------------------------------------------------------------------

/// The command as the pseudo-console must be given it: conpty 0.5.1 joins the program and its
/// arguments with bare spaces into the command line, so each word is quoted here
/// ([`super::pty::windows_word`]); environment and folder carried over. A word that is not
/// Unicode is passed as it is (it cannot be quoted as text).
pub fn spawnable(cmd: std::process::Command) -> std::process::Command {
    let word = |w: &std::ffi::OsStr| match w.to_str() {
        Some(t) => std::ffi::OsString::from(super::pty::windows_word(t)),
        None => w.to_owned(),
    };
    let mut out = std::process::Command::new(word(cmd.get_program()));
    out.args(cmd.get_args().map(word));
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => out.env(k, v),
            None => out.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        out.current_dir(d);
    }
    out
}

/// How the client ended, once it has (`None` while it runs).
pub fn exit_text(session: &OsSession) -> Option<String> {
    if session.get_process().is_alive() {
        return None;
    }
    Some(match session.get_process().wait(Some(0)) {
        Ok(0) => "the client ended its output and exited".into(),
        Ok(c) => format!("the client exited with status {c:#x}"),
        Err(_) => "the client's output ended".into(),
    })
}

/// A reader of what the client writes to its pseudo-console, for a reader thread: conpty's own
/// pipe reader (a duplicate of the output pipe's handle). Not turned into a `File`: conpty
/// 0.5.1's `From<PipeReader> for File` takes the raw handle and then drops the reader, whose
/// `Drop` closes that same handle, so the `File` read a closed handle and the driver saw the
/// client's output end at once (found running the Windows build under wine).
pub fn output(session: &mut OsSession) -> std::io::Result<impl std::io::Read + Send + 'static> {
    session
        .get_process_mut()
        .output()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The client's process id.
pub fn pid(session: &OsSession) -> Option<u32> {
    Some(session.get_process().pid())
}

/// Ends the client at once and waits for it.
pub fn kill_and_reap(session: &mut OsSession) {
    // Closing the pseudo-console alone does not end the program: terminate it, then wait.
    if session.get_process().is_alive() {
        let _ = session.get_process_mut().exit(1);
        let _ = session.get_process().wait(Some(2000));
    }
}

/// Exits of children cannot be awaited here without a handle: callers check every few ms.
pub fn can_await_exit() -> bool {
    false
}

/// See `can_await_exit`.
pub fn await_exit(_pid: u32) -> bool {
    false
}

// ---- processes ----------------------------------------------------------------------------

/// Stale copies of the client by image path and user SID (sysinfo).
pub use super::procs::{copies_of, kill_pid, own_processes};

/// No process groups or parent-death signal to set on Windows.
pub fn isolate(_cmd: &mut std::process::Command) {}

/// No signals on Windows: a no-op (the caller kills after its grace period).
pub fn interrupt(_child: &std::process::Child) {}

/// No signals on Windows: a no-op.
pub fn interrupt_pid(_pid: u32) {}

/// Whether a process with this id exists: not told here, so true, and callers leave the
/// process's things alone.
pub fn is_alive(_pid: u32) -> bool {
    true
}
