//! The metrics vpnmon serves on /metrics, named as blackbox_exporter and Prometheus's
//! conventions have it (`_seconds`, `_ratio`, `_total`, `_timestamp_seconds`, `_info`).
//!
//! The families live in a `prometheus-client` registry. The page is encoded once per change,
//! not per scrape: an update calls `changed()`, and an encoder thread of its own encodes the
//! registry (both formats) and publishes the bytes; a scrape takes the last published page (a
//! reference count, no encoding, no family lock), so it never waits on a cycle or an encoding.
//! Changes that come while an encoding runs are coalesced into the next one, and encodings are
//! at least `MIN_GAP` apart, so a cycle's burst of a thousand results costs a few encodings,
//! not a core for the burst's length (scrapes then share the machine with a cycle, not with an
//! encoder running flat out); the end of a cycle (`settled`) skips the gap. A check that
//! leaves the targets leaves the families (`forget`): the series stay bounded by the targets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use tokio::sync::watch;

type FGauge = Gauge<f64, AtomicU64>;

/// The shortest time between two encodings while results stream in. 100 ms: a scrape sees a
/// result at most this late during a cycle (Prometheus scrapes every 15 s or so), and a burst of
/// 1,000 results in a second is about ten encodings rather than one per result.
const MIN_GAP: std::time::Duration = std::time::Duration::from_millis(100);

/// One check: the site and the datalog's test, address and name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    pub site: String,
    pub test: String,
    pub address: String,
    pub name: String,
}

/// A check and one of its possible verdicts (a state set: the current one is 1).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub site: String,
    pub test: String,
    pub address: String,
    pub name: String,
    pub verdict: String,
}

impl VerdictLabels {
    fn of(c: &CheckLabels, verdict: &str) -> VerdictLabels {
        VerdictLabels {
            site: c.site.clone(),
            test: c.test.clone(),
            address: c.address.clone(),
            name: c.name.clone(),
            verdict: verdict.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// The verdict names, in the datalog's words.
pub const VERDICTS: [&str; 3] = ["Good", "Warn", "Fail"];

/// One encoding of the registry: the generation of changes it includes and both formats.
pub struct Page {
    pub generation: u64,
    pub openmetrics: bytes::Bytes,
    pub prometheus_text: bytes::Bytes,
}

impl Page {
    fn encode(registry: &Registry, generation: u64) -> Page {
        let mut om = String::with_capacity(1 << 20);
        let _ = prometheus_client::encoding::text::encode(&mut om, registry);
        let text = to_prometheus_text(&om);
        Page {
            generation,
            openmetrics: om.into(),
            prometheus_text: text.into(),
        }
    }
}

/// All of vpnmon's metrics. Cheap to clone (the families and the page are shared). The
/// encoder thread ends when the last clone is dropped.
#[derive(Clone)]
pub struct Metrics {
    /// Changes asked for so far (`changed()` counts them).
    wanted: Arc<AtomicU64>,
    /// Wakes the encoder; holds one wake at most, so a burst of changes is one encoding.
    wake: SyncSender<()>,
    /// Someone waits for the page (`settled`): the encoder skips what is left of `MIN_GAP`.
    urgent: Arc<AtomicBool>,
    /// The last published page.
    page: watch::Receiver<Arc<Page>>,
    pub success: Family<CheckLabels, Gauge>,
    pub verdict: Family<VerdictLabels, Gauge>,
    pub rtt: Family<CheckLabels, FGauge>,
    pub loss: Family<CheckLabels, FGauge>,
    pub duration: Family<CheckLabels, FGauge>,
    pub consecutive_failures: Family<CheckLabels, Gauge>,
    pub last_result: Family<CheckLabels, FGauge>,
    pub cycles: Counter,
    pub cycle_start: FGauge,
    pub cycle_end: FGauge,
    pub cycle_duration: FGauge,
    pub datalog_errors: Counter,
    pub reload_success: Gauge,
    pub reload_time: FGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::build(None)
    }

    fn build(extra: Option<Box<dyn prometheus_client::collector::Collector>>) -> Metrics {
        let mut r = Registry::default();
        let success = Family::<CheckLabels, Gauge>::default();
        let verdict = Family::<VerdictLabels, Gauge>::default();
        let rtt = Family::<CheckLabels, FGauge>::default();
        let loss = Family::<CheckLabels, FGauge>::default();
        let duration = Family::<CheckLabels, FGauge>::default();
        let consecutive_failures = Family::<CheckLabels, Gauge>::default();
        let last_result = Family::<CheckLabels, FGauge>::default();
        let cycles = Counter::default();
        let cycle_start = FGauge::default();
        let cycle_end = FGauge::default();
        let cycle_duration = FGauge::default();
        let datalog_errors = Counter::default();
        let reload_success = Gauge::default();
        let reload_time = FGauge::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        // Until a reload fails, the running configuration is the one asked for.
        reload_success.set(1);
        r.register(
            "vpnmon_check_success",
            "Whether the check's last result was Good (1) or not (0)",
            success.clone(),
        );
        r.register(
            "vpnmon_check_verdict",
            "The check's last verdict (Good, Warn, Fail): 1 for the current one",
            verdict.clone(),
        );
        r.register(
            "vpnmon_check_rtt_seconds",
            "Average round-trip time of the answered echoes of the check's last ping",
            rtt.clone(),
        );
        r.register(
            "vpnmon_check_echo_loss_ratio",
            "Share of the echo requests of the check's last ping that got no answer",
            loss.clone(),
        );
        r.register(
            "vpnmon_check_duration_seconds",
            "How long the check's last test took (VPN open and close: the client's time)",
            duration.clone(),
        );
        r.register(
            "vpnmon_check_consecutive_failures",
            "Results in a row that were not Good, up to the last one",
            consecutive_failures.clone(),
        );
        r.register(
            "vpnmon_check_last_result_timestamp_seconds",
            "When the check's last test started (Unix time)",
            last_result.clone(),
        );
        r.register("vpnmon_cycles", "Test cycles completed", cycles.clone());
        r.register(
            "vpnmon_last_cycle_start_timestamp_seconds",
            "When the last test cycle started (Unix time)",
            cycle_start.clone(),
        );
        r.register(
            "vpnmon_last_cycle_end_timestamp_seconds",
            "When the last completed test cycle ended (Unix time)",
            cycle_end.clone(),
        );
        r.register(
            "vpnmon_last_cycle_duration_seconds",
            "How long the last completed test cycle took",
            cycle_duration.clone(),
        );
        r.register(
            "vpnmon_datalog_write_errors",
            "Cycles whose rows could not be written to the datalog",
            datalog_errors.clone(),
        );
        r.register(
            "vpnmon_config_reload_success",
            "Whether the last configuration reload (SIGHUP) succeeded",
            reload_success.clone(),
        );
        r.register(
            "vpnmon_config_last_reload_timestamp_seconds",
            "When the configuration was last reloaded successfully (Unix time; 0: never)",
            reload_time.clone(),
        );
        r.register(
            "vpnmon_build_info",
            "vpnmon's version, as a label (value 1)",
            build,
        );
        if let Some(c) = extra {
            r.register_collector(c);
        }
        let wanted = Arc::new(AtomicU64::new(0));
        let (page_tx, page) = watch::channel(Arc::new(Page::encode(&r, 0)));
        let (wake, woken) = sync_channel::<()>(1);
        let w = wanted.clone();
        let urgent = Arc::new(AtomicBool::new(false));
        let hurry = urgent.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-encoder".into())
            .spawn(move || {
                let mut last: Option<std::time::Instant> = None;
                // Ends when every Metrics (every wake sender) is gone.
                while woken.recv().is_ok() {
                    // At least MIN_GAP after the last encoding, unless a cycle's end waits for
                    // the page. Wakes that come meanwhile are changes the encoding will include.
                    if let Some(at) = last.map(|t| t + MIN_GAP) {
                        while !hurry.load(Ordering::SeqCst) {
                            let Some(left) = at.checked_duration_since(std::time::Instant::now())
                            else {
                                break;
                            };
                            match woken.recv_timeout(left) {
                                Ok(()) => {}
                                Err(RecvTimeoutError::Timeout) => break,
                                Err(RecvTimeoutError::Disconnected) => return,
                            }
                        }
                    }
                    hurry.store(false, Ordering::SeqCst);
                    // Read before encoding: a change made after this wakes us again.
                    let generation = w.load(Ordering::SeqCst);
                    let fresh = Page::encode(&r, generation);
                    page_tx.send_replace(Arc::new(fresh));
                    last = Some(std::time::Instant::now());
                }
            });
        if let Err(e) = spawned {
            // Without the thread the page stays the first one; said, not fatal.
            tracing::error!("cannot start the metrics encoder thread: {e}");
        }
        Metrics {
            wanted,
            wake,
            urgent,
            page,
            success,
            verdict,
            rtt,
            loss,
            duration,
            consecutive_failures,
            last_result,
            cycles,
            cycle_start,
            cycle_end,
            cycle_duration,
            datalog_errors,
            reload_success,
            reload_time,
        }
    }

    /// Removes every series of a check that is no longer tested.
    pub fn forget(&self, c: &CheckLabels) {
        self.success.remove(c);
        self.rtt.remove(c);
        self.loss.remove(c);
        self.duration.remove(c);
        self.consecutive_failures.remove(c);
        self.last_result.remove(c);
        for v in VERDICTS {
            self.verdict.remove(&VerdictLabels::of(c, v));
        }
    }

    /// Sets the check's verdict state set: `current` 1, the others 0.
    pub fn set_verdict(&self, c: &CheckLabels, current: &str) {
        for v in VERDICTS {
            self.verdict
                .get_or_create(&VerdictLabels::of(c, v))
                .set(i64::from(v == current));
        }
    }

    /// Says that the families changed: the encoder makes a new page (off the caller's path).
    pub fn changed(&self) {
        self.wanted.fetch_add(1, Ordering::SeqCst);
        match self.wake.try_send(()) {
            // Full: a wake is already pending and its encoding will include this change.
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// The last published page: what a scrape serves. Never encodes, never waits.
    pub fn page(&self) -> Arc<Page> {
        self.page.borrow().clone()
    }

    /// Waits until the published page includes every change asked for before this call (the
    /// end of a cycle waits for it, so the cycle's results are in the next scrape).
    pub async fn settled(&self) {
        let want = self.wanted.load(Ordering::SeqCst);
        let mut rx = self.page.clone();
        if rx.borrow().generation < want {
            self.urgent.store(true, Ordering::SeqCst);
            let _ = self.wake.try_send(());
        }
        // An error means the encoder is gone: nothing more will come, so nothing to wait for.
        let _ = rx.wait_for(|p| p.generation >= want).await;
    }

    /// The OpenMetrics text exposition (what Prometheus asks for first), as last published.
    pub fn openmetrics(&self) -> String {
        String::from_utf8_lossy(&self.page().openmetrics).into_owned()
    }

    /// The Prometheus text format 0.0.4 (for clients that do not ask for OpenMetrics), as last
    /// published: the same samples; a counter's HELP/TYPE name carries `_total` as its samples
    /// do, no EOF marker.
    pub fn prometheus_text(&self) -> String {
        String::from_utf8_lossy(&self.page().prometheus_text).into_owned()
    }
}

/// OpenMetrics text → Prometheus text 0.0.4 for what this registry holds (gauges, counters).
fn to_prometheus_text(om: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_string());
            }
        }
    }
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let mut fixed = None;
        for prefix in ["# TYPE ", "# HELP "] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let name = rest.split(' ').next().unwrap_or("");
                if counters.contains(name) {
                    fixed = Some(format!("{prefix}{name}_total{}", &rest[name.len()..]));
                }
            }
        }
        out.push_str(fixed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str) -> CheckLabels {
        CheckLabels {
            site: "S".into(),
            test: "Target ping".into(),
            address: "127.0.0.2".into(),
            name: name.into(),
        }
    }

    /// Publishes the changes made so far and waits for the page that includes them.
    async fn publish(m: &Metrics) {
        m.changed();
        m.settled().await;
    }

    #[tokio::test]
    async fn forgotten_checks_leave_the_exposition() {
        let m = Metrics::new();
        m.success.get_or_create(&check("web")).set(1);
        m.set_verdict(&check("web"), "Good");
        m.success.get_or_create(&check("db")).set(0);
        publish(&m).await;
        let text = m.openmetrics();
        assert!(text.contains(r#"name="web""#) && text.contains(r#"name="db""#));
        m.forget(&check("web"));
        publish(&m).await;
        let text = m.openmetrics();
        assert!(!text.contains(r#"name="web""#), "{text}");
        assert!(text.contains(r#"name="db""#));
        assert!(text.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn prometheus_text_names_counters_as_their_samples() {
        let m = Metrics::new();
        m.cycles.inc();
        publish(&m).await;
        let text = m.prometheus_text();
        assert!(
            text.contains("# TYPE vpnmon_cycles_total counter\n"),
            "{text}"
        );
        assert!(text.contains("\nvpnmon_cycles_total 1\n"), "{text}");
        assert!(text.contains("vpnmon_build_info{version=\""), "{text}");
        assert!(!text.contains("# EOF"));
        // Every sample's name is declared by a TYPE line (what text 0.0.4 parsers check).
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} undeclared in {text}"
            );
        }
    }

    #[tokio::test]
    async fn a_change_is_in_the_next_page_in_both_formats() {
        let m = Metrics::new();
        let before = m.page();
        assert!(!String::from_utf8_lossy(&before.openmetrics).contains(r#"name="web""#));
        m.success.get_or_create(&check("web")).set(1);
        publish(&m).await;
        let after = m.page();
        assert!(after.generation > before.generation);
        let line =
            r#"vpnmon_check_success{site="S",test="Target ping",address="127.0.0.2",name="web"} 1"#;
        assert!(String::from_utf8_lossy(&after.openmetrics).contains(line));
        assert!(String::from_utf8_lossy(&after.prometheus_text).contains(line));
        // Scrapes between changes share the one encoding rather than making their own.
        assert!(Arc::ptr_eq(&after, &m.page()));
    }

    /// A collector whose encoding, once armed, holds until released: an encoding (or a cycle
    /// holding the families) that takes as long as the test wants.
    #[derive(Debug)]
    struct Gate {
        armed: std::sync::atomic::AtomicBool,
        entered: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
        release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl prometheus_client::collector::Collector for Gate {
        fn encode(
            &self,
            _encoder: prometheus_client::encoding::DescriptorEncoder,
        ) -> Result<(), std::fmt::Error> {
            if self.armed.load(Ordering::SeqCst) {
                let _ = self.entered.lock().unwrap().send(());
                let _ = self.release.lock().unwrap().recv();
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_scrape_while_an_encoding_holds_returns_the_last_page_at_once() {
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        let gate = Arc::new(Gate {
            armed: false.into(),
            entered: entered_tx.into(),
            release: release_rx.into(),
        });
        let m = Metrics::build(Some(Box::new(gate.clone())));
        m.success.get_or_create(&check("web")).set(1);
        publish(&m).await;
        gate.armed.store(true, Ordering::SeqCst);
        m.success.get_or_create(&check("db")).set(0);
        m.changed();
        // The encoder is now inside the held encoding.
        entered
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the encoder started");
        // A scrape now returns the last page, from another thread so a scrape that waited
        // fails the test instead of hanging it.
        let m2 = m.clone();
        let (got_tx, got) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = got_tx.send(m2.prometheus_text());
        });
        let text = got
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a scrape during an encoding returned");
        assert!(text.contains(r#"name="web""#), "{text}");
        assert!(!text.contains(r#"name="db""#), "{text}");
        gate.armed.store(false, Ordering::SeqCst);
        release.send(()).unwrap();
        m.settled().await;
        assert!(m.prometheus_text().contains(r#"name="db""#));
    }

    /// Counts the encodings.
    #[derive(Debug, Default)]
    struct Count(AtomicU64);

    impl prometheus_client::collector::Collector for Count {
        fn encode(
            &self,
            _encoder: prometheus_client::encoding::DescriptorEncoder,
        ) -> Result<(), std::fmt::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// Results streaming in (50 changes 5 ms apart, as a cycle's sweep delivers them) are a few
    /// encodings, MIN_GAP apart, not one per result; the end of the stream (`settled`) still
    /// gets a page with every change, without waiting out the gap.
    #[tokio::test]
    async fn a_stream_of_changes_is_encoded_at_most_every_min_gap() {
        let count = Arc::new(Count::default());
        let m = Metrics::build(Some(Box::new(count.clone())));
        let before = count.0.load(Ordering::SeqCst);
        let started = std::time::Instant::now();
        for i in 0..50 {
            m.success.get_or_create(&check(&format!("t{i}"))).set(1);
            m.changed();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        m.settled().await;
        let encodings = count.0.load(Ordering::SeqCst) - before;
        // One per MIN_GAP of the stream's length, the first at once, and settled's own.
        let most = started.elapsed().as_millis() / MIN_GAP.as_millis() + 2;
        assert!(
            (1..=most as u64).contains(&encodings),
            "{encodings} encodings for 50 changes in {:?}",
            started.elapsed()
        );
        assert!(m.prometheus_text().contains(r#"name="t49""#));
    }
}
