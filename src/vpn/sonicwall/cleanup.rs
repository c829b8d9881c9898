//! What the Connect Tunnel leaves behind, and how vpnmon tidies it without touching anything
//! else: its processes (by executable path, or a `java` by the jar it runs, and the user) and
//! the resolver file it rewrites.

use super::strings::*;
use crate::platform::process::{self, Copy, Ended};
use crate::vpn::session::{Deadline, Inbox};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long ended processes may take to disappear (the kernel frees a killed process at once
/// unless its parent is slow to reap it).
pub const GONE_WITHIN: Duration = Duration::from_secs(5);
/// How often the wait for them looks: they are not vpnmon's children, so there is no exit
/// event to wait for.
const RECHECK: Duration = Duration::from_millis(20);
/// How long `resolvconf -u` may take.
const RESOLVCONF_WITHIN: Duration = Duration::from_secs(10);

/// The client's install folders: the folder of `startct` as given, of the file a link such as
/// `/usr/bin/startct` points to, and the installer's own.
fn install_dirs(startct: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let found = [
        startct.parent().map(Path::to_path_buf),
        std::fs::canonicalize(startct)
            .ok()
            .and_then(|c| c.parent().map(Path::to_path_buf)),
        Some(PathBuf::from(INSTALL_DIR)),
    ];
    for d in found.into_iter().flatten() {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

/// The executables of the client: `startct` itself and `AvConnect` in its install folders.
fn programs(startct: &Path) -> Vec<PathBuf> {
    let mut out = vec![startct.to_path_buf()];
    for dir in install_dirs(startct) {
        let av = dir.join(AV_CONNECT);
        if !out.contains(&av) {
            out.push(av);
        }
    }
    out
}

/// Whether `p` is the Connect Tunnel's Java part: an executable named `java` whose arguments
/// name `SnwlConnect.jar` by an absolute path inside one of the client's install folders `dirs`
/// (as `-jar PATH` or within a class path). Any other `java` is not, also one running a jar of
/// that name from elsewhere.
pub fn is_client_java(p: &Copy, dirs: &[PathBuf]) -> bool {
    let exe_is_java = p
        .path
        .file_stem()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == JAVA);
    exe_is_java
        && p.args.iter().skip(1).any(|a| {
            a.split([':', ';']).map(Path::new).any(|jar| {
                jar.is_absolute()
                    && jar.file_name().and_then(|n| n.to_str()) == Some(SNWL_JAR)
                    && dirs.iter().any(|d| jar.starts_with(d))
            })
        })
}

/// The client's processes now running: copies of `startct` and `AvConnect` and the `java`
/// running `SnwlConnect.jar`, of this user (as root of any user: the rule is the executable and
/// its arguments), never this process.
pub fn leftovers(startct: &Path) -> Vec<Copy> {
    let mut found = process::copies_of(&programs(startct));
    let dirs = install_dirs(startct);
    for p in process::own_processes() {
        if is_client_java(&p, &dirs) && !found.iter().any(|f| f.pid == p.pid) {
            found.push(p);
        }
    }
    found
}

/// Ends the client's left-over processes and waits (until `wait`, cut short by a cancel) for
/// them to go. Returns those ended and, when some outlived the wait, their pids.
pub fn end_leftovers(startct: &Path, inbox: &mut Inbox, wait: Duration) -> (Vec<Ended>, Vec<u32>) {
    let ended: Vec<Ended> = leftovers(startct)
        .into_iter()
        .filter(|c| process::kill_pid(c.pid))
        .map(|c| Ended {
            pid: c.pid,
            path: c.path,
        })
        .collect();
    if ended.is_empty() {
        return (ended, Vec::new());
    }
    let mut deadline = Deadline::after(wait);
    loop {
        // A pid is gone when no client process holds it any more (a killed process waiting to
        // be reaped has no executable left and no longer counts).
        let now = leftovers(startct);
        let left: Vec<u32> = ended
            .iter()
            .map(|e| e.pid)
            .filter(|pid| now.iter().any(|c| c.pid == *pid))
            .collect();
        if left.is_empty() || deadline.expired() {
            return (ended, left);
        }
        // No client of ours runs now, so nothing else arrives; a cancel cuts the wait to the
        // grace.
        let _ = inbox.wait_at_most(&mut deadline, Some(RECHECK));
    }
}

/// The words for processes ended before or after a session.
pub fn ended_note(what: &str, ended: &[Ended], left: &[u32]) -> Option<String> {
    if ended.is_empty() {
        return None;
    }
    let mut note = format!(
        "{what}: {}",
        ended
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !left.is_empty() {
        note.push_str(&format!(
            " (still there after {} s: pid {})",
            GONE_WITHIN.as_secs(),
            left.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", pid ")
        ));
    }
    Some(note)
}

/// Whether the resolver file's text is the client's rewrite.
pub fn is_rewritten(text: &[u8]) -> bool {
    String::from_utf8_lossy(text)
        .to_lowercase()
        .contains(RESOLV_MARK)
}

/// The resolver file as it is before an open, to put back if the client leaves it rewritten
/// (`None` when it cannot be read or is already the client's).
pub fn save_resolv_conf() -> Option<Vec<u8>> {
    std::fs::read(RESOLV_CONF).ok().filter(|t| !is_rewritten(t))
}

/// After the client: when the resolver file still holds its rewrite, restores it with
/// `resolvconf -u` where that is installed (on PATH), else from `saved` when this user may
/// write it. Returns what was done (or why not), for the console and the record's reason.
pub fn repair_resolv_conf(saved: Option<&[u8]>, inbox: &mut Inbox) -> Option<String> {
    let now = std::fs::read(RESOLV_CONF).ok()?;
    if !is_rewritten(&now) {
        return None;
    }
    let mut tried = Vec::new();
    if let Ok(resolvconf) = which::which(RESOLVCONF) {
        match run_bounded(&resolvconf, inbox) {
            Ok(()) if std::fs::read(RESOLV_CONF).is_ok_and(|t| !is_rewritten(&t)) => {
                return Some(format!(
                    "{RESOLV_CONF} was left rewritten by the SonicWall client; restored with {RESOLVCONF} {RESOLVCONF_UPDATE}"
                ));
            }
            Ok(()) => tried.push(format!(
                "{RESOLVCONF} {RESOLVCONF_UPDATE} left it unchanged"
            )),
            Err(e) => tried.push(format!("{RESOLVCONF} {RESOLVCONF_UPDATE} failed: {e}")),
        }
    }
    match saved {
        // Written in place (not replaced): the file may be a mount point or a link target.
        Some(copy) => match std::fs::write(RESOLV_CONF, copy) {
            Ok(()) => {
                tried.push("restored from the copy saved before the open".into());
                return Some(format!(
                    "{RESOLV_CONF} was left rewritten by the SonicWall client; {}",
                    tried.join("; ")
                ));
            }
            Err(e) => tried.push(format!(
                "cannot write it ({}); run `{RESOLVCONF} {RESOLVCONF_UPDATE}` as root or let vpnmon's user write it",
                crate::platform::net::io_words(&e)
            )),
        },
        None if tried.is_empty() => {
            tried.push(format!(
                "no {RESOLVCONF} on PATH and no copy from before the open; restore it by hand"
            ));
        }
        None => {}
    }
    Some(format!(
        "{RESOLV_CONF} is still rewritten by the SonicWall client: {}",
        tried.join("; ")
    ))
}

/// `resolvconf -u`, ended if it takes longer than [`RESOLVCONF_WITHIN`].
fn run_bounded(program: &Path, inbox: &mut Inbox) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.arg(RESOLVCONF_UPDATE)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    process::without_secrets(&mut cmd);
    let child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut guard = crate::vpn::session::ChildGuard::new(child, inbox);
    // A cancel does not cut this short: restoring the resolver file is part of leaving.
    let mut deadline = Deadline::after(RESOLVCONF_WITHIN).kept();
    match guard.wait_exit(inbox, &mut deadline, |_| {}) {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("it exited with {s}")),
        None => {
            guard.kill();
            Err(format!(
                "it did not finish within {} s",
                RESOLVCONF_WITHIN.as_secs()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(path: &str, args: &[&str]) -> Copy {
        Copy {
            pid: 1,
            path: PathBuf::from(path),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_the_java_running_the_clients_jar_is_the_clients() {
        let dirs = install_dirs(Path::new("/opt/ct/startct"));
        let yes = [
            copy(
                "/usr/lib/jvm/java-17/bin/java",
                &["java", "-jar", "/usr/local/Aventail/ui/SnwlConnect.jar"],
            ),
            copy(
                "/opt/jre/bin/java",
                &["java", "-cp", "/a/x.jar:/opt/ct/SnwlConnect.jar", "Main"],
            ),
        ];
        let no = [
            copy("/usr/bin/java", &["java", "-jar", "/srv/other.jar"]),
            copy(
                "/usr/bin/java",
                &["java", "-jar", "/opt/ct/NotSnwlConnect.jar"],
            ),
            // The jar's name, but not the client's folder (another installation, a test's).
            copy(
                "/usr/bin/java",
                &["java", "-jar", "/home/x/SnwlConnect.jar"],
            ),
            // A relative path says nothing about where it is.
            copy("/usr/bin/java", &["java", "-jar", "SnwlConnect.jar"]),
            // Not a java, though it names the jar.
            copy("/usr/bin/less", &["less", "/opt/ct/SnwlConnect.jar"]),
            // The jar as the program name only is not an argument.
            copy("/usr/bin/java", &["/opt/ct/SnwlConnect.jar"]),
        ];
        for c in &yes {
            assert!(is_client_java(c, &dirs), "{c:?}");
        }
        for c in &no {
            assert!(!is_client_java(c, &dirs), "{c:?}");
        }
    }

    #[test]
    fn the_rewrite_is_recognised_by_the_vendors_name() {
        assert!(is_rewritten(
            b"# Generated by SonicWall Connect Tunnel\nnameserver 10.0.0.1\n"
        ));
        assert!(is_rewritten(b"search SONICWALL.example\n"));
        assert!(!is_rewritten(b"nameserver 127.0.0.53\noptions edns0\n"));
    }

    #[test]
    fn avconnect_is_looked_for_beside_startct() {
        let p = programs(Path::new("/nonexistent/dir/startct"));
        assert_eq!(p[0], PathBuf::from("/nonexistent/dir/startct"));
        assert!(p.contains(&PathBuf::from("/nonexistent/dir/AvConnect")));
    }
}
