//! The terminal experience (issue 15): what a person sees on a real pseudo-terminal (read as a
//! screen with the `vt100` crate), and that piped output stays the original's lines byte for
//! byte (compared with today's console snapshots in tests/snapshots/).

mod core_support;

use core_support::{run, vpnmon_fake_ping};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

/// The arguments of the console snapshot `console_of_two_scripted_cycles` (tests/snapshots.rs):
/// the scripted targets (Good, Warn, Fail and a bad line), no VPN client, two cycles.
fn scripted(c: &mut Command) {
    c.args([
        "--params",
        "/dev/null",
        "--targets",
        "tests/data/scripted-targets.csv",
        "--vpnclient",
        "none",
        "--vpnurlip",
        "127.0.0.1",
        "--vpnname",
        "Lab GW",
        "--cycles",
        "2",
        "--delay",
        "0",
        "--timeout",
        "0.2",
        "--datalog",
        "/dev/null",
        "--quiet",
    ]);
}

fn scripted_command() -> Command {
    let mut c = vpnmon_fake_ping(Path::new(env!("CARGO_MANIFEST_DIR")));
    c.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env("TERM", "xterm-256color");
    scripted(&mut c);
    c
}

/// Everything `cmd` writes to its terminal until it ends (a 120×40 pseudo-terminal).
#[cfg(unix)]
fn on_a_terminal(cmd: Command) -> Vec<u8> {
    use std::io::Read;
    let mut session = expectrl::session::Session::spawn(cmd).expect("spawn on a pty");
    let _ = session.get_process_mut().set_window_size(120, 40);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // A PTY's reader gets EOF (or EIO on Linux) once the program and its children are gone.
    while let Ok(n) = session.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// The bytes as a person's terminal shows them.
#[cfg(unix)]
fn screen(bytes: &[u8]) -> vt100::Parser {
    let mut p = vt100::Parser::new(40, 120, 0);
    p.process(bytes);
    p
}

/// The row of the screen holding `needle`, and the column where it starts.
#[cfg(unix)]
fn find(p: &vt100::Parser, needle: &str) -> Option<(u16, u16)> {
    let rows: Vec<String> = p.screen().rows(0, 120).collect();
    rows.iter().enumerate().find_map(|(i, r)| {
        r.find(needle)
            .map(|byte| (i as u16, r[..byte].chars().count() as u16))
    })
}

/// Time stamps and durations vary from run to run: `  1 2022/09/07 18:20:33 ` and `took 5.00 s`
/// become placeholders, so a run's lines compare with the snapshot's.
fn normalised(text: &str) -> String {
    let stamp = regex::Regex::new(r"(?m)^( *\d+) \d{4}/\d\d/\d\d \d\d:\d\d:\d\d ").unwrap();
    let took = regex::Regex::new(r"\(took \d+\.\d\d s\)").unwrap();
    let text = stamp.replace_all(text, "$1 DATE TIME ");
    took.replace_all(&text, "(took N s)").into_owned()
}

/// A snapshot's text without insta's header.
fn snapshot(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("snapshots__{name}.snap"));
    let text = std::fs::read_to_string(path).unwrap();
    let body = text.splitn(3, "---\n").nth(2).expect("insta header");
    body.to_string()
}

/// Piped, the console is the original's lines exactly: no escape code, no extra line, byte for
/// byte the snapshot (times aside) — also with `--color auto` said out loud.
#[test]
fn piped_output_is_the_snapshot_without_escape_codes() {
    let want = normalised(&snapshot("console_of_two_scripted_cycles"));
    for extra in [
        &[][..],
        &["--color", "auto"][..],
        &["--color", "never"][..],
        &["--progress", "always"][..],
    ] {
        let mut c = scripted_command();
        c.args(extra);
        let out = run(c, DEADLINE);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(!out.stdout.contains('\x1b'), "{extra:?}: {:?}", out.stdout);
        assert_eq!(normalised(&out.stdout), want, "{extra:?}");
    }
}

/// `--verbose` adds the line naming failures to piped output, after each summary line, and
/// nothing else.
#[test]
fn verbose_names_the_failed_and_warned_targets_when_piped() {
    let mut c = scripted_command();
    c.arg("--verbose");
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let named = "Fail: Dead host (198.18.0.9);  Warn: Flaky switch (198.19.0.7)\n";
    let mut want = String::new();
    for line in snapshot("console_of_two_scripted_cycles").split_inclusive('\n') {
        want.push_str(line);
        if line.contains("vpnmon test cycle ping results:") {
            let prefix = &line[..line.find("vpnmon test").unwrap()];
            want.push_str(prefix);
            want.push_str(named);
        }
    }
    assert_eq!(normalised(&out.stdout), normalised(&want));
}

/// `CLICOLOR_FORCE` (or `--color always`) colours piped output too.
#[test]
fn colour_can_be_forced_when_piped() {
    for (env, args) in [
        (Some(("CLICOLOR_FORCE", "1")), &[][..]),
        (None, &["--color", "always"][..]),
    ] {
        let mut c = scripted_command();
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        c.args(args);
        let out = run(c, DEADLINE);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(
            out.stdout.contains("\x1b[32mGood\x1b[0m File server"),
            "{env:?} {args:?}: {:?}",
            out.stdout
        );
        assert!(out.stdout.contains("\x1b[33mWarn\x1b[0m Flaky switch"));
        assert!(out.stdout.contains("\x1b[31mFail\x1b[0m Dead host"));
    }
}

/// On a terminal: Good green, Warn yellow, Fail red, and after each summary the line naming the
/// failed and warned targets.
#[cfg(unix)]
#[test]
fn on_a_terminal_verdicts_are_coloured_and_failures_named() {
    let bytes = on_a_terminal(scripted_command());
    let p = screen(&bytes);
    let text = p.screen().contents();
    for (needle, colour) in [
        ("Good File server", vt100::Color::Idx(2)),
        ("Warn Flaky switch", vt100::Color::Idx(3)),
        ("Fail Dead host", vt100::Color::Idx(1)),
    ] {
        let (row, col) = find(&p, needle).unwrap_or_else(|| panic!("{needle}: {text}"));
        for i in 0..4 {
            let cell = p.screen().cell(row, col + i).unwrap();
            assert_eq!(cell.fgcolor(), colour, "{needle} letter {i}: {text}");
        }
        // Only the verdict is coloured: the name is in the terminal's own colour.
        let name = p.screen().cell(row, col + 5).unwrap();
        assert_eq!(name.fgcolor(), vt100::Color::Default, "{needle}: {text}");
    }
    assert_eq!(
        text.matches("Fail: Dead host (198.18.0.9);  Warn: Flaky switch (198.19.0.7)")
            .count(),
        2,
        "{text}"
    );
}

/// NO_COLOR on a terminal: not one colour code (the live line's cursor moves remain), the
/// failure line still there; `--color never` the same; with `--progress never` too, not one
/// escape code at all.
#[cfg(unix)]
#[test]
fn no_color_on_a_terminal_writes_no_colour_code() {
    let sgr = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
    for (env, args, any_escape) in [
        (Some(("NO_COLOR", "1")), &[][..], true),
        (None, &["--color", "never"][..], true),
        (
            None,
            &["--color", "never", "--progress", "never"][..],
            false,
        ),
    ] {
        let mut c = scripted_command();
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        c.args(args);
        let bytes = on_a_terminal(c);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!sgr.is_match(&text), "{env:?} {args:?}: {text:?}");
        if !any_escape {
            assert!(!bytes.contains(&0x1b), "{env:?} {args:?}: {text:?}");
        }
        assert!(
            text.contains("Fail: Dead host (198.18.0.9);  Warn: Flaky switch (198.19.0.7)"),
            "{text}"
        );
    }
}

/// After a failed open the summary says how many targets were not pinged, instead of
/// `Good: 0, Warn: 0, Fail: 0` (on a terminal, or with `--verbose`); piped without it the
/// original's line stays.
#[test]
fn a_failed_open_says_how_many_targets_were_not_pinged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "127.0.0.2,a\n127.0.0.3,b\n127.0.0.4,c\n",
    )
    .unwrap();
    for (verbose, want) in [
        (
            true,
            "vpnmon test cycle ping results:  VPN open Fail — 3 targets not pinged\n",
        ),
        (
            false,
            "vpnmon test cycle ping results:  Good: 0,  Warn: 0,  Fail: 0\n",
        ),
    ] {
        let mut c = vpnmon_fake_ping(dir.path());
        // A gateway that does not answer: the open is not tried and fails.
        c.args([
            "--params",
            "/dev/null",
            "--vpnclient",
            "openconnect",
            "--openconnect",
            "/bin/true",
            "--vpnurlip",
            "198.18.0.1",
            "--targets",
            "t.csv",
            "--cycles",
            "1",
            "--timeout",
            "0.2",
            "--datalog",
            "/dev/null",
            "--quiet",
            "--color",
            "never",
        ]);
        if verbose {
            c.arg("--verbose");
        }
        let out = run(c, DEADLINE);
        assert!(
            out.stdout.contains("-- VPN open() --------- Fail"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains(want), "{}", out.stdout);
        assert_eq!(out.stdout.contains("not pinged"), verbose, "{}", out.stdout);
    }
}

/// On a terminal a target's line shows as soon as it and those above it are done, while a dead
/// host further down still holds the sweep (here for 30 s); Ctrl-C then stops the run.
#[cfg(unix)]
#[test]
fn lines_appear_while_a_dead_host_is_still_pending() {
    use expectrl::Expect;
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "127.0.0.2,first\n198.18.0.1,dead\n127.0.0.3,after the dead one\n",
    )
    .unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args([
        "--params",
        "/dev/null",
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "1",
        "--timeout",
        "30",
        "--datalog",
        "d.csv",
        "--quiet",
    ]);
    let started = std::time::Instant::now();
    let mut session = expectrl::session::Session::spawn(c).expect("spawn on a pty");
    session.set_expect_timeout(Some(Duration::from_secs(10)));
    session
        .expect("-- ping 127.0.0.2 ")
        .expect("the first target's line while the dead host is pending");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The dead host and the target after it are still pending: neither line is there yet.
    let mut early = vec![0u8; 4096];
    let n = session.try_read(&mut early).unwrap_or(0);
    let early = String::from_utf8_lossy(&early[..n]);
    assert!(!early.contains("-- ping 198.18.0.1"), "{early}");
    assert!(!early.contains("-- ping 127.0.0.3"), "{early}");
    assert!(session.get_process_mut().is_alive().unwrap());
    let pid = nix::unistd::Pid::from_raw(session.get_process().pid().as_raw());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = session.read(&mut buf) {
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.contains("---- vpnmon stopped with Control-C ----"),
        "{rest}"
    );
    assert!(!rest.contains("-- ping 198.18.0.1"), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// A program on a 120×40 pseudo-terminal whose output is read by a thread, and the screen it
/// draws, fed chunk by chunk as the bytes arrive.
#[cfg(unix)]
struct Screen {
    pid: nix::unistd::Pid,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    parser: vt100::Parser,
}

#[cfg(unix)]
impl Screen {
    fn spawn(cmd: Command) -> Screen {
        use std::io::Read;
        let mut session = expectrl::session::Session::spawn(cmd).expect("spawn on a pty");
        let _ = session.get_process_mut().set_window_size(120, 40);
        let pid = nix::unistd::Pid::from_raw(session.get_process().pid().as_raw());
        let (tx, rx) = std::sync::mpsc::channel();
        // The thread owns the session: it reads until the program is gone (EOF or EIO).
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = session.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Screen {
            pid,
            rx,
            parser: vt100::Parser::new(40, 120, 0),
        }
    }

    /// Waits until the screen satisfies `ok`, and returns its rows then.
    fn until(&mut self, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        let end = std::time::Instant::now() + DEADLINE;
        loop {
            let rows: Vec<String> = self.parser.screen().rows(0, 120).collect();
            if ok(&rows) {
                return rows;
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.parser.process(&chunk),
                Err(_) => panic!("{what}: not seen; the screen:\n{}", rows.join("\n")),
            }
        }
    }

    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGINT);
    }
}

/// The row holding `needle`, and that row's text.
#[cfg(unix)]
fn row_with(rows: &[String], needle: &str) -> Option<(usize, String)> {
    rows.iter()
        .enumerate()
        .find(|(_, r)| r.contains(needle))
        .map(|(i, r)| (i, r.clone()))
}

/// While the sweep waits on a dead host, a spinner under the lines says how many targets are
/// done and for how long the sweep has run, updated in place (same row, a new time).
#[cfg(unix)]
#[test]
fn a_spinner_counts_the_slow_sweep_in_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "127.0.0.2,first\n198.18.0.1,dead\n",
    )
    .unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.env("TERM", "xterm-256color").args([
        "--params",
        "/dev/null",
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "1",
        "--timeout",
        "4",
        "--datalog",
        "d.csv",
        "--quiet",
    ]);
    let mut screen = Screen::spawn(c);
    let spinner = "1 answered or timed out, ";
    let first = screen.until("the spinner", |rows| row_with(rows, spinner).is_some());
    let (row, text) = row_with(&first, spinner).unwrap();
    // It sits right under the first target's line.
    assert!(first[row - 1].contains("-- ping 127.0.0.2"), "{first:#?}");
    let later = screen.until("the spinner's time moving on", |rows| {
        row_with(rows, spinner).is_some_and(|(r, t)| r == row && t != text)
    });
    assert_eq!(later.iter().filter(|r| r.contains(spinner)).count(), 1);
    // When the sweep is done the spinner is gone, the lines in its place.
    let end = screen.until("the end of the run", |rows| {
        row_with(rows, "1 vpnmon test cycles completed.").is_some()
    });
    assert!(row_with(&end, spinner).is_none(), "{end:#?}");
    assert!(end[row].contains("-- ping 198.18.0.1"), "{end:#?}");
}

/// Two cycles of one loopback target, `delay` seconds apart, on a terminal (fake prober, no VPN).
#[cfg(unix)]
fn two_cycles_on_a_terminal(delay: &str) -> (tempfile::TempDir, Screen) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.2,first\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.env("TERM", "xterm-256color").args([
        "--params",
        "/dev/null",
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "2",
        "--delay",
        delay,
        "--datalog",
        "d.csv",
        "--quiet",
    ]);
    (dir, Screen::spawn(c))
}

/// During the wait a countdown under the original's waiting line counts down in place; when the
/// next cycle starts it is gone and the waiting line stays.
#[cfg(unix)]
#[test]
fn the_countdown_counts_down_in_place_and_leaves_the_waiting_line() {
    let (_dir, mut screen) = two_cycles_on_a_terminal("3");
    let first = screen.until("the countdown", |rows| {
        row_with(rows, "next cycle in 00:0").is_some()
    });
    let (row, text) = row_with(&first, "next cycle in 00:0").unwrap();
    assert!(
        first[row - 2].contains("Waiting to run next test cycle.  (next at"),
        "{first:#?}"
    );
    screen.until("the countdown moving on", |rows| {
        row_with(rows, "next cycle in 00:0").is_some_and(|(r, t)| r == row && t != text)
    });
    let after = screen.until("the second cycle", |rows| {
        row_with(rows, "Start vpnmon test cycle 2 of 2").is_some()
    });
    assert!(row_with(&after, "next cycle in").is_none(), "{after:#?}");
    assert!(
        row_with(&after, "Waiting to run next test cycle.  (next at").is_some(),
        "{after:#?}"
    );
    screen.until("the end", |rows| {
        row_with(rows, "2 vpnmon test cycles completed.").is_some()
    });
}

/// A stop during the wait takes the countdown away before the stop lines.
#[cfg(unix)]
#[test]
fn a_stop_during_the_countdown_clears_it() {
    let (_dir, mut screen) = two_cycles_on_a_terminal("600");
    screen.until("the countdown", |rows| {
        row_with(rows, "next cycle in 10:00").is_some()
            || row_with(rows, "next cycle in 09:").is_some()
    });
    screen.stop();
    let end = screen.until("the stop lines", |rows| {
        row_with(rows, "Datalog file closed").is_some()
    });
    assert!(row_with(&end, "next cycle in").is_none(), "{end:#?}");
}
