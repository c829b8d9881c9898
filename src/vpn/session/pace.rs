//! Pacing: the pause before a command is typed into a client. Cisco's CLI drops input that
//! comes too soon after its output (the original vpnmon slept before every command for this), so
//! every command — `exit` included — waits until the client has been quiet for the delay.

use super::{Deadline, Got, Inbox, SourceId};
use std::time::{Duration, Instant};

/// A client that keeps writing is typed into after this many delays at the latest.
const MAX_DELAYS: u32 = 4;

/// What a cancel (Ctrl-C) does to a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCancel {
    /// The pause ends at once and nothing is typed (a question of the login dialogue).
    Stop,
    /// The pause is waited out, but for one delay at most from the cancel: what is typed next
    /// takes a tunnel down (or leaves the client), and a client that drops fast input would
    /// lose it. A second Ctrl-C ends the program at once anyway.
    WaitOut,
}

/// Waits until the client (output stream `source`) has written nothing for `delay` since its
/// LAST output — counted from when its reader got it, so a client quiet for long is typed into
/// at once; output that comes meanwhile (notices after a prompt) starts the quiet again — but
/// no longer than [`MAX_DELAYS`] × `delay` in all. Everything that arrives goes to `on_input`.
/// False when a cancel ended the pause ([`OnCancel::Stop`]).
pub fn pace(
    inbox: &mut Inbox,
    source: SourceId,
    delay: Duration,
    on_cancel: OnCancel,
    mut on_input: impl FnMut(Got),
) -> bool {
    let start = Instant::now();
    let mut cap = Deadline::after(delay.saturating_mul(MAX_DELAYS));
    let mut cancel_seen = false;
    // What came already counts (its arrival time too).
    while let Some(g) = inbox.ready() {
        on_input(g);
    }
    loop {
        if inbox.cancelled() && !cancel_seen {
            if on_cancel == OnCancel::Stop {
                return false;
            }
            cancel_seen = true;
            cap = Deadline::after(delay).within(cap);
        }
        let since = inbox.last_output(source).unwrap_or(start);
        let mut quiet = Deadline::after(delay.saturating_sub(since.elapsed())).within(cap);
        if cancel_seen {
            // Seen: a wait must not report it (again) or cut the pause to the grace.
            quiet = quiet.kept();
        }
        if quiet.expired() {
            return true;
        }
        match inbox.wait(&mut quiet) {
            Got::Cancelled | Got::Timeout => {}
            g => on_input(g),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    /// A client that writes a byte every 20 ms until stopped.
    struct Chatter {
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        writer: std::thread::JoinHandle<()>,
    }

    impl Chatter {
        fn start(inbox: &mut Inbox) -> (crate::vpn::session::SourceId, Chatter) {
            let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
            let id = inbox.attach(r).unwrap();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s2 = stop.clone();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = w.write_all(b".");
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            (id, Chatter { stop, writer })
        }

        fn stop(self) {
            self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
            self.writer.join().unwrap();
        }
    }

    #[test]
    fn output_during_the_pause_starts_it_again() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        let id = inbox.attach(r).unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            std::thread::sleep(Duration::from_millis(150));
            let _ = w.write_all(b"notice\n");
            // Kept open: a stream's end is not output.
            w
        });
        let t = Instant::now();
        let mut seen = Vec::new();
        assert!(pace(
            &mut inbox,
            id,
            Duration::from_millis(300),
            OnCancel::Stop,
            |g| {
                if let Got::Output(_, b) = g {
                    seen.extend(b)
                }
            }
        ));
        let _w = writer.join().unwrap();
        // 150 ms to the notice, then 300 ms of quiet.
        assert!(
            t.elapsed() >= Duration::from_millis(450),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(seen, b"notice\n");
    }

    #[test]
    fn a_chattering_client_is_typed_into_after_the_cap() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let (id, chatter) = Chatter::start(&mut inbox);
        let t = Instant::now();
        assert!(pace(
            &mut inbox,
            id,
            Duration::from_millis(100),
            OnCancel::Stop,
            |_| {}
        ));
        chatter.stop();
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_millis(900),
            "{took:?}"
        );
    }

    #[test]
    fn a_cancel_ends_the_pause_at_once() {
        let cancel = CancellationToken::new();
        let mut inbox = Inbox::for_test(cancel.clone());
        let wake = inbox.waker();
        let c = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
            wake();
        });
        let t = Instant::now();
        assert!(!pace(
            &mut inbox,
            0,
            Duration::from_secs(10),
            OnCancel::Stop,
            |_| {}
        ));
        c.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    /// A source that wrote `text` and then stayed quiet (its writing end kept open); its
    /// output already received.
    fn quiet_source(
        inbox: &mut Inbox,
        text: &'static [u8],
    ) -> (SourceId, Instant, std::os::unix::net::UnixStream) {
        use std::io::Write;
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        let id = inbox.attach(r).unwrap();
        w.write_all(text).unwrap();
        let mut d = Deadline::after(Duration::from_secs(5));
        while !matches!(inbox.wait(&mut d), Got::Output(i, b) if i == id && !b.is_empty()) {}
        let at = inbox.last_output(id).expect("the output's arrival time");
        (id, at, w)
    }

    #[test]
    fn quiet_counts_from_the_clients_last_output() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let (id, at, _w) = quiet_source(&mut inbox, b"VPN> ");
        // The client has been quiet for the whole delay already: no pause at all.
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        assert!(pace(
            &mut inbox,
            id,
            Duration::from_millis(300),
            OnCancel::Stop,
            |_| {}
        ));
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        // Quiet for part of it: only the rest is waited.
        let (id, at2, _w2) = quiet_source(&mut inbox, b"VPN> ");
        assert!(at2 >= at);
        std::thread::sleep(Duration::from_millis(200));
        assert!(pace(
            &mut inbox,
            id,
            Duration::from_millis(500),
            OnCancel::Stop,
            |_| {}
        ));
        let quiet = at2.elapsed();
        assert!(
            quiet >= Duration::from_millis(500) && quiet < Duration::from_millis(700),
            "{quiet:?}"
        );
    }

    #[test]
    fn a_stop_waits_the_pause_out_but_no_longer_than_a_delay() {
        let cancel = CancellationToken::new();
        let mut inbox = Inbox::for_test(cancel.clone());
        let (id, at, _w) = quiet_source(&mut inbox, b"VPN> ");
        cancel.cancel();
        assert!(pace(
            &mut inbox,
            id,
            Duration::from_millis(400),
            OnCancel::WaitOut,
            |_| {}
        ));
        let quiet = at.elapsed();
        assert!(
            quiet >= Duration::from_millis(400) && quiet < Duration::from_millis(700),
            "{quiet:?}"
        );
        // A client that keeps writing after the cancel: typed into one delay after it.
        let (id, chatter) = Chatter::start(&mut inbox);
        let t = Instant::now();
        assert!(pace(
            &mut inbox,
            id,
            Duration::from_millis(300),
            OnCancel::WaitOut,
            |_| {}
        ));
        chatter.stop();
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(600),
            "{took:?}"
        );
    }
}
