//! Reading datalogs of every format vpnmon writes (the original's 7 columns, `extended` with its
//! header, `jsonl`) back into rows, streaming, line by line (a file may mix formats). Times are
//! kept as the wall-clock time written in the file (the local time of the monitoring machine),
//! as seconds on a naive scale. A line that cannot be read is skipped and named, unless no line
//! of the file could be read.

use super::schema::{JsonRecord, COLUMNS, EXTENDED_COLUMNS, HEADER_START};
use crate::record::{Test, Verdict};
use std::io::{Cursor, SeekFrom};
use std::path::{Path, PathBuf};

/// One row of a datalog as read, any format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DatalogRow<'a> {
    pub cycle: u64,
    /// The date and time columns as naive seconds (see [`to_naive`]).
    pub t: i64,
    pub test: Test,
    pub verdict: Verdict,
    pub address: &'a str,
    pub name: &'a str,
    /// Round-trip times in ms (extended and jsonl; `None` where unknown or unreadable).
    pub rtt_min_ms: Option<f32>,
    pub rtt_avg_ms: Option<f32>,
    pub rtt_max_ms: Option<f32>,
    /// How long the test took in ms (extended and jsonl): for `VPN open` the client's time to
    /// connect, EpMonitoring's stage 2.
    pub duration_ms: Option<f32>,
    /// The RTTs' standard deviation in ms and the loss in percent (extended rows and jsonl
    /// lines written since issue 14; `None` before, or where unknown).
    pub rtt_std_ms: Option<f32>,
    pub loss_pct: Option<f32>,
    /// Why the check was not Good, as written (extended and jsonl; empty where none).
    pub reason: &'a str,
    /// The site (extended rows and jsonl lines that carry it; empty where unknown).
    pub site: &'a str,
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
    /// Random bytes or another kind of file: stops the report early instead of reading it all.
    #[error(
        "{path}: its first {lines} non-blank lines are all unreadable (not one datalog row), so \
it was not read further; is this a vpnmon datalog (vpnmon, extended or jsonl format)?"
    )]
    Garbage { path: PathBuf, lines: usize },
}

/// The longest line read, in bytes; a longer one is skipped with a warning, and never held in
/// memory whole (a row is well under 1 KiB).
pub const MAX_LINE: usize = 64 * 1024;

/// A file whose first this many non-blank lines are all unreadable, none of them a row or a
/// header, is not a datalog: it is rejected there instead of being read to its end.
pub const GARBAGE_LINES: usize = 1000;

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
    Some(days(date)? * 86_400 + seconds(time)?)
}

/// The days of `YYYY?MM?DD` since 1970-01-01.
fn days(date: &str) -> Option<i64> {
    let d = date.as_bytes();
    if d.len() != 10 {
        return None;
    }
    let day =
        chrono::NaiveDate::from_ymd_opt(num(&d[0..4])? as i32, num(&d[5..7])?, num(&d[8..10])?)?;
    // `NaiveDate::default()` is 1970-01-01, so the scale is the Unix one (see `from_naive`).
    Some(
        day.signed_duration_since(chrono::NaiveDate::default())
            .num_days(),
    )
}

/// The seconds of `HH:MM:SS` (and anything after it) since midnight.
fn seconds(time: &str) -> Option<i64> {
    let t = time.as_bytes();
    if t.len() < 8 {
        return None;
    }
    let (h, m, s) = (num(&t[0..2])?, num(&t[3..5])?, num(&t[6..8])?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some((h * 3600 + m * 60 + s) as i64)
}

/// The last date read and its days: consecutive rows nearly always share the date.
#[derive(Default)]
struct LastDate {
    date: [u8; 10],
    days: Option<i64>,
}

impl LastDate {
    fn date_time(&mut self, date: &str, time: &str) -> Option<i64> {
        if self.days.is_none() || date.as_bytes() != self.date {
            self.days = days(date);
            if self.days.is_some() {
                self.date.copy_from_slice(date.as_bytes());
            }
        }
        Some(self.days? * 86_400 + seconds(time)?)
    }
}

/// An RTT column: empty is unknown, and so is a value that is not a number.
fn ms(s: &str) -> Option<f32> {
    s.parse().ok()
}

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

/// The field counts of a CSV row: the original's, or extended.
const ORIGINAL_LEN: usize = COLUMNS.len();
const EXTENDED_LEN: usize = COLUMNS.len() + EXTENDED_COLUMNS.len();
/// Where the duration and the RTT columns are in an extended row.
const DURATION: usize = ORIGINAL_LEN;
const RTT_MIN: usize = ORIGINAL_LEN + 3;
/// An extended row written before the `site` column, and one written before `rtt_std_ms` and
/// `loss_pct`.
const EXTENDED_NO_SITE_LEN: usize = EXTENDED_LEN - 4;
const EXTENDED_NO_STD_LEN: usize = EXTENDED_LEN - 3;
/// An extended row written before the `path` column.
const EXTENDED_NO_PATH_LEN: usize = EXTENDED_LEN - 1;
/// Where the reason, the site, the deviation and the loss are in an extended row.
const REASON: usize = EXTENDED_LEN - 5;
const SITE: usize = EXTENDED_LEN - 4;
const RTT_STD: usize = EXTENDED_LEN - 3;
const LOSS: usize = EXTENDED_LEN - 2;

/// Reads datalog lines, reusing its buffers from line to line (a year of rows is millions).
pub struct Reader {
    /// The `csv` crate's reader over one line at a time: each line is one record, so a stray
    /// quote never swallows the lines after it. Only `\n` ends a record; a lone `\r` is data.
    csv: csv::Reader<Cursor<Vec<u8>>>,
    record: csv::StringRecord,
    last_date: LastDate,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    pub fn new() -> Reader {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(Cursor::new(Vec::new()));
        // No header detection: every line is a record.
        csv.set_byte_headers(csv::ByteRecord::new());
        Reader {
            csv,
            record: csv::StringRecord::new(),
            last_date: LastDate::default(),
        }
    }

    /// Reads one datalog file, any format, streaming; calls `row` for each row. Lines that
    /// cannot be read are skipped and returned for a warning, unless no line could be read.
    /// Memory stays bounded whatever the file holds (see [`FileReader`]).
    pub fn read_file(
        &mut self,
        path: &Path,
        mut row: impl FnMut(DatalogRow<'_>),
    ) -> Result<Skipped, ReadError> {
        let mut f = FileReader::open(path, None)?;
        while f.next_row(self, &mut row)? {}
        f.finish()
    }

    /// Reads datalog text as [`Reader::read_file`] does; `path` only names it in messages.
    pub fn read_str(
        &mut self,
        path: &Path,
        text: &str,
        mut row: impl FnMut(DatalogRow<'_>),
    ) -> Result<Skipped, ReadError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut skipped = Skipped::new(path);
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let r = if lines.peek().is_some() {
                self.read_line(line, &mut row)
            } else {
                cut_off(line)
            };
            skipped.note(i + 1, r);
        }
        skipped.finish()
    }

    /// One line (with or without its line end) of any format: `Ok(true)` for a row or a
    /// header, `Ok(false)` for a blank line, or what is wrong with it.
    pub fn read_line(
        &mut self,
        line: &str,
        row: &mut impl FnMut(DatalogRow<'_>),
    ) -> Result<bool, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return Ok(false);
        }
        if line.starts_with(HEADER_START) {
            return Ok(true);
        }
        if line.starts_with('{') {
            json_line(line, row)?;
        } else {
            self.csv_line(line, row)?;
        }
        Ok(true)
    }

    fn csv_line(&mut self, line: &str, row: &mut impl FnMut(DatalogRow<'_>)) -> Result<(), String> {
        let mut f = [""; EXTENDED_LEN];
        // Without quotes, CSV fields are what lies between the commas (what the `csv` crate
        // reads too, only faster: most rows have no quotes). Commas are ASCII, so the cuts are
        // at character boundaries.
        let (mut n, mut start, mut quoted) = (0, 0, false);
        let bytes = line.as_bytes();
        for i in memchr::memchr2_iter(b',', b'"', bytes) {
            if bytes[i] == b'"' {
                quoted = true;
                break;
            }
            if let Some(slot) = f.get_mut(n) {
                *slot = &line[start..i];
            }
            n += 1;
            start = i + 1;
        }
        if !quoted {
            if let Some(slot) = f.get_mut(n) {
                *slot = &line[start..];
            }
            return fields_row(&f, n + 1, &mut self.last_date, row);
        }
        let buf = self.csv.get_mut().get_mut();
        buf.clear();
        buf.extend_from_slice(line.as_bytes());
        // Back to the start of the new line, with the parser's state reset.
        self.csv
            .seek_raw(SeekFrom::Start(0), csv::Position::new())
            .and_then(|_| self.csv.read_record(&mut self.record))
            .map_err(|e| format!("cannot read this line as CSV ({e})"))?;
        for (slot, v) in f.iter_mut().zip(self.record.iter()) {
            *slot = v;
        }
        fields_row(&f, self.record.len(), &mut self.last_date, row)
    }
}

/// A CSV row from its first fields (up to [`EXTENDED_LEN`]) and its field count.
fn fields_row(
    f: &[&str; EXTENDED_LEN],
    len: usize,
    last_date: &mut LastDate,
    row: &mut impl FnMut(DatalogRow<'_>),
) -> Result<(), String> {
    if ![
        ORIGINAL_LEN,
        EXTENDED_NO_SITE_LEN,
        EXTENDED_NO_STD_LEN,
        EXTENDED_NO_PATH_LEN,
        EXTENDED_LEN,
    ]
    .contains(&len)
    {
        return Err(format!(
            "{len} columns, expected {ORIGINAL_LEN}, {EXTENDED_NO_SITE_LEN}, {EXTENDED_NO_STD_LEN}, {EXTENDED_NO_PATH_LEN} or {EXTENDED_LEN}"
        ));
    }
    let extended = len != ORIGINAL_LEN;
    let cycle: u64 = f[0]
        .trim()
        .parse()
        .map_err(|_| format!("bad cycle number `{}`", f[0]))?;
    let t = last_date.date_time(f[1], f[2]).ok_or_else(|| {
        format!(
            "bad date/time `{} {}` (expected YYYY/MM/DD,HH:MM:SS)",
            f[1], f[2]
        )
    })?;
    let test = Test::parse(f[3]).ok_or_else(|| format!("unknown test `{}`", f[3]))?;
    let verdict = Verdict::parse(f[4]).ok_or_else(|| format!("unknown result `{}`", f[4]))?;
    let rtt = |i: usize| {
        if extended {
            ms(f[RTT_MIN + i])
        } else {
            None
        }
    };
    row(DatalogRow {
        cycle,
        t,
        test,
        verdict,
        address: f[5],
        name: f[6],
        rtt_min_ms: rtt(0),
        rtt_avg_ms: rtt(1),
        rtt_max_ms: rtt(2),
        duration_ms: if extended { ms(f[DURATION]) } else { None },
        rtt_std_ms: if len >= EXTENDED_NO_PATH_LEN {
            ms(f[RTT_STD])
        } else {
            None
        },
        loss_pct: if len >= EXTENDED_NO_PATH_LEN {
            ms(f[LOSS])
        } else {
            None
        },
        reason: if extended { f[REASON] } else { "" },
        site: if len >= EXTENDED_NO_STD_LEN {
            f[SITE]
        } else {
            ""
        },
    });
    Ok(())
}

/// Reads one line of `input` into `buf`, with its line end, but at most `cap` bytes: the rest of
/// a longer line is read and dropped (`buf` is then empty). Returns the line's whole length and
/// whether it ended with `\n`, or `None` at the end of the input.
fn read_capped(
    input: &mut impl std::io::BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<(u64, bool)>> {
    buf.clear();
    let mut len: u64 = 0;
    loop {
        let avail = match input.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((len > 0).then_some((len, false)));
        }
        let (take, ended) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        len += take as u64;
        if len <= cap as u64 {
            buf.extend_from_slice(&avail[..take]);
        } else {
            buf.clear();
        }
        input.consume(take);
        if ended {
            return Ok(Some((len, true)));
        }
    }
}

/// One datalog file read row by row, in bounded memory: lines longer than [`MAX_LINE`] are
/// skipped without being held, and a file whose first [`GARBAGE_LINES`] non-blank lines are all
/// unreadable is rejected ([`ReadError::Garbage`]) instead of being read to its end.
pub struct FileReader {
    input: std::io::BufReader<std::io::Take<std::fs::File>>,
    buf: Vec<u8>,
    /// Lines and bytes read so far.
    lines: usize,
    bytes: u64,
    skipped: Skipped,
}

impl FileReader {
    /// Opens `path`; with `limit`, reads only its first `limit` bytes (what an earlier reading
    /// of a file that is still being appended to saw).
    pub fn open(path: &Path, limit: Option<u64>) -> Result<FileReader, ReadError> {
        use std::io::Read;
        let f = std::fs::File::open(path).map_err(|e| io_error(path, &e))?;
        Ok(FileReader {
            input: std::io::BufReader::with_capacity(1 << 16, f.take(limit.unwrap_or(u64::MAX))),
            buf: Vec::with_capacity(256),
            lines: 0,
            bytes: 0,
            skipped: Skipped::new(path),
        })
    }

    /// Reads lines until one holds a row, which goes to `row`: `Ok(true)`, or `Ok(false)` at the
    /// end of the file. Lines that cannot be read are noted for [`FileReader::finish`].
    pub fn next_row(
        &mut self,
        reader: &mut Reader,
        row: &mut impl FnMut(DatalogRow<'_>),
    ) -> Result<bool, ReadError> {
        loop {
            let got = read_capped(&mut self.input, &mut self.buf, MAX_LINE)
                .map_err(|e| io_error(&self.skipped.path, &e))?;
            let Some((len, ended)) = got else {
                return Ok(false);
            };
            self.lines += 1;
            self.bytes += len;
            let mut was_row = false;
            let r = if len > MAX_LINE as u64 {
                Err(format!(
                    "a line of {len} bytes, longer than a row can be ({MAX_LINE} bytes at most)"
                ))
            } else {
                // Valid UTF-8 (nearly every line) is checked faster than it is converted.
                let text = match std::str::from_utf8(&self.buf) {
                    Ok(t) => std::borrow::Cow::Borrowed(t),
                    Err(_) => String::from_utf8_lossy(&self.buf),
                };
                let line = if self.lines == 1 {
                    text.strip_prefix('\u{FEFF}').unwrap_or(&text)
                } else {
                    &text
                };
                if ended {
                    reader.read_line(line, &mut |d| {
                        was_row = true;
                        row(d)
                    })
                } else {
                    cut_off(line)
                }
            };
            self.skipped.note(self.lines, r);
            if self.skipped.readable == 0 && self.skipped.count >= GARBAGE_LINES {
                return Err(ReadError::Garbage {
                    path: self.skipped.path.clone(),
                    lines: self.skipped.count,
                });
            }
            if was_row {
                return Ok(true);
            }
        }
    }

    /// Bytes read so far (whole lines).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The lines skipped, for the warning; an error if not one line of the file could be read.
    pub fn finish(self) -> Result<Skipped, ReadError> {
        self.skipped.finish()
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> ReadError {
    ReadError::Io {
        path: path.to_path_buf(),
        reason: crate::error::io_reason(e),
    }
}

fn json_line(line: &str, row: &mut impl FnMut(DatalogRow<'_>)) -> Result<(), String> {
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
    let f = |v: Option<f64>| v.map(|v| v as f32);
    row(DatalogRow {
        cycle: j.cycle,
        t,
        test,
        verdict,
        address: &j.address,
        name: &j.name,
        rtt_min_ms: f(j.rtt_min_ms),
        rtt_avg_ms: f(j.rtt_avg_ms),
        rtt_max_ms: f(j.rtt_max_ms),
        duration_ms: f(j.duration_ms),
        rtt_std_ms: f(j.rtt_std_ms),
        loss_pct: f(j.loss_pct),
        reason: j.reason.as_deref().unwrap_or(""),
        site: j.site.as_deref().unwrap_or(""),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cycle, address, name and average RTT of a row.
    type Got = (u64, String, String, Option<f32>);

    fn rows(text: &str) -> Result<Vec<Got>, ReadError> {
        let mut out = Vec::new();
        Reader::new().read_str(Path::new("x"), text, |r| {
            out.push((
                r.cycle,
                r.address.to_string(),
                r.name.to_string(),
                r.rtt_avg_ms,
            ))
        })?;
        Ok(out)
    }

    /// The `csv` crate reads what the writer quotes, one line at a time, and a stray quote
    /// stays within its line.
    #[test]
    fn quoted_fields_and_stray_quotes_stay_on_their_line() {
        let text = "1,2022/09/07,18:20:33,Target ping,Good,10.0.0.1,\"Rack 1, \"\"left\"\"\"\n\
                    2,2022/09/07,18:20:34,Target ping,Good,10.0.0.2,\"open quote, never closed\n\
                    3,2022/09/07,18:20:35,Target ping,Good,10.0.0.3,say \"hi\"\n\
                    4,2022/09/07,18:20:36,Target ping,Good,10.0.0.4,cr\rinside\n";
        assert_eq!(
            rows(text).unwrap(),
            [
                (1, "10.0.0.1".into(), "Rack 1, \"left\"".into(), None),
                (
                    2,
                    "10.0.0.2".into(),
                    "open quote, never closed".into(),
                    None
                ),
                (3, "10.0.0.3".into(), "say \"hi\"".into(), None),
                (4, "10.0.0.4".into(), "cr\rinside".into(), None),
            ]
        );
    }

    /// What the writer writes, the reader reads back: every format, names that need quoting.
    #[test]
    fn reads_back_what_the_writer_writes() {
        use crate::datalog::schema::{format_record, EXTENDED_HEADER};
        use crate::datalog::DatalogFormat;
        use crate::record::{PingStats, Record};
        use chrono::TimeZone;
        use std::time::Duration;
        let names = ["plain", "Rack 1, left", "say \"hi\"", "a\rb", ""];
        let records: Vec<Record> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Record {
                path: None,
                cycle: i as u64 + 1,
                at: chrono::Local
                    .with_ymd_and_hms(2024, 6, 1, 10, 0, 0)
                    .unwrap(),
                test: Test::TargetPing,
                result: Verdict::Warn,
                address: format!("10.0.0.{i}"),
                name: n.to_string(),
                site: "Site".into(),
                reason: Some("1 of 2, lost".into()),
                ping: Some(PingStats {
                    sent: 2,
                    received: 1,
                    rtt_min: Some(Duration::from_micros(1500)),
                    rtt_avg: Some(Duration::from_micros(2500)),
                    rtt_max: Some(Duration::from_micros(3500)),
                    rtt_std: Some(Duration::from_micros(1000)),
                }),
                duration: Duration::from_millis(5),
            })
            .collect();
        for format in [
            DatalogFormat::Vpnmon,
            DatalogFormat::Extended,
            DatalogFormat::Jsonl,
        ] {
            let mut text: String = if format == DatalogFormat::Extended {
                EXTENDED_HEADER.into()
            } else {
                String::new()
            };
            text.extend(records.iter().map(|r| format_record(format, r)));
            let got = rows(&text).unwrap();
            let rtt = (format != DatalogFormat::Vpnmon).then_some(2.5);
            let want: Vec<_> = records
                .iter()
                .map(|r| (r.cycle, r.address.clone(), r.name.clone(), rtt))
                .collect();
            assert_eq!(got, want, "{format:?}");
            // The reason, where the format carries one (for the report's tooltips).
            let mut reasons = Vec::new();
            Reader::new()
                .read_str(Path::new("x"), &text, |r| {
                    reasons.push(r.reason.to_string())
                })
                .unwrap();
            let want = if format == DatalogFormat::Vpnmon {
                ""
            } else {
                "1 of 2, lost"
            };
            assert!(reasons.iter().all(|r| r == want), "{format:?}: {reasons:?}");
            assert_eq!(reasons.len(), records.len());
            // The deviation and the loss, where the format carries them.
            let mut spread = Vec::new();
            Reader::new()
                .read_str(Path::new("x"), &text, |r| {
                    spread.push((r.rtt_std_ms, r.loss_pct))
                })
                .unwrap();
            let want = (format != DatalogFormat::Vpnmon).then_some(1.0);
            let loss = (format != DatalogFormat::Vpnmon).then_some(50.0);
            assert!(
                spread.iter().all(|s| *s == (want, loss)),
                "{format:?}: {spread:?}"
            );
        }
    }

    /// Extended rows written before `rtt_std_ms` and `loss_pct` (15 columns) and before `site`
    /// (14) still read, without them; a 16-column row is refused with the counts it may have.
    #[test]
    fn extended_rows_from_before_the_deviation_still_read() {
        let head = "1,2022/09/07,18:20:33,Target ping,Warn,10.0.0.1,R,5,2,1,1.5,2.5,3.5,lost";
        let mut got = Vec::new();
        for line in [
            format!("{head}\n"),
            format!("{head},S\n"),
            format!("{head},S,0.5,50\n"),
        ] {
            Reader::new()
                .read_str(Path::new("x"), &line, |r| {
                    got.push((r.site.to_string(), r.rtt_avg_ms, r.rtt_std_ms, r.loss_pct))
                })
                .unwrap();
        }
        assert_eq!(
            got,
            vec![
                (String::new(), Some(2.5), None, None),
                ("S".into(), Some(2.5), None, None),
                ("S".into(), Some(2.5), Some(0.5), Some(50.0)),
            ]
        );
        let err = Reader::new()
            .read_str(Path::new("x"), &format!("{head},S,0.5\n"), |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("16 columns, expected 7, 14, 15, 17 or 18"),
            "{err}"
        );
    }

    /// Rows without quotes are split at the commas instead of going through the `csv` crate:
    /// both give the same fields (empty ones, spaces, a lone CR, non-ASCII text included).
    #[test]
    fn quote_free_rows_split_as_the_csv_crate_reads_them() {
        for line in [
            "1,2022/09/07,18:20:33,Target ping,Good,10.0.0.1,Rack 1",
            ",,,,,,",
            " 1 , 2022/09/07,18:20:33,Target ping,Good,10.0.0.1,left ",
            "1,2022/09/07,18:20:33,Target ping,Good,10.0.0.1,cr\rinside,",
            "1,2022/09/07,18:20:33,Target ping,Good,é,ü,1.2,2,2,0.4,0.6,0.8,",
            "no commas",
        ] {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_reader(line.as_bytes());
            let rec = r.records().next().unwrap().unwrap();
            let want: Vec<&str> = rec.iter().collect();
            assert_eq!(line.split(',').collect::<Vec<_>>(), want, "{line:?}");
        }
        // And the reader gives the same rows either way (the quoted name is read by the crate).
        let plain = rows("1,2022/09/07,18:20:33,Target ping,Good,10.0.0.1,Rack 1\n").unwrap();
        let quoted = rows("1,2022/09/07,18:20:33,Target ping,Good,10.0.0.1,\"Rack 1\"\n").unwrap();
        assert_eq!(plain, quoted);
        assert_eq!(
            rows("1,2022/09/07,18:20:33,Target ping,Good,10.0.0.1,a,b\nx\n")
                .unwrap_err()
                .to_string(),
            "x:1: 8 columns, expected 7, 14, 15, 17 or 18; is this a vpnmon datalog (vpnmon, extended or jsonl format)?"
        );
    }

    /// A line longer than the cap is read and dropped as it goes: the buffer never holds it.
    #[test]
    fn a_long_line_is_never_held() {
        let text = "y".repeat(10 * MAX_LINE) + "\nnext\n";
        let mut input = std::io::BufReader::with_capacity(4096, text.as_bytes());
        let mut buf = Vec::new();
        let got = read_capped(&mut input, &mut buf, MAX_LINE).unwrap();
        assert_eq!(got, Some((10 * MAX_LINE as u64 + 1, true)));
        assert!(
            buf.is_empty() && buf.capacity() <= 2 * MAX_LINE,
            "{}",
            buf.capacity()
        );
        assert_eq!(
            read_capped(&mut input, &mut buf, MAX_LINE).unwrap(),
            Some((5, true))
        );
        assert_eq!(buf, b"next\n");
        assert_eq!(read_capped(&mut input, &mut buf, MAX_LINE).unwrap(), None);
    }
}
