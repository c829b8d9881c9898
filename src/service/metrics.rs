//! The metrics vpnmon serves on /metrics, named as blackbox_exporter and Prometheus's
//! conventions have it (`_seconds`, `_ratio`, `_total`, `_timestamp_seconds`, `_info`).
//!
//! The families live in a `prometheus-client` registry; every update and every scrape takes
//! only a family's own short lock, so a scrape never waits on a running cycle. A check that
//! leaves the targets leaves the families (`forget`): the series stay bounded by the targets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

type FGauge = Gauge<f64, AtomicU64>;

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

/// All of vpnmon's metrics. Cheap to clone (the families are shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
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
        Metrics {
            registry: Arc::new(r),
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

    /// The OpenMetrics text exposition (what Prometheus asks for first).
    pub fn openmetrics(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The Prometheus text format 0.0.4 (for clients that do not ask for OpenMetrics): the same
    /// samples; a counter's HELP/TYPE name carries `_total` as its samples do, no EOF marker.
    pub fn prometheus_text(&self) -> String {
        to_prometheus_text(&self.openmetrics())
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

    #[test]
    fn forgotten_checks_leave_the_exposition() {
        let m = Metrics::new();
        m.success.get_or_create(&check("web")).set(1);
        m.set_verdict(&check("web"), "Good");
        m.success.get_or_create(&check("db")).set(0);
        let text = m.openmetrics();
        assert!(text.contains(r#"name="web""#) && text.contains(r#"name="db""#));
        m.forget(&check("web"));
        let text = m.openmetrics();
        assert!(!text.contains(r#"name="web""#), "{text}");
        assert!(text.contains(r#"name="db""#));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn prometheus_text_names_counters_as_their_samples() {
        let m = Metrics::new();
        m.cycles.inc();
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
}
