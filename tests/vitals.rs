//! `vpnmon vitals` for any user: the fake prober (`--debug-fake-ping`: 127.0.0.0/8, `::1` and
//! `localhost` answer, 198.18.0.0/16 never, other names do not resolve), its plain and JSON
//! outputs as snapshots (RTTs masked), the `EE:` line, and bad options. Real ICMP, traces
//! through namespaces and real servers: tests/vitals_lab.rs.

mod core_support;

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
