//! `--on-alert PROGRAM`: runs the user's program (no shell) once per event, with the facts in
//! `VPNMON_*` environment variables and as one JSON object on stdin, under a timeout. Runs on a
//! worker thread; failures are reported on the console and never stop the monitor.

use super::state::Event;
use super::{say, Console, Out};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the program may run before it is killed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why one run of the program failed (said on the console after `--on-alert PROGRAM: `).
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("cannot start it: {0}")]
    Start(#[source] std::io::Error),
    #[error("exited with {0}")]
    Exited(std::process::ExitStatus),
    #[error("still running after {} s; stopped it", HOOK_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot wait for it: {0}")]
    Wait(#[source] std::io::Error),
}

pub struct Hook {
    tx: Option<mpsc::Sender<(String, Event)>>,
    worker: Option<JoinHandle<()>>,
}

impl Hook {
    /// `out` gets the failure reports; the program's stdout goes to `console` (stderr with
    /// `--json`, so what it prints stays out of the JSON lines).
    pub fn start(program: PathBuf, mut out: Out, console: Console) -> Hook {
        let (tx, rx) = mpsc::channel::<(String, Event)>();
        let worker = std::thread::Builder::new()
            .name("vpnmon-hook".into())
            .spawn(move || {
                while let Ok((site, ev)) = rx.recv() {
                    if let Err(reason) = run(&program, &site, &ev, console) {
                        say(
                            &mut out,
                            &format!("--on-alert {}: {reason}", program.display()),
                        );
                    }
                }
            })
            .ok();
        Hook {
            tx: worker.as_ref().map(|_| tx),
            worker,
        }
    }

    pub fn submit(&self, site: &str, ev: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((site.to_string(), ev));
        }
    }

    pub fn finish(&mut self, wait: Duration) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            super::join_within(w, wait);
        }
    }
}

/// The environment given to the program.
pub fn env_for(site: &str, ev: &Event) -> Vec<(&'static str, String)> {
    vec![
        ("VPNMON_EVENT", ev.kind.as_str().to_string()),
        ("VPNMON_SITE", site.to_string()),
        ("VPNMON_TEST", ev.check.test.as_str().to_string()),
        ("VPNMON_ADDRESS", ev.check.address.clone()),
        ("VPNMON_NAME", ev.check.name.clone()),
        ("VPNMON_CHECK", ev.check.describe()),
        ("VPNMON_RESULT", ev.verdict.as_str().to_string()),
        ("VPNMON_REASON", ev.reason.clone().unwrap_or_default()),
        ("VPNMON_FAILURES", ev.failures.to_string()),
        (
            "VPNMON_SINCE",
            ev.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ),
        ("VPNMON_CYCLE", ev.cycle.to_string()),
    ]
}

fn run(program: &PathBuf, site: &str, ev: &Event, console: Console) -> Result<(), HookError> {
    let json = serde_json::json!({
        "event": ev.kind,
        "site": site,
        "test": ev.check.test,
        "address": ev.check.address,
        "name": ev.check.name,
        "check": ev.check.describe(),
        "result": ev.verdict,
        "reason": ev.reason,
        "failures": ev.failures,
        "since": ev.since.map(|t| t.to_rfc3339()),
        "cycle": ev.cycle,
    });
    let mut cmd = Command::new(program);
    crate::platform::process::without_secrets(&mut cmd);
    cmd.stdin(Stdio::piped())
        .stdout(console.stdio())
        .stderr(Stdio::inherit());
    for (k, v) in env_for(site, ev) {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(HookError::Start)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that does not read stdin is fine: ignore a broken pipe.
        let _ = stdin.write_all(format!("{json}\n").as_bytes());
    }
    let deadline = Instant::now() + HOOK_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(HookError::Exited(st)),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(HookError::Wait(e)),
        }
    }
}
