//! `Settings`: built-in defaults < params file < command line, merged once and validated.
//!
//! The params file is turned into `--name=value` arguments placed before the command line's, and
//! clap parses both together (`args_override_self`: the last one wins). So every option is
//! declared once, in `cli.rs`, and can be set in either place with the same parsing and errors.

use crate::alert::mail::MailOptions;
use crate::alert::state::Policy;
use crate::alert::AlertConfig;
use crate::cli::{self, Cli};
use crate::datalog::{DatalogConfig, RotateEvery};
use crate::input::InputError;
use crate::probe::ProbeConfig;
use crate::service::{LogConfig, ServiceConfig, DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_SIZE};
use crate::sinks::{Output, TerminalConfig};
use crate::vpn::anyconnect::AnyConnectConfig;
use crate::vpn::openconnect::OpenConnectConfig;
use crate::vpn::sonicwall::SonicWallConfig;
use crate::vpn::{Credentials, VpnClientKind};
use clap::Parser;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod config_file;
pub mod epmon_config;

pub const DEFAULT_PARAMS_FILE: &str = "vpnmon_params.csv";
pub const DEFAULT_VPNNAME: &str = "VPN Gateway";
pub const DEFAULT_TARGETS: &str = "vpnmon_targets.csv";
pub const DEFAULT_CYCLES: i64 = 200;
pub const DEFAULT_DELAY_SECS: u64 = 1800;

/// One monitored site: a gateway, how to reach it, and what stands behind it. A run watches one
/// today; the monitor iterates sites so that several later is a list, not a rewrite.
#[derive(Debug, Clone)]
pub struct Site {
    pub vpnname: String,
    /// Empty when not given (allowed only without a VPN client).
    pub vpnurlip: String,
    /// The address pinged before opening (a config file's `ping`); `None`: the gateway.
    pub ping: Option<String>,
    pub credentials: Credentials,
    pub targets: PathBuf,
    /// Targets written in the config file itself (then `targets` is unused).
    pub inline_targets: Option<Vec<crate::targets::Target>>,
    /// EpMonitoring's semantics: every stage runs whatever the one before gave (the open after a
    /// failed ping, the sweep after a failed open).
    pub all_stages: bool,
    /// The targets file was named (`--targets`, or `targets` in the params file): it must exist.
    pub targets_explicit: bool,
    pub client: ClientConfig,
}

/// Which VPN client a site uses, with its resolved configuration.
#[derive(Debug, Clone)]
pub enum ClientConfig {
    /// Ping the targets directly (`--vpnclient none`).
    None,
    AnyConnect(AnyConnectConfig),
    OpenConnect(OpenConnectConfig),
    /// SonicWall Connect Tunnel (`startct`).
    SonicWall(SonicWallConfig),
}

impl ClientConfig {
    pub fn kind(&self) -> VpnClientKind {
        match self {
            ClientConfig::None => VpnClientKind::None,
            ClientConfig::AnyConnect(_) => VpnClientKind::Anyconnect,
            ClientConfig::OpenConnect(_) => VpnClientKind::Openconnect,
            ClientConfig::SonicWall(_) => VpnClientKind::Sonicwall,
        }
    }
}

/// When cycles run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// `None` runs until stopped (`-cycles -1`).
    pub cycles: Option<u64>,
    /// The pause between cycles.
    pub delay: Duration,
    /// `--interval`: cycles start at this fixed rate instead (`delay` is then unused).
    pub interval: Option<Duration>,
}

/// The fully resolved configuration of a run: plain values, no clap types. Each feature's part
/// is that feature's own config struct, with its defaults beside it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sites: Vec<Site>,
    pub schedule: Schedule,
    pub probe: ProbeConfig,
    pub datalog: DatalogConfig,
    pub alerts: AlertConfig,
    pub output: Output,
    /// How the console looks on a terminal.
    pub terminal: TerminalConfig,
    pub service: ServiceConfig,
    /// `--tcp`: the ports connected to on every target (none: no `TCP port` rows).
    pub tcp_ports: Vec<u16>,
    /// `--trace-on-fail`: trace the targets that ended Fail or Warn before the close.
    pub trace_on_fail: bool,
    /// `--trace-deadline`: how long all of a cycle's traces may take together.
    pub trace_deadline: Duration,
    /// The params file that was read, if any.
    pub params_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Help, version, or a command-line usage error: clap renders and exits.
    #[error("{0}")]
    Clap(#[from] clap::Error),
    /// A usage error of our own (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The params file cannot be read, or is not text.
    #[error(
        "Failed to read the vpnmon params file {}: {}",
        crate::text::shown_path(path),
        read_advice(source)
    )]
    ParamsRead {
        path: PathBuf,
        #[source]
        source: InputError,
    },
    /// The targets file named by `targets` does not exist (the default name may be missing).
    #[error("The vpnmon targets file {} does not exist; check its path (without the targets option, vpnmon runs without a targets file when {DEFAULT_TARGETS} is missing)", crate::text::shown_path(.0))]
    TargetsMissing(PathBuf),
    /// A bad line in the params file (`file:line: …`).
    #[error("{0}")]
    Params(String),
    /// The password file cannot be read or is readable by others.
    #[error("{0}")]
    PasswordFile(String),
    /// A bad config file (`file:line:column: …`).
    #[error("{0}")]
    Config(String),
}

/// The name of the systemd credential holding the password (`LoadCredential=vpnmon-password:…`).
pub const PASSWORD_CREDENTIAL: &str = "vpnmon-password";

/// How a notice that is a warning for the operator begins (shown on stderr).
pub const WARNING: &str = "Warning: ";

/// Loads the settings from `args` (including the program name), reading the params file relative
/// to the current directory. `notices` receives lines for the user (`Running without a vpnmon
/// params file`, `x.csv:3: unknown parameter …`), also when loading then fails.
pub fn load(args: Vec<OsString>, notices: &mut Vec<String>) -> Result<Settings, SettingsError> {
    let args = cli::rewrite_legacy(args)?;
    // First pass over the command line alone: help/version/usage errors, and which params file.
    let first = Cli::try_parse_from(&args)?;
    // A password on the command line (not from VPNMON_PASSWORD) is in every user's `ps`.
    let from_env = std::env::var_os("VPNMON_PASSWORD");
    if let Some(p) = &first.password {
        let env_same = from_env
            .as_deref()
            .is_some_and(|e| e.to_str() == Some(p.expose()));
        if !p.is_empty() && !env_same && crate::platform::other_users_present() {
            notices.push(format!("{WARNING}the -pass password is visible to other users of this machine in the process list (ps); use --password-file, VPNMON_PASSWORD or a systemd credential instead"));
        }
    }
    let (params_path, explicit) = match &first.params {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_PARAMS_FILE), false),
    };
    // A config file replaces the default params file (a named one is still read, below it).
    let config = match &first.config {
        Some(path) if epmon_config::is_yaml(path) => Some(epmon_config::read(path, notices)?),
        Some(path) => Some(config_file::read(path, notices)?),
        None => None,
    };
    if let Some(c) = config.as_ref().filter(|c| !c.sites.is_empty()) {
        site_options_conflict(&first, c)?;
    }
    // Bounded and never blocking (a FIFO or /dev/zero is refused), decoded as targets are.
    let params_args = match crate::input::read_bounded(&params_path) {
        Ok(_) if config.is_some() && !explicit => None,
        Ok(bytes) => Some(params_to_args(&params_path, &bytes, notices)?),
        Err(e) if e.is_not_found() && !explicit => {
            if config.is_none() {
                notices.push("Running without a vpnmon params file".to_string());
            }
            None
        }
        Err(source) => {
            return Err(SettingsError::ParamsRead {
                path: params_path,
                source,
            })
        }
    };
    let globals = config
        .as_ref()
        .map(|c| c.global_args.as_slice())
        .unwrap_or(&[]);
    let cli = if params_args.is_some() || !globals.is_empty() {
        // defaults < params file < config file < command line (the last one wins).
        let p = params_args.as_deref().unwrap_or(&[]);
        let mut all: Vec<OsString> = Vec::with_capacity(args.len() + p.len() + globals.len());
        all.push(args[0].clone());
        all.extend(p.iter().cloned());
        all.extend(globals.iter().cloned());
        all.extend(args[1..].iter().cloned());
        Cli::try_parse_from(all)?
    } else {
        first
    };
    let sites = match config.as_ref().filter(|c| !c.sites.is_empty()) {
        Some(c) => Some(config_file::build(
            c,
            &config_file::SiteDefaults {
                vpn_timeout: cli.vpn_timeout.map(Duration::from_secs),
                startct: cli.sonicwall.startct.clone(),
            },
        )?),
        None => None,
    };
    let mut settings = from_cli(cli, params_args.map(|_| params_path), sites.is_some())?;
    if let Some(sites) = sites {
        settings.sites = sites;
    }
    Ok(settings)
}

/// With `[[site]]`s in the config file, the command line's site options have no site to apply
/// to: a usage error naming them, rather than silently ignored.
fn site_options_conflict(cli: &Cli, config: &config_file::ConfigFile) -> Result<(), SettingsError> {
    let env_password = std::env::var("VPNMON_PASSWORD").ok();
    let mut given = Vec::new();
    for (name, set) in [
        ("--vpnname", cli.vpnname.is_some()),
        ("--vpnurlip", cli.vpnurlip.is_some()),
        ("--username", cli.username.is_some()),
        (
            "--password",
            cli.password
                .as_ref()
                .is_some_and(|p| env_password.as_deref() != Some(p.expose())),
        ),
        ("--password-file", cli.service.password_file.is_some()),
        ("--targets", cli.targets.is_some()),
        ("--vpnclient", cli.vpnclient.is_some()),
        // Each client's own options belong to its sites too (`--startct` alone is a default:
        // EpMonitoring's config.yml names no client path).
        ("--vpncli", cli.anyconnect.vpncli.is_some()),
        ("--group", cli.anyconnect.group.is_some()),
        ("--openconnect", cli.openconnect.openconnect.is_some()),
        ("--servercert", cli.openconnect.servercert.is_some()),
        ("--cafile", cli.openconnect.cafile.is_some()),
        ("--realm", cli.sonicwall.realm.is_some()),
        (
            "--sonicwall-choice",
            cli.sonicwall.sonicwall_choice.is_some(),
        ),
    ] {
        if set {
            given.push(name);
        }
    }
    if given.is_empty() {
        return Ok(());
    }
    Err(SettingsError::Usage(format!(
        "{} cannot be used with the [[site]]s of {}: each site sets its own; set them in its [[site]] instead",
        given.join(", "),
        crate::text::shown_path(&config.path)
    )))
}

/// The reason a file could not be read, with the advice that fits it.
fn read_advice(e: &InputError) -> String {
    match e {
        InputError::Io(_) => format!("{e}; check the path and its permissions"),
        _ => e.to_string(),
    }
}

/// Start-up checks of the files the settings name, before anything runs: a targets file named
/// explicitly must exist (a missing default one means no targets, as the original said).
pub fn check_files(settings: &Settings) -> Result<(), SettingsError> {
    for site in &settings.sites {
        if site.targets_explicit {
            if let Err(e) = std::fs::metadata(&site.targets) {
                if e.kind() == std::io::ErrorKind::NotFound {
                    return Err(SettingsError::TargetsMissing(site.targets.clone()));
                }
            }
        }
    }
    Ok(())
}

/// Settings from a command line alone (no params file): for tests and tools.
pub fn from_command_line<I, T>(args: I) -> Result<Settings, SettingsError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args = cli::rewrite_legacy(args.into_iter().map(Into::into).collect())?;
    from_cli(Cli::try_parse_from(args)?, None, false)
}

/// Applies the defaults and cross-checks the merged options.
/// With `config_sites`, the sites come from the config file (the command line's is not checked).
fn from_cli(
    cli: Cli,
    params_file: Option<PathBuf>,
    config_sites: bool,
) -> Result<Settings, SettingsError> {
    let kind = cli.vpnclient.unwrap_or(VpnClientKind::Anyconnect);
    let vpnurlip = cli.vpnurlip.clone().unwrap_or_default().trim().to_string();
    if vpnurlip.is_empty() && kind != VpnClientKind::None && !config_sites {
        return Err(SettingsError::Usage(
            "Cannot run without a VPN site URL or IP address. Give -vpnurlip ADDRESS (or vpnurlip,ADDRESS in the params file), or --vpnclient none to ping the targets without a VPN.".into(),
        ));
    }
    // Any negative count runs until stopped (the original's rule); 0 is refused by the parser.
    let check = cli.check.check == Some(true);
    let cycles = match cli.cycles.unwrap_or(DEFAULT_CYCLES) {
        // A monitoring plugin runs one cycle and reports it.
        _ if check => Some(1),
        n if n < 0 => None,
        n => Some(n as u64),
    };
    let vpn_timeout = cli.vpn_timeout.map(Duration::from_secs);
    let client = match kind {
        VpnClientKind::None => ClientConfig::None,
        VpnClientKind::Anyconnect => {
            let a = &cli.anyconnect;
            let d = AnyConnectConfig::default();
            ClientConfig::AnyConnect(AnyConnectConfig {
                vpncli: a.vpncli.clone(),
                group: a.group.clone().filter(|g| !g.is_empty()),
                accept_untrusted_cert: a.accept_untrusted_cert.unwrap_or(d.accept_untrusted_cert),
                timeout: vpn_timeout.unwrap_or(d.timeout),
                delay: a.vpncli_delay.map_or(d.delay, Duration::from_millis),
            })
        }
        VpnClientKind::Openconnect => {
            let o = &cli.openconnect;
            let d = OpenConnectConfig::default();
            ClientConfig::OpenConnect(OpenConnectConfig {
                program: o.openconnect.clone().unwrap_or(d.program),
                servercert: o.servercert.clone().filter(|s| !s.trim().is_empty()),
                cafile: o.cafile.clone(),
                no_dtls: o.no_dtls.unwrap_or(d.no_dtls),
                timeout: vpn_timeout.unwrap_or(d.timeout),
            })
        }
        VpnClientKind::Sonicwall => {
            let w = &cli.sonicwall;
            let d = SonicWallConfig::default();
            ClientConfig::SonicWall(SonicWallConfig {
                startct: w.startct.clone(),
                realm: w.realm.clone().filter(|r| !r.trim().is_empty()),
                choice: w.sonicwall_choice.unwrap_or(d.choice),
                timeout: vpn_timeout.unwrap_or(d.timeout),
            })
        }
    };
    let site = Site {
        vpnname: cli
            .vpnname
            .clone()
            .unwrap_or_else(|| DEFAULT_VPNNAME.to_string()),
        vpnurlip,
        ping: None,
        credentials: Credentials {
            username: cli.username.clone().unwrap_or_default(),
            // Not read when the config file's sites replace this one.
            password: if config_sites {
                crate::vpn::Secret::default()
            } else {
                password(&cli)?
            },
        },
        inline_targets: None,
        all_stages: false,
        targets: cli
            .targets
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TARGETS)),
        // Naming the default (the shipped params file has `targets,vpnmon_targets.csv`) keeps
        // the default's rule: missing means no targets, as the original.
        targets_explicit: cli
            .targets
            .as_ref()
            .is_some_and(|t| t != Path::new(DEFAULT_TARGETS)),
        client,
    };
    let mut probe = ProbeConfig::default();
    if let Some(t) = cli.timeout {
        let t = Duration::from_secs_f64(t);
        probe.target.timeout = t;
        probe.gateway.timeout = t;
    }
    if let Some(n) = cli.pings {
        probe.target.count = n;
    }
    probe.fake = cli.debug_fake_ping.unwrap_or(false);
    probe.system_ping = cli.debug_system_ping.unwrap_or(false);
    let d = &cli.datalog_opts;
    let mut datalog = DatalogConfig::default();
    if let Some(p) = &cli.datalog {
        datalog.path = p.clone();
    }
    datalog.format = d.datalog_format.unwrap_or(datalog.format);
    datalog.rotation.max_size = d.datalog_max_size;
    datalog.rotation.keep = d.datalog_keep.unwrap_or(datalog.rotation.keep);
    datalog.rotation.daily = d.datalog_rotate == Some(RotateEvery::Daily);
    let a = &cli.alerts;
    let mut policy = Policy::default();
    policy.after = a.alert_after.unwrap_or(policy.after);
    policy.repeat = a.alert_repeat.or(policy.repeat);
    let alerts = AlertConfig {
        // A monitoring plugin has no one to beep at.
        beep: !cli.quiet.unwrap_or(false) && !check,
        sound_file: a.sound_file.clone(),
        mail: MailOptions {
            server: a.smtp_server.clone(),
            from: a.smtp_from.clone(),
            to: a.smtp_to.clone(),
            tls: a.smtp_tls.unwrap_or_default(),
            user: a.smtp_user.clone(),
            password_file: a.smtp_password_file.clone(),
        },
        policy,
        on_alert: a.on_alert.clone(),
        state_file: a.state_file.clone(),
    };
    Ok(Settings {
        sites: vec![site],
        schedule: Schedule {
            cycles,
            delay: Duration::from_secs(cli.delay.unwrap_or(DEFAULT_DELAY_SECS)),
            interval: cli.service.interval.map(Duration::from_secs_f64),
        },
        probe,
        tcp_ports: cli.tcp.clone().map(|p| p.0).unwrap_or_default(),
        trace_on_fail: cli.trace_on_fail.unwrap_or(false),
        trace_deadline: Duration::from_secs_f64(cli.trace_deadline.unwrap_or(5.0)),
        datalog,
        alerts,
        output: if check {
            let d = crate::sinks::check::CheckConfig::default();
            Output::Check(crate::sinks::check::CheckConfig {
                warning: cli.check.warning.unwrap_or(d.warning),
                critical: cli.check.critical.unwrap_or(d.critical),
            })
        } else if d.json == Some(true) {
            Output::Json
        } else if cli.terminal.tui == Some(true) {
            Output::Tui
        } else {
            Output::Console
        },
        terminal: TerminalConfig {
            verbose: cli.terminal.verbose.unwrap_or(false),
            color: cli.terminal.color.unwrap_or_default(),
            progress: cli.terminal.progress.unwrap_or_default(),
            debug_tui_panic: cli.terminal.debug_tui_panic.unwrap_or(false),
        },
        service: ServiceConfig {
            metrics_listen: cli.service.metrics_listen,
            log: cli.service.log_file.clone().map(|path| LogConfig {
                path,
                max_size: cli
                    .service
                    .log_max_size
                    .unwrap_or(DEFAULT_LOG_MAX_SIZE)
                    .max(1),
                keep: cli.service.log_keep.unwrap_or(DEFAULT_LOG_KEEP),
            }),
            stall_margin: cli.debug_stall_margin.map(Duration::from_secs_f64),
        },
        params_file,
    })
}

/// The password: `--password-file` (owner-only), else -pass / VPNMON_PASSWORD, else the systemd
/// credential `vpnmon-password` in $CREDENTIALS_DIRECTORY, else none.
fn password(cli: &Cli) -> Result<crate::vpn::Secret, SettingsError> {
    if let Some(path) = &cli.service.password_file {
        return read_password_file(path, true);
    }
    if let Some(p) = cli.password.clone().filter(|p| !p.is_empty()) {
        return Ok(p);
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = Path::new(&dir).join(PASSWORD_CREDENTIAL);
        if path.exists() {
            // systemd makes the credential readable by the service alone.
            return read_password_file(&path, false);
        }
    }
    Ok(crate::vpn::Secret::default())
}

/// The first line of a password file. With `owner_only`, a file that its group or others may
/// read (or write) is refused: the password would not be private.
pub fn read_password_file(
    path: &Path,
    owner_only: bool,
) -> Result<crate::vpn::Secret, SettingsError> {
    let shown = crate::text::shown_path(path);
    let bad = |why: String| SettingsError::PasswordFile(format!("The password file {shown} {why}"));
    if owner_only {
        if let Some(mode) = crate::platform::fs::shared_mode(path)
            .map_err(|e| bad(format!("cannot be read: {}", crate::error::io_reason(&e))))?
        {
            return Err(bad(format!(
                "can be read or changed by other users (mode {mode:o}); make it private with chmod 600"
            )));
        }
    }
    let bytes =
        crate::input::read_bounded(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let text = crate::input::decode(&bytes).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    Ok(crate::vpn::Secret::new(first))
}

/// Keys of the params file that are not options to set there.
const NOT_PARAMS: &[&str] = &["params", "config", "help", "version"];

/// Options the params file does not know at all (hidden, for tests).
const NOT_IN_PARAMS_FILE: &[&str] = &["debug-fake-ping", "debug-system-ping", "debug-stall-margin"];

/// Turns the params file into `--name=value` arguments. Unknown keys and lines without a comma
/// are warnings (`file:line`); a value clap rejects is fatal, naming file:line and the form.
pub fn params_to_args(
    path: &Path,
    bytes: &[u8],
    notices: &mut Vec<String>,
) -> Result<Vec<OsString>, SettingsError> {
    let mut table = cli::option_table();
    // The tests' fake prober is for the command line of a test only: from a params file it would
    // silently replace every ping of a real run with made-up answers. Unknown, as it always was.
    for key in NOT_IN_PARAMS_FILE {
        table.remove(*key);
    }
    let shown = crate::text::shown_path(path);
    // The one decoder of input files (UTF-8, UTF-16 with a byte-order mark). A legacy code page
    // (cp1252) is refused with the line and the encoding to use rather than guessed: a guess
    // would put a wrong password or VPN name in place without a word.
    let text = crate::input::decode(bytes).map_err(|source| SettingsError::ParamsRead {
        path: path.to_path_buf(),
        source,
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        // Each line is one CSV record (a spreadsheet quotes a value holding a comma).
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(raw.as_bytes());
        let mut rec = csv::StringRecord::new();
        if let Err(e) = rdr.read_record(&mut rec) {
            return Err(SettingsError::Params(format!(
                "{shown}:{line}: cannot read this line ({e}); expected name,value"
            )));
        }
        let key = rec.get(0).unwrap_or("").trim().to_ascii_lowercase();
        if key.is_empty() && rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rec.len() < 2 {
            notices.push(format!(
                "{shown}:{line}: ignored: expected name,value (for example cycles,200)"
            ));
            continue;
        }
        // Commas beyond the first belong to the value (a VPN name may hold one).
        let value: Vec<&str> = rec.iter().skip(1).collect();
        let value = value.join(",").trim().to_string();
        // An empty value means "not set" (the shipped template has `password,`): it must not
        // hide a default or the VPNMON_PASSWORD environment variable.
        if value.is_empty() {
            if !table.contains_key(&key) {
                notices.push(format!(
                    "{shown}:{line}: unknown parameter '{}' ignored",
                    crate::text::shown(&key)
                ));
            }
            continue;
        }
        let spec = match table.get(&key) {
            Some(s) if !NOT_PARAMS.contains(&s.long.as_str()) => s,
            _ => {
                notices.push(format!(
                    "{shown}:{line}: unknown parameter '{}' ignored",
                    crate::text::shown(&key)
                ));
                continue;
            }
        };
        // A setting holds no control characters (and clap's messages would drop an escape
        // sequence without a trace): refused, named escaped.
        if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
            let what = if c == '\0' {
                "a NUL character".to_string()
            } else {
                format!(
                    "a control character ('{}')",
                    crate::text::escape(&c.to_string())
                )
            };
            return Err(SettingsError::Params(format!(
                "{shown}:{line}: bad value for {key}: it holds {what} (the line should read {key},VALUE)"
            )));
        }
        let arg = OsString::from(format!("--{}={value}", spec.long));
        // Check each entry alone so an error names its line, in the file's own terms.
        if let Err(e) = Cli::try_parse_from([OsString::from("vpnmon"), arg.clone()]) {
            if e.kind() != clap::error::ErrorKind::MissingRequiredArgument {
                // The value as a message shows it: escaped, and cut when long.
                let detail = clap_detail(&e).replace(&value, &crate::text::shown(&value));
                let detail = crate::text::escape(&detail);
                return Err(SettingsError::Params(format!(
                    "{shown}:{line}: bad value for {key}: {detail} (the line should read {key},VALUE)"
                )));
            }
        }
        out.push(arg);
    }
    Ok(out)
}

/// clap's message without its "error: " prefix, tips and usage, with `'--cycles <CYCLES>'`
/// shortened to the bare name.
fn clap_detail(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let re = regex::Regex::new(r"'--([A-Za-z0-9-]+)[^']*'").expect("static regex");
    re.replace_all(first, "$1").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> (Result<Vec<String>, SettingsError>, Vec<String>) {
        let mut notices = Vec::new();
        let r = params_to_args(Path::new("p.csv"), text.as_bytes(), &mut notices).map(|v| {
            v.into_iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect()
        });
        (r, notices)
    }

    #[test]
    fn spreadsheet_files_are_read() {
        let (r, n) = params(
            "\u{FEFF}VpnName , Site, East \r\n\r\ncycles,5\r\n# note\r\nquiet,True\r\nuser,bob\r\n",
        );
        assert_eq!(
            r.unwrap(),
            vec![
                "--vpnname=Site, East",
                "--cycles=5",
                "--quiet=True",
                "--username=bob"
            ]
        );
        assert!(n.is_empty(), "{n:?}");
    }

    #[test]
    fn empty_values_mean_not_set() {
        let (r, n) = params("vpnurlip,\npassword,\nusername, \ncycles,2\n");
        assert_eq!(r.unwrap(), vec!["--cycles=2"]);
        assert!(n.is_empty(), "{n:?}");
    }

    #[test]
    fn quoted_values_are_unquoted() {
        let (r, _) = params("vpnname,\"A, \"\"B\"\"\"\n");
        assert_eq!(r.unwrap(), vec!["--vpnname=A, \"B\""]);
    }

    #[test]
    fn unknown_keys_and_lines_without_comma_warn_with_file_and_line() {
        let (r, n) = params("cycles,3\nbogus,1\nlonely\n");
        assert_eq!(r.unwrap(), vec!["--cycles=3"]);
        assert_eq!(
            n,
            vec![
                "p.csv:2: unknown parameter 'bogus' ignored".to_string(),
                "p.csv:3: ignored: expected name,value (for example cycles,200)".to_string()
            ]
        );
    }

    #[test]
    fn the_fake_prober_cannot_be_chosen_from_a_params_file() {
        let (r, n) = params("debug-fake-ping,true\nDebug-Fake-Ping,\ncycles,1\n");
        assert_eq!(r.unwrap(), vec!["--cycles=1"]);
        assert_eq!(
            n,
            vec![
                "p.csv:1: unknown parameter 'debug-fake-ping' ignored".to_string(),
                "p.csv:2: unknown parameter 'debug-fake-ping' ignored".to_string()
            ]
        );
        // Nor the forced `ping` program (a test switch too).
        let (r, n) = params("debug-system-ping,true\ncycles,1\n");
        assert_eq!(r.unwrap(), vec!["--cycles=1"]);
        assert_eq!(
            n,
            vec!["p.csv:1: unknown parameter 'debug-system-ping' ignored".to_string()]
        );
    }

    #[test]
    fn bad_values_are_fatal_naming_file_line_and_form() {
        for (text, want) in [
            (
                "cycles,abc\n",
                "p.csv:1: bad value for cycles: invalid value 'abc' for cycles",
            ),
            ("\ndelay,-5\n", "p.csv:2: bad value for delay"),
            ("quiet,maybe\n", "p.csv:1: bad value for quiet"),
            ("timeout,0\n", "p.csv:1: bad value for timeout"),
            ("vpnclient,cisco\n", "p.csv:1: bad value for vpnclient"),
        ] {
            let (r, _) = params(text);
            let msg = r.unwrap_err().to_string();
            assert!(msg.starts_with(want), "{text:?} gave {msg}");
            assert!(msg.contains(",VALUE"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let s = from_command_line(["vpnmon", "--vpnclient=none", "--password=hunter2"]).unwrap();
        assert_eq!(s.sites[0].credentials.password.expose(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
