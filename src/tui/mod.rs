//! `vpnmon --tui`: the full-screen live view (ratatui + crossterm). A `Sink` fed by the records
//! like the other outputs: it keeps the view's state (`model`), a thread draws it and reads the
//! keys (`term`): `p` pauses or resumes the schedule and `r` runs a cycle now (through
//! `control`'s channel to the monitor's wait), `q` stops as Ctrl-C does (the cancellation token,
//! the stop cause `Quit`), so the cycle ends and the VPN closes. The console's lines are not
//! shown while the view is up; its last words (the stop lines) are printed after the terminal
//! is given back.

mod draw;
pub mod model;
mod term;

use crate::control::ControlSender;
use crate::platform::StopCause;
use crate::record::{CycleReport, Record};
use crate::sinks::console::{ConsoleOptions, ConsoleSink};
use crate::sinks::{RunEnd, Sink, SinkError};
use chrono::{DateTime, Local};
use model::Model;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the view's keys act on: the run's cancellation and stop cause (`q`, Ctrl-C) and the
/// monitor's control channel (`p`, `r`).
#[derive(Clone)]
pub struct Controls {
    pub cancel: CancellationToken,
    pub stop: StopCause,
    pub control: ControlSender,
}

/// stdout once the view has given the terminal back; nothing before (the console's lines are
/// not drawn over the view).
struct Gate(Arc<AtomicBool>);

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.load(Ordering::SeqCst) {
            std::io::stdout().write(buf)
        } else {
            Ok(buf.len())
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            std::io::stdout().flush()
        } else {
            Ok(())
        }
    }
}

/// The view's thread, while the terminal is the view's.
struct Ui {
    quit: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

pub struct TuiSink {
    model: Arc<Mutex<Model>>,
    controls: Controls,
    ui: Option<Ui>,
    /// The view was tried (it starts at the first event, after the start-up lines).
    started: bool,
    /// The console sink, writing through the gate: its stop lines appear after the view.
    console: ConsoleSink<Gate>,
    gate: Arc<AtomicBool>,
    /// `--debug-tui-panic` (tests).
    panic_at_wait: bool,
}

impl TuiSink {
    pub fn new(has_vpn: bool, controls: Controls, panic_at_wait: bool) -> TuiSink {
        let gate = Arc::new(AtomicBool::new(false));
        let console = ConsoleSink::with_options(
            Gate(gate.clone()),
            ConsoleOptions {
                has_vpn,
                stop: controls.stop.clone(),
                ..ConsoleOptions::default()
            },
        );
        TuiSink {
            model: Arc::new(Mutex::new(Model::new(has_vpn))),
            controls,
            ui: None,
            started: false,
            console,
            gate,
            panic_at_wait,
        }
    }

    fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the terminal at the first event. Should that fail, the console's lines are shown
    /// instead, with the reason.
    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        match term::enter() {
            Ok(t) => {
                let quit = Arc::new(AtomicBool::new(false));
                let thread = term::spawn(
                    t,
                    self.model.clone(),
                    self.controls.clone(),
                    quit.clone(),
                    self.panic_at_wait,
                );
                self.ui = Some(Ui { quit, thread });
            }
            Err(e) => {
                self.gate.store(true, Ordering::SeqCst);
                let _ = writeln!(
                    std::io::stderr(),
                    "vpnmon: cannot start the full-screen view ({}); showing the console lines",
                    crate::error::io_reason(&e)
                );
            }
        }
    }

    /// A view whose thread ended by itself (a panic: the panic hook gave the terminal back and
    /// said why) leaves the run going on with the console's lines.
    fn check_view(&mut self) {
        if self.ui.as_ref().is_some_and(|ui| ui.thread.is_finished()) {
            self.stop();
            let _ = writeln!(
                std::io::stderr(),
                "vpnmon: the full-screen view stopped (see above); showing the console lines"
            );
        }
    }

    /// Stops the view's thread and gives the terminal back; the console's lines flow again.
    fn stop(&mut self) {
        if let Some(ui) = self.ui.take() {
            ui.quit.store(true, Ordering::SeqCst);
            let _ = ui.thread.join();
        }
        term::restore();
        self.gate.store(true, Ordering::SeqCst);
    }
}

impl Drop for TuiSink {
    fn drop(&mut self) {
        self.stop();
    }
}

#[async_trait::async_trait]
impl Sink for TuiSink {
    fn notice(&mut self, line: &str) {
        self.check_view();
        self.start();
        self.model().notice(line);
        self.console.notice(line);
    }

    fn cycle_start(&mut self, cycle: u64, of: Option<u64>, at: DateTime<Local>) {
        self.check_view();
        self.start();
        self.model().cycle_start(cycle, of);
        self.console.cycle_start(cycle, of, at);
    }

    fn record(&mut self, rec: &Record) {
        self.check_view();
        self.model().record(rec);
        self.console.record(rec);
    }

    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        self.console.cycle_end(report, cancel).await
    }

    fn diagnostics(&mut self, lines: &[String]) {
        {
            let mut m = self.model();
            m.notice("VPN client's last lines:");
            for l in lines {
                m.notice(&format!("  {l}"));
            }
        }
        self.console.diagnostics(lines);
    }

    fn waiting(&mut self, delay: Duration, next: DateTime<Local>) {
        self.check_view();
        self.model().waiting(delay);
        self.console.waiting(delay, next);
    }

    fn planned(&mut self, site: &str, gateway: &str, targets: &[crate::targets::Target]) {
        self.check_view();
        self.start();
        self.model().planned(site, gateway, targets);
        self.console.planned(site, gateway, targets);
    }

    fn sink_errors(&mut self, errors: &[SinkError]) {
        for e in errors {
            self.model().notice(&e.to_string());
        }
        self.console.sink_errors(errors);
    }

    fn paused(&mut self, on: bool) {
        self.model().paused(on);
    }

    fn reloaded(&mut self, ok: bool) {
        self.console.reloaded(ok);
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        self.model().done();
        self.stop();
        self.console.finish(end).await
    }
}
