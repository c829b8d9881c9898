//! What only Linux has: processes by executable path through /proc (the procfs crate), the forced socket
//! receive buffer, ALSA's error output. Everything Unix has in common comes from `unix.rs`.

pub use super::unix::*;

use super::process::Copy;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

/// Raises the receive buffer past `rmem_max` (`SO_RCVBUFFORCE`); refused without
/// CAP_NET_ADMIN, when the plain `SO_RCVBUF` that follows still applies up to the limit.
pub fn force_rcvbuf(fd: BorrowedFd<'_>, want: usize) {
    use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
    let _ = setsockopt(&fd, RcvBufForce, &want);
}

/// `ICMP_FILTER` (linux/icmp.h; the libc crate does not name it): a raw IPv4 ICMP socket's mask
/// of the ICMP types it is not given.
// nix's macro names its helper macro and libc unqualified.
use nix::{libc, setsockopt_impl, sockopt_impl};
const ICMP_FILTER: libc::c_int = 1;
sockopt_impl!(
    /// The raw socket's ICMP type filter: a set bit `1 << type` keeps that type away.
    IcmpFilter,
    SetOnly,
    libc::SOL_RAW,
    ICMP_FILTER,
    u32,
    nix::sys::socket::sockopt::SetStruct<u32>
);

/// Keeps only ICMP echo replies on a raw IPv4 socket. First the raw socket's own type filter
/// (`ICMP_FILTER`): the kernel checks it before it copies a packet to the socket, so our own
/// echo requests, which a raw socket sees on loopback, cost no copy and no queueing (a
/// thousand-target sweep of loopback hosts spent 4 % of its time cloning its requests for
/// the filter below to drop). Where that is refused, a socket filter (classic BPF, through
/// socket2's safe `attach_filter`) on packets that begin with the IP header: X = the header's
/// length, A = the ICMP type after it; type 0 (echo reply) is kept, anything else dropped in
/// the kernel. Failing both costs only speed: the sweep drops what is not a reply.
pub fn filter_echo_replies(fd: BorrowedFd<'_>) {
    use socket2::SockFilter;
    if nix::sys::socket::setsockopt(&fd, IcmpFilter, &!1u32).is_ok() {
        return;
    }
    const LDX_B_MSH: u16 = 0xb1; // X = 4 * (P[k] & 0xf)
    const LD_B_IND: u16 = 0x50; // A = P[X + k]
    const JEQ_K: u16 = 0x15; // A == k ? jt : jf
    const RET_K: u16 = 0x06; // keep k bytes (0: drop)
    let program = [
        SockFilter::new(LDX_B_MSH, 0, 0, 0),
        SockFilter::new(LD_B_IND, 0, 0, 0),
        SockFilter::new(JEQ_K, 0, 1, 0),
        SockFilter::new(RET_K, 0, 0, 0x0004_0000),
        SockFilter::new(RET_K, 0, 0, 0),
    ];
    let _ = socket2::SockRef::from(&fd).attach_filter(&program);
}

/// Has a raw IPv4 socket take the IP header from the sender (`IP_HDRINCL`) and returns the TTL
/// its own headers carried (the system's default), for the headers the sender now writes;
/// `None` where refused. Why: a header with its identification already set spares the kernel
/// choosing one (a keyed hash and a shared counter per packet, 4 % of a loopback sweep's CPU
/// for our requests alone) and its generic append path. Linux only: the BSDs and macOS want
/// some header fields in host order.
pub fn own_ip_header(fd: BorrowedFd<'_>) -> Option<u8> {
    let sock = socket2::SockRef::from(&fd);
    let ttl = u8::try_from(sock.ttl_v4().ok()?).ok()?;
    sock.set_header_included_v4(true).ok()?;
    Some(ttl)
}

/// Has the child get SIGTERM when vpnmon dies (parent-death signal), so a killed vpnmon does
/// not leave a tunnel up; a child whose vpnmon died before that was set does not start.
pub fn end_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    let hook = move || -> std::io::Result<()> {
        nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
        // vpnmon died between fork and prctl: do not start at all ("no such process": the
        // parent; an errno, so nothing is allocated after fork).
        if nix::unistd::getppid() != parent {
            return Err(nix::errno::Errno::ESRCH.into());
        }
        Ok(())
    };
    // `pre_exec` is unsafe because its hook runs in the child between fork and exec, where
    // only async-signal-safe work is sound; std and nix offer no safe way to set the
    // parent-death signal in the child.
    #[allow(unsafe_code)]
    // SAFETY: the hook only makes two async-signal-safe system calls (prctl, getppid) through
    // nix's thin wrappers and returns an errno-based error: it allocates nothing and touches
    // no lock or state shared with other threads.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Whether `await_exit` can wait for a child's exit here.
pub fn can_await_exit() -> bool {
    true
}

/// Blocks until the child `pid` has exited, without collecting its status (so its pid is not
/// reused before its owner reaps it). False when that cannot be waited for (not our child).
pub fn await_exit(pid: u32) -> bool {
    use nix::errno::Errno;
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    loop {
        match waitid(
            Id::Pid(Pid::from_raw(raw)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        ) {
            Ok(_) => return true,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// Runs `f` (which opens the audio device) with alsa-lib's complaints about a missing device
/// (~20 lines) captured for this thread instead of written to the user's terminal. Other
/// threads' output to stderr is untouched.
#[cfg(feature = "sound")]
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    // Each call starts an empty capture buffer; what alsa-lib says there is dropped.
    let _captured = alsa::Output::local_error_handler();
    f()
}

/// Built without the `sound` feature: no ALSA, nothing to quiet.
#[cfg(not(feature = "sound"))]
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Processes whose executable (`/proc/PID/exe`) is one of `programs`, run by this user — as
/// root by any user —, never this process. A process whose executable
/// cannot be read (another user's, to a user who is not root) is left out.
pub fn copies_of(programs: &[PathBuf]) -> Vec<Copy> {
    let me = nix::unistd::geteuid();
    let user = (!me.is_root()).then_some(me.as_raw());
    copies_run_by(&super::process::canonical(programs), user)
}

/// Every process run by this user — as root by any user —, never this process, with its
/// executable and command line (a process whose executable cannot be read is left out). For
/// rules that need the arguments too (a `java` running one vendor's jar).
pub fn own_processes() -> Vec<Copy> {
    let me = nix::unistd::geteuid();
    let user = (!me.is_root()).then_some(me.as_raw());
    processes_run_by(user, |_| true)
}

/// `copies_of` for the user `user` (`None`: any user), `programs` already canonical.
fn copies_run_by(programs: &[PathBuf], user: Option<u32>) -> Vec<Copy> {
    processes_run_by(user, |exe| programs.contains(&exe.to_path_buf()))
}

/// The processes of `user` (`None`: any user) whose executable `wanted` accepts.
fn processes_run_by(user: Option<u32>, wanted: impl Fn(&std::path::Path) -> bool) -> Vec<Copy> {
    let me = std::process::id();
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.flatten()
        .filter_map(|p| {
            let pid = u32::try_from(p.pid()).ok()?;
            if pid == me {
                return None;
            }
            if let Some(u) = user {
                if p.uid().ok()? != u {
                    return None;
                }
            }
            let exe = p.exe().ok()?;
            // A program replaced on disk (an update) shows as "PATH (deleted)": still that
            // program.
            let exe = exe
                .to_str()
                .and_then(|s| s.strip_suffix(" (deleted)"))
                .map_or(exe.clone(), PathBuf::from);
            if !wanted(&exe) {
                return None;
            }
            let args = match p.cmdline() {
                Ok(args) => args,
                // procfs reads the command line as UTF-8; an argument in another encoding is
                // still an argument to match on.
                Err(_) => lossy_cmdline(&p)?,
            };
            Some(Copy {
                pid,
                path: exe,
                args,
            })
        })
        .collect()
}

/// Ends (SIGKILL) the process `pid`; false when it could not be signalled.
pub fn kill_pid(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|raw| kill(Pid::from_raw(raw), Signal::SIGKILL).is_ok())
}

/// The command line with bytes that are not UTF-8 replaced, empty arguments left out (as
/// procfs does).
fn lossy_cmdline(p: &procfs::process::Process) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{}/cmdline", p.pid())).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    /// A child killed on drop.
    struct Renamed(Child);
    impl Drop for Renamed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts a copy of `program` named `name`, killed on drop.
    fn spawn_as(dir: &std::path::Path, program: &str, name: &str, args: &[&str]) -> Renamed {
        let path = dir.join(name);
        std::fs::copy(program, &path).unwrap();
        Renamed(Command::new(&path).args(args).spawn().unwrap())
    }

    /// Waits until the kernel shows the child's new name (after exec).
    fn wait_named(pid: u32, name: &str) {
        let end = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|s| s.trim() == name)
        {
            assert!(Instant::now() < end, "child never showed its name");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_exit(c: &mut Child) -> bool {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_command_line_that_is_not_utf8_is_still_listed() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nu");
        std::fs::copy("/bin/sh", &path).unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"vpnmon\xff1");
        let a = Renamed(
            Command::new(&path)
                .args(["-c", "sleep 30; :", "--interface"])
                .arg(bad)
                .spawn()
                .unwrap(),
        );
        wait_named(a.0.id(), "nu");
        // (The shell's child is a copy of it too until it becomes `sleep`: only `a` is looked at.)
        let found: Vec<Copy> = copies_of(&[path])
            .into_iter()
            .filter(|c| c.pid == a.0.id())
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].args.last().map(String::as_str),
            Some("vpnmon\u{fffd}1")
        );
    }

    #[test]
    fn only_copies_of_the_program_by_this_user_are_found_and_ended() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["client", "elsewhere"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        // The client, and a program of the same name elsewhere.
        let mut a = spawn_as(&dir.path().join("client"), "/bin/sleep", "vpn", &["30"]);
        let mut b = spawn_as(&dir.path().join("elsewhere"), "/bin/sleep", "vpn", &["30"]);
        wait_named(a.0.id(), "vpn");
        wait_named(b.0.id(), "vpn");
        // Through a link to its folder: the same program.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("client"), &link).unwrap();
        let program = link.join("vpn");
        let me = nix::unistd::geteuid().as_raw();
        let found = copies_run_by(
            &crate::platform::process::canonical(std::slice::from_ref(&program)),
            Some(me),
        );
        assert_eq!(
            found.iter().map(|c| c.pid).collect::<Vec<_>>(),
            vec![a.0.id()]
        );
        assert_eq!(
            found[0].path,
            std::fs::canonicalize(dir.path().join("client/vpn")).unwrap()
        );
        // Run by another user: never ours to end unless we are root.
        let other = me.wrapping_add(1);
        assert!(copies_run_by(
            &crate::platform::process::canonical(std::slice::from_ref(&program)),
            Some(other)
        )
        .is_empty());
        let ended = crate::platform::process::end_copies_of(&[program]);
        assert_eq!(
            ended.iter().map(|e| e.pid).collect::<Vec<_>>(),
            vec![a.0.id()]
        );
        assert!(wait_exit(&mut a.0), "the client's copy is still running");
        assert!(
            matches!(b.0.try_wait(), Ok(None)),
            "a program elsewhere was ended"
        );
    }

    #[test]
    fn a_tied_child_gets_sigterm_when_the_thread_that_started_it_ends() {
        use std::os::unix::process::ExitStatusExt;
        // Linux sends the parent-death signal when the *thread* that started the child ends,
        // not only the process: a driver must start its client on a thread that outlives it.
        let mut child = Renamed(
            std::thread::spawn(|| {
                let mut cmd = Command::new("sleep");
                cmd.arg("30");
                end_with_parent(&mut cmd);
                cmd.spawn().unwrap()
            })
            .join()
            .unwrap(),
        );
        assert!(
            wait_exit(&mut child.0),
            "the tied child outlived its parent"
        );
        let status = child.0.wait().unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
    }
}
