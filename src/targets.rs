//! The targets file: `address,name` per line → `Vec<Target>`. Comments (`#` or a leading space,
//! as the original's latest version), blank lines, a UTF-8 BOM and CRLF are tolerated; a URL's
//! host is used as the address. Reads the file; never pings.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address as written (shown and logged as the user wrote it).
    pub address: String,
    /// What is pinged: the host of a URL, an IP address or host name.
    pub host: String,
    pub name: String,
}

/// A read targets file: the targets and the warnings about lines that were skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetList {
    pub targets: Vec<Target>,
    pub warnings: Vec<String>,
    /// False when the file does not exist (`Running without a vpnmon targets file`).
    pub found: bool,
}

/// Reads `path`. A missing file is no error (no targets); an unreadable one is.
pub fn read(path: &Path) -> std::io::Result<TargetList> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(parse(&path.display().to_string(), &bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TargetList::default()),
        Err(e) => Err(e),
    }
}

/// Parses a targets file's bytes; `shown` names it in warnings.
pub fn parse(shown: &str, bytes: &[u8]) -> TargetList {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    let mut list = TargetList {
        found: true,
        ..TargetList::default()
    };
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty()
            || line.starts_with('#')
            || line.starts_with(' ')
            || line.starts_with('\t')
        {
            continue;
        }
        // The first comma ends the address (an address holds none); the rest is the name,
        // which may hold commas, quoted by a spreadsheet or not (`HPE ProCurve, rack 2`).
        let Some((addr, name)) = line.split_once(',') else {
            list.warnings.push(format!(
                "{shown}:{line_no}: ignored: expected address,name (for example 10.1.1.10,File server)"
            ));
            continue;
        };
        // Quotes around an address are dropped, however many (an address holds none).
        let address = addr.trim().trim_matches('"').to_string();
        let name = csv_text(name.trim());
        match host_of(&address) {
            Some(host) => list.targets.push(Target {
                address,
                host,
                name,
            }),
            None => list.warnings.push(format!(
                "{shown}:{line_no}: ignored: '{address}' is not an IP address, host name or URL"
            )),
        }
    }
    list
}

/// A name as a spreadsheet writes it: a field quoted whole (`"Rack 1, left"`, a quote inside
/// doubled) is read as one CSV field (the `csv` crate); anything else stays as written, commas
/// and quotes included (`Rack 1,"left"`, `"Main" server`). A name that only starts and ends with
/// a quote but is not one well-formed field (`"a"b"`) keeps the rule vpnmon always had: the
/// outer quotes go and doubled quotes become one.
fn csv_text(s: &str) -> String {
    let Some(inner) = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| s.len() >= 2)
    else {
        return s.to_string();
    };
    if inner.replace("\"\"", "").contains('"') {
        return inner.replace("\"\"", "\"");
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(s.as_bytes());
    let mut rec = csv::StringRecord::new();
    match rdr.read_record(&mut rec) {
        Ok(true) if rec.len() == 1 => rec[0].to_string(),
        _ => inner.replace("\"\"", "\""),
    }
}

/// The host to ping for an address as a user writes it: an IPv4/IPv6 address (optionally in
/// brackets), a host name, or a URL (`https://vpn.example.org:443/path` → `vpn.example.org`).
pub fn host_of(address: &str) -> Option<String> {
    let a = address.trim();
    if a.is_empty() {
        return None;
    }
    if a.parse::<std::net::IpAddr>().is_ok() {
        return Some(a.to_string());
    }
    if a.contains("://") {
        let url = url::Url::parse(a).ok()?;
        return match url.host()? {
            url::Host::Domain(d) => Some(d.to_string()),
            url::Host::Ipv4(ip) => Some(ip.to_string()),
            url::Host::Ipv6(ip) => Some(ip.to_string()),
        };
    }
    if let Some(inner) = a.strip_prefix('[').and_then(|r| r.split(']').next()) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| ip.to_string());
    }
    // host, host:port, host/path
    let host = a.split('/').next().unwrap_or(a);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
    valid.then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_comments_bom_crlf_and_names_with_commas() {
        let text = "\u{FEFF}# address,name\r\n10.1.1.10,G7-VM-SYS\r\n\r\n 10.9.9.9,commented out\r\n\
                    10.1.4.11,HPE ProCurve, rack 2\r\nhttps://intranet.example.org:8443/x,Intranet\r\n\
                    ::1,IPv6 loopback\r\nbad line\r\nnot a host!,x\r\n[fe80::1],Link\r\nhost.example:22,SSH box";
        let l = parse("t.csv", text.as_bytes());
        let got: Vec<(&str, &str, &str)> = l
            .targets
            .iter()
            .map(|t| (t.address.as_str(), t.host.as_str(), t.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.1.1.10", "10.1.1.10", "G7-VM-SYS"),
                ("10.1.4.11", "10.1.4.11", "HPE ProCurve, rack 2"),
                (
                    "https://intranet.example.org:8443/x",
                    "intranet.example.org",
                    "Intranet"
                ),
                ("::1", "::1", "IPv6 loopback"),
                ("[fe80::1]", "fe80::1", "Link"),
                ("host.example:22", "host.example", "SSH box"),
            ]
        );
        assert_eq!(
            l.warnings,
            vec![
                "t.csv:8: ignored: expected address,name (for example 10.1.1.10,File server)",
                "t.csv:9: ignored: 'not a host!' is not an IP address, host name or URL",
            ]
        );
    }

    /// The (address, name) of each target read.
    fn pairs(l: &TargetList) -> Vec<(&str, &str)> {
        l.targets
            .iter()
            .map(|t| (t.address.as_str(), t.name.as_str()))
            .collect()
    }

    /// Quoted names and addresses as a spreadsheet writes them, and as people type them.
    #[test]
    fn quoted_fields_are_read_as_csv() {
        let text = "\"10.0.0.1\",\"Rack 1, left\"\n10.0.0.2, \"Rack 2, \"\"B\"\"\" \n\
                    10.0.0.3,\"\"\"Quoted\"\"\"\n10.0.0.4,Say \"hi\", then go\n10.0.0.5,\n";
        let l = parse("t.csv", text.as_bytes());
        let got = pairs(&l);
        assert_eq!(
            got,
            [
                ("10.0.0.1", "Rack 1, left"),
                ("10.0.0.2", "Rack 2, \"B\""),
                ("10.0.0.3", "\"Quoted\""),
                ("10.0.0.4", "Say \"hi\", then go"),
                ("10.0.0.5", ""),
            ]
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    /// Quotes that are not one whole field read as they always did (the names reach the
    /// datalog, and an address with a stray quote is still pinged).
    #[test]
    fn stray_quotes_read_as_before() {
        let text = "10.0.0.1,\"Main\" server\n10.0.0.2,Rack 1,\"left\"\n10.0.0.3,\"open\n\
                    10.0.0.4,\"a\"b\"\n10.0.0.5,\"A\" \"B\"\n10.0.0.6\",x\n\"\"10.0.0.7\"\",\"\n";
        let l = parse("t.csv", text.as_bytes());
        let got = pairs(&l);
        assert_eq!(
            got,
            [
                ("10.0.0.1", "\"Main\" server"),
                ("10.0.0.2", "Rack 1,\"left\""),
                ("10.0.0.3", "\"open"),
                ("10.0.0.4", "a\"b"),
                ("10.0.0.5", "A\" \"B"),
                ("10.0.0.6", "x"),
                ("10.0.0.7", "\""),
            ]
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn missing_file_is_no_targets() {
        let l = read(Path::new("/nonexistent/vpnmon_targets.csv")).unwrap();
        assert!(!l.found && l.targets.is_empty());
    }
}
