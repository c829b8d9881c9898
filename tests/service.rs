//! Service mode with real parts: /metrics and /healthz over HTTP, a real Prometheus scraping
//! vpnmon (its HTTP API checked against the datalog), promtool on the example rules, SIGHUP
//! reloads, systemd-analyze on the unit, sd_notify messages on a NOTIFY_SOCKET this test
//! binds, the rotating log file (never the password), --interval's fixed rate and the password
//! file. Loopback only; the fake prober where real ICMP is not the point.

mod core_support;

use core_support::harness::{ignore, need_programs, need_root, Ran, NETNS_PROGRAMS};
use core_support::{
    vpncli_sim, vpnmon, vpnmon_bin, vpnmon_fake_ping, wait_until, Lab, Running, DEAD_HOST,
    GOOD_HOST,
};
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// Taken by the tests that start a Prometheus (heavy at start-up) and by the tests that measure
/// timing (the watchdog's rate, --interval's), so that on two cores the ones never run beside the
/// others and the timing measured is vpnmon's, not the machine's.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

crate::harness_main!(
    metrics_follow_the_records_and_healthz_says_alive,
    a_port_in_use_is_a_start_up_error,
    prometheus_scrapes_vpnmon_and_its_series_match_the_datalog,
    prometheus_scrapes_real_loopback_pings,
    prometheus_sees_a_dead_host_behind_a_namespace,
    promtool_accepts_the_example_config_and_rules,
    sighup_reloads_and_a_broken_file_keeps_the_running_configuration,
    the_unit_file_passes_systemd_analyze_verify,
    sd_notify_ready_status_and_watchdog_reach_the_notify_socket,
    a_hung_loop_stops_the_watchdog_pings_and_healthz_says_so,
    the_log_file_rotates_and_never_holds_the_password,
    interval_keeps_a_fixed_rate_over_20_cycles,
);

/// A plain HTTP/1.1 GET on loopback: (status, body).
fn get(addr: &str, path: &str, accept: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    // Prometheus's API answers chunked; the metrics server sends a length.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, format!("{head}\r\n\r\n{body}"))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").unwrap().1
}

/// The address the metrics server bound (vpnmon says it; the tests ask for port 0).
fn metrics_addr(r: &mut Running) -> String {
    let line = r.wait_line("Serving metrics on http://", DEADLINE);
    line.split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/metrics")
        .to_string()
}

/// `name{labels} value` samples of a metric from a text exposition, keyed by the `name=` label.
fn samples(text: &str, metric: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .map(|l| {
            let name = l
                .split("name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let v: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
            (name.to_string(), v)
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn have(program: &str) -> bool {
    which(program).is_some()
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(program))
            .find(|f| f.is_file())
    })
}

fn metrics_follow_the_records_and_healthz_says_alive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "127.0.0.2,web\n198.19.0.1,flaky\n198.18.0.1,dead\n",
    )
    .unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--vpnclient", "none", "--targets", "t.csv", "--quiet"])
        .args(["--cycles", "-1", "--delay", "3600", "--timeout", "0.2"])
        .args(["--metrics-listen", "127.0.0.1:0", "--datalog", "d.csv"]);
    let mut r = Running::spawn(c);
    let addr = metrics_addr(&mut r);
    r.wait_line("Waiting to run next test cycle", DEADLINE);
    let (st, prom) = get(&addr, "/metrics", None);
    assert_eq!(st, 200, "{prom}");
    assert!(
        prom.contains("content-type: text/plain; version=0.0.4"),
        "{prom}"
    );
    let text = body(&prom);
    let success = samples(text, "vpnmon_check_success");
    let want: HashMap<String, f64> = [("web", 1.0), ("flaky", 0.0), ("dead", 0.0)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(success, want, "{text}");
    // The same verdicts as the datalog's rows.
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    for row in log.lines() {
        let f: Vec<&str> = row.split(',').collect();
        let good = f[4] == "Good";
        assert_eq!(success[f[6]], f64::from(u8::from(good)), "{row}");
        assert!(
            text.contains(&format!(
                "vpnmon_check_verdict{{site=\"VPN Gateway\",test=\"Target ping\",address=\"{}\",name=\"{}\",verdict=\"{}\"}} 1",
                f[5], f[6], f[4]
            )),
            "{row} in {text}"
        );
    }
    let loss = samples(text, "vpnmon_check_echo_loss_ratio");
    assert_eq!(loss["web"], 0.0);
    assert_eq!(loss["flaky"], 0.5);
    assert_eq!(loss["dead"], 1.0);
    let rtt = samples(text, "vpnmon_check_rtt_seconds");
    assert!(rtt["web"] > 0.0 && !rtt.contains_key("dead"), "{text}");
    assert!(text.contains("\nvpnmon_cycles_total 1\n"), "{text}");
    assert!(text.contains("vpnmon_build_info{version=\""), "{text}");
    assert!(
        text.contains("\nvpnmon_config_reload_success 1\n"),
        "{text}"
    );
    // OpenMetrics when asked for, ending with its EOF marker.
    let (st, om) = get(
        &addr,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert_eq!(st, 200);
    assert!(om.contains("application/openmetrics-text"), "{om}");
    assert!(body(&om).ends_with("# EOF\n"));
    assert!(body(&om).contains("# TYPE vpnmon_cycles counter\n"));
    let (st, h) = get(&addr, "/healthz", None);
    assert_eq!(st, 200, "{h}");
    let (st, _) = get(&addr, "/nothing", None);
    assert_eq!(st, 404);
    // SIGTERM still stops cleanly.
    r.signal(Signal::SIGTERM);
    let f = r.finish(DEADLINE);
    assert_eq!(f.code, Some(0), "{}{}", f.stdout, f.stderr);
}

fn a_port_in_use_is_a_start_up_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (dir, mut c) = core_support::without_vpn_in_temp("127.0.0.2,web\n");
    c.args(["--cycles", "1", "--metrics-listen", &addr, "--quiet"]);
    let f = core_support::run(c, DEADLINE);
    assert_eq!(f.code, Some(1));
    assert!(
        f.stderr
            .contains(&format!("cannot serve metrics on {addr}")),
        "{}",
        f.stderr
    );
    f.assert_no_cycle_started("a busy metrics port");
    drop(dir);
}

/// A real Prometheus (Debian's package) scrapes vpnmon on loopback; its HTTP API's success and
/// RTT series agree with the extended datalog's rows.
fn prometheus_scrapes_vpnmon_and_its_series_match_the_datalog() -> Ran {
    scraped_by_prometheus(
        None,
        false,
        "127.0.0.2,web\n127.0.0.3,app\n198.18.0.1,dead\n",
    )
}

/// The same with real ICMP echoes on loopback: real round-trip times end to end.
fn prometheus_scrapes_real_loopback_pings() -> Ran {
    if !core_support::icmp_available() {
        return Err(ignore(
            "needs an ICMP ping socket or a raw socket (net.ipv4.ping_group_range, or root)",
        ));
    }
    scraped_by_prometheus(None, true, "127.0.0.1,lo1\n127.0.0.2,lo2\n127.0.0.3,lo3\n")
}

/// Real ICMP to hosts behind a network namespace lab, one of which drops every echo: vpnmon and
/// Prometheus both run in the lab's client namespace (its loopback is theirs), and the query of
/// Prometheus's API goes in there too. The dead host's success series is 0, as its Fail row.
fn prometheus_sees_a_dead_host_behind_a_namespace() -> Ran {
    need_root("network namespaces")?;
    need_programs(NETNS_PROGRAMS)?;
    need_programs(&[("python3", "python3")])?;
    let lab = Lab::new("m")?;
    scraped_by_prometheus(
        Some(&lab),
        true,
        &format!("{GOOD_HOST},good\n{DEAD_HOST},dead\n"),
    )
}

/// A GET from inside the lab's client namespace (its loopback is not the test's): Python's
/// urllib, run there by `ip netns exec`. (status, body)
fn get_in(lab: &Lab, url: &str) -> (u16, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.client, "python3", "-c"])
        .arg(
            "import sys, urllib.request\n\
             r = urllib.request.urlopen(sys.argv[1], timeout=10)\n\
             sys.stdout.write(str(r.status) + '\\n' + r.read().decode())",
        )
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, body) = text.split_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

fn scraped_by_prometheus(lab: Option<&Lab>, real_icmp: bool, targets: &str) -> Ran {
    let _serial = serial();
    let prometheus = which("prometheus")
        .ok_or_else(|| ignore("needs prometheus on PATH (Debian package prometheus)"))?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), targets).unwrap();
    let mut c = match lab {
        // In the lab: vpnmon's own binary run in its client namespace (real ICMP, as root).
        Some(lab) => {
            let mut c = lab.command_in_client(&vpnmon_bin());
            c.current_dir(dir.path())
                .env("RUST_BACKTRACE", "0")
                .env_remove("VPNMON_PASSWORD")
                .env_remove("VPNMON_SMTP_PASSWORD");
            c
        }
        None if real_icmp => vpnmon(dir.path()),
        None => vpnmon_fake_ping(dir.path()),
    };
    c.args(["--vpnclient", "none", "--targets", "t.csv", "--quiet"])
        .args(["--vpnurlip", "127.0.0.1"])
        .args(["--cycles", "-1", "--delay", "3600", "--timeout", "0.2"])
        .args(["--metrics-listen", "127.0.0.1:0", "--datalog", "d.csv"])
        .args(["--datalog-format", "extended"]);
    let mut r = Running::spawn(c);
    let addr = metrics_addr(&mut r);
    r.wait_line("Waiting to run next test cycle", DEADLINE);

    let web = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: vpnmon\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ),
    )
    .unwrap();
    let mut p = match lab {
        Some(lab) => lab.command_in_client(&prometheus),
        None => Command::new(prometheus),
    };
    p.arg(format!(
        "--config.file={}",
        dir.path().join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.path().join("tsdb").display()
    ))
    .arg(format!("--web.listen-address={web}"));
    let mut prom = Running::spawn(p);
    // Prometheus says when it is ready to serve; then the first scrape's series are awaited.
    prom.wait_stderr_line("Prometheus ready", DEADLINE, |l| {
        l.contains("Server is ready to receive web requests")
    });
    let query = |q: &str| -> serde_json::Value {
        let path = format!("/api/v1/query?query={q}");
        let (st, body) = match lab {
            Some(lab) => get_in(lab, &format!("http://{web}{path}")),
            None => {
                let (st, resp) = get(&web, &path, None);
                (st, self::body(&resp).to_string())
            }
        };
        assert_eq!(st, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let series = |v: &serde_json::Value| -> HashMap<String, f64> {
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["metric"]["name"].as_str().unwrap().to_string(),
                    s["value"][1].as_str().unwrap().parse::<f64>().unwrap(),
                )
            })
            .collect()
    };
    let mut success = HashMap::new();
    wait_until("Prometheus has scraped vpnmon", DEADLINE, || {
        success = series(&query("vpnmon_check_success"));
        success.len() == targets.lines().count() + 1
    });
    let rtt = series(&query("vpnmon_check_rtt_seconds"));
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let mut rows = 0;
    for row in log.lines().skip(1) {
        // cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,…
        let f: Vec<&str> = row.split(',').collect();
        let name = f[6];
        assert_eq!(f[0], "1", "{row}");
        assert_eq!(
            success[name],
            f64::from(u8::from(f[4] == "Good")),
            "{row} vs {success:?}"
        );
        match f[11].parse::<f64>() {
            // The datalog rounds to hundredths of a millisecond.
            Ok(ms) => assert!(
                (rtt[name] * 1000.0 - ms).abs() < 0.01,
                "{row}: rtt {} s",
                rtt[name]
            ),
            Err(_) => assert!(!rtt.contains_key(name), "{row}: {rtt:?}"),
        }
        rows += 1;
    }
    // The gateway ping (`--vpnurlip` with no VPN client) and one row per target.
    assert_eq!(rows, targets.lines().count() + 1, "{log}");
    prom.signal(Signal::SIGTERM);
    prom.wait_exit(DEADLINE);
    r.signal(Signal::SIGTERM);
    assert_eq!(r.finish(DEADLINE).code, Some(0));
    Ok(())
}

fn promtool_accepts_the_example_config_and_rules() -> Ran {
    if !have("promtool") {
        return Err(ignore("needs promtool on PATH (Debian package prometheus)"));
    }
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus");
    for (what, file) in [("config", "prometheus.yml"), ("rules", "vpnmon-rules.yml")] {
        let out = Command::new("promtool")
            .args(["check", what])
            .arg(ex.join(file))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "promtool check {what} {file}:\n{text}"
        );
        assert!(text.contains("SUCCESS"), "{text}");
    }
    // The rules name only metrics vpnmon registers (or Prometheus's own `up`).
    let rules = std::fs::read_to_string(ex.join("vpnmon-rules.yml")).unwrap();
    let registered = include_str!("../src/service/metrics.rs");
    let re = regex::Regex::new(r"vpnmon_[a-z_]+").unwrap();
    for m in re.find_iter(&rules) {
        assert!(
            registered.contains(&format!("\"{}\",", m.as_str())),
            "{} is not served",
            m.as_str()
        );
    }
    Ok(())
}

/// SIGHUP between cycles: an edited params file (a shorter delay) and targets file change the
/// next cycle and /metrics; a broken params file is refused, the running one kept, and said.
fn sighup_reloads_and_a_broken_file_keeps_the_running_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.csv");
    let params = dir.path().join("p.csv");
    std::fs::write(&t, "127.0.0.2,web\n127.0.0.3,old\n").unwrap();
    std::fs::write(&params, "vpnclient,none\ntargets,t.csv\ndelay,3600\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--params", "p.csv", "--cycles", "-1", "--quiet"])
        .args(["--metrics-listen", "127.0.0.1:0", "--datalog", "d.csv"]);
    let mut r = Running::spawn(c);
    let addr = metrics_addr(&mut r);
    r.wait_line("Waiting to run next test cycle", DEADLINE);
    assert!(samples(
        body(&get(&addr, "/metrics", None).1),
        "vpnmon_check_success"
    )
    .contains_key("old"));

    std::fs::write(&t, "127.0.0.2,web\n127.0.0.4,new\n").unwrap();
    std::fs::write(&params, "vpnclient,none\ntargets,t.csv\ndelay,1\n").unwrap();
    r.signal(Signal::SIGHUP);
    r.wait_line("Reloaded the configuration (SIGHUP)", DEADLINE);
    // The reloaded delay (1 s, not the hour) starts cycle 2, with the new targets.
    r.wait_line("Start vpnmon test cycle 2", Duration::from_secs(10));
    r.wait_line("Waiting to run next test cycle", DEADLINE);
    let text = body(&get(&addr, "/metrics", None).1).to_string();
    let success = samples(&text, "vpnmon_check_success");
    assert!(
        success.contains_key("new") && !success.contains_key("old"),
        "{text}"
    );
    assert!(!text.contains("name=\"old\""), "old series left: {text}");

    // A broken params file: refused, said, the gauge 0, cycles go on as configured.
    std::fs::write(&params, "vpnclient,none\ntargets,t.csv\ndelay,soon\n").unwrap();
    r.signal(Signal::SIGHUP);
    let line = r.wait_line("Reload (SIGHUP) failed", DEADLINE);
    assert!(
        line.contains("keeping the running configuration") && line.contains("p.csv:3"),
        "{line}"
    );
    // The page is encoded off the scrape path: it shows the refused reload within an encoding
    // (milliseconds), not necessarily at the very moment the line is printed.
    wait_until("the refused reload on /metrics", DEADLINE, || {
        body(&get(&addr, "/metrics", None).1).contains("\nvpnmon_config_reload_success 0\n")
    });
    r.wait_line("Start vpnmon test cycle 3", Duration::from_secs(10));
    // A targets file that is no longer text fails the reload too, and cycles keep its last list.
    std::fs::write(&params, "vpnclient,none\ntargets,t.csv\ndelay,1\n").unwrap();
    std::fs::write(&t, b"127.0.0.2,w\xe9b\n\x00\x00\x00\x00\x00\x00\x00\x00").unwrap();
    r.signal(Signal::SIGHUP);
    let line = r.wait_line("Reload (SIGHUP) failed", DEADLINE);
    assert!(line.contains("t.csv"), "{line}");
    r.wait_line("Start vpnmon test cycle 5", Duration::from_secs(15));
    let success = samples(
        body(&get(&addr, "/metrics", None).1),
        "vpnmon_check_success",
    );
    assert!(success.contains_key("new"), "{success:?}");
    r.signal(Signal::SIGTERM);
    let f = r.finish(DEADLINE);
    assert_eq!(f.code, Some(0), "{}{}", f.stdout, f.stderr);
}

fn the_unit_file_passes_systemd_analyze_verify() -> Ran {
    if !have("systemd-analyze") {
        return Err(ignore(
            "needs systemd-analyze on PATH (Debian package systemd)",
        ));
    }
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/vpnmon.service"),
    )
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/vpnmon "));
    for needed in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LoadCredential=vpnmon-password:",
        "AmbientCapabilities=CAP_NET_RAW",
        "WatchdogSec=",
        "DeviceAllow=/dev/net/tun",
    ] {
        assert!(unit.contains(needed), "{needed} missing");
    }
    // verify checks that ExecStart's program exists: a copy pointing at the built binary.
    let dir = tempfile::tempdir().unwrap();
    let bin = core_support::vpnmon_bin();
    for (file, text, ok) in [
        (
            "vpnmon.service",
            unit.replace("/usr/local/bin/vpnmon", bin.to_str().unwrap()),
            true,
        ),
        // The check can fail: a unit whose program is missing is refused.
        (
            "vpnmon-broken.service",
            unit.replace("/usr/local/bin/vpnmon", "/nonexistent/vpnmon"),
            false,
        ),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{file}: {err}");
        if ok {
            assert!(!err.contains(file), "{file}: {err}");
        }
    }
    Ok(())
}

/// vpnmon in `dir` as systemd would start it: $NOTIFY_SOCKET, $WATCHDOG_USEC, and $WATCHDOG_PID
/// naming vpnmon (a shell that execs vpnmon keeps its pid).
#[cfg(target_os = "linux")]
fn under_systemd(dir: &Path, notify_socket: &Path, watchdog_usec: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.current_dir(dir)
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(core_support::vpnmon_bin())
        .env("NOTIFY_SOCKET", notify_socket)
        .env("WATCHDOG_USEC", watchdog_usec)
        .env_remove("VPNMON_PASSWORD");
    c
}

/// READY=1 after start-up, STATUS= after each cycle, WATCHDOG=1 at half the WATCHDOG_USEC the
/// test sets, STOPPING=1 at SIGTERM, on a datagram socket the test binds as systemd would.
#[cfg(target_os = "linux")]
fn sd_notify_ready_status_and_watchdog_reach_the_notify_socket() {
    let _serial = serial();
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.2,web\n198.18.0.1,dead\n").unwrap();
    let mut c = under_systemd(dir.path(), &sock_path, "1000000");
    c.args([
        "--debug-fake-ping",
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
    ])
    .args([
        "--quiet",
        "--cycles",
        "-1",
        "--delay",
        "3600",
        "--timeout",
        "0.1",
    ]);
    let mut r = Running::spawn(c);
    let recv = || {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a notify message");
        // sd-notify ends each message with a newline.
        String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
    };
    let mut got = Vec::new();
    // READY first (start-up checks done), then the first cycle's STATUS.
    let status = loop {
        let m = recv();
        got.push(m.clone());
        if m.starts_with("STATUS=") {
            break m;
        }
    };
    let ready = got.iter().position(|m| m == "READY=1");
    assert!(ready.is_some(), "{got:?}");
    assert!(
        status.starts_with("STATUS=cycle 1 at ") && status.ends_with(": 1 good, 0 warn, 1 fail"),
        "{status}"
    );
    // Watchdog pings while the loop waits: every 500 ms (WATCHDOG_USEC / 2), none missed: each
    // gap well above zero (no flood) and below WATCHDOG_USEC, past which systemd would restart
    // vpnmon (the room between half and all of it is for a loaded machine).
    let mut pings = Vec::new();
    while pings.len() < 6 {
        if recv() == "WATCHDOG=1" {
            pings.push(Instant::now());
        }
    }
    for w in pings.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap > Duration::from_millis(250) && gap < Duration::from_millis(1000),
            "watchdog gap {gap:?}"
        );
    }
    r.signal(Signal::SIGTERM);
    while recv() != "STOPPING=1" {}
    assert_eq!(r.finish(DEADLINE).code, Some(0));
}

/// A loop that hangs (here a prober that never returns: the fake prober's `hang.invalid`) is
/// what the watchdog is for: once the slowest legitimate test plus the margin (1 s here, through
/// the hidden `--debug-stall-margin`) has passed without progress, the WATCHDOG=1 pings stop, so
/// systemd would restart vpnmon, and /healthz answers 503. SIGTERM still ends it.
#[cfg(target_os = "linux")]
fn a_hung_loop_stops_the_watchdog_pings_and_healthz_says_so() {
    let _serial = serial();
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "127.0.0.2,web\nhang.invalid,stuck\n",
    )
    .unwrap();
    let mut c = under_systemd(dir.path(), &sock_path, "400000");
    c.args([
        "--debug-fake-ping",
        "--debug-stall-margin",
        "1",
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
    ])
    .args(["--cycles", "-1", "--delay", "3600", "--timeout", "0.1"])
    .args(["--metrics-listen", "127.0.0.1:0", "--datalog", "d.csv"]);
    let mut r = Running::spawn(c);
    let addr = metrics_addr(&mut r);
    let recv = |within: Duration| -> Option<String> {
        sock.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 4096];
        match sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).trim_end().to_string()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    };
    // Pings while the cycle is young (every 200 ms), then none: a silence of 1.2 s (six
    // intervals) must come, and within the test's deadline.
    let started = Instant::now();
    let mut pings = 0;
    let silent = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "the watchdog pings never stopped"
        );
        match recv(Duration::from_millis(1200)) {
            Some(m) if m == "WATCHDOG=1" => pings += 1,
            Some(_) => {}
            None => break started.elapsed(),
        }
    };
    assert!(pings >= 2, "{pings} watchdog pings before the loop hung");
    // The stall is 1 s of margin past the slowest test (a ping's timeouts, well under 1 s).
    assert!(silent >= Duration::from_secs(1), "silent after {silent:?}");
    let (st, resp) = get(&addr, "/healthz", None);
    assert_eq!(st, 503, "{resp}");
    // Still no datalog row: the cycle is stuck in its sweep, as the test wants.
    assert!(
        !dir.path().join("d.csv").exists()
            || std::fs::read_to_string(dir.path().join("d.csv"))
                .unwrap()
                .is_empty()
    );
    // Nothing else came meanwhile either (another second of silence), and SIGTERM ends it.
    assert_eq!(recv(Duration::from_secs(1)), None);
    r.signal(Signal::SIGTERM);
    let out = r.finish(DEADLINE);
    assert!(out.code.is_some(), "{out:?}");
    assert!(
        !out.stdout.contains("panicked") && !out.stderr.contains("panicked"),
        "{out:?}"
    );
}

/// The log file: timestamped, levelled lines with the client's failure (masked), rotated at
/// --log-max-size keeping --log-keep files, and never the password, which comes from an
/// owner-only --password-file.
#[cfg(unix)]
fn the_log_file_rotates_and_never_holds_the_password() {
    use std::os::unix::fs::PermissionsExt;
    const PASSWORD: &str = "Log-pw-5e3Xq";
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    // Readable by others: refused before anything runs, the password not shown.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(dir.path().join("targets.csv"), "127.0.0.2,web\n").unwrap();
    let command = |extra: &[&str]| {
        let mut c = vpnmon(dir.path());
        c.env("VPNCLI_SIM_SCENARIO", "echo_password")
            .env("VPNCLI_SIM_PASSWORD", PASSWORD)
            .env("VPNCLI_SIM_STATE", dir.path().join("state"))
            .env("VPNCLI_SIM_PIDS", dir.path().join("pids"))
            .arg("--debug-fake-ping")
            .args(["--vpnclient", "anyconnect", "--vpncli"])
            .arg(vpncli_sim())
            .args(["-vpnurlip", "127.0.0.1", "--vpncli-delay", "0", "--quiet"])
            .args(["--targets", "targets.csv", "--datalog", "d.csv"])
            .args(["--password-file", "pw", "--log-file", "vpnmon.log"])
            .args(["--log-max-size", "2KB", "--log-keep", "2"])
            .args(extra);
        c
    };
    let f = core_support::run(command(&["--cycles", "1"]), DEADLINE);
    assert_eq!(f.code, Some(1), "{}{}", f.stdout, f.stderr);
    assert!(
        f.stderr
            .contains("can be read or changed by other users (mode 644)"),
        "{}",
        f.stderr
    );
    f.assert_no_cycle_started("a shared password file");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut r = Running::spawn(command(&["--cycles", "-1", "--interval", "0.05"]));
    let log = dir.path().join("vpnmon.log");
    // Two rotations kept, and a third written over the oldest.
    wait_until("the log rotated twice", DEADLINE, || {
        dir.path().join("vpnmon.log.2").exists()
    });
    r.wait_line("Start vpnmon test cycle", DEADLINE);
    let seen_cycles = r.stdout().matches("Start vpnmon test cycle").count();
    wait_until("more cycles after the second rotation", DEADLINE, || {
        r.stdout().matches("Start vpnmon test cycle").count() > seen_cycles + 10
    });
    r.signal(Signal::SIGTERM);
    let f = r.finish(DEADLINE);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(!dir.path().join("vpnmon.log.3").exists(), "--log-keep 2");
    let stamp =
        regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z +(INFO|WARN|ERROR|DEBUG) ")
            .unwrap();
    let mut all = String::new();
    for p in [
        log.clone(),
        log.with_extension("log.1"),
        log.with_extension("log.2"),
    ] {
        let text = std::fs::read_to_string(&p).unwrap();
        let size = text.len() as u64;
        // Rotated after the write that passed 2 KB: one line over at most.
        assert!(size < 2048 + 1024, "{} is {size} bytes", p.display());
        for line in text.lines() {
            assert!(stamp.is_match(line), "{}: {line:?}", p.display());
        }
        all.push_str(&text);
    }
    assert!(!all.contains(PASSWORD), "the password is in the log");
    assert!(!f.stdout.contains(PASSWORD) && !f.stderr.contains(PASSWORD));
    // What the log is for: the client's failure with its masked transcript.
    assert!(all.contains("VPN open Fail"), "{all}");
    assert!(
        all.contains("client: ") && all.contains("********"),
        "{all}"
    );
}

/// --interval starts cycles at a fixed rate: cycle k starts k intervals after the first,
/// however long each cycle took (a target that times out makes each cycle about 0.1 s long:
/// with --delay-like pacing 20 cycles would take 19 x 1.1 s, not 19 x 1 s: 1.9 s late at the
/// end, where the tolerance is 0.25 s; an interval of 1 s leaves a loaded machine room). The
/// start times are the log file's (microseconds, written by vpnmon as each cycle starts).
fn interval_keeps_a_fixed_rate_over_20_cycles() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "127.0.0.2,web\n198.18.0.1,dead\n").unwrap();
    let mut c = vpnmon_fake_ping(dir.path());
    c.args(["--vpnclient", "none", "--targets", "t.csv", "--quiet"])
        .args(["--cycles", "20", "--interval", "1", "--timeout", "0.1"])
        .args(["--pings", "1", "--datalog", "d.csv", "--log-file", "l.log"]);
    let f = core_support::run(c, DEADLINE);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(!f.stdout.contains("longer than the"), "{}", f.stdout);
    let log = std::fs::read_to_string(dir.path().join("l.log")).unwrap();
    let starts: Vec<chrono::DateTime<chrono::Utc>> = log
        .lines()
        .filter(|l| l.contains(" cycle ") && l.ends_with(" of 20 started"))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 20, "{log}");
    let every = chrono::Duration::milliseconds(1000);
    for (k, t) in starts.iter().enumerate() {
        let want = every * k as i32;
        let got = *t - starts[0];
        assert!(
            (got - want).num_milliseconds().abs() < 250,
            "cycle {} started at {got:?}, due at {want:?}",
            k + 1
        );
    }
    // A cycle longer than the interval starts the next at once, and says so.
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::write(dir2.path().join("t.csv"), "198.18.0.1,dead\n").unwrap();
    let mut c = vpnmon_fake_ping(dir2.path());
    c.args(["--vpnclient", "none", "--targets", "t.csv", "--quiet"])
        .args(["--cycles", "2", "--interval", "0.05", "--timeout", "0.2"])
        .args(["--datalog", "d.csv"]);
    let f = core_support::run(c, DEADLINE);
    assert_eq!(f.code, Some(0));
    assert!(
        f.line_with("longer than the 0.05 s interval: the next one starts now")
            .contains("Cycle 1 took"),
        "{}",
        f.stdout
    );
}
