//! Reading datalogs of every format vpnmon writes (the original's 7 columns, `extended` with its
//! header, `jsonl`) into one history. Times are kept as the wall-clock time written in the file
//! (the local time of the monitoring machine), as seconds on a naive scale.

use crate::record::{Test, Verdict};
use crate::sinks::datalog::JsonRecord;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a check is: the test and the address and name it was about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckKey {
    pub test: Test,
    pub address: String,
    pub name: String,
}

/// One row of a datalog, compact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Naive local time in seconds (see [`to_naive`]).
    pub t: i64,
    pub cycle: u64,
    /// Index into [`History::checks`].
    pub check: u32,
    pub verdict: Verdict,
    /// Round-trip times in ms, NaN when unknown.
    pub rtt_min: f32,
    pub rtt_avg: f32,
    pub rtt_max: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read datalog file {path}: {reason}; check the file name")]
    Io { path: PathBuf, reason: String },
    #[error("{path}:{line}: {what}; is this a vpnmon datalog (vpnmon, extended or jsonl format)?")]
    Bad {
        path: PathBuf,
        line: usize,
        what: String,
    },
}

/// Every row of the files read so far, in file order until [`History::sort`].
#[derive(Debug, Default)]
pub struct History {
    pub checks: Vec<CheckKey>,
    pub rows: Vec<Row>,
    index: HashMap<String, u32>,
    keybuf: String,
}

/// Seconds of a naive date and time, on the scale [`from_naive`] reverses.
pub fn to_naive(d: chrono::NaiveDateTime) -> i64 {
    d.and_utc().timestamp()
}

pub fn from_naive(t: i64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .naive_utc()
}

fn num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// `YYYY?MM?DD` and `HH:MM:SS` (any one-byte separators) into naive seconds.
fn date_time(date: &str, time: &str) -> Option<i64> {
    let (d, t) = (date.as_bytes(), time.as_bytes());
    if d.len() != 10 || t.len() < 8 {
        return None;
    }
    let day =
        chrono::NaiveDate::from_ymd_opt(num(&d[0..4])? as i32, num(&d[5..7])?, num(&d[8..10])?)?;
    let (h, m, s) = (num(&t[0..2])?, num(&t[3..5])?, num(&t[6..8])?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    // `NaiveDate::default()` is 1970-01-01, so the scale is the Unix one (see `from_naive`).
    let days = day
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days();
    Some(days * 86_400 + (h * 3600 + m * 60 + s) as i64)
}

fn ms(s: &str) -> f32 {
    if s.is_empty() {
        f32::NAN
    } else {
        s.parse().unwrap_or(f32::NAN)
    }
}

/// Splits a CSV line with Python csv's quoting (`"a, b"`, `""` inside quotes).
fn split_quoted(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_q = false;
    while let Some(c) = chars.next() {
        match (in_q, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => in_q = false,
            (false, '"') if cur.is_empty() => in_q = true,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

pub const EXTENDED_FIRST: &str = "cycle,date,time,";

impl History {
    pub fn new() -> History {
        History::default()
    }

    fn check_index(&mut self, test: Test, address: &str, name: &str) -> u32 {
        self.keybuf.clear();
        self.keybuf.push_str(test.as_str());
        self.keybuf.push('\0');
        self.keybuf.push_str(address);
        self.keybuf.push('\0');
        self.keybuf.push_str(name);
        if let Some(&i) = self.index.get(self.keybuf.as_str()) {
            return i;
        }
        let i = self.checks.len() as u32;
        self.checks.push(CheckKey {
            test,
            address: address.to_string(),
            name: name.to_string(),
        });
        self.index.insert(self.keybuf.clone(), i);
        i
    }

    /// Reads one datalog file, any format (also mixed, line by line), streaming.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ReadError> {
        use std::io::BufRead;
        let io = |e: std::io::Error| ReadError::Io {
            path: path.to_path_buf(),
            reason: crate::settings::io_reason(&e),
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let mut buf = Vec::with_capacity(256);
        let mut n = 0;
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf).map_err(io)? == 0 {
                return Ok(());
            }
            n += 1;
            let line = String::from_utf8_lossy(&buf);
            let line = if n == 1 {
                line.strip_prefix('\u{FEFF}').unwrap_or(&line)
            } else {
                &line
            };
            self.read_line(path, n, line)?;
        }
    }

    /// Reads datalog text; `path` only names it in errors.
    pub fn read_str(&mut self, path: &Path, text: &str) -> Result<(), ReadError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        for (i, line) in text.split('\n').enumerate() {
            self.read_line(path, i + 1, line)?;
        }
        Ok(())
    }

    /// One line (with or without its line end) of any format; blank lines and headers are skipped.
    fn read_line(&mut self, path: &Path, n: usize, line: &str) -> Result<(), ReadError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with(EXTENDED_FIRST) {
            return Ok(());
        }
        let bad = |what: String| ReadError::Bad {
            path: path.to_path_buf(),
            line: n,
            what,
        };
        if line.starts_with('{') {
            self.json_line(line).map_err(bad)
        } else if line.contains('"') {
            let f = split_quoted(line);
            let f: Vec<&str> = f.iter().map(String::as_str).collect();
            self.csv_fields(&f).map_err(bad)
        } else {
            let mut f = [""; 14];
            let mut k = 0;
            for part in line.split(',') {
                if k < f.len() {
                    f[k] = part;
                }
                k += 1;
            }
            if k > f.len() {
                return Err(bad(format!("{k} columns, expected 7 or 14")));
            }
            self.csv_fields(&f[..k]).map_err(bad)
        }
    }

    fn csv_fields(&mut self, f: &[&str]) -> Result<(), String> {
        if f.len() != 7 && f.len() != 14 {
            return Err(format!("{} columns, expected 7 or 14", f.len()));
        }
        let cycle: u64 = f[0]
            .trim()
            .parse()
            .map_err(|_| format!("bad cycle number `{}`", f[0]))?;
        let t = date_time(f[1], f[2]).ok_or_else(|| {
            format!(
                "bad date/time `{} {}` (expected YYYY/MM/DD,HH:MM:SS)",
                f[1], f[2]
            )
        })?;
        let test = Test::parse(f[3]).ok_or_else(|| format!("unknown test `{}`", f[3]))?;
        let verdict = Verdict::parse(f[4]).ok_or_else(|| format!("unknown result `{}`", f[4]))?;
        let (rtt_min, rtt_avg, rtt_max) = if f.len() == 14 {
            (ms(f[10]), ms(f[11]), ms(f[12]))
        } else {
            (f32::NAN, f32::NAN, f32::NAN)
        };
        let check = self.check_index(test, f[5], f[6]);
        self.rows.push(Row {
            t,
            cycle,
            check,
            verdict,
            rtt_min,
            rtt_avg,
            rtt_max,
        });
        Ok(())
    }

    fn json_line(&mut self, line: &str) -> Result<(), String> {
        let j: JsonRecord = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
        // The wall-clock part as written (the offset is the writer's own local offset).
        let t = if j.time.len() >= 19 {
            date_time(&j.time[0..10], &j.time[11..19])
        } else {
            None
        }
        .ok_or_else(|| format!("bad time `{}` (expected ISO 8601)", j.time))?;
        let test = Test::parse(&j.test).ok_or_else(|| format!("unknown test `{}`", j.test))?;
        let verdict =
            Verdict::parse(&j.result).ok_or_else(|| format!("unknown result `{}`", j.result))?;
        let f = |v: Option<f64>| v.map_or(f32::NAN, |v| v as f32);
        let check = self.check_index(test, &j.address, &j.name);
        self.rows.push(Row {
            t,
            cycle: j.cycle,
            check,
            verdict,
            rtt_min: f(j.rtt_min_ms),
            rtt_avg: f(j.rtt_avg_ms),
            rtt_max: f(j.rtt_max_ms),
        });
        Ok(())
    }

    /// Puts the rows of all files in time order and drops exact duplicates (the same row read
    /// twice, e.g. from overlapping copies); distinct rows are all kept.
    pub fn sort(&mut self) {
        fn key(r: &Row) -> (i64, u64, u32, u8, u32, u32, u32) {
            (
                r.t,
                r.cycle,
                r.check,
                r.verdict as u8,
                r.rtt_min.to_bits(),
                r.rtt_avg.to_bits(),
                r.rtt_max.to_bits(),
            )
        }
        self.rows.sort_unstable_by_key(key);
        self.rows.dedup_by(|a, b| key(a) == key(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_formats_alike() {
        let mut h = History::new();
        let p = Path::new("x");
        h.read_str(
            p,
            "\u{FEFF}1,2022/09/07,18:20:33,VPN ping,Good,gw.example,VPN Gateway\r\n",
        )
        .unwrap();
        h.read_str(p, "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason\n2,2022/09/07,18:50:33,Target ping,Warn,10.0.0.1,\"Rack 1, left\",1002,2,1,1.5,2.5,3.5,\"1 of 2, lost\"\n").unwrap();
        h.read_str(p, "{\"cycle\":3,\"time\":\"2022-09-07T19:20:33+02:00\",\"test\":\"Target ping\",\"result\":\"Fail\",\"address\":\"10.0.0.1\",\"name\":\"Rack 1, left\",\"duration_ms\":2000.0,\"sent\":2,\"received\":0,\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null,\"reason\":\"no reply\"}\n").unwrap();
        assert_eq!(h.rows.len(), 3);
        assert_eq!(h.checks.len(), 2);
        assert_eq!(h.checks[1].name, "Rack 1, left");
        assert_eq!(h.rows[1].check, h.rows[2].check);
        assert_eq!(h.rows[1].rtt_avg, 2.5);
        assert!(h.rows[2].rtt_avg.is_nan());
        assert_eq!(h.rows[2].t - h.rows[0].t, 3600);
        assert_eq!(from_naive(h.rows[0].t).to_string(), "2022-09-07 18:20:33");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let mut h = History::new();
        let e = h
            .read_str(
                Path::new("d.csv"),
                "1,2022/09/07,18:20:33,VPN ping,Good,a,b\nhello\n",
            )
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.csv:2: 1 columns, expected 7 or 14"), "{e}");
        let e = h
            .read_str(
                Path::new("d.csv"),
                "1,2022/13/07,18:20:33,VPN ping,Good,a,b\n",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad date/time"), "{e}");
    }

    #[test]
    fn sort_orders_and_drops_only_exact_duplicates() {
        let mut h = History::new();
        let p = Path::new("x");
        let b =
            "1,2022/09/07,19:00:00,VPN ping,Good,a,b\n1,2022/09/07,19:00:00,VPN ping,Fail,a,b\n";
        let a = "1,2022/09/07,18:00:00,VPN ping,Good,a,b\n";
        h.read_str(p, b).unwrap();
        h.read_str(p, a).unwrap();
        h.read_str(p, b).unwrap();
        h.sort();
        assert_eq!(h.rows.len(), 3);
        assert!(h.rows.windows(2).all(|w| w[0].t <= w[1].t));
    }
}
