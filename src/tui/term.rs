//! The terminal side of the full-screen view: entering the alternate screen and raw mode,
//! giving the terminal back on every exit path (the end of the run, an error, a panic through
//! a panic hook, a second Ctrl-C through `platform::before_hard_exit`), and the thread that
//! draws the view and reads the keys.

use super::model::{Model, Phase};
use super::Controls;
use crate::control::Control;
use crate::platform::StopSignal;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use std::io::Stdout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the view is drawn again (the elapsed times and the countdown) and keys are read.
const TICK: Duration = Duration::from_millis(200);

/// The terminal is in the view's state (alternate screen, raw mode).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Gives the terminal back: leaves the alternate screen, shows the cursor, ends raw mode. Runs
/// once however many exit paths call it (errors are ignored: there is nothing left to do).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

/// A panic restores the terminal first, so its message is readable on the normal screen.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Enters the view's terminal state.
pub fn enter() -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    install_panic_hook();
    crate::platform::before_hard_exit(restore);
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let entered = execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        cursor::Hide
    )
    .and_then(|()| Terminal::new(CrosstermBackend::new(std::io::stdout())));
    if entered.is_err() {
        restore();
    }
    entered
}

/// The drawing and key-reading thread; stops when `quit` is set.
pub fn spawn(
    mut term: Terminal<CrosstermBackend<Stdout>>,
    model: Arc<Mutex<Model>>,
    controls: Controls,
    quit: Arc<AtomicBool>,
    panic_at_wait: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("vpnmon-tui".into())
        .spawn(move || {
            while !quit.load(Ordering::SeqCst) {
                {
                    let mut m = model.lock().unwrap_or_else(|e| e.into_inner());
                    if std::mem::take(&mut m.clear) {
                        // Not `Terminal::clear`, which asks the terminal where its cursor is
                        // and waits for the answer: the screen is wiped, and both buffers
                        // emptied so the frame below is written whole.
                        if term.backend_mut().clear().is_err() {
                            return;
                        }
                        term.swap_buffers();
                    }
                    if panic_at_wait && matches!(m.phase, Phase::Waiting { .. }) {
                        drop(m);
                        panic!("--debug-tui-panic: the view panics as asked");
                    }
                    if term
                        .draw(|f| super::draw::draw(f, &m, Instant::now()))
                        .is_err()
                    {
                        // The terminal is gone: stop drawing; the monitor goes on.
                        return;
                    }
                }
                match event::poll(TICK) {
                    Ok(true) => match event::read() {
                        Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => {
                            key(k.code, k.modifiers, &model, &controls)
                        }
                        // A resize, or anything else: the loop draws the next frame at once
                        // (at the new size: ratatui's draw resizes its buffers first).
                        Ok(_) => {}
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        })
        .expect("a thread for the view")
}

/// What a key does.
fn key(code: KeyCode, mods: KeyModifiers, model: &Mutex<Model>, c: &Controls) {
    let mut m = model.lock().unwrap_or_else(|e| e.into_inner());
    match code {
        // Raw mode turns Ctrl-C into a key: it stops as the signal would, and a second one
        // exits at once, as a second signal does.
        KeyCode::Char('c') if mods.contains(KeyModifiers::CONTROL) => {
            if c.cancel.is_cancelled() {
                drop(m);
                restore();
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "---- vpnmon stopped at once (second Control-C) ----"
                );
                // 130, as `run::EXIT_SECOND_INTERRUPT` (the signal watcher's).
                crate::platform::hard_exit(130);
            }
            c.stop.set(StopSignal::Interrupt);
            m.stopping();
            c.cancel.cancel();
        }
        // The classic "redraw the screen".
        KeyCode::Char('l') if mods.contains(KeyModifiers::CONTROL) => m.clear = true,
        KeyCode::Char('q') | KeyCode::Char('Q') => {
            c.stop.set(StopSignal::Quit);
            m.stopping();
            c.cancel.cancel();
        }
        KeyCode::Char('p') | KeyCode::Char('P') => {
            if m.pause_asked {
                m.pause_asked = false;
                let _ = c.control.send(Control::Resume);
            } else {
                m.pause_asked = true;
                let _ = c.control.send(Control::Pause);
            }
        }
        // Between cycles only: a cycle under way is not queued another.
        KeyCode::Char('r') | KeyCode::Char('R')
            if matches!(m.phase, Phase::Waiting { .. } | Phase::Paused) =>
        {
            m.pause_asked = false;
            let _ = c.control.send(Control::RunNow);
        }
        _ => {}
    }
}
