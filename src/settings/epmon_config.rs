//! EpMonitoring's `config.yml`, read unchanged (`vpnmon --config config.yml`): its sites become
//! SonicWall sites with EpMonitoring's semantics (all three stages run whatever the first gave),
//! `frequency` the fixed rate (`--interval`), `logging` the `epmon` result file (a file per UTC
//! day in `logging.dir`, named after `logging.file`) and the mail (SMTP on port 25, after a site
//! fails twice in a row). The command line still overrides these globals.
//!
//! YAML through `serde_yaml_ng` (see Cargo.toml); errors are one line `file:line:column: …`.

use super::config_file::{ClientKind, ConfigFile, SiteSpec};
use super::{SettingsError, WARNING};
use crate::targets::Target;
use crate::vpn::{Credentials, Secret};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpConfig {
    frequency: u64,
    logging: Logging,
    #[serde(deserialize_with = "in_order")]
    sites: Vec<(String, EpSite)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Logging {
    file: String,
    dir: String,
    email: Option<Email>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Email {
    server: String,
    from: String,
    #[serde(deserialize_with = "one_or_many")]
    to: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpSite {
    external_ip: String,
    vpn_gw: String,
    internal_ip: String,
    username: String,
    password: String,
    realm: Option<String>,
    timeout: Option<u64>,
}

/// The sites mapping in the file's order (the order they are tested in).
fn in_order<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, EpSite)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, EpSite)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a mapping from site name to its settings")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some(entry) = m.next_entry::<String, EpSite>()? {
                v.push(entry);
            }
            Ok(v)
        }
    }
    d.deserialize_map(V)
}

/// `to: a@b` or a list of addresses.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// A config file named `.yml` or `.yaml` is EpMonitoring's.
pub fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

/// EpMonitoring pings with `ping -c 5`.
const EPMON_PINGS: u32 = 5;
/// EpMonitoring's mail goes to port 25, without TLS.
const EPMON_SMTP_PORT: u16 = 25;

pub fn read(path: &Path, notices: &mut Vec<String>) -> Result<ConfigFile, SettingsError> {
    let text = super::config_file::read_text(path, "EpMonitoring")?;
    parse(
        path,
        text.strip_prefix('\u{FEFF}').unwrap_or(&text),
        notices,
    )
}

pub fn parse(
    path: &Path,
    text: &str,
    notices: &mut Vec<String>,
) -> Result<ConfigFile, SettingsError> {
    let shown = crate::text::shown_path(path);
    let c: EpConfig = serde_yaml_ng::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // serde_yaml_ng appends " at line L column C"; the place goes first, as for TOML.
        let msg = match msg.find(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        let msg = crate::text::escape(msg.lines().next().unwrap_or(""));
        match e.location() {
            Some(l) => SettingsError::Config(format!(
                "{shown}:{}:{}: {msg} (EpMonitoring's config.yml: frequency, logging.{{file,dir,email}}, sites.NAME.{{external_ip,vpn_gw,internal_ip,username,password,realm,timeout}})",
                l.line(),
                l.column()
            )),
            None => SettingsError::Config(format!("{shown}: {msg}")),
        }
    })?;
    let bad = |what: String| SettingsError::Config(format!("{shown}: {what}"));
    let dir = path.parent().unwrap_or(Path::new(""));
    let result_dir = {
        let d = PathBuf::from(&c.logging.dir);
        if d.is_absolute() {
            d
        } else {
            dir.join(d)
        }
    };
    let mut global: Vec<String> = vec![
        format!("--interval={}", c.frequency),
        "--cycles=-1".into(),
        format!(
            "--datalog={}",
            result_dir.join(format!("{}.csv", c.logging.file)).display()
        ),
        "--datalog-format=epmon".into(),
        "--datalog-rotate=daily".into(),
        "--quiet".into(),
        format!("--pings={EPMON_PINGS}"),
        "--alert-after=2".into(),
    ];
    if let Some(m) = &c.logging.email {
        global.push(format!("--smtp-server={}:{EPMON_SMTP_PORT}", m.server));
        global.push("--smtp-tls=none".into());
        global.push(format!("--smtp-from={}", m.from));
        for to in &m.to {
            global.push(format!("--smtp-to={to}"));
        }
    }
    let global_args: Vec<OsString> = global.into_iter().map(OsString::from).collect();
    // Each value checked as the option checks it, naming the key.
    for a in &global_args {
        let checked = <crate::cli::Cli as clap::Parser>::try_parse_from([
            OsString::from("vpnmon"),
            a.clone(),
        ]);
        if let Some(e) = checked
            .err()
            .filter(|e| e.kind() != clap::error::ErrorKind::MissingRequiredArgument)
        {
            return Err(bad(format!(
                "bad value ({}): {}",
                a.to_string_lossy(),
                super::clap_detail(&e)
            )));
        }
    }
    let mut sites = Vec::new();
    for (name, s) in &c.sites {
        let check = |key: &str, v: &str| -> Result<String, SettingsError> {
            crate::targets::check_address(v)
                .map(|_| v.trim().to_string())
                .map_err(|why| bad(format!("sites.{name}.{key}: {why}")))
        };
        let gateway = check("vpn_gw", &s.vpn_gw)?;
        let external = check("external_ip", &s.external_ip)?;
        let internal = check("internal_ip", &s.internal_ip)?;
        if let Some(t) = s.timeout {
            if !(1..=3600).contains(&t) {
                return Err(bad(format!(
                    "sites.{name}.timeout: expected a whole number of seconds from 1 to 3600"
                )));
            }
        }
        notices.push(format!(
            "{WARNING}{shown}: the password of site '{}' is written in the config file (as EpMonitoring keeps it), so whoever can read the file has it; keep the file readable by its owner only (chmod 600)",
            crate::text::shown(name)
        ));
        sites.push(SiteSpec {
            name: name.clone(),
            client: ClientKind::Sonicwall,
            gateway,
            ping: Some(external),
            targets: None,
            inline_targets: Some(vec![Target {
                address: internal.clone(),
                host: crate::targets::check_address(&internal).unwrap_or_default(),
                name: format!("{name} internal"),
            }]),
            credentials: Credentials {
                username: s.username.clone(),
                password: Secret::new(s.password.clone()),
            },
            group: None,
            realm: s.realm.clone(),
            choice: None,
            client_path: None,
            vpn_timeout: s.timeout.map(Duration::from_secs),
            vpncli_delay: None,
            accept_untrusted_cert: None,
            servercert: None,
            cafile: None,
            no_dtls: None,
            all_stages: true,
        });
    }
    Ok(ConfigFile {
        path: path.to_path_buf(),
        global_args,
        sites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of EpMonitoring's example (the reference's), with test-lab addresses.
    pub const EXAMPLE: &str = "---\nfrequency: 600\nlogging:\n  file: result\n  dir: result\n  email:\n    server: 127.0.0.1\n    from: monitor@example.org\n    to: noc@example.org\nsites:\n  site1:\n    external_ip: 198.18.1.1\n    vpn_gw: vpn1.example.org\n    internal_ip: 198.19.10.10\n    username: monitor\n    password: secret\n    realm: Staff\n    timeout: 60\n  site0:\n    external_ip: 127.0.0.1\n    vpn_gw: 127.0.0.2\n    internal_ip: 127.0.0.3\n    username: m2\n    password: other\n";

    #[test]
    fn the_example_becomes_sonicwall_sites_in_file_order() {
        let mut n = Vec::new();
        let c = parse(Path::new("ep/config.yml"), EXAMPLE, &mut n).unwrap();
        let args: Vec<String> = c
            .global_args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for want in [
            "--interval=600",
            "--datalog=ep/result/result.csv",
            "--datalog-format=epmon",
            "--datalog-rotate=daily",
            "--smtp-server=127.0.0.1:25",
            "--smtp-to=noc@example.org",
        ] {
            assert!(args.contains(&want.to_string()), "{want} not in {args:?}");
        }
        let names: Vec<&str> = c.sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["site1", "site0"], "the file's order, not sorted");
        let s = &c.sites[0];
        assert_eq!(
            (s.gateway.as_str(), s.ping.as_deref()),
            ("vpn1.example.org", Some("198.18.1.1"))
        );
        assert_eq!(
            s.inline_targets.as_ref().unwrap()[0].address,
            "198.19.10.10"
        );
        assert_eq!(s.realm.as_deref(), Some("Staff"));
        assert_eq!(s.vpn_timeout, Some(Duration::from_secs(60)));
        assert!(s.all_stages && s.client == ClientKind::Sonicwall);
        assert_eq!(s.credentials.password.expose(), "secret");
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(
            n.iter()
                .all(|l| !l.contains("secret") && !l.contains("other")),
            "{n:?}"
        );
    }

    #[test]
    fn bad_input_is_one_line_with_file_line_and_column() {
        for (text, want) in [
            ("frequency: 600\nlogging: {file: r, dir: r}\nsites: {}\nextra: 1\n", "c.yml:4:1: unknown field `extra`"),
            ("frequency: often\nlogging: {file: r, dir: r}\nsites: {}\n", "c.yml:1:12: frequency: invalid type"),
            ("frequency: 60\nlogging: {file: r, dir: r}\nsites:\n  a:\n    external_ip: 127.0.0.1\n    vpn_gw: 127.0.0.1\n    internal_ip: 127.0.0.1\n    username: u\n    pasword: p\n", "c.yml:9:5: sites.a: unknown field `pasword`"),
            ("frequency: 60\nlogging: {file: r, dir: r}\nsites:\n  a:\n    external_ip: 127.1\n    vpn_gw: 127.0.0.1\n    internal_ip: 127.0.0.1\n    username: u\n    password: p\n", "c.yml: sites.a.external_ip: '127.1' is not an IPv4 address"),
            ("frequency: 0\nlogging: {file: r, dir: r}\nsites: {}\n", "c.yml: bad value (--interval=0)"),
        ] {
            let e = match parse(Path::new("c.yml"), text, &mut Vec::new()) {
                Ok(_) => panic!("{text:?} accepted"),
                Err(e) => e.to_string(),
            };
            assert!(e.starts_with(want), "{text:?} gave {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
