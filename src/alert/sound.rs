//! The original's beeps as a real tone (or the user's WAV) through rodio on the default output
//! device, played on a background thread so a cycle's records and Ctrl-C never wait for it.
//! The device is opened only when a beep is due and dropped right after (a null or file device
//! consumes samples as fast as it can while open). No device: the terminal bell, said once.

use crate::record::{CycleReport, Test, Verdict};
use crate::sinks::{RunEnd, Sink, SinkError};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The tone: 880 Hz for 150 ms, then 150 ms of silence, per beep.
const TONE_HZ: f32 = 880.0;
const BEEP: Duration = Duration::from_millis(150);
const GAP: Duration = Duration::from_millis(150);
/// How long the end of a completed run waits for the last beeps.
const FINISH_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SoundError {
    #[error(
        "cannot read --sound-file {path}: {}; give a readable WAV file",
        crate::error::io_reason(source)
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--sound-file {path} is not a WAV file vpnmon can play ({source}); give a PCM WAV file"
    )]
    Decode {
        path: PathBuf,
        #[source]
        source: rodio::decoder::DecoderError,
    },
}

/// Why a beep could not be played (said once, before falling back to the terminal bell).
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("{0}")]
    Device(#[source] rodio::DeviceSinkError),
    #[error("cannot decode the sound file: {0}")]
    Decode(#[source] rodio::decoder::DecoderError),
}

/// How many beeps a cycle's records call for, as the original: 3 when the gateway ping, VPN open
/// or VPN close is not Good, 1 per target that is not Good.
pub fn beeps_for(report: &CycleReport) -> usize {
    report
        .records
        .iter()
        .filter(|r| r.result != Verdict::Good)
        .map(|r| if r.test == Test::TargetPing { 1 } else { 3 })
        .sum()
}

/// What to play for one beep.
#[derive(Clone)]
enum Sound {
    Tone,
    File(std::sync::Arc<Vec<u8>>),
}

/// Checks and loads `--sound-file` at start-up so a bad file is one clear error, not a silent
/// failure at the first outage.
fn load_sound(path: Option<&Path>) -> Result<Sound, SoundError> {
    let Some(path) = path else {
        return Ok(Sound::Tone);
    };
    let bytes = std::fs::read(path).map_err(|source| SoundError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    rodio::Decoder::new_wav(Cursor::new(bytes.clone())).map_err(|source| SoundError::Decode {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Sound::File(std::sync::Arc::new(bytes)))
}

pub struct SoundSink {
    tx: Option<mpsc::Sender<usize>>,
    worker: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    pending: usize,
}

impl SoundSink {
    /// `out` receives the terminal-bell fallback and its one-time notice (stderr with `--json`,
    /// where stdout carries only JSON).
    pub fn new(
        sound_file: Option<&Path>,
        mut out: Box<dyn Write + Send>,
    ) -> Result<SoundSink, SoundError> {
        let sound = load_sound(sound_file)?;
        let (tx, rx) = mpsc::channel::<usize>();
        let (done_tx, done) = mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("vpnmon-sound".into())
            .spawn(move || {
                let mut told_no_device = false;
                while let Ok(mut n) = rx.recv() {
                    // Cycles faster than their beeps: play only the latest cycle's tone, but ring
                    // the bell for every cycle (it costs nothing).
                    let mut all = n;
                    let mut skipped = 0;
                    while let Ok(later) = rx.try_recv() {
                        n = later;
                        all += later;
                        skipped += 1;
                    }
                    for _ in 0..skipped {
                        let _ = done_tx.send(());
                    }
                    if let Err(reason) = play(&sound, n) {
                        if !told_no_device {
                            told_no_device = true;
                            let _ = writeln!(
                                out,
                                "No sound device ({reason}); beeping with the terminal bell instead"
                            );
                        }
                        let _ = out.write_all("\x07".repeat(all).as_bytes());
                        let _ = out.flush();
                    }
                    let _ = done_tx.send(());
                }
            })
            .ok();
        Ok(SoundSink {
            tx: worker.as_ref().map(|_| tx),
            worker,
            done,
            pending: 0,
        })
    }
}

#[async_trait::async_trait]
impl Sink for SoundSink {
    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        while self.done.try_recv().is_ok() {
            self.pending = self.pending.saturating_sub(1);
        }
        let n = beeps_for(report);
        if n > 0 && !report.cancelled {
            if let Some(tx) = &self.tx {
                if tx.send(n).is_ok() {
                    self.pending += 1;
                }
            }
        }
        Ok(())
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        // Let the last cycle's beeps be heard when the run completed; a stop does not wait.
        self.tx = None;
        if matches!(end, RunEnd::Completed { .. }) {
            let deadline = Instant::now() + FINISH_WAIT;
            while self.pending > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.done.recv_timeout(left) {
                    Ok(()) => self.pending -= 1,
                    Err(_) => break,
                }
            }
            if self.pending == 0 {
                if let Some(w) = self.worker.take() {
                    let _ = w.join();
                }
            }
        }
        Ok(())
    }
}

/// Plays `n` beeps on the default device, opened for this and dropped after.
fn play(sound: &Sound, n: usize) -> Result<(), PlayError> {
    use rodio::Source;
    let mut device =
        crate::platform::quiet_audio_errors(rodio::DeviceSinkBuilder::open_default_sink)
            .map_err(PlayError::Device)?;
    device.log_on_drop(false);
    let player = rodio::Player::connect_new(device.mixer());
    for _ in 0..n {
        match sound {
            Sound::Tone => {
                player.append(
                    rodio::source::SineWave::new(TONE_HZ)
                        .take_duration(BEEP)
                        .amplify(0.5),
                );
            }
            Sound::File(bytes) => {
                match rodio::Decoder::new_wav(Cursor::new(bytes.as_ref().clone())) {
                    Ok(d) => player.append(d),
                    Err(e) => return Err(PlayError::Decode(e)),
                }
            }
        }
        player.append(
            rodio::source::SineWave::new(TONE_HZ)
                .take_duration(GAP)
                .amplify(0.0),
        );
    }
    player.sleep_until_end();
    drop(player);
    drop(device);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use chrono::Local;

    fn report(results: &[(Test, Verdict)]) -> CycleReport {
        let now = Local::now();
        CycleReport {
            cycle: 1,
            of: Some(1),
            started: now,
            finished: now,
            records: results
                .iter()
                .map(|&(test, result)| Record {
                    cycle: 1,
                    at: now,
                    test,
                    result,
                    address: "a".into(),
                    name: "n".into(),
                    reason: None,
                    ping: None,
                    duration: Duration::ZERO,
                })
                .collect(),
            cancelled: false,
        }
    }

    #[test]
    fn three_beeps_per_vpn_test_one_per_target_none_when_good() {
        use Test::*;
        use Verdict::*;
        assert_eq!(
            beeps_for(&report(&[(VpnPing, Good), (TargetPing, Good)])),
            0
        );
        assert_eq!(beeps_for(&report(&[(VpnPing, Fail)])), 3);
        assert_eq!(beeps_for(&report(&[(VpnOpen, Warn), (VpnClose, Fail)])), 6);
        assert_eq!(
            beeps_for(&report(&[
                (TargetPing, Fail),
                (TargetPing, Warn),
                (TargetPing, Good)
            ])),
            2
        );
    }
}
