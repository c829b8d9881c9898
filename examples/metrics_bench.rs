//! Figures for `--metrics-listen` (README "Benchmarks"; run by scripts/bench-metrics.sh, not a
//! test): /metrics latency p50/p99 at 200 requests/s while cycles of 1,000 checks run, and
//! vpnmon's resident memory with metrics on. Loopback only: the fake prober answers 127/8.
//!
//! Usage: metrics_bench /ABSOLUTE/PATH/TO/vpnmon [SECONDS] (vpnmon runs in a temporary folder)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str) -> (Duration, usize) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut buf).unwrap();
    (t.elapsed(), buf.len())
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .expect("usage: metrics_bench VPNMON_BINARY [SECONDS]");
    let secs: u64 = args.next().map_or(20, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut targets = String::new();
    for i in 0..1000u32 {
        targets.push_str(&format!("127.1.{}.{},t{i}\n", i / 250, i % 250 + 1));
    }
    std::fs::write(dir.path().join("t.csv"), targets).unwrap();
    let mut child = Command::new(&bin)
        .current_dir(dir.path())
        .args([
            "--debug-fake-ping",
            "--vpnclient",
            "none",
            "--targets",
            "t.csv",
        ])
        .args([
            "--cycles",
            "-1",
            "--interval",
            "1",
            "--quiet",
            "--datalog",
            "d.csv",
        ])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vpnmon");
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut addr = String::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim().strip_prefix("Serving metrics on http://") {
            addr = rest.trim_end_matches("/metrics").to_string();
        }
        if line.contains("End vpnmon test cycle 1") {
            break;
        }
        line.clear();
    }
    // Keep reading the console so vpnmon never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    let (_, size) = get(&addr);
    let every = Duration::from_millis(5); // 200 requests/s
    let n = secs * 200;
    let start = Instant::now();
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        // Bounded in time too: a slow server gets fewer requests, said in the output.
        if start.elapsed() > Duration::from_secs(secs) {
            break;
        }
        let due = start + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        lat.push(get(&addr).0);
    }
    let took = start.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let rss = status_kb(pid, "VmRSS:");
    let hwm = status_kb(pid, "VmHWM:");
    let cycles = std::fs::read_to_string(dir.path().join("d.csv"))
        .map(|t| {
            t.lines()
                .last()
                .unwrap_or("")
                .split(',')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    println!(
        "/metrics with 1,000 checks ({size} bytes): {} requests in {:.1} s ({:.0}/s) while cycles ran (last datalog cycle {cycles})",
        lat.len(),
        took.as_secs_f64(),
        lat.len() as f64 / took.as_secs_f64()
    );
    println!(
        "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (goal p99 <= 5 ms)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
    println!("vpnmon RSS {rss} KiB now, {hwm} KiB peak (metrics on)");
    let _ = child.kill();
    let _ = child.wait();
}
