//! The datalog's columns and formats, and vpnmon's CSV dialect. The one place that decides what
//! a row looks like; [`super::read`] reads back exactly these.

use super::DatalogFormat;
use crate::millis::{ms, ms_text, round_duration_ms};
use crate::record::{Record, Test, Verdict};
use std::time::Duration;

/// The original's columns, in order. The `vpnmon` format writes no header line for them.
pub const COLUMNS: [&str; 7] = ["cycle", "date", "time", "test", "result", "address", "name"];

/// The columns the `extended` format adds after [`COLUMNS`] (empty where unknown). `site` came
/// came after them (issue 12), then the RTTs' standard deviation and the loss in percent (issue
/// 14): files written before either have the first seven or eight, and are still read.
pub const EXTENDED_COLUMNS: [&str; 11] = [
    "duration_ms",
    "sent",
    "received",
    "rtt_min_ms",
    "rtt_avg_ms",
    "rtt_max_ms",
    "reason",
    "site",
    "rtt_std_ms",
    "loss_pct",
    "path",
];

/// The extended format's header line ([`COLUMNS`] then [`EXTENDED_COLUMNS`]).
pub const EXTENDED_HEADER: &str = "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason,site,rtt_std_ms,loss_pct,path\n";

/// The datalog's line end on disk: CRLF on Windows, as the original wrote there (Python in text
/// mode), LF elsewhere. Rows are built with LF in memory; JSON lines keep LF everywhere.
pub const LINE_END: &str = if cfg!(windows) { "\r\n" } else { "\n" };

/// `text` (lines ending in LF, as built in memory) with `line_end` instead, for the file.
pub fn with_line_ends(text: String, line_end: &str) -> String {
    if line_end == "\n" {
        text
    } else {
        text.replace('\n', line_end)
    }
}

/// The rows of `records` as the datalog file holds them on this OS (`rows` with `LINE_END`).
pub fn file_rows(format: DatalogFormat, records: &[Record]) -> String {
    match format {
        DatalogFormat::Jsonl => rows(format, records),
        _ => with_line_ends(rows(format, records), LINE_END),
    }
}

/// The header line a new file of `format` begins with, as the file holds it on this OS (none
/// for the original's format and jsonl).
pub fn file_header(format: DatalogFormat) -> String {
    match format {
        DatalogFormat::Extended => with_line_ends(EXTENDED_HEADER.to_string(), LINE_END),
        DatalogFormat::Epmon => with_line_ends(EPMON_HEADER.to_string(), LINE_END),
        _ => String::new(),
    }
}

/// EpMonitoring's result file header (its README's, without the trailing spaces).
pub const EPMON_HEADER: &str = "Time,CPE Name,Summary,Stage 1 in ms,Stage 2 in ms,Stage 3 in ms\n";

/// Python's `time.asctime()`: `Wed Nov 14 00:03:40 2018`, the day padded with a space.
pub const EPMON_TIME_FORMAT: &str = "%a %b %e %H:%M:%S %Y";

/// A stage in ms with three decimals, as EpMonitoring writes it.
fn epmon_ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// One EpMonitoring row per site of the cycle, in the order the sites ran: stage 1 the average
/// RTT of the ping before the VPN (`TIMEOUT` without a reply), stage 2 the open's time
/// (`ERROR` when it failed or was not tried), stage 3 the average RTT of the first target
/// (`TIMEOUT`); `SUCCESS` when all three are numbers. A site without a VPN client has no
/// stage 2 and is judged on the other two.
fn epmon_rows(out: &mut CsvText, records: &[Record]) {
    let mut sites: Vec<&str> = Vec::new();
    for r in records {
        if !sites.contains(&r.site.as_str()) {
            sites.push(&r.site);
        }
    }
    for site in sites {
        let mine: Vec<&Record> = records.iter().filter(|r| r.site == site).collect();
        let rtt = |r: Option<&&Record>| {
            r.and_then(|r| r.ping)
                .filter(|p| p.received > 0)
                .and_then(|p| p.rtt_avg)
                .map(epmon_ms)
        };
        let stage1 = rtt(mine.iter().find(|r| r.test == Test::VpnPing));
        let open = mine.iter().find(|r| r.test == Test::VpnOpen);
        let stage2 = match open {
            Some(o) if o.result == Verdict::Good => Some(epmon_ms(o.duration)),
            Some(_) => None,
            None => Some(String::new()),
        };
        let stage3 = rtt(mine.iter().find(|r| r.test == Test::TargetPing));
        let ok = stage1.is_some() && stage2.is_some() && stage3.is_some();
        let at = mine[0].at.format(EPMON_TIME_FORMAT).to_string();
        out.row([
            at.as_str(),
            site,
            if ok { "SUCCESS" } else { "FAILURE" },
            stage1.as_deref().unwrap_or("TIMEOUT"),
            stage2.as_deref().unwrap_or("ERROR"),
            stage3.as_deref().unwrap_or("TIMEOUT"),
        ]);
    }
}

/// How a header line starts; no row does (a row starts with its cycle number).
pub const HEADER_START: &str = "cycle,date,time,";

/// The date and time columns' formats (local wall-clock time).
pub const DATE_FORMAT: &str = "%Y/%m/%d";
pub const TIME_FORMAT: &str = "%H:%M:%S";

/// vpnmon's CSV dialect, for every CSV file it writes (datalog rows, the report's CSV): as
/// Python's csv module writes by default (QUOTE_MINIMAL, `\n` line ends), so a field is quoted
/// only when it holds a comma, a quote or a line break (`\r` or `\n`), and a quote inside is
/// doubled. Flexible: records may differ in length.
pub fn csv_writer<W: std::io::Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .terminator(csv::Terminator::Any(b'\n'))
        .double_quote(true)
        .flexible(true)
        .from_writer(w)
}

/// CSV lines in vpnmon's dialect, built in memory.
pub struct CsvText(csv::Writer<Vec<u8>>);

impl Default for CsvText {
    fn default() -> Self {
        CsvText::new()
    }
}

impl CsvText {
    pub fn new() -> CsvText {
        CsvText(csv_writer(Vec::new()))
    }

    /// With room for `bytes` (a cycle's rows are written into one buffer: grown by doubling,
    /// it held the old and the new array at once).
    pub fn with_capacity(bytes: usize) -> CsvText {
        CsvText(csv_writer(Vec::with_capacity(bytes)))
    }

    /// Adds one record (with its line end).
    pub fn row<I, T>(&mut self, fields: I)
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        // Writing to memory cannot fail: the only errors are the sink's I/O errors.
        let _ = self.0.write_record(fields);
    }

    pub fn into_string(self) -> String {
        // Flushing into memory cannot fail; the fields were `&str`s, so the text is UTF-8.
        let bytes = self.0.into_inner().map_err(|e| e.into_error());
        String::from_utf8(bytes.unwrap_or_default())
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// One field in vpnmon's CSV dialect: quoted only where it holds a comma, quote or line break.
pub fn quote(field: &str) -> String {
    if field.is_empty() {
        // Alone in a record, an empty field is written `""`; among others it is empty.
        return String::new();
    }
    let mut out = CsvText::new();
    out.row([field]);
    let mut s = out.into_string();
    s.pop(); // the line end
    s
}

/// The date and time columns of the last second formatted: the rows of a sweep share a few
/// seconds, so each second is formatted once, not twice per row.
#[derive(Default)]
struct Stamp {
    at: Option<(i64, chrono::FixedOffset)>,
    date: String,
    time: String,
}

impl Stamp {
    fn of(&mut self, at: &chrono::DateTime<chrono::Local>) -> (&str, &str) {
        let key = (at.timestamp(), *at.offset());
        if self.at != Some(key) {
            use std::fmt::Write;
            self.date.clear();
            self.time.clear();
            let _ = write!(self.date, "{}", at.format(DATE_FORMAT));
            let _ = write!(self.time, "{}", at.format(TIME_FORMAT));
            self.at = Some(key);
        }
        (&self.date, &self.time)
    }
}

/// A loss in percent as the extended columns write it: at most three decimals (`25`, `33.333`).
fn loss_text(p: f64) -> String {
    ms_text(p)
}

/// A loss in percent as a JSON number, rounded as the RTTs are (three decimals).
fn round_loss(p: f64) -> f64 {
    (p * 1000.0).round() / 1000.0
}

fn extended_fields(r: &Record) -> [String; 11] {
    let p = r.ping;
    let opt = |d: Option<Duration>| d.map(|d| ms_text(ms(d))).unwrap_or_default();
    [
        ms_text(ms(r.duration)),
        p.map(|p| p.sent.to_string()).unwrap_or_default(),
        p.map(|p| p.received.to_string()).unwrap_or_default(),
        opt(p.and_then(|p| p.rtt_min)),
        opt(p.and_then(|p| p.rtt_avg)),
        opt(p.and_then(|p| p.rtt_max)),
        r.reason.clone().unwrap_or_default(),
        r.site.clone(),
        opt(p.and_then(|p| p.rtt_std)),
        p.and_then(|p| p.loss_pct())
            .map(loss_text)
            .unwrap_or_default(),
        r.path
            .as_deref()
            .map(|p| crate::record::path_text(p, " "))
            .unwrap_or_default(),
    ]
}

fn add_row(out: &mut CsvText, format: DatalogFormat, r: &Record, stamp: &mut Stamp) {
    let cycle = r.cycle.to_string();
    let (date, time) = stamp.of(&r.at);
    let original = [
        cycle.as_str(),
        date,
        time,
        r.test.as_str(),
        r.result.as_str(),
        r.address.as_str(),
        r.name.as_str(),
    ];
    match format {
        // The original's four tests only: `--tcp` rows are not written in its format (its
        // readers know those four names).
        DatalogFormat::Vpnmon if !r.test.in_original_format() => {}
        DatalogFormat::Vpnmon => out.row(original),
        DatalogFormat::Extended => {
            let extended = extended_fields(r);
            out.row(
                original
                    .into_iter()
                    .chain(extended.iter().map(String::as_str)),
            )
        }
        // Not one row per record; `rows` handles them.
        DatalogFormat::Jsonl | DatalogFormat::Epmon => {}
    }
}

/// The original's row: `cycle,YYYY/MM/DD,HH:MM:SS,test,result,address,name` and its line end.
pub fn format_row(r: &Record) -> String {
    let mut out = CsvText::new();
    add_row(&mut out, DatalogFormat::Vpnmon, r, &mut Stamp::default());
    out.into_string()
}

/// An extended row: the original's columns, then [`EXTENDED_COLUMNS`].
pub fn format_extended_row(r: &Record) -> String {
    let mut out = CsvText::new();
    add_row(&mut out, DatalogFormat::Extended, r, &mut Stamp::default());
    out.into_string()
}

/// The JSON object of a record (the `jsonl` datalog format and `--json` on stdout share it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JsonRecord {
    pub cycle: u64,
    /// ISO 8601 with the UTC offset, seconds precision: `2022-09-07T18:20:47+02:00`.
    pub time: String,
    pub test: String,
    pub result: String,
    pub address: String,
    pub name: String,
    pub duration_ms: Option<f64>,
    pub sent: Option<u32>,
    pub received: Option<u32>,
    pub rtt_min_ms: Option<f64>,
    pub rtt_avg_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    pub reason: Option<String>,
    /// The site (absent in lines written before sites existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The RTTs' standard deviation (absent in lines written before it).
    #[serde(default)]
    pub rtt_std_ms: Option<f64>,
    /// The echoes lost, in percent of those sent (absent in lines written before it).
    #[serde(default)]
    pub loss_pct: Option<f64>,
    /// `--trace-on-fail`'s path: each hop's address, `*` for none (only where traced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
}

/// The `time` field's format.
pub const JSON_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%:z";

impl JsonRecord {
    pub fn of(r: &Record) -> JsonRecord {
        let p = r.ping;
        JsonRecord {
            cycle: r.cycle,
            time: r.at.format(JSON_TIME_FORMAT).to_string(),
            test: r.test.as_str().to_string(),
            result: r.result.as_str().to_string(),
            address: r.address.clone(),
            name: r.name.clone(),
            duration_ms: Some(round_duration_ms(r.duration)),
            sent: p.map(|p| p.sent),
            received: p.map(|p| p.received),
            rtt_min_ms: p.and_then(|p| p.rtt_min).map(round_duration_ms),
            rtt_avg_ms: p.and_then(|p| p.rtt_avg).map(round_duration_ms),
            rtt_max_ms: p.and_then(|p| p.rtt_max).map(round_duration_ms),
            reason: r.reason.clone(),
            site: Some(r.site.clone()),
            rtt_std_ms: p.and_then(|p| p.rtt_std).map(round_duration_ms),
            loss_pct: p.and_then(|p| p.loss_pct()).map(round_loss),
            path: r.path.as_ref().map(|p| {
                p.iter()
                    .map(|h| h.map_or("*".to_string(), |a| a.to_string()))
                    .collect()
            }),
        }
    }
}

/// One JSON line (with its newline) for a record.
pub fn format_json_row(r: &Record) -> String {
    // Serializing plain strings and numbers cannot fail.
    let mut s = serde_json::to_string(&JsonRecord::of(r)).unwrap_or_default();
    s.push('\n');
    s
}

/// A record's row in `format`.
pub fn format_record(format: DatalogFormat, r: &Record) -> String {
    rows(format, std::slice::from_ref(r))
}

/// The rows of `records` in `format`, each with its line end (no header).
pub fn rows(format: DatalogFormat, records: &[Record]) -> String {
    if format == DatalogFormat::Jsonl {
        return records.iter().map(format_json_row).collect();
    }
    // About 64 bytes a row (the original's fixture averages 55).
    let mut out = CsvText::with_capacity(records.len().saturating_mul(64));
    if format == DatalogFormat::Epmon {
        epmon_rows(&mut out, records);
        return out.into_string();
    }
    let mut stamp = Stamp::default();
    for r in records {
        add_row(&mut out, format, r, &mut stamp);
    }
    out.into_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{Test, Verdict};
    use chrono::{Local, TimeZone};

    /// A record of the original's fixture day with the fields a row shows (shared by the
    /// datalog's tests).
    pub(crate) fn rec(test: Test, result: Verdict, address: &str, name: &str) -> Record {
        Record {
            path: None,
            cycle: 1,
            at: Local.with_ymd_and_hms(2022, 9, 7, 18, 20, 47).unwrap(),
            test,
            result,
            address: address.into(),
            name: name.into(),
            site: "Site".into(),
            reason: Some("not in the row".into()),
            ping: None,
            duration: Duration::ZERO,
        }
    }

    /// Every row of a real datalog of the original, rebuilt from its fields, comes out
    /// byte-identical.
    #[test]
    fn rows_match_the_original_bytes() {
        let fixture = include_str!("../../tests/data/vpnmon-original-datalog.csv");
        let mut rebuilt = String::new();
        for line in fixture.lines() {
            let f: Vec<&str> = line.splitn(7, ',').collect();
            let at = chrono::NaiveDateTime::parse_from_str(
                &format!("{} {}", f[1], f[2]),
                "%Y/%m/%d %H:%M:%S",
            )
            .unwrap();
            let mut r = rec(
                Test::parse(f[3]).unwrap(),
                Verdict::parse(f[4]).unwrap(),
                f[5],
                f[6],
            );
            r.cycle = f[0].parse().unwrap();
            r.at = Local.from_local_datetime(&at).single().unwrap();
            rebuilt.push_str(&format_row(&r));
        }
        assert_eq!(fixture.lines().count(), 114);
        assert_eq!(rebuilt, fixture);
    }

    /// Windows' datalog (CRLF, as the original there): every row and the header end in CRLF,
    /// and the rows read back as the LF ones do.
    #[test]
    fn crlf_rows_for_windows_read_back_the_same() {
        let mut a = rec(Test::TargetPing, Verdict::Good, "10.0.0.1", "Rack 1");
        let mut b = rec(Test::TargetPing, Verdict::Fail, "10.0.0.2", "Rack, 2");
        a.cycle = 3;
        b.cycle = 3;
        let lf = rows(DatalogFormat::Vpnmon, &[a, b]);
        let crlf = with_line_ends(lf.clone(), "\r\n");
        assert_eq!(crlf.matches("\r\n").count(), 2, "{crlf:?}");
        assert_eq!(crlf.replace("\r\n", "\n"), lf);
        assert!(with_line_ends(EXTENDED_HEADER.into(), "\r\n")
            .ends_with("reason,site,rtt_std_ms,loss_pct,path\r\n"));
        assert_eq!(with_line_ends(lf.clone(), "\n"), lf);
        assert_eq!(LINE_END, if cfg!(windows) { "\r\n" } else { "\n" });
        let read = |text: &str| {
            let mut got = Vec::new();
            let skipped = crate::datalog::read::Reader::new()
                .read_str(std::path::Path::new("d.csv"), text, |r| {
                    got.push(format!("{r:?}"))
                })
                .map(|s| s.warning());
            (got, format!("{skipped:?}"))
        };
        let (got, skipped) = read(&crlf);
        assert_eq!(got.len(), 2, "{got:?} {skipped}");
        assert!(got[1].contains("Rack, 2"), "{got:?}");
        assert_eq!((got, skipped), read(&lf));
    }

    #[test]
    fn quoting_only_where_needed() {
        let r = rec(
            Test::TargetPing,
            Verdict::Fail,
            "10.0.0.1",
            "Rack 1, \"left\"",
        );
        assert_eq!(
            format_row(&r),
            "1,2022/09/07,18:20:47,Target ping,Fail,10.0.0.1,\"Rack 1, \"\"left\"\"\"\n"
        );
    }

    /// The rule the hand-written quoting had (Python's QUOTE_MINIMAL): quoted exactly when a
    /// field holds a comma, quote, CR or LF; nothing else (spaces, `#`, empty, non-ASCII).
    #[test]
    fn quoting_is_pythons_minimal_rule() {
        fn minimal(field: &str) -> String {
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.to_string()
            }
        }
        for f in [
            "",
            " ",
            "plain",
            " lead and trail ",
            "a,b",
            "say \"hi\"",
            "\"",
            "line\nbreak",
            "cr\ronly",
            "crlf\r\n",
            "#hash",
            "tab\there",
            "semi;colon",
            "'single'",
            "Zürich, Bâle",
            "\\back\\slash",
        ] {
            assert_eq!(quote(f), minimal(f), "{f:?}");
            let mut r = rec(Test::TargetPing, Verdict::Good, f, f);
            r.cycle = 3;
            let expected = format!(
                "3,2022/09/07,18:20:47,Target ping,Good,{},{}\n",
                minimal(f),
                minimal(f)
            );
            assert_eq!(format_row(&r), expected, "{f:?}");
        }
    }

    #[test]
    fn extended_header_is_the_columns() {
        let joined: Vec<&str> = COLUMNS.iter().chain(&EXTENDED_COLUMNS).copied().collect();
        assert_eq!(EXTENDED_HEADER, format!("{}\n", joined.join(",")));
        assert!(EXTENDED_HEADER.starts_with(HEADER_START));
    }

    #[test]
    fn extended_and_json_rows() {
        let mut r = rec(Test::TargetPing, Verdict::Warn, "10.0.0.1", "Rack, A");
        r.duration = Duration::from_micros(1_002_500);
        r.reason = Some("1 of 2 echo replies".into());
        r.ping = Some(crate::record::PingStats {
            sent: 2,
            received: 1,
            rtt_min: Some(Duration::from_micros(1500)),
            rtt_avg: Some(Duration::from_micros(1500)),
            rtt_max: Some(Duration::from_micros(1500)),
            rtt_std: Some(Duration::ZERO),
        });
        assert_eq!(
            format_extended_row(&r),
            "1,2022/09/07,18:20:47,Target ping,Warn,10.0.0.1,\"Rack, A\",1002.5,2,1,1.5,1.5,1.5,1 of 2 echo replies,Site,0,50,\n"
        );
        r.ping = Some(crate::record::PingStats {
            sent: 3,
            received: 2,
            rtt_min: Some(Duration::from_micros(1000)),
            rtt_avg: Some(Duration::from_micros(2000)),
            rtt_max: Some(Duration::from_micros(3000)),
            rtt_std: Some(Duration::from_micros(1000)),
        });
        assert!(
            format_extended_row(&r).ends_with(",1,2,3,1 of 2 echo replies,Site,1,33.333,\n"),
            "{}",
            format_extended_row(&r)
        );
        let j = JsonRecord::of(&r);
        assert_eq!((j.rtt_std_ms, j.loss_pct), (Some(1.0), Some(33.333)));
        // A record without echoes (VPN open) leaves both empty.
        let open = rec(Test::VpnOpen, Verdict::Good, "gw", "G");
        assert!(format_extended_row(&open).ends_with(",Site,,,\n"));
        assert_eq!(JsonRecord::of(&open).loss_pct, None);
        let j = format_json_row(&r);
        let offset = r.at.format("%:z").to_string();
        assert!(
            j.starts_with(&format!("{{\"cycle\":1,\"time\":\"2022-09-07T18:20:47{offset}\",\"test\":\"Target ping\",\"result\":\"Warn\"")),
            "{j}"
        );
        let back: JsonRecord = serde_json::from_str(&j).unwrap();
        assert_eq!(back, JsonRecord::of(&r));
        // The default format stays the original's.
        assert_eq!(format_record(DatalogFormat::Vpnmon, &r), format_row(&r));
        // A cycle's rows are each record's row, in order.
        let two = [r.clone(), rec(Test::VpnClose, Verdict::Good, "gw", "G")];
        for format in [
            DatalogFormat::Vpnmon,
            DatalogFormat::Extended,
            DatalogFormat::Jsonl,
        ] {
            let each: String = two.iter().map(|r| format_record(format, r)).collect();
            assert_eq!(rows(format, &two), each, "{format:?}");
        }
    }
}

#[cfg(test)]
mod epmon_tests {
    use super::*;
    use crate::record::PingStats;
    use chrono::{Local, TimeZone};

    fn rec(site: &str, test: Test, result: Verdict, rtt_ms: Option<u64>, dur_ms: u64) -> Record {
        let rtt = rtt_ms.map(|m| Duration::from_micros(m * 1000 + 213));
        Record {
            path: None,
            cycle: 1,
            at: Local.with_ymd_and_hms(2018, 11, 4, 0, 3, 40).unwrap(),
            test,
            result,
            address: "a".into(),
            name: "n".into(),
            site: site.into(),
            reason: None,
            ping: rtt_ms.map(|_| PingStats {
                sent: 5,
                received: if rtt.is_some() { 5 } else { 0 },
                rtt_min: rtt,
                rtt_avg: rtt,
                rtt_max: rtt,
                rtt_std: rtt.map(|_| Duration::ZERO),
            }),
            duration: Duration::from_micros(dur_ms * 1000 + 671),
        }
    }

    #[test]
    fn one_row_per_site_with_its_three_stages() {
        let recs = vec![
            rec("site1", Test::VpnPing, Verdict::Good, Some(5), 0),
            rec("site1", Test::VpnOpen, Verdict::Good, None, 10529),
            rec("site1", Test::TargetPing, Verdict::Good, Some(436), 0),
            rec("site1", Test::VpnClose, Verdict::Good, None, 3),
            rec("site2", Test::VpnPing, Verdict::Good, Some(5), 0),
            rec("site2", Test::VpnOpen, Verdict::Fail, None, 60000),
            Record {
                ping: Some(PingStats {
                    sent: 5,
                    ..Default::default()
                }),
                ..rec("site2", Test::TargetPing, Verdict::Fail, None, 0)
            },
        ];
        assert_eq!(
            file_header(DatalogFormat::Epmon).replace("\r\n", "\n"),
            "Time,CPE Name,Summary,Stage 1 in ms,Stage 2 in ms,Stage 3 in ms\n"
        );
        assert_eq!(
            rows(DatalogFormat::Epmon, &recs),
            "Sun Nov  4 00:03:40 2018,site1,SUCCESS,5.213,10529.671,436.213\n\
             Sun Nov  4 00:03:40 2018,site2,FAILURE,5.213,ERROR,TIMEOUT\n"
        );
    }
}
