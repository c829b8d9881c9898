//! Milliseconds as every output shows durations and round-trip times: the one place that says
//! how many decimals and how they are rounded. A leaf: used by the console, the datalog formats
//! (extended, jsonl, `--json`) and the report.

use std::time::Duration;

/// A duration in milliseconds, unrounded.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Milliseconds to the microsecond, trailing zeros dropped (`12.5`, `0.042`, `1500`): the
/// extended datalog's columns and the report's tables and CSV.
pub fn ms_text(ms: f64) -> String {
    let s = format!("{ms:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// [`ms_text`] of an optional value; empty when unknown.
pub fn opt_ms_text(ms: Option<f64>) -> String {
    ms.map(ms_text).unwrap_or_default()
}

/// Milliseconds rounded to the microsecond, as a JSON number (the report's `--format json`).
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// A duration in milliseconds rounded to the microsecond, as a JSON number (the `jsonl` datalog
/// and `--json`). Rounded from microseconds, not via [`ms`]: at half microseconds the two float
/// paths differ in the last digit, and the output stays as it always was.
pub fn round_duration_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The console's RTT: two decimals below 10 ms, whole milliseconds above (`0.05 ms`, `12 ms`).
pub fn console_ms(d: Duration) -> String {
    let mut s = String::new();
    push_console_ms(&mut s, d);
    s
}

/// `console_ms`, appended to `out` (the console builds a burst of lines in one buffer).
pub fn push_console_ms(out: &mut String, d: Duration) {
    use std::fmt::Write as _;
    let v = ms(d);
    let _ = if v < 10.0 {
        write!(out, "{v:.2} ms")
    } else {
        write!(out, "{v:.0} ms")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(ms_text(ms(Duration::from_micros(1_002_500))), "1002.5");
        assert_eq!(ms_text(ms(Duration::from_micros(42))), "0.042");
        assert_eq!(ms_text(1500.0), "1500");
        assert_eq!(ms_text(0.0), "0");
        assert_eq!(opt_ms_text(None), "");
        assert_eq!(round_ms(1.23456), 1.235);
        assert_eq!(round_duration_ms(Duration::from_nanos(1_234_567)), 1.235);
        assert_eq!(console_ms(Duration::from_micros(523)), "0.52 ms");
        assert_eq!(console_ms(Duration::from_micros(12_400)), "12 ms");
    }

    /// The jsonl rounding is kept apart from `round_ms(ms(d))` on purpose: they differ.
    #[test]
    fn duration_rounding_keeps_its_own_float_path() {
        let d = Duration::from_nanos(10_500);
        assert_eq!(round_duration_ms(d), 0.011);
        assert_eq!(round_ms(ms(d)), 0.01);
    }
}
