//! What every Unix (Linux, macOS, the BSDs) does alike, through nix's safe wrappers. The
//! kernel-specific rest is in `linux.rs` / `other_unix.rs`, which re-export this file.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

// ---- signals ------------------------------------------------------------------------------

/// SIGINT and SIGTERM, each registered once for the whole run. SIGHUP is a reload
/// (`ReloadSignals`), as `systemctl reload` and logrotate mean it.
pub struct StopSignals(Vec<(super::StopSignal, tokio::signal::unix::Signal)>);

impl StopSignals {
    /// Installs the handlers now (must run inside the tokio runtime).
    pub fn register() -> StopSignals {
        use super::StopSignal;
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            (StopSignal::Interrupt, SignalKind::interrupt()),
            (StopSignal::Terminate, SignalKind::terminate()),
        ];
        StopSignals(
            kinds
                .into_iter()
                .filter_map(|(name, k)| signal(k).ok().map(|s| (name, s)))
                .collect(),
        )
    }

    /// The next stop signal.
    pub async fn recv(&mut self) -> super::StopSignal {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        let (_, i, _) =
            futures::future::select_all(self.0.iter_mut().map(|(_, s)| Box::pin(s.recv()))).await;
        self.0[i].0
    }
}

/// SIGHUP: reload the configuration between cycles.
pub struct ReloadSignals(Option<tokio::signal::unix::Signal>);

impl ReloadSignals {
    /// Installs the handler now (must run inside the tokio runtime).
    pub fn register() -> ReloadSignals {
        use tokio::signal::unix::{signal, SignalKind};
        ReloadSignals(signal(SignalKind::hangup()).ok())
    }

    /// The next reload request.
    pub async fn recv(&mut self) {
        match self.0.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}

// ---- users ----------------------------------------------------------------------------------

/// Whether other people can use this machine: an account with a login (uid 1000 and up, not
/// `nobody`) other than this one in /etc/passwd. A -pass password is in their `ps`.
pub fn other_users_present() -> bool {
    let me = nix::unistd::getuid().as_raw();
    let Ok(text) = std::fs::read_to_string("/etc/passwd") else {
        return false;
    };
    text.lines().any(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let uid = f.get(2).and_then(|u| u.parse::<u32>().ok());
        let shell = f.get(6).copied().unwrap_or("");
        matches!(uid, Some(u) if u >= 1000 && u != 65534 && u != me)
            && !shell.ends_with("nologin")
            && !shell.ends_with("false")
    })
}

// ---- files --------------------------------------------------------------------------------

/// Whether an I/O error means another program holds the file: never on Unix, where such a
/// file shows as permission denied.
pub fn is_sharing_violation(_e: &std::io::Error) -> bool {
    false
}

/// The permissions `File::create` gives a new file (read-write for all, less the umask), for
/// files created another way (tempfile makes its files private).
pub fn ordinary_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o666))
}

/// Read, write and (for directories and scripts) run for the owner only, less the umask: for
/// private directories and files (with tempfile's `Builder::permissions` or `OpenOptions`).
pub fn owner_only_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o700))
}

/// The permission bits of a file that its group or other users may read or write (`None`: the
/// file is private to its owner).
pub fn shared_mode(path: &std::path::Path) -> std::io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    Ok((mode & 0o066 != 0).then_some(mode))
}

/// Whether a file or directory belongs to the user vpnmon runs as (effective uid), so that
/// clean-up never removes another user's things.
pub fn owned_by_me(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == nix::unistd::geteuid().as_raw()
}

// ---- net ----------------------------------------------------------------------------------

/// What to do when no ICMP socket may be opened.
pub const ICMP_PERMISSION_HINT: &str =
    "allow unprivileged ping with `sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, \
     or give vpnmon raw sockets with `sudo setcap cap_net_raw+ep /path/to/vpnmon`, or run it as root";

/// Plain words for the network errors a ping can meet.
pub fn io_words(e: &std::io::Error) -> String {
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENETUNREACH) => "network unreachable".into(),
        Some(Errno::EHOSTUNREACH) => "no route to host".into(),
        Some(Errno::EACCES) | Some(Errno::EPERM) => {
            "sending was refused by the local firewall or permissions".into()
        }
        _ => crate::error::io_reason(e),
    }
}

/// Runs `f` on the descriptor of a surge-ping socket.
fn with_fd<T>(
    socket: &surge_ping::AsyncSocket,
    f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> T,
) -> T {
    // surge-ping hands out only the raw descriptor (no `AsFd`), and borrowing a descriptor
    // owned elsewhere has no safe wrapper: the only `unsafe` in this file.
    #[allow(unsafe_code)]
    // SAFETY: the descriptor belongs to `socket`, which is borrowed for this whole call and so
    // stays open while `fd` lives; `fd` is only lent to `f` and does not escape this function.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(socket.get_native_sock()) };
    f(fd)
}

/// Raises a socket's receive buffer to `want` bytes (forcing past `rmem_max` where the kernel
/// allows it and we are privileged) and returns the size in effect.
pub fn raise_rcvbuf(socket: &surge_ping::AsyncSocket, want: usize) -> usize {
    with_fd(socket, |fd| {
        super::os::force_rcvbuf(fd, want);
        let sock = socket2::SockRef::from(&fd);
        if sock.recv_buffer_size().unwrap_or(0) < want {
            let _ = sock.set_recv_buffer_size(want);
        }
        sock.recv_buffer_size().unwrap_or(212_992)
    })
}

/// Reads one datagram that has already arrived on `socket`, straight from the socket and without
/// waiting (`WouldBlock` when none has): its length and its source (`None` for a source that is
/// no IP address, which is no echo reply). tokio's `try_recv_from` answers from the readiness
/// its reactor last saw, which a sweep busy sending does not let it refresh: replies that
/// arrived during a burst of sends were read, and stamped, only once the burst ended (a loopback
/// RTT of 4 ms for a list of 1,000). The socket is non-blocking (surge-ping sets it so for tokio).
pub fn recv_now(
    socket: &surge_ping::AsyncSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<std::net::IpAddr>)> {
    use nix::sys::socket::{recvfrom, SockaddrStorage};
    use std::os::fd::AsRawFd;
    with_fd(socket, |fd| {
        let (n, from) = recvfrom::<SockaddrStorage>(fd.as_raw_fd(), buf)?;
        let ip = from.and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| std::net::IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| std::net::IpAddr::V6(v6.ip())))
        });
        Ok((n, ip))
    })
}

/// Has a raw IPv4 socket send the IP headers the sweep writes, where the OS allows it (Linux):
/// the TTL to write, or `None` (the kernel writes them).
pub fn include_ip_header(socket: &surge_ping::AsyncSocket) -> Option<u8> {
    with_fd(socket, super::os::own_ip_header)
}

/// Has a raw IPv4 ICMP socket receive echo replies only, where the OS can filter (Linux):
/// a raw socket otherwise gets a copy of every ICMP packet of the machine, on loopback our own
/// requests too, each one a wake-up and a read, and room taken in the receive buffer.
pub fn only_echo_replies(socket: &surge_ping::AsyncSocket) {
    with_fd(socket, super::os::filter_echo_replies);
}

/// Whether a network interface of this name exists (a tun device is up).
pub fn interface_present(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok_and(|i| i != 0)
}

// ---- pty ----------------------------------------------------------------------------------

use super::pty::OsSession;

/// The command as the pseudo-terminal takes it: unchanged (arguments are passed as a vector).
pub fn spawnable(cmd: std::process::Command) -> std::process::Command {
    cmd
}

/// How the client ended, once it has (`None` while it runs).
pub fn exit_text(session: &OsSession) -> Option<String> {
    use expectrl::process::unix::WaitStatus;
    match session.get_process().status() {
        Ok(WaitStatus::Exited(_, 0)) => Some("the client ended its output and exited".into()),
        Ok(WaitStatus::Exited(_, c)) => Some(format!("the client exited with status {c}")),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("the client crashed ({sig:?})")),
        Ok(WaitStatus::StillAlive) => None,
        Ok(_) => None,
        Err(_) => Some("the client's output ended".into()),
    }
}

/// A reader of what the client writes to its terminal, for a reader thread (the session itself
/// is only written to): a duplicate of the terminal's master side, in blocking mode.
pub fn output(session: &mut OsSession) -> std::io::Result<std::fs::File> {
    session
        .get_process()
        .get_raw_handle()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The client's process id.
pub fn pid(session: &OsSession) -> Option<u32> {
    u32::try_from(session.get_process().pid().as_raw()).ok()
}

/// Ends the client at once and reaps it (the caller knows its status was not collected yet, so
/// the pid cannot have been reused).
pub fn kill_and_reap(session: &mut OsSession) {
    if let Some(p) = pid(session) {
        let _ = signal_pid(p, Some(Signal::SIGKILL));
    }
    let _ = session.get_process_mut().wait();
}

// ---- processes ----------------------------------------------------------------------------

/// Sends `sig` to a process by id; ids beyond `i32` (none on Unix) are ignored.
fn signal_pid(pid: u32, sig: Option<Signal>) -> nix::Result<()> {
    let raw = i32::try_from(pid).map_err(|_| Errno::ESRCH)?;
    kill(Pid::from_raw(raw), sig)
}

/// Asks a child to stop as Ctrl-C would (SIGINT), so it can log off.
pub fn interrupt(child: &std::process::Child) {
    let _ = signal_pid(child.id(), Some(Signal::SIGINT));
}

/// Sends SIGINT to a process by id.
pub fn interrupt_pid(pid: u32) {
    let _ = signal_pid(pid, Some(Signal::SIGINT));
}

/// Whether a process with this id exists (any owner: "no permission" still means it exists).
pub fn is_alive(pid: u32) -> bool {
    !matches!(signal_pid(pid, None), Err(Errno::ESRCH))
}

/// Starts the child in its own process group, so a terminal's Ctrl-C reaches vpnmon only
/// (which then logs the child off), and where the kernel can, has it get SIGTERM when vpnmon
/// dies.
pub fn isolate(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    super::os::end_with_parent(cmd);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors_in_plain_words() {
        let words = |e: Errno| io_words(&std::io::Error::from_raw_os_error(e as i32));
        assert_eq!(words(Errno::ENETUNREACH), "network unreachable");
        assert_eq!(words(Errno::EHOSTUNREACH), "no route to host");
        assert_eq!(
            words(Errno::EPERM),
            "sending was refused by the local firewall or permissions"
        );
        assert_eq!(words(Errno::EACCES), words(Errno::EPERM));
        // Anything else: the system's words without "(os error N)".
        assert_eq!(words(Errno::ENOENT), "No such file or directory");
    }

    #[test]
    fn a_reaped_child_is_not_alive_and_we_are() {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        assert!(!is_alive(c.id()));
        assert!(is_alive(std::process::id()));
    }

    #[test]
    fn own_files_are_mine() {
        let f = tempfile::NamedTempFile::new().unwrap();
        assert!(owned_by_me(&f.as_file().metadata().unwrap()));
        // / belongs to root: mine only when running as root.
        let root = std::fs::metadata("/").unwrap();
        assert_eq!(owned_by_me(&root), nix::unistd::geteuid().is_root());
    }

    #[test]
    fn an_isolated_child_has_its_own_process_group() {
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        isolate(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let group = nix::unistd::getpgid(Some(pid));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(group, Ok(pid));
    }

    #[test]
    fn the_loopback_interface_is_present() {
        assert!(interface_present("lo") || interface_present("lo0"));
        assert!(!interface_present("vpnmon-no-such-if"));
        assert!(!interface_present("nul\0byte"));
    }
}
