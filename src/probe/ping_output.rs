//! Reads what the system's `ping` program printed (iputils and BusyBox, run with `LC_ALL=C`)
//! into echo replies, the summary's counts and the first error. Pure: no process, no clock.
//! Fixtures captured from the real programs are in tests/data/ping/.

use std::time::Duration;

/// What one run of `ping` said.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PingReport {
    /// One reply per echo sequence number (duplicates, `(DUP!)`, counted once), in order.
    pub replies: Vec<Reply>,
    /// The summary's `N packets transmitted`, when it was printed.
    pub transmitted: Option<u32>,
    /// The summary's `M received` / `M packets received`, when it was printed.
    pub received: Option<u32>,
    /// Why no echo could be answered (unreachable, unknown host, …), in vpnmon's words.
    pub error: Option<String>,
}

/// One echo reply line (`64 bytes from …: icmp_seq=1 ttl=64 time=0.035 ms`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reply {
    pub seq: u32,
    pub rtt: Duration,
}

/// Reads stdout and stderr of one `ping` run. Lines it does not know are ignored; the caller
/// decides what a run with neither a reply nor a summary nor an error means.
pub fn parse(stdout: &str, stderr: &str) -> PingReport {
    let mut r = PingReport::default();
    for line in stdout.lines().chain(stderr.lines()) {
        let line = line.trim();
        if let Some(reply) = reply_line(line) {
            if !r.replies.iter().any(|x| x.seq == reply.seq) {
                r.replies.push(reply);
            }
        } else if let Some((sent, received)) = summary_line(line) {
            r.transmitted = Some(sent);
            r.received = Some(received);
        } else if r.error.is_none() {
            r.error = error_words(line);
        }
    }
    r
}

/// `64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.087 ms` (iputils) or
/// `64 bytes from 127.0.0.1: seq=0 ttl=64 time=0.085 ms` (BusyBox).
fn reply_line(line: &str) -> Option<Reply> {
    if !line.contains(" bytes from ") {
        return None;
    }
    let mut seq = None;
    let mut rtt = None;
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if let Some(v) = w
            .strip_prefix("icmp_seq=")
            .or_else(|| w.strip_prefix("seq="))
        {
            seq = v.parse::<u32>().ok();
        } else if let Some(v) = w.strip_prefix("time=").or_else(|| w.strip_prefix("time<")) {
            // The unit is the next word (`ms`), or glued to the number (`time=12ms`).
            let (num, unit) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
                Some(i) => (&v[..i], &v[i..]),
                None => (v, words.peek().copied().unwrap_or("ms")),
            };
            let ms: f64 = num.parse().ok()?;
            let scale = match unit {
                "ms" => 1.0,
                "s" => 1000.0,
                "us" | "µs" | "usec" => 0.001,
                _ => return None,
            };
            rtt = Duration::try_from_secs_f64(ms * scale / 1000.0).ok();
        }
    }
    Some(Reply {
        seq: seq?,
        rtt: rtt?,
    })
}

/// `3 packets transmitted, 3 received, 0% packet loss, time 408ms` (iputils, also with
/// `+3 errors`) or `3 packets transmitted, 3 packets received, 0% packet loss` (BusyBox).
fn summary_line(line: &str) -> Option<(u32, u32)> {
    let (sent, rest) = line.split_once(" packets transmitted, ")?;
    let sent = sent.trim().parse().ok()?;
    let received = rest.split_whitespace().next()?.parse().ok()?;
    Some((sent, received))
}

/// The reasons `ping` gives for an echo that could not be answered, in the words the socket
/// prober uses for the same cause (`platform::net::io_words`).
fn error_words(line: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let known: &[(&str, &str)] = &[
        ("network is unreachable", "network unreachable"),
        ("no route to host", "no route to host"),
        (
            "destination host unreachable",
            "destination host unreachable",
        ),
        (
            "destination net unreachable",
            "destination network unreachable",
        ),
        (
            "destination port unreachable",
            "destination port unreachable",
        ),
        ("time to live exceeded", "time to live exceeded"),
        ("operation not permitted", "ping is not permitted to send"),
        ("permission denied", "ping is not permitted to send"),
        (
            "temporary failure in name resolution",
            "cannot resolve host name",
        ),
        ("name or service not known", "cannot resolve host name"),
        ("unknown host", "cannot resolve host name"),
        ("bad address", "cannot resolve host name"),
    ];
    known
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map(|(_, words)| words.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A captured run: (stdout, stderr, exit status).
    fn fixture(name: &str) -> (String, String, i32) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ping");
        let read = |ext: &str| {
            std::fs::read_to_string(dir.join(format!("{name}.{ext}")))
                .unwrap_or_else(|e| panic!("fixture {name}.{ext}: {e}"))
        };
        let rc = read("rc").trim().parse().unwrap();
        (read("out"), read("err"), rc)
    }

    fn parsed(name: &str) -> PingReport {
        let (out, err, _) = fixture(name);
        parse(&out, &err)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn iputils_replies_and_summary() {
        let r = parsed("iputils-ok-v4");
        let got: Vec<(u32, Duration)> = r.replies.iter().map(|x| (x.seq, x.rtt)).collect();
        assert_eq!(got, vec![(1, us(87)), (2, us(35)), (3, us(44))]);
        assert_eq!(
            (r.transmitted, r.received, r.error),
            (Some(3), Some(3), None)
        );
        let r = parsed("iputils-ok-v6");
        let got: Vec<(u32, Duration)> = r.replies.iter().map(|x| (x.seq, x.rtt)).collect();
        assert_eq!(got, vec![(1, us(103)), (2, us(47))]);
        assert_eq!((r.transmitted, r.received), (Some(2), Some(2)));
    }

    #[test]
    fn busybox_replies_and_summary() {
        let r = parsed("busybox-ok-v4");
        let got: Vec<(u32, Duration)> = r.replies.iter().map(|x| (x.seq, x.rtt)).collect();
        assert_eq!(got, vec![(0, us(85)), (1, us(78)), (2, us(83))]);
        assert_eq!(
            (r.transmitted, r.received, r.error),
            (Some(3), Some(3), None)
        );
        let r = parsed("busybox-ok-v6");
        let got: Vec<(u32, Duration)> = r.replies.iter().map(|x| (x.seq, x.rtt)).collect();
        assert_eq!(got, vec![(0, us(65)), (1, us(90))]);
    }

    #[test]
    fn partial_loss() {
        for (name, seqs) in [("iputils-partial", [1, 3]), ("busybox-partial", [0, 2])] {
            let r = parsed(name);
            let got: Vec<u32> = r.replies.iter().map(|x| x.seq).collect();
            assert_eq!(got, seqs, "{name}");
            assert_eq!((r.transmitted, r.received), (Some(4), Some(2)), "{name}");
        }
    }

    #[test]
    fn total_loss_has_a_summary_and_no_reply() {
        for name in ["iputils-dead", "busybox-dead", "busybox-host-unreachable"] {
            let r = parsed(name);
            assert!(r.replies.is_empty(), "{name}");
            assert_eq!(r.received, Some(0), "{name}");
            assert!(r.transmitted.unwrap() >= 2, "{name}");
            assert_eq!(r.error, None, "{name}");
        }
        let r = parsed("iputils-host-unreachable");
        assert!(r.replies.is_empty());
        assert_eq!((r.transmitted, r.received), (Some(4), Some(0)));
        assert_eq!(r.error.as_deref(), Some("destination host unreachable"));
    }

    #[test]
    fn errors_in_the_socket_probers_words() {
        for name in ["iputils-net-unreachable", "busybox-net-unreachable"] {
            let (out, err, rc) = fixture(name);
            assert_ne!(rc, 0);
            let r = parse(&out, &err);
            assert!(r.replies.is_empty());
            assert_eq!(r.error.as_deref(), Some("network unreachable"), "{name}");
        }
        let r = parsed("busybox-not-permitted");
        assert_eq!(r.error.as_deref(), Some("ping is not permitted to send"));
        assert!(r.replies.is_empty() && r.transmitted.is_none());
        for name in ["iputils-unknown-host", "busybox-unknown-host"] {
            let r = parsed(name);
            assert_eq!(
                r.error.as_deref(),
                Some("cannot resolve host name"),
                "{name}"
            );
            assert_eq!(r.transmitted, None);
        }
    }

    #[test]
    fn duplicates_units_and_garbage() {
        let out = "64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1.50 ms\n\
                   64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1.70 ms (DUP!)\n\
                   64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=12ms\n\
                   64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=7 furlongs\n\
                   64 bytes from 10.0.0.1: icmp_seq=x ttl=64 time=1 ms\n\
                   64 bytes from 10.0.0.1: icmp_seq=4 ttl=64 time=NaNx ms\n\
                   \u{0}\u{7f} bytes from \n";
        let r = parse(out, "");
        let got: Vec<(u32, Duration)> = r.replies.iter().map(|x| (x.seq, x.rtt)).collect();
        assert_eq!(got, vec![(1, us(1500)), (2, us(12000))]);
        assert_eq!(parse("", ""), PingReport::default());
        assert_eq!(
            parse("", "ping: socket: Operation not permitted")
                .error
                .as_deref(),
            Some("ping is not permitted to send")
        );
    }

    proptest::proptest! {
        /// Never a panic, whatever the program printed.
        #[test]
        fn any_text_parses(out in ".{0,300}", err in ".{0,100}") {
            let _ = parse(&out, &err);
        }
    }
}
