//! Alerts that reach a person: the beeps (`sound`), and for checks that stay down the mail
//! (`mail`) and the user's program (`hook`), decided by the pure counters in `state`.

pub mod hook;
pub mod mail;
pub mod sound;
pub mod state;

use crate::record::CycleReport;
use crate::sinks::{Output, RunEnd, Sink, SinkError};
use state::{AlertState, Policy};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Mail(#[from] mail::MailConfigError),
    #[error(transparent)]
    Sound(#[from] sound::SoundError),
    #[error(
        "cannot read --state-file {path}: {}; fix or delete it",
        crate::error::io_reason(source)
    )]
    StateRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read --state-file {path}: {source}; fix or delete it")]
    StateParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("--on-alert {0}: no such program; give the path of an executable")]
    NoProgram(PathBuf),
}

/// How long the end of a run waits for mail and hook still under way.
const FINISH_WAIT_COMPLETED: Duration = Duration::from_secs(15);
const FINISH_WAIT_STOPPED: Duration = Duration::from_secs(3);

/// Where the alert code writes its lines for the operator. Every write is `let _ = …`: a closed
/// stdout (`vpnmon … | head -1`) must neither stop the monitor nor kill a worker thread.
pub type Out = Box<dyn Write + Send>;

/// The operator's console: stdout, or stderr with `--json`, where stdout carries only JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Stdout,
    Stderr,
}

impl Console {
    pub fn for_output(output: Output) -> Console {
        match output {
            // The full-screen view owns stdout: the alerts' lines go to stderr (`2>FILE`).
            Output::Json | Output::Check(_) | Output::Tui => Console::Stderr,
            Output::Console => Console::Stdout,
        }
    }

    /// A writer to it (each thread gets its own).
    pub fn writer(self) -> Out {
        match self {
            Console::Stdout => Box::new(std::io::stdout()),
            Console::Stderr => Box::new(std::io::stderr()),
        }
    }

    /// The terminal for the bell: this console when it is a terminal, else stderr when that is
    /// one; none when both go to files or pipes (a BEL byte has no place in a log).
    pub fn bell_terminal(self) -> Option<Out> {
        use std::io::IsTerminal;
        match self {
            Console::Stdout if std::io::stdout().is_terminal() => Some(Box::new(std::io::stdout())),
            _ if std::io::stderr().is_terminal() => Some(Box::new(std::io::stderr())),
            _ => None,
        }
    }

    /// What a child program's stdout is connected to.
    pub fn stdio(self) -> std::process::Stdio {
        match self {
            Console::Stdout => std::process::Stdio::inherit(),
            Console::Stderr => std::process::Stdio::from(std::io::stderr()),
        }
    }
}

/// Writes one line and flushes, ignoring errors (see [`Out`]).
pub(crate) fn say(out: &mut Out, line: &str) {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The alerts' resolved configuration (built by `settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertConfig {
    /// Beep on failures (not `--quiet`).
    pub beep: bool,
    /// `--sound-file`: a WAV to play instead of the built-in tone.
    pub sound_file: Option<PathBuf>,
    pub mail: mail::MailOptions,
    pub policy: Policy,
    /// `--on-alert`: the program to run on each alert.
    pub on_alert: Option<PathBuf>,
    /// `--state-file`: keeps the counters across restarts.
    pub state_file: Option<PathBuf>,
}

impl AlertSink {
    /// The mail/hook sink when mail, a hook or a state file is configured; `None` otherwise.
    /// Checks the mail options and reads the state file.
    pub fn build(
        cfg: &AlertConfig,
        site: &str,
        console: Console,
    ) -> Result<Option<AlertSink>, AlertError> {
        let mail = mail::MailConfig::from_options(&cfg.mail)?;
        if let Some(p) = &cfg.on_alert {
            if p.components().count() > 1 && !p.exists() {
                return Err(AlertError::NoProgram(p.clone()));
            }
        }
        if mail.is_none() && cfg.on_alert.is_none() && cfg.state_file.is_none() {
            return Ok(None);
        }
        let state = match &cfg.state_file {
            Some(p) => load_state(p)?,
            None => AlertState::default(),
        };
        Ok(Some(AlertSink {
            site: site.to_string(),
            policy: cfg.policy,
            state,
            state_file: cfg.state_file.clone(),
            mailer: mail.map(|m| mail::Mailer::start(m, console.writer())),
            hook: cfg
                .on_alert
                .clone()
                .map(|p| hook::Hook::start(p, console.writer(), console)),
            out: console.writer(),
        }))
    }
}

/// Waits at most `wait` for a worker thread whose sender was dropped; true when it ended (and
/// was joined), false when it is left to die with the process.
pub(crate) fn join_within(worker: std::thread::JoinHandle<()>, wait: Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    while !worker.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = worker.is_finished();
    if done {
        let _ = worker.join();
    }
    done
}

fn load_state(path: &Path) -> Result<AlertState, AlertError> {
    match crate::alert::state::read_state_text(path) {
        Ok(text) if text.trim().is_empty() => Ok(AlertState::default()),
        Ok(text) => AlertState::from_json(&text).map_err(|source| AlertError::StateParse {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AlertState::default()),
        Err(source) => Err(AlertError::StateRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the state to a temporary file next to `path`, flushed to disk, and renames it over,
/// so a crash leaves the old or the new. The temporary file is removed if any step fails.
pub fn save_state(path: &Path, state: &AlertState) -> std::io::Result<()> {
    // A link is written through (the file it names is replaced, the link stays); a device
    // (`--state-file /dev/null`: keep no state) is never replaced by a file; anything else that
    // is not a regular file is an error.
    let resolved = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(_) => {
                let target = std::fs::read_link(path)?;
                path.parent().unwrap_or(Path::new(".")).join(target)
            }
        },
        _ => path.to_path_buf(),
    };
    let path = resolved.as_path();
    if let Ok(m) = std::fs::metadata(path) {
        if crate::input::is_char_device(&m) {
            return Ok(());
        }
        if !m.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "it is {}, not a regular file",
                    crate::input::kind_of(&m.file_type())
                ),
            ));
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let prefix = format!(".{name}.tmp");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    // The same permissions as a file created the ordinary way (tempfile's own are private).
    if let Some(p) = crate::platform::fs::ordinary_file_permissions() {
        builder.permissions(p);
    }
    let mut f = builder.tempfile_in(dir)?;
    f.write_all(state.to_json().as_bytes())?;
    f.write_all(b"\n")?;
    f.as_file().sync_all()?;
    f.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Feeds each cycle to the counters and hands the resulting events to mail and hook.
pub struct AlertSink {
    site: String,
    policy: Policy,
    state: AlertState,
    state_file: Option<PathBuf>,
    mailer: Option<mail::Mailer>,
    hook: Option<hook::Hook>,
    out: Out,
}

#[async_trait::async_trait]
impl Sink for AlertSink {
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        // A cycle cut short by Ctrl-C says nothing reliable about what is down.
        if report.cancelled {
            return Ok(());
        }
        let events = self
            .state
            .observe(self.policy, report.cycle, &report.records);
        if let Some(path) = &self.state_file {
            if let Err(e) = save_state(path, &self.state) {
                say(
                    &mut self.out,
                    &format!(
                        "Cannot write --state-file {}: {}; the counters will not survive a restart",
                        path.display(),
                        crate::error::io_reason(&e)
                    ),
                );
            }
        }
        for e in &events {
            say(
                &mut self.out,
                &format!("Alert: {} {}", e.kind.as_str(), e.check.describe()),
            );
        }
        if let Some(h) = &self.hook {
            for e in &events {
                h.submit(&self.site, e.clone());
            }
        }
        if let Some(m) = &self.mailer {
            m.submit(mail::Batch {
                site: self.site.clone(),
                events,
                records: report.records.clone(),
            });
        }
        Ok(())
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        let wait = match end {
            // A run that failed (a full disk) is when the mail matters most.
            RunEnd::Completed { .. } | RunEnd::Failed { .. } => FINISH_WAIT_COMPLETED,
            RunEnd::Stopped { .. } => FINISH_WAIT_STOPPED,
        };
        if let Some(h) = &mut self.hook {
            h.finish(wait);
        }
        if let Some(m) = &mut self.mailer {
            m.finish(wait);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, Test, Verdict};

    fn down_state() -> AlertState {
        let mut st = AlertState::default();
        let rec = Record {
            path: None,
            cycle: 1,
            at: chrono::Local::now(),
            test: Test::TargetPing,
            result: Verdict::Fail,
            address: "127.0.0.2".into(),
            name: "web".into(),
            site: "Site".into(),
            reason: None,
            ping: None,
            duration: Duration::ZERO,
        };
        st.observe(Policy::default(), 1, &[rec]);
        st
    }

    #[test]
    fn state_is_saved_whole_with_ordinary_permissions_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        let st = down_state();
        save_state(&path, &st).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", st.to_json())
        );
        assert_eq!(load_state(&path).unwrap(), st);
        // Readable by whoever could read a file vpnmon created plainly, as before.
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions(),
            std::fs::metadata(&plain).unwrap().permissions()
        );
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["plain", "state.json"]);
    }

    #[test]
    fn a_failed_save_leaves_the_old_state_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: the rename over it fails.
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), "x").unwrap();
        assert!(save_state(&path, &down_state()).is_err());
        assert!(path.join("keep").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// `--state-file /dev/null` keeps no state and a link is written through: neither a device
    /// nor a link is ever replaced by a regular file. The device is a null device node of the
    /// test's own (root), so a regression can only replace that, never the machine's /dev/null.
    #[cfg(unix)]
    #[test]
    fn a_device_is_never_replaced_and_a_link_is_written_through() {
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("null");
        match mknod(
            &node,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(1, 3),
        ) {
            Ok(()) => {
                let to_node = dir.path().join("null-link");
                std::os::unix::fs::symlink(&node, &to_node).unwrap();
                for p in [&node, &to_node] {
                    save_state(p, &down_state()).unwrap();
                    assert!(std::fs::metadata(&node)
                        .unwrap()
                        .file_type()
                        .is_char_device());
                }
                assert!(std::fs::symlink_metadata(&to_node)
                    .unwrap()
                    .file_type()
                    .is_symlink());
            }
            Err(e) => crate::test_skip::skip(
                "a_device_is_never_replaced (the device part)",
                format!("mknod needs root ({e})"),
            ),
        }
        let real = dir.path().join("real.json");
        std::fs::write(&real, "[]").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let st = down_state();
        save_state(&link, &st).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(load_state(&real).unwrap(), st);
    }

    #[test]
    fn unreadable_state_files_name_the_file_and_keep_the_cause() {
        use std::error::Error;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = load_state(&path).unwrap_err();
        let cause = AlertState::from_json("{not json").unwrap_err().to_string();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot read --state-file {}: {cause}; fix or delete it",
                path.display()
            )
        );
        assert!(e.source().is_some());
        // A directory cannot be read as a file: the I/O reason, without "(os error N)".
        let e = load_state(dir.path()).unwrap_err();
        assert!(matches!(e, AlertError::StateRead { .. }), "{e:?}");
        assert!(!e.to_string().contains("os error"), "{e}");
        assert!(e.source().is_some());
    }
}
