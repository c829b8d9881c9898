//! The real binary with `--vpnclient none`: the console lines and the datalog's bytes, live
//! re-reading of the targets file, Ctrl-C/SIGTERM during the wait, and Good/Warn/Fail targets.
//! The monitor's tests answer pings from the built-in fake (`--debug-fake-ping`: 127.0.0.0/8
//! answers, 198.19.0.0/16 answers the first echo only, 198.18.0.0/16 never), so they run for any
//! user; one test pings loopback for real.

mod core_support;

use core_support::harness::{need_ping, trial, Ran};
use core_support::{run, vpnmon, vpnmon_fake_ping, Running};
use nix::sys::signal::Signal;
use regex::Regex;
use std::time::Duration;

const PASSWORD: &str = "Zq7-secret-pw";
const DEADLINE: Duration = Duration::from_secs(60);

/// The datalog's rows without their date and time: `cycle,test,result,address,name`.
fn rows(log: &str) -> Vec<String> {
    log.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ',').collect();
            format!("{},{}", f[0], f[3])
        })
        .collect()
}

/// A temporary folder with the targets file `t.csv`, and vpnmon (fake prober) in it without a
/// VPN client: gateway `gateway`, datalog `d.csv`, `cycles` cycles with no delay, each echo
/// waited for `timeout` seconds, quiet.
fn without_vpn(
    targets: &str,
    gateway: &str,
    cycles: u32,
    timeout: &str,
) -> (tempfile::TempDir, std::process::Command) {
    let (dir, mut c) = core_support::without_vpn_in_temp(targets);
    c.args(["--vpnurlip", gateway, "--datalog", "d.csv"])
        .args(["--cycles", &cycles.to_string()])
        .args(["--timeout", timeout, "--quiet"]);
    (dir, c)
}

fn loopback_run_prints_the_original_lines_and_appends_exact_rows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("targets.csv"),
        "\u{FEFF}# address,name\r\n127.0.0.1,Loopback one\r\n127.0.0.2,Rack 1, \"left\"\r\n no,comment\r\nbroken line\r\n",
    )
    .unwrap();
    // An existing datalog is appended to, never rewritten.
    std::fs::write(
        dir.path().join("d.csv"),
        "0,2022/09/07,18:20:33,VPN ping,Good,old,Old\n",
    )
    .unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args([
        "-vpnurlip",
        "127.0.0.9",
        "-vpnname",
        "Loop GW",
        "--vpnclient",
        "none",
        "-targets",
        "targets.csv",
    ])
    .args([
        "-cycles", "2", "-delay", "0", "-datalog", "d.csv", "-quiet", "-user", "mon", "-pass",
        PASSWORD,
    ]);
    let out = run(c, DEADLINE);
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert_eq!(out.code, Some(0), "{stdout}\n{stderr}");
    let p = r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}";
    let want = [
        "Running without a vpnmon params file".to_string(),
        "targets.csv:5: ignored: expected address,name (for example 10.1.1.10,File server)"
            .to_string(),
        format!(r"  1 {p} Start vpnmon test cycle 1 of 2"),
        format!(r"  1 {p} -- VPN ping ----------- Good Loop GW  \(rtt 0\.10 ms\)"),
        format!(r"  1 {p} -- ping 127.0.0.1       Good Loopback one  \(rtt 0\.10 ms\)"),
        format!(r#"  1 {p} -- ping 127.0.0.2       Good Rack 1, "left"  \(rtt 0\.10 ms\)"#),
        format!(r"  1 {p} End vpnmon test cycle 1 of 2  \(took [0-9]+\.[0-9]{{2}} s\)"),
        format!(r"  1 {p} vpnmon test cycle ping results:  Good: 2,  Warn: 0,  Fail: 0"),
        format!(r"  1 {p} Waiting to run next test cycle."),
        // One empty line after the waiting line, as the original.
        String::new(),
        format!(r"  2 {p} Start vpnmon test cycle 2 of 2"),
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() > want.len(), "{stdout}");
    for (i, w) in want.iter().enumerate() {
        let re = Regex::new(&format!(
            "^{}$",
            if i < 2 { regex::escape(w) } else { w.clone() }
        ))
        .unwrap();
        assert!(
            re.is_match(lines[i]),
            "line {i}: {:?} !~ {w}\n{stdout}",
            lines[i]
        );
    }
    // The last line is prefixed like every other, with the original's words.
    let last = Regex::new(&format!("^  2 {p} 2 vpnmon test cycles completed[.]$")).unwrap();
    assert!(last.is_match(lines.last().unwrap()), "{stdout}");
    assert_eq!(
        stdout.matches("targets.csv:5").count(),
        1,
        "a warning is shown once, not every cycle"
    );

    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let row = Regex::new(r"^\d,\d{4}/\d{2}/\d{2},\d{2}:\d{2}:\d{2},").unwrap();
    let rows: Vec<String> = log
        .lines()
        .skip(1)
        .map(|l| row.replace(l, "N,D,T,").into_owned())
        .collect();
    assert!(log.starts_with("0,2022/09/07,18:20:33,VPN ping,Good,old,Old\n1,"));
    assert!(log.ends_with('\n'));
    assert_eq!(
        rows,
        [
            "N,D,T,VPN ping,Good,127.0.0.9,Loop GW",
            "N,D,T,Target ping,Good,127.0.0.1,Loopback one",
            "N,D,T,Target ping,Good,127.0.0.2,\"Rack 1, \"\"left\"\"\"",
        ]
        .repeat(2)
    );
    assert!(log.lines().skip(1).take(3).all(|l| l.starts_with("1,")));
    assert!(log.lines().skip(4).all(|l| l.starts_with("2,")));
    for text in [stdout.as_str(), stderr.as_str(), log.as_str()] {
        assert!(!text.contains(PASSWORD));
    }
}

fn good_warn_and_fail_targets_give_their_rows_lines_and_tally() {
    let (dir, c) = without_vpn(
        "127.0.0.2,Answers\n198.19.0.7,Answers once\n198.18.0.9,Never answers\n",
        "127.0.0.1",
        2,
        "0.2",
    );
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let cycle = |n: u32| {
        [
            "VPN ping,Good,127.0.0.1,VPN Gateway",
            "Target ping,Good,127.0.0.2,Answers",
            "Target ping,Warn,198.19.0.7,Answers once",
            "Target ping,Fail,198.18.0.9,Never answers",
        ]
        .map(|r| format!("{n},{r}"))
    };
    assert_eq!(rows(&log), [cycle(1), cycle(2)].concat());
    let tail = |l: &str| l.split_once(" -- ").map(|(_, t)| t.to_string());
    let tests: Vec<String> = out.stdout.lines().filter_map(tail).collect();
    let one = [
        "VPN ping ----------- Good VPN Gateway  (rtt 0.10 ms)",
        "ping 127.0.0.2       Good Answers  (rtt 0.10 ms)",
        "ping 198.19.0.7      Warn Answers once  (1 of 2 echo requests unanswered, rtt 0.10 ms)",
        "ping 198.18.0.9      Fail Never answers  (no reply to 2 echo requests within 0.2 s)",
    ];
    assert_eq!(tests, [one, one].concat(), "{}", out.stdout);
    assert_eq!(
        out.stdout
            .matches("vpnmon test cycle ping results:  Good: 1,  Warn: 1,  Fail: 1")
            .count(),
        2,
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with(" 2 vpnmon test cycles completed.\n"));
}

fn a_dead_gateway_without_a_vpn_client_fails_its_row_and_the_targets_are_still_pinged() {
    let (dir, c) = without_vpn("127.0.0.2,Answers\n", "198.18.0.1", 1, "0.2");
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(
        rows(&log),
        [
            "1,VPN ping,Fail,198.18.0.1,VPN Gateway",
            "1,Target ping,Good,127.0.0.2,Answers",
        ]
    );
    assert!(
        out.line_with("-- VPN ping").ends_with(
            "-- VPN ping ----------- Fail VPN Gateway  (no reply to 2 echo requests within 0.2 s)"
        ),
        "{}",
        out.stdout
    );
    // The gateway is always pinged twice; --pings is for the targets.
    // The original's words, also for one cycle.
    assert!(out.stdout.ends_with(" 1 vpnmon test cycles completed.\n"));
}

/// The one end-to-end test of real ICMP on loopback (the monitor's tests use the fake).
fn loopback_answers_real_icmp() -> Ran {
    need_ping()?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.2,Two\n127.0.0.3,Three\n").unwrap();
    let mut c = vpnmon(dir.path());
    c.args(["--vpnclient", "none", "--vpnurlip", "127.0.0.1"])
        .args(["--targets", "t.csv", "--datalog", "d.csv"])
        .args(["--cycles", "1", "--delay", "0", "--quiet"]);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(
        rows(&log),
        [
            "1,VPN ping,Good,127.0.0.1,VPN Gateway",
            "1,Target ping,Good,127.0.0.2,Two",
            "1,Target ping,Good,127.0.0.3,Three",
        ]
    );
    let rtt = Regex::new(r"  \(rtt [0-9.]+ ms\)$").unwrap();
    assert_eq!(
        out.stdout.lines().filter(|l| rtt.is_match(l)).count(),
        3,
        "{}",
        out.stdout
    );
    Ok(())
}

fn targets_file_is_reread_every_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("t.csv");
    std::fs::write(&targets, "127.0.0.1,First\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "2",
        "--delay",
        "3",
        "--datalog",
        "d.csv",
        "--quiet",
    ]);
    let mut run = Running::spawn(c);
    run.wait_line("Waiting to run next test cycle", Duration::from_secs(10));
    // Replaced whole (write then rename), as editors save, so the next read sees one version.
    let new = dir.path().join("t.csv.new");
    std::fs::write(&new, "127.0.0.1,First\n127.0.0.3,Added while running\n").unwrap();
    std::fs::rename(&new, &targets).unwrap();
    run.wait_line("2 vpnmon test cycles completed.", Duration::from_secs(10));
    let out = run.finish(Duration::from_secs(5));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("-- ping 127.0.0.3       Good Added while running"),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(
        rows(&log),
        [
            "1,Target ping,Good,127.0.0.1,First",
            "2,Target ping,Good,127.0.0.1,First",
            "2,Target ping,Good,127.0.0.3,Added while running",
        ]
    );
}

/// A targets file named by the user that disappears mid-run is an accident: the last list is
/// kept and said so (once), not "running without a targets file".
fn a_named_targets_file_that_disappears_mid_run_keeps_its_last_list() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("t.csv");
    std::fs::write(&targets, "127.0.0.1,First\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--vpnclient", "none", "--targets", "t.csv", "--cycles", "3"])
        .args(["--delay", "3", "--datalog", "d.csv", "--quiet"]);
    let mut run = Running::spawn(c);
    run.wait_line("Waiting to run next test cycle", Duration::from_secs(10));
    std::fs::remove_file(&targets).unwrap();
    run.wait_line("3 vpnmon test cycles completed.", Duration::from_secs(20));
    let out = run.finish(Duration::from_secs(5));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout
            .matches("The vpnmon targets file t.csv is gone; using its previous 1 targets")
            .count(),
        1,
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("Running without a vpnmon targets file"),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(
        rows(&log),
        [1, 2, 3].map(|c| format!("{c},Target ping,Good,127.0.0.1,First"))
    );
}

/// A targets file without a target is said once, not every cycle.
fn an_empty_targets_file_is_said_once() {
    let (_dir, c) = without_vpn("# address,name\n", "127.0.0.1", 2, "0.2");
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout
            .matches("No targets in t.csv: only the gateway is tested")
            .count(),
        1,
        "{}",
        out.stdout
    );
}

fn stop_during_wait(sig: Signal) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.1,One\n127.0.0.2,Two\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "-1",
        "--delay",
        "600",
        "--datalog",
        "d.csv",
        "--quiet",
        "--password",
        PASSWORD,
    ]);
    let mut run = Running::spawn(c);
    run.wait_line("Waiting to run next test cycle", Duration::from_secs(10));
    run.signal(sig);
    let out = run.finish(Duration::from_secs(5));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.took < Duration::from_secs(1),
        "stopped in {:?}",
        out.took
    );
    assert!(out.stdout.contains("1 of Infinite"), "{}", out.stdout);
    // The stop line names the signal (the original's "Control-C" for SIGINT); without a VPN
    // client it says nothing about a VPN connection.
    let words = if sig == Signal::SIGINT {
        "Control-C"
    } else {
        "SIGTERM"
    };
    assert!(
        out.stdout.ends_with(&format!(
            "---- vpnmon stopped with {words} ----\nDatalog file closed\n"
        )),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(log.lines().count(), 2, "cycle 1 complete: {log}");
    for text in [&out.stdout, &out.stderr, &log] {
        assert!(!text.contains(PASSWORD));
    }
}

fn ctrl_c_during_the_wait_stops_within_a_second() {
    stop_during_wait(Signal::SIGINT);
}

fn sigterm_during_the_wait_stops_within_a_second() {
    stop_during_wait(Signal::SIGTERM);
}

/// A target that never answers holds the sweep for 30 s; Ctrl-C ends it at once, keeps the
/// cycle's completed test and invents no result for the cut sweep. (core_netns does the same with
/// real ICMP in a namespace, as root.)
fn ctrl_c_during_a_sweep_stops_within_a_second() {
    let (dir, c) = without_vpn(
        "127.0.0.2,Answers\n198.18.0.9,Never answers\n",
        "127.0.0.1",
        3,
        "30",
    );
    let mut run = Running::spawn(c);
    // Lines come as results arrive, in file order: the answering target's line shows while the
    // dead host below it still holds the sweep.
    run.wait_line("-- ping 127.0.0.2", Duration::from_secs(10));
    run.signal(Signal::SIGINT);
    let out = run.finish(Duration::from_secs(5));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.took < Duration::from_secs(1),
        "stopped in {:?}",
        out.took
    );
    assert!(
        out.stdout.ends_with(
            "-- ping 127.0.0.2       Good Answers  (rtt 0.10 ms)\n\
             ---- vpnmon stopped with Control-C ----\nDatalog file closed\n"
        ),
        "{}",
        out.stdout
    );
    // The gateway's row of the cut cycle is kept; of the cut sweep no row (the targets of a
    // cycle are in the datalog whole or not at all), and the dead host's result is not invented.
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(rows(&log), ["1,VPN ping,Good,127.0.0.1,VPN Gateway"]);
}

fn unreadable_datalog_is_fatal_with_one_line() {
    let (dir, mut c) = core_support::without_vpn_in_temp("127.0.0.1,One\n");
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    c.args(["--cycles", "3", "--datalog", "adir", "--quiet"]);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(1));
    // Found at start-up, before the first cycle (issue 10.5), with the true reason.
    assert_eq!(
        out.stderr,
        "Error: Cannot write the vpnmon datalog file adir (it is a folder); choose a file name with --datalog\n"
    );
    out.assert_no_cycle_started("");
}

/// A targets file that exists but cannot be read ends the run with the message vpnmon always
/// gave: the advice, then the reason. A directory is refused by its type before any read (the
/// bounded reader reads regular files only), so the reason says what it is.
fn unreadable_targets_file_is_fatal_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tdir")).unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--vpnclient", "none", "--vpnurlip", "127.0.0.1"])
        .args(["--targets", "tdir", "--datalog", "d.csv"])
        .args(["--cycles", "1", "--delay", "0", "--quiet"]);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr,
        "Error: Failed to read the vpnmon targets file tdir: it is a directory, not a regular file\n"
    );
}

/// As the original: a gateway ping that is Fail or Warn is followed by a failed `VPN open` line
/// and row with the ping's time (downstream availability counts depend on it); the client is
/// never started.
fn a_gateway_not_good_writes_a_failed_open_row_with_the_ping_s_time(gateway: &str, ping: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.2,Behind\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--vpnclient", "anyconnect", "--vpncli"])
        .arg(core_support::sim::vpncli_sim())
        // The simulator would record its start here: it must never run.
        .env("VPNCLI_SIM_PIDS", dir.path().join("pids"))
        .args(["--vpnurlip", gateway, "-user", "mon", "-pass", PASSWORD])
        .args(["--targets", "t.csv", "--datalog", "d.csv"])
        .args(["--cycles", "1", "--timeout", "0.2", "--quiet"]);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    let when = &lines[0][2..21];
    assert_eq!(
        lines,
        [
            format!("1,{when},VPN ping,{ping},{gateway},VPN Gateway"),
            format!("1,{when},VPN open,Fail,{gateway},VPN Gateway"),
        ],
        "{log}"
    );
    // The console: the original's line (vpnmon's reason at its end, in parentheses), with the
    // ping's time.
    let stamp = when.replace(',', " ");
    let open = out.line_with("-- VPN open()");
    assert_eq!(
        open,
        format!(
            "  1 {stamp} -- VPN open() --------- Fail VPN Gateway  (not tried: the gateway ping was {ping})"
        ),
        "{}",
        out.stdout
    );
    assert!(out.line_with("-- VPN ping").starts_with(&format!(
        "  1 {stamp} -- VPN ping ----------- {ping} VPN Gateway"
    )));
    assert!(!out.stdout.contains("-- ping 127.0.0.2"), "{}", out.stdout);
    assert!(!dir.path().join("pids").exists(), "the client was started");
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));
}

/// Each target row carries the moment its first echo was sent, so a dead target (whose test
/// ends a timeout later) among fast ones keeps times in file order that never go backwards.
fn target_rows_carry_their_start_times_in_file_order() {
    let targets = "127.0.0.2,Fast one\n198.18.0.1,Dead\n127.0.0.3,Fast two\n127.0.0.4,Fast three\n";
    // A timeout over a second, so an end-of-sweep stamp would be a different second.
    let (dir, c) = without_vpn(targets, "127.0.0.1", 2, "1.2");
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let stamps: Vec<&str> = log.lines().map(|l| &l[2..21]).collect();
    assert_eq!(stamps.len(), 10, "{log}");
    // Stamped at the sweep's end, the fast rows around the dead one would be a second later
    // than it: the time would go backwards.
    for w in stamps.windows(2) {
        assert!(w[0] <= w[1], "time goes backwards: {w:?}\n{log}");
    }
    // Console lines stay in file order.
    let order: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split("-- ping ").nth(1))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        order,
        ["127.0.0.2", "198.18.0.1", "127.0.0.3", "127.0.0.4"].repeat(2)
    );
}

/// A list larger than one wave of real ICMP on loopback (5,000 targets × 2 echoes: more than
/// the 4,096 echoes the prober keeps in flight at most): the console says the list was split and
/// every target is Good (no reply lost to a full receive buffer).
fn a_list_larger_than_one_wave_is_split_without_false_fails() -> Ran {
    need_ping()?;
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..5000u32)
        .map(|i| {
            format!(
                "127.{}.{}.{},host {i}\n",
                1 + i / 62500,
                (i / 250) % 250,
                1 + i % 250
            )
        })
        .collect();
    std::fs::write(dir.path().join("t.csv"), text).unwrap();
    let mut c = vpnmon(dir.path());
    c.args([
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--datalog",
        "d.csv",
    ])
    .args(["--cycles", "1", "--delay", "0", "--quiet"]);
    let out = run(c, DEADLINE);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Waves are the socket prober's; the system `ping` fallback (a user without ICMP sockets)
    // runs a process per host and has no in-flight limit: it must still give every row Good.
    if core_support::icmp_available() {
        assert!(
            out.stdout
                .contains("Pinging 5000 targets in waves: 10000 echo requests, at most "),
            "{}",
            out.stdout
        );
    }
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(log.lines().count(), 5000);
    let not_good: Vec<&str> = log.lines().filter(|l| !l.contains(",Good,")).collect();
    assert_eq!(not_good, Vec::<&str>::new());
    assert!(
        out.stdout
            .contains("vpnmon test cycle ping results:  Good: 5000,  Warn: 0,  Fail: 0"),
        "{}",
        out.stdout
    );
    Ok(())
}

/// The resident memory of vpnmon's process, from /proc (KiB).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// Memory depends on the checks, not on the cycles: 30,000 cycles of real ICMP (each sweep opens
/// its sockets, slot table and thread and lets them go) leave vpnmon's RSS where it was at cycle
/// 3,000, within 2 MiB: a leak of 80 bytes a cycle fails it. (It caught sweep threads that were
/// not joined: each sweep could start while the last one's thread was still ending, taking a new
/// stack and allocator arena, +3 MB over 27,000 cycles; joined, +12 KiB.)
fn memory_stays_flat_over_30000_cycles() -> Ran {
    // The sweep's own sockets and threads are what is measured; the system `ping` fallback (a
    // user without ICMP sockets) would run 90,000 processes for it.
    if !core_support::icmp_available() {
        return Err(core_support::harness::ignore(
            "needs ICMP sockets (ping or raw): measures the sweep's memory",
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.2,Two\n127.0.0.3,Three\n").unwrap();
    let mut c = vpnmon(dir.path());
    c.args(["--vpnclient", "none", "--vpnurlip", "127.0.0.1"])
        .args(["--targets", "t.csv", "--datalog", "/dev/null"])
        .args(["--cycles", "30000", "--delay", "0", "--quiet"]);
    let mut live = Running::spawn(c);
    live.wait_line("Start vpnmon test cycle 3000 of", Duration::from_secs(600));
    let early = rss_kib(live.pid());
    live.wait_line("End vpnmon test cycle 30000 of", Duration::from_secs(1800));
    let late = rss_kib(live.pid());
    let end = live.finish(Duration::from_secs(30));
    assert_eq!(end.code, Some(0), "{}", end.stderr);
    println!("vpnmon RSS: cycle 3,000 {early} KiB, cycle 30,000 {late} KiB");
    assert!(
        late <= early + 2048,
        "RSS grew from {early} KiB to {late} KiB over 27,000 cycles"
    );
    Ok(())
}

fn main() {
    let mut trials = crate::harness_trials!(
        loopback_run_prints_the_original_lines_and_appends_exact_rows,
        good_warn_and_fail_targets_give_their_rows_lines_and_tally,
        a_dead_gateway_without_a_vpn_client_fails_its_row_and_the_targets_are_still_pinged,
        loopback_answers_real_icmp,
        targets_file_is_reread_every_cycle,
        a_named_targets_file_that_disappears_mid_run_keeps_its_last_list,
        an_empty_targets_file_is_said_once,
        ctrl_c_during_the_wait_stops_within_a_second,
        sigterm_during_the_wait_stops_within_a_second,
        ctrl_c_during_a_sweep_stops_within_a_second,
        unreadable_datalog_is_fatal_with_one_line,
        unreadable_targets_file_is_fatal_with_the_reason,
        target_rows_carry_their_start_times_in_file_order,
        a_list_larger_than_one_wave_is_split_without_false_fails,
        memory_stays_flat_over_30000_cycles,
    );
    const NOT_GOOD: &str = "a_gateway_not_good_writes_a_failed_open_row_with_the_ping_s_time";
    for (case, gateway, ping) in [
        ("a_dead_gateway", "198.18.0.1", "Fail"),
        ("a_gateway_that_answers_some_pings", "198.19.0.1", "Warn"),
    ] {
        trials.push(trial(format!("{NOT_GOOD}::{case}"), move || {
            a_gateway_not_good_writes_a_failed_open_row_with_the_ping_s_time(gateway, ping)
        }));
    }
    core_support::harness::run(trials)
}
