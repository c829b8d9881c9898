//! The OpenConnect driver: runs the open-source `openconnect` client as a child that vpnmon waits
//! on (never `--background`), one process per tunnel. Its texts are in `strings.rs`, the dialog
//! in `dialog.rs`, the script directory and stale clean-up in `script.rs`.
//!
//! - The password goes to `--passwd-on-stdin`, never on the command line. `--non-inter` makes a
//!   second password prompt after `Login failed.` an error instead of a loop, and makes an
//!   unverifiable certificate a failure instead of a question.
//! - The tunnel is configured by a small connect script vpnmon writes itself (no DNS or resolver
//!   changes; it sets the address and the routes the gateway pushes). The script reports on
//!   openconnect's stdout when configuration finished, so "open" means `Configured as …`, the
//!   script done, and the tun device present.
//! - close() sends SIGINT (openconnect logs off), waits, kills after a grace period, and confirms
//!   the tun device is gone.
//! - openconnect runs in its own process group (a terminal's Ctrl-C reaches only vpnmon, which
//!   then logs off in order) and, on Linux, with a parent-death signal (SIGTERM: openconnect
//!   logs off and runs the disconnect script) so that a vpnmon killed without clean-up (kill -9,
//!   a second Ctrl-C) does not leave a tunnel behind. The signal fires when the *thread* that
//!   forked the child ends: children are forked by the driver thread, which lives as long as the
//!   driver. check() also ends openconnects and removes scripts left by a vpnmon that no longer
//!   runs.
//! - A tunnel that drops while up and that openconnect reconnects by itself (`attempt-reconnect`,
//!   `reconnect` through the script) is reported: the close is a Fail with that reason.

mod dialog;
mod script;
mod strings;

use super::session::DriverThread;
use super::DEFAULT_VPN_TIMEOUT;
use std::path::PathBuf;
use std::time::Duration;

/// The OpenConnect driver as the monitor holds it: its dialog runs on a thread of its own.
pub type OpenConnect = DriverThread<dialog::Dialog>;

/// The driver's resolved configuration (built by `settings`).
#[derive(Debug, Clone)]
pub struct OpenConnectConfig {
    /// The openconnect program (`--openconnect`), looked up on PATH when it has no slash.
    pub program: PathBuf,
    /// `--servercert pin-sha256:…`
    pub servercert: Option<String>,
    /// `--cafile`
    pub cafile: Option<PathBuf>,
    /// `--openconnect-no-dtls`
    pub no_dtls: bool,
    /// How long to wait for the tunnel before giving up (`--vpn-timeout`).
    pub timeout: Duration,
}

impl Default for OpenConnectConfig {
    fn default() -> Self {
        OpenConnectConfig {
            program: PathBuf::from(strings::DEFAULT_PROGRAM),
            servercert: None,
            cafile: None,
            no_dtls: false,
            timeout: DEFAULT_VPN_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dialog::{classify, Dialog, Seen, Session};
    use super::script::interface_name;
    use super::strings::*;
    use super::*;
    use crate::vpn::session::{Deadline, Driver, Inbox, CANCEL_GRACE};
    use crate::vpn::{Credentials, Secret, VpnClient, VpnErrorKind};
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::time::Instant;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn classifies_openconnect_lines() {
        assert_eq!(
            classify("Server certificate verify failed: signer not found"),
            Seen::Nothing,
            "appears on successful pinned connections too"
        );
        assert!(matches!(
            classify("Certificate from VPN server \"198.18.1.1\" failed verification."),
            Seen::Failure(VpnErrorKind::Certificate, _)
        ));
        assert!(matches!(
            classify("Login failed."),
            Seen::Failure(VpnErrorKind::LoginFailed, _)
        ));
        assert!(matches!(
            classify("Failed to connect to 198.18.1.2:443: Connection refused"),
            Seen::Failure(VpnErrorKind::Unreachable, _)
        ));
        assert_eq!(
            classify("Configured as 198.18.100.130, with SSL connected and DTLS disabled"),
            Seen::Configured(
                "Configured as 198.18.100.130, with SSL connected and DTLS disabled".into()
            )
        );
        assert_eq!(classify("vpnmon-script: connect 0"), Seen::ScriptDone(true));
        assert_eq!(
            classify("vpnmon-script: connect 1"),
            Seen::ScriptDone(false)
        );
        assert_eq!(classify("vpnmon-script: disconnect 0"), Seen::Nothing);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn missing_program_is_a_clear_start_up_error() {
        let mut oc = OpenConnect::new(OpenConnectConfig {
            program: PathBuf::from("/nonexistent/openconnect"),
            ..OpenConnectConfig::default()
        });
        let e = oc.check().await.unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::ClientMissing);
        assert!(e.reason.contains("--openconnect PATH"), "{}", e.reason);
        assert_eq!(oc.label(), "OpenConnect");
    }

    /// A driver with default options for `program` and tun device `interface`, nothing open.
    fn test_driver(program: &str, interface: &str) -> Dialog {
        let mut d = Dialog::new(OpenConnectConfig {
            program: PathBuf::from(program),
            ..OpenConnectConfig::default()
        });
        d.interface = interface.to_string();
        d
    }

    #[test]
    fn a_failed_open_names_the_stale_openconnects_ended_once() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        // `false` stands in for an openconnect that fails at once.
        let mut oc = test_driver("false", "vpnmonnone0");
        let note = "ended stale openconnect programs: openconnect (pid 4242)";
        oc.stale_note = Some(note.to_string());
        let creds = Credentials::default();
        let e = oc.open(&mut inbox, "127.0.0.1", &creds).unwrap_err();
        assert_ne!(e.kind, VpnErrorKind::Cancelled, "{e:?}");
        assert_eq!(
            e.diagnostics.first().map(String::as_str),
            Some(note),
            "{e:?}"
        );
        // Said once: the next failed open does not repeat it.
        let e = oc.open(&mut inbox, "127.0.0.1", &creds).unwrap_err();
        assert!(!e.diagnostics.iter().any(|d| d == note), "{e:?}");
        // A cancelled open keeps it for the console of a later one.
        oc.stale_note = Some(note.to_string());
        let cancel = CancellationToken::new();
        cancel.cancel();
        let mut inbox = Inbox::for_test(cancel);
        let e = oc.open(&mut inbox, "127.0.0.1", &creds).unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Cancelled, "{e:?}");
        assert_eq!(oc.stale_note.as_deref(), Some(note));
    }

    /// A driver whose session is `sh -c SCRIPT` (standing in for openconnect), and its inbox
    /// with `cancel` as the request's token.
    fn with_child(script: &str, cancel: &CancellationToken) -> (Dialog, Inbox) {
        let mut inbox = Inbox::for_test(cancel.clone());
        // No such device: the tun check passes at once.
        let mut oc = test_driver("sh", "vpnmonnone0");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        oc.session = Some(Session::start(cmd, &mut inbox, &Secret::new("pw")).unwrap());
        (oc, inbox)
    }

    /// Takes the child's output until `done` holds for the session (at most 5 s).
    fn read_until(oc: &mut Dialog, inbox: &mut Inbox, done: impl Fn(&Session) -> bool) {
        let mut d = Deadline::after(Duration::from_secs(5));
        let s = oc.session.as_mut().unwrap();
        while !done(s) {
            assert!(!d.expired(), "no output from the child");
            let g = inbox.wait(&mut d);
            s.out.take(g);
        }
    }

    fn close(oc: &mut Dialog, inbox: &mut Inbox) -> Result<(), crate::vpn::VpnError> {
        oc.close(inbox, Deadline::after(Duration::from_secs(30)))
            .map(|_| ())
    }

    #[test]
    fn a_drop_and_reconnect_during_the_session_fails_the_close() {
        let cancel = CancellationToken::new();
        let (mut oc, mut inbox) = with_child(
            "echo 'vpnmon-script: attempt-reconnect 0'; echo 'vpnmon-script: reconnect 0'; \
             exec sleep 30",
            &cancel,
        );
        read_until(&mut oc, &mut inbox, |s| s.out.reconnects == 1);
        let e = close(&mut oc, &mut inbox).unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Other);
        assert_eq!(e.reason, DROPPED_RECONNECTED);

        let (mut oc, mut inbox) = with_child(
            "echo 'vpnmon-script: attempt-reconnect 0'; exec sleep 30",
            &cancel,
        );
        read_until(&mut oc, &mut inbox, |s| s.out.drops == 1);
        assert_eq!(
            close(&mut oc, &mut inbox).unwrap_err().reason,
            DROPPED_NOT_RECONNECTED
        );

        let (mut oc, mut inbox) = with_child("exec sleep 30", &cancel);
        assert_eq!(close(&mut oc, &mut inbox), Ok(()));
    }

    #[test]
    fn a_close_cut_short_by_ctrl_c_is_cancelled_not_a_failure() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        // Ignores SIGINT: killed after the grace.
        let (mut oc, mut inbox) = with_child("trap '' INT; while :; do sleep 0.05; done", &cancel);
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        let e = close(&mut oc, &mut inbox).unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Cancelled, "{e:?}");
        assert!(e.reason.contains("killed"), "{}", e.reason);
        assert!(t.elapsed() >= CANCEL_GRACE, "{:?}", t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // Already gone (the signal reached it too).
        let (mut oc, mut inbox) = with_child("exit 1", &cancel);
        read_until(&mut oc, &mut inbox, |s| s.out.open_streams == 0);
        let mut d = Deadline::after(Duration::from_secs(5));
        let s = oc.session.as_mut().unwrap();
        assert!(s.guard.wait_exit(&mut inbox, &mut d, |_| {}).is_some());
        let e = close(&mut oc, &mut inbox).unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Cancelled, "{e:?}");
        assert!(e.reason.contains("already dropped"), "{}", e.reason);
        // Nothing left to close: the retry at the end is Ok.
        assert_eq!(close(&mut oc, &mut inbox), Ok(()));
    }

    #[test]
    fn a_cancel_during_the_log_off_cuts_it_to_the_grace() {
        let cancel = CancellationToken::new();
        let (mut oc, mut inbox) = with_child("trap '' INT; while :; do sleep 0.05; done", &cancel);
        std::thread::sleep(Duration::from_millis(100));
        let c2 = cancel.clone();
        // The inbox hears of it as the async side would tell it.
        let wake = inbox.waker();
        let t = Instant::now();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            c2.cancel();
            wake();
        });
        let e = close(&mut oc, &mut inbox).unwrap_err();
        canceller.join().unwrap();
        let took = t.elapsed();
        assert_eq!(e.kind, VpnErrorKind::Cancelled, "{e:?}");
        assert!(
            took < Duration::from_millis(200) + CANCEL_GRACE + Duration::from_millis(400),
            "{took:?}"
        );
    }

    #[test]
    fn a_close_with_nothing_open_still_checks_the_device() {
        let cancel = CancellationToken::new();
        let (mut oc, mut inbox) = with_child("exit 0", &cancel);
        oc.session = None;
        assert_eq!(close(&mut oc, &mut inbox), Ok(()));
        // A device that stays (lo exists everywhere): not confirmed.
        oc.interface = "lo".into();
        let e = close(&mut oc, &mut inbox).unwrap_err();
        assert!(e.reason.contains("still present"), "{}", e.reason);
    }

    #[test]
    fn the_password_is_not_in_the_childs_environment() {
        let oc = test_driver("openconnect", &interface_name(1));
        let c = oc.command("gw", "u", Path::new("/x.sh"));
        let removed: Vec<_> = c
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(
            removed.contains(&"VPNMON_PASSWORD".to_string()),
            "{removed:?}"
        );
        assert!(
            removed.contains(&"VPNMON_SMTP_PASSWORD".to_string()),
            "{removed:?}"
        );
    }
}
