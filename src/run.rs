//! Wires settings, prober, driver and sinks into a `Monitor` and runs it: what `main` calls.

use crate::monitor::Monitor;
use crate::probe::IcmpProber;
use crate::settings::{self, SettingsError};
use crate::sinks::console::ConsoleSink;
use crate::sinks::datalog::DatalogSink;
use crate::sinks::json::JsonSink;
use crate::sinks::{RunEnd, Sink};
use std::ffi::OsString;
use tokio_util::sync::CancellationToken;

/// Exit codes: 0 done or stopped by Ctrl-C, 1 fatal, 2 usage.
pub const EXIT_FATAL: i32 = 1;

/// Runs vpnmon with `args` (program name first) and returns the process exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    // `vpnmon report FILE…` has its own parser; the monitor's (legacy-option) parsing is untouched.
    if args.get(1).is_some_and(|a| a == "report") {
        return crate::report::main(args);
    }
    let mut notices = Vec::new();
    let loaded = settings::load(args, &mut notices);
    let json = matches!(&loaded, Ok(s) if s.cli.datalog_opts.json == Some(true));
    {
        // stdout carries only JSON lines with --json. A closed stdout (`vpnmon | head`) must
        // not stop the monitor: write errors are ignored.
        use std::io::Write;
        let mut out: Box<dyn Write> = if json {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        };
        for n in &notices {
            let _ = writeln!(out, "{n}");
        }
    }
    let settings = match loaded {
        Ok(s) => s,
        Err(SettingsError::Clap(e)) => {
            let _ = e.print();
            return e.exit_code();
        }
        Err(e) => {
            eprintln!("Error: {e}");
            return e.exit_code();
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return EXIT_FATAL;
        }
    };
    let code = rt.block_on(async move {
        let cancel = CancellationToken::new();
        crate::platform::watch_signals(cancel.clone());
        let mut vpn = match crate::vpn::driver_for(&settings) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("Error: {e}");
                return EXIT_FATAL;
            }
        };
        if let Some(v) = vpn.as_deref_mut() {
            if let Err(e) = v.check() {
                eprintln!("Error: {e}");
                return EXIT_FATAL;
            }
        }
        // The client is looked for first: a missing client is the more useful message.
        let prober = match IcmpProber::new() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("Error: {e}");
                return EXIT_FATAL;
            }
        };
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        sinks.push(Box::new(DatalogSink::from_args(
            &settings.datalog,
            &settings.cli.datalog_opts,
        )));
        match crate::alert::sinks_for(&settings) {
            Ok(alert_sinks) => sinks.extend(alert_sinks),
            Err(e) => {
                eprintln!("Error: {e}");
                return EXIT_FATAL;
            }
        }
        // The console last, so its closing lines come after the others have finished.
        if json {
            sinks.push(Box::new(JsonSink::new(
                std::io::stdout(),
                std::io::stderr(),
            )));
        } else {
            sinks.push(Box::new(ConsoleSink::new(std::io::stdout())));
        }
        let mut monitor = Monitor::new(settings, Box::new(prober), vpn, sinks, cancel);
        match monitor.run().await {
            // A stop asked for by the user exits 0 even when the close could not be confirmed
            // (the console said so); a run that ended by itself with a tunnel that would not
            // close is an error.
            Ok(RunEnd::Stopped { .. }) => 0,
            Ok(RunEnd::Completed { .. }) if monitor.vpn_closed => 0,
            Ok(RunEnd::Completed { .. }) => EXIT_FATAL,
            Err(e) => {
                eprintln!("Error: {e:#}");
                EXIT_FATAL
            }
        }
    });
    // A name lookup still running on a blocking thread (a DNS server that does not answer)
    // must not hold the exit back after a Ctrl-C.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}
