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

/// Reads `path` through the bounded, non-blocking reader (`input`): a missing file is no error
/// (no targets); a file that is not a regular file, too large or not text is, with the reason as
/// the error's text.
pub fn read(path: &Path) -> std::io::Result<TargetList> {
    match load(path)? {
        Some(bytes) => parse_read(path, &bytes),
        None => Ok(TargetList::default()),
    }
}

/// What [`read_changed`] found.
#[derive(Debug)]
pub enum Reread {
    /// The file holds the very bytes it held at the last read: the list read then stands.
    Unchanged,
    /// The file as read now (or its absence), with its bytes for the next comparison.
    Read(TargetList, Option<Vec<u8>>),
}

/// `read`, unless the file's bytes are `last` (those of the previous read). The monitor re-reads
/// the targets every cycle, as the original, so an edit applies at the next cycle; an unchanged
/// file (nearly always) is then not parsed again, which for a large list was most of a cycle's
/// own work.
pub fn read_changed(path: &Path, last: Option<&[u8]>) -> std::io::Result<Reread> {
    match load(path)? {
        Some(bytes) if last == Some(bytes.as_slice()) => Ok(Reread::Unchanged),
        Some(bytes) => Ok(Reread::Read(parse_read(path, &bytes)?, Some(bytes))),
        None => Ok(Reread::Read(TargetList::default(), None)),
    }
}

/// The file's bytes through the bounded reader, `None` when it does not exist.
fn load(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match crate::input::read_bounded(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(crate::input::InputError::Io(e)) => Err(e),
        Err(e) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.to_string(),
        )),
    }
}

/// A read file's bytes as targets; bytes that are not text are an error.
fn parse_read(path: &Path, bytes: &[u8]) -> std::io::Result<TargetList> {
    match crate::input::decode(bytes) {
        Ok(text) => Ok(parse_text(&crate::text::shown_path(path), &text)),
        Err(e) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.to_string(),
        )),
    }
}

/// Parses a targets file's bytes (any encoding `input::decode` reads); `shown` names it in
/// warnings. Bytes that are not text give one warning and no targets.
pub fn parse(shown: &str, bytes: &[u8]) -> TargetList {
    match crate::input::decode(bytes) {
        Ok(text) => parse_text(shown, &text),
        Err(e) => TargetList {
            found: true,
            warnings: vec![format!("{shown}: {e}")],
            ..TargetList::default()
        },
    }
}

/// Parses a targets file's decoded text; `shown` names it in warnings.
pub fn parse_text(shown: &str, text: &str) -> TargetList {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
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
        if name.contains('\0') {
            list.warnings.push(format!(
                "{shown}:{line_no}: ignored: the name of {} holds a NUL character",
                quoted(&address)
            ));
            continue;
        }
        let name = csv_text(name.trim());
        if name.chars().count() > MAX_NAME_CHARS {
            list.warnings.push(format!(
                "{shown}:{line_no}: ignored: the name of {} is longer than {MAX_NAME_CHARS} characters",
                quoted(&address)
            ));
            continue;
        }
        match check_address(&address) {
            Ok(host) => list.targets.push(Target {
                address,
                host,
                name,
            }),
            Err(why) => list
                .warnings
                .push(format!("{shown}:{line_no}: ignored: {why}")),
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

/// The longest name a target (or the VPN, `--vpnname`) may have: a row with it stays far below
/// the longest line `vpnmon report` reads (64 KiB).
pub const MAX_NAME_CHARS: usize = 1024;
/// The longest address (a URL with a path) a target or the gateway may have.
pub const MAX_ADDRESS_CHARS: usize = 2048;

/// The host to ping for an address as a user writes it, or `None` (see `check_address`).
pub fn host_of(address: &str) -> Option<String> {
    check_address(address).ok()
}

/// An address as a message shows it: quoted, control characters escaped, cut when long.
fn quoted(address: &str) -> String {
    format!("'{}'", crate::text::shown(address))
}

/// The host to ping for an address as a user writes it — a dotted-quad IPv4 address (exactly
/// four decimal numbers 0-255), an IPv6 address (in brackets or not, a zone id such as
/// `fe80::1%eth0` accepted), a host name valid per RFC 1123, optionally with `:port` or `/path`,
/// or a URL (`https://vpn.example.org:443/path` → `vpn.example.org`) — or why it is none of
/// these, as one line naming the address. Short and numeric forms that some programs read as
/// another address (`127.1`, `0x7f.0.0.1`, `010.1.1.1`, `1.2.3`) are refused, so nothing
/// downstream (a resolver with `inet_aton` rules) can turn a typo into a different host; so are
/// the unspecified, broadcast and multicast addresses, which are not one host.
pub fn check_address(address: &str) -> Result<String, String> {
    let a = address.trim();
    if a.is_empty() {
        return Err("the address is empty".into());
    }
    if a.chars().count() > MAX_ADDRESS_CHARS {
        return Err(format!(
            "{} is longer than {MAX_ADDRESS_CHARS} characters",
            quoted(a)
        ));
    }
    if a.chars().any(char::is_control) {
        return Err(format!(
            "{} holds a control character, so it is not an IP address, host name or URL",
            quoted(a)
        ));
    }
    if let Some((scheme, rest)) = a.split_once("://") {
        // The host as written, not as the URL parser normalises it (a WHATWG parser reads
        // `http://127.1/` as 127.0.0.1), checked first so the reason names what is wrong.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host_and_port(a, authority)?;
        if url::Url::parse(a).is_err() || scheme.is_empty() {
            return Err(format!("{} is not a valid URL", quoted(a)));
        }
        return Ok(host);
    }
    // host, host:port, host/path
    host_and_port(a, a.split('/').next().unwrap_or(a))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; `whole` names it in reasons.
fn host_and_port(whole: &str, s: &str) -> Result<String, String> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Err(format!("{} has a '[' without its ']'", quoted(whole)));
        };
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(valid_port)) {
            return Err(format!("{} has a bad port after ']'", quoted(whole)));
        }
        return ipv6(whole, inner);
    }
    match s.matches(':').count() {
        0 => host(whole, s),
        1 => {
            let (h, port) = s.split_once(':').unwrap_or((s, ""));
            if !valid_port(port) {
                return Err(format!(
                    "{} has a bad port '{}' (a number from 1 to 65535)",
                    quoted(whole),
                    crate::text::shown(port)
                ));
            }
            host(whole, h)
        }
        _ => ipv6(whole, s),
    }
}

fn valid_port(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
}

fn ipv6(whole: &str, s: &str) -> Result<String, String> {
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::Ipv6Addr>() else {
        return Err(format!("{} is not a valid IPv6 address", quoted(whole)));
    };
    let q = quoted(whole);
    special(&q, &std::net::IpAddr::V6(ip))?;
    if let Some(v4) = ip.to_ipv4_mapped() {
        special(&q, &std::net::IpAddr::V4(v4))?;
    }
    match zone {
        None => Ok(ip.to_string()),
        Some(z)
            if !z.is_empty()
                && z.len() <= 64
                && z.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
        {
            Ok(format!("{ip}%{z}"))
        }
        Some(_) => Err(format!(
            "{} has a bad zone id after '%' (an interface name or number)",
            quoted(whole)
        )),
    }
}

/// Unspecified, broadcast and multicast addresses are not one host to ping; `q` is the address
/// as quoted in messages.
fn special(q: &str, ip: &std::net::IpAddr) -> Result<(), String> {
    let why = if ip.is_unspecified() {
        "is the unspecified address, which is no host"
    } else if ip.is_multicast() {
        "is a multicast address, not one host"
    } else if matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast()) {
        "is the broadcast address, not one host"
    } else {
        return Ok(());
    };
    Err(format!("{q} {why}"))
}

/// A host name (RFC 1123) or a dotted-quad IPv4 address. A name whose last label is numeric
/// (`1.2.3`, `0x7f.0.0.1`, `10.1.10`) is an IPv4 address attempt and must be a full one.
fn host(whole: &str, h: &str) -> Result<String, String> {
    let q = quoted(whole);
    if h.is_empty() {
        return Err(format!("{q} has no host"));
    }
    if !h
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(format!("{q} is not an IP address, host name or URL"));
    }
    let name = h.strip_suffix('.').unwrap_or(h);
    let last = name.rsplit('.').next().unwrap_or("");
    let numeric = |l: &str| {
        !l.is_empty()
            && (l.bytes().all(|b| b.is_ascii_digit())
                || (l.len() > 2
                    && l[..2].eq_ignore_ascii_case("0x")
                    && l[2..].bytes().all(|b| b.is_ascii_hexdigit()))
                || l.eq_ignore_ascii_case("0x"))
    };
    if numeric(last) || (h.ends_with('.') && h.bytes().all(|b| b.is_ascii_digit() || b == b'.')) {
        return ipv4(&q, h);
    }
    if name.is_empty() {
        return Err(format!("{q} has no host"));
    }
    if name.len() > 253 {
        return Err(format!(
            "{q} is not a host name: longer than 253 characters"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "{q} is not a host name: it has an empty label (two dots in a row, or a dot at the start)"
            ));
        }
        if label.len() > 63 {
            return Err(format!(
                "{q} is not a host name: a label is longer than 63 characters"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "{q} is not a host name: a label starts or ends with '-'"
            ));
        }
        if label.contains('_') {
            return Err(format!(
                "{q} is not a host name: '_' is not allowed (RFC 1123: letters, digits, '-' and '.')"
            ));
        }
    }
    Ok(h.to_string())
}

/// Exactly four decimal numbers 0-255 without leading zeros.
fn ipv4(q: &str, h: &str) -> Result<String, String> {
    let parts: Vec<&str> = h.split('.').collect();
    if parts.len() != 4 {
        return Err(format!(
            "{q} is not an IPv4 address: it has {} part{}, an IPv4 address has 4 (such as 10.1.1.10)",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        ));
    }
    for p in &parts {
        if p.is_empty() {
            return Err(format!("{q} is not an IPv4 address: it has an empty part"));
        }
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{q} is not an IPv4 address: '{}' is not a decimal number from 0 to 255",
                crate::text::shown(p)
            ));
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err(format!(
                "{q} is not an IPv4 address: '{p}' has a leading zero (some programs read it as octal)"
            ));
        }
        if p.len() > 3 || p.parse::<u16>().map_or(true, |n| n > 255) {
            return Err(format!(
                "{q} is not an IPv4 address: {} is above 255",
                crate::text::shown(p)
            ));
        }
    }
    let ip: std::net::Ipv4Addr = h
        .parse()
        .map_err(|_| format!("{q} is not an IPv4 address"))?;
    special(q, &std::net::IpAddr::V4(ip))?;
    Ok(ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The monitor's per-cycle re-read: the same bytes are not parsed again; any change (also
    /// one of the same length) and a missing file are read as they are now.
    #[test]
    fn an_unchanged_file_is_not_parsed_again_and_any_change_is() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "10.0.0.1,A\nnot an address,B\n").unwrap();
        let Ok(Reread::Read(first, Some(bytes))) = read_changed(&p, None) else {
            panic!("the first read parses");
        };
        assert_eq!(first.targets.len(), 1);
        assert_eq!(first.warnings.len(), 1);
        assert!(matches!(
            read_changed(&p, Some(&bytes)),
            Ok(Reread::Unchanged)
        ));
        // One character changed, the length kept.
        std::fs::write(&p, "10.0.0.2,A\nnot an address,B\n").unwrap();
        let Ok(Reread::Read(second, Some(_))) = read_changed(&p, Some(&bytes)) else {
            panic!("a changed file is parsed");
        };
        assert_eq!(second.targets[0].address, "10.0.0.2");
        std::fs::remove_file(&p).unwrap();
        let Ok(Reread::Read(gone, None)) = read_changed(&p, Some(&bytes)) else {
            panic!("a missing file is no targets");
        };
        assert!(!gone.found && gone.targets.is_empty());
    }

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
    fn addresses_mean_what_they_say() {
        for (a, host) in [
            ("10.1.1.10", "10.1.1.10"),
            ("127.0.0.1:22", "127.0.0.1"),
            ("::1", "::1"),
            ("[::1]:443", "::1"),
            ("fe80::1%eth0", "fe80::1%eth0"),
            ("[fe80::1%2]", "fe80::1%2"),
            ("vpn.example.org", "vpn.example.org"),
            ("vpn.example.org.", "vpn.example.org."),
            ("a-1.example", "a-1.example"),
            ("localhost", "localhost"),
            ("https://vpn.example.org:8443/x?y#z", "vpn.example.org"),
            ("https://user@10.0.0.1/", "10.0.0.1"),
            ("https://[2001:db8::1]:443/", "2001:db8::1"),
            ("1.2.3.4a", "1.2.3.4a"),
        ] {
            assert_eq!(check_address(a), Ok(host.to_string()), "{a}");
        }
        for (a, why) in [
            ("127.1", "'127.1' is not an IPv4 address: it has 2 parts, an IPv4 address has 4 (such as 10.1.1.10)"),
            ("1.2.3", "'1.2.3' is not an IPv4 address: it has 3 parts, an IPv4 address has 4 (such as 10.1.1.10)"),
            ("0x7f.0.0.1", "'0x7f.0.0.1' is not an IPv4 address: '0x7f' is not a decimal number from 0 to 255"),
            ("0x7f", "'0x7f' is not an IPv4 address: it has 1 part, an IPv4 address has 4 (such as 10.1.1.10)"),
            ("999.1.1.1", "'999.1.1.1' is not an IPv4 address: 999 is above 255"),
            ("010.1.1.1", "'010.1.1.1' is not an IPv4 address: '010' has a leading zero (some programs read it as octal)"),
            ("1.2.3.4.", "'1.2.3.4.' is not an IPv4 address: it has 5 parts, an IPv4 address has 4 (such as 10.1.1.10)"),
            ("1..2.3", "'1..2.3' is not an IPv4 address: it has an empty part"),
            ("a..b", "'a..b' is not a host name: it has an empty label (two dots in a row, or a dot at the start)"),
            ("-a.example", "'-a.example' is not a host name: a label starts or ends with '-'"),
            ("my_host", "'my_host' is not a host name: '_' is not allowed (RFC 1123: letters, digits, '-' and '.')"),
            ("0.0.0.0", "'0.0.0.0' is the unspecified address, which is no host"),
            ("::", "'::' is the unspecified address, which is no host"),
            ("255.255.255.255", "'255.255.255.255' is the broadcast address, not one host"),
            ("224.0.0.1", "'224.0.0.1' is a multicast address, not one host"),
            ("ff02::1", "'ff02::1' is a multicast address, not one host"),
            ("::ffff:224.0.0.1", "'::ffff:224.0.0.1' is a multicast address, not one host"),
            ("http://127.1/", "'http://127.1/' is not an IPv4 address: it has 2 parts, an IPv4 address has 4 (such as 10.1.1.10)"),
            ("http://", "'http://' has no host"),
            ("://gw.example", "'://gw.example' is not a valid URL"),
            ("https://999.1.1.1/", "'https://999.1.1.1/' is not an IPv4 address: 999 is above 255"),
            ("host:99999", "'host:99999' has a bad port '99999' (a number from 1 to 65535)"),
            ("fe80::1%", "'fe80::1%' has a bad zone id after '%' (an interface name or number)"),
            ("1:2:3", "'1:2:3' is not a valid IPv6 address"),
            ("a\x1b[31mb", "'a\\e[31mb' holds a control character, so it is not an IP address, host name or URL"),
            ("", "the address is empty"),
        ] {
            assert_eq!(check_address(a), Err(why.to_string()), "{a}");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert!(check_address(&long)
            .unwrap_err()
            .ends_with("a label is longer than 63 characters"));
    }

    #[test]
    fn utf16_files_and_nul_names() {
        let mut le = vec![0xFF, 0xFE];
        for u in "127.0.0.1,Zürich\r\n127.0.0.2,a\0b\r\n".encode_utf16() {
            le.extend(u.to_le_bytes());
        }
        let l = parse("t.csv", &le);
        assert_eq!(pairs(&l), [("127.0.0.1", "Zürich")]);
        assert_eq!(
            l.warnings,
            ["t.csv:2: ignored: the name of '127.0.0.2' holds a NUL character"]
        );
        let l = parse("t.csv", b"127.0.0.1,Caf\xe9\n");
        assert!(l.targets.is_empty());
        assert_eq!(l.warnings, ["t.csv: line 1 is not UTF-8 text (byte 0xE9; a Windows code page such as cp1252?); save the file as UTF-8"]);
    }

    #[test]
    fn missing_file_is_no_targets() {
        let l = read(Path::new("/nonexistent/vpnmon_targets.csv")).unwrap();
        assert!(!l.found && l.targets.is_empty());
    }
}
