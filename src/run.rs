//! The composition root: builds settings, prober, drivers and sinks, runs the `Monitor`, and
//! maps the outcome to the process exit code (`exit_code`, the one place that decides it).

use crate::alert::{self, AlertSink, Console};
use crate::monitor::{Monitor, MonitorError, Reloaded};
use crate::probe::fake::RuleProber;
use crate::probe::{IcmpProber, ProbeError, Prober};
use crate::settings::{self, ClientConfig, Settings, SettingsError, Site};
use crate::sinks::check::{unknown_line, CheckSink, Status};
use crate::sinks::console::{ConsoleOptions, ConsoleSink};
use crate::sinks::datalog::DatalogSink;
use crate::sinks::json::JsonSink;
use crate::sinks::log::LogSink;
use crate::sinks::service::ServiceSink;
use crate::sinks::{ColorWhen, Output, ProgressWhen, RunEnd, Sink};
use crate::vpn::anyconnect::AnyConnect;
use crate::vpn::openconnect::OpenConnect;
use crate::vpn::sonicwall::SonicWall;
use crate::vpn::{VpnClient, VpnError};
use std::ffi::OsString;
use tokio_util::sync::CancellationToken;

/// Exit codes: 0 done or stopped by Ctrl-C, 1 fatal, 2 usage, 130 a second Ctrl-C (exits at
/// once from the signal watcher).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FATAL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_SECOND_INTERRUPT: i32 = 130;
/// `--check`: the monitoring-plugins UNKNOWN (a bad option, an unreadable file, a fatal error).
pub const EXIT_UNKNOWN: i32 = 3;

/// Everything that can end a run of the monitor, for `exit_code`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Vpn(#[from] VpnError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Alert(#[from] alert::AlertError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// A datalog that can never be written, found before the first cycle.
    #[error(transparent)]
    Datalog(#[from] crate::datalog::DatalogError),
    #[error(transparent)]
    LogFile(#[from] crate::service::logfile::LogFileError),
    #[error("cannot serve metrics on {addr}: {}", crate::error::io_reason(.source))]
    MetricsListen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `vpnmon report`'s command line: clap renders it (help, usage errors).
    #[error("{0}")]
    ReportUsage(#[source] clap::Error),
    /// `vpnmon help|completions|man`'s command line: clap renders it.
    #[error("{0}")]
    CommandUsage(#[source] clap::Error),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The report could not be written out (a full disk, `/dev/full`); a closed pipe is not this.
    #[error("cannot write the report to standard output: {}", crate::error::io_reason(.0))]
    ReportOutput(#[source] std::io::Error),
}

/// What a successful run of the program did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The monitor ran and ended like this.
    Monitor(RunEnd),
    /// `vpnmon report` printed its report.
    Report,
    /// `vpnmon vitals` ran; `false` when it printed an `EE:` line.
    Vitals(bool),
    /// `vpnmon --check` ran its cycle and printed this status.
    Check(Status),
}

/// Whether `--check` was asked for: its errors answer as a monitoring plugin (UNKNOWN, 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Check,
}

/// The one mapping from a run's outcome to the exit status.
pub fn exit_code(mode: Mode, outcome: &Result<Done, RunError>) -> i32 {
    match outcome {
        Ok(Done::Check(status)) => status.code(),
        Ok(Done::Vitals(true)) => EXIT_OK,
        Ok(Done::Vitals(false)) => EXIT_FATAL,
        // Help and version asked for with --check are still help and version.
        Err(RunError::Settings(SettingsError::Clap(e)))
            if mode == Mode::Check && e.exit_code() == 0 =>
        {
            EXIT_OK
        }
        Err(_) if mode == Mode::Check => EXIT_UNKNOWN,
        Ok(Done::Report) => EXIT_OK,
        // A stop asked for by the user exits 0 even when the close could not be confirmed (the
        // console said so); a run that ended by itself with a tunnel that would not close is an
        // error.
        Ok(Done::Monitor(RunEnd::Stopped { .. })) => EXIT_OK,
        Ok(Done::Monitor(RunEnd::Completed { vpn_closed, .. })) => {
            if *vpn_closed {
                EXIT_OK
            } else {
                EXIT_FATAL
            }
        }
        Ok(Done::Monitor(RunEnd::Failed { .. })) => EXIT_FATAL,
        Err(RunError::Settings(SettingsError::Clap(e)))
        | Err(RunError::ReportUsage(e))
        | Err(RunError::CommandUsage(e)) => e.exit_code(),
        Err(RunError::Settings(SettingsError::Usage(_))) => EXIT_USAGE,
        Err(_) => EXIT_FATAL,
    }
}

/// Runs vpnmon with `args` (program name first) and returns the process exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    // `vpnmon help [report]` is `--help` of the monitor or of the report.
    let args = match args.get(1).and_then(|a| a.to_str()) {
        Some("help") => {
            let mut to = vec![args[0].clone()];
            to.extend(args[2..].iter().take(1).cloned());
            to.push("--help".into());
            to
        }
        _ => args,
    };
    match args.get(1).and_then(|a| a.to_str()) {
        Some("completions") | Some("man") => {
            let outcome = generated(&args);
            if let Err(e) = &outcome {
                print_error(e);
            }
            return exit_code(Mode::Normal, &outcome);
        }
        // Any other topic: a usage error that names the topics.
        Some(t)
            if args.len() > 2
                && args[2] == "--help"
                && t != "report"
                && t != "vitals"
                && t != "--help" =>
        {
            let e = clap::Error::raw(
                clap::error::ErrorKind::InvalidSubcommand,
                format!(
                    "no help on '{t}': try `vpnmon help`, `vpnmon help report` or \
                     `vpnmon help vitals`\n"
                ),
            );
            let outcome: Result<Done, RunError> = Err(RunError::CommandUsage(e));
            if let Err(e) = &outcome {
                print_error(e);
            }
            return exit_code(Mode::Normal, &outcome);
        }
        _ => {}
    }
    // `vpnmon report FILE…` has its own parser; the monitor's (legacy-option) parsing is untouched.
    let is_report = args.get(1).is_some_and(|a| a == "report");
    let is_vitals = args.get(1).is_some_and(|a| a == "vitals");
    let mode = if !is_report && !is_vitals && crate::cli::asks_for_check(&args) {
        Mode::Check
    } else {
        Mode::Normal
    };
    let outcome = if is_report {
        report(args)
    } else if is_vitals {
        vitals(args)
    } else {
        run(args)
    };
    match &outcome {
        // A monitoring plugin answers every failure with one UNKNOWN line on stdout.
        Err(e) if mode == Mode::Check && exit_code(mode, &outcome) == EXIT_UNKNOWN => {
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "{}", unknown_line(&e.to_string()));
        }
        Err(e) => print_error(e),
        Ok(_) => {}
    }
    exit_code(mode, &outcome)
}

/// Says what failed: clap renders its own errors (help, usage), the rest is `Error: …`.
fn print_error(e: &RunError) {
    match e {
        RunError::Settings(SettingsError::Clap(e))
        | RunError::ReportUsage(e)
        | RunError::CommandUsage(e) => {
            let _ = e.print();
        }
        e => {
            // Never a panic on a closed or full stderr (`eprintln!` would panic: exit 101); the
            // exit code still says what happened. A value from a file or the network inside the
            // message cannot reach the terminal raw.
            use std::io::Write;
            let text = e.to_string();
            let lines: Vec<String> = text.lines().map(crate::text::escape).collect();
            let _ = writeln!(std::io::stderr(), "Error: {}", lines.join("\n"));
        }
    }
}

/// `vpnmon completions SHELL` and `vpnmon man`: generated from the clap definition.
fn generated(args: &[OsString]) -> Result<Done, RunError> {
    use std::io::Write;
    let mut buf = Vec::new();
    if args[1] == "man" {
        // No arguments; `vpnmon man --help` works as any command's.
        clap::Command::new("man")
            .bin_name("vpnmon man")
            .about("Print vpnmon's man page (roff) on stdout")
            .try_get_matches_from(
                std::iter::once(OsString::from("vpnmon man")).chain(args[2..].iter().cloned()),
            )
            .map_err(RunError::CommandUsage)?;
        clap_mangen::Man::new(crate::cli::full_command())
            .render(&mut buf)
            .map_err(RunError::ReportOutput)?;
    } else {
        let m = crate::cli::completions_command()
            .try_get_matches_from(
                std::iter::once(OsString::from("vpnmon completions"))
                    .chain(args[2..].iter().cloned()),
            )
            .map_err(RunError::CommandUsage)?;
        let shell = *m
            .get_one::<clap_complete::Shell>("shell")
            .expect("required by clap");
        clap_complete::generate(shell, &mut crate::cli::full_command(), "vpnmon", &mut buf);
    }
    let mut so = std::io::stdout().lock();
    match so.write_all(&buf).and_then(|()| so.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(RunError::ReportOutput(e)),
        _ => Ok(Done::Report),
    }
}

/// `vpnmon report`: reads the datalogs, prints the report on stdout, warnings on stderr.
fn report(args: Vec<OsString>) -> Result<Done, RunError> {
    let cli = crate::report::parse(args).map_err(RunError::ReportUsage)?;
    let mut warn = |line: &str| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{line}");
    };
    let out = crate::report::run(&cli, &mut warn)?;
    use std::io::Write;
    let mut so = std::io::stdout().lock();
    // A closed stdout (`vpnmon report … | head`) is not an error of the report; any other
    // failure (a full disk) is: the report would be cut short without a word.
    match so.write_all(out.as_bytes()).and_then(|()| so.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(RunError::ReportOutput(e)),
        _ => Ok(Done::Report),
    }
}

/// `vpnmon vitals HOST…`: connvitals' checks; results on stdout, `EE:`/`WW:` lines on stderr.
fn vitals(args: Vec<OsString>) -> Result<Done, RunError> {
    let cli = crate::vitals::parse(args).map_err(RunError::CommandUsage)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    // connmonitor's input from standard input is read whole before the monitor starts.
    let stdin_input = match &cli.monitor {
        Some(p) if p.as_os_str() == "-" => {
            use std::io::Read;
            let mut text = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                let mut out = VitalsOutput::new();
                use crate::vitals::Output;
                out.error(&crate::vitals::format::error_line(
                    "OSError",
                    &format!(
                        "cannot read standard input: {}",
                        crate::error::io_reason(&e)
                    ),
                    &crate::vitals::format::ctime(chrono::Local::now()),
                ));
                return Ok(Done::Vitals(false));
            }
            Some(text)
        }
        _ => None,
    };
    let done = rt.block_on(async move {
        let cancel = CancellationToken::new();
        crate::platform::watch_signals(cancel.clone(), crate::platform::StopCause::default());
        let mut out = VitalsOutput::new();
        use crate::vitals::Output;
        let now = || crate::vitals::format::ctime(chrono::Local::now());
        if let Some(file) = &cli.monitor {
            use crate::vitals::monitor::{self, Source};
            let source = match stdin_input {
                Some(text) => Source::Stdin(text),
                None => Source::File(file),
            };
            // The fallback's notice once, when the prober is first made (a reload with another
            // payload makes a new one).
            let told = std::sync::atomic::AtomicBool::new(false);
            let prober_for = |payload: u16| {
                let (p, notice) = prober_with(
                    cli.debug_fake_ping,
                    cli.debug_system_ping,
                    Some(payload.into()),
                )
                .map_err(|e| e.to_string())?;
                if let Some(n) = notice {
                    if !told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        VitalsOutput::new().warning(&crate::vitals::format::warning_line(
                            &n,
                            &crate::vitals::format::ctime(chrono::Local::now()),
                        ));
                    }
                }
                Ok(p)
            };
            let r = monitor::run(
                source,
                &cli.tcp,
                cli.debug_fake_ping,
                &prober_for,
                &cancel,
                &mut out,
            )
            .await;
            return Ok(match r {
                Ok(()) => Done::Vitals(true),
                Err(e) => {
                    out.error(&crate::vitals::format::error_line("OSError", &e, &now()));
                    Done::Vitals(false)
                }
            });
        }
        // Without pings no ICMP permission is needed, nor a word about the fallback.
        let (prober, notice) = prober_with(
            cli.debug_fake_ping || cli.no_ping,
            cli.debug_system_ping,
            Some(usize::from(cli.payload_size)),
        )?;
        if let Some(n) = notice {
            out.warning(&crate::vitals::format::warning_line(&n, &now()));
        }
        let ok = crate::vitals::run(&cli, prober.as_ref(), &cancel, &mut out)
            .await
            .unwrap_or(true);
        Ok(Done::Vitals(ok))
    });
    // Traces still running on the blocking pool after a stop are not waited for.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    done
}

/// `vpnmon vitals`' output: results on stdout (a closed pipe is not an error), `EE:` lines red
/// and `WW:` lines yellow on stderr where colour is on (anstream: NO_COLOR, CLICOLOR_FORCE,
/// the terminal).
struct VitalsOutput {
    err: anstream::AutoStream<std::io::Stderr>,
}

impl VitalsOutput {
    fn new() -> VitalsOutput {
        VitalsOutput {
            err: anstream::AutoStream::auto(std::io::stderr()),
        }
    }

    fn styled(&mut self, line: &str, color: anstyle::AnsiColor) {
        use std::io::Write;
        let style = anstyle::Style::new().fg_color(Some(anstyle::Color::Ansi(color)));
        let _ = writeln!(self.err, "{style}{line}{style:#}");
    }
}

impl crate::vitals::Output for VitalsOutput {
    fn result(&mut self, text: &str) {
        use std::io::Write;
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(text.as_bytes()).and_then(|()| so.flush());
    }
    fn error(&mut self, line: &str) {
        self.styled(line, anstyle::AnsiColor::Red);
    }
    fn warning(&mut self, line: &str) {
        self.styled(line, anstyle::AnsiColor::Yellow);
    }
}

fn run(args: Vec<OsString>) -> Result<Done, RunError> {
    let mut notices = Vec::new();
    let loaded = settings::load(args.clone(), &mut notices);
    // With --json and --check stdout is the machine's: notices go to stderr.
    let json = matches!(&loaded, Ok(s) if s.output != Output::Console);
    {
        // stdout carries only JSON lines with --json. A closed stdout (`vpnmon | head`) must
        // not stop the monitor: write errors are ignored.
        use std::io::Write;
        let mut out: Box<dyn Write> = if json {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        };
        // A warning for the operator (the -pass one) goes to stderr: stdout keeps the
        // original's lines.
        for n in &notices {
            if n.starts_with(settings::WARNING) {
                let _ = writeln!(std::io::stderr(), "{n}");
            } else {
                let _ = writeln!(out, "{n}");
            }
        }
    }
    let settings = loaded?;
    if settings.output == Output::Tui {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() {
            return Err(SettingsError::Usage(
                "--tui needs a terminal, and standard output is not one (a pipe or a file): \
                 run it in a terminal, or drop --tui for the console lines"
                    .to_string(),
            )
            .into());
        }
    }
    settings::check_files(&settings)?;
    let check = matches!(settings.output, Output::Check(_));
    let check_outcome = crate::sinks::check::Outcome::default();
    let check_sink = check_outcome.clone();
    if let Some(log) = &settings.service.log {
        crate::service::logfile::init(log)?;
        tracing::info!("vpnmon {} starting", env!("CARGO_PKG_VERSION"));
        for n in &notices {
            tracing::warn!("{}", crate::text::escape(n));
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let outcome: Result<RunEnd, RunError> = rt.block_on(async move {
        let cancel = CancellationToken::new();
        let stop = crate::platform::StopCause::default();
        crate::platform::watch_signals(cancel.clone(), stop.clone());
        // Before the first cycle opens a VPN: a datalog that can never be written is fatal
        // now, and a journal left by a kill is finished.
        DatalogSink::from_config(&settings.datalog).start()?;
        let mut vpns = Vec::with_capacity(settings.sites.len());
        for site in &settings.sites {
            vpns.push(driver_for(site)?);
        }
        for v in vpns.iter_mut().flatten() {
            v.check().await?;
        }
        // The client is looked for first: a missing client is the more useful message.
        let (prober, notice) = prober_for(&settings)?;
        if let Some(n) = notice {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{n}");
            tracing::warn!("{}", crate::text::escape(&n));
        }
        let (control, control_requests) = crate::control::channel();
        let controls = crate::tui::Controls {
            cancel: cancel.clone(),
            stop: stop.clone(),
            control,
        };
        let mut sinks = sinks_for(&settings, &stop, &check_sink, &controls)?;
        // Service outputs: metrics, liveness (/healthz, the systemd watchdog), STATUS, the log.
        let live = crate::service::Liveness::new();
        let metrics = settings
            .service
            .metrics_listen
            .map(|_| crate::service::metrics::Metrics::new());
        if let (Some(addr), Some(m)) = (settings.service.metrics_listen, &metrics) {
            let bound = crate::service::http::serve(addr, m.clone(), live.clone())
                .await
                .map_err(|source| RunError::MetricsListen { addr, source })?;
            tracing::info!("serving metrics on http://{bound}/metrics");
            // Said where the notices go: with port 0 this is how the port is learnt.
            use std::io::Write;
            let line = format!("Serving metrics on http://{bound}/metrics");
            let _ = if json {
                writeln!(std::io::stderr(), "{line}")
            } else {
                writeln!(std::io::stdout(), "{line}")
            };
        }
        let site_names: Vec<&str> = settings.sites.iter().map(|s| s.vpnname.as_str()).collect();
        sinks.insert(
            0,
            Box::new(ServiceSink::new(
                metrics,
                live.clone(),
                stall_after(&settings),
                &site_names.join(", "),
            )),
        );
        if settings.service.log.is_some() {
            sinks.insert(0, Box::new(LogSink));
        }
        let reloads = crate::platform::reload_signals();
        let tui = settings.output == Output::Tui;
        let mut monitor = Monitor::new(settings, prober, vpns, sinks, cancel);
        // `--tcp`: vitals' connect check, each connect bounded as vitals bounds its checks.
        monitor = monitor.with_port_checker(Box::new(crate::vitals::scan::TcpConnect {
            timeout: crate::vitals::scan::CHECK_TIMEOUT,
        }));
        if monitor.settings.trace_on_fail {
            monitor =
                monitor.with_tracer(Box::new(crate::vitals::trace::RouteTracer { max_hops: 30 }));
        }
        if tui {
            monitor.control_with(control_requests);
        }
        monitor.reload_with(reloads, Box::new(move || reload(&args)));
        crate::service::notify::spawn_watchdog(live);
        // Start-up checks are done (files, client, prober, datalog, metrics port).
        crate::service::notify::ready();
        Ok(monitor.run().await?)
    });
    // A name lookup still running on a blocking thread (a DNS server that does not answer)
    // must not hold the exit back after a Ctrl-C.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    let end = outcome?;
    Ok(if check {
        Done::Check(check_outcome.get().unwrap_or(Status::Unknown))
    } else {
        Done::Monitor(end)
    })
}

/// SIGHUP: the params file and the command line read again, checked as at start-up, and each
/// site's targets file read once (one that cannot be read fails the reload).
fn reload(args: &[OsString]) -> Result<Reloaded, String> {
    let mut notices = Vec::new();
    let settings = settings::load(args.to_vec(), &mut notices).map_err(|e| e.to_string())?;
    settings::check_files(&settings).map_err(|e| e.to_string())?;
    for site in &settings.sites {
        crate::targets::read(&site.targets).map_err(|e| {
            format!(
                "cannot read the vpnmon targets file {}: {}",
                crate::text::shown_path(&site.targets),
                crate::error::io_reason(&e)
            )
        })?;
    }
    let mut vpns = Vec::with_capacity(settings.sites.len());
    for site in &settings.sites {
        vpns.push(driver_for(site).map_err(|e| e.to_string())?);
    }
    Ok(Reloaded { settings, vpns })
}

/// How long a cycle may go without a record before /healthz and the watchdog call the loop
/// stalled: the slowest single test (a VPN open or close with its timeout, a ping of every
/// echo timing out) with a minute's margin (shorter with the hidden `--debug-stall-margin`).
fn stall_after(settings: &Settings) -> std::time::Duration {
    use std::time::Duration;
    let client = settings
        .sites
        .iter()
        .map(|s| match &s.client {
            ClientConfig::None => Duration::ZERO,
            ClientConfig::AnyConnect(c) => c.timeout * 2,
            ClientConfig::OpenConnect(c) => c.timeout * 2,
            ClientConfig::SonicWall(c) => c.timeout * 2,
        })
        .max()
        .unwrap_or_default();
    let p = &settings.probe;
    let ping = p.target.timeout * (p.target.count + 1) + p.gateway.timeout * (p.gateway.count + 1);
    let margin = settings
        .service
        .stall_margin
        .unwrap_or(Duration::from_secs(60));
    client.max(ping) + margin
}

/// The driver a site's client config asks for; `None` without a VPN client.
pub fn driver_for(site: &Site) -> Result<Option<Box<dyn VpnClient>>, VpnError> {
    Ok(match &site.client {
        ClientConfig::None => None,
        ClientConfig::AnyConnect(cfg) => Some(Box::new(AnyConnect::new(cfg.clone()))),
        ClientConfig::OpenConnect(cfg) => Some(Box::new(OpenConnect::new(cfg.clone()))),
        ClientConfig::SonicWall(cfg) => Some(Box::new(SonicWall::new(cfg.clone()))),
    })
}

/// The prober, and the one start-up notice that says which method is in use when it is not a
/// socket of vpnmon's own: an ICMP ping socket (unprivileged, where the kernel allows it), else
/// a raw socket (root or `cap_net_raw`), else the system's `ping` program (slower: a process per
/// host). On Windows the ICMP API (`IcmpSendEcho2`) comes first, raw sockets after it. The
/// built-in fake with the hidden `--debug-fake-ping`; `--debug-system-ping` forces the `ping`
/// program (tests).
pub fn prober_for(settings: &Settings) -> Result<(Box<dyn Prober>, Option<String>), ProbeError> {
    prober_with(settings.probe.fake, settings.probe.system_ping, None)
}

/// The prober for these choices; `payload`: the echo payload's size where the prober can set
/// it (`vpnmon vitals --payload-size`; the socket prober).
fn prober_with(
    fake: bool,
    system_ping: bool,
    payload: Option<usize>,
) -> Result<(Box<dyn Prober>, Option<String>), ProbeError> {
    if fake {
        return Ok((Box::new(RuleProber), None));
    }
    let denied = if system_ping {
        None
    } else {
        // Windows: the ICMP API (no Administrator needed); sockets are the fallback.
        if let Some(p) = crate::probe::os_prober() {
            return Ok((p, None));
        }
        // surge-ping tries the datagram (ping) socket first, then the raw one.
        match IcmpProber::new() {
            Ok(p) => {
                let p = match payload {
                    Some(n) => p.with_payload(n),
                    None => p,
                };
                return Ok((Box::new(p), None));
            }
            Err(ProbeError::PermissionDenied(e)) => Some(e),
            Err(e) => return Err(e),
        }
    };
    system_ping_fallback(denied)
}

#[cfg(unix)]
fn system_ping_fallback(
    denied: Option<std::io::Error>,
) -> Result<(Box<dyn Prober>, Option<String>), ProbeError> {
    use crate::probe::system_ping::{find_ping, SystemPingProber};
    let Some(program) = find_ping() else {
        return Err(match denied {
            Some(e) => ProbeError::NoPingProgram(e),
            None => ProbeError::Socket(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no `ping` program on PATH or in /bin, /usr/bin, /sbin, /usr/sbin",
            )),
        });
    };
    let why = if denied.is_some() {
        "this user may open neither an ICMP ping socket nor a raw socket"
    } else {
        "forced by --debug-system-ping"
    };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/path/to/vpnmon".into());
    let notice = format!(
        "vpnmon: pinging with the system's ping program ({}), one process per host: {why}. \
         For faster pings from vpnmon's own socket: `sudo sysctl -w \
         net.ipv4.ping_group_range=\"0 2147483647\"` (ping sockets for all users), or \
         `sudo setcap cap_net_raw+ep {exe}` (raw sockets for vpnmon)",
        program.display()
    );
    Ok((Box::new(SystemPingProber::new(program)), Some(notice)))
}

/// No `ping` fallback where `ping` takes other options (Windows): today's error.
#[cfg(not(unix))]
fn system_ping_fallback(
    denied: Option<std::io::Error>,
) -> Result<(Box<dyn Prober>, Option<String>), ProbeError> {
    Err(match denied {
        Some(e) => ProbeError::PermissionDenied(e),
        None => ProbeError::Socket(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the system's ping program is used only on Unix",
        )),
    })
}

/// The outputs the settings ask for: the datalog, the mail/hook alerts, the console (or JSON)
/// after them so its closing lines come after theirs, and the sound last, so a bell rings after
/// its line.
pub fn sinks_for(
    settings: &Settings,
    stop: &crate::platform::StopCause,
    check: &crate::sinks::check::Outcome,
    controls: &crate::tui::Controls,
) -> Result<Vec<Box<dyn Sink>>, alert::AlertError> {
    let console = Console::for_output(settings.output);
    // `{site}` in the datalog's name: one file per site.
    let mut sinks: Vec<Box<dyn Sink>> = if crate::datalog::per_site(&settings.datalog.path) {
        settings
            .sites
            .iter()
            .map(|s| {
                Box::new(crate::sinks::datalog::SiteDatalog::new(
                    &s.vpnname,
                    &settings.datalog,
                )) as Box<dyn Sink>
            })
            .collect()
    } else {
        vec![Box::new(DatalogSink::from_config(&settings.datalog))]
    };
    let a = &settings.alerts;
    let site_names: Vec<&str> = settings.sites.iter().map(|s| s.vpnname.as_str()).collect();
    if let Some(sink) = AlertSink::build(a, &site_names.join(", "), console)? {
        sinks.push(Box::new(sink));
    }
    match settings.output {
        Output::Json => sinks.push(Box::new(
            JsonSink::new(std::io::stdout(), std::io::stderr())
                .deferring_failed(settings.trace_on_fail),
        )),
        Output::Console => sinks.push(Box::new(console_sink(settings, stop))),
        Output::Tui => sinks.push(Box::new(crate::tui::TuiSink::new(
            has_vpn(settings),
            controls.clone(),
            settings.terminal.debug_tui_panic,
        ))),
        Output::Check(cfg) => sinks.push(Box::new(CheckSink::new(
            std::io::stdout(),
            cfg,
            check.clone(),
        ))),
    }
    // After the console: a bell rings right after its line, as the original's.
    if a.beep {
        sinks.push(Box::new(alert::sound::SoundSink::new(
            a.sound_file.as_deref(),
            console.bell_terminal(),
            Box::new(std::io::stderr()),
        )?));
    }
    Ok(sinks)
}

/// Some site drives a VPN client (the stop lines speak of the VPN, the view's phases open it).
fn has_vpn(settings: &Settings) -> bool {
    settings
        .sites
        .iter()
        .any(|s| !matches!(s.client, ClientConfig::None))
}

/// The console on stdout: the original's lines, plus (on a terminal or `--verbose`) the lines
/// naming failures, with colour as `--color`, NO_COLOR and CLICOLOR_FORCE decide (anstream
/// strips the styles where colour is off, and enables them on a Windows console).
fn console_sink(
    settings: &Settings,
    stop: &crate::platform::StopCause,
) -> ConsoleSink<crate::sinks::console::ConsoleOut> {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let on_terminal = stdout.is_terminal();
    let choice = match settings.terminal.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    let stream = anstream::AutoStream::new(stdout, choice);
    let color = stream.current_choice() != anstream::ColorChoice::Never;
    let opts = ConsoleOptions {
        detail: on_terminal || settings.terminal.verbose,
        color,
        has_vpn: has_vpn(settings),
        stop: stop.clone(),
        // Never an escape code where stdout is not a terminal (indicatif draws nothing there
        // either).
        live: on_terminal
            && match settings.terminal.progress {
                ProgressWhen::Auto => std::env::var_os("TERM").is_none_or(|t| t != "dumb"),
                ProgressWhen::Always => true,
                ProgressWhen::Never => false,
            },
    };
    ConsoleSink::with_options(crate::sinks::console::ConsoleOut::new(stream), opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let end = |e| Ok(Done::Monitor(e));
        let cases: Vec<(Result<Done, RunError>, i32)> = vec![
            (Ok(Done::Report), 0),
            (
                end(RunEnd::Completed {
                    cycles: 2,
                    vpn_closed: true,
                }),
                0,
            ),
            // A run that ended by itself with a tunnel that would not close is an error …
            (
                end(RunEnd::Completed {
                    cycles: 2,
                    vpn_closed: false,
                }),
                1,
            ),
            // … a stop asked for by the user is not (the console said what was left).
            (
                end(RunEnd::Stopped {
                    cycles: 1,
                    vpn_closed: false,
                }),
                0,
            ),
            (
                end(RunEnd::Failed {
                    cycles: 1,
                    vpn_closed: true,
                }),
                1,
            ),
            (Err(RunError::Settings(SettingsError::Usage("x".into()))), 2),
            (
                Err(RunError::Settings(SettingsError::Params("p.csv:1".into()))),
                1,
            ),
            (
                Err(RunError::Settings(
                    settings::from_command_line(["vpnmon", "--bogus"]).unwrap_err(),
                )),
                2,
            ),
            (
                Err(RunError::ReportUsage(
                    crate::report::parse(vec!["vpnmon".into(), "report".into(), "--bogus".into()])
                        .unwrap_err(),
                )),
                2,
            ),
            (Err(RunError::Runtime(std::io::Error::other("x"))), 1),
        ];
        for (outcome, want) in cases {
            assert_eq!(exit_code(Mode::Normal, &outcome), want, "{outcome:?}");
        }
        // --check: its statuses, and UNKNOWN (3) for every failure but help and version.
        let check: Vec<(Result<Done, RunError>, i32)> = vec![
            (Ok(Done::Check(Status::Ok)), 0),
            (Ok(Done::Check(Status::Warning)), 1),
            (Ok(Done::Check(Status::Critical)), 2),
            (Ok(Done::Check(Status::Unknown)), 3),
            (Err(RunError::Settings(SettingsError::Usage("x".into()))), 3),
            (
                Err(RunError::Settings(
                    settings::from_command_line(["vpnmon", "--check", "--bogus"]).unwrap_err(),
                )),
                3,
            ),
            (
                Err(RunError::Settings(
                    settings::from_command_line(["vpnmon", "--check", "--help"]).unwrap_err(),
                )),
                0,
            ),
            (Err(RunError::Runtime(std::io::Error::other("x"))), 3),
        ];
        for (outcome, want) in check {
            assert_eq!(exit_code(Mode::Check, &outcome), want, "{outcome:?}");
        }
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(crate::cli::asks_for_check(&args(&["vpnmon", "-check"])));
        assert!(crate::cli::asks_for_check(&args(&[
            "vpnmon",
            "--check=true"
        ])));
        assert!(!crate::cli::asks_for_check(&args(&[
            "vpnmon", "--", "--check"
        ])));
        assert!(!crate::cli::asks_for_check(&args(
            &["--check", "--json"][..1]
        )));
    }

    /// `--debug-system-ping` selects the `ping` program with its one notice, which names the
    /// program and the two ways to the faster sockets.
    #[cfg(unix)]
    #[test]
    fn the_forced_fallback_says_so_once() {
        let mut s =
            settings::from_command_line(["vpnmon", "--vpnclient", "none", "--debug-system-ping"])
                .unwrap();
        assert!(s.probe.system_ping);
        let Some(ping) = crate::probe::system_ping::find_ping() else {
            crate::test_skip::skip("the_forced_fallback_says_so_once", "no `ping` program");
            return;
        };
        let (_, notice) = prober_for(&s).unwrap();
        let notice = notice.unwrap();
        assert!(notice.contains(&format!("system's ping program ({})", ping.display())));
        assert!(notice.contains("forced by --debug-system-ping"), "{notice}");
        assert!(notice.contains("net.ipv4.ping_group_range=\"0 2147483647\""));
        assert!(notice.contains("setcap cap_net_raw+ep"));
        // The fake prober wins and says nothing.
        s.probe.fake = true;
        assert!(prober_for(&s).unwrap().1.is_none());
    }
}
