//! Pacing: the pause before a command is typed into a client. Cisco's CLI drops input that
//! comes too soon after its output (the original vpnmon slept before every command for this), so
//! every command — `exit` included — waits until the client has been quiet for the delay.

use super::{Deadline, Got, Inbox};
use std::time::{Duration, Instant};

/// A client that keeps writing is typed into after this many delays at the latest.
const MAX_DELAYS: u32 = 4;

/// Waits until the client has written nothing for `delay` (output that comes meanwhile, such as
/// notices after a prompt, starts the pause again), but no longer than [`MAX_DELAYS`] × `delay`
/// in all. Everything that arrives goes to `on_input`. False when a cancel came (at once then:
/// a stop's grace is too short to wait out a pause).
pub fn pace(inbox: &mut Inbox, delay: Duration, mut on_input: impl FnMut(Got)) -> bool {
    let start = Instant::now();
    let cap = Deadline::after(delay.saturating_mul(MAX_DELAYS));
    let mut quiet_since = start;
    loop {
        if inbox.cancelled() {
            return false;
        }
        let mut quiet = Deadline::after(delay.saturating_sub(quiet_since.elapsed())).within(cap);
        if quiet.expired() {
            return true;
        }
        match inbox.wait(&mut quiet) {
            Got::Cancelled => return false,
            Got::Timeout => {}
            Got::Output(id, bytes) => {
                if !bytes.is_empty() {
                    quiet_since = Instant::now();
                }
                on_input(Got::Output(id, bytes));
            }
            g => on_input(g),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn output_during_the_pause_starts_it_again() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        inbox.attach(r).unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            std::thread::sleep(Duration::from_millis(150));
            let _ = w.write_all(b"notice\n");
        });
        let t = Instant::now();
        let mut seen = Vec::new();
        assert!(pace(&mut inbox, Duration::from_millis(300), |g| {
            if let Got::Output(_, b) = g {
                seen.extend(b)
            }
        }));
        writer.join().unwrap();
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
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        inbox.attach(r).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = w.write_all(b".");
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let t = Instant::now();
        assert!(pace(&mut inbox, Duration::from_millis(100), |_| {}));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
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
        assert!(!pace(&mut inbox, Duration::from_secs(10), |_| {}));
        c.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
