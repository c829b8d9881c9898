//! `vpnmon vitals` with real parts: route traces through a chain of network namespaces built
//! here (client → router1 → router2 → host, 198.18.0.0/15, forwarding on inside the routers
//! only; router2 silenced with nft so its hop is `*`), and the port scan against real servers
//! started here (nginx for HTTP and HTTPS with a self-signed certificate made here, MariaDB in a
//! temporary data folder), all on loopback or inside the namespaces.

mod core_support;

use core_support::harness::{need_programs, need_root, Ran, NETNS_PROGRAMS};
use core_support::{Finished, Netns, Running};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

harness_main!(
    trace_hops_in_order_with_a_silent_router,
    trace_json_marks_the_silent_hop,
    monitor_prints_a_route_only_when_it_changed,
    trace_without_raw_sockets_says_what_to_do,
    port_scan_of_real_nginx_and_mariadb,
    closed_ports_are_none_and_a_silent_one_is_bounded,
    trace_on_fail_shows_the_routers_before_a_dead_target,
    trace_on_fail_keeps_the_cycle_short_with_many_dead_targets,
);

/// The chain:
///   client 198.18.1.2 ─ 198.18.1.1 router1 198.18.2.1 ─ 198.18.2.2 router2 198.18.3.1 ─
///   198.18.3.2 host, and a direct link router1 198.18.4.1 ─ 198.18.4.2 host (unused until a
///   test moves router1's route to it).
struct Chain {
    client: String,
    router1: String,
    router2: String,
    host: String,
    _ns: Vec<Netns>,
}

const HOST: &str = "198.18.3.2";
const ROUTER1: &str = "198.18.1.1";
const ROUTER2: &str = "198.18.2.2";

fn sh(args: &[&str]) {
    let mut c = Command::new(args[0]);
    c.args(&args[1..]);
    let out = core_support::run(c, Duration::from_secs(60));
    assert!(out.success(), "{args:?}: {}", out.stderr);
}

impl Chain {
    fn new(tag: &str) -> Result<Chain, core_support::harness::Ignored> {
        need_root("network namespaces")?;
        need_programs(NETNS_PROGRAMS)?;
        need_programs(&[("sysctl", "procps")])?;
        let id = format!("{tag}{}", std::process::id() % 100000);
        let names: Vec<String> = ["c", "r1", "r2", "h"]
            .iter()
            .map(|n| format!("vv{n}-{id}"))
            .collect();
        let ns: Vec<Netns> = names
            .iter()
            .map(|n| Netns::new(n).unwrap_or_else(|e| panic!("cannot make namespace {n}: {e}")))
            .collect();
        let chain = Chain {
            client: names[0].clone(),
            router1: names[1].clone(),
            router2: names[2].clone(),
            host: names[3].clone(),
            _ns: ns,
        };
        chain.build(&id);
        Ok(chain)
    }

    fn link(&self, a: &str, a_addr: &str, b: &str, b_addr: &str, n: &str) {
        let (ia, ib) = (format!("{n}a"), format!("{n}b"));
        sh(&[
            "ip", "-n", a, "link", "add", &ia, "type", "veth", "peer", "name", &ib, "netns", b,
        ]);
        sh(&["ip", "-n", a, "addr", "add", a_addr, "dev", &ia]);
        sh(&["ip", "-n", b, "addr", "add", b_addr, "dev", &ib]);
        sh(&["ip", "-n", a, "link", "set", &ia, "up"]);
        sh(&["ip", "-n", b, "link", "set", &ib, "up"]);
    }

    fn build(&self, id: &str) {
        let (c, r1, r2, h) = (
            self.client.as_str(),
            self.router1.as_str(),
            self.router2.as_str(),
            self.host.as_str(),
        );
        self.link(c, "198.18.1.2/24", r1, "198.18.1.1/24", &format!("v1{id}"));
        self.link(r1, "198.18.2.1/24", r2, "198.18.2.2/24", &format!("v2{id}"));
        self.link(r2, "198.18.3.1/24", h, "198.18.3.2/24", &format!("v3{id}"));
        self.link(r1, "198.18.4.1/24", h, "198.18.4.2/24", &format!("v4{id}"));
        sh(&[
            "ip",
            "-n",
            c,
            "route",
            "add",
            "default",
            "via",
            "198.18.1.1",
        ]);
        sh(&[
            "ip",
            "-n",
            r1,
            "route",
            "add",
            "198.18.3.0/24",
            "via",
            "198.18.2.2",
        ]);
        sh(&[
            "ip",
            "-n",
            r2,
            "route",
            "add",
            "default",
            "via",
            "198.18.2.1",
        ]);
        sh(&[
            "ip",
            "-n",
            h,
            "route",
            "add",
            "default",
            "via",
            "198.18.3.1",
        ]);
        // Forwarding inside the routers' own namespaces only.
        for r in [r1, r2] {
            sh(&[
                "ip",
                "netns",
                "exec",
                r,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ]);
        }
    }

    /// router2 sends no "time exceeded": its hop is `*`, it still forwards.
    fn silence_router2(&self) {
        let rules =
            "table inet vitals_silent {\n chain out {\n  type filter hook output priority 0; \
                     policy accept;\n  icmp type time-exceeded drop\n }\n}\n";
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), rules).unwrap();
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.router2,
            "nft",
            "-f",
            f.path().to_str().unwrap(),
        ]);
    }

    /// `vpnmon ARGS…` inside the client namespace.
    fn vpnmon(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client])
            .arg(core_support::vpnmon_bin())
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
        c
    }

    fn run(&self, args: &[&str]) -> Finished {
        core_support::run(self.vpnmon(args), Duration::from_secs(60))
    }
}

/// The trace lines of a plain output: the addresses (RTTs dropped), `*` as is.
fn hops_of(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

fn trace_hops_in_order_with_a_silent_router() -> Ran {
    let chain = Chain::new("t")?;
    let out = chain.run(&["vitals", "-P", "-t", HOST]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert_eq!(
        hops_of(&out.stdout),
        [ROUTER1, ROUTER2, HOST],
        "{}",
        out.stdout
    );
    // Every hop with an RTT of three decimals.
    let re = regex::Regex::new(r"^198\.18\.\d+\.\d+\t\d+\.\d{3}$").unwrap();
    for l in out.stdout.lines().skip(1) {
        assert!(re.is_match(l), "{l:?}");
    }
    chain.silence_router2();
    let out = chain.run(&["vitals", "-P", "-t", HOST]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(hops_of(&out.stdout), [ROUTER1, "*", HOST], "{}", out.stdout);
    assert_eq!(out.stdout.lines().nth(2), Some("*"));
    // --hops bounds the trace: one hop never reaches the host.
    let out = chain.run(&["vitals", "-P", "-t", "-H", "1", HOST]);
    assert_eq!(hops_of(&out.stdout), [ROUTER1], "{}", out.stdout);
    Ok(())
}

fn trace_json_marks_the_silent_hop() -> Ran {
    let chain = Chain::new("j")?;
    chain.silence_router2();
    let out = chain.run(&["vitals", "-t", "-j", "-p", "2", HOST]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let trace = v["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 3, "{}", out.stdout);
    assert_eq!(trace[0][0], ROUTER1);
    assert!(trace[0][1].is_number());
    assert_eq!(trace[1], serde_json::json!(["*"]));
    assert_eq!(trace[2][0], HOST);
    assert_eq!(v["ping"]["loss"], 0.0, "{}", out.stdout);
    // IPv6 too: ::1 is its own one hop.
    let out = chain.run(&["vitals", "-t", "-j", "-p", "2", "::1"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        v["trace"].as_array().map(Vec::len),
        Some(1),
        "{}",
        out.stdout
    );
    assert_eq!(v["trace"][0][0], "::1", "{}", out.stdout);
    assert_eq!(v["ping"]["loss"], 0.0, "{}", out.stdout);
    Ok(())
}

/// An unprivileged user (nobody, through setpriv) with ping sockets allowed in the client
/// namespace: pings work, the trace cannot (trippy needs raw sockets on Linux) and says what to
/// do in one `EE:` line; the host's other results still come.
fn trace_without_raw_sockets_says_what_to_do() -> Ran {
    need_programs(&[("setpriv", "util-linux")])?;
    let chain = Chain::new("u")?;
    sh(&[
        "ip",
        "netns",
        "exec",
        &chain.client,
        "sysctl",
        "-qw",
        "net.ipv4.ping_group_range=0 2147483647",
    ]);
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        &chain.client,
        "setpriv",
        "--reuid",
        "65534",
        "--regid",
        "65534",
    ])
    .args(["--clear-groups"])
    .arg(core_support::vpnmon_bin())
    .args(["vitals", "-t", "-p", "2", HOST])
    .env("RUST_BACKTRACE", "0")
    .env("NO_COLOR", "1")
    .current_dir("/");
    let out = core_support::run(c, Duration::from_secs(60));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let exe = core_support::vpnmon_bin().display().to_string();
    let want = format!(
        "EE: TraceError: cannot trace the route: permission denied for raw ICMP sockets (needed \
         for traces here): give vpnmon raw sockets with `sudo setcap cap_net_raw+ep {exe}`, or \
         run it as root:\t-\t"
    );
    assert!(out.stderr.starts_with(&want), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(lines[0], HOST);
    assert!(lines[1].ends_with("\t0.0"), "{}", out.stdout);
    Ok(())
}

/// A namespace of its own whose loopback has the real ports 80, 443 and 3306 to itself.
fn scan_ns(tag: &str) -> Result<Netns, core_support::harness::Ignored> {
    need_root("network namespaces")?;
    need_programs(NETNS_PROGRAMS)?;
    let name = format!("vvs{tag}-{}", std::process::id() % 100000);
    Ok(Netns::new(&name).unwrap_or_else(|e| panic!("cannot make namespace {name}: {e}")))
}

/// `vpnmon ARGS…` inside `ns`.
fn vpnmon_in(ns: &Netns, args: &[&str]) -> Finished {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ns.name])
        .arg(core_support::vpnmon_bin())
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .current_dir("/");
    core_support::run(c, Duration::from_secs(60))
}

/// nginx in `ns` on 127.0.0.1:80 (200) and :443 (204, a self-signed certificate for
/// vitals.test made here with certtool), one process (no master), killed with the returned `Running`.
fn start_nginx(ns: &Netns, dir: &Path) -> Running {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    // A server's certificate (not an authority's: no `ca` in the template), self-signed: its
    // one problem is its unknown issuer.
    let template = dir.join("cert.cfg");
    std::fs::write(
        &template,
        "cn = vitals.test\nexpiration_days = 2\ntls_www_server\nsigning_key\nencryption_key\n",
    )
    .unwrap();
    let mut c = Command::new("certtool");
    c.args(["--generate-privkey", "--key-type", "ecdsa", "--outfile"])
        .arg(&key);
    let out = core_support::run(c, Duration::from_secs(60));
    assert!(out.success(), "certtool: {}", out.stderr);
    let mut c = Command::new("certtool");
    c.arg("--generate-self-signed")
        .arg("--load-privkey")
        .arg(&key)
        .arg("--template")
        .arg(&template)
        .arg("--outfile")
        .arg(&cert);
    let out = core_support::run(c, Duration::from_secs(60));
    assert!(out.success(), "certtool: {}", out.stderr);
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log stderr;\n\
         events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/b;\n \
         proxy_temp_path {d}/p;\n fastcgi_temp_path {d}/f;\n uwsgi_temp_path {d}/u;\n \
         scgi_temp_path {d}/s;\n server {{ listen 127.0.0.1:80; location / {{ return 200; }} }}\n \
         server {{ listen 127.0.0.1:443 ssl; ssl_certificate {}; ssl_certificate_key {}; \
         location / {{ return 204; }} }}\n}}\n",
        cert.display(),
        key.display()
    );
    let conf_file = dir.join("nginx.conf");
    std::fs::write(&conf_file, conf).unwrap();
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ns.name, "nginx", "-e", "stderr", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(&conf_file);
    let nginx = Running::spawn(c);
    // nginx writes its pid file after it has bound its ports.
    let pid = dir.join("nginx.pid");
    core_support::wait_until("nginx's pid file", Duration::from_secs(30), || pid.exists());
    nginx
}

/// MariaDB in `ns` on 127.0.0.1:3306 from a data folder made here; with its version.
fn start_mariadb(ns: &Netns, dir: &Path) -> (Running, String) {
    let data = dir.join("data");
    let mut c = Command::new("mariadb-install-db");
    c.args(["--no-defaults", "--user=root", "--skip-test-db"])
        .arg(format!("--datadir={}", data.display()));
    let out = core_support::run(c, Duration::from_secs(120));
    assert!(
        out.success(),
        "mariadb-install-db: {}{}",
        out.stdout,
        out.stderr
    );
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        &ns.name,
        "mariadbd",
        "--no-defaults",
        "--user=root",
    ])
    .args(["--port=3306", "--bind-address=127.0.0.1", "--skip-log-bin"])
    .arg(format!("--datadir={}", data.display()))
    .arg(format!("--socket={}", dir.join("sock").display()))
    .arg(format!("--pid-file={}", dir.join("pid").display()));
    let mut db = Running::spawn(c);
    // "ready for connections", then the line with the version: the port is open.
    let version = db.wait_stderr_line("MariaDB's version line", Duration::from_secs(60), |l| {
        l.starts_with("Version: '")
    });
    let version = version.split('\'').nth(1).unwrap().to_string();
    (db, version)
}

fn port_scan_of_real_nginx_and_mariadb() -> Ran {
    need_programs(&[
        ("nginx", "nginx"),
        ("certtool", "gnutls-bin"),
        ("mariadbd", "mariadb-server"),
        ("mariadb-install-db", "mariadb-server"),
    ])?;
    let ns = scan_ns("a")?;
    let dir = tempfile::tempdir().unwrap();
    let nginx = start_nginx(&ns, dir.path());
    let (db, version) = start_mariadb(&ns, dir.path());
    let out = vpnmon_in(&ns, &["vitals", "-P", "-s", "127.0.0.1"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    let scan: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(scan.len(), 3, "{}", lines[1]);
    let re = |r: &str| regex::Regex::new(r).unwrap();
    assert!(
        re(r"^\d+\.\d{3}, 200, nginx/[\d.]+$").is_match(scan[0]),
        "{}",
        scan[0]
    );
    // A self-signed certificate is a result: the answer, and why it does not verify.
    assert!(
        re(r"^\d+\.\d{3}, 204, nginx/[\d.]+ \(certificate: unknown issuer: self-signed or a private authority\)$")
            .is_match(scan[1]),
        "{}",
        scan[1]
    );
    // MariaDB's greeting carries its version (after the 5.5.5- of old clients' compatibility).
    assert!(
        re(r"^\d+\.\d{3}, ").is_match(scan[2]) && scan[2].ends_with(&version),
        "{} vs {version}",
        scan[2]
    );
    let out = vpnmon_in(&ns, &["vitals", "-P", "-s", "-j", "127.0.0.1"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["scan"]["http"]["response code"], "200", "{}", out.stdout);
    assert!(v["scan"]["http"]["rtt"].is_number());
    assert!(v["scan"]["http"]["server"]
        .as_str()
        .unwrap()
        .starts_with("nginx/"));
    assert_eq!(v["scan"]["https"]["response code"], "204");
    assert!(
        v["scan"]["https"]["certificate"].is_string(),
        "{}",
        out.stdout
    );
    assert!(v["scan"]["mysql"]["version"]
        .as_str()
        .unwrap()
        .ends_with(&version));
    drop((nginx, db));
    Ok(())
}

fn closed_ports_are_none_and_a_silent_one_is_bounded() -> Ran {
    let ns = scan_ns("b")?;
    let out = vpnmon_in(&ns, &["vitals", "-P", "-s", "127.0.0.1"]);
    assert_eq!(out.stdout, "127.0.0.1\nNone\tNone\tNone\n");
    assert!(out.took < Duration::from_secs(2), "{:?}", out.took);
    // A port whose SYNs are dropped answers nothing: None once the check's timeout is up.
    let rules = "table inet vitals_drop {\n chain in {\n  type filter hook input priority 0; \
                 policy accept;\n  tcp dport 80 drop\n }\n}\n";
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), rules).unwrap();
    sh(&[
        "ip",
        "netns",
        "exec",
        &ns.name,
        "nft",
        "-f",
        f.path().to_str().unwrap(),
    ]);
    let out = vpnmon_in(&ns, &["vitals", "-P", "-s", "--tcp", "80,81", "127.0.0.1"]);
    assert_eq!(
        out.stdout,
        "127.0.0.1\nNone\tNone\tNone\ntcp/80 timeout\ttcp/81 refused\n"
    );
    let bound = vpnmon::vitals::scan::CHECK_TIMEOUT;
    assert!(
        out.took >= bound && out.took < bound + Duration::from_secs(2),
        "{:?}",
        out.took
    );
    Ok(())
}

/// connmonitor's mode through the chain: the first poll prints the route, the next ones only
/// the host and the time; router1's route moved to its direct link to the host mid-run: the new
/// route is printed once; SIGTERM ends it within a second.
fn monitor_prints_a_route_only_when_it_changed() -> Ran {
    let chain = Chain::new("m")?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connmonitor.conf");
    std::fs::write(&file, format!("0 1 0 1 41 8 0 100\n{HOST}\n")).unwrap();
    let mut m = Running::spawn(chain.vpnmon(&["vitals", "--monitor", file.to_str().unwrap()]));
    let line = |m: &mut Running| match m.next_line(Duration::from_secs(20)) {
        core_support::Next::Line(l) => l.trim_end().to_string(),
        _ => panic!("the monitor ended or said nothing: {}", m.stderr()),
    };
    let hop = |l: &str| l.split('\t').next().unwrap().to_string();
    // First poll: host, time, the three hops.
    assert_eq!(line(&mut m), HOST);
    let _time = line(&mut m);
    let first: Vec<String> = (0..3).map(|_| hop(&line(&mut m))).collect();
    assert_eq!(first, [ROUTER1, ROUTER2, HOST]);
    // Second poll: the same route, not printed.
    assert_eq!(line(&mut m), HOST);
    let _time = line(&mut m);
    assert_eq!(line(&mut m), HOST, "a route printed again");
    sh(&[
        "ip",
        "-n",
        &chain.router1,
        "route",
        "replace",
        "198.18.3.0/24",
        "via",
        "198.18.4.2",
    ]);
    // Polls go on; the first one after the change prints the new route, once.
    let mut after = Vec::new();
    let mut polls = 0;
    while polls < 30 {
        let l = line(&mut m);
        if l == HOST {
            polls += 1;
            if after.len() == 2 {
                break;
            }
            after.clear();
            continue;
        }
        if l.starts_with("198.18.") {
            after.push(hop(&l));
        }
    }
    assert_eq!(after, [ROUTER1, HOST], "the new route");
    // And not again.
    let _time = line(&mut m);
    assert_eq!(line(&mut m), HOST);
    m.signal(nix::sys::signal::Signal::SIGTERM);
    let out = m.finish(Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.took < Duration::from_secs(1), "{:?}", out.took);
    Ok(())
}

/// The monitor (`--vpnclient none`, real pings) in the client namespace, run in `dir` with
/// the targets `targets`, one cycle, `--trace-on-fail` and an extended datalog `d.csv`.
fn monitor_traced(chain: &Chain, dir: &Path, targets: &str, extra: &[&str]) -> Finished {
    std::fs::write(dir.join("t.csv"), targets).unwrap();
    let mut c = chain.vpnmon(&[
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "1",
        "--delay",
        "0",
        "--pings",
        "1",
        "--timeout",
        "1",
        "--trace-on-fail",
        "--datalog",
        "d.csv",
        "--datalog-format",
        "extended",
    ]);
    c.args(extra).current_dir(dir);
    core_support::run(c, Duration::from_secs(120))
}

/// A dead target behind the two routers (198.18.3.9: nobody there): its Fail line is followed
/// by its path, router1 then router2 then unanswered hops, and the extended row has it too; a
/// live target is not traced.
fn trace_on_fail_shows_the_routers_before_a_dead_target() -> Ran {
    let chain = Chain::new("f")?;
    // The routers rate-limit "time exceeded" per peer (a burst of about 6, then 1 a second):
    // this test runs the monitor twice in a row, so the limit is lifted inside the routers'
    // own namespaces, or the second run's router2 hop could be `*`.
    for r in [&chain.router1, &chain.router2] {
        sh(&[
            "ip",
            "netns",
            "exec",
            r,
            "sysctl",
            "-qw",
            "net.ipv4.icmp_ratelimit=0",
        ]);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = monitor_traced(
        &chain,
        dir.path(),
        &format!("{HOST},live\n198.18.3.9,dead\n"),
        &[],
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let fail = lines
        .iter()
        .position(|l| l.contains("-- ping 198.18.3.9") && l.contains("Fail dead"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let path_line = lines
        .iter()
        .find(|l| l.contains("(path: "))
        .unwrap_or_else(|| panic!("no path: {}", out.stdout));
    let path = path_line
        .split("(path: ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    let hops: Vec<&str> = path.split(" → ").collect();
    eprintln!("dead target behind two routers: {path_line}");
    assert_eq!(hops[..2], [ROUTER1, ROUTER2], "{}", out.stdout);
    assert!(hops[2..].iter().all(|h| *h == "*"), "{}", out.stdout);
    assert!(hops.len() > 2, "{}", out.stdout);
    assert_eq!(
        lines.iter().filter(|l| l.contains("(path: ")).count(),
        1,
        "the live target is not traced: {}",
        out.stdout
    );
    let path_at = lines.iter().position(|l| l == path_line).unwrap();
    let close = lines
        .iter()
        .position(|l| l.contains("End vpnmon test cycle"));
    assert!(
        path_at > fail && close.is_none_or(|c| path_at < c),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    let row = log
        .lines()
        .find(|l| l.contains(",198.18.3.9,dead,"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(row.ends_with(&format!(",{}", hops.join(" "))), "{row}");
    let live = log
        .lines()
        .find(|l| l.contains(&format!(",{HOST},live,")))
        .unwrap();
    assert!(live.ends_with(','), "{live}");
    // --json: each record once, the dead one with its path. Another dead address: router2's
    // late "host unreachable" for the first run's echo (after its ARP gave up) must not meet
    // this run's echo to the same address (seen counted as a reply: see the report).
    let out = monitor_traced(
        &chain,
        dir.path(),
        &format!("{HOST},live\n198.18.3.10,dead\n"),
        &["--json"],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let recs: Vec<vpnmon::datalog::JsonRecord> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let by = |name: &str| -> Vec<&vpnmon::datalog::JsonRecord> {
        recs.iter().filter(|r| r.name == name).collect()
    };
    assert_eq!(by("live").len(), 1, "{}", out.stdout);
    assert_eq!(by("live")[0].path, None);
    assert_eq!(by("dead").len(), 1, "{}", out.stdout);
    let p = by("dead")[0]
        .path
        .clone()
        .unwrap_or_else(|| panic!("no path: {}\n{}", out.stdout, out.stderr));
    assert_eq!(p[..2], [ROUTER1, ROUTER2], "{}", out.stdout);
    Ok(())
}

/// 40 dead targets traced at once under a 3 s deadline: the cycle ends within the echo
/// timeout + the deadline + a margin, not 40 traces' time.
fn trace_on_fail_keeps_the_cycle_short_with_many_dead_targets() -> Ran {
    let chain = Chain::new("m")?;
    let dir = tempfile::tempdir().unwrap();
    let targets: String = (100..140)
        .map(|i| format!("198.18.3.{i},dead{i}\n"))
        .collect();
    let began = std::time::Instant::now();
    let out = monitor_traced(&chain, dir.path(), &targets, &["--trace-deadline", "3"]);
    let took = began.elapsed();
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains("Fail dead"))
            .count(),
        40,
        "{}",
        out.stdout
    );
    // 1 s of echo timeout, 3 s of traces, start-up and end: well under 40 × 2 s of traces.
    assert!(took < Duration::from_secs(12), "{took:?}\n{}", out.stdout);
    eprintln!(
        "40 dead targets with --trace-on-fail --trace-deadline 3: {took:?}, {} paths",
        out.stdout.lines().filter(|l| l.contains("(path: ")).count()
    );
    Ok(())
}
