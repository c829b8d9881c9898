//! `vpnmon vitals` with real parts: route traces through a chain of network namespaces built
//! here (client → router1 → router2 → host, 198.18.0.0/15, forwarding on inside the routers
//! only; router2 silenced with nft so its hop is `*`), and the port scan against real servers
//! started here (nginx for HTTP and HTTPS with a self-signed certificate made here, MariaDB in a
//! temporary data folder), all on loopback or inside the namespaces.

mod core_support;

use core_support::harness::{need_programs, need_root, Ran, NETNS_PROGRAMS};
use core_support::{Finished, Netns};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

harness_main!(
    trace_hops_in_order_with_a_silent_router,
    trace_json_marks_the_silent_hop,
    trace_without_raw_sockets_says_what_to_do,
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
