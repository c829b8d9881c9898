//! `vpnmon vitals --monitor [FILE]`: connmonitor. Its input — a first line `DOPINGS DOTRACE
//! DOPSCAN NUMPINGS PAYLOAD HOPS JSON SLEEP` (integers, SLEEP in ms), then one host per line —
//! from FILE or stdin; every SLEEP ms all hosts are checked at once and printed (plain: the host
//! line, then the time as `ctime`; JSON: a `"timestamp"` in ms), a route only when it differs
//! from that host's previous one. SIGHUP re-reads FILE (a bad file: an `EE:` line, the old
//! input kept — connmonitor exits); SIGTERM/SIGINT stop at once.

use super::{format, resolve, scan::ScanPorts, trace::Hop, Checks, Output};
use crate::probe::Prober;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// connmonitor's input, read.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorInput {
    pub checks: Checks,
    pub sleep: Duration,
    pub hosts: Vec<String>,
}

const FIELDS: [&str; 8] = [
    "DOPINGS", "DOTRACE", "DOPSCAN", "NUMPINGS", "PAYLOAD", "HOPS", "JSON", "SLEEP",
];

/// Reads connmonitor's input; `source` names it in errors (`FILE line 1: …`).
pub fn parse_input(text: &str, source: &str) -> Result<MonitorInput, String> {
    let mut lines = text.lines().enumerate();
    let (_, first) = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "{source} is empty: the first line must be `{}`, then one host per line",
                FIELDS.join(" ")
            )
        })?;
    let words: Vec<&str> = first.split_whitespace().collect();
    if words.len() != FIELDS.len() {
        return Err(format!(
            "{source} line 1: {} numbers expected ({}), found {}",
            FIELDS.len(),
            FIELDS.join(" "),
            words.len()
        ));
    }
    let mut n = [0u64; 8];
    for (i, w) in words.iter().enumerate() {
        n[i] = w.parse().map_err(|_| {
            format!(
                "{source} line 1: {} is '{}', not a whole number of 0 or more",
                FIELDS[i],
                crate::text::escape(w)
            )
        })?;
    }
    let range = |i: usize, lo: u64, hi: u64| -> Result<u64, String> {
        if (lo..=hi).contains(&n[i]) {
            Ok(n[i])
        } else {
            Err(format!(
                "{source} line 1: {} is {}, must be {lo} to {hi}",
                FIELDS[i], n[i]
            ))
        }
    };
    let pings = if n[0] != 0 {
        Some(range(3, 1, 1000)? as u32)
    } else {
        None
    };
    let payload = range(4, 0, 65000)? as u16;
    let trace = if n[1] != 0 {
        Some(range(5, 1, 64)? as u8)
    } else {
        None
    };
    let sleep = Duration::from_millis(range(7, 0, 86_400_000)?);
    let hosts: Vec<String> = lines
        .map(|(_, l)| l.trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if hosts.is_empty() {
        return Err(format!(
            "{source} has no hosts: one host per line after the first"
        ));
    }
    Ok(MonitorInput {
        checks: Checks {
            pings,
            payload,
            trace,
            scan: (n[2] != 0).then(ScanPorts::default),
            tcp: Vec::new(),
            json: n[6] != 0,
        },
        sleep,
        hosts,
    })
}

/// Where the input comes from.
pub enum Source<'a> {
    File(&'a Path),
    /// Read once, at the start (SIGHUP has nothing to re-read).
    Stdin(String),
}

impl Source<'_> {
    fn read(&self) -> Result<MonitorInput, String> {
        match self {
            Source::File(p) => {
                let text = crate::input::read_text(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                parse_input(&text, &p.display().to_string())
            }
            Source::Stdin(text) => parse_input(text, "standard input"),
        }
    }
}

/// The hosts resolved; those that cannot be are named on `out` and left out.
async fn resolve_all(
    input: &MonitorInput,
    fake: bool,
    out: &mut dyn Output,
) -> Vec<(String, IpAddr)> {
    let mut hosts = Vec::new();
    for h in &input.hosts {
        match resolve(h, fake).await {
            Ok(a) => hosts.push((h.clone(), a)),
            Err(e) => out.error(&format::error_line("Exception", &e, &now())),
        }
    }
    hosts
}

fn now() -> String {
    format::ctime(chrono::Local::now())
}

/// Makes the prober for an echo payload size (`run`'s choice: socket, system `ping`, fake).
pub type ProberFor<'a> = &'a dyn Fn(u16) -> Result<Box<dyn Prober>, String>;

/// Runs until `cancel`. `extra_tcp`: the command line's `--tcp` ports, added to every poll.
/// `Err` only when the first input cannot be read or no prober can be made (nothing to do).
pub async fn run(
    source: Source<'_>,
    extra_tcp: &[u16],
    fake: bool,
    prober_for: ProberFor<'_>,
    cancel: &CancellationToken,
    out: &mut dyn Output,
) -> Result<(), String> {
    let mut reloads = crate::platform::reload_signals();
    let mut input = source.read()?;
    input.checks.tcp = extra_tcp.to_vec();
    let mut prober = prober_for(input.checks.payload)?;
    let mut hosts = resolve_all(&input, fake, out).await;
    let mut routes: HashMap<String, Vec<Hop>> = HashMap::new();
    loop {
        let Ok((results, problems)) =
            super::check_all(&hosts, &input.checks, prober.as_ref(), cancel).await
        else {
            return Ok(());
        };
        for p in &problems {
            out.error(&format::error_line(p.kind, &p.description, &now()));
        }
        for mut v in results {
            // A route is printed only when it changed.
            if let Some(t) = v.trace.take() {
                let same = routes
                    .get(&v.name)
                    .is_some_and(|old| super::trace::same_route(old, &t));
                if !same {
                    routes.insert(v.name.clone(), t.clone());
                    v.trace = Some(t);
                }
            }
            if input.checks.json {
                let ms = chrono::Utc::now().timestamp_micros() as f64 / 1000.0;
                out.result(&format!("{}\n", format::json(&v, Some(ms))));
            } else {
                out.result(&format::plain(&v, Some(&now())));
            }
        }
        // The pause, cut short by a stop; a SIGHUP re-reads the input and polls again.
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            Some(()) = reloads.recv() => {
                match &source {
                    Source::Stdin(_) => out.error(&format::error_line(
                        "OSError",
                        "No input file to read! (input given on stdin)",
                        &now(),
                    )),
                    Source::File(_) => match source.read() {
                        Ok(mut new) => {
                            new.checks.tcp = extra_tcp.to_vec();
                            if new.checks.payload != input.checks.payload {
                                match prober_for(new.checks.payload) {
                                    Ok(p) => prober = p,
                                    Err(e) => out.error(&format::error_line("OSError", &e, &now())),
                                }
                            }
                            input = new;
                            hosts = resolve_all(&input, fake, out).await;
                            routes.retain(|h, _| input.hosts.contains(h));
                        }
                        Err(e) => out.error(&format::error_line(
                            "OSError",
                            &format!("{e}; still monitoring with the input read before"),
                            &now(),
                        )),
                    },
                }
            }
            _ = tokio::time::sleep(input.sleep) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connmonitor_input() {
        let i = parse_input("1 1 1 10 41 40 1 500\nlocalhost\n\n 198.18.1.1 \n", "f").unwrap();
        assert_eq!(i.checks.pings, Some(10));
        assert_eq!(i.checks.trace, Some(40));
        assert_eq!(i.checks.scan, Some(ScanPorts::default()));
        assert!(i.checks.json);
        assert_eq!(i.sleep, Duration::from_millis(500));
        assert_eq!(i.hosts, ["localhost", "198.18.1.1"]);
        let i = parse_input("0 0 0 0 0 0 0 0\n::1\n", "f").unwrap();
        assert_eq!(
            (i.checks.pings, i.checks.trace, i.checks.scan),
            (None, None, None)
        );
    }

    #[test]
    fn bad_input_is_one_line_naming_the_field() {
        for (text, want) in [
            ("", "f is empty: the first line must be `DOPINGS DOTRACE DOPSCAN NUMPINGS PAYLOAD HOPS JSON SLEEP`, then one host per line"),
            ("1 1 1 10 41 40 1\nh\n", "f line 1: 8 numbers expected (DOPINGS DOTRACE DOPSCAN NUMPINGS PAYLOAD HOPS JSON SLEEP), found 7"),
            ("1 1 1 ten 41 40 1 500\nh\n", "f line 1: NUMPINGS is 'ten', not a whole number of 0 or more"),
            ("1 1 1 0 41 40 1 500\nh\n", "f line 1: NUMPINGS is 0, must be 1 to 1000"),
            ("1 1 1 4 41 99 1 500\nh\n", "f line 1: HOPS is 99, must be 1 to 64"),
            ("1 1 1 4 41 30 1 -5\nh\n", "f line 1: SLEEP is '-5', not a whole number of 0 or more"),
            ("1 1 1 4 41 30 1 500\n\n", "f has no hosts: one host per line after the first"),
        ] {
            assert_eq!(parse_input(text, "f").unwrap_err(), want, "{text:?}");
        }
    }
}
