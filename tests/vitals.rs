//! `vpnmon vitals` for any user: the fake prober (`--debug-fake-ping`: 127.0.0.0/8, `::1` and
//! `localhost` answer, 198.18.0.0/16 never, other names do not resolve), its plain and JSON
//! outputs as snapshots (RTTs masked), the `EE:` line, and bad options. Real ICMP, traces
//! through namespaces and real servers: tests/vitals_lab.rs.

mod core_support;

use core_support::Running;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::Duration;

fn vitals(args: &[&str]) -> core_support::Finished {
    let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    c.env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .arg("vitals")
        .args(args);
    core_support::run(c, Duration::from_secs(60))
}

/// Every RTT-like number (three decimals) as `R`: the snapshot holds the shape, not the clock.
fn mask(s: &str) -> String {
    regex::Regex::new(r"\d+\.\d{3}")
        .unwrap()
        .replace_all(s, "R")
        .into_owned()
}

#[test]
fn vitals_help() {
    let out = vitals(&["--help"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn plain_output_per_host_in_the_order_given() {
    let out = vitals(&[
        "--debug-fake-ping",
        "-p",
        "3",
        "localhost",
        "127.0.0.1",
        "::1",
        "198.18.0.9",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    // The fake answers in 0.1 ms: the unmasked lines are exact too.
    assert!(
        out.stdout
            .starts_with("localhost (127.0.0.1)\n0.100\t0.100\t0.100\t0.000\t0.0\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("198.18.0.9\n-1\t-1\t-1\t-1\t-1\n"));
    insta::assert_snapshot!(mask(&out.stdout));
}

#[test]
fn json_output_one_valid_object_per_host() {
    let out = vitals(&["--debug-fake-ping", "-j", "localhost", "::1", "198.18.0.9"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["ping"]["loss"].is_number(), "{l}");
    }
    assert_eq!(
        lines[0],
        r#"{"addr":"127.0.0.1","name":"localhost","ping":{"min":0.1,"avg":0.1,"max":0.1,"std":0.0,"loss":0.0}}"#
    );
    assert_eq!(
        lines[2],
        r#"{"addr":"198.18.0.9","name":"198.18.0.9","ping":{"min":-1,"avg":-1,"max":-1,"std":-1,"loss":-1}}"#
    );
    insta::assert_snapshot!(mask(&out.stdout));
}

#[test]
fn no_ping_prints_only_the_host_line() {
    let out = vitals(&["--debug-fake-ping", "-P", "127.0.0.1"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "127.0.0.1\n");
}

#[test]
fn an_unresolvable_host_is_an_ee_line_and_the_others_go_on() {
    let out = vitals(&["--debug-fake-ping", "nosuch.invalid", "127.0.0.1"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let ee = regex::Regex::new(
        r"^EE: Exception: Unable to resolve host \( nosuch\.invalid \):\t-\t[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\n$",
    )
    .unwrap();
    assert!(ee.is_match(&out.stderr), "{:?}", out.stderr);
    assert_eq!(out.stdout, "127.0.0.1\n0.100\t0.100\t0.100\t0.000\t0.0\n");
}

#[test]
fn bad_options_are_one_clear_usage_error() {
    for (args, needle) in [
        (&["-p", "0", "127.0.0.1"][..], "--pings"),
        (&["--tcp", "http", "127.0.0.1"][..], "--tcp"),
        (&["--hops", "300", "127.0.0.1"][..], "--hops"),
        (
            &["--payload-size", "70000", "127.0.0.1"][..],
            "--payload-size",
        ),
        (&[][..], "HOST"),
    ] {
        let out = vitals(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn closed_tcp_ports_are_refused_and_open_ones_have_an_rtt() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    // A port just freed: nothing listens there.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ports = format!("{open_port},{closed_port}");
    let out = vitals(&["--debug-fake-ping", "-P", "--tcp", &ports, "127.0.0.1"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let re = regex::Regex::new(&format!(
        r"^127\.0\.0\.1\ntcp/{open_port} \d+\.\d{{3}}\ttcp/{closed_port} refused\n$"
    ))
    .unwrap();
    assert!(re.is_match(&out.stdout), "{:?}", out.stdout);
    let out = vitals(&[
        "--debug-fake-ping",
        "-P",
        "-j",
        "--tcp",
        &ports,
        "127.0.0.1",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(v["tcp"][0]["rtt"].is_number(), "{}", out.stdout);
    assert_eq!(v["tcp"][1]["error"], "refused", "{}", out.stdout);
    drop(open);
}

/// `vpnmon vitals --monitor ARGS…` with the fake prober, running.
fn monitor_cmd(args: &[&str]) -> std::process::Command {
    let mut c = core_support::vpnmon(Path::new(env!("CARGO_MANIFEST_DIR")));
    c.env("NO_COLOR", "1")
        .args(["vitals", "--debug-fake-ping", "--monitor"])
        .args(args);
    c
}

const LINE: Duration = Duration::from_secs(20);

#[test]
fn monitor_reads_stdin_prints_json_and_stops_at_once() {
    let mut input = tempfile::tempfile().unwrap();
    use std::io::{Seek, Write};
    input
        .write_all(b"1 0 0 2 41 30 1 100\n127.0.0.1\n::1\n")
        .unwrap();
    input.rewind().unwrap();
    let mut m = Running::spawn_with_stdin(monitor_cmd(&[]), input);
    let mut seen = Vec::new();
    // Two polls of two hosts, each one valid JSON object with connvitals' fields.
    for _ in 0..4 {
        let l = m.wait_line("\"addr\"", LINE);
        let v: serde_json::Value = serde_json::from_str(l.trim()).unwrap();
        assert!(v["timestamp"].as_f64().unwrap() > 1.7e12, "{l}");
        assert_eq!(v["ping"]["loss"], 0.0, "{l}");
        assert!(v.get("trace").is_none() && v.get("scan").is_none(), "{l}");
        seen.push(v["addr"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, ["127.0.0.1", "::1", "127.0.0.1", "::1"]);
    // SIGHUP with the input on stdin: nothing to re-read, said once, and it goes on.
    m.signal(Signal::SIGHUP);
    let ee = m.wait_stderr_line("the EE: line", LINE, |l| l.starts_with("EE: "));
    assert!(
        ee.starts_with("EE: OSError: No input file to read! (input given on stdin):\t-\t"),
        "{ee}"
    );
    m.wait_line("\"addr\":\"::1\"", LINE);
    m.signal(Signal::SIGTERM);
    let out = m.finish(Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.took < Duration::from_secs(1), "{:?}", out.took);
}

#[test]
fn monitor_rereads_its_file_on_sighup_and_keeps_the_old_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connmonitor.conf");
    std::fs::write(&file, "1 0 0 1 41 30 0 50\n127.0.0.1\n").unwrap();
    let mut m = Running::spawn(monitor_cmd(&[file.to_str().unwrap()]));
    // Plain: the host line, the time as ctime, the ping line.
    m.wait_line("127.0.0.1", LINE);
    let when = m.next_line(LINE);
    let ctime =
        regex::Regex::new(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$").unwrap();
    match when {
        core_support::Next::Line(l) => assert!(ctime.is_match(&l), "{l:?}"),
        _ => panic!("no ctime line after the host line"),
    }
    std::fs::write(&file, "1 0 0 1 41 30 0 50\n::1\n").unwrap();
    m.signal(Signal::SIGHUP);
    m.wait_line("::1", LINE);
    std::fs::write(&file, "1 0 0 1 41\n::1\n").unwrap();
    m.signal(Signal::SIGHUP);
    let ee = m.wait_stderr_line("the EE: line", LINE, |l| l.starts_with("EE: "));
    assert!(
        ee.contains(&format!(
            "{} line 1: 8 numbers expected (DOPINGS DOTRACE DOPSCAN NUMPINGS PAYLOAD HOPS JSON SLEEP), found 5; still monitoring with the input read before",
            file.display()
        )),
        "{ee}"
    );
    // Still polling ::1 after the bad file.
    for _ in 0..2 {
        m.wait_line("::1", LINE);
    }
    m.signal(Signal::SIGINT);
    let out = m.finish(Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.took < Duration::from_secs(1), "{:?}", out.took);
}

#[test]
fn monitor_with_a_bad_file_at_start_is_one_ee_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.conf");
    std::fs::write(&file, "1 1 1 ten 41 40 1 500\nlocalhost\n").unwrap();
    let out = core_support::run(monitor_cmd(&[file.to_str().unwrap()]), LINE);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "EE: OSError: {} line 1: NUMPINGS is 'ten', not a whole number of 0 or more:\t-\t",
            file.display()
        )),
        "{}",
        out.stderr
    );
    let out = core_support::run(monitor_cmd(&["/nonexistent/connmonitor.conf"]), LINE);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.starts_with(
            "EE: OSError: cannot read /nonexistent/connmonitor.conf: No such file or directory"
        ),
        "{}",
        out.stderr
    );
}
