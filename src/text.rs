//! Safe display of values that came from a file or the network: control characters escaped
//! (no raw NUL, ESC or BEL from input reaches a terminal), long values cut with `…`, and the
//! display width of a value (for tables).
//! A leaf module: imports nothing of the crate. The datalog keeps values as they are (CSV-escaped
//! by its writer); this is for messages and console lines only.

use std::fmt::Write as _;

/// How many characters of a value a message shows before cutting it with `…`.
pub const MAX_SHOWN: usize = 80;

/// `value` with every control character escaped (`\0`, `\e`, `\a`, `\t`, `\r`, `\n`, otherwise
/// `\x7f`, `\u{202e}`). Backslashes stay as written, so Windows paths read naturally. Not cut.
pub fn escape(value: &str) -> String {
    if !value.chars().any(needs_escape) {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// `value` escaped as `escape` does and cut after `MAX_SHOWN` characters with `…`, for messages.
pub fn shown(value: &str) -> String {
    shown_max(value, MAX_SHOWN)
}

/// `shown` with another limit (at least 1 character is kept).
pub fn shown_max(value: &str, max: usize) -> String {
    let mut out = String::new();
    push_shown_max(&mut out, value, max);
    out
}

/// `shown`, appended to `out` (a console line is built in one buffer).
pub fn push_shown(out: &mut String, value: &str) {
    push_shown_max(out, value, MAX_SHOWN);
}

fn push_shown_max(out: &mut String, value: &str, max: usize) {
    let max = max.max(1);
    // Most values are short printable ASCII: as they are.
    if value.len() <= max && value.bytes().all(|b| (b' '..0x7f).contains(&b)) {
        out.push_str(value);
        return;
    }
    for (n, c) in value.chars().enumerate() {
        if n == max {
            out.push('…');
            return;
        }
        push_escaped(out, c);
    }
}

/// `escape`, appended to `out`.
pub fn push_escape(out: &mut String, value: &str) {
    for c in value.chars() {
        push_escaped(out, c);
    }
}

/// A path as `shown` shows a value (its lossy UTF-8 form).
pub fn shown_path(path: &std::path::Path) -> String {
    shown_max(&path.to_string_lossy(), 4 * MAX_SHOWN)
}

/// The display width of `value` on a terminal (East Asian wide characters count 2, combining
/// marks 0), as `unicode-width` measures it. For text already escaped ([`escape`]).
pub fn width(value: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(value)
}

/// `value` cut to at most `max` display columns, ending with `…` when cut (at least the `…` is
/// kept when `max` is 0 or 1). For text already escaped ([`escape`]).
pub fn fit(value: &str, max: usize) -> String {
    if width(value) <= max {
        return value.to_string();
    }
    let room = max.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    for c in value.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Characters that must not reach a terminal raw: C0 and C1 controls, DEL, and the Unicode
/// line/paragraph separators and bidirectional overrides (which reorder what the operator sees).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

fn push_escaped(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
        return;
    }
    match c {
        '\0' => out.push_str("\\0"),
        '\x1b' => out.push_str("\\e"),
        '\x07' => out.push_str("\\a"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `push_shown` (the console's lines) appends what `shown` returns: as written when short
    /// and printable (its quick path), cut after `MAX_SHOWN` characters, escaped otherwise.
    #[test]
    fn push_shown_appends_the_shown_value() {
        let exact = "y".repeat(MAX_SHOWN);
        let long = "x".repeat(MAX_SHOWN + 1);
        let cases = [
            ("host 1", "host 1".to_string()),
            ("tab\there", "tab\\there".to_string()),
            ("é 東京", "é 東京".to_string()),
            ("\x1b[31m", "\\e[31m".to_string()),
            (exact.as_str(), exact.clone()),
            (long.as_str(), format!("{}…", "x".repeat(MAX_SHOWN))),
        ];
        for (value, want) in cases {
            let mut out = String::from(">");
            push_shown(&mut out, value);
            assert_eq!(out, format!(">{want}"), "{value:?}");
            assert_eq!(shown(value), want, "{value:?}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain name, ü"), "plain name, ü");
        assert_eq!(
            escape("a\0b\x1b[31mc\x07d\te\r\nf\x7fg\u{9b}h\u{202e}i"),
            "a\\0b\\e[31mc\\ad\\te\\r\\nf\\x7fg\\x9bh\\u{202e}i"
        );
        assert_eq!(escape(r"C:\vpn\targets.csv"), r"C:\vpn\targets.csv");
    }

    #[test]
    fn long_values_are_cut_with_an_ellipsis() {
        let long = "x".repeat(10_000_000);
        let s = shown(&long);
        assert_eq!(s.chars().count(), MAX_SHOWN + 1);
        assert!(s.ends_with('…'));
        assert_eq!(shown(&"y".repeat(MAX_SHOWN)), "y".repeat(MAX_SHOWN));
        assert_eq!(shown_max("\x1b\x1b\x1b", 2), "\\e\\e…");
    }

    #[test]
    fn fit_cuts_to_a_display_width() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("日本"), 4);
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(width(&fit("abcdef", 4)), 4);
        // A wide character that would overflow is left out whole.
        assert_eq!(fit("日本語", 4), "日…");
        assert_eq!(fit("日本語", 5), "日本…");
        assert_eq!(fit("abc", 0), "…");
    }
}
