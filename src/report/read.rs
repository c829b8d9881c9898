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

/// How many lines of one file could not be read and were skipped (a line cut off by a power
/// loss, a stray edit), with the first few for the warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    /// How many lines were skipped.
    pub count: usize,
    /// The first [`Skipped::SHOWN`]: line number and what was wrong.
    pub first: Vec<(usize, String)>,
    /// Lines read: rows and headers (blank lines do not count).
    readable: usize,
}

impl Skipped {
    /// How many skipped lines the warning names one by one.
    pub const SHOWN: usize = 3;

    fn new(path: &Path) -> Skipped {
        Skipped {
            path: path.to_path_buf(),
            count: 0,
            first: Vec::new(),
            readable: 0,
        }
    }

    /// The warning for standard error: `FILE:LINE: skipped: …` for the first few, then a count;
    /// empty when nothing was skipped.
    pub fn warning(&self) -> Vec<String> {
        let p = self.path.display();
        let mut out: Vec<String> = self
            .first
            .iter()
            .map(|(n, what)| format!("{p}:{n}: skipped: {what}"))
            .collect();
        if self.count > self.first.len() {
            out.push(format!(
                "{p}: {} more bad lines skipped ({} in all)",
                self.count - self.first.len(),
                self.count
            ));
        }
        out
    }

    /// One line's outcome; `Ok(false)` is a blank line.
    fn note(&mut self, n: usize, r: Result<bool, String>) {
        match r {
            Ok(true) => self.readable += 1,
            Ok(false) => {}
            Err(what) => {
                self.count += 1;
                if self.first.len() < Skipped::SHOWN {
                    self.first.push((n, what));
                }
            }
        }
    }

    /// Bad lines are skipped unless not one line of the file could be read: then it is most
    /// likely not a datalog, and the first bad line is the error.
    fn finish(self) -> Result<Skipped, ReadError> {
        match self.first.first() {
            Some((line, what)) if self.readable == 0 => Err(ReadError::Bad {
                path: self.path.clone(),
                line: *line,
                what: what.clone(),
            }),
            _ => Ok(self),
        }
    }
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

/// The last line of a file when it has no line end: every writer of datalogs ends each row with
/// one, so the row was cut off (a power loss, or a write still under way), even if what is left
/// happens to read as a row (a name cut short would count as a check of its own).
fn cut_off(line: &str) -> Result<bool, String> {
    if line.trim().is_empty() {
        Ok(false)
    } else {
        Err("no line end, the row was cut off".into())
    }
}

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

    /// Reads one datalog file, any format (also mixed, line by line), streaming. Lines that
    /// cannot be read are skipped and returned for a warning, unless no line could be read.
    pub fn read_file(&mut self, path: &Path) -> Result<Skipped, ReadError> {
        use std::io::BufRead;
        let io = |e: std::io::Error| ReadError::Io {
            path: path.to_path_buf(),
            reason: crate::error::io_reason(&e),
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let mut buf = Vec::with_capacity(256);
        let mut n = 0;
        let mut skipped = Skipped::new(path);
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf).map_err(io)? == 0 {
                return skipped.finish();
            }
            n += 1;
            let line = String::from_utf8_lossy(&buf);
            let line = if n == 1 {
                line.strip_prefix('\u{FEFF}').unwrap_or(&line)
            } else {
                &line
            };
            let r = if buf.last() == Some(&b'\n') {
                self.read_line(line)
            } else {
                cut_off(line)
            };
            skipped.note(n, r);
        }
    }

    /// Reads datalog text as [`History::read_file`] does; `path` only names it in messages.
    pub fn read_str(&mut self, path: &Path, text: &str) -> Result<Skipped, ReadError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut skipped = Skipped::new(path);
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let r = if lines.peek().is_some() {
                self.read_line(line)
            } else {
                cut_off(line)
            };
            skipped.note(i + 1, r);
        }
        skipped.finish()
    }

    /// One line (with or without its line end) of any format: `Ok(true)` for a row or a
    /// header, `Ok(false)` for a blank line, or what is wrong with it.
    fn read_line(&mut self, line: &str) -> Result<bool, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return Ok(false);
        }
        if line.starts_with(EXTENDED_FIRST) {
            return Ok(true);
        }
        if line.starts_with('{') {
            self.json_line(line)?;
        } else if line.contains('"') {
            let f = split_quoted(line);
            let f: Vec<&str> = f.iter().map(String::as_str).collect();
            self.csv_fields(&f)?;
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
                return Err(format!("{k} columns, expected 7 or 14"));
            }
            self.csv_fields(&f[..k])?;
        }
        Ok(true)
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
        // `get`, not slicing: a time with non-ASCII characters is bad input, not a panic.
        let t = match (j.time.get(0..10), j.time.get(11..19)) {
            (Some(d), Some(t)) => date_time(d, t),
            _ => None,
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
    fn a_file_with_no_readable_line_is_an_error_naming_file_and_line() {
        let mut h = History::new();
        let e = h
            .read_str(Path::new("d.csv"), "\nhello\nworld,2\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("d.csv:2: 1 columns, expected 7 or 14; is this a vpnmon datalog"),
            "{e}"
        );
        let e = h
            .read_str(
                Path::new("d.csv"),
                "1,2022/13/07,18:20:33,VPN ping,Good,a,b\n",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad date/time"), "{e}");
        assert!(h.rows.is_empty());
        // Blank lines alone, or nothing at all, are an empty history, not an error.
        assert_eq!(h.read_str(Path::new("e"), "\n\n").unwrap().count, 0);
    }

    /// Lines cut off (a power loss mid-write, the next row appended to the cut one) or edited
    /// are skipped, counted and named; every good line around them is read.
    #[test]
    fn bad_lines_are_skipped_and_named_when_others_read() {
        let mut h = History::new();
        let good = |c: u32| format!("{c},2022/09/07,18:{c:02}:33,VPN ping,Good,gw,G\n");
        let mut text = good(1);
        text.push_str("2,2022/09/07,18:0"); // cut off, then the next row on the same line
        text.push_str(&good(3));
        text.push_str("{\"cycle\":4,\"time\":\"2022-09-07T18:");
        text.push('\n');
        text.push_str(&good(5));
        text.push_str("hello\n");
        text.push_str("6,2022/09/07,18:40:00,VPN ping,Perfect,gw,G\n");
        text.push_str(&good(7));
        text.push_str("7,2022/09/07,18:5"); // the last line, cut off
        let s = h.read_str(Path::new("d.csv"), &text).unwrap();
        assert_eq!(h.rows.len(), 3);
        assert_eq!(
            h.rows.iter().map(|r| r.cycle).collect::<Vec<_>>(),
            [1, 5, 7]
        );
        assert_eq!(s.count, 5);
        let w = s.warning();
        assert_eq!(w.len(), 4, "{w:?}");
        assert_eq!(w[0], "d.csv:2: skipped: 9 columns, expected 7 or 14");
        assert!(w[1].starts_with("d.csv:3: skipped: bad JSON: "), "{w:?}");
        assert_eq!(w[2], "d.csv:5: skipped: 1 columns, expected 7 or 14");
        assert_eq!(w[3], "d.csv: 2 more bad lines skipped (5 in all)");
        // A file without bad lines warns nothing.
        assert!(h
            .read_str(Path::new("x"), &good(9))
            .unwrap()
            .warning()
            .is_empty());
        // An extended file cut off in its first row after the header: its header was read.
        let s = h
            .read_str(
                Path::new("x"),
                &format!("{EXTENDED_FIRST}test,result\n1,2022/0"),
            )
            .unwrap();
        assert_eq!(
            s.warning(),
            ["x:2: skipped: no line end, the row was cut off"]
        );
        // A last line cut where what is left still reads as a row (the name cut short).
        let s = h
            .read_str(
                Path::new("y"),
                &(good(10) + "11,2022/09/07,18:50:00,VPN ping,Good,gw,Gate"),
            )
            .unwrap();
        assert_eq!(
            s.warning(),
            ["y:2: skipped: no line end, the row was cut off"]
        );
        assert!(h.checks.iter().all(|c| c.name == "G"), "{:?}", h.checks);
    }

    /// A jsonl time with non-ASCII characters where the date and time are expected is a bad
    /// time, not a panic (byte slicing inside a character).
    #[test]
    fn a_non_ascii_json_time_is_a_bad_time() {
        for time in [
            "2022-09-07é8:20:47+02:00",
            "2022-09-0éT18:20:47",
            "2022-09-07T18:20:4é",
            "ééééééééééé",
        ] {
            let mut h = History::new();
            let line = format!("{{\"cycle\":3,\"time\":\"{time}\",\"test\":\"VPN ping\",\"result\":\"Good\",\"address\":\"a\",\"name\":\"b\",\"duration_ms\":null,\"sent\":null,\"received\":null,\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null,\"reason\":null}}\n");
            let e = h
                .read_str(Path::new("d.jsonl"), &line)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("d.jsonl:1: bad time `{time}` (expected ISO 8601)")),
                "{e}"
            );
        }
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
