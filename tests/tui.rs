//! `vpnmon --tui`, the full-screen live view (issue 15 item 4), as a person sees it: the real
//! binary in a real pseudo-terminal, its bytes read as a screen by the `vt100` crate. It renders
//! (an insta snapshot of the parsed screen, times masked), redraws at a new size, `r` runs a
//! cycle now, `p` pauses between cycles, `q` quits closing the VPN (the Cisco simulator), Ctrl-C
//! and SIGTERM give the terminal back; and `--tui` refuses what it cannot do.
#![cfg(unix)]

mod core_support;

use core_support::{run, vpncli_sim, vpnmon_fake_ping, wait_until};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);
const PASSWORD: &str = "Pw-7f3k9Zq";

/// Leaves the alternate screen, shows the cursor.
const LEAVE: &str = "\x1b[?1049l";
const ENTER: &str = "\x1b[?1049h";
const SHOW_CURSOR: &str = "\x1b[?25h";

/// vpnmon on a pseudo-terminal: the screen it draws (fed chunk by chunk as the bytes come, by a
/// thread reading a copy of the terminal's master), every byte it wrote, and the session to type
/// keys into and resize.
struct Tui {
    session: expectrl::session::OsSession,
    pid: nix::unistd::Pid,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    parser: vt100::Parser,
    bytes: Vec<u8>,
    /// The reader saw the end (the program and its children are gone).
    ended: bool,
}

impl Tui {
    fn spawn(cmd: Command, cols: u16, rows: u16) -> Tui {
        use std::io::Read;
        let mut session = expectrl::session::Session::spawn(cmd).expect("spawn on a pty");
        session
            .get_process_mut()
            .set_window_size(cols, rows)
            .unwrap();
        let pid = nix::unistd::Pid::from_raw(session.get_process().pid().as_raw());
        let mut master = session.get_process().get_raw_handle().expect("the pty");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // EOF (or EIO on Linux) once the program and its children are gone.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Tui {
            session,
            pid,
            rx,
            parser: vt100::Parser::new(rows, cols, 0),
            bytes: Vec::new(),
            ended: false,
        }
    }

    fn rows(&self) -> Vec<String> {
        let (_, cols) = self.parser.screen().size();
        self.parser.screen().rows(0, cols).collect()
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.parser.process(chunk);
        self.bytes.extend_from_slice(chunk);
    }

    /// Waits until the screen satisfies `ok`, and returns its rows then.
    fn until(&mut self, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        let end = Instant::now() + DEADLINE;
        loop {
            let rows = self.rows();
            if ok(&rows) {
                return rows;
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.feed(&chunk),
                Err(_) => panic!("{what}: not seen; the screen:\n{}", rows.join("\n")),
            }
        }
    }

    /// Waits until the screen shows `needle`.
    fn shows(&mut self, needle: &str) -> Vec<String> {
        self.until(needle, |rows| rows.iter().any(|r| r.contains(needle)))
    }

    /// Reads the screen for `d` (a check that something does not happen in that time).
    fn watch_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.feed(&chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(_) => {
                    self.ended = true;
                    break;
                }
            }
        }
    }

    fn key(&mut self, k: &[u8]) {
        self.session.write_all(k).unwrap();
        self.session.flush().unwrap();
    }

    /// The terminal is now `cols`×`rows`, as a window resized by the person (SIGWINCH).
    fn resize(&mut self, cols: u16, rows: u16) {
        self.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .unwrap();
        self.parser.screen_mut().set_size(rows, cols);
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGWINCH);
    }

    /// Reads until the program is gone, then its exit status.
    fn exit(&mut self) -> i32 {
        let end = Instant::now() + DEADLINE;
        while !self.ended {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.feed(&chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => self.ended = true,
                Err(_) => panic!(
                    "vpnmon did not end; the screen:\n{}",
                    self.rows().join("\n")
                ),
            }
        }
        match nix::sys::wait::waitpid(self.pid, None).unwrap() {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("vpnmon ended with {other:?}"),
        }
    }

    /// What was written after the view left the alternate screen the last time.
    fn after_the_view(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes).into_owned();
        let at = text
            .rfind(LEAVE)
            .expect("the view left the alternate screen");
        text[at + LEAVE.len()..].to_string()
    }

    /// The terminal was given back: every alternate screen entered was left, the cursor shown,
    /// and the line discipline is back to cooked mode (line editing and signals on, as a
    /// shell needs: raw mode off).
    fn assert_terminal_restored(&self) {
        let text = String::from_utf8_lossy(&self.bytes);
        assert!(text.contains(ENTER), "the view was drawn: {text:?}");
        let entered = text.rfind(ENTER).unwrap();
        let left = text.rfind(LEAVE).expect("left the alternate screen");
        assert!(left > entered, "the alternate screen is left last");
        assert!(
            text[left..].contains(SHOW_CURSOR) || text[entered..left].contains(SHOW_CURSOR),
            "the cursor is shown again"
        );
        assert!(!self.parser.screen().alternate_screen());
        assert!(!self.parser.screen().hide_cursor());
        let master = self.session.get_process().get_raw_handle().unwrap();
        let t = nix::sys::termios::tcgetattr(&master).unwrap();
        use nix::sys::termios::LocalFlags;
        // (The test's session turns echo off from the start, so ECHO says nothing here.)
        assert!(
            t.local_flags.contains(LocalFlags::ICANON)
                && t.local_flags.contains(LocalFlags::ISIG)
                && t.local_flags.contains(LocalFlags::IEXTEN),
            "raw mode left on: {:?}",
            t.local_flags
        );
    }
}

/// The row holding `needle`, and the column where it starts.
fn find(p: &vt100::Parser, needle: &str) -> Option<(u16, u16)> {
    let (_, cols) = p.screen().size();
    let rows: Vec<String> = p.screen().rows(0, cols).collect();
    rows.iter().enumerate().find_map(|(i, r)| {
        r.find(needle)
            .map(|byte| (i as u16, r[..byte].chars().count() as u16))
    })
}

/// The scripted targets (Good, Warn, Fail and a bad line) without a VPN, in a temp folder
/// with its datalog: `cycles` cycles `delay` seconds apart.
fn scripted(cycles: &str, delay: &str) -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scripted-targets.csv");
    // Copied in, so the notice about its bad line names it the same on every machine.
    std::fs::copy(targets, dir.path().join("targets.csv")).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm-256color")
        .args(["--params", "/dev/null", "--targets", "targets.csv"])
        .args(["--vpnclient", "none", "--vpnurlip", "127.0.0.1"])
        .args(["--vpnname", "Lab GW", "--cycles", cycles, "--delay", delay])
        .args([
            "--timeout",
            "0.2",
            "--datalog",
            "datalog.csv",
            "--quiet",
            "--tui",
        ]);
    (dir, c)
}

fn datalog(dir: &tempfile::TempDir) -> String {
    std::fs::read_to_string(dir.path().join("datalog.csv")).unwrap_or_default()
}

/// The cycles of the datalog's rows.
fn cycles_in(datalog: &str) -> Vec<u32> {
    let mut v: Vec<u32> = datalog
        .lines()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    v.dedup();
    v
}

/// Times change from run to run: dates, clock times, the countdown and elapsed seconds are
/// masked.
fn masked(rows: &[String]) -> String {
    let stamp = regex::Regex::new(r"\b\d\d:\d\d:\d\d ").unwrap();
    let countdown = regex::Regex::new(r"next cycle in (\d+:)?\d\d:\d\d").unwrap();
    let secs = regex::Regex::new(r"\d+\.\d s\b").unwrap();
    rows.iter()
        .map(|r| {
            let r = countdown.replace_all(r, "next cycle in mm:ss");
            let r = stamp.replace_all(&r, "hh:mm:ss ");
            let r = secs.replace_all(&r, "N.N s");
            r.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// After a cycle: a row per check with its verdict in colour, availability, RTT and its
/// sparkline, the failure's time and reason; the countdown and the keys; the bad targets line
/// as a notice. Ctrl-L draws it afresh. Then `q` quits: the terminal is given back and the
/// stop line names the key.
#[test]
fn renders_each_check_and_the_countdown_and_q_quits() {
    let (dir, c) = scripted("-1", "3600");
    let mut tui = Tui::spawn(c, 120, 30);
    let rows = tui.shows("waiting: next cycle in");
    insta::assert_snapshot!("tui_after_one_cycle", masked(&rows));
    for (needle, colour) in [
        ("Good", vt100::Color::Idx(2)),
        ("Warn", vt100::Color::Idx(3)),
        ("Fail", vt100::Color::Idx(1)),
    ] {
        let (row, col) = find(&tui.parser, &format!("{needle}   ")).unwrap();
        for i in 0..4 {
            let cell = tui.parser.screen().cell(row, col + i).unwrap();
            assert_eq!(cell.fgcolor(), colour, "{needle} letter {i}");
        }
    }
    // The countdown counts down in place.
    let first = tui
        .rows()
        .into_iter()
        .find(|r| r.contains("next cycle in"))
        .unwrap();
    tui.until("the countdown to move", |rows| {
        rows.iter()
            .any(|r| r.contains("next cycle in") && *r != first)
    });
    // Ctrl-L wipes the screen and draws the view whole again.
    let from = tui.bytes.len();
    tui.key(b"\x0c");
    let end = Instant::now() + DEADLINE;
    while !String::from_utf8_lossy(&tui.bytes[from..]).contains("\x1b[2J") {
        let left = end.saturating_duration_since(Instant::now());
        let chunk = tui
            .rx
            .recv_timeout(left)
            .expect("the screen cleared after Ctrl-L");
        tui.feed(&chunk);
    }
    tui.shows("Dead host");
    tui.key(b"q");
    assert_eq!(tui.exit(), 0);
    tui.assert_terminal_restored();
    let after = tui.after_the_view();
    assert!(
        after.contains("---- vpnmon stopped with the q key ----"),
        "{after:?}"
    );
    // No VPN: the stop lines say nothing of one.
    assert!(!after.contains("VPN connection"), "{after:?}");
    assert_eq!(cycles_in(&datalog(&dir)), vec![1]);
}

/// A resized window is drawn again at its new width: the columns move left to fit 90 columns,
/// and back out at 140.
#[test]
fn a_resize_redraws_at_the_new_width() {
    let (_dir, c) = scripted("-1", "3600");
    let mut tui = Tui::spawn(c, 120, 30);
    tui.shows("waiting: next cycle in");
    let (_, wide) = find(&tui.parser, "Last failure").unwrap();
    tui.resize(90, 24);
    tui.until("the header within 90 columns", |rows| {
        rows.iter().any(|r| {
            r.find("Last failure")
                .is_some_and(|at| r[..at].chars().count() < usize::from(wide))
        })
    });
    let (_, narrow) = find(&tui.parser, "Last failure").unwrap();
    assert!(narrow + 12 <= 90, "{narrow}");
    // The keys and the status line are still whole rows of the new screen.
    tui.shows("quit (closes the VPN)");
    tui.resize(140, 30);
    tui.until("the header further right at 140 columns", |rows| {
        rows.iter().any(|r| {
            r.find("Last failure")
                .is_some_and(|at| r[..at].chars().count() > usize::from(wide))
        })
    });
    tui.key(b"q");
    assert_eq!(tui.exit(), 0);
    tui.assert_terminal_restored();
}

/// `r` during the hour's wait runs the next cycle now; the last cycle ends the run as usual.
#[test]
fn r_runs_a_cycle_now() {
    let (dir, c) = scripted("2", "3600");
    let mut tui = Tui::spawn(c, 120, 30);
    tui.shows("waiting: next cycle in");
    assert_eq!(cycles_in(&datalog(&dir)), vec![1]);
    tui.key(b"r");
    assert_eq!(tui.exit(), 0);
    tui.assert_terminal_restored();
    assert_eq!(cycles_in(&datalog(&dir)), vec![1, 2]);
    let after = tui.after_the_view();
    assert!(
        after.contains("2 vpnmon test cycles completed."),
        "{after:?}"
    );
}

/// `p` during a cycle pauses after it: with a 1 s delay no cycle starts while paused (watched
/// for 3 s); `p` again resumes and the next cycle runs at once (its time has passed).
#[test]
fn p_pauses_between_cycles_and_resumes() {
    let (dir, c) = scripted("2", "1");
    let mut tui = Tui::spawn(c, 120, 30);
    tui.shows("cycle 1 of 2");
    tui.key(b"p");
    tui.shows("paused: no cycle starts until p or r");
    assert_eq!(cycles_in(&datalog(&dir)), vec![1]);
    tui.watch_for(Duration::from_secs(3));
    assert!(!tui.ended, "paused, the run went on");
    assert_eq!(
        cycles_in(&datalog(&dir)),
        vec![1],
        "a cycle ran while paused"
    );
    assert!(tui.rows().iter().any(|r| r.contains("paused")));
    tui.key(b"p");
    assert_eq!(tui.exit(), 0);
    assert_eq!(cycles_in(&datalog(&dir)), vec![1, 2]);
    tui.assert_terminal_restored();
}

/// Ctrl-C (a key in raw mode) and SIGTERM stop the run as they do without the view, and the
/// terminal is given back: the alternate screen left, the cursor shown, raw mode off.
#[test]
fn ctrl_c_and_sigterm_give_the_terminal_back() {
    for (how, words) in [("ctrl-c", "Control-C"), ("sigterm", "SIGTERM")] {
        let (_dir, c) = scripted("-1", "3600");
        let mut tui = Tui::spawn(c, 120, 30);
        tui.shows("waiting: next cycle in");
        if how == "ctrl-c" {
            tui.key(b"\x03");
        } else {
            nix::sys::signal::kill(tui.pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        }
        assert_eq!(tui.exit(), 0, "{how}");
        tui.assert_terminal_restored();
        let after = tui.after_the_view();
        assert!(
            after.contains(&format!("---- vpnmon stopped with {words} ----")),
            "{how}: {after:?}"
        );
    }
}

/// A panic in the view gives the terminal back before its message (the panic hook), and the
/// run goes on with the console's lines to its end.
#[test]
fn a_panic_in_the_view_gives_the_terminal_back_and_the_run_goes_on() {
    let (dir, mut c) = scripted("2", "1");
    c.arg("--debug-tui-panic");
    let mut tui = Tui::spawn(c, 120, 30);
    assert_eq!(tui.exit(), 0);
    tui.assert_terminal_restored();
    let after = tui.after_the_view();
    let panicked = after
        .find("--debug-tui-panic: the view panics as asked")
        .unwrap_or_else(|| panic!("{after:?}"));
    let cycle2 = after
        .find("Start vpnmon test cycle 2 of 2")
        .unwrap_or_else(|| panic!("{after:?}"));
    assert!(panicked < cycle2, "{after:?}");
    assert!(
        after.contains("2 vpnmon test cycles completed."),
        "{after:?}"
    );
    assert_eq!(cycles_in(&datalog(&dir)), vec![1, 2]);
}

/// `q` while the tunnel is up (the sweep waits on a silent host) stops as Ctrl-C does: the
/// VPN is closed through the Cisco simulator, the datalog gets the close row, the cut sweep
/// writes none, and the password is nowhere.
#[test]
fn q_closes_the_vpn_as_ctrl_c_does() {
    let (dir, c) = with_the_cisco_simulator("ok");
    let p = |n: &str| dir.path().join(n);
    let mut tui = Tui::spawn(c, 120, 30);
    tui.shows("sweep 1/2 answered");
    let state = std::fs::read_to_string(p("state")).unwrap_or_default();
    assert!(state.contains("tunnel=up"), "{state}");
    tui.key(b"q");
    tui.shows("stopping");
    assert_eq!(tui.exit(), 0);
    tui.assert_terminal_restored();
    let after = tui.after_the_view();
    assert!(
        after.contains("---- vpnmon stopped with the q key ----\r\nVPN connection closed"),
        "{after:?}"
    );
    let rows: Vec<String> = datalog_rows(&std::fs::read_to_string(p("datalog.csv")).unwrap());
    assert_eq!(
        rows,
        ["1,VPN ping,Good", "1,VPN open,Good", "1,VPN close,Good"]
    );
    wait_until("the tunnel down", Duration::from_secs(5), || {
        std::fs::read_to_string(p("state")).is_ok_and(|s| s.contains("tunnel=down"))
    });
    let everything = String::from_utf8_lossy(&tui.bytes);
    assert!(!everything.contains(PASSWORD));
    assert!(!std::fs::read_to_string(p("datalog.csv"))
        .unwrap()
        .contains(PASSWORD));
}

/// vpnmon with `--tui` driving the Cisco simulator (its `scenario`) in a temp folder: a host
/// that answers and a silent one (the sweep waits on it for 30 s, the tunnel up).
fn with_the_cisco_simulator(scenario: &str) -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::create_dir(p("bin")).unwrap();
    // The folder's own copy: an open ends stale copies of its client by executable path.
    let sim = p("bin").join(core_support::sim::SIM_NAME);
    std::fs::copy(vpncli_sim(), &sim).unwrap();
    std::fs::write(
        p("targets.csv"),
        "127.0.0.2,host two\n198.18.0.9,silent host\n",
    )
    .unwrap();
    let mut c = core_support::vpnmon(dir.path());
    c.env("VPNCLI_SIM_SCENARIO", scenario)
        .env("VPNCLI_SIM_PASSWORD", PASSWORD)
        .env("VPNCLI_SIM_STATE", p("state"))
        .env("VPNCLI_SIM_PIDS", p("pids"))
        .env("TERM", "xterm-256color")
        .arg("--debug-fake-ping")
        .args(["--vpnclient", "anyconnect", "--vpncli"])
        .arg(&sim)
        .args(["-vpnurlip", "127.0.0.1", "-user", "bob", "-pass", PASSWORD])
        .args(["--targets", "targets.csv", "--datalog", "datalog.csv"])
        .args(["--cycles", "3", "--delay", "0", "--timeout", "30"])
        .args(["--vpncli-delay", "0", "--quiet", "--tui"]);
    (dir, c)
}

/// A second Ctrl-C while the VPN closes (slowly) exits at once with 130, as a second signal
/// does, and still gives the terminal back.
#[test]
fn a_second_ctrl_c_exits_at_once_and_gives_the_terminal_back() {
    let (dir, c) = with_the_cisco_simulator("slow_disconnect");
    let state = || std::fs::read_to_string(dir.path().join("state")).unwrap_or_default();
    let mut tui = Tui::spawn(c, 120, 30);
    tui.shows("sweep 1/2 answered");
    tui.key(b"\x03");
    wait_until("the slow disconnect", DEADLINE, || {
        state().contains("phase=disconnecting")
    });
    tui.key(b"\x03");
    assert_eq!(tui.exit(), 130);
    tui.assert_terminal_restored();
    let after = tui.after_the_view();
    assert!(
        after.contains("---- vpnmon stopped at once (second Control-C) ----"),
        "{after:?}"
    );
    // The simulator this test started, left by the exit at once, is ended by its pid (only
    // while that pid is still this folder's copy of it).
    let sim = dir.path().join("bin").join(core_support::sim::SIM_NAME);
    for pid in std::fs::read_to_string(dir.path().join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
    {
        if std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .as_deref()
            != Some(sim.as_path())
        {
            continue;
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// (cycle, test, result) of each row.
fn datalog_rows(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{}", f[0], f[3], f[4])
        })
        .collect()
}

/// `--tui` refuses a stdout that is not a terminal, and `--json` or `--check`, with one line.
#[test]
fn tui_refuses_a_pipe_json_and_check() {
    let (_dir, c) = scripted("1", "0");
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "Error: --tui needs a terminal, and standard output is not one (a pipe or a file): run \
         it in a terminal, or drop --tui for the console lines\n"
    );
    assert!(out.stdout.is_empty() || !out.stdout.contains('\x1b'));
    for other in ["--json", "--check"] {
        let (_dir, mut c) = scripted("1", "0");
        c.arg(other);
        let out = run(c, DEADLINE);
        assert_eq!(
            out.code,
            Some(if other == "--check" { 3 } else { 2 }),
            "{other}"
        );
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(
            text.contains("'--tui") && text.contains("cannot be used with"),
            "{other}: {text}"
        );
    }
}
