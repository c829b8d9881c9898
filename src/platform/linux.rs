//! What only Linux has: processes by name through /proc (the procfs crate), the forced socket
//! receive buffer, ALSA's error output. Everything Unix has in common comes from `unix.rs`.

pub use super::unix::*;

use super::process::Ended;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::BorrowedFd;

/// Raises the receive buffer past `rmem_max` (`SO_RCVBUFFORCE`); refused without
/// CAP_NET_ADMIN, when the plain `SO_RCVBUF` that follows still applies up to the limit.
pub fn force_rcvbuf(fd: BorrowedFd<'_>, want: usize) {
    use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
    let _ = setsockopt(&fd, RcvBufForce, &want);
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
pub fn quiet_audio_errors<T>(f: impl FnOnce() -> T) -> T {
    // Each call starts an empty capture buffer; what alsa-lib says there is dropped.
    let _captured = alsa::Output::local_error_handler();
    f()
}

/// Every process as (pid, its name): the kernel's `comm`, at most 15 bytes, which is what a
/// process is identified by here. Processes that end while being read are left out.
fn processes() -> impl Iterator<Item = (procfs::process::Process, String)> {
    procfs::process::all_processes()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| {
            let comm = p.stat().ok()?.comm;
            Some((p, comm))
        })
}

/// Ends (SIGKILL) every process whose name is exactly one of `names`, except this process.
/// Returns those it ended; errors (no permission, process already gone) are skipped, as a
/// later step will notice a client that is still running.
pub fn kill_by_exact_name(names: &[&str]) -> Vec<Ended> {
    let me = std::process::id();
    let mut ended = Vec::new();
    for (p, comm) in processes() {
        let Ok(pid) = u32::try_from(p.pid()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Some(name) = names.iter().find(|n| **n == comm) {
            if kill(Pid::from_raw(p.pid()), Signal::SIGKILL).is_ok() {
                ended.push(Ended {
                    name: name.to_string(),
                    pid: Some(pid),
                });
            }
        }
    }
    ended
}

/// Processes whose name is exactly `name`, each with its command line.
pub fn list_named(name: &str) -> Vec<(u32, Vec<String>)> {
    processes()
        .filter(|(_, comm)| comm == name)
        .filter_map(|(p, _)| {
            let pid = u32::try_from(p.pid()).ok()?;
            let args = match p.cmdline() {
                Ok(args) => args,
                // procfs reads the command line as UTF-8; an argument in another encoding is
                // still an argument to match on, as before.
                Err(_) => lossy_cmdline(&p)?,
            };
            Some((pid, args))
        })
        .collect()
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
        let name = format!("nu{}", std::process::id() % 100_000);
        let path = dir.path().join(&name);
        std::fs::copy("/bin/sh", &path).unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"vpnmon\xff1");
        let a = Renamed(
            Command::new(&path)
                .args(["-c", "sleep 30; :", "--interface"])
                .arg(bad)
                .spawn()
                .unwrap(),
        );
        wait_named(a.0.id(), &name);
        let found = list_named(&name);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].1.last().map(String::as_str),
            Some("vpnmon\u{fffd}1")
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

    #[test]
    fn kills_only_exact_names() {
        let dir = tempfile::tempdir().unwrap();
        let id = std::process::id() % 100_000;
        let target = format!("pk{id}");
        let longer = format!("pk{id}x");
        let mut a = spawn_as(dir.path(), "/bin/sleep", &target, &["30"]);
        let mut b = spawn_as(dir.path(), "/bin/sleep", &longer, &["30"]);
        let pid = a.0.id();
        wait_named(pid, &target);
        wait_named(b.0.id(), &longer);
        let ended = kill_by_exact_name(&[&target]);
        assert_eq!(
            ended,
            vec![Ended {
                name: target.clone(),
                pid: Some(pid)
            }]
        );
        assert!(wait_exit(&mut a.0), "the named process is still running");
        assert!(
            matches!(b.0.try_wait(), Ok(None)),
            "a longer name was killed"
        );
    }

    #[test]
    fn lists_exact_names_with_their_command_lines() {
        let dir = tempfile::tempdir().unwrap();
        let id = std::process::id() % 100_000;
        let name = format!("ln{id}");
        // A shell that stays (`; :`) and has the arguments after its script.
        let args = ["-c", "sleep 30; :", "--interface", "vpnmon1"];
        let a = spawn_as(dir.path(), "/bin/sh", &name, &args);
        let b = spawn_as(dir.path(), "/bin/sh", &format!("{name}x"), &args);
        wait_named(a.0.id(), &name);
        wait_named(b.0.id(), &format!("{name}x"));
        let path = dir.path().join(&name).to_string_lossy().into_owned();
        assert_eq!(
            list_named(&name),
            vec![(
                a.0.id(),
                std::iter::once(path.as_str())
                    .chain(args)
                    .map(String::from)
                    .collect::<Vec<_>>()
            )]
        );
    }
}
