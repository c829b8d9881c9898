//! The few OS-specific bits. Everything else is portable and has no `#[cfg]`.
//!
//! One file per OS family: `unix.rs` (Linux and macOS alike), `linux.rs` (what only Linux
//! has: /proc via procfs, `SO_RCVBUFFORCE`, ALSA), `other_unix.rs` (macOS and the BSDs) and
//! `windows.rs`. The module declarations below are the only place that chooses; every OS file
//! provides the same set of functions, and the rest of the crate reaches them through the
//! OS-neutral paths re-exported here (`platform::net`, `platform::pty`, `platform::process`, …).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(all(unix, not(target_os = "linux")))]
mod other_unix;
/// Processes by executable path and user where there is no /proc (sysinfo).
#[cfg(not(target_os = "linux"))]
mod procs;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
use linux as os;
#[cfg(all(unix, not(target_os = "linux")))]
use other_unix as os;
#[cfg(windows)]
use windows as os;

pub use os::{is_sharing_violation, other_users_present, quiet_audio_errors};

/// Whether this build is for Windows, for code that picks between plain values (a vendor's
/// install paths) with `if` instead of `#[cfg]`.
pub const WINDOWS: bool = cfg!(windows);

use tokio_util::sync::CancellationToken;

/// A receiver of reload requests (SIGHUP on Unix; never on Windows), registered now.
pub fn reload_signals() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let mut hups = os::ReloadSignals::register();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            hups.recv().await;
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Which stop signal ended a run, for the stop lines (`stopped with Control-C`, `… with SIGTERM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Ctrl-C (SIGINT on Unix).
    Interrupt,
    /// SIGTERM (a service manager, `kill`).
    Terminate,
    /// Ctrl-Break (Windows).
    Break,
    /// The console window was closed (Windows).
    Close,
    /// The `q` key of the full-screen view (`--tui`), which stops as Ctrl-C does.
    Quit,
}

impl StopSignal {
    /// Words for the stop lines: the original's "Control-C" for Ctrl-C, the signal's name
    /// otherwise.
    pub fn words(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "Control-C",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Break => "Control-Break",
            StopSignal::Close => "the console window closing",
            StopSignal::Quit => "the q key",
        }
    }
}

/// The first stop signal of a run, set once by the signal watcher and read by the sinks' last
/// words.
#[derive(Debug, Clone, Default)]
pub struct StopCause(std::sync::Arc<std::sync::OnceLock<StopSignal>>);

impl StopCause {
    pub fn set(&self, sig: StopSignal) {
        let _ = self.0.set(sig);
    }

    pub fn get(&self) -> Option<StopSignal> {
        self.0.get().copied()
    }
}

/// Cancels `cancel` on the first Ctrl-C (SIGINT) or SIGTERM, noting which in `cause`; a second
/// one exits at once with status 130. SIGHUP is a reload (`reload_signals`), no longer a stop.
pub fn watch_signals(cancel: CancellationToken, cause: StopCause) {
    // Registered now, not at the watcher task's first poll: a stop in the first moments of a
    // run must be caught (not the signal's default action) and not lost.
    let mut stops = os::StopSignals::register();
    tokio::spawn(async move {
        let first = stops.recv().await;
        cause.set(first);
        cancel.cancel();
        let second = stops.recv().await;
        // Not `eprintln!`: a closed stderr must not turn the exit into a panic.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "---- vpnmon stopped at once (second {}) ----",
            second.words()
        );
        hard_exit(130);
    });
}

/// What must run before the process exits at once (a second Ctrl-C): the full-screen view
/// leaves the alternate screen and raw mode, so the shell gets its terminal back.
static BEFORE_HARD_EXIT: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Registers `f` to run before an exit at once (the first registration wins).
pub fn before_hard_exit(f: fn()) {
    let _ = BEFORE_HARD_EXIT.set(f);
}

/// Exits at once with `code`, after what `before_hard_exit` registered.
pub fn hard_exit(code: i32) -> ! {
    if let Some(f) = BEFORE_HARD_EXIT.get() {
        f();
    }
    std::process::exit(code);
}

/// The OS-specific bits of ICMP: the socket receive buffer, errno words, permission hints,
/// and whether a tunnel's interface exists.
pub mod net {
    pub use super::os::{
        include_ip_header, interface_present, io_words, only_echo_replies, raise_rcvbuf, recv_now,
        ICMP_PERMISSION_HINT,
    };
}

/// The OS-specific side of driving a client through a pseudo-terminal (expectrl's session):
/// waiting for output, how the client ended, ending it.
pub mod pty {
    pub use super::os::{exit_text, kill_and_reap, output, pid, spawnable};
    pub use expectrl::session::OsSession;

    /// One word of a Windows command line, quoted as the Microsoft C runtime (and Rust's std)
    /// parse it back: left alone when it has no space, tab or quote; else in quotes, with the
    /// backslashes before a quote (or the closing one) doubled and the quote escaped. The
    /// pseudo-console (conpty 0.5.1) joins program and arguments with bare spaces, so an
    /// unquoted `C:\Program Files (x86)\Cisco\…\vpncli.exe` would make Windows try
    /// `C:\Program.exe` first (the "unquoted path" hole).
    pub fn windows_word(w: &str) -> String {
        if !w.is_empty() && !w.contains([' ', '\t', '\n', '\x0b', '"']) {
            return w.to_string();
        }
        let mut out = String::with_capacity(w.len() + 2);
        out.push('"');
        let mut backslashes = 0;
        for c in w.chars() {
            match c {
                '\\' => backslashes += 1,
                '"' => {
                    out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                    backslashes = 0;
                }
                _ => {
                    out.extend(std::iter::repeat_n('\\', backslashes));
                    backslashes = 0;
                }
            }
            if c != '\\' {
                out.push(c);
            }
        }
        out.extend(std::iter::repeat_n('\\', backslashes * 2));
        out.push('"');
        out
    }

    #[cfg(test)]
    mod tests {
        use super::windows_word;

        #[test]
        fn windows_words_are_quoted_as_the_c_runtime_reads_them() {
            let cases = [
                ("vpncli.exe", "vpncli.exe"),
                (r"C:\x\vpncli.exe", r"C:\x\vpncli.exe"),
                (
                    r"C:\Program Files (x86)\Cisco\vpncli.exe",
                    r#""C:\Program Files (x86)\Cisco\vpncli.exe""#,
                ),
                ("", r#""""#),
                (r#"say "hi""#, r#""say \"hi\"""#),
                (r"a dir\", r#""a dir\\""#),
                (r#"a\"b c"#, r#""a\\\"b c""#),
                (r"a\\b c", r#""a\\b c""#),
            ];
            for (word, want) in cases {
                assert_eq!(windows_word(word), want, "{word}");
            }
        }
    }
}

/// Files: what differs in how the OS creates them.
pub mod fs {
    pub use super::os::{
        ordinary_file_permissions, owned_by_me, owner_only_permissions, shared_mode,
    };
}

/// Other programs: finding and ending stale copies of vpnmon's own client programs (by
/// executable path and user, never by name), signalling children, and what a child may inherit.
pub mod process {
    pub use super::os::{
        await_exit, can_await_exit, copies_of, interrupt, interrupt_pid, is_alive, isolate,
        kill_pid, own_processes,
    };
    use std::path::PathBuf;

    /// A running copy of one of vpnmon's client programs.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Copy {
        pub pid: u32,
        /// Its executable, as the system tells it.
        pub path: PathBuf,
        /// Its command line (empty where the platform does not tell it).
        pub args: Vec<String>,
    }

    /// One process that was ended.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Ended {
        pub pid: u32,
        pub path: PathBuf,
    }

    impl std::fmt::Display for Ended {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "pid {} {}", self.pid, self.path.display())
        }
    }

    /// The paths to compare executables with: links resolved (the system reports a process's
    /// executable that way); a path that does not exist is kept as given, with its folder
    /// resolved.
    pub fn canonical(programs: &[PathBuf]) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in programs {
            let c = std::fs::canonicalize(p).ok().or_else(|| {
                let dir = std::fs::canonicalize(p.parent()?).ok()?;
                Some(dir.join(p.file_name()?))
            });
            for q in [Some(p.clone()), c].into_iter().flatten() {
                if !out.contains(&q) {
                    out.push(q);
                }
            }
        }
        out
    }

    /// Ends (kills) every copy of `programs` that [`copies_of`] finds: same user (as root any
    /// user), executable one of `programs`, never this process. Returns those ended.
    pub fn end_copies_of(programs: &[PathBuf]) -> Vec<Ended> {
        copies_of(programs)
            .into_iter()
            .filter(|c| kill_pid(c.pid))
            .map(|c| Ended {
                pid: c.pid,
                path: c.path,
            })
            .collect()
    }

    /// Environment variables that carry secrets to vpnmon; no child program is given them.
    pub const SECRET_ENV: &[&str] = &["VPNMON_PASSWORD", "VPNMON_SMTP_PASSWORD"];

    /// Removes the secret variables from what `cmd` will pass to its program.
    pub fn without_secrets(cmd: &mut std::process::Command) -> &mut std::process::Command {
        if super::WINDOWS {
            // The Windows pseudo-console (conpty 0.5.1, under expectrl) builds the child's
            // environment from the variables *set* on the command only, ignoring removals:
            // with none set, the child inherited everything, secrets included (seen under
            // wine). So the whole environment is set explicitly, without the secrets (names
            // compared as Windows does, ignoring case); what the caller set is kept.
            let set: Vec<_> = cmd
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
                .collect();
            let secret = |k: &std::ffi::OsStr| {
                SECRET_ENV
                    .iter()
                    .any(|s| k.to_string_lossy().eq_ignore_ascii_case(s))
            };
            cmd.env_clear()
                .envs(std::env::vars_os().filter(|(k, _)| !secret(k)))
                .envs(set.into_iter().filter(|(k, _)| !secret(k)));
            return cmd;
        }
        for k in SECRET_ENV {
            cmd.env_remove(k);
        }
        cmd
    }
}
