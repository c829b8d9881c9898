//! The Windows build (`x86_64-pc-windows-gnu`) run under wine (issue 16): `vpnmon.exe` pinging
//! through the ICMP API (`IcmpSendEcho2`), its datalog, Ctrl-C and `report`.
//!
//! The recipe: Debian's `wine64` (in /usr/lib/wine, not on PATH) starts the `.exe` once a stub
//! `bcryptprimitives.dll` is beside it (Rust's std imports `ProcessPrng` from it; wine 8 lacks
//! it): built here with `x86_64-w64-mingw32-gcc` over `SystemFunction036` (RtlGenRandom). Every
//! wine process runs inside a network namespace of the test's own (`ip netns`), whose loopback is
//! up, whose `ping_group_range` is widened (that namespace's own sysctl: wine's ICMP API uses a
//! ping socket when it may not open a raw one), and where 198.18.0.0/15 goes into a veth pair
//! whose far end drops it (198.18.0.1: a dead host). The wine server and its services start
//! inside it, in a fresh prefix in a temporary folder; `WINEDEBUG=-all` silences wine's logs.
//!
//! Needs root (the namespace), wine64 and mingw; otherwise each test is reported ignored with
//! the reason (or fails under VPNMON_TESTS_REQUIRE_ALL).

mod core_support;

use core_support::harness::{ignore, need_programs, need_root, trial, Ran};
use core_support::{Netns, Running};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const TARGET: &str = "x86_64-pc-windows-gnu";
const WINE_DIRS: [&str; 2] = ["/usr/lib/wine/wine64", "/usr/lib64/wine/wine64"];
/// The stub: `ProcessPrng` on top of RtlGenRandom, exported under its own name (a .def file).
const STUB_C: &str = r#"#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
"#;
const STUB_DEF: &str = "LIBRARY bcryptprimitives\nEXPORTS\n    ProcessPrng\n";
/// The unprivileged user of the non-root cases (nobody).
const USER: u32 = 65534;
/// A dead host: routed into the namespace's veth pair, never answered.
const DEAD: &str = "198.18.0.1";

/// What every test shares: the namespace, the built exe with its stub DLL, the wine prefixes.
struct Wine {
    wine: PathBuf,
    ns: Netns,
    dir: tempfile::TempDir,
    exe: PathBuf,
    /// The simulator's Windows build, as the Cisco client.
    vpncli: PathBuf,
}

/// Set up once; the error is the reason the tests cannot run, or a failure when root.
static WINE: OnceLock<Result<Wine, String>> = OnceLock::new();
/// The prefixes' first use (wineboot) happens once per user, not in parallel.
static BOOTED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn wine64() -> Option<PathBuf> {
    WINE_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| which::which("wine64").ok())
}

/// The wine set-up, or why the tests cannot run here.
fn wine() -> Result<&'static Wine, core_support::harness::Ignored> {
    need_root("a network namespace for wine and its server")?;
    need_programs(&[
        ("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
        ("ip", "iproute2"),
        ("setpriv", "util-linux"),
        ("script", "bsdutils"),
    ])?;
    let Some(wine) = wine64() else {
        return Err(ignore(
            "needs wine64 (Debian: wine64) in /usr/lib/wine or on PATH",
        ));
    };
    match WINE.get_or_init(|| set_up(wine)) {
        Ok(w) => Ok(w),
        Err(e) => panic!("cannot set up wine as root: {e}"),
    }
}

fn set_up(wine: PathBuf) -> Result<Wine, String> {
    let t = Instant::now();
    let built = windows_exe()?;
    let dir = tempfile::Builder::new()
        .prefix("vpnmon-wine.")
        .tempdir()
        .map_err(|e| e.to_string())?;
    chmod(dir.path(), 0o755);
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    chmod(&bin, 0o755);
    let exe = bin.join("vpnmon.exe");
    std::fs::copy(&built, &exe).map_err(|e| format!("{}: {e}", built.display()))?;
    let sim = windows_sim()?;
    let vpncli = bin.join("vpncli-sim.exe");
    std::fs::copy(&sim, &vpncli).map_err(|e| format!("{}: {e}", sim.display()))?;
    // The stub DLL beside the exe.
    std::fs::write(dir.path().join("stub.c"), STUB_C).unwrap();
    std::fs::write(dir.path().join("stub.def"), STUB_DEF).unwrap();
    let mut gcc = Command::new("x86_64-w64-mingw32-gcc");
    gcc.current_dir(dir.path()).args([
        "-shared",
        "-s",
        "-O2",
        "-o",
        "bin/bcryptprimitives.dll",
        "stub.c",
        "stub.def",
        "-ladvapi32",
    ]);
    let out = core_support::run(gcc, Duration::from_secs(120));
    if !out.success() {
        return Err(format!("the stub DLL did not build: {}", out.stderr));
    }
    let ns = Netns::new(format!("vmw-{}", std::process::id()))?;
    // The dead host's way out: a veth pair inside the namespace, the address's link-layer
    // address fixed (no ARP), the frames arriving at the peer, which has no address: dropped.
    ns.ip(&["link", "add", "w0", "type", "veth", "peer", "name", "w1"])?;
    ns.ip(&["addr", "add", "198.18.0.254/15", "dev", "w0"])?;
    ns.ip(&["link", "set", "w0", "up"])?;
    ns.ip(&["link", "set", "w1", "up"])?;
    ns.ip(&[
        "neigh",
        "add",
        DEAD,
        "lladdr",
        "02:00:00:00:00:01",
        "dev",
        "w0",
        "nud",
        "permanent",
    ])?;
    // Ping sockets for every group, in this namespace only (its own sysctl).
    ns.exec(
        "sh",
        &[
            "-c",
            "echo '0 2147483647' >/proc/sys/net/ipv4/ping_group_range",
        ],
    )?;
    for who in ["root", "user"] {
        let d = dir.path().join(who);
        std::fs::create_dir(&d).unwrap();
        if who == "user" {
            chown(&d);
        }
    }
    eprintln!(
        "wine set-up (exe, stub DLL, namespace) took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(Wine {
        wine,
        ns,
        dir,
        exe,
        vpncli,
    })
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path) {
    std::os::unix::fs::chown(p, Some(USER), Some(USER)).unwrap();
}

/// `VPNMON_WINDOWS_BUILD`: a folder with the Windows release build of this same source
/// (scripts/readme-check.sh hands its clean clone the repository's
/// target/x86_64-pc-windows-gnu/release, so the clone does not build it again).
const PREBUILT: &str = "VPNMON_WINDOWS_BUILD";

/// `file` in the `VPNMON_WINDOWS_BUILD` folder when that is set (an error when it is missing).
fn prebuilt(file: &str) -> Result<Option<PathBuf>, String> {
    let Some(dir) = std::env::var_os(PREBUILT) else {
        return Ok(None);
    };
    let p = Path::new(&dir).join(file);
    if p.is_file() {
        eprintln!("{file} from {PREBUILT}: {}", p.display());
        Ok(Some(p))
    } else {
        Err(format!("{PREBUILT} is set but has no {}", p.display()))
    }
}

/// The release Windows build of vpnmon, built now by the cargo running the tests (a no-op when
/// fresh; `.ci/run` builds it before the tests).
fn windows_exe() -> Result<PathBuf, String> {
    if let Some(p) = prebuilt("vpnmon.exe")? {
        return Ok(p);
    }
    let t = Instant::now();
    let built = nested_cargo()
        .bin("vpnmon")
        .target(TARGET)
        .release()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--offline")
        .run()
        .map_err(|e| {
            format!(
                "cannot build vpnmon.exe ({e}); `cargo build --release --target {TARGET} --bin \
                 vpnmon` (rustup target add {TARGET})"
            )
        })?;
    eprintln!(
        "cargo build --release --target {TARGET}: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(built.path().to_path_buf())
}

/// A cargo for a nested build with the environment the outer cargo had (as core_support::sim:
/// build scripts that watch the package's variables would otherwise rebuild every time).
fn nested_cargo() -> escargot::CargoBuild {
    let mut cargo = escargot::CargoBuild::new();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_EXE_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&k.as_ref())
        {
            cargo = cargo.env_remove(k.as_ref());
        }
    }
    cargo
}

/// The release Windows build of the Cisco CLI simulator (tests/sim, a cargo example).
fn windows_sim() -> Result<PathBuf, String> {
    if let Some(p) = prebuilt(&format!("examples/{}.exe", core_support::sim::SIM_NAME))? {
        return Ok(p);
    }
    let t = Instant::now();
    let built = nested_cargo()
        .example(core_support::sim::SIM_NAME)
        .target(TARGET)
        .release()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--offline")
        .run()
        .map_err(|e| {
            format!(
                "cannot build {}.exe ({e}); `cargo build --release --target {TARGET} --example {}`",
                core_support::sim::SIM_NAME,
                core_support::sim::SIM_NAME
            )
        })?;
    eprintln!(
        "cargo build --release --target {TARGET} --example: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(built.path().to_path_buf())
}

impl Wine {
    /// The folder of `who` ("root" or "user"): its wine prefix and home are inside.
    fn home(&self, user: bool) -> PathBuf {
        self.dir.path().join(if user { "user" } else { "root" })
    }

    /// A fresh working folder for one test, owned by the user that runs it.
    fn work(&self, name: &str, user: bool) -> PathBuf {
        let d = self.home(user).join(name);
        std::fs::create_dir(&d).unwrap();
        if user {
            chown(&d);
        }
        d
    }

    /// `program args…` inside the namespace, as root or as the user, with wine's environment.
    fn command(&self, user: bool, dir: &Path, program: &Path, args: &[&str]) -> Command {
        let home = self.home(user);
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns.name]);
        if user {
            c.args([
                "setpriv",
                &format!("--reuid={USER}"),
                &format!("--regid={USER}"),
                "--clear-groups",
            ]);
        }
        c.arg("env")
            .arg(format!("HOME={}", home.display()))
            .arg(format!("WINEPREFIX={}", home.join("prefix").display()))
            .arg("WINEDEBUG=-all")
            // No prompts to install Mono or Gecko into a fresh prefix.
            .arg("WINEDLLOVERRIDES=mscoree,mshtml=")
            .arg("RUST_BACKTRACE=0")
            .arg(&self.wine)
            .arg(program)
            .args(args)
            .current_dir(dir)
            .env_remove("VPNMON_PASSWORD")
            .env_remove("DISPLAY");
        c
    }

    /// Creates the user's prefix once (wineboot: ~4 s), so no test's timing includes it.
    fn boot(&self, user: bool) {
        let uid = if user { USER } else { 0 };
        let mut booted = BOOTED.lock().unwrap();
        if booted.contains(&uid) {
            return;
        }
        let t = Instant::now();
        let home = self.home(user);
        let c = self.command(user, &home, Path::new("wineboot"), &["-i"]);
        let out = core_support::run(c, Duration::from_secs(120));
        assert!(out.success(), "wineboot failed: {out:?}");
        eprintln!(
            "wine prefix for uid {uid}: {:.1} s",
            t.elapsed().as_secs_f64()
        );
        booted.push(uid);
    }

    /// vpnmon.exe with `args` in `dir`.
    fn vpnmon(&self, user: bool, dir: &Path, args: &[&str]) -> Command {
        self.boot(user);
        self.command(user, dir, &self.exe, args)
    }

    /// Ends the wine servers (and with them wine's services) of both prefixes.
    fn shut_down(&self) {
        for user in [false, true] {
            let home = self.home(user);
            if home.join("prefix").is_dir() {
                let c = self.command(user, &home, Path::new("wineserver"), &["-k"]);
                let _ = core_support::run(c, Duration::from_secs(30));
            }
        }
        // Statics are not dropped at exit: the namespace and the folder go now.
        let _ = self.ns.ip(&["link", "del", "w0"]);
        let _ = core_support::run(
            {
                let mut c = Command::new("ip");
                c.args(["netns", "del", &self.ns.name]);
                c
            },
            Duration::from_secs(30),
        );
        let _ = std::fs::remove_dir_all(self.dir.path());
    }
}

/// The Linux build's output for the same arguments (the reference).
fn linux(args: &[&str], dir: &Path) -> core_support::Finished {
    let mut c = core_support::vpnmon(dir);
    c.args(args);
    core_support::run(c, Duration::from_secs(30))
}

fn version() -> Ran {
    let w = wine()?;
    let dir = w.work("version", false);
    let out = core_support::run(
        w.vpnmon(false, &dir, &["--version"]),
        Duration::from_secs(60),
    );
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, linux(&["--version"], &dir).stdout);
    Ok(())
}

fn help() -> Ran {
    let w = wine()?;
    let dir = w.work("help", false);
    let out = core_support::run(w.vpnmon(false, &dir, &["--help"]), Duration::from_secs(60));
    assert!(out.success(), "{out:?}");
    // The same options as the Linux build (defaults such as the client's path may differ).
    let options = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .map(|l| l.trim().split([' ', '[', '<']).next().unwrap().to_string())
            .collect()
    };
    let reference = linux(&["--help"], &dir).stdout;
    assert!(options(&reference).len() > 10);
    assert_eq!(options(&out.stdout), options(&reference), "{}", out.stdout);
    Ok(())
}

/// A two-cycle run without a VPN on two loopback addresses: every row Good, written with CRLF.
fn two_cycles(user: bool) -> Ran {
    let w = wine()?;
    let dir = w.work(if user { "cycles-user" } else { "cycles-root" }, user);
    std::fs::write(dir.join("t.csv"), "127.0.0.1,one\r\n127.0.0.2,two\r\n").unwrap();
    let args = [
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "2",
        "--delay",
        "0",
        "--quiet",
    ];
    let cmd = w.vpnmon(user, &dir, &args);
    let t = Instant::now();
    let out = core_support::run(cmd, Duration::from_secs(60));
    let took = t.elapsed();
    assert!(out.success(), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // The ICMP API's notice-free path: no "run as administrator" message.
    assert!(!out.stderr.contains("administrator"), "{}", out.stderr);
    let log = std::fs::read_to_string(dir.join("vpnmon_datalog.csv")).unwrap();
    assert!(log.ends_with("\r\n"), "{log:?}");
    let rows: Vec<&str> = log.split_terminator("\r\n").collect();
    assert_eq!(rows.len(), 4, "{log:?}");
    for (i, row) in rows.iter().enumerate() {
        assert!(!row.contains('\n'), "a bare LF in {log:?}");
        let f: Vec<&str> = row.split(',').collect();
        let (cycle, host) = (i / 2 + 1, ["127.0.0.1", "127.0.0.2"][i % 2]);
        assert_eq!(f[0], cycle.to_string(), "{row}");
        assert_eq!(
            &f[3..],
            ["Target ping", "Good", host, ["one", "two"][i % 2]],
            "{row}"
        );
    }
    // Each console line says an RTT measured, not a failure.
    let pings: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("-- ping"))
        .collect();
    assert_eq!(pings.len(), 4, "{}", out.stdout);
    assert!(
        pings
            .iter()
            .all(|l| l.contains(" Good ") && l.contains("(rtt ")),
        "{}",
        out.stdout
    );
    eprintln!(
        "two cycles as {}: {:.1} s",
        if user { "nobody" } else { "root" },
        took.as_secs_f64()
    );
    Ok(())
}

fn two_cycles_as_root() -> Ran {
    two_cycles(false)
}

fn two_cycles_as_user_without_administrator() -> Ran {
    two_cycles(true)
}

/// An unanswered host is Fail with the timeout's words, within the timeout (not a hang).
fn dead_target_fails_within_the_timeout() -> Ran {
    let w = wine()?;
    let dir = w.work("dead", true);
    std::fs::write(dir.join("t.csv"), format!("127.0.0.1,alive\n{DEAD},dead\n")).unwrap();
    let args = [
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "1",
        "--quiet",
        "--timeout",
        "1",
    ];
    let mut run = Running::spawn(w.vpnmon(true, &dir, &args));
    let good = run.wait_line("127.0.0.1", Duration::from_secs(60));
    assert!(good.contains("Good"), "{good}");
    let t = Instant::now();
    let line = run.wait_line(DEAD, Duration::from_secs(30));
    let waited = t.elapsed();
    assert!(line.contains("Fail"), "{line}");
    assert!(
        line.contains("no reply to 2 echo requests within 1 s"),
        "{line}"
    );
    // Both echoes go out at once: about one timeout, far less than the two of a serial ping.
    assert!(waited < Duration::from_millis(1900), "{waited:?}");
    let out = run.finish(Duration::from_secs(30));
    assert!(out.success(), "{out:?}");
    let log = std::fs::read_to_string(dir.join("vpnmon_datalog.csv")).unwrap();
    assert!(
        log.contains(&format!(",Target ping,Fail,{DEAD},dead\r\n")),
        "{log:?}"
    );
    Ok(())
}

/// Ctrl-C (SIGINT to the wine process: wine's console raises CTRL_C_EVENT) stops the run
/// cleanly, with the original's stop words, in a second or two.
fn ctrl_c_stops_cleanly() -> Ran {
    let w = wine()?;
    let dir = w.work("ctrl-c", false);
    std::fs::write(dir.join("t.csv"), "127.0.0.1,one\n").unwrap();
    let args = [
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "-1",
        "--delay",
        "600",
        "--quiet",
    ];
    let mut run = Running::spawn(w.vpnmon(false, &dir, &args));
    run.wait_line("Waiting to run next test cycle", Duration::from_secs(60));
    run.signal(Signal::SIGINT);
    let out = run.finish(Duration::from_secs(20));
    assert!(out.took < Duration::from_secs(10), "{:?}", out.took);
    assert!(out.stdout.contains("Control-C"), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let log = std::fs::read_to_string(dir.join("vpnmon_datalog.csv")).unwrap();
    assert!(log.ends_with("\r\n"), "{log:?}");
    Ok(())
}

/// `report` of the Windows build on its own CRLF datalog says what the Linux build says.
fn report_reads_the_windows_datalog() -> Ran {
    let w = wine()?;
    let dir = w.work("report", false);
    std::fs::write(dir.join("t.csv"), format!("127.0.0.1,one\n{DEAD},dead\n")).unwrap();
    let args = [
        "--vpnclient",
        "none",
        "--targets",
        "t.csv",
        "--cycles",
        "2",
        "--delay",
        "0",
        "--timeout",
        "0.2",
        "--quiet",
    ];
    let out = core_support::run(w.vpnmon(false, &dir, &args), Duration::from_secs(60));
    assert!(out.success(), "{out:?}");
    let log = std::fs::read_to_string(dir.join("vpnmon_datalog.csv")).unwrap();
    assert!(log.contains("\r\n"), "{log:?}");
    let report = ["report", "--format", "csv", "vpnmon_datalog.csv"];
    let out = core_support::run(w.vpnmon(false, &dir, &report), Duration::from_secs(60));
    assert!(out.success(), "{out:?}");
    let reference = linux(&report, &dir);
    assert!(reference.success(), "{reference:?}");
    assert_eq!(out.stdout, reference.stdout);
    assert!(out.stdout.contains(DEAD), "{}", out.stdout);
    Ok(())
}

/// A password the outputs are searched for (it must never show).
const PASSWORD: &str = "pw-Wine-7788";

/// vpnmon.exe driving the simulator's Windows build (`scenario`) as the Cisco client through a
/// pseudo-console (ConPTY), on a terminal (`script`) as a person would start it, against the
/// loopback "gateway" 127.0.0.1 with two loopback targets. `installed`: the client in a folder
/// whose name has spaces, as Cisco installs it.
fn anyconnect(
    w: &Wine,
    name: &str,
    scenario: &str,
    cycles: u32,
    installed: bool,
) -> (PathBuf, Running) {
    let dir = w.work(name, false);
    std::fs::write(dir.join("t.csv"), "127.0.0.2,two\n127.0.0.3,three\n").unwrap();
    let path = |f: &str| dir.join(f).display().to_string();
    let cycles = cycles.to_string();
    // A copy of the simulator per test, so its processes are told from other tests' ones;
    // beside the stub DLL (it is a Rust program too).
    let vpncli = if installed {
        // As Cisco installs it, in a folder whose name has spaces, with a decoy program named
        // like the path's first word (`bin/ac-ok.exe` for `bin/ac-ok Cisco AnyConnect\…`):
        // a command line with the path unquoted would start the decoy (vpnmon.exe itself,
        // which refuses the words that follow) instead of the client.
        let folder = w.exe.with_file_name(format!("{name} Cisco AnyConnect"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(&w.exe, w.exe.with_file_name(format!("{name}.exe"))).unwrap();
        let dll = "bcryptprimitives.dll";
        std::fs::copy(w.exe.with_file_name(dll), folder.join(dll)).unwrap();
        folder.join("vpncli.exe")
    } else {
        w.vpncli.with_file_name(format!("{name}-vpncli.exe"))
    };
    std::fs::copy(&w.vpncli, &vpncli).unwrap();
    let vpncli = vpncli.display().to_string();
    let args = [
        "--vpnclient",
        "anyconnect",
        "-vpnurlip",
        "127.0.0.1",
        "-user",
        "bob",
        "-pass",
        PASSWORD,
        "--vpncli",
        &vpncli,
        "--targets",
        "t.csv",
        "--cycles",
        &cycles,
        "--delay",
        "0",
        "--vpncli-delay",
        "0",
        "--vpn-timeout",
        "20",
        "--quiet",
    ];
    let mut inner = w.vpnmon(false, &dir, &args);
    inner
        .env("VPNCLI_SIM_SCENARIO", scenario)
        .env("VPNCLI_SIM_PASSWORD", PASSWORD)
        .env("VPNCLI_SIM_STATE", path("state"))
        .env("VPNCLI_SIM_PIDS", path("pids"))
        .env("VPNCLI_SIM_LOG", path("log"))
        // Secrets in vpnmon's environment, which the client must not be handed (the simulator
        // records `secret_env=inherited|none`, never the values).
        .env("VPNMON_PASSWORD", PASSWORD)
        .env("VPNMON_SMTP_PASSWORD", "smtp-Wine-5566");
    // The same command as one shell line for `script -qec` (every word quoted).
    let quote = |a: &std::ffi::OsStr| format!("'{}'", a.to_string_lossy().replace('\'', r"'\''"));
    let mut line = String::from("exec");
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            line.push_str(&format!(" {}={}", k.to_string_lossy(), quote(v)));
        }
    }
    line.push_str(&format!(" {}", quote(inner.get_program())));
    for a in inner.get_args() {
        line.push_str(&format!(" {}", quote(a)));
    }
    // `exec env VAR=… ip netns exec …`: the variables reach wine, which hands them to the
    // Windows processes (vpnmon.exe and the simulator it starts).
    let line = line.replacen("exec", "exec env", 1);
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]).current_dir(&dir);
    (dir, Running::spawn(c))
}

/// The rows of the datalog in `dir` as (test, result), each checked to end in CRLF.
fn rows(dir: &Path) -> Vec<(String, String)> {
    let log = std::fs::read_to_string(dir.join("vpnmon_datalog.csv")).unwrap_or_default();
    assert!(log.is_empty() || log.ends_with("\r\n"), "{log:?}");
    log.split_terminator("\r\n")
        .map(|r| {
            assert!(!r.contains('\n'), "a bare LF in {log:?}");
            let f: Vec<&str> = r.split(',').collect();
            (f[3].to_string(), f[4].to_string())
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// What the terminal showed, without its escape sequences.
fn screen(out: &core_support::Finished) -> String {
    let re = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07").unwrap();
    re.replace_all(&out.stdout, "").into_owned()
}

/// Nothing vpnmon or the simulator wrote holds the password.
fn no_password(dir: &Path, out: &core_support::Finished) {
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));
    for f in ["vpnmon_datalog.csv", "log", "state"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        assert!(!text.contains(PASSWORD), "the password in {f}");
    }
}

const GOOD_CYCLE: [(&str, &str); 5] = [
    ("VPN ping", "Good"),
    ("VPN open", "Good"),
    ("Target ping", "Good"),
    ("Target ping", "Good"),
    ("VPN close", "Good"),
];

fn anyconnect_good(scenario: &str) -> Ran {
    let w = wine()?;
    let (dir, run) = anyconnect(w, &format!("ac-{scenario}"), scenario, 1, true);
    let out = run.finish(Duration::from_secs(90));
    let shown = screen(&out);
    assert!(out.success(), "{shown}\n{}", out.stderr);
    assert_eq!(rows(&dir), pairs(&GOOD_CYCLE), "{shown}");
    assert!(shown.contains("1 vpnmon test cycles completed."), "{shown}");
    // The dialog as the simulator saw it: the password typed at its prompt (hidden in its log),
    // then disconnect and exit.
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    for typed in [
        "typed at=VPN> after=",
        "typed at=Username:",
        "typed at=Password:",
        "disconnect",
        " exit",
    ] {
        assert!(
            log.contains(typed),
            "{typed:?} not in the simulator's log:\n{log}"
        );
    }
    no_password(&dir, &out);
    let state = std::fs::read_to_string(dir.join("state")).unwrap();
    assert!(state.contains("secret_env=none\n"), "{state}");
    Ok(())
}

/// The AnyConnect driver on Windows: ConPTY, the VT stripper, the prompts, pacing, close.
fn anyconnect_ok_through_conpty() -> Ran {
    anyconnect_good("ok")
}

/// Secure Client 5's notices right after each prompt do not hide the prompt.
fn anyconnect_notices_after_the_prompt() -> Ran {
    anyconnect_good("notices")
}

/// A refused login is an open Fail with the client's reason, and the monitor goes on.
fn anyconnect_login_failed() -> Ran {
    let w = wine()?;
    let (dir, run) = anyconnect(w, "ac-failed", "failed", 1, false);
    let out = run.finish(Duration::from_secs(90));
    let shown = screen(&out);
    assert!(out.success(), "{shown}\n{}", out.stderr);
    assert_eq!(
        rows(&dir),
        pairs(&[("VPN ping", "Good"), ("VPN open", "Fail")]),
        "{shown}"
    );
    assert!(shown.contains("the connection attempt failed"), "{shown}");
    no_password(&dir, &out);
    Ok(())
}

/// A client hung while connecting (it ignores Ctrl-C too): Ctrl-C stops vpnmon within seconds,
/// the client ended, no open row (not a result).
fn anyconnect_hang_and_ctrl_c() -> Ran {
    let w = wine()?;
    let (dir, run) = anyconnect(w, "ac-hang", "hang", 3, false);
    let state = dir.join("state");
    core_support::wait_until("the simulator connecting", Duration::from_secs(60), || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains("phase=contacting"))
    });
    // SIGINT to the wine process running vpnmon.exe: script's child (the exec chain ends in it).
    let children = format!("/proc/{0}/task/{0}/children", run.pid());
    let pid: i32 = std::fs::read_to_string(&children)
        .unwrap()
        .split_whitespace()
        .next()
        .expect("script has no child")
        .parse()
        .unwrap();
    // The hung client as wine shows it (its command line: its Windows path, Z:\…).
    let client = w.vpncli.with_file_name("ac-hang-vpncli.exe");
    let client = format!("Z:{}", client.display()).replace('/', "\\");
    let clients = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).starts_with(&client))
            })
            .count()
    };
    assert_eq!(clients(), 1, "the hung client {client} is not running");
    let t = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGINT).unwrap();
    let out = run.finish(Duration::from_secs(30));
    let took = t.elapsed();
    let shown = screen(&out);
    assert!(took < Duration::from_secs(10), "{took:?}\n{shown}");
    assert!(shown.contains("stopped with Control-C"), "{shown}");
    assert!(!shown.contains("vpnmon test cycles completed"), "{shown}");
    assert_eq!(rows(&dir), pairs(&[("VPN ping", "Good")]), "{shown}");
    // vpnmon ended the client before it exited (wine reaps it by then).
    assert_eq!(clients(), 0, "the hung client outlived vpnmon");
    no_password(&dir, &out);
    eprintln!("hung client, Ctrl-C to exit: {:.2} s", took.as_secs_f64());
    Ok(())
}

fn main() {
    let trials = vec![
        trial("version", version),
        trial("help", help),
        trial("two_cycles_as_root", two_cycles_as_root),
        trial(
            "two_cycles_as_user_without_administrator",
            two_cycles_as_user_without_administrator,
        ),
        trial(
            "dead_target_fails_within_the_timeout",
            dead_target_fails_within_the_timeout,
        ),
        trial("ctrl_c_stops_cleanly", ctrl_c_stops_cleanly),
        trial(
            "report_reads_the_windows_datalog",
            report_reads_the_windows_datalog,
        ),
        trial("anyconnect_ok_through_conpty", anyconnect_ok_through_conpty),
        trial(
            "anyconnect_notices_after_the_prompt",
            anyconnect_notices_after_the_prompt,
        ),
        trial("anyconnect_login_failed", anyconnect_login_failed),
        trial("anyconnect_hang_and_ctrl_c", anyconnect_hang_and_ctrl_c),
    ];
    let t = Instant::now();
    let conclusion = libtest_mimic::run(&libtest_mimic::Arguments::from_args(), trials);
    if let Some(Ok(w)) = WINE.get() {
        w.shut_down();
        eprintln!("wine tests: {:.1} s in all", t.elapsed().as_secs_f64());
    }
    conclusion.exit()
}
