//! Ending other programs by their exact process name (as the original did with
//! `taskkill /IM vpnui.exe`). Never by a pattern: `vpn` must not end `vpnmon` or `openvpn`.

/// One process that was asked to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub name: String,
    /// The process id, when the platform tells it.
    pub pid: Option<u32>,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(p) => write!(f, "{} (pid {p})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Ends every process whose name is exactly one of `names` (on Windows `.exe` is added), except
/// this process. Returns those it ended; errors (no permission, process already gone) are
/// skipped, as a later step will notice a client that is still running.
pub fn kill_by_exact_name(names: &[&str]) -> Vec<Ended> {
    imp::kill(names)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Ended;
    use nix::sys::signal::{self, Signal};
    use nix::unistd::Pid;

    pub fn kill(names: &[&str]) -> Vec<Ended> {
        let me = std::process::id();
        let mut ended = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return ended;
        };
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
                continue;
            };
            let comm = comm.trim_end_matches('\n');
            if let Some(name) = names.iter().find(|n| **n == comm) {
                let Ok(raw) = i32::try_from(pid) else {
                    continue;
                };
                if signal::kill(Pid::from_raw(raw), Signal::SIGKILL).is_ok() {
                    ended.push(Ended {
                        name: name.to_string(),
                        pid: Some(pid),
                    });
                }
            }
        }
        ended
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    use super::{without_secrets, Ended};
    use std::process::{Command, Stdio};

    pub fn kill(names: &[&str]) -> Vec<Ended> {
        let mut ended = Vec::new();
        for name in names {
            // `pkill -x` matches the whole process name only; status 0 means one was signalled.
            let ok = without_secrets(&mut Command::new("pkill"))
                .args(["-KILL", "-x", name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                ended.push(Ended {
                    name: name.to_string(),
                    pid: None,
                });
            }
        }
        ended
    }
}

#[cfg(windows)]
mod imp {
    use super::{without_secrets, Ended};
    use std::process::{Command, Stdio};

    pub fn kill(names: &[&str]) -> Vec<Ended> {
        let mut ended = Vec::new();
        for name in names {
            let image = format!("{name}.exe");
            // taskkill /IM matches the image name exactly; status 0 means one was ended.
            let ok = without_secrets(&mut Command::new("taskkill"))
                .args(["/F", "/IM", &image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                ended.push(Ended {
                    name: image,
                    pid: None,
                });
            }
        }
        ended
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    /// Starts `sleep` under another name (a copy of the binary), killed on drop.
    struct Renamed(Child);
    impl Drop for Renamed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn spawn_as(dir: &std::path::Path, name: &str) -> Renamed {
        let path = dir.join(name);
        std::fs::copy("/bin/sleep", &path).unwrap();
        Renamed(Command::new(&path).arg("30").spawn().unwrap())
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
    fn kills_only_exact_names() {
        let dir = tempfile::tempdir().unwrap();
        let id = std::process::id() % 100_000;
        let target = format!("pk{id}");
        let longer = format!("pk{id}x");
        let mut a = spawn_as(dir.path(), &target);
        let mut b = spawn_as(dir.path(), &longer);
        // Wait until the kernel shows the new name (after exec).
        let pid = a.0.id();
        let end = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|s| s.trim() == target)
        {
            assert!(Instant::now() < end, "child never showed its name");
            std::thread::sleep(Duration::from_millis(10));
        }
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
}

/// Asks a child to stop as Ctrl-C would (SIGINT), so it can log off; a no-op where there are no
/// signals (the caller kills after its grace period).
#[cfg(unix)]
pub fn interrupt(child: &std::process::Child) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
    }
}

#[cfg(not(unix))]
pub fn interrupt(_child: &std::process::Child) {}

/// Whether `p` is a file this user may run.
pub fn is_executable(p: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Environment variables that carry secrets to vpnmon; no child program is given them.
pub const SECRET_ENV: &[&str] = &["VPNMON_PASSWORD", "VPNMON_SMTP_PASSWORD"];

/// Removes the secret variables from what `cmd` will pass to its program.
pub fn without_secrets(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for k in SECRET_ENV {
        cmd.env_remove(k);
    }
    cmd
}

/// Processes whose name is exactly `name`, each with its command line (Linux; elsewhere none are
/// found, which only means no stale clean-up there).
pub fn list_named(name: &str) -> Vec<(u32, Vec<String>)> {
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut found = Vec::new();
    #[cfg(target_os = "linux")]
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
                continue;
            };
            if comm.trim_end_matches('\n') != name {
                continue;
            }
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            found.push((pid, args));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
    found
}

/// Whether a process with this id exists (any owner). Where this cannot be told, true, so that
/// callers leave the process's things alone.
pub fn is_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        use nix::errno::Errno;
        use nix::unistd::Pid;
        let Ok(raw) = i32::try_from(pid) else {
            return false;
        };
        !matches!(
            nix::sys::signal::kill(Pid::from_raw(raw), None),
            Err(Errno::ESRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Sends SIGINT to a process by id (Unix; a no-op elsewhere).
pub fn interrupt_pid(pid: u32) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if let Ok(raw) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(raw), Signal::SIGINT);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Whether `await_exit` can wait for a child's exit here.
pub fn can_await_exit() -> bool {
    cfg!(target_os = "linux")
}

/// Blocks until the child `pid` has exited, without collecting its status (so its pid is not
/// reused before its owner reaps it). False when that cannot be waited for (not our child, or
/// not supported here).
#[cfg(target_os = "linux")]
pub fn await_exit(pid: u32) -> bool {
    use nix::errno::Errno;
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    loop {
        match waitid(
            Id::Pid(nix::unistd::Pid::from_raw(raw)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        ) {
            Ok(_) => return true,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn await_exit(_pid: u32) -> bool {
    false
}

/// Makes a client started by `cmd` independent of the terminal's Ctrl-C (its own process group:
/// vpnmon gets the signal and ends the client in order) and, on Linux, ends it (SIGTERM) when
/// the thread that starts it ends — which, for a driver thread that lives as long as vpnmon,
/// means when vpnmon dies, even by SIGKILL.
#[cfg(unix)]
pub fn own_group_tied_to_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
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
}

#[cfg(not(unix))]
pub fn own_group_tied_to_parent(_cmd: &mut std::process::Command) {}
