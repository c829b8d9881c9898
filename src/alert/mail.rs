//! Alert mail through lettre's SMTP client, on a worker thread so a slow or dead server never
//! holds up a cycle. One mail per cycle covering every event of that cycle; a mail that cannot
//! be sent is reported on the console and its events are sent with the next cycle's.

use super::state::{Event, EventKind};
use super::{say, Out};
use crate::record::Record;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one SMTP conversation may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
pub const PASSWORD_ENV: &str = "VPNMON_SMTP_PASSWORD";
/// A part of the subject (DOWN, STILL DOWN, RECOVERED) names at most this many checks; beyond
/// that it counts them and names the first, so an outage of everything stays a readable subject.
pub const SUBJECT_MAX_CHECKS: usize = 3;
/// And the whole subject is cut at this many characters (long target names).
pub const SUBJECT_MAX_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("--smtp-server needs --smtp-from and at least one --smtp-to")]
    Incomplete,
    #[error("--{option} {value:?} is not a mail address ({source}); write it as name@example.org")]
    Address {
        option: &'static str,
        value: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("--smtp-server {0:?}: expected HOST or HOST:PORT with a port from 1 to 65535")]
    Server(String),
    #[error("--smtp-user is set but no password: set {PASSWORD_ENV} or --smtp-password-file")]
    NoPassword,
    #[error(
        "cannot read --smtp-password-file {path}: {}",
        crate::error::io_reason(source)
    )]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--smtp-server {server}: {source}")]
    Tls {
        server: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// How to secure the SMTP connection.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain text (only for a local relay).
    None,
    /// Upgrade with STARTTLS (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the start (port 465 by default).
    Tls,
}

/// The mail options as given (`--smtp-*`), not yet checked; `MailConfig::from_options` checks
/// them when the alert sink is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailOptions {
    /// `None`: no mail.
    pub server: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// A checked mail configuration.
#[derive(Clone)]
pub struct MailConfig {
    pub host: String,
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub credentials: Option<Credentials>,
}

impl MailConfig {
    /// `None` when mail is not configured (no `--smtp-server`).
    pub fn from_options(a: &MailOptions) -> Result<Option<MailConfig>, MailConfigError> {
        let Some(server) = a.server.as_deref() else {
            return Ok(None);
        };
        let (host, port) = split_server(server)?;
        let from = a.from.as_deref().ok_or(MailConfigError::Incomplete)?;
        if a.to.is_empty() {
            return Err(MailConfigError::Incomplete);
        }
        let parse = |option, v: &str| {
            v.parse::<Mailbox>()
                .map_err(|source| MailConfigError::Address {
                    option,
                    value: v.to_string(),
                    source,
                })
        };
        let from = parse("smtp-from", from)?;
        let to =
            a.to.iter()
                .map(|t| parse("smtp-to", t))
                .collect::<Result<Vec<_>, _>>()?;
        let credentials = match &a.user {
            None => None,
            Some(user) => {
                let password = match &a.password_file {
                    // Bounded and non-blocking, and decoded as the other input files.
                    Some(path) => crate::input::read_text(path)
                        .map_err(crate::input::InputError::into_io)
                        .map_err(|source| MailConfigError::PasswordFile {
                            path: path.clone(),
                            source,
                        })?
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string(),
                    None => std::env::var(PASSWORD_ENV).map_err(|_| MailConfigError::NoPassword)?,
                };
                Some(Credentials::new(user.clone(), password))
            }
        };
        let cfg = MailConfig {
            host,
            port,
            tls: a.tls,
            from,
            to,
            credentials,
        };
        cfg.transport()?;
        Ok(Some(cfg))
    }

    fn transport(&self) -> Result<SmtpTransport, MailConfigError> {
        let tls_err = |source| MailConfigError::Tls {
            server: self.host.clone(),
            source,
        };
        let builder = match self.tls {
            SmtpTls::None => {
                SmtpTransport::builder_dangerous(&self.host).port(self.port.unwrap_or(25))
            }
            SmtpTls::Starttls => SmtpTransport::starttls_relay(&self.host)
                .map_err(tls_err)?
                .port(self.port.unwrap_or(587)),
            SmtpTls::Tls => SmtpTransport::relay(&self.host)
                .map_err(tls_err)?
                .port(self.port.unwrap_or(465)),
        };
        let builder = builder.timeout(Some(SMTP_TIMEOUT));
        Ok(match &self.credentials {
            Some(c) => builder.credentials(c.clone()).build(),
            None => builder.build(),
        })
    }
}

fn split_server(s: &str) -> Result<(String, Option<u16>), MailConfigError> {
    let bad = || MailConfigError::Server(s.to_string());
    let s = s.trim();
    // [v6]:port, host:port, host
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (s, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad()),
        },
    };
    Ok((host.to_string(), port))
}

/// The subject and body of the mail for `events`, with `records` the latest cycle's.
pub fn compose(site: &str, events: &[Event], records: &[Record]) -> (String, String) {
    let part = |kind: EventKind| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| {
                let since = e
                    .since
                    .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M")))
                    .unwrap_or_default();
                match kind {
                    EventKind::Recovered => e.check.describe(),
                    _ => format!("{}{since}", e.check.describe()),
                }
            })
            .collect()
    };
    let pieces: Vec<String> = [
        ("DOWN", EventKind::Down),
        ("STILL DOWN", EventKind::Reminder),
        ("RECOVERED", EventKind::Recovered),
    ]
    .into_iter()
    .filter_map(|(label, kind)| {
        let checks = part(kind);
        match checks.len() {
            0 => None,
            n if n <= SUBJECT_MAX_CHECKS => Some(format!("{label}: {}", checks.join(", "))),
            n => Some(format!("{label}: {n} checks (first: {})", checks[0])),
        }
    })
    .collect();
    let mut subject = format!("vpnmon {site}: {}", pieces.join("; "));
    if let Some((cut, _)) = subject.char_indices().nth(SUBJECT_MAX_CHARS - 1) {
        subject.truncate(cut);
        subject.push('…');
    }
    let mut body = String::from("vpnmon alert\n\n");
    for e in events {
        body.push_str(&format!(
            "{:<10} {} (cycle {}, {} failed cycle{} in a row{}){}\n",
            e.kind.as_str(),
            e.check.describe(),
            e.cycle,
            e.failures,
            if e.failures == 1 { "" } else { "s" },
            e.since
                .map(|t| format!(", since {}", t.format("%Y-%m-%d %H:%M:%S")))
                .unwrap_or_default(),
            e.reason
                .as_deref()
                .filter(|_| e.kind != EventKind::Recovered)
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
        ));
    }
    if let Some(c) = records.first().map(|r| r.cycle) {
        body.push_str(&format!("\nRecords of cycle {c}:\n"));
    }
    for r in records {
        body.push_str(&format!(
            "{} {:<11} {:<4} {} {}{}\n",
            r.at.format("%Y-%m-%d %H:%M:%S"),
            r.test.as_str(),
            r.result.as_str(),
            r.address,
            r.name,
            r.reason
                .as_deref()
                .map(|x| format!(" -- {x}"))
                .unwrap_or_default()
        ));
    }
    (subject, body)
}

/// One cycle's worth of work for the mail worker.
pub struct Batch {
    pub site: String,
    pub events: Vec<Event>,
    pub records: std::sync::Arc<Vec<Record>>,
}

/// The mail worker: sends each cycle's events (plus any not yet sent) as one mail.
pub struct Mailer {
    tx: Option<mpsc::Sender<Batch>>,
    worker: Option<JoinHandle<()>>,
    out: Arc<Mutex<Out>>,
}

impl Mailer {
    /// `out` gets the "sent" and "cannot send" lines, from the worker and from `finish`.
    pub fn start(cfg: MailConfig, out: Out) -> Mailer {
        let out = Arc::new(Mutex::new(out));
        let (tx, rx) = mpsc::channel::<Batch>();
        let to_worker = out.clone();
        let worker = std::thread::Builder::new()
            .name("vpnmon-mail".into())
            .spawn(move || worker(cfg, rx, &to_worker))
            .ok();
        Mailer {
            tx: worker.as_ref().map(|_| tx),
            worker,
            out,
        }
    }

    /// Called every cycle, also with no events, so unsent mail is retried.
    pub fn submit(&self, batch: Batch) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(batch);
        }
    }

    /// Lets the worker finish what it has, for at most `wait`.
    pub fn finish(&mut self, wait: Duration) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            if !super::join_within(w, wait) {
                tell(
                    &self.out,
                    "Alert mail: still talking to the SMTP server at exit; giving up",
                );
            }
        }
    }
}

fn tell(out: &Mutex<Out>, line: &str) {
    // A writer poisoned by a panic elsewhere is still a writer.
    let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
    say(&mut out, line);
}

fn worker(cfg: MailConfig, rx: mpsc::Receiver<Batch>, out: &Mutex<Out>) {
    let mut unsent: Vec<Event> = Vec::new();
    let to_list = cfg
        .to
        .iter()
        .map(|m| m.email.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    while let Ok(mut batch) = rx.recv() {
        // Work that piled up while a send was slow is merged into one mail.
        while let Ok(more) = rx.try_recv() {
            batch.events.extend(more.events);
            batch.records = more.records;
        }
        let mut events = std::mem::take(&mut unsent);
        events.extend(batch.events);
        if events.is_empty() {
            continue;
        }
        let (subject, body) = compose(&batch.site, &events, &batch.records);
        match send(&cfg, &subject, body) {
            Ok(()) => tell(out, &format!("Alert mail sent to {to_list}: {subject}")),
            Err(reason) => {
                tell(
                    out,
                    &format!("Cannot send the alert mail ({reason}); will retry next cycle"),
                );
                unsent = events;
            }
        }
    }
}

/// Why one alert mail was not sent (said on the console, which adds "will retry next cycle").
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Message(#[source] lettre::error::Error),
    #[error("{0}")]
    Config(#[source] MailConfigError),
    /// lettre's messages name the failing step; `server` (host, and port when given) says
    /// where, for the operator.
    #[error("{server}: {source}")]
    Smtp {
        server: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

fn send(cfg: &MailConfig, subject: &str, body: String) -> Result<(), SendError> {
    let mut b = Message::builder().from(cfg.from.clone()).subject(subject);
    for t in &cfg.to {
        b = b.to(t.clone());
    }
    let msg = b.body(body).map_err(SendError::Message)?;
    let transport = cfg.transport().map_err(SendError::Config)?;
    transport
        .send(&msg)
        .map(|_| ())
        .map_err(|source| SendError::Smtp {
            server: format!(
                "{}{}",
                cfg.host,
                cfg.port.map(|p| format!(":{p}")).unwrap_or_default()
            ),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_forms() {
        assert_eq!(split_server("mx").unwrap(), ("mx".into(), None));
        assert_eq!(split_server("mx:2525").unwrap(), ("mx".into(), Some(2525)));
        assert_eq!(split_server("[::1]:25").unwrap(), ("::1".into(), Some(25)));
        assert!(split_server("mx:0").is_err());
        assert!(split_server("mx:x").is_err());
        assert!(split_server(":25").is_err());
    }

    fn event(kind: EventKind, i: usize) -> Event {
        use crate::record::{Test, Verdict};
        Event {
            kind,
            check: crate::record::CheckId {
                test: Test::TargetPing,
                address: format!("10.0.0.{i}"),
                name: format!("host{i}"),
                site: String::new(),
            },
            cycle: 2,
            failures: 2,
            since: None,
            verdict: Verdict::Fail,
            reason: Some("no reply".into()),
        }
    }

    #[test]
    fn a_few_checks_are_all_named_in_the_subject() {
        let ev: Vec<Event> = (1..=3).map(|i| event(EventKind::Down, i)).collect();
        let (subject, _) = compose("Site", &ev, &[]);
        assert_eq!(
            subject,
            "vpnmon Site: DOWN: target host1 (10.0.0.1), target host2 (10.0.0.2), \
             target host3 (10.0.0.3)"
        );
    }

    #[test]
    fn many_checks_are_counted_in_the_subject_and_all_listed_in_the_body() {
        let mut ev: Vec<Event> = (1..=37).map(|i| event(EventKind::Down, i)).collect();
        ev.push(event(EventKind::Recovered, 99));
        let (subject, body) = compose("Site", &ev, &[]);
        assert_eq!(
            subject,
            "vpnmon Site: DOWN: 37 checks (first: target host1 (10.0.0.1)); \
             RECOVERED: target host99 (10.0.0.99)"
        );
        assert!(body.contains("host37 (10.0.0.37)"), "{body}");
    }

    #[test]
    fn a_subject_of_long_names_is_cut() {
        let mut e = event(EventKind::Down, 1);
        e.check.name = "ü".repeat(500);
        let (subject, _) = compose("Site", &[e], &[]);
        assert_eq!(subject.chars().count(), SUBJECT_MAX_CHARS);
        assert!(subject.ends_with('…'), "{subject}");
    }
}
