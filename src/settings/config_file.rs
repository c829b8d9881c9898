//! `--config FILE`: vpnmon's TOML configuration, global keys and several `[[site]]`s.
//!
//! Global keys are the command line's long options with `_` (`delay`, `datalog_format`,
//! `smtp_to`): each becomes a `--name=value` argument between the params file's and the command
//! line's, so clap checks it as it checks the option (one definition, one set of errors), and the
//! command line overrides it. A `[[site]]` becomes a [`Site`] with its client's config. Every
//! error is one line `file:line:column: what; the fix`, from the parser's spans.

use super::{ClientConfig, SettingsError, Site, WARNING};
use crate::targets::{Target, MAX_NAME_CHARS};
use crate::vpn::anyconnect::AnyConnectConfig;
use crate::vpn::openconnect::OpenConnectConfig;
use crate::vpn::sonicwall::SonicWallConfig;
use crate::vpn::{Credentials, Secret};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

type Value = Option<Spanned<toml::Value>>;

/// The file as written. Global keys are kept as TOML values (clap parses them); sites are typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    cycles: Value,
    delay: Value,
    interval: Value,
    pings: Value,
    timeout: Value,
    vpn_timeout: Value,
    quiet: Value,
    verbose: Value,
    datalog: Value,
    datalog_format: Value,
    datalog_max_size: Value,
    datalog_keep: Value,
    datalog_rotate: Value,
    sound_file: Value,
    smtp_server: Value,
    smtp_from: Value,
    smtp_to: Value,
    smtp_tls: Value,
    smtp_user: Value,
    smtp_password_file: Value,
    alert_after: Value,
    alert_repeat: Value,
    on_alert: Value,
    state_file: Value,
    metrics_listen: Value,
    log_file: Value,
    log_max_size: Value,
    log_keep: Value,
    #[serde(default)]
    site: Vec<Spanned<SiteDoc>>,
}

/// The global keys whose value is a path: relative to the config file's folder.
const PATH_KEYS: &[&str] = &[
    "datalog",
    "sound_file",
    "smtp_password_file",
    "on_alert",
    "state_file",
    "log_file",
];

impl Doc {
    /// Every global key that was set, with its value.
    fn globals(&self) -> Vec<(&'static str, &Spanned<toml::Value>)> {
        let all: [(&'static str, &Value); 28] = [
            ("cycles", &self.cycles),
            ("delay", &self.delay),
            ("interval", &self.interval),
            ("pings", &self.pings),
            ("timeout", &self.timeout),
            ("vpn_timeout", &self.vpn_timeout),
            ("quiet", &self.quiet),
            ("verbose", &self.verbose),
            ("datalog", &self.datalog),
            ("datalog_format", &self.datalog_format),
            ("datalog_max_size", &self.datalog_max_size),
            ("datalog_keep", &self.datalog_keep),
            ("datalog_rotate", &self.datalog_rotate),
            ("sound_file", &self.sound_file),
            ("smtp_server", &self.smtp_server),
            ("smtp_from", &self.smtp_from),
            ("smtp_to", &self.smtp_to),
            ("smtp_tls", &self.smtp_tls),
            ("smtp_user", &self.smtp_user),
            ("smtp_password_file", &self.smtp_password_file),
            ("alert_after", &self.alert_after),
            ("alert_repeat", &self.alert_repeat),
            ("on_alert", &self.on_alert),
            ("state_file", &self.state_file),
            ("metrics_listen", &self.metrics_listen),
            ("log_file", &self.log_file),
            ("log_max_size", &self.log_max_size),
            ("log_keep", &self.log_keep),
        ];
        all.into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect()
    }
}

/// Which client a site uses.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Anyconnect,
    Openconnect,
    Sonicwall,
    None,
}

/// One `[[site]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteDoc {
    name: Spanned<String>,
    client: Option<Spanned<ClientKind>>,
    gateway: Option<Spanned<String>>,
    ping: Option<Spanned<String>>,
    targets: Option<Spanned<TargetsDoc>>,
    username: Option<String>,
    password: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    realm: Option<Spanned<String>>,
    choice: Option<Spanned<u32>>,
    client_path: Option<Spanned<String>>,
    vpn_timeout: Option<Spanned<u64>>,
    vpncli_delay: Option<Spanned<u64>>,
    accept_untrusted_cert: Option<Spanned<bool>>,
    servercert: Option<Spanned<String>>,
    cafile: Option<Spanned<String>>,
    no_dtls: Option<Spanned<bool>>,
}

/// `targets`: a targets file, or a list of `{ address, name }`.
enum TargetsDoc {
    File(String),
    List(Vec<Spanned<TargetDoc>>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDoc {
    address: String,
    name: String,
}

impl<'de> Deserialize<'de> for TargetsDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TargetsDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a targets file (\"targets.csv\") or a list of { address = \"…\", name = \"…\" }",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TargetsDoc, E> {
                Ok(TargetsDoc::File(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TargetsDoc, A::Error> {
                let mut v = Vec::new();
                while let Some(t) = seq.next_element::<Spanned<TargetDoc>>()? {
                    v.push(t);
                }
                Ok(TargetsDoc::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// What the config file gives `settings`: global arguments for clap, and the sites (empty: the
/// site comes from the command line and the params file, as without a config file).
#[derive(Debug, Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub global_args: Vec<OsString>,
    pub sites: Vec<SiteSpec>,
}

/// A site as the file says it, checked; its defaults (the VPN timeout) are applied in `build`.
#[derive(Debug)]
pub struct SiteSpec {
    pub name: String,
    pub client: ClientKind,
    pub gateway: String,
    pub ping: Option<String>,
    pub targets: Option<PathBuf>,
    pub inline_targets: Option<Vec<Target>>,
    pub credentials: Credentials,
    pub group: Option<String>,
    pub realm: Option<String>,
    pub choice: Option<u32>,
    pub client_path: Option<PathBuf>,
    pub vpn_timeout: Option<Duration>,
    pub vpncli_delay: Option<Duration>,
    pub accept_untrusted_cert: Option<bool>,
    pub servercert: Option<String>,
    pub cafile: Option<PathBuf>,
    pub no_dtls: Option<bool>,
    /// EpMonitoring's semantics (every stage runs whatever the one before gave).
    pub all_stages: bool,
}

/// `file:line:column` of a byte offset into `text` (column in characters, from 1).
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// Reads and checks a TOML config file. `notices` gets its warnings (an inline password).
/// A config file's text (bounded read, UTF-8 or UTF-16 decoded), or the one line saying why it
/// could not be read; `kind` names the file (`vpnmon`, `EpMonitoring`).
pub(super) fn read_text(path: &Path, kind: &str) -> Result<String, SettingsError> {
    let shown = crate::text::shown_path(path);
    let bytes = crate::input::read_bounded(path).map_err(|e| {
        SettingsError::Config(format!(
            "Failed to read the {kind} config file {shown}: {}",
            super::read_advice(&e)
        ))
    })?;
    crate::input::decode(&bytes).map_err(|e| {
        SettingsError::Config(format!(
            "Failed to read the {kind} config file {shown}: {e}"
        ))
    })
}

pub fn read(path: &Path, notices: &mut Vec<String>) -> Result<ConfigFile, SettingsError> {
    let text = read_text(path, "vpnmon")?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text).to_string();
    parse(path, &text, notices)
}

/// Checks the text of a config file named `path` (also for unit tests).
pub fn parse(
    path: &Path,
    text: &str,
    notices: &mut Vec<String>,
) -> Result<ConfigFile, SettingsError> {
    let shown = crate::text::shown_path(path);
    let at = |span: Range<usize>, msg: String| -> SettingsError {
        let (l, c) = position(text, span.start);
        SettingsError::Config(format!("{shown}:{l}:{c}: {msg}"))
    };
    let doc: Doc = toml::from_str(text).map_err(|e| {
        // toml's messages may span lines (a caret drawing); its first line is the message.
        let msg = e.message().lines().next().unwrap_or("").trim().to_string();
        let msg = crate::text::escape(&msg);
        let msg = match msg.as_str() {
            m if m.starts_with("unknown field") => {
                format!("{m} (a misspelt key? see examples/vpnmon.toml for every key)")
            }
            _ => msg,
        };
        match e.span() {
            Some(span) => at(span, msg),
            None => SettingsError::Config(format!("{shown}: {msg}")),
        }
    })?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let relative = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };

    let mut global_args = Vec::new();
    for (key, v) in doc.globals() {
        let long = key.replace('_', "-");
        let values: Vec<&toml::Value> = match (key, v.get_ref()) {
            ("smtp_to", toml::Value::Array(a)) => a.iter().collect(),
            (_, other) => vec![other],
        };
        for value in values {
            let text_value = match value {
                toml::Value::String(s) if PATH_KEYS.contains(&key) => {
                    relative(s).to_string_lossy().into_owned()
                }
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(at(
                        v.span(),
                        format!(
                            "{key} takes a string, a number or true/false, not {}",
                            value.type_str()
                        ),
                    ))
                }
            };
            let arg = OsString::from(format!("--{long}={text_value}"));
            // Checked alone, so an error names its key and place in the file's own terms.
            let alone = [OsString::from("vpnmon"), arg.clone()];
            let checked = <crate::cli::Cli as clap::Parser>::try_parse_from(alone);
            if let Some(e) = checked
                .err()
                .filter(|e| e.kind() != clap::error::ErrorKind::MissingRequiredArgument)
            {
                let detail = super::clap_detail(&e).replace(&long, key);
                return Err(at(
                    v.span(),
                    format!("bad value for {key}: {}", crate::text::escape(&detail)),
                ));
            }
            global_args.push(arg);
        }
    }

    let mut sites = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for s in &doc.site {
        let site_span = s.span();
        let s = s.get_ref();
        let name = s.name.get_ref().trim().to_string();
        if name.is_empty()
            || name.chars().any(char::is_control)
            || name.chars().count() > MAX_NAME_CHARS
        {
            return Err(at(
                s.name.span(),
                format!("a site's name must be non-empty text of at most {MAX_NAME_CHARS} characters without control characters"),
            ));
        }
        if names.contains(&name) {
            return Err(at(
                s.name.span(),
                format!(
                    "a second site named '{}'; give each [[site]] its own name",
                    crate::text::shown(&name)
                ),
            ));
        }
        names.push(name.clone());
        let client = s
            .client
            .as_ref()
            .map_or(ClientKind::Anyconnect, |c| *c.get_ref());
        let gateway = match &s.gateway {
            Some(g) => {
                let g_text = g.get_ref().trim().to_string();
                crate::targets::check_address(&g_text)
                    .map_err(|why| at(g.span(), format!("bad gateway of site '{}': {why}", crate::text::shown(&name))))?;
                g_text
            }
            None if client == ClientKind::None => String::new(),
            None => {
                return Err(at(
                    site_span,
                    format!("site '{}' has no gateway; add gateway = \"ADDRESS\" (or client = \"none\" to ping its targets without a VPN)", crate::text::shown(&name)),
                ))
            }
        };
        let ping = match &s.ping {
            Some(p) => {
                let p_text = p.get_ref().trim().to_string();
                crate::targets::check_address(&p_text).map_err(|why| {
                    at(
                        p.span(),
                        format!(
                            "bad ping address of site '{}': {why}",
                            crate::text::shown(&name)
                        ),
                    )
                })?;
                Some(p_text)
            }
            None => None,
        };
        let (targets, inline_targets) = match &s.targets {
            None => (None, None),
            Some(t) => match t.get_ref() {
                TargetsDoc::File(f) => (Some(relative(f)), None),
                TargetsDoc::List(list) => {
                    let mut out = Vec::new();
                    for item in list {
                        let TargetDoc {
                            address,
                            name: tname,
                        } = item.get_ref();
                        let host = crate::targets::check_address(address)
                            .map_err(|why| at(item.span(), format!("bad target address: {why}")))?;
                        if tname.contains('\0') || tname.chars().count() > MAX_NAME_CHARS {
                            return Err(at(
                                item.span(),
                                format!("a target's name must be text of at most {MAX_NAME_CHARS} characters without NUL"),
                            ));
                        }
                        out.push(Target {
                            address: address.trim().to_string(),
                            host,
                            name: tname.clone(),
                        });
                    }
                    (None, Some(out))
                }
            },
        };
        // The password: from the environment, a private file, or (warned) the config itself.
        let given: Vec<Range<usize>> = [
            s.password.as_ref().map(|p| p.span()),
            s.password_env.as_ref().map(|p| p.span()),
            s.password_file.as_ref().map(|p| p.span()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() > 1 {
            return Err(at(
                given[1].clone(),
                "give a site's password one way only: password_env, password_file or password"
                    .into(),
            ));
        }
        let password = if let Some(var) = &s.password_env {
            match std::env::var(var.get_ref()) {
                Ok(p) if !p.is_empty() => Secret::new(p),
                _ => {
                    return Err(at(
                        var.span(),
                        format!(
                            "the environment variable {} named by password_env is not set (or empty); set it before starting vpnmon",
                            crate::text::shown(var.get_ref())
                        ),
                    ))
                }
            }
        } else if let Some(f) = &s.password_file {
            super::read_password_file(&relative(f.get_ref()), true)
                .map_err(|e| at(f.span(), e.to_string()))?
        } else if let Some(p) = &s.password {
            let (l, c) = position(text, p.span().start);
            notices.push(format!(
                "{WARNING}{shown}:{l}:{c}: the password of site '{}' is written in the config file, so whoever can read the file has it; use password_env or password_file (readable by its owner only)",
                crate::text::shown(&name)
            ));
            Secret::new(p.get_ref().clone())
        } else {
            Secret::default()
        };
        // Keys that belong to another client are a mistake worth saying.
        let only_for = |present: Option<Range<usize>>, key: &str, kinds: &[ClientKind]| {
            match present {
                Some(span) if !kinds.contains(&client) => Err(at(
                    span,
                    format!(
                        "{key} is for {} sites, and site '{}' is a {} site; remove it or change client",
                        kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or "),
                        crate::text::shown(&name),
                        client.as_str()
                    ),
                )),
                _ => Ok(()),
            }
        };
        use ClientKind as K;
        only_for(
            s.group.as_ref().map(|v| v.span()),
            "group",
            &[K::Anyconnect],
        )?;
        only_for(
            s.accept_untrusted_cert.as_ref().map(|v| v.span()),
            "accept_untrusted_cert",
            &[K::Anyconnect],
        )?;
        only_for(
            s.vpncli_delay.as_ref().map(|v| v.span()),
            "vpncli_delay",
            &[K::Anyconnect],
        )?;
        only_for(
            s.servercert.as_ref().map(|v| v.span()),
            "servercert",
            &[K::Openconnect],
        )?;
        only_for(
            s.cafile.as_ref().map(|v| v.span()),
            "cafile",
            &[K::Openconnect],
        )?;
        only_for(
            s.no_dtls.as_ref().map(|v| v.span()),
            "no_dtls",
            &[K::Openconnect],
        )?;
        only_for(s.realm.as_ref().map(|v| v.span()), "realm", &[K::Sonicwall])?;
        only_for(
            s.choice.as_ref().map(|v| v.span()),
            "choice",
            &[K::Sonicwall],
        )?;
        only_for(
            s.client_path.as_ref().map(|v| v.span()),
            "client_path",
            &[K::Anyconnect, K::Openconnect, K::Sonicwall],
        )?;
        only_for(
            s.vpn_timeout.as_ref().map(|v| v.span()),
            "vpn_timeout",
            &[K::Anyconnect, K::Openconnect, K::Sonicwall],
        )?;
        if let Some(t) = &s.vpn_timeout {
            if !(1..=3600).contains(t.get_ref()) {
                return Err(at(
                    t.span(),
                    "bad value for vpn_timeout: expected a whole number of seconds from 1 to 3600"
                        .into(),
                ));
            }
        }
        if let Some(d) = &s.vpncli_delay {
            if *d.get_ref() > 60_000 {
                return Err(at(d.span(), "bad value for vpncli_delay: expected a whole number of milliseconds from 0 to 60000".into()));
            }
        }
        if let Some(c) = &s.choice {
            if *c.get_ref() == 0 {
                return Err(at(
                    c.span(),
                    "bad value for choice: the numbered choices start at 1".into(),
                ));
            }
        }
        sites.push(SiteSpec {
            name,
            client,
            gateway,
            ping,
            targets,
            inline_targets,
            credentials: Credentials {
                username: s.username.clone().unwrap_or_default(),
                password,
            },
            group: s
                .group
                .as_ref()
                .map(|g| g.get_ref().clone())
                .filter(|g| !g.is_empty()),
            realm: s.realm.as_ref().map(|g| g.get_ref().clone()),
            choice: s.choice.as_ref().map(|c| *c.get_ref()),
            client_path: s.client_path.as_ref().map(|p| relative(p.get_ref())),
            vpn_timeout: s
                .vpn_timeout
                .as_ref()
                .map(|t| Duration::from_secs(*t.get_ref())),
            vpncli_delay: s
                .vpncli_delay
                .as_ref()
                .map(|t| Duration::from_millis(*t.get_ref())),
            accept_untrusted_cert: s.accept_untrusted_cert.as_ref().map(|b| *b.get_ref()),
            servercert: s
                .servercert
                .as_ref()
                .map(|v| v.get_ref().clone())
                .filter(|v| !v.trim().is_empty()),
            cafile: s.cafile.as_ref().map(|p| relative(p.get_ref())),
            no_dtls: s.no_dtls.as_ref().map(|b| *b.get_ref()),
            all_stages: false,
        });
    }
    Ok(ConfigFile {
        path: path.to_path_buf(),
        global_args,
        sites,
    })
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Anyconnect => "anyconnect",
            ClientKind::Openconnect => "openconnect",
            ClientKind::Sonicwall => "sonicwall",
            ClientKind::None => "none",
        }
    }
}

/// What the run gives every site that does not say it itself.
#[derive(Debug, Default)]
pub struct SiteDefaults {
    /// The global `vpn_timeout` or `--vpn-timeout`.
    pub vpn_timeout: Option<Duration>,
    /// `--startct`: the client of the SonicWall sites without `client_path` (EpMonitoring's
    /// config.yml names none).
    pub startct: Option<PathBuf>,
}

/// The sites of a config file as `Site`s; a site's own keys win over `defaults`.
pub fn build(config: &ConfigFile, defaults: &SiteDefaults) -> Result<Vec<Site>, SettingsError> {
    let vpn_timeout = defaults.vpn_timeout;
    config
        .sites
        .iter()
        .map(|s| {
            let timeout = s.vpn_timeout.or(vpn_timeout);
            let client = match s.client {
                ClientKind::None => ClientConfig::None,
                ClientKind::Anyconnect => {
                    let d = AnyConnectConfig::default();
                    ClientConfig::AnyConnect(AnyConnectConfig {
                        vpncli: s.client_path.clone(),
                        group: s.group.clone(),
                        accept_untrusted_cert: s
                            .accept_untrusted_cert
                            .unwrap_or(d.accept_untrusted_cert),
                        timeout: timeout.unwrap_or(d.timeout),
                        delay: s.vpncli_delay.unwrap_or(d.delay),
                    })
                }
                ClientKind::Openconnect => {
                    let d = OpenConnectConfig::default();
                    ClientConfig::OpenConnect(OpenConnectConfig {
                        program: s.client_path.clone().unwrap_or(d.program),
                        servercert: s.servercert.clone(),
                        cafile: s.cafile.clone(),
                        no_dtls: s.no_dtls.unwrap_or(d.no_dtls),
                        timeout: timeout.unwrap_or(d.timeout),
                    })
                }
                ClientKind::Sonicwall => {
                    let d = SonicWallConfig::default();
                    ClientConfig::SonicWall(SonicWallConfig {
                        startct: s.client_path.clone().or_else(|| defaults.startct.clone()),
                        realm: s.realm.clone().filter(|r| !r.trim().is_empty()),
                        choice: s.choice.unwrap_or(d.choice),
                        timeout: timeout.unwrap_or(d.timeout),
                    })
                }
            };
            Ok(Site {
                vpnname: s.name.clone(),
                vpnurlip: s.gateway.clone(),
                ping: s.ping.clone(),
                credentials: s.credentials.clone(),
                targets: s.targets.clone().unwrap_or_default(),
                targets_explicit: s.targets.is_some(),
                inline_targets: s.inline_targets.clone(),
                all_stages: s.all_stages,
                client,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> (Result<ConfigFile, SettingsError>, Vec<String>) {
        let mut notices = Vec::new();
        let r = parse(Path::new("dir/c.toml"), text, &mut notices);
        (r, notices)
    }

    fn err(text: &str) -> String {
        match cfg(text).0 {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn positions_are_lines_and_character_columns() {
        assert_eq!(position("a\nbé = 1\n", 0), (1, 1));
        assert_eq!(position("a\nbé = 1\n", 2), (2, 1));
        assert_eq!(position("a\nbé = 1\n", 7), (2, 5), "é is one column");
    }

    #[test]
    fn the_shipped_example_is_read() {
        std::env::set_var("VPNMON_EAST_PASSWORD", "east-secret");
        // The example's West site reads a password file next to it: a private one here.
        let dir = tempfile::tempdir().unwrap();
        let text = include_str!("../../examples/vpnmon.toml");
        let path = dir.path().join("vpnmon.toml");
        let pw = dir.path().join("west.password");
        std::fs::write(&pw, "west-secret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut notices = Vec::new();
        let c = parse(&path, text, &mut notices).unwrap();
        assert!(notices.is_empty(), "{notices:?}");
        let args: Vec<String> = c
            .global_args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--interval=600".to_string()), "{args:?}");
        assert!(args.contains(&"--cycles=-1".to_string()), "{args:?}");
        let datalog = dir.path().join("vpnmon_{site}.csv");
        assert!(
            args.contains(&format!("--datalog={}", datalog.display())),
            "{args:?}"
        );
        let names: Vec<&str> = c.sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["East", "West", "Lab"]);
        assert_eq!(c.sites[0].credentials.password.expose(), "east-secret");
        assert_eq!(c.sites[1].credentials.password.expose(), "west-secret");
        assert_eq!(
            c.sites[0].targets,
            Some(dir.path().join("east_targets.csv"))
        );
        let west = c.sites[1].inline_targets.as_ref().unwrap();
        assert_eq!(west[1].name, "West database");
        assert_eq!(c.sites[2].client, ClientKind::None);
        let sites = build(&c, &SiteDefaults::default()).unwrap();
        assert!(matches!(sites[1].client, ClientConfig::OpenConnect(_)));
        assert_eq!(sites[2].vpnurlip, "");
    }

    #[test]
    fn every_bad_value_is_one_line_with_file_line_and_column() {
        for (text, want) in [
            ("delai = 5\n", "dir/c.toml:1:1: unknown field `delai`"),
            ("cycles = 1\ndelay = -5\n", "dir/c.toml:2:9: bad value for delay"),
            ("delay = \"abc\"\n", "dir/c.toml:1:9: bad value for delay"),
            ("interval = 0\n", "dir/c.toml:1:12: bad value for interval"),
            ("datalog_format = \"xml\"\n", "dir/c.toml:1:18: bad value for datalog_format"),
            ("quiet = 3\n", "dir/c.toml:1:9: bad value for quiet"),
            ("smtp_to = [1, {a = 1}]\n", "dir/c.toml:1:11: smtp_to takes a string"),
            ("delay = 5\ndelay = 6\n", "dir/c.toml:2:1: duplicate key"),
            ("[[site]]\nname = \"A\"\nclient = \"cisco\"\ngateway = \"10.0.0.1\"\n", "dir/c.toml:3:10: unknown variant `cisco`"),
            ("[[site]]\nname = \"A\"\ngateway = \"127.1\"\n", "dir/c.toml:3:11: bad gateway of site 'A': '127.1' is not an IPv4 address"),
            ("[[site]]\nname = \"A\"\n", "dir/c.toml:1:1: site 'A' has no gateway"),
            ("[[site]]\ngateway = \"10.0.0.1\"\n", "dir/c.toml:1:1: missing field `name`"),
            ("[[site]]\nname = \"A\"\ngatway = \"10.0.0.1\"\n", "dir/c.toml:3:1: unknown field `gatway`"),
            ("[[site]]\nname = \"A\"\nclient = \"none\"\n[[site]]\nname = \"A\"\nclient = \"none\"\n", "dir/c.toml:5:8: a second site named 'A'"),
            ("[[site]]\nname = \"A\"\nclient = \"none\"\ntargets = [{ address = \"1.2.3\", name = \"x\" }]\n", "dir/c.toml:4:12: bad target address: '1.2.3' is not an IPv4 address"),
            ("[[site]]\nname = \"A\"\nclient = \"none\"\ntargets = [{ address = \"10.0.0.1\", nme = \"x\" }]\n", "dir/c.toml:4:36: unknown field `nme`"),
            ("[[site]]\nname = \"A\"\nclient = \"none\"\ntargets = 5\n", "dir/c.toml:4:11: invalid type: integer `5`, expected a targets file"),
            ("[[site]]\nname = \"A\"\nclient = \"openconnect\"\ngateway = \"10.0.0.1\"\ngroup = \"g\"\n", "dir/c.toml:5:9: group is for anyconnect sites, and site 'A' is a openconnect site"),
            ("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\nvpn_timeout = 0\n", "dir/c.toml:4:15: bad value for vpn_timeout"),
            ("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\npassword = \"p\"\npassword_env = \"X\"\n", "dir/c.toml:5:16: give a site's password one way only"),
            ("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\npassword_env = \"VPNMON_TEST_SURELY_UNSET\"\n", "dir/c.toml:4:16: the environment variable VPNMON_TEST_SURELY_UNSET named by password_env is not set"),
            ("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\npassword_file = \"nope.txt\"\n", "dir/c.toml:4:17: The password file dir/nope.txt cannot be read"),
            ("delay = 5\n[[site]\n", "dir/c.toml:2:"),
        ] {
            let msg = err(text);
            assert!(msg.starts_with(want), "{text:?} gave {msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn an_inline_password_works_with_a_warning_that_does_not_show_it() {
        let (r, n) =
            cfg("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\npassword = \"hunter2\"\n");
        let c = r.unwrap();
        assert_eq!(c.sites[0].credentials.password.expose(), "hunter2");
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(
            n[0].starts_with("Warning: dir/c.toml:4:12: the password of site 'A'"),
            "{n:?}"
        );
        assert!(!n[0].contains("hunter2"));
        assert!(!format!("{:?}", c.sites).contains("hunter2"));
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
            let mut notices = Vec::new();
            let text = "[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\npassword_file = \"pw\"\n";
            let e = parse(&dir.path().join("c.toml"), text, &mut notices)
                .unwrap_err()
                .to_string();
            assert!(e.contains(":4:17: The password file"), "{e}");
            assert!(e.contains("chmod 600"), "{e}");
            assert!(!e.contains("s3cret"));
        }
    }

    #[test]
    fn sonicwall_keys_belong_to_sonicwall_sites() {
        let e = err("[[site]]\nname = \"A\"\ngateway = \"10.0.0.1\"\nrealm = \"r\"\n");
        assert!(
            e.starts_with("dir/c.toml:4:9: realm is for sonicwall sites"),
            "{e}"
        );
    }
}
