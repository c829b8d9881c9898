//! The command line: the clap definition, and the rewriting of the original's single-dash long
//! options (`-vpnurlip X`) into `--vpnurlip=X` before clap sees them. Reads no files.
//!
//! Feature areas keep their options in their own `#[command(flatten)]` group below, so each
//! option is declared once and is automatically settable from the params file under its long name.

use crate::alert::mail::SmtpTls;
use crate::datalog::{parse_size, DatalogFormat, RotateEvery};
use crate::vpn::{Secret, VpnClientKind};
use clap::{ArgAction, Args, CommandFactory, Parser};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Every long option also works with one dash, as in the original vpnmon:
  -vpnname, -vpnurlip, -user, -pass, -targets, -cycles, -delay, -datalog, -quiet
and may be shortened to any unambiguous beginning (-cyc 1 -del 0 -qui, --cyc 1).
Every option can also be set in the params file (vpnmon_params.csv) as a line
  name,value    (for example: vpnurlip,vpn.example.org   or   quiet,True)
Precedence: built-in defaults < params file < command line.
The password can also come from the VPNMON_PASSWORD environment variable, from
--password-file, or from the systemd credential `vpnmon-password` ($CREDENTIALS_DIRECTORY);
those keep it out of the process list, which every user of the machine can read.
SIGHUP reloads the params and targets files between cycles; SIGTERM stops cleanly.

Reports: `vpnmon report FILE...` summarises datalogs (see `vpnmon report --help`).
Vitals: `vpnmon vitals HOST...` pings, traces and port checks, connvitals-style (see
`vpnmon vitals --help`); `vpnmon vitals --monitor [FILE]` is connmonitor.
Exit status: 0 done or stopped with Control-C, 1 fatal error, 2 usage error,
130 a second Control-C (exits at once); with --check 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
Shell completions: `vpnmon completions bash|zsh|fish|powershell`; man page: `vpnmon man`.

Examples:
  vpnmon -vpnurlip vpn.example.org -user VUSER -pass VPASS
  vpnmon                          # everything from vpnmon_params.csv
  vpnmon -delay 600               # override one value of the params file
  vpnmon --vpnclient none --targets lab.csv --cycles 1
  vpnmon --check --critical 10%   # one cycle as a Nagios/Icinga plugin
  vpnmon --tui                    # full-screen live view: p pause, r run now, q quit
  vpnmon report vpnmon_datalog.csv --svg timeline.svg";

/// The usage lines: the monitor and its subcommands.
const USAGE: &str = "vpnmon [OPTIONS]
       vpnmon report [OPTIONS] <FILE>...
       vpnmon vitals [OPTIONS] <HOST>...
       vpnmon help [report|vitals]
       vpnmon completions <bash|zsh|fish|powershell>
       vpnmon man";

/// vpnmon -- VPN Monitor: checks a facility's VPN gateway and the systems behind it.
#[derive(Parser, Debug, Clone, Default)]
#[command(
    name = "vpnmon",
    version,
    disable_version_flag = true,
    args_override_self = true,
    after_help = AFTER_HELP,
    override_usage = USAGE,
    max_term_width = 100
)]
pub struct Cli {
    /// Show the vpnmon version and exit.
    #[arg(short = 'v', short_alias = 'V', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    /// Human-readable name of the facility VPN [default: VPN Gateway]
    #[arg(long, value_name = "VPNNAME", value_parser = parse_name)]
    pub vpnname: Option<String>,

    /// URL or IP address of the facility's VPN gateway on the Internet.
    #[arg(long, value_name = "VPNADDRESS", value_parser = parse_address)]
    pub vpnurlip: Option<String>,

    /// VPN account username (also -user).
    #[arg(long = "username", visible_alias = "user", value_name = "USERNAME")]
    pub username: Option<String>,

    /// VPN account password (also -pass, or VPNMON_PASSWORD). Never printed or logged.
    #[arg(
        long = "password",
        visible_alias = "pass",
        value_name = "PASSWORD",
        env = "VPNMON_PASSWORD",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub password: Option<Secret>,

    /// CSV file of targets, one `address,name` per line [default: vpnmon_targets.csv]
    #[arg(long, value_name = "TARGETSFILE")]
    pub targets: Option<PathBuf>,

    /// Number of test cycles; -1 (any negative number) runs until stopped [default: 200]
    #[arg(long, value_name = "CYCLES", allow_negative_numbers = true, value_parser = parse_cycles)]
    pub cycles: Option<i64>,

    /// Seconds to wait between test cycles, at most 604800 (7 days) [default: 1800]
    #[arg(long, value_name = "SECONDS", value_parser = parse_delay)]
    pub delay: Option<u64>,

    /// CSV file the results are appended to [default: vpnmon_datalog.csv]
    #[arg(long, value_name = "DATALOGFILE")]
    pub datalog: Option<PathBuf>,

    /// Do not beep on failures (`--quiet=false` turns it back off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub quiet: Option<bool>,

    /// Params file to read instead of ./vpnmon_params.csv.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,

    /// Configuration file (TOML: global keys and several [[site]]s; or EpMonitoring's
    /// config.yml); the command line still overrides its global keys
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// VPN client to drive; `none` pings the targets without a VPN [default: anyconnect]
    #[arg(long, value_enum, value_name = "CLIENT")]
    pub vpnclient: Option<VpnClientKind>,

    /// Seconds to wait for the VPN client (any driver) before giving up [default: 120]
    #[arg(long, value_name = "SECONDS", value_parser = parse_vpn_timeout)]
    pub vpn_timeout: Option<u64>,

    /// Echo requests per target (the gateway always gets 2, as the original) [default: 2]
    #[arg(long, value_name = "N", value_parser = parse_pings)]
    pub pings: Option<u32>,

    /// Seconds to wait for each echo reply, fractions allowed, at most 3600 [default: 1]
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,

    /// TCP ports to connect to on every target after the sweep, before the close: a `TCP port`
    /// row per target and port (the connect time, or refused/timeout), not written in the
    /// vpnmon datalog format
    #[arg(long, value_name = "PORT[,PORT...]", value_parser = parse_tcp_ports)]
    pub tcp: Option<TcpPorts>,

    /// Trace the route to every target that ended Fail or Warn, before the close, all at once
    /// (the path in the console and the extended/jsonl datalog)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub trace_on_fail: Option<bool>,

    /// Seconds all of a cycle's --trace-on-fail traces may take together [default: 5]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub trace_deadline: Option<f64>,

    /// Tests only: answer pings from a built-in fake instead of ICMP (see probe::fake).
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub debug_fake_ping: Option<bool>,

    /// Tests only: ping with the system's `ping` program even where an ICMP socket is allowed.
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub debug_system_ping: Option<bool>,

    /// Tests only: the margin past the slowest single test after which /healthz and the systemd
    /// watchdog call the loop stalled (60 s).
    #[arg(long, hide = true, value_name = "SECONDS", value_parser = parse_seconds)]
    pub debug_stall_margin: Option<f64>,

    #[command(flatten)]
    pub anyconnect: AnyConnectArgs,

    #[command(flatten)]
    pub openconnect: OpenConnectArgs,

    #[command(flatten)]
    pub sonicwall: SonicWallArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub datalog_opts: DatalogArgs,

    #[command(flatten)]
    pub terminal: TerminalArgs,

    #[command(flatten)]
    pub check: CheckArgs,

    #[command(flatten)]
    pub service: ServiceArgs,
}

/// The monitoring-plugin mode (Nagios, Icinga, Zabbix, Checkmk).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Monitoring-plugin options")]
pub struct CheckArgs {
    /// Run one cycle and print one status line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN (the monitoring-plugins convention)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool, conflicts_with = "json")]
    pub check: Option<bool>,

    /// With --check: WARNING when this many targets fail, a count or a percentage of the
    /// targets (10%) [default: 1]
    #[arg(long, value_name = "N[%]", value_parser = crate::sinks::check::Threshold::parse)]
    pub warning: Option<crate::sinks::check::Threshold>,

    /// With --check: CRITICAL when this many targets fail, a count or a percentage [default:
    /// 100%]
    #[arg(long, value_name = "N[%]", value_parser = crate::sinks::check::Threshold::parse)]
    pub critical: Option<crate::sinks::check::Threshold>,
}

/// The whole command line as one clap command, for completions and the man page: the monitor's
/// options and the subcommands (`report`, `help`, `completions`, `man`), which `run` dispatches
/// before the monitor's own parser sees the arguments.
pub fn full_command() -> clap::Command {
    use clap::{Arg, Command};
    let report = <crate::report::ReportCli as CommandFactory>::command()
        .name("report")
        .bin_name("vpnmon report");
    Cli::command()
        .bin_name("vpnmon")
        // vpnmon's own `help [report]` below, not clap's generated one.
        .disable_help_subcommand(true)
        .subcommand(report)
        .subcommand(
            Command::new("help")
                .about("Show the help of vpnmon, or of one subcommand")
                .arg(Arg::new("topic").value_parser(["report"])),
        )
        .subcommand(completions_command())
        .subcommand(Command::new("man").about("Print vpnmon's man page (roff) on stdout"))
}

/// `vpnmon completions SHELL`.
pub fn completions_command() -> clap::Command {
    clap::Command::new("completions")
        .bin_name("vpnmon completions")
        .about("Print a completion script for a shell on stdout")
        .arg(
            clap::Arg::new("shell")
                .required(true)
                .value_name("SHELL")
                .value_parser(clap::value_parser!(clap_complete::Shell)),
        )
}

/// Whether the command line asks for the monitoring-plugin mode (`--check`, also `-check` and
/// `--check=true`), so that even a usage error is answered as a plugin must (UNKNOWN, exit 3).
pub fn asks_for_check(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .any(|a| {
            let a = a.strip_prefix("--").or_else(|| a.strip_prefix('-'));
            matches!(a, Some("check") | Some("check=true") | Some("check=True"))
        })
}

/// How the console looks on a terminal (issue 15). Piped output is the original's lines.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Terminal options")]
pub struct TerminalArgs {
    /// After each cycle's summary, name the failed and warned targets also when stdout is not a
    /// terminal (on a terminal they are always named)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub verbose: Option<bool>,

    /// Colour the verdicts: auto (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces
    /// it), always, never [default: auto]
    #[arg(long, value_enum, value_name = "WHEN")]
    pub color: Option<crate::sinks::ColorWhen>,

    /// On a terminal, a spinner with the elapsed time while tests run and a countdown to the
    /// next cycle, under the lines: auto (unless TERM is dumb), always, never [default: auto]
    #[arg(long, value_enum, value_name = "WHEN")]
    pub progress: Option<crate::sinks::ProgressWhen>,

    /// A full-screen live view instead of the console lines (stdout must be a terminal): per
    /// check the last verdict, availability, RTT sparkline and last failure, the cycle's phase
    /// and the countdown. Keys: p pause/resume, r run a cycle now, q quit (closes the VPN as
    /// Ctrl-C does)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool,
          conflicts_with_all = ["json", "check"])]
    pub tui: Option<bool>,

    /// Tests only: the full-screen view panics when it first draws a wait (the terminal must be
    /// given back and the console lines go on).
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub debug_tui_panic: Option<bool>,
}

/// Options for running as a service (systemd, Prometheus, a log file).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Service options")]
pub struct ServiceArgs {
    /// Start a cycle every SECONDS (fractions allowed) instead of waiting --delay after each;
    /// a cycle longer than that starts the next one at once
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    pub interval: Option<f64>,

    /// Serve Prometheus metrics on /metrics and liveness on /healthz at ADDR:PORT
    /// (for example 127.0.0.1:9925) [default: off]
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Write vpnmon's own diagnostics (timestamped, with levels) to this file [default: none]
    #[arg(long = "log-file", value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Start a new log file when it grows past SIZE (5MB, 512KB) [default: 5MB]
    #[arg(long = "log-max-size", value_name = "SIZE", value_parser = parse_size)]
    pub log_max_size: Option<u64>,

    /// Old log files kept (FILE.1 newest … FILE.N) [default: 10]
    #[arg(long = "log-keep", value_name = "N")]
    pub log_keep: Option<u32>,

    /// Read the VPN password from this file (its first line); it must be readable by its owner
    /// only (chmod 600). Safer than -pass, which other users see in `ps`
    #[arg(long = "password-file", value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

/// The longest --interval: the longest --delay.
fn parse_interval(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.01 && n <= MAX_DELAY_SECS as f64 => Ok(n),
        _ => Err(format!(
            "expected seconds from 0.01 to {MAX_DELAY_SECS} (7 days), fractions allowed"
        )),
    }
}

/// Options of the Cisco AnyConnect / Secure Client driver.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Cisco AnyConnect options")]
pub struct AnyConnectArgs {
    /// Path of Cisco's command-line client (vpncli.exe / vpn) [default: the standard places]
    #[arg(long, value_name = "PATH")]
    pub vpncli: Option<PathBuf>,

    /// Group to choose when the gateway offers a list [default: keep the offered one]
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Connect even when the gateway's certificate cannot be verified.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub accept_untrusted_cert: Option<bool>,

    /// Milliseconds to wait before each command typed into vpncli [default: 500]
    #[arg(long, value_name = "MS", value_parser = parse_vpncli_delay)]
    pub vpncli_delay: Option<u64>,
}

fn parse_vpn_timeout(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (1..=3600).contains(&n) => Ok(n),
        _ => Err("expected a whole number of seconds from 1 to 3600".into()),
    }
}

fn parse_vpncli_delay(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n <= 60_000 => Ok(n),
        _ => Err("expected a whole number of milliseconds from 0 to 60000".into()),
    }
}

/// Options of the OpenConnect driver.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "OpenConnect options")]
pub struct OpenConnectArgs {
    /// The openconnect program [default: openconnect on PATH]
    #[arg(long = "openconnect", value_name = "PATH")]
    pub openconnect: Option<PathBuf>,

    /// Trust the gateway whose certificate has this pin (as openconnect prints it: pin-sha256:…)
    #[arg(long, value_name = "PIN")]
    pub servercert: Option<String>,

    /// Trust gateways whose certificate is signed by the CA certificate(s) in FILE
    #[arg(long, value_name = "FILE")]
    pub cafile: Option<PathBuf>,

    /// Do not set up DTLS (UDP); the tunnel then runs over TLS only [default: false]
    #[arg(long = "openconnect-no-dtls", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub no_dtls: Option<bool>,
}

/// Options of the SonicWall Connect Tunnel driver (`--vpnclient sonicwall`).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "SonicWall Connect Tunnel options")]
pub struct SonicWallArgs {
    /// Path of SonicWall's command-line client startct [default: /usr/bin/startct, /usr/local/bin/startct]
    #[arg(long, value_name = "PATH")]
    pub startct: Option<PathBuf>,

    /// Authentication realm given to startct (-r) [default: none, the client's own]
    #[arg(long, value_name = "NAME")]
    pub realm: Option<String>,

    /// Number typed at startct's numbered choice (`your choice [1]:`) [default: 1]
    #[arg(long, value_name = "N", value_parser = parse_sonicwall_choice)]
    pub sonicwall_choice: Option<u32>,
}

fn parse_sonicwall_choice(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=99).contains(&n) => Ok(n),
        _ => Err(
            "expected a whole number from 1 to 99 (an entry of startct's numbered choice)".into(),
        ),
    }
}

/// Options of the alerts (sound, mail, hook).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Alert options")]
pub struct AlertArgs {
    /// WAV file to play on failures instead of the built-in tone.
    #[arg(long, value_name = "FILE.wav")]
    pub sound_file: Option<PathBuf>,

    /// SMTP server for alert mails, HOST or HOST:PORT (enables mail).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub smtp_server: Option<String>,

    /// Sender address of alert mails.
    #[arg(long, value_name = "ADDRESS")]
    pub smtp_from: Option<String>,

    /// Recipient of alert mails; repeat the option for several.
    #[arg(long, value_name = "ADDRESS", action = ArgAction::Append)]
    pub smtp_to: Vec<String>,

    /// Connection security to the SMTP server [default: starttls]
    #[arg(long, value_enum, value_name = "MODE")]
    pub smtp_tls: Option<SmtpTls>,

    /// SMTP login name; the password comes from VPNMON_SMTP_PASSWORD or --smtp-password-file.
    #[arg(long, value_name = "USER")]
    pub smtp_user: Option<String>,

    /// File whose first line is the SMTP password (instead of VPNMON_SMTP_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,

    /// Alert when a check has failed this many cycles in a row [default: 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_after: Option<u64>,

    /// While a check stays down, remind every N further cycles [default: never]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_repeat: Option<u64>,

    /// Program to run (no shell) on each alert, with the facts in VPNMON_* variables and JSON on
    /// stdin.
    #[arg(long, value_name = "PROGRAM")]
    pub on_alert: Option<PathBuf>,

    /// File keeping the failure counters across restarts.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
}

/// Options of the datalog (formats, rotation).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Datalog options")]
pub struct DatalogArgs {
    /// Datalog row format: vpnmon (the original's), extended (header, timings, RTTs), jsonl
    /// [default: vpnmon]
    #[arg(long = "datalog-format", value_enum, value_name = "FORMAT")]
    pub datalog_format: Option<DatalogFormat>,

    /// Start a new datalog file when the next cycle would make it larger than SIZE (10MB, 512KB)
    #[arg(long = "datalog-max-size", value_name = "SIZE",
          value_parser = parse_size)]
    pub datalog_max_size: Option<u64>,

    /// Old datalog files kept by --datalog-max-size (FILE.1 newest … FILE.N) [default: 5]
    #[arg(long = "datalog-keep", value_name = "N")]
    pub datalog_keep: Option<u32>,

    /// One datalog file per local day, the date in its name (`daily`)
    #[arg(long = "datalog-rotate", value_enum, value_name = "WHEN")]
    pub datalog_rotate: Option<RotateEvery>,

    /// Write the records as JSON lines on stdout instead of the console lines
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub json: Option<bool>,
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s))
}

/// A number of cycles; any negative number runs until stopped (as the original did), 0 is none.
fn parse_cycles(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n != 0 => Ok(n.max(-1)),
        _ => Err(
            "expected a whole number of cycles (1 or more), or -1 (any negative number) to run until stopped"
                .into(),
        ),
    }
}

/// The longest pause between cycles: 7 days.
pub const MAX_DELAY_SECS: u64 = 7 * 24 * 3600;

fn parse_delay(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n <= MAX_DELAY_SECS => Ok(n),
        _ => Err(format!(
            "expected a whole number of seconds from 0 to {MAX_DELAY_SECS} (7 days)"
        )),
    }
}

/// The VPN's name: at most `targets::MAX_NAME_CHARS` characters, as a target's name (every row
/// carries it).
fn parse_name(s: &str) -> Result<String, String> {
    if s.chars().count() > crate::targets::MAX_NAME_CHARS {
        return Err(format!(
            "the name is longer than {} characters",
            crate::targets::MAX_NAME_CHARS
        ));
    }
    Ok(s.to_string())
}

/// The gateway's address: the same rules as a targets file's (`targets::check_address`).
fn parse_address(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        // Not given (the params template has `vpnurlip,`); settings decides whether it must be.
        return Ok(String::new());
    }
    crate::targets::check_address(s).map(|_| s.to_string())
}

fn parse_pings(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err("expected a whole number of echo requests from 1 to 100".into()),
    }
}

/// Seconds as a positive decimal number (`1`, `0.5`), at most an hour.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(
            "expected a number of seconds greater than 0 and at most 3600 (1 hour), such as 1 or 0.5"
                .into(),
        ),
    }
}

/// `--tcp`'s ports, in the order given, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPorts(pub Vec<u16>);

/// `PORT[,PORT…]`: whole numbers from 1 to 65535, separated by commas.
fn parse_tcp_ports(s: &str) -> Result<TcpPorts, String> {
    let mut ports = Vec::new();
    for p in s.split(',') {
        match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => {
                if !ports.contains(&n) {
                    ports.push(n);
                }
            }
            _ => {
                return Err(format!(
                    "`{}` is not a TCP port; expected port numbers from 1 to 65535 separated by commas, such as 22,443",
                    p.trim()
                ))
            }
        }
    }
    Ok(TcpPorts(ports))
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    parse_seconds(s)
}

/// True/False as the original's params file wrote it, and the usual spellings.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err("expected True or False".into()),
    }
}

/// How an option is spelled and whether it takes a value, for the legacy rewriting and the
/// params file.
#[derive(Debug, Clone)]
pub struct OptionSpec {
    /// The canonical long name (`username`).
    pub long: String,
    /// The option takes a value in the next token (`--cycles 5`).
    pub takes_value: bool,
    /// The value may only be joined with `=` (`--quiet=false`).
    pub optional_value: bool,
    /// Hidden from the help: reachable by its full name only, never by a prefix.
    pub hidden: bool,
}

/// Every long name and alias of the command (`user` → username), lower-case.
pub fn option_table() -> HashMap<String, OptionSpec> {
    let mut cmd = Cli::command();
    // Built, so that clap's own --help is in the table too (`-hel` is a prefix of it).
    cmd.build();
    let mut table = HashMap::new();
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let takes = arg.get_action().takes_values();
        let optional = takes && arg.get_num_args().is_some_and(|r| r.min_values() == 0);
        let spec = OptionSpec {
            long: long.to_string(),
            takes_value: takes && !optional,
            optional_value: optional,
            hidden: arg.is_hide_set(),
        };
        let mut names = vec![long.to_string()];
        names.extend(
            arg.get_all_aliases()
                .unwrap_or_default()
                .into_iter()
                .map(String::from),
        );
        for n in names {
            table.insert(n.to_ascii_lowercase(), spec.clone());
        }
    }
    table
}

/// The original vpnmon's options (their long names here).
const ORIGINAL_OPTIONS: [&str; 9] = [
    "vpnname", "vpnurlip", "username", "password", "targets", "cycles", "delay", "datalog", "quiet",
];

/// The option a long name stands for: the option of that exact name (or alias), else the one
/// option whose name begins with it (argparse's habit: `-cyc` is `-cycles`), hidden options by
/// their full name only. `Err` lists the candidates of an ambiguous beginning; `Ok(None)` when no
/// option begins with it.
pub fn resolve_long<'a>(
    table: &'a HashMap<String, OptionSpec>,
    name: &str,
) -> Result<Option<&'a OptionSpec>, Vec<String>> {
    let lower = name.to_ascii_lowercase();
    if let Some(spec) = table.get(&lower) {
        return Ok(Some(spec));
    }
    let mut found: Vec<&OptionSpec> = table
        .iter()
        .filter(|(n, spec)| !spec.hidden && n.starts_with(&lower))
        .map(|(_, spec)| spec)
        .collect();
    found.sort_by(|a, b| a.long.cmp(&b.long));
    found.dedup_by(|a, b| a.long == b.long);
    // The original's argparse knew only its own options, so a beginning that was unique there
    // (`-dat` for -datalog) keeps meaning that option although vpnmon added --datalog-format.
    let original: Vec<&OptionSpec> = found
        .iter()
        .copied()
        .filter(|s| ORIGINAL_OPTIONS.contains(&s.long.as_str()))
        .collect();
    if found.len() > 1 && original.len() == 1 {
        return Ok(Some(original[0]));
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(Some(found[0])),
        _ => Err(found.iter().map(|s| format!("--{}", s.long)).collect()),
    }
}

/// Rewrites the original's `-name value` long options (and `--name value`) into `--name=value`
/// so clap neither reads `-vpnurlip` as the cluster `-v -p -n …` nor refuses a value that begins
/// with `-` (`-pass -s3cret`), and completes unambiguous beginnings of names (`-cyc`, `--del`).
/// Stops at `--`; leaves unknown tokens to clap's own error. An ambiguous beginning is a usage
/// error (exit 2) listing the candidates. clap's `infer_long_args` is not used: it knows nothing
/// of the single-dash form, and its error for an ambiguous beginning does not list candidates.
pub fn rewrite_legacy(args: Vec<OsString>) -> Result<Vec<OsString>, clap::Error> {
    let table = option_table();
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    if let Some(prog) = it.next() {
        out.push(prog);
    }
    while let Some(tok) = it.next() {
        let Some(s) = tok.to_str() else {
            out.push(tok);
            continue;
        };
        if s == "--" {
            out.push(tok);
            out.extend(it);
            break;
        }
        let body = if let Some(b) = s.strip_prefix("--") {
            b
        } else if let Some(b) = s.strip_prefix('-') {
            // A single-dash token is a legacy long option only when its whole name is one;
            // `-v`, `-h`, `-V` stay short flags.
            b
        } else {
            out.push(tok);
            continue;
        };
        let (name, joined) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        // Numbers (`-1` as a value clap will refuse) and clap's own short flags (`-v`, `-V`,
        // `-h`) are not long names; any other single letter is a beginning, as in argparse
        // (`-q` is -quiet, `-c 1` is -cycles).
        let short_flag = !s.starts_with("--") && matches!(name, "v" | "V" | "h");
        let spec =
            if !name.is_empty() && !short_flag && !name.starts_with(|c: char| c.is_ascii_digit()) {
                resolve_long(&table, name).map_err(|candidates| {
                    Cli::command().error(
                        clap::error::ErrorKind::UnknownArgument,
                        format!(
                            "the option '{}' is ambiguous: it could be {} (write more of its name)",
                            crate::text::shown(s.split('=').next().unwrap_or(s)),
                            candidates.join(", ")
                        ),
                    )
                })?
            } else {
                None
            };
        let Some(spec) = spec else {
            out.push(tok);
            continue;
        };
        match joined {
            Some(v) => out.push(format!("--{}={v}", spec.long).into()),
            None if spec.takes_value => match it.next() {
                Some(v) => {
                    let mut a = OsString::from(format!("--{}=", spec.long));
                    a.push(v);
                    out.push(a);
                }
                None => out.push(format!("--{}", spec.long).into()),
            },
            None => out.push(format!("--{}", spec.long).into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(args: &[&str]) -> Vec<String> {
        let mut v: Vec<OsString> = vec!["vpnmon".into()];
        v.extend(args.iter().map(OsString::from));
        rewrite_legacy(v)
            .unwrap()
            .into_iter()
            .skip(1)
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn legacy_single_dash_options_become_long_ones() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["-vpnurlip", "vpn.example.org"],
                &["--vpnurlip=vpn.example.org"],
            ),
            (
                &["--vpnurlip", "vpn.example.org"],
                &["--vpnurlip=vpn.example.org"],
            ),
            (
                &["-user", "bob", "-pass", "-s3cret"],
                &["--username=bob", "--password=-s3cret"],
            ),
            (&["-user", "-quiet"], &["--username=-quiet"]),
            (&["-cycles", "-1"], &["--cycles=-1"]),
            (&["-quiet", "-delay", "5"], &["--quiet", "--delay=5"]),
            (&["-QUIET"], &["--quiet"]),
            (&["-v"], &["-v"]),
            (&["-V"], &["-V"]),
            (&["-h"], &["-h"]),
            (&["-vpnname=Site A"], &["--vpnname=Site A"]),
            (&["--", "-vpnurlip"], &["--", "-vpnurlip"]),
            (&["-bogus", "x"], &["-bogus", "x"]),
            // argparse's habit: unambiguous beginnings of long names, in both forms.
            (
                &["-cyc", "1", "-del", "1", "-qui"],
                &["--cycles=1", "--delay=1", "--quiet"],
            ),
            (
                &["--cyc", "-3", "--us=bob"],
                &["--cycles=-3", "--username=bob"],
            ),
            (
                &["-vpnu", "gw", "-pas", "x"],
                &["--vpnurlip=gw", "--password=x"],
            ),
            (&["-datalog", "d.csv"], &["--datalog=d.csv"]),
            // A beginning the original's own options made unique keeps its meaning, although
            // vpnmon added --datalog-format, --delay-… and the like.
            (
                &["-dat", "d.csv", "--da=e.csv"],
                &["--datalog=d.csv", "--datalog=e.csv"],
            ),
            (&["-hel"], &["--help"]),
            // One letter is a beginning too, as in the original's argparse.
            (
                &["-q", "-c", "1", "--t", "t.csv", "-u", "bob", "-p", "x"],
                &[
                    "--quiet",
                    "--cycles=1",
                    "--targets=t.csv",
                    "--username=bob",
                    "--password=x",
                ],
            ),
            (&["-v"], &["-v"]),
            // Hidden options answer to their full name only.
            (&["--debug"], &["--debug"]),
        ];
        for (input, want) in cases {
            assert_eq!(rw(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn ambiguous_beginnings_are_usage_errors_listing_the_candidates() {
        for (arg, want) in [
            ("-vpn", "the option '-vpn' is ambiguous: it could be --vpn-timeout, --vpncli, --vpncli-delay, --vpnclient, --vpnname, --vpnurlip (write more of its name)"),
            ("-d", "the option '-d' is ambiguous: it could be --datalog, --datalog-format, --datalog-keep, --datalog-max-size, --datalog-rotate, --delay (write more of its name)"),
            ("--vpnc=x", "the option '--vpnc' is ambiguous: it could be --vpncli, --vpncli-delay, --vpnclient (write more of its name)"),
            ("--datalog-=x", "the option '--datalog-' is ambiguous: it could be --datalog-format, --datalog-keep, --datalog-max-size, --datalog-rotate (write more of its name)"),
        ] {
            let e = rewrite_legacy(vec!["vpnmon".into(), arg.into()]).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let text = e.render().to_string();
            assert_eq!(text.lines().next(), Some(format!("error: {want}").as_str()), "{text}");
        }
    }

    #[test]
    fn every_original_option_is_known_in_both_spellings() {
        let t = option_table();
        for n in [
            "vpnname",
            "vpnurlip",
            "user",
            "username",
            "pass",
            "password",
            "targets",
            "cycles",
            "delay",
            "datalog",
            "quiet",
            "params",
            "vpnclient",
            "pings",
            "timeout",
        ] {
            assert!(t.contains_key(n), "{n} missing");
        }
        assert!(t["quiet"].optional_value && !t["quiet"].takes_value);
        assert!(t["pass"].takes_value);
    }

    #[test]
    fn tcp_ports_parse_or_name_the_bad_one() {
        assert_eq!(parse_tcp_ports("22, 443,22"), Ok(TcpPorts(vec![22, 443])));
        let e = parse_tcp_ports("22,http").unwrap_err();
        assert!(e.starts_with("`http` is not a TCP port"), "{e}");
        assert!(parse_tcp_ports("0").is_err());
        assert!(parse_tcp_ports("65536").is_err());
        assert!(parse_tcp_ports("").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
