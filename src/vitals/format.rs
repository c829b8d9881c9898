//! connvitals' two outputs, byte for byte where its README fixes them, and its `EE:`/`WW:`
//! lines. Plain, per host: the host line (`name (address)` when a name was resolved), the ping
//! line `min\tavg\tmax\tstd\tloss`, one `address\trtt` line per hop (`*` for a lost one), the
//! scan line `rtt, code, server\trtt, code, server\trtt, version` (`None` for a closed port).
//! JSON: one object per host, on one line.

use super::scan::{HttpResult, MysqlResult, Scan, TcpCheck};
use super::stats::PingSummary;
use super::trace::Hop;
use super::HostVitals;
use crate::text::escape;
use serde_json::json;

/// `time.ctime()`: `Wed Dec  2 15:26:40 2026`.
pub fn ctime(t: chrono::DateTime<chrono::Local>) -> String {
    t.format("%a %b %e %H:%M:%S %Y").to_string()
}

/// `EE: <type>: <description>:\t-\t<ctime>`.
pub fn error_line(kind: &str, description: &str, now: &str) -> String {
    format!("EE: {kind}: {}:\t-\t{now}", escape(description))
}

/// `WW: <warning> -\t<ctime>`.
pub fn warning_line(warning: &str, now: &str) -> String {
    format!("WW: {} -\t{now}", escape(warning))
}

/// A float as Python's `repr` writes it (`0.0`, `0.25`, `-1.0` → `-1`: connvitals' marker).
fn py(x: f64) -> String {
    if x == -1.0 {
        return "-1".into();
    }
    let s = format!("{x}");
    if s.contains(['.', 'e', 'N', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn rtt(x: f64) -> String {
    if x == -1.0 {
        "-1".into()
    } else {
        format!("{x:.3}")
    }
}

/// Rounded to the microsecond, for JSON (no float noise such as 0.30000000000000004).
fn round3(x: f64) -> serde_json::Value {
    if x == -1.0 {
        return json!(-1);
    }
    json!((x * 1000.0).round() / 1000.0)
}

pub fn host_line(v: &HostVitals) -> String {
    let addr = v.addr.to_string();
    if v.name == addr {
        escape(&v.name)
    } else {
        format!("{} ({addr})", escape(&v.name))
    }
}

pub fn ping_line(p: &PingSummary) -> String {
    if p.all_lost() {
        return "-1\t-1\t-1\t-1\t-1".into();
    }
    format!(
        "{}\t{}\t{}\t{}\t{}",
        rtt(p.min),
        rtt(p.avg),
        rtt(p.max),
        rtt(p.std),
        py(p.loss)
    )
}

pub fn trace_lines(hops: &[Hop]) -> Vec<String> {
    hops.iter()
        .map(|h| match h.addr {
            Some(a) => format!("{a}\t{}", rtt(h.rtt_ms)),
            None => "*".into(),
        })
        .collect()
}

fn http_plain(r: &Option<HttpResult>) -> String {
    match r {
        None => "None".into(),
        Some(r) => {
            let mut s = format!(
                "{}, {}, {}",
                rtt(r.rtt_ms),
                escape(&r.code),
                escape(r.server.as_deref().unwrap_or("None"))
            );
            if let Some(p) = &r.cert_problem {
                s.push_str(&format!(" (certificate: {})", escape(p)));
            }
            s
        }
    }
}

fn mysql_plain(r: &Option<MysqlResult>) -> String {
    match r {
        None => "None".into(),
        Some(r) => format!("{}, {}", rtt(r.rtt_ms), escape(&r.version)),
    }
}

pub fn scan_line(s: &Scan) -> String {
    format!(
        "{}\t{}\t{}",
        http_plain(&s.http),
        http_plain(&s.https),
        mysql_plain(&s.mysql)
    )
}

/// `--tcp`: `tcp/22 0.104\ttcp/23 connection refused`.
pub fn tcp_line(checks: &[TcpCheck]) -> String {
    checks
        .iter()
        .map(|c| match &c.outcome {
            Ok(ms) => format!("tcp/{} {}", c.port, rtt(*ms)),
            Err(why) => format!("tcp/{} {}", c.port, escape(why)),
        })
        .collect::<Vec<_>>()
        .join("\t")
}

/// The plain block of one host (lines, each ending in a newline). `when`: the monitor's
/// `ctime` line after the host line.
pub fn plain(v: &HostVitals, when: Option<&str>) -> String {
    let mut lines = vec![host_line(v)];
    if let Some(w) = when {
        lines.push(w.to_string());
    }
    if let Some(p) = &v.ping {
        lines.push(ping_line(p));
    }
    if let Some(t) = &v.trace {
        lines.extend(trace_lines(t));
    }
    if let Some(s) = &v.scan {
        lines.push(scan_line(s));
    }
    if !v.tcp.is_empty() {
        lines.push(tcp_line(&v.tcp));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// One JSON object on one line, keys in connvitals' order. `timestamp_ms`: the monitor's
/// `"timestamp"` field (milliseconds since the epoch).
pub fn json(v: &HostVitals, timestamp_ms: Option<f64>) -> String {
    let mut parts = vec![
        format!(r#"{{"addr":{}"#, json!(v.addr.to_string())),
        format!(r#""name":{}"#, json!(v.name)),
    ];
    if let Some(p) = &v.ping {
        parts.push(format!(
            r#""ping":{{"min":{},"avg":{},"max":{},"std":{},"loss":{}}}"#,
            round3(p.min),
            round3(p.avg),
            round3(p.max),
            round3(p.std),
            round3(p.loss)
        ));
    }
    if let Some(t) = &v.trace {
        let hops: Vec<String> = t
            .iter()
            .map(|h| match h.addr {
                Some(a) => format!("[{},{}]", json!(a.to_string()), round3(h.rtt_ms)),
                None => r#"["*"]"#.to_string(),
            })
            .collect();
        parts.push(format!(r#""trace":[{}]"#, hops.join(",")));
    }
    if let Some(s) = &v.scan {
        let mysql = match &s.mysql {
            None => "null".to_string(),
            Some(m) => format!(
                r#"{{"rtt":{},"version":{}}}"#,
                round3(m.rtt_ms),
                json!(m.version)
            ),
        };
        // serde_json's Value keeps keys sorted: the objects are written by hand to keep
        // connvitals' order (values through serde_json, so strings are escaped).
        parts.push(format!(
            r#""scan":{{"http":{},"https":{},"mysql":{mysql}}}"#,
            http_obj(&s.http),
            http_obj(&s.https)
        ));
    }
    if !v.tcp.is_empty() {
        let checks: Vec<String> = v
            .tcp
            .iter()
            .map(|c| match &c.outcome {
                Ok(ms) => format!(r#"{{"port":{},"rtt":{}}}"#, c.port, round3(*ms)),
                Err(why) => format!(r#"{{"port":{},"error":{}}}"#, c.port, json!(why)),
            })
            .collect();
        parts.push(format!(r#""tcp":[{}]"#, checks.join(",")));
    }
    if let Some(t) = timestamp_ms {
        parts.push(format!(r#""timestamp":{t:.6}"#));
    }
    format!("{}}}", parts.join(","))
}

/// An HTTP result's object with connvitals' key order (`rtt`, `response code`, `server`).
fn http_obj(r: &Option<HttpResult>) -> String {
    match r {
        None => "null".into(),
        Some(r) => {
            let mut o = format!(
                r#"{{"rtt":{},"response code":{},"server":{}"#,
                round3(r.rtt_ms),
                json!(r.code),
                json!(r.server)
            );
            if let Some(p) = &r.cert_problem {
                o.push_str(&format!(r#","certificate":{}"#, json!(p)));
            }
            o.push('}');
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn host() -> HostVitals {
        HostVitals {
            name: "gw.example".into(),
            addr: "198.18.1.1".parse().unwrap(),
            ping: Some(PingSummary::of(
                4,
                &[Duration::from_micros(2180), Duration::from_micros(3000)],
            )),
            trace: Some(vec![
                Hop {
                    addr: Some("10.0.0.1".parse().unwrap()),
                    rtt_ms: 2.18,
                },
                Hop {
                    addr: None,
                    rtt_ms: -1.0,
                },
            ]),
            scan: Some(Scan {
                http: Some(HttpResult {
                    rtt_ms: 56.446,
                    code: "200".into(),
                    server: Some("gws".into()),
                    cert_problem: None,
                }),
                https: None,
                mysql: Some(MysqlResult {
                    rtt_ms: 1.5,
                    version: "5.7.2".into(),
                }),
            }),
            tcp: vec![],
        }
    }

    #[test]
    fn plain_block_as_connvitals_prints_it() {
        assert_eq!(
            plain(&host(), None),
            "gw.example (198.18.1.1)\n2.180\t2.590\t3.000\t0.410\t0.5\n10.0.0.1\t2.180\n*\n\
             56.446, 200, gws\tNone\t1.500, 5.7.2\n"
        );
        let mut lost = host();
        lost.name = "198.18.1.1".into();
        lost.ping = Some(PingSummary::of(4, &[]));
        lost.trace = None;
        lost.scan = None;
        assert_eq!(plain(&lost, None), "198.18.1.1\n-1\t-1\t-1\t-1\t-1\n");
    }

    #[test]
    fn json_object_in_connvitals_key_order() {
        let j = json(&host(), None);
        assert_eq!(
            j,
            r#"{"addr":"198.18.1.1","name":"gw.example","ping":{"min":2.18,"avg":2.59,"max":3.0,"std":0.41,"loss":0.5},"trace":[["10.0.0.1",2.18],["*"]],"scan":{"http":{"rtt":56.446,"response code":"200","server":"gws"},"https":null,"mysql":{"rtt":1.5,"version":"5.7.2"}}}"#
        );
        let _: serde_json::Value = serde_json::from_str(&j).unwrap();
    }

    #[test]
    fn error_and_warning_lines() {
        assert_eq!(
            error_line(
                "ResolveError",
                "cannot resolve host name 'x'",
                "Wed Dec  2 15:26:40 2026"
            ),
            "EE: ResolveError: cannot resolve host name 'x':\t-\tWed Dec  2 15:26:40 2026"
        );
        assert_eq!(
            warning_line("pinging with ping(8)", "Wed Dec  2 15:26:40 2026"),
            "WW: pinging with ping(8) -\tWed Dec  2 15:26:40 2026"
        );
    }
}
