//! Alerts that reach a person: the beeps (`sound`), and for checks that stay down the mail
//! (`mail`) and the user's program (`hook`), decided by the pure counters in `state`.

pub mod hook;
pub mod mail;
pub mod sound;
pub mod state;

use crate::record::CycleReport;
use crate::settings::Settings;
use crate::sinks::{RunEnd, Sink};
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
    #[error("cannot read --state-file {path}: {reason}; fix or delete it")]
    StateRead { path: PathBuf, reason: String },
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
    pub fn for_settings(settings: &Settings) -> Console {
        if settings.cli.datalog_opts.json == Some(true) {
            Console::Stderr
        } else {
            Console::Stdout
        }
    }

    /// A writer to it (each thread gets its own).
    pub fn writer(self) -> Out {
        match self {
            Console::Stdout => Box::new(std::io::stdout()),
            Console::Stderr => Box::new(std::io::stderr()),
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

/// Builds the alert sinks the settings ask for: sound unless quiet, and the mail/hook sink when
/// mail, a hook or a state file is configured.
pub fn sinks_for(settings: &Settings) -> Result<Vec<Box<dyn Sink>>, AlertError> {
    let a = &settings.cli.alerts;
    let console = Console::for_settings(settings);
    let mut out: Vec<Box<dyn Sink>> = Vec::new();
    if !settings.quiet {
        out.push(Box::new(sound::SoundSink::new(
            a.sound_file.as_deref(),
            console.writer(),
        )?));
    }
    let mail = mail::MailConfig::from_args(a)?;
    if let Some(p) = &a.on_alert {
        if p.components().count() > 1 && !p.exists() {
            return Err(AlertError::NoProgram(p.clone()));
        }
    }
    if mail.is_some() || a.on_alert.is_some() || a.state_file.is_some() {
        let state = match &a.state_file {
            Some(p) => load_state(p)?,
            None => AlertState::default(),
        };
        out.push(Box::new(AlertSink {
            site: settings.site.vpnname.clone(),
            policy: Policy {
                after: a.alert_after.unwrap_or(2),
                repeat: a.alert_repeat,
            },
            state,
            state_file: a.state_file.clone(),
            mailer: mail.map(|m| mail::Mailer::start(m, console.writer())),
            hook: a
                .on_alert
                .clone()
                .map(|p| hook::Hook::start(p, console.writer(), console)),
            out: console.writer(),
        }));
    }
    Ok(out)
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
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(AlertState::default()),
        Ok(text) => AlertState::from_json(&text).map_err(|e| AlertError::StateRead {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AlertState::default()),
        Err(e) => Err(AlertError::StateRead {
            path: path.to_path_buf(),
            reason: crate::settings::io_reason(&e),
        }),
    }
}

/// Writes the state next to `path` and renames it over, so a crash leaves the old or the new.
pub fn save_state(path: &Path, state: &AlertState) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(state.to_json().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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

impl Sink for AlertSink {
    fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
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
                        crate::settings::io_reason(&e)
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

    fn finish(&mut self, end: RunEnd) -> anyhow::Result<()> {
        let wait = match end {
            RunEnd::Completed { .. } => FINISH_WAIT_COMPLETED,
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
