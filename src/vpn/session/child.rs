//! The child guard: a client process that is always ended and reaped — interrupt, grace, kill,
//! reap — by the driver or, at the latest, when the guard is dropped.
//!
//! Where the platform can tell (Linux: `waitid` without reaping), a small watcher thread reports
//! the exit as an event, so waits for it are channel waits. Elsewhere the waits look at the
//! process every [`RECHECK`] (there is no portable way to wait for a child with a timeout).

use super::{Deadline, Got, Inbox, SourceId, CANCEL_GRACE};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// How often a wait looks at a process whose exit the platform does not report.
const RECHECK: Duration = Duration::from_millis(20);

/// A process the guard can end: a piped child or a pseudo-terminal client.
pub trait Process {
    /// How it ended.
    type Status: Clone;
    fn pid(&self) -> Option<u32>;
    /// The status once it has exited (collecting it); `None` while it runs.
    fn try_status(&mut self) -> Option<Self::Status>;
    /// Asks it to stop as Ctrl-C would, so it can log off.
    fn interrupt(&mut self);
    /// Ends it at once and collects its status.
    fn kill_and_reap(&mut self);
}

impl Process for std::process::Child {
    type Status = std::process::ExitStatus;
    fn pid(&self) -> Option<u32> {
        Some(self.id())
    }
    fn try_status(&mut self) -> Option<Self::Status> {
        self.try_wait().ok().flatten()
    }
    fn interrupt(&mut self) {
        crate::platform::process::interrupt(self);
    }
    fn kill_and_reap(&mut self) {
        let _ = self.kill();
        let _ = self.wait();
    }
}

/// How a stopped process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending<S> {
    /// It had exited before it was asked to.
    AlreadyExited(S),
    /// It exited when interrupted, within the grace.
    Exited(S),
    /// It was killed after the grace.
    Killed,
}

pub struct ChildGuard<P: Process> {
    process: P,
    source: SourceId,
    status: Option<P::Status>,
    /// Its status was collected (or it was killed and reaped): never signal it again, its pid
    /// may belong to another process by now.
    done: bool,
    /// The watcher's word that it exited; `None` where there is no watcher.
    exit: Option<Receiver<()>>,
}

impl<P: Process> ChildGuard<P> {
    /// Guards `process` (just started) and, where the platform can, watches for its exit.
    pub fn new(process: P, inbox: &mut Inbox) -> ChildGuard<P> {
        let source = inbox.new_source();
        let exit = process
            .pid()
            .filter(|_| crate::platform::process::can_await_exit())
            .and_then(|pid| {
                let (tx, rx) = mpsc::channel();
                let notify = inbox.exit_notifier(source);
                std::thread::Builder::new()
                    .name("vpnmon-exit-watch".into())
                    .spawn(move || {
                        if crate::platform::process::await_exit(pid) {
                            let _ = tx.send(());
                            notify();
                        }
                    })
                    .ok()
                    .map(|_| rx)
            });
        ChildGuard {
            process,
            source,
            status: None,
            done: false,
            exit,
        }
    }

    pub fn process(&mut self) -> &mut P {
        &mut self.process
    }

    /// The status once it has exited (collected then, so it is never signalled again).
    pub fn status(&mut self) -> Option<P::Status> {
        if self.status.is_none() && !self.done {
            if let Some(s) = self.process.try_status() {
                self.status = Some(s);
                self.done = true;
            }
        }
        self.status.clone()
    }

    /// Whether it has been killed or its status collected.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// `None` while the watcher will report the exit as [`Got::Exited`], else how long a wait for
    /// it may go before looking at the process again.
    pub fn recheck(&mut self) -> Option<Duration> {
        match self.exit.as_ref().map(Receiver::try_recv) {
            Some(Ok(())) | Some(Err(TryRecvError::Empty)) => None,
            Some(Err(TryRecvError::Disconnected)) => {
                // The watcher could not wait for it.
                self.exit = None;
                Some(RECHECK)
            }
            None => Some(RECHECK),
        }
    }

    /// Waits until it has exited or `deadline` passes (a cancel cuts the deadline to its
    /// grace); other input goes to `on_input`. Returns its status when it exited.
    pub fn wait_exit(
        &mut self,
        inbox: &mut Inbox,
        deadline: &mut Deadline,
        mut on_input: impl FnMut(Got),
    ) -> Option<P::Status> {
        loop {
            if let Some(s) = self.status() {
                return Some(s);
            }
            if self.done || deadline.expired() {
                return None;
            }
            let step = self.recheck();
            match inbox.wait_at_most(deadline, step) {
                Got::Exited(id) if id == self.source => {}
                Got::Timeout | Got::Cancelled | Got::Exited(_) => {}
                g => on_input(g),
            }
        }
    }

    /// Interrupt, wait until `deadline` (a cancel cuts it to the grace), kill, reap.
    pub fn stop(
        &mut self,
        inbox: &mut Inbox,
        deadline: &mut Deadline,
        on_input: impl FnMut(Got),
    ) -> Ending<P::Status> {
        if let Some(s) = self.status() {
            return Ending::AlreadyExited(s);
        }
        if self.done {
            return Ending::Killed;
        }
        self.process.interrupt();
        if let Some(s) = self.wait_exit(inbox, deadline, on_input) {
            return Ending::Exited(s);
        }
        self.kill();
        Ending::Killed
    }

    /// Ends it at once and reaps it (unless its status was already collected).
    pub fn kill(&mut self) {
        if !self.done {
            self.process.kill_and_reap();
            self.done = true;
        }
    }
}

impl<P: Process> Drop for ChildGuard<P> {
    /// The last guard: interrupt, [`CANCEL_GRACE`], kill, reap.
    fn drop(&mut self) {
        if self.done || self.status().is_some() {
            return;
        }
        self.process.interrupt();
        let end = Instant::now() + CANCEL_GRACE;
        loop {
            if self.status().is_some() {
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match &self.exit {
                Some(rx) => match rx.recv_timeout(left) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => self.exit = None,
                },
                None => std::thread::sleep(left.min(RECHECK)),
            }
        }
        self.kill();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use tokio_util::sync::CancellationToken;

    fn sh(script: &str) -> std::process::Child {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Whether `pid` is a process that has not been reaped (a zombie counts: not reaped).
    fn exists(pid: u32) -> bool {
        crate::platform::process::is_alive(pid)
    }

    #[test]
    fn an_interrupted_child_exits_within_the_grace_and_is_reaped() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        // Exits on SIGINT by default.
        let child = sh("exec sleep 30");
        let pid = child.id();
        let mut g = ChildGuard::new(child, &mut inbox);
        let t = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(5));
        let end = g.stop(&mut inbox, &mut d, |_| {});
        assert!(matches!(end, Ending::Exited(_)), "{end:?}");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert!(!exists(pid), "not reaped");
        // Nothing more happens later (no signal to a reused pid).
        assert!(matches!(
            g.stop(&mut inbox, &mut d, |_| {}),
            Ending::AlreadyExited(_)
        ));
    }

    #[test]
    fn a_child_that_ignores_the_interrupt_is_killed_after_the_grace() {
        let cancel = CancellationToken::new();
        let mut inbox = Inbox::for_test(cancel.clone());
        let child = sh("trap '' INT; while :; do sleep 0.05; done");
        let pid = child.id();
        let mut g = ChildGuard::new(child, &mut inbox);
        // Let the shell set its trap.
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        let mut d = Deadline::after(Duration::from_millis(300));
        assert_eq!(g.stop(&mut inbox, &mut d, |_| {}), Ending::Killed);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert!(!exists(pid), "not reaped");
    }

    #[test]
    fn a_cancel_cuts_the_wait_for_the_exit_to_the_grace() {
        let cancel = CancellationToken::new();
        let mut inbox = Inbox::for_test(cancel.clone());
        let child = sh("trap '' INT; while :; do sleep 0.05; done");
        let mut g = ChildGuard::new(child, &mut inbox);
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
        let t = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(30));
        assert_eq!(g.stop(&mut inbox, &mut d, |_| {}), Ending::Killed);
        let took = t.elapsed();
        assert!(took >= CANCEL_GRACE, "{took:?}");
        assert!(took < CANCEL_GRACE + Duration::from_millis(500), "{took:?}");
    }

    #[test]
    fn an_exit_is_seen_as_it_happens() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let child = sh("sleep 0.2; exit 3");
        let mut g = ChildGuard::new(child, &mut inbox);
        let t = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(10));
        let st = g.wait_exit(&mut inbox, &mut d, |_| {}).expect("exited");
        assert_eq!(st.code(), Some(3));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(matches!(
            g.stop(&mut inbox, &mut d, |_| {}),
            Ending::AlreadyExited(_)
        ));
    }

    #[test]
    fn dropping_the_guard_interrupts_then_kills_and_reaps() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        // Ends on the interrupt: gone at once.
        let child = sh("exec sleep 30");
        let pid = child.id();
        let t = Instant::now();
        drop(ChildGuard::new(child, &mut inbox));
        assert!(t.elapsed() < CANCEL_GRACE, "{:?}", t.elapsed());
        assert!(!exists(pid), "not reaped after drop");
        // Ignores it: killed after the grace.
        let child = sh("trap '' INT; while :; do sleep 0.05; done");
        let pid = child.id();
        let g = ChildGuard::new(child, &mut inbox);
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        drop(g);
        let took = t.elapsed();
        assert!(took >= CANCEL_GRACE, "{took:?}");
        assert!(took < CANCEL_GRACE + Duration::from_millis(500), "{took:?}");
        assert!(!exists(pid), "not reaped after drop");
    }

    #[test]
    fn kill_is_at_once_and_only_once() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let child = sh("trap '' INT; exec sleep 30");
        let pid = child.id();
        let mut g = ChildGuard::new(child, &mut inbox);
        let t = Instant::now();
        g.kill();
        assert!(t.elapsed() < Duration::from_millis(200));
        assert!(!exists(pid));
        assert!(g.is_done());
        g.kill();
        assert_eq!(g.status(), None);
    }
}
