//! The connect script's private directory, and the clean-up of what a vpnmon that no longer
//! runs left behind (its openconnect, its script).

use super::strings::*;
use crate::platform::process::Ended;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long stale openconnects get to log off (and run their disconnect script) before their
/// scripts are removed.
const STALE_LOG_OFF: Duration = Duration::from_secs(2);
/// How often the clean-up looks whether they have gone (they are not our children: no event).
const STALE_RECHECK: Duration = Duration::from_millis(20);

/// The connect script in its private (0700, random name) directory; both removed on drop.
pub struct ScriptFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl ScriptFile {
    /// Writes the script into a new private directory under the temporary directory.
    pub fn write() -> Result<ScriptFile, String> {
        let base = script_base_dir().ok_or_else(|| {
            format!(
                "the temporary directory {} holds characters a shell would interpret, and /tmp is not usable; set TMPDIR to a plain path (letters, digits, / . _ -)",
                std::env::temp_dir().display()
            )
        })?;
        let err = |what: &Path, e: std::io::Error| {
            format!(
                "cannot write the openconnect connect script {}: {e}",
                what.display()
            )
        };
        let dir = make_private_dir(&base).map_err(|e| err(&base, e))?;
        let path = dir.path().join(SCRIPT_NAME);
        if !shell_safe(&path) && !crate::platform::WINDOWS {
            return Err(err(
                &path,
                std::io::Error::other("the path is not shell-safe"),
            ));
        }
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            if let Some(p) = crate::platform::fs::owner_only_permissions() {
                f.set_permissions(p)?;
            }
            f.write_all(SCRIPT.as_bytes())?;
            f.sync_all()
        };
        write().map_err(|e| err(&path, e))?;
        Ok(ScriptFile { _dir: dir, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether openconnect can be given `p` as `--script` unquoted: it runs the script through
/// `/bin/sh -c`, so spaces or shell metacharacters would break or be interpreted.
pub fn shell_safe(p: &Path) -> bool {
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
    if crate::platform::WINDOWS || shell_safe(&tmp) {
        return Some(tmp);
    }
    let fallback = PathBuf::from("/tmp");
    (!crate::platform::WINDOWS && fallback.is_dir()).then_some(fallback)
}

/// Creates `base/vpnmon-oc-<pid>-<random>`, private (0700), never reusing an existing entry.
/// The random part is letters and digits (shell-safe).
pub fn make_private_dir(base: &Path) -> std::io::Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    let prefix = format!("{SCRIPT_DIR_PREFIX}{}-", std::process::id());
    b.prefix(&prefix).rand_bytes(16);
    if let Some(p) = crate::platform::fs::owner_only_permissions() {
        b.permissions(p);
    }
    b.tempdir_in(base)
}

/// `vpnmon<pid>`, within the 15 bytes Linux allows.
pub fn interface_name(pid: u32) -> String {
    let mut s = format!("{INTERFACE_PREFIX}{pid}");
    s.truncate(15);
    s
}

/// The vpnmon pid in an openconnect command line's `--interface vpnmon<pid>`.
pub fn interface_owner(args: &[String]) -> Option<u32> {
    let long = format!("{OPT_INTERFACE}=");
    let name = args.iter().enumerate().find_map(|(i, a)| {
        if a == OPT_INTERFACE || a == OPT_INTERFACE_SHORT {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(long.as_str())
        }
    })?;
    name.strip_prefix(INTERFACE_PREFIX)?.parse().ok()
}

/// The vpnmon pid in a script entry's name: `vpnmon-oc-<pid>-<random>` or the older
/// `vpnmon-openconnect-<pid>.sh`.
pub fn script_owner(file_name: &str) -> Option<u32> {
    if let Some(rest) = file_name.strip_prefix(SCRIPT_DIR_PREFIX) {
        return rest.split_once('-')?.0.parse().ok();
    }
    file_name
        .strip_prefix(LEGACY_SCRIPT_PREFIX)?
        .strip_suffix(LEGACY_SCRIPT_SUFFIX)?
        .parse()
        .ok()
}

/// Ends openconnects and removes connect scripts left by a vpnmon that no longer runs (killed
/// without clean-up, before the parent-death signal existed or where there is none). Only
/// copies of `program` (the openconnect this vpnmon runs, by executable path) run by this user
/// (as root by any user) whose `--interface vpnmon<pid>` names a vpnmon that no longer runs are
/// interrupted. Returns those.
pub fn clean_up_stale(program: &Path) -> Vec<Ended> {
    use crate::platform::process::{copies_of, interrupt_pid, is_alive};
    let me = std::process::id();
    let stale = |n: u32| n != me && !is_alive(n);
    let mut ended = Vec::new();
    for copy in copies_of(&[program.to_path_buf()]) {
        if interface_owner(&copy.args).is_some_and(stale) {
            interrupt_pid(copy.pid);
            ended.push(Ended {
                pid: copy.pid,
                path: copy.path,
            });
        }
    }
    // Let them log off and run the disconnect script before it is removed.
    let until = Instant::now() + STALE_LOG_OFF;
    while Instant::now() < until && ended.iter().any(|e| is_alive(e.pid)) {
        std::thread::sleep(STALE_RECHECK);
    }
    let mut bases = vec![std::env::temp_dir()];
    if !crate::platform::WINDOWS && !bases.iter().any(|b| b == Path::new("/tmp")) {
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
            if !crate::platform::fs::owned_by_me(&meta) {
                continue;
            }
            if meta.is_dir() {
                let _ = std::fs::remove_dir_all(entry.path());
            } else if meta.is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn interface_name_fits_linux_limit() {
        assert_eq!(interface_name(42), "vpnmon42");
        assert_eq!(interface_name(4_000_000_000).len(), 15);
    }

    #[test]
    fn script_dirs_are_private_random_and_shell_safe() {
        let base = tempfile::tempdir().unwrap();
        let a = make_private_dir(base.path()).unwrap();
        let b = make_private_dir(base.path()).unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_str().unwrap();
        assert_eq!(script_owner(name), Some(std::process::id()));
        assert!(shell_safe(a.path()), "{}", a.path().display());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
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
        // Removed with its contents when dropped.
        let p = a.path().to_path_buf();
        std::fs::write(p.join(SCRIPT_NAME), "x").unwrap();
        drop(a);
        assert!(!p.exists());
    }

    #[cfg(unix)]
    #[test]
    fn the_script_is_written_private_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let s = ScriptFile::write().unwrap();
        let path = s.path().to_path_buf();
        assert!(shell_safe(&path));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), SCRIPT);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let dir = path.parent().unwrap().to_path_buf();
        drop(s);
        assert!(!path.exists() && !dir.exists());
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
        assert_eq!(script_owner("vpnmon-oc-99-AbCd0123xYz"), Some(99));
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
        let stale = tmp.join(format!("{SCRIPT_DIR_PREFIX}{dead}-0123456789abcdef"));
        let legacy = tmp.join(format!(
            "{LEGACY_SCRIPT_PREFIX}{dead}{LEGACY_SCRIPT_SUFFIX}"
        ));
        let mine = make_private_dir(&tmp).unwrap();
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join(SCRIPT_NAME), "").unwrap();
        std::fs::write(&legacy, "").unwrap();
        clean_up_stale(Path::new("/nonexistent/openconnect"));
        let (s, l, m) = (stale.exists(), legacy.exists(), mine.path().exists());
        let _ = std::fs::remove_dir_all(&stale);
        let _ = std::fs::remove_file(&legacy);
        assert!(!s && !l, "stale script left");
        assert!(m, "a live vpnmon's script was removed");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_stale_copies_of_our_openconnect_are_interrupted() {
        let mut c = Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        let dead = c.id();
        // Stand-ins: copies of sh (a process's executable is what the clean-up compares), ended
        // by SIGINT. Ours for a dead vpnmon must be ended; ours for a live vpnmon (this process)
        // and another program of the same name for a dead one must be left alone. Each waits in
        // the shell's own `read` on a pipe this test holds open: a stand-in that ran `sleep`
        // would fork, and a fork caught before its exec is a second "openconnect" of the dead
        // vpnmon.
        let dir = tempfile::tempdir().unwrap();
        for sub in ["ours", "other"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            std::fs::copy("/bin/sh", dir.path().join(sub).join("openconnect")).unwrap();
        }
        let ours = dir.path().join("ours/openconnect");
        let start = |prog: &Path, owner: u32| {
            Command::new(prog)
                .arg("-c")
                .arg("read line")
                .arg("openconnect")
                .arg("--interface")
                .arg(interface_name(owner))
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut stale = start(&ours, dead);
        let mut live = start(&ours, std::process::id());
        let mut other = start(&dir.path().join("other/openconnect"), dead);
        let shown = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "openconnect")
        };
        let until = Instant::now() + Duration::from_secs(5);
        while !(shown(stale.id()) && shown(live.id()) && shown(other.id())) {
            assert!(Instant::now() < until, "stand-ins never showed their name");
            std::thread::sleep(Duration::from_millis(20));
        }
        let ended = clean_up_stale(&ours);
        let until = Instant::now() + Duration::from_secs(5);
        let gone = loop {
            if let Ok(Some(_)) = stale.try_wait() {
                break true;
            }
            if Instant::now() >= until {
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let live_running = matches!(live.try_wait(), Ok(None));
        let other_running = matches!(other.try_wait(), Ok(None));
        for c in [&mut stale, &mut live, &mut other] {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert!(gone, "the dead vpnmon's openconnect was not ended");
        assert_eq!(
            ended,
            vec![Ended {
                pid: stale.id(),
                path: std::fs::canonicalize(&ours).unwrap()
            }]
        );
        assert!(live_running, "a live vpnmon's openconnect was ended");
        assert!(other_running, "another program named openconnect was ended");
    }
}
