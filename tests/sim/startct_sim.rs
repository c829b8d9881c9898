//! `startct-sim`: a stand-in for SonicWall Connect Tunnel's command-line client `startct`, for
//! the SonicWall driver's tests. It prints the texts of the project's reference transcripts
//! (`Username:`, `Password:`, the numbered choice ending `your choice [1]:`, `CONNECT`, `status`
//! → `Connected`, the "Another instance" refusal); where the reference gives no text (a refused
//! login, the menu's entries) it prints a plausible one.
//!
//! Run under another name it is one of the client's helpers that an unclean stop leaves behind:
//! as `AvConnect`, or as `java` (a copy named so, given `-jar …/SnwlConnect.jar`), it records
//! its pid and waits until it is killed. As `startct` it takes `-s GATEWAY -r REALM -y SECONDS`.
//!
//! Environment:
//! - `STARTCT_SIM_SCENARIO`: `ok` (default); `busy` (another instance: the refusal, exit 1);
//!   `login_failed` (refuses every password: `Authentication failed.`, then `Username:` again);
//!   `hang_before` (after the choice, never connects; ignores Ctrl-C); `hang_after` (after
//!   `CONNECT`, ignores `quit` and Ctrl-C); `crash` (aborts after the choice); `crash_after`
//!   (aborts 300 ms after `CONNECT`: the tunnel drops during the sweep); `eof` (exits without a word after the password);
//!   `leave` (like ok, but `quit` leaves its helpers running); `idle` (no dialogue: a stale
//!   `startct` that waits to be killed).
//! - `STARTCT_SIM_PASSWORD`: the right password (default `secret`); another is refused.
//! - `STARTCT_SIM_PAUSE`: `PHASE:MS` — waits MS before the phase: `start` (before `Username:`),
//!   `password` (after the password is read), `quit` (after `quit` is read, before leaving).
//! - `STARTCT_SIM_HELPERS=1`: on `CONNECT` starts `AvConnect` beside itself and
//!   `$STARTCT_SIM_JAVA -jar <its folder>/SnwlConnect.jar`, in their own process groups; a clean
//!   `quit` ends them.
//! - `STARTCT_SIM_RESOLV`: a file it rewrites on `CONNECT` (mentioning SonicWall) and puts back
//!   on a clean `quit`, unless `STARTCT_SIM_RESOLV_LEAVE=1`.
//! - `STARTCT_SIM_PIDS`: file every simulator process appends its pid to.
//! - `STARTCT_SIM_LOG`: file each appends events to, one a line: `<pid> <ms since the epoch>
//!   <event>` (`start <args>`, `shown username|password|choice`, `typed username <text>`,
//!   `typed password (hidden)`, `typed choice <n>`, `connect`, `command <text>`, `quit`,
//!   `exit`, `pause <phase>`). The password is never written.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn log(event: &str) {
    if let Ok(p) = std::env::var("STARTCT_SIM_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            // One write per line: several processes append to this file at once, and `writeln!`
            // writes its pieces one by one (a line torn by another's, e.g. pid "18" + "17").
            let _ = f.write_all(format!("{} {ms} {event}\n", std::process::id()).as_bytes());
        }
    }
}

fn record_pid(pid: u32) {
    if let Ok(p) = std::env::var("STARTCT_SIM_PIDS") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            // One write: concurrent appends must not tear a pid (see `log`).
            let _ = f.write_all(format!("{pid}\n").as_bytes());
        }
    }
}

fn say(text: &str) {
    let mut o = io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

fn line(text: &str) {
    say(&format!("{text}\r\n"));
}

/// A line typed, or `None` at the end of input.
fn read_line() -> Option<String> {
    let mut s = String::new();
    match io::stdin().lock().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim_end_matches(['\r', '\n']).to_string()),
    }
}

fn scenario() -> String {
    std::env::var("STARTCT_SIM_SCENARIO").unwrap_or_else(|_| "ok".into())
}

fn pause(phase: &str) {
    if let Ok(p) = std::env::var("STARTCT_SIM_PAUSE") {
        if let Some((ph, ms)) = p.split_once(':') {
            if ph == phase {
                log(&format!("pause {phase}"));
                std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
            }
        }
    }
}

/// Stuck for good: not even Ctrl-C (SIGINT) reaches it, only a kill.
fn hang() -> ! {
    ignore_ctrl_c();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn ignore_ctrl_c() {
    #[cfg(unix)]
    // SAFETY: sets SIGINT's disposition to "ignore" (no handler code runs).
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
}

/// Waits until killed (a helper, a stale client).
fn wait_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Reads the password with the terminal's echo off, as a real client does.
fn read_secret() -> Option<String> {
    #[cfg(unix)]
    // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed, then filled, termios.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) == 0 {
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(saved)
        } else {
            None
        }
    };
    let r = read_line();
    #[cfg(unix)]
    if let Some(t) = saved {
        // SAFETY: restores the attributes read above.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &t);
        }
    }
    line("");
    r
}

const RESOLV_TEXT: &str =
    "# Generated by SonicWall Connect Tunnel\nnameserver 198.18.0.53\nsearch corp.example\n";

struct Session {
    helpers: Vec<std::process::Child>,
    resolv: Option<(PathBuf, Vec<u8>)>,
}

impl Session {
    fn start_helpers(&mut self) {
        if std::env::var("STARTCT_SIM_HELPERS").as_deref() != Ok("1") {
            return;
        }
        let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        else {
            return;
        };
        let mut cmds = vec![std::process::Command::new(dir.join("AvConnect"))];
        if let Ok(java) = std::env::var("STARTCT_SIM_JAVA") {
            let mut c = std::process::Command::new(java);
            c.arg("-jar").arg(dir.join("SnwlConnect.jar"));
            cmds.push(c);
        }
        for mut c in cmds {
            #[cfg(unix)]
            {
                use std::os::unix::process::CommandExt;
                c.process_group(0);
            }
            c.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if let Ok(child) = c.spawn() {
                log(&format!("helper {}", child.id()));
                self.helpers.push(child);
            }
        }
    }

    fn rewrite_resolv(&mut self) {
        if let Some(p) = std::env::var_os("STARTCT_SIM_RESOLV").map(PathBuf::from) {
            let before = std::fs::read(&p).unwrap_or_default();
            // In place: the file may be a bind mount.
            if std::fs::write(&p, RESOLV_TEXT).is_ok() {
                log("resolv rewritten");
                self.resolv = Some((p, before));
            }
        }
    }

    /// A clean `quit`: helpers ended, the resolver file put back (unless told to leave them).
    fn quit(&mut self) {
        if scenario() != "leave" {
            for h in &mut self.helpers {
                let _ = h.kill();
                let _ = h.wait();
            }
        }
        if std::env::var("STARTCT_SIM_RESOLV_LEAVE").as_deref() != Ok("1") {
            if let Some((p, before)) = self.resolv.take() {
                let _ = std::fs::write(p, before);
            }
        }
    }
}

fn startct() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    log(&format!("start {}", args.join(" ")));
    let sc = scenario();
    if sc == "idle" {
        wait_forever();
    }
    let gateway = args
        .iter()
        .position(|a| a == "-s")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let realm = args
        .iter()
        .position(|a| a == "-r")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "default".into());
    line("SonicWall Connect Tunnel - command line (simulator)");
    if sc == "busy" {
        line("Another instance of this Application is running. Please close the application and then retry.");
        std::process::exit(1);
    }
    pause("start");
    line(&format!("Connecting to {gateway} ..."));
    let right = std::env::var("STARTCT_SIM_PASSWORD").unwrap_or_else(|_| "secret".into());
    loop {
        say("Username: ");
        log("shown username");
        let Some(user) = read_line() else { return };
        log(&format!("typed username {user}"));
        say("Password: ");
        log("shown password");
        let Some(pw) = read_secret() else { return };
        log("typed password (hidden)");
        pause("password");
        if sc == "eof" {
            std::process::exit(0);
        }
        if sc == "login_failed" || pw != right {
            line("Authentication failed. Please check your username and password.");
            continue;
        }
        break;
    }
    line("Please select a login realm:");
    line(&format!("  1. {realm}"));
    line("  2. Guest");
    say("Enter your choice [1]: ");
    log("shown choice");
    let Some(choice) = read_line() else { return };
    log(&format!("typed choice {choice}"));
    match sc.as_str() {
        "hang_before" => hang(),
        "crash" => std::process::abort(),
        _ => {}
    }
    let mut session = Session {
        helpers: Vec::new(),
        resolv: None,
    };
    session.start_helpers();
    session.rewrite_resolv();
    line("Tunnel established.");
    line("CONNECT");
    log("connect");
    if sc == "hang_after" {
        ignore_ctrl_c();
    }
    if sc == "crash_after" {
        // The tunnel drops a little later (during the sweep), not with the word: a terminal
        // whose other side closes at once may lose its last output.
        std::thread::sleep(Duration::from_millis(300));
        std::process::abort();
    }
    while let Some(cmd) = read_line() {
        let cmd = cmd.trim().to_string();
        log(&format!("command {cmd}"));
        match cmd.as_str() {
            "status" => line("Connected"),
            "quit" if sc == "hang_after" => {}
            "quit" => {
                log("quit");
                pause("quit");
                line("Disconnecting...");
                session.quit();
                log("exit");
                return;
            }
            "" => {}
            other => line(&format!("Unknown command: {other}")),
        }
    }
    session.quit();
    log("exit");
}

fn main() {
    record_pid(std::process::id());
    let name = std::env::args()
        .next()
        .map(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    // Its own executable's name too: a copy run under another argv[0] is still that copy.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if [name.as_str(), exe.as_str()]
        .iter()
        .any(|n| *n == "AvConnect" || *n == "java")
    {
        log(&format!("helper-run {name}"));
        wait_forever();
    }
    startct();
}
