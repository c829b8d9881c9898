//! `vpncli-sim`: a stand-in for Cisco's `vpncli`/`vpn` command-line client, printing the texts of
//! the project's reference transcripts verbatim, for the AnyConnect driver's tests.
//!
//! Environment:
//! - `VPNCLI_SIM_STATE`: file holding the "agent" state (tunnel up or down) across runs, as the
//!   real agent keeps a tunnel after the CLI exits. Lines `tunnel=up|down`, `host=`, `user=`,
//!   `password=right|wrong` (never the password), `phase=`.
//! - `VPNCLI_SIM_PIDS`: file the simulator appends its pid to (so a test can check none is left).
//! - `VPNCLI_SIM_SCENARIO`: ok (default), groups, banner, unknown_state, cert,
//!   cert_linux, busy, dns, timeout, failed, driver, sso, retry, passcode, second_password,
//!   answer, eof, crash, crash_hang, hang, slow_connect, slow_disconnect, lazy_disconnect,
//!   early_prompt,
//!   echo_password, notices, quiet_connect.
//!   - quiet_connect: after the password the agent brings the tunnel up (`tunnel=up`) 1.5 s
//!     before the CLI prints anything about it (`state: Connecting`).
//!   - notices: as Secure Client 5.x, asynchronous notices right after every `VPN> ` prompt
//!     (`VPN>   >> notice: Ready to connect.`, then `  >> registered with local VPN subsystem.`).
//!   - hang (and every stuck state): ignores Ctrl-C (SIGINT) too; only a kill ends it.
//!   - crash_hang: crashes like crash; a client started later while the tunnel is up hangs
//!     before its prompt (`phase=stuck`).
//!   - lazy_disconnect: `disconnect` answers only `Disconnecting` (`phase=disconnect_pending`);
//!     the tunnel is down at the next `state`.
//!   - slow_disconnect: the first disconnect takes 5 s and the tunnel goes down only at its end
//!     (a CLI killed before then leaves it up); later disconnects are quick.
//! - `VPNCLI_SIM_DROP_FAST_MS`: drop input typed sooner than this after the last output.
//! - `VPNCLI_SIM_VT=1`: write as a re-rendering pseudo-console (Windows ConPTY) does: the
//!   screen cleared first, VT sequences around the text, `VPN> ` as `VPN>ESC[KESC[1C`.
//! - `VPNCLI_SIM_LOG`: file each simulator appends what happened to, one event a line:
//!   `<pid> <ms since the epoch> shown <prompt>`, `… typed at=<prompt> after=<ms> <text>` (a line
//!   it accepted, `after` = ms since its last output), `… dropped at=<prompt> after=<ms> <text>`
//!   (lost to `VPNCLI_SIM_DROP_FAST_MS`), `… exit` (left by `exit`). Secrets show as `(hidden)`.
//! - `VPNCLI_SIM_VERSION`: 4 (AnyConnect 4.9 banner, default) or 5 (Secure Client 5.1).
//! - `VPNCLI_SIM_PASSWORD`: the right password (default `secret`).
//! - `<the simulator's path>.env`, when present: `KEY=VALUE` lines that override these variables
//!   for that copy alone (several sites of one run, each with its own copy and scenario).
//! - `VPNCLI_SIM_CONNECTED_TO`: the name in `Connected to …` (default: the host given).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Sim {
    scenario: String,
    state_path: Option<PathBuf>,
    state: BTreeMap<String, String>,
    password: String,
}

/// When the simulator last wrote something (for `VPNCLI_SIM_DROP_FAST_MS`).
static LAST_OUT: Mutex<Option<Instant>> = Mutex::new(None);
/// The last prompt shown (for the log).
static PROMPT: Mutex<String> = Mutex::new(String::new());
/// Whether the screen was cleared yet (`VPNCLI_SIM_VT`).
static VT_STARTED: Mutex<bool> = Mutex::new(false);

fn vt() -> bool {
    std::env::var("VPNCLI_SIM_VT").as_deref() == Ok("1")
}

/// `s` as a re-rendering pseudo-console writes it: lines end with erase-to-end, a prompt's
/// trailing blank is a cursor move, the cursor is hidden while writing.
fn rendered(s: &str) -> String {
    let mut r = String::new();
    if let Ok(mut started) = VT_STARTED.lock() {
        if !*started {
            *started = true;
            r.push_str("\x1b[?25l\x1b[2J\x1b[m\x1b[H\x1b]0;vpncli\x07");
        }
    }
    r.push_str("\x1b[?25l");
    let body = s.replace('\n', "\x1b[K\r\n");
    match body.strip_suffix(' ') {
        Some(prompt) => {
            r.push_str(prompt);
            r.push_str("\x1b[K\x1b[1C\x1b[?25h");
        }
        None => r.push_str(&body),
    }
    r
}

fn out(s: &str) {
    let text = if vt() { rendered(s) } else { s.to_string() };
    let mut o = io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
    if let Ok(mut t) = LAST_OUT.lock() {
        *t = Some(Instant::now());
    }
}

/// A prompt (the text waiting for an answer), noted for the log.
fn ask(s: &str) {
    if let Ok(mut p) = PROMPT.lock() {
        *p = s.trim().to_string();
    }
    log(&format!("shown {}", s.trim()));
    out(s);
}

/// One event in `VPNCLI_SIM_LOG`.
fn log(event: &str) {
    let Some(p) = std::env::var_os("VPNCLI_SIM_LOG") else {
        return;
    };
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
    {
        // One write per line: several processes append to this file at once, and `writeln!`
        // writes its pieces one by one (a line torn by another's, e.g. pid "18" + "17").
        let _ = f.write_all(format!("{} {ms} {event}\n", std::process::id()).as_bytes());
    }
}

fn line(s: &str) {
    out(&format!("{s}\n"));
}

impl Sim {
    fn load(&mut self) {
        if let Some(p) = &self.state_path {
            if let Ok(text) = std::fs::read_to_string(p) {
                for l in text.lines() {
                    if let Some((k, v)) = l.split_once('=') {
                        self.state.insert(k.to_string(), v.to_string());
                    }
                }
            }
        }
    }

    fn set(&mut self, k: &str, v: &str) {
        self.state.insert(k.to_string(), v.to_string());
        if let Some(p) = &self.state_path {
            let text: String = self
                .state
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            let tmp = p.with_extension("tmp");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, p);
            }
        }
    }

    fn up(&self) -> bool {
        self.state.get("tunnel").map(String::as_str) == Some("up")
    }

    fn banner(&self) {
        if std::env::var("VPNCLI_SIM_VERSION").as_deref() == Ok("5") {
            line("Cisco Secure Client (version 5.1.2.42) .");
            line("");
            line("Copyright (c) 2004 - 2023 Cisco Systems, Inc.  All Rights Reserved.");
        } else {
            line("Cisco AnyConnect Secure Mobility Client (version 4.9.01095) .");
            line("");
            line("Copyright (c) 2004 - 2020 Cisco Systems, Inc.  All Rights Reserved.");
        }
        line("");
        line("");
        let st = if self.up() {
            "Connected"
        } else {
            "Disconnected"
        };
        if self.scenario == "unknown_state" {
            line("  >> state: Unknown");
        } else {
            line(&format!("  >> state: {st}"));
        }
        line(&format!("  >> state: {st}"));
        line(&format!("  >> state: {st}"));
        if self.scenario != "notices" {
            if !self.up() {
                line("  >> notice: Ready to connect.");
            }
            line("  >> registered with local VPN subsystem.");
        }
    }

    fn prompt(&self) {
        ask("VPN> ");
        if self.scenario == "notices" {
            if self.up() {
                line("  >> state: Connected");
            } else {
                line("  >> notice: Ready to connect.");
            }
            line("  >> registered with local VPN subsystem.");
        }
    }

    fn failed_tail(&self) {
        line("  >> state: Disconnected");
        line("  >> notice: Ready to connect.");
    }

    /// Reads one line; None at end of input.
    /// With `VPNCLI_SIM_DROP_FAST_MS`, a line typed sooner than that after the client's last
    /// output is lost, as the original vpnmon saw vpncli drop fast input.
    fn read(&self) -> Option<String> {
        self.read_as(false)
    }

    /// `read`, logging the text as `(hidden)` when `secret`.
    fn read_as(&self, secret: bool) -> Option<String> {
        let gap = std::env::var("VPNCLI_SIM_DROP_FAST_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis);
        loop {
            let mut s = String::new();
            match io::stdin().lock().read_line(&mut s) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let since = LAST_OUT
                .lock()
                .ok()
                .and_then(|t| t.map(|t| t.elapsed()))
                .unwrap_or(Duration::MAX);
            let text = s.trim_end_matches(['\r', '\n']).to_string();
            let at = PROMPT.lock().map(|p| p.clone()).unwrap_or_default();
            let shown = if secret { "(hidden)" } else { text.as_str() };
            let after = since.as_millis().min(u128::from(u32::MAX));
            if gap.is_some_and(|g| since < g) {
                log(&format!("dropped at={at} after={after} {shown}"));
                continue;
            }
            log(&format!("typed at={at} after={after} {shown}"));
            return Some(text);
        }
    }

    /// Reads the password with the terminal's echo off, as the real client does.
    fn read_secret(&self) -> Option<String> {
        let _guard = NoEcho::new();
        let r = self.read_as(true);
        line("");
        r
    }

    /// Stuck for good: not even Ctrl-C (SIGINT) reaches it, only a kill.
    fn hang(&self) -> ! {
        #[cfg(unix)]
        // SAFETY: sets SIGINT's disposition to "ignore" (no handler code runs).
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    fn step(&self) {
        if self.scenario == "slow_connect" {
            std::thread::sleep(Duration::from_millis(1500));
        }
    }

    fn connect(&mut self, host: &str) -> Option<()> {
        let sc = self.scenario.clone();
        if sc == "busy" {
            line("  >> error: Connect not available. Another AnyConnect application is running");
            line("or this functionality was not requested by this application.");
            return Some(());
        }
        self.set("phase", "contacting");
        line(&format!(
            "  >> contacting host ({host}) for login information..."
        ));
        line(&format!("  >> notice: Contacting {host}."));
        match sc.as_str() {
            "hang" => self.hang(),
            "dns" => {
                line(&format!("  >> error: Unable to contact {host}."));
                line("  >> error: The VPN connection failed due to unsuccessful domain name resolution.");
                self.failed_tail();
                return Some(());
            }
            "timeout" => {
                line("  >> error: Connection attempt has timed out. Please verify Internet connectivity.");
                self.failed_tail();
                return Some(());
            }
            "failed" => {
                line("  >> warning: Connection attempt has failed.");
                self.failed_tail();
                return Some(());
            }
            "driver" => {
                line("  >> error: The VPN client driver encountered an error. Please restart your computer or device, then try again.");
                self.failed_tail();
                return Some(());
            }
            "retry" => {
                line("  >> error: Please try connecting again.");
                self.failed_tail();
                return Some(());
            }
            "sso" => {
                line("  >> error: The requested authentication type is not supported in AnyConnect CLI.");
                self.failed_tail();
                return Some(());
            }
            "cert" | "cert_linux" => {
                if sc == "cert" {
                    line(&format!("AnyConnect cannot verify server: {host}"));
                } else {
                    line(&format!(
                        "VPN> AnyConnect cannot verify the VPN server: {host}"
                    ));
                }
                line("    - Certificate is from an untrusted source.");
                line("Connecting to this server may result in a severe security compromise!");
                line("");
                line("Most users do not connect to untrusted servers unless the reason for the error condition is known.");
                line("");
                ask("Connect Anyway? [y/n]: ");
                let a = self.read()?;
                if !a.trim().eq_ignore_ascii_case("y") {
                    line("  >> warning: Connection attempt has failed.");
                    line("  >> state: Disconnected");
                    return Some(());
                }
            }
            _ => {}
        }
        line("");
        line("  >> Please enter your username and password.");
        if sc == "groups" {
            line("        0) Cert-Full");
            line("        1) Cert-VPN");
            line("        2) Sec-LAIR");
            line("        3) VPN");
            ask("    Group: [VPN] ");
            let g = self.read()?;
            let g = if g.trim().is_empty() {
                "VPN".to_string()
            } else {
                g.trim().to_string()
            };
            self.set("group", &g);
        }
        loop {
            match self.state.get("user") {
                Some(u) if !u.is_empty() => ask(&format!("Username: [{u}] ")),
                _ => ask("Username: "),
            }
            let u = self.read()?;
            if !u.trim().is_empty() {
                self.set("user", u.trim());
            }
            ask("Password: ");
            let p = self.read_secret()?;
            if sc == "echo_password" {
                // A misbehaving build that shows what was typed.
                line(&format!("  >> notice: password {p} received"));
                line(&format!("  >> notice: you typed {p}"));
                line("Login failed.");
                continue;
            }
            if p == self.password {
                self.set("password", "right");
                break;
            }
            self.set("password", "wrong");
            line("Login failed.");
        }
        match sc.as_str() {
            "passcode" | "second_password" | "answer" => {
                let q = match sc.as_str() {
                    "passcode" => "Passcode: ",
                    "second_password" => "Second Password: ",
                    _ => "Answer: ",
                };
                ask(q);
                let _ = self.read_secret()?;
                line("Login failed.");
                self.failed_tail();
                return Some(());
            }
            "eof" => std::process::exit(0),
            _ => {}
        }
        if sc == "banner" {
            line("  >> notice: Please respond to banner.");
            line("");
            line("Authorized use only. Activity on this network is monitored.");
            line("");
            ask("accept? [y/n]: ");
            let a = self.read()?;
            if !a.trim().eq_ignore_ascii_case("y") {
                line("  >> state: Disconnected");
                line("  >> notice: Ready to connect.");
                return Some(());
            }
        }
        if sc == "early_prompt" {
            // Some builds show the prompt at once and report the connection after it.
            out("VPN> ");
            std::thread::sleep(Duration::from_millis(300));
            line("");
        }
        if sc == "quiet_connect" {
            self.set("tunnel", "up");
            self.set("host", host);
            std::thread::sleep(Duration::from_millis(1500));
        }
        line("  >> notice: Establishing VPN session...");
        line("  >> state: Connecting");
        self.set("tunnel", "up");
        self.set("host", host);
        if sc == "crash" || sc == "crash_hang" {
            std::process::abort();
        }
        self.step();
        line("  >> notice: Establishing VPN session...");
        line("  >> notice: Establishing VPN - Configuring system...");
        self.step();
        line("  >> notice: Establishing VPN...");
        line("  >> state: Connected");
        let to = match std::env::var("VPNCLI_SIM_CONNECTED_TO") {
            Ok(t) if !t.is_empty() => t,
            _ => host.to_string(),
        };
        line(&format!("  >> notice: Connected to {to}."));
        Some(())
    }

    fn disconnect(&mut self) {
        if !self.up() {
            line("  >> state: Disconnected");
            line("  >> notice: Ready to connect.");
            return;
        }
        line("  >> state: Disconnecting");
        if self.scenario == "lazy_disconnect" {
            // The prompt comes back before the agent has finished.
            self.set("phase", "disconnect_pending");
            return;
        }
        self.set("phase", "disconnecting");
        line("  >> notice: Disconnect in progress, please wait...");
        if self.scenario == "slow_disconnect" && !self.state.contains_key("slow_done") {
            self.set("slow_done", "1");
            std::thread::sleep(Duration::from_secs(5));
        }
        // Only now is the tunnel down: a CLI killed during the wait leaves it up.
        self.set("tunnel", "down");
        line("  >> state: Disconnecting");
        line("  >> state: Disconnected");
        line("  >> notice: Ready to connect.");
        self.set("phase", "idle");
    }

    fn run(&mut self) {
        if self.scenario == "crash_hang" && self.up() {
            self.set("phase", "stuck");
            self.hang();
        }
        self.banner();
        loop {
            self.prompt();
            let Some(cmd) = self.read() else { return };
            let mut words = cmd.split_whitespace();
            match words.next() {
                Some("connect") => {
                    let host = words.collect::<Vec<_>>().join(" ");
                    let host = host.trim_matches('"').to_string();
                    if self.connect(&host).is_none() {
                        return;
                    }
                }
                Some("disconnect") => self.disconnect(),
                Some("state") => {
                    if self.state.get("phase").map(String::as_str) == Some("disconnect_pending") {
                        self.set("tunnel", "down");
                        self.set("phase", "idle");
                    }
                    let st = if self.up() {
                        "Connected"
                    } else {
                        "Disconnected"
                    };
                    line(&format!("  >> state: {st}"));
                }
                Some("stats") => {
                    line("[ Connection Information ]");
                    let st = if self.up() {
                        "Connected"
                    } else {
                        "Disconnected"
                    };
                    line(&format!("    Connection State:            {st}"));
                    line("    Tunnel Mode (IPv4):          Tunnel All Traffic");
                }
                Some("hosts") => {
                    line("  [hosts]");
                    if let Some(h) = self.state.get("host") {
                        line(&format!("  > {h}"));
                    }
                }
                Some("exit") | Some("quit") => {
                    log("exit");
                    line("goodbye...");
                    if self.up() {
                        line("  >> note: VPN Connection is still active");
                    }
                    return;
                }
                _ => {}
            }
        }
    }
}

/// Turns the terminal's echo off while alive (no-op when stdin is not a terminal).
#[cfg(unix)]
struct NoEcho(Option<libc::termios>);
#[cfg(not(unix))]
struct NoEcho;
#[cfg(not(unix))]
impl NoEcho {
    fn new() -> NoEcho {
        NoEcho
    }
}

#[cfg(unix)]
impl NoEcho {
    fn new() -> NoEcho {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed, then filled, termios.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return NoEcho(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            NoEcho(Some(saved))
        }
    }
}

#[cfg(unix)]
impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the attributes read in new().
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

fn main() {
    // A copy of the simulator may carry its own settings in `<its path>.env` (KEY=VALUE lines,
    // over the environment): several sites of one vpnmon run, each with its own copy, then
    // behave differently though they share vpnmon's environment (tests/sites.rs).
    if let Ok(exe) = std::env::current_exe() {
        let mut own = exe.into_os_string();
        own.push(".env");
        if let Ok(text) = std::fs::read_to_string(&own) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    std::env::set_var(k.trim(), v.trim());
                }
            }
        }
    }
    if let Ok(p) = std::env::var("VPNCLI_SIM_PIDS") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            // One write: concurrent appends must not tear a pid.
            let _ = f.write_all(format!("{}\n", std::process::id()).as_bytes());
        }
    }
    let mut sim = Sim {
        scenario: std::env::var("VPNCLI_SIM_SCENARIO").unwrap_or_else(|_| "ok".into()),
        state_path: std::env::var_os("VPNCLI_SIM_STATE").map(PathBuf::from),
        state: BTreeMap::new(),
        password: std::env::var("VPNCLI_SIM_PASSWORD").unwrap_or_else(|_| "secret".into()),
    };
    sim.load();
    // Whether vpnmon handed its secrets on in the environment (recorded, never their values).
    let inherited = ["VPNMON_PASSWORD", "VPNMON_SMTP_PASSWORD"]
        .iter()
        .any(|k| std::env::var_os(k).is_some());
    sim.set("secret_env", if inherited { "inherited" } else { "none" });
    sim.run();
}
