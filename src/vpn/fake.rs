//! A scripted `VpnClient` for in-process tests of the cycle and monitor.

use super::{CloseInfo, Credentials, Deadline, OpenInfo, VpnClient, VpnError};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// What the fake does on `open`.
#[derive(Debug, Clone)]
pub enum FakeOpen {
    Succeed,
    Fail(VpnError),
    /// Waits until cancelled (a hung client).
    Hang,
}

/// Shared log of calls, so a test can assert what the monitor asked for.
#[derive(Debug, Default, Clone)]
pub struct FakeLog(pub Arc<Mutex<Vec<String>>>);

impl FakeLog {
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn push(&self, s: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(s);
        }
    }
}

pub struct FakeVpn {
    pub opens: Vec<FakeOpen>,
    pub close_result: Result<(), VpnError>,
    /// Results for the next closes, used before `close_result`.
    pub close_results: std::collections::VecDeque<Result<(), VpnError>>,
    pub log: FakeLog,
    open_now: bool,
}

impl FakeVpn {
    /// `opens` is consumed one per cycle; the last entry repeats.
    pub fn new(opens: Vec<FakeOpen>) -> FakeVpn {
        FakeVpn {
            opens,
            close_result: Ok(()),
            close_results: Default::default(),
            log: FakeLog::default(),
            open_now: false,
        }
    }
    pub fn is_open(&self) -> bool {
        self.open_now
    }
}

#[async_trait::async_trait]
impl VpnClient for FakeVpn {
    fn label(&self) -> &str {
        "Fake VPN"
    }

    async fn open(
        &mut self,
        gateway: &str,
        credentials: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<OpenInfo, VpnError> {
        self.log
            .push(format!("open {gateway} {}", credentials.username));
        let step = if self.opens.len() > 1 {
            self.opens.remove(0)
        } else {
            self.opens.first().cloned().unwrap_or(FakeOpen::Succeed)
        };
        match step {
            FakeOpen::Succeed => {
                self.open_now = true;
                Ok(OpenInfo::default())
            }
            FakeOpen::Fail(e) => Err(e),
            FakeOpen::Hang => {
                cancel.cancelled().await;
                self.log.push("open cancelled".into());
                Err(VpnError::cancelled())
            }
        }
    }

    async fn close(
        &mut self,
        _deadline: Deadline,
        _cancel: &CancellationToken,
    ) -> Result<CloseInfo, VpnError> {
        self.log.push("close".into());
        self.open_now = false;
        self.close_results
            .pop_front()
            .unwrap_or_else(|| self.close_result.clone())
            .map(|()| CloseInfo::default())
    }
}
